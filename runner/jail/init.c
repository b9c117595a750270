/* init.c - pid 1 of the sandbox and the job it starts. The init runs with an empty
 * environment, non-dumpable, as the job's user with no capability and the same seccomp
 * filter; it reaps orphans, forwards signals to the job, and when the job exits it kills
 * whatever is left and exits with the job's status (128+N for signal N). */
#include "jail/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jail/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define SANDBOX_LOST_CODE (128 + SIGKILL)
#define DEFAULT_PATH	  "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const char *env_get(char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; envp && envp[i]; i++)
		if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=')
			return envp[i] + n + 1;
	return NULL;
}

/* execvpe() searches the PATH of the caller's environment, not the job's: search the
 * job's PATH ourselves, with the shell's rules (EACCES remembered, ENOENT skipped). */
static int exec_in_path(char *const *argv, char *const *envp, struct err *err)
{
	const char *path = env_get(envp, "PATH");
	bool denied = false;

	if (strchr(argv[0], '/')) {
		(void) execve(argv[0], argv, envp);
		return err_set(err, errno, "execute '%s'", argv[0]);
	}
	if (!path)
		path = DEFAULT_PATH;
	for (const char *p = path;;) {
		const char *e = strchrnul(p, ':');
		cleanup_free char *cand =
			xasprintf("%.*s/%s", (int) (e - p), e == p ? "." : p, argv[0]);
		(void) execve(cand, argv, envp);
		if (errno == EACCES)
			denied = true;
		else if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP)
			return err_set(err, errno, "execute '%s'", cand);
		if (!*e)
			break;
		p = e + 1;
	}
	if (denied)
		return err_set(err, EACCES, "execute '%s'", argv[0]);
	return err_set(err, ENOENT, "command '%s' not found in the sandbox (PATH=%s)", argv[0],
		       path);
}

int jail_exec_job(const struct jail_config *cfg, const char *tty, int report_fd,
		  enum jail_stage *ret_stage, struct err *err)
{
	*ret_stage = JAIL_STAGE_SETUP;
	for (int i = 0; !tty && i < 3; i++)
		if (cfg->stdio[i] != i && dup2(cfg->stdio[i], i) < 0)
			return err_set(err, errno, "set up standard stream %d", i);
	for (int i = 0; i < 3; i++)
		if (cfg->stdio[i] > 2)
			(void) close(cfg->stdio[i]); /* EBADF when two were the same: fine */
	if (tty) {
		int r = jail_console_attach(tty, err);
		if (r < 0)
			return r;
	}
	if (chdir(cfg->workdir) < 0)
		return err_set(err, errno, "workdir '%s' in the sandbox", cfg->workdir);
	*ret_stage = JAIL_STAGE_EXEC;
	return exec_in_path(cfg->argv, cfg->envp, err);
}

static char *cmdline_area;
static size_t cmdline_len;

void jail_note_cmdline_area(char *start, size_t len)
{
	cmdline_area = start;
	cmdline_len = len;
}

/* What the job can see of pid 1 through /proc/1/cmdline: a name, not mayfly's flags
 * (host paths, --env values). */
static void wipe_cmdline(void)
{
	static const char title[] = "mayfly-init";

	if (!cmdline_area || cmdline_len < sizeof(title))
		return;
	memset(cmdline_area, 0, cmdline_len);
	memcpy(cmdline_area, title, sizeof(title));
}

static int status_to_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 125;
}

void jail_run_init(const struct jail_config *cfg, int report_fd, int lifeline_fd)
{
	struct err err = { 0 };
	sigset_t all, none;
	pid_t job;

	(void) clearenv();
	wipe_cmdline();
	(void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	sigfillset(&all);
	sigemptyset(&none);
	/* Blocked signals reach a namespace's init even without a handler; we take them
	 * from a signalfd and pass them on. */
	(void) sigprocmask(SIG_BLOCK, &all, NULL);

	int keep[7] = { report_fd, lifeline_fd };
	size_t nkeep = 2;
	char tty[64] = "";
	if (cfg->console_fd >= 0)
		keep[nkeep++] = cfg->console_fd;
	for (int i = 0; i < 3; i++)
		if (cfg->stdio[i] > 2)
			keep[nkeep++] = cfg->stdio[i];
	if (cfg->notice_fd >= 0)
		keep[nkeep++] = cfg->notice_fd;
	if (jail_harden(cfg, keep, nkeep, &err) < 0)
		jail_child_fail(report_fd, JAIL_STAGE_SETUP, &err, 125);
	/* Changing our ids cleared the parent-death signal: arm it again, then make sure
	 * mayfly did not die in between (its end of the life line would have hung up). */
	struct pollfd life = { .fd = lifeline_fd, .events = POLLIN };
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || poll(&life, 1, 0) != 0)
		_exit(125);
	if (cfg->console_fd >= 0) {
		if (jail_console_open(cfg->console_fd, tty, sizeof(tty), &err) < 0)
			jail_child_fail(report_fd, JAIL_STAGE_SETUP, &err, 125);
		(void) close(cfg->console_fd);
	}
	if (cfg->prestart && cfg->prestart(cfg->prestart_data, &err) < 0)
		jail_child_fail(report_fd, JAIL_STAGE_SETUP, &err, 125);
	int sfd = signalfd(-1, &all, SFD_CLOEXEC);
	if (sfd < 0) {
		(void) err_set(&err, errno, "signalfd");
		jail_child_fail(report_fd, JAIL_STAGE_SETUP, &err, 125);
	}

	job = fork();
	if (job < 0) {
		(void) err_set(&err, errno, "fork the job");
		jail_child_fail(report_fd, JAIL_STAGE_SETUP, &err, 125);
	}
	if (job == 0) {
		enum jail_stage stage;

		(void) sigprocmask(SIG_SETMASK, &none, NULL);
		(void) setsid();
		(void) jail_exec_job(cfg, tty[0] ? tty : NULL, report_fd, &stage, &err);
		jail_child_fail(report_fd, stage, &err,
				stage == JAIL_STAGE_EXEC ? (err.code == ENOENT ? 127 : 126) : 125);
	}
	(void) close(report_fd);
	for (int i = 0; i < 3; i++)
		if (cfg->stdio[i] > 2)
			(void) close(cfg->stdio[i]);
	/* The init prints nothing: it must not hold the caller's terminal or pipes open. */
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	for (int i = 0; devnull >= 0 && i < 3; i++)
		(void) dup2(devnull, i);
	if (devnull > 2)
		(void) close(devnull);

	for (;;) {
		struct pollfd p[2] = { { .fd = sfd, .events = POLLIN },
				       { .fd = lifeline_fd, .events = POLLIN } };
		struct signalfd_siginfo si;
		int sig;

		if (poll(p, 2, -1) < 0)
			continue;
		if (p[1].revents) {
			/* mayfly is gone: so is the sandbox. */
			(void) kill(-1, SIGKILL);
			_exit(SANDBOX_LOST_CODE);
		}
		if (read(sfd, &si, sizeof(si)) != (ssize_t) sizeof(si))
			continue;
		sig = (int) si.ssi_signo;
		if (sig == SIGCHLD) {
			int status;
			pid_t w;

			while ((w = waitpid(-1, &status, WNOHANG)) > 0) {
				if (w != job) {
					if (cfg->reaped)
						cfg->reaped(cfg->reaped_data, w, status,
							    cfg->notice_fd);
					continue;
				}
				/* The job is done: so is the sandbox. Whatever it left behind
				 * dies now (and with us, the kernel kills the namespace). */
				(void) kill(-1, SIGKILL);
				_exit(status_to_code(status));
			}
			continue;
		}
		if (sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
			continue;
		(void) kill(job, sig);
	}
}

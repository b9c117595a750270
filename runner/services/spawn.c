/* spawn.c - starting servers and tools: a child in its own process group with clean signal
 * state and no inherited fds, optionally as another user, which reports a failed exec over
 * a close-on-exec pipe; running a tool to completion with its output captured; stopping a
 * server. */
#include "services/services.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "services/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define STDIN_MAX 4096

struct report {
	int code;
	char msg[ERR_MSG_MAX];
};

static void __attribute__((noreturn)) child_fail(int rep, const struct err *e)
{
	struct report r = { .code = e->code ? e->code : EIO };

	memcpy(r.msg, e->msg, sizeof(r.msg));
	(void) fd_write_all(rep, &r, sizeof(r));
	_exit(127);
}

/* Move fd above the standard three (close-on-exec), so dup2() into 0-2 cannot clobber it. */
static int lift(int fd)
{
	return fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

/* A user namespace where how->uid and how->gid are our own ids: root in a user namespace
 * that has one id (unshare -r) can run PostgreSQL, which refuses uid 0, on files it owns. */
static int enter_userns(const struct svc_spawn *how, struct err *err)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	char map[64];
	int r;

	if (how->uid == (uid_t) -1 || how->gid == (gid_t) -1)
		return err_set(err, EINVAL, "a user namespace needs a uid and a gid");
	if (unshare(CLONE_NEWUSER) < 0)
		return err_set(err, errno, "new user namespace");
	r = write_file_at(AT_FDCWD, "/proc/self/setgroups", "deny", err);
	if (r < 0)
		return r;
	(void) snprintf(map, sizeof(map), "%u %u 1\n", (unsigned) how->uid, (unsigned) uid);
	r = write_file_at(AT_FDCWD, "/proc/self/uid_map", map, err);
	if (r < 0)
		return r;
	(void) snprintf(map, sizeof(map), "%u %u 1\n", (unsigned) how->gid, (unsigned) gid);
	return write_file_at(AT_FDCWD, "/proc/self/gid_map", map, err);
}

static void __attribute__((noreturn)) child(char *const *argv, const struct svc_spawn *how,
					    const char *passwd, int rep, int in_fd, pid_t parent)
{
	static char *const empty[] = { NULL };
	struct err e = { 0 };
	struct sigaction sa;
	sigset_t none;
	int in, out;

	/* Ignored signals and the blocked mask survive exec: give the server the defaults. */
	sigemptyset(&none);
	(void) sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
			(void) signal(sig, SIG_DFL);
	if (setpgid(0, 0) < 0) {
		(void) err_set(&e, errno, "setpgid");
		child_fail(rep, &e);
	}
	in = in_fd >= 0 ? lift(in_fd) : open("/dev/null", O_RDONLY | O_CLOEXEC);
	out = how->out_fd >= 0 ? lift(how->out_fd) : open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0) {
		(void) err_set(&e, errno, "set up stdio");
		child_fail(rep, &e);
	}
	if (how->userns && enter_userns(how, &e) < 0)
		child_fail(rep, &e);
	/* PostgreSQL keeps a small SysV segment that an immediate stop or a crash leaves
	 * behind: given an IPC namespace of its own, it goes with the server. Needs
	 * privilege (root on the host, or a user namespace of our own); without it (a server
	 * in a sandbox, whose IPC namespace is the sandbox's own anyway) nothing changes. */
	(void) unshare(CLONE_NEWIPC);
	if (passwd) {
		/* initdb wants a name for its uid: give it one, in our own mount namespace. */
		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
		    mount(passwd, "/etc/passwd", NULL, MS_BIND, NULL) < 0) {
			(void) err_set(&e, errno, "bind '%s' on /etc/passwd", passwd);
			child_fail(rep, &e);
		}
	}
	if (how->uid != (uid_t) -1) {
		/* In a user namespace of our own, groups are denied already. */
		if ((!how->userns && geteuid() == 0 && setgroups(0, NULL) < 0) ||
		    setresgid(how->gid, how->gid, how->gid) < 0 ||
		    setresuid(how->uid, how->uid, how->uid) < 0) {
			(void) err_set(&e, errno, "become uid %u gid %u", (unsigned) how->uid,
				       (unsigned) how->gid);
			child_fail(rep, &e);
		}
	}
	/* After the id change, which clears it. A parent already gone is caught here. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(127);
	if (chdir(how->cwd ? how->cwd : "/") < 0) {
		(void) err_set(&e, errno, "chdir '%s'", how->cwd ? how->cwd : "/");
		child_fail(rep, &e);
	}
	(void) fd_close_all(3, &rep, 1);
	execve(argv[0], argv, how->envp ? how->envp : empty);
	(void) err_set(&e, errno, "exec '%s'", argv[0]);
	child_fail(rep, &e);
}

int spawn_as(char *const *argv, const struct svc_spawn *how, const char *passwd, pid_t *ret_pid,
	     struct err *err)
{
	cleanup_close int rep_r = -1, rep_w = -1, in_r = -1, in_w = -1;
	pid_t parent = getpid(), pid;
	struct report rep;
	ssize_t n;

	if (!argv || !argv[0] || argv[0][0] != '/')
		return err_set(err, EINVAL, "spawn: argv[0] must be an absolute path");
	if (how->stdin_data && strlen(how->stdin_data) > STDIN_MAX)
		return err_set(err, EINVAL, "spawn '%s': stdin data over %d bytes", argv[0],
			       STDIN_MAX);
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return err_set(err, errno, "pipe");
	rep_r = p[0];
	rep_w = p[1];
	if (how->stdin_data) {
		if (pipe2(p, O_CLOEXEC) < 0)
			return err_set(err, errno, "pipe");
		in_r = p[0];
		in_w = p[1];
		/* Fits in the pipe (64 KiB): written now, so the child reads it and EOF. */
		if (fd_write_all(in_w, how->stdin_data, strlen(how->stdin_data)) < 0)
			return err_set(err, errno, "write to pipe");
		(void) close(TAKE_FD(in_w));
	}
	pid = fork();
	if (pid < 0)
		return err_set(err, errno, "fork");
	if (pid == 0)
		child(argv, how, passwd, rep_w, in_r, parent);
	(void) close(TAKE_FD(rep_w));
	do
		n = read(rep_r, &rep, sizeof(rep));
	while (n < 0 && errno == EINTR);
	if (n == 0) {
		*ret_pid = pid;
		return 0;
	}
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	if (n != (ssize_t) sizeof(rep))
		return err_set(err, EIO, "spawn '%s': the child died before exec", argv[0]);
	rep.msg[sizeof(rep.msg) - 1] = '\0';
	return err_set(err, rep.code, "%s", rep.msg);
}

int svc_spawn(char *const *argv, const struct svc_spawn *how, pid_t *ret_pid, struct err *err)
{
	return spawn_as(argv, how, NULL, ret_pid, err);
}

static int pidfd_open_(pid_t pid)
{
	return (int) syscall(SYS_pidfd_open, pid, 0);
}

/* Wait for pid until deadline: 1 reaped (status in *status), 0 still running. */
static int wait_until(pid_t pid, uint64_t deadline, int *status)
{
	cleanup_close int pfd = pidfd_open_(pid);

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 1;
		if (r < 0 && errno != EINTR)
			return -errno;
		uint64_t now = svc_now_ms();
		if (now >= deadline)
			return 0;
		if (pfd >= 0) {
			struct pollfd p = { .fd = pfd, .events = POLLIN };
			(void) poll(&p, 1,
				    (int) (deadline - now > INT_MAX ? INT_MAX : deadline - now));
		} else {
			struct timespec ts = { .tv_nsec = 500000 };
			(void) nanosleep(&ts, NULL);
		}
	}
}

int svc_stop(pid_t pid, enum svc_kind kind, unsigned timeout_ms, int *ret_status, struct err *err)
{
	int status = 0, r;

	if (pid <= 0)
		return err_set(err, EINVAL, "stop: pid %d", (int) pid);
	/* PostgreSQL: SIGQUIT is the immediate shutdown (children killed, no checkpoint). */
	if (kill(pid, kind == SVC_POSTGRES ? SIGQUIT : SIGTERM) < 0 && errno != ESRCH)
		return err_set(err, errno, "stop %d", (int) pid);
	r = wait_until(pid, svc_now_ms() + timeout_ms, &status);
	if (r < 0)
		return err_set(err, r, "wait for %d", (int) pid);
	(void) kill(-pid, SIGKILL); /* whatever is left of its group */
	if (r == 0) {
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
	if (ret_status)
		*ret_status = status;
	return 0;
}

int svc_run_as(char *const *argv, const struct svc_spawn *how, const char *passwd,
	       unsigned timeout_ms, int *ret_status, char **ret_out, struct err *err)
{
	uint64_t deadline = svc_now_ms() + timeout_ms;
	cleanup_free char *out = xmalloc(RUN_OUT_MAX + 1);
	cleanup_close int rd = -1, wr = -1;
	struct svc_spawn h = *how;
	size_t len = 0;
	int p[2], status = 0, r;
	pid_t pid = -1;

	if (pipe2(p, O_CLOEXEC) < 0)
		return err_set(err, errno, "pipe");
	rd = p[0];
	wr = p[1];
	h.out_fd = wr;
	r = spawn_as(argv, &h, passwd, &pid, err);
	if (r < 0)
		return r;
	(void) close(TAKE_FD(wr));
	for (;;) {
		char drop[4096];
		ssize_t n =
			conn_read(rd, len < RUN_OUT_MAX ? out + len : drop,
				  len < RUN_OUT_MAX ? RUN_OUT_MAX - len : sizeof(drop), deadline);
		if (n == 0)
			break;
		if (n < 0) {
			(void) kill(-pid, SIGKILL);
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
			if (n == -ETIMEDOUT)
				return err_set(err, ETIMEDOUT, "'%s' did not finish in %u ms",
					       argv[0], timeout_ms);
			return err_set(err, (int) n, "read the output of '%s'", argv[0]);
		}
		if (len < RUN_OUT_MAX)
			len += (size_t) n;
	}
	out[len] = '\0';
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	*ret_status = status;
	*ret_out = TAKE_PTR(out);
	return 0;
}

int svc_run(char *const *argv, const struct svc_spawn *how, unsigned timeout_ms, int *ret_status,
	    char **ret_out, struct err *err)
{
	return svc_run_as(argv, how, NULL, timeout_ms, ret_status, ret_out, err);
}

void status_text(int status, char *buf, size_t size)
{
	if (WIFEXITED(status))
		(void) snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		(void) snprintf(buf, size, "killed by signal %d", WTERMSIG(status));
	else
		(void) snprintf(buf, size, "ended with wait status %d", status);
}

void out_tail(const char *out, unsigned n, char *buf, size_t size)
{
	const char *end = out + strlen(out), *start = end;
	unsigned lines = 0;

	/* Walk back over n non-empty lines. */
	while (start > out && lines < n) {
		const char *e = start;
		while (e > out && (e[-1] == '\n' || e[-1] == '\r'))
			e--;
		const char *b = e;
		while (b > out && b[-1] != '\n')
			b--;
		if (b == e)
			break;
		start = b;
		lines++;
	}
	size_t o = 0;
	buf[0] = '\0';
	for (const char *p = start; p < end && o + 1 < size;) {
		size_t l = strcspn(p, "\r\n");
		if (l > 0) {
			int w = snprintf(buf + o, size - o, "%s%.*s", o ? "; " : "", (int) l, p);
			o = w < 0 ? o : o + (size_t) w;
			if (o >= size)
				o = size - 1;
		}
		p += l;
		p += strspn(p, "\r\n");
	}
}

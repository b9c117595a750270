/* run.c - the life of one sandbox: check, journal, cgroup, walls, job, wait (with TTL and
 * signal forwarding), teardown. Every step after the journal entry exists is undone by
 * teardown(), here or, if mayfly is killed, by `mayfly gc`. */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "archive/archive.h"
#include "cgroup/cgroup.h"
#include "jail/jail.h"
#include "sandbox/internal.h"
#include "seccomp/seccomp.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define FORCE_AFTER_SIGNALS 3 /* the third SIGINT/SIGTERM kills the sandbox outright */

static void warn(const struct sandbox_env *env, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void warn(const struct sandbox_env *env, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!env->warn)
		return;
	va_start(ap, fmt);
	(void) vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	env->warn(env->userdata, msg);
}

/* Rootless mode maps the job onto our own uid. Under `unshare -r` started by root that
 * uid is the host's root, and the job would own host root's files: refuse. */
static int check_rootless_owner(struct err *err)
{
	cleanup_free char *map = NULL;
	struct err e2 = { 0 };
	unsigned long long in, out, count;

	if (read_file_at(AT_FDCWD, "/proc/self/uid_map", 4096, &map, NULL, &e2) < 0)
		return 0;
	for (char *line = map; line && *line;) {
		if (sscanf(line, "%llu %llu %llu", &in, &out, &count) == 3 && in <= geteuid() &&
		    geteuid() - in < count && out + (geteuid() - in) == 0 &&
		    !(in == 0 && out == 0 && count == 4294967295ULL))
			return err_set(err, EPERM,
				       "mayfly runs as root of a user namespace that maps it to "
				       "the host's root (e.g. 'unshare -r' started by root): a "
				       "rootless sandbox would run the job as the host's root; run "
				       "mayfly as root directly, or as an unprivileged user");
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
	return 0;
}

struct run {
	const struct sandbox_env *env;
	int console[2]; /* -t: socket pair for the terminal's master */
	int notice[2];	/* pipe: pid 1's notices (a service died) */
	int master;	/* -t: the terminal's master */
	bool raw;	/* -t: stdin's terminal is in raw mode, restore saved */
	struct termios saved;
	char id[17];
	int lock_fd;
	int slot_fd;
	struct cg *cg;
	struct sc_policy *policy;
	char **envp;
	char *image_dir;
	struct svc_plan *services;
	struct ovl_set *ovl;
	struct egress *egress;	 /* --allow-host */
	struct egress *forward;	 /* a postgres-role lease's database */
	struct grants *grants;	 /* --grant: the broker */
	struct jail_bind *binds; /* spec->binds and ours (copies of the structs) */
	size_t n_binds, n_spec_binds;
	struct secrets_delivery *secrets;
	bool have_entry;
};

static int teardown(struct run *run, struct err *err)
{
	int r = 0;

	if (run->cg && cg_destroy(run->cg, err) < 0)
		r = err_wrap(err, "sandbox %s: remove cgroup", run->id);
	run->cg = cg_free(run->cg);
	if (run->have_entry) {
		struct err e2 = { 0 };
		if (journal_remove(run->env->state_dir, run->id, &e2) < 0 && r == 0) {
			*err = e2;
			r = err_wrap(err, "sandbox %s: remove journal", run->id);
		}
		run->have_entry = false;
	}
	if (run->raw)
		(void) tcsetattr(run->env->stdio[0], TCSADRAIN, &run->saved);
	run->raw = false;
	run->console[0] = safe_close(run->console[0]);
	run->console[1] = safe_close(run->console[1]);
	run->notice[0] = safe_close(run->notice[0]);
	run->notice[1] = safe_close(run->notice[1]);
	run->master = safe_close(run->master);
	run->lock_fd = safe_close(run->lock_fd);
	run->slot_fd = safe_close(run->slot_fd);
	run->policy = sc_policy_free(run->policy);
	run->secrets = secrets_release(run->secrets, run->envp);
	run->envp = strv_free(run->envp);
	run->services = services_plan_free(run->services);
	run->ovl = overlays_free(run->ovl);
	run->egress = egress_free(run->egress);
	run->forward = egress_free(run->forward);
	run->grants = grants_free(run->grants);
	for (size_t i = run->n_spec_binds; i < run->n_binds; i++) {
		free(run->binds[i].src);
		free(run->binds[i].dst);
	}
	free(run->binds);
	run->binds = NULL;
	run->n_binds = 0;
	free(run->image_dir);
	run->image_dir = NULL;
	return r;
}

/* Once per boot, on cgroup v1 as root: cheap moves into cgroups (see cgroup/tune.c).
 * MAYFLY_CGROUP_FAVORDYNMODS=0 opts out. */
static void favor_dynmods_once(const struct sandbox_env *env)
{
	cleanup_free char *boot = NULL, *marker = NULL, *mnt = NULL, *cache = NULL;
	const char *opt = getenv("MAYFLY_CGROUP_FAVORDYNMODS");
	struct err e2 = { 0 };
	int fd;

	if ((opt && strcmp(opt, "0") == 0) || geteuid() != 0 || cg_detect(NULL, NULL) != CG_V1)
		return;
	if (read_file_at(AT_FDCWD, "/proc/sys/kernel/random/boot_id", 64, &boot, NULL, &e2) < 0)
		return;
	boot[strcspn(boot, "\n")] = '\0';
	marker = xasprintf("%s/cache/favordynmods-%s", env->state_dir, boot);
	if (access(marker, F_OK) == 0)
		return;
	mnt = path_join(env->state_dir, "root");
	if (cg_favor_dynmods(mnt, &e2) < 0 && e2.code != EOPNOTSUPP)
		return; /* try again next time */
	cache = path_join(env->state_dir, "cache");
	(void) mkdir_p(cache, 0700, &e2);
	fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0)
		(void) close(fd);
}

static int setup_cgroup(struct run *run, const struct sandbox_spec *spec, struct err *err)
{
	struct cg_limits lim = {
		.memory_bytes = spec->memory_bytes,
		.pids = spec->pids,
		.cpu_millis = spec->cpu_millis,
	};
	cleanup_free char *missing = NULL;
	struct err e2 = { 0 };
	int r;

	favor_dynmods_once(run->env);
	r = cg_create(NULL, NULL, run->id, &lim, &run->cg, &missing, &e2);
	if (r == -EACCES || r == -EROFS || r == -ENOENT || r == -EPERM) {
		warn(run->env,
		     "sandbox %s: limits not applied: memory, pids, cpu (no writable cgroup: %s); "
		     "the TTL and the other walls still hold; see docs/cgroups.md",
		     run->id, e2.msg);
		return 0;
	}
	if (r < 0) {
		*err = e2;
		return err_wrap(err, "sandbox %s: cgroup", run->id);
	}
	if (missing)
		warn(run->env,
		     "sandbox %s: limits not applied: %s (controller not available); "
		     "see docs/cgroups.md",
		     run->id, missing);
	return 0;
}

static char *command_line(char *const *argv)
{
	cleanup_free char *s = strv_join(argv, " ");
	if (strlen(s) > 200)
		s[200] = '\0';
	return TAKE_PTR(s);
}

/* -t: our terminal (if stdin is one) goes raw, and the sandbox's terminal gets its size. */
static void tty_setup(struct run *run)
{
	int in = run->env->stdio[0];
	struct winsize ws;
	struct termios raw;

	if (ioctl(in, TIOCGWINSZ, &ws) == 0 || ioctl(run->env->stdio[1], TIOCGWINSZ, &ws) == 0)
		(void) ioctl(run->master, TIOCSWINSZ, &ws);
	if (!isatty(in) || tcgetattr(in, &run->saved) < 0)
		return;
	raw = run->saved;
	cfmakeraw(&raw);
	if (tcsetattr(in, TCSADRAIN, &raw) == 0)
		run->raw = true;
}

/* Copy what is readable from `from` to `to`; false once `from` is finished. */
static bool relay(int from, int to)
{
	char buf[16384];
	ssize_t n = read(from, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if (n <= 0)
		return false; /* EOF, or EIO: the terminal's last user is gone */
	return fd_write_all(to, buf, (size_t) n) == 0;
}

/* Wait for pid (the sandbox's init) while forwarding signals and watching the TTL. */
static int wait_job(struct run *run, pid_t pid, double deadline, const sigset_t *sigs,
		    struct sandbox_result *res, int *ret_status, struct err *err)
{
	cleanup_close int sfd = signalfd(-1, sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	cleanup_close int pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
	unsigned terminations = 0;

	if (sfd < 0)
		return err_set(err, errno, "signalfd");
	bool in_open = run->master >= 0;
	if (run->master >= 0)
		(void) fcntl(run->master, F_SETFL, O_NONBLOCK);
	for (;;) {
		struct pollfd pfd[4] = { { .fd = sfd, .events = POLLIN },
					 { .fd = pidfd, .events = POLLIN },
					 { .fd = run->master, .events = POLLIN },
					 { .fd = in_open ? run->env->stdio[0] : -1,
					   .events = POLLIN } };
		double left = deadline - mono_ms();
		int status;
		pid_t w;

		if (left <= 0) {
			res->ttl_expired = true;
			(void) kill(pid, SIGKILL);
			if (run->cg) {
				struct err e2 = { 0 };
				(void) cg_kill(run->cg, &e2);
			}
		}
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid) {
			/* What the job wrote last is still in the terminal. */
			while (run->master >= 0 && relay(run->master, run->env->stdio[1]))
				if (poll(&pfd[2], 1, 0) <= 0)
					break;
			*ret_status = status;
			return 0;
		}
		if (w < 0 && errno != EINTR)
			return err_set(err, errno, "wait for the sandbox");
		if (res->ttl_expired) {
			while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
				;
			*ret_status = status;
			return w == pid ? 0 : err_set(err, errno, "wait for the sandbox");
		}
		if (pidfd < 0)
			pfd[1].fd = -1;
		int n = poll(pfd, 4, left > 2e9 ? -1 : (int) left + 1);
		if (n < 0 && errno != EINTR)
			return err_set(err, errno, "poll");
		if (n > 0 && pfd[2].revents && !relay(run->master, run->env->stdio[1]))
			pfd[2].fd = -1;
		if (n > 0 && pfd[3].revents && !relay(run->env->stdio[0], run->master))
			in_open = false;
		if (n > 0 && (pfd[0].revents & POLLIN)) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
				int sig = (int) si.ssi_signo;
				if (sig == SIGCHLD)
					continue;
				if (sig == SIGWINCH && run->master >= 0) {
					/* The kernel tells the job when its terminal resizes. */
					struct winsize ws;
					if (ioctl(run->env->stdio[0], TIOCGWINSZ, &ws) == 0)
						(void) ioctl(run->master, TIOCSWINSZ, &ws);
					continue;
				}
				if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP)
					terminations++;
				if (terminations >= FORCE_AFTER_SIGNALS) {
					warn(run->env,
					     "sandbox %s: killed after %u termination "
					     "signals",
					     run->id, terminations);
					(void) kill(pid, SIGKILL);
				} else
					(void) kill(pid, sig);
			}
		}
	}
}

/* The job's overlays and its services' (a database template), idmapped onto the job's
 * host ids in root mode. */
static int plan_overlays(struct run *run, const struct sandbox_spec *spec, bool map_range,
			 uid_t host_base, struct err *err)
{
	cleanup_free struct sandbox_overlay **all = xcalloc(spec->n_overlays + 1, sizeof(*all));
	struct sandbox_overlay *svc = services_overlay(run->services);
	size_t n = 0;

	for (size_t i = 0; i < spec->n_overlays; i++)
		all[n++] = &spec->overlays[i];
	if (svc)
		all[n++] = svc;
	if (n == 0)
		return 0;
	return overlays_prepare(all, n, map_range, host_base + spec->uid, host_base + spec->uid,
				&run->ovl, err);
}

/* What pid 1 told us while the job ran (a service that died), as warnings. */
static void report_notices(struct run *run)
{
	char buf[4096];
	ssize_t n;

	if (run->notice[0] < 0)
		return;
	run->notice[1] = safe_close(run->notice[1]);
	n = read(run->notice[0], buf, sizeof(buf) - 1);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (char *line = buf, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			nl = line + strlen(line) - 1;
		else
			*nl = '\0';
		if (*line)
			warn(run->env, "sandbox %s: %s", run->id, line);
	}
}

static int run_inner(struct run *run, const struct sandbox_spec *spec, struct sandbox_result *res,
		     double t0, struct err *err)
{
	const struct sandbox_env *env = run->env;
	cleanup_free char *root_mnt = path_join(env->state_dir, "root");
	cleanup_free char *cmdline = command_line(spec->argv);
	CLEANUP(jail_freep) struct jail *j = NULL;
	struct journal_rec rec = { 0 };
	enum jail_stage stage = JAIL_STAGE_SETUP;
	unsigned slot = 0;
	bool map_range = sandbox_root_mode();
	uint64_t ttl = spec->ttl_ms ? spec->ttl_ms : SANDBOX_DEFAULT_TTL_MS;
	sigset_t sigs, old;
	int status = 0;
	pid_t pid = 0;
	int r;

	if (spec->rootfs) {
		struct stat st;
		if (stat(spec->rootfs, &st) == 0 && S_ISREG(st.st_mode)) {
			cleanup_free char *cache = path_join(env->state_dir, "images");
			r = arc_unpack_image(spec->rootfs, cache, &run->image_dir, err);
			if (r < 0)
				return err_wrap(err, "--rootfs");
		}
	}
	r = journal_begin(env->state_dir, run->id, &run->lock_fd, err);
	if (r < 0)
		return r;
	run->have_entry = true;
	memcpy(res->id, run->id, sizeof(res->id));
	if (map_range) {
		r = slot_acquire(env->state_dir, &slot, &run->slot_fd, err);
		if (r < 0)
			return r;
	} else {
		r = check_rootless_owner(err);
		if (r < 0)
			return r;
	}
	r = setup_cgroup(run, spec, err);
	if (r < 0)
		return r;
	r = policy_get(env->state_dir, spec->seccomp_flags, &run->policy, err);
	if (r < 0)
		return err_wrap(err, "sandbox %s: seccomp", run->id);
	run->envp = spec_build_env(spec, run->id);
	{
		char **svc_env = NULL;
		r = services_plan(spec, env->state_dir, &run->services, &svc_env, err);
		if (r < 0)
			return r;
		for (size_t i = 0; svc_env && svc_env[i]; i++)
			strv_push(&run->envp, svc_env[i]);
		strv_free(svc_env);
		if (services_bindir(run->services))
			spec_env_prepend_path(spec, &run->envp, services_bindir(run->services));
	}
	r = plan_overlays(run, spec, map_range, SLOT_UID_BASE + slot * JAIL_ID_COUNT, err);
	if (r < 0)
		return r;
	r = egress_prepare(spec, &run->egress, err);
	if (r < 0)
		return r;
	if (run->egress)
		egress_env(spec, &run->envp);
	r = forward_prepare(spec, &run->forward, err);
	if (r < 0)
		return r;
	r = secrets_deliver(spec, env->state_dir, run->id, &run->envp, run->services, &run->secrets,
			    err);
	if (r < 0)
		return r;
	run->binds = xcalloc(spec->n_binds + 1, sizeof(*run->binds));
	for (size_t i = 0; i < spec->n_binds; i++)
		run->binds[i] = spec->binds[i];
	run->n_binds = run->n_spec_binds = spec->n_binds;
	r = grants_prepare(spec, env->state_dir, run->id, &run->grants, &run->binds, &run->n_binds,
			   &run->envp, err);
	if (r < 0)
		return r;

	memcpy(rec.id, run->id, sizeof(rec.id));
	rec.owner = getpid();
	rec.created_ms = wall_ms();
	rec.deadline_ms = rec.created_ms + (int64_t) ttl;
	rec.cgroup = run->cg ? (char *) cg_paths(run->cg) : NULL;
	rec.command = cmdline;
	r = journal_write(env->state_dir, &rec, err);
	if (r < 0)
		return r;

	size_t n_overlays = 0;
	struct jail_config cfg = {
		.argv = spec->argv,
		.envp = run->envp,
		.workdir = spec->workdir ? spec->workdir : "/workspace",
		.hostname = spec->hostname ? spec->hostname : "mayfly",
		.rootfs = run->image_dir ? run->image_dir : spec->rootfs,
		.binds = run->binds,
		.n_binds = run->n_binds,
		.overlays = overlays_jail(run->ovl, &n_overlays),
		.n_overlays = n_overlays,
		.disk_bytes = spec->disk_bytes ? spec->disk_bytes : SANDBOX_DEFAULT_DISK,
		.root_mnt = root_mnt,
		.uid = spec->uid,
		.gid = spec->uid,
		.map_range = map_range,
		.host_base = SLOT_UID_BASE + slot * JAIL_ID_COUNT,
		.seccomp = run->policy,
		.stdio = { env->stdio[0], env->stdio[1], env->stdio[2] },
		.console_fd = -1,
		.egress_fd = egress_jail_fd(run->egress),
		.forward_fd = egress_jail_fd(run->forward),
		.forward_port = spec->forward_port,
		.cgroup_fd = -1,
		.prestart = run->secrets    ? secrets_prestart
			    : run->services ? services_start
					    : NULL,
		.prestart_data = run->secrets ? (void *) run->secrets : run->services,
		.reaped = run->services ? services_reaped : NULL,
		.reaped_data = run->services,
		.notice_fd = -1,
	};
	cleanup_close int cg_fd = -1;
	if (run->cg && cg_open_dir_fd(run->cg, &cg_fd, err) == 0)
		cfg.cgroup_fd = cg_fd;
	err_clear(err);
	if (run->services) {
		if (pipe2(run->notice, O_CLOEXEC | O_NONBLOCK) < 0)
			return err_set(err, errno, "pipe");
		cfg.notice_fd = run->notice[1];
	}
	if (spec->tty) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, run->console) < 0)
			return err_set(err, errno, "socketpair for the terminal");
		cfg.console_fd = run->console[1];
	}

	sigemptyset(&sigs);
	for (int s = 0,
		 list[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD };
	     s < 8; s++)
		sigaddset(&sigs, list[s]);
	(void) sigprocmask(SIG_BLOCK, &sigs, &old);

	r = jail_spawn(&cfg, &j, err);
	if (r == 0) {
		pid = jail_pid(j);
		rec.init_pid = pid;
		rec.init_start = proc_start_time(pid);
		r = journal_write(env->state_dir, &rec, err);
	}
	if (r == 0 && run->cg)
		r = cg_attach(run->cg, jail_pid(j), err);
	/* The broker listens before the job can call it. */
	if (r == 0 && run->grants)
		r = grants_start(run->grants, pid,
				 map_range ? SLOT_UID_BASE + slot * JAIL_ID_COUNT + spec->uid
					   : geteuid(),
				 err);
	if (r == 0) {
		r = jail_start(j, &stage, err);
		if (r < 0) {
			if (stage == JAIL_STAGE_EXEC)
				res->exit_code = err->code == ENOENT ? SANDBOX_EXIT_NOTFOUND
								     : SANDBOX_EXIT_NOEXEC;
			(void) err_wrap(err, "sandbox %s", run->id);
		}
	}
	if (r < 0) {
		(void) sigprocmask(SIG_SETMASK, &old, NULL);
		return r;
	}
	if (spec->tty) {
		run->console[1] = safe_close(run->console[1]);
		r = jail_recv_console(run->console[0], &run->master, err);
		if (r < 0) {
			(void) sigprocmask(SIG_SETMASK, &old, NULL);
			(void) kill(pid, SIGKILL);
			(void) waitpid(pid, NULL, 0);
			return err_wrap(err, "sandbox %s", run->id);
		}
		tty_setup(run);
	}
	if ((run->egress &&
	     egress_start(run->egress, env->state_dir, run->id, run->policy, err) < 0) ||
	    (run->forward &&
	     egress_start(run->forward, env->state_dir, run->id, run->policy, err) < 0)) {
		(void) sigprocmask(SIG_SETMASK, &old, NULL);
		(void) kill(pid, SIGKILL);
		(void) waitpid(pid, NULL, 0);
		return err_wrap(err, "sandbox %s", run->id);
	}
	res->setup_ms = mono_ms() - t0;
	if (env->started)
		env->started(env->started_data);
	double t_exec = mono_ms();
	r = wait_job(run, pid, t0 + (double) ttl, &sigs, res, &status, err);
	(void) sigprocmask(SIG_SETMASK, &old, NULL);
	res->run_ms = mono_ms() - t_exec;
	if (r < 0)
		return r;
	report_notices(run);
	if (WIFEXITED(status))
		res->exit_code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		res->exit_code = 128 + WTERMSIG(status);
	if (res->ttl_expired)
		res->exit_code = SANDBOX_EXIT_TTL;
	if (run->cg && cg_oom_killed(run->cg))
		res->oom_killed = true;
	{
		cleanup_free char *mark =
			xasprintf("%s/sandboxes/%s/destroyed", env->state_dir, run->id);
		res->destroyed = access(mark, F_OK) == 0;
	}
	return 0;
}

int sandbox_run(const struct sandbox_spec *spec, const struct sandbox_env *env,
		struct sandbox_result *res, struct err *err)
{
	struct run run = { .env = env,
			   .lock_fd = -1,
			   .slot_fd = -1,
			   .master = -1,
			   .console = { -1, -1 },
			   .notice = { -1, -1 } };
	double t0 = mono_ms();
	struct err e2 = { 0 };
	unsigned cleaned = 0;
	int r;

	memset(res, 0, sizeof(*res));
	res->exit_code = SANDBOX_EXIT_FAILURE;
	r = sandbox_spec_check(spec, err);
	if (r < 0)
		return r;
	r = state_prepare(env->state_dir, err);
	if (r < 0)
		return r;
	/* Every start finishes what a killed mayfly left behind. */
	if (sandbox_gc(env->state_dir, &cleaned, &e2) < 0)
		warn(env, "gc: %s", e2.msg);
	else if (cleaned)
		warn(env, "cleaned up %u sandbox%s left behind by a mayfly that was killed",
		     cleaned, cleaned == 1 ? "" : "es");
	r = run_inner(&run, spec, res, t0, err);
	double t_end = mono_ms();
	e2 = (struct err){ 0 };
	/* The job has run: a teardown problem is reported, not turned into its status
	 * (gc retries what is left). */
	if (teardown(&run, &e2) < 0)
		warn(env, "%s", e2.msg);
	res->teardown_ms = mono_ms() - t_end;
	return r;
}

/* spinup.c - how long a sandbox takes to run /bin/true to completion, teardown included, next
 * to peers measured in the same run: plain fork+exec, the floor (a bare clone() with every
 * namespace, written here), unshare(1), bubblewrap, crun and mayfly; then the memory an idle
 * sandbox costs its host. A peer that is missing or fails gets an "unavailable" row with the
 * reason and the rest still runs. Usage: spinup [-n RUNS] [--json] [--oci-bundle PATH];
 * MAYFLY_BIN names the mayfly binary. What the numbers mean: benchmarks/README.md. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/json.h"
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#include "bench.h"

#define WARMUP		3
#define RUN_TIMEOUT_S	10	/* a run that takes longer makes its peer unavailable */
#define IDLE_WAIT_MS	5000	/* for the sleep to appear, and for teardown */
#define IDLE_SETTLE_MS	200	/* let the launcher finish settling before we read memory */
#define UNPRIV_ID	1000000 /* the host uid sandbox root maps to when we are root */
#define CRUN_ID_MAX	64
#define WHY_MAX		384
#define CGROUP2_UNIFIED "/sys/fs/cgroup/unified"

DEFINE_CLEANUP(char **, strv_free)

enum peer { P_FORKEXEC, P_FLOOR, P_UNSHARE, P_BWRAP, P_CRUN, P_MAYFLY, P_COUNT };

static const char *const peer_names[P_COUNT] = {"fork+exec", "floor", "unshare",
						"bwrap",     "crun",  "mayfly"};

struct contender {
	const char *name;
	const char *exe; /* resolved launcher; NULL when not needed or not found */
	bool ok;
	char why[WHY_MAX];  /* why unavailable */
	char note[WHY_MAX]; /* what it took to make it run, when that needs saying */
	char **argv_true;   /* runs /bin/true (for the floor: is the command) */
	char **argv_false;  /* the same with /bin/false */
	int mntns_fd;	    /* mount namespace to enter before exec, or -1 */
	double *ms;	    /* samples after warm-up */
	size_t n;
};

/* The host's top-level dirs next to /usr: usr-merged symlinks are recreated, dirs bound. */
struct layout_entry {
	char name[16];
	char target[PATH_MAX]; /* empty: a real directory, bind-mounted read-only */
};

struct idle {
	bool ok;
	char why[WHY_MAX];
	uint64_t pss_kib, rss_kib;
	unsigned nproc, leftover;
};

struct bench {
	char tmp[PATH_MAX]; /* scratch dir, removed at exit */
	struct layout_entry lay[6];
	size_t nlay;
	unsigned host_id;
	char *oci_bundle;  /* path of oci-bundle.sh, or NULL */
	char **crun_flags; /* extra global crun options that made it work */
	unsigned crun_seq;
	int null_fd;
	struct contender c[P_COUNT];
	struct idle idle[P_COUNT];
};

struct child_err {
	int code;
	char what[120];
};

static char *const cmd_true[] = {"/bin/true", NULL};
static char *const cmd_false[] = {"/bin/false", NULL};
static char *const cmd_sleep[] = {"sleep", "30", NULL};

static volatile sig_atomic_t alarm_fired;
static char floor_stack[64 * 1024] __attribute__((aligned(16)));

static void on_alarm(int sig)
{
	alarm_fired = 1;
}

static double ms_between(const struct timespec *a, const struct timespec *b)
{
	return (double) (b->tv_sec - a->tv_sec) * 1e3 + (double) (b->tv_nsec - a->tv_nsec) / 1e6;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L};
	(void) nanosleep(&ts, NULL);
}

/* A forked child reports why it failed and leaves. */
static _Noreturn void child_fail(int fd, int code, const char *what)
{
	struct child_err ce = {.code = code};

	(void) str_copy(ce.what, sizeof(ce.what), what);
	(void) fd_write_all(fd, &ce, sizeof(ce));
	_exit(127);
}

/* EOF on the close-on-exec pipe means the child reached execve. */
static int read_child_err(int fd, struct err *err)
{
	struct child_err ce;
	ssize_t n;

	do
		n = read(fd, &ce, sizeof(ce));
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0;
	if (n != (ssize_t) sizeof(ce))
		return err_set(err, n < 0 ? errno : EIO, "read child status");
	ce.what[sizeof(ce.what) - 1] = '\0';
	return err_set(err, ce.code, "%s", ce.what);
}

static char *find_exe(const char *name)
{
	const char *path = getenv("PATH");
	cleanup_free char *dirs = xstrdup(path && *path ? path : "/usr/bin:/bin");
	char *save = NULL;

	if (strchr(name, '/'))
		return access(name, X_OK) == 0 ? xstrdup(name) : NULL;
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		cleanup_free char *p = path_join(d, name);
		if (access(p, X_OK) == 0)
			return TAKE_PTR(p);
	}
	return NULL;
}

static int fork_spawn(char *const *argv, int mntns_fd, int out_fd, int err_fd, pid_t *ret_pid,
		      struct err *err)
{
	cleanup_close int e0 = -1, e1 = -1;
	cleanup_pid pid_t guard = -1;
	int ep[2], r;

	if (pipe2(ep, O_CLOEXEC) < 0)
		return err_set(err, errno, "pipe");
	e0 = ep[0], e1 = ep[1];
	guard = fork();
	if (guard < 0)
		return err_set(err, errno, "fork");
	if (guard == 0) {
		(void) setpgid(0, 0);
		if (mntns_fd >= 0 && setns(mntns_fd, CLONE_NEWNS) < 0)
			child_fail(e1, errno, "setns mnt");
		if (dup2(out_fd, STDOUT_FILENO) < 0 || dup2(err_fd, STDERR_FILENO) < 0)
			child_fail(e1, errno, "dup2");
		execve(argv[0], argv, environ);
		child_fail(e1, errno, "execve");
	}
	e1 = safe_close(e1);
	r = read_child_err(e0, err);
	if (r < 0)
		return err_wrap(err, "'%s'", argv[0]);
	*ret_pid = guard;
	guard = -1;
	return 0;
}

/* "exit 1: <first line of stderr>", "killed by signal 9", ... */
static void describe(int status, int err_fd, char *buf, size_t size)
{
	char line[256] = "";
	ssize_t n = err_fd >= 0 ? pread(err_fd, line, sizeof(line) - 1, 0) : 0;
	int m;

	line[n > 0 ? n : 0] = '\0';
	line[strcspn(line, "\n")] = '\0';
	if (WIFEXITED(status))
		m = snprintf(buf, size, "exit %d", WEXITSTATUS(status));
	else
		m = snprintf(buf, size, "killed by signal %d", WTERMSIG(status));
	if (line[0] && m > 0 && (size_t) m < size)
		(void) snprintf(buf + m, size - (size_t) m, ": %s", line);
}

/* --oci-bundle, else benchmarks/ in the current dir (make bench), else next to the build dir
 * this binary is in (<build>/benchmarks/spinup). */
static char *find_oci_bundle(const char *given)
{
	char exe[PATH_MAX], *p = realpath(given ? given : "benchmarks/oci-bundle.sh", NULL);
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	cleanup_free char *q = NULL;

	if (p || given || n <= 0)
		return p;
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	q = xasprintf("%s/../../benchmarks/oci-bundle.sh", exe);
	return realpath(q, NULL);
}

static void read_layout(struct bench *b)
{
	static const char *const names[] = {"bin", "sbin", "lib", "lib32", "lib64", "libx32"};

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		struct layout_entry *e = &b->lay[b->nlay];
		char p[32];
		struct stat st;
		ssize_t n;

		(void) snprintf(p, sizeof(p), "/%s", names[i]);
		if (lstat(p, &st) < 0 || !(S_ISLNK(st.st_mode) || S_ISDIR(st.st_mode)))
			continue;
		(void) str_copy(e->name, sizeof(e->name), names[i]);
		e->target[0] = '\0';
		if (S_ISLNK(st.st_mode)) {
			n = readlink(p, e->target, sizeof(e->target) - 1);
			if (n <= 0)
				continue;
			e->target[n] = '\0';
		}
		b->nlay++;
	}
}

static void push_all(char ***v, const char *const *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		strv_push(v, a[i]);
}

/* Make <tmp>/crun/<tag>, a bundle that runs cmd, with oci-bundle.sh (next to this source). */
static int crun_bundle(const struct bench *b, const char *tag, char *const *cmd, char **ret_dir,
		       struct err *err)
{
	cleanup_close int mfd = memfd_create("spinup-stderr", MFD_CLOEXEC);
	cleanup_free char *dir = xasprintf("%s/crun/%s", b->tmp, tag);
	CLEANUP(strv_freep) char **argv = NULL;
	char id[16], why[WHY_MAX];
	pid_t pid = -1;
	int r, status = 0;

	if (!b->oci_bundle) {
		err->code = ENOENT;
		(void) snprintf(err->msg, sizeof(err->msg),
				"oci-bundle.sh not found (--oci-bundle)");
		return -ENOENT;
	}
	(void) snprintf(id, sizeof(id), "%u", b->host_id);
	push_all(&argv, (const char *const[]){"/bin/sh", b->oci_bundle, dir, id}, 4);
	push_all(&argv, (const char *const *) cmd, strv_len(cmd));
	r = fork_spawn(argv, -1, b->null_fd, mfd, &pid, err);
	if (r < 0)
		return r;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		describe(status, mfd, why, sizeof(why));
		err->code = EIO;
		(void) snprintf(err->msg, sizeof(err->msg), "'%s': %s", b->oci_bundle, why);
		return -EIO;
	}
	*ret_dir = TAKE_PTR(dir);
	return 0;
}

/* The command line that runs cmd under peer p; NULL when p is missing. */
static char **peer_argv(struct bench *b, enum peer p, char *const *cmd, const char *tag,
			struct err *err)
{
	const char *exe = b->c[p].exe;
	char **v = NULL;

	if (p == P_FORKEXEC)
		return strv_copy(cmd);
	if (!exe)
		return NULL;
	strv_push(&v, exe);
	switch (p) {
	case P_UNSHARE: {
		static const char *const a[] = {"--user",   "--map-root-user", "--mount", "--pid",
						"--fork",   "--net",	       "--ipc",	  "--uts",
						"--cgroup", "--mount-proc"};
		push_all(&v, a, ARRAY_SIZE(a));
		break;
	}
	case P_BWRAP: {
		static const char *const a[] = {"--unshare-all", "--die-with-parent", "--ro-bind",
						"/usr", "/usr"};
		static const char *const z[] = {"--proc",  "/proc", "--dev",	    "/dev",
						"--tmpfs", "/tmp",  "--new-session"};
		push_all(&v, a, ARRAY_SIZE(a));
		for (size_t i = 0; i < b->nlay; i++) {
			cleanup_free char *dst = xasprintf("/%s", b->lay[i].name);
			strv_push(&v, b->lay[i].target[0] ? "--symlink" : "--ro-bind");
			strv_push(&v, b->lay[i].target[0] ? b->lay[i].target : dst);
			strv_push(&v, dst);
		}
		push_all(&v, z, ARRAY_SIZE(z));
		break;
	}
	case P_CRUN: {
		cleanup_free char *dir = NULL;
		cleanup_free char *state = xasprintf("%s/crun-state", b->tmp);

		if (crun_bundle(b, tag, cmd, &dir, err) < 0)
			return strv_free(v);
		for (size_t i = 0; b->crun_flags && b->crun_flags[i]; i++)
			strv_push(&v, b->crun_flags[i]);
		push_all(&v, (const char *const[]){"--root", state, "run", "--bundle", dir, "id"},
			 6);
		free(v[strv_len(v) - 1]);
		v[strv_len(v) - 1] = xcalloc(1, CRUN_ID_MAX); /* rewritten before each run */
		return v;
	}
	case P_MAYFLY:
		strv_push(&v, "exec");
		strv_push(&v, "--");
		break;
	default:
		break;
	}
	for (size_t i = 0; cmd[i]; i++)
		strv_push(&v, cmd[i]);
	return v;
}

struct floor_args {
	char *const *argv;
	int sync_fd, err_pipe, out_fd, err_fd;
};

static int floor_child(void *userdata)
{
	const struct floor_args *a = userdata;
	char c;

	/* The parent writes our id maps, then one byte. */
	if (read(a->sync_fd, &c, 1) != 1)
		child_fail(a->err_pipe, EPIPE, "wait for id map");
	(void) setpgid(0, 0);
	if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
		child_fail(a->err_pipe, errno, "become mapped root");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		child_fail(a->err_pipe, errno, "make / rprivate");
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		child_fail(a->err_pipe, errno, "mount /proc");
	if (dup2(a->out_fd, STDOUT_FILENO) < 0 || dup2(a->err_fd, STDERR_FILENO) < 0)
		child_fail(a->err_pipe, errno, "dup2");
	execve(a->argv[0], a->argv, environ);
	child_fail(a->err_pipe, errno, "execve");
}

/* The floor: what any sandbox must do at least to run a command behind every namespace. */
static int floor_spawn(const struct bench *b, char *const *argv, int err_fd, pid_t *ret_pid,
		       struct err *err)
{
	const int flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |
			  CLONE_NEWUTS | CLONE_NEWCGROUP;
	cleanup_close int s0 = -1, s1 = -1, e0 = -1, e1 = -1;
	cleanup_pid pid_t guard = -1;
	struct floor_args a;
	char path[64], map[64];
	int p[2], r;

	if (pipe2(p, O_CLOEXEC) < 0)
		return err_set(err, errno, "pipe");
	s0 = p[0], s1 = p[1];
	if (pipe2(p, O_CLOEXEC) < 0)
		return err_set(err, errno, "pipe");
	e0 = p[0], e1 = p[1];
	a = (struct floor_args){argv, s0, e1, b->null_fd, err_fd};
	guard = clone(floor_child, floor_stack + sizeof(floor_stack), flags | SIGCHLD, &a);
	if (guard < 0)
		return err_set(err, errno, "clone");
	s0 = safe_close(s0);
	e1 = safe_close(e1);
	(void) snprintf(map, sizeof(map), "0 %u 1", b->host_id);
	for (int i = 0; i < 3; i++) {
		static const char *const files[] = {"setgroups", "uid_map", "gid_map"};
		(void) snprintf(path, sizeof(path), "/proc/%d/%s", (int) guard, files[i]);
		r = write_file_at(AT_FDCWD, path, i == 0 ? "deny" : map, err);
		if (r < 0)
			return r;
	}
	if (fd_write_all(s1, "x", 1) < 0)
		return err_set(err, errno, "wake child");
	r = read_child_err(e0, err);
	if (r < 0)
		return r;
	*ret_pid = guard;
	guard = -1;
	return 0;
}

static size_t descendants(int sig);

/* Wait for pid and for everything it left behind (we are a subreaper), so a launcher that
 * returns before its sandbox is gone is not timed as done. */
static int wait_tree(pid_t pid, int *ret_status, struct err *err)
{
	bool timed_out = false;
	int st, status = -1;

	for (;;) {
		pid_t w = waitpid(-1, &st, 0);
		if (w == pid)
			status = st;
		if (w > 0)
			continue;
		if (errno != EINTR || (alarm_fired && timed_out))
			break; /* ECHILD: all gone; or stuck even after SIGKILL */
		if (alarm_fired) {
			timed_out = true;
			alarm_fired = 0;
			(void) descendants(SIGKILL);
			alarm(2);
		}
	}
	if (timed_out) {
		err->code = ETIMEDOUT;
		(void) snprintf(err->msg, sizeof(err->msg), "no exit within %d s, killed",
				RUN_TIMEOUT_S);
		return -ETIMEDOUT;
	}
	*ret_status = status;
	return 0;
}

/* One run of argv (or of the floor): wall time from before fork until reaped. */
static int run_once(struct bench *b, struct contender *c, char **argv, int err_fd, double *ret_ms,
		    int *ret_status, struct err *err)
{
	struct timespec t0, t1;
	pid_t pid = -1;
	int r;

	if (c == &b->c[P_CRUN])
		(void) snprintf(argv[strv_len(argv) - 1], CRUN_ID_MAX, "spinup-%d-%u",
				(int) getpid(), b->crun_seq++);
	alarm_fired = 0;
	alarm(RUN_TIMEOUT_S);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (c == &b->c[P_FLOOR])
		r = floor_spawn(b, argv, err_fd, &pid, err);
	else
		r = fork_spawn(argv, c->mntns_fd, b->null_fd, err_fd, &pid, err);
	if (r >= 0)
		r = wait_tree(pid, ret_status, err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	alarm(0);
	*ret_ms = ms_between(&t0, &t1);
	return r;
}

/* Run argv once with stderr captured; true when its exit status is what we expect. */
static bool try_run(struct bench *b, struct contender *c, char **argv, bool want_success, char *why,
		    size_t size)
{
	cleanup_close int mfd = memfd_create("spinup-stderr", MFD_CLOEXEC);
	struct err err = {0};
	double ms;
	int status = 0;

	if (mfd < 0 || run_once(b, c, argv, mfd, &ms, &status, &err) < 0) {
		(void) snprintf(why, size, "%s", mfd < 0 ? strerror(errno) : err.msg);
		return false;
	}
	if (want_success == (WIFEXITED(status) && WEXITSTATUS(status) == 0))
		return true;
	if (want_success)
		describe(status, mfd, why, size);
	else
		(void) snprintf(why, size,
				"'/bin/false' exited 0 under it: the command did not run");
	return false;
}

/* /bin/true must succeed and /bin/false must fail: a launcher that ignores its command
 * (a stub) is not timed. Sets or clears c->why. */
static bool probe(struct bench *b, struct contender *c)
{
	bool ok = try_run(b, c, c->argv_true, true, c->why, sizeof(c->why)) &&
		  try_run(b, c, c->argv_false, false, c->why, sizeof(c->why));
	if (ok)
		c->why[0] = '\0';
	return ok;
}

static bool is_cgroup2(const char *path)
{
	struct statfs sf;
	return statfs(path, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
}

/* A mount namespace like ours but without the cgroup2 mount of a hybrid host, so that crun
 * sees plain cgroup v1. The helper child only builds it; we keep a handle on it. */
static int make_v1_mntns(int *ret_fd, struct err *err)
{
	cleanup_close int r0 = -1, r1 = -1, g0 = -1, g1 = -1;
	cleanup_pid pid_t pid = -1;
	char path[64];
	int p[2], fd, r;

	if (pipe2(p, O_CLOEXEC) < 0)
		return err_set(err, errno, "pipe");
	r0 = p[0], r1 = p[1];
	if (pipe2(p, O_CLOEXEC) < 0)
		return err_set(err, errno, "pipe");
	g0 = p[0], g1 = p[1];
	pid = fork();
	if (pid < 0)
		return err_set(err, errno, "fork");
	if (pid == 0) {
		char c;
		if (unshare(CLONE_NEWNS) < 0)
			child_fail(r1, errno, "unshare mnt");
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			child_fail(r1, errno, "make / rprivate");
		if (umount2(CGROUP2_UNIFIED, MNT_DETACH) < 0)
			child_fail(r1, errno, "umount '" CGROUP2_UNIFIED "'");
		r1 = safe_close(r1); /* EOF: ready */
		/* Hold the namespace until the parent has a handle on it (EOF). */
		_exit(read(g0, &c, 1) < 0 ? 1 : 0);
	}
	r1 = safe_close(r1);
	g0 = safe_close(g0);
	r = read_child_err(r0, err);
	if (r < 0)
		return r;
	(void) snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int) pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, errno, "open '%s'", path);
	*ret_fd = fd;
	return 0;
}

/* crun refuses a hybrid cgroup host ("cgroups in hybrid mode not supported") even with
 * --cgroup-manager=disabled, so on failure try it where the cgroup2 mount is hidden, then
 * without cgroups at all, and say which one worked. */
static void setup_crun(struct bench *b, struct contender *c)
{
	char first[WHY_MAX], ctrl[128] = "";
	cleanup_free char *buf = NULL;
	struct err err = {0};
	size_t len;

	if (probe(b, c))
		return;
	(void) str_copy(first, sizeof(first), c->why);
	if (geteuid() == 0 && is_cgroup2(CGROUP2_UNIFIED)) {
		if (make_v1_mntns(&c->mntns_fd, &err) < 0) {
			(void) snprintf(c->why, sizeof(c->why), "%s (hiding cgroup2: %s)", first,
					err.msg);
			return;
		}
		if (read_file_at(AT_FDCWD, CGROUP2_UNIFIED "/cgroup.controllers", 4096, &buf, &len,
				 &err) == 0) {
			buf[strcspn(buf, "\n")] = '\0';
			(void) snprintf(ctrl, sizeof(ctrl), " (its v2 hierarchy has: %s)",
					buf[0] ? buf : "no controllers");
		}
		if (probe(b, c)) {
			(void) snprintf(c->note, sizeof(c->note),
					"hybrid cgroups%s make crun fail (%s); it runs in a mount "
					"namespace without " CGROUP2_UNIFIED ", cgroup manager "
					"cgroupfs on v1",
					ctrl, first);
			return;
		}
	}
	strv_push(&b->crun_flags, "--cgroup-manager=disabled");
	c->argv_true = strv_free(c->argv_true);
	c->argv_false = strv_free(c->argv_false);
	c->argv_true = peer_argv(b, P_CRUN, cmd_true, "true", &err);
	c->argv_false = peer_argv(b, P_CRUN, cmd_false, "false", &err);
	if (c->argv_true && c->argv_false && probe(b, c)) {
		(void) snprintf(c->note, sizeof(c->note),
				"crun failed (%s); measured with --cgroup-manager=disabled%s",
				first, c->mntns_fd >= 0 ? " without " CGROUP2_UNIFIED : "");
		return;
	}
	if (!c->argv_true || !c->argv_false)
		(void) str_copy(c->why, sizeof(c->why), err.msg);
	else if (strcmp(c->why, first) == 0)
		(void) snprintf(c->why, sizeof(c->why), "%s; also with --cgroup-manager=disabled%s",
				first,
				c->mntns_fd >= 0 ? " and " CGROUP2_UNIFIED " hidden"
				: geteuid() != 0 ? " (hiding " CGROUP2_UNIFIED " needs root)"
						 : "");
}

struct proc {
	pid_t pid, ppid;
	char state;
	char comm[32];
};

/* Every process in /proc; *ret_n entries. */
static struct proc *proc_scan(size_t *ret_n)
{
	DIR *d = opendir("/proc");
	struct proc *ps = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;

	while (d && (de = readdir(d))) {
		char path[64], buf[512], *close_paren;
		unsigned pid;
		int ppid;
		ssize_t len;
		int fd;

		if (safe_atou(de->d_name, &pid) < 0)
			continue;
		(void) snprintf(path, sizeof(path), "/proc/%u/stat", pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		(void) close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		close_paren = strrchr(buf, ')');
		if (!close_paren || !strchr(buf, '('))
			continue;
		if (n == cap)
			ps = xrealloc(ps, (cap = cap ? cap * 2 : 256) * sizeof(*ps));
		ps[n] = (struct proc){.pid = (pid_t) pid};
		*close_paren = '\0';
		(void) snprintf(ps[n].comm, sizeof(ps[n].comm), "%s", strchr(buf, '(') + 1);
		if (sscanf(close_paren + 1, " %c %d", &ps[n].state, &ppid) != 2)
			continue;
		ps[n].ppid = ppid;
		n++;
	}
	if (d)
		(void) closedir(d);
	*ret_n = n;
	return ps;
}

/* Every process, and in *ret_mark which are our live descendants: as a subreaper we inherit
 * whatever a launcher leaves behind, so this is everything it started. Both are the caller's. */
static struct proc *scan_tree(size_t *ret_n, bool **ret_mark)
{
	struct proc *ps = proc_scan(ret_n);
	size_t n = *ret_n;
	bool *mark = xcalloc(n + 1, sizeof(bool));
	bool changed = true;

	while (changed) {
		changed = false;
		for (size_t i = 0; i < n; i++) {
			bool parent_in = ps[i].ppid == getpid();
			for (size_t j = 0; !parent_in && j < n; j++)
				parent_in = mark[j] && ps[j].pid == ps[i].ppid;
			if (!mark[i] && parent_in)
				mark[i] = changed = true;
		}
	}
	for (size_t i = 0; i < n; i++)
		mark[i] = mark[i] && ps[i].state != 'Z';
	*ret_mark = mark;
	return ps;
}

/* How many live descendants we have; sends sig (unless 0) to each. */
static size_t descendants(int sig)
{
	cleanup_free bool *mark = NULL;
	size_t n, count = 0;
	cleanup_free struct proc *ps = scan_tree(&n, &mark);

	for (size_t i = 0; i < n; i++)
		if (mark[i] && (count++, sig))
			(void) kill(ps[i].pid, sig);
	return count;
}

static void reap_some(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

static int smaps_kib(pid_t pid, uint64_t *pss, uint64_t *rss)
{
	char path[64], line[256];
	cleanup_fclose FILE *f = NULL;
	unsigned long long v;

	(void) snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int) pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Pss: %llu kB", &v) == 1)
			*pss += v;
		else if (sscanf(line, "Rss: %llu kB", &v) == 1)
			*rss += v;
	}
	return 0;
}

/* Memory of p's launcher tree around an idle "sleep 30", the sleep itself not counted. */
static void measure_idle(struct bench *b, enum peer p, struct idle *out)
{
	cleanup_close int mfd = memfd_create("spinup-stderr", MFD_CLOEXEC);
	struct err err = {0};
	char **argv = peer_argv(b, p, cmd_sleep, "sleep", &err);
	pid_t pid = -1, sleep_pid = -1;
	bool exited = false;
	int status = 0;

	if (!argv || mfd < 0 || fork_spawn(argv, -1, b->null_fd, mfd, &pid, &err) < 0) {
		(void) snprintf(out->why, sizeof(out->why), "%s",
				b->c[p].why[0] ? b->c[p].why : err.msg);
		argv = strv_free(argv);
		return;
	}
	argv = strv_free(argv);
	for (unsigned t = 0; t < IDLE_WAIT_MS && sleep_pid < 0 && !exited; t++) {
		cleanup_free bool *mark = NULL;
		size_t n;
		cleanup_free struct proc *ps = scan_tree(&n, &mark);

		for (size_t i = 0; i < n; i++)
			if (mark[i] && strcmp(ps[i].comm, "sleep") == 0)
				sleep_pid = ps[i].pid;
		exited = waitpid(pid, &status, WNOHANG) == pid;
		sleep_ms(1);
	}
	if (sleep_pid < 0) {
		char d[WHY_MAX] = "still running";
		if (exited)
			describe(status, mfd, d, sizeof(d));
		(void) snprintf(out->why, sizeof(out->why), "no 'sleep' within %d ms (%s)",
				IDLE_WAIT_MS, d);
	} else {
		cleanup_free struct proc *ps = NULL;
		cleanup_free bool *mark = NULL;
		size_t n;
		int r = 0;

		sleep_ms(IDLE_SETTLE_MS);
		ps = scan_tree(&n, &mark);
		for (size_t i = 0; i < n && r == 0; i++)
			if (mark[i] && ps[i].pid != sleep_pid) {
				r = smaps_kib(ps[i].pid, &out->pss_kib, &out->rss_kib);
				out->nproc++;
			}
		out->ok = r == 0;
		if (r < 0)
			(void) snprintf(out->why, sizeof(out->why), "read smaps_rollup: %s",
					strerror(-r));
	}
	/* Teardown: SIGTERM the launcher, then everything must be gone. */
	if (!exited)
		(void) kill(pid, SIGTERM);
	for (unsigned t = 0; t < IDLE_WAIT_MS && (reap_some(), descendants(0)) > 0; t++)
		sleep_ms(1);
	out->leftover = (unsigned) descendants(SIGKILL);
	for (unsigned t = 0; t < IDLE_WAIT_MS && (reap_some(), descendants(0)) > 0; t++)
		sleep_ms(1);
}

/* Sorts c->ms. out[0] median, out[1] p95 (nearest rank), out[2] min. */
static void stats(struct contender *c, double out[3])
{
	size_t n = c->n, k = (n * 95 + 99) / 100;

	qsort(c->ms, n, sizeof(double), bench_cmp_double);
	out[0] = n % 2 ? c->ms[n / 2] : (c->ms[n / 2 - 1] + c->ms[n / 2]) / 2;
	out[1] = c->ms[k ? k - 1 : 0];
	out[2] = c->ms[0];
}

static const enum peer ratio_to[] = {P_BWRAP, P_FLOOR, P_UNSHARE, P_CRUN};

static void print_text(struct bench *b, unsigned runs, double st[P_COUNT][3])
{
	struct contender *m = &b->c[P_MAYFLY];

	printf("spinup: /bin/true to completion (launcher exited and reaped, teardown included);"
	       " %u runs each after %d warm-up, interleaved\n",
	       runs, WARMUP);
	printf("%-10s %10s %10s %10s\n", "name", "median ms", "p95 ms", "min ms");
	for (int p = 0; p < P_COUNT; p++)
		if (b->c[p].ok)
			printf("%-10s %10.2f %10.2f %10.2f\n", b->c[p].name, st[p][0], st[p][1],
			       st[p][2]);
		else
			printf("%s: unavailable (%s)\n", b->c[p].name, b->c[p].why);
	for (int p = 0; p < P_COUNT; p++)
		if (b->c[p].note[0])
			printf("note %s: %s\n", b->c[p].name, b->c[p].note);
	for (size_t i = 0; i < ARRAY_SIZE(ratio_to); i++) {
		struct contender *d = &b->c[ratio_to[i]];
		double *s = st[ratio_to[i]];
		if (!m->ok || !d->ok)
			printf("ratio mayfly/%s skipped (%s unavailable)\n", d->name,
			       m->ok ? d->name : "mayfly");
		else
			printf("ratio mayfly/%s median %.2f p95 %.2f min %.2f\n", d->name,
			       st[P_MAYFLY][0] / s[0], st[P_MAYFLY][1] / s[1],
			       st[P_MAYFLY][2] / s[2]);
	}
	if (m->ok && b->c[P_BWRAP].ok)
		printf("goal mayfly/bwrap median <= 1.00: %s\n",
		       st[P_MAYFLY][0] <= st[P_BWRAP][0] ? "met" : "missed");
	if (m->ok && b->c[P_FLOOR].ok)
		printf("goal mayfly/floor median <= 2.00: %s\n",
		       st[P_MAYFLY][0] <= 2 * st[P_FLOOR][0] ? "met" : "missed");
	printf("idle overhead");
	for (int k = 0; k < 2; k++) {
		struct idle *id = &b->idle[k == 0 ? P_MAYFLY : P_BWRAP];
		const char *name = k == 0 ? "mayfly" : "bwrap";
		if (id->ok)
			printf("%s %s: %" PRIu64 " KiB PSS (%u process%s, %" PRIu64 " KiB RSS)",
			       k ? "," : "", name, id->pss_kib, id->nproc,
			       id->nproc == 1 ? "" : "es", id->rss_kib);
		else
			printf("%s %s: unavailable (%s)", k ? "," : "", name, id->why);
		if (id->leftover)
			printf(" [%u process%s left after SIGTERM, killed]", id->leftover,
			       id->leftover == 1 ? "" : "es");
	}
	printf("\n");
	if (b->idle[P_MAYFLY].ok)
		printf("goal idle mayfly <= 1024 KiB RSS: %s\n",
		       b->idle[P_MAYFLY].rss_kib <= 1024 ? "met" : "missed");
}

static void print_json(struct bench *b, unsigned runs, double st[P_COUNT][3])
{
	static const char *const keys[] = {"median_us", "p95_us", "min_us"};
	static const char *const pct[] = {"median_pct", "p95_pct", "min_pct"};
	struct json_w *w = json_w_new();
	cleanup_free char *text = NULL;
	struct utsname u;

	json_w_obj_open(w, NULL);
	json_w_str(w, "benchmark", "spinup");
	json_w_str(w, "command", "/bin/true");
	json_w_i64(w, "runs", runs);
	json_w_i64(w, "warmup", WARMUP);
	json_w_i64(w, "nproc", sysconf(_SC_NPROCESSORS_ONLN));
	json_w_str(w, "kernel", uname(&u) == 0 ? u.release : NULL);
	json_w_bool(w, "root", geteuid() == 0);
	json_w_arr_open(w, "peers");
	for (int p = 0; p < P_COUNT; p++) {
		json_w_obj_open(w, NULL);
		json_w_str(w, "name", b->c[p].name);
		json_w_bool(w, "available", b->c[p].ok);
		for (int i = 0; i < 3 && b->c[p].ok; i++)
			json_w_i64(w, keys[i], (int64_t) (st[p][i] * 1000 + 0.5));
		if (!b->c[p].ok)
			json_w_str(w, "reason", b->c[p].why);
		if (b->c[p].note[0])
			json_w_str(w, "note", b->c[p].note);
		json_w_obj_close(w);
	}
	json_w_arr_close(w);
	json_w_arr_open(w, "ratios");
	for (size_t i = 0; i < ARRAY_SIZE(ratio_to) && b->c[P_MAYFLY].ok; i++) {
		enum peer d = ratio_to[i];
		cleanup_free char *name = xasprintf("mayfly/%s", b->c[d].name);
		if (!b->c[d].ok)
			continue;
		json_w_obj_open(w, NULL);
		json_w_str(w, "name", name);
		for (int k = 0; k < 3; k++)
			json_w_i64(w, pct[k], (int64_t) (st[P_MAYFLY][k] / st[d][k] * 100 + 0.5));
		json_w_obj_close(w);
	}
	json_w_arr_close(w);
	json_w_arr_open(w, "idle");
	for (int p = 0; p < P_COUNT; p++) {
		struct idle *id = &b->idle[p];
		if (p != P_MAYFLY && p != P_BWRAP)
			continue;
		json_w_obj_open(w, NULL);
		json_w_str(w, "name", b->c[p].name);
		json_w_bool(w, "available", id->ok);
		if (id->ok) {
			json_w_i64(w, "pss_kib", (int64_t) id->pss_kib);
			json_w_i64(w, "rss_kib", (int64_t) id->rss_kib);
			json_w_i64(w, "processes", id->nproc);
		} else
			json_w_str(w, "reason", id->why);
		json_w_i64(w, "left_after_sigterm", id->leftover);
		json_w_obj_close(w);
	}
	json_w_arr_close(w);
	json_w_obj_close(w);
	text = json_w_done(w);
	printf("%s\n", text);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: spinup [-n RUNS] [--json] [--oci-bundle PATH]\n"
		"Time /bin/true in a sandbox against fork+exec, a bare clone() floor, unshare,\n"
		"bwrap, crun and $MAYFLY_BIN exec; then idle memory. See benchmarks/README.md.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
					     {"oci-bundle", required_argument, NULL, 'b'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	static const char *const exes[P_COUNT] = {
		[P_UNSHARE] = "unshare", [P_BWRAP] = "bwrap", [P_CRUN] = "crun"};
	struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART: waitpid sees EINTR */
	static struct bench bench;
	struct bench *b = &bench;
	double st[P_COUNT][3] = {{0}};
	const char *mayfly = getenv("MAYFLY_BIN");
	cleanup_free char *state = NULL;
	struct err err = {0};
	unsigned runs = 50;
	const char *oci_bundle = NULL;
	bool json = false;
	int o;

	while ((o = getopt_long(argc, argv, "n:h", opts, NULL)) >= 0) {
		if (o == 'n' && (safe_atou(optarg, &runs) < 0 || runs == 0 || runs > 100000)) {
			fprintf(stderr, "spinup: bad run count '%s'\n", optarg);
			return 2;
		} else if (o == 'j')
			json = true;
		else if (o == 'b')
			oci_bundle = optarg;
		else if (o == 'h') {
			usage(stdout);
			return 0;
		} else if (o != 'n') {
			usage(stderr);
			return 2;
		}
	}
	(void) sigaction(SIGALRM, &sa, NULL);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		fprintf(stderr, "spinup: cannot become a subreaper: %s\n", strerror(errno));
	b->host_id = geteuid() == 0 ? UNPRIV_ID : geteuid();
	b->null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	(void) snprintf(b->tmp, sizeof(b->tmp), "%s/mayfly-spinup.XXXXXX",
			getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (b->null_fd < 0 || !mkdtemp(b->tmp) || chmod(b->tmp, 0755) < 0) {
		fprintf(stderr, "spinup: scratch dir '%s': %s\n", b->tmp, strerror(errno));
		return 1;
	}
	/* Not created here: mayfly makes its state dir with the modes it needs. */
	state = xasprintf("%s/mayfly-state", b->tmp);
	if (setenv("MAYFLY_STATE_DIR", state, 1) < 0) {
		fprintf(stderr, "spinup: setenv: %s\n", strerror(errno));
		return 1;
	}
	read_layout(b);
	b->oci_bundle = find_oci_bundle(oci_bundle);
	for (int p = 0; p < P_COUNT; p++) {
		struct contender *c = &b->c[p];

		*c = (struct contender){.name = peer_names[p], .mntns_fd = -1};
		c->ms = xcalloc(runs, sizeof(double));
		if (exes[p] && !(c->exe = find_exe(exes[p])))
			(void) snprintf(c->why, sizeof(c->why), "'%s' not found in PATH", exes[p]);
		if (p == P_MAYFLY && !mayfly)
			(void) snprintf(c->why, sizeof(c->why), "MAYFLY_BIN not set");
		else if (p == P_MAYFLY && !(c->exe = find_exe(mayfly)))
			(void) snprintf(c->why, sizeof(c->why), "'%s': %s", mayfly,
					strerror(errno));
		if (p == P_FLOOR) {
			c->argv_true = strv_copy(cmd_true);
			c->argv_false = strv_copy(cmd_false);
		} else if (!c->why[0]) {
			c->argv_true = peer_argv(b, (enum peer) p, cmd_true, "true", &err);
			c->argv_false = peer_argv(b, (enum peer) p, cmd_false, "false", &err);
			if (!c->argv_true || !c->argv_false)
				(void) str_copy(c->why, sizeof(c->why), err.msg);
		}
		if (c->why[0])
			continue;
		if (p == P_CRUN)
			setup_crun(b, c);
		else
			(void) probe(b, c);
		c->ok = !c->why[0];
	}

	/* Round-robin, the starting peer rotating, so drift and order touch all alike. */
	for (unsigned i = 0; i < WARMUP + runs; i++)
		for (int k = 0; k < P_COUNT; k++) {
			struct contender *c = &b->c[(i + (unsigned) k) % P_COUNT];
			double ms;
			int status = 0;

			if (!c->ok)
				continue;
			if (run_once(b, c, c->argv_true, b->null_fd, &ms, &status, &err) < 0 ||
			    !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
				char d[WHY_MAX];
				if (!try_run(b, c, c->argv_true, true, d, sizeof(d)))
					(void) snprintf(c->why, sizeof(c->why), "run %u failed: %s",
							i + 1, d);
				else
					(void) snprintf(c->why, sizeof(c->why),
							"run %u failed (%s), then passed", i + 1,
							err.code ? err.msg : "non-zero exit");
				c->ok = false;
				err_clear(&err);
				continue;
			}
			if (i >= WARMUP)
				c->ms[c->n++] = ms;
		}
	for (int p = 0; p < P_COUNT; p++)
		if (b->c[p].ok)
			stats(&b->c[p], st[p]);

	for (int p = 0; p < P_COUNT; p++)
		if (p == P_MAYFLY || p == P_BWRAP) {
			if (b->c[p].ok)
				measure_idle(b, (enum peer) p, &b->idle[p]);
			else
				(void) str_copy(b->idle[p].why, sizeof(b->idle[p].why),
						b->c[p].why);
		}

	if (json)
		print_json(b, runs, st);
	else
		print_text(b, runs, st);

	for (int p = 0; p < P_COUNT; p++) {
		struct contender *c = &b->c[p];
		c->argv_true = strv_free(c->argv_true);
		c->argv_false = strv_free(c->argv_false);
		free(c->ms);
		free((char *) c->exe);
		c->mntns_fd = safe_close(c->mntns_fd);
	}
	b->crun_flags = strv_free(b->crun_flags);
	free(b->oci_bundle);
	if (rm_rf_at(AT_FDCWD, b->tmp, &err) < 0)
		fprintf(stderr, "spinup: remove scratch dir: %s\n", err.msg);
	return 0;
}

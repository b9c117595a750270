/* kill.c - emptying a sandbox cgroup and removing it. v2 has cgroup.kill (5.14+), which
 * kills the whole subtree atomically; everything else reads cgroup.procs and SIGKILLs what
 * it lists, round after round, until nothing is left or the time is up. On v1 the freezer
 * hierarchy, when there, stops forks during the first round. */
#include "cgroup/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cgroup/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define SUBTREE_DEPTH  16   /* a job cannot make cgroups; anything deeper is not ours */
#define SUBTREE_MAX    1024 /* directories per sandbox cgroup */
#define PIDFD_BATCH    128  /* pidfds held at once, well below RLIMIT_NOFILE */
#define FREEZE_WAIT_MS 100
#define POLL_MAX_MS    32

uint64_t cg_now_ms(void)
{
	struct timespec ts;

	(void) clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

void cg_sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000 };

	(void) nanosleep(&ts, NULL);
}

static int walk(const char *dir, unsigned depth, char ***v, struct err *err)
{
	CLEANUP(closedirp) DIR *d = NULL;
	CLEANUP(cg_strv_freep) char **children = NULL;
	cleanup_close int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	struct dirent *de;

	if (fd < 0)
		return errno == ENOENT ? 0 : err_set(err, errno, "open '%s'", dir);
	strv_push(v, dir);
	if (depth >= SUBTREE_DEPTH)
		return 0;
	d = fdopendir(fd);
	if (!d)
		return err_set(err, errno, "opendir '%s'", dir);
	(void) TAKE_FD(fd); /* the DIR owns it now */
	while ((de = readdir(d))) {
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type == DT_UNKNOWN) {
			if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISDIR(st.st_mode))
				continue;
		} else if (de->d_type != DT_DIR)
			continue;
		strv_push(&children, de->d_name);
	}
	/* Close before descending: one fd per level at most. */
	(void) closedir(TAKE_PTR(d));
	for (size_t i = 0; children && children[i] && strv_len(*v) < SUBTREE_MAX; i++) {
		cleanup_free char *sub = path_join(dir, children[i]);
		int r = walk(sub, depth + 1, v, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int cg_subtree(const char *dir, char ***ret, struct err *err)
{
	CLEANUP(cg_strv_freep) char **v = xcalloc(1, sizeof(char *));
	int r = walk(dir, 0, &v, err);

	if (r < 0)
		return r;
	*ret = TAKE_PTR(v);
	return 0;
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *) a, y = *(const pid_t *) b;
	return (x > y) - (x < y);
}

/* The pids a cgroup.procs text lists, sorted, in a new array; garbage lines are skipped
 * (and 0, which kill(2) would read as our process group). */
static size_t parse_pids(char *text, pid_t **ret)
{
	size_t cap = 1, n = 0;
	pid_t *pids;

	for (const char *p = text; *p; p++)
		cap += *p == '\n';
	pids = xcalloc(cap, sizeof(pid_t));
	for (char *line = text, *next; *line && n < cap; line = next) {
		char *eol = strchrnul(line, '\n');
		unsigned v;

		next = *eol ? eol + 1 : eol;
		*eol = '\0';
		if (safe_atou(line, &v) == 0 && v > 0 && v <= INT32_MAX)
			pids[n++] = (pid_t) v;
	}
	qsort(pids, n, sizeof(pid_t), cmp_pid);
	*ret = pids;
	return n;
}

struct pidfds {
	size_t n;
	int fd[PIDFD_BATCH];
};

static void pidfds_closep(struct pidfds *p)
{
	for (size_t i = 0; i < p->n; i++)
		(void) safe_close(p->fd[i]);
}

/* SECURITY: a pid read from cgroup.procs may exit and be reused by a host process before
 * we signal it. Pin each with a pidfd, read the list again, and signal only the pids still
 * listed: the pidfd then refers to the process listed at the second read, or to one that
 * has exited (ESRCH, harmless). Without pidfds (ENOSYS, EMFILE) the second read still
 * narrows the window to microseconds. Our own pid is never signalled. */
static int kill_batch(const char *procs, const pid_t *pids, size_t n, struct err *err)
{
	CLEANUP(pidfds_closep) struct pidfds pf = { 0 };
	cleanup_free char *text = NULL;
	cleanup_free pid_t *now = NULL;
	bool by_pid[PIDFD_BATCH] = { false };
	pid_t self = getpid();
	size_t nnow;
	int r;

	for (size_t i = 0; i < n; i++) {
		pf.fd[i] = -1;
		pf.n = i + 1;
		if (pids[i] == self)
			continue;
		pf.fd[i] = (int) syscall(SYS_pidfd_open, pids[i], 0);
		by_pid[i] = pf.fd[i] < 0 && errno != ESRCH;
	}
	r = cg_read(procs, CG_PROCS_MAX, &text);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return err_set(err, r, "read '%s'", procs);
	nnow = parse_pids(text, &now);
	for (size_t i = 0; i < n; i++) {
		if (pids[i] == self || !bsearch(&pids[i], now, nnow, sizeof(pid_t), cmp_pid))
			continue;
		if (pf.fd[i] >= 0)
			(void) syscall(SYS_pidfd_send_signal, pf.fd[i], SIGKILL, NULL, 0);
		else if (by_pid[i])
			(void) kill(pids[i], SIGKILL);
	}
	return 0;
}

/* One round over one directory; *seen grows by the number of processes listed. */
static int kill_dir(const char *dir, size_t *seen, struct err *err)
{
	cleanup_free char *procs = cg_file(dir, "cgroup.procs");
	cleanup_free char *text = NULL;
	cleanup_free pid_t *pids = NULL;
	size_t n;
	int r;

	r = cg_read(procs, CG_PROCS_MAX, &text);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return err_set(err, r, "read '%s'", procs);
	n = parse_pids(text, &pids);
	*seen += n;
	for (size_t i = 0; i < n; i += PIDFD_BATCH) {
		r = kill_batch(procs, pids + i, n - i < PIDFD_BATCH ? n - i : PIDFD_BATCH, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* One round over every directory of every hierarchy. */
static int kill_round(const struct cg *cg, size_t *seen, struct err *err)
{
	*seen = 0;
	for (size_t i = 0; i < cg->ndirs; i++) {
		CLEANUP(cg_strv_freep) char **dirs = NULL;
		int r = cg_subtree(cg->dirs[i].path, &dirs, err);

		if (r < 0)
			return r;
		for (size_t j = 0; dirs[j]; j++) {
			r = kill_dir(dirs[j], seen, err);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* v1: freeze, so nothing forks between reading cgroup.procs and the signal. True when the
 * freeze was asked for (the caller must thaw, even if it did not finish in time). */
static bool freeze_v1(const struct cg *cg, const char *dir)
{
	cleanup_free char *state = cg_file(dir, "freezer.state");
	uint64_t until = cg_now_ms() + FREEZE_WAIT_MS;

	if (cg->ops->write(state, "FROZEN") < 0)
		return false;
	while (cg_now_ms() < until) {
		cleanup_free char *text = NULL;
		if (cg_read(state, CG_READ_MAX, &text) < 0 || str_startswith(text, "FROZEN"))
			break;
		cg_sleep_ms(1);
	}
	return true;
}

int cg_kill(const struct cg *cg, struct err *err)
{
	uint64_t until = cg_now_ms() + CG_KILL_TIMEOUT_MS;
	const struct cg_dir *fz = cg->version == CG_V1 ? cg_dir_of(cg, CG_FREEZER) : NULL;
	bool frozen = false;
	unsigned delay = 1;

	/* cgroup.kill kills the subtree at once; the loop below then only waits for it to be
	 * empty. Before 5.14 there is no cgroup.kill and the loop does the work, on a frozen
	 * cgroup (5.2+) so nothing forks meanwhile: v2 lets SIGKILL through to frozen tasks.
	 * It stays frozen, empty, until it is removed. */
	if (cg->version == CG_V2 && cg->ndirs > 0 &&
	    cg_write(cg, cg->dirs[0].path, "cgroup.kill", "1") < 0)
		(void) cg_write(cg, cg->dirs[0].path, "cgroup.freeze", "1");
	if (fz)
		frozen = freeze_v1(cg, fz->path);
	for (;;) {
		size_t seen = 0;
		int r = kill_round(cg, &seen, err);

		if (frozen) {
			/* Frozen tasks die only once thawed. */
			(void) cg_write(cg, fz->path, "freezer.state", "THAWED");
			frozen = false;
		}
		if (r < 0)
			return r;
		if (seen == 0)
			return 0;
		if (cg_now_ms() >= until)
			return err_set(err, EBUSY, "kill '%s': %zu processes left after %d ms",
				       cg->dirs[0].path, seen, CG_KILL_TIMEOUT_MS);
		cg_sleep_ms(delay);
		if (delay < POLL_MAX_MS)
			delay *= 2;
	}
}

/* rmdir, retried while the kernel finishes with the processes that just died. */
static int remove_dir(const struct cg *cg, const char *dir, struct err *err)
{
	uint64_t until = cg_now_ms() + CG_RMDIR_TIMEOUT_MS;
	unsigned delay = 1;

	for (;;) {
		int r = cg->ops->rmdir(dir);

		if (r == 0 || r == -ENOENT)
			return 0;
		if (r != -EBUSY || cg_now_ms() >= until)
			return err_set(err, r, "rmdir '%s'", dir);
		cg_sleep_ms(delay);
		if (delay < POLL_MAX_MS)
			delay *= 2;
	}
}

int cg_destroy(const struct cg *cg, struct err *err)
{
	int r = cg_kill(cg, err);

	if (r < 0)
		return r;
	for (size_t i = 0; i < cg->ndirs; i++) {
		CLEANUP(cg_strv_freep) char **dirs = NULL;

		r = cg_subtree(cg->dirs[i].path, &dirs, err);
		if (r < 0)
			return r;
		/* Children before parents: the walk lists parents first. */
		for (size_t j = strv_len(dirs); j > 0; j--) {
			r = remove_dir(cg, dirs[j - 1], err);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

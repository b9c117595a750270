/* prune.c - keeping the tree cache within a budget: least recently used trees go first
 * (the mtime of "<id>.lock" is the last use), never one whose lock someone holds nor the
 * parent of a delta layer still there (a user of a delta holds its parents too), and
 * whatever crashed runs left goes too. Hard links make trees share files, so sizes count
 * each inode once, and removing a tree frees only what no other tree links. */
#include "checkout/checkout.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkout/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

bool checkout_inoset_add(struct checkout_inoset *s, uint64_t ino)
{
	if (2 * (s->n + 1) > s->cap) {
		struct checkout_inoset bigger = { .cap = s->cap ? 2 * s->cap : 1024 };
		bigger.v = xcalloc(bigger.cap, sizeof(uint64_t));
		for (size_t i = 0; i < s->cap; i++)
			if (s->v[i])
				(void) checkout_inoset_add(&bigger, s->v[i]);
		free(s->v);
		*s = bigger;
	}
	for (size_t i = (ino * 0x9e3779b97f4a7c15ULL) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
		if (s->v[i] == ino)
			return false;
		if (!s->v[i]) {
			s->v[i] = ino;
			s->n++;
			return true;
		}
	}
}

void checkout_inoset_release(struct checkout_inoset *s)
{
	free(s->v);
	*s = (struct checkout_inoset){ 0 };
}

static int usage_walk(int fd, unsigned depth, struct checkout_usage *u)
{
	CLEANUP(closedirp) DIR *d = fdopendir(fd);
	struct dirent *de;

	if (!d) {
		(void) close(fd);
		return -errno;
	}
	if (depth > CHECKOUT_MAX_DEPTH + 1)
		return -ELOOP;
	while ((de = readdir(d))) {
		struct stat st;
		uint64_t b;
		int r;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0)
				continue;
			r = usage_walk(sub, depth + 1, u);
			if (r < 0)
				return r;
		}
		b = (uint64_t) st.st_blocks * 512;
		u->bytes += b;
		if (S_ISDIR(st.st_mode) || st.st_nlink == 1) {
			u->own += b;
			u->unique += b;
		} else if (checkout_inoset_add(&u->seen, st.st_ino)) {
			u->unique += b;
		}
	}
	return 0;
}

int checkout_dir_usage(int fd, struct checkout_usage *u)
{
	return usage_walk(fd, 0, u);
}

struct entry {
	char id[41];
	struct timespec used;
	int depth;    /* deltas below: a delta's last use is never before its parent's */
	bool removed; /* or gone */
};

static int by_use(const void *a, const void *b)
{
	const struct entry *ea = a, *eb = b;
	const struct timespec *x = &ea->used, *y = &eb->used;

	if (x->tv_sec != y->tv_sec)
		return x->tv_sec < y->tv_sec ? -1 : 1;
	if (x->tv_nsec != y->tv_nsec)
		return x->tv_nsec < y->tv_nsec ? -1 : 1;
	return eb->depth - ea->depth; /* used together: the delta first */
}

/* "<id>.parent" left by a crash, its layer gone: removed unless a builder holds id. */
static void drop_orphan_record(int tdir, const char *name)
{
	char id[41];
	struct stat st;

	if (strlen(name) != 40 + strlen(".parent"))
		return;
	memcpy(id, name, 40);
	id[40] = '\0';
	cleanup_free char *lock = xasprintf("%s.lock", id);
	cleanup_close int lfd = -1;
	if (!checkout_is_oid(id) || fstatat(tdir, id, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return;
	lfd = checkout_lock_at(tdir, lock, LOCK_EX | LOCK_NB);
	if (lfd >= 0 && fstatat(tdir, id, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
		(void) unlinkat(tdir, name, 0);
}

/* Does a delta layer lie on id? Read afresh, under id's exclusive lock: a delta made on id
 * since the scan has its record and its layer in place before its builder let id go. */
static bool has_delta(int tdir, const char *id)
{
	CLEANUP(closedirp) DIR *d = NULL;
	struct dirent *de;
	bool found = false;

	if (dir_open_at(tdir, ".", &d, &(struct err){ 0 }) < 0)
		return true; /* unknown: keep it */
	while (!found && (de = readdir(d))) {
		char parent[41], child[41];
		struct stat st;

		if (strlen(de->d_name) != 40 + strlen(".parent") ||
		    !str_endswith(de->d_name, ".parent"))
			continue;
		(void) snprintf(child, sizeof(child), "%.40s", de->d_name);
		found = checkout_layer_parent(tdir, child, parent) == 1 &&
			strcmp(parent, id) == 0 &&
			fstatat(tdir, child, &st, AT_SYMLINK_NOFOLLOW) == 0;
	}
	return found;
}

/* ".tmp-<id>-<pid>-<tid>" whose builder is gone: dead pid, and its lock is free (pids are
 * per namespace; a live builder holds the lock whatever its pid looks like here). */
static bool tmp_is_stale(int tdir, const char *name)
{
	const char *p = name + strlen(".tmp-") + 41;
	cleanup_close int fd = -1;
	unsigned pid;
	char num[16];
	size_t n;

	if (strlen(name) < strlen(".tmp-") + 43)
		return false;
	n = strcspn(p, "-");
	if (n == 0 || n >= sizeof(num))
		return false;
	memcpy(num, p, n);
	num[n] = '\0';
	if (safe_atou(num, &pid) < 0 || pid == 0 || kill((pid_t) pid, 0) == 0 || errno != ESRCH)
		return false;
	fd = openat(tdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0;
}

/* Leftovers, and the list of complete trees with their last use. */
static int scan(int tdir, struct entry **ret, size_t *ret_n, struct err *err)
{
	CLEANUP(closedirp) DIR *d = NULL;
	cleanup_free struct entry *v = NULL;
	struct dirent *de;
	size_t n = 0;
	int r = dir_open_at(tdir, ".", &d, err);

	if (r < 0)
		return r;
	while ((de = readdir(d))) {
		char lock[64];
		struct stat st;

		if (str_startswith(de->d_name, ".tmp-") && tmp_is_stale(tdir, de->d_name)) {
			r = rm_rf_at(tdir, de->d_name, err);
			if (r < 0)
				return r;
			continue;
		}
		if (str_endswith(de->d_name, ".parent")) {
			drop_orphan_record(tdir, de->d_name);
			continue;
		}
		if (str_startswith(de->d_name, ".dead-")) {
			/* Another prune may be deleting it right now: whoever is first wins. */
			(void) rm_rf_at(tdir, de->d_name, &(struct err){ 0 });
			continue;
		}
		if (!checkout_is_oid(de->d_name))
			continue;
		(void) snprintf(lock, sizeof(lock), "%s.lock", de->d_name);
		if (fstatat(tdir, lock, &st, AT_SYMLINK_NOFOLLOW) < 0 &&
		    fstatat(tdir, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		v = xrealloc(v, (n + 1) * sizeof(*v));
		(void) snprintf(v[n].id, sizeof(v[n].id), "%s", de->d_name);
		v[n].depth = checkout_layer_depth(tdir, de->d_name);
		v[n].removed = false;
		v[n++].used = st.st_mtim;
	}
	*ret = TAKE_PTR(v);
	*ret_n = n;
	return 0;
}

/* Remove one tree if nobody holds it and no delta lies on it: 1 removed, 0 kept, < 0
 * error. The layer goes before its parent record (layer.c). */
static int remove_tree(int tdir, const char *id, uint64_t *freed, struct err *err)
{
	cleanup_free char *lock = xasprintf("%s.lock", id);
	cleanup_free char *dead = xasprintf(".dead-%s-%d", id, (int) getpid());
	cleanup_close int lfd = checkout_lock_at(tdir, lock, LOCK_EX | LOCK_NB);
	struct checkout_usage u = { 0 };
	int fd, r;

	if (lfd == -EWOULDBLOCK)
		return 0;
	if (lfd < 0)
		return err_set(err, -lfd, "lock '%s'", lock);
	if (has_delta(tdir, id))
		return 0;
	fd = openat(tdir, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		(void) unlinkat(tdir, lock, 0);
		return errno == ENOENT ? 0 : err_set(err, errno, "open '%s'", id);
	}
	r = checkout_dir_usage(fd, &u);
	checkout_inoset_release(&u.seen);
	if (r < 0)
		return err_set(err, -r, "measure '%s'", id);
	/* Gone from its name at once, then deleted: nobody ever sees half a tree. */
	if (renameat(tdir, id, tdir, dead) < 0)
		return err_set(err, errno, "rename '%s'", id);
	(void) unlinkat(tdir, lock, 0);
	cleanup_free char *parent = xasprintf("%s.parent", id); /* layer.c's record */
	(void) unlinkat(tdir, parent, 0);
	cleanup_free char *index = xasprintf("%s.index", id);  /* workspace.c's copy */
	cleanup_free char *templates = xasprintf("%s.ws", id); /* fast.c's */
	(void) unlinkat(tdir, index, 0);
	(void) rm_rf_at(tdir, templates, &(struct err){ 0 });
	r = rm_rf_at(tdir, dead, err);
	if (r < 0)
		return r;
	*freed += u.own;
	return 1;
}

int checkout_cache_prune(const char *cache_dir, uint64_t max_bytes, uint64_t *ret_freed,
			 struct err *err)
{
	return checkout_cache_prune_unused(cache_dir, max_bytes, 0, ret_freed, err);
}

int checkout_cache_prune_unused(const char *cache_dir, uint64_t max_bytes, int64_t unused_before_ms,
				uint64_t *ret_freed, struct err *err)
{
	cleanup_free char *trees = path_join(cache_dir, "trees");
	cleanup_close int tdir = open(trees, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct checkout_usage all = { 0 };
	cleanup_free struct entry *v = NULL;
	uint64_t total = 0, freed = 0;
	size_t n = 0;
	int removed = 0, r;

	if (tdir < 0 && errno == ENOENT) {
		if (ret_freed)
			*ret_freed = 0;
		return 0;
	}
	if (tdir < 0)
		return err_set(err, errno, "open '%s'", trees);
	r = scan(tdir, &v, &n, err);
	if (r < 0)
		return err_wrap(err, "prune '%s'", trees);
	for (size_t i = 0; i < n; i++) {
		int fd = openat(tdir, v[i].id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0)
			(void) checkout_dir_usage(fd, &all);
	}
	checkout_inoset_release(&all.seen);
	total = all.unique;
	if (n > 0)
		qsort(v, n, sizeof(*v), by_use);
	/* Again while it helps: a parent kept for its delta may go once the delta has. Least
	 * recently used first: within budget, the first one used since the cutoff ends a pass. */
	for (bool progress = true; progress;) {
		progress = false;
		for (size_t i = 0; i < n; i++) {
			int64_t used_ms =
				(int64_t) v[i].used.tv_sec * 1000 + v[i].used.tv_nsec / 1000000;
			uint64_t bytes = 0;
			if (v[i].removed)
				continue;
			if (total <= max_bytes && used_ms >= unused_before_ms)
				break;
			r = remove_tree(tdir, v[i].id, &bytes, err);
			if (r < 0)
				return err_wrap(err, "prune '%s'", trees);
			v[i].removed = r > 0;
			progress |= r > 0;
			removed += r;
			freed += bytes;
			total = total > bytes ? total - bytes : 0;
		}
	}
	if (ret_freed)
		*ret_freed = freed;
	return removed;
}

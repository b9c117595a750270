/* mirror-prune.c - keeping the mirrors within a budget, and dropping those nobody used for
 * long: least recently used first (the mtime of "<hash>.lock" is the last use: every
 * checkout_mirror() and every job letting go of one touches it), never one being fetched
 * (its "<hash>.lock" held) nor one a job holds (a flock on its directory, see
 * checkout_mirror_hold()). Mirrors that rebuilds moved aside go once nobody holds them;
 * first fetches dead callers left go too. */
#include "checkout/checkout.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

#define HEX_LEN 64

struct entry {
	char hex[HEX_LEN + 1];
	struct timespec used;
	uint64_t bytes;
};

static bool is_hex(const char *s, size_t n)
{
	return strspn(s, "0123456789abcdef") >= n;
}

static int64_t ms_of(const struct timespec *ts)
{
	return (int64_t) ts->tv_sec * 1000 + ts->tv_nsec / 1000000;
}

static int by_use(const void *a, const void *b)
{
	const struct timespec *x = &((const struct entry *) a)->used;
	const struct timespec *y = &((const struct entry *) b)->used;

	if (x->tv_sec != y->tv_sec)
		return x->tv_sec < y->tv_sec ? -1 : 1;
	return x->tv_nsec < y->tv_nsec ? -1 : x->tv_nsec > y->tv_nsec;
}

/* The last use: "<hex>.lock"'s mtime, else the mirror's own. */
static bool last_use(int gdir, const char *hex, struct timespec *ret)
{
	char name[HEX_LEN + 8];
	struct stat st;

	(void) snprintf(name, sizeof(name), "%s.lock", hex);
	if (fstatat(gdir, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		(void) snprintf(name, sizeof(name), "%s.git", hex);
		if (fstatat(gdir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return false;
	}
	*ret = st.st_mtim;
	return true;
}

/* ".tmp-<hex>-*" whose creator is gone: nobody holds "<hex>.lock" (a first fetch holds it
 * throughout). */
static void remove_dead_tmp(int gdir, const char *name)
{
	char hex[HEX_LEN + 1], lock[HEX_LEN + 8];
	cleanup_close int lfd = -1;

	if (strlen(name) < strlen(".tmp-") + HEX_LEN || !is_hex(name + 5, HEX_LEN))
		return;
	(void) snprintf(hex, sizeof(hex), "%.*s", HEX_LEN, name + 5);
	(void) snprintf(lock, sizeof(lock), "%s.lock", hex);
	lfd = checkout_lock_at(gdir, lock, LOCK_EX | LOCK_NB);
	if (lfd >= 0)
		(void) rm_rf_at(gdir, name, &(struct err){ 0 });
}

static int scan(int gdir, struct entry **ret, size_t *ret_n, struct err *err)
{
	CLEANUP(closedirp) DIR *d = NULL;
	cleanup_free struct entry *v = NULL;
	struct dirent *de;
	size_t n = 0;
	int r = dir_open_at(gdir, ".", &d, err);

	if (r < 0)
		return r;
	while ((de = readdir(d))) {
		struct checkout_usage u = { 0 };
		struct entry e = { 0 };
		int fd;

		if (str_startswith(de->d_name, ".tmp-")) {
			remove_dead_tmp(gdir, de->d_name);
			continue;
		}
		if (strlen(de->d_name) != HEX_LEN + 4 || !str_endswith(de->d_name, ".git") ||
		    !is_hex(de->d_name, HEX_LEN))
			continue;
		(void) snprintf(e.hex, sizeof(e.hex), "%.*s", HEX_LEN, de->d_name);
		fd = openat(gdir, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || !last_use(gdir, e.hex, &e.used)) {
			if (fd >= 0)
				(void) close(fd);
			continue;
		}
		(void) checkout_dir_usage(fd, &u);
		checkout_inoset_release(&u.seen);
		e.bytes = u.bytes;
		v = xrealloc(v, (n + 1) * sizeof(*v));
		v[n++] = e;
	}
	*ret = TAKE_PTR(v);
	*ret_n = n;
	return 0;
}

static bool same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* Remove one mirror unless it is being fetched, held by a job, or was used since the scan:
 * 1 removed, 0 kept, < 0 error. */
static int remove_mirror(int gdir, const struct entry *e, struct err *err)
{
	cleanup_free char *lock = xasprintf("%s.lock", e->hex), *name = xasprintf("%s.git", e->hex);
	cleanup_free char *trash =
		xasprintf(".trash-%s-%d-%d", e->hex, (int) getpid(), (int) gettid());
	cleanup_close int lfd = -1, fd = -1;
	struct timespec now;
	int r;

	/* A checkout that found its commit there takes no lock, only touches: used since. */
	if (!last_use(gdir, e->hex, &now) || !same_time(&now, &e->used))
		return 0;
	lfd = checkout_lock_at(gdir, lock, LOCK_EX | LOCK_NB);
	if (lfd == -EWOULDBLOCK)
		return 0;
	if (lfd < 0)
		return err_set(err, -lfd, "lock '%s'", lock);
	fd = openat(gdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : err_set(err, errno, "open '%s'", name);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? 0 : err_set(err, errno, "lock '%s'", name);
	/* Gone from its name at once (a job's hold then sees it replaced), then deleted. */
	if (renameat(gdir, name, gdir, trash) < 0)
		return err_set(err, errno, "rename '%s'", name);
	(void) unlinkat(gdir, lock, 0); /* lockers re-check that their file has its name */
	r = rm_rf_at(gdir, trash, err);
	return r < 0 ? r : 1;
}

/* What the mirrors moved aside hold, before the sweep deletes them. */
static uint64_t trash_bytes(int gdir)
{
	CLEANUP(closedirp) DIR *d = NULL;
	struct dirent *de;
	uint64_t bytes = 0;

	if (dir_open_at(gdir, ".", &d, &(struct err){ 0 }) < 0)
		return 0;
	while ((de = readdir(d))) {
		struct checkout_usage u = { 0 };
		cleanup_close int fd = -1;

		if (!str_startswith(de->d_name, ".trash-"))
			continue;
		fd = openat(gdir, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		/* Held by a job: not freed now. */
		if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0)
			continue;
		(void) checkout_dir_usage(TAKE_FD(fd), &u);
		checkout_inoset_release(&u.seen);
		bytes += u.bytes;
	}
	return bytes;
}

int checkout_mirror_prune(const char *cache_dir, uint64_t max_bytes, int64_t unused_before_ms,
			  uint64_t *ret_freed, struct err *err)
{
	cleanup_free char *gitdir = path_join(cache_dir, "git");
	cleanup_close int gdir = open(gitdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cleanup_free struct entry *v = NULL;
	uint64_t total = 0, freed = 0, trash;
	size_t n = 0;
	int removed = 0, r;

	if (ret_freed)
		*ret_freed = 0;
	if (gdir < 0 && errno == ENOENT)
		return 0;
	if (gdir < 0)
		return err_set(err, errno, "open '%s'", gitdir);
	trash = trash_bytes(gdir);
	r = checkout_mirror_sweep(gdir, NULL, err);
	if (r < 0)
		return err_wrap(err, "prune '%s'", gitdir);
	if (r > 0)
		freed += trash;
	r = scan(gdir, &v, &n, err);
	if (r < 0)
		return err_wrap(err, "prune '%s'", gitdir);
	for (size_t i = 0; i < n; i++)
		total += v[i].bytes;
	if (n > 1)
		qsort(v, n, sizeof(*v), by_use);
	for (size_t i = 0; i < n; i++) {
		if (total <= max_bytes && ms_of(&v[i].used) >= unused_before_ms)
			break; /* least recently used first: the rest are newer */
		r = remove_mirror(gdir, &v[i], err);
		if (r < 0)
			return err_wrap(err, "prune '%s'", gitdir);
		if (r == 0)
			continue;
		removed++;
		freed += v[i].bytes;
		total = total > v[i].bytes ? total - v[i].bytes : 0;
	}
	if (ret_freed)
		*ret_freed = freed;
	return removed;
}

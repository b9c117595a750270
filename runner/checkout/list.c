/* list.c - what the cache holds, for `mayfly cache ls`: each mirror's remote (never with
 * userinfo), size and last fetch and use; each tree's size, what removing it would free,
 * last use, whether someone holds it, and a delta layer's parent. Reads only. */
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

#include "checkout/dl.h"

#include "checkout/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

static int64_t ms_of(const struct timespec *ts)
{
	return (int64_t) ts->tv_sec * 1000 + ts->tv_nsec / 1000000;
}

static int64_t mtime_ms_at(int dfd, const char *name)
{
	struct stat st;

	return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? ms_of(&st.st_mtim) : 0;
}

/* remote.origin.url, as mirror.c recorded it. */
static char *mirror_url(const char *path)
{
	CLEANUP(checkout_repo_freep) git_repository *repo = NULL;
	git_buf buf = GIT_BUF_INIT;
	git_config *cfg = NULL;
	char *url = NULL;

	if (checkout_repo_open(path, &repo, &(struct err){ 0 }) == 0 &&
	    git_repository_config_snapshot(&cfg, repo) == 0 &&
	    git_config_get_string_buf(&buf, cfg, "remote.origin.url") == 0)
		url = xstrdup(checkout_url_has_secret(buf.ptr) ? "(hidden)" : buf.ptr);
	git_buf_dispose(&buf);
	git_config_free(cfg);
	git_error_clear();
	return url ? url : xstrdup("(unknown)");
}

static bool held(int tdir, const char *lock);

static void list_mirrors(const char *cache_dir, struct checkout_cache_info *info)
{
	cleanup_free char *gitdir = path_join(cache_dir, "git");
	CLEANUP(closedirp) DIR *d = opendir(gitdir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		struct checkout_mirror_info *m;
		struct checkout_usage u = { 0 };
		cleanup_free char *lock = NULL, *text = NULL;
		uint64_t t = 0;
		int fd;

		if (de->d_name[0] == '.' || !str_endswith(de->d_name, ".git"))
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		info->mirrors =
			xrealloc(info->mirrors, (info->n_mirrors + 1) * sizeof(*info->mirrors));
		m = &info->mirrors[info->n_mirrors++];
		*m = (struct checkout_mirror_info){ .path = path_join(gitdir, de->d_name) };
		m->url = mirror_url(m->path);
		/* In use: a job holds it (a shared flock on the directory) or it is being
		 * fetched ("<hash>.lock"); tested without waiting, released at once. */
		lock = xasprintf("%.*s.lock", (int) (strlen(de->d_name) - 4), de->d_name);
		m->in_use = (flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK) ||
			    held(dirfd(d), lock);
		(void) flock(fd, LOCK_UN);
		info->mirrors_in_use += m->in_use;
		if (read_file_at(fd, FETCHED_MARK, 64, &text, NULL, &(struct err){ 0 }) == 0 &&
		    (text[strcspn(text, "\n")] = '\0', safe_atou64(text, &t) == 0))
			m->fetched_ms = (int64_t) (t / 1000000);
		(void) checkout_dir_usage(fd, &u);
		checkout_inoset_release(&u.seen);
		m->bytes = u.bytes;
		info->mirror_bytes += u.bytes;
		m->used_ms = mtime_ms_at(dirfd(d), lock);
		if (m->used_ms < m->fetched_ms)
			m->used_ms = m->fetched_ms;
	}
}

/* In use: its lock is held (shared by users, exclusive by a builder or prune). */
static bool held(int tdir, const char *lock)
{
	cleanup_close int fd = openat(tdir, lock, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	return fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
}

static int by_use(const void *a, const void *b)
{
	int64_t x = ((const struct checkout_tree_info *) a)->used_ms;
	int64_t y = ((const struct checkout_tree_info *) b)->used_ms;

	return x < y ? -1 : x > y;
}

static void list_trees(const char *cache_dir, struct checkout_cache_info *info)
{
	cleanup_free char *trees = path_join(cache_dir, "trees");
	CLEANUP(closedirp) DIR *d = opendir(trees);
	struct checkout_inoset seen = { 0 }; /* across trees: each file counted once */
	struct dirent *de;

	while (d && (de = readdir(d))) {
		struct checkout_tree_info *t;
		char lock[64];
		int fd;

		if (!checkout_is_oid(de->d_name))
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		info->trees = xrealloc(info->trees, (info->n_trees + 1) * sizeof(*info->trees));
		t = &info->trees[info->n_trees++];
		*t = (struct checkout_tree_info){ 0 };
		(void) snprintf(t->id, sizeof(t->id), "%s", de->d_name);
		(void) snprintf(lock, sizeof(lock), "%s.lock", de->d_name);
		t->used_ms = mtime_ms_at(dirfd(d), lock);
		if (t->used_ms == 0)
			t->used_ms = mtime_ms_at(dirfd(d), de->d_name);
		t->in_use = held(dirfd(d), lock);
		if (checkout_layer_parent(dirfd(d), de->d_name, t->parent) != 1)
			t->parent[0] = '\0';
		int depth = checkout_layer_depth(dirfd(d), de->d_name);
		t->depth = depth > 0 ? (unsigned) depth : 0;
		info->trees_in_use += t->in_use;
		struct checkout_usage u = { .seen = seen };
		(void) checkout_dir_usage(fd, &u);
		seen = u.seen;
		t->bytes = u.bytes;
		t->own = u.own;
		info->tree_bytes += u.unique;
	}
	checkout_inoset_release(&seen);
	if (info->n_trees > 1)
		qsort(info->trees, info->n_trees, sizeof(*info->trees), by_use);
}

int checkout_cache_list(const char *cache_dir, struct checkout_cache_info *ret, struct err *err)
{
	struct checkout_cache_info info = { 0 };
	struct stat st;
	int r = checkout_git_init(err);

	if (r < 0)
		return r;
	if (stat(cache_dir, &st) < 0 && errno != ENOENT)
		return err_set(err, errno, "stat '%s'", cache_dir);
	list_mirrors(cache_dir, &info);
	list_trees(cache_dir, &info);
	*ret = info;
	return 0;
}

void checkout_cache_info_release(struct checkout_cache_info *info)
{
	for (size_t i = 0; i < info->n_mirrors; i++) {
		free(info->mirrors[i].url);
		free(info->mirrors[i].path);
	}
	free(info->mirrors);
	free(info->trees);
	*info = (struct checkout_cache_info){ 0 };
}

/* fast.c - a cached commit without libgit2. Loading libgit2 costs about 10 ms (its
 * libraries, and mbedTLS parsing the system CA bundle at initialisation), more than
 * everything else a cached checkout does. So what a checkout of a known commit needs is
 * remembered as plain files: the commit's tree id in its mirror, and each workspace .git
 * (per mirror, commit and last fetch) as a template that later workspaces hard-link. */
#include "checkout/checkout.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkout/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/sha256.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define COMMITS_DIR "mayfly-commits" /* in a mirror: <commit> holds its tree id */

void checkout_note_commit(const char *mirror, const char *commit, const char *tree)
{
	cleanup_free char *dir = path_join(mirror, COMMITS_DIR);
	cleanup_close int dfd = -1;
	char line[42];

	if (!checkout_is_oid(commit) || !checkout_is_oid(tree))
		return;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 || faccessat(dfd, commit, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return;
	(void) snprintf(line, sizeof(line), "%s\n", tree);
	(void) write_file_atomic_at(dfd, commit, line, 41, 0644, 0, &(struct err){ 0 });
}

int checkout_lookup_cached(const char *cache_dir, const char *url, const char *commit,
			   char **ret_mirror, char ret_tree[41], struct err *err)
{
	cleanup_free char *mirror = NULL, *rec = NULL, *text = NULL;
	int r;

	if (!checkout_is_oid(commit))
		return -ENOENT;
	r = checkout_mirror_path(cache_dir, url, &mirror, err);
	if (r < 0)
		return r;
	rec = xasprintf("%s/" COMMITS_DIR "/%s", mirror, commit);
	if (read_file_at(AT_FDCWD, rec, 64, &text, NULL, &(struct err){ 0 }) < 0)
		return -ENOENT;
	text[strcspn(text, "\n")] = '\0';
	if (!checkout_is_oid(text))
		return -ENOENT;
	checkout_mirror_touch(mirror);
	memcpy(ret_tree, text, 41);
	*ret_mirror = TAKE_PTR(mirror);
	return 0;
}

char *checkout_ws_template(const struct checkout_workspace *ws)
{
	const char *slash = strrchr(ws->tree_dir, '/');
	cleanup_free char *mark = path_join(ws->mirror, FETCHED_MARK), *text = NULL, *key = NULL;
	uint8_t digest[SHA256_DIGEST_SIZE];
	char hex[SHA256_HEX_SIZE];

	/* A branch's ref is the commit's today, not necessarily tomorrow: ids only. */
	if (ws->branch || !slash || !checkout_is_oid(slash + 1) ||
	    read_file_at(AT_FDCWD, mark, 64, &text, NULL, &(struct err){ 0 }) < 0)
		return NULL;
	/* The refs and the remote's URL change with each fetch, which rewrites the mark. */
	key = xasprintf("%s\n%s\n%s\n%s", ws->mirror, ws->mirror_inside, ws->commit, text);
	sha256(key, strlen(key), digest);
	sha256_to_hex(digest, hex);
	return xasprintf("%s.ws/%.32s", ws->tree_dir, hex);
}

/* Recreate the directory tree at src in dst (both open), hard-linking its files. */
static int link_tree(int src, int dst, unsigned depth)
{
	CLEANUP(closedirp) DIR *d = fdopendir(src);
	struct dirent *de;

	if (!d) {
		(void) close(src);
		return -errno;
	}
	if (depth > 16)
		return -ELOOP;
	while ((de = readdir(d))) {
		struct stat st;
		int r;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		if (!S_ISDIR(st.st_mode)) {
			if (linkat(dirfd(d), de->d_name, dst, de->d_name, 0) < 0)
				return -errno;
			continue;
		}
		if (mkdirat(dst, de->d_name, st.st_mode & 07777) < 0)
			return -errno;
		cleanup_close int t =
			openat(dst, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (t < 0)
			return -errno;
		int s = openat(dirfd(d), de->d_name,
			       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (s < 0)
			return -errno;
		r = link_tree(s, t, depth + 1); /* takes s */
		if (r < 0)
			return r;
	}
	return 0;
}

int checkout_ws_link(const char *from, const char *to_parent, const char *to_name)
{
	cleanup_free char *tmp = xasprintf("%s.tmp-%d", to_name, (int) getpid());
	cleanup_close int pfd = open(to_parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cleanup_close int dst = -1;
	struct stat st;
	int src, r;

	if (pfd < 0)
		return -errno;
	src = open(from, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (src < 0)
		return -errno;
	if (fstat(src, &st) < 0 || mkdirat(pfd, tmp, st.st_mode & 07777) < 0) {
		r = -errno;
		(void) close(src);
		return r;
	}
	dst = openat(pfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dst < 0) {
		r = -errno;
		(void) close(src);
	} else {
		r = link_tree(src, dst, 0); /* takes src */
	}
	if (r == 0 && renameat(pfd, tmp, pfd, to_name) < 0)
		r = -errno;
	if (r < 0)
		(void) rm_rf_at(pfd, tmp, &(struct err){ 0 });
	return r;
}

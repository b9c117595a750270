/* snapshot.c - a work tree's uncommitted state as a small layer over its HEAD's cached
 * tree: the files git status calls modified, added or untracked (not ignored) copied into
 * a directory, and the tracked paths deleted listed. The work tree is untrusted input (an
 * agent wrote it): every path is walked from the work tree's root one directory at a time
 * with O_NOFOLLOW, symlinks are copied as links, and only regular files are read. */
#include "checkout/checkout.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

DEFINE_CLEANUP(git_status_list *, git_status_list_free)
DEFINE_CLEANUP(git_tree *, git_tree_free)
DEFINE_CLEANUP(git_commit *, git_commit_free)

struct snap {
	int src;   /* the work tree's root */
	int layer; /* the layer's root */
	uid_t uid;
	gid_t gid;
	bool chown;
	git_tree *head;
	struct checkout_snapshot *out;
	char **seen; /* paths handled, so that a path in two status deltas is copied once */
};

static int give(struct snap *s, int dfd, const char *name, int fd)
{
	if (!s->chown)
		return 0;
	if (fd >= 0)
		return fchown(fd, s->uid, s->gid) < 0 ? -errno : 0;
	return fchownat(dfd, name, s->uid, s->gid, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

/* Open (creating, owned) the layer's directory for the parents of rel. */
static int layer_parent(struct snap *s, const char *rel, int *ret_fd, struct err *err)
{
	cleanup_close int fd = fcntl(s->layer, F_DUPFD_CLOEXEC, 3);
	cleanup_free char *copy = xstrdup(rel);
	char *p = copy, *slash;

	if (fd < 0)
		return err_set(err, errno, "dup");
	while ((slash = strchr(p, '/'))) {
		*slash = '\0';
		if (mkdirat(fd, p, 0755) == 0) {
			int r = give(s, fd, p, -1);
			if (r < 0)
				return err_set(err, -r, "chown layer dir '%s'", p);
		} else if (errno != EEXIST)
			return err_set(err, errno, "mkdir layer dir '%s'", p);
		int sub = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			return err_set(err, errno, "open layer dir '%s'", p);
		(void) close(fd);
		fd = sub;
		p = slash + 1;
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* Walk rel's directories in the work tree without following anything. Returns the parent
 * fd, or -ENOENT naming in *ret_missing the top-most missing prefix length, or -ENOTDIR
 * when a component is no directory (a file or symlink replaced it: that covers it). */
static int src_parent(struct snap *s, const char *rel, size_t *ret_missing)
{
	cleanup_close int fd = fcntl(s->src, F_DUPFD_CLOEXEC, 3);
	cleanup_free char *copy = xstrdup(rel);
	char *p = copy, *slash;

	if (fd < 0)
		return -errno;
	while ((slash = strchr(p, '/'))) {
		*slash = '\0';
		int sub = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0) {
			if (errno == ENOENT)
				*ret_missing = (size_t) (slash - copy);
			return errno == ELOOP ? -ENOTDIR : -errno;
		}
		(void) close(fd);
		fd = sub;
		p = slash + 1;
	}
	return TAKE_FD(fd);
}

static int copy_file(struct snap *s, int sdir, int ldir, const char *name, const char *rel,
		     struct err *err)
{
	cleanup_close int in = -1, out = -1;
	struct stat st;
	char buf[65536];
	ssize_t n;
	int r;

	/* O_NONBLOCK: a FIFO swapped in after the stat must not hang us. */
	in = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (in < 0)
		return err_set(err, errno, "open '%s'", rel);
	if (fstat(in, &st) < 0)
		return err_set(err, errno, "stat '%s'", rel);
	if (!S_ISREG(st.st_mode)) {
		s->out->skipped++;
		return 0;
	}
	if ((uint64_t) st.st_size > CHECKOUT_MAX_BLOB)
		return err_set(err, EFBIG, "'%s': larger than 1 GiB", rel);
	out = openat(ldir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		     st.st_mode & 0111 ? 0755 : 0644);
	if (out < 0)
		return err_set(err, errno, "create layer file '%s'", rel);
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set(err, errno, "read '%s'", rel);
		r = fd_write_all(out, buf, (size_t) n);
		if (r < 0)
			return err_set(err, -r, "write layer file '%s'", rel);
		s->out->bytes += (uint64_t) n;
	}
	r = give(s, ldir, name, out);
	if (r < 0)
		return err_set(err, -r, "chown layer file '%s'", rel);
	if (fchmod(out, st.st_mode & 0111 ? 0755 : 0644) < 0)
		return err_set(err, errno, "chmod layer file '%s'", rel);
	(void) futimens(out, (struct timespec[]){ st.st_atim, st.st_mtim });
	strv_push(&s->out->copied, rel);
	s->out->files++;
	return 0;
}

static int copy_link(struct snap *s, int sdir, int ldir, const char *name, const char *rel,
		     struct err *err)
{
	char target[CHECKOUT_MAX_PATH + 1];
	ssize_t n = readlinkat(sdir, name, target, sizeof(target));
	int r;

	if (n < 0)
		return err_set(err, errno, "readlink '%s'", rel);
	if ((size_t) n >= sizeof(target)) {
		s->out->skipped++;
		return 0;
	}
	target[n] = '\0';
	/* Copied, not judged: it resolves inside the sandbox, like a committed one. */
	if (symlinkat(target, ldir, name) < 0)
		return err_set(err, errno, "symlink layer '%s'", rel);
	r = give(s, ldir, name, -1);
	if (r < 0)
		return err_set(err, -r, "chown layer symlink '%s'", rel);
	strv_push(&s->out->copied, rel);
	s->out->files++;
	return 0;
}

static bool in_head(struct snap *s, const char *rel)
{
	git_tree_entry *e = NULL;
	bool found = git_tree_entry_bypath(&e, s->head, rel) == 0;

	git_tree_entry_free(e);
	git_error_clear();
	return found;
}

/* Every deleted file, and each directory gone with it (from missing on): the overlay
 * removes them one at a time, a directory once it looks empty (see order_deleted()). */
static void note_deleted(struct snap *s, const char *rel, size_t missing)
{
	strv_push(&s->out->deleted, rel);
	for (size_t i = missing; missing && rel[i]; i++) {
		if (rel[i] != '/')
			continue;
		cleanup_free char *dir = xstrndup(rel, i);
		strv_push(&s->out->deleted, dir);
	}
}

static int cmp_desc(const void *a, const void *b)
{
	return strcmp(*(char *const *) b, *(char *const *) a);
}

/* Reverse order puts "d/f" before "d" (a path sorts after its prefix), then duplicates
 * (a directory noted for each of its files) go. */
static void order_deleted(char **v)
{
	size_t n = strv_len(v), j = 0;

	if (!v)
		return;
	qsort(v, n, sizeof(*v), cmp_desc);
	for (size_t i = 0; i < n; i++) {
		if (j > 0 && strcmp(v[j - 1], v[i]) == 0)
			free(v[i]);
		else
			v[j++] = v[i];
	}
	v[j] = NULL;
}

/* Names git would refuse in a tree (".git" anywhere: a nested repository) are left out. */
static bool fit(const char *rel)
{
	for (const char *p = rel;;) {
		size_t n = strcspn(p, "/");
		if (checkout_check_name(p, n, false))
			return false;
		if (!p[n])
			return true;
		p += n + 1;
	}
}

static int take(struct snap *s, const char *rel, struct err *err)
{
	const char *name = strrchr(rel, '/');
	cleanup_close int sdir = -1, ldir = -1;
	size_t missing = 0;
	struct stat st;
	int r;

	name = name ? name + 1 : rel;
	for (size_t i = 0; s->seen && s->seen[i]; i++)
		if (strcmp(s->seen[i], rel) == 0)
			return 0;
	strv_push(&s->seen, rel);
	if (strlen(rel) > CHECKOUT_MAX_PATH || !fit(rel)) {
		s->out->skipped++;
		return 0;
	}
	sdir = src_parent(s, rel, &missing);
	if (sdir == -ENOTDIR)
		return 0;
	if (sdir == -ENOENT) {
		if (in_head(s, rel))
			note_deleted(s, rel, missing);
		return 0;
	}
	if (sdir < 0)
		return err_set(err, -sdir, "open the directory of '%s'", rel);
	if (fstatat(sdir, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return err_set(err, errno, "stat '%s'", rel);
		if (in_head(s, rel))
			note_deleted(s, rel, 0);
		return 0;
	}
	if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
		s->out->skipped += !S_ISDIR(st.st_mode) || !in_head(s, rel);
		return 0;
	}
	r = layer_parent(s, rel, &ldir, err);
	if (r < 0)
		return r;
	if (S_ISLNK(st.st_mode))
		return copy_link(s, sdir, ldir, name, rel, err);
	return copy_file(s, sdir, ldir, name, rel, err);
}

static int walk_status(struct snap *s, git_repository *repo, struct err *err)
{
	CLEANUP(git_status_list_freep) git_status_list *list = NULL;
	git_status_options opts;
	int r;

	(void) git_status_options_init(&opts, GIT_STATUS_OPTIONS_VERSION);
	opts.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
	opts.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS |
		     GIT_STATUS_OPT_EXCLUDE_SUBMODULES;
	r = git_status_list_new(&list, repo, &opts);
	if (r < 0) {
		cleanup_free char *index = path_join(git_repository_path(repo), "index");
		if (checkout_index_unsupported(index, err) < 0)
			return -EINVAL;
		return checkout_git_err(err, r, "status");
	}
	for (size_t i = 0, n = git_status_list_entrycount(list); i < n; i++) {
		const git_status_entry *e = git_status_byindex(list, i);
		const git_diff_delta *d[2] = { e->head_to_index, e->index_to_workdir };

		if (e->status == GIT_STATUS_CURRENT || (e->status & GIT_STATUS_IGNORED))
			continue;
		if (e->status & (GIT_STATUS_INDEX_NEW | GIT_STATUS_INDEX_MODIFIED |
				 GIT_STATUS_INDEX_DELETED | GIT_STATUS_INDEX_RENAMED |
				 GIT_STATUS_INDEX_TYPECHANGE | GIT_STATUS_CONFLICTED))
			s->out->staged = true;
		for (int k = 0; k < 2; k++) {
			if (!d[k])
				continue;
			const char *paths[2] = { d[k]->old_file.path, d[k]->new_file.path };
			for (int j = 0; j < 2; j++) {
				if (!paths[j])
					continue;
				r = take(s, paths[j], err);
				if (r < 0)
					return r;
			}
		}
	}
	return 0;
}

/* What status does not say: entries whose bits checkout_snapshot_index() keeps, and
 * submodule entries (status leaves submodules out), make the index worth keeping. And
 * status trusts the assume-unchanged bit (git update-index --assume-unchanged) without
 * looking: such a file may well be edited, so it is taken as it is (git in the job
 * trusts the bit the same way). */
static int scan_index(struct snap *s, git_repository *repo, struct err *err)
{
	git_index *idx = NULL; /* the repository's: status loaded it */
	int r = git_repository_index(&idx, repo);

	if (r < 0)
		return checkout_git_err(err, r, "index");
	for (size_t i = 0, n = git_index_entrycount(idx); i < n && r >= 0; i++) {
		const git_index_entry *e = git_index_get_byindex(idx, i);
		bool valid = e->flags & GIT_INDEX_ENTRY_VALID;
		if (valid || GIT_INDEX_ENTRY_STAGE(e) != 0 || e->mode == GIT_FILEMODE_COMMIT ||
		    (e->flags_extended & GIT_INDEX_ENTRY_EXTENDED_FLAGS))
			s->out->staged = true;
		if (valid && GIT_INDEX_ENTRY_STAGE(e) == 0 && e->mode != GIT_FILEMODE_COMMIT)
			r = take(s, e->path, err);
	}
	if (r >= 0 && s->out->staged)
		s->out->index_read = TAKE_PTR(idx);
	git_index_free(idx);
	return r;
}

static int open_worktree(const char *path, git_repository **ret, struct err *err)
{
	git_repository *repo = NULL;
	int r = git_repository_open_ext(&repo, path, 0, NULL);

	if (r == GIT_ENOTFOUND) {
		git_error_clear();
		return err_set(err, ENOENT, "'%s' is not in a git work tree", path);
	}
	if (r < 0)
		return checkout_git_err(err, r, "open repository at '%s'", path);
	if (git_repository_is_bare(repo) || !git_repository_workdir(repo)) {
		git_repository_free(repo);
		return err_set(err, EINVAL,
			       "'%s' is a bare repository: give its URL or path "
			       "with --commit or --ref instead",
			       path);
	}
	*ret = repo;
	return 0;
}

static int snapshot(git_repository *repo, const char *layer_dir, struct snap *s, struct err *err)
{
	CLEANUP(git_commit_freep) git_commit *commit = NULL;
	CLEANUP(git_tree_freep) git_tree *head = NULL;
	const char *wd = git_repository_workdir(repo);
	cleanup_close int src = -1, layer = -1;
	git_oid oid;
	int r;

	r = git_reference_name_to_id(&oid, repo, "HEAD");
	if (r == 0)
		r = git_commit_lookup(&commit, repo, &oid);
	if (r == 0)
		r = git_commit_tree(&head, commit);
	if (r == GIT_ENOTFOUND || r == GIT_EUNBORNBRANCH) {
		git_error_clear();
		return err_set(err, EINVAL, "work tree '%s' has no commit yet: commit once first",
			       wd);
	}
	if (r < 0)
		return checkout_git_err(err, r, "HEAD of '%s'", wd);
	git_oid_tostr(s->out->commit, sizeof(s->out->commit), &oid);
	src = open(wd, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (src < 0)
		return err_set(err, errno, "open '%s'", wd);
	if (mkdir(layer_dir, 0755) < 0)
		return err_set(err, errno, "mkdir '%s'", layer_dir);
	layer = open(layer_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (layer < 0)
		return err_set(err, errno, "open '%s'", layer_dir);
	r = give(s, -1, NULL, layer);
	if (r < 0)
		return err_set(err, -r, "chown '%s'", layer_dir);
	if (fchmod(layer, 0755) < 0)
		return err_set(err, errno, "chmod '%s'", layer_dir);
	s->src = src;
	s->layer = layer;
	s->head = head;
	r = walk_status(s, repo, err);
	if (r == 0)
		r = scan_index(s, repo, err);
	if (r < 0)
		return err_wrap(err, "snapshot of '%s'", wd);
	return 0;
}

int checkout_snapshot(const char *path, const char *layer_dir, uid_t uid, gid_t gid,
		      struct checkout_snapshot *ret, struct err *err)
{
	CLEANUP(checkout_repo_freep) git_repository *repo = NULL;
	struct checkout_snapshot out = { 0 };
	struct snap s = { .uid = uid, .gid = gid, .out = &out };
	int r = checkout_git_init(err);

	if (r < 0)
		return r;
	s.chown = uid != (uid_t) -1 || gid != (gid_t) -1;
	r = open_worktree(path, &repo, err);
	if (r < 0)
		return r;
	r = snapshot(repo, layer_dir, &s, err);
	strv_free(s.seen);
	order_deleted(out.deleted);
	if (r < 0) {
		if (r != -EEXIST)
			(void) rm_rf_at(AT_FDCWD, layer_dir, &(struct err){ 0 });
		checkout_snapshot_release(&out);
		return r;
	}
	out.git_dir = xstrdup(
		git_repository_commondir(repo)); /* a linked worktree: its main repository */
	out.index = path_join(git_repository_path(repo), "index");
	out.layer = xstrdup(layer_dir);
	git_reference *head = NULL;
	if (git_repository_head(&head, repo) == 0 && git_reference_is_branch(head))
		out.branch = xstrdup(git_reference_shorthand(head));
	git_reference_free(head);
	git_error_clear();
	*ret = out;
	return 0;
}

void checkout_snapshot_release(struct checkout_snapshot *s)
{
	free(s->git_dir);
	free(s->branch);
	free(s->index);
	if (s->index_read)
		git_index_free(s->index_read);
	free(s->layer);
	strv_free(s->deleted);
	strv_free(s->copied);
	*s = (struct checkout_snapshot){ 0 };
}

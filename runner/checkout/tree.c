/* tree.c - writing one git tree into an empty directory: every name judged before it is
 * used, every file created relative to its directory's fd (O_EXCL | O_NOFOLLOW: nothing
 * already written, symlinks included, is ever followed or overwritten), .gitattributes
 * filters applied as `git checkout` applies them, and files shared with a base tree
 * hard-linked from it instead of written. Or only what differs from a parent tree, with
 * overlayfs whiteouts for what is gone: a delta layer (docs/checkout.md). */
#include "checkout/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "checkout/dl.h"

#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

DEFINE_CLEANUP(git_tree *, git_tree_free)
DEFINE_CLEANUP(git_blob *, git_blob_free)
DEFINE_CLEANUP(git_index *, git_index_free)
DEFINE_CLEANUP(git_odb *, git_odb_free)
DEFINE_CLEANUP(git_filter_list *, git_filter_list_free)

struct writer {
	git_repository *repo;
	git_odb *odb;
	bool filters; /* the tree has a .gitattributes: look filters up per file */
	bool chmod_files, chmod_exec, chmod_dirs; /* the umask would clear bits we want */
	bool chown;				  /* give what we create to uid:gid */
	uid_t uid;
	gid_t gid;
	struct timespec times[2];
	struct checkout_write_stats *stats;
	unsigned depth;
	size_t plen;
	char path[CHECKOUT_MAX_PATH + 1]; /* of the entry at hand, for filters and messages */
};

static const char *shown(const struct writer *w, char *buf, size_t size)
{
	return checkout_printable(w->path, buf, size);
}

static int path_err(struct writer *w, int code, const char *what, struct err *err)
{
	char buf[CHECKOUT_SHOWN];

	return err_set(err, code, "path '%s': %s", shown(w, buf, sizeof(buf)), what);
}

static int git_path_err(struct writer *w, int r, struct err *err)
{
	char buf[CHECKOUT_SHOWN];

	return checkout_git_err(err, r, "path '%s'", shown(w, buf, sizeof(buf)));
}

static int push_name(struct writer *w, const char *name, size_t len, struct err *err)
{
	size_t need = w->plen + (w->plen ? 1 : 0) + len;

	if (need > CHECKOUT_MAX_PATH)
		return err_set(err, EINVAL, "path '%.*s/...': longer than %d bytes",
			       (int) (w->plen > 100 ? 100 : w->plen), w->path, CHECKOUT_MAX_PATH);
	if (w->plen)
		w->path[w->plen++] = '/';
	memcpy(w->path + w->plen, name, len);
	w->plen += len;
	w->path[w->plen] = '\0';
	return 0;
}

static void pop_name(struct writer *w, size_t old)
{
	w->plen = old;
	w->path[old] = '\0';
}

/* Step into the entry name (mode: its file mode), judged before anything is made of it. */
static int enter_entry(struct writer *w, const char *name, git_filemode_t mode, struct err *err)
{
	const char *why;
	int r = push_name(w, name, strlen(name), err);

	if (r < 0)
		return r;
	why = checkout_check_name(name, strlen(name), mode == GIT_FILEMODE_LINK);
	return why ? path_err(w, EINVAL, why, err) : 0;
}

/* An error of a syscall that made name: a duplicate in a crafted tree says so. */
static int create_err(struct writer *w, int e, const char *op, struct err *err)
{
	char buf[CHECKOUT_SHOWN];

	if (e == EEXIST)
		return err_set(err, EINVAL, "path '%s': duplicate entry in the tree",
			       shown(w, buf, sizeof(buf)));
	return err_set(err, e, "%s '%s'", op, shown(w, buf, sizeof(buf)));
}

/* The blob's size and type without reading it: refused before it is loaded whole (libgit2
 * cannot stream a packed object). */
static int check_blob(struct writer *w, const git_oid *id, bool symlink, struct err *err)
{
	git_object_t type;
	size_t size;
	int r;

	r = git_odb_read_header(&size, &type, w->odb, id);
	if (r == GIT_ENOTFOUND) {
		char buf[CHECKOUT_SHOWN], hex[GIT_OID_HEXSZ + 1];
		git_error_clear();
		return err_set(err, EUCLEAN, "path '%s': object %s missing from the mirror",
			       shown(w, buf, sizeof(buf)), git_oid_tostr(hex, sizeof(hex), id));
	}
	if (r < 0)
		return git_path_err(w, r, err);
	if (type != GIT_OBJECT_BLOB)
		return path_err(w, EINVAL, "a file whose object is not a blob", err);
	if (size > CHECKOUT_MAX_BLOB)
		return path_err(w, EFBIG, "larger than 1 GiB", err);
	if (symlink && (size == 0 || size > CHECKOUT_MAX_PATH))
		return path_err(w, EINVAL, "symlink target empty or too long", err);
	return 0;
}

static int write_symlink(struct writer *w, int dfd, const char *name, const git_blob *blob,
			 struct err *err)
{
	size_t n = (size_t) git_blob_rawsize(blob);
	char target[CHECKOUT_MAX_PATH + 1];

	memcpy(target, git_blob_rawcontent(blob), n);
	target[n] = '\0';
	if (strlen(target) != n)
		return path_err(w, EINVAL, "NUL in a symlink target", err);
	/* Symlink targets are not judged: they resolve inside the sandbox, and nothing here
	 * ever opens a path through them. */
	if (symlinkat(target, dfd, name) < 0)
		return create_err(w, errno, "symlink", err);
	if (w->chown && fchownat(dfd, name, w->uid, w->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return create_err(w, errno, "chown", err);
	return 0;
}

static int write_file(struct writer *w, int dfd, const char *name, const git_blob *blob, bool exec,
		      struct err *err)
{
	CLEANUP(git_filter_list_freep) git_filter_list *fl = NULL;
	git_buf out = GIT_BUF_INIT;
	cleanup_close int fd = -1;
	mode_t mode = exec ? 0755 : 0644;
	const void *data = git_blob_rawcontent(blob);
	size_t len = (size_t) git_blob_rawsize(blob);
	int r;

	if (w->filters) {
		r = git_filter_list_load(&fl, w->repo, (git_blob *) blob, w->path,
					 GIT_FILTER_TO_WORKTREE, GIT_FILTER_NO_SYSTEM_ATTRIBUTES);
		if (r < 0)
			return git_path_err(w, r, err);
	}
	if (fl) {
		r = git_filter_list_apply_to_blob(&out, fl, (git_blob *) blob);
		if (r < 0)
			return git_path_err(w, r, err);
		data = out.ptr;
		len = out.size;
	}
	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
		    mode);
	if (fd < 0)
		r = create_err(w, errno, "create", err);
	else if ((r = fd_write_all(fd, data, len)) < 0)
		r = create_err(w, -r, "write", err);
	git_buf_dispose(&out);
	if (r < 0)
		return r;
	/* A new file, linked nowhere yet: the only moment its owner, mode and times may be
	 * set. The owner first: chown clears set-id bits, chmod comes after. */
	if (w->chown && fchown(fd, w->uid, w->gid) < 0)
		return create_err(w, errno, "chown", err);
	if ((exec ? w->chmod_exec : w->chmod_files) && fchmod(fd, mode) < 0)
		return create_err(w, errno, "chmod", err);
	if (futimens(fd, w->times) < 0)
		return create_err(w, errno, "set times of", err);
	if (close(TAKE_FD(fd)) < 0)
		return create_err(w, errno, "close", err);
	w->stats->written++;
	w->stats->bytes += len;
	return 0;
}

static int write_blob(struct writer *w, int dfd, const char *name, const git_tree_entry *e,
		      git_filemode_t mode, struct err *err)
{
	CLEANUP(git_blob_freep) git_blob *blob = NULL;
	bool symlink = mode == GIT_FILEMODE_LINK;
	int r;

	r = check_blob(w, git_tree_entry_id(e), symlink, err);
	if (r < 0)
		return r;
	r = git_blob_lookup(&blob, w->repo, git_tree_entry_id(e));
	if (r < 0)
		return git_path_err(w, r, err);
	if (symlink)
		return write_symlink(w, dfd, name, blob, err);
	return write_file(w, dfd, name, blob, mode == GIT_FILEMODE_BLOB_EXECUTABLE, err);
}

static int make_dir(struct writer *w, int dfd, const char *name, int *ret_fd, struct err *err)
{
	cleanup_close int fd = -1;

	if (mkdirat(dfd, name, 0755) < 0)
		return create_err(w, errno, "mkdir", err);
	if (!ret_fd && !w->chmod_dirs && !w->chown)
		return 0;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return create_err(w, errno, "open", err);
	if (w->chown && fchown(fd, w->uid, w->gid) < 0)
		return create_err(w, errno, "chown", err);
	if (w->chmod_dirs && fchmod(fd, 0755) < 0)
		return create_err(w, errno, "chmod", err);
	w->stats->dirs++;
	if (ret_fd)
		*ret_fd = TAKE_FD(fd);
	return 0;
}

static int write_dir(struct writer *w, int dfd, const git_tree *tree, const git_tree *base, int bfd,
		     struct err *err);

static int write_subtree(struct writer *w, int dfd, const char *name, const git_tree_entry *e,
			 const git_tree_entry *be, int bfd, struct err *err)
{
	CLEANUP(git_tree_freep) git_tree *sub = NULL, *bsub = NULL;
	cleanup_close int sfd = -1, bsfd = -1;
	int r;

	if (w->depth >= CHECKOUT_MAX_DEPTH)
		return path_err(w, EINVAL, "directories nested too deep", err);
	r = git_tree_lookup(&sub, w->repo, git_tree_entry_id(e));
	if (r < 0)
		return git_path_err(w, r, err);
	r = make_dir(w, dfd, name, &sfd, err);
	if (r < 0)
		return r;
	if (be && bfd >= 0 && git_tree_entry_filemode(be) == GIT_FILEMODE_TREE &&
	    git_tree_lookup(&bsub, w->repo, git_tree_entry_id(be)) == 0)
		bsfd = openat(bfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	git_error_clear();
	w->depth++;
	r = write_dir(w, sfd, sub, bsfd >= 0 ? bsub : NULL, bsfd, err);
	w->depth--;
	return r;
}

/* Hard-link name from the base directory when the base has the same blob and mode there.
 * 1 linked, 0 not (write it), < 0 error. */
static int try_link(struct writer *w, int dfd, const char *name, const git_tree_entry *e,
		    const git_tree_entry *be, int bfd, struct err *err)
{
	if (!be || bfd < 0 || git_tree_entry_filemode(be) != git_tree_entry_filemode(e) ||
	    !git_oid_equal(git_tree_entry_id(be), git_tree_entry_id(e)))
		return 0;
	/* No AT_SYMLINK_FOLLOW: a symlink is linked as itself. The base is complete and
	 * never written again, so its file is exactly what writing would produce. */
	if (linkat(bfd, name, dfd, name, 0) == 0) {
		w->stats->linked++;
		return 1;
	}
	if (errno == EEXIST)
		return create_err(w, errno, "link", err);
	return 0; /* EMLINK, a base file gone: write it */
}

static int write_dir(struct writer *w, int dfd, const git_tree *tree, const git_tree *base, int bfd,
		     struct err *err)
{
	size_t n = git_tree_entrycount(tree);

	for (size_t i = 0; i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		const char *name = git_tree_entry_name(e);
		git_filemode_t mode = git_tree_entry_filemode(e);
		const git_tree_entry *be = base ? git_tree_entry_byname(base, name) : NULL;
		size_t old = w->plen;
		int r = enter_entry(w, name, mode, err);

		if (r < 0)
			return r;
		switch (mode) {
		case GIT_FILEMODE_TREE:
			r = write_subtree(w, dfd, name, e, be, bfd, err);
			break;
		case GIT_FILEMODE_BLOB:
		case GIT_FILEMODE_BLOB_EXECUTABLE:
		case GIT_FILEMODE_LINK:
			r = try_link(w, dfd, name, e, be, bfd, err);
			if (r == 0)
				r = write_blob(w, dfd, name, e, mode, err);
			break;
		case GIT_FILEMODE_COMMIT:
			/* An empty directory, as `git clone` without --recurse-submodules
			 * leaves it; --submodules mounts the submodule's own checkout over it
			 * (submodule-tree.c). */
			r = make_dir(w, dfd, name, NULL, err);
			break;
		default:
			r = path_err(w, EINVAL, "unknown file mode", err);
			break;
		}
		if (r < 0)
			return r;
		pop_name(w, old);
	}
	return 0;
}

/* A whiteout: overlayfs hides name in every layer below (a character device 0/0, which
 * Linux 5.8 and later let anyone make). */
static int make_whiteout(struct writer *w, int dfd, const char *name, struct err *err)
{
	if (mknodat(dfd, name, S_IFCHR | 0000, makedev(0, 0)) < 0)
		return create_err(w, errno, "whiteout", err);
	if (w->chown && fchownat(dfd, name, w->uid, w->gid, AT_SYMLINK_NOFOLLOW) < 0)
		return create_err(w, errno, "chown", err);
	w->stats->whiteouts++;
	return 0;
}

static bool same_entry(const git_tree_entry *e, const git_tree_entry *be)
{
	git_filemode_t mode = git_tree_entry_filemode(e);

	if (!be || git_tree_entry_filemode(be) != mode)
		return false;
	/* A submodule is an empty directory whatever commit it records. */
	return mode == GIT_FILEMODE_COMMIT ||
	       git_oid_equal(git_tree_entry_id(e), git_tree_entry_id(be));
}

static int delta_dir(struct writer *w, int dfd, const git_tree *tree, const git_tree *base,
		     struct err *err);

/* A directory of both trees whose content differs: the same directory in the layer,
 * merged by overlayfs with the one below, holding what changed in it. */
static int delta_subtree(struct writer *w, int dfd, const char *name, const git_tree_entry *e,
			 const git_tree_entry *be, struct err *err)
{
	CLEANUP(git_tree_freep) git_tree *sub = NULL, *bsub = NULL;
	cleanup_close int sfd = -1;
	int r;

	if (w->depth >= CHECKOUT_MAX_DEPTH)
		return path_err(w, EINVAL, "directories nested too deep", err);
	r = git_tree_lookup(&sub, w->repo, git_tree_entry_id(e));
	if (r == 0)
		r = git_tree_lookup(&bsub, w->repo, git_tree_entry_id(be));
	if (r < 0)
		return git_path_err(w, r, err);
	r = make_dir(w, dfd, name, &sfd, err);
	if (r < 0)
		return r;
	w->depth++;
	r = delta_dir(w, sfd, sub, bsub, err);
	w->depth--;
	return r;
}

/* A submodule where the parent had a directory: an empty directory, every name of the
 * one below whited out (an opaque directory would need an xattr only root may set). */
static int emptied_dir(struct writer *w, int dfd, const char *name, const git_tree_entry *be,
		       struct err *err)
{
	CLEANUP(git_tree_freep) git_tree *bsub = NULL;
	cleanup_close int sfd = -1;
	int r = git_tree_lookup(&bsub, w->repo, git_tree_entry_id(be));

	if (r < 0)
		return git_path_err(w, r, err);
	r = make_dir(w, dfd, name, &sfd, err);
	for (size_t i = 0; r == 0 && i < git_tree_entrycount(bsub); i++) {
		const char *bname = git_tree_entry_name(git_tree_entry_byindex(bsub, i));
		size_t old = w->plen;
		r = push_name(w, bname, strlen(bname), err);
		if (r == 0)
			r = make_whiteout(w, sfd, bname, err);
		pop_name(w, old);
	}
	return r;
}

/* What tree has that base has not, or has otherwise, and a whiteout for each name of base
 * that tree lacks. A non-directory in a layer hides whatever is below it, a directory
 * over a non-directory hides it too, so only directories of both are merged. */
static int delta_dir(struct writer *w, int dfd, const git_tree *tree, const git_tree *base,
		     struct err *err)
{
	size_t n = git_tree_entrycount(tree), nb = git_tree_entrycount(base);

	for (size_t i = 0; i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		const char *name = git_tree_entry_name(e);
		git_filemode_t mode = git_tree_entry_filemode(e);
		const git_tree_entry *be = git_tree_entry_byname(base, name);
		git_filemode_t bmode = be ? git_tree_entry_filemode(be) : 0;
		size_t old = w->plen;
		int r;

		if (same_entry(e, be))
			continue;
		r = enter_entry(w, name, mode, err);
		if (r < 0)
			return r;
		switch (mode) {
		case GIT_FILEMODE_TREE:
			if (bmode == GIT_FILEMODE_TREE)
				r = delta_subtree(w, dfd, name, e, be, err);
			else /* over nothing, a file or a submodule's empty directory */
				r = write_subtree(w, dfd, name, e, NULL, -1, err);
			break;
		case GIT_FILEMODE_BLOB:
		case GIT_FILEMODE_BLOB_EXECUTABLE:
		case GIT_FILEMODE_LINK:
			r = write_blob(w, dfd, name, e, mode, err);
			break;
		case GIT_FILEMODE_COMMIT:
			if (bmode == GIT_FILEMODE_TREE)
				r = emptied_dir(w, dfd, name, be, err);
			else
				r = make_dir(w, dfd, name, NULL, err);
			break;
		default:
			r = path_err(w, EINVAL, "unknown file mode", err);
			break;
		}
		if (r < 0)
			return r;
		pop_name(w, old);
	}
	for (size_t i = 0; i < nb; i++) {
		const char *name = git_tree_entry_name(git_tree_entry_byindex(base, i));
		size_t old = w->plen;
		int r;

		if (git_tree_entry_byname(tree, name))
			continue;
		r = push_name(w, name, strlen(name), err);
		if (r == 0)
			r = make_whiteout(w, dfd, name, err);
		if (r < 0)
			return r;
		pop_name(w, old);
	}
	return 0;
}

/* The .gitattributes of every directory the delta walks into (those of both trees whose
 * content differs), into idx: a path's attributes come only from its directory and those
 * above, and every file the delta writes lies in such a directory or in a new subtree,
 * which has no .gitattributes (a change of one makes a full tree, see cache.c). */
static int collect_attributes(git_repository *repo, git_index *idx, const git_tree *tree,
			      const git_tree *base, char *path, size_t plen, unsigned depth,
			      unsigned *n_found)
{
	const git_tree_entry *a = git_tree_entry_byname(tree, ".gitattributes");
	size_t n = git_tree_entrycount(tree);
	int r;

	if (depth > CHECKOUT_MAX_DEPTH)
		return -EINVAL;
	if (a && git_tree_entry_filemode(a) != GIT_FILEMODE_TREE) {
		git_index_entry e = { .mode = git_tree_entry_filemode(a), .path = path };
		if (plen + strlen(".gitattributes") > CHECKOUT_MAX_PATH)
			return -EINVAL;
		memcpy(path + plen, ".gitattributes", sizeof(".gitattributes"));
		git_oid_cpy(&e.id, git_tree_entry_id(a));
		r = git_index_add(idx, &e);
		path[plen] = '\0';
		if (r < 0)
			return r;
		(*n_found)++;
	}
	for (size_t i = 0; i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		const git_tree_entry *be = git_tree_entry_byname(base, git_tree_entry_name(e));
		CLEANUP(git_tree_freep) git_tree *sub = NULL, *bsub = NULL;
		const char *name = git_tree_entry_name(e);
		size_t len = strlen(name);

		if (git_tree_entry_filemode(e) != GIT_FILEMODE_TREE || !be ||
		    git_tree_entry_filemode(be) != GIT_FILEMODE_TREE || same_entry(e, be))
			continue;
		if (plen + len + 1 > CHECKOUT_MAX_PATH)
			return -EINVAL;
		r = git_tree_lookup(&sub, repo, git_tree_entry_id(e));
		if (r == 0)
			r = git_tree_lookup(&bsub, repo, git_tree_entry_id(be));
		if (r < 0)
			return r;
		memcpy(path + plen, name, len);
		path[plen + len] = '/';
		path[plen + len + 1] = '\0';
		r = collect_attributes(repo, idx, sub, bsub, path, plen + len + 1, depth + 1,
				       n_found);
		path[plen] = '\0';
		if (r < 0)
			return r;
	}
	return 0;
}

struct prewalk {
	struct err *err;
	bool attributes, refused;
};

/* Judge every name before anything is written (and before libgit2's index sees them), and
 * find out whether filters can apply at all: without a .gitattributes in the tree none
 * can, since no user or system config (core.autocrlf) is ever read. */
static int prewalk_cb(const char *root, const git_tree_entry *e, void *payload)
{
	struct prewalk *p = payload;
	const char *name = git_tree_entry_name(e), *why;
	git_filemode_t mode = git_tree_entry_filemode(e);
	size_t rlen = strlen(root), depth = 0;
	char buf[CHECKOUT_SHOWN];

	why = checkout_check_name(name, strlen(name), mode == GIT_FILEMODE_LINK);
	for (const char *c = root; *c; c++)
		depth += *c == '/';
	if (!why && rlen + strlen(name) > CHECKOUT_MAX_PATH)
		why = "path too long";
	if (!why && depth >= CHECKOUT_MAX_DEPTH)
		why = "directories nested too deep";
	if (why) {
		cleanup_free char *path = xasprintf("%s%s", root, name);
		(void) err_set(p->err, EINVAL, "path '%s': %s",
			       checkout_printable(path, buf, sizeof(buf)), why);
		p->refused = true;
		return -1;
	}
	if (strcmp(name, ".gitattributes") == 0 && mode != GIT_FILEMODE_TREE)
		p->attributes = true;
	return 0;
}

int checkout_write_tree(struct git_repository *repo, const struct git_tree *tree,
			const struct git_tree *base, int base_fd, int rootfd, uid_t uid, gid_t gid,
			struct checkout_write_stats *stats, struct err *err)
{
	CLEANUP(git_index_freep) git_index *idx = NULL;
	CLEANUP(git_odb_freep) git_odb *odb = NULL;
	unsigned mask = checkout_umask();
	struct writer w = { .repo = repo, .stats = stats, .uid = uid, .gid = gid };
	struct prewalk pre = { .err = err };
	struct timespec now;
	int r;

	*stats = (struct checkout_write_stats){ 0 };
	r = git_repository_odb(&odb, repo);
	if (r < 0)
		return checkout_git_err(err, r, "object database");
	w.odb = odb;
	r = git_tree_walk(tree, GIT_TREEWALK_PRE, prewalk_cb, &pre);
	if (r < 0)
		return pre.refused ? -EINVAL : checkout_git_err(err, r, "read tree");
	/* Attributes come from the tree itself, as `git checkout` reads them from the index
	 * it has just filled: an index in memory, never written, lent to the repository. */
	w.filters = pre.attributes;
	if (w.filters) {
		r = git_index_new(&idx);
		if (r == 0)
			r = git_index_read_tree(idx, tree);
		if (r == 0)
			r = git_repository_set_index(repo, idx);
		if (r < 0)
			return checkout_git_err(err, r, "read tree");
	}
	w.chown = uid != (uid_t) -1 || gid != (gid_t) -1;
	w.chmod_files = (mask & 0644) != 0;
	w.chmod_exec = w.chmod_dirs = (mask & 0755) != 0;
	/* A second before the build: an index written afterwards, even within the same
	 * second, is strictly newer, so git never sees the files as "racily clean". */
	(void) clock_gettime(CLOCK_REALTIME, &now);
	w.times[0] = w.times[1] = (struct timespec){ .tv_sec = now.tv_sec - 1 };
	r = write_dir(&w, rootfd, tree, base, base ? base_fd : -1, err);
	if (w.filters)
		(void) git_repository_set_index(repo, NULL);
	return r;
}

int checkout_write_delta(struct git_repository *repo, const struct git_tree *tree,
			 const struct git_tree *parent, int rootfd, uid_t uid, gid_t gid,
			 struct checkout_write_stats *stats, struct err *err)
{
	CLEANUP(git_index_freep) git_index *idx = NULL;
	CLEANUP(git_odb_freep) git_odb *odb = NULL;
	unsigned mask = checkout_umask();
	struct writer w = { .repo = repo, .stats = stats, .uid = uid, .gid = gid };
	char path[CHECKOUT_MAX_PATH + 1] = "";
	unsigned n_attributes = 0;
	struct timespec now;
	int r;

	*stats = (struct checkout_write_stats){ 0 };
	r = git_repository_odb(&odb, repo);
	if (r < 0)
		return checkout_git_err(err, r, "object database");
	w.odb = odb;
	/* Names are judged as the walk meets them: what it skips is the parent's, judged
	 * when the parent was written (the same tree id holds the same names). */
	r = git_index_new(&idx);
	if (r == 0)
		r = collect_attributes(repo, idx, (const git_tree *) tree, parent, path, 0, 0,
				       &n_attributes);
	if (r == -EINVAL)
		return err_set(err, EINVAL, "path '%.100s...': too long or nested too deep", path);
	if (r < 0)
		return checkout_git_err(err, r, "read tree");
	w.filters = n_attributes > 0;
	if (w.filters) {
		r = git_repository_set_index(repo, idx);
		if (r < 0)
			return checkout_git_err(err, r, "read tree");
	}
	w.chown = uid != (uid_t) -1 || gid != (gid_t) -1;
	w.chmod_files = (mask & 0644) != 0;
	w.chmod_exec = w.chmod_dirs = (mask & 0755) != 0;
	(void) clock_gettime(CLOCK_REALTIME, &now);
	w.times[0] = w.times[1] = (struct timespec){ .tv_sec = now.tv_sec - 1 };
	r = delta_dir(&w, rootfd, tree, parent, err);
	if (w.filters)
		(void) git_repository_set_index(repo, NULL);
	return r;
}

/* snapindex.c - the work tree's index in a `--repo .` workspace, so that what the user
 * staged is staged in the job too. The job's .git comes with an index of HEAD's tree whose
 * stat data is the cached tree's; it is changed in place into the work tree's index: every
 * entry (conflict stages, intent-to-add, skip-worktree and assume-unchanged bits included)
 * with stat data only where the file the job will see is known to hold the entry's blob,
 * and zero elsewhere, so git hashes those files once and never trusts a file it should
 * not.
 * Blobs that only the work tree's repository has (what `git add` wrote, loose) are copied
 * into the job's .git/objects. The work tree's index is only read (no index.lock: git
 * replaces it by renaming, so a concurrent `git add` is seen whole or not at all). */
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
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

DEFINE_CLEANUP(git_index *, git_index_free)
DEFINE_CLEANUP(git_odb *, git_odb_free)
DEFINE_CLEANUP(git_odb_object *, git_odb_object_free)

/* Where the objects come from and go. user and job are opened when first needed. */
struct objs {
	git_odb *mirror, *user, *job;
	const char *user_dir; /* the work tree's git directory (objects/ in it) */
	const char *job_dir;  /* the job's .git */
};

static void objs_release(struct objs *o)
{
	git_odb_free(o->mirror);
	git_odb_free(o->user);
	git_odb_free(o->job);
}

static int odb_open(git_odb **ret, const char *git_dir, const char *what, struct err *err)
{
	cleanup_free char *path = path_join(git_dir, "objects");
	int r = git_odb_open(ret, path);

	return r < 0 ? checkout_git_err(err, r, "%s objects '%s'", what, path) : 0;
}

int checkout_index_unsupported(const char *path, struct err *err)
{
	const git_error *e = git_error_last();
	const char *msg = e && e->message ? e->message : "";

	if (strstr(msg, "'link'")) {
		git_error_clear();
		return err_set(err, EINVAL,
			       "index '%s' is a split index, which mayfly cannot read: run 'git "
			       "update-index --no-split-index' in the work tree (and unset "
			       "core.splitIndex)",
			       path);
	}
	if (strstr(msg, "'sdir'")) {
		git_error_clear();
		return err_set(err, EINVAL,
			       "index '%s' is a sparse index, which mayfly cannot read: run 'git "
			       "sparse-checkout init --no-sparse-index' in the work tree",
			       path);
	}
	return 0;
}

static int read_index(const char *path, const char *what, git_index **ret, struct err *err)
{
	int r = git_index_open(ret, path);

	if (r == 0)
		return 0;
	if (checkout_index_unsupported(path, err) < 0)
		return -EINVAL;
	r = checkout_git_err(err, r, "%s '%s'", what, path);
	return r == -EUCLEAN ? -(err->code = EINVAL) : r;
}

/* An entry git treats as plain: stage 0, no intent-to-add, skip-worktree or
 * assume-unchanged bit. */
static bool plain(const git_index_entry *e)
{
	return GIT_INDEX_ENTRY_STAGE(e) == 0 && !(e->flags & GIT_INDEX_ENTRY_VALID) &&
	       !(e->flags_extended & GIT_INDEX_ENTRY_EXTENDED_FLAGS);
}

/* The work tree's index is HEAD's tree as it is: the job's index already says so. */
static bool same_as_head(git_index *user, git_index *head)
{
	size_t n = git_index_entrycount(user);

	if (n != git_index_entrycount(head))
		return false;
	for (size_t i = 0; i < n; i++) {
		const git_index_entry *u = git_index_get_byindex(user, i);
		const git_index_entry *h = git_index_get_byindex(head, i);
		if (!plain(u) || u->mode != h->mode || !git_oid_equal(&u->id, &h->id) ||
		    strcmp(u->path, h->path) != 0)
			return false;
	}
	return true;
}

static void copy_stat(git_index_entry *to, const git_index_entry *from)
{
	to->ctime = from->ctime;
	to->mtime = from->mtime;
	to->dev = from->dev;
	to->ino = from->ino;
	to->uid = from->uid;
	to->gid = from->gid;
	to->file_size = from->file_size;
}

/* Open the layer directory holding rel without following anything (the layer copies an
 * untrusted work tree: a symlink in it may point anywhere on this host). */
static int layer_parent(int layer, const char *rel)
{
	cleanup_close int fd = fcntl(layer, F_DUPFD_CLOEXEC, 3);
	cleanup_free char *copy = xstrdup(rel);
	char *p = copy, *slash;

	if (fd < 0)
		return -errno;
	while ((slash = strchr(p, '/'))) {
		*slash = '\0';
		int sub = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			return -errno;
		(void) close(fd);
		fd = sub;
		p = slash + 1;
	}
	return TAKE_FD(fd);
}

/* The stat data of the layer file at e's path when it holds e's blob (raw bytes: a file
 * that a filter would change hashes differently and gets no stat data, which is safe, as
 * is a file that cannot be hashed: git hashes it itself). */
static int layer_stat(int layer, const git_index_entry *e, git_index_entry *out, struct err *err)
{
	const char *name = strrchr(e->path, '/');
	cleanup_close int dir = layer_parent(layer, e->path), fd = -1;
	char target[CHECKOUT_MAX_PATH + 1], shown[CHECKOUT_SHOWN];
	struct stat st;
	git_oid oid;
	int r;

	name = name ? name + 1 : e->path;
	(void) checkout_printable(e->path, shown, sizeof(shown));
	if (dir < 0)
		return err_set(err, -dir, "layer: open the directory of '%s'", shown);
	if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return err_set(err, errno, "layer: stat '%s'", shown);
	if (S_ISLNK(st.st_mode)) {
		ssize_t n = readlinkat(dir, name, target, sizeof(target));
		if (n < 0)
			return err_set(err, errno, "layer: readlink '%s'", shown);
		if (e->mode != GIT_FILEMODE_LINK || (size_t) n >= sizeof(target))
			return 0;
		r = git_odb_hash(&oid, target, (size_t) n, GIT_OBJECT_BLOB);
	} else {
		git_filemode_t mode =
			st.st_mode & 0100 ? GIT_FILEMODE_BLOB_EXECUTABLE : GIT_FILEMODE_BLOB;
		if (!S_ISREG(st.st_mode) || e->mode != mode)
			return 0;
		fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0)
			return err_set(err, errno, "layer: open '%s'", shown);
		/* By the fd, so that nothing is resolved again. */
		char self[64];
		(void) snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
		r = git_odb_hashfile(&oid, self, GIT_OBJECT_BLOB);
	}
	if (r < 0)
		git_error_clear();
	else if (git_oid_equal(&oid, &e->id))
		checkout_stat_to_entry(&st, out);
	return 0;
}

/* A fault in the work tree's repository is no damaged mirror (-EUCLEAN would have the
 * caller rebuild the mirror and try again). */
static int user_fault(struct err *err, int r)
{
	if (r == -EUCLEAN) {
		err->code = EIO;
		return -EIO;
	}
	return r;
}

/* Make e's object reachable from the job's .git: the mirror has it (through the
 * alternates), or it is copied from the work tree's repository, loose. */
static int take_object(struct objs *o, const git_index_entry *e, struct err *err)
{
	CLEANUP(git_odb_object_freep) git_odb_object *obj = NULL;
	char hex[GIT_OID_HEXSZ + 1], shown[CHECKOUT_SHOWN];
	git_object_t type;
	git_oid empty, oid;
	size_t size;
	int r;

	if (e->mode == GIT_FILEMODE_COMMIT || git_odb_exists(o->mirror, &e->id))
		return 0;
	r = o->user ? 0 : user_fault(err, odb_open(&o->user, o->user_dir, "work tree", err));
	if (r == 0 && !o->job)
		r = odb_open(&o->job, o->job_dir, "workspace", err);
	if (r < 0)
		return r;
	if (git_odb_exists(o->job, &e->id))
		return 0;
	git_oid_tostr(hex, sizeof(hex), &e->id);
	(void) checkout_printable(e->path, shown, sizeof(shown));
	r = git_odb_read_header(&size, &type, o->user, &e->id);
	(void) git_odb_hash(&empty, "", 0, GIT_OBJECT_BLOB);
	if (r == GIT_ENOTFOUND && git_oid_equal(&e->id, &empty)) {
		/* git add -N records the empty blob without writing it. */
		git_error_clear();
		r = git_odb_write(&oid, o->job, "", 0, GIT_OBJECT_BLOB);
		return r < 0 ? checkout_git_err(err, r, "write the empty blob") : 0;
	}
	if (r == GIT_ENOTFOUND) {
		git_error_clear();
		return err_set(err, EIO,
			       "index entry '%s': object %s is missing from '%s' (git fsck "
			       "there says more)",
			       shown, hex, o->user_dir);
	}
	if (r < 0)
		return user_fault(
			err, checkout_git_err(err, r, "index entry '%s': object %s", shown, hex));
	if ((uint64_t) size > CHECKOUT_MAX_BLOB)
		return err_set(err, EFBIG, "staged file '%s': larger than 1 GiB", shown);
	r = git_odb_read(&obj, o->user, &e->id);
	if (r < 0)
		return user_fault(err, checkout_git_err(err, r, "index entry '%s': read object %s",
							shown, hex));
	r = git_odb_write(&oid, o->job, git_odb_object_data(obj), git_odb_object_size(obj), type);
	if (r < 0)
		return checkout_git_err(err, r, "index entry '%s': write object %s", shown, hex);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* The work tree's entries that the job's index lacks or has otherwise, into entries (*ret_n
 * of them), with the stat data the job may trust. */
static int derive(const struct checkout_snapshot *snap, git_index *user, git_index *head,
		  struct objs *o, git_index_entry *entries, size_t *ret_n, struct err *err)
{
	size_t n = git_index_entrycount(user), n_copied = strv_len(snap->copied), m = 0;
	cleanup_free char **copied = xcalloc(n_copied + 1, sizeof(*copied));
	cleanup_close int layer = -1;
	int r;

	memcpy(copied, snap->copied ? snap->copied : (char *[]){ NULL },
	       n_copied * sizeof(*copied));
	qsort(copied, n_copied, sizeof(*copied), cmp_str);
	layer = open(snap->layer, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (layer < 0)
		return err_set(err, errno, "open layer '%s'", snap->layer);
	for (size_t i = 0; i < n; i++) {
		const git_index_entry *u = git_index_get_byindex(user, i);
		const git_index_entry *h = git_index_get_bypath(head, u->path, 0);
		git_index_entry *e = &entries[m];
		bool as_head = h && h->mode == u->mode && git_oid_equal(&h->id, &u->id);

		git_error_clear(); /* a path HEAD lacks */
		*e = (git_index_entry){ .id = u->id,
					.mode = u->mode,
					.flags = u->flags,
					.flags_extended = u->flags_extended,
					.path = u->path };
		/* HEAD's blobs are in the mirror: only the others are looked for. */
		r = as_head ? 0 : take_object(o, u, err);
		if (r < 0)
			return r;
		/* A file in the layer is the one the job sees; else the cached tree's is. */
		if (GIT_INDEX_ENTRY_STAGE(u) != 0 ||
		    (u->flags_extended & GIT_INDEX_ENTRY_INTENT_TO_ADD)) {
			/* no stat data: git looks at the file */
		} else if (bsearch(&u->path, copied, n_copied, sizeof(*copied), cmp_str)) {
			r = layer_stat(layer, u, e, err);
			if (r < 0)
				return r;
		} else if (as_head && plain(u)) {
			continue; /* the job's index has it as it is */
		} else if (as_head) {
			copy_stat(e, h);
		}
		m++;
	}
	*ret_n = m;
	return 0;
}

/* Take out of the job's index what the work tree's has not at stage 0 (deleted, or
 * replaced by a conflict's stages), before anything is added (a file may give way to a
 * directory). */
static int drop_missing(git_index *user, git_index *head, struct err *err)
{
	size_t n = git_index_entrycount(head), m = 0;
	char **gone = xcalloc(n + 1, sizeof(*gone));
	int r = 0;

	for (size_t i = 0; i < n; i++) {
		const git_index_entry *h = git_index_get_byindex(head, i);
		if (!git_index_get_bypath(user, h->path, 0))
			gone[m++] = xstrdup(h->path);
	}
	git_error_clear();
	for (size_t i = 0; i < m && r >= 0; i++) {
		char shown[CHECKOUT_SHOWN];
		r = git_index_remove(head, gone[i], 0);
		if (r < 0)
			r = checkout_git_err(err, r, "index: remove '%s'",
					     checkout_printable(gone[i], shown, sizeof(shown)));
	}
	strv_free(gone);
	return r < 0 ? r : 0;
}

int checkout_snapshot_index(const struct checkout_snapshot *snap, const char *mirror,
			    const char *dir, struct err *err)
{
	CLEANUP(git_index_freep) git_index *owned = NULL, *head = NULL;
	git_index *user = snap->index_read;
	cleanup_free char *git = path_join(dir, ".git");
	cleanup_free char *head_path = path_join(git, "index");
	cleanup_free git_index_entry *entries = NULL;
	struct objs o = { .user_dir = snap->git_dir, .job_dir = git };
	size_t n = 0;
	int r;

	if (!snap->staged)
		return 0; /* the job's index, HEAD's, is the work tree's already */
	r = checkout_git_init(err);
	if (r == 0 && !user && (r = read_index(snap->index, "work tree index", &owned, err)) == 0)
		user = owned;
	if (r == 0)
		r = read_index(head_path, "workspace index", &head, err);
	if (r < 0)
		return r;
	if (same_as_head(user, head))
		return 0;
	r = odb_open(&o.mirror, mirror, "mirror", err);
	entries = xcalloc(git_index_entrycount(user) + 1, sizeof(*entries));
	if (r == 0)
		r = derive(snap, user, head, &o, entries, &n, err);
	objs_release(&o);
	if (r == 0)
		r = drop_missing(user, head, err);
	if (r < 0)
		return err_wrap(err, "keep the index of '%s'", snap->git_dir);
	/* Changed in place (the cache-tree extension stays valid where nothing changed),
	 * written to index.lock and renamed: the index HEAD's was (a hard link to the tree
	 * cache's, perhaps) is replaced, never written through. */
	for (size_t i = 0; i < n && r >= 0; i++) {
		r = git_index_add(head, &entries[i]);
		if (r < 0) {
			char shown[CHECKOUT_SHOWN];
			(void) checkout_printable(entries[i].path, shown, sizeof(shown));
			r = checkout_git_err(err, r, "work tree index entry '%s'", shown);
		}
	}
	if (r >= 0 && (r = git_index_write(head)) < 0)
		r = checkout_git_err(err, r, "write '%s'", head_path);
	if (r < 0)
		return err_wrap(err, "keep the index of '%s'", snap->git_dir);
	return 0;
}

/* cache.c - the tree cache: "<cache>/trees/<tree id>/", each built once under an exclusive
 * lock in a temporary sibling and renamed into place, complete or as a delta layer on a
 * nearby tree (layer.c); held by users under shared locks; and the per-mirror list of
 * trees it made, where a new tree finds its nearest base. */
#include "checkout/checkout.h"

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
#include "util/sha256.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define BASES_DIR     ".bases"
#define BASES_MAX     (1 << 20)	 /* bytes read from a list */
#define BASES_COMPACT (64 << 10) /* rewrite a list past this size */
#define BASES_KEEP    256

DEFINE_CLEANUP(git_tree *, git_tree_free)

struct base {
	git_tree *tree; /* owned */
	int fd;		/* its directory */
	int lock_fd;	/* shared lock: prune keeps away while we link from it */
	char id[41];
	bool delta; /* the new tree is a delta layer on it, else complete linking from it */
};

static void base_release(struct base *b)
{
	git_tree_free(b->tree);
	(void) safe_close(b->fd);
	(void) safe_close(b->lock_fd);
	*b = (struct base){ .fd = -1, .lock_fd = -1 };
}

static bool tree_present(int tdir, const char *id)
{
	struct stat st;

	return fstatat(tdir, id, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

/* Who must own a tree's files: uid and gid, or we ourselves for (uid_t) -1, (gid_t) -1. */
struct owner {
	uid_t uid;
	gid_t gid;
};

static struct owner owner_of(uid_t uid, gid_t gid)
{
	return (struct owner){ uid == (uid_t) -1 ? geteuid() : uid,
			       gid == (gid_t) -1 ? getegid() : gid };
}

static bool owned_by(const struct stat *st, struct owner o)
{
	return st->st_uid == o.uid && st->st_gid == o.gid;
}

/* ".bases/<sha256 of the mirror's real path>": one list per mirror. */
static char *bases_name(const char *mirror)
{
	char real[4096], hex[SHA256_HEX_SIZE];
	uint8_t digest[SHA256_DIGEST_SIZE];
	const char *p = realpath(mirror, real) ? real : mirror;

	sha256(p, strlen(p), digest);
	sha256_to_hex(digest, hex);
	return xasprintf(BASES_DIR "/%s", hex);
}

/* The list's ids, newest first, each once, only those still in the cache. A torn line (a
 * crash mid-append) is skipped like any other malformed one. */
static char **read_bases(int tdir, const char *name, size_t max, size_t *ret_size)
{
	cleanup_free char *text = NULL;
	char **ids = NULL;
	size_t len = 0, n = 0;

	*ret_size = 0;
	if (read_file_at(tdir, name, BASES_MAX, &text, &len, &(struct err){ 0 }) < 0)
		return NULL;
	*ret_size = len;
	for (size_t end = len; end > 0 && n < max;) {
		size_t start = end - 1;
		bool seen = false;
		char *id;

		while (start > 0 && text[start - 1] != '\n')
			start--;
		id = text + start;
		if (text[end - 1] == '\n')
			text[end - 1] = '\0';
		end = start;
		if (strlen(id) != 40 || !checkout_is_oid(id))
			continue;
		for (size_t i = 0; i < n && !seen; i++)
			seen = strcmp(ids[i], id) == 0;
		if (seen || !tree_present(tdir, id))
			continue;
		ids = xrealloc(ids, (n + 2) * sizeof(*ids));
		ids[n++] = xstrdup(id);
		ids[n] = NULL;
	}
	return ids;
}

static void free_ids(char **ids)
{
	for (size_t i = 0; ids && ids[i]; i++)
		free(ids[i]);
	free(ids);
}

/* An optimisation only: a lost line costs a full build later, never a wrong tree. */
static void record_tree(int tdir, const char *mirror, const char *id)
{
	cleanup_free char *name = bases_name(mirror);
	struct err ignored = { 0 };
	cleanup_close int fd = -1;
	char line[42];
	size_t size;

	if (mkdirat(tdir, BASES_DIR, 0700) < 0 && errno != EEXIST)
		return;
	fd = openat(tdir, name, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return;
	(void) snprintf(line, sizeof(line), "%s\n", id);
	(void) fd_write_all(fd, line, 41); /* O_APPEND, one write: lines never interleave */
	char **ids = read_bases(tdir, name, BASES_KEEP, &size);
	if (size > BASES_COMPACT) {
		cleanup_free char *text = xmalloc(BASES_KEEP * 41 + 1);
		size_t n = 0, len = 0;
		while (ids && ids[n])
			n++;
		for (size_t i = n; i-- > 0;) {
			memcpy(text + len, ids[i], 40);
			text[len + 40] = '\n';
			len += 41;
		}
		(void) write_file_atomic_at(tdir, name, text, len, 0600, 0, &ignored);
	}
	free_ids(ids);
}

struct count {
	long n;
	bool attributes; /* a .gitattributes differs */
};

static int count_cb(const char *root, const git_tree_entry *e, void *payload)
{
	struct count *c = payload;

	(void) root;
	if (strcmp(git_tree_entry_name(e), ".gitattributes") == 0) {
		c->attributes = true;
		return -1;
	}
	c->n += git_tree_entry_filemode(e) != GIT_FILEMODE_TREE;
	return 0;
}

/* An entry on one side only: each path under it differs. */
static int count_one(git_repository *repo, const git_tree_entry *e, struct count *c)
{
	CLEANUP(git_tree_freep) git_tree *t = NULL;

	if (strcmp(git_tree_entry_name(e), ".gitattributes") == 0) {
		c->attributes = true;
		return -1;
	}
	if (git_tree_entry_filemode(e) != GIT_FILEMODE_TREE) {
		c->n++;
		return 0;
	}
	if (git_tree_lookup(&t, repo, git_tree_entry_id(e)) < 0)
		return -1;
	return git_tree_walk(t, GIT_TREEWALK_PRE, count_cb, c) < 0 ? -1 : 0;
}

/* Paths that differ between a and b, subtrees of the same id skipped unread: costs what
 * changed, whatever the size of the trees. */
static int count_diff(git_repository *repo, const git_tree *a, const git_tree *b, unsigned depth,
		      struct count *c)
{
	size_t na = git_tree_entrycount(a), nb = git_tree_entrycount(b);

	if (depth > CHECKOUT_MAX_DEPTH)
		return -1;
	for (size_t i = 0; i < nb; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(b, i);
		const git_tree_entry *ae = git_tree_entry_byname(a, git_tree_entry_name(e));
		git_filemode_t mode = git_tree_entry_filemode(e);
		int r = 0;

		if (ae && git_tree_entry_filemode(ae) == mode &&
		    git_oid_equal(git_tree_entry_id(ae), git_tree_entry_id(e)))
			continue;
		if (ae && mode == GIT_FILEMODE_TREE &&
		    git_tree_entry_filemode(ae) == GIT_FILEMODE_TREE) {
			CLEANUP(git_tree_freep) git_tree *sa = NULL, *sb = NULL;
			if (git_tree_lookup(&sa, repo, git_tree_entry_id(ae)) < 0 ||
			    git_tree_lookup(&sb, repo, git_tree_entry_id(e)) < 0)
				return -1;
			r = count_diff(repo, sa, sb, depth + 1, c);
		} else {
			r = ae ? count_one(repo, ae, c) : 0;
			if (r == 0)
				r = count_one(repo, e, c);
		}
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < na; i++) {
		const git_tree_entry *ae = git_tree_entry_byindex(a, i);
		if (!git_tree_entry_byname(b, git_tree_entry_name(ae)) &&
		    count_one(repo, ae, c) < 0)
			return -1;
	}
	return 0;
}

/* Count the paths that differ; -1 when base cannot serve (unreadable, or a
 * .gitattributes differs, so the same blob may check out differently). */
static long distance(git_repository *repo, const git_tree *base, const git_tree *tree)
{
	struct count c = { 0 };
	int r = count_diff(repo, base, tree, 0, &c);

	git_error_clear();
	return r < 0 || c.attributes ? -1 : c.n;
}

/* What to build on: the nearest tree this mirror made before, for the same owner (fewest
 * changed paths), as a delta's parent when it can be one (few changes, chain below its
 * cap), else the nearest complete tree to hard-link from. Locked and open. */
static void choose_base(git_repository *repo, int tdir, const char *mirror, const git_tree *tree,
			struct owner own, struct base *ret)
{
	cleanup_free char *name = bases_name(mirror);
	char best[41] = "", best_full[41] = "";
	long best_d = -1, best_full_d = -1;
	int best_depth = 0;
	size_t size;
	char **ids = read_bases(tdir, name, CHECKOUT_BASE_TRIES, &size);

	for (size_t i = 0; ids && ids[i]; i++) {
		CLEANUP(git_tree_freep) git_tree *t = NULL;
		int depth = checkout_layer_depth(tdir, ids[i]);
		git_oid oid;
		long d;

		if (depth < 0 || git_oid_fromstr(&oid, ids[i]) < 0 ||
		    git_tree_lookup(&t, repo, &oid) < 0) {
			git_error_clear();
			continue;
		}
		d = distance(repo, t, tree);
		if (d >= 0 && (best_d < 0 || d < best_d)) {
			best_d = d;
			best_depth = depth;
			(void) snprintf(best, sizeof(best), "%s", ids[i]);
		}
		if (d >= 0 && depth == 0 && (best_full_d < 0 || d < best_full_d)) {
			best_full_d = d;
			(void) snprintf(best_full, sizeof(best_full), "%s", ids[i]);
		}
	}
	free_ids(ids);
	/* The nearest itself, or a complete tree: a chain at its cap starts over rather than
	 * branch from further back. */
	ret->delta =
		best_d >= 0 && best_d <= CHECKOUT_DELTA_MAX && best_depth < CHECKOUT_MAX_LAYERS;
	if (!ret->delta && best_full_d < 0)
		return;
	(void) snprintf(ret->id, sizeof(ret->id), "%s", ret->delta ? best : best_full);
	cleanup_free char *lock = xasprintf("%s.lock", ret->id);
	struct stat st;
	git_oid oid;
	ret->lock_fd = checkout_lock_at(tdir, lock, LOCK_SH);
	if (ret->lock_fd >= 0)
		ret->fd = openat(tdir, ret->id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	/* A link to another owner's file would give this tree that owner; a layer on
	 * another owner's would show its files as theirs. */
	if (ret->fd < 0 || fstat(ret->fd, &st) < 0 || !owned_by(&st, own) ||
	    git_oid_fromstr(&oid, ret->id) < 0 || git_tree_lookup(&ret->tree, repo, &oid) < 0) {
		git_error_clear();
		base_release(ret); /* pruned meanwhile: build from scratch */
	}
}

/* Build tree id into a locked temporary directory and rename it into place. The caller
 * holds the tree's lock exclusively, so a rename that finds the name taken means a
 * builder without flock() (a file system that lacks it) won the race: ours is dropped. */
static int build(int tdir, const char *trees, const char *mirror, const char *id, uid_t uid,
		 gid_t gid, struct err *err)
{
	CLEANUP(checkout_repo_freep) git_repository *repo = NULL;
	CLEANUP(git_tree_freep) git_tree *tree = NULL;
	CLEANUP(base_release) struct base base = { .fd = -1, .lock_fd = -1 };
	cleanup_free char *tmp = xasprintf(".tmp-%s-%d-%d", id, (int) getpid(), (int) gettid());
	struct checkout_write_stats stats;
	struct err ignored = { 0 };
	cleanup_close int fd = -1;
	git_oid oid;
	int r;

	/* Loaded only to build: a cached tree needs no libgit2 (see fast.c). */
	r = checkout_repo_open(mirror, &repo, err);
	if (r < 0)
		return r;
	r = git_oid_fromstr(&oid, id);
	if (r == 0)
		r = git_tree_lookup(&tree, repo, &oid);
	if (r == GIT_ENOTFOUND) {
		git_error_clear();
		return err_set(err, ENOENT, "tree %s: not in mirror '%s'", id, mirror);
	}
	if (r < 0)
		return checkout_git_err(err, r, "tree %s", id);
	choose_base(repo, tdir, mirror, tree, owner_of(uid, gid), &base);
	(void) rm_rf_at(tdir, tmp, &ignored); /* our pid and tid: a dead run's */
	if (mkdirat(tdir, tmp, 0755) < 0)
		return err_set(err, errno, "mkdir '%s/%s'", trees, tmp);
	fd = openat(tdir, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		r = err_set(err, errno, "open '%s/%s'", trees, tmp);
	/* Held while we build: prune leaves a locked temporary tree alone. */
	if (r == 0 && flock(fd, LOCK_EX | LOCK_NB) < 0 && errno != ENOLCK && errno != EINVAL)
		r = err_set(err, errno, "lock '%s/%s'", trees, tmp);
	if (r == 0 && (uid != (uid_t) -1 || gid != (gid_t) -1) && fchown(fd, uid, gid) < 0)
		r = err_set(err, errno, "chown '%s/%s' to %d:%d", trees, tmp, (int) uid, (int) gid);
	if (r == 0 && fchmod(fd, 0755) < 0)
		r = err_set(err, errno, "chmod '%s/%s'", trees, tmp);
	if (r == 0 && base.tree && base.delta)
		r = checkout_write_delta(repo, tree, base.tree, fd, uid, gid, &stats, err);
	else if (r == 0)
		r = checkout_write_tree(repo, tree, base.tree, base.fd, fd, uid, gid, &stats, err);
	/* Files reach the disk before the rename does: after a power cut, whole or none. */
	if (r == 0 && syncfs(fd) < 0)
		r = err_set(err, errno, "sync '%s/%s'", trees, tmp);
	/* The parent record before the layer's name (a stale one goes): a tree that exists
	 * is never taken for complete when it is a delta, nor the other way round. */
	if (r == 0)
		r = checkout_layer_set_parent(tdir, id, base.tree && base.delta ? base.id : NULL,
					      err);
	if (r == 0 && renameat(tdir, tmp, tdir, id) < 0 && errno != EEXIST && errno != ENOTEMPTY)
		r = err_set(err, errno, "rename '%s/%s' to '%s'", trees, tmp, id);
	if (r < 0 || tree_present(tdir, tmp))
		(void) rm_rf_at(tdir, tmp, &ignored);
	if (r < 0)
		return r;
	(void) fsync(tdir);
	record_tree(tdir, mirror, id);
	return 0;
}

/* A cached tree made for another owner cannot serve: its files would show up owned by
 * nobody (or by someone else) inside the sandbox. */
static int check_owner(int tdir, const char *trees, const char *id, uid_t uid, gid_t gid,
		       struct err *err)
{
	struct owner own = owner_of(uid, gid);
	struct stat st;

	if (fstatat(tdir, id, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return err_set(err, errno, "stat '%s/%s'", trees, id);
	if (!owned_by(&st, own))
		return err_set(err, EPERM,
			       "tree '%s/%s' is owned by %u:%u, not %u:%u as asked; remove it "
			       "('mayfly cache prune --max-size 0' when nothing uses it)",
			       trees, id, (unsigned) st.st_uid, (unsigned) st.st_gid,
			       (unsigned) own.uid, (unsigned) own.gid);
	return 0;
}

int checkout_materialize(const char *cache_dir, const char *mirror, const char *tree_id,
			 struct checkout_tree *ret, struct err *err)
{
	return checkout_materialize_owned(cache_dir, mirror, tree_id, (uid_t) -1, (gid_t) -1, ret,
					  err);
}

static int materialize_at(int tdir, const char *cache_dir, const char *trees, const char *mirror,
			  const char *tree_id, uid_t uid, gid_t gid, struct checkout_tree *ret,
			  struct err *err)
{
	cleanup_free char *lock = xasprintf("%.40s.lock", tree_id);
	cleanup_close int lfd = -1;
	int r;

	lfd = checkout_lock_at(tdir, lock, LOCK_SH);
	if (lfd < 0)
		return err_set(err, -lfd, "lock '%s/%s'", trees, lock);
	if (!tree_present(tdir, tree_id)) {
		/* Build under an exclusive lock, so that concurrent callers build once. Taken
		 * afresh rather than converted: a failed builder unlinks the lock file. */
		(void) safe_close(TAKE_FD(lfd));
		lfd = checkout_lock_at(tdir, lock, LOCK_EX);
		if (lfd < 0)
			return err_set(err, -lfd, "lock '%s/%s'", trees, lock);
		if (!tree_present(tdir, tree_id)) {
			r = build(tdir, trees, mirror, tree_id, uid, gid, err);
			if (r < 0) {
				(void) unlinkat(tdir, lock, 0); /* held: nobody uses it */
				if (r == -ENOSPC || r == -EDQUOT)
					(void) err_wrap(err,
							"cache '%s' is full; prune it or "
							"free space",
							cache_dir);
				return err_wrap(err, "materialise tree %s", tree_id);
			}
		}
		/* Downgrade in place: Linux swaps an exclusive flock for a shared one
		 * without letting another locker in between, so prune cannot slip in. */
		if (flock(lfd, LOCK_SH) < 0)
			return err_set(err, errno, "lock '%s/%s'", trees, lock);
	}
	r = check_owner(tdir, trees, tree_id, uid, gid, err);
	if (r < 0)
		return r;
	(void) futimens(lfd, NULL); /* the last use, for prune's LRU order */
	/* Without libgit2: a cached tree, delta or not, costs a few small reads. */
	return checkout_layers_take(tdir, trees, tree_id, TAKE_FD(lfd), ret, err);
}

/* A tree whose parent record is damaged or whose parent is gone (never our own doing: a
 * hand or a broken disk) is removed, unless someone holds it, to be built afresh. The
 * layer goes before its record, as in prune. */
static int drop_damaged(int tdir, const char *trees, const char *id, struct err *err)
{
	cleanup_free char *lock = xasprintf("%s.lock", id), *rec = xasprintf("%s.parent", id);
	cleanup_free char *dead = xasprintf(".dead-%s-%d", id, (int) getpid());
	cleanup_free char *index = xasprintf("%s.index", id), *ws = xasprintf("%s.ws", id);
	cleanup_close int lfd = checkout_lock_at(tdir, lock, LOCK_EX | LOCK_NB);

	if (lfd < 0)
		return -EBUSY;
	if (renameat(tdir, id, tdir, dead) < 0 && errno != ENOENT)
		return err_set(err, errno, "rename '%s/%s'", trees, id);
	(void) unlinkat(tdir, rec, 0);
	(void) unlinkat(tdir, index, 0);
	(void) rm_rf_at(tdir, ws, &(struct err){ 0 });
	(void) rm_rf_at(tdir, dead, &(struct err){ 0 });
	(void) unlinkat(tdir, lock, 0);
	return 0;
}

int checkout_materialize_owned(const char *cache_dir, const char *mirror, const char *tree_id,
			       uid_t uid, gid_t gid, struct checkout_tree *ret, struct err *err)
{
	cleanup_free char *trees = path_join(cache_dir, "trees");
	cleanup_close int tdir = -1;
	int r;

	if (!checkout_is_oid(tree_id))
		return err_set(err, EINVAL, "tree id '%.60s': not 40 hex digits", tree_id);
	r = mkdir_p(trees, 0700, err);
	if (r < 0)
		return err_wrap(err, "tree cache");
	tdir = open(trees, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tdir < 0)
		return err_set(err, errno, "open '%s'", trees);
	r = materialize_at(tdir, cache_dir, trees, mirror, tree_id, uid, gid, ret, err);
	if (r == -ESTALE && drop_damaged(tdir, trees, tree_id, &(struct err){ 0 }) == 0) {
		/* Its layers could not be stacked: built again (from another base or none). */
		err_clear(err);
		r = materialize_at(tdir, cache_dir, trees, mirror, tree_id, uid, gid, ret, err);
	}
	if (r == -ESTALE) { /* in use as it is: the message says what to remove */
		char msg[sizeof(err->msg)];
		(void) snprintf(msg, sizeof(msg), "%s", err->msg);
		return err_set(err, EUCLEAN, "%s", msg);
	}
	return r;
}

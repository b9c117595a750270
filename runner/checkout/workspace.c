/* workspace.c - a job's ".git": objects borrowed from the mirror through alternates, the
 * mirror's tags and branches in one packed-refs file, and an index whose stat data comes
 * from the materialised tree, so that `git status` compares sizes and mtimes instead of
 * hashing files. core.checkStat=minimal and core.trustctime=false keep that index valid
 * under an overlay, where inode, device, owner and ctime differ from what was recorded. */
#include "checkout/checkout.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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

#define MAX_REFS 1000000

DEFINE_CLEANUP(git_commit *, git_commit_free)
DEFINE_CLEANUP(git_tree *, git_tree_free)
DEFINE_CLEANUP(git_index *, git_index_free)
DEFINE_CLEANUP(git_reference *, git_reference_free)
DEFINE_CLEANUP(git_reference_iterator *, git_reference_iterator_free)
DEFINE_CLEANUP(git_object *, git_object_free)
DEFINE_CLEANUP(git_odb *, git_odb_free)
DEFINE_CLEANUP(char **, strv_free)

static int layer_parent_of(const char *tree_dir, char parent[41]);

static int put(int dfd, const char *name, const char *text, struct err *err)
{
	cleanup_close int fd =
		openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	int r;

	if (fd < 0)
		return err_set(err, errno, "create '%s'", name);
	r = fd_write_all(fd, text, strlen(text));
	if (r < 0)
		return err_set(err, -r, "write '%s'", name);
	if (close(TAKE_FD(fd)) < 0)
		return err_set(err, errno, "close '%s'", name);
	return 0;
}

static int make_dirs(int dfd, struct err *err)
{
	static const char *const dirs[] = { "objects",	    "objects/info",	   "objects/pack",
					    "refs",	    "refs/heads",	   "refs/tags",
					    "refs/remotes", "refs/remotes/origin", "info",
					    "logs" };

	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
		if (mkdirat(dfd, dirs[i], 0755) < 0)
			return err_set(err, errno, "mkdir '%s'", dirs[i]);
	return 0;
}

/* A config value or subsection name in double quotes. The inputs were judged before
 * (URLs have no control characters, branch names are valid ref names). */
static char *quoted(const char *s)
{
	cleanup_free char *out = xmalloc(2 * strlen(s) + 3);
	size_t j = 0;

	out[j++] = '"';
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			out[j++] = '\\';
		out[j++] = *s;
	}
	out[j++] = '"';
	out[j] = '\0';
	return TAKE_PTR(out);
}

/* SECURITY: the job reads this config. The mirror's URL never has userinfo (checkout_mirror
 * strips it); a URL that somehow has one is left out rather than trusted. */
static char *config_text(git_repository *mirror, const char *branch)
{
	cleanup_free char *url = NULL, *remote_sec = NULL, *branch_sec = NULL;
	git_buf buf = GIT_BUF_INIT;
	git_config *cfg = NULL;
	const char *u = NULL;

	/* From the config, not git_remote_lookup(): see set_origin() in mirror.c. */
	if (git_repository_config_snapshot(&cfg, mirror) == 0 &&
	    git_config_get_string_buf(&buf, cfg, "remote.origin.url") == 0)
		u = buf.ptr;
	if (u && !checkout_url_has_secret(u))
		url = quoted(u);
	git_buf_dispose(&buf);
	git_config_free(cfg);
	git_error_clear();
	if (url)
		remote_sec = xasprintf("[remote \"origin\"]\n\turl = %s\n"
				       "\tfetch = +refs/heads/*:refs/remotes/origin/*\n",
				       url);
	if (branch) {
		cleanup_free char *ref = xasprintf("refs/heads/%s", branch);
		cleanup_free char *q = quoted(branch), *qref = quoted(ref);
		branch_sec = xasprintf("[branch %s]\n\tremote = origin\n\tmerge = %s\n", q, qref);
	}
	return xasprintf("[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n"
			 "\tbare = false\n\tlogallrefupdates = true\n"
			 "\tcheckStat = minimal\n\ttrustctime = false\n%s%s",
			 remote_sec ? remote_sec : "", branch_sec ? branch_sec : "");
}

static int cmp_line(const void *a, const void *b)
{
	/* Lines are "<40 hex> <name>\n[^<40 hex>\n]": order by name. */
	return strcmp(*(char *const *) a + 41, *(char *const *) b + 41);
}

/* "<id> <name>\n", plus "^<peeled>\n" when id is an annotated tag. */
static char *ref_line(git_repository *repo, git_odb *odb, const git_oid *id, const char *name)
{
	CLEANUP(git_object_freep) git_object *peeled = NULL, *obj = NULL;
	char hex[GIT_OID_HEXSZ + 1], phex[GIT_OID_HEXSZ + 1];
	git_object_t type;
	size_t size;

	git_oid_tostr(hex, sizeof(hex), id);
	if (git_odb_read_header(&size, &type, odb, id) == 0 && type == GIT_OBJECT_TAG &&
	    git_object_lookup(&obj, repo, id, GIT_OBJECT_TAG) == 0 &&
	    git_object_peel(&peeled, obj, GIT_OBJECT_ANY) == 0) {
		git_oid_tostr(phex, sizeof(phex), git_object_id(peeled));
		return xasprintf("%s %s\n^%s\n", hex, name, phex);
	}
	git_error_clear();
	return xasprintf("%s %s\n", hex, name);
}

/* Tags as they are, branches as refs/remotes/origin/<name>, and the workspace's own branch. */
static int packed_refs(git_repository *repo, const char *branch, const git_oid *commit, char **ret,
		       struct err *err)
{
	CLEANUP(git_reference_iterator_freep) git_reference_iterator *it = NULL;
	CLEANUP(git_odb_freep) git_odb *odb = NULL;
	CLEANUP(strv_freep) char **lines = NULL;
	cleanup_free char *body = NULL;
	git_reference *ref;
	size_t n = 0;
	int r;

	r = git_repository_odb(&odb, repo);
	if (r == 0)
		r = git_reference_iterator_glob_new(&it, repo, "refs/*");
	if (r < 0)
		return checkout_git_err(err, r, "mirror refs");
	while (n < MAX_REFS && (r = git_reference_next(&ref, it)) == 0) {
		CLEANUP(git_reference_freep) git_reference *owned = ref;
		const char *name = git_reference_name(owned);
		cleanup_free char *local = NULL;

		if (git_reference_type(owned) != GIT_REFERENCE_DIRECT)
			continue;
		if (str_startswith(name, "refs/heads/"))
			local = xasprintf("refs/remotes/origin/%s", name + strlen("refs/heads/"));
		else if (str_startswith(name, "refs/tags/"))
			local = xstrdup(name);
		else
			continue;
		cleanup_free char *line = ref_line(repo, odb, git_reference_target(owned), local);
		strv_push(&lines, line);
		n++;
	}
	if (r < 0 && r != GIT_ITEROVER)
		return checkout_git_err(err, r, "mirror refs");
	git_error_clear();
	if (branch) {
		cleanup_free char *name = xasprintf("refs/heads/%s", branch);
		cleanup_free char *line = ref_line(repo, odb, commit, name);
		strv_push(&lines, line);
		n++;
	}
	if (n)
		qsort(lines, n, sizeof(*lines), cmp_line);
	body = strv_join(lines ? lines : (char *[]){ NULL }, "");
	*ret = xasprintf("# pack-refs with: peeled fully-peeled sorted \n%s", body);
	return 0;
}

struct index_walk {
	git_index *idx;
	int tree_fd;
	struct err *err;
	int r;
};

void checkout_stat_to_entry(const struct stat *st, git_index_entry *e)
{
	e->ctime.seconds = (int32_t) st->st_ctim.tv_sec;
	e->ctime.nanoseconds = (uint32_t) st->st_ctim.tv_nsec;
	e->mtime.seconds = (int32_t) st->st_mtim.tv_sec;
	e->mtime.nanoseconds = (uint32_t) st->st_mtim.tv_nsec;
	e->dev = (uint32_t) st->st_dev;
	e->ino = (uint32_t) st->st_ino;
	e->uid = (uint32_t) st->st_uid;
	e->gid = (uint32_t) st->st_gid;
	e->file_size = (uint32_t) st->st_size;
}

static int index_cb(const char *root, const git_tree_entry *te, void *payload)
{
	struct index_walk *w = payload;
	git_filemode_t mode = git_tree_entry_filemode(te);
	cleanup_free char *path = xasprintf("%s%s", root, git_tree_entry_name(te));
	git_index_entry e = { .mode = mode, .path = path };
	struct stat st;
	int r;

	if (mode == GIT_FILEMODE_TREE)
		return 0;
	git_oid_cpy(&e.id, git_tree_entry_id(te));
	if (mode != GIT_FILEMODE_COMMIT) {
		if (fstatat(w->tree_fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			w->r = err_set(w->err, errno, "tree dir: stat '%s'", path);
			return -1;
		}
		checkout_stat_to_entry(&st, &e);
	}
	r = git_index_add(w->idx, &e);
	if (r < 0) {
		w->r = checkout_git_err(w->err, r, "index '%s'", path);
		return -1;
	}
	return 0;
}

static int build_index(const git_tree *tree, const char *tree_dir, const char *path,
		       struct err *err);

/* "<trees>/<tree id>.index" when tree_dir is the cached tree of this tree: its index
 * depends on nothing else (the files' stat data never changes), so it is built once and
 * copied after that, and a cached commit costs the same whatever the repository's size. */
static char *index_cache_path(const git_tree *tree, const char *tree_dir)
{
	char hex[GIT_OID_HEXSZ + 1];
	const char *slash = strrchr(tree_dir, '/');

	git_oid_tostr(hex, sizeof(hex), git_tree_id(tree));
	if (!slash || strcmp(slash + 1, hex) != 0)
		return NULL;
	return xasprintf("%s.index", tree_dir);
}

/* Linked when it can be (the workspace's .git is a lower layer: a job that writes its
 * index gets a copy of its own in its upper layer), copied otherwise. */
static int copy_cached_index(const char *cached, const char *path)
{
	if (link(cached, path) == 0)
		return 0;
	if (errno == ENOENT)
		return -ENOENT;
	cleanup_free char *data = NULL;
	struct err ignored = { 0 };
	size_t len = 0;

	if (read_file_at(AT_FDCWD, cached, CHECKOUT_MAX_INDEX, &data, &len, &ignored) < 0)
		return -ENOENT;
	cleanup_close int fd =
		open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || fd_write_all(fd, data, len) < 0)
		return -EIO;
	return 0;
}

static int build_delta_index(git_repository *repo, const git_tree *tree, const char *tree_dir,
			     const char *parent, const char *path, struct err *err);

/* The tree's entries with the stat data of tree_dir's files, then git_index_read_tree(),
 * which keeps the stat data of unchanged entries and adds the cache-tree extension. A
 * delta layer's index starts from its parent's instead (built first if need be), so it
 * costs what the delta holds. */
static int write_index(git_repository *repo, const git_tree *tree, const char *tree_dir,
		       const char *path, struct err *err)
{
	cleanup_free char *cached = index_cache_path(tree, tree_dir);
	char parent[41];
	int r;

	if (cached) {
		r = copy_cached_index(cached, path);
		if (r == 0)
			return 0;
		if (r != -ENOENT)
			(void) unlink(path);
	}
	r = cached ? layer_parent_of(tree_dir, parent) : 0;
	if (r < 0)
		return err_set(err, EUCLEAN, "tree '%s': damaged '.parent' record", tree_dir);
	if (r > 0)
		r = build_delta_index(repo, tree, tree_dir, parent, path, err);
	else
		r = build_index(tree, tree_dir, path, err);
	if (r == 0 && cached) {
		/* Best effort: without it the next workspace builds its index again. */
		cleanup_free char *data = NULL;
		size_t len = 0;
		if (read_file_at(AT_FDCWD, path, CHECKOUT_MAX_INDEX, &data, &len,
				 &(struct err){ 0 }) == 0)
			(void) write_file_atomic_at(AT_FDCWD, cached, data, len, 0644, 0,
						    &(struct err){ 0 });
	}
	return r;
}

/* "<trees>/<id>.parent" of the cached tree at tree_dir: 1 a delta, 0 complete. */
static int layer_parent_of(const char *tree_dir, char parent[41])
{
	cleanup_free char *trees = xstrdup(tree_dir);
	char *slash = strrchr(trees, '/');
	cleanup_close int tdir = -1;

	*slash = '\0';
	tdir = open(trees, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tdir < 0)
		return -errno;
	return checkout_layer_parent(tdir, slash + 1, parent);
}

struct delta_walk {
	git_repository *repo;
	git_index *idx;
	int layer_fd; /* the delta layer: every path that changed is there */
	struct err *err;
	size_t plen;
	char path[CHECKOUT_MAX_PATH + 1];
};

static int delta_push(struct delta_walk *w, const char *name)
{
	size_t len = strlen(name), need = w->plen + (w->plen ? 1 : 0) + len;

	if (need > CHECKOUT_MAX_PATH)
		return err_set(w->err, ENAMETOOLONG, "index: path '%.100s...' too long", w->path);
	if (w->plen)
		w->path[w->plen++] = '/';
	memcpy(w->path + w->plen, name, len + 1);
	w->plen += len;
	return 0;
}

static void delta_pop(struct delta_walk *w, size_t old)
{
	w->plen = old;
	w->path[old] = '\0';
}

/* The entry for the tree entry te at w->path, with the stat data of the delta layer's
 * file (a submodule has none). */
static int delta_add(struct delta_walk *w, const git_tree_entry *te)
{
	git_index_entry e = { .mode = git_tree_entry_filemode(te), .path = w->path };
	struct stat st;
	int r;

	git_oid_cpy(&e.id, git_tree_entry_id(te));
	if (e.mode != GIT_FILEMODE_COMMIT) {
		if (fstatat(w->layer_fd, w->path, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return err_set(w->err, errno, "tree dir: stat '%s'", w->path);
		checkout_stat_to_entry(&st, &e);
	}
	r = git_index_add(w->idx, &e);
	return r < 0 ? checkout_git_err(w->err, r, "index '%s'", w->path) : 0;
}

/* Every entry under the tree entry te (at w->path), as delta_add(). */
static int delta_add_all(struct delta_walk *w, const git_tree_entry *te, unsigned depth)
{
	CLEANUP(git_tree_freep) git_tree *t = NULL;
	size_t old = w->plen;
	int r;

	if (git_tree_entry_filemode(te) != GIT_FILEMODE_TREE)
		return delta_add(w, te);
	if (depth > CHECKOUT_MAX_DEPTH)
		return err_set(w->err, ELOOP, "index: '%s' nested too deep", w->path);
	r = git_tree_lookup(&t, w->repo, git_tree_entry_id(te));
	if (r < 0)
		return checkout_git_err(w->err, r, "tree '%s'", w->path);
	for (size_t i = 0; i < git_tree_entrycount(t); i++) {
		const git_tree_entry *e = git_tree_entry_byindex(t, i);
		r = delta_push(w, git_tree_entry_name(e));
		if (r == 0)
			r = delta_add_all(w, e, depth + 1);
		delta_pop(w, old);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Whatever the parent's index has at w->path: one entry, or all under a directory. */
static int delta_remove(struct delta_walk *w, const git_tree_entry *be)
{
	int r = git_tree_entry_filemode(be) == GIT_FILEMODE_TREE
			? git_index_remove_directory(w->idx, w->path, 0)
			: git_index_remove(w->idx, w->path, 0);

	if (r < 0 && r != GIT_ENOTFOUND)
		return checkout_git_err(w->err, r, "index '%s'", w->path);
	git_error_clear();
	return 0;
}

/* Turn the parent's index into the tree's: what the two trees share is skipped unread
 * (the same subtree id: the same entries, stat data and cache-tree node), the rest is
 * removed or added with the delta layer's stat data. Adding and removing invalidate the
 * cache-tree nodes above what they touch; git recomputes those only. */
static int delta_apply(struct delta_walk *w, const git_tree *parent, const git_tree *tree,
		       unsigned depth)
{
	size_t n = git_tree_entrycount(tree), nb = git_tree_entrycount(parent), old = w->plen;
	int r = 0;

	if (depth > CHECKOUT_MAX_DEPTH)
		return err_set(w->err, ELOOP, "index: '%s' nested too deep", w->path);
	for (size_t i = 0; r == 0 && i < n; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		const git_tree_entry *be = git_tree_entry_byname(parent, git_tree_entry_name(e));
		git_filemode_t mode = git_tree_entry_filemode(e);

		if (be && git_tree_entry_filemode(be) == mode &&
		    git_oid_equal(git_tree_entry_id(be), git_tree_entry_id(e)))
			continue;
		r = delta_push(w, git_tree_entry_name(e));
		if (r == 0 && be && mode == GIT_FILEMODE_TREE &&
		    git_tree_entry_filemode(be) == GIT_FILEMODE_TREE) {
			CLEANUP(git_tree_freep) git_tree *sub = NULL, *bsub = NULL;
			r = git_tree_lookup(&sub, w->repo, git_tree_entry_id(e));
			if (r == 0)
				r = git_tree_lookup(&bsub, w->repo, git_tree_entry_id(be));
			r = r < 0 ? checkout_git_err(w->err, r, "tree '%s'", w->path)
				  : delta_apply(w, bsub, sub, depth + 1);
		} else if (r == 0) {
			r = be ? delta_remove(w, be) : 0;
			if (r == 0)
				r = delta_add_all(w, e, depth + 1);
		}
		delta_pop(w, old);
	}
	for (size_t i = 0; r == 0 && i < nb; i++) {
		const git_tree_entry *be = git_tree_entry_byindex(parent, i);
		if (git_tree_entry_byname(tree, git_tree_entry_name(be)))
			continue;
		r = delta_push(w, git_tree_entry_name(be));
		if (r == 0)
			r = delta_remove(w, be);
		delta_pop(w, old);
	}
	return r;
}

static int build_delta_index(git_repository *repo, const git_tree *tree, const char *tree_dir,
			     const char *parent, const char *path, struct err *err)
{
	CLEANUP(git_index_freep) git_index *idx = NULL;
	CLEANUP(git_tree_freep) git_tree *ptree = NULL;
	cleanup_free char *pdir = xstrdup(tree_dir);
	cleanup_free char *pcached = NULL;
	cleanup_close int lfd = -1;
	struct delta_walk w = { .repo = repo, .err = err };
	git_oid oid;
	int r;

	memcpy(strrchr(pdir, '/') + 1, parent, 41);
	pcached = xasprintf("%s.index", pdir);
	r = git_oid_fromstr(&oid, parent);
	if (r == 0)
		r = git_tree_lookup(&ptree, repo, &oid);
	if (r < 0)
		return checkout_git_err(err, r, "tree %s", parent);
	if (faccessat(AT_FDCWD, pcached, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
		/* The parent's, through its own parent if need be: the chain is short. */
		cleanup_free char *ppath = xasprintf("%s.tmp-%d", path, (int) getpid());
		r = write_index(repo, ptree, pdir, ppath, err);
		(void) unlink(ppath);
		if (r < 0)
			return r;
	}
	/* Linked: git_index_write() renames a new file over it, so the parent's cached
	 * index is never written. */
	r = copy_cached_index(pcached, path);
	if (r < 0)
		return err_set(err, -r, "index of tree '%s'", pdir);
	r = git_index_open(&idx, path);
	if (r < 0)
		return checkout_git_err(err, r, "index");
	lfd = open(tree_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lfd < 0)
		return err_set(err, errno, "open tree dir '%s'", tree_dir);
	w.idx = idx;
	w.layer_fd = lfd;
	r = delta_apply(&w, ptree, tree, 0);
	if (r < 0)
		return r;
	r = git_index_write(idx);
	return r < 0 ? checkout_git_err(err, r, "index") : 0;
}

static int build_index(const git_tree *tree, const char *tree_dir, const char *path,
		       struct err *err)
{
	CLEANUP(git_index_freep) git_index *idx = NULL;
	cleanup_close int tfd = open(tree_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct index_walk w = { .tree_fd = tfd, .err = err };
	int r;

	if (tfd < 0)
		return err_set(err, errno, "open tree dir '%s'", tree_dir);
	r = git_index_open(&idx, path);
	if (r < 0)
		return checkout_git_err(err, r, "index");
	w.idx = idx;
	r = git_tree_walk(tree, GIT_TREEWALK_PRE, index_cb, &w);
	if (w.r < 0)
		return w.r;
	if (r == 0)
		r = git_index_read_tree(idx, tree);
	if (r == 0)
		r = git_index_write(idx);
	return r < 0 ? checkout_git_err(err, r, "index") : 0;
}

static int check_args(const struct checkout_workspace *ws, struct err *err)
{
	cleanup_free char *ref = ws->branch ? xasprintf("refs/heads/%s", ws->branch) : NULL;
	int valid = 0;

	if (!checkout_is_oid(ws->commit))
		return err_set(err, EINVAL, "commit '%.60s': not 40 hex digits", ws->commit);
	if (ws->mirror_inside[0] != '/' || !path_is_clean(ws->mirror_inside) ||
	    strpbrk(ws->mirror_inside, "\n\r"))
		return err_set(err, EINVAL, "mirror path '%.200s': not a clean absolute path",
			       ws->mirror_inside);
	if (ref &&
	    (git_reference_name_is_valid(&valid, ref) < 0 || !valid || strpbrk(ws->branch, "\n\r")))
		return err_set(err, EINVAL, "branch '%.200s': not a valid branch name", ws->branch);
	return 0;
}

static int fill(git_repository *repo, const struct checkout_workspace *ws, int gfd,
		const char *gpath, struct err *err)
{
	CLEANUP(git_commit_freep) git_commit *commit = NULL;
	CLEANUP(git_tree_freep) git_tree *tree = NULL;
	cleanup_free char *head = NULL, *alt = NULL, *cfg = NULL, *refs = NULL, *index = NULL;
	cleanup_free char *log = NULL;
	CLEANUP(git_reference_freep) git_reference *mhead = NULL;
	git_oid oid;
	int r;

	r = git_oid_fromstr(&oid, ws->commit);
	if (r == 0)
		r = git_commit_lookup(&commit, repo, &oid);
	if (r == GIT_ENOTFOUND) {
		git_error_clear();
		return err_set(err, ENOENT, "commit %s: not in mirror '%s'", ws->commit,
			       ws->mirror);
	}
	if (r == 0)
		r = git_commit_tree(&tree, commit);
	if (r < 0)
		return checkout_git_err(err, r, "commit %s", ws->commit);
	r = make_dirs(gfd, err);
	if (r < 0)
		return r;
	head = ws->branch ? xasprintf("ref: refs/heads/%s\n", ws->branch)
			  : xasprintf("%s\n", ws->commit);
	/* git status says "HEAD detached at <id>" only when a reflog says how HEAD got there. */
	log = xasprintf("%s %s mayfly <mayfly@localhost> %lld +0000\tcheckout: moving from %s "
			"to %s\n",
			"0000000000000000000000000000000000000000", ws->commit,
			(long long) time(NULL), ws->branch ? ws->branch : ws->commit,
			ws->branch ? ws->branch : ws->commit);
	alt = xasprintf("%s/objects\n", ws->mirror_inside);
	cfg = config_text(repo, ws->branch);
	r = packed_refs(repo, ws->branch, &oid, &refs, err);
	if (r < 0)
		return r;
	const char *const files[][2] = { { "HEAD", head },
					 { "objects/info/alternates", alt },
					 { "config", cfg },
					 { "packed-refs", refs },
					 { "logs/HEAD", log } };
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		r = put(gfd, files[i][0], files[i][1], err);
		if (r < 0)
			return r;
	}
	if (git_reference_lookup(&mhead, repo, "HEAD") == 0 &&
	    git_reference_type(mhead) == GIT_REFERENCE_SYMBOLIC &&
	    str_startswith(git_reference_symbolic_target(mhead), "refs/heads/")) {
		cleanup_free char *t = xasprintf("ref: refs/remotes/origin/%s\n",
						 git_reference_symbolic_target(mhead) + 11);
		r = put(gfd, "refs/remotes/origin/HEAD", t, err);
	}
	git_error_clear();
	if (r < 0)
		return r;
	index = path_join(gpath, "index");
	return write_index(repo, tree, ws->tree_dir, index, err);
}

int checkout_workspace_git(const struct checkout_workspace *ws, const char *dir, struct err *err)
{
	CLEANUP(checkout_repo_freep) git_repository *repo = NULL;
	cleanup_close int dfd = -1, gfd = -1;
	cleanup_free char *tmp = xasprintf(".git.tmp-%d", (int) getpid());
	cleanup_free char *tmp_path = path_join(dir, tmp);
	struct err ignored = { 0 };
	int r;

	cleanup_free char *template = NULL;

	/* libgit2 judges a branch name; without one, nothing needs it yet. */
	r = ws->branch ? checkout_git_init(err) : 0;
	if (r == 0)
		r = check_args(ws, err);
	if (r < 0)
		return r;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return err_set(err, errno, "workspace '%s'", dir);
	if (faccessat(dfd, ".git", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return err_set(err, EEXIST, "workspace '%s': '.git'", dir);
	/* The same .git made before for this mirror, commit and fetch: linked, no libgit2. */
	template = checkout_ws_template(ws);
	if (template && checkout_ws_link(template, dir, ".git") == 0)
		return 0;
	r = checkout_git_init(err);
	if (r < 0)
		return r;
	r = checkout_repo_open(ws->mirror, &repo, err);
	if (r < 0)
		return r;
	(void) rm_rf_at(dfd, tmp, &ignored);
	if (mkdirat(dfd, tmp, 0755) < 0)
		return err_set(err, errno, "workspace '%s': mkdir '%s'", dir, tmp);
	gfd = openat(dfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (gfd < 0)
		r = err_set(err, errno, "open '%s'", tmp_path);
	if (r == 0)
		r = fill(repo, ws, gfd, tmp_path, err);
	/* Complete or absent: a job never finds half a .git. */
	if (r == 0 && renameat(dfd, tmp, dfd, ".git") < 0)
		r = err_set(err, errno, "rename '%s' to '.git'", tmp_path);
	if (r < 0) {
		(void) rm_rf_at(dfd, tmp, &ignored);
		return err_wrap(err, "workspace '%s'", dir);
	}
	if (template) {
		/* Best effort, like the index: "<tree>.ws/<key>", built aside and renamed. */
		cleanup_free char *parent = xstrdup(template), *git = path_join(dir, ".git");
		char *slash = strrchr(parent, '/');
		*slash = '\0';
		if (mkdir(parent, 0755) == 0 || errno == EEXIST)
			(void) checkout_ws_link(git, parent, slash + 1);
	}
	return 0;
}

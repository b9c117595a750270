/* submodule-tree.c - a commit's submodules checked out as `git clone --recurse-submodules`
 * leaves them: the gitlinks of the tree matched with the tree's own .gitmodules, each
 * submodule's mirror fetched only when it lacks the gitlink's commit, its tree taken from
 * the shared cache, and git's layout for its repository: "<super .git>/modules/<name>"
 * (core.worktree pointing back) and a ".git" file "gitdir: ..." in the submodule's
 * directory, both relative, so that they hold wherever the checkout is mounted. */
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
#include "checkout/submodule.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

DEFINE_CLEANUP(git_tree *, git_tree_free)
DEFINE_CLEANUP(git_tree_entry *, git_tree_entry_free)
DEFINE_CLEANUP(git_blob *, git_blob_free)

#define MAX_CONFIG (1U << 20)

void checkout_submodules_release(struct checkout_submodules *s)
{
	for (size_t i = 0; s->v && i < s->n; i++) {
		free(s->v[i].path);
		free(s->v[i].layer);
		checkout_tree_release(&s->v[i].tree);
	}
	free(s->v);
	for (size_t i = 0; s->mirrors && s->mirrors[i]; i++)
		(void) checkout_mirror_release(s->mirrors[i], s->mirror_fds[i]);
	free(s->mirror_fds);
	strv_free(s->mirrors);
	*s = (struct checkout_submodules){ 0 };
}

/* One level's plan: the .gitmodules entries, each with the commit of its gitlink ("" when
 * the tree has no such path, or it says update=none). */
struct plan {
	struct checkout_gitmodule *mods;
	size_t n;
	char (*commits)[41];
};

static void plan_release(struct plan *p)
{
	checkout_gitmodules_free(p->mods, p->n);
	free(p->commits);
	*p = (struct plan){ 0 };
}

struct gitlinks {
	char **paths;
	char (*ids)[41];
	size_t n;
	int r;
	struct err *err;
};

static int gitlink_cb(const char *root, const git_tree_entry *te, void *payload)
{
	struct gitlinks *g = payload;

	if (git_tree_entry_filemode(te) != GIT_FILEMODE_COMMIT)
		return 0;
	if (g->n >= CHECKOUT_MAX_SUBMODULES) {
		g->r = err_set(g->err, EINVAL, "more than %d gitlinks in one tree",
			       CHECKOUT_MAX_SUBMODULES);
		return -1;
	}
	cleanup_free char *path = xasprintf("%s%s", root, git_tree_entry_name(te));
	strv_push(&g->paths, path);
	g->ids = xrealloc(g->ids, (g->n + 1) * sizeof(*g->ids));
	git_oid_tostr(g->ids[g->n++], 41, git_tree_entry_id(te));
	return 0;
}

static int read_gitmodules(git_repository *repo, git_tree *tree, struct plan *p, struct err *err)
{
	CLEANUP(git_blob_freep) git_blob *blob = NULL;
	const git_tree_entry *te = git_tree_entry_byname(tree, ".gitmodules");
	git_filemode_t mode = te ? git_tree_entry_filemode(te) : 0;
	int r;

	if (!te)
		return 0;
	/* SECURITY: materialising refuses a symlink too; read only what a blob holds. */
	if (mode != GIT_FILEMODE_BLOB && mode != GIT_FILEMODE_BLOB_EXECUTABLE)
		return err_set(err, EINVAL, ".gitmodules: not a regular file in the tree");
	r = git_blob_lookup(&blob, repo, git_tree_entry_id(te));
	if (r < 0)
		return checkout_git_err(err, r, ".gitmodules");
	if ((uint64_t) git_blob_rawsize(blob) > CHECKOUT_MAX_GITMODULES)
		return err_set(err, EFBIG, ".gitmodules: larger than 1 MiB");
	return checkout_gitmodules_parse(git_blob_rawcontent(blob), (size_t) git_blob_rawsize(blob),
					 &p->mods, &p->n, err);
}

/* A tree's plan never changes: kept in its mirror as "<mirror>/mayfly-submodules/<tree>"
 * (a header line, then commit, name, path, url, each NUL-terminated, per submodule), so
 * that a known commit's submodules need no libgit2 (see fast.c). */
#define PLANS_DIR   "mayfly-submodules"
#define PLAN_HEADER "mayfly-submodules 1\n"

static void write_plan(const char *mirror, const char *tree_id, const struct plan *p)
{
	cleanup_free char *dir = path_join(mirror, PLANS_DIR), *path = path_join(dir, tree_id);
	cleanup_free char *buf = xstrdup(PLAN_HEADER);
	size_t len = strlen(buf);

	for (size_t i = 0; i < p->n; i++) {
		if (!p->commits[i][0])
			continue;
		const char *f[] = { p->commits[i], p->mods[i].name, p->mods[i].path,
				    p->mods[i].url };
		for (size_t k = 0; k < ARRAY_SIZE(f); k++) {
			size_t n = strlen(f[k]) + 1;
			buf = xrealloc(buf, len + n);
			memcpy(buf + len, f[k], n);
			len += n;
		}
	}
	if (mkdir(dir, 0755) == 0 || errno == EEXIST)
		(void) write_file_atomic_at(AT_FDCWD, path, buf, len, 0644, 0, &(struct err){ 0 });
}

/* The plan written before, judged again as if new; -ENOENT when there is none or it is not
 * well-formed (then the tree is read). */
static int read_plan(const char *mirror, const char *tree_id, struct plan *ret)
{
	cleanup_free char *path = xasprintf("%s/" PLANS_DIR "/%s", mirror, tree_id), *buf = NULL;
	struct err ignored = { 0 };
	struct plan p = { 0 };
	size_t len = 0, off = strlen(PLAN_HEADER);

	if (read_file_at(AT_FDCWD, path, 4U << 20, &buf, &len, &ignored) < 0 || len < off ||
	    memcmp(buf, PLAN_HEADER, off) != 0 || (len > off && buf[len - 1] != '\0'))
		return -ENOENT;
	while (off < len) {
		const char *f[4];
		for (size_t k = 0; k < ARRAY_SIZE(f); k++) {
			f[k] = off < len ? buf + off : "";
			off += off < len ? strlen(buf + off) + 1 : 0;
		}
		if (p.n >= CHECKOUT_MAX_SUBMODULES || !checkout_is_oid(f[0]) || !*f[3] ||
		    checkout_submodule_check_name(f[1], &ignored) < 0 ||
		    checkout_submodule_check_path(f[2], &ignored) < 0) {
			plan_release(&p);
			return -ENOENT;
		}
		p.mods = xrealloc(p.mods, (p.n + 1) * sizeof(*p.mods));
		p.commits = xrealloc(p.commits, (p.n + 1) * sizeof(*p.commits));
		p.mods[p.n] = (struct checkout_gitmodule){ .name = xstrdup(f[1]),
							   .path = xstrdup(f[2]),
							   .url = xstrdup(f[3]) };
		memcpy(p.commits[p.n++], f[0], 41);
	}
	if (!p.commits)
		p.commits = xcalloc(1, sizeof(*p.commits));
	*ret = p;
	return 0;
}

/* Match the tree's gitlinks with its .gitmodules: each gitlink needs an entry (git
 * refuses one without: "no submodule mapping found"); an entry whose path is something
 * else than a gitlink is refused; one whose path is absent is stale and left alone. */
static int make_plan(const char *mirror, const char *tree_id, struct plan *ret, struct err *err)
{
	CLEANUP(checkout_repo_freep) git_repository *repo = NULL;
	CLEANUP(git_tree_freep) git_tree *tree = NULL;
	struct gitlinks g = { .err = err };
	struct plan p = { 0 };
	git_oid oid;
	int r;

	if (read_plan(mirror, tree_id, ret) == 0)
		return 0;
	r = checkout_git_init(err);
	if (r == 0)
		r = checkout_repo_open(mirror, &repo, err);
	if (r < 0)
		return r;
	r = git_oid_fromstr(&oid, tree_id);
	if (r == 0)
		r = git_tree_lookup(&tree, repo, &oid);
	if (r < 0)
		return checkout_git_err(err, r, "tree %s", tree_id);
	r = git_tree_walk(tree, GIT_TREEWALK_PRE, gitlink_cb, &g);
	if (g.r < 0)
		r = g.r;
	else if (r < 0)
		r = checkout_git_err(err, r, "tree %s", tree_id);
	if (r == 0 && g.n > 0)
		r = read_gitmodules(repo, tree, &p, err);
	if (r == 0)
		p.commits = xcalloc(p.n ? p.n : 1, sizeof(*p.commits));
	for (size_t i = 0; r == 0 && i < p.n; i++) {
		const char *path = p.mods[i].path;
		size_t j = 0;

		if (!path)
			continue;
		while (j < g.n && strcmp(g.paths[j], path) != 0)
			j++;
		if (j < g.n) {
			if (!p.mods[i].update_none)
				memcpy(p.commits[i], g.ids[j], 41);
			continue;
		}
		CLEANUP(git_tree_entry_freep) git_tree_entry *e = NULL;
		if (git_tree_entry_bypath(&e, tree, path) == 0) {
			char sname[CHECKOUT_SHOWN], spath[CHECKOUT_SHOWN];
			r = err_set(err, EINVAL,
				    "submodule '%s': path '%s' is a %s in the tree, not a gitlink "
				    "(a commit entry); fix .gitmodules",
				    checkout_printable(p.mods[i].name, sname, sizeof(sname)),
				    checkout_printable(path, spath, sizeof(spath)),
				    git_tree_entry_filemode(e) == GIT_FILEMODE_TREE ? "directory"
										    : "file");
		}
		git_error_clear();
	}
	for (size_t j = 0; r == 0 && j < g.n; j++) {
		size_t i = 0;
		while (i < p.n && (!p.mods[i].path || strcmp(p.mods[i].path, g.paths[j]) != 0))
			i++;
		char spath[CHECKOUT_SHOWN];
		checkout_printable(g.paths[j], spath, sizeof(spath));
		if (i == p.n)
			r = err_set(
				err, EINVAL,
				"gitlink '%s' (commit %s) has no entry in .gitmodules: add "
				"[submodule \"%s\"] with its path and url, or remove the gitlink",
				spath, g.ids[j], spath);
		else if (p.commits[i][0] && !p.mods[i].url)
			r = err_set(err, EINVAL,
				    "submodule at '%s': no url in .gitmodules; add one", spath);
	}
	strv_free(g.paths);
	free(g.ids);
	if (r < 0) {
		plan_release(&p);
		return r;
	}
	write_plan(mirror, tree_id, &p);
	*ret = p;
	return 0;
}

/* Append text to "<git_dir>/config" by replacing the file: it may be a hard link to a
 * cached template (checkout_workspace_git()), which must not change. */
static int config_add(const char *git_dir, const char *text, struct err *err)
{
	cleanup_free char *path = path_join(git_dir, "config"), *data = NULL, *all = NULL;
	size_t len = 0;
	int r;

	r = read_file_at(AT_FDCWD, path, MAX_CONFIG, &data, &len, err);
	if (r < 0)
		return r;
	all = xasprintf("%.*s%s", (int) len, data, text);
	return write_file_atomic_at(AT_FDCWD, path, all, strlen(all), 0644, 0, err);
}

/* "../" once per component of path. */
static char *ups(const char *path)
{
	size_t n = 1;

	for (const char *p = path; *p; p++)
		n += *p == '/';
	char *s = xmalloc(3 * n + 1);
	for (size_t i = 0; i < n; i++)
		memcpy(s + 3 * i, "../", 3);
	s[3 * n] = '\0';
	return s;
}

static char *config_quoted(const char *s)
{
	char *out = xmalloc(2 * strlen(s) + 1);
	size_t j = 0;

	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			out[j++] = '\\';
		out[j++] = *s;
	}
	out[j] = '\0';
	return out;
}

struct ctx {
	const struct checkout_submodule_opts *o;
	bool super_local; /* local submodules allowed */
	const char *base; /* relative URLs and the credential rule start here */
	struct checkout_submodules out;
};

/* Where the job sees mirror: its index in out.mirrors, added when new with the hold fd
 * (taken); a mirror already there lets the second hold go. */
static size_t mirror_index(struct ctx *c, const char *mirror, int fd)
{
	size_t i = 0;

	for (; c->out.mirrors && c->out.mirrors[i]; i++)
		if (strcmp(c->out.mirrors[i], mirror) == 0) {
			(void) checkout_mirror_release(mirror, fd);
			return i;
		}
	strv_push(&c->out.mirrors, mirror);
	c->out.mirror_fds = xrealloc(c->out.mirror_fds, (i + 1) * sizeof(int));
	c->out.mirror_fds[i] = fd;
	return i;
}

/* The tree of commit (40 hex digits) in mirror, looked up by id: unlike checkout_resolve(),
 * where a ref wins over an id of the same spelling, a remote with a branch named like the
 * commit cannot swap what the gitlink pins (SECURITY). -ENOENT: not there. */
static int commit_tree(const char *mirror, const char *commit, char ret_tree[41], struct err *err)
{
	CLEANUP(checkout_repo_freep) git_repository *repo = NULL;
	git_commit *c = NULL;
	git_oid oid;
	int r;

	r = checkout_repo_open(mirror, &repo, err);
	if (r < 0)
		return r;
	r = git_oid_fromstr(&oid, commit);
	if (r == 0)
		r = git_commit_lookup(&c, repo, &oid);
	if (r == GIT_ENOTFOUND) {
		git_error_clear();
		return err_set(err, ENOENT, "commit %s: not in the mirror", commit);
	}
	if (r < 0)
		return checkout_git_err(err, r, "commit %s", commit);
	git_oid_tostr(ret_tree, 41, git_commit_tree_id(c));
	git_commit_free(c);
	checkout_note_commit(mirror, commit, ret_tree); /* for checkout_lookup_cached() */
	return 0;
}

/* Mirror (fetched only when it lacks commit), held in *ret_fd before anything is read
 * from it, and commit's tree id. */
static int find_commit(struct ctx *c, const char *url, const char *commit, unsigned flags,
		       char **ret_mirror, int *ret_fd, char ret_tree[41], struct err *err)
{
	const struct checkout_submodule_opts *o = c->o;
	/* SECURITY: the caller's token goes where the superproject lives, nowhere else. */
	const struct checkout_cred none = { 0 };
	const struct checkout_cred *cred =
		o->cred && checkout_same_origin(c->base, url) ? o->cred : &none;
	cleanup_free char *mirror = NULL;
	int r;

	/* Resolved before: mirror and tree known from plain files, no libgit2 (fast.c). */
	r = flags == 0 ? checkout_lookup_cached(o->cache_dir, url, commit, &mirror, ret_tree, err)
		       : -ENOENT;
	if (r == 0) {
		r = checkout_mirror_hold(mirror, ret_fd, err);
		if (r == 0) {
			*ret_mirror = TAKE_PTR(mirror);
			return 0;
		}
		free(TAKE_PTR(mirror)); /* pruned or rebuilt meanwhile: the long way */
	}
	err_clear(err);
	r = checkout_mirror_timed(o->cache_dir, url, cred, commit, flags, o->fetch_timeout, &mirror,
				  err);
	/* Held before it is read; pruned or rebuilt since: fetch it again (as exec-repo.c). */
	for (int tries = 0; r == 0; tries++) {
		r = checkout_mirror_hold(mirror, ret_fd, err);
		if (r != -ESTALE || tries == 3)
			break;
		err_clear(err);
		free(TAKE_PTR(mirror));
		r = checkout_mirror_timed(o->cache_dir, url, cred, commit, flags, o->fetch_timeout,
					  &mirror, err);
	}
	if (r == -EACCES && cred == &none && o->cred && o->cred->token) {
		char why[sizeof(err->msg)];
		(void) snprintf(why, sizeof(why), "%s", err->msg);
		err_clear(err);
		return err_set(err, EACCES,
			       "%s (the token goes only to the superproject's scheme, host and "
			       "port: give the submodule a relative URL, or a public remote)",
			       why);
	}
	if (r < 0)
		return r;
	r = commit_tree(mirror, commit, ret_tree, err);
	if (r < 0)
		*ret_fd = checkout_mirror_release(mirror, *ret_fd);
	if (r == -ENOENT) {
		err_clear(err);
		return err_set(err, ENOENT,
			       "commit %s not found in the submodule's remote: push it there "
			       "(a branch or tag must reach it), or point the gitlink at a "
			       "commit it has",
			       commit);
	}
	if (r < 0)
		return r;
	*ret_mirror = TAKE_PTR(mirror);
	return 0;
}

/* find_commit(), then the tree materialised. -EUCLEAN: the mirror is damaged; the caller
 * rebuilds it once. */
static int fetch_tree(struct ctx *c, const char *url, const char *commit, unsigned flags,
		      char **ret_mirror, int *ret_mirror_fd, char ret_tree[41],
		      struct checkout_tree *ret_layers, struct err *err)
{
	cleanup_free char *mirror = NULL;
	int mfd = -1;
	char tree[41];
	int r;

	r = find_commit(c, url, commit, flags, &mirror, &mfd, tree, err);
	if (r < 0)
		return r;
	r = checkout_materialize_owned(c->o->cache_dir, mirror, tree, c->o->uid, c->o->gid,
				       ret_layers, err);
	if (r == -ENOENT)
		r = -EUCLEAN;
	if (r < 0) {
		(void) checkout_mirror_release(mirror, mfd);
		return r;
	}
	*ret_mirror_fd = mfd;
	*ret_mirror = TAKE_PTR(mirror);
	memcpy(ret_tree, tree, 41);
	return 0;
}

/* What one level down starts from: a checked-out submodule as a repository of its own. */
struct next {
	char *mirror, *url, *git_dir, *git_rel, *prefix;
	char tree[41];
};

static void next_release(struct next *n)
{
	free(n->mirror);
	free(n->url);
	free(n->git_dir);
	free(n->git_rel);
	free(n->prefix);
}

/* Submodule m (gitlink commit) of the repository whose git dir is git_dir (git_rel: the
 * same, relative to the top .git) and whose work tree is at prefix in the checkout. On
 * success *ret says where its own submodules would start. */
static int one(struct ctx *c, const struct checkout_gitmodule *m, const char *commit,
	       const char *base_url, const char *git_dir, const char *git_rel, const char *prefix,
	       struct next *ret, struct err *err)
{
	const struct checkout_submodule_opts *o = c->o;
	cleanup_free char *url = NULL, *mirror = NULL, *layer = NULL;
	CLEANUP(checkout_tree_release) struct checkout_tree layers = { 0 };
	cleanup_free char *full = *prefix ? xasprintf("%s/%s", prefix, m->path) : xstrdup(m->path);
	cleanup_free char *rel = xasprintf("%smodules/%s", git_rel, m->name);
	cleanup_free char *modules = path_join(git_dir, "modules");
	cleanup_free char *sub_git = path_join(modules, m->name);
	int mfd = -1;
	struct checkout_url u = { 0 };
	char tree[41];
	int r;

	r = checkout_submodule_url(base_url, c->super_local, m->url, &url, err);
	if (r < 0)
		return r;
	r = fetch_tree(c, url, commit, 0, &mirror, &mfd, tree, &layers, err);
	if (r == -EUCLEAN) {
		err_clear(err);
		r = fetch_tree(c, url, commit, CHECKOUT_REBUILD, &mirror, &mfd, tree, &layers, err);
	}
	if (r < 0)
		return r;
	size_t mi = mirror_index(c, mirror, mfd);
	cleanup_free char *inside = xasprintf("%s/%zu", o->mirrors_inside, mi);
	const struct checkout_workspace ws = { .mirror = mirror,
					       .mirror_inside = inside,
					       .commit = commit,
					       .tree_dir = layers.layers[0] };
	layer = xasprintf("%s/%zu", o->layers, c->out.n);
	if (mkdir(layer, 0755) < 0)
		return err_set(err, errno, "mkdir '%s'", layer);
	r = checkout_workspace_git(&ws, layer, err);
	if (r < 0)
		return r;
	/* git's own layout: the repository under the superproject's .git/modules. */
	cleanup_free char *dotgit = path_join(layer, ".git");
	cleanup_free char *parent = xstrdup(sub_git);
	*strrchr(parent, '/') = '\0';
	r = mkdir_p(parent, 0755, err);
	if (r < 0)
		return r;
	if (rename(dotgit, sub_git) < 0)
		return err_set(err, errno, "rename to '%s'", sub_git);
	cleanup_free char *up_git = ups(rel), *up_work = ups(full);
	cleanup_free char *wt = xasprintf("[core]\n\tworktree = ../%s%s\n", up_git, full);
	r = config_add(sub_git, wt, err);
	if (r < 0)
		return r;
	cleanup_free char *gitfile = xasprintf("gitdir: %s.git/%s\n", up_work, rel);
	r = write_file_atomic_at(AT_FDCWD, dotgit, gitfile, strlen(gitfile), 0644, 0, err);
	if (r < 0)
		return r;
	/* Active, with its URL, as `git submodule init` leaves it; never userinfo. */
	r = checkout_url_parse(url, &u, err);
	if (r < 0)
		return r;
	cleanup_free char *qname = config_quoted(m->name), *qurl = config_quoted(u.fetch);
	checkout_url_release(&u);
	cleanup_free char *sec =
		xasprintf("[submodule \"%s\"]\n\tactive = true\n\turl = \"%s\"\n", qname, qurl);
	r = config_add(git_dir, sec, err);
	if (r < 0)
		return r;
	c->out.v = xrealloc(c->out.v, (c->out.n + 1) * sizeof(*c->out.v));
	c->out.v[c->out.n++] = (struct checkout_submodule_dir){ .path = xstrdup(full),
								.layer = TAKE_PTR(layer),
								.tree = layers };
	layers = (struct checkout_tree){ 0 }; /* moved */
	*ret = (struct next){ .mirror = TAKE_PTR(mirror),
			      .url = TAKE_PTR(url),
			      .git_dir = TAKE_PTR(sub_git),
			      .git_rel = xasprintf("%s/", rel),
			      .prefix = TAKE_PTR(full) };
	memcpy(ret->tree, tree, sizeof(tree));
	return 0;
}

static int level(struct ctx *c, const char *mirror, const char *tree_id, const char *base_url,
		 const char *git_dir, const char *git_rel, const char *prefix, unsigned depth,
		 struct err *err)
{
	struct plan p = { 0 };
	int r;

	r = make_plan(mirror, tree_id, &p, err);
	if (r < 0) {
		if (*prefix) {
			char shown[CHECKOUT_SHOWN];
			(void) err_wrap(err, "in submodule '%s'",
					checkout_printable(prefix, shown, sizeof(shown)));
		}
		return r;
	}
	for (size_t i = 0; r == 0 && i < p.n; i++) {
		const struct checkout_gitmodule *m = &p.mods[i];
		struct next nx = { 0 };
		if (!p.commits[i][0])
			continue;
		if (c->out.n >= CHECKOUT_MAX_SUBMODULES)
			r = err_set(err, EINVAL, "more than %d submodules",
				    CHECKOUT_MAX_SUBMODULES);
		else if (depth > CHECKOUT_SUBMODULE_DEPTH)
			r = err_set(err, EINVAL,
				    "nested more than %d levels deep; use --submodules normal, or "
				    "flatten the nesting",
				    CHECKOUT_SUBMODULE_DEPTH);
		else
			r = one(c, m, p.commits[i], base_url, git_dir, git_rel, prefix, &nx, err);
		if (r < 0) {
			char name[CHECKOUT_SHOWN], path[CHECKOUT_SHOWN];
			cleanup_free char *full =
				*prefix ? xasprintf("%s/%s", prefix, m->path) : xstrdup(m->path);
			cleanup_free char *url = checkout_url_shown(m->url);
			(void) err_wrap(err, "submodule '%s' (path '%s', url '%s')",
					checkout_printable(m->name, name, sizeof(name)),
					checkout_printable(full, path, sizeof(path)), url);
		} else if (c->o->recursive && nx.prefix) {
			/* Its errors name their own submodule. */
			r = level(c, nx.mirror, nx.tree, nx.url, nx.git_dir, nx.git_rel, nx.prefix,
				  depth + 1, err);
		}
		next_release(&nx);
	}
	plan_release(&p);
	return r;
}

/* The remote.origin.url of the local repository at path (a work tree or a bare one), or
 * NULL: what git takes relative submodule URLs from, before the repository's own path. */
static char *local_origin(const char *path)
{
	cleanup_free char *dotgit = path_join(path, ".git");
	CLEANUP(checkout_repo_freep) git_repository *repo = NULL;
	git_buf buf = GIT_BUF_INIT;
	git_config *cfg = NULL;
	struct err ignored = { 0 };
	char *url = NULL;

	if (checkout_git_init(&ignored) < 0 || (checkout_repo_open(dotgit, &repo, &ignored) < 0 &&
						checkout_repo_open(path, &repo, &ignored) < 0))
		return NULL;
	if (git_repository_config_snapshot(&cfg, repo) == 0 &&
	    git_config_get_string_buf(&buf, cfg, "remote.origin.url") == 0 && buf.ptr && *buf.ptr)
		url = xstrdup(buf.ptr);
	git_buf_dispose(&buf);
	git_config_free(cfg);
	git_error_clear();
	return url;
}

int checkout_submodules(const struct checkout_submodule_opts *o, const char *mirror,
			const char *tree_id, const char *git_dir, struct checkout_submodules *ret,
			struct err *err)
{
	struct ctx c = { .o = o };
	struct checkout_url u = { 0 };
	cleanup_free char *base = NULL;
	int r;

	if (o->mirrors_inside[0] != '/' || !path_is_clean(o->mirrors_inside))
		return err_set(err, EINVAL, "mirrors path '%s': not clean and absolute",
			       o->mirrors_inside);
	/* A local superproject: relative URLs are taken from its canonical path. */
	r = checkout_url_parse(o->super_url, &u, err);
	if (r < 0)
		return r;
	c.super_local = u.local;
	/* As git: a local clone's relative URLs are its origin's, when it has one. */
	base = u.local ? local_origin(u.fetch) : NULL;
	if (!base)
		base = xstrdup(u.local ? u.fetch : o->super_url);
	c.base = base;
	checkout_url_release(&u);
	r = level(&c, mirror, tree_id, base, git_dir, "", "", 1, err);
	if (r < 0) {
		checkout_submodules_release(&c.out);
		return r;
	}
	*ret = c.out;
	return 0;
}

/* exec-repo.c - `mayfly exec --repo`: a checkout of a commit as the job's /workspace. The
 * mirror is fetched (or not: a job never waits for a fetch it does not need), the rev
 * resolved, the commit's tree taken from the shared cache (built once, owned by the cache
 * owner, each of its layers locked for as long as the sandbox lives so prune leaves them
 * alone), and a .git of the job's own written into a per-job layer under <state>/tmp. The
 * sandbox then gets an overlay {.git layer, [uncommitted layer,] tree layers, top first}
 * at the checkout dir and a copy-on-write view of the mirror at CHECKOUT_MIRROR_INSIDE,
 * where the .git's alternates point. The mirror is held (checkout_mirror_hold()) for as
 * long as the sandbox lives too: a rebuild by another mayfly moves it aside rather than
 * deleting the objects the job reads.
 *
 * SECURITY: the credential comes from the environment or a file, never argv; it reaches
 * libgit2's credential callback only (checkout/ never writes or shows it), and it is
 * removed from our environment so that nothing we start inherits it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checkout/checkout.h"
#include "cli/cli.h"
#include "sandbox/sandbox.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define CHECKOUT_MIRROR_INSIDE "/run/mayfly/mirror"
#define SUBMODULE_MIRRORS      "/run/mayfly/mirrors" /* submodule mirror n at <this>/<n> */
#define LAYERS_PREFIX	       "checkout-"
#define STALE_AFTER_S	       60 /* an unnamed layer dir this old is a dead run's */
#define MAX_TOKEN	       4096

struct exec_repo_state {
	struct checkout_tree tree; /* its layers, each locked shared: prune keeps away */
	int mirror_fd;		   /* shared lock on the mirror: rebuilds move it aside */
	char *mirror;		   /* the mirror held */
	int layers_fd;		   /* exclusive lock on our layers dir: gc keeps away */
	char *layers;		   /* <state>/tmp/checkout-XXXXXX: .git layer, uncommitted layer */
	struct checkout_submodules subs; /* --submodules: their tree locks */
};

struct exec_repo_state *exec_repo_free(struct exec_repo_state *s)
{
	if (!s)
		return NULL;
	if (s->layers)
		(void) rm_rf_at(AT_FDCWD, s->layers, &(struct err){ 0 });
	(void) safe_close(s->layers_fd);
	checkout_tree_release(&s->tree);
	(void) checkout_mirror_release(s->mirror, s->mirror_fd);
	free(s->mirror);
	checkout_submodules_release(&s->subs);
	free(s->layers);
	free(s);
	return NULL;
}

/* --fetch-timeout: "600", "0" (none), "90s", "10m", "1h". */
static int parse_timeout(const char *s, unsigned *ret)
{
	uint64_t ms;

	if (safe_atou(s, ret) == 0)
		return 0;
	if (str_parse_duration(s, &ms, &(struct err){ 0 }) < 0 || ms / 1000 > UINT32_MAX)
		return -EINVAL;
	*ret = ms < 1000 ? 1 : (unsigned) (ms / 1000);
	return 0;
}

int exec_repo_check(const struct exec_repo *o)
{
	const char *dir = o->checkout_dir;

	if (!o->repo && (o->ref || o->commit || dir || o->token_file || o->submodules ||
			 o->ssh_key || o->known_hosts))
		return cli_usage_error("exec", "--ref, --commit, --checkout-dir, --git-token-file, "
					       "--git-ssh-key, --git-known-hosts and --submodules "
					       "need --repo");
	if (o->submodules && strcmp(o->submodules, "none") != 0 &&
	    strcmp(o->submodules, "normal") != 0 && strcmp(o->submodules, "recursive") != 0)
		return cli_usage_error("exec",
				       "--submodules '%s': expected none, normal or recursive",
				       o->submodules);
	if (o->ref && o->commit)
		return cli_usage_error("exec", "give --ref or --commit, not both");
	if (o->repo && !*o->repo)
		return cli_usage_error("exec", "--repo: empty");
	if (o->fetch_timeout && !o->repo)
		return cli_usage_error("exec", "--fetch-timeout needs --repo");
	if (o->fetch_timeout && parse_timeout(o->fetch_timeout, &(unsigned){ 0 }) < 0)
		return cli_usage_error("exec",
				       "--fetch-timeout '%s': expected seconds (0: none) or a "
				       "duration such as 90s or 10m",
				       o->fetch_timeout);
	if (dir && (dir[0] != '/' || !path_is_clean(dir) || strcmp(dir, "/") == 0))
		return cli_usage_error("exec",
				       "--checkout-dir '%s': expected a clean absolute "
				       "path such as /workspace or /src/app",
				       dir);
	return 0;
}

unsigned exec_repo_gc(const char *state_dir)
{
	cleanup_free char *tmp = path_join(state_dir, "tmp");
	CLEANUP(closedirp) DIR *d = opendir(tmp);
	time_t now = time(NULL);
	struct dirent *de;
	unsigned n = 0;

	while (d && (de = readdir(d))) {
		bool named = str_startswith(de->d_name, LAYERS_PREFIX);
		cleanup_close int fd = -1;
		struct stat st;

		if (!named && !str_startswith(de->d_name, "." LAYERS_PREFIX))
			continue;
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		/* A named one is locked from birth (see make_layers()): unlocked, its run is
		 * gone. An unnamed one may be between mkdtemp() and flock(): age tells. */
		if (fd < 0 || fstat(fd, &st) < 0 || (!named && st.st_ctime > now - STALE_AFTER_S) ||
		    flock(fd, LOCK_EX | LOCK_NB) < 0)
			continue;
		n += rm_rf_at(dirfd(d), de->d_name, &(struct err){ 0 }) == 0;
	}
	return n;
}

/* A secret's memory is wiped before it is freed. */
static void wipe_freep(char **p)
{
	if (*p) {
		explicit_bzero(*p, strlen(*p));
		free(*p);
	}
}

/* The credential: MAYFLY_GIT_TOKEN or the token file, MAYFLY_GIT_USERNAME, and
 * MAYFLY_GIT_SSH_PASSPHRASE (for --git-ssh-key); the variables are taken out of our
 * environment. *ret_token (*ret_pass) is NULL when there is none. */
static int read_credential(const struct exec_repo *o, char **ret_user, char **ret_token,
			   char **ret_pass, struct err *err)
{
	char *env_pass = getenv("MAYFLY_GIT_SSH_PASSPHRASE");
	CLEANUP(wipe_freep) char *pass = env_pass && *env_pass ? xstrdup(env_pass) : NULL;
	char *env_token = getenv("MAYFLY_GIT_TOKEN");
	const char *env_user = getenv("MAYFLY_GIT_USERNAME");
	CLEANUP(wipe_freep) char *token = env_token && *env_token ? xstrdup(env_token) : NULL;
	cleanup_free char *user = env_user && *env_user ? xstrdup(env_user) : NULL;
	size_t len = 0;

	/* Gone from our environment, and from the memory it was in, before anything else. */
	if (env_token)
		explicit_bzero(env_token, strlen(env_token));
	if (env_pass)
		explicit_bzero(env_pass, strlen(env_pass));
	(void) unsetenv("MAYFLY_GIT_SSH_PASSPHRASE");
	(void) unsetenv("MAYFLY_GIT_TOKEN");
	(void) unsetenv("MAYFLY_GIT_USERNAME");
	if (o->token_file) {
		wipe_freep(&token);
		token = NULL;
		int r = read_file_at(AT_FDCWD, o->token_file, MAX_TOKEN, &token, &len, err);
		if (r < 0)
			return err_wrap(err, "--git-token-file");
		while (len > 0 && strchr("\r\n \t", token[len - 1]))
			token[--len] = '\0';
		if (len == 0)
			return err_set(err, EINVAL, "--git-token-file '%s': empty", o->token_file);
	}
	*ret_user = TAKE_PTR(user);
	*ret_token = TAKE_PTR(token);
	*ret_pass = TAKE_PTR(pass);
	return 0;
}

/* chown -h -R, for the .git layer (built by us, nothing in it is a job's). */
static int chown_tree(int dfd, uid_t uid, gid_t gid, unsigned depth, struct err *err)
{
	CLEANUP(closedirp) DIR *d = fdopendir(dfd);
	struct dirent *de;

	if (!d) {
		(void) close(dfd);
		return err_set(err, errno, "read .git layer");
	}
	if (fchown(dirfd(d), uid, gid) < 0)
		return err_set(err, errno, "chown .git layer");
	while (depth < 64 && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type == DT_DIR) {
			int sub = openat(dirfd(d), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			int r = sub < 0 ? err_set(err, errno, "open '%s'", de->d_name)
					: chown_tree(sub, uid, gid, depth + 1, err);
			if (r < 0)
				return r;
		} else if (fchownat(dirfd(d), de->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) {
			return err_set(err, errno, "chown '%s'", de->d_name);
		}
	}
	return 0;
}

static int make_layers(const char *state_dir, uid_t uid, gid_t gid, struct exec_repo_state *s,
		       struct err *err)
{
	cleanup_free char *tmp = path_join(state_dir, "tmp");
	/* The state dir as the sandbox makes it (searchable: it builds its root there). */
	int r = mkdir_p(state_dir, 0711, err);

	if (r == 0)
		r = mkdir_p(tmp, 0700, err);

	if (r < 0)
		return r;
	/* Made unnamed, locked, then named: gc never sees a named one unlocked but dead. */
	cleanup_free char *unnamed = xasprintf("%s/." LAYERS_PREFIX "XXXXXX", tmp);
	if (!mkdtemp(unnamed))
		return err_set(err, errno, "mkdir '%s'", unnamed);
	s->layers = xasprintf("%s/%s", tmp, strrchr(unnamed, '/') + 2);
	s->layers_fd = open(unnamed, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s->layers_fd < 0 || flock(s->layers_fd, LOCK_EX) < 0 ||
	    rename(unnamed, s->layers) < 0) {
		r = err_set(err, errno, "make '%s'", s->layers);
		(void) rmdir(unnamed);
		free(TAKE_PTR(s->layers));
		return r;
	}
	if (fchmod(s->layers_fd, 0755) < 0 ||
	    (uid != (uid_t) -1 && fchown(s->layers_fd, uid, gid) < 0))
		return err_set(err, errno, "chown '%s'", s->layers);
	cleanup_free char *git = path_join(s->layers, "git");
	if (mkdir(git, 0755) < 0 || (uid != (uid_t) -1 && chown(git, uid, gid) < 0))
		return err_set(err, errno, "mkdir '%s'", git);
	return 0;
}

struct checkout {
	const struct exec_repo *o;
	const char *cache, *url, *rev, *want;
	struct checkout_cred cred;
	uid_t uid;
	gid_t gid;
	const char *snap_branch;	      /* --repo .: the work tree's branch */
	const struct checkout_snapshot *snap; /* --repo .: the work tree, for its index */
	unsigned fetch_timeout;		      /* seconds, 0: none */
	char *mirror, *branch;
	char commit[41], tree[41];
};

/* Mirror, resolve, tree, .git: one attempt. -EUCLEAN asks for a rebuilt mirror. */
static int attempt(struct checkout *c, struct exec_repo_state *s, unsigned flags, struct err *err)
{
	cleanup_free char *git = path_join(s->layers, "git");
	int r;

	free(TAKE_PTR(c->mirror));
	free(TAKE_PTR(c->branch));
	checkout_tree_release(&s->tree);
	s->mirror_fd = checkout_mirror_release(s->mirror, s->mirror_fd);
	free(TAKE_PTR(s->mirror));
	c->commit[0] = '\0';
	/* A full id resolved before: mirror and tree known without loading libgit2. */
	r = flags == 0 && c->o->commit ? checkout_lookup_cached(c->cache, c->url, c->o->commit,
								&c->mirror, c->tree, err)
				       : -ENOENT;
	if (r == 0)
		(void) snprintf(c->commit, sizeof(c->commit), "%s", c->o->commit);
	if (r == -ENOENT)
		r = checkout_mirror_timed(c->cache, c->url, &c->cred, c->want, flags,
					  c->fetch_timeout, &c->mirror, err);
	/* Held before anything is read from it; pruned or rebuilt since: fetch it again. */
	for (int tries = 0; r == 0; tries++) {
		r = checkout_mirror_hold(c->mirror, &s->mirror_fd, err);
		if (r != -ESTALE || tries == 3)
			break;
		err_clear(err);
		c->commit[0] = '\0';
		free(TAKE_PTR(c->mirror));
		r = checkout_mirror_timed(c->cache, c->url, &c->cred, c->want, flags,
					  c->fetch_timeout, &c->mirror, err);
	}
	if (r < 0)
		return r;
	s->mirror = xstrdup(c->mirror);
	if (!c->commit[0])
		r = checkout_resolve(c->mirror, c->rev, c->commit, c->tree, err);
	if (r < 0)
		return r;
	r = checkout_materialize_owned(c->cache, c->mirror, c->tree, c->uid, c->gid, &s->tree, err);
	/* The mirror had this tree when the commit was resolved: gone now, it is damaged. */
	if (r == -ENOENT)
		r = -EUCLEAN;
	if (r < 0)
		return r;
	/* On the branch, as after `git clone` or `git checkout BRANCH`; detached at an id. */
	if (c->snap_branch)
		c->branch = xstrdup(c->snap_branch);
	else if (!c->o->commit)
		c->branch = checkout_rev_branch(c->mirror, c->rev);
	const struct checkout_workspace ws = { .mirror = c->mirror,
					       .mirror_inside = CHECKOUT_MIRROR_INSIDE,
					       .commit = c->commit,
					       .branch = c->branch,
					       .tree_dir = s->tree.layers[0] };
	cleanup_free char *dotgit = path_join(git, ".git");
	(void) rm_rf_at(AT_FDCWD, dotgit, &(struct err){ 0 }); /* a failed first attempt's */
	r = checkout_workspace_git(&ws, git, err);
	if (r == 0 && c->snap) /* what the user staged, staged in the job: before the chown */
		r = checkout_snapshot_index(c->snap, c->mirror, git, err);
	if (r < 0)
		return r;
	if (c->uid != (uid_t) -1) {
		int fd = open(git, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		r = fd < 0 ? err_set(err, errno, "open '%s'", git)
			   : chown_tree(fd, c->uid, c->gid, 0, err);
	}
	return r;
}

/* The repository as messages may show it: userinfo (a token, perhaps) hidden. */
static char *shown(const char *repo)
{
	const char *sep = strstr(repo, "://");
	const char *auth = sep ? sep + 3 : repo;
	const char *at = memchr(auth, '@', strcspn(auth, "/"));

	/* scp-like "user@host:path" names an account; "user:secret@host:path" hides it. */
	if (!at || (!sep && !memchr(repo, ':', (size_t) (at - repo))))
		return xstrdup(repo);
	return xasprintf("%.*s***%s", (int) (auth - repo), repo, at);
}

static void add_overlay(struct sandbox_spec *spec, const char *dst, char **lowers, char **remove)
{
	struct sandbox_overlay *ov;

	spec->overlays = xrealloc(spec->overlays, (spec->n_overlays + 1) * sizeof(*ov));
	ov = &spec->overlays[spec->n_overlays++];
	*ov = (struct sandbox_overlay){ .dst = xstrdup(dst),
					.lowers = lowers,
					.remove = remove ? strv_copy(remove) : NULL };
}

/* The checkout at its dir, and the mirror where the .git's alternates point. The mirror
 * is an overlay too rather than a read-only bind: in root mode the sandbox cannot reach
 * a path inside the 0700 cache, and the job's writes there stay in the sandbox all the
 * same (its objects and packs are 0444 besides). */
static void add_to_spec(struct sandbox_spec *spec, const struct checkout *c,
			const struct exec_repo_state *s, const char *uncommitted, char **deleted)
{
	const char *dst = c->o->checkout_dir ? c->o->checkout_dir : "/workspace";
	cleanup_free char *git = path_join(s->layers, "git");
	char **lowers = NULL, **mirror = NULL;

	strv_push(&lowers, git);
	if (uncommitted)
		strv_push(&lowers, uncommitted);
	for (size_t i = 0; i < s->tree.n_layers; i++) /* a delta's, then its parents' */
		strv_push(&lowers, s->tree.layers[i]);
	add_overlay(spec, dst, lowers, deleted);
	strv_push(&mirror, c->mirror);
	add_overlay(spec, CHECKOUT_MIRROR_INSIDE, mirror, NULL);
	if (!spec->workdir)
		spec->workdir = xstrdup(dst);
}

/* --submodules: their repositories in the superproject's .git layer (git's layout, see
 * checkout_submodules()), each one's {.git file layer, cached tree} mounted at its path
 * after the superproject's overlay (parents first: each mount point is the empty
 * directory git gives a gitlink), each mirror at SUBMODULE_MIRRORS/<n>. */
static int add_submodules(struct sandbox_spec *spec, const struct checkout *c,
			  struct exec_repo_state *s, struct err *err)
{
	const char *dst = c->o->checkout_dir ? c->o->checkout_dir : "/workspace";
	cleanup_free char *git = path_join(s->layers, "git"), *dotgit = path_join(git, ".git");
	cleanup_free char *subs = path_join(s->layers, "submodules");
	const struct checkout_submodule_opts opts = {
		.cache_dir = c->cache,
		.super_url = c->o->repo,
		.cred = &c->cred,
		.uid = c->uid,
		.gid = c->gid,
		.recursive = strcmp(c->o->submodules, "recursive") == 0,
		.mirrors_inside = SUBMODULE_MIRRORS,
		.layers = subs,
		.fetch_timeout = c->fetch_timeout,
	};
	int r;

	if (mkdir(subs, 0755) < 0)
		return err_set(err, errno, "mkdir '%s'", subs);
	r = checkout_submodules(&opts, c->mirror, c->tree, dotgit, &s->subs, err);
	for (const char *d = git; r == 0 && c->uid != (uid_t) -1 && d; d = d == git ? subs : NULL) {
		int fd = open(d, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		r = fd < 0 ? err_set(err, errno, "open '%s'", d)
			   : chown_tree(fd, c->uid, c->gid, 0, err);
	}
	if (r < 0)
		return r;
	for (size_t i = 0; i < s->subs.n; i++) {
		cleanup_free char *at = path_join(dst, s->subs.v[i].path);
		char **lowers = NULL;
		strv_push(&lowers, s->subs.v[i].layer);
		for (size_t l = 0; l < s->subs.v[i].tree.n_layers; l++)
			strv_push(&lowers, s->subs.v[i].tree.layers[l]);
		add_overlay(spec, at, lowers, NULL);
	}
	for (size_t i = 0; s->subs.mirrors && s->subs.mirrors[i]; i++) {
		cleanup_free char *at = xasprintf(SUBMODULE_MIRRORS "/%zu", i);
		char **lowers = NULL;
		strv_push(&lowers, s->subs.mirrors[i]);
		add_overlay(spec, at, lowers, NULL);
	}
	return 0;
}

int exec_repo_prepare(const struct exec_repo *o, const char *state_dir, struct sandbox_spec *spec,
		      struct exec_repo_state **ret, struct err *err)
{
	struct exec_repo_state *s = xcalloc(1, sizeof(*s));
	CLEANUP(checkout_snapshot_release) struct checkout_snapshot snap = { 0 };
	cleanup_free char *cache = cli_checkout_cache_dir(state_dir);
	cleanup_free char *user = NULL, *uncommitted = NULL;
	CLEANUP(wipe_freep) char *token = NULL;
	CLEANUP(wipe_freep) char *pass = NULL;
	struct checkout c = { .o = o, .cache = cache, .url = o->repo };
	struct stat st;
	int r;

	s->layers_fd = s->mirror_fd = -1;
	c.fetch_timeout = CHECKOUT_FETCH_TIMEOUT_S;
	if (o->fetch_timeout) /* exec_repo_check() refused a bad one */
		(void) parse_timeout(o->fetch_timeout, &c.fetch_timeout);
	(void) exec_repo_gc(state_dir);
	sandbox_cache_owner(&c.uid, &c.gid);
	if (c.uid == geteuid() && c.gid == getegid())
		c.uid = (uid_t) -1, c.gid = (gid_t) -1; /* ourselves: no chown at all */
	r = read_credential(o, &user, &token, &pass, err);
	if (r == 0)
		r = make_layers(state_dir, c.uid, c.gid, s, err);
	c.cred = (struct checkout_cred){ .username = user,
					 .token = token,
					 .ssh_key = o->ssh_key,
					 .ssh_passphrase = pass,
					 .ssh_known_hosts = o->known_hosts };
	c.rev = o->commit ? o->commit : o->ref ? o->ref : "HEAD";
	c.want = o->commit;
	/* A local work tree without --ref or --commit: as it is now, uncommitted work too. */
	if (r == 0 && !o->ref && !o->commit && stat(o->repo, &st) == 0 && S_ISDIR(st.st_mode)) {
		uncommitted = path_join(s->layers, "uncommitted");
		r = checkout_snapshot(o->repo, uncommitted, c.uid, c.gid, &snap, err);
		if (r == -EINVAL && strstr(err->msg, "bare repository")) {
			err_clear(err);
			free(TAKE_PTR(uncommitted));
			r = 0;
		} else if (r == 0) {
			c.url = snap.git_dir;
			c.rev = c.want = snap.commit;
			c.snap_branch = snap.branch;
			c.snap = &snap;
		}
	}
	if (r == 0) {
		r = attempt(&c, s, 0, err);
		if (r == -EUCLEAN) {
			err_clear(err);
			r = attempt(&c, s, CHECKOUT_REBUILD, err);
		}
	}
	if (r == -ENOENT && uncommitted && c.mirror)
		(void) err_wrap(err, "HEAD of the work tree must be on a branch or tag");
	if (r == 0)
		add_to_spec(spec, &c, s, uncommitted, snap.deleted);
	if (r == 0 && o->submodules && strcmp(o->submodules, "none") != 0)
		r = add_submodules(spec, &c, s, err);
	free(c.mirror);
	free(c.branch);
	if (r < 0) {
		cleanup_free char *name = shown(o->repo);
		exec_repo_free(s);
		return err_wrap(err, "--repo '%s'", name);
	}
	*ret = s;
	return 0;
}

/* mirror.c - one bare mirror per remote: created aside and renamed into place on its first
 * complete fetch, then fetched in place under a flock, checked and rebuilt when a fetch
 * finds it damaged. Each fetch runs in a child process with a deadline (fetch-child.c).
 * A job holds the mirror it reads (a shared flock on the mirror's directory): a rebuild
 * moves the old one aside, and it is deleted once nobody holds it. Credentials travel
 * only through libgit2's callback. */
#include "checkout/checkout.h"

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

#include "checkout/dl.h"

#include "checkout/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/sha256.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define REFSPEC "+refs/*:refs/*"

DEFINE_CLEANUP(git_remote *, git_remote_free)
DEFINE_CLEANUP(git_object *, git_object_free)
DEFINE_CLEANUP(git_reference *, git_reference_free)
DEFINE_CLEANUP(git_reference_iterator *, git_reference_iterator_free)

struct fetch_ctx {
	const char *user, *password; /* borrowed; never copied, never shown */
	const char *shown;	     /* the URL for messages: no userinfo */
	bool local;		     /* libgit2's local transport */
	unsigned timeout_s;	     /* for the whole fetch; 0: none */
	struct checkout_ssh *ssh;    /* borrowed; NULL: not an ssh remote */
	unsigned given;		     /* credential types already offered */
	bool refused, missing, too_big;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	(void) clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

/* SECURITY: the token goes to libgit2, which sends it to the server it fetches from and
 * keeps it nowhere else. It is offered once per type: a refused token is not retried. */
static int cred_cb(git_credential **out, const char *url, const char *user_from_url,
		   unsigned int allowed, void *payload)
{
	struct fetch_ctx *c = payload;
	const char *user = c->user ? c->user : user_from_url;

	(void) url;
	if ((allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) && c->password) {
		if (c->given & GIT_CREDENTIAL_USERPASS_PLAINTEXT) {
			c->refused = true;
			return GIT_EAUTH;
		}
		c->given |= GIT_CREDENTIAL_USERPASS_PLAINTEXT;
		return git_credential_userpass_plaintext_new(out, user ? user : CHECKOUT_USERNAME,
							     c->password);
	}
	if (c->ssh && (allowed & (GIT_CREDENTIAL_SSH_KEY | GIT_CREDENTIAL_SSH_MEMORY)))
		return checkout_ssh_credential(c->ssh, out, user ? user : "git", allowed);
	if ((allowed & GIT_CREDENTIAL_USERNAME) && !(c->given & GIT_CREDENTIAL_USERNAME)) {
		c->given |= GIT_CREDENTIAL_USERNAME;
		return git_credential_username_new(out, user ? user : "git");
	}
	if (c->given)
		c->refused = true;
	else
		c->missing = true;
	return GIT_EAUTH;
}

/* SECURITY: the remote decides how much it sends; a bound keeps it from filling the disk. */
static int progress_cb(const git_indexer_progress *stats, void *payload)
{
	struct fetch_ctx *c = payload;

	if (stats->received_bytes > CHECKOUT_MAX_FETCH) {
		c->too_big = true;
		return -1;
	}
	return 0;
}

/* SECURITY: libgit2 1.5 accepts any ssh server unless this callback says no. */
static int cert_cb(git_cert *cert, int valid, const char *host, void *payload)
{
	struct fetch_ctx *c = payload;

	(void) valid;
	return c->ssh ? checkout_ssh_check_host(c->ssh, cert, host) : GIT_PASSTHROUGH;
}

static int fetch_err(struct fetch_ctx *c, int r, struct err *err)
{
	if (c->ssh && checkout_ssh_fetch_err(c->ssh, c->shown, err) < 0)
		return -err->code;
	if (c->missing)
		return err_set(err, EACCES,
			       "fetch '%s': the remote wants credentials and none "
			       "were given",
			       c->shown);
	if (c->refused || r == GIT_EAUTH)
		return err_set(err, EACCES,
			       "fetch '%s': authentication failed; check the token "
			       "and its access to the repository",
			       c->shown);
	if (c->too_big)
		return err_set(err, EFBIG, "fetch '%s': more than %llu GiB", c->shown,
			       CHECKOUT_MAX_FETCH >> 30);
	(void) checkout_git_err(err, r, "fetch '%s'", c->shown);
	/* libgit2 reports these with a class that does not say what happened (a connect()
	 * failure is GIT_ERROR_OS, errno long gone), only its words do. */
	if (strstr(err->msg, ": failed to connect to ") || strstr(err->msg, ": failed to resolve "))
		err->code = EHOSTUNREACH;
	else if (strstr(err->msg, "no such repository") || strstr(err->msg, "status code: 404") ||
		 strstr(err->msg, "could not find repository") ||
		 strstr(err->msg, "not appear to be a git repository"))
		err->code = ENOENT;
	return -err->code;
}

/* Point the mirror's HEAD at the remote's default branch, so "HEAD" resolves as a clone's
 * would. A remote without one (empty, or an old server) leaves HEAD as it was. */
static void follow_remote_head(git_repository *repo, git_remote *remote)
{
	CLEANUP(git_reference_freep) git_reference *head = NULL, *target = NULL;
	git_buf name = GIT_BUF_INIT;

	if (git_remote_default_branch(&name, remote) == 0 &&
	    git_reference_lookup(&target, repo, name.ptr) == 0)
		(void) git_reference_symbolic_create(&head, repo, "HEAD", name.ptr, 1, "mayfly");
	git_buf_dispose(&name);
	git_error_clear();
}

/* TODO(libgit2): its local transport (1.5 and master) fails a fetch when the fetching
 * repository has a ref to something other than a commit (a tag on a tree, as linux.git has:
 * "object is not a committish"; transports/local.c compares an error code with an error
 * class). Such refs are of no use to a checkout (checkout_resolve() wants commits), so a
 * mirror of a local repository drops them before each fetch, which brings them back. */
static int drop_non_commit_refs(git_repository *repo, struct err *err)
{
	CLEANUP(git_reference_iterator_freep) git_reference_iterator *it = NULL;
	git_reference *ref;
	int r;

	r = git_reference_iterator_new(&it, repo);
	if (r < 0)
		return checkout_git_err(err, r, "refs");
	while ((r = git_reference_next(&ref, it)) == 0) {
		CLEANUP(git_reference_freep) git_reference *owned = ref;
		CLEANUP(git_object_freep) git_object *obj = NULL;

		if (git_reference_type(owned) != GIT_REFERENCE_DIRECT)
			continue;
		if (git_reference_peel(&obj, owned, GIT_OBJECT_ANY) == 0 &&
		    git_object_type(obj) != GIT_OBJECT_COMMIT)
			(void) git_reference_delete(owned);
		git_error_clear();
	}
	if (r != GIT_ITEROVER)
		return checkout_git_err(err, r, "refs");
	git_error_clear();
	return 0;
}

/* The remote is made in memory for each fetch, from the URL the caller gave, and the
 * config's "origin" is only written for people and for workspaces: libgit2 1.5.1 leaks
 * memory on every config entry a named remote's url.*.insteadOf lookup does not match
 * (git_regexp_match, fixed upstream after 1.5), which a daemon would feel. */
static int set_origin(git_repository *repo, const char *url, struct err *err)
{
	git_config *cfg = NULL;
	git_buf old = GIT_BUF_INIT;
	int r;

	r = git_repository_config(&cfg, repo);
	if (r < 0)
		return checkout_git_err(err, r, "config");
	if (git_config_get_string_buf(&old, cfg, "remote.origin.url") < 0 ||
	    strcmp(old.ptr, url) != 0)
		r = git_config_set_string(cfg, "remote.origin.url", url);
	git_buf_dispose(&old);
	git_config_free(cfg);
	return r < 0 ? checkout_git_err(err, r, "config") : 0;
}

static int fetch(git_repository *repo, const char *url, struct fetch_ctx *c, struct err *err)
{
	CLEANUP(git_remote_freep) git_remote *remote = NULL;
	git_remote_create_options ropts;
	git_fetch_options opts;
	int r;

	git_error_clear();
	r = set_origin(repo, url, err);
	if (r < 0)
		return r;
	if (c->local) {
		r = drop_non_commit_refs(repo, err);
		if (r < 0)
			return r;
	}
	(void) git_remote_create_options_init(&ropts, GIT_REMOTE_CREATE_OPTIONS_VERSION);
	ropts.repository = repo;
	ropts.fetchspec = REFSPEC;
	ropts.flags = GIT_REMOTE_CREATE_SKIP_INSTEADOF | GIT_REMOTE_CREATE_SKIP_DEFAULT_FETCHSPEC;
	r = git_remote_create_with_opts(&remote, url, &ropts);
	if (r < 0)
		return checkout_git_err(err, r, "remote '%s'", c->shown);
	(void) git_fetch_options_init(&opts, GIT_FETCH_OPTIONS_VERSION);
	opts.callbacks.credentials = cred_cb;
	opts.callbacks.certificate_check = c->ssh ? cert_cb : NULL;
	checkout_ssh_begin(c->ssh);
	opts.callbacks.transfer_progress = progress_cb;
	opts.callbacks.payload = c;
	opts.prune = GIT_FETCH_PRUNE;
	opts.update_fetchhead = 0;
	opts.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE; /* the refspec has them all */
	opts.proxy_opts.type = GIT_PROXY_AUTO;
	r = git_remote_fetch(remote, NULL, &opts, "mayfly fetch");
	if (r < 0)
		return fetch_err(c, r, err);
	follow_remote_head(repo, remote);
	return 0;
}

struct fetch_job {
	const char *path, *url;
	struct fetch_ctx *c;
};

static int fetch_child(void *arg, struct err *err)
{
	struct fetch_job *j = arg;
	CLEANUP(checkout_repo_freep) git_repository *repo = NULL;
	int r = checkout_repo_open(j->path, &repo, err);

	return r < 0 ? r : fetch(repo, j->url, j->c, err);
}

/* Fetch into the repository at path, in a child process killed at the deadline. */
static int fetch_at(const char *path, const char *url, struct fetch_ctx *c, struct err *err)
{
	struct fetch_job j = { .path = path, .url = url, .c = c };

	return checkout_run_child(fetch_child, &j, c->timeout_s, c->shown, err);
}

/* What a fetch killed half way leaves in the mirror: libgit2's temporary pack and index
 * ("pack_git2_*", "*.lock" in objects/pack) and the lock files of the refs it was
 * updating (a "<ref>.lock" left makes every later update of that ref fail). Only a
 * fetch writes these, and fetches hold the mirror's flock, so with it held they are
 * leftovers. */
static void remove_lock_files(int dfd, const char *dir, bool packs, unsigned depth)
{
	CLEANUP(closedirp) DIR *d = NULL;
	struct dirent *de;

	if (depth > 32 || dir_open_at(dfd, dir, &d, &(struct err){ 0 }) < 0)
		return;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (str_endswith(de->d_name, ".lock") ||
		    (packs && str_startswith(de->d_name, "pack_git2_")))
			(void) unlinkat(dirfd(d), de->d_name, 0);
		else if (de->d_type == DT_DIR && !packs && depth > 0)
			remove_lock_files(dirfd(d), de->d_name, false, depth + 1);
	}
}

static void remove_fetch_leftovers(const char *mirror)
{
	cleanup_close int dfd = open(mirror, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0)
		return;
	remove_lock_files(dfd, ".", false, 0); /* HEAD.lock, packed-refs.lock, config.lock */
	remove_lock_files(dfd, "refs", false, 1);
	remove_lock_files(dfd, "objects/pack", true, 1);
}

/* Do the refs lead to readable commits and trees? What a pack deleted or overwritten
 * breaks first; a deeper fault shows when a tree is materialised (-EUCLEAN there). */
int checkout_mirror_verify(const char *mirror, struct err *err)
{
	CLEANUP(checkout_repo_freep) git_repository *repo = NULL;
	CLEANUP(git_reference_iterator_freep) git_reference_iterator *it = NULL;
	git_reference *ref;
	int r;

	r = checkout_repo_open(mirror, &repo, err);
	if (r < 0)
		return r;
	r = git_reference_iterator_new(&it, repo);
	if (r < 0)
		return checkout_git_err(err, r, "mirror '%s': refs", mirror);
	while ((r = git_reference_next(&ref, it)) == 0) {
		CLEANUP(git_reference_freep) git_reference *owned = ref;
		CLEANUP(git_object_freep) git_object *obj = NULL;
		CLEANUP(git_object_freep) git_object *tree = NULL;

		r = git_reference_peel(&obj, owned, GIT_OBJECT_ANY);
		if (r == 0 && git_object_type(obj) == GIT_OBJECT_COMMIT)
			r = git_object_peel(&tree, obj, GIT_OBJECT_TREE);
		if (r < 0 && r != GIT_EPEEL && git_reference_type(owned) == GIT_REFERENCE_DIRECT)
			return checkout_git_err(err, r, "mirror '%s': ref '%s'", mirror,
						git_reference_name(owned));
		git_error_clear();
	}
	if (r != GIT_ITEROVER)
		return checkout_git_err(err, r, "mirror '%s': refs", mirror);
	return 0;
}

/* Does the mirror have commit want (4 to 40 hex digits)? Any doubt is a no. */
static bool has_commit(const char *mirror, const char *want)
{
	CLEANUP(checkout_repo_freep) git_repository *repo = NULL;
	CLEANUP(git_object_freep) git_object *obj = NULL;
	struct err ignored = { 0 };
	size_t n = want ? strlen(want) : 0;
	git_oid oid;

	if (n < 4 || n > 40 || strspn(want, "0123456789abcdefABCDEF") != n)
		return false;
	if (access(mirror, F_OK) < 0 || checkout_repo_open(mirror, &repo, &ignored) < 0)
		return false;
	if (git_oid_fromstrn(&oid, want, n) < 0 ||
	    git_object_lookup_prefix(&obj, repo, &oid, n, GIT_OBJECT_COMMIT) < 0) {
		git_error_clear();
		return false;
	}
	return true;
}

static bool fetched_since(const char *mirror, uint64_t since)
{
	cleanup_free char *text = NULL;
	uint64_t t = 0;
	size_t len;
	int dfd = open(mirror, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cleanup_close int owned = dfd;

	if (dfd < 0 || read_file_at(dfd, FETCHED_MARK, 64, &text, &len, &(struct err){ 0 }) < 0)
		return false;
	text[strcspn(text, "\n")] = '\0';
	return safe_atou64(text, &t) == 0 && t >= since;
}

static int mark_fetched(const char *mirror, uint64_t start, struct err *err)
{
	cleanup_close int dfd = open(mirror, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char text[32];

	if (dfd < 0)
		return err_set(err, errno, "open '%s'", mirror);
	(void) snprintf(text, sizeof(text), "%llu\n", (unsigned long long) start);
	return write_file_atomic_at(dfd, FETCHED_MARK, text, strlen(text), 0644, 0, err);
}

/* Remove gdir/name, a mirror moved aside, unless a job holds it: 1 removed, 0 held. */
static int remove_unheld(int gdir, const char *name, struct err *err)
{
	cleanup_close int fd = openat(gdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int r;

	if (fd < 0)
		return errno == ENOENT ? 0 : err_set(err, errno, "open '%s'", name);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? 0 : err_set(err, errno, "lock '%s'", name);
	r = rm_rf_at(gdir, name, err);
	return r < 0 ? r : 1;
}

int checkout_mirror_sweep(int gdir, const char *hex, struct err *err)
{
	cleanup_free char *trash = xasprintf(".trash-%s", hex ? hex : "");
	CLEANUP(closedirp) DIR *d = NULL;
	struct dirent *de;
	int r = dir_open_at(gdir, ".", &d, err);
	int n = 0;

	if (r < 0)
		return r;
	while ((de = readdir(d))) {
		if (!str_startswith(de->d_name, trash))
			continue;
		r = remove_unheld(gdir, de->d_name, err);
		if (r < 0)
			return r;
		n += r;
	}
	return n;
}

/* With the lock held, every ".tmp-<hex>-*" is a dead caller's; a ".trash-<hex>-*" goes
 * when no job holds it any more. */
static int remove_leftovers(int gdir, const char *hex, struct err *err)
{
	cleanup_free char *tmp = xasprintf(".tmp-%s-", hex);
	CLEANUP(closedirp) DIR *d = NULL;
	struct dirent *de;
	int r = dir_open_at(gdir, ".", &d, err);

	if (r < 0)
		return r;
	while ((de = readdir(d)))
		if (str_startswith(de->d_name, tmp)) {
			r = rm_rf_at(gdir, de->d_name, err);
			if (r < 0)
				return r;
		}
	r = checkout_mirror_sweep(gdir, hex, err);
	return r < 0 ? r : 0;
}

static int init_mirror(const char *path, git_repository **ret, struct err *err)
{
	CLEANUP(checkout_repo_freep) git_repository *repo = NULL;
	git_repository_init_options o;
	git_config *cfg = NULL;
	int r;

	(void) git_repository_init_options_init(&o, GIT_REPOSITORY_INIT_OPTIONS_VERSION);
	o.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_NO_REINIT |
		  GIT_REPOSITORY_INIT_MKDIR;
	r = git_repository_init_ext(&repo, path, &o);
	if (r < 0)
		return checkout_git_err(err, r, "init '%s'", path);
	r = git_repository_config(&cfg, repo);
	if (r == 0) {
		/* For people running git here: a mirror, never to be gc'd behind our back. */
		r = git_config_set_string(cfg, "remote.origin.fetch", REFSPEC);
		if (r == 0)
			r = git_config_set_bool(cfg, "remote.origin.mirror", 1);
		if (r == 0)
			r = git_config_set_int32(cfg, "gc.auto", 0);
		git_config_free(cfg);
	}
	if (r < 0)
		return checkout_git_err(err, r, "init '%s': config", path);
	*ret = TAKE_PTR(repo);
	return 0;
}

/* First fetch into a fresh repository beside the mirror, then rename it into place. */
static int create_mirror(int gdir, const char *gitdir, const char *hex, const char *url,
			 struct fetch_ctx *c, struct err *err)
{
	CLEANUP(checkout_repo_freep) git_repository *repo = NULL;
	cleanup_free char *tmp = xasprintf(".tmp-%s-%d-%d", hex, (int) getpid(), (int) gettid());
	cleanup_free char *tmp_path = path_join(gitdir, tmp);
	cleanup_free char *name = xasprintf("%s.git", hex);
	struct err ignored = { 0 };
	uint64_t start = now_ns();
	int r;

	r = remove_leftovers(gdir, hex, err);
	if (r < 0)
		return err_wrap(err, "'%s'", gitdir);
	r = init_mirror(tmp_path, &repo, err);
	checkout_repo_freep(&repo); /* the fetch opens its own, in the child */
	repo = NULL;
	if (r == 0)
		r = fetch_at(tmp_path, url, c, err);
	if (r == 0)
		r = mark_fetched(tmp_path, start, err);
	if (r == 0 && renameat(gdir, tmp, gdir, name) < 0)
		r = err_set(err, errno, "rename '%s' to '%s'", tmp_path, name);
	if (r < 0)
		(void) rm_rf_at(gdir, tmp, &ignored);
	return r;
}

/* Move the mirror out of the way (atomically: no reader sees half of it), and delete it
 * unless a job still reads it (holds it): then the last holder's release, or the next
 * sweep, deletes it (checkout_mirror_release(), checkout_mirror_sweep()). */
static int discard_mirror(int gdir, const char *hex, struct err *err)
{
	cleanup_free char *name = xasprintf("%s.git", hex);
	cleanup_free char *trash =
		xasprintf(".trash-%s-%d-%d", hex, (int) getpid(), (int) gettid());
	int r;

	if (renameat(gdir, name, gdir, trash) < 0)
		return errno == ENOENT ? 0 : err_set(err, errno, "rename '%s'", name);
	r = remove_unheld(gdir, trash, err);
	return r < 0 ? r : 0;
}

static int update_mirror(const char *mirror, const char *url, struct fetch_ctx *c, struct err *err)
{
	uint64_t start = now_ns();
	int r;

	remove_fetch_leftovers(mirror); /* a killed fetch's, or a killed mayfly's */
	r = fetch_at(mirror, url, c, err);
	if (r < 0)
		remove_fetch_leftovers(mirror); /* killed at the deadline, or crashed */
	if (r == 0)
		r = mark_fetched(mirror, start, err);
	return r;
}

/* Under the lock: fetch, or create; a mirror found damaged is rebuilt once. */
static int refresh_locked(int gdir, const char *gitdir, const char *hex, const char *mirror,
			  const char *url, const char *want, unsigned flags, uint64_t called,
			  struct fetch_ctx *c, struct err *err)
{
	struct err why = { 0 };
	int r;

	if (flags & CHECKOUT_REBUILD) {
		r = discard_mirror(gdir, hex, err);
		if (r < 0)
			return r;
	}
	if (access(mirror, F_OK) < 0)
		return create_mirror(gdir, gitdir, hex, url, c, err);
	if (!(flags & CHECKOUT_REBUILD) &&
	    (has_commit(mirror, want) || fetched_since(mirror, called)))
		return 0; /* fetched by whoever held the lock before us */
	r = update_mirror(mirror, url, c, err);
	if (r == 0 || r == -EACCES || r == -EHOSTUNREACH || r == -EFBIG || r == -ETIMEDOUT)
		return r;
	if (checkout_mirror_verify(mirror, &why) == 0)
		return r; /* not the mirror's fault */
	*c = (struct fetch_ctx){ .user = c->user,
				 .password = c->password,
				 .shown = c->shown,
				 .local = c->local,
				 .timeout_s = c->timeout_s,
				 .ssh = c->ssh };
	r = discard_mirror(gdir, hex, err);
	if (r == 0)
		r = create_mirror(gdir, gitdir, hex, url, c, err);
	if (r < 0)
		return err_wrap(err, "mirror '%s' was corrupt (%s); rebuilding it", mirror,
				why.msg);
	return 0;
}

int checkout_mirror_path(const char *cache_dir, const char *url, char **ret, struct err *err)
{
	CLEANUP(checkout_url_release) struct checkout_url u = { 0 };
	uint8_t digest[SHA256_DIGEST_SIZE];
	char hex[SHA256_HEX_SIZE];
	int r = checkout_url_parse(url, &u, err);

	if (r < 0)
		return r;
	sha256(u.key, strlen(u.key), digest);
	sha256_to_hex(digest, hex);
	*ret = xasprintf("%s/git/%s.git", cache_dir, hex);
	return 0;
}

void checkout_mirror_touch(const char *mirror)
{
	size_t n = strlen(mirror);
	cleanup_free char *used = xasprintf("%.*s.lock", (int) (n > 4 ? n - 4 : n), mirror);

	/* The last use, for `mayfly cache ls`: the lock file's mtime, touched without taking
	 * the lock (a missing one stays missing). */
	(void) utimensat(AT_FDCWD, used, NULL, AT_SYMLINK_NOFOLLOW);
}

int checkout_mirror(const char *cache_dir, const char *url, const struct checkout_cred *cred,
		    const char *want, unsigned flags, char **ret_mirror, struct err *err)
{
	return checkout_mirror_timed(cache_dir, url, cred, want, flags, CHECKOUT_FETCH_TIMEOUT_S,
				     ret_mirror, err);
}

int checkout_mirror_timed(const char *cache_dir, const char *url, const struct checkout_cred *cred,
			  const char *want, unsigned flags, unsigned timeout_s, char **ret_mirror,
			  struct err *err)
{
	CLEANUP(checkout_url_release) struct checkout_url u = { 0 };
	CLEANUP(checkout_ssh_release) struct checkout_ssh ssh = { 0 };
	cleanup_free char *gitdir = path_join(cache_dir, "git");
	cleanup_free char *mirror = NULL, *lock = NULL;
	cleanup_close int gdir = -1, lfd = -1;
	uint8_t digest[SHA256_DIGEST_SIZE];
	char hex[SHA256_HEX_SIZE];
	uint64_t called = now_ns();
	struct fetch_ctx c = { 0 };
	int r;

	r = checkout_git_init(err);
	if (r < 0)
		return r;
	r = checkout_url_parse(url, &u, err);
	if (r < 0)
		return r;
	sha256(u.key, strlen(u.key), digest);
	sha256_to_hex(digest, hex);
	mirror = xasprintf("%s/%s.git", gitdir, hex);
	if (!(flags & CHECKOUT_REBUILD) &&
	    (((flags & CHECKOUT_NO_FETCH_IF_PRESENT) && access(mirror, F_OK) == 0) ||
	     has_commit(mirror, want))) {
		checkout_mirror_touch(mirror);
		*ret_mirror = TAKE_PTR(mirror);
		return 0;
	}
	c.user = cred && cred->token && !u.ssh ? cred->username : u.user;
	c.password = cred && cred->token && !u.ssh ? cred->token : u.password;
	c.shown = u.fetch;
	c.local = u.local;
	c.timeout_s = timeout_s;
	if (u.ssh) {
		r = checkout_ssh_init(&ssh, &u, cred, err);
		if (r < 0)
			return r;
		c.ssh = &ssh;
	}
	r = mkdir_p(gitdir, 0700, err);
	if (r == 0) {
		gdir = open(gitdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (gdir < 0)
			r = err_set(err, errno, "open '%s'", gitdir);
	}
	if (r == 0) {
		lock = xasprintf("%s.lock", hex);
		lfd = checkout_lock_at(gdir, lock, LOCK_EX);
		if (lfd < 0)
			r = err_set(err, -lfd, "lock '%s/%s'", gitdir, lock);
	}
	if (r == 0)
		r = refresh_locked(gdir, gitdir, hex, mirror, u.fetch, want, flags, called, &c,
				   err);
	if (r < 0)
		return r;
	(void) futimens(lfd, NULL);
	*ret_mirror = TAKE_PTR(mirror);
	return 0;
}

int checkout_mirror_hold(const char *mirror, int *ret_fd, struct err *err)
{
	cleanup_close int fd = open(mirror, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat held, now;

	if (fd < 0 && errno == ENOENT)
		return err_set(err, ESTALE, "mirror '%s' is gone (pruned or being rebuilt)",
			       mirror);
	if (fd < 0)
		return err_set(err, errno, "open '%s'", mirror);
	while (flock(fd, LOCK_SH) < 0)
		if (errno != EINTR)
			return err_set(err, errno, "lock '%s'", mirror);
	/* Moved aside (rebuilt) or pruned between open() and flock(): what we hold is no longer
	 * the mirror at that path, and a job must read the one it holds. */
	if (fstat(fd, &held) < 0)
		return err_set(err, errno, "stat '%s'", mirror);
	if (stat(mirror, &now) < 0 || now.st_dev != held.st_dev || now.st_ino != held.st_ino)
		return err_set(err, ESTALE, "mirror '%s' was replaced while it was being held",
			       mirror);
	checkout_mirror_touch(mirror);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int checkout_mirror_release(const char *mirror, int fd)
{
	const char *slash;
	struct stat held, now;
	bool moved;

	if (fd < 0 || !mirror)
		return safe_close(fd);
	slash = strrchr(mirror, '/');
	moved = fstat(fd, &held) == 0 &&
		(stat(mirror, &now) < 0 || now.st_dev != held.st_dev || now.st_ino != held.st_ino);
	(void) close(fd);
	checkout_mirror_touch(mirror); /* the last use is the end of the job */
	if (moved && slash && str_endswith(slash, ".git")) {
		cleanup_free char *gitdir = xstrndup(mirror, (size_t) (slash - mirror));
		cleanup_free char *hex = xstrndup(slash + 1, strlen(slash + 1) - 4);
		cleanup_close int gdir = open(gitdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		/* Rebuilt while we held it: the last holder deletes it (two holders letting go
		 * at once may both see the other: then the next sweep does). */
		if (gdir >= 0)
			(void) checkout_mirror_sweep(gdir, hex, &(struct err){ 0 });
	}
	return -1;
}

/* test-materialize.c - a tree in the cache is exactly what `git clone` checks out (modes,
 * symlinks, .gitattributes filters, odd names, submodules), whatever the umask; hostile
 * trees are refused without a byte written outside the cache; a failure leaves nothing
 * behind; racing builders make one tree. */
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <git2.h>

#include "checkout/checkout.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/path.h"
#include "util/xalloc.h"
#include "repo.h"
#include "test.h"

/* Everything a checkout has to get right, committed with real git. */
static char *make_rich_repo(void)
{
	char *src = repo_path("rich");

	CHECK_EQ(repo_sh("git init -q -b main '%s' && cd '%s' && mkdir -p dir/sub empty-not 'sp "
			 "ace' && "
			 "printf 'plain\\n' > README && printf 'lower\\n' > readme && "
			 "printf '#!/bin/sh\\necho hi\\n' > run.sh && chmod 755 run.sh && "
			 "printf 'a\\nb\\n' > win.bat && printf 'x\\r\\ny\\r\\n' > raw.dat && "
			 "printf '$Id$\\nbody\\n' > ident.txt && printf 'auto\\n' > auto.md && "
			 "printf '*.bat text eol=crlf\\n*.txt ident\\n*.md text=auto\\n"
			 "raw.dat -text\\n' > .gitattributes && "
			 "printf 'deep\\n' > dir/sub/file && printf 'sp\\n' > 'sp ace/f i l e' && "
			 "printf 'caf\\n' > \"$(printf 'caf\\303\\251')\" && : > empty && "
			 "printf 'nested attrs\\n' > dir/n.bat && printf '*.bat -text\\n' > "
			 "dir/.gitattributes && "
			 "head -c 3000000 /dev/zero | tr '\\\\0' 'z' > big && "
			 "ln -s README link && ln -s /etc/passwd abs-link && ln -s nowhere "
			 "dangling && "
			 "ln -s dir dirlink && rmdir empty-not && git add -A && "
			 "git update-index --add --cacheinfo 160000,"
			 "1111111111111111111111111111111111111111,submod && "
			 "git commit -qm rich",
			 src, src),
		 0);
	return src;
}

static void resolve_main(const char *cache, const char *src, char **mirror, char tree[41])
{
	char commit[41];
	struct err err = { 0 };

	CHECK_OK(checkout_mirror(cache, src, NULL, NULL, 0, mirror, &err));
	CHECK_OK(checkout_resolve(*mirror, "main", commit, tree, &err));
}

TEST(checkout_materialize_equals_git_clone)
{
	cleanup_free char *src = make_rich_repo(), *cache = repo_path("cache");
	cleanup_free char *clone = repo_path("clone"), *mirror = NULL, *dir = NULL;
	cleanup_free char *ours = NULL, *theirs = NULL, *again = NULL;
	struct err err = { 0 };
	char tree[41];
	int lock_fd = -1;

	(void) umask(022); /* what git clone is given: it honours the umask, we need not */
	resolve_main(cache, src, &mirror, tree);
	CHECK_OK(repo_materialize_dir(cache, mirror, tree, (uid_t) -1, (gid_t) -1, &dir, &lock_fd,
				      &err));
	CHECK(lock_fd >= 0);
	close(lock_fd);
	CHECK_EQ(repo_sh("git clone -q '%s' '%s'", src, clone), 0);
	ours = repo_listing(dir);
	theirs = repo_listing(clone);
	if (strcmp(ours, theirs) != 0)
		repo_show_diff(ours, theirs);
	CHECK_STR_EQ(ours, theirs);
	/* The filters did run: CRLF for *.bat, $Id$ expanded, raw.dat kept as committed. */
	cleanup_free char *bat = NULL;
	CHECK_EQ(repo_sh_out(&bat, "od -c '%s/win.bat' | head -1; grep -c 'Id: ' '%s/ident.txt'",
			     dir, dir),
		 0);
	CHECK_STR_CONTAINS(bat, "a  \\r  \\n   b  \\r  \\n");
	/* A second call finds it: same path, nothing rebuilt. */
	struct stat a, b;
	CHECK_OK(stat(dir, &a));
	CHECK_OK(repo_materialize_dir(cache, mirror, tree, (uid_t) -1, (gid_t) -1, &again, NULL,
				      &err));
	CHECK_STR_EQ(again, dir);
	CHECK_OK(stat(again, &b));
	CHECK_EQ(a.st_ino, b.st_ino);
}

TEST(checkout_materialize_sets_git_modes_whatever_the_umask)
{
	cleanup_free char *src = make_rich_repo(), *cache = repo_path("cache");
	cleanup_free char *mirror = NULL, *dir = NULL, *listing = NULL;
	struct err err = { 0 };
	char tree[41];

	resolve_main(cache, src, &mirror, tree);
	(void) umask(077);
	CHECK_OK(repo_materialize_dir(cache, mirror, tree, (uid_t) -1, (gid_t) -1, &dir, NULL,
				      &err));
	listing = repo_listing(dir);
	CHECK_STR_CONTAINS(listing, "f 0755 ");
	CHECK_STR_CONTAINS(listing, "d 0755 dir\n");
	CHECK_STR_CONTAINS(listing, "d 0755 submod\n");
	CHECK_STR_NOT_CONTAINS(listing, " 0700 ");
	CHECK_STR_NOT_CONTAINS(listing, " 0600 ");
}

/* A bare repository holding a blob and raw trees, written without libgit2's name checks
 * (git itself refuses to make most of these). */
static git_repository *raw_repo(const char *path)
{
	git_repository *repo = NULL;

	CHECK_EQ(git_libgit2_init() > 0, 1);
	CHECK_EQ(git_repository_init(&repo, path, 1), 0);
	return repo;
}

static void raw_blob(git_repository *repo, const char *data, git_oid *ret)
{
	git_odb *odb = NULL;

	CHECK_EQ(git_repository_odb(&odb, repo), 0);
	CHECK_EQ(git_odb_write(ret, odb, data, strlen(data), GIT_OBJECT_BLOB), 0);
	git_odb_free(odb);
}

/* entries: {mode, name, oid} in the order given, unchecked. */
struct raw_entry {
	const char *mode, *name;
	const git_oid *id;
};

static void raw_tree(git_repository *repo, const struct raw_entry *e, size_t n, git_oid *ret)
{
	char buf[4096];
	size_t len = 0;
	git_odb *odb = NULL;

	for (size_t i = 0; i < n; i++) {
		len += (size_t) snprintf(buf + len, sizeof(buf) - len, "%s %s", e[i].mode,
					 e[i].name);
		buf[len++] = '\0';
		memcpy(buf + len, e[i].id->id, 20);
		len += 20;
	}
	CHECK_EQ(git_repository_odb(&odb, repo), 0);
	CHECK_EQ(git_odb_write(ret, odb, buf, len, GIT_OBJECT_TREE), 0);
	git_odb_free(odb);
}

static void check_refused(const char *cache, const char *mirror, const git_oid *tree,
			  const char *msg)
{
	cleanup_free char *trees = path_join(cache, "trees"), *dir = NULL;
	struct err err = { 0 };
	char hex[41];

	git_oid_tostr(hex, sizeof(hex), tree);
	CHECK_EQ(repo_materialize_dir(cache, mirror, hex, (uid_t) -1, (gid_t) -1, &dir, NULL, &err),
		 -EINVAL);
	printf("# %s\n", err.msg);
	CHECK_STR_CONTAINS(err.msg, msg);
	CHECK(dir == NULL);
	CHECK_EQ(repo_count_entries(trees, hex), 0);
	CHECK_EQ(repo_count_entries(trees, ".tmp-"), 0);
}

TEST(checkout_materialize_refuses_hostile_trees)
{
	cleanup_free char *cache = repo_path("cache"), *bare = repo_path("hostile.git");
	cleanup_free char *outside = repo_path("outside"), *target = NULL;
	git_repository *repo = raw_repo(bare);
	git_oid blob, link, inner, t;

	CHECK_OK(mkdir(outside, 0755));
	raw_blob(repo, "pwned\n", &blob);
	target = xstrdup(outside);
	raw_blob(repo, target, &link);
	const struct raw_entry pwn[] = { { "100644", "pwned", &blob } };
	raw_tree(repo, pwn, 1, &inner);
	static const struct {
		const char *name, *msg;
	} names[] = {
		{ "..", "path '..': '.' or '..' leaves the tree" },
		{ ".git", "path '.git': '.git' inside the tree" },
		{ ".GiT", "'.git' inside the tree" },
		{ "a\\b", "backslash" },
		{ "a\x01z", "path 'a?z': control character" },
		{ "../../escape", "'/' inside a name" },
		{ "/abs", "'/' inside a name" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		const struct raw_entry e[] = { { "100644", "ok", &blob },
					       { "100644", names[i].name, &blob } };
		raw_tree(repo, e, 2, &t);
		check_refused(cache, bare, &t, names[i].msg);
		/* Deeper down, the message gives the whole path. */
		const struct raw_entry d[] = { { "40000", "sub", &t } };
		git_oid deep;
		raw_tree(repo, d, 1, &deep);
		check_refused(cache, bare, &deep, "path 'sub/");
	}
	/* A symlink, then a directory of the same name through which to write: refused as a
	 * duplicate, never followed. */
	const struct raw_entry sym[] = { { "120000", "a", &link }, { "40000", "a", &inner } };
	raw_tree(repo, sym, 2, &t);
	check_refused(cache, bare, &t, "path 'a': duplicate entry");
	const struct raw_entry sym2[] = { { "120000", "a", &link }, { "100644", "a", &blob } };
	raw_tree(repo, sym2, 2, &t);
	check_refused(cache, bare, &t, "duplicate entry");
	const struct raw_entry gm[] = { { "120000", ".gitmodules", &link } };
	raw_tree(repo, gm, 1, &t);
	check_refused(cache, bare, &t, "'.gitmodules' is a symlink");
	const struct raw_entry notblob[] = { { "100644", "f", &inner } };
	raw_tree(repo, notblob, 1, &t);
	check_refused(cache, bare, &t, "path 'f': a file whose object is not a blob");
	CHECK_EQ(repo_count_entries(outside, "pwned"), 0);
	/* A symlink pointing out of the tree is fine: it resolves inside the sandbox. */
	cleanup_free char *dir = NULL;
	char hex[41];
	struct err err = { 0 };
	const struct raw_entry out[] = { { "120000", "a", &link }, { "40000", "b", &inner } };
	raw_tree(repo, out, 2, &t);
	CHECK_OK(repo_materialize_dir(cache, bare, git_oid_tostr(hex, sizeof(hex), &t), (uid_t) -1,
				      (gid_t) -1, &dir, NULL, &err));
	CHECK_EQ(repo_count_entries(outside, "pwned"), 0);
	git_repository_free(repo);
	git_libgit2_shutdown();
}

TEST(checkout_materialize_failure_leaves_nothing)
{
	cleanup_free char *src = repo_path("loose"), *cache = repo_path("cache");
	cleanup_free char *trees = NULL, *dir = NULL, *victim = NULL, *tree = NULL;
	struct err err = { 0 };

	/* Loose objects, so that one blob can be deleted: the first file is written, the
	 * second is missing. */
	CHECK_EQ(repo_sh("git init -q -b main '%s' && cd '%s' && echo 1 > a && echo 2 > b && "
			 "echo 3 > c && git add . && git commit -qm x",
			 src, src),
		 0);
	victim = repo_line("cd '%s' && h=$(git rev-parse HEAD:b) && echo "
			   "\".git/objects/$(echo $h | cut -c1-2)/$(echo $h | cut -c3-)\"",
			   src);
	tree = repo_line("git -C '%s' rev-parse 'HEAD^{tree}'", src);
	CHECK_EQ(repo_sh("rm -f '%s/%s'", src, victim), 0);
	cleanup_free char *gitdir = path_join(src, ".git");
	int r = repo_materialize_dir(cache, gitdir, tree, (uid_t) -1, (gid_t) -1, &dir, NULL, &err);
	printf("# %s\n", err.msg);
	CHECK_EQ(r, -EUCLEAN);
	CHECK_STR_CONTAINS(err.msg, "path 'b': object ");
	CHECK_STR_CONTAINS(err.msg, "missing from the mirror");
	CHECK(dir == NULL);
	trees = path_join(cache, "trees");
	CHECK_EQ(repo_count_entries(trees, tree), 0); /* no tree, no lock file */
	CHECK_EQ(repo_count_entries(trees, ".tmp-"), 0);
}

TEST(checkout_materialize_racing_builders_make_one_tree)
{
	cleanup_free char *src = repo_path("src"), *cache = repo_path("cache");
	cleanup_free char *mirror = NULL, *trees = NULL;
	pid_t pids[4];
	char tree[41];

	repo_generate(src, 2000, 0, 0);
	resolve_main(cache, src, &mirror, tree);
	for (size_t i = 0; i < ARRAY_SIZE(pids); i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			cleanup_free char *dir = NULL;
			struct err e = { 0 };
			if (repo_materialize_dir(cache, mirror, tree, (uid_t) -1, (gid_t) -1, &dir,
						 NULL, &e) < 0) {
				printf("# child %zu: %s\n", i, e.msg);
				_exit(1);
			}
			_exit(0);
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(pids); i++) {
		int status;
		CHECK_EQ(waitpid(pids[i], &status, 0), pids[i]);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	trees = path_join(cache, "trees");
	CHECK_EQ(repo_count_entries(trees, ".tmp-"), 0);
	CHECK_EQ(repo_count_entries(trees, tree), 2); /* the tree and its lock file */
	cleanup_free char *dir = path_join(trees, tree), *clone = repo_path("clone");
	CHECK_EQ(repo_sh("git clone -q '%s' '%s'", src, clone), 0);
	cleanup_free char *ours = repo_listing(dir), *theirs = repo_listing(clone);
	CHECK_STR_EQ(ours, theirs);
}

TEST(checkout_materialize_refuses_bad_tree_ids)
{
	cleanup_free char *rich = make_rich_repo(), *cache = repo_path("cache"), *dir = NULL;
	cleanup_free char *src = path_join(rich, ".git");
	struct err err = { 0 };

	CHECK_EQ(repo_materialize_dir(cache, src, "../../etc", (uid_t) -1, (gid_t) -1, &dir, NULL,
				      &err),
		 -EINVAL);
	CHECK_EQ(repo_materialize_dir(cache, src, "ABCDEF0123456789ABCDEF0123456789ABCDEF01",
				      (uid_t) -1, (gid_t) -1, &dir, NULL, &err),
		 -EINVAL);
	CHECK_EQ(repo_materialize_dir(cache, src, "0123456789012345678901234567890123456789",
				      (uid_t) -1, (gid_t) -1, &dir, NULL, &err),
		 -ENOENT);
	printf("# %s\n", err.msg);
	CHECK(dir == NULL);
}

/* Every entry under dir (not following symlinks) owned by uid:gid; the first that is not
 * is printed. Returns how many entries were looked at. */
static size_t check_owned(const char *dir, uid_t uid, gid_t gid)
{
	cleanup_free char *out = NULL;

	CHECK_EQ(repo_sh_out(&out, "find '%s' ! \\( -uid %u -gid %u \\) -print | head -3", dir,
			     (unsigned) uid, (unsigned) gid),
		 0);
	CHECK_STR_EQ(out, "");
	cleanup_free char *n = repo_line("find '%s' | wc -l", dir);
	unsigned count = 0;
	CHECK_OK(safe_atou(n, &count));
	return count;
}

TEST(checkout_materialize_owned_gives_every_entry_to_the_owner)
{
	cleanup_free char *src = make_rich_repo(), *cache = repo_path("cache");
	cleanup_free char *mirror = NULL, *dir = NULL, *mine = NULL;
	const uid_t cache_id = 1073741823; /* SANDBOX_CACHE_UID: outside every host range */
	struct err err = { 0 };
	char tree[41], tree2[41], commit[41];

	/* Ourselves: (uid_t) -1 is the caller, rootless or not. */
	resolve_main(cache, src, &mirror, tree);
	CHECK_OK(repo_materialize_dir(cache, mirror, tree, (uid_t) -1, (gid_t) -1, &mine, NULL,
				      &err));
	CHECK(check_owned(mine, geteuid(), getegid()) > 20);
	/* Asked for another owner, a cached tree refuses rather than serve the wrong one. */
	int r = repo_materialize_dir(cache, mirror, tree, cache_id, cache_id, &dir, NULL, &err);
	printf("# %s\n", err.msg);
	CHECK_EQ(r, -EPERM);
	CHECK_STR_CONTAINS(err.msg, "is owned by");
	CHECK(dir == NULL);
	if (geteuid() != 0)
		test_skip("not root: cannot chown to the cache id (the rest needs CAP_CHOWN)");

	/* A fresh cache, owned by the dedicated id: files, dirs, symlinks and the root. */
	cleanup_free char *cache2 = repo_path("cache2"), *mirror2 = NULL;
	CHECK_OK(checkout_mirror(cache2, src, NULL, NULL, 0, &mirror2, &err));
	CHECK_OK(checkout_resolve(mirror2, "main", commit, tree, &err));
	CHECK_OK(repo_materialize_dir(cache2, mirror2, tree, cache_id, cache_id, &dir, NULL, &err));
	CHECK(check_owned(dir, cache_id, cache_id) > 20);
	cleanup_free char *clone = repo_path("clone");
	CHECK_EQ(repo_sh("git clone -q '%s' '%s'", src, clone), 0);
	cleanup_free char *ours = repo_listing(dir), *theirs = repo_listing(clone);
	CHECK_STR_EQ(ours, theirs); /* modes and contents untouched by chown */

	/* A new commit is a delta layer on the cache id's tree, and the cache id's too, its
	 * whiteouts included. */
	CLEANUP(checkout_tree_release) struct checkout_tree t2 = { 0 };
	CHECK_EQ(repo_sh("cd '%s' && echo changed > README && git rm -q link && "
			 "git commit -qam next",
			 src),
		 0);
	free(mirror2);
	CHECK_OK(checkout_mirror(cache2, src, NULL, NULL, 0, &mirror2, &err));
	CHECK_OK(checkout_resolve(mirror2, "main", commit, tree2, &err));
	CHECK_OK(checkout_materialize_owned(cache2, mirror2, tree2, cache_id, cache_id, &t2, &err));
	CHECK_EQ(t2.n_layers, 2);
	CHECK_STR_EQ(t2.layers[1], dir);
	/* Itself, README, and whiteouts for link and submod (commit -a drops a gitlink whose
	 * directory is missing). */
	CHECK_EQ(check_owned(t2.layers[0], cache_id, cache_id), 4);
	cleanup_free char *wh = path_join(t2.layers[0], "link");
	struct stat st;
	CHECK_OK(lstat(wh, &st));
	CHECK(S_ISCHR(st.st_mode) && st.st_rdev == 0);
	/* Not for another owner: a delta never lies on a tree that is not its owner's. */
	CHECK_EQ(repo_sh("cd '%s' && echo again > README && git commit -qam third", src), 0);
	free(mirror2);
	CHECK_OK(checkout_mirror(cache2, src, NULL, NULL, 0, &mirror2, &err));
	CHECK_OK(checkout_resolve(mirror2, "main", commit, tree2, &err));
	CLEANUP(checkout_tree_release) struct checkout_tree t3 = { 0 };
	CHECK_OK(checkout_materialize(cache2, mirror2, tree2, &t3, &err));
	CHECK_EQ(t3.n_layers, 1);
	CHECK(check_owned(t3.layers[0], geteuid(), getegid()) > 20);
}

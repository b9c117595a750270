/* test-workspace.c - the .git a job gets: real git finds it clean without reading a file
 * (`git diff-files` compares stat data only), its index is the one `git clone` makes, log,
 * describe and commit work, and no credential reaches its config. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkout/checkout.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/path.h"
#include "util/xalloc.h"
#include "repo.h"
#include "test.h"

struct ws {
	char *src, *cache, *mirror, *tree_dir, *dir, *git;
	char commit[41], tree[41];
};

static void ws_release(struct ws *w)
{
	free(w->src);
	free(w->cache);
	free(w->mirror);
	free(w->tree_dir);
	free(w->dir);
	free(w->git);
}

/* A repository with tags and filters, its mirror, main materialised, an empty workspace. */
static void ws_setup(struct ws *w, const char *branch)
{
	struct err err = { 0 };

	w->src = repo_path("src");
	w->cache = repo_path("cache");
	w->dir = repo_path("ws");
	CHECK_EQ(repo_sh("git init -q -b main '%s' && cd '%s' && mkdir d && echo 1 > d/a && "
			 "printf 'x\\ny\\n' > w.bat && echo '*.bat eol=crlf' > .gitattributes && "
			 "ln -s d/a l && printf '#!/bin/sh\\n' > x.sh && chmod +x x.sh && "
			 "git add . && git update-index --add --cacheinfo 160000,"
			 "1111111111111111111111111111111111111111,sub && "
			 "git commit -qm one && git tag -a -m v1 v1 && echo 2 > d/b && "
			 "git add . && git commit -qm two && git branch side HEAD~1",
			 w->src, w->src),
		 0);
	CHECK_OK(checkout_mirror(w->cache, w->src, NULL, NULL, 0, &w->mirror, &err));
	CHECK_OK(checkout_resolve(w->mirror, "main", w->commit, w->tree, &err));
	CHECK_OK(repo_materialize_dir(w->cache, w->mirror, w->tree, (uid_t) -1, (gid_t) -1,
				      &w->tree_dir, NULL, &err));
	CHECK_OK(mkdir(w->dir, 0755));
	const struct checkout_workspace spec = { .mirror = w->mirror,
						 .mirror_inside = w->mirror,
						 .commit = w->commit,
						 .branch = branch,
						 .tree_dir = w->tree_dir };
	CHECK_OK(checkout_workspace_git(&spec, w->dir, &err));
	w->git = xasprintf("git --git-dir='%s/.git' --work-tree='%s'", w->dir, w->tree_dir);
}

TEST(checkout_workspace_is_clean_without_reading_files)
{
	CLEANUP(ws_release) struct ws w = { 0 };
	cleanup_free char *ours = NULL, *theirs = NULL, *status = NULL, *clone = NULL;

	ws_setup(&w, NULL);
	/* diff-files trusts stat data and never hashes: anything it lists has stale stat. */
	CHECK_EQ(repo_sh_out(&status, "%s diff-files --name-only", w.git), 0);
	CHECK_STR_EQ(status, "");
	free(TAKE_PTR(status));
	CHECK_EQ(repo_sh_out(&status, "%s status --porcelain", w.git), 0);
	CHECK_STR_EQ(status, "");
	clone = repo_path("clone");
	CHECK_EQ(repo_sh("git clone -q '%s' '%s'", w.src, clone), 0);
	CHECK_EQ(repo_sh_out(&ours, "%s ls-files -s", w.git), 0);
	CHECK_EQ(repo_sh_out(&theirs, "git -C '%s' ls-files -s", clone), 0);
	CHECK_STR_EQ(ours, theirs);
	/* The cache-tree extension is there: `git write-tree` gives the tree at once. */
	cleanup_free char *tree = repo_line("%s write-tree", w.git);
	CHECK_STR_EQ(tree, w.tree);
}

TEST(checkout_workspace_log_describe_branches_and_commit_work)
{
	CLEANUP(ws_release) struct ws w = { 0 };
	cleanup_free char *head = NULL, *desc = NULL, *remote = NULL, *status = NULL;

	ws_setup(&w, NULL);
	head = repo_line("%s rev-parse HEAD", w.git);
	CHECK_STR_EQ(head, w.commit);
	CHECK_EQ(repo_sh_out(&status, "%s status", w.git), 0);
	CHECK_STR_CONTAINS(status, "HEAD detached at");
	desc = repo_line("%s describe --tags", w.git);
	CHECK(str_startswith(desc, "v1-1-g"));
	remote = repo_line("%s rev-parse origin/side", w.git);
	cleanup_free char *side = repo_line("git -C '%s' rev-parse side", w.src);
	CHECK_STR_EQ(remote, side);
	CHECK_EQ(repo_sh("%s log --oneline | grep -q two", w.git), 0);
	/* A commit lands in the workspace's own objects, never in the mirror. */
	CHECK_EQ(repo_sh("%s commit -q --allow-empty -m mine && %s log -1 --format=%%s | "
			 "grep -qx mine",
			 w.git, w.git),
		 0);
	cleanup_free char *mine = repo_line("%s rev-parse HEAD", w.git);
	CHECK_NE(repo_sh("git --git-dir='%s' cat-file -e %s 2>/dev/null", w.mirror, mine), 0);
}

TEST(checkout_workspace_on_a_branch)
{
	CLEANUP(ws_release) struct ws w = { 0 };
	cleanup_free char *status = NULL;

	ws_setup(&w, "main");
	CHECK_EQ(repo_sh_out(&status, "%s status", w.git), 0);
	CHECK_STR_CONTAINS(status, "On branch main");
	CHECK_STR_CONTAINS(status, "nothing to commit, working tree clean");
	CHECK_EQ(repo_sh("%s rev-parse --abbrev-ref main@{upstream} | grep -qx origin/main", w.git),
		 0);
}

TEST(checkout_workspace_config_never_carries_credentials)
{
	CLEANUP(ws_release) struct ws w = { 0 };
	cleanup_free char *cfg = NULL, *dir2 = repo_path("ws2"), *cfg_path = NULL;
	struct err err = { 0 };

	ws_setup(&w, NULL);
	cfg_path = xasprintf("%s/.git/config", w.dir);
	CHECK_EQ(repo_sh_out(&cfg, "cat '%s'", cfg_path), 0);
	CHECK_STR_CONTAINS(cfg, "checkStat = minimal");
	CHECK_STR_CONTAINS(cfg, "trustctime = false");
	CHECK_STR_CONTAINS(cfg, w.src);
	/* A mirror whose URL somehow has userinfo: the workspace leaves the URL out. */
	CHECK_EQ(repo_sh("git --git-dir='%s' config remote.origin.url "
			 "https://x-access-token:hunter2@example.com/r.git",
			 w.mirror),
		 0);
	CHECK_OK(mkdir(dir2, 0755));
	const struct checkout_workspace spec = { .mirror = w.mirror,
						 .mirror_inside = "/m",
						 .commit = w.commit,
						 .tree_dir = w.tree_dir };
	CHECK_OK(checkout_workspace_git(&spec, dir2, &err));
	free(cfg);
	cfg = NULL;
	CHECK_EQ(repo_sh_out(&cfg, "cat '%s'/.git/config '%s'/.git/objects/info/alternates", dir2,
			     dir2),
		 0);
	CHECK_STR_NOT_CONTAINS(cfg, "hunter2");
	CHECK_STR_NOT_CONTAINS(cfg, "[remote");
	CHECK_STR_CONTAINS(cfg, "/m/objects\n");
}

TEST(checkout_workspace_refuses_bad_arguments)
{
	CLEANUP(ws_release) struct ws w = { 0 };
	struct err err = { 0 };

	ws_setup(&w, NULL);
	struct checkout_workspace spec = { .mirror = w.mirror,
					   .mirror_inside = "/m",
					   .commit = w.commit,
					   .tree_dir = w.tree_dir };
	CHECK_EQ(checkout_workspace_git(&spec, w.dir, &err), -EEXIST); /* .git is there */
	cleanup_free char *d = repo_path("d");
	CHECK_OK(mkdir(d, 0755));
	spec.commit = "main";
	CHECK_EQ(checkout_workspace_git(&spec, d, &err), -EINVAL);
	spec.commit = w.commit;
	spec.branch = "bad..name";
	CHECK_EQ(checkout_workspace_git(&spec, d, &err), -EINVAL);
	spec.branch = NULL;
	spec.mirror_inside = "relative/m";
	CHECK_EQ(checkout_workspace_git(&spec, d, &err), -EINVAL);
	spec.mirror_inside = "/m";
	spec.commit = "0123456789012345678901234567890123456789";
	CHECK(checkout_workspace_git(&spec, d, &err) < 0);
	printf("# %s\n", err.msg);
	CHECK_EQ(repo_count_entries(d, ".git"), 0); /* nothing half made */
}

TEST(checkout_workspace_quotes_odd_branch_names_in_its_config)
{
	CLEANUP(ws_release) struct ws w = { 0 };
	cleanup_free char *status = NULL, *merge = NULL;

	ws_setup(&w, "we\"ird;#x");
	CHECK_EQ(repo_sh_out(&status, "%s status", w.git), 0);
	CHECK_STR_CONTAINS(status, "On branch we\"ird;#x");
	merge = repo_line("%s config 'branch.we\"ird;#x.merge'", w.git);
	CHECK_STR_EQ(merge, "refs/heads/we\"ird;#x");
}

/* A second workspace of w's commit (detached) in the new directory dir. */
static void another_workspace(const struct ws *w, const char *dir)
{
	const struct checkout_workspace spec = { .mirror = w->mirror,
						 .mirror_inside = w->mirror,
						 .commit = w->commit,
						 .tree_dir = w->tree_dir };
	struct err err = { 0 };

	CHECK_OK(mkdir(dir, 0755));
	CHECK_OK(checkout_workspace_git(&spec, dir, &err));
}

/* A cached tree's index is built once, next to it, and copied into each later workspace:
 * a cached commit costs the same whatever the repository's size. Prune takes it along. */
TEST(checkout_workspace_copies_the_cached_index_of_a_cached_tree)
{
	CLEANUP(ws_release) struct ws w = { 0 };
	cleanup_free char *second = repo_path("ws2"), *cached = NULL, *status = NULL;
	struct err err = { 0 };

	ws_setup(&w, NULL);
	cached = xasprintf("%s.index", w.tree_dir);
	CHECK_OK(access(cached, F_OK));
	another_workspace(&w, second);
	CHECK_EQ(repo_sh("cmp '%s' '%s/.git/index' && cmp '%s/.git/index' '%s/.git/index'", cached,
			 second, w.dir, second),
		 0);
	CHECK_EQ(repo_sh_out(&status,
			     "git --git-dir='%s/.git' --work-tree='%s' diff-files --name-only",
			     second, w.tree_dir),
		 0);
	CHECK_STR_EQ(status, "");
	CHECK_EQ(checkout_cache_prune(w.cache, 0, NULL, &err), 1);
	CHECK_EQ(access(cached, F_OK), -1);
}

TEST(checkout_rev_branch_names_branches_only)
{
	CLEANUP(ws_release) struct ws w = { 0 };
	const struct {
		const char *rev, *branch;
	} rows[] = {
		{ "main", "main" }, { "refs/heads/side", "side" },
		{ "HEAD", "main" }, { "v1", NULL },
		{ "nope", NULL },   { "refs/tags/v1", NULL },
	};

	ws_setup(&w, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		cleanup_free char *b = checkout_rev_branch(w.mirror, rows[i].rev);
		if (rows[i].branch)
			CHECK_STR_EQ(b, rows[i].branch);
		else
			CHECK(b == NULL);
	}
	cleanup_free char *by_id = checkout_rev_branch(w.mirror, w.commit);
	CHECK(by_id == NULL);
}

/* A known commit needs no libgit2: its tree id is remembered in the mirror, and its .git
 * kept as a template that a second workspace hard-links, identical to a fresh one. */
TEST(checkout_known_commit_and_its_workspace_come_from_plain_files)
{
	CLEANUP(ws_release) struct ws w = { 0 };
	cleanup_free char *mirror = NULL, *second = repo_path("ws2"), *fresh = NULL;
	struct err err = { 0 };
	char tree[41];

	ws_setup(&w, NULL);
	CHECK_EQ(checkout_lookup_cached(w.cache, w.src, "0123456789012345678901234567890123456789",
					&mirror, tree, &err),
		 -ENOENT);
	CHECK_EQ(checkout_lookup_cached(w.cache, w.src, "main", &mirror, tree, &err), -ENOENT);
	CHECK_OK(checkout_lookup_cached(w.cache, w.src, w.commit, &mirror, tree, &err));
	CHECK_STR_EQ(mirror, w.mirror);
	CHECK_STR_EQ(tree, w.tree);
	another_workspace(&w, second);
	/* Linked from the template the first workspace left, file for file. */
	CHECK_EQ(repo_sh("cd '%s/.git' && test $(stat -c %%h config) -ge 2 && cd '%s/.git' && "
			 "find . -type f | sort | xargs sha256sum > '%s.sums' && cd '%s/.git' && "
			 "find . -type f | sort | xargs sha256sum | diff - '%s.sums'",
			 second, w.dir, second, second, second),
		 0);
	cleanup_free char *status = NULL;
	CHECK_EQ(repo_sh_out(&status, "git --git-dir='%s/.git' --work-tree='%s' status --porcelain",
			     second, w.tree_dir),
		 0);
	CHECK_STR_EQ(status, "");
	/* A fetch changes the refs: the template of before is not used. */
	CHECK_EQ(repo_sh("cd '%s' && echo 3 > d/c && git add . && git commit -qm three", w.src), 0);
	free(mirror);
	mirror = NULL;
	CHECK_OK(checkout_mirror(w.cache, w.src, NULL, NULL, 0, &mirror, &err));
	fresh = repo_path("ws3");
	another_workspace(&w, fresh);
	CHECK_EQ(repo_sh("test $(stat -c %%h '%s/.git/packed-refs') -eq 2 && "
			 "grep -c refs/remotes/origin/main '%s/.git/packed-refs'",
			 fresh, fresh),
		 0);
	cleanup_free char *main_now = repo_line("git -C '%s' rev-parse main", w.src);
	cleanup_free char *refs = NULL;
	CHECK_EQ(repo_sh_out(&refs, "cat '%s/.git/packed-refs'", fresh), 0);
	CHECK_STR_CONTAINS(refs, main_now);
	/* Prune takes the templates along with their tree. */
	CHECK_EQ(checkout_cache_prune(w.cache, 0, NULL, &err), 1);
	cleanup_free char *templates = xasprintf("%s.ws", w.tree_dir);
	CHECK_EQ(access(templates, F_OK), -1);
}

/* The layers of t copied into dst as overlayfs would show them, times and modes kept. */
static void merge_layers(const struct checkout_tree *t, const char *dst)
{
	CHECK_EQ(repo_sh("mkdir '%s' && cp -a '%s/.' '%s'", dst, t->layers[t->n_layers - 1], dst),
		 0);
	for (size_t i = t->n_layers - 1; i-- > 0;)
		CHECK_EQ(
			repo_sh("cd '%s' && D='%s' && "
				"find . -type c | while read -r w; do rm -rf \"$D/$w\"; done && "
				"find . -mindepth 1 -type d | sort | while read -r d; do "
				"{ [ -L \"$D/$d\" ] || [ -e \"$D/$d\" -a ! -d \"$D/$d\" ]; } && "
				"rm -f \"$D/$d\"; mkdir -p \"$D/$d\"; done && "
				"find . ! -type d ! -type c | while read -r f; do rm -rf \"$D/$f\" "
				"&& cp -a \"$f\" \"$D/$f\" || exit 1; done",
				t->layers[i], dst),
			0);
}

/* A delta layer's index is its parent's (built first when missing) with the stat data of
 * the delta's own files: git finds the stacked layers clean without reading a file. */
TEST(checkout_workspace_index_of_a_delta_starts_from_its_parents)
{
	cleanup_free char *src = repo_path("src"), *cache = repo_path("cache"), *mirror = NULL;
	cleanup_free char *dir = repo_path("ws"), *merged = repo_path("merged"), *out = NULL;
	cleanup_free char *first = NULL, *git = NULL, *bat = NULL;
	CLEANUP(checkout_tree_release) struct checkout_tree t1 = { 0 }, t2 = { 0 };
	char commit[41], tree1[41], tree2[41];
	struct err err = { 0 };

	CHECK_EQ(repo_sh("git init -q -b main '%s' && cd '%s' && mkdir d && echo 1 > d/a && "
			 "echo 2 > d/b && printf 'x\\ny\\n' > w.bat && "
			 "echo '*.bat eol=crlf' > .gitattributes && ln -s d/a l && git add . && "
			 "git commit -qm one && printf 'p\\nq\\n' > w.bat && rm d/a && mkdir n && "
			 "echo 3 > n/f && chmod +x d/b && git add -A && git commit -qm two",
			 src, src),
		 0);
	CHECK_OK(checkout_mirror(cache, src, NULL, NULL, 0, &mirror, &err));
	first = repo_line("git -C '%s' rev-parse HEAD~1", src);
	CHECK_OK(checkout_resolve(mirror, first, commit, tree1, &err));
	CHECK_OK(checkout_resolve(mirror, "main", commit, tree2, &err));
	CHECK_OK(checkout_materialize(cache, mirror, tree1, &t1, &err));
	CHECK_OK(checkout_materialize(cache, mirror, tree2, &t2, &err));
	CHECK_EQ(t2.n_layers, 2);
	const struct checkout_workspace spec = { .mirror = mirror,
						 .mirror_inside = mirror,
						 .commit = commit,
						 .tree_dir = t2.layers[0] };
	CHECK_OK(mkdir(dir, 0755));
	CHECK_OK(checkout_workspace_git(&spec, dir, &err));
	cleanup_free char *i1 = xasprintf("%s.index", t1.layers[0]);
	cleanup_free char *i2 = xasprintf("%s.index", t2.layers[0]);
	CHECK_OK(access(i1, F_OK)); /* the parent's, built on the way */
	CHECK_OK(access(i2, F_OK));
	merge_layers(&t2, merged);
	git = xasprintf("git --git-dir='%s/.git' --work-tree='%s'", dir, merged);
	CHECK_EQ(repo_sh_out(&out, "%s diff-files --name-only", git), 0);
	CHECK_STR_EQ(out, "");
	free(out);
	out = NULL;
	CHECK_EQ(repo_sh_out(&out, "%s status --porcelain", git), 0);
	CHECK_STR_EQ(out, "");
	/* The delta's file went through the tree's filters. */
	cleanup_free char *wbat = path_join(merged, "w.bat");
	CHECK_EQ(repo_sh_out(&bat, "od -c '%s' | head -1", wbat), 0);
	CHECK_STR_CONTAINS(bat, "p  \\r  \\n   q  \\r  \\n");
}

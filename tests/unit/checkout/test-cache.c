/* test-cache.c - the tree cache across trees: a new tree near a cached one is a delta layer
 * on it holding only what changed, and the layers stacked are exactly `git checkout`
 * through every kind of change; chains are capped; crash leftovers never mislead; a
 * changed .gitattributes is never served from a base; prune goes by last use, never
 * removes a tree in use nor a parent before its delta. */
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "checkout/checkout.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "repo.h"
#include "test.h"

/* rev in git's syntax ("main~1"), which checkout_resolve() does not speak. */
static void resolve(const char *src, const char *mirror, const char *rev, char tree[41])
{
	cleanup_free char *id = repo_line("git -C '%s' rev-parse '%s'", src, rev);
	char commit[41];
	struct err err = { 0 };

	CHECK_OK(checkout_resolve(mirror, id, commit, tree, &err));
	CHECK_STR_EQ(commit, id);
}

static ino_t ino_of(const char *dir, const char *rel)
{
	cleanup_free char *p = path_join(dir, rel);
	struct stat st;

	CHECK_OK(lstat(p, &st));
	return st.st_ino;
}

static double materialize_ms(const char *cache, const char *mirror, const char *tree,
			     char **ret_dir)
{
	struct err err = { 0 };
	double t0 = repo_now_ms();

	CHECK_OK(repo_materialize_dir(cache, mirror, tree, (uid_t) -1, (gid_t) -1, ret_dir, NULL,
				      &err));
	return repo_now_ms() - t0;
}

/* The layers of tree, merged into a new dir as overlayfs merges them (a whiteout removes,
 * a non-directory replaces, a directory over a directory merges), with real files. */
static void merge_into(const char *layer, const char *dst)
{
	CHECK_EQ(repo_sh("cd '%s' && D='%s' && "
			 "find . -type c | while read -r w; do rm -rf \"$D/$w\"; done && "
			 "find . -mindepth 1 -type d | sort | while read -r d; do "
			 "{ [ -L \"$D/$d\" ] || [ -e \"$D/$d\" -a ! -d \"$D/$d\" ]; } && "
			 "rm -f \"$D/$d\"; mkdir -p \"$D/$d\"; done && "
			 "find . ! -type d ! -type c | while read -r f; do rm -rf \"$D/$f\" && "
			 "cp -a \"$f\" \"$D/$f\" || exit 1; done",
			 layer, dst),
		 0);
}

static char *merged_listing(const struct checkout_tree *t, const char *name)
{
	cleanup_free char *dst = repo_path(name);

	CHECK_OK(mkdir(dst, 0755));
	/* The complete tree at the bottom as it is, each delta on it in turn. */
	CHECK_EQ(repo_sh("cp -a '%s/.' '%s'", t->layers[t->n_layers - 1], dst), 0);
	for (size_t i = t->n_layers - 1; i-- > 0;)
		merge_into(t->layers[i], dst);
	return repo_listing(dst);
}

static size_t count_layer_entries(const char *layer)
{
	cleanup_free char *n = repo_line("find '%s' -mindepth 1 ! -type d | wc -l", layer);
	uint64_t v = 0;

	CHECK_OK(safe_atou64(n, &v));
	return (size_t) v;
}

TEST(checkout_delta_layer_holds_only_what_changed)
{
	cleanup_free char *src = repo_path("src"), *cache = repo_path("cache");
	cleanup_free char *cold = repo_path("cold"), *mirror = NULL, *clone = repo_path("clone");
	cleanup_free char *dir_a = NULL, *dir_b_cold = NULL;
	CLEANUP(checkout_tree_release) struct checkout_tree b = { 0 };
	char tree_a[41], tree_b[41];
	struct err err = { 0 };

	repo_generate(src, 5000, 1, 10);
	CHECK_OK(checkout_mirror(cache, src, NULL, NULL, 0, &mirror, &err));
	resolve(src, mirror, "main~1", tree_a);
	resolve(src, mirror, "main", tree_b);
	double full_a = materialize_ms(cache, mirror, tree_a, &dir_a);
	double t0 = repo_now_ms();
	CHECK_OK(checkout_materialize(cache, mirror, tree_b, &b, &err));
	double inc_b = repo_now_ms() - t0;
	double full_b = materialize_ms(cold, mirror, tree_b, &dir_b_cold);
	printf("# 5,000 files: from scratch %.1f ms and %.1f ms, a 10-file change %.1f ms "
	       "(%.1f%%)\n",
	       full_a, full_b, inc_b, 100.0 * inc_b / full_b);
	/* A delta on the complete tree a, holding the 10 changed files and nothing else. */
	CHECK_EQ(b.n_layers, 2);
	CHECK_STR_EQ(b.layers[1], dir_a);
	CHECK_EQ(count_layer_entries(b.layers[0]), 10);
	cleanup_free char *rec = xasprintf("%s.parent", b.layers[0]), *text = NULL;
	cleanup_free char *want = xasprintf("%s\n", tree_a);
	CHECK_EQ(repo_sh_out(&text, "cat '%s'", rec), 0);
	CHECK_STR_EQ(text, want);
	/* Stacked, it is exactly the checkout, as the cold cache's complete tree is. */
	CHECK_EQ(repo_sh("git clone -q '%s' '%s'", src, clone), 0);
	cleanup_free char *ours = merged_listing(&b, "merged"), *theirs = repo_listing(clone);
	cleanup_free char *cold_listing = repo_listing(dir_b_cold);
	CHECK_STR_EQ(ours, theirs);
	CHECK_STR_EQ(cold_listing, theirs);
}

/* Commit after commit, every kind of change git knows, each tree a delta on the one
 * before; each, stacked, is what `git checkout` of its commit gives. */
TEST(checkout_delta_chain_equals_git_checkout_through_every_kind_of_change)
{
	cleanup_free char *src = repo_path("src"), *cache = repo_path("cache"), *mirror = NULL;
	cleanup_free char *wt = repo_path("wt");
	struct err err = { 0 };
	static const char *const steps[] = { REPO_EVERY_CHANGE };
	char trees[ARRAY_SIZE(steps)][41];

	CHECK_EQ(repo_sh("git init -q -b main '%s'", src), 0);
	for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
		CLEANUP(checkout_tree_release) struct checkout_tree t = { 0 };
		cleanup_free char *name = xasprintf("merged%zu", i), *ours = NULL, *theirs = NULL;
		cleanup_free char *commit = NULL;
		CHECK_EQ(repo_sh("cd '%s' && { %s; } && git add -A && git commit -qm 'step %zu'",
				 src, steps[i], i),
			 0);
		commit = repo_line("git -C '%s' rev-parse HEAD", src);
		free(mirror);
		mirror = NULL;
		CHECK_OK(checkout_mirror(cache, src, NULL, NULL, 0, &mirror, &err));
		resolve(src, mirror, "main", trees[i]);
		CHECK_OK(checkout_materialize(cache, mirror, trees[i], &t, &err));
		CHECK_EQ(t.n_layers, i + 1); /* each a delta on the one before */
		CHECK_EQ(repo_sh("rm -rf '%s' && git -C '%s' worktree prune && "
				 "git -C '%s' worktree add -q --detach '%s' %s",
				 wt, src, src, wt, commit),
			 0);
		ours = merged_listing(&t, name);
		theirs = repo_listing(wt);
		if (strcmp(ours, theirs) != 0)
			repo_show_diff(ours, theirs);
		CHECK_STR_EQ(ours, theirs);
	}
	/* Whiteouts are character devices 0/0 at the paths gone (step 1: a/g and gone). */
	cleanup_free char *layer1 = xasprintf("%s/trees/%s", cache, trees[1]);
	const char *gone[] = { "a/g", "gone" };
	for (size_t i = 0; i < ARRAY_SIZE(gone); i++) {
		cleanup_free char *p = path_join(layer1, gone[i]);
		struct stat st;
		CHECK_OK(lstat(p, &st));
		CHECK(S_ISCHR(st.st_mode));
		CHECK_EQ(major(st.st_rdev), 0);
		CHECK_EQ(minor(st.st_rdev), 0);
	}
}

TEST(checkout_delta_chain_is_capped_then_a_complete_tree_follows)
{
	cleanup_free char *src = repo_path("src"), *cache = repo_path("cache"), *mirror = NULL;
	struct err err = { 0 };
	size_t n = 11;

	repo_generate(src, 200, (unsigned) n - 1, 3);
	CHECK_OK(checkout_mirror(cache, src, NULL, NULL, 0, &mirror, &err));
	for (size_t i = 0; i < n; i++) {
		CLEANUP(checkout_tree_release) struct checkout_tree t = { 0 };
		cleanup_free char *rev = xasprintf("main~%zu", n - 1 - i);
		char tree[41];
		resolve(src, mirror, rev, tree);
		CHECK_OK(checkout_materialize(cache, mirror, tree, &t, &err));
		/* 8 deltas at most on a complete tree; the 10th starts over. */
		CHECK_EQ(t.n_layers, i < 9 ? i + 1 : i - 8);
		for (size_t k = 0; k < t.n_layers; k++)
			CHECK(t.lock_fds[k] >= 0);
	}
}

TEST(checkout_delta_crash_leftovers_never_mislead)
{
	cleanup_free char *src = repo_path("src"), *cache = repo_path("cache"), *mirror = NULL;
	cleanup_free char *trees = path_join(cache, "trees"), *rec = NULL, *listing = NULL;
	cleanup_free char *clone = repo_path("clone"), *theirs = NULL;
	struct err err = { 0 };
	char tree_a[41], tree_b[41];

	repo_generate(src, 100, 1, 5);
	CHECK_OK(checkout_mirror(cache, src, NULL, NULL, 0, &mirror, &err));
	resolve(src, mirror, "main~1", tree_a);
	resolve(src, mirror, "main", tree_b);
	CHECK_OK(mkdir(trees, 0700));
	/* A delta builder died after its record, before its rename: b's record, no b. The
	 * first tree (no base) is complete all the same, its stale record gone. */
	rec = xasprintf("%s/%s.parent", trees, tree_b);
	CHECK_EQ(repo_sh("printf '%s\\n' > '%s'", tree_a, rec), 0);
	{
		CLEANUP(checkout_tree_release) struct checkout_tree t = { 0 };
		CHECK_OK(checkout_materialize(cache, mirror, tree_b, &t, &err));
		CHECK_EQ(t.n_layers, 1);
		CHECK(access(rec, F_OK) < 0);
		CHECK_EQ(repo_sh("git clone -q '%s' '%s'", src, clone), 0);
		listing = repo_listing(t.layers[0]);
		theirs = repo_listing(clone);
		CHECK_STR_EQ(listing, theirs);
	}
	/* A record left by prune (a's layer gone first) and a dead builder's temporary
	 * layer: prune clears both, and a is built afresh. */
	cleanup_free char *rec_a = xasprintf("%s/%s.parent", trees, tree_a);
	cleanup_free char *stale = xasprintf("%s/.tmp-%s-2147483632-1", trees, tree_a);
	CHECK_EQ(repo_sh("printf '%s\\n' > '%s'", tree_b, rec_a), 0);
	CHECK_OK(mkdir(stale, 0755));
	CHECK_OK(checkout_cache_prune(cache, UINT64_MAX, NULL, &err));
	CHECK(access(rec_a, F_OK) < 0);
	CHECK(access(stale, F_OK) < 0);
	CLEANUP(checkout_tree_release) struct checkout_tree a = { 0 };
	CHECK_OK(checkout_materialize(cache, mirror, tree_a, &a, &err));
	CHECK_EQ(a.n_layers, 2); /* a delta on b now */
	/* A damaged record (by hand: nothing of ours writes one) of a tree in use is refused,
	 * naming what to remove; once nobody holds it, the tree is built afresh. */
	CHECK_EQ(repo_sh("echo garbage > '%s'", rec_a), 0);
	CLEANUP(checkout_tree_release) struct checkout_tree again = { 0 };
	CHECK_EQ(checkout_materialize(cache, mirror, tree_a, &again, &err), -EUCLEAN);
	CHECK_STR_CONTAINS(err.msg, ".parent");
	checkout_tree_release(&a);
	CHECK_OK(checkout_materialize(cache, mirror, tree_a, &again, &err));
	CHECK_EQ(again.n_layers, 2);
	cleanup_free char *healed = NULL, *want = xasprintf("%s\n", tree_b);
	CHECK_EQ(repo_sh_out(&healed, "cat '%s'", rec_a), 0);
	CHECK_STR_EQ(healed, want);
	/* So is a delta whose parent vanished (by hand: prune never does that). */
	checkout_tree_release(&again);
	cleanup_free char *layer_b = xasprintf("%s/%s", trees, tree_b);
	CHECK_EQ(repo_sh("rm -rf '%s'", layer_b), 0);
	CHECK_OK(checkout_materialize(cache, mirror, tree_a, &again, &err));
	CHECK_EQ(again.n_layers, 1);
	CHECK(access(rec_a, F_OK) < 0);
}

TEST(checkout_incremental_tree_rewrites_files_whose_attributes_changed)
{
	cleanup_free char *src = repo_path("src"), *cache = repo_path("cache");
	cleanup_free char *mirror = NULL, *dir_a = NULL, *dir_b = NULL, *clone = repo_path("clone");
	char tree_a[41], tree_b[41];
	struct err err = { 0 };

	CHECK_EQ(repo_sh("git init -q -b main '%s' && cd '%s' && printf 'a\\nb\\n' > x.txt && "
			 "printf 'same\\n' > y && git add . && git commit -qm 1 && "
			 "echo '*.txt eol=crlf' > .gitattributes && git add . && git commit -qm 2",
			 src, src),
		 0);
	CHECK_OK(checkout_mirror(cache, src, NULL, NULL, 0, &mirror, &err));
	resolve(src, mirror, "main~1", tree_a);
	resolve(src, mirror, "main", tree_b);
	CHECK_OK(repo_materialize_dir(cache, mirror, tree_a, (uid_t) -1, (gid_t) -1, &dir_a, NULL,
				      &err));
	CHECK_OK(repo_materialize_dir(cache, mirror, tree_b, (uid_t) -1, (gid_t) -1, &dir_b, NULL,
				      &err));
	/* x.txt has the same blob in both, but checks out differently now. */
	CHECK_EQ(repo_sh("git clone -q '%s' '%s'", src, clone), 0);
	cleanup_free char *ours = repo_listing(dir_b), *theirs = repo_listing(clone);
	CHECK_STR_EQ(ours, theirs);
	CHECK_NE(ino_of(dir_a, "x.txt"), ino_of(dir_b, "x.txt"));
}

static void set_last_use(const char *cache, const char *tree, time_t when)
{
	cleanup_free char *lock = xasprintf("%s/trees/%s.lock", cache, tree);
	struct timespec t[2] = { { .tv_sec = when }, { .tv_sec = when } };

	CHECK_OK(utimensat(AT_FDCWD, lock, t, 0));
}

TEST(checkout_prune_removes_least_recently_used_trees_not_in_use)
{
	cleanup_free char *src = repo_path("src"), *cache = repo_path("cache"), *mirror = NULL;
	cleanup_free char *trees = path_join(cache, "trees");
	CLEANUP(checkout_tree_release) struct checkout_tree held = { 0 };
	char ids[4][41];
	const char *revs[] = { "main~3", "main~2", "main~1", "main" };
	struct err err = { 0 };
	uint64_t freed = 0;

	/* Each a delta on the one before: 0 <- 1 <- 2 <- 3. */
	repo_generate(src, 300, 3, 100);
	CHECK_OK(checkout_mirror(cache, src, NULL, NULL, 0, &mirror, &err));
	for (size_t i = 0; i < 4; i++) {
		CLEANUP(checkout_tree_release) struct checkout_tree t = { 0 };
		resolve(src, mirror, revs[i], ids[i]);
		CHECK_OK(checkout_materialize(cache, mirror, ids[i], &t, &err));
		CHECK_EQ(t.n_layers, i + 1);
		set_last_use(cache, ids[i], 1000000 + (time_t) i);
	}
	/* A sandbox uses 1, so holds 1 and 0. */
	CHECK_OK(checkout_materialize(cache, mirror, ids[1], &held, &err));
	CHECK_EQ(held.n_layers, 2);
	set_last_use(cache, ids[0], 1000000);
	set_last_use(cache, ids[1], 1000001);
	/* A crashed builder's leftover (pid 0x7ffffff0 is never alive) goes too. */
	cleanup_free char *stale = xasprintf("%s/.tmp-%s-2147483632-1", trees, ids[0]);
	CHECK_OK(mkdir(stale, 0755));
	/* Oldest first, but 0 and 1 are held, and 2 has 3 on it: 3 goes, then 2. */
	CHECK_EQ(checkout_cache_prune(cache, 0, &freed, &err), 2);
	printf("# freed %llu bytes\n", (unsigned long long) freed);
	CHECK(freed > 0);
	CHECK_EQ(repo_count_entries(trees, ids[0]), 2);
	CHECK_EQ(repo_count_entries(trees, ids[1]), 3); /* dir, lock, record */
	CHECK_EQ(repo_count_entries(trees, ids[2]), 0);
	CHECK_EQ(repo_count_entries(trees, ids[3]), 0);
	CHECK(access(stale, F_OK) < 0);
	/* Released, they can go, the delta before its parent; what is left still
	 * materialises (rebuilt from scratch). */
	checkout_tree_release(&held);
	CHECK_EQ(checkout_cache_prune(cache, 0, &freed, &err), 2);
	CHECK_EQ(repo_count_entries(trees, "."), 3); /* ".", "..", ".bases" */
	CLEANUP(checkout_tree_release) struct checkout_tree again = { 0 };
	CHECK_OK(checkout_materialize(cache, mirror, ids[2], &again, &err));
	CHECK_EQ(again.n_layers, 1);
	cleanup_free char *none = repo_path("none");
	CHECK_EQ(checkout_cache_prune(none, 0, NULL, &err), 0);
}

TEST(checkout_prune_never_removes_a_parent_before_its_delta)
{
	cleanup_free char *src = repo_path("src"), *cache = repo_path("cache"), *mirror = NULL;
	cleanup_free char *trees = path_join(cache, "trees");
	struct err err = { 0 };
	char a[41], b[41];

	repo_generate(src, 100, 1, 5);
	CHECK_OK(checkout_mirror(cache, src, NULL, NULL, 0, &mirror, &err));
	resolve(src, mirror, "main~1", a);
	resolve(src, mirror, "main", b);
	{
		CLEANUP(checkout_tree_release) struct checkout_tree ta = { 0 }, tb = { 0 };
		CHECK_OK(checkout_materialize(cache, mirror, a, &ta, &err));
		CHECK_OK(checkout_materialize(cache, mirror, b, &tb, &err));
		CHECK_EQ(tb.n_layers, 2);
	}
	/* The parent looks older than its delta... and newer: either way the delta first. */
	set_last_use(cache, a, 2000000);
	set_last_use(cache, b, 1000000);
	CHECK_EQ(checkout_cache_prune(cache, 0, NULL, &err), 2);
	CHECK_EQ(repo_count_entries(trees, a), 0);
	CHECK_EQ(repo_count_entries(trees, b), 0);
}

TEST(checkout_prune_waits_for_nobody)
{
	cleanup_free char *src = repo_path("src"), *cache = repo_path("cache"), *mirror = NULL;
	cleanup_free char *dir = NULL;
	struct err err = { 0 };
	char tree[41];
	int fd = -1;

	repo_generate(src, 50, 0, 0);
	CHECK_OK(checkout_mirror(cache, src, NULL, NULL, 0, &mirror, &err));
	resolve(src, mirror, "main", tree);
	CHECK_OK(
		repo_materialize_dir(cache, mirror, tree, (uid_t) -1, (gid_t) -1, &dir, &fd, &err));
	double t0 = repo_now_ms();
	CHECK_EQ(checkout_cache_prune(cache, 0, NULL, &err), 0);
	CHECK(repo_now_ms() - t0 < 1000);
	CHECK_OK(access(dir, F_OK));
	close(fd);
}

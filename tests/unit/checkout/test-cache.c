/* test-cache.c - the tree cache across trees: a new tree hard-links what it shares with the
 * nearest cached one and is still exactly `git checkout`; a changed .gitattributes is never
 * served from a base; prune goes by last use and never removes a tree in use. */
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkout/checkout.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/path.h"
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

	CHECK_OK(checkout_materialize(cache, mirror, tree, ret_dir, NULL, &err));
	return repo_now_ms() - t0;
}

TEST(checkout_incremental_tree_links_unchanged_files)
{
	cleanup_free char *src = repo_path("src"), *cache = repo_path("cache");
	cleanup_free char *cold = repo_path("cold"), *mirror = NULL, *clone = repo_path("clone");
	cleanup_free char *dir_a = NULL, *dir_b = NULL, *dir_b_cold = NULL, *changed = NULL;
	char tree_a[41], tree_b[41];
	struct err err = { 0 };
	size_t nchanged = 0;

	repo_generate(src, 5000, 1, 10);
	CHECK_OK(checkout_mirror(cache, src, NULL, NULL, 0, &mirror, &err));
	resolve(src, mirror, "main~1", tree_a);
	resolve(src, mirror, "main", tree_b);
	double full_a = materialize_ms(cache, mirror, tree_a, &dir_a);
	double inc_b = materialize_ms(cache, mirror, tree_b, &dir_b);
	double full_b = materialize_ms(cold, mirror, tree_b, &dir_b_cold);
	printf("# 5,000 files: from scratch %.1f ms and %.1f ms, a 10-file change %.1f ms "
	       "(%.1f%%)\n",
	       full_a, full_b, inc_b, 100.0 * inc_b / full_b);
	CHECK(inc_b < full_b);
	/* Every file but the 10 changed ones is the base's inode. */
	CHECK_EQ(repo_sh_out(&changed, "git -C '%s' diff --name-only main~1 main", src), 0);
	cleanup_free char *all = NULL;
	CHECK_EQ(repo_sh_out(&all, "git -C '%s' ls-tree -r --name-only main", src), 0);
	size_t linked = 0;
	for (char *p = all; *p;) {
		size_t n = strcspn(p, "\n");
		char rel[512];
		(void) snprintf(rel, sizeof(rel), "%.*s", (int) n, p);
		char needle[520];
		(void) snprintf(needle, sizeof(needle), "%s\n", rel);
		if (strstr(changed, needle)) {
			CHECK_NE(ino_of(dir_a, rel), ino_of(dir_b, rel));
			nchanged++;
		} else {
			CHECK_EQ(ino_of(dir_a, rel), ino_of(dir_b, rel));
			linked++;
		}
		p += n + (p[n] ? 1 : 0);
	}
	CHECK_EQ(nchanged, 10);
	CHECK_EQ(linked, 4990);
	/* And it is still exactly the checkout. */
	CHECK_EQ(repo_sh("git clone -q '%s' '%s'", src, clone), 0);
	cleanup_free char *ours = repo_listing(dir_b), *theirs = repo_listing(clone);
	cleanup_free char *cold_listing = repo_listing(dir_b_cold);
	CHECK_STR_EQ(ours, theirs);
	CHECK_STR_EQ(cold_listing, theirs);
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
	CHECK_OK(checkout_materialize(cache, mirror, tree_a, &dir_a, NULL, &err));
	CHECK_OK(checkout_materialize(cache, mirror, tree_b, &dir_b, NULL, &err));
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
	char ids[4][41];
	const char *revs[] = { "main~3", "main~2", "main~1", "main" };
	cleanup_close int held = -1;
	struct err err = { 0 };
	uint64_t freed = 0;

	repo_generate(src, 300, 3, 100);
	CHECK_OK(checkout_mirror(cache, src, NULL, NULL, 0, &mirror, &err));
	for (size_t i = 0; i < 4; i++) {
		cleanup_free char *dir = NULL;
		int fd = -1;
		resolve(src, mirror, revs[i], ids[i]);
		CHECK_OK(checkout_materialize(cache, mirror, ids[i], &dir, &fd, &err));
		if (i == 0)
			held = fd; /* the oldest is in use by a sandbox */
		else
			close(fd);
		set_last_use(cache, ids[i], 1000000 + (time_t) i);
	}
	/* A crashed builder's leftover (pid 0x7ffffff0 is never alive) goes too. */
	cleanup_free char *stale = xasprintf("%s/.tmp-%s-2147483632-1", trees, ids[0]);
	CHECK_OK(mkdir(stale, 0755));
	/* Room for the first and the last: the oldest is held, so the second and third go
	 * (du counts a hard-linked inode once, as prune does). */
	cleanup_free char *kb = repo_line("du -sck '%s/%s' '%s/%s' | tail -1 | cut -f1", trees,
					  ids[0], trees, ids[3]);
	uint64_t budget = 0;
	CHECK_OK(safe_atou64(kb, &budget));
	budget = budget * 1024 + 64 * 1024;
	CHECK_EQ(checkout_cache_prune(cache, budget, &freed, &err), 2);
	printf("# freed %llu bytes\n", (unsigned long long) freed);
	CHECK(freed > 0);
	CHECK_EQ(repo_count_entries(trees, ids[0]), 2);
	CHECK_EQ(repo_count_entries(trees, ids[1]), 0);
	CHECK_EQ(repo_count_entries(trees, ids[2]), 0);
	CHECK_EQ(repo_count_entries(trees, ids[3]), 2);
	CHECK(access(stale, F_OK) < 0);
	/* Released, it can go; what is left still materialises (rebuilt from a base). */
	close(TAKE_FD(held));
	CHECK_EQ(checkout_cache_prune(cache, 0, &freed, &err), 2);
	CHECK_EQ(repo_count_entries(trees, "."), 3); /* ".", "..", ".bases" */
	cleanup_free char *dir = NULL;
	CHECK_OK(checkout_materialize(cache, mirror, ids[2], &dir, NULL, &err));
	cleanup_free char *none = repo_path("none");
	CHECK_EQ(checkout_cache_prune(none, 0, NULL, &err), 0);
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
	CHECK_OK(checkout_materialize(cache, mirror, tree, &dir, &fd, &err));
	double t0 = repo_now_ms();
	CHECK_EQ(checkout_cache_prune(cache, 0, NULL, &err), 0);
	CHECK(repo_now_ms() - t0 < 1000);
	CHECK_OK(access(dir, F_OK));
	close(fd);
}

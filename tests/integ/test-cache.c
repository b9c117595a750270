/* test-cache.c - `mayfly cache ls|prune` with the real binary over a cache the library
 * filled: mirrors with their remote, sizes and whether a job holds them, trees with their
 * last use and whether a sandbox holds them; prune fits both in one budget, trees first,
 * least recently used first, drops what nobody used for --older-than, and never touches
 * what is in use or being fetched. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkout/checkout.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/xalloc.h"
#include "../unit/checkout/repo.h"
#include "run.h"
#include "test.h"

static void mayfly_cache(struct run_result *res, const char *a, const char *b, const char *c)
{
	char *argv[] = { (char *) mayfly_bin(),
			 "--state-dir",
			 (char *) test_state_dir(),
			 "cache",
			 (char *) a,
			 (char *) b,
			 (char *) c,
			 NULL };

	run_argv(argv, NULL, 120, res);
	if (res->status != 0)
		printf("# exit %d\n# stdout: %s\n# stderr: %s\n", res->status, res->out, res->err);
}

/* Materialise rev of src in the state dir's cache; *ret_lock_fd, when not NULL, keeps the
 * tree in use. */
static void materialize(const char *src, const char *rev, char tree[41],
			struct checkout_tree *ret_held)
{
	cleanup_free char *cache = path_join(test_state_dir(), "checkout");
	cleanup_free char *mirror = NULL, *dir = NULL;
	cleanup_free char *id = repo_line("git -C '%s' rev-parse '%s'", src, rev);
	struct err err = { 0 };
	char commit[41];

	CHECK_OK(checkout_mirror(cache, src, NULL, NULL, 0, &mirror, &err));
	CHECK_OK(checkout_resolve(mirror, id, commit, tree, &err));
	if (ret_held)
		CHECK_OK(checkout_materialize(cache, mirror, tree, ret_held, &err));
	else
		CHECK_OK(repo_materialize_dir(cache, mirror, tree, (uid_t) -1, (gid_t) -1, &dir,
					      NULL, &err));
}

TEST(cache_ls_on_an_empty_state_dir)
{
	struct run_result res;

	mayfly_cache(&res, "ls", NULL, NULL);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "0 mirrors");
	CHECK_STR_CONTAINS(res.out, "0 trees (0 in use)");
	run_result_free(&res);
	mayfly_cache(&res, "ls", "--json", NULL);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "\"mirrors\":[]");
	CHECK_STR_CONTAINS(res.out, "\"trees\":[]");
	run_result_free(&res);
}

TEST(cache_ls_and_prune_never_touch_a_tree_in_use)
{
	cleanup_free char *src = repo_path("src");
	CLEANUP(checkout_tree_release) struct checkout_tree held = { 0 };
	char old[41], busy[41], recent[41];
	struct run_result res;

	repo_generate(src, 300, 2, 10); /* main~2, main~1, main */
	materialize(src, "main~2", old, NULL);
	sleep(1); /* lock mtimes: whole seconds on some file systems */
	materialize(src, "main~1", busy, &held);
	sleep(1);
	materialize(src, "main", recent, NULL);

	mayfly_cache(&res, "ls", NULL, NULL);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, src); /* the remote */
	CHECK_STR_CONTAINS(res.out, "1 mirror (0 in use),");
	/* Each a delta layer on the one before; using busy holds old too. */
	CHECK_STR_CONTAINS(res.out, "3 trees (2 in use)");
	CHECK_STR_CONTAINS(res.out, old);
	cleanup_free char *on_old = xasprintf("%s (delta 1 on %.12s)", busy, old);
	CHECK_STR_CONTAINS(res.out, on_old);
	/* Least recently used first: the order prune goes in. */
	CHECK(strstr(res.out, old) < strstr(res.out, busy));
	CHECK(strstr(res.out, busy) < strstr(res.out, recent));
	run_result_free(&res);

	mayfly_cache(&res, "ls", "--json", NULL);
	CHECK_EQ(res.status, 0);
	cleanup_free char *in_use = xasprintf("\"id\":\"%s\",", busy);
	CHECK_STR_CONTAINS(res.out, in_use);
	CHECK_STR_CONTAINS(res.out, "\"in_use\":true");
	CHECK_STR_CONTAINS(res.out, "\"trees_in_use\":2");
	cleanup_free char *parent = xasprintf("\"parent\":\"%s\"", old);
	CHECK_STR_CONTAINS(res.out, parent);
	run_result_free(&res);

	/* Everything that can go: the tree nobody holds, and the mirror (a tree in use does not
	 * need its mirror). */
	mayfly_cache(&res, "prune", "--max-size", "0");
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "removed 1 tree and 1 mirror");
	CHECK_STR_CONTAINS(res.out, "left: 2 trees (2 in use), 0 mirrors (0 in use)");
	CHECK_STR_CONTAINS(res.out, "over budget");
	run_result_free(&res);
	cleanup_free char *trees = path_join(test_state_dir(), "checkout/trees");
	CHECK_EQ(repo_count_entries(trees, recent), 0);
	cleanup_free char *kept = path_join(trees, busy), *kept_parent = path_join(trees, old);
	CHECK_OK(access(kept, F_OK));
	CHECK_OK(access(kept_parent, F_OK));

	/* Released, they go too, the delta first. */
	checkout_tree_release(&held);
	mayfly_cache(&res, "prune", "--max-size=0", "--json");
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "\"removed\":2,\"removed_mirrors\":0");
	CHECK_STR_CONTAINS(res.out, "\"trees\":0");
	run_result_free(&res);
	mayfly_cache(&res, "ls", NULL, NULL);
	CHECK_STR_CONTAINS(res.out, "0 mirrors");
	CHECK_STR_CONTAINS(res.out, "0 trees");
	run_result_free(&res);
}

TEST(cache_refuses_bad_arguments)
{
	struct run_result res;

	mayfly_cache(&res, "frob", NULL, NULL);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "unknown argument 'frob'");
	run_result_free(&res);
	mayfly_cache(&res, "prune", "--max-size", "lots");
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "size 'lots'");
	run_result_free(&res);
	mayfly_cache(&res, "prune", "--older-than", "soon");
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "--older-than: duration 'soon'");
	run_result_free(&res);
	mayfly_cache(&res, "ls", "--older-than", "1d");
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "--older-than is for 'prune'");
	run_result_free(&res);
	mayfly_cache(&res, "--help", NULL, NULL);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "mayfly cache prune");
	run_result_free(&res);
}

static char *cache_dir(void)
{
	return path_join(test_state_dir(), "checkout");
}

/* A repository of its own and its mirror in the state dir's cache. */
static char *make_mirror(const char *name, unsigned files)
{
	cleanup_free char *src = repo_path(name), *cache = cache_dir();
	char *mirror = NULL;
	struct err err = { 0 };

	repo_generate(src, files, 0, 0);
	CHECK_OK(checkout_mirror(cache, src, NULL, NULL, 0, &mirror, &err));
	return mirror;
}

/* Set a mirror's last use (the mtime of its lock file) to days ago. */
static void used_days_ago(const char *mirror, int days)
{
	size_t n = strlen(mirror);
	cleanup_free char *lock = xasprintf("%.*s.lock", (int) n - 4, mirror);
	struct timespec t[2];

	CHECK_OK(clock_gettime(CLOCK_REALTIME, &t[0]));
	t[0].tv_sec -= (time_t) days * 86400;
	t[1] = t[0];
	CHECK_OK(utimensat(AT_FDCWD, lock, t, 0));
}

static uint64_t mirror_bytes(const char *mirror)
{
	CLEANUP(checkout_cache_info_release) struct checkout_cache_info c = { 0 };
	cleanup_free char *cache = cache_dir();
	struct err err = { 0 };

	CHECK_OK(checkout_cache_list(cache, &c, &err));
	for (size_t i = 0; i < c.n_mirrors; i++)
		if (strcmp(c.mirrors[i].path, mirror) == 0)
			return c.mirrors[i].bytes;
	CHECK(!"mirror listed");
	return 0;
}

/* Mirrors go least recently used first, within the budget; --older-than drops the unused. */
TEST(cache_prune_removes_least_recently_used_mirrors)
{
	cleanup_free char *a = make_mirror("a", 50), *b = make_mirror("b", 60);
	cleanup_free char *c = make_mirror("c", 70);
	char budget[32];
	struct run_result res;

	used_days_ago(a, 40);
	used_days_ago(b, 20);
	used_days_ago(c, 1);
	mayfly_cache(&res, "ls", "--json", NULL);
	CHECK_STR_CONTAINS(res.out, "\"mirrors_in_use\":0");
	run_result_free(&res);
	/* Older than 30 days: a only. */
	mayfly_cache(&res, "prune", "--older-than", "30d");
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "removed 0 trees and 1 mirror");
	run_result_free(&res);
	CHECK(access(a, F_OK) < 0 && errno == ENOENT);
	CHECK_OK(access(b, F_OK));
	/* A budget c fits in (and b does not): b goes, the older one. */
	(void) snprintf(budget, sizeof(budget), "%llu",
			(unsigned long long) (mirror_bytes(c) + mirror_bytes(b) / 2));
	mayfly_cache(&res, "prune", "--max-size", budget);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "removed 0 trees and 1 mirror");
	CHECK_STR_CONTAINS(res.out, "left: 0 trees (0 in use), 1 mirror (0 in use)");
	run_result_free(&res);
	CHECK(access(b, F_OK) < 0 && errno == ENOENT);
	CHECK_OK(access(c, F_OK));
	/* A mirror pruned is fetched afresh by its next use. */
	cleanup_free char *src = repo_path("a"), *cache = cache_dir(), *again = NULL;
	struct err err = { 0 };
	CHECK_OK(checkout_mirror(cache, src, NULL, NULL, 0, &again, &err));
	CHECK_STR_EQ(again, a);
	cleanup_free char *gitdir = path_join(cache, "git");
	CHECK_EQ(repo_count_entries(gitdir, ".trash-"), 0);
}

/* Never a mirror a job holds or a fetch is writing; trees go before mirrors. */
TEST(cache_prune_never_touches_a_mirror_in_use)
{
	cleanup_free char *held_m = make_mirror("held", 50), *busy = make_mirror("busy", 50);
	cleanup_free char *src = repo_path("held"), *cache = cache_dir();
	cleanup_free char *gitdir = path_join(cache, "git");
	cleanup_free char *busy_lock = xasprintf("%.*s.lock", (int) strlen(busy) - 4, busy);
	cleanup_close int hold = -1, fetching = -1;
	struct err err = { 0 };
	struct run_result res;
	char tree[41];

	CHECK_OK(checkout_mirror_hold(held_m, &hold, &err));
	fetching = open(busy_lock, O_RDWR | O_CLOEXEC);
	CHECK(fetching >= 0);
	CHECK_OK(flock(fetching, LOCK_EX));
	mayfly_cache(&res, "ls", NULL, NULL);
	CHECK_STR_CONTAINS(res.out, "2 mirrors (2 in use)");
	run_result_free(&res);
	mayfly_cache(&res, "ls", "--json", NULL);
	CHECK_STR_CONTAINS(res.out, "\"in_use\":true");
	CHECK_STR_CONTAINS(res.out, "\"mirrors_in_use\":2");
	run_result_free(&res);
	mayfly_cache(&res, "prune", "--max-size", "0");
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "removed 0 trees and 0 mirrors");
	CHECK_STR_CONTAINS(res.out, "over budget");
	run_result_free(&res);
	CHECK_OK(access(held_m, F_OK));
	CHECK_OK(access(busy, F_OK));

	/* Rebuilt while held: moved aside, kept, listed nowhere as a mirror; prune deletes it
	 * once the job lets go. */
	cleanup_free char *m2 = NULL;
	CHECK_OK(checkout_mirror(cache, src, NULL, NULL, CHECKOUT_REBUILD, &m2, &err));
	CHECK_EQ(repo_count_entries(gitdir, ".trash-"), 1);
	mayfly_cache(&res, "prune", "--max-size", "20G");
	CHECK_EQ(repo_count_entries(gitdir, ".trash-"), 1);
	run_result_free(&res);
	(void) flock(hold, LOCK_UN); /* the job is gone (killed: no release of its own) */
	mayfly_cache(&res, "prune", "--max-size", "20G");
	CHECK_EQ(res.status, 0);
	run_result_free(&res);
	CHECK_EQ(repo_count_entries(gitdir, ".trash-"), 0);

	/* With a tree and mirrors over budget, the tree goes first. */
	materialize(src, "main", tree, NULL);
	cleanup_free char *tree_dir = xasprintf("%s/trees/%s", cache, tree);
	(void) snprintf(tree, sizeof(tree), "%llu",
			(unsigned long long) (mirror_bytes(busy) + mirror_bytes(held_m)));
	fetching = safe_close(TAKE_FD(fetching));
	mayfly_cache(&res, "prune", "--max-size", tree);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "removed 1 tree and 0 mirrors");
	run_result_free(&res);
	CHECK(access(tree_dir, F_OK) < 0 && errno == ENOENT);
	CHECK_OK(access(busy, F_OK));
}

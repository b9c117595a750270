/* test-cache.c - `mayfly cache ls|prune` with the real binary over a cache the library
 * filled: mirrors with their remote and sizes, trees with their last use and whether a
 * sandbox holds them; prune frees least recently used trees and never one in use. */
#include <errno.h>
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

/* The tree's top layer as a plain dir (checkout_materialize() gives its layers); its lock
 * kept in *ret_lock_fd when not NULL, else let go. */
static int materialize_dir(const char *cache, const char *mirror, const char *tree, uid_t uid,
			   gid_t gid, char **ret_dir, int *ret_lock_fd, struct err *err)
{
	struct checkout_tree t = { 0 };
	int r = checkout_materialize_owned(cache, mirror, tree, uid, gid, &t, err);

	if (r < 0)
		return r;
	*ret_dir = xstrdup(t.layers[0]);
	if (ret_lock_fd) {
		*ret_lock_fd = t.lock_fds[0];
		t.lock_fds[0] = -1;
	}
	checkout_tree_release(&t);
	return 0;
}

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
		CHECK_OK(materialize_dir(cache, mirror, tree, (uid_t) -1, (gid_t) -1, &dir, NULL,
					 &err));
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
	CHECK_STR_CONTAINS(res.out, "1 mirror,");
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

	/* Everything that can go: the tree nobody holds. */
	mayfly_cache(&res, "prune", "--max-size", "0");
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "removed 1 tree,");
	CHECK_STR_CONTAINS(res.out, "2 left (2 in use)");
	CHECK_STR_CONTAINS(res.out, "over budget");
	run_result_free(&res);
	cleanup_free char *trees = path_join(test_state_dir(), "checkout/trees");
	CHECK_EQ(repo_count_entries(trees, recent), 0);
	cleanup_free char *kept = path_join(trees, busy), *kept_parent = path_join(trees, old);
	CHECK_OK(access(kept, F_OK));
	CHECK_OK(access(kept_parent, F_OK));

	/* Released, they go too, the delta first; the mirror stays. */
	checkout_tree_release(&held);
	mayfly_cache(&res, "prune", "--max-size=0", "--json");
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "\"removed\":2");
	CHECK_STR_CONTAINS(res.out, "\"trees\":0");
	run_result_free(&res);
	mayfly_cache(&res, "ls", NULL, NULL);
	CHECK_STR_CONTAINS(res.out, "1 mirror,");
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
	mayfly_cache(&res, "--help", NULL, NULL);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "mayfly cache prune");
	run_result_free(&res);
}

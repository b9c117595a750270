/* test-exec-repo-content.c - `mayfly exec --repo` with content that stresses the tree
 * writer rather than git: names that differ only in case, names that are not ASCII or not
 * UTF-8 at all, the longest name and a deep directory, an empty repository, and a file
 * over the 1 GiB limit, which is refused with nothing left behind while the rest of the
 * mirror keeps serving. Runs as root (idmapped caches) and as a plain user. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/path.h"
#include "util/xalloc.h"
#include "../unit/checkout/repo.h"
#include "run.h"
#include "test.h"

/* The committed tree of main: these tests are about the tree writer, not the snapshot of
 * a work tree (libgit2's status stops at 100 directory levels). */
static void exec_in_repo(const char *src, const char *script, struct run_result *res)
{
	run_sandbox_sh((const char *[]){ "--repo", src, "--ref", "main", NULL }, script, res);
	if (res->status != 0)
		printf("# exit %d\n# stdout: %s\n# stderr: %s\n", res->status, res->out, res->err);
}

TEST(exec_repo_keeps_names_that_differ_only_in_case_apart)
{
	cleanup_free char *src = repo_path("case");
	struct run_result res;

	CHECK_EQ(repo_sh("git init -q -b main '%s' && cd '%s' && echo upper > README && "
			 "echo lower > readme && mkdir Dir dir && echo A > Dir/f && echo a > "
			 "dir/f && git add -A && git commit -qm case",
			 src, src),
		 0);
	exec_in_repo(src,
		     "cat README readme Dir/f dir/f; ls | wc -l; git status --porcelain; "
		     "echo clean",
		     &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, "upper\nlower\nA\na\n4\nclean\n");
	run_result_free(&res);
}

TEST(exec_repo_checks_out_odd_but_valid_names)
{
	cleanup_free char *src = repo_path("odd");
	struct run_result res;
	char longname[256];

	memset(longname, 'n', 255);
	longname[255] = '\0';
	/* 200 directory levels, a 255-byte name, spaces, UTF-8, a byte that is no UTF-8,
	 * and names that look like options or globs. */
	CHECK_EQ(repo_sh("git init -q -b main '%s' && cd '%s' && d=$(printf 'd/%%.0s' "
			 "$(seq 200)) && mkdir -p \"$d\" && echo deep > \"${d}leaf\" && echo "
			 "long > %s && echo sp > 'a b' && echo u > 'ünïcødé' && echo x > "
			 "\"$(printf 'raw\\377')\" && echo o > ./-rf && echo g > '*' && "
			 "git add -A && git commit -qm odd",
			 src, src, longname),
		 0);
	cleanup_free char *script =
		xasprintf("cat \"$(printf 'd/%%.0s' $(seq 200))leaf\" %s 'a b' 'ünïcødé' "
			  "\"$(printf 'raw\\377')\" ./-rf '*'; git status --porcelain; echo clean",
			  longname);
	exec_in_repo(src, script, &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, "deep\nlong\nsp\nu\nx\no\ng\nclean\n");
	run_result_free(&res);
}

TEST(exec_repo_refuses_an_empty_repository_clearly)
{
	cleanup_free char *src = repo_path("empty");
	struct run_result res;

	CHECK_EQ(repo_sh("git init -q -b main '%s'", src), 0);
	/* As a work tree, and as a remote asked for a branch. */
	run_sandbox_sh((const char *[]){ "--repo", src, NULL }, "true", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "has no commit yet: commit once first");
	run_result_free(&res);
	exec_in_repo(src, "true", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "--repo '");
	CHECK_STR_CONTAINS(res.err, "main");
	run_result_free(&res);
}

/* libgit2 reads a blob whole: past 1 GiB mayfly refuses the tree before loading it. The
 * file is sparse and compresses to ~1 MB, so the test costs time, not disk. */
TEST(exec_repo_refuses_a_file_over_1_gib_and_keeps_serving_the_rest)
{
	cleanup_free char *src = repo_path("huge");
	cleanup_free char *trees = xasprintf("%s/checkout/trees", test_state_dir());
	cleanup_free char *tmp = xasprintf("%s/tmp", test_state_dir());
	struct run_result res;

	CHECK_EQ(repo_sh("git init -q -b main '%s' && cd '%s' && echo small > small && git add "
			 "small && git commit -qm small && git tag small && truncate -s %llu "
			 "big && git -c core.loosecompression=1 add big && git commit -qm big",
			 src, src, (1ULL << 30) + 1),
		 0);
	run_sandbox_sh((const char *[]){ "--repo", src, "--ref", "main", NULL }, "true", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "path 'big': larger than 1 GiB");
	run_result_free(&res);
	CHECK_EQ(repo_count_entries(trees, ".tmp-"), 0);
	CHECK_EQ(repo_count_entries(tmp, "checkout-"), 0);
	/* The mirror fetched the big blob and stays good: an older commit checks out. */
	run_sandbox_sh((const char *[]){ "--repo", src, "--ref", "small", NULL }, "cat small; ls",
		       &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, "small\nsmall\n");
	run_result_free(&res);
}

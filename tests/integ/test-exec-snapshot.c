/* test-exec-snapshot.c - `mayfly exec --repo .` keeps the work tree's index: inside the job
 * git status, diff --cached, diff and ls-files say, byte for byte, what they say in the
 * user's work tree (staged, staged then edited again, a new file whose blob only the
 * user's loose objects have, deletions, a rename, a mode change, a merge conflict,
 * intent-to-add, assume-unchanged, a sparse checkout); a commit in the job commits
 * exactly what was staged; the user's index and repository are never written; a split or
 * sparse index and a huge staged blob fail clearly. Real repositories made with the git
 * CLI; runs as root and as a plain user. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/err.h"
#include "util/path.h"
#include "util/xalloc.h"
#include "../unit/checkout/repo.h"
#include "need.h"
#include "run.h"
#include "test.h"

/* What the comparisons run, in the work tree (no optional locks: git status there must
 * not refresh the user's index) and in the job. */
#define VIEW                                                                                       \
	"git status --porcelain=v2; echo ==; git diff --cached; echo ==; git diff; "               \
	"echo ==; git ls-files -s; echo ==; git diff --cached --stat; echo ==; "                   \
	"find . -path ./.git -prune -o -print | LC_ALL=C sort"

static char *make_work_tree(void)
{
	char *wt = repo_path("wt");

	CHECK_EQ(repo_sh("git init -q -b main '%s' && cd '%s' && mkdir -p src doc && "
			 "for i in 1 2 3 4 5 6 7 8 9; do echo \"file $i\" > src/f$i.c; done && "
			 "echo readme > README && echo old > doc/old.txt && echo gone > gone && "
			 "echo untrack > untrack-me && printf '#!/bin/sh\\n' > tool && "
			 "mkdir -p lib/deep && echo 1 > lib/one && echo 2 > lib/deep/two && "
			 "git add -A && git commit -qm base",
			 wt, wt),
		 0);
	return wt;
}

static void job(const char *wt, const char *script, struct run_result *res)
{
	run_sandbox_sh_in(wt, (const char *[]){ "--repo", ".", NULL }, script, res);
	if (res->status != 0)
		printf("# exit %d\n# stdout: %s\n# stderr: %s\n", res->status, res->out, res->err);
}

/* The user's view and the job's, byte for byte; the user's index is not written. */
static void check_same_view(const char *wt, const char *script)
{
	cleanup_free char *user = NULL, *before = NULL, *after = NULL;
	cleanup_free char *index = path_join(wt, ".git/index");
	struct run_result res;

	CHECK_EQ(repo_sh_out(&user, "cd '%s' && export GIT_OPTIONAL_LOCKS=0 && %s", wt, script), 0);
	CHECK_EQ(repo_sh_out(&before, "sha256sum < '%s'", index), 0);
	job(wt, script, &res);
	CHECK_EQ(res.status, 0);
	if (strcmp(res.out, user) != 0)
		repo_show_diff(user, res.out);
	CHECK_STR_EQ(res.out, user);
	run_result_free(&res);
	CHECK_EQ(repo_sh_out(&after, "sha256sum < '%s'", index), 0);
	CHECK_STR_EQ(after, before);
}

TEST(exec_snapshot_keeps_what_is_staged_and_what_is_not)
{
	cleanup_free char *wt = make_work_tree();
	struct run_result res;

	/* Staged only; staged then edited again; a new file staged (its blob is loose in the
	 * user's repository only); git rm --cached, git rm, git rm -r of a directory; a
	 * rename; +x staged. */
	CHECK_EQ(repo_sh("cd '%s' && echo staged >> src/f1.c && git add src/f1.c && "
			 "echo staged >> src/f2.c && git add src/f2.c && echo again >> src/f2.c && "
			 "echo brand new > src/new.c && git add src/new.c && "
			 "git rm -q --cached untrack-me && git rm -q gone && git rm -r -q lib && "
			 "git mv doc/old.txt doc/new.txt && chmod +x tool && git add tool && "
			 "echo unstaged >> src/f3.c && echo loose > loose.txt",
			 wt),
		 0);
	cleanup_free char *blob = repo_line("git -C '%s' rev-parse :src/new.c", wt);
	cleanup_free char *loose = xasprintf("%s/.git/objects/%.2s/%s", wt, blob, blob + 2);
	CHECK_EQ(access(loose, F_OK), 0);
	check_same_view(wt, VIEW);
	/* Stat data the job may trust is kept: git finds changed by stat alone only what
	 * really changed (f2.c and f3.c), not the staged files the layer holds as staged. */
	cleanup_free char *unstaged = NULL;
	CHECK_EQ(repo_sh_out(&unstaged, "cd '%s' && GIT_OPTIONAL_LOCKS=0 git diff --name-only", wt),
		 0);
	CHECK_STR_EQ(unstaged, "src/f2.c\nsrc/f3.c\n");
	job(wt, "git diff-files --name-only", &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, unstaged);
	run_result_free(&res);
}

TEST(exec_snapshot_commit_in_the_job_commits_what_was_staged)
{
	cleanup_free char *wt = make_work_tree(), *before = NULL, *after = NULL;
	cleanup_free char *index = path_join(wt, ".git/index");
	struct run_result res;

	CHECK_EQ(repo_sh("cd '%s' && echo staged >> src/f1.c && echo new > src/new.c && "
			 "git add src/f1.c src/new.c && git rm -q gone && echo later >> src/f1.c "
			 "&& echo unstaged >> README",
			 wt),
		 0);
	cleanup_free char *head = repo_line("git -C '%s' rev-parse HEAD", wt), *stat = NULL;
	CHECK_EQ(repo_sh_out(&stat, "cd '%s' && GIT_OPTIONAL_LOCKS=0 git diff --cached --stat", wt),
		 0);
	CHECK_STR_CONTAINS(stat, " 3 files changed, 2 insertions(+), 1 deletion(-)\n");
	CHECK_EQ(repo_sh_out(&before, "sha256sum < '%s'", index), 0);
	job(wt,
	    "set -e; git -c user.name=J -c user.email=j@x commit -qm x; "
	    "git show --stat --format=%s HEAD; git rev-parse HEAD^{tree}; "
	    "git status --porcelain=v2",
	    &res);
	CHECK_EQ(res.status, 0);
	cleanup_free char *staged = xasprintf("x\n\n%s", stat);
	CHECK_STR_CONTAINS(res.out, staged);
	CHECK_STR_CONTAINS(res.out, "\n1 .M N... 100644 100644 100644 ");
	/* Nothing of the user's moved: index, HEAD, objects all sound. */
	CHECK_EQ(repo_sh_out(&after, "sha256sum < '%s'", index), 0);
	CHECK_STR_EQ(after, before);
	cleanup_free char *head_after = repo_line("git -C '%s' rev-parse HEAD", wt);
	CHECK_STR_EQ(head_after, head);
	CHECK_EQ(repo_sh("git -C '%s' fsck --no-progress --strict", wt), 0);
	/* The job's commit has the tree the user's index makes. */
	cleanup_free char *tree = repo_line("git -C '%s' write-tree", wt);
	CHECK_STR_CONTAINS(res.out, tree);
	run_result_free(&res);
}

TEST(exec_snapshot_keeps_a_merge_conflict)
{
	cleanup_free char *wt = make_work_tree();
	struct run_result res;

	CHECK_EQ(repo_sh("cd '%s' && git checkout -q -b side && echo side > src/f1.c && "
			 "echo side > src/f2.c && git commit -qam side && git checkout -q main && "
			 "echo main > src/f1.c && git commit -qam main && s=$(git rev-parse side) "
			 "&& "
			 "git branch -D -q side && ! git merge -q --no-edit $s >/dev/null 2>&1",
			 wt),
		 0);
	check_same_view(wt, "git status --porcelain=v2; echo ==; git ls-files -s; echo ==; "
			    "git diff; echo ==; git diff --cached --stat");
	job(wt, "git status | grep 'both modified'", &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, "\tboth modified:   src/f1.c\n");
	run_result_free(&res);
}

TEST(exec_snapshot_keeps_intent_to_add_and_an_empty_index_change)
{
	cleanup_free char *wt = make_work_tree();

	CHECK_EQ(repo_sh("cd '%s' && echo later > src/ita.c && git add -N src/ita.c && "
			 "echo edit >> README",
			 wt),
		 0);
	check_same_view(wt, VIEW);
	/* Nothing staged at all: the job's index is HEAD's, as before. */
	CHECK_EQ(repo_sh("cd '%s' && git reset -q && rm src/ita.c", wt), 0);
	check_same_view(wt, VIEW);
}

TEST(exec_snapshot_refuses_a_split_or_sparse_index_clearly)
{
	cleanup_free char *wt = make_work_tree();
	struct run_result res;

	CHECK_EQ(repo_sh("cd '%s' && echo staged >> src/f1.c && git add src/f1.c && "
			 "git update-index --split-index",
			 wt),
		 0);
	job(wt, "true", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "is a split index");
	CHECK_STR_CONTAINS(res.err, "git update-index --no-split-index");
	run_result_free(&res);
	CHECK_EQ(repo_sh("cd '%s' && git update-index --no-split-index", wt), 0);
	check_same_view(wt, VIEW);
	/* A sparse index (directories as entries) likewise, and what undoes it works. */
	CHECK_EQ(repo_sh("cd '%s' && git sparse-checkout set --cone --sparse-index src", wt), 0);
	job(wt, "true", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "is a sparse index");
	CHECK_STR_CONTAINS(res.err, "git sparse-checkout init --no-sparse-index");
	run_result_free(&res);
	CHECK_EQ(repo_sh("cd '%s' && git sparse-checkout init --no-sparse-index", wt), 0);
	check_same_view(wt, VIEW);
}

TEST(exec_snapshot_refuses_a_huge_staged_blob)
{
	cleanup_free char *wt = make_work_tree();
	struct run_result res;

	/* Staged over 1 GiB, then replaced by a small file: only the index has the giant. */
	CHECK_EQ(repo_sh("cd '%s' && oid=$(head -c 1073741825 /dev/zero | git hash-object -w "
			 "--stdin) && git update-index --add --cacheinfo 100644,$oid,big.bin && "
			 "echo small > big.bin",
			 wt),
		 0);
	job(wt, "true", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "staged file 'big.bin': larger than 1 GiB");
	run_result_free(&res);
}

/* Assume-unchanged: git there trusts the bit, so does the job's, and the file is the
 * user's. Sparse checkout (no sparse index): the paths outside are absent in the job too,
 * their skip-worktree bits kept, so git status is as clean as the user's. */
TEST(exec_snapshot_keeps_assume_unchanged_and_skip_worktree)
{
	cleanup_free char *wt = make_work_tree();

	CHECK_EQ(repo_sh("cd '%s' && git update-index --assume-unchanged README && "
			 "echo edited >> README && git sparse-checkout set --no-cone '/src/' "
			 "'/[A-Z]*' && echo staged >> src/f1.c && git add src/f1.c",
			 wt),
		 0);
	cleanup_free char *bits = NULL;
	CHECK_EQ(repo_sh_out(&bits, "git -C '%s' ls-files -v tool README src/f1.c", wt), 0);
	CHECK_STR_EQ(bits, "h README\nH src/f1.c\nS tool\n");
	check_same_view(wt, VIEW "; echo ==; git ls-files -v; cat README");
}

/* The user keeps staging and unstaging while jobs start: mayfly takes no lock, so the
 * user's git never waits or fails, and each job sees the index before or after a change,
 * never a mix. */
TEST(exec_snapshot_reads_the_index_while_the_user_stages)
{
	cleanup_free char *wt = make_work_tree(), *stop = repo_path("stop");
	struct run_result res;

	CHECK_EQ(repo_sh("cd '%s' && echo edit >> src/f1.c && echo edit >> src/f2.c", wt), 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int st = repo_sh("cd '%s' && while [ ! -e '%s' ]; do git add src/f1.c src/f2.c && "
				 "git reset -q; done",
				 wt, stop);
		_exit(st == 0 ? 0 : 1);
	}
	for (int i = 0; i < 5; i++) {
		job(wt, "git diff --cached --name-only | tr '\\n' ' '", &res);
		CHECK_EQ(res.status, 0);
		if (strcmp(res.out, "") != 0 && strcmp(res.out, "src/f1.c src/f2.c ") != 0)
			printf("# job saw '%s'\n", res.out);
		CHECK(strcmp(res.out, "") == 0 || strcmp(res.out, "src/f1.c src/f2.c ") == 0);
		run_result_free(&res);
	}
	test_put(test_tmpdir(), "stop", "");
	int status = 0;
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0); /* git add never found a lock */
}

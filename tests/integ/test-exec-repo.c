/* test-exec-repo.c - `mayfly exec --repo` with the real binary: the job starts in a
 * checkout whose `git status` is clean and where log, diff, describe and commit work,
 * owned by the job's user; what it writes reaches neither the cache nor another job; two
 * jobs share a commit at once; a local work tree comes with its uncommitted files; bad
 * refs, unreachable remotes, hostile trees and a full disk fail clearly, leaving the cache
 * consistent. Runs as root (idmapped caches) and as a plain user (caller-owned caches). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
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

/* `mayfly exec [opts] -- sh -c script` from the directory cwd (NULL: the test's). */
static void exec_repo(const char *cwd, const char *const *opts, const char *script,
		      struct run_result *res)
{
	run_sandbox_sh_in(cwd ? cwd : test_tmpdir(), opts, script, res);
	if (res->status != 0)
		printf("# exit %d\n# stdout: %s\n# stderr: %s\n", res->status, res->out, res->err);
}

/* A repository with history, a tag, an executable and a symlink. */
static char *make_repo(void)
{
	char *src = repo_path("app");

	CHECK_EQ(
		repo_sh("git init -q -b main '%s' && cd '%s' && mkdir -p src && "
			"echo 'int main;' > src/main.c && printf '#!/bin/sh\\necho hi\\n' > run.sh "
			"&& chmod +x run.sh && ln -s src/main.c link && git add -A && "
			"git commit -qm one && git tag -a -m v1 v1 && echo two >> src/main.c && "
			"git commit -qam two && git branch side HEAD~1",
			src, src),
		0);
	return src;
}

static char *tree_dir_of(const char *src, const char *rev)
{
	cleanup_free char *tree = repo_line("git -C '%s' rev-parse '%s^{tree}'", src, rev);
	return xasprintf("%s/checkout/trees/%s", test_state_dir(), tree);
}

TEST(exec_repo_gives_a_clean_checkout_with_a_working_git)
{
	cleanup_free char *src = make_repo();
	cleanup_free char *head = repo_line("git -C '%s' rev-parse HEAD", src);
	struct run_result res;

	exec_repo(NULL, (const char *[]){ "--repo", src, NULL },
		  "set -e; pwd; git status --porcelain; echo status-done; "
		  "git log --format=%H -1; git describe --tags; git diff --stat HEAD~1 | tail -1; "
		  "stat -c '%u %U %a' . src/main.c run.sh .git .git/index; readlink link; "
		  "./run.sh; echo three >> src/main.c; git -c user.name=J -c user.email=j@x "
		  "commit -qam three; git log --oneline | wc -l; git status --porcelain",
		  &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "/workspace\nstatus-done\n"); /* clean */
	CHECK_STR_CONTAINS(res.out, head);
	CHECK_STR_CONTAINS(res.out, "v1-1-g");
	CHECK_STR_CONTAINS(res.out, "1 file changed, 1 insertion(+)");
	CHECK_STR_CONTAINS(res.out, "1000 runner 755\n1000 runner 644\n1000 runner 755\n"
				    "1000 runner 755\n1000 runner 644\n");
	CHECK_STR_CONTAINS(res.out, "src/main.c\nhi\n3\n");
	run_result_free(&res);
	/* --ref, --commit, --checkout-dir. */
	exec_repo(NULL,
		  (const char *[]){ "--repo", src, "--ref", "side", "--checkout-dir", "/src/app",
				    NULL },
		  "pwd; git status --porcelain; cat src/main.c; git log --oneline | wc -l; "
		  "git branch --show-current; git rev-parse --abbrev-ref @{u}",
		  &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, "/src/app\nint main;\n1\nside\norigin/side\n");
	run_result_free(&res);
	cleanup_free char *short_id = xstrndup(head, 7);
	exec_repo(NULL, (const char *[]){ "--repo", src, "--commit", short_id, NULL },
		  "git rev-parse HEAD; git status | head -1", &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, head);
	CHECK_STR_CONTAINS(res.out, "HEAD detached at ");
	run_result_free(&res);
	/* A full id known from before: mirror, tree and .git from plain files (fast.c); the
	 * same workspace, owned by the job's user all the same. */
	for (int i = 0; i < 2; i++) {
		exec_repo(NULL, (const char *[]){ "--repo", src, "--commit", head, NULL },
			  "git status --porcelain; stat -c %U .git/config .git/index src/main.c; "
			  "git describe --tags | cut -c1-6",
			  &res);
		CHECK_EQ(res.status, 0);
		CHECK_STR_EQ(res.out, "runner\nrunner\nrunner\nv1-1-g\n");
		run_result_free(&res);
	}
	/* No rev: the remote's default branch, checked out as a branch, as by git clone. */
	exec_repo(NULL, (const char *[]){ "--repo", src, NULL }, "git status | head -2", &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, "On branch main\nYour branch is up to date with 'origin/main'.\n");
	run_result_free(&res);
}

TEST(exec_repo_writes_reach_neither_the_cache_nor_another_job)
{
	cleanup_free char *src = make_repo(), *tree = NULL;
	struct run_result res;

	exec_repo(NULL, (const char *[]){ "--repo", src, NULL },
		  "echo mine > src/main.c && rm run.sh && echo new > new && mkdir d && "
		  "git add -A && git -c user.name=J -c user.email=j@x commit -qm mine && "
		  "cat /run/mayfly/mirror/HEAD >/dev/null && "
		  "(echo evil > /run/mayfly/mirror/evil; true)",
		  &res);
	CHECK_EQ(res.status, 0);
	run_result_free(&res);
	tree = tree_dir_of(src, "HEAD");
	CHECK_EQ(repo_sh("grep -q two '%s/src/main.c' && test -x '%s/run.sh' && "
			 "test ! -e '%s/new' && test ! -e '%s/.git' && "
			 "test -z \"$(find '%s/checkout/git' -name evil)\"",
			 tree, tree, tree, tree, test_state_dir()),
		 0);
	exec_repo(NULL, (const char *[]){ "--repo", src, NULL },
		  "git status --porcelain; git log --oneline | wc -l; test -x run.sh && "
		  "test ! -e new && echo pristine",
		  &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, "2\npristine\n");
	run_result_free(&res);
	/* Nothing of either job is left outside the cache. */
	cleanup_free char *tmp = path_join(test_state_dir(), "tmp");
	CHECK_EQ(repo_count_entries(tmp, "checkout-"), 0);
}

TEST(exec_repo_two_jobs_share_a_commit_at_once)
{
	cleanup_free char *src = make_repo();
	pid_t pids[2];

	for (size_t i = 0; i < ARRAY_SIZE(pids); i++) {
		pids[i] = fork();
		CHECK(pids[i] >= 0);
		if (pids[i] == 0) {
			struct run_result res;
			exec_repo(NULL, (const char *[]){ "--repo", src, NULL },
				  "sleep 0.3; git status --porcelain; echo $$ > mine; cat mine",
				  &res);
			_exit(res.status == 0 && strchr(res.out, '\n') == strrchr(res.out, '\n')
				      ? 0
				      : 1);
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(pids); i++) {
		int status;
		CHECK_EQ(waitpid(pids[i], &status, 0), pids[i]);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	cleanup_free char *trees = xasprintf("%s/checkout/trees", test_state_dir());
	CHECK_EQ(repo_count_entries(trees, ".tmp-"), 0);
}

TEST(exec_repo_takes_a_work_tree_as_it_is)
{
	cleanup_free char *src = make_repo();
	struct run_result res;

	CHECK_EQ(repo_sh("cd '%s' && echo build/ > .gitignore && git add .gitignore && "
			 "git commit -qm ignore && mkdir -p build && echo obj > build/x.o && "
			 "echo edited > src/main.c && echo fresh > untracked.txt && rm run.sh && "
			 "ln -s /etc/shadow sneaky",
			 src),
		 0);
	exec_repo(src, (const char *[]){ "--repo", ".", NULL },
		  "git status --porcelain; cat src/main.c untracked.txt; test ! -e build && "
		  "echo no-build; readlink sneaky; git branch --show-current",
		  &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, " D run.sh\n M src/main.c\n?? sneaky\n?? untracked.txt\n"
			      "edited\nfresh\nno-build\n/etc/shadow\nmain\n");
	run_result_free(&res);
	/* The cached tree is HEAD's, untouched by the edits. */
	cleanup_free char *tree = tree_dir_of(src, "HEAD");
	CHECK_EQ(repo_sh("grep -q two '%s/src/main.c' && test -x '%s/run.sh'", tree, tree), 0);
}

TEST(exec_repo_fails_clearly_on_bad_refs_and_remotes)
{
	cleanup_free char *src = make_repo();
	cleanup_free char *nowhere = xasprintf("git://127.0.0.1:%d/app.git", test_free_port());
	struct run_result res;

	exec_repo(NULL, (const char *[]){ "--repo", src, "--ref", "nope", NULL }, "true", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "rev 'nope' not found");
	CHECK_STR_CONTAINS(res.err, "branches: main, side");
	run_result_free(&res);
	exec_repo(NULL, (const char *[]){ "--repo", nowhere, NULL }, "true", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "--repo 'git://127.0.0.1:");
	run_result_free(&res);
	exec_repo(NULL, (const char *[]){ "--ref", "main", NULL }, "true", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "need --repo");
	run_result_free(&res);
	exec_repo(NULL, (const char *[]){ "--repo", src, "--ref", "a", "--commit", "b", NULL },
		  "true", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "not both");
	run_result_free(&res);
	/* A URL's userinfo never shows. */
	cleanup_free char *secret =
		xasprintf("https://u:tok-4711@127.0.0.1:%d/app.git", test_free_port());
	exec_repo(NULL, (const char *[]){ "--repo", secret, NULL }, "true", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_NOT_CONTAINS(res.err, "4711");
	run_result_free(&res);
}

TEST(exec_repo_refuses_a_hostile_tree)
{
	cleanup_free char *src = repo_path("hostile");
	struct run_result res;

	/* A tree with an entry ".git" (git itself would refuse to check it out). */
	CHECK_EQ(
		repo_sh("git init -q -b main '%s' && cd '%s' && b=$(echo evil | git hash-object "
			"-w --stdin) && t=$(printf '100644 blob %%s\\t.git\\n' $b | git mktree) && "
			"c=$(git commit-tree -m x $t) && git update-ref refs/heads/main $c",
			src, src),
		0);
	exec_repo(NULL, (const char *[]){ "--repo", src, "--ref", "main", NULL }, "true", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "path '.git'");
	run_result_free(&res);
	cleanup_free char *trees = xasprintf("%s/checkout/trees", test_state_dir());
	CHECK_EQ(repo_count_entries(trees, ".tmp-"), 0);

	/* Symlinks out of the tree are checked out as they are and resolve inside the
	 * sandbox: writing through one never reaches the host path it names. */
	cleanup_free char *links = repo_path("links"), *victim = repo_path("victim");
	CHECK_EQ(repo_sh("git init -q -b main '%s' && cd '%s' && ln -s '%s' out && "
			 "ln -s ../../../../../../../../etc/hostname up && git add -A && "
			 "git commit -qm links",
			 links, links, victim),
		 0);
	exec_repo(NULL, (const char *[]){ "--repo", links, NULL },
		  "echo pwned > out 2>/dev/null; readlink out; git status --porcelain", &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, victim);
	run_result_free(&res);
	CHECK_EQ(access(victim, F_OK), -1);
}

TEST(exec_repo_full_disk_leaves_the_cache_consistent)
{
	cleanup_free char *src = repo_path("big");

	NEED(ROOT);
	CHECK_EQ(repo_sh("git init -q -b main '%s' && cd '%s' && head -c 3000000 /dev/zero > "
			 "blob && git add blob && git commit -qm big",
			 src, src),
		 0);
	/* The state dir on a 2 MiB tmpfs, in a mount namespace of this test's own: the
	 * mirror fits (zeros compress), the 3 MB file of the tree does not. */
	CHECK_OK(unshare(CLONE_NEWNS));
	CHECK_OK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
	CHECK_OK(mkdir(test_state_dir(), 0711));
	CHECK_OK(mount("full", test_state_dir(), "tmpfs", 0, "size=2m,mode=0711"));
	struct run_result res;
	exec_repo(NULL, (const char *[]){ "--repo", src, NULL }, "true", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "No space left on device");
	CHECK_STR_CONTAINS(res.err, "is full; prune it or free space");
	run_result_free(&res);
	cleanup_free char *trees = xasprintf("%s/checkout/trees", test_state_dir());
	cleanup_free char *tmp = xasprintf("%s/tmp", test_state_dir());
	CHECK_EQ(repo_count_entries(trees, ".tmp-"), 0);
	CHECK_EQ(repo_count_entries(tmp, "checkout-"), 0);
	(void) umount2(test_state_dir(), MNT_DETACH);
}

TEST(exec_repo_rebuilds_a_corrupt_mirror_and_runs_the_job)
{
	cleanup_free char *src = make_repo();
	cleanup_free char *head = repo_line("git -C '%s' rev-parse HEAD", src);
	struct run_result res;

	exec_repo(NULL, (const char *[]){ "--repo", src, NULL }, "true", &res);
	CHECK_EQ(res.status, 0);
	run_result_free(&res);
	/* Every pack of the mirror overwritten with garbage, trees gone from the cache. */
	CHECK_EQ(repo_sh("cd '%s/checkout' && for p in git/*.git/objects/pack/*.pack; do "
			 "chmod u+w \"$p\"; head -c 4096 /dev/urandom > \"$p\"; done && "
			 "rm -rf trees",
			 test_state_dir()),
		 0);
	exec_repo(NULL, (const char *[]){ "--repo", src, "--commit", head, NULL },
		  "git status --porcelain; git log --oneline | wc -l", &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, "2\n");
	run_result_free(&res);
}

/* Entries of dir named prefix*, 0 when dir does not exist (yet). */
static size_t count_prefixed(const char *dir, const char *prefix)
{
	CLEANUP(closedirp) DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	while (d && (de = readdir(d)))
		n += str_startswith(de->d_name, prefix);
	return n;
}

TEST(exec_repo_layers_of_a_killed_mayfly_are_removed_by_gc)
{
	cleanup_free char *src = make_repo(), *tmp = path_join(test_state_dir(), "tmp");
	struct run_result res;
	pid_t pid;

	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		(void) dup2(null, 1);
		execl(mayfly_bin(), "mayfly", "--state-dir", test_state_dir(), "exec", "--repo",
		      src, "--", "sleep", "600", (char *) NULL);
		_exit(127);
	}
	while (count_prefixed(tmp, "checkout-") == 0)
		usleep(10 * 1000);
	CHECK_OK(kill(pid, SIGKILL));
	CHECK_EQ(waitpid(pid, NULL, 0), pid);
	/* The sandbox dies with its mayfly; its pid 1 may hold the layer's lock a moment. */
	for (;;) {
		char *argv[] = { (char *) mayfly_bin(), "--state-dir", (char *) test_state_dir(),
				 "gc", NULL };
		run_argv(argv, NULL, 60, &res);
		CHECK_EQ(res.status, 0);
		bool removed = strstr(res.out, "removed 1 checkout layer") != NULL;
		run_result_free(&res);
		if (removed)
			break;
		CHECK_EQ(count_prefixed(tmp, "checkout-"), 1);
		usleep(50 * 1000);
	}
	CHECK_EQ(count_prefixed(tmp, "checkout-"), 0);
}

/* Every entry under the current directory but .git: type, mode, symlink target, content. */
#define LISTING                                                                                    \
	"umask 022; find . -path ./.git -prune -o -type l -printf 'l %p %l\\n' -o -type d "        \
	"-printf 'd %m %p\\n' -o -type f -printf 'f %m %p\\n' | sort; find . -path ./.git "        \
	"-prune -o -type f -print0 | sort -z | xargs -0 -r sha256sum"

/* A chain of commits with every kind of change, each checked out as a delta layer on the
 * one before: the job's /workspace is what `git worktree add` gives, and git finds it
 * clean. Prune leaves every layer of a tree in use alone. */
TEST(exec_repo_delta_layers_equal_git_checkout_and_survive_prune)
{
	static const char *const steps[] = { REPO_EVERY_CHANGE };
	cleanup_free char *src = repo_path("src"), *wt = repo_path("wt");
	cleanup_free char *trees = xasprintf("%s/checkout/trees", test_state_dir());
	cleanup_free char *last = NULL, *top = NULL, *n = NULL;
	char *argv[] = { (char *) mayfly_bin(),
			 "--state-dir",
			 (char *) test_state_dir(),
			 "cache",
			 "prune",
			 "--max-size",
			 "0",
			 NULL };
	struct run_result res;
	int status;

	CHECK_EQ(repo_sh("git init -q -b main '%s'", src), 0);
	for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
		cleanup_free char *theirs = NULL, *want = NULL, *rec = NULL;
		CHECK_EQ(repo_sh("cd '%s' && { %s; } && git add -A && git commit -qm 'step %zu'",
				 src, steps[i], i),
			 0);
		free(last);
		last = repo_line("git -C '%s' rev-parse HEAD", src);
		CHECK_EQ(repo_sh("rm -rf '%s' && git -C '%s' worktree prune && "
				 "git -C '%s' worktree add -q --detach '%s' %s",
				 wt, src, src, wt, last),
			 0);
		CHECK_EQ(repo_sh_out(&theirs, "cd '%s' && %s", wt, LISTING), 0);
		exec_repo(NULL, (const char *[]){ "--repo", src, "--commit", last, NULL },
			  "git status --porcelain; echo ==; " LISTING, &res);
		CHECK_EQ(res.status, 0);
		want = xasprintf("==\n%s", theirs);
		if (strcmp(res.out, want) != 0)
			repo_show_diff(res.out, want);
		CHECK_STR_EQ(res.out, want);
		run_result_free(&res);
		/* A delta on the tree before it, after the first. */
		free(top);
		top = repo_line("git -C '%s' rev-parse HEAD^{tree}", src);
		rec = xasprintf("%s/%s.parent", trees, top);
		CHECK_EQ(access(rec, F_OK) == 0, i > 0);
	}
	/* A job on the last commit holds all its layers while prune runs. */
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		exec_repo(NULL, (const char *[]){ "--repo", src, "--commit", last, NULL },
			  "sleep 4; cat a/b/f ln/z", &res);
		_exit(res.status == 0 && strcmp(res.out, "1b\nz\n") == 0 ? 0 : 1);
	}
	/* In use once its lock is held shared (then an exclusive try fails). */
	CHECK_EQ(repo_sh("for i in $(seq 300); do flock -n -x '%s/%s.lock' true 2>/dev/null || "
			 "exit 0; sleep 0.1; done; exit 1",
			 trees, top),
		 0);
	run_argv(argv, NULL, 120, &res);
	CHECK_EQ(res.status, 0);
	run_result_free(&res);
	/* Every step's tree but the last is a parent of it: all seven are kept. */
	n = repo_line("find '%s' -mindepth 1 -maxdepth 1 -type d ! -name '.*' ! -name '*.ws' | "
		      "wc -l",
		      trees);
	CHECK_STR_EQ(n, "7");
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	run_argv(argv, NULL, 120, &res);
	CHECK_EQ(res.status, 0);
	run_result_free(&res);
	free(n);
	n = repo_line("find '%s' -mindepth 1 -maxdepth 1 ! -name '.bases' | wc -l", trees);
	CHECK_STR_EQ(n, "0");
}

/* test-exec-submodules.c - `mayfly exec --repo URL --submodules normal|recursive` with the
 * real binary against a real `git daemon` on loopback serving a superproject and its
 * submodules (one nested, one by a relative URL, one absolute): the job gets the files
 * `git clone --recurse-submodules` gives, `git status` clean everywhere and `git submodule
 * status` with every submodule at its commit; what it writes reaches neither the cache
 * nor another job; a commit missing from a submodule's remote, an unreachable remote and
 * hostile .gitmodules files (file:// from a remote superproject, option-like URLs, paths
 * leaving the tree, entries that are no gitlink, gitlinks with no entry) fail clearly,
 * leaving nothing behind. Runs as root (idmapped caches) and as a plain user. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/xalloc.h"
#include "../unit/checkout/repo.h"
#include "run.h"
#include "test.h"

/* The servers' repositories under base: deep; liba, with deep at deps/deep by "../deep";
 * libb; and app, with liba at lib/a by "../liba.git" and libb at libb by an absolute URL. */
struct repos {
	char *base;
	int port;
	pid_t daemon;
	char *deep, *a, *b, *app; /* commit ids */
	char *url;		  /* app's */
};

static void repos_release(struct repos *r)
{
	if (r->daemon > 0) {
		(void) kill(r->daemon, SIGKILL);
		(void) waitpid(r->daemon, NULL, 0);
	}
	free(r->base);
	free(r->deep);
	free(r->a);
	free(r->b);
	free(r->app);
	free(r->url);
}

/* A repository name in base with one file, gitmodules (NULL: none) and gitlinks ("path
 * id ..." pairs, NULL: none); returns its commit id. */
static char *make_repo(const char *base, const char *name, const char *gitmodules,
		       const char *gitlinks)
{
	cleanup_free char *links = NULL;

	if (gitlinks) {
		cleanup_free char *copy = xstrdup(gitlinks);
		char *save = NULL, *path, *id;
		links = xstrdup("");
		for (path = strtok_r(copy, " ", &save); path && (id = strtok_r(NULL, " ", &save));
		     path = strtok_r(NULL, " ", &save)) {
			char *more = xasprintf("%s --cacheinfo 160000,%s,%s", links, id, path);
			free(links);
			links = more;
		}
	}
	CHECK_EQ(repo_sh("set -e; git init -q -b main '%s/%s'; cd '%s/%s'; n=%s; echo ${n%%.git} > "
			 "${n%%.git}.txt; "
			 "mkdir -p src; echo code > src/main.c; %s%s%s git add -A; %s%s%s "
			 "git commit -qm %s",
			 base, name, base, name, name, gitmodules ? "printf '%s' '" : "",
			 gitmodules ? gitmodules : "", gitmodules ? "' > .gitmodules;" : "",
			 links ? "git update-index --add" : "", links ? links : "",
			 links ? ";" : "", name),
		 0);
	return repo_line("git -C '%s/%s' rev-parse HEAD", base, name);
}

static void make_repos(struct repos *r)
{
	r->base = repo_path("srv");
	CHECK_OK(mkdir(r->base, 0755));
	r->daemon = repo_git_daemon(r->base, &r->port);
	r->deep = make_repo(r->base, "deep", NULL, NULL);
	cleanup_free char *links_a = xasprintf("deps/deep %s", r->deep);
	r->a = make_repo(r->base, "liba.git",
			 "[submodule \"deep\"]\n\tpath = deps/deep\n\turl = ../deep\n", links_a);
	r->b = make_repo(r->base, "libb", NULL, NULL);
	cleanup_free char *mods = xasprintf("[submodule \"lib/a\"]\n\tpath = lib/a\n\turl = "
					    "../liba.git\n[submodule \"b\"]\n\tpath = libb\n\t"
					    "url = git://127.0.0.1:%d/libb\n",
					    r->port);
	cleanup_free char *links = xasprintf("lib/a %s libb %s", r->a, r->b);
	r->app = make_repo(r->base, "app", mods, links);
	r->url = xasprintf("git://127.0.0.1:%d/app", r->port);
}

static void exec_sub(const char *url, const char *mode, const char *script, struct run_result *res)
{
	const char *opts[] = { "--repo", url, mode ? "--submodules" : NULL, mode, NULL };

	run_sandbox_sh(opts, script, res);
	if (res->status != 0)
		printf("# exit %d\n# stdout: %s\n# stderr: %s\n", res->status, res->out, res->err);
}

/* Every file and symlink under the current directory but .git, with a hash of its content. */
#define LISTING                                                                                    \
	"find . -name .git -prune -o \\( -type f -o -type l \\) -print | LC_ALL=C sort | "         \
	"while read -r f; do echo \"$f $(cat \"$f\" | sha256sum | cut -c1-12)\"; done"

TEST(exec_submodules_recursive_gives_what_git_clone_recurse_submodules_gives)
{
	struct repos r = { 0 };
	struct run_result res;

	make_repos(&r);
	cleanup_free char *clone = repo_path("clone"), *want = NULL;
	CHECK_EQ(repo_sh_out(&want,
			     "git clone -q --recurse-submodules '%s' '%s' && cd '%s' && " LISTING,
			     r.url, clone, clone),
		 0);
	const char *script = LISTING
		"; echo ==; git status --porcelain --ignore-submodules=none; "
		"git -C lib/a status --porcelain; git -C lib/a/deps/deep status --porcelain; "
		"echo ==; git submodule status --recursive | cut -c1-41; echo ==; "
		"git -C lib/a log --format=%H; git -C libb rev-parse HEAD; "
		"stat -c %U lib/a/liba.txt lib/a/.git lib/a/deps/deep/deep.txt; "
		"git -C lib/a config core.worktree";

	exec_sub(r.url, "recursive", script, &res);
	CHECK_EQ(res.status, 0);
	cleanup_free char *expect = xasprintf(
		"%s==\n==\n %s\n %s\n %s\n==\n%s\n%s\nrunner\nrunner\nrunner\n../../../../lib/a\n",
		want, r.a, r.deep, r.b, r.a, r.b);
	CHECK_STR_EQ(res.out, expect);
	CHECK_STR_CONTAINS(res.out, "./lib/a/deps/deep/deep.txt ");
	run_result_free(&res);
	/* Again, the commit known: everything from plain files (no libgit2), the same job. */
	run_sandbox_sh((const char *[]){ "--repo", r.url, "--commit", r.app, "--submodules",
					 "recursive", NULL },
		       script, &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, expect);
	run_result_free(&res);
	repos_release(&r);
}

TEST(exec_submodules_normal_stops_at_the_first_level_and_none_leaves_empty_dirs)
{
	struct repos r = { 0 };
	struct run_result res;

	make_repos(&r);
	exec_sub(
		r.url, "normal",
		"cat lib/a/liba.txt libb/libb.txt; ls -A lib/a/deps/deep | wc -l; "
		"git status --porcelain --ignore-submodules=none; git -C lib/a status --porcelain; "
		"git submodule status | cut -c1-41; git -C lib/a submodule status | cut -c1",
		&res);
	CHECK_EQ(res.status, 0);
	cleanup_free char *expect =
		xasprintf("liba\nlibb\n0\n %s\n %s\n-\n", r.a, r.b); /* deep: not initialised */
	CHECK_STR_EQ(res.out, expect);
	run_result_free(&res);
	/* Elsewhere than under a scratch dir: nested mount points made there too. */
	run_sandbox_sh((const char *[]){ "--repo", r.url, "--submodules", "normal",
					 "--checkout-dir", "/src/app", NULL },
		       "pwd; cat lib/a/liba.txt; git status --porcelain --ignore-submodules=none",
		       &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, "/src/app\nliba\n");
	run_result_free(&res);
	/* A word it does not know, and the flag without --repo. */
	exec_sub(r.url, "true", "echo ran", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "--submodules 'true': expected none, normal or recursive");
	run_result_free(&res);
	run_sandbox_sh((const char *[]){ "--submodules", "normal", NULL }, "echo ran", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "and --submodules need --repo");
	run_result_free(&res);
	for (int i = 0; i < 2; i++) {
		exec_sub(r.url, i ? "none" : NULL,
			 "ls -A lib/a libb | wc -w; git status --porcelain; "
			 "git submodule status | cut -c1; ls -d /run/mayfly/mirrors 2>&1 | wc -l",
			 &res);
		CHECK_EQ(res.status, 0);
		CHECK_STR_EQ(res.out, "2\n-\n-\n1\n"); /* "lib/a:" "libb:"; the ls error */
		run_result_free(&res);
	}
	repos_release(&r);
}

TEST(exec_submodules_of_a_local_superproject_may_be_local_or_its_origins)
{
	struct repos r = { 0 };
	struct run_result res;

	make_repos(&r);
	/* "../liba.git" and liba's "../deep" become paths on this host: allowed, since the
	 * caller named a local superproject (its work tree, with --ref, and as it is). */
	cleanup_free char *app = path_join(r.base, "app");
	for (int i = 0; i < 2; i++) {
		const char *opts[] = {
			"--repo", app, "--submodules", "recursive", i ? "--ref" : NULL, "main", NULL
		};
		run_sandbox_sh(opts,
			       "cat lib/a/deps/deep/deep.txt; git submodule status --recursive | "
			       "cut -c1 | uniq; git -C lib/a/deps/deep remote get-url origin",
			       &res);
		CHECK_EQ(res.status, 0);
		cleanup_free char *want = xasprintf("deep\n \n%s/deep\n", r.base);
		CHECK_STR_EQ(res.out, want);
		run_result_free(&res);
	}
	/* A local clone (--repo . as a developer has it): relative URLs are its origin's,
	 * as in git, not paths next to the clone. */
	cleanup_free char *clone = repo_path("clone");
	CHECK_EQ(repo_sh("git clone -q '%s' '%s'", r.url, clone), 0);
	run_sandbox_sh((const char *[]){ "--repo", clone, "--submodules", "normal", NULL },
		       "cat lib/a/liba.txt; git -C lib/a remote get-url origin", &res);
	CHECK_EQ(res.status, 0);
	cleanup_free char *want = xasprintf("liba\ngit://127.0.0.1:%d/liba.git\n", r.port);
	CHECK_STR_EQ(res.out, want);
	run_result_free(&res);
	repos_release(&r);
}

TEST(exec_submodules_recursive_goes_eight_levels_deep_and_no_further)
{
	cleanup_free char *base = repo_path("srv"), *prev = NULL;
	int port = 0;
	struct run_result res;

	CHECK_OK(mkdir(base, 0755));
	cleanup_pid pid_t daemon = repo_git_daemon(base, &port);
	/* c0 alone; c<i> holds c<i-1> at "n". */
	prev = make_repo(base, "c0.git", NULL, NULL);
	for (int i = 1; i <= 9; i++) {
		cleanup_free char *name = xasprintf("c%d.git", i);
		cleanup_free char *mods =
			xasprintf("[submodule \"n\"]\n\tpath = n\n\turl = ../c%d.git\n", i - 1);
		cleanup_free char *links = xasprintf("n %s", prev);
		free(prev);
		prev = make_repo(base, name, mods, links);
	}
	cleanup_free char *eight = xasprintf("git://127.0.0.1:%d/c8.git", port);
	exec_sub(eight, "recursive",
		 "cat n/n/n/n/n/n/n/n/c0.txt; git submodule status "
		 "--recursive | wc -l",
		 &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, "c0\n8\n");
	run_result_free(&res);
	cleanup_free char *nine = xasprintf("git://127.0.0.1:%d/c9.git", port);
	exec_sub(nine, "recursive", "echo ran", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "submodule 'n' (path 'n/n/n/n/n/n/n/n/n', url '../c0.git'): "
				    "nested more than 8 levels deep; use --submodules normal");
	run_result_free(&res);
	cleanup_free char *tmp = path_join(test_state_dir(), "tmp");
	CHECK_EQ(repo_count_entries(tmp, "checkout-"), 0);
}

TEST(exec_submodules_writes_reach_neither_the_cache_nor_another_job)
{
	struct repos r = { 0 };
	struct run_result res;

	make_repos(&r);
	exec_sub(r.url, "recursive",
		 "set -e; echo mine > lib/a/liba.txt; git -C lib/a -c user.name=J -c "
		 "user.email=j@x commit -qam mine; echo mine > lib/a/deps/deep/deep.txt; "
		 "rm libb/libb.txt; "
		 "git -C lib/a log --oneline | wc -l; git status --porcelain "
		 "--ignore-submodules=none",
		 &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "2\n");
	CHECK_STR_CONTAINS(res.out, " M lib/a\n");
	CHECK_STR_CONTAINS(res.out, " M libb\n");
	run_result_free(&res);
	exec_sub(r.url, "recursive",
		 "cat lib/a/liba.txt lib/a/deps/deep/deep.txt libb/libb.txt; "
		 "git -C lib/a rev-parse HEAD; git status --porcelain --ignore-submodules=none",
		 &res);
	CHECK_EQ(res.status, 0);
	cleanup_free char *expect = xasprintf("liba\ndeep\nlibb\n%s\n", r.a);
	CHECK_STR_EQ(res.out, expect);
	run_result_free(&res);
	/* The cached trees are as built; nothing of the jobs is in the state's tmp. */
	cleanup_free char *tree = repo_line("git -C '%s/liba.git' rev-parse HEAD^{tree}", r.base);
	cleanup_free char *cached =
		xasprintf("%s/checkout/trees/%s/liba.txt", test_state_dir(), tree);
	cleanup_free char *body = NULL;
	CHECK_EQ(repo_sh_out(&body, "cat '%s'", cached), 0);
	CHECK_STR_EQ(body, "liba\n");
	cleanup_free char *tmp = path_join(test_state_dir(), "tmp");
	CHECK_EQ(repo_count_entries(tmp, "checkout-"), 0);
	repos_release(&r);
}

/* A job holds its submodules' mirrors as it holds the superproject's: `mayfly cache prune
 * --max-size 0` while it runs removes none of them (the job reads their objects after the
 * prune), and all of them once it is over. */
TEST(exec_submodules_mirrors_are_held_while_the_job_runs)
{
	struct repos r = { 0 };
	struct run_result res;

	make_repos(&r);
	cleanup_free char *sync = repo_path("sync");
	cleanup_free char *started = path_join(sync, "started"), *go = path_join(sync, "go");
	cleanup_free char *bind = xasprintf("%s:/sync", sync);
	CHECK_OK(mkdir(sync, 0777));
	CHECK_OK(chmod(sync, 0777));
	pid_t job = fork();
	CHECK(job >= 0);
	if (job == 0) {
		run_sandbox_sh((const char *[]){ "--repo", r.url, "--submodules", "recursive",
						 "--bind", bind, NULL },
			       "touch /sync/started; while [ ! -e /sync/go ]; do sleep 0.05; done; "
			       "git -C libb cat-file -p HEAD^{tree} | wc -l; "
			       "git -C lib/a/deps/deep log --format=%s",
			       &res);
		if (res.status != 0 || strcmp(res.out, "2\ndeep\n") != 0)
			printf("# job: exit %d\n# stdout: %s\n# stderr: %s\n", res.status, res.out,
			       res.err);
		_exit(res.status == 0 && strcmp(res.out, "2\ndeep\n") == 0 ? 0 : 1);
	}
	for (int i = 0; i < 6000 && access(started, F_OK) < 0; i++)
		usleep(10 * 1000);
	CHECK_OK(access(started, F_OK));
	/* Four mirrors (app, liba, deep, libb), all held. */
	run_argv((char *const[]){ (char *) mayfly_bin(), "--state-dir", (char *) test_state_dir(),
				  "cache", "prune", "--max-size", "0", NULL },
		 NULL, 60, &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "and 0 mirrors");
	CHECK_STR_CONTAINS(res.out, "4 mirrors (4 in use)");
	run_result_free(&res);
	test_put(sync, "go", "");
	int status = -1;
	CHECK_EQ(waitpid(job, &status, 0), job);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	run_argv((char *const[]){ (char *) mayfly_bin(), "--state-dir", (char *) test_state_dir(),
				  "cache", "prune", "--max-size", "0", NULL },
		 NULL, 60, &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "and 4 mirrors");
	run_result_free(&res);
	repos_release(&r);
}

/* A superproject named name in r's server with this .gitmodules and gitlinks; the job's
 * error (exit 125) must contain each of the NULL-terminated wants; nothing is left in the
 * state's tmp. */
static void expect_refused(struct repos *r, const char *name, const char *gitmodules,
			   const char *gitlinks, const char *const *wants)
{
	struct run_result res;

	free(make_repo(r->base, name, gitmodules, gitlinks));
	cleanup_free char *url = xasprintf("git://127.0.0.1:%d/%s", r->port, name);
	exec_sub(url, "recursive", "echo ran", &res);
	printf("# %s: %s", name, res.err);
	CHECK_EQ(res.status, 125);
	CHECK(!strstr(res.out, "ran"));
	for (size_t i = 0; wants[i]; i++)
		CHECK_STR_CONTAINS(res.err, wants[i]);
	cleanup_free char *tmp = path_join(test_state_dir(), "tmp");
	CHECK_EQ(repo_count_entries(tmp, "checkout-"), 0);
	CHECK_EQ(repo_count_entries(tmp, ".checkout-"), 0);
	run_result_free(&res);
}

TEST(exec_submodules_missing_commit_and_unreachable_remote_fail_clearly)
{
	struct repos r = { 0 };

	make_repos(&r);
	/* deep's commit is no commit of libb's. */
	cleanup_free char *links = xasprintf("libb %s", r.deep);
	cleanup_free char *mods = xasprintf(
		"[submodule \"b\"]\n\tpath = libb\n\turl = git://127.0.0.1:%d/libb\n", r.port);
	cleanup_free char *want_commit =
		xasprintf("commit %s not found in the submodule's remote", r.deep);
	expect_refused(&r, "missing", mods, links,
		       (const char *[]){ "submodule 'b' (path 'libb', url 'git://127.0.0.1:",
					 want_commit, "push it there", NULL });
	int closed = test_free_port();
	cleanup_free char *mods2 = xasprintf(
		"[submodule \"b\"]\n\tpath = libb\n\turl = git://127.0.0.1:%d/libb\n", closed);
	cleanup_free char *links2 = xasprintf("libb %s", r.b);
	cleanup_free char *shown = xasprintf("url 'git://127.0.0.1:%d/libb'", closed);
	expect_refused(&r, "unreachable", mods2, links2,
		       (const char *[]){ "submodule 'b' (path 'libb', ", shown, NULL });
	/* A gitlink .gitmodules does not name. */
	/* One level down, the message says where. */
	cleanup_free char *links3 = xasprintf("deps/deep %s", r.deep);
	cleanup_free char *inner = make_repo(r.base, "inner.git", NULL, links3);
	cleanup_free char *links4 = xasprintf("x %s", inner);
	expect_refused(&r, "outer", "[submodule \"x\"]\n\tpath = x\n\turl = ../inner.git\n", links4,
		       (const char *[]){ "in submodule 'x': gitlink 'deps/deep' (commit ",
					 "has no entry in .gitmodules", NULL });
	expect_refused(&r, "unnamed", NULL, links2,
		       (const char *[]){ "gitlink 'libb'", "has no entry in .gitmodules",
					 "add [submodule", NULL });
	repos_release(&r);
}

TEST(exec_submodules_hostile_gitmodules_are_refused)
{
	struct repos r = { 0 };

	make_repos(&r);
	cleanup_free char *links = xasprintf("libb %s", r.b);
	/* SECURITY: a remote superproject must not make mayfly read the host's repositories:
	 * libb is right there on this host, by path and by file://. */
	cleanup_free char *file =
		xasprintf("[submodule \"b\"]\n\tpath = libb\n\turl = file://%s/libb\n", r.base);
	expect_refused(&r, "evil-file", file, links,
		       (const char *[]){ "refused: a local path or file:// URL", NULL });
	cleanup_free char *path =
		xasprintf("[submodule \"b\"]\n\tpath = libb\n\turl = %s/libb\n", r.base);
	expect_refused(&r, "evil-path-url", path, links,
		       (const char *[]){ "refused: a local path or file:// URL", NULL });
	expect_refused(&r, "evil-dash",
		       "[submodule \"b\"]\n\tpath = libb\n\turl = --upload-pack=touch /tmp/pwned\n",
		       links, (const char *[]){ "starts with '-'", NULL });
	expect_refused(&r, "evil-escape",
		       "[submodule \"b\"]\n\tpath = ../../libb\n\turl = ../libb\n", links,
		       (const char *[]){ "path '../../libb' refused", NULL });
	expect_refused(&r, "evil-name",
		       "[submodule \"../../../x\"]\n\tpath = libb\n\turl = ../libb\n", links,
		       (const char *[]){ "name '../../../x' refused", NULL });
	/* An entry whose path is a directory of the tree rather than a gitlink. */
	expect_refused(
		&r, "evil-dir",
		"[submodule \"b\"]\n\tpath = libb\n\turl = ../libb\n"
		"[submodule \"s\"]\n\tpath = src\n\turl = ../libb\n",
		links,
		(const char *[]){ "path 'src' is a directory in the tree, not a gitlink", NULL });
	/* Relative URLs may not climb above the host. */
	expect_refused(&r, "evil-climb", "[submodule \"b\"]\n\tpath = libb\n\turl = ../../x/libb\n",
		       links, (const char *[]){ "climbs above", NULL });
	/* A submodule remote with a branch named like the pinned commit, pointing elsewhere,
	 * does not swap the content the gitlink pins: the commit is looked up by id. */
	cleanup_free char *c1 = make_repo(r.base, "swap.git", NULL, NULL);
	CHECK_EQ(repo_sh("set -e; cd '%s/swap.git'; echo evil > swap.txt; git commit -qam evil; "
			 "git update-ref refs/heads/%s HEAD",
			 r.base, c1),
		 0);
	cleanup_free char *links_swap = xasprintf("x %s", c1);
	free(make_repo(r.base, "swapper", "[submodule \"x\"]\n\tpath = x\n\turl = ../swap.git\n",
		       links_swap));
	cleanup_free char *swapper = xasprintf("git://127.0.0.1:%d/swapper", r.port);
	struct run_result sw;
	exec_sub(swapper, "normal", "cat x/swap.txt; git -C x rev-parse HEAD", &sw);
	CHECK_EQ(sw.status, 0);
	cleanup_free char *want_swap = xasprintf("swap\n%s\n", c1);
	CHECK_STR_EQ(sw.out, want_swap);
	run_result_free(&sw);
	CHECK_EQ(access("/tmp/pwned", F_OK), -1);
	/* A .gitmodules that is a symlink (to a host file) is refused by the tree rules. */
	/* (git add refuses that; git mktree does not.) */
	CHECK_EQ(repo_sh("set -e; cd '%s/evil-dir'; l=$(printf /etc/passwd | git hash-object -w "
			 "--stdin); t=$( (git ls-tree HEAD | grep -v gitmodules; printf "
			 "'120000 blob %%s\\t.gitmodules\\n' $l) | git mktree); "
			 "git update-ref HEAD $(git commit-tree -m link -p HEAD $t)",
			 r.base),
		 0);
	struct run_result res;
	cleanup_free char *url = xasprintf("git://127.0.0.1:%d/evil-dir", r.port);
	exec_sub(url, "normal", "echo ran", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, ".gitmodules");
	run_result_free(&res);
	repos_release(&r);
}

#define TOKEN	 "s3cret-sub-t0ken-5a4b"
#define LIGHTTPD "/usr/sbin/lighttpd"

/* lighttpd on 127.0.0.1, plain HTTP, /git/ handed to git http-backend serving root, basic
 * auth "x-access-token:TOKEN" on everything (as test-checkout-https.c). */
static pid_t http_start(const char *name, const char *root, int *ret_port)
{
	cleanup_free char *dir = repo_path(name), *conf = NULL, *text = NULL;
	struct err err = { 0 };
	int port = test_free_port();
	pid_t pid;

	if (access(LIGHTTPD, X_OK) < 0)
		test_skip_host("no lighttpd (apt-get install lighttpd)");
	CHECK_OK(mkdir(dir, 0755));
	CHECK_EQ(repo_sh("cd '%s' && printf 'x-access-token:%s\\n' > users && mkdir www", dir,
			 TOKEN),
		 0);
	conf = path_join(dir, "lighttpd.conf");
	text = xasprintf("server.document-root = \"%s/www\"\n"
			 "server.bind = \"127.0.0.1\"\n"
			 "server.port = %d\n"
			 "server.errorlog = \"%s/lighttpd.log\"\n"
			 "server.modules = ( \"mod_auth\", \"mod_authn_file\", \"mod_alias\", "
			 "\"mod_setenv\", \"mod_cgi\" )\n"
			 "auth.backend = \"plain\"\n"
			 "auth.backend.plain.userfile = \"%s/users\"\n"
			 "auth.require = ( \"/\" => ( \"method\" => \"basic\", \"realm\" => "
			 "\"git\", \"require\" => \"valid-user\" ) )\n"
			 "alias.url = ( \"/git\" => \"/usr/lib/git-core/git-http-backend\" )\n"
			 "$HTTP[\"url\"] =~ \"^/git\" {\n"
			 "  cgi.assign = ( \"\" => \"\" )\n"
			 "  setenv.add-environment = ( \"GIT_PROJECT_ROOT\" => \"%s\", "
			 "\"GIT_HTTP_EXPORT_ALL\" => \"1\" )\n"
			 "}\n",
			 dir, port, dir, dir, root);
	CHECK_OK(write_file_atomic_at(AT_FDCWD, conf, text, strlen(text), 0644, 0, &err));
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		execl(LIGHTTPD, "lighttpd", "-D", "-f", conf, (char *) NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && !test_port_accepts(port); i++)
		usleep(10 * 1000);
	CHECK(test_port_accepts(port));
	*ret_port = port;
	return pid;
}

static void exec_token(const char *url, struct run_result *res)
{
	char env_kv[] = "MAYFLY_GIT_TOKEN=" TOKEN;
	char *env[] = { env_kv, NULL };
	const char *argv[] = { mayfly_bin(),
			       "--state-dir",
			       test_state_dir(),
			       "exec",
			       "--repo",
			       url,
			       "--submodules",
			       "normal",
			       "--",
			       "sh",
			       "-c",
			       "cat */*.txt; git status --porcelain --ignore-submodules=none; "
			       "env | grep -c s3cret; true",
			       NULL };

	run_argv((char *const *) argv, env, 120, res);
	printf("# exit %d, stderr: %s\n", res->status, res->err);
}

TEST(exec_submodules_send_the_token_to_the_superprojects_origin_only)
{
	cleanup_free char *root1 = repo_path("srv1"), *root2 = repo_path("srv2");
	int port1, port2;
	struct run_result res;

	CHECK_OK(mkdir(root1, 0755));
	CHECK_OK(mkdir(root2, 0755));
	cleanup_pid pid_t s1 = http_start("http1", root1, &port1);
	cleanup_pid pid_t s2 = http_start("http2", root2, &port2);
	cleanup_free char *same = make_repo(root1, "same.git", NULL, NULL);
	cleanup_free char *other = make_repo(root2, "other.git", NULL, NULL);
	/* Same scheme, host and port (a relative URL): the token goes along. */
	cleanup_free char *links = xasprintf("same %s", same);
	free(make_repo(root1, "app.git",
		       "[submodule \"same\"]\n\tpath = same\n\turl = ../same.git\n", links));
	cleanup_free char *url = xasprintf("http://localhost:%d/git/app.git", port1);
	exec_token(url, &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, "same\n0\n");
	run_result_free(&res);
	cleanup_free char *other_url = xasprintf("http://localhost:%d/git/other.git", port2);
	/* A submodule on another port gets no token: anonymous, refused by the server... */
	cleanup_free char *mods =
		xasprintf("[submodule \"other\"]\n\tpath = other\n\turl = %s\n", other_url);
	cleanup_free char *links2 = xasprintf("other %s", other);
	free(make_repo(root1, "app2.git", mods, links2));
	cleanup_free char *url2 = xasprintf("http://localhost:%d/git/app2.git", port1);
	exec_token(url2, &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "submodule 'other' (path 'other', url 'http://localhost:");
	CHECK_STR_CONTAINS(res.err, "wants credentials and none were given");
	CHECK_STR_CONTAINS(res.err, "the token goes only to the superproject's scheme, host");
	CHECK_STR_NOT_CONTAINS(res.err, TOKEN);
	run_result_free(&res);
	/* ...which the token opens (fetched first, the mirror would have served it). */
	exec_token(other_url, &res);
	CHECK_EQ(res.status, 0);
	run_result_free(&res);
	/* SECURITY: nowhere on disk, the submodules' .git dirs and configs included. */
	CHECK_EQ(repo_sh("! grep -r -a -l -F '%s' '%s'", TOKEN, test_state_dir()), 0);
}

/* test-checkout-workspace.c - the workspace as a job will see it: the cached tree as the
 * lower layer of an overlay whose upper layer (a tmpfs) holds the .git that
 * checkout_workspace_git() wrote. `git status` there must be clean and must not rehash the
 * files although inode, device and ctime differ from the recorded ones; the times of the
 * first `git status` are printed next to those of a plain `git clone`. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkout/checkout.h"
#include "need.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/xalloc.h"
#include "../unit/checkout/repo.h"
#include "test.h"

#define NFILES 5000

static int enter_userns(void)
{
	uid_t uid = getuid();
	gid_t gid = getgid();
	struct err err = { 0 };
	char map[64];

	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
		return -1;
	(void) write_file_at(AT_FDCWD, "/proc/self/setgroups", "deny", &err);
	(void) snprintf(map, sizeof(map), "0 %u 1", (unsigned) uid);
	if (write_file_at(AT_FDCWD, "/proc/self/uid_map", map, &err) < 0)
		return -1;
	(void) snprintf(map, sizeof(map), "0 %u 1", (unsigned) gid);
	if (write_file_at(AT_FDCWD, "/proc/self/gid_map", map, &err) < 0)
		return -1;
	return mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL);
}

/* The median of three timed runs of a script. */
static double time_sh(const char *script)
{
	double t[3];

	for (int i = 0; i < 3; i++) {
		double t0 = repo_now_ms();
		CHECK_EQ(repo_sh("%s", script), 0);
		t[i] = repo_now_ms() - t0;
	}
	if (t[0] > t[1]) {
		double x = t[0];
		t[0] = t[1];
		t[1] = x;
	}
	return t[2] < t[0] ? t[0] : t[2] > t[1] ? t[1] : t[2];
}

/* Mount the overlay a job gets (lower: the cached tree; upper: a tmpfs with the .git), in
 * this child's own namespaces, and look at it with git. minimal: keep the config
 * checkout_workspace_git() writes; else drop core.checkStat and core.trustctime. */
static int child(const char *cache, const char *mirror, const char *commit, const char *tree_dir,
		 const char *next_tree, const char *scratch, bool minimal)
{
	cleanup_free char *up = path_join(scratch, "up"), *work = path_join(scratch, "work");
	cleanup_free char *merged = xasprintf("%s-merged", scratch), *opts = NULL;
	cleanup_free char *dirty = NULL, *status = NULL, *git = NULL;
	struct err err = { 0 };

	if (enter_userns() < 0 || mount("ws", scratch, "tmpfs", 0, "mode=0755") < 0)
		return 10;
	if (mkdir(up, 0755) < 0 || mkdir(work, 0755) < 0 || mkdir(merged, 0755) < 0)
		return 11;
	const struct checkout_workspace ws = {
		.mirror = mirror, .mirror_inside = mirror, .commit = commit, .tree_dir = tree_dir
	};
	if (checkout_workspace_git(&ws, up, &err) < 0) {
		printf("# %s\n", err.msg);
		return 12;
	}
	/* Another job materialises a newer commit: it hard-links this tree's files, which
	 * moves their ctime (and a job's files may show another owner, through an idmapped
	 * mount or a user namespace). */
	cleanup_free char *next_dir = NULL;
	sleep(1); /* git compares whole seconds */
	if (repo_materialize_dir(cache, mirror, next_tree, (uid_t) -1, (gid_t) -1, &next_dir, NULL,
				 &err) < 0) {
		printf("# %s\n", err.msg);
		return 20;
	}
	if (!minimal && repo_sh("git --git-dir='%s/.git' config --unset core.checkStat && "
				"git --git-dir='%s/.git' config --unset core.trustctime",
				up, up) != 0)
		return 13;
	opts = xasprintf("lowerdir=%s,upperdir=%s,workdir=%s", tree_dir, up, work);
	if (mount("overlay", merged, "overlay", 0, opts) < 0)
		return 14;
	git = xasprintf("git -C '%s'", merged);
	/* Stat data alone: diff-files never reads a file, so what it lists has stale stat. */
	if (repo_sh_out(&dirty, "%s diff-files --name-only | wc -l", git) != 0)
		return 15;
	double t0 = repo_now_ms();
	if (repo_sh_out(&status, "%s status --porcelain", git) != 0)
		return 16;
	double first = repo_now_ms() - t0;
	cleanup_free char *again = xasprintf("%s status --porcelain >/dev/null", git);
	double later = time_sh(again);
	printf("# overlay, %s: stale stat entries %ld, first git status %.1f ms, then %.1f ms\n",
	       minimal ? "core.checkStat=minimal + trustctime=false" : "git's default checkStat",
	       strtol(dirty, NULL, 10), first, later);
	if (*status) {
		printf("# status: %.300s\n", status);
		return 17;
	}
	/* What the job writes goes to the upper layer, never to the cache. */
	if (repo_sh("cd '%s' && echo job >> d00/s00/f00000.txt && git status --porcelain | "
		    "grep -q 'M d00/s00/f00000.txt'",
		    merged) != 0)
		return 18;
	return minimal && strtol(dirty, NULL, 10) != 0 ? 19 : 0;
}

TEST(checkout_workspace_in_an_overlay_is_clean_and_fast)
{
	cleanup_free char *src = repo_path("src"), *cache = repo_path("cache"), *mirror = NULL;
	cleanup_free char *tree_dir = NULL, *clone = repo_path("clone"), *before = NULL;
	char commit[41], tree[41], next[2][41], ignored[41];
	struct err err = { 0 };

	NEED(OVERLAY);
	repo_generate(src, NFILES, 2, 10);
	CHECK_OK(checkout_mirror(cache, src, NULL, NULL, 0, &mirror, &err));
	cleanup_free char *base = repo_line("git -C '%s' rev-parse main~2", src);
	cleanup_free char *mid = repo_line("git -C '%s' rev-parse main~1", src);
	CHECK_OK(checkout_resolve(mirror, base, commit, tree, &err));
	CHECK_OK(checkout_resolve(mirror, mid, ignored, next[1], &err));
	CHECK_OK(checkout_resolve(mirror, "main", ignored, next[0], &err));
	CHECK_OK(repo_materialize_dir(cache, mirror, tree, (uid_t) -1, (gid_t) -1, &tree_dir, NULL,
				      &err));
	before = repo_listing(tree_dir);
	for (int minimal = 1; minimal >= 0; minimal--) {
		cleanup_free char *scratch = xasprintf("%s/s%d", test_tmpdir(), minimal);
		int status;

		CHECK_OK(mkdir(scratch, 0755));
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0)
			_exit(child(cache, mirror, commit, tree_dir, next[minimal], scratch,
				    minimal));
		CHECK_EQ(waitpid(pid, &status, 0), pid);
		CHECK(WIFEXITED(status));
		if (WEXITSTATUS(status) == 10 || WEXITSTATUS(status) == 14)
			test_skip_host("cannot mount tmpfs or overlayfs in a user namespace here");
		CHECK_EQ(WEXITSTATUS(status), 0);
	}
	/* The cache is as it was. */
	cleanup_free char *after = repo_listing(tree_dir);
	CHECK_STR_EQ(after, before);
	/* For comparison: a clone on the same disk. */
	CHECK_EQ(repo_sh("git clone -q '%s' '%s'", src, clone), 0);
	cleanup_free char *st = xasprintf("git -C '%s' status --porcelain >/dev/null", clone);
	printf("# plain git clone of %d files: git status %.1f ms\n", NFILES, time_sh(st));
}

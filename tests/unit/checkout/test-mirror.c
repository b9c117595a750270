/* test-mirror.c - mirrors of local repositories (plain paths and file://): created once,
 * fetched incrementally, shared by spellings of one URL, safe under concurrent callers,
 * never waiting for a fetch they do not need, rebuilt when damaged; and resolving revs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkout/checkout.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/path.h"
#include "util/xalloc.h"
#include "repo.h"
#include "test.h"

/* libgit2 1.5.1 leaks a reference when its local transport meets a ref whose object is
 * gone (revparse_lookup_object() returns without freeing it): only the damaged-mirror test
 * gets there. libgit2 has no frame pointers, so the suppression needs slow unwinding. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:git_revparse_single\n";
}
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "fast_unwind_on_malloc=0";
}

/* A small source repository: main (2 commits), dev, a lightweight and an annotated tag, and
 * a tag on a tree. */
static char *make_source(void)
{
	char *src = repo_path("src");

	CHECK_EQ(repo_sh("git init -q -b main '%s' && cd '%s' && echo one > a && git add a && "
			 "git commit -qm one && git tag v1 && echo two > a && git commit -qam two "
			 "&& git tag -a -m 'release 2' v2 && git branch dev HEAD~1 && "
			 "git tag treetag HEAD^{tree}",
			 src, src),
		 0);
	return src;
}

static char *cache_dir(void)
{
	return repo_path("cache");
}

TEST(checkout_mirror_creates_fetches_and_resolves)
{
	cleanup_free char *src = make_source(), *cache = cache_dir();
	cleanup_free char *mirror = NULL, *again = NULL, *head = NULL, *cfg = NULL;
	cleanup_free char *url = xasprintf("file://%s/", src);
	char commit[41], tree[41];
	struct err err = { 0 };

	CHECK_OK(checkout_mirror(cache, src, NULL, NULL, 0, &mirror, &err));
	CHECK(str_startswith(mirror, cache));
	CHECK(str_endswith(mirror, ".git"));
	/* Another spelling of the same repository: the same mirror. */
	CHECK_OK(checkout_mirror(cache, url, NULL, NULL, 0, &again, &err));
	CHECK_STR_EQ(again, mirror);
	/* No temporary directory is left, and the mirror is bare with a mirror refspec. */
	CHECK_EQ(repo_count_entries(cache, "git"), 1);
	cleanup_free char *gitdir = path_join(cache, "git");
	CHECK_EQ(repo_count_entries(gitdir, ".tmp-"), 0);
	CHECK_EQ(repo_sh_out(&cfg,
			     "git --git-dir='%s' config --get-all remote.origin.fetch && "
			     "git --git-dir='%s' config core.bare",
			     mirror, mirror),
		 0);
	CHECK_STR_EQ(cfg, "+refs/*:refs/*\ntrue\n");
	head = repo_line("git -C '%s' rev-parse main", src);
	CHECK_OK(checkout_resolve(mirror, "HEAD", commit, tree, &err));
	CHECK_STR_EQ(commit, head);
}

TEST(checkout_resolve_table)
{
	cleanup_free char *src = make_source(), *cache = cache_dir(), *mirror = NULL;
	cleanup_free char *main_id = repo_line("git -C '%s' rev-parse main", src);
	cleanup_free char *dev_id = repo_line("git -C '%s' rev-parse dev", src);
	cleanup_free char *main_tree = repo_line("git -C '%s' rev-parse main^{tree}", src);
	cleanup_free char *short_dev = xstrndup(dev_id, 7);
	struct err err = { 0 };
	const struct {
		const char *rev, *commit;
	} rows[] = {
		{ "main", main_id },	     { "dev", dev_id },
		{ "HEAD", main_id },	     { "v1", dev_id },
		{ "v2", main_id },	     { "refs/heads/dev", dev_id },
		{ "refs/tags/v2", main_id }, { short_dev, dev_id },
		{ dev_id, dev_id },
	};

	CHECK_OK(checkout_mirror(cache, src, NULL, NULL, 0, &mirror, &err));
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		char commit[41], tree[41];
		printf("# %s\n", rows[i].rev);
		CHECK_OK(checkout_resolve(mirror, rows[i].rev, commit, tree, &err));
		CHECK_STR_EQ(commit, rows[i].commit);
		if (rows[i].commit == main_id)
			CHECK_STR_EQ(tree, main_tree);
	}
	static const struct {
		const char *rev, *msg;
		int code;
	} bad[] = {
		{ "nope", "rev 'nope' not found in '", -ENOENT },
		{ "deadbeef", "branches: dev, main", -ENOENT },
		{ "treetag", "names a tree, not a commit", -EINVAL },
		{ "-main", "starts with '-'", -EINVAL },
		{ "ma\nin", "control characters", -EINVAL },
		{ "main~1", "not found", -ENOENT },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char commit[41] = "untouched", tree[41] = "untouched";
		CHECK_EQ(checkout_resolve(mirror, bad[i].rev, commit, tree, &err), bad[i].code);
		printf("# %s\n", err.msg);
		CHECK_STR_CONTAINS(err.msg, bad[i].msg);
		CHECK_STR_EQ(commit, "untouched");
	}
}

TEST(checkout_mirror_fetches_new_commits_and_prunes_deleted_branches)
{
	cleanup_free char *src = make_source(), *cache = cache_dir(), *mirror = NULL;
	cleanup_free char *next = NULL;
	char commit[41], tree[41];
	struct err err = { 0 };

	CHECK_OK(checkout_mirror(cache, src, NULL, NULL, 0, &mirror, &err));
	CHECK_EQ(repo_sh("cd '%s' && echo three > a && git commit -qam three && git branch -D dev"
			 " -q && git checkout -qb topic",
			 src),
		 0);
	next = repo_line("git -C '%s' rev-parse HEAD", src);
	CHECK_EQ(checkout_resolve(mirror, next, commit, tree, &err), -ENOENT);
	free(TAKE_PTR(mirror));
	CHECK_OK(checkout_mirror(cache, src, NULL, NULL, 0, &mirror, &err));
	CHECK_OK(checkout_resolve(mirror, "main", commit, tree, &err));
	CHECK_STR_EQ(commit, next);
	CHECK_OK(checkout_resolve(mirror, "topic", commit, tree, &err));
	CHECK_EQ(checkout_resolve(mirror, "dev", commit, tree, &err), -ENOENT);
}

static int lock_mirror(const char *cache, const char *mirror)
{
	const char *base = strrchr(mirror, '/') + 1;
	cleanup_free char *lock =
		xasprintf("%s/git/%.*s.lock", cache, (int) strlen(base) - 4, base);
	int fd = open(lock, O_RDWR | O_CLOEXEC);

	CHECK(fd >= 0);
	CHECK_OK(flock(fd, LOCK_EX));
	return fd;
}

TEST(checkout_mirror_never_waits_for_a_fetch_it_does_not_need)
{
	cleanup_free char *src = make_source(), *cache = cache_dir(), *mirror = NULL;
	cleanup_free char *main_id = repo_line("git -C '%s' rev-parse main", src);
	cleanup_free char *newer = NULL;
	struct err err = { 0 };
	int status;

	CHECK_OK(checkout_mirror(cache, src, NULL, NULL, 0, &mirror, &err));
	/* Someone is fetching (holds the lock) for as long as this test wants. */
	cleanup_close int lfd = lock_mirror(cache, mirror);
	cleanup_free char *m2 = NULL, *m3 = NULL;
	double t0 = repo_now_ms();
	CHECK_OK(checkout_mirror(cache, src, NULL, main_id, 0, &m2, &err));
	char short_id[8];
	(void) snprintf(short_id, sizeof(short_id), "%.7s", main_id);
	free(m2);
	m2 = NULL;
	CHECK_OK(checkout_mirror(cache, src, NULL, short_id, 0, &m2, &err));
	CHECK_OK(checkout_mirror(cache, src, NULL, NULL, CHECKOUT_NO_FETCH_IF_PRESENT, &m3, &err));
	CHECK(repo_now_ms() - t0 < 1000);
	/* A commit the mirror lacks: that caller waits for the lock, then fetches. */
	CHECK_EQ(repo_sh("cd '%s' && echo four > a && git commit -qam four", src), 0);
	newer = repo_line("git -C '%s' rev-parse HEAD", src);
	pid_t pid = fork();
	if (pid == 0) {
		cleanup_free char *m = NULL;
		char commit[41], tree[41];
		struct err e = { 0 };
		if (checkout_mirror(cache, src, NULL, newer, 0, &m, &e) < 0 ||
		    checkout_resolve(m, newer, commit, tree, &e) < 0) {
			printf("# child: %s\n", e.msg);
			_exit(1);
		}
		_exit(0);
	}
	usleep(300 * 1000);
	CHECK_EQ(waitpid(pid, &status, WNOHANG), 0); /* still waiting for the lock */
	CHECK_OK(flock(lfd, LOCK_UN));
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(checkout_mirror_concurrent_first_fetches_make_one_mirror)
{
	cleanup_free char *src = repo_path("big"), *cache = cache_dir();
	cleanup_free char *gitdir = NULL;
	pid_t pids[4];

	repo_generate(src, 500, 0, 0);
	for (size_t i = 0; i < ARRAY_SIZE(pids); i++) {
		pids[i] = fork();
		if (pids[i] == 0) {
			cleanup_free char *m = NULL;
			char commit[41], tree[41];
			struct err e = { 0 };
			if (checkout_mirror(cache, src, NULL, NULL, 0, &m, &e) < 0 ||
			    checkout_resolve(m, "main", commit, tree, &e) < 0) {
				printf("# child %zu: %s\n", i, e.msg);
				_exit(1);
			}
			_exit(0);
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(pids); i++) {
		int status;
		CHECK_EQ(waitpid(pids[i], &status, 0), pids[i]);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	gitdir = path_join(cache, "git");
	CHECK_EQ(repo_count_entries(gitdir, ".tmp-"), 0);
	CHECK_EQ(repo_count_entries(gitdir, "."), 2); /* "." and ".." */
}

/* Remove every pack of the mirror: refs now point at nothing. */
static void damage(const char *mirror, const char *how)
{
	CHECK_EQ(repo_sh("cd '%s/objects/pack' && ls | grep -q pack && for p in *.pack; do %s; "
			 "done",
			 mirror, how),
		 0);
}

TEST(checkout_mirror_rebuilds_a_damaged_mirror)
{
	cleanup_free char *src = make_source(), *cache = cache_dir(), *mirror = NULL;
	cleanup_free char *m2 = NULL, *m3 = NULL;
	char commit[41], tree[41];
	struct err err = { 0 };

	CHECK_OK(checkout_mirror(cache, src, NULL, NULL, 0, &mirror, &err));
	damage(mirror, "rm -f \"$p\" \"${p%.pack}.idx\"");
	CHECK_EQ(checkout_resolve(mirror, "main", commit, tree, &err), -EUCLEAN);
	printf("# resolve on the damaged mirror: %s\n", err.msg);
	CHECK_OK(checkout_mirror(cache, src, NULL, NULL, 0, &m2, &err));
	CHECK_OK(checkout_resolve(m2, "main", commit, tree, &err));
	/* Overwritten with garbage: every object in it unreadable. */
	damage(m2, "chmod u+w \"$p\" && head -c $(stat -c %s \"$p\") /dev/urandom > \"$p\"");
	CHECK_EQ(repo_sh("cd '%s' && echo five > a && git commit -qam five", src), 0);
	CHECK_EQ(checkout_resolve(m2, "main", commit, tree, &err), -EUCLEAN);
	printf("# resolve on the overwritten mirror: %s\n", err.msg);
	CHECK_OK(checkout_mirror(cache, src, NULL, NULL, 0, &m3, &err));
	CHECK_OK(checkout_resolve(m3, "main", commit, tree, &err));
	CHECK_EQ(repo_sh("! ls '%s/objects/pack' | grep -q '^pack-.*pack$' || "
			 "git --git-dir='%s' verify-pack '%s'/objects/pack/*.idx",
			 m3, m3, m3),
		 0);
	cleanup_free char *want = repo_line("git -C '%s' rev-parse main", src);
	CHECK_STR_EQ(commit, want);
	CHECK_EQ(repo_sh("git --git-dir='%s' fsck --no-progress", m3), 0);
}

TEST(checkout_mirror_rebuild_flag_starts_afresh)
{
	cleanup_free char *src = make_source(), *cache = cache_dir(), *mirror = NULL;
	cleanup_free char *m2 = NULL, *mark = NULL;
	struct err err = { 0 };

	CHECK_OK(checkout_mirror(cache, src, NULL, NULL, 0, &mirror, &err));
	mark = path_join(mirror, "old-mirror");
	CHECK_EQ(repo_sh("touch '%s'", mark), 0);
	CHECK_OK(checkout_mirror(cache, src, NULL, NULL, CHECKOUT_REBUILD, &m2, &err));
	CHECK_STR_EQ(m2, mirror);
	CHECK(access(mark, F_OK) < 0 && errno == ENOENT);
}

TEST(checkout_mirror_reports_a_missing_local_repository)
{
	cleanup_free char *cache = cache_dir(), *empty = repo_path("empty"), *m = NULL;
	struct err err = { 0 };

	CHECK_EQ(checkout_mirror(cache, "/nonexistent/repo", NULL, NULL, 0, &m, &err), -ENOENT);
	CHECK_STR_CONTAINS(err.msg, "'/nonexistent/repo'");
	CHECK_OK(mkdir(empty, 0755));
	CHECK(checkout_mirror(cache, empty, NULL, NULL, 0, &m, &err) < 0);
	printf("# %s\n", err.msg);
	CHECK(m == NULL);
	cleanup_free char *gitdir = path_join(cache, "git");
	CHECK_EQ(repo_count_entries(gitdir, ".tmp-"), 0);
}

/* A job holds the mirror it reads: a rebuild moves it aside, whole, and the last holder to
 * let go deletes it. */
TEST(checkout_mirror_rebuild_keeps_a_held_mirror_until_it_is_released)
{
	cleanup_free char *src = make_source(), *cache = cache_dir(), *mirror = NULL;
	cleanup_free char *m2 = NULL, *mark = NULL, *gitdir = path_join(cache, "git");
	cleanup_close int a = -1, b = -1, fresh = -1;
	cleanup_free char *head = repo_line("git -C '%s' rev-parse main", src);
	struct err err = { 0 };

	CHECK_OK(checkout_mirror(cache, src, NULL, NULL, 0, &mirror, &err));
	CHECK_OK(checkout_mirror_hold(mirror, &a, &err));
	CHECK_OK(checkout_mirror_hold(mirror, &b, &err)); /* two jobs */
	mark = path_join(mirror, "old-mirror");
	CHECK_EQ(repo_sh("touch '%s'", mark), 0);
	CHECK_OK(checkout_mirror(cache, src, NULL, NULL, CHECKOUT_REBUILD, &m2, &err));
	CHECK_STR_EQ(m2, mirror);
	CHECK(access(mark, F_OK) < 0 && errno == ENOENT); /* a new mirror at the path */
	CHECK_EQ(repo_count_entries(gitdir, ".trash-"), 1);
	/* The one the jobs hold is whole: every object readable. */
	CHECK_OK(faccessat(a, "old-mirror", F_OK, 0));
	CHECK_EQ(repo_sh("cd '%s' && t=$(ls -d .trash-*) && git --git-dir=\"$t\" fsck "
			 "--no-progress && git --git-dir=\"$t\" log -p main | grep -q one",
			 gitdir),
		 0);
	/* The new one can be held (and its holder does not keep the old one). */
	CHECK_OK(checkout_mirror_hold(mirror, &fresh, &err));
	a = checkout_mirror_release(mirror, TAKE_FD(a));
	CHECK_EQ(repo_count_entries(gitdir, ".trash-"), 1); /* b still reads it */
	b = checkout_mirror_release(mirror, TAKE_FD(b));
	CHECK_EQ(repo_count_entries(gitdir, ".trash-"), 0); /* the last one deleted it */
	fresh = checkout_mirror_release(mirror, TAKE_FD(fresh));
	CHECK_OK(access(mirror, F_OK)); /* the mirror in place is never deleted on release */
	char commit[41], tree[41];
	CHECK_OK(checkout_resolve(mirror, "main", commit, tree, &err));
	CHECK_STR_EQ(commit, head);
}

TEST(checkout_mirror_hold_refuses_a_mirror_that_is_gone)
{
	cleanup_free char *cache = cache_dir(), *gone = path_join(cache, "git/none.git");
	struct err err = { 0 };
	int fd = -1;

	CHECK_EQ(checkout_mirror_hold(gone, &fd, &err), -ESTALE);
	printf("# %s\n", err.msg);
	CHECK_STR_CONTAINS(err.msg, gone);
	CHECK_EQ(fd, -1);
}

/* What a fetch killed half way leaves (libgit2's temporary pack, ref lock files) would fail
 * every later fetch of those refs: the next fetch removes it, under the lock. */
TEST(checkout_mirror_fetch_removes_what_a_killed_fetch_left)
{
	cleanup_free char *src = make_source(), *cache = cache_dir(), *mirror = NULL;
	cleanup_free char *m2 = NULL, *head = NULL, *left = NULL;
	char commit[41], tree[41];
	struct err err = { 0 };

	CHECK_OK(checkout_mirror(cache, src, NULL, NULL, 0, &mirror, &err));
	CHECK_EQ(repo_sh("cd '%s' && mkdir -p refs/heads && : > refs/heads/main.lock && "
			 ": > packed-refs.lock && : > HEAD.lock && "
			 "head -c 5000 /dev/urandom > objects/pack/pack_git2_a1b2c3 && "
			 ": > objects/pack/pack-0123.idx.lock",
			 mirror),
		 0);
	CHECK_EQ(repo_sh("cd '%s' && echo six > a && git commit -qam six", src), 0);
	head = repo_line("git -C '%s' rev-parse main", src);
	int r = checkout_mirror(cache, src, NULL, NULL, 0, &m2, &err);
	printf("# %s\n", err.msg);
	CHECK_OK(r);
	CHECK_OK(checkout_resolve(m2, "main", commit, tree, &err));
	CHECK_STR_EQ(commit, head);
	CHECK_EQ(repo_sh_out(&left, "cd '%s' && find . -name '*.lock' -o -name 'pack_git2_*'",
			     mirror),
		 0);
	CHECK_STR_EQ(left, "");
}

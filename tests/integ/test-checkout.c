/* test-checkout.c - checkout against real servers on loopback: a `git daemon` serving git://
 * (mirror, incremental fetch, a damaged mirror rebuilt, a closed port), and a full disk
 * while materialising (a small tmpfs in a user namespace). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
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

/* `git daemon` serving base over git:// on 127.0.0.1; returns its pid (SIGKILLed by the
 * caller's cleanup_pid, and the harness kills the test's process group anyway). */
static pid_t start_daemon(const char *base, int *ret_port)
{
	int port = test_free_port();
	pid_t pid;

	if (access("/usr/lib/git-core/git-daemon", X_OK) < 0)
		test_skip_host("no git-daemon (package git)");
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		cleanup_free char *log = path_join(test_tmpdir(), "daemon.log");
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		char p[32], b[4200];
		if (fd >= 0)
			(void) dup2(fd, 2); /* the readiness probes make it complain */
		(void) snprintf(p, sizeof(p), "--port=%d", port);
		(void) snprintf(b, sizeof(b), "--base-path=%s", base);
		execlp("git", "git", "daemon", "--reuseaddr", "--listen=127.0.0.1", p, b,
		       "--export-all", "--informative-errors", base, (char *) NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && !test_port_accepts(port); i++)
		usleep(10 * 1000);
	CHECK(test_port_accepts(port));
	*ret_port = port;
	return pid;
}

static size_t pack_bytes(const char *mirror, bool newest)
{
	cleanup_free char *out = NULL;
	size_t n = 0;

	CHECK_EQ(repo_sh_out(&out, "ls -t%s '%s'/objects/pack/*.pack | head -1 | xargs stat -c %%s",
			     newest ? "" : "r", mirror),
		 0);
	(void) sscanf(out, "%zu", &n);
	return n;
}

TEST(checkout_git_daemon_mirror_fetch_and_rebuild)
{
	cleanup_free char *base = repo_path("srv"), *src = NULL, *cache = repo_path("cache");
	cleanup_free char *url = NULL, *url2 = NULL, *mirror = NULL, *m2 = NULL, *m3 = NULL;
	cleanup_free char *m4 = NULL, *dir = NULL, *head = NULL;
	char commit[41], tree[41];
	struct err err = { 0 };
	int port;

	CHECK_OK(mkdir(base, 0755));
	src = path_join(base, "app.git"); /* git daemon finds "app" there too */
	repo_generate(src, 2000, 0, 0);
	cleanup_pid pid_t daemon = start_daemon(base, &port);
	url = xasprintf("git://127.0.0.1:%d/app.git", port);
	url2 = xasprintf("git://127.0.0.1:%d/app", port);
	CHECK_OK(checkout_mirror(cache, url, NULL, NULL, 0, &mirror, &err));
	CHECK_OK(checkout_resolve(mirror, "main", commit, tree, &err));
	CHECK_OK(materialize_dir(cache, mirror, tree, (uid_t) -1, (gid_t) -1, &dir, NULL, &err));
	size_t first = pack_bytes(mirror, true);
	/* A new commit of 10 files: the second fetch brings a small pack. */
	CHECK_EQ(repo_sh("cd '%s' && for i in 1 2 3 4 5 6 7 8 9 10; do echo $i >> "
			 "d0$i/s00/f000$i.c 2>/dev/null || echo $i > new$i; done && "
			 "git add -A . && git commit -qm more",
			 src),
		 0);
	head = repo_line("git -C '%s' rev-parse main", src);
	CHECK_OK(checkout_mirror(cache, url2, NULL, head, 0, &m2, &err));
	CHECK_STR_EQ(m2, mirror); /* another spelling, the same mirror */
	CHECK_OK(checkout_resolve(mirror, "main", commit, tree, &err));
	CHECK_STR_EQ(commit, head);
	size_t second = pack_bytes(mirror, true);
	printf("# first pack %zu bytes, incremental pack %zu bytes\n", first, second);
	CHECK(second * 20 < first);
	/* The mirror records the URL it was given, and the remote's HEAD. */
	cleanup_free char *cfg_url =
		repo_line("git --git-dir='%s' config remote.origin.url", mirror);
	CHECK_STR_EQ(cfg_url, url2);
	/* Damaged (packs overwritten with garbage): the next fetch notices and rebuilds. */
	CHECK_EQ(repo_sh("cd '%s/objects/pack' && for p in *.pack; do chmod u+w \"$p\"; "
			 "head -c $(stat -c %%s \"$p\") /dev/zero > \"$p\"; done",
			 mirror),
		 0);
	CHECK_EQ(checkout_resolve(mirror, "main", commit, tree, &err), -EUCLEAN);
	printf("# damaged: %s\n", err.msg);
	CHECK_EQ(repo_sh("cd '%s' && echo again >> new1 && git add -A . && git commit -qm again",
			 src),
		 0);
	CHECK_OK(checkout_mirror(cache, url, NULL, NULL, 0, &m3, &err));
	CHECK_OK(checkout_resolve(m3, "main", commit, tree, &err));
	free(head);
	head = repo_line("git -C '%s' rev-parse main", src);
	CHECK_STR_EQ(commit, head);
	CHECK_EQ(repo_sh("git --git-dir='%s' fsck --no-progress --connectivity-only", m3), 0);
	/* A commit the server does not have: fetched, still unknown, said so. */
	CHECK_OK(checkout_mirror(cache, url, NULL, "0123456789abcdef", 0, &m4, &err));
	CHECK_EQ(checkout_resolve(m4, "0123456789abcdef", commit, tree, &err), -ENOENT);
	printf("# %s\n", err.msg);
}

TEST(checkout_git_daemon_unknown_repository_and_closed_port)
{
	cleanup_free char *base = repo_path("srv"), *cache = repo_path("cache");
	cleanup_free char *url = NULL, *closed = NULL, *m = NULL;
	cleanup_free char *gitdir = path_join(cache, "git");
	struct err err = { 0 };
	int port;

	CHECK_OK(mkdir(base, 0755));
	cleanup_pid pid_t daemon = start_daemon(base, &port);
	url = xasprintf("git://127.0.0.1:%d/nothing-here.git", port);
	CHECK_EQ(checkout_mirror(cache, url, NULL, NULL, 0, &m, &err), -ENOENT);
	printf("# %s\n", err.msg);
	CHECK_STR_CONTAINS(err.msg, url);
	closed = xasprintf("git://127.0.0.1:%d/app.git", test_free_port());
	double t0 = repo_now_ms();
	int r = checkout_mirror(cache, closed, NULL, NULL, 0, &m, &err);
	printf("# %s\n", err.msg);
	CHECK_EQ(r, -EHOSTUNREACH);
	printf("# %s (%d)\n", err.msg, err.code);
	CHECK_STR_CONTAINS(err.msg, closed);
	CHECK(repo_now_ms() - t0 < 5000);
	CHECK(m == NULL);
	CHECK_EQ(repo_count_entries(gitdir, ".tmp-"), 0);
	CHECK_EQ(repo_count_entries(gitdir, ".trash-"), 0);
}

/* In a user and mount namespace of its own, with "<cache>/trees" a 2 MiB tmpfs: a tree of
 * 4 MiB fails with ENOSPC and leaves nothing; a small one then fits. */
static int full_disk_child(const char *cache, const char *mirror, const char *big,
			   const char *small, char *msg, size_t size)
{
	cleanup_free char *trees = path_join(cache, "trees"), *dir = NULL;
	uid_t uid = getuid();
	gid_t gid = getgid();
	struct err err = { 0 };
	char map[64];
	int r;

	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
		return 10;
	(void) write_file_at(AT_FDCWD, "/proc/self/setgroups", "deny", &err);
	(void) snprintf(map, sizeof(map), "0 %u 1", (unsigned) uid);
	if (write_file_at(AT_FDCWD, "/proc/self/uid_map", map, &err) < 0)
		return 11;
	(void) snprintf(map, sizeof(map), "0 %u 1", (unsigned) gid);
	if (write_file_at(AT_FDCWD, "/proc/self/gid_map", map, &err) < 0)
		return 12;
	if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("mayfly-test", trees, "tmpfs", 0, "size=2m,mode=0700") < 0)
		return 13;
	r = materialize_dir(cache, mirror, big, (uid_t) -1, (gid_t) -1, &dir, NULL, &err);
	(void) snprintf(msg, size, "%s", err.msg);
	if (r != -ENOSPC)
		return 14;
	if (repo_count_entries(trees, ".") != 2) /* only "." and ".." */
		return 15;
	if (materialize_dir(cache, mirror, small, (uid_t) -1, (gid_t) -1, &dir, NULL, &err) < 0)
		return 16;
	return 0;
}

TEST(checkout_full_disk_leaves_nothing_behind)
{
	cleanup_free char *src = repo_path("src"), *cache = repo_path("cache"), *mirror = NULL;
	cleanup_free char *trees = NULL, *big = NULL, *small = NULL;
	char commit[41], big_tree[41], small_tree[41];
	struct err err = { 0 };
	int status;

	NEED(USERNS);
	CHECK_EQ(repo_sh("git init -q -b main '%s' && cd '%s' && echo small > s && git add s && "
			 "git commit -qm small && for i in 1 2 3 4; do head -c 1048576 /dev/urandom"
			 " > big$i; done && git add . && git commit -qm big",
			 src, src),
		 0);
	CHECK_OK(checkout_mirror(cache, src, NULL, NULL, 0, &mirror, &err));
	small = repo_line("git -C '%s' rev-parse main~1", src);
	CHECK_OK(checkout_resolve(mirror, "main", commit, big_tree, &err));
	CHECK_OK(checkout_resolve(mirror, small, commit, small_tree, &err));
	trees = path_join(cache, "trees");
	CHECK_OK(mkdir(trees, 0700));
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		char msg[ERR_MSG_MAX] = "";
		int r = full_disk_child(cache, mirror, big_tree, small_tree, msg, sizeof(msg));
		printf("# child: %d %s\n", r, msg);
		fflush(stdout);
		_exit(r);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status));
	if (WEXITSTATUS(status) == 10 || WEXITSTATUS(status) == 13)
		test_skip_host("cannot mount a tmpfs in a user namespace here");
	CHECK_EQ(WEXITSTATUS(status), 0);
}

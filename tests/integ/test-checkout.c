/* test-checkout.c - checkout against real servers on loopback: a `git daemon` serving git://
 * (mirror, incremental fetch, a damaged mirror rebuilt, a closed port), servers that stall
 * (a fetch timeout: nothing left behind, the mirror usable afterwards), a mirror rebuilt
 * under a running job, and a full disk while materialising (a small tmpfs in a user
 * namespace). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkout/checkout.h"
#include "checkout/internal.h"
#include "need.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/xalloc.h"
#include "../unit/checkout/repo.h"
#include "run.h"
#include "test.h"

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
	int port = 0;

	CHECK_OK(mkdir(base, 0755));
	src = path_join(base, "app.git"); /* git daemon finds "app" there too */
	repo_generate(src, 2000, 0, 0);
	cleanup_pid pid_t daemon = repo_git_daemon(base, &port);
	url = xasprintf("git://127.0.0.1:%d/app.git", port);
	url2 = xasprintf("git://127.0.0.1:%d/app", port);
	CHECK_OK(checkout_mirror(cache, url, NULL, NULL, 0, &mirror, &err));
	CHECK_OK(checkout_resolve(mirror, "main", commit, tree, &err));
	CHECK_OK(repo_materialize_dir(cache, mirror, tree, (uid_t) -1, (gid_t) -1, &dir, NULL,
				      &err));
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
	int port = 0;

	CHECK_OK(mkdir(base, 0755));
	cleanup_pid pid_t daemon = repo_git_daemon(base, &port);
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
	r = repo_materialize_dir(cache, mirror, big, (uid_t) -1, (gid_t) -1, &dir, NULL, &err);
	(void) snprintf(msg, size, "%s", err.msg);
	if (r != -ENOSPC)
		return 14;
	if (repo_count_entries(trees, ".") != 2) /* only "." and ".." */
		return 15;
	if (repo_materialize_dir(cache, mirror, small, (uid_t) -1, (gid_t) -1, &dir, NULL, &err) <
	    0)
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

/* A listening socket on 127.0.0.1:port (0: any); *ret_port gets the port. */
static int listen_on(int port, int *ret_port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t) port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	CHECK(fd >= 0);
	CHECK_OK(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)));
	CHECK_OK(bind(fd, (struct sockaddr *) &a, sizeof(a)));
	CHECK_OK(listen(fd, 16));
	CHECK_OK(getsockname(fd, (struct sockaddr *) &a, &len));
	*ret_port = ntohs(a.sin_port);
	return fd;
}

/* The remote a fetch timeout is for: a server on 127.0.0.1:*port (0: any) that accepts and
 * says nothing (reply NULL), or reads a request, answers reply and says nothing more;
 * connections are kept open. Listening before this returns. */
static pid_t start_stalling(int *port, const char *reply)
{
	int fd = listen_on(*port, port);
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		for (;;) {
			int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
			char req[4096];
			ssize_t n;
			size_t have = 0;
			while (c >= 0 && reply && have < sizeof(req) - 1 &&
			       (n = read(c, req + have, sizeof(req) - 1 - have)) > 0) {
				have += (size_t) n;
				req[have] = '\0';
				if (strstr(req, "\r\n\r\n")) {
					(void) fd_write_all(c, reply, strlen(reply));
					break;
				}
			}
			/* c stays open, unanswered, until the test kills us */
		}
	}
	(void) close(fd);
	return pid;
}

/* A TCP proxy on 127.0.0.1:*port (0: any) to to_port that passes at most limit bytes
 * from the server to the client of each connection, then stalls: a fetch that stops half
 * way through a pack. */
static pid_t start_proxy(int *port, int to_port, size_t limit)
{
	int fd = listen_on(*port, port);
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		for (;;) {
			struct sockaddr_in a = { .sin_family = AF_INET,
						 .sin_port = htons((uint16_t) to_port),
						 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
			int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
			int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			size_t sent = 0;
			if (c < 0 || s < 0 || connect(s, (struct sockaddr *) &a, sizeof(a)) < 0)
				_exit(1);
			for (;;) {
				struct pollfd p[2] = { { .fd = c, .events = POLLIN },
						       { .fd = sent < limit ? s : -1,
							 .events = POLLIN } };
				char buf[16384];
				ssize_t n;
				if (poll(p, 2, -1) < 0)
					continue;
				if (p[0].revents) {
					n = read(c, buf, sizeof(buf));
					if (n <= 0)
						break;
					(void) fd_write_all(s, buf, (size_t) n);
				}
				if (p[1].revents) {
					size_t room = limit - sent;
					n = read(s, buf, room < sizeof(buf) ? room : sizeof(buf));
					if (n <= 0)
						break;
					(void) fd_write_all(c, buf, (size_t) n);
					sent += (size_t) n;
				}
			}
			(void) close(c);
			(void) close(s);
		}
	}
	(void) close(fd);
	return pid;
}

/* Files a killed fetch could leave in a mirror, one a line. */
static char *fetch_leftovers(const char *mirror)
{
	char *out = NULL;

	CHECK_EQ(repo_sh_out(&out,
			     "cd '%s' && find . -name '*.lock' -o -name 'pack_git2_*' -o "
			     "-name 'tmp_*'",
			     mirror),
		 0);
	return out;
}

static void stop(pid_t *pid)
{
	killp(pid);
	*pid = -1;
}

TEST(checkout_fetch_from_a_silent_git_server_times_out_and_leaves_nothing)
{
	cleanup_free char *base = repo_path("srv"), *cache = repo_path("cache"), *src = NULL;
	cleanup_free char *url = NULL, *m = NULL, *want = NULL, *head = NULL, *left = NULL;
	cleanup_free char *gitdir = path_join(cache, "git"), *path = NULL;
	char commit[41], tree[41];
	struct err err = { 0 };
	int port = 0;

	cleanup_pid pid_t server = start_stalling(&port, NULL);
	url = xasprintf("git://127.0.0.1:%d/app.git", port);
	/* A first fetch: -ETIMEDOUT, said so, and no mirror, no temporary one. */
	CHECK_EQ(checkout_mirror_timed(cache, url, NULL, NULL, 0, 1, &m, &err), -ETIMEDOUT);
	printf("# %s\n", err.msg);
	want = xasprintf("fetch from '%s' did not finish in 1 s: the remote is slow or "
			 "unreachable; raise --fetch-timeout",
			 url);
	CHECK_STR_CONTAINS(err.msg, want);
	CHECK(m == NULL);
	CHECK_OK(checkout_mirror_path(cache, url, &path, &err));
	CHECK(access(path, F_OK) < 0 && errno == ENOENT);
	CHECK_EQ(repo_count_entries(gitdir, ".tmp-"), 0);

	/* The same remote, answering now: the mirror is made as if nothing had happened. */
	stop(&server);
	CHECK_OK(mkdir(base, 0755));
	src = path_join(base, "app.git");
	repo_generate(src, 200, 0, 0);
	cleanup_pid pid_t daemon = repo_git_daemon(base, &port);
	CHECK_OK(checkout_mirror_timed(cache, url, NULL, NULL, 0, 60, &m, &err));
	CHECK_STR_EQ(m, path);
	head = repo_line("git -C '%s' rev-parse main", src);
	CHECK_OK(checkout_resolve(m, "main", commit, tree, &err));
	CHECK_STR_EQ(commit, head);

	/* Silent again during an update: the old refs stay, nothing is left behind. */
	stop(&daemon);
	server = start_stalling(&port, NULL);
	CHECK_EQ(repo_sh("cd '%s' && echo more > more && git add more && git commit -qm more", src),
		 0);
	free(TAKE_PTR(m));
	CHECK_EQ(checkout_mirror_timed(cache, url, NULL, NULL, 0, 1, &m, &err), -ETIMEDOUT);
	CHECK_STR_CONTAINS(err.msg, want);
	CHECK_OK(checkout_resolve(path, "main", commit, tree, &err));
	CHECK_STR_EQ(commit, head);
	left = fetch_leftovers(path);
	CHECK_STR_EQ(left, "");
	CHECK_EQ(repo_count_entries(gitdir, ".tmp-"), 0);
	CHECK_EQ(repo_count_entries(gitdir, ".trash-"), 0);

	/* And `mayfly exec --fetch-timeout` says the same, exit status 125. */
	struct run_result res;
	run_sandbox_sh((const char *[]){ "--repo", url, "--fetch-timeout", "1", NULL }, "true",
		       &res);
	printf("# %s", res.err);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, want);
	run_result_free(&res);
	run_sandbox_sh((const char *[]){ "--repo", url, "--fetch-timeout", "soon", NULL }, "true",
		       &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "--fetch-timeout 'soon': expected seconds");
	run_result_free(&res);
	run_sandbox_sh((const char *[]){ "--fetch-timeout", "5", NULL }, "true", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "--fetch-timeout needs --repo");
	run_result_free(&res);
}

TEST(checkout_fetch_from_a_stalling_http_server_times_out_and_leaves_nothing)
{
	cleanup_free char *cache = repo_path("cache"), *url = NULL, *m = NULL, *path = NULL;
	cleanup_free char *gitdir = path_join(cache, "git"), *want = NULL;
	struct err err = { 0 };
	int port = 0;

	/* The start of a ref advertisement, then nothing. */
	cleanup_pid pid_t server = start_stalling(
		&port, "HTTP/1.1 200 OK\r\n"
		       "Content-Type: application/x-git-upload-pack-advertisement\r\n"
		       "Content-Length: 100000\r\n\r\n"
		       "001e# service=git-upload-pack\n0000");
	url = xasprintf("http://127.0.0.1:%d/org/app.git", port);
	CHECK_EQ(checkout_mirror_timed(cache, url, NULL, NULL, 0, 1, &m, &err), -ETIMEDOUT);
	printf("# %s\n", err.msg);
	want = xasprintf("fetch from '%s' did not finish in 1 s", url);
	CHECK_STR_CONTAINS(err.msg, want);
	CHECK(m == NULL);
	CHECK_OK(checkout_mirror_path(cache, url, &path, &err));
	CHECK(access(path, F_OK) < 0 && errno == ENOENT);
	CHECK_EQ(repo_count_entries(gitdir, ".tmp-"), 0);
}

/* A fetch killed half way through a pack: the refs stay, libgit2's temporary pack and
 * locks go, and the next fetch works. */
TEST(checkout_fetch_killed_half_way_through_a_pack_keeps_the_mirror_whole)
{
	cleanup_free char *base = repo_path("srv"), *cache = repo_path("cache"), *src = NULL;
	cleanup_free char *url = NULL, *m = NULL, *head = NULL, *next = NULL, *left = NULL;
	char commit[41], tree[41];
	struct err err = { 0 };
	int dport = 0, port = 0;

	CHECK_OK(mkdir(base, 0755));
	src = path_join(base, "app.git");
	repo_generate(src, 200, 0, 0);
	head = repo_line("git -C '%s' rev-parse main", src);
	cleanup_pid pid_t daemon = repo_git_daemon(base, &dport);
	cleanup_pid pid_t proxy = start_proxy(&port, dport, SIZE_MAX);
	url = xasprintf("git://127.0.0.1:%d/app.git", port);
	CHECK_OK(checkout_mirror_timed(cache, url, NULL, NULL, 0, 60, &m, &err));
	/* 8 MiB that does not compress, of which the proxy passes 256 KiB. */
	CHECK_EQ(repo_sh("cd '%s' && head -c 8388608 /dev/urandom > big && git add big && "
			 "git commit -qm big",
			 src),
		 0);
	next = repo_line("git -C '%s' rev-parse main", src);
	stop(&proxy);
	proxy = start_proxy(&port, dport, 256 * 1024);
	cleanup_free char *m2 = NULL;
	CHECK_EQ(checkout_mirror_timed(cache, url, NULL, NULL, 0, 2, &m2, &err), -ETIMEDOUT);
	printf("# %s\n", err.msg);
	CHECK_OK(checkout_resolve(m, "main", commit, tree, &err));
	CHECK_STR_EQ(commit, head);
	left = fetch_leftovers(m);
	CHECK_STR_EQ(left, "");
	CHECK_EQ(repo_sh("git --git-dir='%s' fsck --no-progress --connectivity-only", m), 0);
	/* Whole again on the way: the next fetch brings it all. */
	stop(&proxy);
	proxy = start_proxy(&port, dport, SIZE_MAX);
	CHECK_OK(checkout_mirror_timed(cache, url, NULL, NULL, 0, 60, &m2, &err));
	CHECK_OK(checkout_resolve(m2, "main", commit, tree, &err));
	CHECK_STR_EQ(commit, next);
}

/* A job reads its objects through the mirror (alternates): another mayfly that finds the
 * mirror damaged and rebuilds it moves it aside, and the job, which holds it, reads on;
 * the mirror moved aside goes when the job ends. */
TEST(checkout_a_mirror_rebuilt_under_a_running_job_stays_until_the_job_ends)
{
	cleanup_free char *src = repo_path("app"), *sync = repo_path("sync");
	cleanup_free char *gitdir = path_join(test_state_dir(), "checkout/git");
	cleanup_free char *bind = NULL, *ready = NULL, *go = NULL, *one = NULL, *two = NULL;
	struct run_result res;
	int status;

	CHECK_EQ(repo_sh("git init -q -b main '%s' && cd '%s' && seq 1 500 > a && git add a && "
			 "git commit -qm one",
			 src, src),
		 0);
	one = repo_line("git -C '%s' rev-parse main", src);
	run_sandbox_sh((const char *[]){ "--repo", src, NULL }, "true", &res);
	CHECK_EQ(res.status, 0);
	run_result_free(&res);
	/* A second commit, fetched into a pack of its own. */
	CHECK_EQ(repo_sh("cd '%s' && seq 2 600 > a && git commit -qam two", src), 0);
	two = repo_line("git -C '%s' rev-parse main", src);
	run_sandbox_sh((const char *[]){ "--repo", src, "--ref", "main", NULL }, "true", &res);
	CHECK_EQ(res.status, 0);
	run_result_free(&res);

	/* The job: on the first commit (its objects in the first pack), reading them before
	 * and after the rebuild. */
	CHECK_OK(mkdir(sync, 0777));
	CHECK_OK(chmod(sync, 0777));
	bind = xasprintf("%s:/sync", sync);
	ready = path_join(sync, "ready");
	go = path_join(sync, "go");
	pid_t job = fork();
	CHECK(job >= 0);
	if (job == 0) {
		run_sandbox_sh(
			(const char *[]){ "--repo", src, "--commit", one, "--bind", bind, NULL },
			"set -e; git log -p > /dev/null; touch /sync/ready; "
			"while [ ! -e /sync/go ]; do sleep 0.1; done; "
			"git log -p | grep -c '^+'; git cat-file -p HEAD:a | tail -1; "
			"git rev-list --objects HEAD | wc -l",
			&res);
		printf("# job: exit %d\n# stdout: %s\n# stderr: %s\n", res.status, res.out,
		       res.err);
		_exit(res.status == 0 && strstr(res.out, "501\n500\n3\n") ? 0 : 1);
	}
	for (int i = 0; i < 1200 && access(ready, F_OK) < 0; i++)
		usleep(50 * 1000);
	CHECK_OK(access(ready, F_OK));

	/* Damage the second pack (the job does not read it); the next checkout of main finds
	 * it, rebuilds the mirror and runs. */
	CHECK_EQ(repo_sh("cd '%s' && p=$(ls -t *.git/objects/pack/*.pack | head -1) && "
			 "chmod u+w \"$p\" && truncate -s 100 \"$p\"",
			 gitdir),
		 0);
	run_sandbox_sh((const char *[]){ "--repo", src, "--ref", "main", NULL },
		       "git log --format=%H -1; git cat-file -p HEAD:a | tail -1", &res);
	if (res.status != 0)
		printf("# stdout: %s\n# stderr: %s\n", res.out, res.err);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, two);
	CHECK_STR_CONTAINS(res.out, "\n600\n");
	run_result_free(&res);
	CHECK_EQ(repo_count_entries(gitdir, ".trash-"), 1); /* the job's, moved aside */

	/* The job reads on, and its end takes the old mirror with it. */
	CHECK_OK(mkdir(go, 0755));
	CHECK_EQ(waitpid(job, &status, 0), job);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ(repo_count_entries(gitdir, ".trash-"), 0);
	CHECK_EQ(repo_count_entries(gitdir, ".tmp-"), 0);
}

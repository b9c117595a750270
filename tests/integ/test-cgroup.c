/* test-cgroup.c - sandbox cgroups on this host's real hierarchy (v1 or v2): limits hold,
 * OOM kills stay inside, cg_kill() takes setsid'd daemons too, cg_destroy() leaves nothing.
 * Every test runs its body in a child while the test process keeps the cgroup, so the
 * cgroup is destroyed even when a CHECK in the body fails. */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup/cgroup.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/xalloc.h"
#include "need.h"
#include "test.h"

typedef void body_fn(struct cg *cg);

static void check_gone(const char *paths)
{
	for (const char *p = paths, *e; *p; p = *e ? e + 1 : e) {
		cleanup_free char *one = NULL;
		e = strchrnul(p, ':');
		one = xstrndup(p, (size_t) (e - p));
		if (access(one, F_OK) == 0 || errno != ENOENT)
			test_fail(__FILE__, __LINE__, "'%s' still there", one);
	}
}

/* Create "test-<pid>-<n>" with lim, run body in a child, destroy, check nothing is left. */
static void with_cgroup(const struct cg_limits *lim, body_fn *body)
{
	static unsigned n;
	CLEANUP(cg_freep) struct cg *cg = NULL;
	cleanup_free char *missing = NULL;
	cleanup_free char *paths = NULL;
	struct err err = { 0 };
	char name[64];
	int status = 0, r;
	pid_t pid;

	(void) snprintf(name, sizeof(name), "test-%d-%u", (int) getpid(), ++n);
	if (cg_create(NULL, NULL, name, lim, &cg, &missing, &err) < 0)
		test_fail(__FILE__, __LINE__, "cg_create: %s", err.msg);
	paths = xstrdup(cg_paths(cg));
	pid = missing ? -1 : fork();
	if (pid == 0) {
		body(cg);
		(void) fflush(NULL);
		_exit(0);
	}
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	r = cg_destroy(cg, &err);
	if (r < 0)
		test_fail(__FILE__, __LINE__, "cg_destroy: %s", err.msg);
	check_gone(paths);
	if (missing)
		test_skip("limits not available here: %s", missing);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77)
		_exit(77); /* the body skipped; its reason is on file already */
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		test_fail(__FILE__, __LINE__, "body failed (status 0x%x)", (unsigned) status);
}

/* Fork a child that waits for the go (after cg_attach) and then runs fn. */
static pid_t spawn_attached(struct cg *cg, void (*fn)(int arg), int arg)
{
	int go[2];
	struct err err = { 0 };
	pid_t pid;
	char c = 0;

	CHECK_OK(pipe2(go, O_CLOEXEC));
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		(void) close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(100);
		fn(arg);
		_exit(0);
	}
	(void) close(go[0]);
	if (cg_attach(cg, pid, &err) < 0)
		test_fail(__FILE__, __LINE__, "cg_attach: %s", err.msg);
	CHECK_EQ(write(go[1], &c, 1), 1);
	(void) close(go[1]);
	return pid;
}

static void touch(size_t bytes, bool report, int fd)
{
	char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char c = 'x';

	if (p == MAP_FAILED)
		_exit(101);
	for (size_t i = 0; i < bytes; i += 4096)
		((volatile char *) p)[i] = 1;
	if (report && write(fd, &c, 1) != 1)
		_exit(102);
	for (;;)
		pause();
}

TEST(cg_detect_on_this_host)
{
	NEED(ROOT | CGROUP);
	CHECK_NE(cg_detect(NULL, NULL), CG_NONE);
}

static void fork_forty(int arg)
{
	int failed = 0;

	for (int i = 0; i < 40; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			pause();
			_exit(0);
		}
		if (pid < 0 && errno == EAGAIN)
			failed++;
	}
	_exit(failed);
}

static void pids_body(struct cg *cg)
{
	int status = 0;
	pid_t pid = spawn_attached(cg, fork_forty, 0);

	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status));
	/* 20 pids: the child and 19 grandchildren; 21 forks fail. */
	if (WEXITSTATUS(status) < 15 || WEXITSTATUS(status) >= 40)
		test_fail(__FILE__, __LINE__, "%d forks failed", WEXITSTATUS(status));
}

TEST(cg_pids_limit_stops_forks)
{
	struct cg_limits lim = { .pids = 20 };

	NEED(ROOT | CGROUP);
	with_cgroup(&lim, pids_body);
}

static void eat_256m(int arg)
{
	touch(256 << 20, false, -1);
}

static void oom_body(struct cg *cg)
{
	int status = 0;
	pid_t pid;

	CHECK(!cg_oom_killed(cg));
	pid = spawn_attached(cg, eat_256m, 0);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
		test_fail(__FILE__, __LINE__, "child not OOM-killed (status 0x%x)",
			  (unsigned) status);
	CHECK(cg_oom_killed(cg));
}

TEST(cg_memory_limit_oom_kills_inside_only)
{
	struct cg_limits lim = { .memory_bytes = 64 << 20 };

	NEED(ROOT | CGROUP);
	with_cgroup(&lim, oom_body);
	/* And we are still here. */
}

static int report_fd = -1;

static void report(pid_t pid)
{
	if (write(report_fd, &pid, sizeof(pid)) != sizeof(pid))
		_exit(103);
}

static void make_tree(int arg)
{
	pid_t b, i;

	report(getpid());
	b = fork();
	if (b == 0) {
		for (;;)
			pause();
	}
	report(b);
	i = fork();
	if (i == 0) {
		/* The classic daemon: new session, double fork, parent gone. */
		pid_t d;
		(void) setsid();
		d = fork();
		if (d == 0) {
			(void) signal(SIGTERM, SIG_IGN);
			(void) signal(SIGHUP, SIG_IGN);
			for (;;)
				pause();
		}
		report(d);
		_exit(0);
	}
	for (;;)
		pause();
}

static void kill_body(struct cg *cg)
{
	struct err err = { 0 };
	pid_t pids[3];
	int q[2];

	/* Orphans come to us, so every death can be checked by its status. */
	CHECK_OK(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
	CHECK_OK(pipe2(q, O_CLOEXEC));
	report_fd = q[1];
	(void) spawn_attached(cg, make_tree, 0);
	(void) close(q[1]);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(read(q[0], &pids[i], sizeof(pid_t)), sizeof(pid_t));
	for (int i = 0; i < 3; i++)
		CHECK_OK(kill(pids[i], 0));
	CHECK_NE(getsid(pids[2]), getsid(0)); /* the daemon left our session */

	CHECK_OK(cg_kill(cg, &err));
	for (int left = 3; left > 0;) {
		int status = 0;
		pid_t w = waitpid(-1, &status, 0);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			test_fail(__FILE__, __LINE__, "waitpid: %m with %d left", left);
		for (int i = 0; i < 3; i++) {
			if (w != pids[i])
				continue;
			if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
				test_fail(__FILE__, __LINE__, "pid %d: status 0x%x", (int) w,
					  (unsigned) status);
			left--;
		}
	}
	CHECK_OK(cg_kill(cg, &err)); /* empty: returns at once */
}

TEST(cg_kill_takes_setsid_daemons)
{
	NEED(ROOT | CGROUP);
	with_cgroup(NULL, kill_body);
}

/* The round-by-round loop on v1: a handle without the freezer hierarchy. v2 has neither
 * a freezer hierarchy nor a way to hide cgroup.kill: there this repeats the test above. */
static void kill_loop_body(struct cg *cg)
{
	CLEANUP(cg_freep) struct cg *loop = NULL;
	cleanup_free char *paths = xstrdup("");
	struct err err = { 0 };

	for (const char *p = cg_paths(cg), *e; *p; p = *e ? e + 1 : e) {
		char *next;
		e = strchrnul(p, ':');
		if (memmem(p, (size_t) (e - p), "/freezer/", strlen("/freezer/")))
			continue;
		next = xasprintf("%s%s%.*s", paths, *paths ? ":" : "", (int) (e - p), p);
		free(paths);
		paths = next;
	}
	CHECK_STR_NOT_CONTAINS(paths, "freezer");
	CHECK_OK(cg_open(paths, &loop, &err));
	kill_body(loop);
}

TEST(cg_kill_without_freezer_loops)
{
	NEED(ROOT | CGROUP);
	with_cgroup(NULL, kill_loop_body);
}

static void sleep_forever(int arg)
{
	for (;;)
		pause();
}

static void destroy_body(struct cg *cg)
{
	CLEANUP(cg_freep) struct cg *again = NULL;
	struct err err = { 0 };
	int status = 0;
	pid_t pid = spawn_attached(cg, sleep_forever, 0);

	/* What gc does: re-open from the journal's string, destroy. */
	CHECK_OK(cg_open(cg_paths(cg), &again, &err));
	CHECK_EQ(cg_version_of(again), cg_version_of(cg));
	if (cg_destroy(again, &err) < 0)
		test_fail(__FILE__, __LINE__, "cg_destroy: %s", err.msg);
	check_gone(cg_paths(cg));
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	CHECK_OK(cg_destroy(again, &err)); /* twice: missing is success */
}

TEST(cg_destroy_leaves_no_directory)
{
	struct cg_limits lim = { .memory_bytes = 256 << 20, .pids = 100 };

	NEED(ROOT | CGROUP);
	with_cgroup(&lim, destroy_body);
}

static void hold_32m(int fd)
{
	touch(32 << 20, true, fd);
}

static void memory_body(struct cg *cg)
{
	struct err err = { 0 };
	uint64_t bytes = 0;
	int q[2], status = 0;
	pid_t pid;
	char c;

	CHECK_OK(pipe2(q, O_CLOEXEC));
	pid = spawn_attached(cg, hold_32m, q[1]);
	(void) close(q[1]);
	CHECK_EQ(read(q[0], &c, 1), 1);
	if (cg_memory_current(cg, &bytes, &err) < 0)
		test_fail(__FILE__, __LINE__, "cg_memory_current: %s", err.msg);
	if (bytes < (30ULL << 20))
		test_fail(__FILE__, __LINE__, "memory current %llu", (unsigned long long) bytes);
	CHECK_OK(cg_kill(cg, &err));
	CHECK_EQ(waitpid(pid, &status, 0), pid);
}

TEST(cg_memory_current_counts_the_job)
{
	struct cg_limits lim = { .memory_bytes = 256 << 20 };

	NEED(ROOT | CGROUP);
	with_cgroup(&lim, memory_body);
}

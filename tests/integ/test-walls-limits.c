/* test-walls-limits.c - limits hold inside (security.md invariant 7): pids (a bounded fork
 * bomb), memory (the OOM kill stays inside and is reported), disk (/tmp, $HOME and
 * /workspace), the wall clock (the TTL kills every process, setsid'd and double-forked
 * daemons included), and the sandbox dies with mayfly. After each, no process carrying
 * the test's marker is left on the host. */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "need.h"
#include "probes/walls.h"
#include "run.h"
#include "test.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

/* No host process carries marker (within 2 s); survivors are killed before the test
 * fails, so that a broken sandbox does not leave them running. */
static void check_no_survivors(const char *marker)
{
	int left = walls_wait_procs_gone(marker, 2000);

	if (left > 0) {
		(void) walls_signal_procs(marker, SIGKILL);
		test_fail(__FILE__, __LINE__, "%d process(es) with '%s' survived the sandbox", left,
			  marker);
	}
}

/* --pids 50 and a loop that starts 200 sleepers: forks fail at the limit, the job ends,
 * the host is unharmed and nothing is left running. */
TEST(walls_limits_pids_fork_bomb)
{
	NEED(USERNS | CGROUP);
	const char *marker = walls_marker();
	const char *const opts[] = { "--pids", "50", "--ttl", "20s", NULL };
	const char *script = walls_fmt("i=0; while [ $i -lt 200 ]; do echo started:$i;"
				       " sleep %s & i=$((i+1)); done; echo all-started",
				       marker);
	const char *const cmd[] = { "/bin/sh", "-c", script, NULL };
	struct run_result res;
	int last = -1;

	walls_run(opts, cmd, NULL, 30, &res);
	for (const char *p = res.out; (p = strstr(p, "started:")); p++)
		last = atoi(p + 8);
	/* The shell gives up at the first failed fork (dash: "Cannot fork", exit 2). */
	WCHECK_NOT_CONTAINS(&res, res.out, "all-started");
	WCHECK(&res, strstr(res.err, "Cannot fork") ||
			     strstr(res.err, "Resource temporarily unavailable"));
	WCHECK(&res, res.status != 0 && res.status != 124);
	/* init + sh + sleepers <= 50; and the limit is not absurdly low (control). */
	WCHECK(&res, last >= 10 && last <= 50);
	WCHECK(&res, res.ms < 10000);
	run_result_free(&res);
	check_no_survivors(marker);
	/* The host can still fork. */
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(0);
	CHECK_EQ(waitpid(pid, NULL, 0), pid);
}

/* --memory 64M: 16M fits (control), 500M gets the job OOM-killed: exit 137 and mayfly
 * says "out of memory". */
TEST(walls_limits_memory_oom_kill_stays_inside)
{
	NEED(USERNS | CGROUP);
	const char *const opts[] = { "--memory", "64M", "--ttl", "30s", NULL };
	const char *const cmd[] = { "/bin/sh", "-c",
				    "echo small:$(head -c 16M /dev/zero | tail | wc -c);"
				    "head -c 500M /dev/zero | tail",
				    NULL };
	struct run_result res;

	walls_run(opts, cmd, NULL, 40, &res);
	WCHECK_CONTAINS(&res, res.out, "small:16777216\n");
	WCHECK_EQ(&res, res.status, 137);
	WCHECK_CONTAINS(&res, res.err, "out of memory");
	run_result_free(&res);
	/* The host is unharmed: this process (outside) still allocates and runs. */
	size_t n = 64u << 20;
	char *p = malloc(n);
	CHECK(p != NULL);
	memset(p, 1, n);
	free(p);
}

/* --disk 8M: 2M fits (control), 20M into /tmp, $HOME or /workspace fails with "No space
 * left on device" (they share the one tmpfs). */
TEST(walls_limits_disk)
{
	NEED(USERNS);
	const char *const opts[] = { "--disk", "8M", NULL };
	const char *const cmd[] = {
		"/bin/sh",
		"-c",
		"dd if=/dev/zero of=/workspace/small bs=1M count=2 2>/dev/null && echo small-ok;"
		"rm -f /workspace/small;"
		"for d in /tmp $HOME /workspace; do"
		"  dd if=/dev/zero of=$d/big bs=1M count=20 2>&1 |"
		"    grep -q 'No space left on device' && echo full:$d;"
		"  echo size:$d:$(stat -c %s $d/big); rm -f $d/big;"
		"done",
		NULL,
	};
	struct run_result res;

	walls_run(opts, cmd, NULL, 30, &res);
	WCHECK_EQ(&res, res.status, 0);
	WCHECK_CONTAINS(&res, res.out, "small-ok\n");
	WCHECK_CONTAINS(&res, res.out, "full:/tmp\n");
	WCHECK_CONTAINS(&res, res.out, "full:/home/runner\n");
	WCHECK_CONTAINS(&res, res.out, "full:/workspace\n");
	for (const char *p = res.out; (p = strstr(p, "size:")); p++) {
		const char *colon = strchr(p + 5, ':');
		WCHECK(&res, colon && atol(colon + 1) <= 8L * 1024 * 1024);
	}
	run_result_free(&res);
}

/* rlimits (security.md 4.3): no core dumps (soft and hard 0, cannot be raised) and a
 * finite RLIMIT_NOFILE; a crash leaves no core file behind (control: it did crash). */
TEST(walls_limits_rlimits)
{
	NEED(USERNS);
	const char *const cmd[] = {
		"/bin/sh",
		"-c",
		"echo core:$(ulimit -c):$(ulimit -Hc); ulimit -c unlimited 2>/dev/null &&"
		" echo raised; echo nofile:$(ulimit -Hn);"
		"cd /tmp && sh -c 'kill -SEGV $$'; echo crash=$?;"
		"echo cores:$(ls /tmp | grep -c core)",
		NULL,
	};
	struct run_result res;

	walls_run(NULL, cmd, NULL, 30, &res);
	WCHECK_EQ(&res, res.status, 0);
	WCHECK_CONTAINS(&res, res.out, "core:0:0\n");
	WCHECK_NOT_CONTAINS(&res, res.out, "raised");
	WCHECK_CONTAINS(&res, res.out, "crash=139\n");
	WCHECK_CONTAINS(&res, res.out, "cores:0\n");
	const char *n = strstr(res.out, "nofile:");
	WCHECK(&res, n && atol(n + 7) > 0 && atol(n + 7) <= 65536);
	run_result_free(&res);
}

/* --ttl 2s with a background sleeper, a setsid/nohup daemon and a double-forked daemon
 * while the job itself sleeps: mayfly exits 124 within a few seconds, says so, and none
 * of them survives. */
TEST(walls_limits_ttl_kills_everything)
{
	NEED(USERNS);
	const char *m = walls_marker();
	const char *const opts[] = { "--ttl", "2s", NULL };
	const char *script = walls_fmt("sleep %s & setsid nohup sleep %s >/dev/null 2>&1 &"
				       " (sleep %s &); sh -c 'sleep %s & exit 0'; echo spawned;"
				       " sleep %s",
				       m, m, m, m, m);
	const char *const cmd[] = { "/bin/sh", "-c", script, NULL };
	struct run_result res;
	double t0 = now_ms();

	walls_run(opts, cmd, NULL, 30, &res);
	WCHECK_CONTAINS(&res, res.out, "spawned\n");
	WCHECK_EQ(&res, res.status, 124);
	WCHECK_CONTAINS(&res, res.err, "TTL");
	WCHECK(&res, now_ms() - t0 >= 1900);
	WCHECK(&res, now_ms() - t0 < 6000);
	run_result_free(&res);
	check_no_survivors(m);
}

/* The job exits at once, leaving a setsid'd daemon and a double-forked one: the sandbox
 * ends with the job (exit 0, fast) and takes them along. */
TEST(walls_limits_job_exit_kills_daemons)
{
	NEED(USERNS);
	const char *m = walls_marker();
	const char *script = walls_fmt("setsid nohup sleep %s >/dev/null 2>&1 & (sleep %s &);"
				       " (setsid sh -c 'sleep %s & exit 0' &); sleep 0.2; exit 0",
				       m, m, m);
	const char *const cmd[] = { "/bin/sh", "-c", script, NULL };
	struct run_result res;

	walls_run(NULL, cmd, NULL, 30, &res);
	WCHECK_EQ(&res, res.status, 0);
	WCHECK(&res, res.ms < 5000);
	run_result_free(&res);
	check_no_survivors(m);
}

/* Find the host pid of the process whose command line is exactly "sleep MARKER". */
static pid_t find_sleep(const char *marker)
{
	char want[64];
	size_t wn = (size_t) snprintf(want, sizeof(want), "sleep%c%s", '\0', marker) + 1;
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;

	while (d && (e = readdir(d)) && !found) {
		char path[300], buf[128];
		ssize_t n;
		int fd;
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		(void) snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf));
		(void) close(fd);
		if (n == (ssize_t) wn && memcmp(buf, want, wn) == 0)
			found = (pid_t) atoi(e->d_name);
	}
	if (d)
		(void) closedir(d);
	return found;
}

/* SIGKILL mayfly: the sandbox's sleep (found on the host by its marker) is gone within
 * ~2 s, and so is every other process of the sandbox; `mayfly gc` finishes the rest. */
TEST(walls_limits_sandbox_dies_with_mayfly)
{
	NEED(USERNS);
	const char *m = walls_marker();
	const char *const argv[] = {
		mayfly_bin(), "--state-dir", test_state_dir(), "exec", "--ttl",
		"60s",	      "--",	     "sleep",	       m,      NULL,
	};
	pid_t mayfly, sleeper = 0;
	struct run_result res;
	int status;

	mayfly = fork();
	CHECK(mayfly >= 0);
	if (mayfly == 0) {
		int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		(void) dup2(devnull, 0);
		(void) dup2(devnull, 1);
		execv(argv[0], (char *const *) argv);
		_exit(127);
	}
	for (int i = 0; i < 200 && !sleeper; i++) {
		sleeper = find_sleep(m);
		if (!sleeper)
			(void) usleep(25000);
	}
	if (!sleeper) {
		(void) kill(mayfly, SIGKILL);
		test_fail(__FILE__, __LINE__, "the sandbox's 'sleep %s' never showed up", m);
	}
	CHECK_OK(kill(mayfly, SIGKILL));
	CHECK_EQ(waitpid(mayfly, &status, 0), mayfly);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* The sleep, and the init (mayfly's fork, with the marker in its argv). */
	for (int i = 0; i < 40 && kill(sleeper, 0) == 0; i++)
		(void) usleep(50000);
	bool outlived = kill(sleeper, 0) == 0;
	int left = walls_wait_procs_gone(m, outlived ? 0 : 1000);
	/* What the killed mayfly left (cgroup, journal) is gc's to finish; first, so that a
	 * failure below leaves nothing behind either. */
	const char *const gc[] = { mayfly_bin(), "--state-dir", test_state_dir(), "gc", NULL };
	run_argv((char *const *) gc, NULL, 30, &res);
	(void) walls_signal_procs(m, SIGKILL);
	if (outlived)
		test_fail(__FILE__, __LINE__, "the sandbox's sleep (host pid %d) outlived mayfly",
			  (int) sleeper);
	if (left > 0)
		test_fail(__FILE__, __LINE__, "%d process(es) of the sandbox outlived mayfly",
			  left);
	WCHECK_EQ(&res, res.status, 0);
	run_result_free(&res);
}

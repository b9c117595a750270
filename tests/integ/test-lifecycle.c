/* test-lifecycle.c - a sandbox from outside: ps, destroy, gc after a killed mayfly, and
 * the leak test (many sandboxes in one process, then nothing left of any of them). */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "need.h"
#include "run.h"
#include "sandbox/sandbox.h"
#include "test.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/json.h"

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static int count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int count_sandboxes(void)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/sandboxes", test_state_dir());
	return count_dir(p);
}

/* Start `mayfly exec -- sleep N marker` in the background; returns its pid. */
static pid_t start_sleeper(const char *marker, const char *secs)
{
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);
		dup2(devnull, 0);
		dup2(devnull, 1);
		execl(mayfly_bin(), "mayfly", "--state-dir", test_state_dir(), "exec", "--", "sh",
		      "-c", "sleep \"$0\"", secs, marker, (char *) NULL);
		_exit(127);
	}
	return pid;
}

/* Wait until `mayfly ps --json` lists one sandbox; returns its id (static buffer). */
static const char *wait_for_one(void)
{
	static char id[17];

	for (int i = 0; i < 200; i++) {
		struct run_result res;
		struct json *j = NULL;
		struct err err = { 0 };

		run_argv((char *const[]){ (char *) mayfly_bin(), "--state-dir",
					  (char *) test_state_dir(), "ps", "--json", NULL },
			 NULL, 10, &res);
		CHECK_EQ(res.status, 0);
		CHECK_OK(json_parse(res.out, strlen(res.out), &j, &err));
		if (json_array_len(j) == 1) {
			const struct json *o = json_array_at(j, 0);
			CHECK_STR_CONTAINS(json_get_str(o, "command"), "sleep");
			snprintf(id, sizeof(id), "%s", json_get_str(o, "id"));
			json_free(j);
			run_result_free(&res);
			return id;
		}
		json_free(j);
		run_result_free(&res);
		sleep_ms(25);
	}
	test_fail(__FILE__, __LINE__, "the sandbox never showed up in 'mayfly ps'");
}

TEST(ps_lists_and_destroy_kills)
{
	struct run_result res;
	char marker[64];
	const char *id;
	pid_t pid;
	int status;

	NEED(USERNS);
	snprintf(marker, sizeof(marker), "marker-ps-%d", (int) getpid());
	pid = start_sleeper(marker, "60");
	id = wait_for_one();
	/* The sandbox is listed before its job has settled: sh may still be forking sleep,
	 * and for a moment both carry the marker. */
	for (int i = 0; i < 200 && test_count_procs(NULL, marker) != 1; i++)
		sleep_ms(10);
	CHECK_EQ(test_count_procs(NULL, marker), 1);
	run_argv((char *const[]){ (char *) mayfly_bin(), "--state-dir", (char *) test_state_dir(),
				  "ps", NULL },
		 NULL, 10, &res);
	CHECK_STR_CONTAINS(res.out, id);
	CHECK_STR_CONTAINS(res.out, "TTL LEFT");
	run_result_free(&res);
	run_argv((char *const[]){ (char *) mayfly_bin(), "--state-dir", (char *) test_state_dir(),
				  "destroy", (char *) id, NULL },
		 NULL, 10, &res);
	CHECK_EQ(res.status, 0);
	run_result_free(&res);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 137);
	CHECK_EQ(test_count_procs(NULL, marker), 0);
	CHECK_EQ(count_sandboxes(), 0);

	run_argv((char *const[]){ (char *) mayfly_bin(), "--state-dir", (char *) test_state_dir(),
				  "destroy", "0123456789abcdef", NULL },
		 NULL, 10, &res);
	CHECK_EQ(res.status, 1);
	CHECK_STR_CONTAINS(res.err, "no sandbox '0123456789abcdef'");
	run_result_free(&res);
}

TEST(killed_mayfly_takes_its_sandbox_and_gc_finishes)
{
	char marker[64], journal[4200];
	struct run_result res;
	char *text = NULL, *cg = NULL;
	struct json *j = NULL;
	struct err err = { 0 };
	const char *id;
	pid_t pid;

	NEED(USERNS);
	snprintf(marker, sizeof(marker), "marker-gc-%d", (int) getpid());
	pid = start_sleeper(marker, "600");
	id = wait_for_one();
	snprintf(journal, sizeof(journal), "%s/sandboxes/%s/journal.json", test_state_dir(), id);
	CHECK_OK(read_file_at(AT_FDCWD, journal, 65536, &text, NULL, &err));
	CHECK_OK(json_parse(text, strlen(text), &j, &err));
	if (json_get_str(j, "cgroup"))
		cg = strdup(json_get_str(j, "cgroup"));

	CHECK_EQ(kill(pid, SIGKILL), 0);
	CHECK_EQ(waitpid(pid, NULL, 0), pid);
	/* The sandbox dies with its mayfly (its pid 1 has PDEATHSIG). */
	for (int i = 0; i < 200 && test_count_procs(NULL, marker) > 0; i++)
		sleep_ms(10);
	CHECK_EQ(test_count_procs(NULL, marker), 0);
	/* What the killed mayfly could not tear down is still recorded... */
	CHECK_EQ(count_sandboxes(), 1);
	/* ...and gc finishes it. */
	run_argv((char *const[]){ (char *) mayfly_bin(), "--state-dir", (char *) test_state_dir(),
				  "gc", NULL },
		 NULL, 30, &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "cleaned up 1 sandbox\n");
	run_result_free(&res);
	CHECK_EQ(count_sandboxes(), 0);
	for (char *p = cg; p && *p;) {
		char *e = strchr(p, ':');
		if (e)
			*e = '\0';
		CHECK(access(p, F_OK) < 0);
		p = e ? e + 1 : NULL;
	}
	free(cg);
	free(text);
	json_free(j);
}

static int count_fds(void)
{
	return count_dir("/proc/self/fd");
}

static int count_mounts(void)
{
	char *text = NULL;
	struct err err = { 0 };
	int n = 0;

	CHECK_OK(read_file_at(AT_FDCWD, "/proc/self/mountinfo", 1 << 22, &text, NULL, &err));
	for (char *p = text; *p; p++)
		n += *p == '\n';
	free(text);
	return n;
}

static void quiet(void *userdata, const char *msg)
{
	(void) userdata;
	(void) msg;
}

TEST(leak_test_1000_sandboxes_leave_nothing)
{
	char *argv[] = { "/bin/true", NULL };
	struct sandbox_spec spec = { .argv = argv, .uid = 1000, .pids = 64 };
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	struct sandbox_env env = { .state_dir = test_state_dir(),
				   .warn = quiet,
				   .stdio = { devnull, devnull, devnull } };
	int fds, mounts,
		runs = getenv("MAYFLY_LEAK_RUNS")
			       ? (int) strtol(getenv("MAYFLY_LEAK_RUNS"), NULL, 10)
			       : 1000;
	char root[4200];

	NEED(USERNS);
	fds = count_fds();
	mounts = count_mounts();
	for (int i = 0; i < runs; i++) {
		struct sandbox_result res;
		struct err err = { 0 };
		int r = sandbox_run(&spec, &env, &res, &err);
		if (r < 0 || res.exit_code != 0)
			test_fail(__FILE__, __LINE__, "run %d: %d %s", i, res.exit_code, err.msg);
	}
	CHECK_EQ(count_fds(), fds);
	CHECK_EQ(count_mounts(), mounts);
	CHECK_EQ(count_sandboxes(), 0);
	snprintf(root, sizeof(root), "%s/root", test_state_dir());
	CHECK_EQ(count_dir(root), 0);
	close(devnull);
}

TEST(ps_finishes_what_a_killed_mayfly_left)
{
	char marker[64];
	struct run_result res;
	pid_t pid;

	NEED(USERNS);
	snprintf(marker, sizeof(marker), "marker-ps-gc-%d", (int) getpid());
	pid = start_sleeper(marker, "600");
	(void) wait_for_one();
	CHECK_EQ(kill(pid, SIGKILL), 0);
	CHECK_EQ(waitpid(pid, NULL, 0), pid);
	CHECK_EQ(count_sandboxes(), 1);
	run_argv((char *const[]){ (char *) mayfly_bin(), "--state-dir", (char *) test_state_dir(),
				  "ps", NULL },
		 NULL, 30, &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_NOT_CONTAINS(res.out, "sleep");
	run_result_free(&res);
	CHECK_EQ(count_sandboxes(), 0);
	for (int i = 0; i < 200 && test_count_procs(NULL, marker) > 0; i++)
		sleep_ms(10);
	CHECK_EQ(test_count_procs(NULL, marker), 0);
}

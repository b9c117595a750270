/* test-exec-services.c - `mayfly exec --service`: the job's own Redis on localhost, ready
 * before the job runs, private to the sandbox, gone with it (nothing left in its pid
 * namespace). */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/xalloc.h"
#include "need.h"
#include "run.h"
#include "test.h"

static bool have_redis(void)
{
	return access("/usr/bin/redis-server", X_OK) == 0 &&
	       access("/usr/bin/redis-cli", X_OK) == 0;
}

/* Host processes in the pid namespace whose /proc/PID/ns/pid link reads ns ("pid:[N]"). */
static int procs_in_pidns(const char *ns)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	CHECK(d != NULL);
	while ((de = readdir(d))) {
		char path[300], link[64];
		ssize_t len;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/pid", de->d_name);
		len = readlink(path, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		n += strcmp(link, ns) == 0;
	}
	closedir(d);
	return n;
}

TEST(service_redis_is_ready_before_the_job_and_private)
{
	struct run_result res;

	NEED(USERNS);
	if (!have_redis())
		test_skip_host("redis-server is not installed (apt-get install redis-server)");
	/* No retry loop in the job: the server must answer at once. The job also names its
	 * pid namespace, which the server shares (pid 1 started it there). */
	run_sandbox_sh(
		(const char *const[]){ "--service", "redis", NULL },
		"echo \"$REDIS_URL\"; redis-cli -u \"$REDIS_URL\" ping; "
		"redis-cli -u \"$REDIS_URL\" set k one >/dev/null; "
		"redis-cli -u \"$REDIS_URL\" get k; "
		"for p in /proc/[0-9]*; do [ \"$(cat $p/comm 2>/dev/null)\" = redis-server ] "
		"&& echo redis-here; done; readlink /proc/self/ns/pid",
		&res);
	if (res.status != 0)
		printf("# %s\n", res.err);
	CHECK_EQ(res.status, 0);
	char *ns = strstr(res.out, "redis-here\npid:[");
	CHECK(ns != NULL);
	*ns = '\0';
	ns += strlen("redis-here\n");
	ns[strcspn(ns, "\n")] = '\0';
	CHECK_STR_EQ(res.out, "redis://localhost:6379\nPONG\none\n");
	cleanup_free char *pidns = xstrdup(ns);
	run_result_free(&res);
	/* Gone with its sandbox: nothing is left in that pid namespace on the host. */
	CHECK_EQ(procs_in_pidns(pidns), 0);
	/* A second sandbox has its own, empty server. */
	run_sandbox_sh((const char *const[]){ "--service", "redis", NULL },
		       "redis-cli -u \"$REDIS_URL\" exists k", &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, "0\n");
	run_result_free(&res);
}

TEST(service_redis_concurrent_sandboxes_do_not_meet)
{
	char script[512];
	pid_t pid;
	int status;
	struct run_result res;

	NEED(USERNS);
	if (!have_redis())
		test_skip_host("redis-server is not installed (apt-get install redis-server)");
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		run_sandbox_sh((const char *const[]){ "--service", "redis", NULL },
			       "redis-cli set k A >/dev/null; sleep 1; "
			       "test \"$(redis-cli get k)\" = A",
			       &res);
		_exit(res.status);
	}
	snprintf(script, sizeof(script),
		 "redis-cli set k B >/dev/null; sleep 0.5; test \"$(redis-cli get k)\" = B");
	run_sandbox_sh((const char *const[]){ "--service", "redis", NULL }, script, &res);
	CHECK_EQ(res.status, 0);
	run_result_free(&res);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
}

TEST(service_bad_kinds_are_named)
{
	struct run_result res;

	run_sandbox_sh((const char *const[]){ "--service", "mysql", NULL }, "true", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "--service 'mysql': unknown kind (known: postgres, redis)");
	run_result_free(&res);
	run_sandbox_sh((const char *const[]){ "--service", "redis:99", NULL }, "true", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "--service redis:99");
	run_result_free(&res);
	run_sandbox_sh((const char *const[]){ "--service", "redis", "--rootfs", "/", NULL }, "true",
		       &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "--service runs the host's own server binaries");
	run_result_free(&res);
}

TEST(services_ls_lists_what_is_installed)
{
	struct run_result res;

	if (!have_redis())
		test_skip_host("redis-server is not installed (apt-get install redis-server)");
	run_argv((char *const[]){ (char *) mayfly_bin(), "--state-dir", (char *) test_state_dir(),
				  "services", "ls", NULL },
		 NULL, 30, &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "KIND");
	CHECK_STR_CONTAINS(res.out, "/usr/bin/redis-server");
	run_result_free(&res);
	run_argv((char *const[]){ (char *) mayfly_bin(), "services", "frob", NULL }, NULL, 30,
		 &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "unknown argument 'frob'");
	run_result_free(&res);
}

/* test-services-redis.c - real Redis from the host's package, as a sandbox will run it:
 * ready on a PING, two instances that share nothing, a password that never shows in an
 * argv; and what `mayfly services ls` finds on this host. As root each test has its own
 * network namespace and runs the servers as an unprivileged uid; as a plain user it takes
 * free ports. Servers die with their test (parent-death signal). */
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "net/net.h"
#include "services/services.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "need.h"
#include "test.h"

#define OWNER 4000000u
#define WAIT  30000

DEFINE_CLEANUP(char **, strv_free)

static double now_ms(void)
{
	struct timespec ts;
	(void) clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static struct svc_install need_redis(void)
{
	struct svc_install in;
	struct err err = { 0 };

	if (svc_find(NULL, "redis", NULL, &in, &err) < 0)
		test_skip("%s", err.msg);
	return in;
}

/* As root: our own network namespace (6379 is ours); else a free port each time. */
static unsigned port(unsigned n)
{
	static bool netns;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	socklen_t len = sizeof(sa);
	cleanup_close int fd = -1;
	struct err err = { 0 };

	if (geteuid() == 0) {
		if (!netns) {
			CHECK_OK(unshare(CLONE_NEWNET));
			if (net_loopback_up(&err) < 0)
				test_fail(__FILE__, __LINE__, "%s", err.msg);
			netns = true;
		}
		return SVC_REDIS_PORT + n;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0);
	CHECK_OK(bind(fd, (struct sockaddr *) &sa, sizeof(sa)));
	CHECK_OK(getsockname(fd, (struct sockaddr *) &sa, &len));
	return ntohs(sa.sin_port);
}

static pid_t start(const struct svc_install *rd, unsigned p, const char *password)
{
	cleanup_free char *dir = xasprintf("%s/redis-%u", test_tmpdir(), p);
	struct svc_redis_server srv = { .port = p, .dir = dir, .password = password };
	struct svc_spawn how = { .out_fd = -1, .uid = (uid_t) -1, .gid = (gid_t) -1 };
	CLEANUP(strv_freep) char **argv = NULL;
	cleanup_free char *in = NULL;
	struct err err = { 0 };
	pid_t pid;

	CHECK_OK(mkdir(dir, 0700));
	/* As the host's root: an unprivileged uid (under `unshare -r` there is none). */
	if (geteuid() == 0 && chown(dir, OWNER, OWNER) == 0) {
		how.uid = OWNER;
		how.gid = OWNER;
	}
	CHECK_OK(svc_redis_argv(rd, &srv, &argv, &in, &err));
	how.stdin_data = in;
	if (svc_spawn(argv, &how, &pid, &err) < 0)
		test_fail(__FILE__, __LINE__, "svc_spawn: %s", err.msg);
	struct svc_target t = {
		.host = "127.0.0.1", .port = p, .password = password, .server = pid
	};
	if (svc_redis_ready(&t, WAIT, &err) < 0)
		test_fail(__FILE__, __LINE__, "svc_redis_ready: %s", err.msg);
	return pid;
}

/* One command, one reply (status, integer, or bulk string: "(nil)" for none). */
static void cmd(unsigned p, const char *const *args, size_t n, char *reply, size_t size)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t) p),
				  .sin_addr.s_addr = htonl(0x7f000001) };
	cleanup_close int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char buf[4096];
	size_t len = 0;

	CHECK(fd >= 0);
	CHECK_OK(connect(fd, (struct sockaddr *) &sa, sizeof(sa)));
	len = (size_t) snprintf(buf, sizeof(buf), "*%zu\r\n", n);
	for (size_t i = 0; i < n; i++)
		len += (size_t) snprintf(buf + len, sizeof(buf) - len, "$%zu\r\n%s\r\n",
					 strlen(args[i]), args[i]);
	CHECK_OK(fd_write_all(fd, buf, len));
	len = 0;
	for (;;) {
		ssize_t r = read(fd, buf + len, sizeof(buf) - 1 - len);
		CHECK(r > 0);
		len += (size_t) r;
		buf[len] = '\0';
		char *crlf = strstr(buf, "\r\n");
		if (!crlf)
			continue;
		if (buf[0] != '$') {
			(void) snprintf(reply, size, "%.*s", (int) (crlf - buf), buf);
			return;
		}
		if (strncmp(buf, "$-1", 3) == 0) {
			(void) snprintf(reply, size, "(nil)");
			return;
		}
		char *end = strstr(crlf + 2, "\r\n");
		if (end) {
			(void) snprintf(reply, size, "%.*s", (int) (end - crlf - 2), crlf + 2);
			return;
		}
	}
}

static double stop(pid_t pid)
{
	struct err err = { 0 };
	double t0 = now_ms();
	int status;

	CHECK_OK(svc_stop(pid, SVC_REDIS, 5000, &status, &err));
	CHECK(WIFEXITED(status)); /* SIGTERM was handled: a clean exit, not a kill */
	return now_ms() - t0;
}

TEST(svc_redis_instances_are_isolated)
{
	struct svc_install rd = need_redis();
	unsigned p1 = port(0), p2 = port(1);
	static const char *const set[] = { "SET", "k", "v1" }, *const get[] = { "GET", "k" };
	char reply[128];

	double t0 = now_ms();
	pid_t a = start(&rd, p1, NULL);
	printf("# redis started and answered PING in %.1f ms\n", now_ms() - t0);
	pid_t b = start(&rd, p2, NULL);
	cmd(p1, set, 3, reply, sizeof(reply));
	CHECK_STR_EQ(reply, "+OK");
	cmd(p1, get, 2, reply, sizeof(reply));
	CHECK_STR_EQ(reply, "v1");
	cmd(p2, get, 2, reply, sizeof(reply));
	CHECK_STR_EQ(reply, "(nil)");
	/* No persistence: nothing to save, nowhere. */
	static const char *const cfg[] = { "CONFIG", "GET", "save" };
	cmd(p1, cfg, 3, reply, sizeof(reply));
	CHECK_STR_EQ(reply, "*2");
	printf("# redis stopped (SIGTERM) in %.1f ms\n", stop(a));
	(void) stop(b);
}

TEST(svc_redis_password_is_checked_and_never_in_argv)
{
	struct svc_install rd = need_redis();
	char pw[SVC_PASSWORD_LEN + 1];
	struct err err = { 0 };
	unsigned p = port(0);

	CHECK_OK(svc_password_new(pw, &err));
	pid_t pid = start(&rd, p, pw);
	struct svc_target t = { .host = "localhost", .port = p };
	CHECK_EQ(svc_redis_ready(&t, WAIT, &err), -EACCES);
	CHECK_STR_CONTAINS(err.msg, "NOAUTH");
	t.password = "wrong-one";
	CHECK_EQ(svc_redis_ready(&t, WAIT, &err), -EACCES);
	CHECK_STR_CONTAINS(err.msg, "WRONGPASS");
	CHECK_STR_NOT_CONTAINS(err.msg, "wrong-one");
	t.password = pw;
	t.host = "::1";
	CHECK_OK(svc_redis_ready(&t, WAIT, &err));
	/* What `ps` shows anyone on the host. */
	cleanup_free char *path = xasprintf("/proc/%d/cmdline", (int) pid);
	cleanup_free char *cmdline = NULL;
	size_t len = 0;
	CHECK_OK(read_file_at(AT_FDCWD, path, 65536, &cmdline, &len, &err));
	for (size_t i = 0; i < len; i++)
		if (cmdline[i] == '\0')
			cmdline[i] = ' ';
	CHECK_STR_CONTAINS(cmdline, "redis-server");
	CHECK_STR_NOT_CONTAINS(cmdline, pw);
	(void) stop(pid);
}

TEST(svc_redis_ready_reports_a_server_that_exits)
{
	struct svc_install rd = need_redis();
	unsigned p = port(0);
	pid_t a = start(&rd, p, NULL);
	cleanup_free char *dir = xasprintf("%s/second", test_tmpdir());
	char *const argv[] = { rd.server, (char *) "--port", NULL, (char *) "--dir", dir, NULL };
	struct svc_spawn how = { .out_fd = -1, .uid = (uid_t) -1, .gid = (gid_t) -1 };
	cleanup_free char *ps = xasprintf("%u", p);
	struct err err = { 0 };
	pid_t b;

	/* The same port again: the second server cannot bind and exits. */
	CHECK_OK(mkdir(dir, 0777));
	((char **) argv)[2] = ps;
	CHECK_OK(svc_spawn(argv, &how, &b, &err));
	struct svc_target t = { .host = "127.0.0.1", .port = p + 100, .server = b };
	CHECK_EQ(svc_redis_ready(&t, WAIT, &err), -ECHILD);
	CHECK_STR_CONTAINS(err.msg, "exited with status 1");
	(void) stop(a);
}

TEST(svc_find_and_list_see_this_hosts_servers)
{
	cleanup_free struct svc_info *list = NULL;
	cleanup_free char *empty = path_join(test_tmpdir(), "empty");
	struct svc_install in;
	struct err err = { 0 };
	size_t n = 0;

	CHECK_OK(svc_list(NULL, test_tmpdir(), &list, &n, &err));
	for (size_t i = 0; i < n; i++)
		printf("# %s %s (%s)%s: %s\n",
		       list[i].inst.kind == SVC_POSTGRES ? "postgres" : "redis",
		       list[i].inst.version, list[i].full_version,
		       list[i].is_default ? " default" : "", list[i].inst.server);
	if (n == 0)
		test_skip("neither postgres nor redis is installed");
	/* A root without them says what to install. */
	CHECK_OK(mkdir(empty, 0755));
	CHECK_EQ(svc_find(empty, "postgres", "15", &in, &err), -ENOENT);
	CHECK_STR_CONTAINS(err.msg, "apt-get install postgresql-15");
	CHECK_EQ(svc_find(empty, "redis", NULL, &in, &err), -ENOENT);
	CHECK_STR_CONTAINS(err.msg, "apt-get install redis-server");
	CHECK_EQ(svc_find(NULL, "postgres", "9", &in, &err), -ENOENT);
	CHECK_STR_CONTAINS(err.msg, "apt-get install postgresql-9");
}

/* test-egress.c - `mayfly exec --allow-host` (docs/network.md): the job reaches a granted
 * host through HTTP_PROXY/HTTPS_PROXY and nothing else. Real servers on the test's own
 * loopback (Python's http.server, plain and TLS with a fresh self-signed certificate), the
 * real binary, curl inside the sandbox. The origins listen on 127.0.0.1, which the proxy
 * refuses by default: tests that need to reach them grant `localhost:PORT` with
 * --allow-private-egress, and the default refusal is itself tested. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "need.h"
#include "run.h"
#include "test.h"

/* An HTTP(S) origin on 127.0.0.1 serving test_tmpdir()/www. */
struct origin {
	pid_t pid;
	int port;
	char grant[64]; /* "localhost:PORT" */
};

static const char server_py[] = "import http.server, ssl, sys, os\n"
				"port, root = int(sys.argv[1]), sys.argv[2]\n"
				"os.chdir(root)\n"
				"class H(http.server.SimpleHTTPRequestHandler):\n"
				"    def log_message(self, *a): pass\n"
				"srv = http.server.ThreadingHTTPServer(('127.0.0.1', port), H)\n"
				"if len(sys.argv) > 3:\n"
				"    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n"
				"    ctx.load_cert_chain(sys.argv[3], sys.argv[4])\n"
				"    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)\n"
				"srv.serve_forever()\n";

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char script[4096];
	struct run_result res;
	va_list ap;
	int status;

	va_start(ap, fmt);
	(void) vsnprintf(script, sizeof(script), fmt, ap);
	va_end(ap);
	char *argv[] = { "/bin/sh", "-c", script, NULL };
	run_argv(argv, NULL, 60, &res);
	status = res.status;
	if (status != 0)
		printf("# %s: status %d\n# %s\n# %s\n", script, status, res.out, res.err);
	run_result_free(&res);
	return status;
}

static void origin_stop(struct origin *o)
{
	killp(&o->pid);
}

/* Start the origin (tls: with tmp/cert.pem for "localhost") and wait until it accepts. */
static void origin_start(struct origin *o, bool tls)
{
	const char *tmp = test_tmpdir();
	char port[16], py[512], root[512], cert[512], key[512];

	if (sh("command -v python3 >/dev/null && command -v curl >/dev/null") != 0)
		test_skip_host("python3 and curl are needed");
	(void) snprintf(py, sizeof(py), "%s/server.py", tmp);
	(void) snprintf(root, sizeof(root), "%s/www", tmp);
	(void) snprintf(cert, sizeof(cert), "%s/cert.pem", tmp);
	(void) snprintf(key, sizeof(key), "%s/key.pem", tmp);
	test_put(tmp, "server.py", server_py);
	test_put(tmp, "www/hello.txt", "hello from the origin\n");
	if (tls)
		CHECK_EQ(sh("cd '%s' && openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "
			    "/CN=localhost -addext subjectAltName=DNS:localhost -keyout key.pem "
			    "-out cert.pem 2>/dev/null && chmod 644 key.pem cert.pem",
			    tmp),
			 0);
	o->port = test_free_port();
	(void) snprintf(port, sizeof(port), "%d", o->port);
	(void) snprintf(o->grant, sizeof(o->grant), "localhost:%d", o->port);
	o->pid = fork();
	CHECK(o->pid >= 0);
	if (o->pid == 0) {
		int null = open("/dev/null", O_RDWR);
		(void) dup2(null, 0);
		(void) dup2(null, 1);
		if (tls)
			execlp("python3", "python3", py, port, root, cert, key, (char *) NULL);
		else
			execlp("python3", "python3", py, port, root, (char *) NULL);
		_exit(127);
	}
	for (int i = 0; i < 3000 && !test_port_accepts(o->port); i++) {
		struct timespec step = { 0, 10 * 1000 * 1000 };
		CHECK(waitpid(o->pid, NULL, WNOHANG) == 0);
		(void) nanosleep(&step, NULL);
	}
	CHECK(test_port_accepts(o->port));
}

/* A whole (small) file, or "" when it cannot be read; the caller frees. */
static char *file_text(const char *path)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return calloc(1, 1);
	text = calloc(1, 1 << 20);
	CHECK(text != NULL);
	len = fread(text, 1, (1 << 20) - 1, f);
	text[len] = '\0';
	(void) fclose(f);
	return text;
}

static char *audit_log(void)
{
	char path[512];

	(void) snprintf(path, sizeof(path), "%s/audit.log", test_state_dir());
	return file_text(path);
}

enum { GRANT_PRIVATE = 1 << 0, GRANT_BIND_TMP = 1 << 1 };

/* Run script in a sandbox that grants the origin ("localhost:PORT"), with --allow-private-
 * egress (GRANT_PRIVATE) and the test's tmpdir at /t (GRANT_BIND_TMP); the script finds
 * the origin's port in $P. What happened is printed when the status is not 0. */
static void granted_sh(const struct origin *o, unsigned flags, const char *script,
		       struct run_result *res)
{
	char full[8192], bind[600];
	const char *opts[8];
	size_t n = 0;

	opts[n++] = "--allow-host";
	opts[n++] = o->grant;
	if (flags & GRANT_PRIVATE)
		opts[n++] = "--allow-private-egress";
	if (flags & GRANT_BIND_TMP) {
		(void) snprintf(bind, sizeof(bind), "%s:/t:ro", test_tmpdir());
		opts[n++] = "--bind";
		opts[n++] = bind;
	}
	opts[n] = NULL;
	(void) snprintf(full, sizeof(full), "export P=%d; %s", o->port, script);
	run_sandbox_sh(opts, full, res);
	if (res->status != 0)
		printf("# status %d\n# stdout: %s\n# stderr: %s\n", res->status, res->out,
		       res->err);
}

/* Live (not zombie) mayfly-egress processes whose parent is ppid (0: any parent); the
 * first one's pid in *ret_pid. Zombies are left out: a dead proxy holds nothing, and not
 * every machine's pid 1 reaps the orphans a killed mayfly leaves at once. */
static int live_proxies(pid_t ppid, pid_t *ret_pid)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int found = 0;

	CHECK(d != NULL);
	while ((de = readdir(d))) {
		char path[300], buf[512];
		int fd, p = 0;
		char state = 0;
		ssize_t n;

		(void) snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		(void) close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		/* "pid (comm) S ppid ..." */
		if (strncmp(strchr(buf, ' ') + 1, "(mayfly-egress) ", 16) != 0 ||
		    sscanf(strrchr(buf, ')') + 2, "%c %d", &state, &p) != 2 || state == 'Z' ||
		    (ppid && p != ppid))
			continue;
		if (found++ == 0 && ret_pid)
			*ret_pid = (pid_t) strtol(de->d_name, NULL, 10);
	}
	closedir(d);
	return found;
}

static bool proc_alive(pid_t pid)
{
	char path[64], buf[256];
	ssize_t n;
	int fd;

	(void) snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	(void) close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return strrchr(buf, ')') && strrchr(buf, ')')[2] != 'Z';
}

TEST(egress_granted_host_answers_through_http_proxy)
{
	NEED(USERNS);
	CLEANUP(origin_stop) struct origin o = { 0 };
	struct run_result res;
	struct stat st;
	char path[512];

	origin_start(&o, false);
	/* curl's own NO_PROXY rule would send "localhost" direct: --noproxy '' makes it use
	 * HTTP_PROXY as any other name would. */
	granted_sh(&o, GRANT_PRIVATE,
		   "echo proxy=$HTTP_PROXY; echo no_proxy=$NO_PROXY; "
		   "curl -sS --noproxy '' http://localhost:$P/hello.txt",
		   &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "proxy=http://127.0.0.1:3128\n");
	CHECK_STR_CONTAINS(res.out, "no_proxy=localhost,127.0.0.1,::1\n");
	CHECK_STR_CONTAINS(res.out, "hello from the origin\n");
	run_result_free(&res);

	char *log = audit_log();
	CHECK_STR_CONTAINS(log, "\"kind\":\"egress\"");
	CHECK_STR_CONTAINS(log, "\"decision\":\"allow\",\"method\":\"GET\",\"host\":\"localhost\"");
	CHECK_STR_CONTAINS(log, "\"addr\":\"127.0.0.1\"");
	free(log);
	/* The audit log is the host's: 0600. */
	(void) snprintf(path, sizeof(path), "%s/audit.log", test_state_dir());
	CHECK_OK(stat(path, &st));
	CHECK_EQ(st.st_mode & 0777, 0600);
}

TEST(egress_connect_tunnels_tls)
{
	NEED(USERNS);
	CLEANUP(origin_stop) struct origin o = { 0 };
	struct run_result res;

	origin_start(&o, true);
	/* The certificate is verified end to end: the proxy only carries the bytes. */
	granted_sh(&o, GRANT_PRIVATE | GRANT_BIND_TMP,
		   "curl -sS --noproxy '' --cacert /t/cert.pem https://localhost:$P/hello.txt",
		   &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "hello from the origin\n");
	run_result_free(&res);
	char *log = audit_log();
	CHECK_STR_CONTAINS(log, "\"decision\":\"allow\",\"method\":\"CONNECT\"");
	free(log);
}

TEST(egress_not_granted_host_gets_403_and_an_audit_line)
{
	NEED(USERNS);
	CLEANUP(origin_stop) struct origin o = { 0 };
	struct run_result res;

	origin_start(&o, false);
	granted_sh(&o, GRANT_PRIVATE,
		   "curl -sS -i http://not-granted.example/; echo; "
		   /* The same host on another port is another grant. */
		   "curl -sS --noproxy '' http://localhost:$((P % 65535 + 1))/; echo; "
		   "curl -sS -o /dev/null -w 'connect=%{http_connect}\\n' "
		   "https://not-granted.example/ 2>&1; true",
		   &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "HTTP/1.1 403 Forbidden");
	CHECK_STR_CONTAINS(res.out, "mayfly: host 'not-granted.example' port 80 is not in this "
				    "sandbox's --allow-host list");
	CHECK_STR_CONTAINS(res.out, "mayfly: host 'localhost' port ");
	CHECK_STR_CONTAINS(res.out, "connect=403");
	run_result_free(&res);
	char *log = audit_log();
	CHECK_STR_CONTAINS(log, "\"decision\":\"deny\",\"method\":\"GET\",\"host\":\"not-granted."
				"example\",\"port\":80");
	CHECK_STR_CONTAINS(log, "\"decision\":\"deny\",\"method\":\"CONNECT\",\"host\":\"not-"
				"granted.example\",\"port\":443");
	CHECK_STR_CONTAINS(log, "\"status\":403");
	CHECK_STR_CONTAINS(log, "is not in this sandbox's --allow-host list");
	free(log);
}

TEST(egress_private_destinations_are_refused_by_default)
{
	NEED(USERNS);
	CLEANUP(origin_stop) struct origin o = { 0 };
	struct run_result res;

	origin_start(&o, false);
	/* Granted by name, but "localhost" resolves to loopback: refused without the opt-in. */
	granted_sh(&o, 0, "curl -sS --noproxy '' http://localhost:$P/hello.txt; true", &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "mayfly: host 'localhost' resolves to 127.0.0.1, a loopback "
				    "address");
	CHECK_STR_NOT_CONTAINS(res.out, "hello from the origin");
	run_result_free(&res);
}

TEST(egress_ip_literals_and_metadata_are_refused)
{
	NEED(USERNS);
	CLEANUP(origin_stop) struct origin o = { 0 };
	struct run_result res;

	origin_start(&o, false);
	/* Raw requests (curl would rewrite some of them), each on its own connection. */
	granted_sh(&o, GRANT_PRIVATE,
		   "exec bash -c 'ask() { exec 3<>/dev/tcp/127.0.0.1/3128; "
		   "  printf \"$1 HTTP/1.1\\r\\n\\r\\n\" >&3; tail -1 <&3; exec 3<&-; }; "
		   "for t in \"GET http://127.0.0.1:$P/\" \"GET http://2130706433:$P/\" "
		   "  \"GET http://0x7f.1:$P/\" \"GET http://017700000001:$P/\" "
		   "  \"GET http://169.254.169.254/latest/meta-data/\" "
		   "  \"CONNECT 169.254.169.254:443\" "
		   "  \"GET http://[::1]:$P/\" \"CONNECT [::ffff:127.0.0.1]:$P\" "
		   "  \"GET http://user@localhost:$P/\" \"GET http://a@b@localhost:$P/\" "
		   "  \"GET http://localhost%%2e:$P/\" \"GET http://localhost:$P/a/../hello.txt\" "
		   "  \"GET http://localhost:${P}0000/\"; do ask \"$t\"; done'",
		   &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_NOT_CONTAINS(res.out, "hello from the origin");
	CHECK_STR_CONTAINS(res.out, "IP address literal");
	CHECK_STR_CONTAINS(res.out, "IPv6 address literal");
	CHECK_STR_CONTAINS(res.out, "user info");
	CHECK_STR_CONTAINS(res.out, "percent-encoding");
	CHECK_STR_CONTAINS(res.out, "dot segment");
	CHECK_STR_CONTAINS(res.out, "port must be");
	/* Thirteen requests, thirteen refusals. */
	size_t n = 0;
	for (const char *p = res.out; (p = strstr(p, "mayfly: refused request")); p++)
		n++;
	CHECK_EQ(n, 13);
	run_result_free(&res);
	char *log = audit_log();
	CHECK_STR_CONTAINS(log, "\"host\":\"169.254.169.254\"");
	CHECK_STR_NOT_CONTAINS(log, "\"decision\":\"allow\"");
	free(log);
}

TEST(egress_refuses_wildcard_everything_and_ip_grants)
{
	NEED(USERNS);
	static const char *const grants[][2] = {
		{ "*", "would grant every host" },
		{ "169.254.169.254", "IP address literal" },
		{ "*.example.com:99999", "port" },
		{ "user@example.com", "user info" },
	};
	struct run_result res;

	for (size_t i = 0; i < ARRAY_SIZE(grants); i++) {
		const char *opts[] = { "--allow-host", grants[i][0], NULL };
		run_sandbox_sh(opts, "echo ran", &res);
		printf("# %s: %d %s", grants[i][0], res.status, res.err);
		CHECK_EQ(res.status, 125);
		CHECK_STR_CONTAINS(res.err, "--allow-host");
		CHECK_STR_CONTAINS(res.err, grants[i][1]);
		CHECK_STR_NOT_CONTAINS(res.out, "ran");
		run_result_free(&res);
	}
	const char *opts[] = { "--allow-private-egress", NULL };
	run_sandbox_sh(opts, "echo ran", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "--allow-private-egress");
	run_result_free(&res);
}

TEST(egress_nothing_reachable_without_the_proxy)
{
	NEED(USERNS);
	CLEANUP(origin_stop) struct origin o = { 0 };
	struct run_result res;

	origin_start(&o, false);
	granted_sh(
		&o, GRANT_PRIVATE,
		/* Raw TCP to the origin's port: the sandbox's loopback is its own. */
		"curl -sS --noproxy '*' http://localhost:$P/ >/dev/null 2>&1 && echo tcp-lo-open; "
		"curl -sS --noproxy '*' -m 5 http://1.1.1.1/ >/dev/null 2>&1 && echo tcp4-open; "
		"curl -sS --noproxy '*' -m 5 -g 'http://[2606:4700:4700::1111]/' >/dev/null 2>&1 "
		"  && echo tcp6-open; "
		"bash -c 'echo x > /dev/udp/1.1.1.1/53' 2>/dev/null && echo udp-open; "
		"getent hosts example.com && echo dns-open; "
		/* The control: the proxy itself answers. */
		"curl -sS --noproxy '' http://localhost:$P/hello.txt",
		&res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_NOT_CONTAINS(res.out, "-open");
	CHECK_STR_CONTAINS(res.out, "hello from the origin\n");
	run_result_free(&res);
}

TEST(egress_no_grant_no_proxy)
{
	NEED(USERNS);
	struct run_result res;

	run_sandbox_sh(NULL,
		       "env | grep -i _proxy; "
		       "curl -sS -x http://127.0.0.1:3128 http://example.com/ 2>&1 | head -1; true",
		       &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_NOT_CONTAINS(res.out, "HTTP_PROXY");
	CHECK_STR_NOT_CONTAINS(res.out, "403");
	CHECK_STR_CONTAINS(res.out, "Failed to connect");
	run_result_free(&res);
}

TEST(egress_proxy_is_gone_after_the_sandbox)
{
	NEED(USERNS);
	CLEANUP(origin_stop) struct origin o = { 0 };
	struct run_result res;

	origin_start(&o, false);
	granted_sh(&o, GRANT_PRIVATE, "curl -sS --noproxy '' http://localhost:$P/hello.txt", &res);
	CHECK_EQ(res.status, 0);
	run_result_free(&res);
	CHECK_EQ(live_proxies(0, NULL), 0);
	/* Also when the TTL kills the job, with a connection still open: its audit line is
	 * written as the proxy stops. */
	const char *ttl[] = { "--allow-host", o.grant, "--ttl", "2s", NULL };
	run_sandbox_sh(ttl,
		       "exec bash -c 'exec 3<>/dev/tcp/127.0.0.1/3128; "
		       "printf \"CONNECT localhost:1 HTTP/1.1\\r\\n\\r\\n\" >&3; head -1 <&3; "
		       "exec 4<>/dev/tcp/127.0.0.1/3128; printf \"GET http://half\" >&4; sleep 60'",
		       &res);
	CHECK_EQ(res.status, 124);
	CHECK_STR_CONTAINS(res.out, "HTTP/1.1 403");
	run_result_free(&res);
	CHECK_EQ(live_proxies(0, NULL), 0);
	char *log = audit_log();
	CHECK_STR_CONTAINS(log, "\"host\":\"localhost\",\"port\":1,");
	free(log);
}

TEST(egress_many_concurrent_connections_and_big_bodies)
{
	NEED(USERNS);
	CLEANUP(origin_stop) struct origin o = { 0 };
	struct run_result res;

	origin_start(&o, false);
	/* 8 MiB of pseudo-random bytes: more than the proxy's buffers many times over. */
	CHECK_EQ(sh("head -c 8388608 /dev/urandom > '%s/www/big' && sha256sum '%s/www/big' | "
		    "cut -d' ' -f1 > '%s/www/big.sha'",
		    test_tmpdir(), test_tmpdir(), test_tmpdir()),
		 0);
	granted_sh(&o, GRANT_PRIVATE,
		   "u=http://localhost:$P; "
		   "for i in $(seq 64); do "
		   "  (curl -sS --noproxy '' $u/hello.txt > /tmp/r$i) & done; wait; "
		   "cat /tmp/r* | grep -c 'hello from the origin'; "
		   "curl -sS --noproxy '' $u/big | sha256sum | cut -d' ' -f1; "
		   "curl -sS --noproxy '' $u/big.sha",
		   &res);
	CHECK_EQ(res.status, 0);
	/* 64 answers, then the same digest twice. */
	CHECK(strncmp(res.out, "64\n", 3) == 0);
	char *nl = strchr(res.out + 3, '\n');
	CHECK(nl != NULL && nl - (res.out + 3) == 64);
	CHECK(strncmp(res.out + 3, nl + 1, 64) == 0);
	run_result_free(&res);
}

TEST(egress_slow_and_garbage_clients_do_not_block_others)
{
	NEED(USERNS);
	CLEANUP(origin_stop) struct origin o = { 0 };
	struct run_result res;

	origin_start(&o, false);
	granted_sh(&o, GRANT_PRIVATE,
		   "exec bash -c '"
		   /* Ten clients that send half a request head and then nothing. */
		   "for i in $(seq 10); do exec {fd}<>/dev/tcp/127.0.0.1/3128; "
		   "  printf \"GET http://localhost:$P/hel\" >&$fd; done; "
		   /* Garbage, a NUL, a huge head: each answered, none stops the proxy. */
		   "exec 5<>/dev/tcp/127.0.0.1/3128; "
		   "printf \"\\x16\\x03\\x01garbage\\r\\n\\r\\n\" >&5; head -1 <&5; "
		   "exec 6<>/dev/tcp/127.0.0.1/3128; "
		   "printf \"GET http://a\\0b/ HTTP/1.1\\r\\n\\r\\n\" >&6; head -1 <&6; "
		   "exec 7<>/dev/tcp/127.0.0.1/3128; { printf \"GET http://x/ HTTP/1.1\\r\\nX: \"; "
		   "  head -c 20000 /dev/zero | tr \"\\0\" a; } >&7; head -1 <&7; "
		   /* Meanwhile a well-behaved client is served. */
		   "curl -sS --noproxy \"\" http://localhost:$P/hello.txt'",
		   &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "HTTP/1.1 400 Bad Request");
	CHECK_STR_CONTAINS(res.out, "HTTP/1.1 431 Request Header Fields Too Large");
	CHECK_STR_CONTAINS(res.out, "hello from the origin\n");
	run_result_free(&res);
}

TEST(egress_proxy_dies_with_mayfly)
{
	NEED(USERNS);
	const char *const argv[] = { mayfly_bin(), "--state-dir",  test_state_dir(),
				     "exec",	   "--allow-host", "example.com",
				     "--ttl",	   "60s",	   "--",
				     "sleep",	   "30",	   NULL };
	struct timespec step = { 0, 20 * 1000 * 1000 };
	struct run_result res;
	pid_t mayfly, proxy = 0;

	mayfly = fork();
	CHECK(mayfly >= 0);
	if (mayfly == 0) {
		int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		(void) dup2(devnull, 0);
		(void) dup2(devnull, 1);
		execv(argv[0], (char *const *) argv);
		_exit(127);
	}
	for (int i = 0; i < 1500 && !proxy; i++) {
		if (live_proxies(mayfly, &proxy) == 0)
			(void) nanosleep(&step, NULL);
	}
	if (!proxy) {
		(void) kill(mayfly, SIGKILL);
		test_fail(__FILE__, __LINE__, "no mayfly-egress process showed up");
	}
	/* While it runs: a seccomp filter, no_new_privs, and, as the host's root, nobody. */
	char path[64];
	(void) snprintf(path, sizeof(path), "/proc/%d/status", (int) proxy);
	char *status = file_text(path);
	printf("# %s", status);
	CHECK_STR_CONTAINS(status, "\nSeccomp:\t2\n");
	CHECK_STR_CONTAINS(status, "\nNoNewPrivs:\t1\n");
	char *map = file_text("/proc/self/uid_map");
	if (geteuid() == 0 && strstr(map, "4294967295"))
		CHECK_STR_CONTAINS(status, "\nUid:\t65534\t65534\t65534\t65534\n");
	free(map);
	free(status);
	CHECK_OK(kill(mayfly, SIGKILL));
	CHECK_EQ(waitpid(mayfly, NULL, 0), mayfly);
	for (int i = 0; i < 1500 && proc_alive(proxy); i++)
		(void) nanosleep(&step, NULL);
	bool outlived = proc_alive(proxy);
	const char *const gc[] = { mayfly_bin(), "--state-dir", test_state_dir(), "gc", NULL };
	run_argv((char *const *) gc, NULL, 30, &res);
	run_result_free(&res);
	if (outlived) {
		(void) kill(proxy, SIGKILL);
		test_fail(__FILE__, __LINE__, "the proxy (host pid %d) outlived mayfly",
			  (int) proxy);
	}
}

/* A name server that never answers: a UDP socket on 127.0.0.1:53 nobody reads. */
static int silent_dns(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(53),
				  .sin_addr = { htonl(INADDR_LOOPBACK) } };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
		test_skip_host("cannot bind 127.0.0.1:53 (taken, or not the host's root): %s",
			       strerror(errno));
	return fd;
}

TEST(egress_slow_dns_does_not_block_others)
{
	NEED(ROOT);
	CLEANUP(origin_stop) struct origin o = { 0 };
	cleanup_close int dns = -1;
	struct run_result res;
	char conf[512], script[1024];

	if (sh("command -v unshare >/dev/null && command -v mount >/dev/null") != 0)
		test_skip_host("unshare and mount are needed");
	origin_start(&o, false);
	dns = silent_dns();
	/* mayfly runs in a mount namespace of its own whose resolv.conf names that server
	 * (the sandbox's own resolv.conf stays empty). */
	(void) snprintf(conf, sizeof(conf), "%s/resolv.conf", test_tmpdir());
	test_put(test_tmpdir(), "resolv.conf",
		 "nameserver 127.0.0.1\noptions timeout:30 attempts:1\n");
	(void) snprintf(script, sizeof(script),
			"curl -sS --noproxy '' http://slow.example/ > /tmp/slow 2>&1 & "
			"sleep 0.2; "
			"curl -sS --noproxy '' http://localhost:%d/hello.txt && "
			"kill -0 $! && echo slow-still-pending",
			o.port);
	const char *argv[] = { "unshare",
			       "-m",
			       "sh",
			       "-c",
			       "mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"",
			       conf,
			       mayfly_bin(),
			       "--state-dir",
			       test_state_dir(),
			       "exec",
			       "--allow-host",
			       o.grant,
			       "--allow-host",
			       "slow.example",
			       "--allow-private-egress",
			       "--",
			       "/bin/sh",
			       "-c",
			       script,
			       NULL };
	run_argv((char *const *) argv, NULL, 60, &res);
	if (res.status != 0)
		printf("# status %d\n# stdout: %s\n# stderr: %s\n", res.status, res.out, res.err);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "hello from the origin\nslow-still-pending\n");
	run_result_free(&res);
	CHECK_EQ(live_proxies(0, NULL), 0);
}

TEST(egress_unresolvable_name_is_an_error_not_a_denial)
{
	NEED(USERNS);
	const char *opts[] = { "--allow-host", "nothing-here.invalid", NULL };
	struct run_result res;

	/* .invalid never resolves (RFC 2606). */
	run_sandbox_sh(opts, "curl -sS -i http://nothing-here.invalid/; true", &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "HTTP/1.1 502 Bad Gateway");
	CHECK_STR_CONTAINS(res.out, "mayfly: cannot resolve 'nothing-here.invalid'");
	run_result_free(&res);
	char *log = audit_log();
	CHECK_STR_CONTAINS(log, "\"decision\":\"error\",\"method\":\"GET\",\"host\":\"nothing-"
				"here.invalid\"");
	CHECK_STR_CONTAINS(log, "\"status\":502");
	free(log);
}

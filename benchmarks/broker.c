/* broker.c - what the broker costs a job, side by side in one run: the round trip of a
 * `sign` request over the Unix socket (a new connection each time, as `mayfly broker sign`
 * makes, and on a kept connection) against computing the same HMAC-SHA256 in-process (goal:
 * median round trip <= 200 us), and an HTTPS GET through the broker's http verb against the
 * same GET made directly with libcurl (a new TLS connection each, as the broker makes;
 * goal <= 1.3x) from a lighttpd on loopback with a fresh certificate. Needs lighttpd with
 * TLS and openssl for the second part; without them it says so. Usage: broker [-n RUNS]. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker/broker.h"
#include "http/http.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#include "bench.h"

#define KEY		"bench-hmac-key-0123456789"
#define TOKEN		"bench-bearer-token-0123456789"
#define GOAL_SIGN_US	200.0
#define GOAL_HTTP_RATIO 1.3
#define MAX_RUNS	100000

struct samples {
	double *v;
	size_t n;
};

static void row(const char *what, struct samples *s)
{
	printf("  %-46s median %8.1f us   p90 %8.1f us   (%zu runs)\n", what,
	       bench_pct(s->v, s->n, 0.5), bench_pct(s->v, s->n, 0.9), s->n);
}

static void die(const char *what, const struct err *err)
{
	(void) fprintf(stderr, "broker: %s: %s\n", what, err->msg);
	exit(1);
}

static int run_sh(const char *cmd)
{
	pid_t pid = fork();
	int status = 0;

	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *) NULL);
		_exit(127);
	}
	(void) waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static int kept_connect(const char *sock)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memcpy(sa.sun_path, sock, strlen(sock));
	if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
		return -1;
	return fd;
}

/* A broker for one grant, with the rate limits out of a benchmark loop's way. */
static pid_t spawn(const char *grant_text, const char *value, const char *sock, const char *audit,
		   const char *ca_file, struct broker_grant **ret_grant)
{
	struct err err = { 0 };
	struct stat st;
	pid_t pid = 0;

	if (broker_grant_parse(grant_text, ret_grant, &err) < 0 ||
	    broker_grant_set_value(*ret_grant, value, strlen(value), &err) < 0)
		die("grant", &err);
	struct broker_config cfg = {
		.grants = ret_grant,
		.n_grants = 1,
		.socket_path = sock,
		.audit_path = audit,
		.sandbox_id = "bench",
		.peer_uid = (uid_t) -1,
		.run_as_uid = (uid_t) -1,
		.run_as_gid = (gid_t) -1,
		.ca_file = ca_file,
		.limits = { .rate_per_s = 10000000,
			    .burst = 10000000,
			    .global_rate_per_s = 10000000,
			    .global_burst = 10000000 },
	};
	if (stat("/proc/self/ns/pid", &st) == 0)
		cfg.peer_pidns_ino = st.st_ino;
	if (broker_spawn(&cfg, &pid, &err) < 0)
		die("spawn", &err);
	return pid;
}

static void bench_sign(const char *dir, size_t runs)
{
	cleanup_free char *sock = path_join(dir, "sign.sock"), *audit = path_join(dir, "audit.log");
	struct broker_grant *g = NULL;
	struct err err = { 0 };
	struct samples direct = { xcalloc(runs, sizeof(double)), 0 };
	struct samples fresh = { xcalloc(runs, sizeof(double)), 0 };
	struct samples kept = { xcalloc(runs, sizeof(double)), 0 };
	const char payload[] = "{\"id\":\"evt_1\",\"type\":\"charge.succeeded\"}";
	pid_t pid = spawn("sign:K", KEY, sock, audit, NULL, &g);

	for (size_t i = 0; i < runs; i++) {
		unsigned char mac[32];
		crypto_auth_hmacsha256_state s;
		double t0 = bench_now_us();
		crypto_auth_hmacsha256_init(&s, (const unsigned char *) KEY, strlen(KEY));
		crypto_auth_hmacsha256_update(&s, (const unsigned char *) payload,
					      sizeof(payload) - 1);
		crypto_auth_hmacsha256_final(&s, mac);
		direct.v[direct.n++] = bench_now_us() - t0;
	}
	for (size_t i = 0; i < runs; i++) {
		struct broker_sign_result res;
		double t0 = bench_now_us();
		if (broker_client_sign(sock, "K", NULL, payload, sizeof(payload) - 1, &res, &err) <
		    0)
			die("sign", &err);
		fresh.v[fresh.n++] = bench_now_us() - t0;
	}
	{
		cleanup_close int fd = kept_connect(sock);
		cleanup_free char *req = NULL;
		char buf[512];
		char b64[128];
		sodium_bin2base64(b64, sizeof(b64), (const unsigned char *) payload,
				  sizeof(payload) - 1, sodium_base64_VARIANT_ORIGINAL);
		req = xasprintf("{\"verb\":\"sign\",\"name\":\"K\",\"payload_b64\":\"%s\"}\n", b64);
		for (size_t i = 0; fd >= 0 && i < runs; i++) {
			double t0 = bench_now_us();
			size_t got = 0;
			if (fd_write_all(fd, req, strlen(req)) < 0)
				break;
			while (got == 0 || buf[got - 1] != '\n') {
				ssize_t n = read(fd, buf + got, sizeof(buf) - got);
				if (n <= 0)
					break;
				got += (size_t) n;
			}
			kept.v[kept.n++] = bench_now_us() - t0;
		}
	}
	killp(&pid);
	broker_grant_free(g);
	printf("sign (HMAC-SHA256 of a %zu-byte payload)\n", sizeof(payload) - 1);
	row("in-process libsodium (the peer)", &direct);
	row("broker, new connection per request", &fresh);
	if (kept.n)
		row("broker, one connection for all", &kept);
	double m = bench_pct(fresh.v, fresh.n, 0.5);
	printf("  ratio broker/in-process: %.0fx; median round trip %.1f us: goal <= %.0f us %s\n",
	       m / bench_pct(direct.v, direct.n, 0.5), m, GOAL_SIGN_US,
	       m <= GOAL_SIGN_US ? "met" : "MISSED");
	free(direct.v);
	free(fresh.v);
	free(kept.v);
}

static void bench_http(const char *dir, size_t runs)
{
	cleanup_free char *conf = path_join(dir, "lighttpd.conf"), *text = NULL, *cmd = NULL;
	cleanup_free char *cert = path_join(dir, "cert.pem"), *url = NULL, *prefix = NULL;
	cleanup_free char *sock = path_join(dir, "http.sock"), *audit = path_join(dir, "audit.log");
	struct broker_grant *g = NULL;
	struct err err = { 0 };
	struct samples direct = { xcalloc(runs, sizeof(double)), 0 };
	struct samples brk = { xcalloc(runs, sizeof(double)), 0 };
	pid_t web = 0, pid = 0;
	int port;

	printf("\nhttp (HTTPS GET of a 1 KiB file from lighttpd on loopback, new TLS connection "
	       "each)\n");
	if (access("/usr/sbin/lighttpd", X_OK) < 0 ||
	    access("/usr/lib/lighttpd/mod_openssl.so", R_OK) < 0 || !http_available(&err)) {
		printf("  skipped: needs lighttpd, lighttpd-mod-openssl and libcurl\n");
		return;
	}
	{
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_addr.s_addr = htonl(0x7f000001) };
		socklen_t len = sizeof(a);
		(void) bind(fd, (struct sockaddr *) &a, sizeof(a));
		(void) getsockname(fd, (struct sockaddr *) &a, &len);
		port = ntohs(a.sin_port);
		close(fd);
	}
	cmd = xasprintf("cd '%s' && openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "
			"/CN=localhost -addext subjectAltName=DNS:localhost -keyout key.pem -out "
			"cert.pem 2>/dev/null && cat cert.pem key.pem > server.pem && mkdir -p "
			"www/v1 && head -c 1024 /dev/zero | tr '\\0' x > www/v1/item",
			dir);
	if (run_sh(cmd) != 0) {
		printf("  skipped: openssl could not make a certificate\n");
		return;
	}
	text = xasprintf("server.document-root = \"%s/www\"\nserver.bind = \"127.0.0.1\"\n"
			 "server.port = %d\nserver.modules = ( \"mod_openssl\" )\n"
			 "server.errorlog = \"%s/error.log\"\n"
			 "ssl.engine = \"enable\"\nssl.pemfile = \"%s/server.pem\"\n",
			 dir, port, dir, dir);
	if (write_file_atomic_at(AT_FDCWD, conf, text, strlen(text), 0644, 0, &err) < 0)
		die("lighttpd.conf", &err);
	web = fork();
	if (web == 0) {
		execl("/usr/sbin/lighttpd", "lighttpd", "-D", "-f", conf, (char *) NULL);
		_exit(127);
	}
	url = xasprintf("https://localhost:%d/v1/item", port);
	prefix = xasprintf("http:TOKEN@https://localhost:%d/v1/;methods=GET", port);
	/* Wait until it answers. */
	for (int i = 0; i < 500; i++) {
		struct http_response r = { 0 };
		const struct http_request q = { .method = "GET", .url = url, .ca_file = cert };
		if (http_request(&q, &r, &err) == 0) {
			http_response_release(&r);
			break;
		}
		usleep(10000);
	}
	pid = spawn(prefix, TOKEN, sock, audit, cert, &g);
	cleanup_free char *auth = xasprintf("Authorization: Bearer %s", TOKEN);
	const char *hdrs[] = { auth };
	for (size_t i = 0; i < runs * 2; i++) {
		/* Interleaved, so that drift on the machine hits both alike. */
		double t0 = bench_now_us();
		if (i % 2 == 0) {
			struct http_response r = { 0 };
			const struct http_request q = { .method = "GET",
							.url = url,
							.ca_file = cert,
							.headers = hdrs,
							.n_headers = 1 };
			if (http_request(&q, &r, &err) < 0 || r.status != 200)
				die("direct GET", &err);
			http_response_release(&r);
			direct.v[direct.n++] = bench_now_us() - t0;
		} else {
			struct broker_http_result r = { 0 };
			const struct broker_http_call c = { .name = "TOKEN",
							    .method = "GET",
							    .url = url };
			if (broker_client_http(sock, &c, &r, &err) < 0 || r.status != 200)
				die("broker GET", &err);
			broker_http_result_release(&r);
			brk.v[brk.n++] = bench_now_us() - t0;
		}
	}
	killp(&pid);
	killp(&web);
	broker_grant_free(g);
	row("direct, libcurl in-process (the peer)", &direct);
	row("through the broker (socket + libcurl + scrub)", &brk);
	double ratio = bench_pct(brk.v, brk.n, 0.5) / bench_pct(direct.v, direct.n, 0.5);
	printf("  ratio broker/direct: %.2fx: goal <= %.1fx %s\n", ratio, GOAL_HTTP_RATIO,
	       ratio <= GOAL_HTTP_RATIO ? "met" : "MISSED");
	free(direct.v);
	free(brk.v);
}

int main(int argc, char **argv)
{
	size_t runs = 2000;
	char dir[] = "/tmp/mayfly-bench-broker-XXXXXX";
	unsigned n;
	int c;

	while ((c = getopt(argc, argv, "n:")) != -1) {
		if (c == 'n' && safe_atou(optarg, &n) == 0 && n > 0 && n <= MAX_RUNS)
			runs = n;
		else {
			(void) fprintf(stderr, "usage: broker [-n RUNS]\n");
			return 2;
		}
	}
	if (sodium_init() < 0 || !mkdtemp(dir)) {
		(void) fprintf(stderr, "broker: setup failed\n");
		return 1;
	}
	(void) signal(SIGPIPE, SIG_IGN);
	bench_sign(dir, runs);
	bench_http(dir, runs / 10 ? runs / 10 : 1);
	{
		struct err err = { 0 };
		(void) rm_rf_at(AT_FDCWD, dir, &err);
	}
	return 0;
}

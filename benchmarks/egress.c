/* egress.c - what the egress proxy (net/proxy.c, `mayfly exec --allow-host`) costs, side by
 * side in one run against going direct: a new connection and one small round trip (direct
 * connect vs CONNECT through the proxy, which resolves the name on the host and checks
 * every address), a round trip on an open tunnel, and, when curl and openssl are there, a
 * whole HTTPS request made by curl (TLS handshake included) direct and through
 * HTTPS_PROXY. The origin is an echo server (and `openssl s_server -www`) on this host's
 * loopback, granted as localhost:PORT with --allow-private-egress. The proxy is started
 * the way mayfly starts it, on a listening socket of the host's loopback (in a sandbox it
 * is the sandbox's). Usage: egress [-n RUNS]. Goal (issue 6): a proxied HTTPS request
 * within 1.3x of a direct one. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net/net.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/banned.h"

#include "bench.h"

#define MAX_RUNS   10000
#define GOAL_HTTPS 1.3

static void die(const char *what)
{
	(void) fprintf(stderr, "egress: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* An echo server on [::]:port (so "localhost" reaches it as ::1 and 127.0.0.1): one poll()
 * loop, so that neither side pays for a fork per connection. */
static pid_t echo_start(int *ret_port)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	socklen_t len = sizeof(sa);
	int off = 0, fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct pollfd p[65];
	size_t n = 1;

	if (fd < 0 || setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) < 0 ||
	    bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *) &sa, &len) < 0)
		die("echo server");
	*ret_port = ntohs(sa.sin6_port);
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid > 0) {
		(void) close(fd);
		return pid;
	}
	(void) prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	p[0] = (struct pollfd){ .fd = fd, .events = POLLIN };
	for (;;) {
		if (poll(p, n, -1) < 0)
			continue;
		if ((p[0].revents & POLLIN) && n < 65) {
			int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
			if (c >= 0)
				p[n++] = (struct pollfd){ .fd = c, .events = POLLIN };
		}
		for (size_t i = 1; i < n; i++) {
			char buf[4096];
			ssize_t k;
			if (!p[i].revents)
				continue;
			k = read(p[i].fd, buf, sizeof(buf));
			if (k <= 0 || write(p[i].fd, buf, (size_t) k) != k) {
				(void) close(p[i].fd);
				p[i--] = p[--n];
			}
		}
	}
}

static int dial(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t) port),
				  .sin_addr = { htonl(INADDR_LOOPBACK) } };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
		die("connect");
	(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void round_trip(int fd)
{
	char msg[64] = "ping", buf[64];
	size_t got = 0;

	if (write(fd, msg, sizeof(msg)) != (ssize_t) sizeof(msg))
		die("write");
	while (got < sizeof(buf)) {
		ssize_t k = read(fd, buf + got, sizeof(buf) - got);
		if (k <= 0)
			die("read");
		got += (size_t) k;
	}
}

/* CONNECT localhost:port through the proxy at proxy_port; the tunnel's fd. */
static int tunnel(int proxy_port, int port)
{
	char req[128], buf[256];
	size_t got = 0;
	int fd = dial(proxy_port);
	int k = snprintf(req, sizeof(req), "CONNECT localhost:%d HTTP/1.1\r\n\r\n", port);

	if (write(fd, req, (size_t) k) != k)
		die("write CONNECT");
	while (got < 4 || memcmp(buf + got - 4, "\r\n\r\n", 4) != 0) {
		ssize_t r = read(fd, buf + got, 1);
		if (r <= 0 || ++got >= sizeof(buf))
			die("read the proxy's answer");
	}
	if (strncmp(buf, "HTTP/1.1 200", 12) != 0) {
		(void) fprintf(stderr, "egress: the proxy refused: %.*s\n", (int) got, buf);
		exit(1);
	}
	return fd;
}

/* Run argv with stdout and stderr on /dev/null; its wall time in us, or -1 if it failed. */
static double timed_run(char *const *argv, char *const *envp)
{
	double t0 = bench_now_us();
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		(void) dup2(null, 1);
		(void) dup2(null, 2);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return -1;
	return bench_now_us() - t0;
}

static void row(const char *what, double direct, double proxied, double goal)
{
	(void) printf("%-44s %9.1f us %9.1f us %7.2fx", what, direct, proxied, proxied / direct);
	if (goal > 0)
		(void) printf("   goal <= %.1fx: %s", goal,
			      proxied / direct <= goal ? "met" : "MISSED");
	(void) printf("\n");
}

/* A loopback port nothing listens on (bound, then released). */
static int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr = { htonl(INADDR_LOOPBACK) } };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *) &sa, &len) < 0)
		die("port");
	(void) close(fd);
	return ntohs(sa.sin_port);
}

/* HTTPS with curl and `openssl s_server -www`, direct and through the proxy. */
static void https_rows(int proxy_port, int port, int runs)
{
	char dir[] = "/tmp/mayfly-bench-egress-XXXXXX", cmd[1024], url[128], proxy[64];
	static double d[MAX_RUNS], p[MAX_RUNS];
	cleanup_pid pid_t srv = -1;
	int nd = 0, np = 0;

	if (access("/usr/bin/curl", X_OK) < 0 || access("/usr/bin/openssl", X_OK) < 0) {
		(void) printf("https via curl: skipped (no /usr/bin/curl or /usr/bin/openssl)\n");
		return;
	}
	if (!mkdtemp(dir))
		die("mkdtemp");
	(void) snprintf(cmd, sizeof(cmd),
			"cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
			"-nodes -days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost "
			"-keyout key.pem -out cert.pem 2>/dev/null",
			dir);
	char *sh[] = { "/bin/sh", "-c", cmd, NULL };
	if (timed_run(sh, NULL) < 0) {
		(void) printf("https via curl: skipped (openssl req failed)\n");
		return;
	}
	char cert[128], key[128], accept[32];
	(void) snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	(void) snprintf(key, sizeof(key), "%s/key.pem", dir);
	(void) snprintf(accept, sizeof(accept), "127.0.0.1:%d", port);
	srv = fork();
	if (srv == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		(void) prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		(void) dup2(null, 0);
		(void) dup2(null, 1);
		(void) dup2(null, 2);
		execl("/usr/bin/openssl", "openssl", "s_server", "-quiet", "-www", "-cert", cert,
		      "-key", key, "-accept", accept, (char *) NULL);
		_exit(127);
	}
	(void) snprintf(url, sizeof(url), "https://localhost:%d/", port);
	(void) snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", proxy_port);
	char *direct[] = { "/usr/bin/curl", "-sSf", "--noproxy", "*", "--cacert", cert, url, NULL };
	char *via[] = { "/usr/bin/curl", "-sSf",     "--noproxy", "",  "-x",
			proxy,		 "--cacert", cert,	  url, NULL };
	for (int i = 0; i < 200 && timed_run(direct, NULL) < 0; i++)
		(void) usleep(10000);
	for (int i = 0; i < runs; i++) {
		double a = timed_run(direct, NULL), b = timed_run(via, NULL);
		if (a > 0)
			d[nd++] = a;
		if (b > 0)
			p[np++] = b;
	}
	if (nd == 0 || np == 0)
		(void) printf("https via curl: failed (direct %d ok, proxied %d ok)\n", nd, np);
	else
		row("https request by curl (new process each)", bench_median(d, (size_t) nd),
		    bench_median(p, (size_t) np), GOAL_HTTPS);
	(void) snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void) timed_run(sh, NULL);
}

int main(int argc, char **argv)
{
	static double d[MAX_RUNS], p[MAX_RUNS];
	struct err err = { 0 };
	cleanup_pid pid_t echo = -1;
	cleanup_close int lfd = -1;
	int runs = 200, port, proxy_port, c;
	pid_t proxy = -1;

	/* net_proxy_start() executes this binary again as the proxy. */
	if (argc > 0 && strcmp(argv[0], NET_PROXY_ARGV0) == 0)
		return net_proxy_main(argc, argv);
	while ((c = getopt(argc, argv, "n:")) != -1) {
		if (c != 'n' || (runs = (int) strtol(optarg, NULL, 10)) < 1 || runs > MAX_RUNS) {
			(void) fprintf(stderr, "usage: egress [-n RUNS (1..%d)]\n", MAX_RUNS);
			return 2;
		}
	}
	(void) signal(SIGPIPE, SIG_IGN);
	echo = echo_start(&port);

	/* The proxy on a port of the host's loopback, granting only the echo server. */
	char grant[32], grant_tls[32];
	int tls_port = free_port();
	(void) snprintf(grant, sizeof(grant), "localhost:%d", port);
	(void) snprintf(grant_tls, sizeof(grant_tls), "localhost:%d", tls_port);
	char *pats[] = { grant, grant_tls, NULL };
	CLEANUP(net_allow_freep) struct net_allow *allow = NULL;
	proxy_port = free_port();
	if (net_listen_loopback((unsigned) proxy_port, &lfd, &err) < 0) {
		(void) fprintf(stderr, "egress: %s\n", err.msg);
		return 1;
	}
	if (net_allow_new(pats, true, &allow, &err) < 0) {
		(void) fprintf(stderr, "egress: %s\n", err.msg);
		return 1;
	}
	struct net_proxy_config cfg = {
		.listen_fd = lfd, .audit_fd = -1, .sandbox_id = "bench", .allow = allow
	};
	if (net_proxy_start(&cfg, &proxy, &err) < 0) {
		(void) fprintf(stderr, "egress: %s\n", err.msg);
		return 1;
	}

	(void) printf("egress: the proxy of `mayfly exec --allow-host` vs direct, median of %d "
		      "runs\n",
		      runs);
	(void) printf("%-44s %12s %12s %8s\n", "", "direct", "proxied", "ratio");
	for (int i = 0; i < runs; i++) {
		double t0 = bench_now_us();
		int fd = dial(port);
		round_trip(fd);
		(void) close(fd);
		double t1 = bench_now_us();
		fd = tunnel(proxy_port, port);
		round_trip(fd);
		(void) close(fd);
		d[i] = t1 - t0;
		p[i] = bench_now_us() - t1;
	}
	row("new connection + one 64-byte round trip", bench_median(d, (size_t) runs),
	    bench_median(p, (size_t) runs), 0);
	{
		int a = dial(port), b = tunnel(proxy_port, port);
		for (int i = 0; i < runs; i++) {
			double t0 = bench_now_us();
			round_trip(a);
			double t1 = bench_now_us();
			round_trip(b);
			d[i] = t1 - t0;
			p[i] = bench_now_us() - t1;
		}
		(void) close(a);
		(void) close(b);
	}
	row("64-byte round trip on an open connection", bench_median(d, (size_t) runs),
	    bench_median(p, (size_t) runs), 0);
	https_rows(proxy_port, tls_port, runs > 300 ? 300 : runs);
	net_proxy_stop(proxy);
	return 0;
}

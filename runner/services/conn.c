/* conn.c - client sockets for the readiness checks: one connection attempt (TCP on an IP
 * literal or a unix socket), reads and writes bounded by a deadline, and the pause between
 * attempts, which also notices a server that died. */
#include "services/services.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "services/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/banned.h"

uint64_t svc_now_ms(void)
{
	struct timespec ts;

	(void) clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static const char *host_of(const struct svc_target *t)
{
	if (!t->host || strcmp(t->host, "localhost") == 0)
		return "127.0.0.1";
	return t->host;
}

void conn_name(const struct svc_target *t, unsigned port, bool pg_socket_dir, char *buf,
	       size_t size)
{
	const char *h = host_of(t);

	if (h[0] == '/' && pg_socket_dir)
		(void) snprintf(buf, size, "%s/.s.PGSQL.%u", h, port);
	else if (h[0] == '/')
		(void) snprintf(buf, size, "%s", h);
	else if (strchr(h, ':'))
		(void) snprintf(buf, size, "[%s]:%u", h, port);
	else
		(void) snprintf(buf, size, "%s:%u", h, port);
}

static int connect_unix(const char *path, int *ret_fd, struct err *err)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	cleanup_close int fd = -1;

	if (strlen(path) >= sizeof(sun.sun_path))
		return err_set(err, ENAMETOOLONG, "socket '%s': path longer than %zu bytes", path,
			       sizeof(sun.sun_path) - 1);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(err, errno, "socket");
	if (connect(fd, (struct sockaddr *) &sun, sizeof(sun)) < 0)
		return err_set(err, errno, "connect '%s'", path);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static int connect_ip(const char *host, unsigned port, int *ret_fd, struct err *err)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t) port) };
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
	struct timeval tv = { .tv_sec = 1 };
	cleanup_close int fd = -1;
	const struct sockaddr *sa;
	socklen_t salen;
	int one = 1;

	if (port == 0 || port > 65535)
		return err_set(err, EINVAL, "port %u", port);
	if (inet_pton(AF_INET, host, &s4.sin_addr) == 1) {
		sa = (const struct sockaddr *) &s4;
		salen = sizeof(s4);
	} else if (inet_pton(AF_INET6, host, &s6.sin6_addr) == 1) {
		sa = (const struct sockaddr *) &s6;
		salen = sizeof(s6);
	} else {
		return err_set(err, EINVAL, "host '%s': not an IP address or a socket directory",
			       host);
	}
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(err, errno, "socket");
	/* A full listen backlog would make connect() wait; loopback answers at once. */
	(void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, sa, salen) < 0)
		return err_set(err, errno, "connect");
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int conn_open(const struct svc_target *t, unsigned port, bool pg_socket_dir, int *ret_fd,
	      struct err *err)
{
	const char *h = host_of(t);
	char path[PATH_MAX];

	if (h[0] != '/')
		return connect_ip(h, port, ret_fd, err);
	if (!pg_socket_dir)
		return connect_unix(h, ret_fd, err);
	if ((size_t) snprintf(path, sizeof(path), "%s/.s.PGSQL.%u", h, port) >= sizeof(path))
		return err_set(err, ENAMETOOLONG, "socket directory '%s'", h);
	return connect_unix(path, ret_fd, err);
}

int conn_backoff(const struct svc_target *t, uint64_t deadline, unsigned *attempt, struct err *err)
{
	uint64_t now;

	if (t->server > 0) {
		siginfo_t si = { 0 };
		/* WNOWAIT: the caller still reaps it and sees its status. */
		if (waitid(P_PID, (id_t) t->server, &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
		    si.si_pid == t->server) {
			if (si.si_code == CLD_EXITED)
				return err_set(err, ECHILD,
					       "the server exited with status %d before it was "
					       "ready (see its log)",
					       si.si_status);
			return err_set(err, ECHILD,
				       "the server was killed by signal %d before it was ready",
				       si.si_status);
		}
	}
	now = svc_now_ms();
	if (now >= deadline)
		return -ETIMEDOUT; /* the caller says what it was waiting for */
	/* 1 ms at first (a server usually needs 10-40), then 2 ms. */
	uint64_t ms = *attempt < 20 ? 1 : 2;
	if (ms > deadline - now)
		ms = deadline - now;
	struct timespec ts = { .tv_sec = 0, .tv_nsec = (long) ms * 1000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	(*attempt)++;
	return 0;
}

static int wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		uint64_t now = svc_now_ms();
		struct pollfd p = { .fd = fd, .events = events };
		int r;

		if (now >= deadline)
			return -ETIMEDOUT;
		r = poll(&p, 1, deadline - now > INT_MAX ? INT_MAX : (int) (deadline - now));
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0)
			return 0;
	}
}

int conn_write(int fd, const void *buf, size_t len, uint64_t deadline)
{
	const char *p = buf;

	while (len > 0) {
		int r = wait_fd(fd, POLLOUT, deadline);
		if (r < 0)
			return r;
		/* MSG_NOSIGNAL: a server that hung up is an error, not a SIGPIPE. */
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t) n;
	}
	return 0;
}

ssize_t conn_read(int fd, void *buf, size_t size, uint64_t deadline)
{
	for (;;) {
		int r = wait_fd(fd, POLLIN, deadline);
		if (r < 0)
			return r;
		ssize_t n = read(fd, buf, size); /* readable: does not block (pipes too) */
		if (n >= 0)
			return n;
		if (errno != EINTR && errno != EAGAIN)
			return -errno;
	}
}

int conn_read_exact(int fd, void *buf, size_t len, uint64_t deadline)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = conn_read(fd, p, len, deadline);
		if (n < 0)
			return (int) n;
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t) n;
	}
	return 0;
}

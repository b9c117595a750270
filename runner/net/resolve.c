/* resolve.c - name lookups for the proxy that never block its loop: each getaddrinfo()
 * runs in a short-lived child of the proxy (a fresh, small process: a fork is cheap),
 * which writes the addresses to a pipe the loop polls and exits. A lookup the proxy gives
 * up on (the client left, a deadline) is killed. The child only resolves: every address
 * is judged by the proxy, all of them, before it dials any. */
#include "net/net.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/internal.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/banned.h"

/* What the child writes: a header, then hdr.n addresses. */
struct lookup_hdr {
	int32_t gai;	/* getaddrinfo()'s result */
	int32_t errnum; /* errno, for EAI_SYSTEM */
	uint32_t n;
	uint32_t more; /* the name had more addresses than NET_LOOKUP_MAX */
};

struct lookup_addr {
	uint32_t len;
	struct sockaddr_storage ss;
};

static void __attribute__((noreturn)) lookup_child(const char *host, unsigned port, int wfd)
{
	static struct {
		struct lookup_hdr hdr;
		struct lookup_addr a[NET_LOOKUP_MAX];
	} msg;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	char service[8];

	(void) prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	(void) fd_close_all(3, &wfd, 1); /* never keep a client's connection open */
	(void) snprintf(service, sizeof(service), "%u", port);
	msg.hdr.gai = getaddrinfo(host, service, &hints, &res);
	msg.hdr.errnum = errno;
	for (struct addrinfo *ai = res; msg.hdr.gai == 0 && ai; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		if (msg.hdr.n == NET_LOOKUP_MAX) {
			msg.hdr.more = 1;
			break;
		}
		msg.a[msg.hdr.n].len = (uint32_t) ai->ai_addrlen;
		memcpy(&msg.a[msg.hdr.n++].ss, ai->ai_addr, ai->ai_addrlen);
	}
	(void) fd_write_all(wfd, &msg, sizeof(msg.hdr) + msg.hdr.n * sizeof(msg.a[0]));
	_exit(0);
}

int net_lookup_start(const char *host, unsigned port, struct net_lookup *l, struct err *err)
{
	int p[2];
	pid_t pid;

	memset(l, 0, sizeof(*l));
	l->fd = -1;
	if (pipe2(p, O_CLOEXEC) < 0)
		return err_set(err, errno, "pipe");
	pid = fork();
	if (pid < 0) {
		int e = errno;
		(void) close(p[0]);
		(void) close(p[1]);
		return err_set(err, e, "fork a lookup");
	}
	if (pid == 0)
		lookup_child(host, port, p[1]);
	(void) close(p[1]);
	(void) fcntl(p[0], F_SETFL, O_NONBLOCK);
	l->pid = pid;
	l->fd = p[0];
	return 0;
}

static void lookup_end(struct net_lookup *l, bool kill_it)
{
	if (l->pid > 0) {
		if (kill_it)
			(void) kill(l->pid, SIGKILL);
		while (waitpid(l->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (l->fd >= 0)
		(void) close(l->fd);
	l->pid = 0;
	l->fd = -1;
}

int net_lookup_read(struct net_lookup *l, struct sockaddr_storage *addrs, socklen_t *lens,
		    size_t max, size_t *ret_n, bool *ret_more, struct err *err)
{
	struct lookup_hdr hdr;
	size_t n = 0;

	for (;;) {
		ssize_t k;
		if (l->len == sizeof(l->buf))
			break;
		k = read(l->fd, l->buf + l->len, sizeof(l->buf) - l->len);
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			return -EAGAIN;
		if (k <= 0)
			break;
		l->len += (size_t) k;
	}
	lookup_end(l, false);
	if (l->len < sizeof(hdr))
		return err_set(err, EIO, "lookup failed");
	memcpy(&hdr, l->buf, sizeof(hdr));
	if (hdr.gai != 0)
		return err_set(err, hdr.gai == EAI_SYSTEM ? hdr.errnum : ENOENT, "%s",
			       hdr.gai == EAI_SYSTEM ? "lookup failed" : gai_strerror(hdr.gai));
	if (hdr.n > NET_LOOKUP_MAX || l->len != sizeof(hdr) + hdr.n * sizeof(struct lookup_addr))
		return err_set(err, EIO, "lookup failed: short answer");
	for (uint32_t i = 0; i < hdr.n && n < max; i++) {
		struct lookup_addr a;
		memcpy(&a, l->buf + sizeof(hdr) + i * sizeof(a), sizeof(a));
		if (a.len > sizeof(a.ss))
			return err_set(err, EIO, "lookup failed: bad answer");
		memcpy(&addrs[n], &a.ss, sizeof(a.ss));
		lens[n++] = (socklen_t) a.len;
	}
	*ret_n = n;
	*ret_more = hdr.more != 0;
	return 0;
}

void net_lookup_cancel(struct net_lookup *l)
{
	lookup_end(l, true);
}

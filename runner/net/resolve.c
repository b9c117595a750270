/* resolve.c - name lookups for the proxy that never block its loop. getaddrinfo() runs
 * in other processes: one long-lived resolver the proxy starts on its first lookup and
 * asks one name at a time over a socket pair (no process to make in the common case),
 * and, while that one is busy (a slow DNS answer, lookups at the same time), a
 * short-lived child per lookup, which writes its answer to a pipe and exits. The proxy
 * polls both; a lookup it gives up on is killed (a child) or its answer dropped when it
 * comes (the resolver). They only resolve: every address is judged by the proxy, all of
 * them, before it dials any. */
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

/* An answer: a header, then hdr.n addresses. */
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

struct answer {
	struct lookup_hdr hdr;
	struct lookup_addr a[NET_LOOKUP_MAX];
};

/* A question to the resolver. */
struct question {
	uint32_t port;
	char host[NET_HOST_MAX + 1];
};

/* The long-lived resolver: one per proxy process. */
static struct {
	pid_t pid;		  /* 0: not started (or gone) */
	int fd;			  /* our end of the socket pair, -1: none */
	struct net_lookup *owner; /* the lookup it answers next; NULL: idle, or dropped */
	bool busy;
} shared = { 0, -1, NULL, false };

static size_t resolve(const char *host, unsigned port, struct answer *ans)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	char service[8];

	memset(ans, 0, sizeof(*ans));
	(void) snprintf(service, sizeof(service), "%u", port);
	ans->hdr.gai = getaddrinfo(host, service, &hints, &res);
	ans->hdr.errnum = errno;
	for (struct addrinfo *ai = res; ans->hdr.gai == 0 && ai; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		if (ans->hdr.n == NET_LOOKUP_MAX) {
			ans->hdr.more = 1;
			break;
		}
		ans->a[ans->hdr.n].len = (uint32_t) ai->ai_addrlen;
		memcpy(&ans->a[ans->hdr.n++].ss, ai->ai_addr, ai->ai_addrlen);
	}
	if (res)
		freeaddrinfo(res);
	return sizeof(ans->hdr) + ans->hdr.n * sizeof(ans->a[0]);
}

/* In a new child of the proxy: keep only fd (never a client's connection). */
static void child_setup(int fd)
{
	(void) prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	(void) fd_close_all(3, &fd, 1);
}

static void __attribute__((noreturn)) lookup_child(const char *host, unsigned port, int wfd)
{
	static struct answer ans;
	size_t len;

	child_setup(wfd);
	len = resolve(host, port, &ans);
	(void) fd_write_all(wfd, &ans, len);
	_exit(0);
}

static void __attribute__((noreturn)) resolver_main(int fd)
{
	static struct answer ans;
	struct question q;

	child_setup(fd);
	for (;;) {
		ssize_t n = recv(fd, &q, sizeof(q), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t) sizeof(q))
			_exit(0); /* the proxy is gone (or confused) */
		q.host[NET_HOST_MAX] = '\0';
		size_t len = resolve(q.host, q.port, &ans);
		if (send(fd, &ans, len, MSG_NOSIGNAL) < 0)
			_exit(0);
	}
}

static int resolver_start(struct err *err)
{
	int sp[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return err_set(err, errno, "socketpair for the resolver");
	pid = fork();
	if (pid < 0) {
		int e = errno;
		(void) close(sp[0]);
		(void) close(sp[1]);
		return err_set(err, e, "fork the resolver");
	}
	if (pid == 0) {
		(void) close(sp[0]);
		resolver_main(sp[1]);
	}
	(void) close(sp[1]);
	(void) fcntl(sp[0], F_SETFL, O_NONBLOCK);
	shared.pid = pid;
	shared.fd = sp[0];
	shared.busy = false;
	shared.owner = NULL;
	return 0;
}

void net_resolver_stop(void)
{
	if (shared.pid > 0) {
		(void) kill(shared.pid, SIGKILL);
		while (waitpid(shared.pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (shared.fd >= 0)
		(void) close(shared.fd);
	if (shared.owner) {
		shared.owner->done = true; /* with no answer: the lookup fails */
		shared.owner->len = 0;
	}
	shared.pid = 0;
	shared.fd = -1;
	shared.owner = NULL;
	shared.busy = false;
}

int net_resolver_fd(void)
{
	return shared.fd;
}

void net_resolver_ready(void)
{
	struct net_lookup *l = shared.owner;
	static struct answer drop;
	ssize_t n;

	if (shared.fd < 0)
		return;
	n = recv(shared.fd, l ? (void *) l->buf : (void *) &drop, l ? sizeof(l->buf) : sizeof(drop),
		 MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		net_resolver_stop(); /* it died: the next lookup starts another */
		return;
	}
	if (l) {
		l->len = (size_t) n;
		l->done = true;
	}
	shared.owner = NULL;
	shared.busy = false;
}

int net_lookup_start(const char *host, unsigned port, struct net_lookup *l, struct err *err)
{
	int p[2];
	pid_t pid;

	memset(l, 0, sizeof(*l));
	l->fd = -1;
	if (shared.pid == 0 && resolver_start(err) < 0)
		err_clear(err); /* a child of its own, then */
	if (shared.pid > 0 && !shared.busy) {
		struct question q = { .port = port };
		if (snprintf(q.host, sizeof(q.host), "%s", host) < (int) sizeof(q.host) &&
		    send(shared.fd, &q, sizeof(q), MSG_NOSIGNAL | MSG_DONTWAIT) ==
			    (ssize_t) sizeof(q)) {
			shared.busy = true;
			shared.owner = l;
			l->shared = true;
			return 0;
		}
		net_resolver_stop();
	}
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

static void child_end(struct net_lookup *l, bool kill_it)
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

	if (l->shared) {
		if (!l->done)
			return -EAGAIN;
		l->shared = false;
	} else {
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
		child_end(l, false);
	}
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
	if (l->shared) {
		/* The resolver answers anyway; its answer is dropped. */
		if (shared.owner == l)
			shared.owner = NULL;
		l->shared = false;
		return;
	}
	child_end(l, true);
}

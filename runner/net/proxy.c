/* proxy.c - the host side of egress: the event loop of the proxy process (started by
 * proxy-start.c), serving the listening socket pid 1 made on the sandbox's loopback. A socket keeps
 * the network namespace it was made in, so connections the job makes to 127.0.0.1:3128 arrive here,
 * while the connections this process makes leave from the host's namespace.
 *
 * One poll() loop, no threads: each connection reads a bounded head (NET_HEAD_MAX, a
 * deadline), is decided (net_request_parse, the allowlist, DNS on the host, every
 * resolved address checked), dials the exact address it checked (no second lookup: DNS
 * rebinding cannot swap it), then relays bytes through two bounded buffers with an idle
 * deadline. At most MAX_CONNS connections are served; more wait in the backlog. Every
 * decision is one JSON line in the audit log, written with one write(). */
#include "net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define MAX_CONNS	   256
#define BUF_SIZE	   (32 << 10)
#define MAX_ADDRS	   8
#define HEAD_TIMEOUT_MS	   (30 * 1000) /* the whole head, from accept */
#define RESOLVE_TIMEOUT_MS (30 * 1000)
#define CONNECT_TIMEOUT_MS (30 * 1000)	    /* per address */
#define IDLE_TIMEOUT_MS	   (10 * 60 * 1000) /* a tunnel with no byte either way */
#define DRAIN_TIMEOUT_MS   (5 * 1000)	    /* after a refusal, for the client to read it */

enum conn_state { C_HEAD, C_RESOLVING, C_CONNECTING, C_RELAY, C_DRAIN, C_DONE };

struct buffer {
	char data[BUF_SIZE];
	size_t off, len; /* pending bytes are data[off, len) */
};

struct conn {
	enum conn_state state;
	int cfd, ufd;	/* client (in the sandbox), upstream (the origin) */
	int pc, pu, pl; /* pollfd slots this round of cfd, ufd and lk.fd, or -1 */
	struct net_lookup lk;
	char head[NET_HEAD_MAX];
	size_t head_len;
	struct buffer up, down; /* client to origin, origin to client */
	bool c_eof, u_eof;
	struct sockaddr_storage addrs[NET_LOOKUP_MAX];
	socklen_t alens[NET_LOOKUP_MAX];
	size_t naddrs, iaddr;
	/* Kept from the request while the name resolves. */
	bool exact;    /* granted by an exact name */
	bool connect;  /* CONNECT (else a forwarded request) */
	char *forward; /* the head for the origin; owned */
	size_t forward_len;
	size_t req_len; /* the client's head (what follows it goes on) */
	/* For the audit line. */
	char method[16];
	char host[NET_HOST_MAX + 1];
	unsigned port;
	char addr[INET6_ADDRSTRLEN];
	uint64_t bytes_up, bytes_down;
	int status; /* what we answered; 0: nothing decided yet */
	bool allowed;
	char reason[256];
	int64_t t0, deadline; /* monotonic ms */
};

struct proxy {
	const struct net_proxy_config *cfg;
	struct conn *conns[MAX_CONNS];
	size_t n;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	(void) clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void audit(const struct proxy *px, const struct conn *c)
{
	char day[32], when[48];
	struct timespec ts;
	struct tm tm;
	cleanup_free char *line = NULL;

	if (px->cfg->audit_fd < 0 || c->status == 0)
		return;
	(void) clock_gettime(CLOCK_REALTIME, &ts);
	(void) gmtime_r(&ts.tv_sec, &tm);
	(void) strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	(void) snprintf(when, sizeof(when), "%s.%03ldZ", day, ts.tv_nsec / 1000000);

	struct json_w *w = json_w_new();
	json_w_obj_open(w, NULL);
	json_w_str(w, "kind", "egress");
	json_w_str(w, "time", when);
	json_w_str(w, "sandbox", px->cfg->sandbox_id);
	/* allow: the policy let it through (the connect may still have failed: status);
	 * deny: refused by the policy or the parser; error: nothing was decided (the name
	 * did not resolve, no process for the lookup, ...). */
	json_w_str(w, "decision", c->allowed ? "allow" : c->status >= 500 ? "error" : "deny");
	json_w_str(w, "method", c->method[0] ? c->method : NULL);
	json_w_str(w, "host", c->host[0] ? c->host : NULL);
	json_w_i64(w, "port", c->port);
	json_w_str(w, "addr", c->addr[0] ? c->addr : NULL);
	json_w_i64(w, "status", c->status);
	json_w_i64(w, "bytes_up", (int64_t) c->bytes_up);
	json_w_i64(w, "bytes_down", (int64_t) c->bytes_down);
	json_w_i64(w, "duration_ms", now_ms() - c->t0);
	json_w_str(w, "reason", c->reason[0] ? c->reason : NULL);
	json_w_obj_close(w);
	cleanup_free char *text = json_w_done(w);
	line = xasprintf("%s\n", text);
	/* One write() per line on an O_APPEND fd: lines from other writers (leases) never
	 * interleave with ours. */
	(void) !write(px->cfg->audit_fd, line, strlen(line));
}

static void buf_put(struct buffer *b, const void *data, size_t n)
{
	if (b->off == b->len)
		b->off = b->len = 0;
	if (n > sizeof(b->data) - b->len)
		n = sizeof(b->data) - b->len; /* callers never queue more than fits */
	memcpy(b->data + b->len, data, n);
	b->len += n;
}

/* Answer the client with status and a one-line text body, then drain and close. */
static void refuse(struct conn *c, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void refuse(struct conn *c, int status, const char *fmt, ...)
{
	static const struct {
		int status;
		const char *text;
	} names[] = { { 400, "Bad Request" },
		      { 403, "Forbidden" },
		      { 405, "Method Not Allowed" },
		      { 408, "Request Timeout" },
		      { 431, "Request Header Fields Too Large" },
		      { 502, "Bad Gateway" },
		      { 503, "Service Unavailable" },
		      { 504, "Gateway Timeout" } };
	const char *text = "Error";
	char resp[768];
	va_list ap;
	int n;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].status == status)
			text = names[i].text;
	va_start(ap, fmt);
	(void) vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
	n = snprintf(resp, sizeof(resp),
		     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
		     "Connection: close\r\n\r\nmayfly: %s\n",
		     status, text, strlen(c->reason) + 9, c->reason);
	c->status = status;
	net_lookup_cancel(&c->lk);
	c->ufd = safe_close(c->ufd);
	c->down.off = c->down.len = 0;
	buf_put(&c->down, resp, (size_t) n < sizeof(resp) ? (size_t) n : sizeof(resp) - 1);
	c->state = C_DRAIN;
	c->deadline = now_ms() + DRAIN_TIMEOUT_MS;
}

static void format_addr(const struct sockaddr *sa, char *out, size_t size)
{
	const void *a = sa->sa_family == AF_INET
				? (const void *) &((const struct sockaddr_in *) sa)->sin_addr
				: (const void *) &((const struct sockaddr_in6 *) sa)->sin6_addr;

	if (!inet_ntop(sa->sa_family, a, out, (socklen_t) size))
		(void) snprintf(out, size, "?");
}

/* Dial c->addrs[c->iaddr], or the next that can be dialled; false when none is left. */
static bool dial_next(struct conn *c)
{
	for (; c->iaddr < c->naddrs; c->iaddr++) {
		struct sockaddr *sa = (struct sockaddr *) &c->addrs[c->iaddr];
		int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		int one = 1;

		if (fd < 0)
			continue;
		/* We relay what we read at once: Nagle's wait would only add delay (and with
		 * delayed ACKs, 40 ms stalls in TLS handshakes). */
		(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		format_addr(sa, c->addr, sizeof(c->addr));
		if (connect(fd, sa, c->alens[c->iaddr]) == 0 || errno == EINPROGRESS) {
			c->ufd = fd;
			c->state = C_CONNECTING;
			c->deadline = now_ms() + CONNECT_TIMEOUT_MS;
			return true;
		}
		(void) close(fd);
	}
	return false;
}

/* err_set() appended the errno text; the client needs only the reason. */
static const char *reason(struct err *err)
{
	const char *e = strerror(err->code);
	size_t n = strlen(err->msg), k = strlen(e);

	if (n > k + 2 && strcmp(err->msg + n - k, e) == 0 && err->msg[n - k - 2] == ':')
		err->msg[n - k - 2] = '\0';
	return err->msg;
}

/* SECURITY: the decision. The job named the host; only a granted name, resolved here on
 * the host (on_resolved()), whose every address passes the address policy, is dialled,
 * and only at the addresses that were checked. */
static void decide(const struct proxy *px, struct conn *c)
{
	struct net_request req;
	struct err err = { 0 };
	bool exact = false;
	int r;

	r = net_request_parse(c->head, c->head_len, &req, &err);
	memcpy(c->method, req.method, sizeof(c->method));
	memcpy(c->host, req.host, sizeof(c->host));
	c->port = req.port;
	if (r == -EAGAIN) {
		if (c->head_len == sizeof(c->head))
			refuse(c, 431, "request head larger than %d bytes", NET_HEAD_MAX);
		return;
	}
	if (r < 0) {
		refuse(c, net_request_status(r), "refused request: %s", reason(&err));
		return;
	}
	if (!net_allow_match(px->cfg->allow, req.host, req.port, &exact)) {
		refuse(c, 403, "host '%s' port %u is not in this sandbox's --allow-host list",
		       req.host, req.port);
		net_request_release(&req);
		return;
	}
	c->exact = exact;
	c->connect = req.kind == NET_REQ_CONNECT;
	c->forward = TAKE_PTR(req.forward);
	c->forward_len = req.forward_len;
	c->req_len = req.head_len;
	if (net_lookup_start(req.host, req.port, &c->lk, &err) < 0) {
		refuse(c, 503, "cannot look up '%s' now: %s", req.host, reason(&err));
		return;
	}
	c->state = C_RESOLVING;
	c->deadline = now_ms() + RESOLVE_TIMEOUT_MS;
}

/* SECURITY: every address the name has is judged before any is dialled, and only the
 * addresses judged are dialled. */
static void on_resolved(const struct proxy *px, struct conn *c)
{
	struct err err = { 0 };
	bool more = false;
	bool private_ok = c->exact && net_allow_private(px->cfg->allow);
	int r;

	r = net_lookup_read(&c->lk, c->addrs, c->alens, NET_LOOKUP_MAX, &c->naddrs, &more, &err);
	if (r == -EAGAIN)
		return;
	if (r < 0) {
		refuse(c, 502, "cannot resolve '%s': %s", c->host, reason(&err));
		return;
	}
	if (more) {
		refuse(c, 403, "host '%s' has more than %d addresses: not all could be checked",
		       c->host, NET_LOOKUP_MAX);
		return;
	}
	for (size_t i = 0; i < c->naddrs; i++) {
		const struct sockaddr *sa = (const struct sockaddr *) &c->addrs[i];
		const char *why = net_addr_forbidden(sa, private_ok);
		if (why) {
			format_addr(sa, c->addr, sizeof(c->addr));
			refuse(c, 403, "host '%s' resolves to %s, a %s address%s", c->host, c->addr,
			       why,
			       c->exact || !net_allow_private(px->cfg->allow)
				       ? ""
				       : " (--allow-private-egress covers exact names only)");
			return;
		}
	}
	if (c->naddrs == 0) {
		refuse(c, 502, "host '%s' has no internet address", c->host);
		return;
	}
	if (c->naddrs > MAX_ADDRS)
		c->naddrs = MAX_ADDRS;
	/* What follows the head (early bytes of a tunnel, a request body) goes on. */
	if (c->forward)
		buf_put(&c->up, c->forward, c->forward_len);
	buf_put(&c->up, c->head + c->req_len, c->head_len - c->req_len);
	c->bytes_up = c->head_len - c->req_len;
	c->status = c->connect ? 200 : 0;
	c->allowed = true;
	if (!dial_next(c))
		refuse(c, 502, "cannot connect to '%s' port %u: %s", c->host, c->port,
		       strerror(errno));
}

static void on_connected(struct conn *c)
{
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	int e = 0;
	socklen_t len = sizeof(e);

	if (getsockopt(c->ufd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
		e = errno;
	if (e == EINPROGRESS || e == EALREADY)
		return;
	if (e != 0) {
		c->ufd = safe_close(c->ufd);
		c->iaddr++;
		if (!dial_next(c))
			refuse(c, 502, "cannot connect to '%s' port %u (%s): %s", c->host, c->port,
			       c->addr, strerror(e));
		return;
	}
	if (c->connect)
		buf_put(&c->down, ok, sizeof(ok) - 1);
	else
		c->status = 200; /* forwarded: the origin's own status is in the stream */
	c->state = C_RELAY;
	c->deadline = now_ms() + IDLE_TIMEOUT_MS;
}

/* Move bytes from fd into b; false on EOF or error. */
static bool fill(int fd, struct buffer *b, uint64_t *count)
{
	ssize_t n;

	if (b->off == b->len)
		b->off = b->len = 0;
	if (b->len == sizeof(b->data))
		return true;
	n = read(fd, b->data + b->len, sizeof(b->data) - b->len);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	if (n == 0)
		return false;
	b->len += (size_t) n;
	*count += (uint64_t) n;
	return true;
}

/* Write what b holds to fd; false on error. */
static bool flush(int fd, struct buffer *b)
{
	while (b->off < b->len) {
		ssize_t n = send(fd, b->data + b->off, b->len - b->off, MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN || errno == EINTR;
		b->off += (size_t) n;
	}
	b->off = b->len = 0;
	return true;
}

static void on_head(const struct proxy *px, struct conn *c)
{
	ssize_t n = read(c->cfd, c->head + c->head_len, sizeof(c->head) - c->head_len);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		c->state = C_DONE; /* gone before asking anything: nothing to decide */
		return;
	}
	c->head_len += (size_t) n;
	decide(px, c);
}

static void step(const struct proxy *px, struct conn *c, short cev, short uev, short lev)
{
	int64_t t = now_ms();

	switch (c->state) {
	case C_HEAD:
		if (cev)
			on_head(px, c);
		break;
	case C_RESOLVING:
		if (lev || c->lk.done)
			on_resolved(px, c);
		break;
	case C_CONNECTING:
		if (uev)
			on_connected(c);
		break;
	case C_RELAY:
		if ((cev & (POLLIN | POLLHUP | POLLERR)) && !c->c_eof) {
			if (!fill(c->cfd, &c->up, &c->bytes_up))
				c->c_eof = true;
			c->deadline = t + IDLE_TIMEOUT_MS;
		}
		if ((uev & (POLLIN | POLLHUP | POLLERR)) && !c->u_eof) {
			if (!fill(c->ufd, &c->down, &c->bytes_down))
				c->u_eof = true;
			c->deadline = t + IDLE_TIMEOUT_MS;
		}
		if (!flush(c->ufd, &c->up) || !flush(c->cfd, &c->down)) {
			c->state = C_DONE;
			break;
		}
		if (c->c_eof && c->up.off == c->up.len)
			(void) shutdown(c->ufd, SHUT_WR);
		if (c->u_eof && c->down.off == c->down.len)
			c->state = C_DONE; /* the origin is done and the client has it all */
		else if (c->u_eof && c->up.off == c->up.len)
			c->ufd = safe_close(c->ufd); /* nothing more to say to the origin */
		if ((cev & POLLERR) || ((cev & POLLHUP) && c->c_eof))
			c->state = C_DONE; /* the client is gone */
		break;
	case C_DRAIN:
		if (c->down.off < c->down.len) {
			if (!flush(c->cfd, &c->down))
				c->state = C_DONE;
			else if (c->down.off == c->down.len)
				(void) shutdown(c->cfd, SHUT_WR);
		} else if (cev) {
			/* Read and drop what the client still sends, so that closing does not
			 * reset the connection before it has read our answer. */
			char sink[4096];
			ssize_t n = read(c->cfd, sink, sizeof(sink));
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
				c->state = C_DONE;
		}
		break;
	case C_DONE:
		break;
	}
	if (c->state != C_DONE && t >= c->deadline) {
		if (c->state == C_HEAD)
			refuse(c, 408, "request head not complete within %d s",
			       HEAD_TIMEOUT_MS / 1000);
		else if (c->state == C_RESOLVING)
			refuse(c, 504, "resolving '%s' took longer than %d s", c->host,
			       RESOLVE_TIMEOUT_MS / 1000);
		else if (c->state == C_CONNECTING) {
			c->ufd = safe_close(c->ufd);
			c->iaddr++;
			if (!dial_next(c))
				refuse(c, 504, "connecting to '%s' port %u timed out", c->host,
				       c->port);
		} else
			c->state = C_DONE;
	}
}

static void conn_close(const struct proxy *px, struct conn *c)
{
	audit(px, c);
	net_lookup_cancel(&c->lk);
	free(c->forward);
	(void) safe_close(c->cfd);
	(void) safe_close(c->ufd);
	free(c);
}

static void accept_some(struct proxy *px, int lfd)
{
	while (px->n < MAX_CONNS) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK), one = 1;
		if (fd < 0)
			return;
		(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct conn *c = xcalloc(1, sizeof(*c));
		c->cfd = fd;
		c->ufd = -1;
		c->lk.fd = -1;
		c->t0 = now_ms();
		c->deadline = c->t0 + HEAD_TIMEOUT_MS;
		px->conns[px->n++] = c;
	}
}

/* SIGTERM (teardown): one last round for what is already readable (a client that just
 * closed), then an audit line for every connection still open, then exit. */
static void __attribute__((noreturn)) finish(struct proxy *px)
{
	for (size_t i = 0; i < px->n; i++) {
		struct conn *c = px->conns[i];
		if (c->status && !c->reason[0])
			(void) snprintf(c->reason, sizeof(c->reason),
					"open when the sandbox ended");
		conn_close(px, c);
	}
	net_resolver_stop(); /* gone before mayfly reaps us */
	_exit(0);
}

void net_proxy_serve(const struct net_proxy_config *cfg, int term_fd)
{
	static struct pollfd pfd[3 + 3 * MAX_CONNS];
	struct proxy px = { .cfg = cfg };
	bool ending = false;

	(void) fcntl(cfg->listen_fd, F_SETFL, O_NONBLOCK);
	for (;;) {
		int64_t t = now_ms(), next = t + 60 * 1000;
		nfds_t n = 0;

		pfd[n++] = (struct pollfd){ .fd = px.n < MAX_CONNS && !ending ? cfg->listen_fd : -1,
					    .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = term_fd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = net_resolver_fd(), .events = POLLIN };
		for (size_t i = 0; i < px.n; i++) {
			struct conn *c = px.conns[i];
			short ce = 0, ue = 0;

			switch (c->state) {
			case C_HEAD:
				ce = POLLIN;
				break;
			case C_RESOLVING:
				break; /* only lk.fd */
			case C_CONNECTING:
				ue = POLLOUT;
				break;
			case C_RELAY:
				if (!c->c_eof && c->up.len < sizeof(c->up.data))
					ce |= POLLIN;
				if (c->down.off < c->down.len)
					ce |= POLLOUT;
				if (!c->u_eof && c->down.len < sizeof(c->down.data))
					ue |= POLLIN;
				if (c->up.off < c->up.len)
					ue |= POLLOUT;
				break;
			case C_DRAIN:
				ce = c->down.off < c->down.len ? POLLOUT : POLLIN;
				break;
			case C_DONE:
				break;
			}
			/* An fd is polled only for what we wait for: a hang-up we could not act
			 * on yet would wake us at once, round after round. */
			c->pc = c->pu = c->pl = -1;
			if (c->cfd >= 0 && ce) {
				c->pc = (int) n;
				pfd[n++] = (struct pollfd){ .fd = c->cfd, .events = ce };
			}
			if (c->ufd >= 0 && ue) {
				c->pu = (int) n;
				pfd[n++] = (struct pollfd){ .fd = c->ufd, .events = ue };
			}
			if (c->lk.fd >= 0) {
				c->pl = (int) n;
				pfd[n++] = (struct pollfd){ .fd = c->lk.fd, .events = POLLIN };
			}
			if (c->deadline < next)
				next = c->deadline;
		}
		int timeout = next > t && !ending ? (int) (next - t) : 0;
		if (poll(pfd, n, timeout) < 0 && errno != EINTR)
			_exit(1);
		if (pfd[0].revents & POLLIN)
			accept_some(&px, cfg->listen_fd);
		if (pfd[2].revents)
			net_resolver_ready();
		if (ending)
			finish(&px);
		ending = pfd[1].revents != 0;
		for (size_t i = 0; i < px.n;) {
			struct conn *c = px.conns[i];
			short cev = c->pc >= 0 ? pfd[c->pc].revents : 0;
			short uev = c->pu >= 0 ? pfd[c->pu].revents : 0;
			short lev = c->pl >= 0 ? pfd[c->pl].revents : 0;

			step(&px, c, cev, uev, lev);
			if (c->state == C_DONE) {
				conn_close(&px, c);
				px.conns[i] = px.conns[--px.n];
				continue;
			}
			i++;
		}
		if (ending)
			finish(&px);
	}
}

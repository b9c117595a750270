/* internal.h - shared by the net module's files: proxy-parse.c (the request parser, the
 * allowlist and the address policy: pure functions, unit-tested and fuzzed) and proxy.c
 * (the proxy process and its event loop). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "net/net.h"

struct err;
struct sockaddr;

#define NET_HOST_MAX	253	   /* a DNS name without its trailing dot */
#define NET_HEAD_MAX	(16 << 10) /* a request's line and headers together */
#define NET_HEADERS_MAX 100

enum net_req_kind {
	NET_REQ_CONNECT = 1, /* CONNECT host:port: a tunnel (https) */
	NET_REQ_FORWARD = 2, /* METHOD http://host[:port]/path: forwarded in origin form */
};

struct net_request {
	enum net_req_kind kind;
	char method[16];
	char host[NET_HOST_MAX + 1]; /* normalised: lowercase, no trailing dot */
	unsigned port;
	size_t head_len; /* bytes of buf the request's head took (through the empty line) */
	char *forward;	 /* NET_REQ_FORWARD: the head to send to the origin; owned */
	size_t forward_len;
};

/* Parse the head of one proxy request at the start of buf. 0: *r filled (release with
 * net_request_release()); -EAGAIN: the head is not complete yet; -EMSGSIZE: the head is
 * longer than NET_HEAD_MAX; -EINVAL: malformed (answer 400); -EPERM: a URL trick or a
 * host we never dial, such as an IP literal (answer 403); -EOPNOTSUPP: a method we do
 * not forward (answer 405). r->method and r->host are filled as far as parsed, for the
 * audit line, whatever the result. */
int net_request_parse(const char *buf, size_t len, struct net_request *r, struct err *err);
void net_request_release(struct net_request *r);
/* The HTTP status for a net_request_parse() result. */
int net_request_status(int r);

/* Check and normalise a host name of len bytes (ASCII letters, digits, '-', dots; one
 * trailing dot dropped; lowercased) into out. -EPERM for what is refused on purpose
 * (IP literals in any notation, non-ASCII, percent-encoding, '@'), -EINVAL for the
 * rest. */
int net_host_normalize(const char *in, size_t len, char out[NET_HOST_MAX + 1], struct err *err);

/* Whether host:port is granted; *ret_exact: by an exact name (not a *.suffix). */
bool net_allow_match(const struct net_allow *a, const char *host, unsigned port, bool *ret_exact);
bool net_allow_private(const struct net_allow *a);

/* The proxy's event loop (proxy.c), in the proxy process: serve cfg->listen_fd until
 * term_fd (a signalfd for SIGTERM) is readable, then write the audit lines of the
 * connections still open and _exit(0). */
void net_proxy_serve(const struct net_proxy_config *cfg, int term_fd) __attribute__((noreturn));
/* The fixed-destination mode (forward.c): pipe every connection on cfg->listen_fd to
 * cfg->forward_ip:forward_port until term_fd is readable, then _exit(0). */
void net_forward_serve(const struct net_proxy_config *cfg, int term_fd) __attribute__((noreturn));
/* The patterns a list was made from (for the proxy's argv), NULL-terminated. */
char *const *net_allow_patterns(const struct net_allow *a);

/* A name lookup in another process (resolve.c), so the proxy's loop never waits for DNS:
 * the proxy's long-lived resolver when it is idle, else a child of its own.
 * net_lookup_start() starts it; poll l->fd (POLLIN) when it is >= 0, and
 * net_resolver_fd() always, calling net_resolver_ready() when that is readable (it
 * completes the resolver's lookup: l->done). net_lookup_read() returns -EAGAIN until the
 * answer is complete, then ends the lookup and gives up to max addresses (in the
 * resolver's order; *ret_more: the name has more than NET_LOOKUP_MAX) or an error.
 * net_lookup_cancel() kills a child still running, or has the resolver's answer dropped
 * (a no-op on a lookup that is not running). */
#define NET_LOOKUP_MAX 32
struct net_lookup {
	pid_t pid;   /* a child of its own; 0: none */
	int fd;	     /* its pipe; -1: none */
	bool shared; /* asked the resolver */
	bool done;   /* the resolver answered (into buf) */
	size_t len;
	char buf[8192];
};
int net_lookup_start(const char *host, unsigned port, struct net_lookup *l, struct err *err);
int net_lookup_read(struct net_lookup *l, struct sockaddr_storage *addrs, socklen_t *lens,
		    size_t max, size_t *ret_n, bool *ret_more, struct err *err);
int net_resolver_fd(void);
void net_resolver_ready(void);
/* Kill and reap the resolver (its pending lookup fails); the next lookup starts one. */
void net_resolver_stop(void);
void net_lookup_cancel(struct net_lookup *l);

/* Why the proxy must not connect to sa (AF_INET or AF_INET6), or NULL when it may.
 * private_ok (an exact grant with --allow-private-egress) lets loopback, private,
 * shared, link-local and unique-local addresses through; unspecified, multicast,
 * broadcast and IPv4-in-IPv6 forms never. */
const char *net_addr_forbidden(const struct sockaddr *sa, bool private_ok);

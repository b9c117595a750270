/* net.h - the sandbox's network: a new network namespace holds only `lo`, brought up here;
 * no route, no DNS. Egress, when granted (--allow-host), goes through the host-side
 * allowlist proxy: pid 1 makes a TCP socket listening on the sandbox's own loopback
 * (net_listen_loopback()), mayfly hands it to a proxy process (net_proxy_start(), a fresh
 * image of the binary: net_proxy_main()) that accepts the job's connections there and
 * connects out from the host, only to allowed host names that resolve to allowed
 * addresses. See docs/network.md. Never logs. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

struct err;
struct net_allow; /* opaque: a parsed --allow-host list */

/* Where the proxy listens inside the sandbox (127.0.0.1). */
#define NET_PROXY_PORT 3128

/* Bring up the loopback interface of the calling process's network namespace. Needs
 * CAP_NET_ADMIN in the namespace's owning user namespace. */
int net_loopback_up(struct err *err);

/* A TCP socket listening on 127.0.0.1:port in the calling process's network namespace
 * (it keeps that namespace whoever holds it later). *ret_fd is close-on-exec. */
int net_listen_loopback(unsigned port, int *ret_fd, struct err *err);

/* Parse --allow-host patterns: NAME or *.SUFFIX, optional :PORT (without one, ports 80
 * and 443). allow_private: hosts granted by exact NAME may resolve to loopback, private
 * and link-local addresses (--allow-private-egress). -EINVAL with a message naming the
 * bad pattern and what to write instead. On success *ret belongs to the caller. */
int net_allow_new(char *const *patterns, bool allow_private, struct net_allow **ret,
		  struct err *err);
struct net_allow *net_allow_free(struct net_allow *a); /* NULL-safe, returns NULL */

/* Runs in the proxy's child after its ids and no_new_privs, just before the exec (a
 * seccomp filter survives it); a negative errno stops the start. */
typedef int net_harden_fn(void *userdata);

struct net_proxy_config {
	int listen_fd;		       /* borrowed: the listening socket (from the sandbox) */
	int audit_fd;		       /* borrowed: audit log opened O_APPEND; -1: none */
	const char *sandbox_id;	       /* for the audit lines */
	const struct net_allow *allow; /* borrowed; NULL with forward_ip */
	/* The fixed-destination mode: every connection goes to forward_ip (an IP literal
	 * mayfly resolved and checked) port forward_port, and nowhere else; no HTTP. */
	const char *forward_ip;
	unsigned forward_port;
	net_harden_fn *harden; /* NULL: nothing more */
	void *harden_data;
	bool drop_ids; /* run as uid:gid, no supplementary group (mayfly is root) */
	uid_t uid;
	gid_t gid;
};

/* Start the proxy process: fork, and in the child drop what it must not keep (fds, the
 * ids with cfg->drop_ids, privileges: no_new_privs, non-dumpable, a parent-death signal),
 * then execute the running binary (/proc/self/exe) afresh as NET_PROXY_ARGV0, so that
 * nothing of the caller's memory (leased secrets) is in the process that parses the job's
 * bytes. That binary's main() must hand such an argv to net_proxy_main(). SIGTERM makes
 * the proxy write the audit lines of the connections still open and exit: stop it with
 * net_proxy_stop(). */
int net_proxy_start(const struct net_proxy_config *cfg, pid_t *ret_pid, struct err *err);
/* SIGTERM the proxy, give it up to a second to write its last audit lines, then SIGKILL
 * it; reaps it either way. */
void net_proxy_stop(pid_t pid);

/* argv[0] of the proxy process, and its main(): returns only on a bad argv (an exit
 * status, with a message on stderr). */
#define NET_PROXY_ARGV0 "mayfly-egress"
int net_proxy_main(int argc, char **argv);

#include "util/cleanup.h"
DEFINE_CLEANUP(struct net_allow *, net_allow_free)

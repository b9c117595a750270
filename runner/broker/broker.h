/* broker.h - grant the verb, keep the noun. A broker holds secrets on the host side of a
 * Unix socket bound into one sandbox and uses them for the job on request: it signs a
 * payload (HMAC-SHA256, Ed25519) or makes an HTTP request with the secret injected, only
 * under the URL prefix a grant names, and returns the result, never the value. Every call
 * is one JSON line in the audit log. The protocol, the grant syntax and the threat model
 * are in docs/broker.md. Owns the grants' copies of values (sodium_malloc'd, locked,
 * inaccessible between uses, wiped on free). Never logs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct err;
struct broker_grant; /* opaque: one granted verb on one secret */

enum broker_verb {
	BROKER_SIGN_HMAC,    /* sign:NAME                     HMAC-SHA256 */
	BROKER_SIGN_ED25519, /* sign:NAME;alg=ed25519         value: 32-byte seed or 64-byte key */
	BROKER_HTTP,	     /* http:NAME@URL[;methods=..][;auth=..|;header=..] */
};

/* Values shorter than this are refused: they could not be scrubbed from responses
 * without masking innocent text (the vault refuses them too). */
#define BROKER_VALUE_MIN 8
#define BROKER_VALUE_MAX 4096

/* Parse one --grant argument (syntax in docs/broker.md). The grant has no value yet.
 * -EINVAL with a message naming the part that is wrong. *ret belongs to the caller. */
int broker_grant_parse(const char *text, struct broker_grant **ret, struct err *err);
/* Give the grant its secret: len bytes copied into locked memory (the caller wipes its
 * own copy). -EINVAL when the value is shorter than BROKER_VALUE_MIN, longer than
 * BROKER_VALUE_MAX, or not an Ed25519 key for an ed25519 grant (raw 32/64 bytes or their
 * hex); the message never holds the value. */
int broker_grant_set_value(struct broker_grant *g, const void *value, size_t len, struct err *err);
struct broker_grant *broker_grant_free(struct broker_grant *g); /* wipes; NULL-safe */
const char *broker_grant_name(const struct broker_grant *g);	/* the secret's name */
enum broker_verb broker_grant_verb(const struct broker_grant *g);
/* A one-line description without the value, e.g. "http:STRIPE_KEY@https://api.stripe.com:443/v1/
 * methods=GET,HEAD inject='Authorization: Bearer {}'"; caller frees. */
char *broker_grant_describe(const struct broker_grant *g);

#define BROKER_SOCKET_INSIDE "/run/mayfly/broker.sock"

struct broker_limits {
	size_t max_request;   /* one request line, bytes (default 2 MiB: a 1 MiB body in base64) */
	size_t max_body;      /* decoded request body (default 1 MiB) */
	size_t max_response;  /* upstream response body (default 8 MiB) */
	unsigned max_clients; /* connections at once (default 32) */
	unsigned request_ms;  /* a started request must be complete within (default 10 s) */
	unsigned idle_ms;     /* a connection with nothing to do is closed after (default 60 s) */
	unsigned upstream_ms; /* one upstream HTTP request (default 30 s) */
	unsigned rate_per_s;  /* per connection: sustained requests per second (default 20) */
	unsigned burst;	      /* ... and burst (default 50) */
	unsigned global_rate_per_s; /* all connections together (default 100) */
	unsigned global_burst;	    /* (default 200) */
};

struct broker_config {
	struct broker_grant *const *grants; /* borrowed; all with values */
	size_t n_grants;
	const char *socket_path; /* the broker binds it (mode 0666; the caller's dir guards it) */
	const char *audit_path;	 /* appended to, created 0600 */
	const char *sandbox_id;	 /* for the audit lines */
	/* SECURITY: who may talk to the broker. 0 / (uid_t) -1 mean "not checked". */
	uint64_t peer_pidns_ino; /* the peer's /proc/<pid>/ns/pid inode must be this */
	/* The sandbox's pid 1 (host pid). Used when /proc/<peer>/ns/pid cannot be read (the
	 * broker runs unprivileged and the peer is not dumpable): the peer must then descend
	 * from it and sit at the same pid-namespace depth (/proc/<pid>/status NSpid, PPid). */
	pid_t peer_init_pid;
	uid_t peer_uid; /* the peer's uid (SO_PEERCRED, host view) must be this */
	/* When the caller is root: the ids the broker runs as once its socket and audit file
	 * are open ((uid_t) -1: stay). */
	uid_t run_as_uid;
	gid_t run_as_gid;
	bool dry_run;	     /* --broker-dry-run: audit what would be sent, answer synthetically */
	const char *ca_file; /* TLS trust for upstream requests instead of the system's, or NULL */
	struct broker_limits limits; /* zeros: the defaults */
};

/* Fork the broker: bind the socket and open the audit file here (errors are reported to
 * the caller), then fork; the child sets PR_SET_PDEATHSIG (SIGKILL), exits if the parent
 * is already gone, becomes non-dumpable, drops to run_as_uid/gid when root, sets
 * no_new_privs and serves until killed or its parent dies. On success *ret_pid is the
 * child (the caller kills and reaps it at teardown). The socket file is removed by the
 * caller. */
int broker_spawn(const struct broker_config *cfg, pid_t *ret_pid, struct err *err);
/* Serve on an already listening socket and an open audit fd, in this process, until a
 * fatal error (the loop survives every client error). broker_spawn()'s child calls it. */
int broker_serve(const struct broker_config *cfg, int listen_fd, int audit_fd, struct err *err);

/* The client side, used by `mayfly broker`. socket_path NULL: $MAYFLY_BROKER_SOCKET, else
 * BROKER_SOCKET_INSIDE. A refusal by the broker is -EACCES with the broker's reason;
 * -ECONNREFUSED/-ENOENT when no broker listens. */
struct broker_sign_result {
	char signature_hex[129];
	char public_key_hex[65]; /* ed25519 only, else "" */
};
int broker_client_sign(const char *socket_path, const char *name, const char *alg,
		       const void *payload, size_t len, struct broker_sign_result *ret,
		       struct err *err);

struct broker_http_call {
	const char *name, *method, *url;
	const char *const *headers; /* "K: V" lines */
	size_t n_headers;
	const void *body; /* NULL for none */
	size_t body_len;
};
struct broker_http_result {
	int status;
	char **headers; /* "K: V" strings, NULL-terminated, owned */
	char *body;	/* body_len bytes + NUL, owned */
	size_t body_len;
};
int broker_client_http(const char *socket_path, const struct broker_http_call *call,
		       struct broker_http_result *ret, struct err *err);
void broker_http_result_release(struct broker_http_result *r);
/* One raw request line (no newline) to one raw response line (caller frees). */
int broker_client_raw(const char *socket_path, const char *request, char **ret_response,
		      struct err *err);

/* internal.h - shared by the broker's files (and its unit tests); not a public header. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/broker.h"

struct err;

/* A URL as the policy compares it: scheme and host lower case, port explicit, path
 * normalised (dot segments resolved, unreserved percent-escapes decoded, others upper
 * case), fragment dropped. */
struct broker_url {
	char scheme[6]; /* "http" or "https" */
	char *host;	/* a DNS name or a canonical dotted-quad IPv4 address */
	unsigned port;
	char *path;  /* starts with '/' */
	char *query; /* without '?', or NULL */
};

#define BROKER_URL_MAX 8192

/* SECURITY: the job sent this; it decides where a secret goes. Refuses userinfo (any '@'
 * before the path), backslashes, control bytes, spaces and non-ASCII anywhere,
 * percent-encoded or non-ASCII (IDN) host bytes, IPv6 literals, IPv4 in other than
 * canonical dotted-quad form (decimal, octal, hex, short), bad ports, encoded '/', '\' or
 * NUL in the path, and '..' above the root. -EINVAL naming the part. */
int broker_url_parse(const char *text, struct broker_url *ret, struct err *err);
void broker_url_release(struct broker_url *u);
/* Whether u is under prefix: same scheme, host and port, and u's path starts with the
 * prefix's path at a segment boundary. */
bool broker_url_under(const struct broker_url *u, const struct broker_url *prefix);
/* scheme://host:port/path[?query], what is sent; caller frees. */
char *broker_url_format(const struct broker_url *u);

enum broker_method {
	M_GET = 1 << 0,
	M_HEAD = 1 << 1,
	M_POST = 1 << 2,
	M_PUT = 1 << 3,
	M_PATCH = 1 << 4,
	M_DELETE = 1 << 5,
	M_OPTIONS = 1 << 6,
	M_ALL = (1 << 7) - 1,
};
/* The bit of an upper-case method name, 0 for anything else (CONNECT, TRACE, "get"). */
unsigned broker_method_bit(const char *m);

/* Scrubbing: every form of a secret that a response could echo. */
struct broker_scrub {
	char *blob; /* sodium_malloc'd: every needle back to back */
	size_t cap, used;
	size_t *off, *lens;
	size_t n;
};
/* Set the forms of value (once per scrubber): raw, base64 (standard and URL alphabets, every
 * alignment), hex (both cases), percent-encoded (both cases), JSON-escaped. */
void broker_scrub_add(struct broker_scrub *s, const unsigned char *value, size_t len);
/* Replace each occurrence in buf[0..*len) with "***"; may reallocate; returns the count. */
size_t broker_scrub_apply(const struct broker_scrub *s, char **buf, size_t *len);
void broker_scrub_release(struct broker_scrub *s);

enum broker_inject { INJECT_BEARER, INJECT_BASIC, INJECT_HEADER };

struct broker_grant {
	enum broker_verb verb;
	char *name;
	unsigned char *value; /* sodium_malloc'd, PROT_NONE except inside grant_open() */
	size_t value_len;     /* ed25519: always the 64-byte secret key */
	/* http only */
	struct broker_url prefix;
	unsigned methods;
	enum broker_inject inject;
	char *header_name;		/* INJECT_HEADER: e.g. "X-Api-Key" */
	char *tmpl_before, *tmpl_after; /* the header value around "{}" */
	struct broker_scrub scrub;	/* its forms, made once; PROT_NONE like the value */
	unsigned users;			/* grant_open() calls not yet closed */
};

/* Make g's value and scrubber readable (and, after the last close, no access again). */
const unsigned char *grant_open(const struct broker_grant *g);
void grant_close(const struct broker_grant *g);
/* The header line to send, in sodium_malloc'd memory (free with broker_secure_free()). */
char *grant_header_line(const struct broker_grant *g);
/* The name of the header the grant injects ("Authorization" or header_name). */
const char *grant_header_name(const struct broker_grant *g);
void broker_secure_free(void *p);

/* A parsed request. */
enum broker_req_verb { REQ_SIGN, REQ_HTTP };
struct broker_req {
	enum broker_req_verb verb;
	char *name;
	char *alg;		/* sign: "hmac-sha256" (default) or "ed25519" */
	unsigned char *payload; /* sign */
	size_t payload_len;
	char *method, *url; /* http */
	char **headers;	    /* "Name: value" lines */
	size_t n_headers;
	unsigned char *body; /* NULL when none */
	size_t body_len;
};

#define BROKER_MAX_META	   (16u << 10) /* the request without its payload or body */
#define BROKER_MAX_HEADERS 64
#define BROKER_NAME_MAX	   128

/* SECURITY: the job sent this line. Parse and bound one request (limits: max_body for
 * the decoded payload/body, BROKER_MAX_META for the rest); -EINVAL/-EFBIG naming the
 * field. Header names must be tokens, values free of control bytes. */
int broker_request_parse(const char *line, size_t len, size_t max_body, struct broker_req *ret,
			 struct err *err);
void broker_req_release(struct broker_req *r);

/* Check an http request against its grant (method, URL under the prefix, no header that
 * collides with the injected one or that steers the connection); on success *ret_url is
 * the normalised URL to send (caller frees). -EACCES/-EINVAL naming what was refused. */
int broker_http_check(const struct broker_grant *g, const struct broker_req *req,
		      struct broker_url *ret_url, struct err *err);

/* The signature, as lowercase hex, and the Ed25519 public key (or ""). */
int broker_sign(const struct broker_grant *g, const struct broker_req *req,
		struct broker_sign_result *ret, struct err *err);

/* Milliseconds on CLOCK_MONOTONIC. */
uint64_t broker_now_ms(void);

/* The server (serve.c, handle.c, audit.c). */
struct broker_conn {
	int fd;
	unsigned gen; /* tells a reused slot from the one a finished job was for */
	pid_t pid;
	uid_t uid;
	char *in;
	size_t in_len;
	char *out;
	size_t out_len, out_off;
	uint64_t req_start_ms, last_ms;
	double tokens;
	uint64_t refill_ms;
	bool busy, closing;
};

struct broker_server {
	const struct broker_config *cfg;
	struct broker_limits lim;
	int audit_fd;
	int wake[2]; /* finished http jobs post themselves here */
	struct broker_conn *conns;
	size_t n_conns;
	unsigned next_gen;
	double tokens;
	uint64_t refill_ms;
	unsigned jobs;
};

struct broker_audit {
	pid_t pid;
	const char *verb, *name, *method, *host, *path;
	unsigned port;
	int status; /* HTTP status, 0 when none */
	size_t bytes;
	uint64_t start_ms;
	bool allowed, dry_run;
	const char *reason;
};

#define BROKER_MAX_JOBS 8

/* One JSON line, one write(), O_APPEND: lines of concurrent writers never interleave.
 * False when the line could not be written whole. */
bool broker_audit_write(const struct broker_server *s, const struct broker_audit *a);
/* answer when the audit line was written (ok), else (answer freed) a refusal: the job gets
 * no result of a call the log does not record. */
char *broker_audited(bool ok, char *answer);
/* Queue a response line (a newline is added) on a connection. */
void broker_conn_reply(struct broker_conn *c, char *line);
char *broker_error_json(const char *msg);
/* Handle one complete request line of connection c (slot i). */
void broker_handle(struct broker_server *s, size_t i, const char *line, size_t len);
/* A finished http job, read from the wake pipe. */
void broker_job_done(struct broker_server *s, void *job);

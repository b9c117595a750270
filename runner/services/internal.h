/* internal.h - what the files of services/ share, and the seams the unit tests use. Not
 * for other modules. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/sha256.h"

struct err;
struct svc_install;
struct svc_pg_init;
struct svc_spawn;
struct svc_target;

/* ---- scram.c: HMAC-SHA-256 (RFC 2104), PBKDF2 (RFC 8018), base64, SCRAM (RFC 5802,
 * 7677) as PostgreSQL speaks it. Not constant-time: it checks our own servers. ---- */

struct hmac_sha256 {
	struct sha256 inner, outer;
};
void hmac_sha256_init(struct hmac_sha256 *h, const void *key, size_t len);
void hmac_sha256_update(struct hmac_sha256 *h, const void *data, size_t len);
void hmac_sha256_final(struct hmac_sha256 *h, uint8_t out[SHA256_DIGEST_SIZE]);
void hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen,
		 uint8_t out[SHA256_DIGEST_SIZE]);
void pbkdf2_sha256(const void *pw, size_t pwlen, const void *salt, size_t saltlen,
		   unsigned iterations, uint8_t *out, size_t outlen);
/* Standard base64 with padding into out (NUL-terminated); -ENOBUFS if size is short. */
int b64_encode(const uint8_t *in, size_t len, char *out, size_t size);
/* Strict: padding required, no whitespace; -EINVAL malformed, -ENOBUFS too long. */
int b64_decode(const char *in, size_t len, uint8_t *out, size_t size, size_t *ret_len);

#define SCRAM_ITERATIONS   4096 /* PostgreSQL's default */
#define SCRAM_SALT_LEN	   16
#define SCRAM_NONCE_LEN	   24
#define SCRAM_MSG_MAX	   1024
#define SCRAM_ITER_MAX	   1000000 /* what we agree to compute for a server */
#define SCRAM_VERIFIER_MAX 160

struct scram {
	const char *password; /* borrowed */
	char client_first_bare[64];
	char nonce[SCRAM_NONCE_LEN + 1];
	uint8_t server_signature[SHA256_DIGEST_SIZE];
};
/* "n,,n=,r=<nonce>" (PostgreSQL ignores the SCRAM user name: the startup packet's
 * counts). nonce NULL: a random one (tests pass their own). */
int scram_client_first(struct scram *s, const char *password, const char *nonce, char *out,
		       size_t size, struct err *err);
/* From the server-first message, the client-final message with our proof. */
int scram_client_final(struct scram *s, const char *server_first, size_t len, char *out,
		       size_t size, struct err *err);
/* Check the server-final message "v=<signature>": the server knew the verifier. */
int scram_server_final(const struct scram *s, const char *server_final, size_t len,
		       struct err *err);
/* PostgreSQL's stored form: "SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>". */
int scram_verifier(const char *password, const uint8_t *salt, size_t saltlen, unsigned iterations,
		   char *out, size_t size);
/* getrandom() until len bytes: 0 or -errno. */
int svc_random(void *buf, size_t len);

/* ---- conn.c: sockets with a deadline, and the retry loop of readiness checks ---- */

uint64_t svc_now_ms(void);
/* One connection attempt to t (a unix socket when t->host starts with '/': for PostgreSQL
 * "<dir>/.s.PGSQL.<port>", for Redis the path itself). Retryable failures: -ECONNREFUSED,
 * -ENOENT (the socket is not there yet); others are final. */
int conn_open(const struct svc_target *t, unsigned port, bool pg_socket_dir, int *ret_fd,
	      struct err *err);
/* Between attempts: 0 after a 1-2 ms pause; -ETIMEDOUT past deadline, -ECHILD when
 * t->server has exited (err says how). */
int conn_backoff(const struct svc_target *t, uint64_t deadline, unsigned *attempt, struct err *err);
int conn_write(int fd, const void *buf, size_t len, uint64_t deadline);
/* Read what is there (at least one byte); 0 at EOF; -ETIMEDOUT past deadline. */
ssize_t conn_read(int fd, void *buf, size_t size, uint64_t deadline);
int conn_read_exact(int fd, void *buf, size_t len, uint64_t deadline);
/* "127.0.0.1:5432", "[::1]:5432" or the socket path, for messages. */
void conn_name(const struct svc_target *t, unsigned port, bool pg_socket_dir, char *buf,
	       size_t size);

/* ---- pgwire.c ---- */

struct pg_error {
	char severity[16]; /* V (not localized), else S */
	char code[6];	   /* SQLSTATE */
	char message[256];
	char detail[160];
	char hint[160];
};
/* Fields of an ErrorResponse or NoticeResponse body; -EPROTO when malformed. */
int pg_error_parse(const uint8_t *body, size_t len, struct pg_error *ret);
/* The errno callers act on: 28xxx -EACCES, 3D000 and 42704 -ENOENT, 57P03 -EAGAIN (still
 * starting), else -EPROTO. */
int pg_error_errno(const struct pg_error *e);
/* "FATAL: password authentication failed for user "x" (SQLSTATE 28P01)", with detail and
 * hint when there are. */
void pg_error_format(const struct pg_error *e, char *buf, size_t size);
/* Quote an identifier: "a""b". A new string. */
char *pg_quote_ident(const char *s);
/* A role or database name we accept: 1-63 bytes, no control characters. */
bool pg_name_ok(const char *s);

/* ---- redis.c ---- */

/* One reply line of RESP in buf: 1 and its text in msg for "+text\r\n", 0 when no full
 * line is there yet; for "-ERR text": -EACCES (NOAUTH, WRONGPASS), -EAGAIN (LOADING),
 * else -EPROTO, with the text in msg. */
int resp_status(const char *buf, size_t len, char *msg, size_t size);

/* ---- settings.c ---- */

/* Percent-encode everything but RFC 3986 unreserved characters. A new string. */
char *url_escape(const char *s);
/* Merge "key=value" overrides onto defaults: -EINVAL for a malformed key (key_ok), a
 * value with a control character, or a reserved key. A new strv. */
int settings_merge(const char *const *defaults, char *const *overrides, const char *const *reserved,
		   bool (*key_ok)(const char *key, size_t len), char ***ret, struct err *err);
bool pg_key_ok(const char *key, size_t len);
bool redis_key_ok(const char *key, size_t len);

/* ---- spawn.c ---- */

#define RUN_OUT_MAX (64 * 1024)
/* svc_spawn(), and when passwd is not NULL, that file is bind-mounted on /etc/passwd in a
 * private mount namespace of the child first (root only): initdb insists on a name for
 * its uid, and the template owner may have none on the host. */
int spawn_as(char *const *argv, const struct svc_spawn *how, const char *passwd, pid_t *ret_pid,
	     struct err *err);
/* Run argv to completion with its stdout and stderr captured (the first RUN_OUT_MAX
 * bytes, NUL-terminated, caller frees) and its wait status; killed (the whole group)
 * after timeout_ms: -ETIMEDOUT. */
int svc_run_as(char *const *argv, const struct svc_spawn *how, const char *passwd,
	       unsigned timeout_ms, int *ret_status, char **ret_out, struct err *err);
int svc_run(char *const *argv, const struct svc_spawn *how, unsigned timeout_ms, int *ret_status,
	    char **ret_out, struct err *err);
/* The last n non-empty lines of out, joined by "; ", for error messages. */
void out_tail(const char *out, unsigned n, char *buf, size_t size);
/* "exited with status 1", "killed by signal 9". */
void status_text(int status, char *buf, size_t size);

/* ---- initsql.c ---- */

/* From psql's stderr, the first error as "init file 'F' line N: ERROR: text"; with no
 * recognisable line, the last lines of the output. */
void psql_error(const char *out, char *buf, size_t size);

/* ---- template.c ---- */

/* Check init and make the template's key text (what the marker holds) and its name
 * "postgres-<major>-<16 hex>". *ret_key is new. */
int tpl_key(const struct svc_install *inst, const struct svc_pg_init *init, uid_t uid, gid_t gid,
	    char **ret_key, char name[64], struct err *err);
/* How many complete templates in "<cache_dir>/templates" belong to inst's binary. */
unsigned tpl_count(const char *cache_dir, const struct svc_install *inst);

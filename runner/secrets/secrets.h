/* secrets.h - the secrets vault, its policy, leases, output masking and the audit log.
 * Owns every use of libsodium. Never logs, and never puts a value in a message, a file
 * outside the vault, an argv or an environment of its own: values exist unsealed only in
 * sodium_malloc() memory (guarded, locked, wiped when freed).
 *
 *   <state>/secrets/vault        every environment's sealed values (docs/secrets.md)
 *   <state>/secrets/lock         flock: shared to read the vault, exclusive to change it
 *   <state>/secrets/master.key   the master key, when the admin names none (mode 0600)
 *   <state>/secrets/policy.json  who may lease what (absent: local callers may lease all)
 *   <state>/audit.log            one JSON line per lease, release, denial and change
 *
 * docs/secrets.md describes the formats, the key handling and the threat model. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct err;

#define SECRET_MIN_LEN	    8		/* shorter values cannot be masked safely */
#define SECRET_MAX_LEN	    (64 * 1024) /* one value */
#define SECRET_NAME_MAX	    128
#define SECRET_ENV_NAME_MAX 200
#define SECRET_MAX_ENTRIES  10000 /* in the whole vault */

/* An environment: segments of [A-Za-z0-9._-] (not starting with '.') joined by single
 * '/', e.g. "production", "preview/feature-x". */
bool secret_env_name_ok(const char *env);
/* A value's name, also its variable and /run/secrets file name: [A-Za-z_][A-Za-z0-9_]*. */
bool secret_name_ok(const char *name);

/* An unsealed value in sodium_malloc() memory; data[len] is a NUL for convenience. */
struct secret_value {
	size_t len;
	unsigned char *data;
};
struct secret_value *secret_value_new(const void *data, size_t len);
struct secret_value *secret_value_free(struct secret_value *v); /* wipes; NULL-safe */
/* Read a value from fd to EOF, straight into sodium memory; one final newline ("\n" or
 * "\r\n") is dropped. -EMSGSIZE past SECRET_MAX_LEN. */
int secret_value_read_fd(int fd, struct secret_value **ret, struct err *err);

/* Where the master key is: key_file if given, else $MAYFLY_MASTER_KEY_FILE, else
 * $CREDENTIALS_DIRECTORY/mayfly-master-key when that exists (a systemd credential), else
 * <state>/secrets/master.key (*ret_default true: created on first write). A new string. */
char *secret_key_path(const char *state_dir, const char *key_file, bool *ret_default);

/* The vault, opened under its lock. */
struct secret_vault; /* opaque */
enum secret_open_flags {
	SECRET_OPEN_WRITE = 1 << 0, /* exclusive lock; a missing default key is created */
};
/* Open <state_dir>/secrets/vault (missing: empty) with the master key (see
 * secret_key_path). Checks everything before returning: errors -ENOKEY key missing or
 * unreadable, -EKEYREJECTED vault sealed under another key, -EBADMSG vault tampered with or
 * truncated, -EPERM key file readable by others. On success *ret belongs to the caller and
 * holds the lock until secret_vault_close(). */
int secret_vault_open(const char *state_dir, const char *key_file, unsigned flags,
		      struct secret_vault **ret, struct err *err);
struct secret_vault *secret_vault_close(struct secret_vault *v); /* unlocks; NULL-safe */

/* Seal value as env/name (replacing one there; created stays), expires_ms 0 for never.
 * Errors: -EINVAL bad env or name, -EMSGSIZE value under SECRET_MIN_LEN or over
 * SECRET_MAX_LEN bytes. Takes effect at secret_vault_commit(). */
int secret_vault_set(struct secret_vault *v, const char *env, const char *name, const void *value,
		     size_t len, int64_t expires_ms, struct err *err);
/* What an entry is: NULL a plain value (what secret_vault_set() makes), or
 * SECRET_KIND_PGROLE, an admin connection from which each lease makes a PostgreSQL role
 * of its own (secret_pgrole_parse()). Takes effect at secret_vault_commit(). */
#define SECRET_KIND_PGROLE "postgres-role"
int secret_vault_set_kind(struct secret_vault *v, const char *env, const char *name,
			  const char *kind, struct err *err);
const char *secret_vault_kind(const struct secret_vault *v, const char *env, const char *name);
/* Remove env/name; -ENOENT (naming what exists) if absent. */
int secret_vault_rm(struct secret_vault *v, const char *env, const char *name, struct err *err);
/* Remove every value of env; *ret_n how many. */
int secret_vault_rm_env(struct secret_vault *v, const char *env, unsigned *ret_n, struct err *err);
/* Set every NAME=VALUE of a dotenv text read from fd (blank lines, '#' comments and an
 * "export " prefix ignored; a value in single or double quotes loses them; no
 * interpolation). All or nothing: a bad line (named by number and name, never by value)
 * changes nothing. *ret_names: what was set, a new strv. */
int secret_vault_import_dotenv(struct secret_vault *v, const char *env, int fd, int64_t expires_ms,
			       char ***ret_names, struct err *err);
/* Write the vault atomically (aside, fsync, rename, fsync the directory). */
int secret_vault_commit(struct secret_vault *v, struct err *err);
/* Re-seal every value under a new key and commit. new_key_file NULL: generate a key and
 * replace the current key file (only when it is the default one or writable); else the
 * key in new_key_file (which must exist), leaving the old key file alone. A crash midway
 * leaves the old key and vault, or the new ones: open finishes a half-done rotation. */
int secret_vault_rotate(struct secret_vault *v, const char *new_key_file, struct err *err);

struct secret_meta {
	const char *env; /* borrowed from the vault */
	const char *name;
	int64_t created_ms; /* wall clock, ms since the epoch */
	int64_t updated_ms;
	int64_t expires_ms; /* 0: never */
	const char *kind;   /* NULL: a plain value; else SECRET_KIND_PGROLE */
};
/* Entries of env (NULL: all), sorted by env then name; *ret borrowed until the vault
 * changes or closes (free the array itself with free()). */
int secret_vault_list(const struct secret_vault *v, const char *env, struct secret_meta **ret,
		      size_t *ret_n);
/* The environments that hold values, sorted, as a new strv. */
char **secret_vault_envs(const struct secret_vault *v);
/* Unseal env/name. Errors: -ENOENT unknown env or name (the message names what exists),
 * -EKEYEXPIRED the value expired (the message says when), -EBADMSG failed to unseal. */
int secret_vault_get(const struct secret_vault *v, const char *env, const char *name,
		     struct secret_value **ret, struct err *err);

/* A postgres-role entry's document (docs/secrets.md), JSON or key=value lines:
 *   {"host": "db.internal", "port": 5432, "user": "admin", "password": "...",
 *    "dbname": "app", "sslmode": "disable", "member_of": ["readonly"]}
 * host, user and password are required; port defaults to 5432, dbname to user; sslmode
 * may only be "disable" for now; member_of names existing roles the lease's role joins
 * (GRANT role TO it): lowercase identifiers only, at most SECRET_PG_ROLES_MAX. */
#define SECRET_PG_IDENT_MAX 63
#define SECRET_PG_ROLES_MAX 16
struct secret_pgrole {
	char host[254];
	unsigned port;
	char user[SECRET_PG_IDENT_MAX + 1];
	char dbname[SECRET_PG_IDENT_MAX + 1];
	char **member_of; /* NULL-terminated, or NULL */
	char *password;	  /* sodium_malloc(); wiped by secret_pgrole_free() */
};
/* -EINVAL naming the key or line at fault (never a value), -EOPNOTSUPP an sslmode not
 * supported yet. */
int secret_pgrole_parse(const void *text, size_t len, struct secret_pgrole **ret, struct err *err);
struct secret_pgrole *secret_pgrole_free(struct secret_pgrole *p);
/* [a-z_][a-z0-9_]*, at most SECRET_PG_IDENT_MAX: what member_of accepts. */
bool secret_pgrole_ident_ok(const char *s);

/* Who asks for a lease. NULL fields are unknown (a local `mayfly exec`). */
struct secret_caller {
	uid_t uid;
	const char *repository;
	const char *branch;
	const char *frontend; /* "cli", "github", "gitlab", "api" */
	const char *job;
};

/* The policy file (JSON, docs/secrets.md): ordered rules, first match decides, default
 * deny. */
struct secret_policy; /* opaque */
/* Load path; -ENOENT when it does not exist (callers pick the default), -EINVAL with the
 * rule and field named when malformed. */
int secret_policy_load(const char *path, struct secret_policy **ret, struct err *err);
struct secret_policy *secret_policy_free(struct secret_policy *p);
/* The policy path: $MAYFLY_SECRETS_POLICY, else <state>/secrets/policy.json. New string. */
char *secret_policy_path(const char *state_dir);
/* May caller lease env/name? p NULL (no policy file): yes for a local caller (frontend
 * NULL or "cli"), no for any other. "preview/<branch>" is leasable only by that branch,
 * whatever the rules say. -EACCES with the deciding rule (or "no rule matched") named. */
int secret_policy_check(const struct secret_policy *p, const struct secret_caller *caller,
			const char *env, const char *name, struct err *err);

/* A lease: unsealed values bound to one sandbox until expires_ms. */
struct secret_lease; /* opaque */
struct secret_lease_req {
	const char *env;
	char *const *names;   /* NULL-terminated */
	const bool *as_file;  /* per name: /run/secrets/NAME instead of a variable; or NULL */
	int64_t until_ms;     /* wall clock: the sandbox's end */
	const bool *brokered; /* per name: for the broker only, never delivered; or NULL */
};
/* Check every name exists and is not expired (one error naming all that are missing and
 * what exists), check the policy for each (p as in secret_policy_check), and unseal. */
int secret_lease_new(const struct secret_vault *v, const struct secret_policy *p,
		     const struct secret_caller *caller, const struct secret_lease_req *req,
		     struct secret_lease **ret, struct err *err);
struct secret_lease *secret_lease_free(struct secret_lease *l); /* wipes; NULL-safe */
size_t secret_lease_count(const struct secret_lease *l);
const char *secret_lease_env(const struct secret_lease *l);
const char *secret_lease_name(const struct secret_lease *l, size_t i);
bool secret_lease_is_file(const struct secret_lease *l, size_t i);
/* A value the broker uses on the job's behalf (--grant): never given to the job. */
bool secret_lease_is_brokered(const struct secret_lease *l, size_t i);
const struct secret_value *secret_lease_value(const struct secret_lease *l, size_t i);
int64_t secret_lease_until(const struct secret_lease *l);
/* The entry's kind (NULL: a plain value; SECRET_KIND_PGROLE). For such a kind the vault's
 * value is only the source (secret_lease_source()) of what the job gets, which
 * secret_lease_set_value() sets (copied into sodium memory; the value, the one masked,
 * from then on). */
const char *secret_lease_kind(const struct secret_lease *l, size_t i);
const struct secret_value *secret_lease_source(const struct secret_lease *l, size_t i);
/* Wipe the source once it served (its data NULL from then on): the admin connection of a
 * postgres-role entry is not kept in memory for the sandbox's life. */
void secret_lease_forget_source(struct secret_lease *l, size_t i);
void secret_lease_set_value(struct secret_lease *l, size_t i, const void *data, size_t len);
/* A part of the value the masker hides on its own too (a URL's password, which a job
 * could print alone): copied into sodium memory. NULL: none. */
void secret_lease_set_part(struct secret_lease *l, size_t i, const void *data, size_t len);
const struct secret_value *secret_lease_part(const struct secret_lease *l, size_t i);
/* What a kind's lease made, to undo at its end (a role name; never a secret): NULL none. */
void secret_lease_set_handle(struct secret_lease *l, size_t i, const char *handle);
const char *secret_lease_handle(const struct secret_lease *l, size_t i);

/* Masking: a streaming filter that replaces every value added, and its base64 (standard
 * and URL alphabets, every alignment), hex (lower and upper case), URL-encoded and
 * JSON-escaped forms, with "***", also when split across writes. It holds back only the
 * tail of the output that could begin a match (< the longest form), so memory is bounded
 * and output is not delayed unless it looks like the start of a value. */
#define SECRET_MASK "***"
struct secret_masker; /* opaque; one per stream */
struct secret_masker *secret_masker_new(void);
struct secret_masker *secret_masker_free(struct secret_masker *m); /* wipes; NULL-safe */
/* Add a value to mask; -EMSGSIZE when shorter than SECRET_MIN_LEN or over SECRET_MAX_LEN. */
int secret_masker_add(struct secret_masker *m, const void *value, size_t len, struct err *err);
/* Add every value of a lease, and the parts of values it names (secret_lease_part()). */
int secret_masker_add_lease(struct secret_masker *m, const struct secret_lease *l, struct err *err);
/* Where masked output goes; returns 0 or a negative errno, which feed/flush return. */
typedef int secret_mask_out_fn(void *userdata, const void *buf, size_t len);
int secret_masker_feed(struct secret_masker *m, const void *data, size_t len,
		       secret_mask_out_fn *out, void *userdata);
/* End of stream: write what was held back. */
int secret_masker_flush(struct secret_masker *m, secret_mask_out_fn *out, void *userdata);

/* The audit log: JSON lines appended under flock to <state>/audit.log (mode 0600). Never a
 * value: only names. */
struct secret_audit_rec {
	const char *event;   /* "lease", "release", "deny", "set", "rm", "rotate", ... */
	const char *sandbox; /* or NULL */
	const struct secret_caller *caller;
	const char *env;     /* or NULL */
	char *const *names;  /* NULL-terminated, or NULL */
	const char *outcome; /* "ok", or why not (never a value) */
	int64_t until_ms;    /* lease end, 0: none */
	char *const *roles;  /* postgres-role leases: the roles made (names), or NULL */
};
int secret_audit_append(const char *state_dir, const struct secret_audit_rec *rec, struct err *err);
/* Call fn for every line (a JSON object's text) with time >= since_ms and, when sandbox is
 * not NULL, that sandbox. Missing log: no calls. */
typedef void secret_audit_fn(void *userdata, const char *line, int64_t time_ms);
int secret_audit_read(const char *state_dir, int64_t since_ms, const char *sandbox,
		      secret_audit_fn *fn, void *userdata, struct err *err);

#include "util/cleanup.h"
DEFINE_CLEANUP(struct secret_value *, secret_value_free)
DEFINE_CLEANUP(struct secret_vault *, secret_vault_close)
DEFINE_CLEANUP(struct secret_policy *, secret_policy_free)
DEFINE_CLEANUP(struct secret_lease *, secret_lease_free)
DEFINE_CLEANUP(struct secret_masker *, secret_masker_free)
DEFINE_CLEANUP(struct secret_pgrole *, secret_pgrole_free)

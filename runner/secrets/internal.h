/* internal.h - shared by the secrets module's files: names.c (names, values), key.c (the
 * master key and the keys derived from it), vault.c and vault-file.c (the sealed file),
 * policy.c, lease.c, mask.c and audit.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "secrets/secrets.h"

struct err;

#define KEY_BYTES    32
#define KEY_ID_BYTES 8
#define KEY_ID_HEX   (2 * KEY_ID_BYTES + 1)
#define NONCE_BYTES  24 /* crypto_aead_xchacha20poly1305_ietf_NPUBBYTES */
#define VAULT_MAX    (64u << 20)

/* The master key and what is derived from it, in one sodium_malloc() block. */
struct vkey {
	unsigned char master[KEY_BYTES];
	unsigned char seal[KEY_BYTES]; /* XChaCha20-Poly1305 key for values */
	unsigned char mac[KEY_BYTES];  /* BLAKE2b key for the whole file */
	char id[KEY_ID_HEX];	       /* public: names the key in the vault's header */
};
/* Load the key at path: 32 raw bytes, or 64 hex digits and an optional newline. Errors:
 * -ENOKEY missing, -EPERM readable by group or others, -EINVAL not a key. */
int vkey_load(const char *path, struct vkey **ret, struct err *err);
/* A new random key, written to path (0600, atomically, durably) when path is not NULL. */
int vkey_create(const char *path, struct vkey **ret, struct err *err);
struct vkey *vkey_free(struct vkey *k);
DEFINE_CLEANUP(struct vkey *, vkey_free)

/* One sealed value. */
struct ventry {
	char *env;
	char *name;
	char *kind; /* NULL: a plain value; SECRET_KIND_PGROLE */
	int64_t created_ms, updated_ms, expires_ms;
	unsigned char nonce[NONCE_BYTES];
	unsigned char *ct; /* ciphertext and tag */
	size_t ct_len;
};
void ventry_release(struct ventry *e);
/* Seal/unseal value as env/name under k (env and name are the associated data). */
int ventry_seal(struct ventry *e, const struct vkey *k, const void *value, size_t len);
int ventry_open(const struct ventry *e, const struct vkey *k, struct secret_value **ret,
		struct err *err);
/* Unseal into dst, which has room for the sealed length (a NUL follows the value). */
int ventry_open_into(const struct ventry *e, const struct vkey *k, unsigned char *dst,
		     size_t *ret_len, struct err *err);

/* The vault file's text: header line, one JSON line, MAC line (docs/secrets.md). */
int vfile_format(const struct ventry *e, size_t n, const struct vkey *k, char **ret,
		 size_t *ret_len);
/* Parse and verify text; key NULL only reads the header's key id into ret_key_id.
 * -EBADMSG damaged or tampered, -EKEYREJECTED another key's vault. */
int vfile_key_id(const char *text, size_t len, char ret_key_id[KEY_ID_HEX], struct err *err);
int vfile_parse(const char *text, size_t len, const struct vkey *k, struct ventry **ret,
		size_t *ret_n, struct err *err);

/* -ENOENT naming what is missing (env, or name in env) and what exists. */
int secret_vault_missing(const struct secret_vault *v, const char *env, const char *name,
			 struct err *err);

/* Whether env/name exists and has not expired (errors as secret_vault_get()). */
int secret_vault_check(const struct secret_vault *v, const char *env, const char *name,
		       struct err *err);
/* For a lease: the sealed size of env/name (room enough to unseal it; 0: none), and
 * unsealing into dst as ventry_open_into() does. */
size_t secret_vault_sealed_len(const struct secret_vault *v, const char *env, const char *name);
int secret_vault_get_into(const struct secret_vault *v, const char *env, const char *name,
			  unsigned char *dst, size_t *ret_len, struct err *err);

int64_t secrets_wall_ms(void);
/* "2026-11-23T12:00:00Z" */
void secrets_format_time(int64_t ms, char *buf, size_t size);

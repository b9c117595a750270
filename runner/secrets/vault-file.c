/* vault-file.c - the vault file and its entries. The text is three lines:
 *
 *   mayfly-vault 1 <key id: 16 hex digits>
 *   {"entries":[{"env":..,"name":..,"created_ms":..,"updated_ms":..,"expires_ms":..,
 *                "nonce":<hex>,"sealed":<base64>}, ...]}
 *   mac <BLAKE2b-256 of the first two lines under the MAC key, 64 hex digits>
 *
 * Each value is sealed with XChaCha20-Poly1305 under the sealing key, its environment and
 * name being the associated data (a value moved to another name fails to open); the MAC
 * covers everything else (names, times, which entries exist), so an edited, truncated or
 * reordered file is refused as a whole. */
#include "secrets/secrets.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "secrets/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define MAGIC	   "mayfly-vault 1 "
#define MAC_PREFIX "mac "
#define AD_PREFIX  "mayfly-vault-v1"

void ventry_release(struct ventry *e)
{
	free(e->env);
	free(e->name);
	free(e->kind);
	free(e->ct);
	memset(e, 0, sizeof(*e));
}

static unsigned char *make_ad(const char *env, const char *name, size_t *ret_len)
{
	size_t le = strlen(env), ln = strlen(name), lp = sizeof(AD_PREFIX);
	unsigned char *ad = xmalloc(lp + le + 1 + ln + 1);

	memcpy(ad, AD_PREFIX, lp); /* with its NUL: fields cannot run into each other */
	memcpy(ad + lp, env, le + 1);
	memcpy(ad + lp + le + 1, name, ln + 1);
	*ret_len = lp + le + 1 + ln + 1;
	return ad;
}

int ventry_seal(struct ventry *e, const struct vkey *k, const void *value, size_t len)
{
	size_t ad_len;
	cleanup_free unsigned char *ad = make_ad(e->env, e->name, &ad_len);
	unsigned long long clen = 0;

	free(e->ct);
	e->ct_len = len + crypto_aead_xchacha20poly1305_ietf_ABYTES;
	e->ct = xmalloc(e->ct_len);
	randombytes_buf(e->nonce, sizeof(e->nonce));
	(void) crypto_aead_xchacha20poly1305_ietf_encrypt(e->ct, &clen, value, len, ad, ad_len,
							  NULL, e->nonce, k->seal);
	e->ct_len = (size_t) clen;
	return 0;
}

int ventry_open_into(const struct ventry *e, const struct vkey *k, unsigned char *dst,
		     size_t *ret_len, struct err *err)
{
	size_t ad_len;
	cleanup_free unsigned char *ad = make_ad(e->env, e->name, &ad_len);
	unsigned long long mlen = 0;

	if (e->ct_len < crypto_aead_xchacha20poly1305_ietf_ABYTES)
		return err_set(err, EBADMSG, "secret '%s' in '%s' is damaged", e->name, e->env);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(dst, &mlen, NULL, e->ct, e->ct_len, ad,
						       ad_len, e->nonce, k->seal) < 0)
		return err_set(err, EBADMSG,
			       "secret '%s' in '%s' fails to unseal (tampered with, or moved "
			       "from another name)",
			       e->name, e->env);
	dst[mlen] = '\0';
	*ret_len = (size_t) mlen;
	return 0;
}

int ventry_open(const struct ventry *e, const struct vkey *k, struct secret_value **ret,
		struct err *err)
{
	CLEANUP(secret_value_freep) struct secret_value *v = NULL;
	int r;

	if (e->ct_len < crypto_aead_xchacha20poly1305_ietf_ABYTES)
		return err_set(err, EBADMSG, "secret '%s' in '%s' is damaged", e->name, e->env);
	v = secret_value_new(NULL, e->ct_len - crypto_aead_xchacha20poly1305_ietf_ABYTES);
	r = ventry_open_into(e, k, v->data, &v->len, err);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(v);
	return 0;
}

static void mac_of(const struct vkey *k, const char *text, size_t len, char hex[65])
{
	unsigned char mac[32];

	(void) crypto_generichash(mac, sizeof(mac), (const unsigned char *) text, len, k->mac,
				  sizeof(k->mac));
	(void) sodium_bin2hex(hex, 65, mac, sizeof(mac));
}

int vfile_format(const struct ventry *e, size_t n, const struct vkey *k, char **ret,
		 size_t *ret_len)
{
	struct json_w *w = json_w_new();
	cleanup_free char *body = NULL, *head = NULL;
	char mac[65];

	json_w_obj_open(w, NULL);
	json_w_arr_open(w, "entries");
	for (size_t i = 0; i < n; i++) {
		char nonce[2 * NONCE_BYTES + 1];
		size_t b64len =
			sodium_base64_ENCODED_LEN(e[i].ct_len, sodium_base64_VARIANT_ORIGINAL);
		cleanup_free char *b64 = xmalloc(b64len);

		(void) sodium_bin2hex(nonce, sizeof(nonce), e[i].nonce, NONCE_BYTES);
		(void) sodium_bin2base64(b64, b64len, e[i].ct, e[i].ct_len,
					 sodium_base64_VARIANT_ORIGINAL);
		json_w_obj_open(w, NULL);
		json_w_str(w, "env", e[i].env);
		json_w_str(w, "name", e[i].name);
		json_w_i64(w, "created_ms", e[i].created_ms);
		json_w_i64(w, "updated_ms", e[i].updated_ms);
		json_w_i64(w, "expires_ms", e[i].expires_ms);
		if (e[i].kind)
			json_w_str(w, "kind", e[i].kind);
		json_w_str(w, "nonce", nonce);
		json_w_str(w, "sealed", b64);
		json_w_obj_close(w);
	}
	json_w_arr_close(w);
	json_w_obj_close(w);
	body = json_w_done(w);
	head = xasprintf(MAGIC "%s\n%s\n", k->id, body);
	mac_of(k, head, strlen(head), mac);
	*ret = xasprintf("%s" MAC_PREFIX "%s\n", head, mac);
	*ret_len = strlen(*ret);
	return 0;
}

int vfile_key_id(const char *text, size_t len, char ret_key_id[KEY_ID_HEX], struct err *err)
{
	size_t m = strlen(MAGIC);

	if (len < m + KEY_ID_HEX || memcmp(text, MAGIC, m) != 0 || text[m + KEY_ID_HEX - 1] != '\n')
		return err_set(err, EBADMSG, "not a mayfly vault (bad first line)");
	memcpy(ret_key_id, text + m, KEY_ID_HEX - 1);
	ret_key_id[KEY_ID_HEX - 1] = '\0';
	return 0;
}

static int parse_entry(const struct json *o, struct ventry *e, struct err *err)
{
	const char *env = json_get_str(o, "env"), *name = json_get_str(o, "name");
	const char *nonce = json_get_str(o, "nonce"), *sealed = json_get_str(o, "sealed");
	size_t got = 0, max;

	if (!env || !name || !nonce || !sealed || !secret_env_name_ok(env) ||
	    !secret_name_ok(name) || !json_get_i64(o, "created_ms", &e->created_ms) ||
	    !json_get_i64(o, "updated_ms", &e->updated_ms) ||
	    !json_get_i64(o, "expires_ms", &e->expires_ms))
		return err_set(err, EBADMSG, "malformed entry");
	e->env = xstrdup(env);
	e->name = xstrdup(name);
	if (json_get(o, "kind")) {
		const char *kind = json_get_str(o, "kind");
		if (!kind || strcmp(kind, SECRET_KIND_PGROLE) != 0)
			return err_set(err, EBADMSG, "entry '%s/%s': unknown kind", env, name);
		e->kind = xstrdup(kind);
	}
	if (sodium_hex2bin(e->nonce, NONCE_BYTES, nonce, strlen(nonce), NULL, &got, NULL) < 0 ||
	    got != NONCE_BYTES)
		return err_set(err, EBADMSG, "entry '%s/%s': bad nonce", env, name);
	max = strlen(sealed);
	e->ct = xmalloc(max + 1);
	if (sodium_base642bin(e->ct, max + 1, sealed, max, NULL, &e->ct_len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) < 0)
		return err_set(err, EBADMSG, "entry '%s/%s': bad sealed value", env, name);
	return 0;
}

int vfile_parse(const char *text, size_t len, const struct vkey *k, struct ventry **ret,
		size_t *ret_n, struct err *err)
{
	char id[KEY_ID_HEX], mac[65];
	CLEANUP(json_freep) struct json *doc = NULL;
	const struct json *arr;
	struct ventry *e = NULL;
	const char *body, *nl, *tail;
	size_t n, signed_len;
	int r;

	r = vfile_key_id(text, len, id, err);
	if (r < 0)
		return r;
	if (strcmp(id, k->id) != 0)
		return err_set(err, EKEYREJECTED,
			       "sealed under another master key (key id %s; this key's id is %s)",
			       id, k->id);
	/* The MAC line is the last line; anything cut off or added shows there. */
	if (len < 2 || text[len - 1] != '\n')
		return err_set(err, EBADMSG, "truncated (no final newline)");
	tail = text + len - 1;
	while (tail > text && tail[-1] != '\n')
		tail--;
	signed_len = (size_t) (tail - text);
	if ((size_t) (text + len - tail) != strlen(MAC_PREFIX) + 64 + 1 ||
	    memcmp(tail, MAC_PREFIX, strlen(MAC_PREFIX)) != 0)
		return err_set(err, EBADMSG, "truncated or damaged (no MAC line at the end)");
	mac_of(k, text, signed_len, mac);
	if (sodium_memcmp(mac, tail + strlen(MAC_PREFIX), 64) != 0)
		return err_set(err, EBADMSG, "tampered with or damaged (its MAC does not match)");
	body = strchr(text, '\n') + 1;
	nl = memchr(body, '\n', (size_t) (tail - body));
	if (!nl || nl + 1 != tail)
		return err_set(err, EBADMSG, "damaged (expected one line of entries)");
	r = json_parse(body, (size_t) (nl - body), &doc, err);
	if (r < 0)
		return err_set(err, EBADMSG, "damaged entries");
	arr = json_get(doc, "entries");
	n = json_array_len(arr);
	if (!arr || n > SECRET_MAX_ENTRIES)
		return err_set(err, EBADMSG, "damaged entries");
	e = xcalloc(n ? n : 1, sizeof(*e));
	for (size_t i = 0; i < n; i++) {
		r = parse_entry(json_array_at(arr, i), &e[i], err);
		if (r < 0) {
			for (size_t j = 0; j <= i; j++)
				ventry_release(&e[j]);
			free(e);
			return r;
		}
	}
	*ret = e;
	*ret_n = n;
	return 0;
}

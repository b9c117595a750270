/* scram.c - HMAC-SHA-256, PBKDF2 and base64 on util/sha256, and the client side of SCRAM-
 * SHA-256 as PostgreSQL speaks it (no channel binding: the connections are local), plus
 * the verifier PostgreSQL stores, so a password can be set without the server seeing it. */
#include "services/services.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "services/internal.h"
#include "util/err.h"
#include "util/banned.h"

#define BLOCK 64

void hmac_sha256_init(struct hmac_sha256 *h, const void *key, size_t len)
{
	uint8_t k[BLOCK] = { 0 }, pad[BLOCK];

	if (len > BLOCK)
		sha256(key, len, k);
	else if (len > 0)
		memcpy(k, key, len);
	for (size_t i = 0; i < BLOCK; i++)
		pad[i] = k[i] ^ 0x36;
	sha256_init(&h->inner);
	sha256_update(&h->inner, pad, BLOCK);
	for (size_t i = 0; i < BLOCK; i++)
		pad[i] = k[i] ^ 0x5c;
	sha256_init(&h->outer);
	sha256_update(&h->outer, pad, BLOCK);
}

void hmac_sha256_update(struct hmac_sha256 *h, const void *data, size_t len)
{
	sha256_update(&h->inner, data, len);
}

void hmac_sha256_final(struct hmac_sha256 *h, uint8_t out[SHA256_DIGEST_SIZE])
{
	uint8_t d[SHA256_DIGEST_SIZE];

	sha256_final(&h->inner, d);
	sha256_update(&h->outer, d, sizeof(d));
	sha256_final(&h->outer, out);
}

void hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen,
		 uint8_t out[SHA256_DIGEST_SIZE])
{
	struct hmac_sha256 h;

	hmac_sha256_init(&h, key, klen);
	hmac_sha256_update(&h, msg, mlen);
	hmac_sha256_final(&h, out);
}

void pbkdf2_sha256(const void *pw, size_t pwlen, const void *salt, size_t saltlen,
		   unsigned iterations, uint8_t *out, size_t outlen)
{
	struct hmac_sha256 keyed, h;

	/* The keyed state is computed once: each iteration then costs two compressions. */
	hmac_sha256_init(&keyed, pw, pwlen);
	for (uint32_t block = 1; outlen > 0; block++) {
		uint8_t be[4] = { (uint8_t) (block >> 24), (uint8_t) (block >> 16),
				  (uint8_t) (block >> 8), (uint8_t) block };
		uint8_t u[SHA256_DIGEST_SIZE], t[SHA256_DIGEST_SIZE];
		size_t n = outlen < sizeof(t) ? outlen : sizeof(t);

		h = keyed;
		hmac_sha256_update(&h, salt, saltlen);
		hmac_sha256_update(&h, be, sizeof(be));
		hmac_sha256_final(&h, u);
		memcpy(t, u, sizeof(t));
		for (unsigned i = 1; i < iterations; i++) {
			h = keyed;
			hmac_sha256_update(&h, u, sizeof(u));
			hmac_sha256_final(&h, u);
			for (size_t j = 0; j < sizeof(t); j++)
				t[j] ^= u[j];
		}
		memcpy(out, t, n);
		out += n;
		outlen -= n;
	}
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_encode(const uint8_t *in, size_t len, char *out, size_t size)
{
	size_t o = 0;

	if (size < (len + 2) / 3 * 4 + 1)
		return -ENOBUFS;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t) in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t) in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = i + 1 < len ? b64[v >> 6 & 63] : '=';
		out[o++] = i + 2 < len ? b64[v & 63] : '=';
	}
	out[o] = '\0';
	return (int) o;
}

static int b64_value(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;
	return p ? (int) (p - b64) : -1;
}

int b64_decode(const char *in, size_t len, uint8_t *out, size_t size, size_t *ret_len)
{
	size_t o = 0;

	if (len % 4 != 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		bool last = i + 4 == len;
		for (int j = 0; j < 4; j++)
			v[j] = b64_value(in[i + j]);
		if (v[0] < 0 || v[1] < 0)
			return -EINVAL;
		/* '=' only at the end: "xx==" or "xxx=". */
		if (v[2] < 0 && !(last && in[i + 2] == '=' && in[i + 3] == '='))
			return -EINVAL;
		if (v[3] < 0 && !(last && in[i + 3] == '='))
			return -EINVAL;
		size_t n = v[2] < 0 ? 1 : v[3] < 0 ? 2 : 3;
		if (o + n > size)
			return -ENOBUFS;
		uint32_t x = (uint32_t) v[0] << 18 | (uint32_t) v[1] << 12 |
			     (uint32_t) (v[2] < 0 ? 0 : v[2]) << 6 |
			     (uint32_t) (v[3] < 0 ? 0 : v[3]);
		out[o++] = (uint8_t) (x >> 16);
		if (n > 1)
			out[o++] = (uint8_t) (x >> 8);
		if (n > 2)
			out[o++] = (uint8_t) x;
	}
	*ret_len = o;
	return 0;
}

int svc_random(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t) n;
	}
	return 0;
}

int svc_password_new(char buf[SVC_PASSWORD_LEN + 1], struct err *err)
{
	static const char alnum[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	size_t n = 0;

	/* Rejection sampling: 248 = 4 * 62, so every character is equally likely. */
	while (n < SVC_PASSWORD_LEN) {
		uint8_t r[SVC_PASSWORD_LEN];
		int e = svc_random(r, sizeof(r));
		if (e < 0)
			return err_set(err, e, "getrandom");
		for (size_t i = 0; i < sizeof(r) && n < SVC_PASSWORD_LEN; i++)
			if (r[i] < 248)
				buf[n++] = alnum[r[i] % 62];
	}
	buf[n] = '\0';
	return 0;
}

int scram_client_first(struct scram *s, const char *password, const char *nonce, char *out,
		       size_t size, struct err *err)
{
	memset(s, 0, sizeof(*s));
	s->password = password;
	if (nonce) {
		if (strlen(nonce) != SCRAM_NONCE_LEN)
			return err_set(err, EINVAL, "scram: nonce of %zu bytes", strlen(nonce));
		memcpy(s->nonce, nonce, SCRAM_NONCE_LEN + 1);
	} else {
		uint8_t r[SCRAM_NONCE_LEN / 4 * 3];
		int e = svc_random(r, sizeof(r));
		if (e < 0)
			return err_set(err, e, "getrandom");
		(void) b64_encode(r, sizeof(r), s->nonce, sizeof(s->nonce));
	}
	(void) snprintf(s->client_first_bare, sizeof(s->client_first_bare), "n=,r=%s", s->nonce);
	if ((size_t) snprintf(out, size, "n,,%s", s->client_first_bare) >= size)
		return err_set(err, ENOBUFS, "scram: client-first message");
	return 0;
}

/* The value of attribute `name` ("r", "s", "i", "v") in a SCRAM message, not NUL-ended. */
static const char *scram_attr(const char *msg, size_t len, char name, size_t *ret_len)
{
	const char *p = msg, *end = msg + len;

	while (p < end) {
		const char *comma = memchr(p, ',', (size_t) (end - p));
		const char *stop = comma ? comma : end;
		if (stop - p >= 2 && p[0] == name && p[1] == '=') {
			*ret_len = (size_t) (stop - p - 2);
			return p + 2;
		}
		p = stop + 1;
	}
	return NULL;
}

int scram_client_final(struct scram *s, const char *server_first, size_t len, char *out,
		       size_t size, struct err *err)
{
	uint8_t salt[64], salted[SHA256_DIGEST_SIZE], client_key[SHA256_DIGEST_SIZE];
	uint8_t stored[SHA256_DIGEST_SIZE], sig[SHA256_DIGEST_SIZE], server_key[SHA256_DIGEST_SIZE];
	char without_proof[SCRAM_MSG_MAX], proof[64], iter_s[16];
	size_t rlen, slen, ilen, saltlen;
	const char *r, *sa, *it;
	unsigned iterations = 0;
	struct hmac_sha256 h;

	if (len >= SCRAM_MSG_MAX || memchr(server_first, '\0', len))
		return err_set(err, EPROTO, "scram: malformed server-first message");
	r = scram_attr(server_first, len, 'r', &rlen);
	sa = scram_attr(server_first, len, 's', &slen);
	it = scram_attr(server_first, len, 'i', &ilen);
	if (!r || !sa || !it || ilen == 0 || ilen >= sizeof(iter_s))
		return err_set(err, EPROTO, "scram: malformed server-first message");
	/* The server extends our nonce; anything else is not our conversation. */
	if (rlen <= SCRAM_NONCE_LEN || memcmp(r, s->nonce, SCRAM_NONCE_LEN) != 0)
		return err_set(err, EPROTO, "scram: the server changed our nonce");
	memcpy(iter_s, it, ilen);
	iter_s[ilen] = '\0';
	for (size_t i = 0; i < ilen; i++) {
		if (iter_s[i] < '0' || iter_s[i] > '9' || iterations > SCRAM_ITER_MAX)
			return err_set(err, EPROTO, "scram: iteration count '%s'", iter_s);
		iterations = iterations * 10 + (unsigned) (iter_s[i] - '0');
	}
	if (iterations == 0 || iterations > SCRAM_ITER_MAX)
		return err_set(err, EPROTO, "scram: iteration count '%s'", iter_s);
	if (b64_decode(sa, slen, salt, sizeof(salt), &saltlen) < 0 || saltlen == 0)
		return err_set(err, EPROTO, "scram: malformed salt");

	pbkdf2_sha256(s->password, strlen(s->password), salt, saltlen, iterations, salted,
		      sizeof(salted));
	hmac_sha256(salted, sizeof(salted), "Client Key", 10, client_key);
	sha256(client_key, sizeof(client_key), stored);
	/* "c=biws" is base64 of "n,,": no channel binding, no authzid. */
	if ((size_t) snprintf(without_proof, sizeof(without_proof), "c=biws,r=%.*s", (int) rlen,
			      r) >= sizeof(without_proof))
		return err_set(err, EPROTO, "scram: nonce too long");
	/* AuthMessage = client-first-bare "," server-first "," client-final-without-proof */
	hmac_sha256_init(&h, stored, sizeof(stored));
	hmac_sha256_update(&h, s->client_first_bare, strlen(s->client_first_bare));
	hmac_sha256_update(&h, ",", 1);
	hmac_sha256_update(&h, server_first, len);
	hmac_sha256_update(&h, ",", 1);
	hmac_sha256_update(&h, without_proof, strlen(without_proof));
	hmac_sha256_final(&h, sig);
	for (size_t i = 0; i < sizeof(sig); i++)
		client_key[i] ^= sig[i];
	(void) b64_encode(client_key, sizeof(client_key), proof, sizeof(proof));

	hmac_sha256(salted, sizeof(salted), "Server Key", 10, server_key);
	hmac_sha256_init(&h, server_key, sizeof(server_key));
	hmac_sha256_update(&h, s->client_first_bare, strlen(s->client_first_bare));
	hmac_sha256_update(&h, ",", 1);
	hmac_sha256_update(&h, server_first, len);
	hmac_sha256_update(&h, ",", 1);
	hmac_sha256_update(&h, without_proof, strlen(without_proof));
	hmac_sha256_final(&h, s->server_signature);
	if ((size_t) snprintf(out, size, "%s,p=%s", without_proof, proof) >= size)
		return err_set(err, ENOBUFS, "scram: client-final message");
	return 0;
}

int scram_server_final(const struct scram *s, const char *server_final, size_t len, struct err *err)
{
	uint8_t sig[SHA256_DIGEST_SIZE + 3];
	size_t vlen, elen, n;
	const char *v, *e;

	e = scram_attr(server_final, len, 'e', &elen);
	if (e)
		return err_set(err, EACCES, "scram: server says '%.*s'", (int) elen, e);
	v = scram_attr(server_final, len, 'v', &vlen);
	if (!v || b64_decode(v, vlen, sig, sizeof(sig), &n) < 0 || n != SHA256_DIGEST_SIZE)
		return err_set(err, EPROTO, "scram: malformed server-final message");
	if (memcmp(sig, s->server_signature, SHA256_DIGEST_SIZE) != 0)
		return err_set(err, EPROTO, "scram: wrong server signature (not our server?)");
	return 0;
}

int scram_verifier(const char *password, const uint8_t *salt, size_t saltlen, unsigned iterations,
		   char *out, size_t size)
{
	uint8_t salted[SHA256_DIGEST_SIZE], key[SHA256_DIGEST_SIZE], stored[SHA256_DIGEST_SIZE];
	char salt64[96], stored64[48], server64[48];

	if (b64_encode(salt, saltlen, salt64, sizeof(salt64)) < 0)
		return -ENOBUFS;
	pbkdf2_sha256(password, strlen(password), salt, saltlen, iterations, salted,
		      sizeof(salted));
	hmac_sha256(salted, sizeof(salted), "Client Key", 10, key);
	sha256(key, sizeof(key), stored);
	(void) b64_encode(stored, sizeof(stored), stored64, sizeof(stored64));
	hmac_sha256(salted, sizeof(salted), "Server Key", 10, key);
	(void) b64_encode(key, sizeof(key), server64, sizeof(server64));
	if ((size_t) snprintf(out, size, "SCRAM-SHA-256$%u:%s$%s:%s", iterations, salt64, stored64,
			      server64) >= size)
		return -ENOBUFS;
	return 0;
}

/* sha1.c - see sha1.h. FIPS 180-4 section 6.1, one-shot: its inputs are host names. */
#include "util/sha1.h"

#include <string.h>

#include "util/banned.h"

struct sha1 {
	uint32_t h[5];
	uint64_t nbytes;
	uint8_t buf[64];
	size_t nbuf;
};

static inline uint32_t rol(uint32_t x, unsigned n)
{
	return (x << n) | (x >> (32 - n));
}

static void compress(uint32_t h[5], const uint8_t *p)
{
	uint32_t w[80], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t) p[4 * i] << 24 | (uint32_t) p[4 * i + 1] << 16 |
		       (uint32_t) p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	for (int i = 0; i < 80; i++) {
		uint32_t f, k, t;
		if (i < 20)
			f = (b & c) | (~b & d), k = 0x5a827999;
		else if (i < 40)
			f = b ^ c ^ d, k = 0x6ed9eba1;
		else if (i < 60)
			f = (b & c) | (b & d) | (c & d), k = 0x8f1bbcdc;
		else
			f = b ^ c ^ d, k = 0xca62c1d6;
		t = rol(a, 5) + f + e + k + w[i];
		e = d, d = c, c = rol(b, 30), b = a, a = t;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

static void sha1_init(struct sha1 *s)
{
	*s = (struct sha1){ .h = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0 } };
}

static void sha1_update(struct sha1 *s, const void *data, size_t len)
{
	const uint8_t *p = data;

	s->nbytes += len;
	while (len > 0) {
		size_t n = 64 - s->nbuf < len ? 64 - s->nbuf : len;
		memcpy(s->buf + s->nbuf, p, n);
		s->nbuf += n, p += n, len -= n;
		if (s->nbuf == 64) {
			compress(s->h, s->buf);
			s->nbuf = 0;
		}
	}
}

static void sha1_final(struct sha1 *s, uint8_t digest[SHA1_DIGEST_SIZE])
{
	uint64_t bits = s->nbytes * 8;
	uint8_t pad = 0x80, zero = 0, len[8];

	sha1_update(s, &pad, 1);
	while (s->nbuf != 56)
		sha1_update(s, &zero, 1);
	for (int i = 0; i < 8; i++)
		len[i] = (uint8_t) (bits >> (56 - 8 * i));
	sha1_update(s, len, 8);
	for (int i = 0; i < 5; i++)
		for (int j = 0; j < 4; j++)
			digest[4 * i + j] = (uint8_t) (s->h[i] >> (24 - 8 * j));
}

void sha1(const void *data, size_t len, uint8_t digest[SHA1_DIGEST_SIZE])
{
	struct sha1 s;

	sha1_init(&s);
	sha1_update(&s, data, len);
	sha1_final(&s, digest);
}

void hmac_sha1(const void *key, size_t key_len, const void *data, size_t len,
	       uint8_t digest[SHA1_DIGEST_SIZE])
{
	uint8_t k[64] = { 0 }, ipad[64], opad[64], inner[SHA1_DIGEST_SIZE];
	struct sha1 s;

	if (key_len > 64)
		sha1(key, key_len, k);
	else
		memcpy(k, key, key_len);
	for (int i = 0; i < 64; i++)
		ipad[i] = k[i] ^ 0x36, opad[i] = k[i] ^ 0x5c;
	sha1_init(&s);
	sha1_update(&s, ipad, 64);
	sha1_update(&s, data, len);
	sha1_final(&s, inner);
	sha1_init(&s);
	sha1_update(&s, opad, 64);
	sha1_update(&s, inner, sizeof(inner));
	sha1_final(&s, digest);
}

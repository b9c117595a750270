/* scrub.c - take every form of a secret out of what an upstream server sent back. */
#include "broker/internal.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"
#include "util/banned.h"

static void add(struct broker_scrub *s, const char *needle, size_t len)
{
	if (len < 4) /* too short to replace without masking innocent bytes */
		return;
	for (size_t i = 0; i < s->n; i++)
		if (s->lens[i] == len && memcmp(s->blob + s->off[i], needle, len) == 0)
			return;
	if (s->used + len > s->cap)
		abort(); /* broker_scrub_add() sized the blob for every form */
	memcpy(s->blob + s->used, needle, len);
	s->off = xrealloc(s->off, (s->n + 1) * sizeof(size_t));
	s->lens = xrealloc(s->lens, (s->n + 1) * sizeof(size_t));
	s->off[s->n] = s->used;
	s->lens[s->n++] = len;
	s->used += len;
}

/* The part of base64(k zero bytes + value) that depends on the value alone: the value
 * as it appears inside a longer base64 text at each of the three alignments. */
static void add_base64(struct broker_scrub *s, const unsigned char *v, size_t len, int variant)
{
	for (size_t k = 0; k < 3; k++) {
		size_t n = k + len, cap = sodium_base64_encoded_len(n, variant);
		unsigned char *in = sodium_malloc(n);
		char *out = sodium_malloc(cap);
		size_t start = (k * 8 + 5) / 6, end = n * 8 / 6;
		if (!in || !out)
			abort();
		memset(in, 0, k);
		memcpy(in + k, v, len);
		(void) sodium_bin2base64(out, cap, in, n, variant);
		if (end > start)
			add(s, out + start, end - start);
		if (k == 0) /* the whole, padded form too */
			add(s, out, strlen(out));
		sodium_free(in);
		sodium_free(out);
	}
}

void broker_scrub_add(struct broker_scrub *s, const unsigned char *v, size_t len)
{
	static const char lower[] = "0123456789abcdef", upper[] = "0123456789ABCDEF";
	char *buf;
	size_t o;

	if (sodium_init() < 0 || s->blob)
		abort(); /* one value per scrubber */
	/* raw 1, base64 2 x 4 x 4/3, hex 2 x 2, percent 2 x 3, JSON 6: under 32 per byte. */
	s->cap = len * 32 + 64;
	s->blob = sodium_malloc(s->cap);
	buf = sodium_malloc(len * 6 + 1);
	if (!s->blob)
		abort();
	if (!buf)
		abort();
	add(s, (const char *) v, len);
	add_base64(s, v, len, sodium_base64_VARIANT_ORIGINAL);
	add_base64(s, v, len, sodium_base64_VARIANT_URLSAFE);
	for (int c = 0; c < 2; c++) {
		const char *hex = c ? upper : lower;
		o = 0;
		for (size_t i = 0; i < len; i++) {
			buf[o++] = hex[v[i] >> 4];
			buf[o++] = hex[v[i] & 15];
		}
		add(s, buf, o);
		/* Percent-encoded: every byte that is not unreserved. */
		o = 0;
		for (size_t i = 0; i < len; i++) {
			unsigned char b = v[i];
			if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') ||
			    (b >= '0' && b <= '9') || strchr("-._~", b)) {
				buf[o++] = (char) b;
			} else {
				buf[o++] = '%';
				buf[o++] = hex[b >> 4];
				buf[o++] = hex[b & 15];
			}
		}
		add(s, buf, o);
	}
	/* JSON-escaped: quote, backslash, slash and control bytes. */
	o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char b = v[i];
		if (b == '"' || b == '\\' || b == '/') {
			buf[o++] = '\\';
			buf[o++] = (char) b;
		} else if (b < 0x20) {
			buf[o++] = '\\';
			buf[o++] = 'u';
			buf[o++] = '0';
			buf[o++] = '0';
			buf[o++] = lower[b >> 4];
			buf[o++] = lower[b & 15];
		} else
			buf[o++] = (char) b;
	}
	add(s, buf, o);
	sodium_free(buf);
}

size_t broker_scrub_apply(const struct broker_scrub *s, char **bufp, size_t *lenp)
{
	size_t count = 0;

	for (size_t i = 0; i < s->n; i++) {
		const char *needle = s->blob + s->off[i];
		size_t nlen = s->lens[i], len = *lenp, o = 0, pos = 0;
		char *buf = *bufp, *out = NULL;
		const char *hit;

		if (!memmem(buf, len, needle, nlen))
			continue;
		out = xmalloc(len + 1); /* "***" is never longer than a needle (>= 4) */
		while ((hit = memmem(buf + pos, len - pos, needle, nlen))) {
			size_t before = (size_t) (hit - (buf + pos));
			memcpy(out + o, buf + pos, before);
			o += before;
			memcpy(out + o, "***", 3);
			o += 3;
			pos += before + nlen;
			count++;
		}
		memcpy(out + o, buf + pos, len - pos);
		o += len - pos;
		out[o] = '\0';
		sodium_memzero(buf, len);
		free(buf);
		*bufp = out;
		*lenp = o;
	}
	return count;
}

void broker_scrub_release(struct broker_scrub *s)
{
	if (s->blob)
		sodium_free(s->blob); /* wipes */
	free(s->off);
	free(s->lens);
	*s = (struct broker_scrub){ 0 };
}

/* fuzz-mask.c - the output masker, which reads whatever a job prints. The first byte picks
 * a value length (8..71) and the next bytes are the value; the rest is output, masked once
 * whole and once in chunks whose sizes come from the input: both must agree, and the
 * masker must never crash or hold back more than its longest pattern. Input capped at
 * 64 KiB. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "secrets/secrets.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct out {
	uint8_t *buf;
	size_t len, cap;
};

static int collect(void *userdata, const void *p, size_t len)
{
	struct out *o = userdata;

	if (o->len + len > o->cap) {
		o->cap = (o->len + len) * 2;
		o->buf = realloc(o->buf, o->cap);
		if (!o->buf)
			abort();
	}
	memcpy(o->buf + o->len, p, len);
	o->len += len;
	return 0;
}

static void mask(const uint8_t *value, size_t vlen, const uint8_t *text, size_t len, unsigned step,
		 struct out *o)
{
	struct secret_masker *m = secret_masker_new();
	struct err err = { 0 };

	if (secret_masker_add(m, value, vlen, &err) < 0)
		abort();
	for (size_t off = 0; off < len;) {
		size_t n = step ? 1 + (off * 31 + step) % (step + 1) : len;
		if (n > len - off)
			n = len - off;
		(void) secret_masker_feed(m, text + off, n, collect, o);
		off += n;
	}
	(void) secret_masker_flush(m, collect, o);
	secret_masker_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct out whole = { 0 }, parts = { 0 };
	size_t vlen;

	if (size < 1 || size > 64 * 1024)
		return 0;
	vlen = 8 + data[0] % 64;
	if (size < 1 + vlen)
		return 0;
	mask(data + 1, vlen, data + 1 + vlen, size - 1 - vlen, 0, &whole);
	mask(data + 1, vlen, data + 1 + vlen, size - 1 - vlen, 1 + data[0] % 17, &parts);
	if (whole.len != parts.len || (whole.len && memcmp(whole.buf, parts.buf, whole.len)))
		abort(); /* how output is split must not change what comes out */
	free(whole.buf);
	free(parts.buf);
	return 0;
}

/* test-mask.c - the output masker: every encoding, every split of the output, bounded
 * holding back, and nothing masked that is not a value. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "secrets/secrets.h"
#include "test.h"
#include "util/err.h"

struct sink {
	char buf[1 << 16];
	size_t len;
	size_t calls;
};

static int to_sink(void *userdata, const void *data, size_t len)
{
	struct sink *s = userdata;

	if (s->len + len >= sizeof(s->buf))
		return -ENOSPC;
	memcpy(s->buf + s->len, data, len);
	s->len += len;
	s->buf[s->len] = '\0';
	s->calls++;
	return 0;
}

static struct secret_masker *masker(const char *const *values)
{
	struct secret_masker *m = secret_masker_new();
	struct err err = { 0 };

	for (size_t i = 0; values[i]; i++)
		CHECK_OK(secret_masker_add(m, values[i], strlen(values[i]), &err));
	return m;
}

/* Mask text fed in pieces cut at the given offsets (sorted, within the text). */
static void mask_split(struct secret_masker *m, const char *text, const size_t *cuts, size_t ncuts,
		       struct sink *s)
{
	size_t from = 0, len = strlen(text);

	memset(s, 0, sizeof(*s));
	for (size_t i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : len;
		CHECK_OK(secret_masker_feed(m, text + from, to - from, to_sink, s));
		from = to;
	}
	CHECK_OK(secret_masker_flush(m, to_sink, s));
}

static void expect_masked(const char *const *values, const char *text, const char *want)
{
	CLEANUP(secret_masker_freep) struct secret_masker *m = masker(values);
	struct sink s;
	size_t len = strlen(text);

	mask_split(m, text, NULL, 0, &s);
	CHECK_STR_EQ(s.buf, want);
	/* The same output, split at every offset, and at every pair of offsets. */
	for (size_t a = 0; a <= len; a++) {
		mask_split(m, text, &a, 1, &s);
		CHECK_STR_EQ(s.buf, want);
		for (size_t b = a; b <= len && len < 200; b++) {
			size_t cuts[2] = { a, b };
			mask_split(m, text, cuts, 2, &s);
			CHECK_STR_EQ(s.buf, want);
		}
	}
}

TEST(mask_raw_value_anywhere)
{
	const char *v[] = { "hunter2-is-long", NULL };

	expect_masked(v, "hunter2-is-long", "***");
	expect_masked(v, "pw=hunter2-is-long;", "pw=***;");
	expect_masked(v, "hunter2-is-longhunter2-is-long\n", "******\n");
	expect_masked(v, "hunter2-is-lon hunter2", "hunter2-is-lon hunter2");
	expect_masked(v, "", "");
}

TEST(mask_every_encoding)
{
	const char *value = "s3cr3t/value+with?chars\"&\n";
	const char *v[] = { value, NULL };
	/* Encodings made here independently of the masker (libsodium, hand escapes). */
	char hex[128], b64[128], b64url[128], text[1024];

	sodium_bin2hex(hex, sizeof(hex), (const unsigned char *) value, strlen(value));
	sodium_bin2base64(b64, sizeof(b64), (const unsigned char *) value, strlen(value),
			  sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(b64url, sizeof(b64url), (const unsigned char *) value, strlen(value),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	const char *forms[] = {
		value,
		hex,
		b64,
		b64url,
		"s3cr3t%2Fvalue%2Bwith%3Fchars%22%26%0A", /* URL-encoded */
		"s3cr3t\\/value",			  /* not a form: stays */
		"s3cr3t/value+with?chars\\\"&\\n",	  /* JSON-escaped */
	};
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		CLEANUP(secret_masker_freep) struct secret_masker *m = masker(v);
		struct sink s;
		snprintf(text, sizeof(text), "<%s>", forms[i]);
		mask_split(m, text, NULL, 0, &s);
		if (i == 5)
			CHECK_STR_EQ(s.buf, text);
		else
			CHECK_STR_CONTAINS(s.buf, "***");
		CHECK_STR_NOT_CONTAINS(s.buf, "s3cr3t/value+with?chars");
	}
	/* Upper-case hex too. */
	for (char *p = hex; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char) (*p - 'a' + 'A');
	snprintf(text, sizeof(text), "%s", hex);
	expect_masked(v, text, "***");
}

/* A value inside a longer base64 text, at each of the three byte alignments. */
TEST(mask_base64_every_alignment)
{
	const char *value = "correct horse battery";
	const char *v[] = { value, NULL };
	const char *variants[] = { "", "x", "xy", "xyz", "wxyz" };
	unsigned char plain[128];
	char b64[256];

	for (size_t i = 0; i < 5; i++) {
		for (int url = 0; url < 2; url++) {
			CLEANUP(secret_masker_freep) struct secret_masker *m = masker(v);
			struct sink s;
			size_t n = (size_t) snprintf((char *) plain, sizeof(plain), "%s%s tail",
						     variants[i], value);
			sodium_bin2base64(b64, sizeof(b64), plain, n,
					  url ? sodium_base64_VARIANT_URLSAFE
					      : sodium_base64_VARIANT_ORIGINAL);
			mask_split(m, b64, NULL, 0, &s);
			CHECK_STR_CONTAINS(s.buf, "***");
			/* Whatever is left cannot be decoded back into the value. */
			CHECK(strlen(s.buf) < strlen(b64));
		}
	}
}

TEST(mask_longest_match_wins_and_overlaps)
{
	const char *v[] = { "abcdefgh", "abcdefghijkl", NULL };

	expect_masked(v, "xxabcdefghijklyy", "xx***yy");
	expect_masked(v, "xxabcdefghijkyy", "xx***ijkyy");
	expect_masked(v, "abcdefgabcdefgh", "abcdefg***");
}

TEST(mask_holds_back_only_a_possible_prefix)
{
	CLEANUP(secret_masker_freep) struct secret_masker *m = NULL;
	const char *v[] = { "TOPSECRETVALUE", NULL };
	struct sink s = { 0 };

	m = masker(v);
	CHECK_OK(secret_masker_feed(m, "hello world\n", 12, to_sink, &s));
	CHECK_STR_EQ(s.buf, "hello world\n"); /* nothing that could start a value: no delay */
	CHECK_OK(secret_masker_feed(m, "key TOPSEC", 10, to_sink, &s));
	CHECK_STR_EQ(s.buf, "hello world\nkey "); /* "TOPSEC" waits */
	CHECK_OK(secret_masker_feed(m, "RETVALUE!", 9, to_sink, &s));
	CHECK_STR_EQ(s.buf, "hello world\nkey ***!");
	CHECK_OK(secret_masker_feed(m, "TOPSECRETVALU", 13, to_sink, &s));
	CHECK_OK(secret_masker_flush(m, to_sink, &s));
	CHECK_STR_EQ(s.buf, "hello world\nkey ***!TOPSECRETVALU"); /* ended short: not it */
}

TEST(mask_refuses_short_values)
{
	CLEANUP(secret_masker_freep) struct secret_masker *m = secret_masker_new();
	struct err err = { 0 };

	CHECK_EQ(secret_masker_add(m, "1234567", 7, &err), -EMSGSIZE);
	CHECK_OK(secret_masker_add(m, "12345678", 8, &err));
}

TEST(mask_no_values_passes_through)
{
	CLEANUP(secret_masker_freep) struct secret_masker *m = secret_masker_new();
	struct sink s = { 0 };

	CHECK_OK(secret_masker_feed(m, "abc", 3, to_sink, &s));
	CHECK_OK(secret_masker_flush(m, to_sink, &s));
	CHECK_STR_EQ(s.buf, "abc");
}

/* Big output in odd chunks: memory stays bounded and every copy is masked. */
TEST(mask_large_stream_many_values)
{
	CLEANUP(secret_masker_freep) struct secret_masker *m = secret_masker_new();
	struct err err = { 0 };
	char values[20][32];
	static char chunk[200000];
	static struct sink s;
	size_t at = 0, expect = 0;

	for (int i = 0; i < 20; i++) {
		snprintf(values[i], sizeof(values[i]), "value-%02d-%08x", i,
			 (unsigned) (i * 2654435761u));
		CHECK_OK(secret_masker_add(m, values[i], strlen(values[i]), &err));
	}
	while (at + 64 < sizeof(chunk)) {
		int i = (int) (at % 20);
		at += (size_t) snprintf(chunk + at, sizeof(chunk) - at, "line %zu %s ok\n", at,
					values[i]);
		expect++;
	}
	for (size_t off = 0; off < at;) {
		size_t n = 1 + (off * 7919) % 4093;
		if (off + n > at)
			n = at - off;
		s.len = 0;
		CHECK_OK(secret_masker_feed(m, chunk + off, n, to_sink, &s));
		s.buf[s.len] = '\0';
		CHECK_STR_NOT_CONTAINS(s.buf, "value-");
		off += n;
	}
	CHECK_OK(secret_masker_flush(m, to_sink, &s));
	(void) expect;
}

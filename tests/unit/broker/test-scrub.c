/* test-scrub.c - a response that echoes the secret, in any of its encodings, reaches the
 * job with "***" in its place. */
#include <sodium.h>

#include "broker/internal.h"
#include "util/xalloc.h"
#include "test.h"
#include "util/banned.h"

#define SECRET "sk_live_51H/x+Yz==\"q"

static char *scrubbed(const char *text)
{
	struct broker_scrub s = { 0 };
	char *buf = xstrdup(text);
	size_t len = strlen(buf);

	broker_scrub_add(&s, (const unsigned char *) SECRET, strlen(SECRET));
	(void) broker_scrub_apply(&s, &buf, &len);
	broker_scrub_release(&s);
	CHECK_EQ(len, strlen(buf));
	return buf;
}

static char *b64_of(const char *data, int variant)
{
	size_t len = strlen(data), cap = sodium_base64_encoded_len(len, variant);
	char *out = xmalloc(cap);

	sodium_bin2base64(out, cap, (const unsigned char *) data, len, variant);
	return out;
}

TEST(broker_scrub_every_encoding)
{
	static const char *const forms[] = {
		"Bearer " SECRET,
		"sk_live_51H%2Fx%2BYz%3D%3D%22q",
		"sk_live_51H%2fx%2bYz%3d%3d%22q",
		"736b5f6c6976655f3531482f782b597a3d3d2271",
		"736B5F6C6976655F3531482F782B597A3D3D2271",
		"sk_live_51H\\/x+Yz==\\\"q",
	};
	CHECK(sodium_init() >= 0);
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		char *in = xasprintf("before %s after", forms[i]);
		char *out = scrubbed(in);
		CHECK_STR_CONTAINS(out, "***");
		CHECK_STR_CONTAINS(out, "before ");
		CHECK_STR_CONTAINS(out, " after");
		CHECK_STR_NOT_CONTAINS(out, "sk_live");
		CHECK_STR_NOT_CONTAINS(out, "736");
		free(in);
		free(out);
	}
	/* Base64 of a text that holds the secret at every offset, both alphabets: the
	 * reflected "Authorization: Bearer <secret>" of an echo server. */
	for (int variant = 0; variant < 2; variant++)
		for (int shift = 0; shift < 3; shift++) {
			char *plain =
				xasprintf("%.*sAuthorization: Bearer %s\r\n", shift, "xyz", SECRET);
			char *enc = b64_of(plain, variant ? sodium_base64_VARIANT_URLSAFE
							  : sodium_base64_VARIANT_ORIGINAL);
			char *out = scrubbed(enc);
			CHECK_STR_CONTAINS(out, "***");
			free(plain);
			free(enc);
			free(out);
		}
}

TEST(broker_scrub_leaves_other_text)
{
	char *out = scrubbed("nothing secret here: sk_live_ and 736b5f");

	CHECK_STR_EQ(out, "nothing secret here: sk_live_ and 736b5f");
	free(out);
	out = scrubbed(SECRET SECRET);
	CHECK_STR_EQ(out, "******");
	free(out);
}

/* test-grant.c - the --grant syntax, with the errors users see, and the values' rules. */
#include <errno.h>
#include <sodium.h>

#include "broker/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "test.h"
#include "util/banned.h"

DEFINE_CLEANUP(struct broker_grant *, broker_grant_free)

static const struct {
	const char *in, *describe;
} good[] = {
	{ "sign:WEBHOOK_KEY", "sign:WEBHOOK_KEY alg=hmac-sha256" },
	{ "sign:K;alg=hmac-sha256", "sign:K alg=hmac-sha256" },
	{ "sign:DEPLOY_KEY;alg=ed25519", "sign:DEPLOY_KEY alg=ed25519" },
	{ "http:STRIPE_KEY@https://api.stripe.com/v1/",
	  "http:STRIPE_KEY@https://api.stripe.com:443/v1/ "
	  "methods=GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS inject='Authorization: Bearer {}'" },
	{ "http:GH@https://api.github.com/repos/;methods=GET,HEAD",
	  "http:GH@https://api.github.com:443/repos/ methods=GET,HEAD "
	  "inject='Authorization: Bearer {}'" },
	{ "http:K@http://localhost:8080;auth=basic",
	  "http:K@http://localhost:8080/ methods=GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS "
	  "inject='Authorization: Basic base64({})'" },
	{ "http:K@https://x.example/;header=X-Api-Key: {};methods=POST",
	  "http:K@https://x.example:443/ methods=POST inject='X-Api-Key: {}'" },
	{ "http:K@https://x.example/;header=Authorization: token {}",
	  "http:K@https://x.example:443/ methods=GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS "
	  "inject='Authorization: token {}'" },
};

static const struct {
	const char *in, *why;
} bad[] = {
	{ "WEBHOOK_KEY", "expected sign:NAME or http:NAME@URL" },
	{ "sign:", "the secret name" },
	{ "sign:A B", "the secret name" },
	{ "sign:K;alg=rsa", "alg=ed25519" },
	{ "http:K", "expected http:NAME@URL" },
	{ "http:@https://x.example/", "the secret name" },
	{ "http:K@ftp://x.example/", "only http" },
	{ "http:K@https://u@evil@x.example/", "user information" },
	{ "http:K@https://x.example/?a=b", "a query is not allowed" },
	{ "http:K@https://x.example/;methods=GET,TRACE", "'TRACE' is not one of" },
	{ "http:K@https://x.example/;methods=get", "'get' is not one of" },
	{ "http:K@https://x.example/;methods=", "empty list" },
	{ "http:K@https://x.example/;auth=digest", "not bearer or basic" },
	{ "http:K@https://x.example/;auth=basic;header=X: {}", "once" },
	{ "http:K@https://x.example/;header=X-Api-Key", "expected 'Name: template" },
	{ "http:K@https://x.example/;header=X-Api-Key: key", "exactly one '{}'" },
	{ "http:K@https://x.example/;header=X-Api-Key: {}{}", "exactly one '{}'" },
	{ "http:K@https://x.example/;header=X Key: {}", "not a header name" },
	{ "http:K@https://x.example/;bogus=1", "unknown option" },
	{ "http:K@https://x.example/../", "above the root" },
};

TEST(broker_grant_parses)
{
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CLEANUP(broker_grant_freep) struct broker_grant *g = NULL;
		struct err err = { 0 };
		if (broker_grant_parse(good[i].in, &g, &err) < 0)
			test_fail(__FILE__, __LINE__, "'%s': %s", good[i].in, err.msg);
		char *d = broker_grant_describe(g);
		CHECK_STR_EQ(d, good[i].describe);
		free(d);
	}
}

TEST(broker_grant_refuses_with_a_reason)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CLEANUP(broker_grant_freep) struct broker_grant *g = NULL;
		struct err err = { 0 };
		int r = broker_grant_parse(bad[i].in, &g, &err);
		if (r != -EINVAL)
			test_fail(__FILE__, __LINE__, "'%s' was accepted", bad[i].in);
		if (!strstr(err.msg, bad[i].why))
			test_fail(__FILE__, __LINE__, "'%s': '%s' lacks '%s'", bad[i].in, err.msg,
				  bad[i].why);
		CHECK(g == NULL);
	}
}

TEST(broker_grant_values)
{
	CLEANUP(broker_grant_freep) struct broker_grant *h = NULL, *e = NULL, *w = NULL;
	struct err err = { 0 };
	unsigned char seed[32], pk[32], sk[64];
	char hex[129];

	CHECK_OK(broker_grant_parse("sign:K", &h, &err));
	CHECK_EQ(broker_grant_set_value(h, "short", 5, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "shorter than 8 bytes");
	CHECK_STR_NOT_CONTAINS(err.msg, "short:");
	CHECK_OK(broker_grant_set_value(h, "a-long-enough-key", 17, &err));
	CHECK_EQ(broker_grant_verb(h), BROKER_SIGN_HMAC);
	CHECK_STR_EQ(broker_grant_name(h), "K");

	/* A header value must not carry CR/LF: it would start a header of the value's making. */
	CHECK_OK(broker_grant_parse("http:W@https://x.example/", &w, &err));
	CHECK_EQ(broker_grant_set_value(w, "token-123\n", 10, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "control byte at offset 9");
	CHECK_STR_NOT_CONTAINS(err.msg, "token-123");

	/* Ed25519: a seed (raw or hex) or a 64-byte secret key; the public key follows. */
	CHECK(sodium_init() >= 0);
	randombytes_buf(seed, sizeof(seed));
	CHECK_EQ(crypto_sign_seed_keypair(pk, sk, seed), 0);
	CHECK_OK(broker_grant_parse("sign:E;alg=ed25519", &e, &err));
	CHECK_EQ(broker_grant_set_value(e, "not-a-key-of-any-length", 23, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "32 bytes (seed) or 64 bytes");
	CHECK_OK(broker_grant_set_value(e, seed, 32, &err));
	CHECK_EQ(memcmp(grant_open(e), sk, 64), 0);
	grant_close(e);
	sodium_bin2hex(hex, sizeof(hex), sk, 64);
	CHECK_OK(broker_grant_set_value(e, hex, 128, &err));
	CHECK_EQ(memcmp(grant_open(e) + 32, pk, 32), 0);
	grant_close(e);
}

TEST(broker_grant_header_lines)
{
	static const struct {
		const char *grant, *line;
	} t[] = {
		{ "http:K@https://x.example/", "Authorization: Bearer tok-12345678" },
		{ "http:K@https://x.example/;auth=basic", "Authorization: Basic dG9rLTEyMzQ1Njc4" },
		{ "http:K@https://x.example/;header=X-Api-Key: {}", "X-Api-Key: tok-12345678" },
		{ "http:K@https://x.example/;header=Authorization: token {} (v2)",
		  "Authorization: token tok-12345678 (v2)" },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		CLEANUP(broker_grant_freep) struct broker_grant *g = NULL;
		struct err err = { 0 };
		CHECK_OK(broker_grant_parse(t[i].grant, &g, &err));
		CHECK_OK(broker_grant_set_value(g, "tok-12345678", 12, &err));
		char *line = grant_header_line(g);
		CHECK_STR_EQ(line, t[i].line);
		broker_secure_free(line);
	}
}

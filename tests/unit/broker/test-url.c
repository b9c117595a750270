/* test-url.c - the URL policy: every trick a job could use to send a secret elsewhere. */
#include <errno.h>

#include "broker/internal.h"
#include "util/err.h"
#include "util/xalloc.h"
#include "test.h"
#include "util/banned.h"

static const struct {
	const char *in, *out;
} good[] = {
	{ "https://api.example.com/v1/charges", "https://api.example.com:443/v1/charges" },
	{ "HTTPS://API.Example.COM/v1/", "https://api.example.com:443/v1/" },
	{ "http://example.com", "http://example.com:80/" },
	{ "https://example.com:8443/a?b=c&d=%2F#frag", "https://example.com:8443/a?b=c&d=%2F" },
	{ "https://example.com/v1/./x", "https://example.com:443/v1/x" },
	{ "https://example.com/v1/x/../y", "https://example.com:443/v1/y" },
	{ "https://example.com/v1/x/..", "https://example.com:443/v1/" },
	{ "https://example.com/%76%31/%7euser", "https://example.com:443/v1/~user" },
	{ "https://example.com/a%2e%2E/b", "https://example.com:443/a../b" },
	{ "https://example.com/v1/%2e%2e/v2", "https://example.com:443/v2" },
	{ "https://example.com/a%3ab", "https://example.com:443/a%3Ab" },
	{ "https://127.0.0.1:8080/x", "https://127.0.0.1:8080/x" },
	{ "https://example.com/users/@me", "https://example.com:443/users/@me" },
	{ "https://example.com?q=@x", "https://example.com:443/?q=@x" },
	{ "https://xn--bcher-kva.example/", "https://xn--bcher-kva.example:443/" },
};

static const struct {
	const char *in, *why;
} bad[] = {
	{ "ftp://example.com/", "only http" },
	{ "file:///etc/passwd", "only http" },
	{ "https://user:pw@example.com/", "user information" },
	{ "https://example.com@evil.com/", "user information" },
	{ "https://api.example.com:443@evil.com/v1/", "user information" },
	{ "https://evil.com\\@api.example.com/", "backslash" },
	{ "https://api.example.com\\.evil.com/", "backslash" },
	{ "https://api%2eexample.com/", "percent-encoded" },
	{ "https://%61pi.example.com/", "percent-encoded" },
	{ "https://b\xc3\xbc"
	  "cher.example/",
	  "non-ASCII" },
	{ "https://[::1]/", "IPv6" },
	{ "https://[::ffff:127.0.0.1]/", "IPv6" },
	{ "https://2130706433/", "IPv4" },
	{ "https://0x7f.0.0.1/", "IPv4" },
	{ "https://0177.0.0.1/", "IPv4" },
	{ "https://127.1/", "IPv4" },
	{ "https://127.0.0.1.example.256/", "IPv4" },
	{ "https://example.com:0/", "bad port" },
	{ "https://example.com:65536/", "bad port" },
	{ "https://example.com:+443/", "bad port" },
	{ "https://example.com:0443/", "bad port" },
	{ "https://example.com:/", "bad port" },
	{ "https://example.com:443:443/", "bad port" },
	{ "https:///path", "empty" },
	{ "https://example..com/", "empty label" },
	{ "https://example.com./", "empty label" },
	{ "https://exa_mple.com/", "not allowed in a host" },
	{ "https://example.com/../etc", "above the root" },
	{ "https://example.com/a/../../etc", "above the root" },
	{ "https://example.com/%2e%2e/x", "above the root" },
	{ "https://example.com/a%2fb", "encoded '/'" },
	{ "https://example.com/a%5cb", "encoded '/'" },
	{ "https://example.com/a%00b", "encoded '/'" },
	{ "https://example.com/a%zz", "bad percent-escape" },
	{ "https://example.com/a%4", "bad percent-escape" },
	{ "https://example.com/a b", "control, space" },
	{ "https://example.com/a\r\nHost: evil", "control, space" },
	{ "https://example.com/\x7f", "control, space" },
};

TEST(broker_url_normalises)
{
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct broker_url u = { 0 };
		struct err err = { 0 };
		if (broker_url_parse(good[i].in, &u, &err) < 0)
			test_fail(__FILE__, __LINE__, "'%s': %s", good[i].in, err.msg);
		char *s = broker_url_format(&u);
		CHECK_STR_EQ(s, good[i].out);
		free(s);
		broker_url_release(&u);
	}
}

TEST(broker_url_refuses_tricks)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct broker_url u = { 0 };
		struct err err = { 0 };
		int r = broker_url_parse(bad[i].in, &u, &err);
		if (r != -EINVAL)
			test_fail(__FILE__, __LINE__, "'%s' was accepted (r=%d)", bad[i].in, r);
		if (!strstr(err.msg, bad[i].why))
			test_fail(__FILE__, __LINE__, "'%s': '%s' lacks '%s'", bad[i].in, err.msg,
				  bad[i].why);
	}
}

static bool under(const char *url, const char *prefix)
{
	struct broker_url u = { 0 }, p = { 0 };
	struct err err = { 0 };
	bool r;

	CHECK_OK(broker_url_parse(prefix, &p, &err));
	if (broker_url_parse(url, &u, &err) < 0) {
		broker_url_release(&p);
		return false;
	}
	r = broker_url_under(&u, &p);
	broker_url_release(&u);
	broker_url_release(&p);
	return r;
}

TEST(broker_url_prefix_compares_after_normalisation)
{
	const char *p = "https://api.example.com/v1/";

	CHECK(under("https://api.example.com/v1/charges", p));
	CHECK(under("https://API.example.com:443/v1/charges?limit=3", p));
	CHECK(under("https://api.example.com/v1/a/../b", p));
	CHECK(under("https://api.example.com/%76%31/x", p));
	CHECK(!under("https://api.example.com/v1/../v2/x", p));
	CHECK(!under("https://api.example.com/v1/%2e%2e/v2", p));
	CHECK(!under("https://api.example.com/v2/", p));
	CHECK(!under("https://api.example.com/v1", p)); /* the prefix ends in '/' */
	CHECK(!under("http://api.example.com/v1/x", p));
	CHECK(!under("https://api.example.com:8443/v1/x", p));
	CHECK(!under("https://api.example.com.evil.com/v1/x", p));
	CHECK(!under("https://evil.com/api.example.com/v1/x", p));
	CHECK(!under("https://api.example.com@evil.com/v1/x", p));
	CHECK(!under("https://evil.com#@api.example.com/v1/x", p));
	CHECK(!under("https://evil.com?@api.example.com/v1/x", p));
	/* Without a final '/', a segment boundary still counts. */
	CHECK(under("https://api.example.com/v1", "https://api.example.com/v1"));
	CHECK(under("https://api.example.com/v1/x", "https://api.example.com/v1"));
	CHECK(!under("https://api.example.com/v10", "https://api.example.com/v1"));
	CHECK(!under("https://api.example.com/v1x/y", "https://api.example.com/v1"));
	/* The root prefix covers the host. */
	CHECK(under("https://api.example.com/anything", "https://api.example.com"));
	CHECK(!under("https://other.example.com/", "https://api.example.com"));
}

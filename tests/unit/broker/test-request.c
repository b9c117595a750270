/* test-request.c - request lines from a hostile job: parsed, bounded, refused with a
 * reason; and the http policy of a grant (methods, headers, prefix). */
#include <errno.h>

#include "broker/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/xalloc.h"
#include "test.h"
#include "util/banned.h"

DEFINE_CLEANUP(struct broker_grant *, broker_grant_free)

static int parse(const char *line, struct broker_req *r, struct err *err)
{
	return broker_request_parse(line, strlen(line), 1024, r, err);
}

TEST(broker_request_parses_sign_and_http)
{
	struct broker_req r = { 0 };
	struct err err = { 0 };

	CHECK_OK(
		parse("{\"verb\":\"sign\",\"name\":\"K\",\"payload_b64\":\"aGVsbG8=\"}", &r, &err));
	CHECK_EQ(r.verb, REQ_SIGN);
	CHECK_STR_EQ(r.alg, "hmac-sha256");
	CHECK_EQ(r.payload_len, 5);
	CHECK_EQ(memcmp(r.payload, "hello", 5), 0);
	broker_req_release(&r);
	CHECK_OK(parse(
		"{\"verb\":\"http\",\"name\":\"K\",\"method\":\"POST\",\"url\":\"https://x/\","
		"\"headers\":{\"Content-Type\":\"application/json\",\"X-A\":\"1\"},"
		"\"body_b64\":\"e30=\"}",
		&r, &err));
	CHECK_EQ(r.verb, REQ_HTTP);
	CHECK_EQ(r.n_headers, 2);
	CHECK_STR_EQ(r.headers[0], "Content-Type: application/json");
	CHECK_EQ(r.body_len, 2);
	broker_req_release(&r);
}

TEST(broker_request_refuses_bad_input)
{
	static const struct {
		const char *in, *why;
	} bad[] = {
		{ "", "malformed JSON" },
		{ "garbage", "malformed JSON" },
		{ "[1,2]", "JSON object" },
		{ "{\"verb\":\"sign\",\"name\":\"K\"", "malformed JSON" },
		{ "{}", "\"verb\" is missing" },
		{ "{\"verb\":1,\"name\":\"K\"}", "'verb' must be a string" },
		{ "{\"verb\":\"exec\",\"name\":\"K\"}", "not sign or http" },
		{ "{\"verb\":\"sign\"}", "\"name\" is missing" },
		{ "{\"verb\":\"sign\",\"name\":\"K\",\"extra\":1}", "unknown field 'extra'" },
		{ "{\"verb\":\"sign\",\"name\":\"K\"}", "payload_b64\" is missing" },
		{ "{\"verb\":\"sign\",\"name\":\"K\",\"payload_b64\":\"!!!\"}", "not base64" },
		{ "{\"verb\":\"sign\",\"name\":\"K\",\"alg\":\"md5\",\"payload_b64\":\"\"}",
		  "not hmac-sha256 or ed25519" },
		{ "{\"verb\":\"sign\",\"name\":\"K\",\"url\":\"x\",\"payload_b64\":\"\"}",
		  "sign takes" },
		{ "{\"verb\":\"http\",\"name\":\"K\",\"url\":\"https://x/\"}", "\"method\"" },
		{ "{\"verb\":\"http\",\"name\":\"K\",\"method\":\"G T\",\"url\":\"https://x/\"}",
		  "\"method\"" },
		{ "{\"verb\":\"http\",\"name\":\"K\",\"method\":\"GET\"}", "\"url\" is missing" },
		{ "{\"verb\":\"http\",\"name\":\"K\",\"method\":\"GET\",\"url\":\"u\",\"headers\":["
		  "]}",
		  "must be an object" },
		{ "{\"verb\":\"http\",\"name\":\"K\",\"method\":\"GET\",\"url\":\"u\","
		  "\"headers\":{\"X\":1}}",
		  "must be a string" },
		{ "{\"verb\":\"http\",\"name\":\"K\",\"method\":\"GET\",\"url\":\"u\","
		  "\"headers\":{\"X\":\"a\\r\\nHost: evil\"}}",
		  "control byte 0x0d" },
		{ "{\"verb\":\"http\",\"name\":\"K\",\"method\":\"GET\",\"url\":\"u\","
		  "\"headers\":{\"X\":\"a\\u0000b\"}}",
		  "escaped NUL" },
		{ "{\"verb\":\"http\",\"name\":\"K\",\"method\":\"GET\",\"url\":\"u\","
		  "\"headers\":{\"X\":\"a\\nb\"}}",
		  "control byte 0x0a" },
		{ "{\"verb\":\"http\",\"name\":\"K\",\"method\":\"GET\",\"url\":\"u\","
		  "\"headers\":{\"X\\r\\nY\":\"a\"}}",
		  "not a token" },
		{ "{\"verb\":\"http\",\"name\":\"K\",\"method\":\"GET\",\"url\":\"u\","
		  "\"headers\":{\"\":\"a\"}}",
		  "not a token" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct broker_req r = { 0 };
		struct err err = { 0 };
		int e = parse(bad[i].in, &r, &err);
		if (e >= 0)
			test_fail(__FILE__, __LINE__, "'%s' was accepted", bad[i].in);
		if (!strstr(err.msg, bad[i].why))
			test_fail(__FILE__, __LINE__, "'%s': '%s' lacks '%s'", bad[i].in, err.msg,
				  bad[i].why);
	}
}

TEST(broker_request_limits)
{
	struct broker_req r = { 0 };
	struct err err = { 0 };
	cleanup_free char *big = xmalloc(4096), *line = NULL, *hdrs = NULL;
	const char nul[] = "{\"verb\":\"sign\",\"name\":\"K\0\",\"payload_b64\":\"\"}";

	/* A payload over the limit (1024 here), in base64. */
	memset(big, 'A', 2000);
	big[2000] = '\0';
	line = xasprintf("{\"verb\":\"sign\",\"name\":\"K\",\"payload_b64\":\"%s\"}", big);
	CHECK_EQ(parse(line, &r, &err), -EFBIG);
	CHECK_STR_CONTAINS(err.msg, "payload_b64");
	/* Too many headers. */
	free(line);
	hdrs = xstrdup("\"H0\":\"v\"");
	for (int i = 1; i <= BROKER_MAX_HEADERS; i++) {
		char *n = xasprintf("%s,\"H%d\":\"v\"", hdrs, i);
		free(hdrs);
		hdrs = n;
	}
	line = xasprintf("{\"verb\":\"http\",\"name\":\"K\",\"method\":\"GET\",\"url\":\"u\","
			 "\"headers\":{%s}}",
			 hdrs);
	CHECK_EQ(parse(line, &r, &err), -EFBIG);
	CHECK_STR_CONTAINS(err.msg, "more than 64 headers");
	/* A NUL byte in the line. */
	CHECK_EQ(broker_request_parse(nul, sizeof(nul) - 1, 1024, &r, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "NUL");
	/* Metadata past 16 KiB (a long URL is capped first). */
	free(line);
	cleanup_free char *url = xmalloc(BROKER_URL_MAX + 10);
	memset(url, 'a', BROKER_URL_MAX + 1);
	url[BROKER_URL_MAX + 1] = '\0';
	line = xasprintf("{\"verb\":\"http\",\"name\":\"K\",\"method\":\"GET\",\"url\":\"%s\"}",
			 url);
	CHECK_EQ(parse(line, &r, &err), -EFBIG);
	CHECK_STR_CONTAINS(err.msg, "'url' is longer");
}

static int check(const char *grant, const char *line, struct err *err)
{
	CLEANUP(broker_grant_freep) struct broker_grant *g = NULL;
	struct broker_req r = { 0 };
	struct broker_url u = { 0 };
	int e;

	CHECK_OK(broker_grant_parse(grant, &g, err));
	CHECK_OK(parse(line, &r, err));
	e = broker_http_check(g, &r, &u, err);
	broker_url_release(&u);
	broker_req_release(&r);
	return e;
}

#define REQ(m, u, h)                                                                               \
	"{\"verb\":\"http\",\"name\":\"K\",\"method\":\"" m "\",\"url\":\"" u "\"" h "}"

TEST(broker_http_policy)
{
	const char *g = "http:K@https://api.example.com/v1/;methods=GET,POST";
	const char *gh = "http:K@https://api.example.com/v1/;header=X-Api-Key: {}";
	struct err err = { 0 };

	CHECK_OK(check(g, REQ("GET", "https://api.example.com/v1/x", ""), &err));
	CHECK_EQ(check(g, REQ("DELETE", "https://api.example.com/v1/x", ""), &err), -EACCES);
	CHECK_STR_CONTAINS(err.msg, "method 'DELETE' is not granted");
	CHECK_EQ(check(g, REQ("TRACE", "https://api.example.com/v1/x", ""), &err), -EACCES);
	CHECK_EQ(check(g, REQ("GET", "https://api.example.com/v2/x", ""), &err), -EACCES);
	CHECK_STR_CONTAINS(err.msg, "is not under the prefix 'https://api.example.com:443/v1/'");
	CHECK_EQ(check(g, REQ("GET", "https://api.example.com/v1/../admin", ""), &err), -EACCES);
	CHECK_EQ(check(g, REQ("GET", "https://evil.example.com/v1/", ""), &err), -EACCES);
	CHECK_EQ(check(g, REQ("GET", "https://api.example.com@evil.example.com/v1/", ""), &err),
		 -EINVAL);
	CHECK_EQ(check(g,
		       REQ("GET", "https://api.example.com/v1/",
			   ",\"headers\":{\"authorization\":\"x\"}"),
		       &err),
		 -EACCES);
	CHECK_STR_CONTAINS(err.msg, "'Authorization' is the one the broker injects");
	CHECK_EQ(
		check(g,
		      REQ("GET", "https://api.example.com/v1/", ",\"headers\":{\"Host\":\"evil\"}"),
		      &err),
		-EACCES);
	CHECK_STR_CONTAINS(err.msg, "'Host' is set by the broker");
	CHECK_EQ(check(g,
		       REQ("POST", "https://api.example.com/v1/",
			   ",\"headers\":{\"Transfer-Encoding\":\"chunked\"}"),
		       &err),
		 -EACCES);
	CHECK_EQ(check(gh,
		       REQ("GET", "https://api.example.com/v1/",
			   ",\"headers\":{\"x-api-KEY\":\"x\"}"),
		       &err),
		 -EACCES);
	CHECK_STR_CONTAINS(err.msg, "'X-Api-Key' is the one");
	/* Another Authorization is fine when the grant injects X-Api-Key. */
	CHECK_OK(check(
		gh,
		REQ("GET", "https://api.example.com/v1/", ",\"headers\":{\"Authorization\":\"x\"}"),
		&err));
	CHECK_EQ(
		check(g, REQ("GET", "https://api.example.com/v1/", ",\"body_b64\":\"e30=\""), &err),
		-EINVAL);
	CHECK_STR_CONTAINS(err.msg, "a body with GET");
	CHECK_EQ(check("sign:K", REQ("GET", "https://api.example.com/v1/", ""), &err), -EACCES);
	CHECK_STR_CONTAINS(err.msg, "granted for signing, not for http");
}

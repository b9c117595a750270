/* request.c - one request line from the job, parsed and bounded. */
#include "broker/internal.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/err.h"
#include "util/json.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* A string member, or NULL; -EINVAL when present with another type. */
static int get_str(const struct json *j, const char *key, size_t max, const char **ret,
		   struct err *err)
{
	const struct json *v = json_get(j, key);

	*ret = NULL;
	if (!v)
		return 0;
	if (!json_str(v))
		return err_set(err, EINVAL, "'%s' must be a string", key);
	if (strlen(json_str(v)) > max)
		return err_set(err, EFBIG, "'%s' is longer than %zu bytes", key, max);
	*ret = json_str(v);
	return 0;
}

static int decode_b64(const char *key, const char *text, size_t max, unsigned char **ret,
		      size_t *ret_len, struct err *err)
{
	size_t tl = strlen(text), cap = tl / 4 * 3 + 3, n = 0;
	cleanup_free unsigned char *out = NULL;

	if (cap > max + 3)
		return err_set(err, EFBIG, "'%s' decodes to more than %zu bytes", key, max);
	out = xmalloc(cap + 1);
	if (sodium_base642bin(out, cap, text, tl, NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL) !=
	    0)
		return err_set(err, EINVAL, "'%s' is not base64 (standard alphabet, padded)", key);
	if (n > max)
		return err_set(err, EFBIG, "'%s' decodes to more than %zu bytes", key, max);
	out[n] = '\0';
	*ret = TAKE_PTR(out);
	*ret_len = n;
	return 0;
}

static int parse_headers(const struct json *h, struct broker_req *r, struct err *err)
{
	size_t n = json_object_len(h);

	if (!json_is_object(h))
		return err_set(err, EINVAL, "'headers' must be an object of strings");
	if (n > BROKER_MAX_HEADERS)
		return err_set(err, EFBIG, "more than %d headers", BROKER_MAX_HEADERS);
	r->headers = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		const char *k = NULL;
		const char *v = json_str(json_member_at(h, i, &k));
		if (!v || !k)
			return err_set(err, EINVAL, "header %zu: the value must be a string",
				       i + 1);
		/* SECURITY: a CR, LF or NUL would end this header and start one of the job's
		 * making; cJSON already cut the strings at a NUL, so look at the bytes left. */
		if (!str_is_token(k))
			return err_set(err, EINVAL, "header %zu: the name is not a token", i + 1);
		for (const char *p = v; *p; p++)
			if (((unsigned char) *p < 0x20 && *p != '\t') || *p == 0x7f)
				return err_set(
					err, EINVAL,
					"header '%.64s': control byte 0x%02x (CR, LF, ...) in "
					"the value",
					k, (unsigned char) *p);
		r->headers[r->n_headers++] = xasprintf("%s: %s", k, v);
	}
	return 0;
}

static const char *const known[] = { "verb",   "name", "alg",	  "payload_b64",
				     "method", "url",  "headers", "body_b64" };

int broker_request_parse(const char *line, size_t len, size_t max_body, struct broker_req *ret,
			 struct err *err)
{
	CLEANUP(json_freep) struct json *j = NULL;
	CLEANUP(broker_req_release) struct broker_req r = { 0 };
	const char *verb, *name, *alg, *payload, *method, *url, *body;
	size_t big = 0;
	int e;

	if (memchr(line, '\0', len))
		return err_set(err, EINVAL, "a NUL byte in the request");
	/* SECURITY: cJSON would cut a string at an escaped NUL, so a header value or a name
	 * would silently become its prefix; refuse it instead (no valid request needs one). */
	if (memmem(line, len, "\\u0000", 6))
		return err_set(err, EINVAL, "an escaped NUL (\\u0000) in the request");
	e = json_parse(line, len, &j, err);
	if (e < 0)
		return e;
	if (!json_is_object(j))
		return err_set(err, EINVAL, "the request must be a JSON object with \"verb\"");
	for (size_t i = 0; i < json_object_len(j); i++) {
		const char *k = NULL;
		bool ok = false;
		(void) json_member_at(j, i, &k);
		for (size_t n = 0; n < ARRAY_SIZE(known) && k; n++)
			ok = ok || strcmp(k, known[n]) == 0;
		if (!ok)
			return err_set(err, EINVAL, "unknown field '%.32s'", k ? k : "");
	}
	if ((e = get_str(j, "verb", 16, &verb, err)) < 0 ||
	    (e = get_str(j, "name", BROKER_NAME_MAX, &name, err)) < 0 ||
	    (e = get_str(j, "alg", 32, &alg, err)) < 0 ||
	    (e = get_str(j, "payload_b64", max_body / 3 * 4 + 8, &payload, err)) < 0 ||
	    (e = get_str(j, "method", 16, &method, err)) < 0 ||
	    (e = get_str(j, "url", BROKER_URL_MAX, &url, err)) < 0 ||
	    (e = get_str(j, "body_b64", max_body / 3 * 4 + 8, &body, err)) < 0)
		return e;
	big = (payload ? strlen(payload) : 0) + (body ? strlen(body) : 0);
	if (len - (big < len ? big : len) > BROKER_MAX_META)
		return err_set(err, EFBIG,
			       "the request without its payload is larger than %u bytes",
			       BROKER_MAX_META);
	if (!verb)
		return err_set(err, EINVAL, "\"verb\" is missing (\"sign\" or \"http\")");
	if (!name || !*name)
		return err_set(err, EINVAL, "\"name\" is missing (the granted secret's name)");
	r.name = xstrdup(name);
	if (strcmp(verb, "sign") == 0) {
		r.verb = REQ_SIGN;
		if (method || url || body || json_get(j, "headers"))
			return err_set(err, EINVAL, "sign takes name, alg and payload_b64 only");
		if (alg && strcmp(alg, "hmac-sha256") != 0 && strcmp(alg, "ed25519") != 0)
			return err_set(err, EINVAL, "alg '%s' is not hmac-sha256 or ed25519", alg);
		r.alg = xstrdup(alg ? alg : "hmac-sha256");
		if (!payload)
			return err_set(err, EINVAL, "\"payload_b64\" is missing");
		e = decode_b64("payload_b64", payload, max_body, &r.payload, &r.payload_len, err);
		if (e < 0)
			return e;
	} else if (strcmp(verb, "http") == 0) {
		r.verb = REQ_HTTP;
		if (alg || payload)
			return err_set(err, EINVAL,
				       "http takes name, method, url, headers and "
				       "body_b64 only");
		if (!method || !str_is_token(method))
			return err_set(err, EINVAL, "\"method\" is missing or not a token");
		if (!url)
			return err_set(err, EINVAL, "\"url\" is missing");
		r.method = xstrdup(method);
		r.url = xstrdup(url);
		if (json_get(j, "headers")) {
			e = parse_headers(json_get(j, "headers"), &r, err);
			if (e < 0)
				return e;
		}
		if (body) {
			e = decode_b64("body_b64", body, max_body, &r.body, &r.body_len, err);
			if (e < 0)
				return e;
		}
	} else
		return err_set(err, EINVAL, "verb '%.16s' is not sign or http", verb);
	*ret = r;
	r = (struct broker_req){ 0 };
	return 0;
}

void broker_req_release(struct broker_req *r)
{
	free(r->name);
	free(r->alg);
	free(r->payload);
	free(r->method);
	free(r->url);
	for (size_t i = 0; i < r->n_headers; i++)
		free(r->headers[i]);
	free(r->headers);
	free(r->body);
	*r = (struct broker_req){ 0 };
}

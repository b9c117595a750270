/* verbs.c - what a grant allows: the URL and header policy of the http verb, and signing. */
#include "broker/internal.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/cleanup.h"
#include "util/err.h"
#include "util/banned.h"

/* Headers that steer the connection or the framing: the broker and libcurl set them.
 * Host in particular would send the secret to another virtual host than the URL names;
 * the method overrides would turn a granted GET into a DELETE on servers that honour
 * them. */
static const char *const reserved[] = { "Host",
					"Content-Length",
					"Transfer-Encoding",
					"Connection",
					"Upgrade",
					"Proxy-Authorization",
					"Proxy-Connection",
					"TE",
					"Keep-Alive",
					"Trailer",
					"X-HTTP-Method-Override",
					"X-HTTP-Method",
					"X-Method-Override" };

int broker_http_check(const struct broker_grant *g, const struct broker_req *req,
		      struct broker_url *ret_url, struct err *err)
{
	struct broker_url u = { 0 };
	const char *inject = grant_header_name(g);
	int r;

	if (g->verb != BROKER_HTTP)
		return err_set(err, EACCES, "'%s' is granted for signing, not for http", g->name);
	if (!(broker_method_bit(req->method) & g->methods))
		return err_set(err, EACCES, "method '%.16s' is not granted for '%s'", req->method,
			       g->name);
	if (req->body && (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0))
		return err_set(err, EINVAL, "a body with %s", req->method);
	for (size_t i = 0; i < req->n_headers; i++) {
		const char *h = req->headers[i];
		size_t n = strcspn(h, ":");
		if (n == strlen(inject) && strncasecmp(h, inject, n) == 0)
			return err_set(err, EACCES,
				       "header '%s' is the one the broker injects for '%s'", inject,
				       g->name);
		for (size_t k = 0; k < sizeof(reserved) / sizeof(reserved[0]); k++)
			if (n == strlen(reserved[k]) && strncasecmp(h, reserved[k], n) == 0)
				return err_set(err, EACCES, "header '%s' is set by the broker",
					       reserved[k]);
	}
	r = broker_url_parse(req->url, &u, err);
	if (r < 0)
		return r;
	if (!broker_url_under(&u, &g->prefix)) {
		cleanup_free char *p = broker_url_format(&g->prefix);
		(void) err_set(err, EACCES,
			       "'%s://%s:%u%.200s' is not under the prefix '%s' granted for '%s'",
			       u.scheme, u.host, u.port, u.path, p, g->name);
		broker_url_release(&u);
		return -EACCES;
	}
	*ret_url = u;
	return 0;
}

int broker_sign(const struct broker_grant *g, const struct broker_req *req,
		struct broker_sign_result *ret, struct err *err)
{
	struct broker_sign_result res = { 0 };
	bool want_ed = strcmp(req->alg, "ed25519") == 0;
	const unsigned char *v;

	if (g->verb == BROKER_HTTP)
		return err_set(err, EACCES, "'%s' is granted for http, not for signing", g->name);
	if (want_ed != (g->verb == BROKER_SIGN_ED25519))
		return err_set(err, EACCES, "'%s' is granted for %s, not %s", g->name,
			       g->verb == BROKER_SIGN_ED25519 ? "ed25519" : "hmac-sha256",
			       req->alg);
	v = grant_open(g);
	if (want_ed) {
		unsigned char sig[crypto_sign_BYTES];
		(void) crypto_sign_detached(sig, NULL, req->payload, req->payload_len, v);
		(void) sodium_bin2hex(res.signature_hex, sizeof(res.signature_hex), sig,
				      sizeof(sig));
		/* The public half is the second 32 bytes of a libsodium secret key. */
		(void) sodium_bin2hex(res.public_key_hex, sizeof(res.public_key_hex), v + 32, 32);
	} else {
		crypto_auth_hmacsha256_state st;
		unsigned char mac[crypto_auth_hmacsha256_BYTES];
		(void) crypto_auth_hmacsha256_init(&st, v, g->value_len);
		(void) crypto_auth_hmacsha256_update(&st, req->payload, req->payload_len);
		(void) crypto_auth_hmacsha256_final(&st, mac);
		sodium_memzero(&st, sizeof(st));
		(void) sodium_bin2hex(res.signature_hex, sizeof(res.signature_hex), mac,
				      sizeof(mac));
	}
	grant_close(g);
	*ret = res;
	return 0;
}

uint64_t broker_now_ms(void)
{
	struct timespec ts;

	(void) clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

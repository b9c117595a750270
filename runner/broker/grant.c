/* grant.c - parsing --grant arguments and holding their values in locked memory. */
#include "broker/internal.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/err.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

DEFINE_CLEANUP(struct broker_grant *, broker_grant_free)

static pthread_mutex_t value_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const method_names[] = { "GET",   "HEAD",   "POST",	 "PUT",
					    "PATCH", "DELETE", "OPTIONS" };

unsigned broker_method_bit(const char *m)
{
	for (size_t i = 0; i < ARRAY_SIZE(method_names); i++)
		if (strcmp(m, method_names[i]) == 0)
			return 1u << i;
	return 0;
}

static bool valid_name(const char *s)
{
	if (!*s || strlen(s) > BROKER_NAME_MAX)
		return false;
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.'))
			return false;
	return true;
}

static int parse_methods(const char *v, unsigned *ret, struct err *err)
{
	cleanup_free char *copy = xstrdup(v);
	char *save = NULL;
	unsigned m = 0;

	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		unsigned b = broker_method_bit(t);
		if (!b)
			return err_set(err, EINVAL,
				       "methods: '%s' is not one of GET, HEAD, POST, PUT, PATCH, "
				       "DELETE, OPTIONS (upper case)",
				       t);
		m |= b;
	}
	if (!m)
		return err_set(err, EINVAL, "methods: empty list");
	*ret = m;
	return 0;
}

/* "X-Api-Key: {}" or "Authorization: token {}": a header name, a template with one {}. */
static int parse_header(struct broker_grant *g, const char *v, struct err *err)
{
	const char *colon = strchr(v, ':'), *val, *hole;

	if (!colon)
		return err_set(err, EINVAL, "header: expected 'Name: template with {}'");
	g->header_name = xstrndup(v, (size_t) (colon - v));
	if (!str_is_token(g->header_name))
		return err_set(err, EINVAL, "header: '%s' is not a header name", g->header_name);
	val = colon + 1;
	while (*val == ' ')
		val++;
	hole = strstr(val, "{}");
	if (!hole || strstr(hole + 2, "{}"))
		return err_set(err, EINVAL, "header: the template needs exactly one '{}'");
	for (const char *p = val; *p; p++)
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			return err_set(err, EINVAL, "header: a control byte in the template");
	g->tmpl_before = xstrndup(val, (size_t) (hole - val));
	g->tmpl_after = xstrdup(hole + 2);
	g->inject = INJECT_HEADER;
	return 0;
}

static int parse_http(struct broker_grant *g, const char *rest, struct err *err)
{
	const char *at = strchr(rest, '@'), *semi;
	cleanup_free char *url = NULL, *opts = NULL;
	char *save = NULL;
	bool have_inject = false;
	int r;

	if (!at)
		return err_set(err, EINVAL, "expected http:NAME@URL");
	g->name = xstrndup(rest, (size_t) (at - rest));
	semi = strchr(at + 1, ';');
	url = semi ? xstrndup(at + 1, (size_t) (semi - at - 1)) : xstrdup(at + 1);
	r = broker_url_parse(url, &g->prefix, err);
	if (r < 0)
		return err_wrap(err, "prefix");
	if (g->prefix.query)
		return err_set(err, EINVAL, "prefix: a query is not allowed in a prefix");
	g->methods = M_ALL;
	g->inject = INJECT_BEARER;
	if (!semi)
		return 0;
	opts = xstrdup(semi + 1);
	for (char *o = strtok_r(opts, ";", &save); o; o = strtok_r(NULL, ";", &save)) {
		if (str_startswith(o, "methods=")) {
			r = parse_methods(o + 8, &g->methods, err);
		} else if (str_startswith(o, "auth=") || str_startswith(o, "header=")) {
			if (have_inject)
				return err_set(err, EINVAL, "give one of auth= and header=, once");
			have_inject = true;
			if (strcmp(o, "auth=bearer") == 0)
				g->inject = INJECT_BEARER;
			else if (strcmp(o, "auth=basic") == 0)
				g->inject = INJECT_BASIC;
			else if (str_startswith(o, "header="))
				r = parse_header(g, o + 7, err);
			else
				return err_set(err, EINVAL, "auth: '%s' is not bearer or basic",
					       o + 5);
		} else
			return err_set(err, EINVAL,
				       "unknown option '%.32s' (methods=, auth=, header=)", o);
		if (r < 0)
			return r;
	}
	return 0;
}

int broker_grant_parse(const char *text, struct broker_grant **ret, struct err *err)
{
	CLEANUP(broker_grant_freep) struct broker_grant *g = xcalloc(1, sizeof(*g));
	int r;

	if (str_startswith(text, "sign:")) {
		const char *rest = text + 5, *semi = strchr(rest, ';');
		g->verb = BROKER_SIGN_HMAC;
		g->name = semi ? xstrndup(rest, (size_t) (semi - rest)) : xstrdup(rest);
		if (semi) {
			if (strcmp(semi + 1, "alg=ed25519") == 0)
				g->verb = BROKER_SIGN_ED25519;
			else if (strcmp(semi + 1, "alg=hmac-sha256") != 0)
				return err_set(err, EINVAL,
					       "grant '%.64s': expected ';alg=hmac-sha256' or "
					       "';alg=ed25519'",
					       text);
		}
	} else if (str_startswith(text, "http:")) {
		g->verb = BROKER_HTTP;
		r = parse_http(g, text + 5, err);
		if (r < 0)
			return err_wrap(err, "grant '%.128s'", text);
	} else
		return err_set(err, EINVAL,
			       "grant '%.64s': expected sign:NAME or http:NAME@URL "
			       "(see docs/broker.md)",
			       text);
	if (!valid_name(g->name))
		return err_set(err, EINVAL,
			       "grant '%.64s': the secret name must be 1-%d of A-Z a-z 0-9 _ - .",
			       text, BROKER_NAME_MAX);
	*ret = TAKE_PTR(g);
	return 0;
}

/* Ed25519 keys come as raw 32/64 bytes or as their hex; returns the raw length or 0. */
static size_t ed25519_raw(const unsigned char *v, size_t len, unsigned char out[64])
{
	size_t bin = 0;

	if (len == 32 || len == 64) {
		memcpy(out, v, len);
		return len;
	}
	if ((len == 64 * 2 || len == 32 * 2) &&
	    sodium_hex2bin(out, 64, (const char *) v, len, NULL, &bin, NULL) == 0 && bin == len / 2)
		return bin;
	return 0;
}

int broker_grant_set_value(struct broker_grant *g, const void *value, size_t len, struct err *err)
{
	unsigned char *copy;

	if (sodium_init() < 0)
		return err_set(err, EIO, "libsodium failed to initialise");
	if (len < BROKER_VALUE_MIN)
		return err_set(err, EINVAL,
			       "grant '%s': the value is shorter than %d bytes, too short to "
			       "scrub from responses",
			       g->name, BROKER_VALUE_MIN);
	if (len > BROKER_VALUE_MAX)
		return err_set(err, EINVAL, "grant '%s': the value is longer than %d bytes",
			       g->name, BROKER_VALUE_MAX);
	if (g->verb == BROKER_HTTP && g->inject != INJECT_BASIC)
		for (size_t i = 0; i < len; i++) {
			unsigned char c = ((const unsigned char *) value)[i];
			/* SECURITY: a CR or LF would end the header and start another. */
			if (c < 0x20 || c == 0x7f)
				return err_set(
					err, EINVAL,
					"grant '%s': the value has a control byte at offset "
					"%zu (a trailing newline?); it cannot go into a header",
					g->name, i);
		}
	if (g->verb == BROKER_SIGN_ED25519) {
		unsigned char raw[64], pk[32];
		size_t n = ed25519_raw(value, len, raw);
		if (n == 0) {
			sodium_memzero(raw, sizeof(raw));
			return err_set(err, EINVAL,
				       "grant '%s': an Ed25519 key is 32 bytes (seed) or 64 bytes "
				       "(secret key), raw or as hex",
				       g->name);
		}
		copy = sodium_malloc(64);
		if (!copy)
			abort();
		if (n == 32)
			(void) crypto_sign_seed_keypair(pk, copy, raw);
		else
			memcpy(copy, raw, 64);
		sodium_memzero(raw, sizeof(raw));
		len = 64;
	} else {
		copy = sodium_malloc(len);
		if (!copy)
			abort();
		memcpy(copy, value, len);
	}
	if (g->value)
		sodium_free(g->value);
	broker_scrub_release(&g->scrub);
	if (g->verb == BROKER_HTTP) {
		broker_scrub_add(&g->scrub, copy, len);
		(void) sodium_mprotect_noaccess(g->scrub.blob);
	}
	(void) sodium_mprotect_noaccess(copy);
	g->value = copy;
	g->value_len = len;
	return 0;
}

const unsigned char *grant_open(const struct broker_grant *g)
{
	struct broker_grant *m = (struct broker_grant *) g; /* only the use count changes */

	(void) pthread_mutex_lock(&value_lock);
	if (m->users++ == 0) {
		(void) sodium_mprotect_readonly(m->value);
		if (m->scrub.blob)
			(void) sodium_mprotect_readonly(m->scrub.blob);
	}
	(void) pthread_mutex_unlock(&value_lock);
	return g->value;
}

void grant_close(const struct broker_grant *g)
{
	struct broker_grant *m = (struct broker_grant *) g;

	(void) pthread_mutex_lock(&value_lock);
	if (--m->users == 0) {
		(void) sodium_mprotect_noaccess(m->value);
		if (m->scrub.blob)
			(void) sodium_mprotect_noaccess(m->scrub.blob);
	}
	(void) pthread_mutex_unlock(&value_lock);
}

void broker_secure_free(void *p)
{
	if (p)
		sodium_free(p);
}

const char *grant_header_name(const struct broker_grant *g)
{
	return g->inject == INJECT_HEADER ? g->header_name : "Authorization";
}

char *grant_header_line(const struct broker_grant *g)
{
	const unsigned char *v = grant_open(g);
	size_t b64 = sodium_base64_encoded_len(g->value_len, sodium_base64_VARIANT_ORIGINAL);
	size_t cap = strlen(grant_header_name(g)) + 32 + b64 +
		     (g->tmpl_before ? strlen(g->tmpl_before) + strlen(g->tmpl_after) : 0) +
		     g->value_len;
	char *line = sodium_malloc(cap), *p = line;

	if (!line)
		abort();
	p += snprintf(p, cap, "%s: ", grant_header_name(g));
	switch (g->inject) {
	case INJECT_BEARER:
		p += snprintf(p, cap - (size_t) (p - line), "Bearer ");
		memcpy(p, v, g->value_len);
		p[g->value_len] = '\0';
		break;
	case INJECT_BASIC:
		p += snprintf(p, cap - (size_t) (p - line), "Basic ");
		(void) sodium_bin2base64(p, b64, v, g->value_len, sodium_base64_VARIANT_ORIGINAL);
		break;
	case INJECT_HEADER:
		p += snprintf(p, cap - (size_t) (p - line), "%s", g->tmpl_before);
		memcpy(p, v, g->value_len);
		p += g->value_len;
		(void) snprintf(p, cap - (size_t) (p - line), "%s", g->tmpl_after);
		break;
	}
	grant_close(g);
	return line;
}

struct broker_grant *broker_grant_free(struct broker_grant *g)
{
	if (!g)
		return NULL;
	if (g->value)
		sodium_free(g->value); /* wipes */
	broker_scrub_release(&g->scrub);
	free(g->name);
	broker_url_release(&g->prefix);
	free(g->header_name);
	free(g->tmpl_before);
	free(g->tmpl_after);
	free(g);
	return NULL;
}

const char *broker_grant_name(const struct broker_grant *g)
{
	return g->name;
}

enum broker_verb broker_grant_verb(const struct broker_grant *g)
{
	return g->verb;
}

char *broker_grant_describe(const struct broker_grant *g)
{
	cleanup_free char *url = NULL;
	char methods[64] = "";
	size_t o = 0;

	if (g->verb == BROKER_SIGN_HMAC)
		return xasprintf("sign:%s alg=hmac-sha256", g->name);
	if (g->verb == BROKER_SIGN_ED25519)
		return xasprintf("sign:%s alg=ed25519", g->name);
	url = broker_url_format(&g->prefix);
	for (size_t i = 0; i < ARRAY_SIZE(method_names); i++)
		if (g->methods & (1u << i))
			o += (size_t) snprintf(methods + o, sizeof(methods) - o, "%s%s",
					       o ? "," : "", method_names[i]);
	if (g->inject == INJECT_HEADER)
		return xasprintf("http:%s@%s methods=%s inject='%s: %s{}%s'", g->name, url, methods,
				 g->header_name, g->tmpl_before, g->tmpl_after);
	return xasprintf("http:%s@%s methods=%s inject='Authorization: %s'", g->name, url, methods,
			 g->inject == INJECT_BASIC ? "Basic base64({})" : "Bearer {}");
}

/* url.c - the URL policy: parse strictly, normalise, compare with a grant's prefix. */
#include "broker/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/cleanup.h"
#include "util/err.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

static bool is_unreserved(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A canonical dotted quad: four decimal parts 0-255 without leading zeros. */
static bool is_dotted_quad(const char *h)
{
	int parts = 0;

	for (const char *p = h;; p++) {
		const char *start = p;
		unsigned v = 0;
		while (*p >= '0' && *p <= '9') {
			v = v * 10 + (unsigned) (*p - '0');
			if (v > 255 || p - start > 2)
				return false;
			p++;
		}
		if (p == start || (p - start > 1 && *start == '0'))
			return false;
		parts++;
		if (*p == '\0')
			return parts == 4;
		if (*p != '.' || parts == 4)
			return false;
	}
}

static int check_host(char *h, struct err *err)
{
	const char *last;
	bool numeric = true;

	if (!*h)
		return err_set(err, EINVAL, "the host is empty");
	if (h[0] == '[')
		return err_set(err, EINVAL, "IPv6 literals are not supported; name the host");
	if (strlen(h) > 253)
		return err_set(err, EINVAL, "the host is longer than 253 bytes");
	for (char *p = h; *p; p++) {
		if (*p == '%')
			return err_set(err, EINVAL, "percent-encoded bytes in the host");
		if ((unsigned char) *p >= 0x80)
			return err_set(err, EINVAL,
				       "non-ASCII host: write an internationalised name in its "
				       "xn-- form");
		if (*p >= 'A' && *p <= 'Z')
			*p = (char) (*p - 'A' + 'a');
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '.'))
			return err_set(err, EINVAL, "byte 0x%02x is not allowed in a host",
				       (unsigned char) *p);
	}
	if (h[0] == '.' || str_endswith(h, ".") || strstr(h, ".."))
		return err_set(err, EINVAL, "the host has an empty label");
	/* What resolvers read as an IPv4 address (the last label numeric, 0x.., 017, a
	 * plain 2130706433) must be written as a canonical dotted quad, or the name in the
	 * grant and the address the request reaches could differ. */
	last = strrchr(h, '.');
	last = last ? last + 1 : h;
	for (const char *p = last; *p; p++)
		if (!((*p >= '0' && *p <= '9') || *p == 'x' || (*p >= 'a' && *p <= 'f')))
			numeric = false;
	if (numeric && ((last[0] >= '0' && last[0] <= '9')) && !is_dotted_quad(h))
		return err_set(err, EINVAL,
			       "the host looks like an IPv4 address in a non-canonical form");
	return 0;
}

/* Decode unreserved escapes, upper-case the others, refuse %2F %5C %00 and bad escapes,
 * then resolve dot segments. -EINVAL when ".." would climb above the root. */
static int normalise_path(const char *in, size_t len, char **ret, struct err *err)
{
	cleanup_free char *dec = xmalloc(len + 2), *out = NULL;
	size_t n = 0, o = 0;
	const char *seg;

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char) in[i];
		if (c == '%') {
			int hi = i + 2 < len ? hexval(in[i + 1]) : -1;
			int lo = i + 2 < len ? hexval(in[i + 2]) : -1;
			if (hi < 0 || lo < 0)
				return err_set(err, EINVAL, "a bad percent-escape in the path");
			c = hi * 16 + lo;
			if (c == '/' || c == '\\' || c == 0)
				return err_set(err, EINVAL,
					       "an encoded '/', '\\' or NUL in the path");
			if (is_unreserved(c))
				dec[n++] = (char) c;
			else {
				/* Kept escaped, in canonical (upper) case: never longer. */
				static const char hex[] = "0123456789ABCDEF";
				dec[n++] = '%';
				dec[n++] = hex[c >> 4];
				dec[n++] = hex[c & 15];
			}
			i += 2;
			continue;
		}
		dec[n++] = (char) c;
	}
	dec[n] = '\0';
	out = xmalloc(n + 2);
	/* Dot segments (RFC 3986 5.2.4), one segment at a time. */
	seg = dec;
	while (*seg) {
		const char *end;
		size_t slen;
		seg++; /* past '/' */
		end = strchr(seg, '/');
		slen = end ? (size_t) (end - seg) : strlen(seg);
		if (slen == 1 && seg[0] == '.') {
			if (!end)
				out[o++] = '/';
		} else if (slen == 2 && seg[0] == '.' && seg[1] == '.') {
			if (o == 0)
				return err_set(err, EINVAL,
					       "'..' climbs above the root of the path");
			while (o > 0 && out[o - 1] != '/')
				o--;
			o--; /* the '/' */
			if (!end)
				out[o++] = '/';
		} else {
			out[o++] = '/';
			memcpy(out + o, seg, slen);
			o += slen;
		}
		seg += slen;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	*ret = TAKE_PTR(out);
	return 0;
}

int broker_url_parse(const char *text, struct broker_url *ret, struct err *err)
{
	struct broker_url u = { 0 };
	const char *p, *auth, *auth_end, *path_end;
	cleanup_free char *host = NULL, *path = NULL;
	unsigned port = 0;
	size_t len = strlen(text);
	int r;

	if (len > BROKER_URL_MAX)
		return err_set(err, EINVAL, "URL longer than %d bytes", BROKER_URL_MAX);
	for (p = text; *p; p++) {
		unsigned char c = (unsigned char) *p;
		if (c <= 0x20 || c >= 0x7f)
			return err_set(err, EINVAL,
				       "URL: byte 0x%02x (control, space or non-ASCII) at %zu", c,
				       (size_t) (p - text));
		if (c == '\\')
			return err_set(err, EINVAL, "URL: a backslash at %zu", (size_t) (p - text));
	}
	if (strncasecmp(text, "https://", 8) == 0) {
		(void) str_copy(u.scheme, sizeof(u.scheme), "https");
		auth = text + 8;
		port = 443;
	} else if (strncasecmp(text, "http://", 7) == 0) {
		(void) str_copy(u.scheme, sizeof(u.scheme), "http");
		auth = text + 7;
		port = 80;
	} else
		return err_set(err, EINVAL, "URL: only http:// and https:// (in '%.64s')", text);
	auth_end = auth + strcspn(auth, "/?#");
	if (memchr(auth, '@', (size_t) (auth_end - auth)))
		return err_set(err, EINVAL,
			       "URL: user information ('@' before the path) is not allowed");
	if (*auth == '[')
		return err_set(err, EINVAL, "URL: IPv6 literals are not supported; name the host");
	/* host[:port] */
	{
		const char *colon = memchr(auth, ':', (size_t) (auth_end - auth));
		host = xstrndup(auth, (size_t) ((colon ? colon : auth_end) - auth));
		if (colon) {
			cleanup_free char *ps =
				xstrndup(colon + 1, (size_t) (auth_end - colon - 1));
			if (safe_atou(ps, &port) < 0 || port == 0 || port > 65535 || (ps[0] == '0'))
				return err_set(err, EINVAL, "URL: bad port '%.16s'", ps);
		}
	}
	r = check_host(host, err);
	if (r < 0)
		return err_wrap(err, "URL");
	path_end = auth_end + strcspn(auth_end, "?#");
	if (path_end == auth_end)
		path = xstrdup("/");
	else {
		r = normalise_path(auth_end, (size_t) (path_end - auth_end), &path, err);
		if (r < 0)
			return err_wrap(err, "URL");
	}
	if (*path_end == '?') {
		const char *q = path_end + 1;
		u.query = xstrndup(q, strcspn(q, "#"));
	}
	u.host = TAKE_PTR(host);
	u.port = port;
	u.path = TAKE_PTR(path);
	*ret = u;
	return 0;
}

void broker_url_release(struct broker_url *u)
{
	free(u->host);
	free(u->path);
	free(u->query);
	*u = (struct broker_url){ 0 };
}

bool broker_url_under(const struct broker_url *u, const struct broker_url *prefix)
{
	size_t n = strlen(prefix->path);

	if (strcmp(u->scheme, prefix->scheme) != 0 || strcmp(u->host, prefix->host) != 0 ||
	    u->port != prefix->port)
		return false;
	if (strncmp(u->path, prefix->path, n) != 0)
		return false;
	/* "/v1" covers "/v1" and "/v1/..." but not "/v10"; "/v1/" covers "/v1/..." only. */
	return prefix->path[n - 1] == '/' || u->path[n] == '\0' || u->path[n] == '/';
}

char *broker_url_format(const struct broker_url *u)
{
	return xasprintf("%s://%s:%u%s%s%s", u->scheme, u->host, u->port, u->path,
			 u->query ? "?" : "", u->query ? u->query : "");
}

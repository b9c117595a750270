/* proxy-parse.c - what the egress proxy decides before it dials: the request head (a
 * CONNECT or an absolute-form http:// request), the host name rules, the --allow-host
 * list and the address policy. Pure functions on bytes: unit-tested and fuzzed.
 *
 * SECURITY: every byte here comes from the job. A request passes only if it is plainly
 * one thing: one request line, CRLF-terminated headers without NUL or bare CR/LF, a host
 * that is a DNS name (never an IP literal in any notation, never percent-encoded or
 * non-ASCII) and a port in range. Anything else is refused, not repaired. */
#include "net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "net/internal.h"
#include "util/err.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

struct net_allow_rule {
	char *name;    /* normalised; for a wildcard, the suffix after "*." */
	bool wildcard; /* "*.suffix": any name ending in ".suffix", not suffix itself */
	unsigned port; /* 0: 80 and 443 */
};

struct net_allow {
	struct net_allow_rule *rules;
	size_t n;
	bool allow_private;
	char **patterns; /* as given */
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_tchar(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* A port: 1 to 5 decimal digits without a leading zero, 1..65535. */
static int parse_port(const char *s, size_t len, unsigned *ret, struct err *err)
{
	unsigned v = 0;

	if (len == 0 || len > 5 || s[0] == '0')
		return err_set(err, EINVAL, "port must be a number from 1 to 65535");
	for (size_t i = 0; i < len; i++) {
		if (!is_digit(s[i]))
			return err_set(err, EINVAL, "port must be a number from 1 to 65535");
		v = v * 10 + (unsigned) (s[i] - '0');
	}
	if (v > 65535)
		return err_set(err, EINVAL, "port must be a number from 1 to 65535");
	*ret = v;
	return 0;
}

/* Whether a label reads as a number to some resolver or URL parser: decimal, 0x-hex or
 * octal. inet_aton() takes "127.1", "2130706433", "0x7f.1" and "017700000001"; the URL
 * standard treats a host whose last label is numeric as IPv4. */
static bool label_is_numeric(const char *s, size_t len)
{
	if (len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		for (size_t i = 2; i < len; i++)
			if (!is_hex(s[i]))
				return false;
		return true;
	}
	for (size_t i = 0; i < len; i++)
		if (!is_digit(s[i]))
			return false;
	return len > 0;
}

int net_host_normalize(const char *in, size_t len, char out[NET_HOST_MAX + 1], struct err *err)
{
	size_t label = 0, last = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char) in[i];
		if (c >= 0x80)
			return err_set(err, EPERM,
				       "host name is not ASCII: use its punycode "
				       "('xn--') form");
		if (c == '%')
			return err_set(err, EPERM, "percent-encoding in the host name");
		if (c == '@')
			return err_set(err, EPERM, "user info ('@') in the host");
		if (c == '[' || c == ']' || c == ':')
			return err_set(err, EPERM, "IPv6 address literal: name the host instead");
	}
	if (len > 0 && in[len - 1] == '.')
		len--; /* "example.com." is "example.com" */
	if (len == 0)
		return err_set(err, EINVAL, "empty host name");
	if (len > NET_HOST_MAX)
		return err_set(err, EINVAL, "host name longer than %d characters", NET_HOST_MAX);
	for (size_t i = 0; i <= len; i++) {
		char c = i < len ? in[i] : '.';
		if (c == '.') {
			if (label == 0)
				return err_set(err, EINVAL, "empty label in the host name ('..')");
			if (label > 63)
				return err_set(err, EINVAL,
					       "host name label longer than 63 characters");
			if (out[i - 1] == '-' || out[i - label] == '-')
				return err_set(err, EINVAL,
					       "host name label starts or ends with '-'");
			if (i < len)
				out[i] = '.';
			last = i - label;
			label = 0;
			continue;
		}
		if (c >= 'A' && c <= 'Z')
			c = (char) (c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || is_digit(c) || c == '-'))
			return err_set(err, EINVAL,
				       "character 0x%02x not allowed in a host name "
				       "(letters, digits, '-' and '.')",
				       (unsigned char) in[i]);
		out[i] = c;
		label++;
	}
	out[len] = '\0';
	if (label_is_numeric(out + last, len - last))
		return err_set(err, EPERM, "IP address literal: name the host instead");
	return 0;
}

int net_allow_new(char *const *patterns, bool allow_private, struct net_allow **ret,
		  struct err *err)
{
	struct net_allow *a = xcalloc(1, sizeof(*a));

	a->allow_private = allow_private;
	a->patterns = patterns ? strv_copy(patterns) : xcalloc(1, sizeof(char *));
	for (size_t i = 0; patterns && patterns[i]; i++) {
		const char *p = patterns[i], *colon = strrchr(p, ':');
		size_t hlen = colon ? (size_t) (colon - p) : strlen(p);
		struct net_allow_rule rule = { 0 };
		char host[NET_HOST_MAX + 1];
		int r;

		if (strcmp(p, "*") == 0 || (hlen == 1 && p[0] == '*')) {
			(void) net_allow_free(a);
			return err_set(err, EINVAL,
				       "--allow-host '%s': '*' would grant every host; "
				       "name the hosts (or '*.example.com')",
				       p);
		}
		if (hlen >= 2 && p[0] == '*' && p[1] == '.') {
			rule.wildcard = true;
			p += 2;
			hlen -= 2;
		}
		if (memchr(p, '*', hlen)) {
			(void) net_allow_free(a);
			return err_set(err, EINVAL,
				       "--allow-host '%s': '*' only as the first "
				       "label, as in '*.example.com'",
				       patterns[i]);
		}
		r = net_host_normalize(p, hlen, host, err);
		if (r == 0 && colon)
			r = parse_port(colon + 1, strlen(colon + 1), &rule.port, err);
		if (r < 0) {
			(void) net_allow_free(a);
			return err_wrap(err,
					"--allow-host '%s' (write NAME, *.SUFFIX or NAME:PORT)",
					patterns[i]);
		}
		rule.name = xstrdup(host);
		a->rules = xrealloc(a->rules, (a->n + 1) * sizeof(*a->rules));
		a->rules[a->n++] = rule;
	}
	*ret = a;
	return 0;
}

struct net_allow *net_allow_free(struct net_allow *a)
{
	if (!a)
		return NULL;
	for (size_t i = 0; i < a->n; i++)
		free(a->rules[i].name);
	free(a->rules);
	strv_free(a->patterns);
	free(a);
	return NULL;
}

char *const *net_allow_patterns(const struct net_allow *a)
{
	return a->patterns;
}

bool net_allow_private(const struct net_allow *a)
{
	return a->allow_private;
}

bool net_allow_match(const struct net_allow *a, const char *host, unsigned port, bool *ret_exact)
{
	bool match = false, exact = false;
	size_t hlen = strlen(host);

	for (size_t i = 0; i < a->n; i++) {
		const struct net_allow_rule *rule = &a->rules[i];
		size_t n = strlen(rule->name);
		bool name_ok;

		if (rule->port ? port != rule->port : port != 80 && port != 443)
			continue;
		if (rule->wildcard)
			name_ok = hlen > n + 1 && host[hlen - n - 1] == '.' &&
				  memcmp(host + hlen - n, rule->name, n) == 0;
		else
			name_ok = strcmp(host, rule->name) == 0;
		if (!name_ok)
			continue;
		match = true;
		exact |= !rule->wildcard;
	}
	if (ret_exact)
		*ret_exact = exact;
	return match;
}

static const char *v4_forbidden(uint32_t a, bool private_ok)
{
	static const struct {
		uint32_t net, mask;
		bool hard; /* even with --allow-private-egress */
		const char *why;
	} ranges[] = {
		{ 0x00000000, 0xff000000, true, "unspecified ('this network', 0.0.0.0/8)" },
		{ 0xe0000000, 0xf0000000, true, "multicast" },
		{ 0xffffffff, 0xffffffff, true, "broadcast" },
		{ 0xf0000000, 0xf0000000, true, "reserved (240.0.0.0/4)" },
		{ 0x7f000000, 0xff000000, false, "loopback" },
		{ 0x0a000000, 0xff000000, false, "private (10.0.0.0/8)" },
		{ 0xac100000, 0xfff00000, false, "private (172.16.0.0/12)" },
		{ 0xc0a80000, 0xffff0000, false, "private (192.168.0.0/16)" },
		{ 0x64400000, 0xffc00000, false, "shared (100.64.0.0/10)" },
		{ 0xa9fe0000, 0xffff0000, false, "link-local (169.254.0.0/16, cloud metadata)" },
		{ 0xc0000000, 0xffffff00, false, "IETF protocol assignments (192.0.0.0/24)" },
		{ 0xc0000200, 0xffffff00, false, "documentation (192.0.2.0/24)" },
		{ 0xc6336400, 0xffffff00, false, "documentation (198.51.100.0/24)" },
		{ 0xcb007100, 0xffffff00, false, "documentation (203.0.113.0/24)" },
		{ 0xc6120000, 0xfffe0000, false, "benchmarking (198.18.0.0/15)" },
		{ 0xc0586300, 0xffffff00, false, "6to4 relay (192.88.99.0/24)" },
	};

	for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++)
		if ((a & ranges[i].mask) == ranges[i].net && (ranges[i].hard || !private_ok))
			return ranges[i].why;
	return NULL;
}

const char *net_addr_forbidden(const struct sockaddr *sa, bool private_ok)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *) sa;
		return v4_forbidden(ntohl(s4->sin_addr.s_addr), private_ok);
	}
	if (sa->sa_family != AF_INET6)
		return "not an internet address";
	const uint8_t *b = ((const struct sockaddr_in6 *) sa)->sin6_addr.s6_addr;
	static const uint8_t zero[16];
	uint32_t embedded;

	if (memcmp(b, zero, 15) == 0 && (b[15] == 0 || b[15] == 1))
		return b[15] == 0 ? "unspecified (::)" : (private_ok ? NULL : "loopback (::1)");
	if (memcmp(b, zero, 10) == 0 && b[10] == 0xff && b[11] == 0xff)
		return "IPv4-mapped IPv6 (::ffff:0:0/96)";
	if (memcmp(b, zero, 12) == 0)
		return "IPv4-compatible IPv6 (::/96)";
	if (b[0] == 0xff)
		return "multicast (ff00::/8)";
	if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) {
		/* NAT64 (64:ff9b::/96 and the local-use /48): judge the IPv4 inside. */
		memcpy(&embedded, b + 12, 4);
		return v4_forbidden(ntohl(embedded), private_ok) ? "NAT64 of a refused IPv4 "
								   "address"
								 : NULL;
	}
	if (b[0] == 0x20 && b[1] == 0x02) {
		memcpy(&embedded, b + 2, 4);
		return v4_forbidden(ntohl(embedded), private_ok) ? "6to4 of a refused IPv4 "
								   "address"
								 : NULL;
	}
	if (private_ok)
		return NULL;
	if ((b[0] & 0xfe) == 0xfc)
		return "unique local (fc00::/7)";
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return "link-local (fe80::/10)";
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
		return "site-local (fec0::/10)";
	if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x00 && b[3] == 0x00)
		return "Teredo (2001::/32)";
	if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8)
		return "documentation (2001:db8::/32)";
	if (memcmp(b, "\x01\x00\x00\x00\x00\x00\x00\x00", 8) == 0)
		return "discard (100::/64)";
	return NULL;
}

void net_request_release(struct net_request *r)
{
	free(r->forward);
	r->forward = NULL;
	r->forward_len = 0;
}

int net_request_status(int r)
{
	switch (r) {
	case 0:
		return 200;
	case -EPERM:
		return 403;
	case -EOPNOTSUPP:
		return 405;
	case -EMSGSIZE:
		return 431;
	default:
		return 400;
	}
}

/* Methods forwarded as plain http (CONNECT is the tunnel). TRACE would echo headers
 * back; anything unknown is refused. */
static bool method_forwarded(const char *m)
{
	static const char *const ok[] = {
		"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (strcmp(m, ok[i]) == 0)
			return true;
	return false;
}

/* Headers that belong to one hop (ours), not to the origin. The origin gets our own
 * Host and Connection. */
static bool header_dropped(const char *name, size_t n)
{
	static const char *const hop[] = { "connection",
					   "proxy-connection",
					   "keep-alive",
					   "proxy-authorization",
					   "proxy-authenticate",
					   "te",
					   "trailer",
					   "upgrade",
					   "host" };

	for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		if (strlen(hop[i]) == n && strncasecmp(name, hop[i], n) == 0)
			return true;
	return false;
}

/* A path segment that is "." or ".." once percent-decoded. */
static bool dot_segment(const char *s, size_t n)
{
	size_t dots = 0;

	for (size_t i = 0; i < n;) {
		if (s[i] == '.') {
			i++;
		} else if (n - i >= 3 && s[i] == '%' && s[i + 1] == '2' &&
			   (s[i + 2] == 'e' || s[i + 2] == 'E')) {
			i += 3;
		} else {
			return false;
		}
		dots++;
	}
	return dots == 1 || dots == 2;
}

static int check_path(const char *p, size_t n, struct err *err)
{
	size_t q = 0;

	while (q < n && p[q] != '?')
		q++;
	for (size_t i = 0; i < q;) {
		size_t j = i + 1;
		while (j < q && p[j] != '/')
			j++;
		if (dot_segment(p + i + 1, j - i - 1))
			return err_set(err, EPERM, "dot segment ('.' or '..') in the path");
		i = j;
	}
	return 0;
}

/* Split "host[:port]" (no brackets: IPv6 literals are refused by net_host_normalize). */
static int parse_authority(const char *s, size_t n, bool need_port, struct net_request *r,
			   struct err *err)
{
	const char *colon = memchr(s, ':', n);
	size_t hlen = colon ? (size_t) (colon - s) : n;
	int k;

	if (memchr(s, '@', n))
		return err_set(err, EPERM, "user info ('@') in the URL");
	if (n > 0 && s[0] == '[')
		return err_set(err, EPERM, "IPv6 address literal: name the host instead");
	if (colon && memchr(colon + 1, ':', n - hlen - 1))
		return err_set(err, EPERM, "more than one ':' in the host");
	k = net_host_normalize(s, hlen, r->host, err);
	if (k < 0) {
		/* Keep a printable copy of what was asked, for the audit line. */
		size_t m = 0;
		for (size_t i = 0; i < hlen && m < 64; i++)
			r->host[m++] = s[i] > 0x20 && s[i] < 0x7f ? s[i] : '?';
		r->host[m] = '\0';
		return k;
	}
	if (colon)
		return parse_port(colon + 1, n - hlen - 1, &r->port, err);
	if (need_port)
		return err_set(err, EINVAL, "CONNECT needs host:port");
	r->port = 80;
	return 0;
}

/* Find the end of the head ("\r\n\r\n") and refuse NUL and bare CR or LF before it. */
static int find_head(const char *buf, size_t len, size_t *ret_end, struct err *err)
{
	for (size_t i = 0; i < len && i < NET_HEAD_MAX; i++) {
		if (buf[i] == '\0')
			return err_set(err, EINVAL, "NUL byte in the request head");
		if (buf[i] == '\r' && i + 1 < len && buf[i + 1] != '\n')
			return err_set(err, EINVAL, "bare CR in the request head");
		if (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r'))
			return err_set(err, EINVAL,
				       "bare LF in the request head (lines end in CRLF)");
		if (buf[i] == '\n' && i >= 3 && buf[i - 2] == '\n') {
			*ret_end = i + 1;
			return 0;
		}
	}
	if (len >= NET_HEAD_MAX)
		return err_set(err, EMSGSIZE, "request head larger than %d bytes", NET_HEAD_MAX);
	return -EAGAIN;
}

static int parse_request_line(const char *s, size_t n, struct net_request *r,
			      const char **ret_target, size_t *ret_tlen, struct err *err)
{
	const char *sp1 = memchr(s, ' ', n), *sp2;
	size_t mlen;

	if (!sp1)
		return err_set(err, EINVAL, "malformed request line");
	mlen = (size_t) (sp1 - s);
	if (mlen == 0 || mlen >= sizeof(r->method))
		return err_set(err, EINVAL, "malformed request method");
	for (size_t i = 0; i < mlen; i++)
		if (s[i] < 'A' || s[i] > 'Z')
			return err_set(err, EINVAL, "malformed request method");
	memcpy(r->method, s, mlen);
	r->method[mlen] = '\0';
	sp2 = memchr(sp1 + 1, ' ', n - mlen - 1);
	if (!sp2 || sp2 == sp1 + 1)
		return err_set(err, EINVAL, "malformed request line");
	if ((size_t) (s + n - sp2 - 1) != 8 ||
	    (memcmp(sp2 + 1, "HTTP/1.1", 8) != 0 && memcmp(sp2 + 1, "HTTP/1.0", 8) != 0))
		return err_set(err, EINVAL, "not an HTTP/1.0 or HTTP/1.1 request");
	for (const char *p = sp1 + 1; p < sp2; p++) {
		if ((unsigned char) *p >= 0x80)
			return err_set(err, EPERM,
				       "non-ASCII byte in the URL: use punycode "
				       "for the host and percent-encoding in the path");
		if (*p <= 0x20 || *p == 0x7f)
			return err_set(err, EINVAL, "control byte or space in the URL");
	}
	*ret_target = sp1 + 1;
	*ret_tlen = (size_t) (sp2 - sp1 - 1);
	return 0;
}

int net_request_parse(const char *buf, size_t len, struct net_request *r, struct err *err)
{
	const char *target = buf, *line_end, *p, *end;
	size_t head_end = 0, tlen = 0, path_off, nheaders = 0;
	unsigned content_length = 0, transfer_encoding = 0;
	char *out = NULL;
	size_t out_len = 0;
	int k;

	memset(r, 0, sizeof(*r));
	k = find_head(buf, len, &head_end, err);
	if (k < 0)
		return k;
	end = buf + head_end;
	line_end = memmem(buf, head_end, "\r\n", 2);
	k = parse_request_line(buf, (size_t) (line_end - buf), r, &target, &tlen, err);
	if (k < 0)
		return k;

	/* Headers: "Name: value" lines, no folding, no control bytes but HTAB. */
	for (p = line_end + 2; p < end - 2;) {
		const char *eol = memmem(p, (size_t) (end - p), "\r\n", 2), *colon;
		size_t nlen;

		if (++nheaders > NET_HEADERS_MAX)
			return err_set(err, EINVAL, "more than %d headers", NET_HEADERS_MAX);
		colon = memchr(p, ':', (size_t) (eol - p));
		if (!colon || colon == p)
			return err_set(err, EINVAL, "malformed header line");
		nlen = (size_t) (colon - p);
		for (size_t i = 0; i < nlen; i++)
			if (!is_tchar(p[i]))
				return err_set(err, EINVAL, "malformed header name");
		for (const char *v = colon + 1; v < eol; v++)
			if ((*v < 0x20 && *v != '\t' && *v >= 0) || *v == 0x7f)
				return err_set(err, EINVAL, "control byte in a header value");
		if (nlen == 14 && strncasecmp(p, "content-length", 14) == 0)
			content_length++;
		if (nlen == 17 && strncasecmp(p, "transfer-encoding", 17) == 0)
			transfer_encoding++;
		p = eol + 2;
	}
	if (content_length > 1 || (content_length && transfer_encoding))
		return err_set(err, EINVAL,
			       "ambiguous body length (Content-Length twice, or "
			       "with Transfer-Encoding)");

	if (strcmp(r->method, "CONNECT") == 0) {
		k = parse_authority(target, tlen, true, r, err);
		if (k < 0)
			return k;
		r->kind = NET_REQ_CONNECT;
		r->head_len = head_end;
		return 0;
	}
	if (tlen >= 8 && strncasecmp(target, "https://", 8) == 0)
		return err_set(err, EINVAL,
			       "https:// URL in a plain request: https goes through "
			       "CONNECT (set HTTPS_PROXY)");
	if (tlen < 7 || strncasecmp(target, "http://", 7) != 0)
		return err_set(err, EINVAL,
			       "not an absolute http:// URL: this is a proxy "
			       "(set HTTP_PROXY)");
	if (memchr(target, '#', tlen))
		return err_set(err, EINVAL, "fragment ('#') in the URL");
	path_off = 7;
	while (path_off < tlen && target[path_off] != '/' && target[path_off] != '?')
		path_off++;
	k = parse_authority(target + 7, path_off - 7, false, r, err);
	if (k < 0)
		return k;
	if (!method_forwarded(r->method))
		return err_set(err, EOPNOTSUPP, "method '%s' is not forwarded", r->method);
	k = check_path(target + path_off, tlen - path_off, err);
	if (k < 0)
		return k;

	/* The origin-form head: request line, our Host, the end-to-end headers, close. */
	char hostport[NET_HOST_MAX + 8];
	if (r->port == 80)
		(void) snprintf(hostport, sizeof(hostport), "%s", r->host);
	else
		(void) snprintf(hostport, sizeof(hostport), "%s:%u", r->host, r->port);
	out = xasprintf("%s %s%.*s HTTP/1.1\r\nHost: %s\r\n", r->method,
			path_off == tlen || target[path_off] == '?' ? "/" : "",
			(int) (tlen - path_off), target + path_off, hostport);
	out_len = strlen(out);
	out = xrealloc(out, out_len + (size_t) (end - line_end) + 32);
	for (p = line_end + 2; p < end - 2;) {
		const char *eol = memmem(p, (size_t) (end - p), "\r\n", 2);
		const char *colon = memchr(p, ':', (size_t) (eol - p));
		if (!header_dropped(p, (size_t) (colon - p))) {
			memcpy(out + out_len, p, (size_t) (eol - p) + 2);
			out_len += (size_t) (eol - p) + 2;
		}
		p = eol + 2;
	}
	memcpy(out + out_len, "Connection: close\r\n\r\n", 22); /* with its NUL */
	out_len += 21;
	r->kind = NET_REQ_FORWARD;
	r->forward = out;
	r->forward_len = out_len;
	r->head_len = head_end;
	return 0;
}

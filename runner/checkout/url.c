/* url.c - remote URLs taken apart and normalised (what names a mirror, what is fetched,
 * which userinfo is a credential), and the rules for names inside trees. No libgit2 here:
 * the fuzz target links this file alone. */
#include "checkout/internal.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/cleanup.h"
#include "util/err.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

void checkout_url_release(struct checkout_url *u)
{
	free(u->key);
	free(u->fetch);
	if (u->password)
		explicit_bzero(u->password, strlen(u->password));
	free(u->user);
	free(u->password);
	free(u->host);
	*u = (struct checkout_url){ 0 };
}

const char *checkout_printable(const char *s, char *buf, size_t size)
{
	size_t n = strlen(s), head = n, j = 0;

	if (n >= size) /* keep both ends: "start...end" */
		head = (size - 4) / 2;
	for (size_t i = 0; i < n && j + 1 < size; i++) {
		unsigned char c = (unsigned char) s[i];
		if (i == head && n >= size) {
			memcpy(buf + j, "...", 3);
			j += 3;
			i = n - (size - 1 - j);
			c = (unsigned char) s[i];
		}
		buf[j++] = (c < 0x20 || c == 0x7f) ? '?' : (char) c;
	}
	buf[j] = '\0';
	return buf;
}

bool checkout_is_oid(const char *s)
{
	size_t i;

	for (i = 0; i < 40; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[i] == '\0';
}

/* ".git" as NTFS and HFS would also read it: any case, trailing dots and spaces. */
static bool is_dotgit(const char *name, size_t len)
{
	while (len > 4 && (name[len - 1] == '.' || name[len - 1] == ' '))
		len--;
	return (len == 4 && strncasecmp(name, ".git", 4) == 0) ||
	       (len == 5 && strncasecmp(name, "git~1", 5) == 0);
}

const char *checkout_check_name(const char *name, size_t len, bool is_symlink)
{
	if (len == 0)
		return "empty name";
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return "'.' or '..' leaves the tree";
	if (len > 255)
		return "name longer than 255 bytes";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char) name[i];
		if (c == '/')
			return "'/' inside a name";
		if (c == '\\')
			return "backslash in a name";
		if (c < 0x20 || c == 0x7f)
			return "control character in a name";
	}
	if (is_dotgit(name, len))
		return "'.git' inside the tree";
	if (is_symlink && len == 11 && strncasecmp(name, ".gitmodules", 11) == 0)
		return "'.gitmodules' is a symlink";
	return NULL;
}

/* "https://<redacted>@host/x" for messages: the userinfo of a refused URL is never shown. */
static void shown_url(const char *url, char *buf, size_t size)
{
	const char *sep = strstr(url, "://");
	const char *end = sep ? sep + 3 + strcspn(sep + 3, "/") : NULL;
	const char *at = NULL;
	cleanup_free char *tmp = NULL;

	if (!sep) /* scp-like "user@host:path": the user part is shown redacted too */
		end = url + strcspn(url, "/");
	for (const char *p = sep ? sep + 3 : url; p < end; p++)
		if (*p == '@')
			at = p;
	tmp = at ? xasprintf("%.*s<redacted>%s", sep ? (int) (sep + 3 - url) : 0, url, at)
		 : xstrdup(url);
	checkout_printable(tmp, buf, size);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char) tolower((unsigned char) c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* %XX-decode n bytes of s into a new string; NULL when malformed or decoding to NUL. */
static char *pct_decode(const char *s, size_t n)
{
	cleanup_free char *out = xmalloc(n + 1);
	size_t j = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			out[j++] = s[i];
			continue;
		}
		if (i + 2 >= n || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
			return NULL;
		out[j] = (char) (hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
		if (out[j++] == '\0')
			return NULL;
		i += 2;
	}
	out[j] = '\0';
	return TAKE_PTR(out);
}

/* Length of path without trailing slashes (a lone "/" stays). */
static size_t trim_slashes(const char *path, size_t n)
{
	while (n > 1 && path[n - 1] == '/')
		n--;
	return n;
}

static size_t trim_dotgit(const char *path, size_t n)
{
	if (n > 5 && strncmp(path + n - 4, ".git", 4) == 0 && path[n - 5] != '/')
		n -= 4;
	return trim_slashes(path, n);
}

static int parse_local(const char *path, struct checkout_url *u, const char *shown, struct err *err)
{
	char real[PATH_MAX];
	size_t n;

	if (!realpath(path, real))
		return err_set(err, errno == ENOENT ? ENOENT : errno, "repository '%s'", shown);
	n = strlen(real);
	if (n > 5 && strcmp(real + n - 5, "/.git") == 0)
		real[n - 5] = '\0'; /* a work tree's git dir is that repository */
	u->key = xasprintf("file://%s", real);
	u->fetch = xstrdup(real);
	u->local = true;
	return 0;
}

static bool host_ok(const char *h, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char) h[i]) && !strchr(".-_:[]", h[i]))
			return false;
	return true;
}

/* "host", "host:port", "[v6]" or "[v6]:port" (lowercased) into u->host (no brackets) and
 * u->port (0: none given). The port must be 1 to 65535. */
static int split_host(const char *lhost, struct checkout_url *u)
{
	const char *end = lhost + strlen(lhost), *colon;
	unsigned long port = 0;
	char *stop;

	if (*lhost == '[') {
		const char *close = strchr(lhost, ']');
		if (!close || (close[1] && close[1] != ':'))
			return -EINVAL;
		u->host = xstrndup(lhost + 1, (size_t) (close - lhost - 1));
		colon = close[1] ? close + 1 : NULL;
	} else {
		colon = strchr(lhost, ':');
		if (colon && strchr(colon + 1, ':'))
			return -EINVAL; /* an IPv6 address needs its brackets */
		u->host =
			xstrndup(lhost, colon ? (size_t) (colon - lhost) : (size_t) (end - lhost));
	}
	if (colon) {
		errno = 0;
		port = strtoul(colon + 1, &stop, 10);
		if (!isdigit((unsigned char) colon[1]) || *stop || errno || port == 0 ||
		    port > 65535)
			return -EINVAL;
	}
	if (!*u->host || strchr(u->host, '[') || strchr(u->host, ']'))
		return -EINVAL;
	u->port = (unsigned) port;
	return 0;
}

/* scheme://[user[:password]@]host[:port]/path */
static int parse_remote(const char *url, const char *scheme, const char *rest,
			struct checkout_url *u, const char *shown, struct err *err)
{
	size_t alen = strcspn(rest, "/");
	const char *auth = rest, *host = rest, *path = rest + alen, *at = NULL;
	bool ssh = strcmp(scheme, "ssh") == 0;
	size_t hlen, plen, klen;
	cleanup_free char *lhost = NULL;

	for (const char *p = auth; p < auth + alen; p++)
		if (*p == '@')
			at = p;
	if (at) {
		size_t ulen = (size_t) (at - auth);
		const char *colon = memchr(auth, ':', ulen);
		size_t nlen = colon ? (size_t) (colon - auth) : ulen;

		u->user = pct_decode(auth, nlen);
		if (colon)
			u->password = pct_decode(colon + 1, ulen - nlen - 1);
		if (!u->user || (colon && !u->password))
			return err_set(err, EINVAL, "URL '%s': malformed userinfo", shown);
		/* SSH takes keys only: a password would be offered to whatever server asks. */
		if (ssh && colon)
			return err_set(err, EINVAL,
				       "URL '%s': a password in an ssh URL; the key goes in "
				       "--git-ssh-key or the ssh-agent",
				       shown);
		host = at + 1;
	}
	hlen = (size_t) (path - host);
	if (!host_ok(host, hlen))
		return err_set(err, EINVAL, "URL '%s': bad host", shown);
	lhost = xstrndup(host, hlen);
	for (char *p = lhost; *p; p++)
		*p = (char) tolower((unsigned char) *p);
	if (split_host(lhost, u) < 0)
		return err_set(err, EINVAL, "URL '%s': bad host or port", shown);
	/* ssh's default port names the same remote as git's scp-like "host:path" does. */
	if (ssh && u->port == 22) {
		free(lhost);
		lhost = strchr(u->host, ':') ? xasprintf("[%s]", u->host) : xstrdup(u->host);
		u->port = 0;
	}
	plen = trim_slashes(path, strlen(path));
	if (plen <= 1 || strchr(path, '#'))
		return err_set(err, EINVAL, "URL '%s': no repository path", shown);
	klen = trim_dotgit(path, plen);
	u->key = xasprintf("%s://%s%.*s", scheme, lhost, (int) klen, path);
	/* ssh's user ("git@") is an account name, not a secret: it stays in the URL. */
	if (ssh && u->user && !u->password)
		u->fetch = xasprintf("%s://%s@%s%.*s", scheme, u->user, lhost, (int) plen, path);
	else
		u->fetch = xasprintf("%s://%s%.*s", scheme, lhost, (int) plen, path);
	u->ssh = ssh;
	(void) url;
	return 0;
}

/* "[user@]host:path", git's scp-like syntax: ssh on port 22. The key is what
 * "ssh://host/path" has, so both spellings share a mirror ("host:org/app" is relative to
 * the account's home and "ssh://host/org/app" is not, but every forge serves both alike).
 * No password here: "user:x@host:path" is refused. */
static int parse_scp(const char *url, const char *colon, struct checkout_url *u, const char *shown,
		     struct err *err)
{
	const char *at = memchr(url, '@', (size_t) (colon - url));
	const char *host = at ? at + 1 : url, *path = colon + 1;
	size_t plen = trim_slashes(path, strlen(path)), klen, hlen = (size_t) (colon - host);
	const char *at2 = strchr(path, '@');

	/* "user:secret@host:path": what git would read as host "user", a password to us. */
	if (at2 && strchr(at2, ':') && !memchr(path, '/', (size_t) (at2 - path)))
		return err_set(err, EINVAL,
			       "URL '%s': a password in an ssh URL; expected user@host:path and "
			       "the key in --git-ssh-key or the ssh-agent",
			       shown);
	if (!host_ok(host, hlen) || memchr(host, '[', hlen) || plen == 0 || *path == '-' ||
	    (at && (at == url || memchr(url, ':', (size_t) (at - url)))))
		return err_set(err, EINVAL,
			       "URL '%s': malformed; expected user@host:path or "
			       "ssh://user@host:port/path",
			       shown);
	klen = trim_dotgit(path, plen);
	u->host = xstrndup(host, hlen);
	for (char *p = u->host; *p; p++)
		*p = (char) tolower((unsigned char) *p);
	if (at)
		u->user = xstrndup(url, (size_t) (at - url));
	u->key = xasprintf("ssh://%s%s%.*s", u->host, *path == '/' ? "" : "/", (int) klen, path);
	u->fetch = xasprintf("%.*s", (int) (colon - url) + 1 + (int) plen, url);
	u->ssh = true;
	return 0;
}

int checkout_url_parse(const char *url, struct checkout_url *ret, struct err *err)
{
	struct checkout_url u = { 0 };
	char shown[CHECKOUT_SHOWN], scheme[16];
	const char *sep, *colon;
	size_t slen;
	int r;

	shown_url(url, shown, sizeof(shown));
	if (!*url || strlen(url) > CHECKOUT_MAX_URL)
		return err_set(err, EINVAL, "URL '%s': empty or too long", shown);
	for (const char *p = url; *p; p++)
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			return err_set(err, EINVAL, "URL '%s': control character", shown);
	if (url[0] == '-')
		return err_set(err, EINVAL, "URL '%s': starts with '-'", shown);
	sep = strstr(url, "://");
	slen = sep ? (size_t) (sep - url) : 0;
	if (sep && slen > 0 && slen < sizeof(scheme) &&
	    strspn(url, "abcdefghijklmnopqrstuvwxyz"
			"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			"0123456789+.-") == slen) {
		for (size_t i = 0; i < slen; i++)
			scheme[i] = (char) tolower((unsigned char) url[i]);
		scheme[slen] = '\0';
		if (strcmp(scheme, "git+ssh") == 0 || strcmp(scheme, "ssh+git") == 0)
			(void) str_copy(scheme, sizeof(scheme), "ssh");
		if (strcmp(scheme, "file") == 0) {
			const char *rest = sep + 3, *path = strchr(rest, '/');
			if (!path || (path != rest && strncasecmp(rest, "localhost/", 10) != 0))
				return err_set(err, EINVAL,
					       "URL '%s': file:// needs a local "
					       "absolute path",
					       shown);
			r = parse_local(path, &u, shown, err);
		} else if (strcmp(scheme, "git") == 0 || strcmp(scheme, "http") == 0 ||
			   strcmp(scheme, "https") == 0 || strcmp(scheme, "ssh") == 0) {
			r = parse_remote(url, scheme, sep + 3, &u, shown, err);
		} else {
			return err_set(err, EINVAL, "URL '%s': unsupported scheme '%s'", shown,
				       scheme);
		}
	} else if ((colon = strchr(url, ':')) && colon > url &&
		   !memchr(url, '/', (size_t) (colon - url)) && url[0] != '.' && url[0] != '/') {
		r = parse_scp(url, colon, &u, shown, err);
	} else {
		r = parse_local(url, &u, shown, err);
	}
	if (r < 0) {
		checkout_url_release(&u);
		return r;
	}
	*ret = u;
	return 0;
}

bool checkout_url_has_secret(const char *u)
{
	const char *sep = strstr(u, "://");
	const char *auth = sep ? sep + 3 : u;
	size_t alen = strcspn(auth, "/");
	const char *at = memchr(auth, '@', alen);

	/* ssh's "git@" (ssh:// or scp-like "git@host:path") names an account; a password
	 * would follow a ':' before '@'. */
	return at &&
	       !((str_startswith(u, "ssh://") || !sep) && !memchr(auth, ':', (size_t) (at - auth)));
}

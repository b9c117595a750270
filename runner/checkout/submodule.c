/* submodule.c - the rules for submodules, from bytes a repository's author chose: the
 * .gitmodules parser (git's config syntax, strictly: anything unusual is refused with its
 * line rather than guessed at), the names and paths it may give, and the URL a submodule
 * is fetched from. No libgit2 and no I/O here: the unit tests and the fuzz target link
 * this file alone. SECURITY: everything here is untrusted input: a .gitmodules can come
 * from anyone who can push a commit. */
#include "checkout/submodule.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "checkout/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define MAX_VALUE 8192 /* bytes of one value: a URL, a path */

void checkout_gitmodules_free(struct checkout_gitmodule *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].name);
		free(v[i].path);
		free(v[i].url);
	}
	free(v);
}

struct parser {
	const char *s;
	size_t len, pos;
	unsigned line;
	struct checkout_gitmodule *v;
	size_t n;
	long cur_i; /* -1: not in a [submodule "x"] section */
	struct err *err;
};

static int at(const struct parser *p)
{
	return p->pos < p->len ? (unsigned char) p->s[p->pos] : -1;
}

static int fail(struct parser *p, const char *what)
{
	return err_set(p->err, EINVAL, ".gitmodules line %u: %s", p->line, what);
}

/* Past spaces and tabs (not newlines). */
static void skip_blank(struct parser *p)
{
	while (at(p) == ' ' || at(p) == '\t')
		p->pos++;
}

/* At a newline, a comment or the end: past it, to the next line. */
static int end_of_line(struct parser *p, const char *what)
{
	skip_blank(p);
	if (at(p) == '\r' && p->pos + 1 < p->len && p->s[p->pos + 1] == '\n')
		p->pos++;
	if (at(p) == '#' || at(p) == ';')
		while (at(p) != -1 && at(p) != '\n')
			p->pos++;
	if (at(p) == -1)
		return 0;
	if (at(p) != '\n')
		return fail(p, what);
	p->pos++;
	p->line++;
	return 0;
}

static long find_or_add(struct parser *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->v[i].name, name) == 0)
			return (long) i;
	if (p->n >= CHECKOUT_MAX_SUBMODULES)
		return -1;
	p->v = xrealloc(p->v, (p->n + 1) * sizeof(*p->v));
	p->v[p->n] = (struct checkout_gitmodule){ .name = xstrdup(name) };
	return (long) p->n++;
}

/* "[section]", "[section "sub"]" or the old "[section.sub]" (sub lowercased, as git). */
static int section(struct parser *p)
{
	char name[64], sub[CHECKOUT_MAX_SUBMODULE_NAME + 1];
	size_t n = 0, m = 0;
	bool has_sub = false;
	int c;

	p->pos++; /* '[' */
	while ((c = at(p)) != -1 && (isalnum(c) || c == '-' || c == '.')) {
		if (n + 1 >= sizeof(name))
			return fail(p, "section name too long");
		name[n++] = (char) c;
		p->pos++;
	}
	name[n] = '\0';
	if (n == 0)
		return fail(p, "malformed section header");
	char *dot = strchr(name, '.');
	if (dot) {
		*dot = '\0';
		has_sub = true;
		for (const char *q = dot + 1; *q; q++)
			sub[m++] = (char) tolower((unsigned char) *q);
	} else if (at(p) == ' ' || at(p) == '\t') {
		skip_blank(p);
		if (at(p) != '"')
			return fail(p, "malformed section header");
		p->pos++;
		has_sub = true;
		while ((c = at(p)) != '"') {
			if (c == '\\') {
				p->pos++;
				c = at(p);
			}
			if (c == -1 || c == '\n' || c == '\0')
				return fail(p, "unterminated section header");
			if (m >= CHECKOUT_MAX_SUBMODULE_NAME)
				return fail(p, "submodule name too long");
			sub[m++] = (char) c;
			p->pos++;
		}
		p->pos++;
	}
	sub[m] = '\0';
	if (at(p) != ']')
		return fail(p, "unterminated section header");
	p->pos++;
	p->cur_i = -1;
	if (has_sub && strcasecmp(name, "submodule") == 0) {
		p->cur_i = find_or_add(p, sub);
		if (p->cur_i < 0)
			return fail(p, "too many submodules (at most 256)");
	}
	return end_of_line(p, "text after a section header");
}

/* A value as git reads it: quotes join, \" \\ \n \t \b escape, a backslash at the end of
 * a line continues it, '#' or ';' outside quotes starts a comment, blanks outside quotes
 * are dropped at both ends. Leaves p at the end of the line. */
static int value(struct parser *p, char **ret)
{
	cleanup_free char *out = xmalloc(MAX_VALUE + 1);
	size_t n = 0, keep = 0;
	bool quoted = false;
	int c;

	skip_blank(p);
	for (;;) {
		c = at(p);
		if (c == '\r' && p->pos + 1 < p->len && p->s[p->pos + 1] == '\n') {
			p->pos++;
			continue;
		}
		if (c == -1 || c == '\n') {
			if (quoted)
				return fail(p, "unterminated quote");
			break;
		}
		if (c == '\0')
			return fail(p, "NUL byte");
		if (!quoted && (c == '#' || c == ';'))
			break;
		p->pos++;
		if (c == '"') {
			quoted = !quoted;
			keep = n;
			continue;
		}
		if (c == '\\') {
			c = at(p);
			p->pos++;
			if (c == '\r' && at(p) == '\n')
				p->pos++, c = '\n';
			if (c == '\n') {
				p->line++;
				continue;
			}
			switch (c) {
			case 'n':
				c = '\n';
				break;
			case 't':
				c = '\t';
				break;
			case 'b':
				c = '\b';
				break;
			case '"':
			case '\\':
				break;
			default:
				return fail(p, "bad escape in a value");
			}
		} else if (!quoted && (c == ' ' || c == '\t')) {
			if (n == 0)
				continue;
		} else if (c < 0x20 && c != '\t') {
			return fail(p, "control character in a value");
		}
		if (n >= MAX_VALUE)
			return fail(p, "value too long");
		out[n++] = (char) c;
		if (quoted || (c != ' ' && c != '\t'))
			keep = n;
	}
	out[keep] = '\0';
	*ret = TAKE_PTR(out);
	return end_of_line(p, "text after a value");
}

static int key_value(struct parser *p)
{
	char key[64];
	size_t n = 0;
	cleanup_free char *val = NULL;
	int c, r;

	while ((c = at(p)) != -1 && (isalnum(c) || c == '-')) {
		if (n + 1 >= sizeof(key))
			return fail(p, "key too long");
		key[n++] = (char) tolower(c);
		p->pos++;
	}
	key[n] = '\0';
	skip_blank(p);
	if (at(p) == '=') {
		p->pos++;
		r = value(p, &val);
	} else {
		r = end_of_line(p, "expected '=' after a key");
	}
	if (r < 0 || p->cur_i < 0)
		return r;
	struct checkout_gitmodule *m = &p->v[p->cur_i];
	char **field = strcmp(key, "path") == 0	 ? &m->path
		       : strcmp(key, "url") == 0 ? &m->url
						 : NULL;
	if (strcmp(key, "update") == 0) {
		m->update_none = val && strcmp(val, "none") == 0;
		return 0;
	}
	if (!field)
		return 0;
	if (!val) {
		p->line--; /* end_of_line() went past it */
		return fail(p, "key without a value");
	}
	free(*field);
	*field = TAKE_PTR(val);
	return 0;
}

int checkout_gitmodules_parse(const char *text, size_t len, struct checkout_gitmodule **ret_v,
			      size_t *ret_n, struct err *err)
{
	struct parser p = { .s = text, .len = len, .line = 1, .cur_i = -1, .err = err };
	int r = 0;

	if (len > CHECKOUT_MAX_GITMODULES)
		return err_set(err, EFBIG, ".gitmodules: larger than 1 MiB");
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		p.pos = 3;
	while (r == 0 && at(&p) != -1) {
		int c;
		while ((c = at(&p)) == ' ' || c == '\t' || c == '\r')
			p.pos++;
		if (c == -1)
			break;
		if (c == '\n' || c == '#' || c == ';')
			r = end_of_line(&p, "");
		else if (c == '[')
			r = section(&p);
		else if (isalpha(c))
			r = key_value(&p);
		else
			r = fail(&p, c == 0 ? "NUL byte" : "expected a section or a key");
	}
	/* Judge every entry that names a path: a hostile one is refused even unused. */
	for (size_t i = 0; r == 0 && i < p.n; i++) {
		if (!p.v[i].path)
			continue;
		r = checkout_submodule_check_name(p.v[i].name, err);
		if (r == 0)
			r = checkout_submodule_check_path(p.v[i].path, err);
		for (size_t j = 0; r == 0 && j < p.n; j++) {
			size_t nj = strlen(p.v[j].name);
			if (j < i && p.v[j].path && strcmp(p.v[j].path, p.v[i].path) == 0)
				r = err_set(err, EINVAL, "two entries for one path");
			/* .git/modules/a/x would land inside the repository of "a". */
			else if (j != i && p.v[j].path &&
				 strncmp(p.v[i].name, p.v[j].name, nj) == 0 &&
				 p.v[i].name[nj] == '/')
				r = err_set(err, EINVAL, "name nests inside the repository of '%s'",
					    p.v[j].name);
		}
		if (r < 0) {
			char shown[CHECKOUT_SHOWN];
			(void) err_wrap(err, ".gitmodules: submodule '%s'",
					checkout_printable(p.v[i].name, shown, sizeof(shown)));
		}
	}
	if (r < 0) {
		checkout_gitmodules_free(p.v, p.n);
		return r;
	}
	*ret_v = p.v;
	*ret_n = p.n;
	return 0;
}

/* Components of s split on '/', each judged as a tree entry name. */
static const char *check_components(const char *s)
{
	if (!*s)
		return "empty";
	if (*s == '/' || s[strlen(s) - 1] == '/')
		return "leading or trailing '/'";
	if (strlen(s) > CHECKOUT_MAX_PATH)
		return "too long";
	for (const char *c = s;;) {
		size_t n = strcspn(c, "/");
		const char *why = checkout_check_name(c, n, false);
		if (why)
			return why;
		if (!c[n])
			return NULL;
		c += n + 1;
	}
}

int checkout_submodule_check_name(const char *name, struct err *err)
{
	const char *why =
		strlen(name) > CHECKOUT_MAX_SUBMODULE_NAME ? "too long" : check_components(name);
	char shown[CHECKOUT_SHOWN];

	if (why)
		return err_set(err, EINVAL,
			       "name '%s' refused (%s): it names a directory under .git/modules",
			       checkout_printable(name, shown, sizeof(shown)), why);
	return 0;
}

int checkout_submodule_check_path(const char *path, struct err *err)
{
	const char *why = check_components(path);
	char shown[CHECKOUT_SHOWN];

	if (why)
		return err_set(err, EINVAL, "path '%s' refused (%s)",
			       checkout_printable(path, shown, sizeof(shown)), why);
	return 0;
}

char *checkout_url_shown(const char *url)
{
	const char *sep = strstr(url, "://");
	const char *auth = sep ? sep + 3 : NULL;
	const char *end = auth ? auth + strcspn(auth, "/") : NULL;
	const char *at_sign = NULL;
	char buf[CHECKOUT_SHOWN];

	for (const char *p = auth; p && p < end; p++)
		if (*p == '@')
			at_sign = p;
	cleanup_free char *s =
		at_sign ? xasprintf("%.*s***%s", (int) (auth - url), url, at_sign) : xstrdup(url);
	return xstrdup(checkout_printable(s, buf, sizeof(buf)));
}

/* "[user@]host:path" with no '/' before the colon: git's scp-like ssh syntax. */
static bool is_scp_like(const char *url)
{
	const char *colon = strchr(url, ':');

	return !strstr(url, "://") && colon && colon > url &&
	       !memchr(url, '/', (size_t) (colon - url)) && url[0] != '.' && url[0] != '/';
}

bool checkout_url_is_local(const char *url)
{
	const char *sep = strstr(url, "://");

	if (sep)
		return (size_t) (sep - url) == 4 && strncasecmp(url, "file", 4) == 0;
	return !is_scp_like(url);
}

/* Scheme, host and port of a remote URL; false for a local one. */
static bool origin_of(const char *url, char *scheme, size_t ssize, char *host, size_t hsize,
		      unsigned *port)
{
	const char *sep = strstr(url, "://"), *h, *end, *colon;

	if (checkout_url_is_local(url))
		return false;
	if (!sep) { /* scp-like */
		colon = strchr(url, ':');
		h = memchr(url, '@', (size_t) (colon - url));
		h = h ? h + 1 : url;
		(void) snprintf(scheme, ssize, "ssh");
		(void) snprintf(host, hsize, "%.*s", (int) (colon - h), h);
		*port = 22;
	} else {
		(void) snprintf(scheme, ssize, "%.*s", (int) (sep - url), url);
		h = sep + 3;
		end = h + strcspn(h, "/");
		for (const char *p = h; p < end; p++)
			if (*p == '@')
				h = p + 1;
		colon = NULL;
		for (const char *p = *h == '[' ? memchr(h, ']', (size_t) (end - h)) : h;
		     p && p < end; p++)
			if (*p == ':')
				colon = p;
		(void) snprintf(host, hsize, "%.*s", (int) ((colon ? colon : end) - h), h);
		*port = 0;
		if (colon) {
			char digits[16];
			size_t n = (size_t) (end - colon - 1);
			if (n == 0 || n >= sizeof(digits))
				return false;
			memcpy(digits, colon + 1, n);
			digits[n] = '\0';
			if (safe_atou(digits, port) < 0)
				return false;
		}
	}
	for (char *p = scheme; *p; p++)
		*p = (char) tolower((unsigned char) *p);
	for (char *p = host; *p; p++)
		*p = (char) tolower((unsigned char) *p);
	if (strcmp(scheme, "git+ssh") == 0 || strcmp(scheme, "ssh+git") == 0)
		(void) snprintf(scheme, ssize, "ssh");
	if (*port == 0)
		*port = strcmp(scheme, "https") == 0  ? 443
			: strcmp(scheme, "http") == 0 ? 80
			: strcmp(scheme, "git") == 0  ? 9418
			: strcmp(scheme, "ssh") == 0  ? 22
						      : 0;
	return true;
}

bool checkout_same_origin(const char *a, const char *b)
{
	char sa[16], sb[16], ha[256], hb[256];
	unsigned pa, pb;

	return origin_of(a, sa, sizeof(sa), ha, sizeof(ha), &pa) &&
	       origin_of(b, sb, sizeof(sb), hb, sizeof(hb), &pb) && strcmp(sa, sb) == 0 &&
	       strcmp(ha, hb) == 0 && pa == pb && *ha;
}

/* Where in base a "../" may cut no further: past the host of a remote URL, the colon of
 * an scp-like one, the root of a path. */
static size_t floor_of(const char *base)
{
	const char *sep = strstr(base, "://");

	if (sep)
		return (size_t) (sep + 3 - base) + strcspn(sep + 3, "/");
	if (is_scp_like(base))
		return (size_t) (strchr(base, ':') - base);
	return 0;
}

/* git's relative_url(): base with one component cut per "../", then the rest. NULL with
 * err set when it cannot be done. */
static char *relative(const char *base_in, const char *url, struct err *err)
{
	cleanup_free char *base = xstrdup(base_in);
	size_t n = strlen(base), floor = floor_of(base);
	bool colon_sep = false;

	while (n > floor + 1 && base[n - 1] == '/')
		base[--n] = '\0';
	for (;;) {
		if (str_startswith(url, "./")) {
			url += 2;
		} else if (str_startswith(url, "../")) {
			char *slash = strrchr(base, '/');
			url += 3;
			if (!colon_sep && slash && (size_t) (slash - base) >= floor &&
			    strlen(base) > floor) {
				*slash = '\0';
				continue;
			}
			/* scp-like "host:app" + "../lib" is "host:lib", as in git. */
			if (!colon_sep && !slash && is_scp_like(base) && base[floor + 1] != '\0') {
				base[floor] = '\0';
				colon_sep = true;
				continue;
			}
			(void) err_set(err, EINVAL,
				       "relative URL climbs above the superproject's host or root");
			return NULL;
		} else {
			break;
		}
	}
	if (!*url) {
		(void) err_set(err, EINVAL, "relative URL names no repository");
		return NULL;
	}
	return xasprintf("%s%s%s", base, colon_sep ? ":" : "/", url);
}

int checkout_submodule_url(const char *super_url, bool super_local, const char *url, char **ret,
			   struct err *err)
{
	cleanup_free char *res = NULL, *shown = checkout_url_shown(url);
	const char *sep;

	if (!*url)
		return err_set(err, EINVAL, "url is empty");
	for (const char *p = url; *p; p++)
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			return err_set(err, EINVAL, "url '%s': control character", shown);
	/* SECURITY: git passes URLs to helpers as arguments; mayfly does not, but an option
	 * look-alike is hostile whatever reads it. */
	if (url[0] == '-')
		return err_set(err, EINVAL, "url '%s' refused: starts with '-'", shown);
	if (str_startswith(url, "./") || str_startswith(url, "../")) {
		res = relative(super_url, url, err);
		if (!res)
			return err_wrap(err, "url '%s'", shown);
	} else {
		res = xstrdup(url);
	}
	free(shown);
	shown = checkout_url_shown(res);
	if (strlen(res) > CHECKOUT_MAX_URL)
		return err_set(err, EINVAL, "url '%s': too long", shown);
	/* git's "<transport>::<address>" (ext:: runs a command): no such thing here. */
	size_t word =
		strspn(res, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");
	if (word > 0 && strncmp(res + word, "::", 2) == 0)
		return err_set(err, EINVAL, "url '%s' refused: unsupported scheme", shown);
	if (checkout_url_is_local(res)) {
		/* SECURITY: git >= 2.38.1 refuses local submodules altogether
		 * (protocol.file.allow=user); mayfly allows them to a superproject that is
		 * itself a local path, whose owner chose this host's repositories already. */
		if (!super_local)
			return err_set(err, EINVAL,
				       "url '%s' refused: a local path or file:// URL in the "
				       ".gitmodules of a remote superproject",
				       shown);
		if (res[0] != '/' && !strstr(res, "://"))
			return err_set(err, EINVAL,
				       "url '%s' refused: a relative path must start with "
				       "'./' or '../'",
				       shown);
	} else if ((sep = strstr(res, "://"))) {
		static const char *const ok[] = { "https", "http",    "git",
						  "ssh",   "git+ssh", "ssh+git" };
		const char *host = sep + 3, *end = host + strcspn(host, "/");
		bool known = false;

		for (size_t i = 0; i < ARRAY_SIZE(ok); i++)
			known |= (size_t) (sep - res) == strlen(ok[i]) &&
				 strncasecmp(res, ok[i], strlen(ok[i])) == 0;
		if (!known)
			return err_set(err, EINVAL, "url '%s' refused: unsupported scheme", shown);
		for (const char *p = host; p < end; p++)
			if (*p == '@')
				host = p + 1;
		if (*host == '-')
			return err_set(err, EINVAL, "url '%s' refused: host starts with '-'",
				       shown);
	} else {
		const char *at_sign = memchr(res, '@', strcspn(res, ":"));
		if ((at_sign ? at_sign[1] : res[0]) == '-')
			return err_set(err, EINVAL, "url '%s' refused: host starts with '-'",
				       shown);
	}
	*ret = TAKE_PTR(res);
	return 0;
}

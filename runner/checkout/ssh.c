/* ssh.c - what an ssh:// fetch needs besides libgit2's transport: the caller's private
 * key (or the ssh-agent) for libgit2's credential callback, and the server's host key
 * checked against known_hosts in its certificate callback, always (libgit2 1.5 checks
 * nothing by itself: without this callback any server would be accepted).
 *
 * known_hosts is read here rather than by libssh2's knownhost API: libssh2 1.10's
 * libssh2_knownhost_readfile() stops with an error at the first line it cannot parse
 * (sk-ecdsa and sk-ed25519 keys, @cert-authority lines), which a real ~/.ssh/known_hosts
 * often has, and it knows no @revoked; hashed entries need only HMAC-SHA-1 (util/sha1.c).
 *
 * SECURITY: the key's text is read once into memory, handed to libgit2 (which gives it to
 * libssh2 to sign with) and wiped when the fetch ends; it is never written, shown or put in
 * an environment or argv. The key is offered only after the host key was accepted. */
#include "checkout/checkout.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "checkout/dl.h"

#include "checkout/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/sha1.h"
#include "util/sha256.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define MAX_KEY_FILE	(64 * 1024)	   /* bytes of a private key file */
#define MAX_KNOWN_HOSTS (16 * 1024 * 1024) /* bytes of one known_hosts file */
#define SYSTEM_KNOWN	"/etc/ssh/ssh_known_hosts"

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Standard base64 (padding optional) of n bytes of s into out (room for n * 3 / 4 bytes);
 * whitespace is skipped. Returns the length, or -1 when malformed. */
static ssize_t b64_decode(const char *s, size_t n, uint8_t *out)
{
	uint32_t acc = 0;
	size_t j = 0;
	unsigned bits = 0;
	bool pad = false;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char) s[i];
		int v = b64val(c);
		if (isspace(c))
			continue;
		if (c == '=') {
			pad = true;
			continue;
		}
		if (v < 0 || pad)
			return -1;
		acc = acc << 6 | (uint32_t) v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[j++] = (uint8_t) (acc >> bits);
		}
	}
	return bits >= 6 ? -1 : (ssize_t) j;
}

/* What `ssh-keygen -l` prints: "SHA256:" and unpadded base64 of the key's SHA-256. */
void checkout_ssh_fingerprint(const uint8_t *key, size_t len, char buf[CHECKOUT_SSH_FP_SIZE])
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint8_t d[SHA256_DIGEST_SIZE + 1] = { 0 };
	size_t j = (size_t) snprintf(buf, CHECKOUT_SSH_FP_SIZE, "SHA256:");

	sha256(key, len, d);
	for (size_t i = 0; i < SHA256_DIGEST_SIZE; i += 3) {
		uint32_t v = (uint32_t) d[i] << 16 | (uint32_t) d[i + 1] << 8 | d[i + 2];
		size_t chars = i + 3 <= SHA256_DIGEST_SIZE ? 4 : 1 + (SHA256_DIGEST_SIZE - i);
		for (size_t k = 0; k < chars; k++)
			buf[j++] = a[(v >> (18 - 6 * k)) & 63];
	}
	buf[j] = '\0';
}

/* The key's type, the first string of its wire form ("ssh-ed25519"), into buf. */
static const char *key_type(const uint8_t *key, size_t len, char *buf, size_t size)
{
	uint32_t n = len >= 4 ? (uint32_t) key[0] << 24 | (uint32_t) key[1] << 16 |
					(uint32_t) key[2] << 8 | key[3]
			      : 0;

	if (n == 0 || n > len - 4 || n >= size)
		return "unknown type";
	memcpy(buf, key + 4, n);
	buf[n] = '\0';
	return checkout_printable(buf, buf, size);
}

/* OpenSSH's match_pattern(): '*' and '?', case-insensitive (host names). Backtracking to
 * the last '*' only: linear in practice, never exponential in the number of stars. */
static bool glob_match(const char *p, size_t pn, const char *s)
{
	const char *mark = NULL;
	size_t pi = 0, star = SIZE_MAX;

	while (*s) {
		if (pi < pn && p[pi] != '*' &&
		    (p[pi] == '?' ||
		     tolower((unsigned char) p[pi]) == tolower((unsigned char) *s))) {
			pi++, s++;
		} else if (pi < pn && p[pi] == '*') {
			star = pi++;
			mark = s;
		} else if (star != SIZE_MAX) {
			pi = star + 1;
			s = ++mark;
		} else {
			return false;
		}
	}
	while (pi < pn && p[pi] == '*')
		pi++;
	return pi == pn;
}

/* Does the host field of a known_hosts line name name? Hashed ("|1|salt|hmac"): the
 * HMAC-SHA-1 of name keyed with salt. Plain: comma-separated patterns, a matching
 * negated one ("!pattern") vetoes the line. */
static bool host_field_matches(const char *f, size_t n, const char *name)
{
	bool yes = false;

	if (n > 3 && strncmp(f, "|1|", 3) == 0) {
		const char *salt = f + 3, *bar = memchr(salt, '|', n - 3);
		uint8_t s[64], h[64], mac[SHA1_DIGEST_SIZE];
		ssize_t sn, hn;

		if (!bar || (size_t) (bar - salt) > 80 || (size_t) (f + n - bar - 1) > 80)
			return false;
		sn = b64_decode(salt, (size_t) (bar - salt), s);
		hn = b64_decode(bar + 1, (size_t) (f + n - bar - 1), h);
		if (sn <= 0 || hn != SHA1_DIGEST_SIZE)
			return false;
		hmac_sha1(s, (size_t) sn, name, strlen(name), mac);
		return memcmp(mac, h, SHA1_DIGEST_SIZE) == 0;
	}
	for (const char *p = f, *end = f + n; p < end;) {
		const char *comma = memchr(p, ',', (size_t) (end - p));
		size_t pn = (size_t) ((comma ? comma : end) - p);
		bool neg = pn > 0 && *p == '!';

		if (glob_match(p + neg, pn - neg, name)) {
			if (neg)
				return false;
			yes = true;
		}
		p += pn + 1;
	}
	return yes;
}

static size_t field(const char **p, const char *end)
{
	const char *s;

	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
	s = *p;
	while (*p < end && **p != ' ' && **p != '\t')
		(*p)++;
	return (size_t) (*p - s);
}

enum checkout_kh checkout_known_hosts_match(const char *text, size_t len, const char *host,
					    unsigned port, const uint8_t *key, size_t key_len,
					    unsigned *ret_line)
{
	cleanup_free char *name =
		port && port != 22 ? xasprintf("[%s]:%u", host, port) : xstrdup(host);
	cleanup_free uint8_t *blob = NULL;
	enum checkout_kh found = CHECKOUT_KH_UNKNOWN;
	const char *end = text + len, *next;
	unsigned line = 0, changed_line = 0;

	for (const char *p = text; p < end; p = next) {
		const char *eol = memchr(p, '\n', (size_t) (end - p));
		const char *le = eol ? eol : end, *f, *hosts;
		size_t n, hn;
		bool revoked = false;
		ssize_t bn;

		next = eol ? eol + 1 : end;
		line++;
		n = field(&p, le);
		if (n == 0 || *(p - n) == '#')
			continue;
		f = p - n;
		if (*f == '@') {
			if (n != 8 || strncmp(f, "@revoked", 8) != 0)
				continue; /* @cert-authority: certificates are not supported */
			revoked = true;
			n = field(&p, le);
			f = p - n;
		}
		hosts = f, hn = n;
		if (n == 0 || !host_field_matches(hosts, hn, name))
			continue;
		(void) field(&p, le); /* the type: the blob says it again */
		n = field(&p, le);
		if (n == 0 || n > 64 * 1024)
			continue;
		free(blob);
		blob = xmalloc(n);
		bn = b64_decode(p - n, n, blob);
		if (bn < 0)
			continue; /* a line we cannot read names no key */
		if ((size_t) bn == key_len && memcmp(blob, key, key_len) == 0) {
			if (revoked) {
				*ret_line = line;
				return CHECKOUT_KH_REVOKED;
			}
			if (found != CHECKOUT_KH_MATCH)
				*ret_line = line;
			found = CHECKOUT_KH_MATCH;
		} else if (!revoked && !changed_line) {
			changed_line = line;
		}
	}
	if (found == CHECKOUT_KH_UNKNOWN && changed_line) {
		*ret_line = changed_line;
		return CHECKOUT_KH_CHANGED;
	}
	return found;
}

void checkout_ssh_release(struct checkout_ssh *s)
{
	if (s->key) {
		explicit_bzero(s->key, strlen(s->key));
		free(s->key);
	}
	free(s->host);
	*s = (struct checkout_ssh){ 0 };
}

/* The key's text must be a private key we can use without asking anyone anything. */
static int check_key(const char *text, const char *file, bool have_passphrase, bool *ret_rsa,
		     struct err *err)
{
	static const char openssh[] = "-----BEGIN OPENSSH PRIVATE KEY-----";
	const char *body, *end;
	bool encrypted = false;

	*ret_rsa = false;
	if (str_startswith(text, "ssh-") || str_startswith(text, "ecdsa-") ||
	    str_startswith(text, "sk-"))
		return err_set(err, EINVAL,
			       "ssh key '%s': a public key; give the private half (the file "
			       "without '.pub')",
			       file);
	if (str_startswith(text, openssh)) {
		/* "openssh-key-v1\0", string cipher, string kdf, string kdfopts, uint32 n,
		 * string public key (whose first string is its type). */
		static const uint8_t magic[] = "openssh-key-v1";
		uint8_t *bin;
		ssize_t bn;
		size_t off = sizeof(magic);
		uint32_t clen;

		body = text + sizeof(openssh) - 1;
		end = strstr(body, "-----END");
		if (!end)
			return err_set(err, EINVAL, "ssh key '%s': truncated", file);
		bin = xmalloc((size_t) (end - body));
		bn = b64_decode(body, (size_t) (end - body), bin);
		if (bn < (ssize_t) off + 4 || memcmp(bin, magic, sizeof(magic)) != 0) {
			explicit_bzero(bin, (size_t) (end - body));
			free(bin);
			return err_set(err, EINVAL, "ssh key '%s': damaged", file);
		}
		clen = (uint32_t) bin[off] << 24 | (uint32_t) bin[off + 1] << 16 |
		       (uint32_t) bin[off + 2] << 8 | bin[off + 3];
		encrypted = !(clen == 4 && off + 8 <= (size_t) bn &&
			      memcmp(bin + off + 4, "none", 4) == 0);
		/* The public key's type: skip cipher, kdf, kdf options and the count. */
		for (int i = 0; i < 3 && off + 4 <= (size_t) bn; i++) {
			uint32_t l = (uint32_t) bin[off] << 24 | (uint32_t) bin[off + 1] << 16 |
				     (uint32_t) bin[off + 2] << 8 | bin[off + 3];
			off += 4 + (l < (size_t) bn ? l : (size_t) bn);
		}
		off += 4 + 4; /* the count, the public key's length */
		if (off + 11 <= (size_t) bn && memcmp(bin + off, "\0\0\0\7ssh-rsa", 11) == 0)
			*ret_rsa = true;
		explicit_bzero(bin, (size_t) (end - body));
		free(bin);
	} else if (str_startswith(text, "-----BEGIN RSA PRIVATE KEY-----") ||
		   str_startswith(text, "-----BEGIN EC PRIVATE KEY-----") ||
		   str_startswith(text, "-----BEGIN DSA PRIVATE KEY-----")) {
		encrypted = strstr(text, "Proc-Type: 4,ENCRYPTED") != NULL;
		*ret_rsa = str_startswith(text, "-----BEGIN RSA");
	} else if (str_startswith(text, "-----BEGIN ENCRYPTED PRIVATE KEY-----")) {
		encrypted = true;
	} else if (!str_startswith(text, "-----BEGIN PRIVATE KEY-----")) {
		return err_set(err, EINVAL,
			       "ssh key '%s': not a private key (expected the OpenSSH or PEM "
			       "format ssh-keygen writes)",
			       file);
	}
	if (encrypted && !have_passphrase)
		return err_set(err, EINVAL,
			       "ssh key '%s' is protected by a passphrase: set "
			       "MAYFLY_GIT_SSH_PASSPHRASE, or use a key without one (a deploy "
			       "key)",
			       file);
	return 0;
}

static int read_key(const char *file, char **ret, struct err *err)
{
	cleanup_close int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	char *buf;
	size_t n = 0;

	if (fd < 0)
		return err_set(err, errno, "ssh key '%s'", file);
	buf = xmalloc(MAX_KEY_FILE + 1); /* one buffer, never grown: no copy is left behind */
	for (;;) {
		ssize_t r = read(fd, buf + n, MAX_KEY_FILE + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0 || (n += (size_t) r) > MAX_KEY_FILE) {
			int e = r < 0 ? errno : r > 0 ? EFBIG : 0;
			if (e || n == 0) {
				explicit_bzero(buf, MAX_KEY_FILE + 1);
				free(buf);
				return e ? err_set(err, e, "ssh key '%s'", file)
					 : err_set(err, EINVAL, "ssh key '%s': empty", file);
			}
			break;
		}
	}
	buf[n] = '\0';
	if (strlen(buf) != n) {
		explicit_bzero(buf, MAX_KEY_FILE + 1);
		free(buf);
		return err_set(err, EINVAL, "ssh key '%s': not a private key (binary)", file);
	}
	*ret = buf;
	return 0;
}

int checkout_ssh_init(struct checkout_ssh *s, const struct checkout_url *u,
		      const struct checkout_cred *cred, struct err *err)
{
	int r;

	*s = (struct checkout_ssh){ .on = true, .host = xstrdup(u->host), .port = u->port };
	if (cred && cred->ssh_known_hosts) {
		s->known_hosts = cred->ssh_known_hosts;
		if (access(s->known_hosts, R_OK) < 0)
			return err_set(err, errno, "known hosts file '%s'", s->known_hosts);
	}
	if (cred && cred->ssh_key) {
		s->key_file = cred->ssh_key;
		s->passphrase = cred->ssh_passphrase;
		r = read_key(s->key_file, &s->key, err);
		if (r == 0)
			r = check_key(s->key, s->key_file, s->passphrase && *s->passphrase, &s->rsa,
				      err);
		if (r < 0)
			return r;
	}
	return 0;
}

void checkout_ssh_begin(struct checkout_ssh *s)
{
	if (s) {
		s->offered = s->agent = s->refused = s->missing = s->host_refused = false;
		s->why[0] = s->user[0] = '\0';
	}
}

/* SECURITY: called by libgit2 only after checkout_ssh_check_host() accepted the server. */
int checkout_ssh_credential(struct checkout_ssh *s, struct git_credential **out, const char *user,
			    unsigned allowed)
{
	if (s->offered) {
		s->refused = true; /* libgit2 asks again after a refusal: no second try */
		return GIT_EAUTH;
	}
	(void) snprintf(s->user, sizeof(s->user), "%s", user); /* libgit2's, freed after the call */
	if (s->key && (allowed & GIT_CREDENTIAL_SSH_MEMORY)) {
		s->offered = true;
		return git_credential_ssh_key_memory_new(out, user, NULL, s->key, s->passphrase);
	}
	if (s->key && (allowed & GIT_CREDENTIAL_SSH_KEY)) {
		s->offered = true; /* a libgit2 without memory keys: libssh2 reads the file */
		return git_credential_ssh_key_new(out, user, NULL, s->key_file, s->passphrase);
	}
	if (!s->key && (allowed & GIT_CREDENTIAL_SSH_KEY) && getenv("SSH_AUTH_SOCK")) {
		s->offered = s->agent = true;
		return git_credential_ssh_key_from_agent(out, user);
	}
	s->missing = true;
	return GIT_EAUTH;
}

/* The known_hosts files to consult: the caller's, else ~/.ssh/known_hosts and the
 * system's. */
static void known_files(const struct checkout_ssh *s, char *files[2])
{
	const char *home = getenv("HOME");
	struct passwd *pw;

	files[0] = files[1] = NULL;
	if (s->known_hosts) {
		files[0] = xstrdup(s->known_hosts);
		return;
	}
	if ((!home || !*home) && (pw = getpwuid(geteuid())))
		home = pw->pw_dir;
	if (home && *home)
		files[0] = xasprintf("%s/.ssh/known_hosts", home);
	files[1] = xstrdup(SYSTEM_KNOWN);
}

static void refuse(struct checkout_ssh *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void refuse(struct checkout_ssh *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void) vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
	s->host_refused = true;
}

int checkout_ssh_check_host(struct checkout_ssh *s, struct git_cert *cert, const char *host)
{
	const git_cert_hostkey *hk = (const git_cert_hostkey *) cert;
	cleanup_free char *name = NULL;
	char *files[2], fp[CHECKOUT_SSH_FP_SIZE], type[64], shown[CHECKOUT_SHOWN];
	enum checkout_kh best = CHECKOUT_KH_UNKNOWN;
	const char *where = NULL;
	unsigned where_line = 0;

	(void) host; /* what libgit2 connected to: the URL's host, which s has with its port */
	name = s->port ? xasprintf("[%s]:%u", s->host, s->port) : xstrdup(s->host);
	checkout_printable(name, shown, sizeof(shown));
	if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2 || !(hk->type & GIT_CERT_SSH_RAW)) {
		refuse(s, "host key of '%s' cannot be checked (libgit2 gave no raw key)", shown);
		return GIT_ECERTIFICATE;
	}
	checkout_ssh_fingerprint((const uint8_t *) hk->hostkey, hk->hostkey_len, fp);
	(void) key_type((const uint8_t *) hk->hostkey, hk->hostkey_len, type, sizeof(type));
	known_files(s, files);
	for (size_t i = 0; i < 2 && best != CHECKOUT_KH_REVOKED; i++) {
		cleanup_free char *text = NULL;
		size_t len = 0;
		unsigned line = 0;
		enum checkout_kh k;

		if (!files[i] || read_file_at(AT_FDCWD, files[i], MAX_KNOWN_HOSTS, &text, &len,
					      &(struct err){ 0 }) < 0)
			continue; /* missing default files know no host */
		k = checkout_known_hosts_match(text, len, s->host, s->port,
					       (const uint8_t *) hk->hostkey, hk->hostkey_len,
					       &line);
		/* revoked > match > changed > unknown */
		if (k == CHECKOUT_KH_REVOKED || (k == CHECKOUT_KH_MATCH && best != k) ||
		    (k == CHECKOUT_KH_CHANGED && best == CHECKOUT_KH_UNKNOWN)) {
			best = k;
			where = files[i];
			where_line = line;
		}
	}
	switch (best) {
	case CHECKOUT_KH_MATCH:
		break;
	case CHECKOUT_KH_REVOKED:
		refuse(s, "host key of '%s' (%s %s) is revoked in '%s' line %u", shown, type, fp,
		       where, where_line);
		break;
	case CHECKOUT_KH_CHANGED:
		refuse(s,
		       "host key of '%s' (%s %s) does not match the known key in '%s' line %u: "
		       "possible man-in-the-middle; if the server's key was changed on purpose, "
		       "remove that line (ssh-keygen -R '%s' -f '%s') and add the new one",
		       shown, type, fp, where, where_line, name, where);
		break;
	case CHECKOUT_KH_UNKNOWN:
		refuse(s,
		       "host key of '%s' (%s %s) is not known: check that fingerprint with the "
		       "server's owner, then add it ('ssh-keyscan%s%.0u %s >> %s') or name a "
		       "known_hosts file that has it (--git-known-hosts)",
		       shown, type, fp, s->port ? " -p " : "", s->port, s->host,
		       files[0] ? files[0] : "~/.ssh/known_hosts");
		break;
	}
	free(files[0]);
	free(files[1]);
	return best == CHECKOUT_KH_MATCH ? 0 : GIT_ECERTIFICATE;
}

int checkout_ssh_fetch_err(const struct checkout_ssh *s, const char *shown, struct err *err)
{
	char user[CHECKOUT_SHOWN];

	checkout_printable(s->user[0] ? s->user : "git", user, sizeof(user));
	if (s->host_refused)
		return err_set(err, EACCES, "fetch '%s': %s", shown, s->why);
	if (s->missing)
		return err_set(err, EACCES,
			       "fetch '%s': no ssh key to offer: give one (--git-ssh-key) or "
			       "start an ssh-agent holding one (SSH_AUTH_SOCK)",
			       shown);
	if (s->offered && !s->agent && !s->refused) {
		/* libssh2 could not use the key before sending it: say which key, not how. */
		const git_error *e = git_error_last();
		if (e && e->message &&
		    (strstr(e->message, "unpack failed") || strstr(e->message, "passphrase") ||
		     strstr(e->message, "extract public key")))
			return err_set(
				err, EACCES,
				"fetch '%s': the ssh key '%s' could not be used: a wrong "
				"passphrase (MAYFLY_GIT_SSH_PASSPHRASE) or a key this libssh2 "
				"cannot read",
				shown, s->key_file);
	}
	if (!s->refused)
		return 0;
	if (s->agent)
		return err_set(err, EACCES,
			       "fetch '%s': the server refused every key of the ssh-agent for "
			       "user '%s'; add one whose public half the account authorizes",
			       shown, user);
	return err_set(err, EACCES,
		       "fetch '%s': the server refused the ssh key '%s' for user '%s'; check "
		       "that the account authorizes its public half%s",
		       shown, s->key_file, user,
		       s->rsa ? " (this libssh2 signs with RSA only by SHA-1 'ssh-rsa', which "
				"OpenSSH 8.8 and later refuse: use an ed25519 or ECDSA key)"
			      : "");
}

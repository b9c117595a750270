/* pgwire.c - just enough of the PostgreSQL frontend/backend protocol (version 3.0) to know
 * that a server is ready and to set a password: the startup message, authentication
 * (trust, cleartext, SCRAM-SHA-256), one simple query, ErrorResponse fields. Each check
 * is one connection; refused connections and "starting up" answers are retried. */
#include "services/services.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "services/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define PG_PROTOCOL  196608 /* 3.0 */
#define PG_MSG_MAX   (1 << 20)
#define PG_KEEP	     8192 /* bytes of a message we look at; the rest is read and dropped */
#define PASSWORD_MAX 1024
#define NAME_MAX_LEN 63

struct pg_msg {
	char type;
	size_t len; /* bytes in body (at most PG_KEEP) */
	uint8_t body[PG_KEEP];
};

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) (v >> 24);
	p[1] = (uint8_t) (v >> 16);
	p[2] = (uint8_t) (v >> 8);
	p[3] = (uint8_t) v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

bool pg_name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

char *pg_quote_ident(const char *s)
{
	char *q = xmalloc(2 * strlen(s) + 3), *p = q;

	*p++ = '"';
	for (; *s; s++) {
		if (*s == '"')
			*p++ = '"';
		*p++ = *s;
	}
	*p++ = '"';
	*p = '\0';
	return q;
}

int pg_error_parse(const uint8_t *body, size_t len, struct pg_error *ret)
{
	struct pg_error e = { 0 };
	size_t i = 0;

	while (i < len && body[i] != '\0') {
		char field = (char) body[i++];
		const uint8_t *nul = memchr(body + i, '\0', len - i);
		if (!nul)
			return -EPROTO;
		const char *v = (const char *) body + i;
		switch (field) {
		case 'S':
			if (!e.severity[0])
				(void) snprintf(e.severity, sizeof(e.severity), "%s", v);
			break;
		case 'V': /* not localized: preferred */
			(void) snprintf(e.severity, sizeof(e.severity), "%s", v);
			break;
		case 'C':
			(void) snprintf(e.code, sizeof(e.code), "%s", v);
			break;
		case 'M':
			(void) snprintf(e.message, sizeof(e.message), "%s", v);
			break;
		case 'D':
			(void) snprintf(e.detail, sizeof(e.detail), "%s", v);
			break;
		case 'H':
			(void) snprintf(e.hint, sizeof(e.hint), "%s", v);
			break;
		default:
			break;
		}
		i = (size_t) (nul - body) + 1;
	}
	if (!e.message[0])
		return -EPROTO;
	*ret = e;
	return 0;
}

int pg_error_errno(const struct pg_error *e)
{
	if (strncmp(e->code, "28", 2) == 0)
		return -EACCES;
	if (strcmp(e->code, "3D000") == 0 || strcmp(e->code, "42704") == 0)
		return -ENOENT;
	if (strcmp(e->code, "57P03") == 0)
		return -EAGAIN;
	return -EPROTO;
}

void pg_error_format(const struct pg_error *e, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s: %s", e->severity[0] ? e->severity : "ERROR", e->message);

	if (e->detail[0] && n >= 0 && (size_t) n < size)
		n += snprintf(buf + n, size - (size_t) n, " (%s)", e->detail);
	if (e->hint[0] && n >= 0 && (size_t) n < size)
		n += snprintf(buf + n, size - (size_t) n, " (hint: %s)", e->hint);
	if (e->code[0] && n >= 0 && (size_t) n < size)
		(void) snprintf(buf + n, size - (size_t) n, " (SQLSTATE %s)", e->code);
}

static int read_msg(int fd, uint64_t deadline, struct pg_msg *m, struct err *err)
{
	uint8_t hdr[5];
	uint32_t len;
	int r;

	r = conn_read_exact(fd, hdr, sizeof(hdr), deadline);
	if (r == -ECONNRESET)
		return err_set(err, ECONNRESET, "the server closed the connection");
	if (r == -ETIMEDOUT)
		return err_set(err, ETIMEDOUT, "no answer from the server in time");
	if (r < 0)
		return err_set(err, r, "read");
	len = get32(hdr + 1);
	if (len < 4 || len > PG_MSG_MAX)
		return err_set(err, EPROTO, "message '%c' of %u bytes: not a PostgreSQL server?",
			       hdr[0] >= 0x20 && hdr[0] < 0x7f ? hdr[0] : '?', len);
	m->type = (char) hdr[0];
	len -= 4;
	m->len = len < PG_KEEP ? len : PG_KEEP;
	r = conn_read_exact(fd, m->body, m->len, deadline);
	for (size_t left = len - m->len; r == 0 && left > 0;) {
		uint8_t drop[512];
		size_t n = left < sizeof(drop) ? left : sizeof(drop);
		r = conn_read_exact(fd, drop, n, deadline);
		left -= n;
	}
	if (r < 0)
		return err_set(err, r, "read");
	return 0;
}

static int send_msg(int fd, char type, const void *a, size_t alen, const void *b, size_t blen,
		    uint64_t deadline, struct err *err)
{
	size_t total = (type ? 1 : 0) + 4 + alen + blen;
	cleanup_free uint8_t *buf = xmalloc(total);
	uint8_t *p = buf;
	int r;

	if (type)
		*p++ = (uint8_t) type;
	put32(p, (uint32_t) (4 + alen + blen));
	if (alen)
		memcpy(p + 4, a, alen);
	if (blen)
		memcpy(p + 4 + alen, b, blen);
	r = conn_write(fd, buf, total, deadline);
	if (r < 0)
		return err_set(err, r, "write");
	return 0;
}

static int server_error(const struct pg_msg *m, struct err *err)
{
	struct pg_error e;
	char text[ERR_MSG_MAX];

	if (pg_error_parse(m->body, m->len, &e) < 0)
		return err_set(err, EPROTO, "malformed ErrorResponse");
	pg_error_format(&e, text, sizeof(text));
	return err_set(err, -pg_error_errno(&e), "%s", text);
}

static int send_startup(int fd, const struct svc_target *t, uint64_t deadline, struct err *err)
{
	const char *user = t->user ? t->user : "postgres";
	const char *db = t->db ? t->db : user;
	cleanup_free char *params = NULL;
	uint8_t proto[4];
	size_t ulen = strlen(user), dlen = strlen(db), n;

	if (!pg_name_ok(user) || !pg_name_ok(db))
		return err_set(err, EINVAL,
			       "role or database name: 1-%d bytes, no control "
			       "characters",
			       NAME_MAX_LEN);
	n = 5 + ulen + 1 + 9 + dlen + 1 + sizeof("application_name\0mayfly") + 1;
	params = xmalloc(n);
	char *p = params;
	memcpy(p, "user", 5);
	p += 5;
	memcpy(p, user, ulen + 1);
	p += ulen + 1;
	memcpy(p, "database", 9);
	p += 9;
	memcpy(p, db, dlen + 1);
	p += dlen + 1;
	memcpy(p, "application_name\0mayfly", sizeof("application_name\0mayfly"));
	p += sizeof("application_name\0mayfly");
	*p++ = '\0';
	put32(proto, PG_PROTOCOL);
	return send_msg(fd, 0, proto, sizeof(proto), params, (size_t) (p - params), deadline, err);
}

static int auth_sasl(int fd, const struct svc_target *t, const struct pg_msg *m, struct scram *s,
		     uint64_t deadline, struct err *err)
{
	static const char mech[] = "SCRAM-SHA-256";
	char first[128];
	uint8_t len[4];
	bool offered = false;
	int r;

	/* The body after the code is a list of NUL-terminated names, ended by an empty one. */
	for (size_t i = 4; i < m->len && m->body[i];) {
		const uint8_t *nul = memchr(m->body + i, '\0', m->len - i);
		if (!nul)
			break;
		if (strcmp((const char *) m->body + i, mech) == 0)
			offered = true;
		i = (size_t) (nul - m->body) + 1;
	}
	if (!offered)
		return err_set(err, ENOTSUP, "the server offers no SASL mechanism we speak");
	if (!t->password)
		return err_set(err, EACCES, "the server asks for a password and none was given");
	r = scram_client_first(s, t->password, NULL, first, sizeof(first), err);
	if (r < 0)
		return r;
	/* SASLInitialResponse: mechanism, int32 length, client-first-message. */
	uint8_t head[sizeof(mech) + 4];
	memcpy(head, mech, sizeof(mech));
	put32(len, (uint32_t) strlen(first));
	memcpy(head + sizeof(mech), len, 4);
	return send_msg(fd, 'p', head, sizeof(head), first, strlen(first), deadline, err);
}

/* One authentication request; 1 when authentication is complete. */
static int auth_step(int fd, const struct svc_target *t, const struct pg_msg *m, struct scram *s,
		     uint64_t deadline, struct err *err)
{
	char final[SCRAM_MSG_MAX];
	uint32_t code;
	int r;

	if (m->len < 4)
		return err_set(err, EPROTO, "malformed authentication request");
	code = get32(m->body);
	switch (code) {
	case 0: /* AuthenticationOk */
		return 1;
	case 3: /* AuthenticationCleartextPassword */
		if (!t->password)
			return err_set(err, EACCES,
				       "the server asks for a password and none "
				       "was given");
		return send_msg(fd, 'p', t->password, strlen(t->password) + 1, NULL, 0, deadline,
				err);
	case 5:
		return err_set(err, ENOTSUP,
			       "the server asks for MD5 authentication, which "
			       "mayfly does not speak: use scram-sha-256");
	case 10: /* AuthenticationSASL */
		return auth_sasl(fd, t, m, s, deadline, err);
	case 11: /* AuthenticationSASLContinue */
		if (!s->password)
			return err_set(err, EPROTO, "SASL continue before SASL start");
		r = scram_client_final(s, (const char *) m->body + 4, m->len - 4, final,
				       sizeof(final), err);
		if (r < 0)
			return r;
		return send_msg(fd, 'p', final, strlen(final), NULL, 0, deadline, err);
	case 12: /* AuthenticationSASLFinal */
		if (!s->password)
			return err_set(err, EPROTO, "SASL final before SASL start");
		return scram_server_final(s, (const char *) m->body + 4, m->len - 4, err);
	default:
		return err_set(err, ENOTSUP,
			       "the server asks for authentication method %u, "
			       "which mayfly does not speak",
			       code);
	}
}

/* Startup and authentication, up to the first ReadyForQuery. */
static int pg_login(int fd, const struct svc_target *t, uint64_t deadline, struct err *err)
{
	cleanup_free struct pg_msg *m = xmalloc(sizeof(*m));
	struct scram s = { 0 };
	int r;

	r = send_startup(fd, t, deadline, err);
	if (r < 0)
		return r;
	for (;;) {
		r = read_msg(fd, deadline, m, err);
		if (r < 0)
			return r;
		switch (m->type) {
		case 'R':
			r = auth_step(fd, t, m, &s, deadline, err);
			if (r < 0)
				return r;
			break;
		case 'E':
			return server_error(m, err);
		case 'Z':
			return 0;
		case 'S': /* ParameterStatus */
		case 'K': /* BackendKeyData */
		case 'N': /* NoticeResponse */
			break;
		default:
			return err_set(err, EPROTO, "unexpected message '%c' during startup",
				       m->type);
		}
	}
}

/* One simple query; its first error, if any, after ReadyForQuery. */
static int pg_query(int fd, const char *sql, uint64_t deadline, struct err *err)
{
	cleanup_free struct pg_msg *m = xmalloc(sizeof(*m));
	struct err first = { 0 };
	int r;

	r = send_msg(fd, 'Q', sql, strlen(sql) + 1, NULL, 0, deadline, err);
	if (r < 0)
		return r;
	for (;;) {
		r = read_msg(fd, deadline, m, err);
		if (r < 0)
			return r;
		if (m->type == 'E' && first.code == 0)
			(void) server_error(m, &first);
		if (m->type == 'Z')
			break;
	}
	/* Terminate; the server closes its side. */
	(void) send_msg(fd, 'X', NULL, 0, NULL, 0, deadline, err);
	if (first.code) {
		*err = first;
		return -first.code;
	}
	return 0;
}

/* Worth another attempt: no server listening yet (refused, or its socket not there), or
 * one that is still starting up or went away during startup. */
static bool retryable(int r, bool connected)
{
	if (!connected)
		return r == -ECONNREFUSED || r == -ENOENT;
	return r == -EAGAIN || r == -ECONNRESET || r == -EPIPE;
}

/* Connect to t, log in and run sql, retrying what a starting server answers. */
static int pg_session(const struct svc_target *t, const char *sql, unsigned timeout_ms,
		      struct err *err)
{
	uint64_t start = svc_now_ms(), deadline = start + timeout_ms;
	unsigned port = t->port ? t->port : SVC_PG_PORT, attempt = 0;
	char name[300];

	conn_name(t, port, true, name, sizeof(name));
	for (;;) {
		cleanup_close int fd = -1;
		struct err last = { 0 };
		int r;

		r = conn_open(t, port, true, &fd, &last);
		bool connected = r == 0;
		if (r == 0)
			r = pg_login(fd, t, deadline, &last);
		if (r == 0)
			r = pg_query(fd, sql, deadline, &last);
		if (r == 0)
			return 0;
		if (!retryable(r, connected)) {
			*err = last;
			return err_wrap(err, "postgres at '%s' as '%s'", name,
					t->user ? t->user : "postgres");
		}
		r = conn_backoff(t, deadline, &attempt, err);
		if (r == -ETIMEDOUT)
			return err_set(err, ETIMEDOUT,
				       "postgres at '%s': not ready after %u ms "
				       "(last: %s)",
				       name, (unsigned) (svc_now_ms() - start), last.msg);
		if (r < 0)
			return err_wrap(err, "postgres at '%s'", name);
	}
}

int svc_pg_ready(const struct svc_target *t, unsigned timeout_ms, struct err *err)
{
	return pg_session(t, "SELECT 1", timeout_ms, err);
}

int svc_pg_exec(const struct svc_target *t, const char *sql, unsigned timeout_ms, struct err *err)
{
	uint64_t deadline = svc_now_ms() + timeout_ms;
	unsigned port = t->port ? t->port : SVC_PG_PORT;
	cleanup_close int fd = -1;
	char name[300];
	int r;

	conn_name(t, port, true, name, sizeof(name));
	r = conn_open(t, port, true, &fd, err);
	if (r == 0)
		r = pg_login(fd, t, deadline, err);
	if (r == 0)
		r = pg_query(fd, sql, deadline, err);
	if (r < 0)
		return err_wrap(err, "postgres at '%s' as '%s'", name,
				t->user ? t->user : "postgres");
	return 0;
}

int svc_pg_verifier(const char *password, char out[SVC_PG_VERIFIER_MAX], struct err *err)
{
	uint8_t salt[SCRAM_SALT_LEN];
	size_t n = strlen(password);
	int r;

	if (n == 0 || n > PASSWORD_MAX)
		return err_set(err, EINVAL, "password: 1-%d bytes", PASSWORD_MAX);
	/* SASLprep (RFC 4013) leaves printable ASCII alone; other passwords could be
	 * changed by a client's normalisation and then never match. */
	for (size_t i = 0; i < n; i++)
		if (password[i] < 0x20 || password[i] > 0x7e)
			return err_set(err, EINVAL, "password: only printable ASCII characters");
	r = svc_random(salt, sizeof(salt));
	if (r < 0)
		return err_set(err, r, "getrandom");
	if (scram_verifier(password, salt, sizeof(salt), SCRAM_ITERATIONS, out,
			   SVC_PG_VERIFIER_MAX) < 0)
		return err_set(err, ENOBUFS, "scram verifier");
	return 0;
}

char *svc_pg_quote_ident(const char *name)
{
	return pg_quote_ident(name);
}

int svc_pg_set_password(const struct svc_target *t, const char *role, const char *password,
			unsigned timeout_ms, struct err *err)
{
	char verifier[SVC_PG_VERIFIER_MAX];
	cleanup_free char *quoted = NULL, *sql = NULL;
	int r;

	if (!pg_name_ok(role))
		return err_set(err, EINVAL, "role name: 1-%d bytes, no control characters",
			       NAME_MAX_LEN);
	/* Computed before connecting: this overlaps with the server's own start. */
	r = svc_pg_verifier(password, verifier, err);
	if (r < 0)
		return r;
	quoted = pg_quote_ident(role);
	/* SECURITY: only the verifier crosses the wire (and would reach a statement log). */
	sql = xasprintf("ALTER ROLE %s PASSWORD '%s'", quoted, verifier);
	return pg_session(t, sql, timeout_ms, err);
}

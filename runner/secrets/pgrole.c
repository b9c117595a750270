/* pgrole.c - the document of a postgres-role entry: the admin connection from which each
 * lease makes a role of its own, and the roles that role is made a member of. JSON or
 * key=value lines; everything is checked here, so a bad entry is refused when it is set,
 * not when a job needs it. The admin password is kept in sodium memory only (the JSON
 * parser's copy is wiped). docs/secrets.md describes the format. */
#include "secrets/secrets.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "secrets/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/json.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define PASSWORD_MAX 1024

struct secret_pgrole *secret_pgrole_free(struct secret_pgrole *p)
{
	if (!p)
		return NULL;
	if (p->password)
		sodium_free(p->password);
	strv_free(p->member_of);
	free(p);
	return NULL;
}

bool secret_pgrole_ident_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > SECRET_PG_IDENT_MAX || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* A host name or an IP literal: letters, digits, '.', '-', ':' (IPv6). */
static bool host_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 253 || s[0] == '-' || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '-' || s[i] == ':'))
			return false;
	return true;
}

/* One key's value (NUL-terminated, len bytes) into p. */
static int set_key(struct secret_pgrole *p, const char *key, const char *val, size_t len,
		   unsigned *seen, struct err *err)
{
	static const char *const keys[] = { "host",   "port",	 "user",     "password",
					    "dbname", "sslmode", "member_of" };
	size_t k = 0;

	while (k < ARRAY_SIZE(keys) && strcmp(keys[k], key) != 0)
		k++;
	if (k == ARRAY_SIZE(keys))
		return err_set(err, EINVAL,
			       "unknown key '%.40s' (the keys are host, port, user, password, "
			       "dbname, sslmode, member_of)",
			       key);
	if (*seen & (1u << k))
		return err_set(err, EINVAL, "'%s' given twice", key);
	*seen |= 1u << k;
	if (strlen(val) != len)
		return err_set(err, EINVAL, "'%s': a NUL byte in the value", key);
	switch (k) {
	case 0:
		if (!host_ok(val))
			return err_set(err, EINVAL,
				       "host: a host name or an IP address (letters, digits, '.', "
				       "'-', ':')");
		(void) str_copy(p->host, sizeof(p->host), val);
		return 0;
	case 1: {
		unsigned port;
		if (safe_atou(val, &port) < 0 || port == 0 || port > 65535)
			return err_set(err, EINVAL, "port: a number from 1 to 65535");
		p->port = port;
		return 0;
	}
	case 2:
	case 4:
		/* In the startup packet, never in SQL: any printable name PostgreSQL takes. */
		if (len == 0 || len > SECRET_PG_IDENT_MAX)
			return err_set(err, EINVAL, "%s: 1-%d characters", key,
				       SECRET_PG_IDENT_MAX);
		for (size_t i = 0; i < len; i++)
			if ((unsigned char) val[i] < 0x20 || val[i] == 0x7f)
				return err_set(err, EINVAL, "%s: no control characters", key);
		(void) str_copy(k == 2 ? p->user : p->dbname, SECRET_PG_IDENT_MAX + 1, val);
		return 0;
	case 3:
		if (len == 0 || len > PASSWORD_MAX)
			return err_set(err, EINVAL, "password: 1-%d bytes", PASSWORD_MAX);
		for (size_t i = 0; i < len; i++)
			if (val[i] < 0x20 || val[i] > 0x7e)
				return err_set(err, EINVAL,
					       "password: printable ASCII characters only");
		p->password = sodium_malloc(len + 1);
		if (!p->password)
			abort();
		memcpy(p->password, val, len + 1);
		return 0;
	case 5:
		if (strcmp(val, "disable") != 0)
			return err_set(err, EOPNOTSUPP,
				       "sslmode '%.20s': only 'disable' for now (the connection to "
				       "the server is not encrypted: use a server on a trusted "
				       "network)",
				       val);
		return 0;
	default:
		return err_set(err, EINVAL, "member_of: a list of role names");
	}
}

static int add_member(struct secret_pgrole *p, const char *role, struct err *err)
{
	if (!secret_pgrole_ident_ok(role))
		return err_set(err, EINVAL,
			       "member_of '%.70s': a role name of lowercase letters, digits and "
			       "'_', not starting with a digit, at most %d characters",
			       role, SECRET_PG_IDENT_MAX);
	if (strv_len(p->member_of) >= SECRET_PG_ROLES_MAX)
		return err_set(err, EINVAL, "member_of: at most %d roles", SECRET_PG_ROLES_MAX);
	strv_push(&p->member_of, role);
	return 0;
}

static int parse_json(struct secret_pgrole *p, const char *text, size_t len, unsigned *seen,
		      struct err *err)
{
	CLEANUP(json_freep) struct json *j = NULL;
	int r;

	r = json_parse(text, len, &j, err);
	if (r < 0)
		return err_set(err, EINVAL, "not valid JSON");
	if (!json_is_object(j))
		return err_set(err, EINVAL, "not a JSON object");
	r = 0;
	for (size_t i = 0; i < json_object_len(j) && r == 0; i++) {
		const char *key;
		const struct json *m = json_member_at(j, i, &key);
		if (strcmp(key, "member_of") == 0) {
			*seen |= 1u << 6;
			for (size_t k = 0; k < json_array_len(m) && r == 0; k++) {
				const char *role = json_str(json_array_at(m, k));
				r = role ? add_member(p, role, err)
					 : err_set(err, EINVAL, "member_of: role names as strings");
			}
			if (r == 0 && json_str(m))
				r = err_set(err, EINVAL, "member_of: a list of role names");
			continue;
		}
		if (strcmp(key, "port") == 0 && !json_str(m)) {
			int64_t port = 0;
			if (!json_get_i64(j, "port", &port) || port <= 0 || port > 65535)
				r = err_set(err, EINVAL, "port: a number from 1 to 65535");
			else {
				char buf[16];
				(void) snprintf(buf, sizeof(buf), "%d", (int) port);
				r = set_key(p, key, buf, strlen(buf), seen, err);
			}
			continue;
		}
		const char *val = json_str(m);
		if (!val)
			r = err_set(err, EINVAL, "'%.40s': a string", key);
		else
			r = set_key(p, key, val, strlen(val), seen, err);
		/* SECURITY: the parser's copy of the password is wiped before it is freed. */
		if (val && strcmp(key, "password") == 0)
			sodium_memzero((char *) val, strlen(val));
	}
	return r;
}

/* key=value lines; blank lines and '#' comments ignored, blanks around '=' too (a
 * value's trailing ones are kept); member_of a comma-separated list. The text is not changed: each
 * line is copied into sodium memory. */
static int parse_lines(struct secret_pgrole *p, const char *text, size_t len, unsigned *seen,
		       struct err *err)
{
	char *line = sodium_malloc(len + 1);
	unsigned no = 0;
	int r = 0;

	if (!line)
		abort();
	for (size_t at = 0; at < len && r == 0;) {
		const char *nl = memchr(text + at, '\n', len - at);
		size_t n = (nl ? (size_t) (nl - text) : len) - at;
		memcpy(line, text + at, n);
		line[n] = '\0';
		at += n + 1;
		no++;
		if (n && line[n - 1] == '\r')
			line[--n] = '\0';
		char *s = line;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0' || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (!eq) {
			r = err_set(err, EINVAL, "line %u: not key=value", no);
			break;
		}
		*eq = '\0';
		char *key = s, *end = eq;
		while (end > key && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		const char *val = eq + 1;
		while (*val == ' ' || *val == '\t')
			val++;
		if (strcmp(key, "member_of") == 0) {
			*seen |= 1u << 6;
			cleanup_free char *list = xstrdup(val);
			for (char *save = NULL, *t = strtok_r(list, ", ", &save); t && r == 0;
			     t = strtok_r(NULL, ", ", &save))
				r = add_member(p, t, err);
		} else {
			r = set_key(p, key, val, strlen(val), seen, err);
		}
		if (r < 0)
			(void) err_wrap(err, "line %u", no);
	}
	sodium_free(line); /* wipes */
	return r;
}

int secret_pgrole_parse(const void *text, size_t len, struct secret_pgrole **ret, struct err *err)
{
	CLEANUP(secret_pgrole_freep) struct secret_pgrole *p = xcalloc(1, sizeof(*p));
	const char *t = text;
	unsigned seen = 0;
	size_t i = 0;
	int r;

	if (sodium_init() < 0)
		abort();
	while (i < len && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r'))
		i++;
	r = i < len && t[i] == '{' ? parse_json(p, t, len, &seen, err)
				   : parse_lines(p, t, len, &seen, err);
	if (r < 0)
		return err_wrap(err, "postgres-role entry");
	if (!p->host[0] || !p->user[0] || !p->password)
		return err_set(err, EINVAL,
			       "postgres-role entry: host, user and password are required (the "
			       "admin connection that creates each lease's role)");
	if (!p->port)
		p->port = 5432;
	if (!p->dbname[0])
		(void) str_copy(p->dbname, sizeof(p->dbname), p->user);
	*ret = TAKE_PTR(p);
	return 0;
}

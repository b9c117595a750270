/* pgrole.c - postgres-role leases: before the sandbox starts, a role of its own is made
 * on the entry's server (as the entry's admin, from the host), valid until the lease
 * ends and a member of the entry's roles; the job gets a URL with that role's name and a
 * fresh password, pointing at the sandbox's own 127.0.0.1, which is forwarded to the
 * server (egress.c). At the end (or in gc, after a killed mayfly) the role's sessions are
 * terminated and the role dropped. The admin password goes only to the server's SCRAM
 * exchange; the role's password only into the job's URL (the server gets its verifier).
 * See docs/secrets.md. */
#include "sandbox/sandbox.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "net/net.h"
#include "sandbox/internal.h"
#include "secrets/secrets.h"
#include "services/services.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define PG_ADMIN_TIMEOUT_MS 15000
#define ROLE_PREFIX	    "mayfly_"

/* The host's address for name (an IP literal or a name the host resolves). */
static int resolve(const char *host, char ip[46], struct err *err)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	int r;

	if (strcmp(host, "localhost") == 0)
		host = "127.0.0.1";
	r = getaddrinfo(host, NULL, &hints, &res);
	if (r != 0)
		return err_set(err, r == EAI_SYSTEM ? errno : EHOSTUNREACH, "resolve '%s': %s",
			       host, gai_strerror(r));
	r = -EAFNOSUPPORT;
	for (const struct addrinfo *a = res; a && r < 0; a = a->ai_next) {
		const void *in =
			a->ai_family == AF_INET
				? (const void *) &((struct sockaddr_in *) a->ai_addr)->sin_addr
			: a->ai_family == AF_INET6
				? (const void *) &((struct sockaddr_in6 *) a->ai_addr)->sin6_addr
				: NULL;
		if (in && inet_ntop(a->ai_family, in, ip, 46))
			r = 0;
	}
	freeaddrinfo(res);
	if (r < 0)
		return err_set(err, EAFNOSUPPORT, "resolve '%s': no IPv4 or IPv6 address", host);
	return 0;
}

static struct svc_target admin(const struct secret_pgrole *pg, const char *ip)
{
	return (struct svc_target){ .host = ip,
				    .port = pg->port,
				    .user = pg->user,
				    .password = pg->password,
				    .db = pg->dbname };
}

static int drop_role(const struct secret_pgrole *pg, const char *ip, const char *role,
		     struct err *err)
{
	cleanup_free char *q = svc_pg_quote_ident(role), *sql = NULL;

	/* role is one of ours ([a-z0-9_]): safe as a literal too. Its sessions first (DROP
	 * ROLE would leave them running), then what it owns in the entry's database. */
	sql = xasprintf("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
			"WHERE usename = '%s' AND pid <> pg_backend_pid(); "
			"DO $mayfly$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '%s') "
			"THEN EXECUTE 'DROP OWNED BY %s'; EXECUTE 'DROP ROLE %s'; END IF; "
			"END $mayfly$",
			role, role, q, q);
	struct svc_target t = admin(pg, ip);
	int r = svc_pg_exec(&t, sql, PG_ADMIN_TIMEOUT_MS, err);
	if (r < 0)
		return err_wrap(err, "drop role '%s'", role);
	return 0;
}

static int create_role(const struct secret_pgrole *pg, const char *ip, const char *role,
		       const char *password, int64_t until_ms, struct err *err)
{
	char verifier[SVC_PG_VERIFIER_MAX], until[64], day[32];
	cleanup_free char *q = svc_pg_quote_ident(role), *in_role = NULL, *sql = NULL;
	time_t secs = (time_t) (until_ms / 1000);
	struct tm tm;
	int r;

	r = svc_pg_verifier(password, verifier, err);
	if (r < 0)
		return r;
	(void) gmtime_r(&secs, &tm);
	(void) strftime(day, sizeof(day), "%Y-%m-%d %H:%M:%S", &tm);
	(void) snprintf(until, sizeof(until), "%s.%03d+00", day, (int) (until_ms % 1000));
	for (size_t i = 0; pg->member_of && pg->member_of[i]; i++) {
		cleanup_free char *m = svc_pg_quote_ident(pg->member_of[i]);
		char *next = xasprintf("%s%s%s", in_role ? in_role : " IN ROLE ",
				       in_role ? ", " : "", m);
		free(in_role);
		in_role = next;
	}
	/* SECURITY: only the verifier crosses the wire (and could reach a statement log). */
	sql = xasprintf("CREATE ROLE %s WITH LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE "
			"NOREPLICATION NOBYPASSRLS PASSWORD '%s' VALID UNTIL '%s'%s",
			q, verifier, until, in_role ? in_role : "");
	explicit_bzero(verifier, sizeof(verifier));
	struct svc_target t = admin(pg, ip);
	r = svc_pg_exec(&t, sql, PG_ADMIN_TIMEOUT_MS, err);
	explicit_bzero(sql, strlen(sql));
	if (r < 0)
		return err_wrap(err, "create role '%s'", role);
	return 0;
}

/* The sandbox's 127.0.0.1:port must be free for the forward. */
static int port_free_inside(const struct sandbox_spec *spec, const char *name, unsigned port,
			    struct err *err)
{
	if (port == NET_PROXY_PORT && strv_len(spec->allow_hosts))
		return err_set(err, EADDRINUSE,
			       "'%s': its port %u is the egress proxy's inside the sandbox "
			       "(--allow-host): use the server on another port",
			       name, port);
	for (size_t i = 0; port == SVC_PG_PORT && spec->services && spec->services[i]; i++)
		if (strncmp(spec->services[i], "postgres", 8) == 0 &&
		    (spec->services[i][8] == '\0' || spec->services[i][8] == ':'))
			return err_set(err, EADDRINUSE,
				       "'%s': its port %u is the --service postgres's inside the "
				       "sandbox: drop one of them",
				       name, port);
	return 0;
}

/* dbname percent-encoded for a URL path. */
static void url_part(const char *s, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *s && n + 4 < size; s++) {
		unsigned char c = (unsigned char) *s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			out[n++] = (char) c;
		} else {
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		}
	}
	out[n] = '\0';
}

int pgroles_lease(struct secret_lease *l, struct sandbox_spec *spec, struct err *err)
{
	for (size_t i = 0; i < secret_lease_count(l); i++) {
		CLEANUP(secret_pgrole_freep) struct secret_pgrole *pg = NULL;
		const struct secret_value *src = secret_lease_source(l, i);
		const char *name = secret_lease_name(l, i);
		char ip[46], role[64], password[SVC_PASSWORD_LEN + 1], db[3 * 64 + 1];
		unsigned char rnd[8];
		int r;

		if (!secret_lease_kind(l, i) ||
		    strcmp(secret_lease_kind(l, i), SECRET_KIND_PGROLE) != 0)
			continue;
		if (secret_lease_is_brokered(l, i))
			return err_set(err, EINVAL,
				       "'%s' is a postgres-role entry: lease it with --secret or "
				       "--secret-file, not for the broker",
				       name);
		r = secret_pgrole_parse(src->data, src->len, &pg, err);
		if (r == 0)
			r = resolve(pg->host, ip, err);
		if (r < 0)
			return err_wrap(err, "'%s'", name);
		r = port_free_inside(spec, name, pg->port, err);
		if (r < 0)
			return r;
		if (spec->forward_port &&
		    (spec->forward_port != pg->port || strcmp(spec->forward_ip, ip) != 0))
			return err_set(err, EINVAL,
				       "'%s': one database server per sandbox for now (another "
				       "postgres-role entry leased here names another)",
				       name);
		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd))
			return err_set(err, EIO, "getrandom");
		(void) snprintf(role, sizeof(role), ROLE_PREFIX "%02x%02x%02x%02x%02x%02x%02x%02x",
				rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
		r = svc_password_new(password, err);
		if (r < 0)
			return r;
		r = create_role(pg, ip, role, password, secret_lease_until(l), err);
		if (r < 0) {
			explicit_bzero(password, sizeof(password));
			return err_wrap(err,
					"'%s' (postgres-role): check the entry's admin "
					"connection ('mayfly secrets set ENV %s --kind "
					"postgres-role')",
					name, name);
		}
		secret_lease_set_handle(l, i, role);
		(void) str_copy(spec->forward_ip, sizeof(spec->forward_ip), ip);
		spec->forward_port = pg->port;
		url_part(pg->dbname, db, sizeof(db));
		cleanup_free char *url =
			xasprintf("postgresql://%s:%s@127.0.0.1:%u/%s?sslmode=disable", role,
				  password, pg->port, db);
		/* The password alone is masked too: a job may print it without the URL. */
		secret_lease_set_part(l, i, password, strlen(password));
		explicit_bzero(password, sizeof(password));
		secret_lease_set_value(l, i, url, strlen(url));
		explicit_bzero(url, strlen(url));
	}
	return 0;
}

int pgrole_drop_source(const struct secret_value *src, const char *role, struct err *err)
{
	CLEANUP(secret_pgrole_freep) struct secret_pgrole *pg = NULL;
	char ip[46];
	int r;

	r = secret_pgrole_parse(src->data, src->len, &pg, err);
	if (r == 0)
		r = resolve(pg->host, ip, err);
	if (r == 0)
		r = drop_role(pg, ip, role, err);
	return r;
}

int pgroles_revoke(struct secret_lease *l, const struct secret_vault *v, char ***ret_roles,
		   struct err *err)
{
	int r = 0;

	for (size_t i = 0; i < secret_lease_count(l); i++) {
		CLEANUP(secret_value_freep) struct secret_value *val = NULL;
		const struct secret_value *src = secret_lease_source(l, i);
		const char *role = secret_lease_handle(l, i);
		struct err e2 = { 0 };
		int r2 = 0;

		if (!role)
			continue;
		if (ret_roles)
			strv_push(ret_roles, role);
		/* The lease forgot the admin connection: unsealed again, just for this. */
		if (!src->data) {
			r2 = v ? secret_vault_get(v, secret_lease_env(l), secret_lease_name(l, i),
						  &val, &e2)
			       : err_set(&e2, ENOKEY, "the vault is not open");
			src = val;
		}
		if (r2 < 0 || pgrole_drop_source(src, role, &e2) < 0) {
			if (r == 0) {
				*err = e2;
				r = err_wrap(err, "'%s'", secret_lease_name(l, i));
			}
			continue;
		}
		secret_lease_set_handle(l, i, NULL);
	}
	return r;
}

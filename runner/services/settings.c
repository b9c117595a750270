/* settings.c - the throwaway settings of a job's servers, their overrides, the command
 * lines built from them, and the job's variables. */
#include "services/services.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "services/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

DEFINE_CLEANUP(char **, strv_free)

#define VALUE_MAX 1024

/* A server for one job's tests: durability off (the data dies with the job anyway), small
 * memory, WAL kept small on the job's disk, logs to stderr. docs/services.md says why. */
static const char *const pg_defaults[] = {
	"listen_addresses=127.0.0.1,::1",
	"fsync=off",
	"synchronous_commit=off",
	"full_page_writes=off",
	"wal_level=minimal",
	"max_wal_senders=0",
	"max_wal_size=64MB",
	"min_wal_size=4MB",
	"shared_buffers=16MB",
	"max_connections=50",
	"huge_pages=off",
	"jit=off",
	"logging_collector=off",
	"log_destination=stderr",
	"unix_socket_permissions=0700",
	NULL,
};

static const char *const pg_reserved[] = {
	"port",
	"unix_socket_directories",
	"data_directory",
	"config_file",
	"hba_file",
	"ident_file",
	"external_pid_file",
	NULL,
};

static const char *const redis_defaults[] = {
	"bind=127.0.0.1 -::1", /* "-": start even where IPv6 is off */
	"save=",	       /* no RDB snapshots */
	"appendonly=no",
	"hz=100", /* SIGTERM is handled on a timer tick: 10 ms instead of 100 */
	"loglevel=warning",
	NULL,
};

static const char *const redis_reserved[] = { "port", "requirepass", "daemonize", "include", NULL };

bool pg_key_ok(const char *key, size_t len)
{
	if (len == 0 || len > 63 ||
	    !((key[0] >= 'a' && key[0] <= 'z') || (key[0] >= 'A' && key[0] <= 'Z')))
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = key[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '.'))
			return false;
	}
	return true;
}

bool redis_key_ok(const char *key, size_t len)
{
	if (len == 0 || len > 63)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = key[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return false;
	}
	return true;
}

static size_t key_len(const char *setting)
{
	const char *eq = strchr(setting, '=');
	return eq ? (size_t) (eq - setting) : strlen(setting);
}

static bool is_reserved(const char *key, size_t len, const char *const *reserved)
{
	for (size_t i = 0; reserved[i]; i++)
		if (strlen(reserved[i]) == len && strncasecmp(reserved[i], key, len) == 0)
			return true;
	return false;
}

int settings_merge(const char *const *defaults, char *const *overrides, const char *const *reserved,
		   bool (*key_ok)(const char *key, size_t len), char ***ret, struct err *err)
{
	CLEANUP(strv_freep) char **out = NULL;

	for (size_t i = 0; defaults[i]; i++)
		strv_push(&out, defaults[i]);
	for (size_t i = 0; overrides && overrides[i]; i++) {
		const char *s = overrides[i], *eq = strchr(s, '=');
		size_t klen = key_len(s);
		bool replaced = false;

		if (!eq || !key_ok(s, klen))
			return err_set(err, EINVAL,
				       "setting '%.64s': expected key=value with a "
				       "key of letters, digits%s",
				       s, key_ok == redis_key_ok ? " and '-'" : ", '_' and '.'");
		if (strlen(eq + 1) > VALUE_MAX)
			return err_set(err, EINVAL, "setting '%.*s': value longer than %d bytes",
				       (int) klen, s, VALUE_MAX);
		for (const char *p = eq + 1; *p; p++)
			if ((unsigned char) *p < 0x20 || *p == 0x7f)
				return err_set(err, EINVAL,
					       "setting '%.*s': control character "
					       "in the value",
					       (int) klen, s);
		if (is_reserved(s, klen, reserved))
			return err_set(err, EINVAL,
				       "setting '%.*s' is mayfly's own (the port, "
				       "paths and password have their own options)",
				       (int) klen, s);
		for (size_t j = 0; out[j]; j++) {
			if (key_len(out[j]) == klen && strncasecmp(out[j], s, klen) == 0) {
				free(out[j]);
				out[j] = xstrdup(s);
				replaced = true;
				break;
			}
		}
		if (!replaced)
			strv_push(&out, s);
	}
	*ret = TAKE_PTR(out);
	return 0;
}

int svc_pg_settings(char *const *overrides, char ***ret, struct err *err)
{
	return settings_merge(pg_defaults, overrides, pg_reserved, pg_key_ok, ret, err);
}

int svc_pg_argv(const struct svc_install *inst, const struct svc_pg_server *srv, char ***ret_argv,
		struct err *err)
{
	CLEANUP(strv_freep) char **settings = NULL;
	CLEANUP(strv_freep) char **argv = NULL;
	cleanup_free char *port = xasprintf("%u", srv->port ? srv->port : SVC_PG_PORT);
	cleanup_free char *sock = NULL;
	int r;

	if (inst->kind != SVC_POSTGRES)
		return err_set(err, EINVAL, "'%s' is not a postgres server", inst->server);
	if (!srv->datadir || srv->datadir[0] != '/' || !srv->socket_dir ||
	    srv->socket_dir[0] != '/')
		return err_set(err, EINVAL,
			       "postgres: data and socket directories must be "
			       "absolute paths");
	/* The setting is a list: a comma, a quote or a space would split or quote it. */
	if (strpbrk(srv->socket_dir, ", \t\"\\"))
		return err_set(err, EINVAL,
			       "postgres: socket directory '%s' has a comma, quote "
			       "or space",
			       srv->socket_dir);
	if (srv->port > 65535)
		return err_set(err, EINVAL, "postgres: port %u", srv->port);
	r = svc_pg_settings(srv->settings, &settings, err);
	if (r < 0)
		return err_wrap(err, "postgres");
	sock = xasprintf("unix_socket_directories=%s", srv->socket_dir);
	strv_push(&argv, inst->server);
	strv_push(&argv, "-D");
	strv_push(&argv, srv->datadir);
	strv_push(&argv, "-p");
	strv_push(&argv, port);
	strv_push(&argv, "-c");
	strv_push(&argv, sock);
	for (size_t i = 0; settings[i]; i++) {
		strv_push(&argv, "-c");
		strv_push(&argv, settings[i]);
	}
	*ret_argv = TAKE_PTR(argv);
	return 0;
}

/* "requirepass" with the password in a double-quoted string, every byte but letters and
 * digits escaped as \xHH (the config parser's sdssplitargs() undoes it). */
static char *redis_password_conf(const char *password)
{
	size_t n = strlen(password);
	char *conf = xmalloc(4 * n + 32), *p = conf;

	p += snprintf(p, 32, "requirepass \"");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char) password[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
			*p++ = (char) c;
		else
			p += snprintf(p, 5, "\\x%02x", c);
	}
	(void) snprintf(p, 3, "\"\n");
	return conf;
}

int svc_redis_argv(const struct svc_install *inst, const struct svc_redis_server *srv,
		   char ***ret_argv, char **ret_stdin, struct err *err)
{
	CLEANUP(strv_freep) char **settings = NULL;
	CLEANUP(strv_freep) char **overrides = NULL;
	CLEANUP(strv_freep) char **argv = NULL;
	cleanup_free char *port = xasprintf("%u", srv->port ? srv->port : SVC_REDIS_PORT);
	cleanup_free char *dir = xasprintf("dir=%s", srv->dir ? srv->dir : "/tmp");
	int r;

	if (inst->kind != SVC_REDIS)
		return err_set(err, EINVAL, "'%s' is not a redis server", inst->server);
	if (srv->port > 65535)
		return err_set(err, EINVAL, "redis: port %u", srv->port);
	if (srv->password && (strlen(srv->password) == 0 || strlen(srv->password) > VALUE_MAX))
		return err_set(err, EINVAL, "redis: password of 1-%d bytes", VALUE_MAX);
	/* dir is a default like the others: an override may replace it. */
	strv_push(&overrides, dir);
	for (size_t i = 0; srv->settings && srv->settings[i]; i++)
		strv_push(&overrides, srv->settings[i]);
	r = settings_merge(redis_defaults, overrides, redis_reserved, redis_key_ok, &settings, err);
	if (r < 0)
		return err_wrap(err, "redis");
	strv_push(&argv, inst->server);
	/* "-" reads more configuration from stdin; it must come first (or last). */
	if (srv->password)
		strv_push(&argv, "-");
	strv_push(&argv, "--port");
	strv_push(&argv, port);
	strv_push(&argv, "--daemonize");
	strv_push(&argv, "no");
	for (size_t i = 0; settings[i]; i++) {
		const char *eq = strchr(settings[i], '=');
		cleanup_free char *opt = xasprintf("--%.*s", (int) (eq - settings[i]), settings[i]);
		strv_push(&argv, opt);
		/* Each word of the value is its own argument ("save=60 1" -> "60" "1"); an
		 * empty value is one empty argument (save ""). */
		const char *w = eq + 1;
		if (!*w)
			strv_push(&argv, "");
		while (*w) {
			size_t n = strcspn(w, " ");
			if (n > 0) {
				cleanup_free char *word = xstrndup(w, n);
				strv_push(&argv, word);
			}
			w += n;
			w += strspn(w, " ");
		}
	}
	*ret_stdin = srv->password ? redis_password_conf(srv->password) : NULL;
	*ret_argv = TAKE_PTR(argv);
	return 0;
}

char *url_escape(const char *s)
{
	char *out = xmalloc(3 * strlen(s) + 1), *p = out;

	for (; *s; s++) {
		unsigned char c = (unsigned char) *s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~')
			*p++ = (char) c;
		else
			p += snprintf(p, 4, "%%%02X", c);
	}
	*p = '\0';
	return out;
}

static void push_var(char ***env, const char *key, const char *value)
{
	cleanup_free char *kv = xasprintf("%s=%s", key, value);
	strv_push(env, kv);
}

char **svc_env(const struct svc_vars *v)
{
	const char *host = v->host ? v->host : "localhost";
	/* An IPv6 literal is bracketed in a URL. */
	cleanup_free char *url_host = strchr(host, ':') ? xasprintf("[%s]", host) : xstrdup(host);
	char **env = NULL;

	if (v->postgres) {
		const char *user = v->pg_user ? v->pg_user : "postgres";
		const char *db = v->pg_db ? v->pg_db : user;
		unsigned port = v->pg_port ? v->pg_port : SVC_PG_PORT;
		cleanup_free char *u = url_escape(user), *d = url_escape(db);
		cleanup_free char *p = v->pg_password ? url_escape(v->pg_password) : NULL;
		cleanup_free char *url = xasprintf("postgresql://%s%s%s@%s:%u/%s", u, p ? ":" : "",
						   p ? p : "", url_host, port, d);
		char port_s[16];

		(void) snprintf(port_s, sizeof(port_s), "%u", port);
		push_var(&env, "DATABASE_URL", url);
		push_var(&env, "PGHOST", host);
		push_var(&env, "PGPORT", port_s);
		push_var(&env, "PGUSER", user);
		if (v->pg_password)
			push_var(&env, "PGPASSWORD", v->pg_password);
		push_var(&env, "PGDATABASE", db);
	}
	if (v->redis) {
		unsigned port = v->redis_port ? v->redis_port : SVC_REDIS_PORT;
		cleanup_free char *p = v->redis_password ? url_escape(v->redis_password) : NULL;
		cleanup_free char *url = xasprintf("redis://%s%s%s%s:%u", p ? ":" : "", p ? p : "",
						   p ? "@" : "", url_host, port);
		push_var(&env, "REDIS_URL", url);
	}
	if (!env)
		env = xcalloc(1, sizeof(char *));
	return env;
}

/* test-settings.c - server settings and their overrides, the command lines built from them
 * (no password in an argv), the job's variables, and template keys. */
#include <string.h>

#include "services/internal.h"
#include "services/services.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/str.h"
#include "test.h"

DEFINE_CLEANUP(char **, strv_free)

static const struct svc_install pg = {
	.kind = SVC_POSTGRES,
	.major = 15,
	.version = "15",
	.bindir = "/usr/lib/postgresql/15/bin",
	.server = "/usr/lib/postgresql/15/bin/postgres",
	.identity = "0123456789abcdef",
};
static const struct svc_install redis = {
	.kind = SVC_REDIS,
	.bindir = "/usr/bin",
	.server = "/usr/bin/redis-server",
	.identity = "fedcba9876543210",
};

static const char *find(char **v, const char *prefix)
{
	for (size_t i = 0; v && v[i]; i++)
		if (str_startswith(v[i], prefix))
			return v[i];
	return NULL;
}

TEST(pg_settings_override_and_append)
{
	char *over[] = { (char *) "fsync=on", (char *) "log_statement=all",
			 (char *) "SHARED_BUFFERS=64MB", NULL };
	CLEANUP(strv_freep) char **s = NULL;
	struct err err = { 0 };

	CHECK_OK(svc_pg_settings(over, &s, &err));
	CHECK_STR_EQ(find(s, "fsync="), "fsync=on");
	CHECK_STR_EQ(find(s, "synchronous_commit="), "synchronous_commit=off");
	CHECK_STR_EQ(find(s, "log_statement="), "log_statement=all");
	/* Keys are case-insensitive, as PostgreSQL's: replaced, not duplicated. */
	CHECK(find(s, "shared_buffers=") == NULL);
	CHECK_STR_EQ(find(s, "SHARED_BUFFERS="), "SHARED_BUFFERS=64MB");
	CHECK_STR_EQ(s[strv_len(s) - 1], "log_statement=all");
}

TEST(pg_settings_refuse_bad_and_reserved_keys)
{
	static const char *const bad[] = { "port=5433", "Unix_Socket_Directories=/x",
					   "fsync",	"=on",
					   "f sync=on", "1fsync=on",
					   "a=b\nc",	"data_directory=/etc" };
	struct err err = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char *over[] = { (char *) bad[i], NULL };
		CLEANUP(strv_freep) char **s = NULL;
		CHECK_EQ(svc_pg_settings(over, &s, &err), -EINVAL);
		CHECK(s == NULL);
	}
	char *over[] = { (char *) "port=1", NULL };
	CLEANUP(strv_freep) char **s = NULL;
	CHECK_EQ(svc_pg_settings(over, &s, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "'port' is mayfly's own");
}

TEST(pg_argv_has_paths_port_and_every_setting)
{
	char *over[] = { (char *) "work_mem=8MB", NULL };
	struct svc_pg_server srv = {
		.datadir = "/run/pg/data", .socket_dir = "/run/pg", .port = 5433, .settings = over
	};
	CLEANUP(strv_freep) char **argv = NULL;
	cleanup_free char *line = NULL;
	struct err err = { 0 };

	CHECK_OK(svc_pg_argv(&pg, &srv, &argv, &err));
	line = strv_join(argv, " ");
	CHECK(str_startswith(line, "/usr/lib/postgresql/15/bin/postgres -D /run/pg/data -p 5433 "
				   "-c unix_socket_directories=/run/pg -c "));
	CHECK_STR_CONTAINS(line, " -c fsync=off ");
	CHECK_STR_CONTAINS(line, " -c listen_addresses=127.0.0.1,::1 ");
	CHECK(str_endswith(line, " -c work_mem=8MB"));
	/* A socket dir that would split the list, relative paths, the wrong kind. */
	srv.socket_dir = "/run/a,b";
	CHECK_EQ(svc_pg_argv(&pg, &srv, &argv, &err), -EINVAL);
	srv.socket_dir = "run";
	CHECK_EQ(svc_pg_argv(&pg, &srv, &argv, &err), -EINVAL);
	srv.socket_dir = "/run";
	CHECK_EQ(svc_pg_argv(&redis, &srv, &argv, &err), -EINVAL);
}

TEST(redis_argv_words_and_no_password_in_argv)
{
	char *over[] = { (char *) "save=60 1", (char *) "maxmemory=64mb", NULL };
	struct svc_redis_server srv = { .dir = "/run/redis",
					.password = "p@ss \"w\\rd",
					.settings = over };
	CLEANUP(strv_freep) char **argv = NULL;
	cleanup_free char *in = NULL, *line = NULL;
	struct err err = { 0 };

	CHECK_OK(svc_redis_argv(&redis, &srv, &argv, &in, &err));
	line = strv_join(argv, "|");
	CHECK(str_startswith(line, "/usr/bin/redis-server|-|--port|6379|--daemonize|no|"));
	CHECK_STR_CONTAINS(line, "|--bind|127.0.0.1|-::1|");
	CHECK_STR_CONTAINS(line, "|--save|60|1|");
	CHECK_STR_CONTAINS(line, "|--dir|/run/redis|");
	CHECK_STR_CONTAINS(line, "|--hz|100|");
	CHECK_STR_CONTAINS(line, "|--maxmemory|64mb");
	CHECK_STR_NOT_CONTAINS(line, "p@ss");
	CHECK_STR_NOT_CONTAINS(line, "requirepass");
	CHECK_STR_EQ(in, "requirepass \"p\\x40ss\\x20\\x22w\\x5crd\"\n");

	/* No password: no stdin, no "-"; save "" stays one empty argument. */
	CLEANUP(strv_freep) char **argv2 = NULL;
	cleanup_free char *in2 = NULL;
	struct svc_redis_server plain = { .port = 6380 };
	CHECK_OK(svc_redis_argv(&redis, &plain, &argv2, &in2, &err));
	CHECK(in2 == NULL);
	CHECK_STR_EQ(argv2[1], "--port");
	CHECK_STR_EQ(argv2[2], "6380");
	size_t i = 0;
	while (argv2[i] && strcmp(argv2[i], "--save") != 0)
		i++;
	CHECK(argv2[i] && argv2[i + 1]);
	CHECK_STR_EQ(argv2[i + 1], "");

	char *reserved[] = { (char *) "requirepass=x", NULL };
	plain.settings = reserved;
	CHECK_EQ(svc_redis_argv(&redis, &plain, &argv2, &in2, &err), -EINVAL);
}

TEST(env_has_the_usual_variables_url_encoded)
{
	struct svc_vars v = { .postgres = true,
			      .pg_user = "app user",
			      .pg_password = "p@ss/w:rd",
			      .pg_db = "app",
			      .redis = true,
			      .redis_password = "r#1" };
	CLEANUP(strv_freep) char **env = svc_env(&v);

	CHECK_STR_EQ(find(env, "DATABASE_URL="),
		     "DATABASE_URL=postgresql://app%20user:p%40ss%2Fw%3Ard@localhost:5432/app");
	CHECK_STR_EQ(find(env, "PGHOST="), "PGHOST=localhost");
	CHECK_STR_EQ(find(env, "PGPORT="), "PGPORT=5432");
	CHECK_STR_EQ(find(env, "PGUSER="), "PGUSER=app user");
	CHECK_STR_EQ(find(env, "PGPASSWORD="), "PGPASSWORD=p@ss/w:rd");
	CHECK_STR_EQ(find(env, "PGDATABASE="), "PGDATABASE=app");
	CHECK_STR_EQ(find(env, "REDIS_URL="), "REDIS_URL=redis://:r%231@localhost:6379");

	struct svc_vars d = { .host = "::1", .postgres = true, .redis = true, .redis_port = 6380 };
	CLEANUP(strv_freep) char **env2 = svc_env(&d);
	CHECK_STR_EQ(find(env2, "DATABASE_URL="),
		     "DATABASE_URL=postgresql://postgres@[::1]:5432/postgres");
	CHECK(find(env2, "PGPASSWORD=") == NULL);
	CHECK_STR_EQ(find(env2, "REDIS_URL="), "REDIS_URL=redis://[::1]:6380");

	struct svc_vars none = { 0 };
	CLEANUP(strv_freep) char **env3 = svc_env(&none);
	CHECK(env3 && env3[0] == NULL);
}

TEST(url_escape_keeps_unreserved_only)
{
	cleanup_free char *a = url_escape("AZaz09-._~");
	cleanup_free char *b = url_escape("a b/c?d#e@f:g%h\xc3\xa9");

	CHECK_STR_EQ(a, "AZaz09-._~");
	CHECK_STR_EQ(b, "a%20b%2Fc%3Fd%23e%40f%3Ag%25h%C3%A9");
}

TEST(template_keys_depend_on_what_makes_a_template)
{
	char *s1[] = { (char *) "locale=en_US.UTF-8", (char *) "data-checksums=on", NULL };
	char *s2[] = { (char *) "data-checksums=on", (char *) "locale=en_US.UTF-8", NULL };
	struct svc_pg_init a = { .settings = s1 }, b = { .settings = s2 };
	struct svc_pg_init c = { .user = "app", .db = "appdb" };
	cleanup_free char *ka = NULL, *kb = NULL, *kc = NULL, *kd = NULL, *ke = NULL;
	struct svc_install other = pg;
	char na[64], nb[64], nc[64], nd[64], ne[64];
	struct err err = { 0 };

	CHECK_OK(tpl_key(&pg, &a, 1000, 1000, &ka, na, &err));
	CHECK_OK(tpl_key(&pg, &b, 1000, 1000, &kb, nb, &err));
	CHECK_STR_EQ(ka, kb); /* order does not matter */
	CHECK_STR_EQ(na, nb);
	CHECK(str_startswith(na, "postgres-15-"));
	CHECK_EQ(strlen(na), strlen("postgres-15-") + 16);
	CHECK_STR_CONTAINS(ka, "\nuser=postgres\ndb=postgres\n");
	CHECK_STR_CONTAINS(ka, "\nauth-host=scram-sha-256\ndata-checksums=on\nencoding=UTF8\n"
			       "locale=en_US.UTF-8\n");
	CHECK_OK(tpl_key(&pg, &c, 1000, 1000, &kc, nc, &err));
	CHECK_STR_CONTAINS(kc, "\nuser=app\ndb=appdb\n");
	CHECK(strcmp(na, nc) != 0);
	CHECK_OK(tpl_key(&pg, &a, 1001, 1000, &kd, nd, &err)); /* another owner */
	CHECK(strcmp(na, nd) != 0);
	memcpy(other.identity, "ffffffffffffffff", 17); /* new binaries */
	CHECK_OK(tpl_key(&other, &a, 1000, 1000, &ke, ne, &err));
	CHECK(strcmp(na, ne) != 0);
}

TEST(template_settings_are_checked)
{
	static const char *const bad[] = { "fsync=off",	    "locale=C;rm -rf", "data-checksums=yes",
					   "auth-host=md5", "encoding=",       "locale" };
	struct err err = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char *s[] = { (char *) bad[i], NULL };
		struct svc_pg_init in = { .settings = s };
		cleanup_free char *key = NULL;
		char name[64];
		CHECK_EQ(tpl_key(&pg, &in, 1000, 1000, &key, name, &err), -EINVAL);
	}
	struct svc_pg_init nl = { .db = "a\nb" };
	cleanup_free char *key = NULL;
	char name[64];
	CHECK_EQ(tpl_key(&pg, &nl, 1000, 1000, &key, name, &err), -EINVAL);
	CHECK_EQ(tpl_key(&redis, &(struct svc_pg_init){ 0 }, 1000, 1000, &key, name, &err),
		 -EINVAL);
}

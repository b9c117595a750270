/* test-pgrole.c - the postgres-role entry: its parser (JSON and key=value lines, defaults,
 * every refusal naming the key and never the password), role identifiers, the kind kept
 * in the vault and in a lease, and a lease's value replaced by what the job gets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secrets/secrets.h"
#include "state.h"
#include "test.h"
#include "util/err.h"

#define PW "admin-pw-3e8a61f0"

static int parse(const char *text, struct secret_pgrole **ret, struct err *err)
{
	*ret = NULL;
	memset(err, 0, sizeof(*err));
	return secret_pgrole_parse(text, strlen(text), ret, err);
}

TEST(pgrole_parses_json)
{
	CLEANUP(secret_pgrole_freep) struct secret_pgrole *p = NULL;
	struct err err;

	CHECK_OK(parse("{\"host\": \"db.internal\", \"port\": 6432, \"user\": \"admin\", "
		       "\"password\": \"" PW "\", \"dbname\": \"app\", \"sslmode\": \"disable\", "
		       "\"member_of\": [\"readonly\", \"reporting_2\"]}",
		       &p, &err));
	CHECK_STR_EQ(p->host, "db.internal");
	CHECK_EQ(p->port, 6432);
	CHECK_STR_EQ(p->user, "admin");
	CHECK_STR_EQ(p->password, PW);
	CHECK_STR_EQ(p->dbname, "app");
	CHECK_STR_EQ(p->member_of[0], "readonly");
	CHECK_STR_EQ(p->member_of[1], "reporting_2");
	CHECK(p->member_of[2] == NULL);
}

TEST(pgrole_parses_lines_with_defaults)
{
	CLEANUP(secret_pgrole_freep) struct secret_pgrole *p = NULL;
	struct err err;

	CHECK_OK(parse("# the admin\nhost = 10.0.0.5\nuser=ops\r\npassword=" PW
		       "\n\nmember_of=readonly, audit\n",
		       &p, &err));
	CHECK_STR_EQ(p->host, "10.0.0.5");
	CHECK_EQ(p->port, 5432);
	CHECK_STR_EQ(p->dbname, "ops");
	CHECK_STR_EQ(p->password, PW);
	CHECK_STR_EQ(p->member_of[0], "readonly");
	CHECK_STR_EQ(p->member_of[1], "audit");
	CHECK(p->member_of[2] == NULL);
}

TEST(pgrole_refuses_bad_entries_without_the_password)
{
	static const struct {
		const char *text, *says;
		int code;
	} cases[] = {
		{ "{\"host\": \"h\", \"user\": \"u\"}", "password are required", EINVAL },
		{ "{\"user\": \"u\", \"password\": \"" PW "\"}", "host, user and password",
		  EINVAL },
		{ "{\"host\": \"h\", \"user\": \"u\", \"password\": \"" PW "\", \"pass\": \"x\"}",
		  "unknown key 'pass'", EINVAL },
		{ "{\"host\": \"h\", \"user\": \"u\", \"password\": \"" PW "\", \"port\": 0}",
		  "port", EINVAL },
		{ "{\"host\": \"h\", \"user\": \"u\", \"password\": \"" PW
		  "\", \"port\": \"99999\"}",
		  "port", EINVAL },
		{ "{\"host\": \"h;x\", \"user\": \"u\", \"password\": \"" PW "\"}", "host",
		  EINVAL },
		{ "{\"host\": \"h\", \"user\": \"u\", \"password\": \"" PW "\", \"sslmode\": "
		  "\"require\"}",
		  "sslmode 'require'", EOPNOTSUPP },
		{ "{\"host\": \"h\", \"user\": \"u\", \"password\": \"" PW "\", \"member_of\": "
		  "[\"Readonly\"]}",
		  "member_of 'Readonly'", EINVAL },
		{ "{\"host\": \"h\", \"user\": \"u\", \"password\": \"" PW "\", \"member_of\": "
		  "[\"a\\\"; DROP ROLE x; --\"]}",
		  "member_of", EINVAL },
		{ "{\"host\": \"h\", \"user\": \"u\", \"password\": \"" PW "\", \"member_of\": "
		  "\"readonly\"}",
		  "member_of: a list", EINVAL },
		{ "{\"host\": \"h\", \"user\": \"u\", \"password\": \"" PW
		  "\", \"member_of\": [1]}",
		  "member_of", EINVAL },
		{ "{\"host\": \"h\", \"user\": \"u\", \"password\": \"" PW "\", \"user\": \"v\"}",
		  "'user' given twice", EINVAL },
		{ "{\"host\": \"h\", \"user\": \"u\", \"password\": \"pw\\u00e9x-long\"}",
		  "printable ASCII", EINVAL },
		{ "{\"host\": \"h\"", "not valid JSON", EINVAL },
		{ "[1]", "line 1", EINVAL },
		{ "host=h\nuser=u\npassword=" PW "\nnonsense\n", "line 4: not key=value", EINVAL },
		{ "host=h\nuser=u\npassword=" PW "\nmember_of=ok,9bad\n", "line 4", EINVAL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CLEANUP(secret_pgrole_freep) struct secret_pgrole *p = NULL;
		struct err err;
		int r = parse(cases[i].text, &p, &err);
		if (r != -cases[i].code || !strstr(err.msg, cases[i].says))
			test_fail(__FILE__, __LINE__, "case %zu: %d '%s'", i, r, err.msg);
		CHECK(p == NULL);
		CHECK(!strstr(err.msg, PW));
	}
}

TEST(pgrole_identifiers)
{
	CHECK(secret_pgrole_ident_ok("readonly"));
	CHECK(secret_pgrole_ident_ok("_x9"));
	CHECK(!secret_pgrole_ident_ok(""));
	CHECK(!secret_pgrole_ident_ok(NULL));
	CHECK(!secret_pgrole_ident_ok("9x"));
	CHECK(!secret_pgrole_ident_ok("a-b"));
	CHECK(!secret_pgrole_ident_ok("a\"b"));
	CHECK(!secret_pgrole_ident_ok("Upper"));
	char longname[80];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK(!secret_pgrole_ident_ok(longname));
	longname[SECRET_PG_IDENT_MAX] = '\0';
	CHECK(secret_pgrole_ident_ok(longname));
}

TEST(pgrole_kind_in_vault_and_lease)
{
	const char *st = state();
	const char *doc = "host=h\nuser=u\npassword=" PW "\n";
	struct err err = { 0 };

	{
		CLEANUP(secret_vault_closep) struct secret_vault *v = NULL;
		CHECK_OK(secret_vault_open(st, NULL, SECRET_OPEN_WRITE, &v, &err));
		CHECK_OK(secret_vault_set(v, "production", "DB_URL", doc, strlen(doc), 0, &err));
		CHECK_OK(secret_vault_set(v, "production", "PLAIN", "plain-value-1", 13, 0, &err));
		CHECK_EQ(secret_vault_set_kind(v, "production", "DB_URL", "mysql-role", &err),
			 -EINVAL);
		CHECK_OK(
			secret_vault_set_kind(v, "production", "DB_URL", SECRET_KIND_PGROLE, &err));
		CHECK_EQ(secret_vault_set_kind(v, "production", "NOPE", SECRET_KIND_PGROLE, &err),
			 -ENOENT);
		CHECK_OK(secret_vault_commit(v, &err));
	}
	CLEANUP(secret_vault_closep) struct secret_vault *v = NULL;
	CHECK_OK(secret_vault_open(st, NULL, 0, &v, &err));
	CHECK_STR_EQ(secret_vault_kind(v, "production", "DB_URL"), SECRET_KIND_PGROLE);
	CHECK(secret_vault_kind(v, "production", "PLAIN") == NULL);
	struct secret_meta *m = NULL;
	size_t n = 0;
	CHECK_OK(secret_vault_list(v, "production", &m, &n));
	CHECK_EQ(n, 2);
	CHECK_STR_EQ(m[0].kind, SECRET_KIND_PGROLE);
	CHECK(m[1].kind == NULL);
	free(m);

	char *names[] = { "DB_URL", "PLAIN", NULL };
	struct secret_caller me = { .uid = 0 };
	struct secret_lease_req req = { "production", names, NULL, 1, NULL };
	CLEANUP(secret_lease_freep) struct secret_lease *l = NULL;
	CHECK_OK(secret_lease_new(v, NULL, &me, &req, &l, &err));
	CHECK_STR_EQ(secret_lease_kind(l, 0), SECRET_KIND_PGROLE);
	CHECK(secret_lease_kind(l, 1) == NULL);
	CHECK_STR_EQ((const char *) secret_lease_source(l, 0)->data, doc);
	secret_lease_set_value(l, 0, "postgresql://r:p@127.0.0.1:5432/app", 36);
	CHECK_STR_EQ((const char *) secret_lease_value(l, 0)->data,
		     "postgresql://r:p@127.0.0.1:5432/app");
	CHECK_STR_EQ((const char *) secret_lease_source(l, 0)->data, doc);
	CHECK(secret_lease_part(l, 0) == NULL);
	secret_lease_set_part(l, 0, "p-password-123", 14);
	CHECK_STR_EQ((const char *) secret_lease_part(l, 0)->data, "p-password-123");
	CHECK(secret_lease_handle(l, 0) == NULL);
	secret_lease_set_handle(l, 0, "mayfly_0123");
	CHECK_STR_EQ(secret_lease_handle(l, 0), "mayfly_0123");
	secret_lease_forget_source(l, 0);
	CHECK(secret_lease_source(l, 0)->data == NULL);
	CHECK_EQ(secret_lease_source(l, 0)->len, 0);
	CHECK_STR_EQ((const char *) secret_lease_value(l, 0)->data,
		     "postgresql://r:p@127.0.0.1:5432/app");

	/* A plain set replaces the kind too. */
	secret_vault_close(TAKE_PTR(v));
	CHECK_OK(secret_vault_open(st, NULL, SECRET_OPEN_WRITE, &v, &err));
	CHECK_OK(secret_vault_set(v, "production", "DB_URL", "now-plain-1", 11, 0, &err));
	CHECK(secret_vault_kind(v, "production", "DB_URL") == NULL);
}

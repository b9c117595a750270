/* test-wire.c - what servers and psql say, parsed: PostgreSQL ErrorResponse bodies captured
 * from a real PostgreSQL 15, RESP status replies, psql's error output (captured too), and
 * identifier quoting. */
#include <string.h>

#include "services/internal.h"
#include "services/services.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "test.h"

/* Bodies (after the type byte and length) as PostgreSQL 15.18 sent them. */
static const char role_missing[] = "SFATAL\0VFATAL\0C28000\0Mrole \"nosuch\" does not exist\0"
				   "Fmiscinit.c\0L768\0RInitializeSessionUserId\0";
static const char db_missing[] = "SFATAL\0VFATAL\0C3D000\0Mdatabase \"nodb\" does not exist\0"
				 "Fpostinit.c\0L948\0RInitPostgres\0";
static const char syntax[] = "SERROR\0VERROR\0C42601\0Msyntax error at or near \"SELEC\"\0P1\0"
			     "Fscan.l\0L1188\0Rscanner_yyerror\0";
/* Localized severity (S) next to the stable one (V), with a detail and a hint. */
static const char localized[] = "SFEHLER\0VERROR\0C23505\0Mdoppelter Schlüsselwert\0"
				"DKey (id)=(1) already exists.\0Hcheck your data\0";

TEST(pg_error_parse_reads_real_bodies)
{
	static const struct {
		const char *body;
		size_t len;
		const char *text;
		int err;
	} v[] = {
		{ role_missing, sizeof(role_missing),
		  "FATAL: role \"nosuch\" does not exist (SQLSTATE 28000)", -EACCES },
		{ db_missing, sizeof(db_missing),
		  "FATAL: database \"nodb\" does not exist (SQLSTATE 3D000)", -ENOENT },
		{ syntax, sizeof(syntax),
		  "ERROR: syntax error at or near \"SELEC\" (SQLSTATE 42601)", -EPROTO },
		{ localized, sizeof(localized),
		  "ERROR: doppelter Schlüsselwert (Key (id)=(1) already exists.) (hint: check your "
		  "data) (SQLSTATE 23505)",
		  -EPROTO },
	};
	struct pg_error e;
	char text[512];

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		CHECK_OK(pg_error_parse((const uint8_t *) v[i].body, v[i].len, &e));
		pg_error_format(&e, text, sizeof(text));
		CHECK_STR_EQ(text, v[i].text);
		CHECK_EQ(pg_error_errno(&e), v[i].err);
	}
	static const char starting[] = "SFATAL\0C57P03\0Mthe database system is starting up\0";
	CHECK_OK(pg_error_parse((const uint8_t *) starting, sizeof(starting), &e));
	CHECK_EQ(pg_error_errno(&e), -EAGAIN);
}

TEST(pg_error_parse_rejects_truncated_bodies)
{
	struct pg_error e;

	/* A field without its NUL, and a body without a message. */
	CHECK_EQ(pg_error_parse((const uint8_t *) "SFATAL\0Mrole", 12, &e), -EPROTO);
	CHECK_EQ(pg_error_parse((const uint8_t *) "SFATAL\0C28000\0", 15, &e), -EPROTO);
	CHECK_EQ(pg_error_parse((const uint8_t *) "", 0, &e), -EPROTO);
	/* Over-long fields are cut, not overflowed. */
	char big[2000];
	memset(big, 'x', sizeof(big));
	big[0] = 'M';
	big[sizeof(big) - 2] = '\0';
	big[sizeof(big) - 1] = '\0';
	CHECK_OK(pg_error_parse((const uint8_t *) big, sizeof(big), &e));
	CHECK_EQ(strlen(e.message), sizeof(e.message) - 1);
}

TEST(pg_names_and_quoting)
{
	static const struct {
		const char *in, *out;
	} q[] = { { "app", "\"app\"" }, { "a\"b", "\"a\"\"b\"" }, { "Ünï côdé", "\"Ünï côdé\"" } };

	for (size_t i = 0; i < ARRAY_SIZE(q); i++) {
		cleanup_free char *s = pg_quote_ident(q[i].in);
		CHECK_STR_EQ(s, q[i].out);
	}
	CHECK(pg_name_ok("postgres"));
	CHECK(pg_name_ok("my-app db"));
	CHECK(!pg_name_ok(""));
	CHECK(!pg_name_ok(NULL));
	CHECK(!pg_name_ok("a\nb"));
	CHECK(!pg_name_ok("0123456789012345678901234567890123456789012345678901234567890123"));
}

TEST(resp_status_replies)
{
	static const struct {
		const char *in;
		int r;
		const char *msg;
	} v[] = {
		{ "+PONG\r\n", 1, "PONG" },
		{ "+OK\r\n+PONG\r\n", 1, "OK" },
		{ "+PON", 0, NULL },
		{ "", 0, NULL },
		{ "-NOAUTH Authentication required.\r\n", -EACCES,
		  "NOAUTH Authentication required." },
		{ "-WRONGPASS invalid username-password pair or user is disabled.\r\n", -EACCES,
		  "WRONGPASS invalid username-password pair or user is disabled." },
		{ "-LOADING Redis is loading the dataset in memory\r\n", -EAGAIN, NULL },
		{ "-ERR unknown command\r\n", -EPROTO, "ERR unknown command" },
		{ "HTTP/1.1 400 Bad Request\r\n", -EPROTO,
		  "unexpected reply (not a Redis server?)" },
		{ "-ERR a\x1b[31m\r\n", -EPROTO, "ERR a?[31m" },
	};
	char msg[128];

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		CHECK_EQ(resp_status(v[i].in, strlen(v[i].in), msg, sizeof(msg)), v[i].r);
		if (v[i].msg)
			CHECK_STR_EQ(msg, v[i].msg);
	}
	/* No line end in a whole buffer: not Redis. */
	char junk[1024];
	memset(junk, 'a', sizeof(junk));
	CHECK_EQ(resp_status(junk, sizeof(junk), msg, sizeof(msg)), -EPROTO);
}

TEST(psql_errors_name_the_file_and_line)
{
	static const struct {
		const char *out, *want;
	} v[] = {
		{ "psql:db/schema.sql:3: ERROR:  syntax error at or near \"selec\"\n"
		  "LINE 1: selec 1;\n        ^\n",
		  "init file 'db/schema.sql' line 3: ERROR: syntax error at or near \"selec\"" },
		{ "psql:e2.sql:4: ERROR:  duplicate key value violates unique constraint "
		  "\"u_pkey\"\n"
		  "DETAIL:  Key (id)=(1) already exists.\n",
		  "init file 'e2.sql' line 4: ERROR: duplicate key value violates unique "
		  "constraint \"u_pkey\" (DETAIL:  Key (id)=(1) already exists.)" },
		{ " ?column? \n----------\n        1\n(1 row)\n\n"
		  "psql:e3.sql:2: error: invalid command \\foo\n",
		  "init file 'e3.sql' line 2: error: invalid command \\foo" },
		{ "psql:/w/a:b.sql:12: ERROR:  boom\n",
		  "init file '/w/a:b.sql' line 12: ERROR: boom" },
		{ "psql:x.sql:1: NOTICE:  table \"t\" does not exist, skipping\n"
		  "psql:x.sql:7: ERROR:  relation \"nope\" does not exist\n",
		  "init file 'x.sql' line 7: ERROR: relation \"nope\" does not exist" },
		{ "psql: error: nope.sql: No such file or directory\n",
		  "psql: error: nope.sql: No such file or directory" },
		{ "psql: error: connection to server on socket \"/s/.s.PGSQL.5432\" failed: FATAL: "
		  " "
		  "role \"nobody\" does not exist\n",
		  "psql: error: connection to server on socket \"/s/.s.PGSQL.5432\" failed: FATAL: "
		  " "
		  "role \"nobody\" does not exist" },
		{ "", "psql failed without a message" },
	};
	char buf[512];

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		psql_error(v[i].out, buf, sizeof(buf));
		CHECK_STR_EQ(buf, v[i].want);
	}
}

TEST(out_tail_keeps_the_last_lines)
{
	char buf[64];

	out_tail("a\nb\n\nc\n", 2, buf, sizeof(buf));
	CHECK_STR_EQ(buf, "b; c");
	out_tail("only", 3, buf, sizeof(buf));
	CHECK_STR_EQ(buf, "only");
	out_tail("", 3, buf, sizeof(buf));
	CHECK_STR_EQ(buf, "");
	out_tail("0123456789012345678901234567890123456789\n0123456789012345678901234567890\n", 2,
		 buf, 16);
	CHECK_EQ(strlen(buf), 15);
}

/* test-policy.c - who may lease what: rule order, globs, missing caller fields, the
 * preview/<branch> rule, the no-policy default; leases; the audit log. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secrets/secrets.h"
#include "state.h"
#include "test.h"
#include "util/err.h"
#include "util/fd.h"

static const char policy_text[] =
	"{\"rules\": ["
	" {\"name\": \"no-prod-admin\", \"effect\": \"deny\", \"environment\": \"production\","
	"  \"names\": \"ADMIN_*\"},"
	" {\"name\": \"ci-main\", \"environment\": [\"production\", \"staging\"], \"names\": \"*\","
	"  \"repository\": \"github.com/acme/app\", \"branch\": [\"main\", \"release/*\"],"
	"  \"frontend\": \"github\"},"
	" {\"name\": \"previews\", \"environment\": \"preview/*\", \"names\": \"*\","
	"  \"repository\": \"github.com/acme/app\"},"
	" {\"name\": \"local-staging\", \"environment\": \"staging\", \"names\": [\"API_KEY\"],"
	"  \"frontend\": \"cli\"}"
	"]}";

static struct secret_policy *load(const char *text)
{
	char path[4096];
	struct secret_policy *p = NULL;
	struct err err = { 0 };
	int fd;

	snprintf(path, sizeof(path), "%s/policy.json", test_tmpdir());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK_OK(fd_write_all(fd, text, strlen(text)));
	close(fd);
	CHECK_OK(secret_policy_load(path, &p, &err));
	return p;
}

struct row {
	const char *repo, *branch, *frontend;
	const char *env, *name;
	int want;
	const char *msg; /* in the error, when denied */
};

TEST(policy_table)
{
	CLEANUP(secret_policy_freep) struct secret_policy *p = load(policy_text);
	static const struct row rows[] = {
		{ "github.com/acme/app", "main", "github", "production", "DB_URL", 0, NULL },
		{ "github.com/acme/app", "release/2", "github", "staging", "X", 0, NULL },
		{ "github.com/acme/app", "feature", "github", "production", "DB_URL", -EACCES,
		  "no rule in policy" },
		{ "github.com/acme/app", "main", "github", "production", "ADMIN_PW", -EACCES,
		  "rule 'no-prod-admin' (#1" },
		{ "github.com/evil/app", "main", "github", "production", "DB_URL", -EACCES,
		  "repository github.com/evil/app" },
		{ "github.com/acme/app", "main", "gitlab", "production", "DB_URL", -EACCES, NULL },
		{ "github.com/acme/app", "feature-x", "github", "preview/feature-x", "K", 0, NULL },
		{ "github.com/acme/app", "feature-y", "github", "preview/feature-x", "K", -EACCES,
		  "leasable only by branch 'feature-x'" },
		{ NULL, NULL, NULL, "staging", "API_KEY", 0, NULL },
		{ NULL, NULL, "cli", "staging", "OTHER", -EACCES, "default deny" },
		{ NULL, NULL, NULL, "production", "DB_URL", -EACCES, "no rule" },
		{ NULL, NULL, NULL, "preview/x", "K", -EACCES, "leasable only by branch 'x'" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct secret_caller c = { .uid = 1,
					   .repository = r->repo,
					   .branch = r->branch,
					   .frontend = r->frontend };
		struct err err = { 0 };
		int got = secret_policy_check(p, &c, r->env, r->name, &err);
		if (got != r->want)
			test_fail(__FILE__, __LINE__, "row %zu: %d != %d (%s)", i, got, r->want,
				  err.msg);
		if (r->msg)
			CHECK_STR_CONTAINS(err.msg, r->msg);
	}
}

TEST(policy_absent_default)
{
	struct secret_caller local = { .uid = 0 };
	struct secret_caller gh = { .uid = 0, .frontend = "github", .branch = "main" };
	struct err err = { 0 };

	CHECK_OK(secret_policy_check(NULL, &local, "production", "DB_URL", &err));
	CHECK_OK(secret_policy_check(NULL, &local, "preview/x", "DB_URL", &err));
	CHECK_EQ(secret_policy_check(NULL, &gh, "production", "DB_URL", &err), -EACCES);
	CHECK_STR_CONTAINS(err.msg, "only local callers");
}

TEST(policy_malformed_named)
{
	struct secret_policy *p = NULL;
	struct err err = { 0 };
	char path[4096];
	const char *bad[] = {
		"{\"rules\": [{\"environment\": \"x\", \"names\": \"*\"}]}",
		"{\"rules\": [{\"name\": \"r1\", \"names\": \"*\"}]}",
		"{\"rules\": [{\"name\": \"r1\", \"environment\": \"x\", \"names\": [1]}]}",
		"{\"rules\": [{\"name\": \"r1\", \"environment\": \"x\", \"names\": \"*\", "
		"\"effect\": \"maybe\"}]}",
		"not json",
	};

	snprintf(path, sizeof(path), "%s/p.json", test_tmpdir());
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		CHECK_OK(fd_write_all(fd, bad[i], strlen(bad[i])));
		close(fd);
		CHECK(secret_policy_load(path, &p, &err) < 0);
		CHECK_STR_CONTAINS(err.msg, "policy");
	}
	snprintf(path, sizeof(path), "%s/missing.json", test_tmpdir());
	CHECK_EQ(secret_policy_load(path, &p, &err), -ENOENT);
}

TEST(lease_checks_all_then_unseals)
{
	const char *st = state();
	CLEANUP(secret_vault_closep) struct secret_vault *v = NULL;
	CLEANUP(secret_lease_freep) struct secret_lease *l = NULL;
	CLEANUP(secret_policy_freep) struct secret_policy *p = load(policy_text);
	struct secret_caller local = { .uid = 0 };
	struct err err = { 0 };
	char *names[] = { "API_KEY", "OTHER", NULL };
	bool files[] = { false, true };

	CHECK_OK(secret_vault_open(st, NULL, SECRET_OPEN_WRITE, &v, &err));
	CHECK_OK(secret_vault_set(v, "staging", "API_KEY", "api-key-value", 13, 0, &err));
	CHECK_OK(secret_vault_set(v, "staging", "OTHER", "other-value-x", 13, 0, &err));
	CHECK_OK(secret_vault_commit(v, &err));
	bool brokered[] = { true, false };
	struct secret_lease_req req = { "staging", names, files, 12345, brokered };
	CHECK_EQ(secret_lease_new(v, p, &local, &req, &l, &err), -EACCES);
	CHECK_STR_CONTAINS(err.msg, "'OTHER'");
	CHECK_OK(secret_lease_new(v, NULL, &local, &req, &l, &err));
	CHECK_EQ(secret_lease_count(l), 2);
	CHECK_STR_EQ(secret_lease_name(l, 1), "OTHER");
	CHECK(secret_lease_is_file(l, 1));
	CHECK(secret_lease_is_brokered(l, 0));
	CHECK(!secret_lease_is_brokered(l, 1));
	CHECK_STR_EQ((const char *) secret_lease_value(l, 0)->data, "api-key-value");
	CHECK_EQ(secret_lease_until(l), 12345);
	char *missing[] = { "API_KEY", "NOPE", NULL };
	struct secret_lease_req req2 = { "staging", missing, NULL, 0, NULL };
	struct secret_lease *l2 = NULL;
	CHECK_EQ(secret_lease_new(v, NULL, &local, &req2, &l2, &err), -ENOENT);
	CHECK_STR_CONTAINS(err.msg, "no secret 'NOPE' in 'staging'");
}

static void count_line(void *userdata, const char *line, int64_t t)
{
	int *n = userdata;

	(void) t;
	CHECK_STR_NOT_CONTAINS(line, "value");
	(*n)++;
}

TEST(audit_append_and_filter)
{
	const char *st = state();
	struct secret_caller c = { .uid = 42, .repository = "r", .branch = "b" };
	char *names[] = { "DB_URL", NULL };
	struct err err = { 0 };
	char path[4096];
	struct stat sb;
	int n = 0;

	struct secret_audit_rec a = { "lease", "aaaa", &c, "production", names, "ok", 0, NULL };
	struct secret_audit_rec b = { "release", "bbbb", &c, "production", names, "ok", 0, NULL };
	CHECK_OK(secret_audit_append(st, &a, &err));
	CHECK_OK(secret_audit_append(st, &b, &err));
	snprintf(path, sizeof(path), "%s/audit.log", st);
	CHECK_OK(stat(path, &sb));
	CHECK_EQ(sb.st_mode & 0777, 0600);
	CHECK_OK(secret_audit_read(st, 0, NULL, count_line, &n, &err));
	CHECK_EQ(n, 2);
	n = 0;
	CHECK_OK(secret_audit_read(st, 0, "bbbb", count_line, &n, &err));
	CHECK_EQ(n, 1);
	n = 0;
	CHECK_OK(secret_audit_read(st, INT64_MAX, NULL, count_line, &n, &err));
	CHECK_EQ(n, 0);
}

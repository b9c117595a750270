/* test-secrets.c - `mayfly secrets` and `mayfly audit` as a user meets them: the vault's
 * commands end to end, and every kind of bad input the issue names (value on argv, short
 * value, wrong or missing key, tampered or truncated vault, two writers at once, unknown
 * names), each refused with a clear message that never contains a value. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run.h"
#include "secrets.h"
#include "test.h"

#define CANARY "canary-7f3a9c1e-value"

static char *vault_path(void)
{
	static char p[4096];
	snprintf(p, sizeof(p), "%s/secrets/vault", test_state_dir());
	return p;
}

TEST(secrets_set_ls_rm_import_rotate)
{
	struct run_result res;

	secret_set("production", "DB_URL", "postgres://app:" CANARY "@db/app\n");
	secret_set("preview/feature-x", "STRIPE_KEY", "sk_test_" CANARY);
	mayfly(&res, "secrets", "import", "staging", "--dotenv",
	       value_file("env.staging", "# staging\nexport API_KEY=\"" CANARY "\"\n"
					 "\nOTHER_KEY='other-value-1'\n"));
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "imported 2 values into 'staging'");
	run_result_free(&res);

	mayfly(&res, "secrets", "ls");
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "preview/feature-x");
	CHECK_STR_CONTAINS(res.out, "staging");
	run_result_free(&res);
	mayfly(&res, "secrets", "ls", "staging", "--json");
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "\"name\":\"API_KEY\"");
	CHECK_STR_CONTAINS(res.out, "\"name\":\"OTHER_KEY\"");
	CHECK_STR_NOT_CONTAINS(res.out, CANARY);
	run_result_free(&res);

	mayfly(&res, "secrets", "rotate");
	CHECK_EQ(res.status, 0);
	run_result_free(&res);
	mayfly(&res, "secrets", "rm", "staging", "OTHER_KEY");
	CHECK_EQ(res.status, 0);
	run_result_free(&res);
	mayfly(&res, "secrets", "ls", "staging");
	CHECK_STR_CONTAINS(res.out, "API_KEY");
	CHECK_STR_NOT_CONTAINS(res.out, "OTHER_KEY");
	run_result_free(&res);
	mayfly(&res, "secrets", "rm", "staging", "OTHER_KEY");
	CHECK_EQ(res.status, 1);
	CHECK_STR_CONTAINS(res.err, "no secret 'OTHER_KEY' in 'staging' (it has: 'API_KEY')");
	run_result_free(&res);

	/* The vault and the audit log hold no value in the clear. */
	CHECK(!file_contains(vault_path(), CANARY));
	mayfly(&res, "audit", "--json");
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "\"event\":\"rotate\"");
	CHECK_STR_CONTAINS(res.out, "\"event\":\"rm\"");
	CHECK_STR_NOT_CONTAINS(res.out, CANARY);
	run_result_free(&res);
}

TEST(secrets_value_on_argv_refused_unechoed)
{
	struct run_result res;

	mayfly(&res, "secrets", "set", "production", "DB_URL", CANARY);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "on stdin or with --from-file");
	CHECK_STR_NOT_CONTAINS(res.err, CANARY);
	run_result_free(&res);
	CHECK(access(vault_path(), F_OK) < 0);
}

TEST(secrets_short_value_and_bad_names_refused)
{
	struct run_result res;

	mayfly(&res, "secrets", "set", "production", "PIN", "--from-file",
	       value_file("pin", "1234567\n"));
	CHECK_EQ(res.status, 1);
	CHECK_STR_CONTAINS(res.err, "under 8 bytes are refused");
	CHECK_STR_NOT_CONTAINS(res.err, "1234567");
	run_result_free(&res);
	mayfly(&res, "secrets", "set", "../etc", "X", "--from-file", value_file("v", CANARY));
	CHECK_EQ(res.status, 1);
	CHECK_STR_CONTAINS(res.err, "environment '../etc'");
	run_result_free(&res);
	mayfly(&res, "secrets", "import", "staging", "--dotenv",
	       value_file("bad.env", "GOOD=good-value-1\nSHORT=abc\n"));
	CHECK_EQ(res.status, 1);
	CHECK_STR_CONTAINS(res.err, "line 2 ('SHORT')");
	CHECK_STR_NOT_CONTAINS(res.err, "abc");
	run_result_free(&res);
	mayfly(&res, "secrets", "ls", "staging");
	CHECK_EQ(res.status, 1); /* all or nothing: GOOD was not set either */
	run_result_free(&res);
}

TEST(secrets_wrong_and_missing_key)
{
	struct run_result res;
	char env[4200], key[4096];

	secret_set("production", "DB_URL", CANARY);
	snprintf(key, sizeof(key), "%s",
		 value_file("other.key", "00112233445566778899aabbccddeeff"
					 "00112233445566778899aabbccddeeff\n"));
	chmod(key, 0600);
	snprintf(env, sizeof(env), "MAYFLY_MASTER_KEY_FILE=%s", key);
	char *extra[] = { env, NULL };
	mayfly_env(&res, extra, "secrets", "ls", "production", (const char *) NULL);
	CHECK_EQ(res.status, 1);
	CHECK_STR_CONTAINS(res.err, "sealed under another master key");
	run_result_free(&res);
	mayfly(&res, "secrets", "ls", "production", "--key-file", key);
	CHECK_EQ(res.status, 1);
	CHECK_STR_CONTAINS(res.err, "does not open it");
	run_result_free(&res);
	chmod(key, 0644);
	mayfly(&res, "secrets", "ls", "production", "--key-file", key);
	CHECK_EQ(res.status, 1);
	CHECK_STR_CONTAINS(res.err, "readable by others");
	run_result_free(&res);
	snprintf(key, sizeof(key), "%s/secrets/master.key", test_state_dir());
	CHECK_OK(unlink(key));
	mayfly(&res, "secrets", "ls", "production");
	CHECK_EQ(res.status, 1);
	CHECK_STR_CONTAINS(res.err, "cannot be opened without its key");
	run_result_free(&res);
}

TEST(secrets_tampered_and_truncated_vault)
{
	struct run_result res;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	secret_set("production", "DB_URL", CANARY);
	secret_set("production", "OTHER", "other-value-2");
	f = fopen(vault_path(), "r");
	CHECK(f);
	text = malloc(1 << 16);
	len = fread(text, 1, 1 << 16, f);
	fclose(f);
	/* Truncated. */
	f = fopen(vault_path(), "w");
	fwrite(text, 1, len / 2, f);
	fclose(f);
	mayfly(&res, "secrets", "ls", "production");
	CHECK_EQ(res.status, 1);
	CHECK_STR_CONTAINS(res.err, "truncated");
	run_result_free(&res);
	/* One entry's name changed: the MAC no longer matches. */
	char *p = strstr(text, "\"OTHER\"");
	CHECK(p);
	p[1] = 'X';
	f = fopen(vault_path(), "w");
	fwrite(text, 1, len, f);
	fclose(f);
	mayfly(&res, "secrets", "ls", "production");
	CHECK_EQ(res.status, 1);
	CHECK_STR_CONTAINS(res.err, "tampered with");
	run_result_free(&res);
	/* A write to a damaged vault is refused too (nothing silently replaced). */
	mayfly(&res, "secrets", "set", "production", "NEW", "--from-file",
	       value_file("new", "new-value-123"));
	CHECK_EQ(res.status, 1);
	run_result_free(&res);
	free(text);
}

TEST(secrets_two_writers_at_once)
{
	struct run_result res;
	pid_t kids[2];

	secret_set("production", "SEED", "seed-value-1");
	for (int k = 0; k < 2; k++) {
		kids[k] = fork();
		CHECK(kids[k] >= 0);
		if (kids[k] == 0) {
			for (int i = 0; i < 8; i++) {
				char name[32];
				snprintf(name, sizeof(name), "W%d_%d", k, i);
				secret_set("production", name, "concurrent-value");
			}
			_exit(0);
		}
	}
	for (int k = 0; k < 2; k++) {
		int status;
		CHECK_EQ(waitpid(kids[k], &status, 0), kids[k]);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	mayfly(&res, "secrets", "ls", "production", "--json");
	CHECK_EQ(res.status, 0);
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < 8; i++) {
			char name[48];
			snprintf(name, sizeof(name), "\"name\":\"W%d_%d\"", k, i);
			CHECK_STR_CONTAINS(res.out, name);
		}
	run_result_free(&res);
}

TEST(secrets_unknown_env_names_what_exists)
{
	struct run_result res;

	secret_set("production", "DB_URL", CANARY);
	secret_set("staging", "DB_URL", CANARY);
	mayfly(&res, "secrets", "ls", "prod");
	CHECK_EQ(res.status, 1);
	CHECK_STR_CONTAINS(res.err, "no environment 'prod' in the vault (environments: "
				    "'production', 'staging')");
	run_result_free(&res);
}

TEST(audit_filters)
{
	struct run_result res;

	secret_set("production", "DB_URL", CANARY);
	mayfly(&res, "audit", "--since", "1h");
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "set");
	CHECK_STR_CONTAINS(res.out, "DB_URL");
	run_result_free(&res);
	mayfly(&res, "audit", "--sandbox", "0000000000000000");
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, "");
	run_result_free(&res);
	mayfly(&res, "audit", "--since", "bogus");
	CHECK_EQ(res.status, 125);
	run_result_free(&res);
}

/* prune: preview/<branch> environments whose branch is gone lose their secrets. */
TEST(secrets_prune_branches_gone)
{
	struct run_result res;
	char repo[4096], script[8192];

	if (system("git --version >/dev/null 2>&1") != 0)
		test_skip_host("git is not installed");
	snprintf(repo, sizeof(repo), "%s/repo", test_tmpdir());
	snprintf(script, sizeof(script),
		 "set -e; git init -q -b main '%s'; cd '%s';"
		 "git -c user.name=t -c user.email=t@t commit -q --allow-empty -m one;"
		 "git branch feature-kept; git branch feature/nested",
		 repo, repo);
	CHECK_EQ(system(script), 0);
	secret_set("preview/feature-kept", "K", "kept-value-1");
	secret_set("preview/feature/nested", "K", "nested-value-1");
	secret_set("preview/feature-gone", "K", "gone-value-1");
	secret_set("production", "K", "prod-value-1");
	mayfly(&res, "secrets", "prune", "--branches-from", repo, "--dry-run");
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "would remove 'preview/feature-gone'");
	run_result_free(&res);
	mayfly(&res, "secrets", "prune", "--branches-from", repo);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "removed 'preview/feature-gone': branch 'feature-gone' is "
				    "gone from");
	CHECK_STR_NOT_CONTAINS(res.out, "feature-kept");
	run_result_free(&res);
	mayfly(&res, "secrets", "ls");
	CHECK_STR_CONTAINS(res.out, "preview/feature-kept");
	CHECK_STR_CONTAINS(res.out, "preview/feature/nested");
	CHECK_STR_CONTAINS(res.out, "production");
	CHECK_STR_NOT_CONTAINS(res.out, "feature-gone");
	run_result_free(&res);
	mayfly(&res, "secrets", "prune", "--branches-from", "/nonexistent/repo");
	CHECK_EQ(res.status, 1);
	CHECK_STR_CONTAINS(res.err, "/nonexistent/repo");
	run_result_free(&res);
}

/* rotate --new-key-file: the vault moves to the admin's key; the old key no longer opens it. */
TEST(secrets_rotate_to_an_admin_key)
{
	struct run_result res;
	char key[4096], env[4200];

	secret_set("production", "DB_URL", CANARY);
	snprintf(key, sizeof(key), "%s",
		 value_file("admin.key", "ffeeddccbbaa99887766554433221100"
					 "ffeeddccbbaa99887766554433221100\n"));
	chmod(key, 0600);
	mayfly(&res, "secrets", "rotate", "--new-key-file", key);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "use it as the key from now on");
	run_result_free(&res);
	mayfly(&res, "secrets", "ls", "production");
	CHECK_EQ(res.status, 1);
	CHECK_STR_CONTAINS(res.err, "sealed under another master key");
	run_result_free(&res);
	snprintf(env, sizeof(env), "MAYFLY_MASTER_KEY_FILE=%s", key);
	char *extra[] = { env, NULL };
	mayfly_env(&res, extra, "secrets", "ls", "production", (const char *) NULL);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "DB_URL");
	run_result_free(&res);
}

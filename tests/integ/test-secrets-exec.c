/* test-secrets-exec.c - secrets in sandboxes, end to end through the real mayfly: only the
 * leased names enter (as variables or /run/secrets files, mode 0400, the job's), they are
 * gone with the sandbox, printed values come out masked in every encoding, and canaries
 * of names not leased are found nowhere: not inside, not in the output, the state dir,
 * the journal, or the argv and environment of mayfly and the sandbox's pid 1. Bad input
 * (unknown names, policy denial, expired values) fails before any sandbox starts. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "need.h"
#include "run.h"
#include "secrets.h"
#include "test.h"

#define LEASED	   "leased-4c1d8e2f-value"
#define LEASED_F   "leasedfile-93b7a0d4-value"
#define NOT_LEASED "notleased-0e5f6a7b-value"

static void vault(void)
{
	secret_set("production", "DB_URL", LEASED);
	secret_set("production", "API_TOKEN", LEASED_F);
	secret_set("production", "OTHER_SECRET", NOT_LEASED);
}

static int count_sandboxes(void)
{
	char path[4096];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/sandboxes", test_state_dir());
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static const char *const leased_opts[] = { "--from",	    "production", "--secret", "DB_URL",
					   "--secret-file", "API_TOKEN",  NULL };

TEST(secrets_only_leased_names_enter)
{
	struct run_result res;

	NEED(USERNS);
	vault();
	run_sandbox_sh(
		leased_opts,
		"set -e; test \"$DB_URL\" = '" LEASED "' && echo env-ok;"
		"test -z \"$API_TOKEN\" && test -z \"$OTHER_SECRET\" && echo others-absent;"
		"test \"$(cat /run/secrets/API_TOKEN)\" = '" LEASED_F "' && echo file-ok;"
		"stat -c '%a %u' /run/secrets/API_TOKEN; id -u;"
		"ls /run/secrets;"
		/* "valu[e]": the pattern must not match the script's own text in its argv. */
		"! grep -rqs -e 'notleased-0e5f6a7b-valu[e]' /proc/*/environ /proc/*/cmdline /run"
		" /tmp /home /workspace && echo canary-absent;"
		"! grep -qs -e '" LEASED "' /proc/1/environ /proc/1/cmdline && echo init-clean",
		&res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "env-ok");
	CHECK_STR_CONTAINS(res.out, "others-absent");
	CHECK_STR_CONTAINS(res.out, "file-ok");
	CHECK_STR_CONTAINS(res.out, "400 1000\n1000\nAPI_TOKEN\n");
	CHECK_STR_CONTAINS(res.out, "canary-absent");
	CHECK_STR_CONTAINS(res.out, "init-clean");
	CHECK_STR_NOT_CONTAINS(res.out, NOT_LEASED);
	CHECK_STR_NOT_CONTAINS(res.err, NOT_LEASED);
	run_result_free(&res);
	/* Gone with the sandbox: a new one without a lease has neither. */
	run_sandbox_sh(NULL, "ls /run/secrets 2>&1; echo \"[$DB_URL]\"", &res);
	CHECK_STR_CONTAINS(res.out, "No such file");
	CHECK_STR_CONTAINS(res.out, "[]");
	run_result_free(&res);
	scan_tree(test_state_dir(), LEASED);
	scan_tree(test_state_dir(), LEASED_F);
	scan_tree(test_state_dir(), NOT_LEASED);
}

TEST(secrets_output_masked_in_every_encoding)
{
	struct run_result res;

	NEED(USERNS);
	vault();
	run_sandbox_sh(leased_opts,
		       "v=\"$DB_URL\"; f=$(cat /run/secrets/API_TOKEN);"
		       "echo \"raw=$v\"; echo \"file=$f\" >&2;"
		       "printf %s \"$v\" | base64; printf 'xy%s' \"$v\" | base64;"
		       "printf %s \"$v\" | od -An -tx1 | tr -d ' \\n'; echo;"
		       "printf %s \"$v\" | od -An -tx1 | tr -d ' \\n' | tr a-f A-F; echo;"
		       "printf '{\"k\":\"%s\"}\\n' \"$v\";"
		       /* Split across writes, with time between them. */
		       "printf 'split=%s' \"${v%%-value}\"; sleep 0.3; printf -- '-value end\\n'",
		       &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "raw=***\n");
	CHECK_STR_CONTAINS(res.err, "file=***\n");
	CHECK_STR_CONTAINS(res.out, "split=*** end\n");
	CHECK_STR_NOT_CONTAINS(res.out, LEASED);
	CHECK_STR_NOT_CONTAINS(res.out, "6c65617365642d"); /* hex of "leased-" */
	CHECK_STR_NOT_CONTAINS(res.out, "6C65617365642D");
	CHECK_STR_NOT_CONTAINS(res.out, "bGVhc2VkLT"); /* base64 of "leased-" */
	CHECK_STR_NOT_CONTAINS(res.out, "GVhc2VkL");   /* and shifted by two bytes */
	CHECK_STR_NOT_CONTAINS(res.err, LEASED_F);
	run_result_free(&res);
}

/* While a sandbox with secrets runs: its journal, the state dir, and the argv and
 * environment of mayfly and of every process hold no value. */
TEST(secrets_nowhere_on_the_host_while_running)
{
	char ready[4096], cmd[8192];
	pid_t pid;

	NEED(USERNS);
	vault();
	snprintf(ready, sizeof(ready), "%s/ready", test_tmpdir());
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct run_result res;
		snprintf(cmd, sizeof(cmd), "echo started; sleep 3");
		run_sandbox_sh(leased_opts, cmd, &res);
		_exit(res.status == 0 ? 0 : 1);
	}
	/* Wait for the sandbox's journal, then look everywhere. */
	for (int i = 0; i < 6000 && count_sandboxes() == 0; i++)
		usleep(10000);
	CHECK(count_sandboxes() > 0);
	usleep(300000);
	scan_tree(test_state_dir(), LEASED);
	scan_tree(test_state_dir(), LEASED_F);
	scan_tree(test_state_dir(), NOT_LEASED);
	DIR *d = opendir("/proc");
	struct dirent *de;
	CHECK(d);
	while ((de = readdir(d))) {
		char path[4096], comm[64] = "";
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", de->d_name);
		FILE *f = fopen(path, "r");
		if (f) {
			if (!fgets(comm, sizeof(comm), f))
				comm[0] = '\0';
			fclose(f);
		}
		snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
		CHECK(!file_contains(path, LEASED) && !file_contains(path, NOT_LEASED));
		snprintf(path, sizeof(path), "/proc/%s/environ", de->d_name);
		CHECK(!file_contains(path, NOT_LEASED));
		/* The job's own shell has DB_URL (granted); mayfly and init must not. */
		if (strncmp(comm, "mayfly", 6) == 0)
			CHECK(!file_contains(path, LEASED));
	}
	closedir(d);
	int status;
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	scan_tree(test_state_dir(), LEASED);
}

TEST(secrets_unknown_names_fail_before_any_sandbox)
{
	struct run_result res;
	const char *bad_name[] = { "--from",   "production", "--secret", "DB_URL",
				   "--secret", "NOPE",	     NULL };
	const char *bad_env[] = { "--from", "prod", "--secret", "DB_URL", NULL };

	vault();
	run_sandbox_sh(bad_name, "echo ran", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_NOT_CONTAINS(res.out, "ran");
	CHECK_STR_CONTAINS(res.err, "no secret 'NOPE' in 'production' (it has: 'API_TOKEN', "
				    "'DB_URL', 'OTHER_SECRET')");
	run_result_free(&res);
	run_sandbox_sh(bad_env, "echo ran", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "no environment 'prod' in the vault (environments: "
				    "'production')");
	run_result_free(&res);
	CHECK_EQ(count_sandboxes(), 0);
	mayfly(&res, "audit", "--json");
	CHECK_STR_CONTAINS(res.out, "\"outcome\":\"no secret 'NOPE'");
	run_result_free(&res);
}

TEST(secrets_policy_denial_names_the_rule)
{
	struct run_result res;
	char dir[4096];

	vault();
	snprintf(dir, sizeof(dir), "%s/secrets", test_state_dir());
	test_put(dir, "policy.json",
		 "{\"rules\": [{\"name\": \"no-local-prod-db\", \"effect\": \"deny\","
		 " \"environment\": \"production\", \"names\": \"DB_*\", \"frontend\": \"cli\"},"
		 " {\"name\": \"local-rest\", \"environment\": \"*\", \"names\": \"*\"}]}");
	run_sandbox_sh(leased_opts, "echo ran", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_NOT_CONTAINS(res.out, "ran");
	CHECK_STR_CONTAINS(res.err, "policy rule 'no-local-prod-db' (#1");
	run_result_free(&res);
	CHECK_EQ(count_sandboxes(), 0);
	mayfly(&res, "audit", "--json");
	CHECK_STR_CONTAINS(res.out, "\"event\":\"deny\"");
	run_result_free(&res);
}

TEST(secrets_expired_value_refused)
{
	struct run_result res;
	const char *opts[] = { "--from", "staging", "--secret", "OLD", NULL };

	mayfly(&res, "secrets", "set", "staging", "OLD", "--expires", "1ms", "--from-file",
	       value_file("old", "expiring-value-1"));
	CHECK_EQ(res.status, 0);
	run_result_free(&res);
	usleep(20000);
	mayfly(&res, "secrets", "ls", "staging");
	CHECK_STR_CONTAINS(res.out, "(expired)");
	run_result_free(&res);
	run_sandbox_sh(opts, "echo ran", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "secret 'OLD' in 'staging' expired at");
	run_result_free(&res);
}

TEST(secrets_lease_clamped_to_ttl_and_audited)
{
	struct run_result res;
	const char *opts[] = { "--ttl",	     "10m",	 "--lease", "2h", "--from",
			       "production", "--secret", "DB_URL",  NULL };
	char needle[64];

	NEED(USERNS);
	vault();
	run_sandbox_sh(opts, "echo \"$DB_URL\"", &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.err, "the lease of 2h00m asked for was clamped to the sandbox's "
				    "TTL of 10m00s");
	CHECK_STR_EQ(res.out, "***\n");
	run_result_free(&res);
	mayfly(&res, "audit", "--json");
	CHECK_STR_CONTAINS(res.out, "\"event\":\"lease\"");
	CHECK_STR_CONTAINS(res.out, "\"event\":\"release\"");
	CHECK_STR_CONTAINS(res.out, "\"names\":[\"DB_URL\"]");
	CHECK_STR_NOT_CONTAINS(res.out, LEASED);
	/* Both lines name the sandbox. */
	const char *p = strstr(res.out, "\"event\":\"lease\",\"sandbox\":\"");
	CHECK(p);
	snprintf(needle, sizeof(needle), "\"event\":\"release\",\"sandbox\":\"%.16s\"",
		 p + strlen("\"event\":\"lease\",\"sandbox\":\""));
	CHECK_STR_CONTAINS(res.out, needle);
	run_result_free(&res);
}

TEST(secrets_short_lease_ends_the_sandbox)
{
	struct run_result res;
	const char *opts[] = {
		"--lease", "1s", "--from", "production", "--secret", "DB_URL", NULL
	};

	NEED(USERNS);
	vault();
	run_sandbox_sh(opts, "sleep 60", &res);
	CHECK_EQ(res.status, 124);
	CHECK_STR_CONTAINS(res.err, "it ends with its lease");
	run_result_free(&res);
}

TEST(secrets_refused_with_a_terminal_and_without_from)
{
	struct run_result res;
	const char *tty[] = { "-t", "--from", "production", "--secret", "DB_URL", NULL };
	const char *no_from[] = { "--secret", "DB_URL", NULL };
	const char *bad_name[] = { "--from", "production", "--secret", "DB-URL", NULL };

	vault();
	run_sandbox_sh(tty, "echo ran", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "not masked");
	run_result_free(&res);
	run_sandbox_sh(no_from, "echo ran", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "--secret and --grant need --from ENV");
	run_result_free(&res);
	run_sandbox_sh(bad_name, "echo ran", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "'DB-URL': not a variable name");
	run_result_free(&res);
	CHECK_EQ(count_sandboxes(), 0);
}

/* mayfly killed with a lease held: the values die with the sandbox, and gc audits the
 * release. */
TEST(secrets_release_audited_by_gc_after_a_kill)
{
	struct run_result res;
	char dir[4096], path[4200];
	struct dirent *de;
	pid_t pid, owner = 0;
	DIR *d;

	NEED(USERNS);
	vault();
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		run_sandbox_sh(leased_opts, "sleep 120", &res);
		_exit(0);
	}
	snprintf(dir, sizeof(dir), "%s/sandboxes", test_state_dir());
	/* The owner is in the journal once pid 1 exists. */
	for (int i = 0; i < 6000 && owner == 0; i++) {
		usleep(10000);
		d = opendir(dir);
		while (d && (de = readdir(d))) {
			char *text = NULL;
			FILE *f;
			size_t n = 0;
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s/journal.json", dir, de->d_name);
			f = fopen(path, "r");
			if (f && getline(&text, &n, f) > 0 && strstr(text, "\"init_pid\":") &&
			    !strstr(text, "\"init_pid\":0"))
				owner = (pid_t) strtol(strstr(text, "\"owner\":") + 8, NULL, 10);
			free(text);
			if (f)
				fclose(f);
		}
		if (d)
			closedir(d);
	}
	CHECK(owner > 0);
	CHECK_OK(kill(owner, SIGKILL));
	int status;
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	mayfly(&res, "gc");
	CHECK_EQ(res.status, 0);
	run_result_free(&res);
	mayfly(&res, "audit", "--json");
	CHECK_STR_CONTAINS(res.out, "\"event\":\"release\"");
	CHECK_STR_CONTAINS(res.out, "released by gc");
	CHECK_STR_CONTAINS(res.out, "\"names\":[\"DB_URL\",\"API_TOKEN\"]");
	CHECK_STR_NOT_CONTAINS(res.out, LEASED);
	run_result_free(&res);
	scan_tree(test_state_dir(), LEASED);
	scan_tree(test_state_dir(), LEASED_F);
}

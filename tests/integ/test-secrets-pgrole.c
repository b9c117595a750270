/* test-secrets-pgrole.c - postgres-role leases against a real PostgreSQL server on the
 * host's loopback (a throwaway data dir, the "production" stand-in) with an admin role and
 * a `readonly` role that may SELECT one table. Inside a sandbox the job connects with
 * psql "$DB_URL" through the sandbox's forward and reads the table but cannot write it;
 * the admin password is nowhere inside, in the output or in the state dir; the role is
 * gone when the sandbox ends; after the TTL it cannot log in; a killed mayfly's role is
 * dropped by `mayfly gc`; a wrong admin password fails before the sandbox starts; the
 * audit log names the role, never its password. */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "services/services.h"
#include "util/err.h"
#include "need.h"
#include "run.h"
#include "secrets.h"
#include "test.h"

#define ADMIN_PW "pgadmin-7f3a1c9e5b-canary"
/* What the job greps for: a pattern matching the admin password whose text does not
 * (neither the script nor grep's own argv holds the password). */
#define ADMIN_PW_RE "pgadmin-7f3a1c9e5b-canar[y]"
#define SERVER_UID  65534

struct server {
	char dir[256];
	char bindir[SVC_PATH_MAX];
	unsigned port;
	pid_t pid;
};
static struct server srv;

static void run_as_server(void)
{
	if (geteuid() != 0)
		return;
	if (setgroups(0, NULL) < 0 || setgid(SERVER_UID) < 0 || setuid(SERVER_UID) < 0)
		_exit(126);
}

/* Run bindir/prog args... as the server's user, output to dir/log; its exit status. */
static int run_tool(const char *prog, char *const *args)
{
	char path[SVC_PATH_MAX + 32], log[300];
	pid_t pid;
	int status;

	snprintf(path, sizeof(path), "%s/%s", srv.bindir, prog);
	snprintf(log, sizeof(log), "%s/log", srv.dir);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_APPEND | O_CREAT, 0666);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		run_as_server();
		char *argv[32] = { path };
		for (int i = 0; args[i] && i < 30; i++)
			argv[i + 1] = args[i];
		execv(path, argv);
		_exit(127);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	return status;
}

/* psql as the admin, from the host; its stdout (caller frees) and exit status. */
static int admin_sql(const char *sql, char **ret_out)
{
	char port[16], url[256];
	struct run_result res;

	snprintf(port, sizeof(port), "%u", srv.port);
	snprintf(url, sizeof(url), "postgresql://admin@127.0.0.1:%u/app", srv.port);
	char *argv[] = { "psql", url, "-Atqc", (char *) sql, NULL };
	char *env[] = { "PGPASSWORD=" ADMIN_PW, "PGCONNECT_TIMEOUT=30", NULL };
	run_argv(argv, env, 60, &res);
	int status = res.status;
	if (ret_out)
		*ret_out = strdup(res.out ? res.out : "");
	run_result_free(&res);
	return status;
}

static void stop_server(void)
{
	if (srv.pid > 0) {
		kill(srv.pid, SIGQUIT);
		waitpid(srv.pid, NULL, 0);
		srv.pid = 0;
	}
}

/* initdb with an admin (SCRAM), start the server on 127.0.0.1, make the readonly role and
 * a table it may read. */
static void start_server(void)
{
	struct svc_install pg;
	struct err err = { 0 };
	char pwfile[300], data[300], port[16], out[4096];

	NEED(USERNS);
	if (svc_find(NULL, "postgres", NULL, &pg, &err) < 0)
		test_skip_host("%s", err.msg);
	snprintf(srv.bindir, sizeof(srv.bindir), "%s", pg.bindir);
	/* In the test's tmpdir (0755, removed by the harness), owned by the server's user. */
	snprintf(srv.dir, sizeof(srv.dir), "%s/pg", test_tmpdir());
	CHECK_OK(mkdir(srv.dir, 0755));
	if (geteuid() == 0)
		CHECK_OK(chown(srv.dir, SERVER_UID, SERVER_UID));
	snprintf(pwfile, sizeof(pwfile), "%s/pw", srv.dir);
	snprintf(data, sizeof(data), "%s/data", srv.dir);
	int fd = open(pwfile, O_WRONLY | O_CREAT | O_EXCL, 0644);
	CHECK(fd >= 0);
	CHECK(write(fd, ADMIN_PW "\n", strlen(ADMIN_PW) + 1) > 0);
	close(fd);
	char *initdb[] = { "-D", data, "-U", "admin", "--pwfile", pwfile, "--auth=scram-sha-256",
			   "-N", NULL };
	int st = run_tool("initdb", initdb);
	if (st != 0) {
		snprintf(out, sizeof(out), "%s/log", srv.dir);
		test_skip_host("initdb failed here (status %d; see %s): cannot run PostgreSQL as "
			       "uid %u",
			       st, out, geteuid() == 0 ? SERVER_UID : geteuid());
	}
	unlink(pwfile);
	srv.port = (unsigned) test_free_port();
	snprintf(port, sizeof(port), "%u", srv.port);
	srv.pid = fork();
	CHECK(srv.pid >= 0);
	if (srv.pid == 0) {
		char log[300], path[SVC_PATH_MAX + 16];
		snprintf(log, sizeof(log), "%s/server.log", srv.dir);
		snprintf(path, sizeof(path), "%s/postgres", srv.bindir);
		int lfd = open(log, O_WRONLY | O_APPEND | O_CREAT, 0666);
		if (lfd >= 0) {
			dup2(lfd, 1);
			dup2(lfd, 2);
		}
		run_as_server();
		/* Gone with the test (the id change cleared an earlier parent-death signal). */
		prctl(PR_SET_PDEATHSIG, SIGQUIT);
		/* postgres wants a current directory it can reach. */
		if (chdir(srv.dir) < 0)
			_exit(126);
		execl(path, path, "-D", data, "-p", port, "-c", "listen_addresses=127.0.0.1", "-c",
		      "unix_socket_directories=", "-c", "fsync=off", (char *) NULL);
		_exit(127);
	}
	struct svc_target t = { .host = "127.0.0.1",
				.port = srv.port,
				.user = "admin",
				.password = ADMIN_PW,
				.db = "postgres",
				.server = srv.pid };
	if (svc_pg_ready(&t, 60000, &err) < 0) {
		snprintf(out, sizeof(out), "tail -5 '%s/server.log'", srv.dir);
		(void) !system(out);
		test_fail(__FILE__, __LINE__, "server: %s", err.msg);
	}
	struct svc_target t2 = t;
	CHECK_OK(svc_pg_exec(&t2, "CREATE DATABASE app", 60000, &err));
	t2.db = "app";
	if (svc_pg_exec(&t2,
			"CREATE ROLE readonly NOLOGIN; CREATE TABLE t (x int); "
			"INSERT INTO t VALUES (42); GRANT SELECT ON t TO readonly",
			60000, &err) < 0)
		test_fail(__FILE__, __LINE__, "setup: %s", err.msg);
}

static void set_entry(const char *name, const char *password)
{
	char doc[512];
	struct run_result res;

	snprintf(doc, sizeof(doc),
		 "{\"host\": \"127.0.0.1\", \"port\": %u, \"user\": \"admin\", "
		 "\"password\": \"%s\", \"dbname\": \"app\", \"sslmode\": \"disable\", "
		 "\"member_of\": [\"readonly\"]}\n",
		 srv.port, password);
	const char *file = value_file("entry.json", doc);
	mayfly(&res, "secrets", "set", "production", name, "--kind", "postgres-role", "--from-file",
	       file);
	if (res.status != 0)
		test_fail(__FILE__, __LINE__, "secrets set: %s", res.err);
	run_result_free(&res);
	unlink(file);
}

static int count_roles(void)
{
	char *out = NULL;
	CHECK_EQ(admin_sql("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'mayfly\\_%'", &out),
		 0);
	int n = atoi(out);
	free(out);
	return n;
}

/* rot13, which the masker does not know: how the job shows the test its URL. */
#define ROT13 "tr 'A-Za-z' 'N-ZA-Mn-za-m'"
static void unrot(char *s)
{
	for (; *s; s++)
		if ((*s >= 'a' && *s <= 'z'))
			*s = (char) ('a' + (*s - 'a' + 13) % 26);
		else if (*s >= 'A' && *s <= 'Z')
			*s = (char) ('A' + (*s - 'A' + 13) % 26);
}

/* The URL the job printed after "URL=" (rot13), as the host reaches the server. */
static void job_url(const char *out, char *url, size_t size, char *role, size_t rsize)
{
	const char *p = strstr(out, "HEY="); /* "URL=" in rot13 */
	CHECK(p != NULL);
	p += 4;
	size_t n = strcspn(p, "\n");
	CHECK(n < size);
	memcpy(url, p, n);
	url[n] = '\0';
	unrot(url);
	CHECK_STR_CONTAINS(url, "postgresql://mayfly_");
	const char *r = url + strlen("postgresql://");
	size_t rn = strcspn(r, ":");
	CHECK(rn < rsize);
	memcpy(role, r, rn);
	role[rn] = '\0';
}

/* Log in from the host with the job's URL: psql's exit status and stderr. */
static int host_login(const char *url, char **ret_err)
{
	struct run_result res;
	char *argv[] = { "psql", (char *) url, "-Atqc", "SELECT x FROM t", NULL };
	char *env[] = { "PGCONNECT_TIMEOUT=30", NULL };
	run_argv(argv, env, 60, &res);
	int st = res.status;
	if (ret_err)
		*ret_err = strdup(res.err ? res.err : "");
	run_result_free(&res);
	return st;
}

TEST(pgrole_read_not_write_then_dropped)
{
	struct run_result res;
	char audit[4096], url[512], role[64];

	start_server();
	set_entry("DB_URL", ADMIN_PW);
	mayfly(&res, "secrets", "ls", "production");
	CHECK_STR_CONTAINS(res.out, "postgres-role");
	run_result_free(&res);

	const char *opts[] = { "--from", "production", "--secret", "DB_URL", NULL };
	run_sandbox_sh(
		opts,
		"echo \"URL=$DB_URL\" | " ROT13 "; echo \"plain=$DB_URL\"; "
		"echo \"pw=$(echo \"$DB_URL\" | sed 's/.*:\\(.*\\)@.*/\\1/')\"; "
		"echo \"read=$(psql \"$DB_URL\" -Atqc 'SELECT x FROM t')\"; "
		"psql \"$DB_URL\" -qc 'INSERT INTO t VALUES (1)' 2>&1 | sed 's/^/write: /'; "
		"hits=$(cat /proc/[0-9]*/environ /proc/[0-9]*/cmdline 2>/dev/null | "
		"grep -ac '" ADMIN_PW_RE "'); "
		"files=$(grep -rlas '" ADMIN_PW_RE "' /run /tmp /workspace "
		"\"$HOME\" /etc 2>/dev/null | wc -l); echo \"admin-pw-hits=$hits files=$files\"",
		&res);
	if (res.status != 0)
		test_fail(__FILE__, __LINE__, "exec: status %d: %s%s", res.status, res.out,
			  res.err);
	CHECK_STR_CONTAINS(res.out, "plain=***");
	CHECK_STR_CONTAINS(res.out, "pw=***\n");
	CHECK_STR_CONTAINS(res.out, "read=42");
	CHECK_STR_CONTAINS(res.out, "write: ERROR:  permission denied for table t");
	CHECK_STR_CONTAINS(res.out, "admin-pw-hits=0 files=0");
	CHECK(!strstr(res.out, ADMIN_PW) && !strstr(res.err, ADMIN_PW));
	job_url(res.out, url, sizeof(url), role, sizeof(role));
	CHECK(!strstr(res.out, url) && !strstr(res.err, url));
	run_result_free(&res);

	/* Gone with the sandbox: no role, no login. */
	CHECK_EQ(count_roles(), 0);
	char *err = NULL;
	CHECK_NE(host_login(url, &err), 0);
	free(err);

	/* The audit log names the role, never its password or the admin's. */
	snprintf(audit, sizeof(audit), "%s/audit.log", test_state_dir());
	CHECK(file_contains(audit, role));
	CHECK(file_contains(audit, "\"event\":\"revoke\""));
	CHECK(file_contains(audit, "\"kind\":\"forward\""));
	mayfly(&res, "audit");
	CHECK_STR_CONTAINS(res.out, "forward");
	CHECK_STR_CONTAINS(res.out, "127.0.0.1:");
	char rolecol[80];
	snprintf(rolecol, sizeof(rolecol), "role=%s", role);
	CHECK_STR_CONTAINS(res.out, rolecol);
	CHECK_STR_CONTAINS(res.out, "revoke");
	run_result_free(&res);
	const char *pw = strchr(url + strlen("postgresql://"), ':') + 1;
	char password[64];
	snprintf(password, sizeof(password), "%.*s", (int) strcspn(pw, "@"), pw);
	CHECK(strlen(password) >= 20);
	scan_tree(test_state_dir(), password);
	scan_tree(test_state_dir(), ADMIN_PW);
	stop_server();
}

TEST(pgrole_wrong_admin_password_fails_before_the_sandbox)
{
	struct run_result res;

	start_server();
	set_entry("DB_URL", "wrong-password-0d9c8b7a");
	const char *opts[] = { "--from", "production", "--secret", "DB_URL", NULL };
	run_sandbox_sh(opts, "echo job-ran", &res);
	CHECK_EQ(res.status, 125);
	CHECK(!strstr(res.out, "job-ran"));
	CHECK_STR_CONTAINS(res.err, "password authentication failed");
	CHECK_STR_CONTAINS(res.err, "check the entry's admin connection");
	CHECK(!strstr(res.err, "wrong-password-0d9c8b7a"));
	run_result_free(&res);
	CHECK_EQ(count_roles(), 0);
	stop_server();
}

TEST(pgrole_bad_entry_is_refused_when_set)
{
	struct run_result res;
	const char *file = value_file(
		"bad.json", "{\"host\": \"127.0.0.1\", \"user\": \"admin\", \"password\": "
			    "\"some-password-1\", \"member_of\": [\"x\\\"; DROP TABLE t\"]}");

	mayfly(&res, "secrets", "set", "production", "DB_URL", "--kind", "postgres-role",
	       "--from-file", file);
	CHECK_NE(res.status, 0);
	CHECK_STR_CONTAINS(res.err, "member_of");
	CHECK(!strstr(res.err, "some-password-1"));
	run_result_free(&res);
	file = value_file("bad2.txt", "host=127.0.0.1\nuser=admin\npassword=some-password-1\n"
				      "sslmode=require\n");
	mayfly(&res, "secrets", "set", "production", "DB_URL", "--kind", "postgres-role",
	       "--from-file", file);
	CHECK_NE(res.status, 0);
	CHECK_STR_CONTAINS(res.err, "sslmode");
	run_result_free(&res);
}

TEST(pgrole_ttl_ends_the_login)
{
	struct run_result res;
	char url[512], role[64];

	start_server();
	set_entry("DB_URL", ADMIN_PW);
	const char *opts[] = { "--from", "production", "--secret", "DB_URL", "--ttl", "2s", NULL };
	run_sandbox_sh(opts,
		       "echo \"URL=$DB_URL\" | " ROT13 "; psql \"$DB_URL\" -Atqc 'SELECT 1' && "
		       "echo logged-in; sleep 600",
		       &res);
	CHECK_EQ(res.status, 124);
	CHECK_STR_CONTAINS(res.out, "logged-in");
	job_url(res.out, url, sizeof(url), role, sizeof(role));
	run_result_free(&res);
	char *err = NULL;
	CHECK_NE(host_login(url, &err), 0);
	CHECK_STR_CONTAINS(err, "authentication failed");
	free(err);
	CHECK_EQ(count_roles(), 0);
	stop_server();
}

/* A killed mayfly: the role outlives it, but its VALID UNTIL ends its logins, and gc
 * drops it. */
TEST(pgrole_killed_mayfly_valid_until_then_gc)
{
	char out_path[300], url[512], role[64], *out = NULL;
	struct run_result res;

	start_server();
	set_entry("DB_URL", ADMIN_PW);
	snprintf(out_path, sizeof(out_path), "%s/job.out", test_tmpdir());
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(fd, 1);
		execl(mayfly_bin(), "mayfly", "--state-dir", test_state_dir(), "exec", "--from",
		      "production", "--secret", "DB_URL", "--ttl", "4s", "--", "sh", "-c",
		      "echo \"URL=$DB_URL\" | " ROT13 "; sleep 600", (char *) NULL);
		_exit(127);
	}
	/* Wait for the job's line, then kill mayfly outright. */
	for (;;) {
		struct timespec ms10 = { 0, 10 * 1000 * 1000 };
		size_t len = 0;
		FILE *f = fopen(out_path, "r");
		free(out);
		out = NULL;
		if (f) {
			out = calloc(1, 4096);
			len = fread(out, 1, 4095, f);
			fclose(f);
		}
		if (out && len && strchr(out, '\n'))
			break;
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid)
			test_fail(__FILE__, __LINE__, "mayfly exited early: %s", out ? out : "");
		nanosleep(&ms10, NULL);
	}
	CHECK_OK(kill(pid, SIGKILL));
	waitpid(pid, NULL, 0);
	job_url(out, url, sizeof(url), role, sizeof(role));
	free(out);
	CHECK_EQ(count_roles(), 1);
	/* Until VALID UNTIL passes (the role still exists: it is the expiry that refuses). */
	char *err = NULL;
	while (host_login(url, &err) == 0) {
		struct timespec ms100 = { 0, 100 * 1000 * 1000 };
		free(err);
		nanosleep(&ms100, NULL);
	}
	CHECK_STR_CONTAINS(err, "authentication failed");
	free(err);
	CHECK_EQ(count_roles(), 1);

	mayfly(&res, "gc");
	CHECK_EQ(res.status, 0);
	run_result_free(&res);
	CHECK_EQ(count_roles(), 0);
	char audit[4096];
	snprintf(audit, sizeof(audit), "%s/audit.log", test_state_dir());
	CHECK(file_contains(audit, "dropped by gc"));
	CHECK(file_contains(audit, role));
	stop_server();
}

TEST(pgrole_port_taken_inside_is_refused)
{
	struct run_result res;
	const char *file = value_file("e.txt", "host=127.0.0.1\nport=3128\nuser=admin\n"
					       "password=some-password-1\n");

	mayfly(&res, "secrets", "set", "production", "DB_URL", "--kind", "postgres-role",
	       "--from-file", file);
	CHECK_EQ(res.status, 0);
	run_result_free(&res);
	const char *opts[] = { "--from",       "production",  "--secret", "DB_URL",
			       "--allow-host", "example.com", NULL };
	run_sandbox_sh(opts, "echo job-ran", &res);
	CHECK_EQ(res.status, 125);
	CHECK(!strstr(res.out, "job-ran"));
	CHECK_STR_CONTAINS(res.err, "its port 3128 is the egress proxy's");
	run_result_free(&res);
}

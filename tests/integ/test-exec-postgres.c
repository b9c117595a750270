/* test-exec-postgres.c - `mayfly exec --service postgres`: the job's own PostgreSQL, a
 * copy-on-write clone of a template, ready before the job runs, owned by the job's user,
 * private to the sandbox and gone with it; its variables, init files and failures. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "need.h"
#include "run.h"
#include "test.h"

#define CACHE_UID 1073741823u /* SANDBOX_CACHE_UID */

static void need_postgres(void)
{
	NEED(USERNS);
	if (access("/usr/lib/postgresql", F_OK) < 0 || access("/usr/bin/psql", X_OK) < 0)
		test_skip_host("PostgreSQL is not installed (apt-get install postgresql)");
}

/* A server setting that marks this test's servers in the host's process list (PostgreSQL
 * puts cluster_name in its processes' titles), so that counting them ignores other
 * PostgreSQL servers on the host. */
static const char *marker_config(char *buf, size_t size, const char *marker)
{
	snprintf(buf, size, "postgres:cluster_name=%s", marker);
	return buf;
}

static void sh(const char *const *opts, const char *script, struct run_result *res)
{
	run_sandbox_sh(opts, script, res);
	if (res->status != 0)
		printf("# status %d\n# out: %s\n# err: %s\n", res->status, res->out, res->err);
}

/* The template's data directory in the test's state dir. */
static void template_data(char *buf, size_t size)
{
	char dir[600];
	DIR *d;
	struct dirent *de;

	snprintf(dir, sizeof(dir), "%s/cache/templates", test_state_dir());
	d = opendir(dir);
	CHECK(d != NULL);
	buf[0] = '\0';
	while ((de = readdir(d)))
		if (strncmp(de->d_name, "postgres-", 9) == 0)
			snprintf(buf, size, "%s/%s/data", dir, de->d_name);
	closedir(d);
	CHECK(buf[0] != '\0');
}

TEST(postgres_is_ready_before_the_job_private_and_gone_after)
{
	struct run_result res;
	char data[800], marker[64], cfg[128];
	struct stat st;
	int status;
	pid_t pid;

	need_postgres();
	snprintf(marker, sizeof(marker), "mfpg-ready-%d", (int) getpid());
	marker_config(cfg, sizeof(cfg), marker);
	/* No retry loop in the job: the server must answer at once. */
	sh((const char *const[]){ "--service", "postgres", NULL },
	   "psql -qAtc 'create table t (x int); insert into t values (42); select x from t' && "
	   "echo \"$PGHOST $PGPORT $PGUSER $PGDATABASE\" && "
	   "echo \"$DATABASE_URL\" | sed 's/:[^:@]*@/:PW@/'",
	   &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, "42\nlocalhost 5432 postgres postgres\n"
			      "postgresql://postgres:PW@localhost:5432/postgres\n");
	run_result_free(&res);
	/* The next job starts from the template again: the table is not there. While it
	 * runs, its server is on the host's process list; after, nothing of it is. */
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		run_sandbox_sh(
			(const char *const[]){ "--service", "postgres", "--service-config", cfg,
					       NULL },
			"psql -qAtc \"select count(*) from pg_tables where tablename = 't'\" "
			"&& sleep 1",
			&res);
		_exit(res.status == 0 && strcmp(res.out, "0\n") == 0 ? 0 : 1);
	}
	for (int i = 0; i < 500 && test_count_procs(NULL, marker) == 0; i++)
		usleep(10000);
	CHECK(test_count_procs(NULL, marker) > 0);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ(test_count_procs(NULL, marker), 0);
	/* The template itself: owned by the cache's id (root mode) or us, never the job's. */
	template_data(data, sizeof(data));
	CHECK_EQ(stat(data, &st), 0);
	CHECK_EQ(st.st_uid, geteuid() == 0 ? CACHE_UID : geteuid());
	CHECK_EQ(st.st_mode & 07777, 0700);
}

TEST(postgres_files_belong_to_the_job_and_the_template_is_read_only)
{
	struct run_result res;

	need_postgres();
	sh((const char *const[]){ "--service", "postgres", NULL },
	   "stat -c '%u %a' /var/lib/postgresql/data /var/lib/postgresql/data/PG_VERSION "
	   "/var/lib/postgresql/data/base; id -u; "
	   /* The lower layer is not reachable from inside, and no path leads to it. */
	   "touch /var/lib/postgresql/data/new && echo wrote",
	   &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, "1000 700\n1000 600\n1000 700\n1000\nwrote\n");
	run_result_free(&res);
}

TEST(postgres_concurrent_jobs_do_not_meet)
{
	struct run_result res;
	pid_t pid;
	int status;

	need_postgres();
	/* Build the template once, so both jobs start together. */
	sh((const char *const[]){ "--service", "postgres", NULL }, "true", &res);
	CHECK_EQ(res.status, 0);
	run_result_free(&res);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		run_sandbox_sh((const char *const[]){ "--service", "postgres", NULL },
			       "psql -qc 'create table t (x text)' && "
			       "psql -qc \"insert into t values ('A')\" && sleep 1 && "
			       "test \"$(psql -qAtc 'select x from t')\" = A",
			       &res);
		_exit(res.status);
	}
	sh((const char *const[]){ "--service", "postgres", NULL },
	   "psql -qc 'create table t (x text)' && psql -qc \"insert into t values ('B')\" && "
	   "sleep 0.5 && test \"$(psql -qAtc 'select x from t')\" = B",
	   &res);
	CHECK_EQ(res.status, 0);
	run_result_free(&res);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 0);
}

TEST(postgres_variables_as_the_official_image)
{
	struct run_result res;

	need_postgres();
	sh((const char *const[]){ "--service", "postgres", "--service-env", "POSTGRES_USER=app",
				  "--service-env", "POSTGRES_DB=appdb", "--service-env",
				  "POSTGRES_PASSWORD=s3cret-pw", NULL },
	   /* Over TCP, with the password: the URL works as given. */
	   "psql \"$DATABASE_URL\" -qAtc 'select current_user, current_database()' && "
	   "echo \"$PGPASSWORD\" && "
	   /* A wrong password is refused over TCP. */
	   "if PGPASSWORD=wrong psql -h 127.0.0.1 -qAtc 'select 1' 2>/dev/null; "
	   "then echo accepted; else echo refused; fi",
	   &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, "app|appdb\ns3cret-pw\nrefused\n");
	run_result_free(&res);
	sh((const char *const[]){ "--service", "postgres", "--service-env", "PGDATA=/x", NULL },
	   "true", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "--service-env 'PGDATA': unknown variable (known: "
				    "POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB)");
	run_result_free(&res);
	sh((const char *const[]){ "--service-env", "POSTGRES_USER=x", NULL }, "true", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "need a --service");
	run_result_free(&res);
}

TEST(postgres_password_is_random_and_never_in_a_log)
{
	struct run_result a, b;

	need_postgres();
	sh((const char *const[]){ "--service", "postgres", "--json", NULL },
	   "echo \"$PGPASSWORD\"; cat /run/mayfly-postgres.log", &a);
	sh((const char *const[]){ "--service", "postgres", NULL }, "echo \"$PGPASSWORD\"", &b);
	CHECK_EQ(a.status, 0);
	CHECK_EQ(b.status, 0);
	char *nl = strchr(a.out, '\n');
	CHECK(nl != NULL);
	*nl = '\0';
	CHECK_EQ(strlen(a.out), 24);
	CHECK(strcmp(a.out, b.out) != 0 && strncmp(a.out, b.out, 24) != 0);
	/* Not in the server's log, not in what mayfly printed. */
	CHECK(strstr(nl + 1, a.out) == NULL);
	CHECK(strstr(a.err, a.out) == NULL);
	run_result_free(&a);
	run_result_free(&b);
}

TEST(postgres_init_files_run_once_before_the_job)
{
	char f1[600], f2[600], bad[600];
	struct run_result res;

	need_postgres();
	snprintf(f1, sizeof(f1), "%s/01-schema.sql", test_tmpdir());
	snprintf(f2, sizeof(f2), "%s/02-data.sql", test_tmpdir());
	snprintf(bad, sizeof(bad), "%s/bad.sql", test_tmpdir());
	test_put("/", f1 + 1, "create table users (name text);\n");
	test_put("/", f2 + 1,
		 "insert into users values ('ada');\n"
		 "insert into users values ('grace');\n");
	test_put("/", bad + 1, "select 1;\n\nselect * from\n  no_such_table;\n");
	sh((const char *const[]){ "--service", "postgres", "--service-init", f1, "--service-init",
				  f2, NULL },
	   "psql -qAtc 'select name from users order by name'", &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, "ada\ngrace\n");
	run_result_free(&res);
	/* A failing file: the job does not run; the error names file, line and message. */
	sh((const char *const[]){ "--service", "postgres", "--service-init", bad, NULL },
	   "echo job ran", &res);
	CHECK_EQ(res.status, 125);
	CHECK(strstr(res.out, "job ran") == NULL);
	CHECK_STR_CONTAINS(res.err, "--service-init '");
	CHECK_STR_CONTAINS(res.err, "bad.sql' line 4");
	CHECK_STR_CONTAINS(res.err, "relation \"no_such_table\" does not exist");
	run_result_free(&res);
	sh((const char *const[]){ "--service", "postgres", "--service-init", "/no/such.sql", NULL },
	   "true", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "--service-init '/no/such.sql'");
	run_result_free(&res);
}

TEST(postgres_crash_is_reported_and_the_job_sees_it)
{
	struct run_result res;

	need_postgres();
	sh((const char *const[]){ "--service", "postgres", NULL },
	   "kill -9 $(head -1 /var/lib/postgresql/data/postmaster.pid); sleep 0.2; "
	   "if psql -qAtc 'select 1' 2>/dev/null; then echo up; else echo down; fi",
	   &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, "down\n");
	CHECK_STR_CONTAINS(res.err, "service postgres died of signal 9 while the job ran "
				    "(its log: /run/mayfly-postgres.log in the sandbox)");
	run_result_free(&res);
}

TEST(postgres_bad_input_is_named)
{
	struct run_result res;

	need_postgres();
	sh((const char *const[]){ "--service", "postgres", "--user", "root", NULL }, "true", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "PostgreSQL refuses to run as root");
	run_result_free(&res);
	sh((const char *const[]){ "--service", "postgres:9", NULL }, "true", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "--service postgres:9");
	run_result_free(&res);
	sh((const char *const[]){ "--service", "postgres", "--service", "postgres", NULL }, "true",
	   &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "--service postgres given twice");
	run_result_free(&res);
	sh((const char *const[]){ "--service", "postgres", "--service-config", "postgres:port=1",
				  NULL },
	   "true", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "port");
	run_result_free(&res);
	sh((const char *const[]){ "--service", "postgres", "--service-config", "mysql:x=1", NULL },
	   "true", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "--service-config 'mysql:x=1': unknown kind");
	run_result_free(&res);
}

TEST(postgres_clients_on_path_are_the_servers_own)
{
	struct run_result res;

	need_postgres();
	/* Not Debian's Perl wrapper (/usr/bin/psql): 20 ms per call, and no clusters here. */
	sh((const char *const[]){ "--service", "postgres", NULL },
	   "command -v psql; command -v pg_dump", &res);
	CHECK_EQ(res.status, 0);
	CHECK(strncmp(res.out, "/usr/lib/postgresql/", 20) == 0);
	CHECK_STR_CONTAINS(res.out, "/bin/psql\n/usr/lib/postgresql/");
	run_result_free(&res);
	/* An explicit PATH wins. */
	sh((const char *const[]){ "--service", "postgres", "--env", "PATH=/usr/bin:/bin", NULL },
	   "command -v psql", &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, "/usr/bin/psql\n");
	run_result_free(&res);
}

TEST(postgres_settings_can_be_overridden)
{
	struct run_result res;

	need_postgres();
	sh((const char *const[]){ "--service", "postgres", "--service-config",
				  "postgres:work_mem=77MB", NULL },
	   "psql -qAtc 'show work_mem; show fsync'", &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, "77MB\noff\n");
	run_result_free(&res);
}

TEST(postgres_damaged_template_is_rebuilt)
{
	char data[800], ctl[900];
	struct run_result res;

	need_postgres();
	sh((const char *const[]){ "--service", "postgres", NULL }, "true", &res);
	CHECK_EQ(res.status, 0);
	run_result_free(&res);
	template_data(data, sizeof(data));
	snprintf(ctl, sizeof(ctl), "%s/global/pg_control", data);
	CHECK_EQ(unlink(ctl), 0);
	sh((const char *const[]){ "--service", "postgres", NULL }, "psql -qAtc 'select 7'", &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, "7\n");
	run_result_free(&res);
	template_data(data, sizeof(data));
	CHECK_EQ(access(ctl, F_OK), 0);
}

TEST(postgres_disk_too_small_fails_clearly)
{
	struct run_result res;
	char marker[64], cfg[128];

	need_postgres();
	snprintf(marker, sizeof(marker), "mfpg-disk-%d", (int) getpid());
	marker_config(cfg, sizeof(cfg), marker);
	/* The WAL written by a big insert does not fit a 4 MiB scratch. */
	sh((const char *const[]){ "--service", "postgres", "--disk", "4M", "--service-config", cfg,
				  NULL },
	   "psql -qc 'create table t as select repeat(md5(i::text), 20) from "
	   "generate_series(1, 100000) i' 2>&1 | tail -1; exit 3",
	   &res);
	CHECK(res.status == 3 || res.status == 125);
	if (res.status == 3)
		CHECK(strstr(res.out, "No space left on device") != NULL ||
		      strstr(res.out, "server closed the connection") != NULL ||
		      strstr(res.out, "could not") != NULL);
	else
		CHECK_STR_CONTAINS(res.err, "service postgres");
	run_result_free(&res);
	CHECK_EQ(test_count_procs(NULL, marker), 0);
}

TEST(postgres_without_idmapped_mounts_says_what_is_missing)
{
	const char *enosys = getenv("MAYFLY_ENOSYS_BIN");
	struct run_result res;

	need_postgres();
	NEED(ROOT);
	if (!enosys || access(enosys, X_OK) < 0)
		test_skip_host("MAYFLY_ENOSYS_BIN is not set (make test sets it)");
	/* As on a kernel older than 5.12: no open_tree, no mount_setattr. */
	run_argv((char *const[]){ (char *) enosys, (char *) mayfly_bin(), "--state-dir",
				  (char *) test_state_dir(), "exec", "--service", "postgres", "--",
				  "true", NULL },
		 NULL, 60, &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "this kernel has no idmapped mounts (Linux 5.12 or later");
	run_result_free(&res);
}

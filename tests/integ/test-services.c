/* test-services.c - real PostgreSQL from the host's packages, as a sandbox will run it: a
 * template built once (atomically, by one of several callers, rebuilt when damaged), each
 * job's server on an overlay clone of it (or a cp -a copy), a per-job password, init SQL
 * files, clear errors. As root, each test runs in mount and network namespaces of its own
 * (its 5432 is its own; the host's servers are never touched) with the servers and the
 * template owned by a uid that has no name on the host (under `unshare -r`: owned by us,
 * the servers in a user namespace of their own); as a plain user, the same with free
 * ports, cp -a clones and our own uid. Servers get SIGKILL when their test ends,
 * however it ends (parent-death signal); the happy paths stop them with svc_stop(). */
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net/net.h"
#include "services/services.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "need.h"
#include "run.h"
#include "test.h"

#define OWNER 4000000u /* as root: the template's and the servers' uid, nameless on the host */
#define WAIT  30000    /* ms: generous for loaded CI machines; a healthy start takes ~30 */

DEFINE_CLEANUP(char **, strv_free)

struct world {
	uid_t uid; /* owns the template and the servers' files */
	gid_t gid;
	bool root; /* root, of the host or of a user namespace: namespaces and mounts */
	bool nest; /* root of a user namespace with one id (unshare -r): the servers run in a
		    * user namespace of their own (svc_spawn.userns) */
};

#define NEST_ID 1000

static double now_ms(void)
{
	struct timespec ts;
	(void) clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static struct svc_install need_postgres(void)
{
	struct svc_install pg;
	struct err err = { 0 };

	if (svc_find(NULL, "postgres", NULL, &pg, &err) < 0)
		test_skip("%s", err.msg);
	return pg;
}

/* Root whose user namespace has OWNER (the host's root, not `unshare -r`). */
static bool owner_mapped(void)
{
	cleanup_free char *map = NULL;
	struct err err = { 0 };
	unsigned in, out, count;

	if (geteuid() != 0 || read_file_at(AT_FDCWD, "/proc/self/uid_map", 4096, &map, NULL, &err))
		return false;
	for (char *line = map; line && sscanf(line, "%u %u %u", &in, &out, &count) == 3;
	     line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		if (in <= OWNER && OWNER - in < count)
			return true;
	return false;
}

/* As root: private mount and network namespaces with lo up, so every port is ours. */
static struct world world(void)
{
	struct world w = { .uid = geteuid(), .gid = getegid(), .root = geteuid() == 0 };
	struct err err = { 0 };

	if (!w.root)
		return w;
	w.nest = !owner_mapped();
	w.uid = w.nest ? 0 : OWNER;
	w.gid = w.nest ? 0 : OWNER;
	CHECK_OK(unshare(CLONE_NEWNS | CLONE_NEWNET));
	CHECK_OK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
	if (net_loopback_up(&err) < 0)
		test_fail(__FILE__, __LINE__, "%s", err.msg);
	return w;
}

/* A port: the default in our own network namespace, else a free one. */
static unsigned port(const struct world *w, unsigned n)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001) };
	socklen_t len = sizeof(sa);
	cleanup_close int fd = -1;

	if (w->root)
		return SVC_PG_PORT + n;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0);
	CHECK_OK(bind(fd, (struct sockaddr *) &sa, sizeof(sa)));
	CHECK_OK(getsockname(fd, (struct sockaddr *) &sa, &len));
	return ntohs(sa.sin_port);
}

/* Who a server runs as. */
static struct svc_spawn server_ids(const struct world *w)
{
	struct svc_spawn how = { .uid = (uid_t) -1, .gid = (gid_t) -1, .out_fd = -1 };

	if (w->nest) {
		how.userns = true;
		how.uid = NEST_ID;
		how.gid = NEST_ID;
	} else if (w->root) {
		how.uid = w->uid;
		how.gid = w->gid;
	}
	return how;
}

/* A directory under the test's tmpdir that the servers' uid owns, mode 0700. */
static char *owned_dir(const struct world *w, const char *name)
{
	char *p = path_join(test_tmpdir(), name);

	CHECK_OK(mkdir(p, 0700));
	CHECK_OK(chown(p, w->uid, w->gid));
	return p;
}

/* The template most tests share: built once per run of this file (by the first test that
 * wants it) and removed when the harness exits. */
static char *shared_cache(pid_t harness)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	return xasprintf("%s/mayfly-test-services-%u-%d", tmp, (unsigned) geteuid(), (int) harness);
}

static void __attribute__((destructor)) remove_shared_cache(void)
{
	cleanup_free char *cache = shared_cache(getpid());
	struct err err = { 0 };

	(void) rm_rf_at(AT_FDCWD, cache, &err);
}

static char *template(const struct world *w, const struct svc_install *pg, const char *cache,
		      const char *user, const char *db, int *ret)
{
	struct svc_pg_init init = { .user = user, .db = db, .uid = w->uid, .gid = w->gid };
	struct err err = { 0 };
	char *data = NULL;
	int r;

	if (!cache) {
		cleanup_free char *shared = shared_cache(getppid());
		r = svc_pg_template(shared, pg, &init, &data, &err);
	} else {
		r = svc_pg_template(cache, pg, &init, &data, &err);
	}
	if (r < 0)
		test_fail(__FILE__, __LINE__, "svc_pg_template: %s", err.msg);
	if (ret)
		*ret = r;
	return data;
}

/* A job's data directory: an overlay on the template (root), or a cp -a copy. */
static char *clone_of(const struct world *w, const char *tpl, const char *name)
{
	cleanup_free char *dir = path_join(test_tmpdir(), name);
	char *data = path_join(dir, "data");
	struct run_result res;

	CHECK_OK(mkdir(dir, 0711));
	if (w->root) {
		/* As the sandbox will: lower = template, upper and work on a tmpfs. */
		cleanup_free char *upper = path_join(dir, "upper"), *work = path_join(dir, "work");
		cleanup_free char *opts = NULL;
		CHECK_OK(mount("tmpfs", dir, "tmpfs", 0, "mode=0711,size=256m"));
		CHECK_OK(mkdir(upper, 0700));
		CHECK_OK(chown(upper, w->uid, w->gid));
		CHECK_OK(mkdir(work, 0700));
		CHECK_OK(mkdir(data, 0700));
		opts = xasprintf("lowerdir=%s,upperdir=%s,workdir=%s", tpl, upper, work);
		CHECK_OK(mount("overlay", data, "overlay", 0, opts));
		return data;
	}
	char *const cp[] = { (char *) "cp", (char *) "-a", (char *) tpl, data, NULL };
	run_argv(cp, NULL, 60, &res);
	CHECK_EQ(res.status, 0);
	run_result_free(&res);
	return data;
}

struct server {
	pid_t pid;
	unsigned port;
	char *sock; /* its socket directory */
	char *log;
	char password[SVC_PASSWORD_LEN + 1];
};

static void print_log(const struct server *s)
{
	cleanup_free char *text = NULL;
	struct err err = { 0 };

	if (read_file_at(AT_FDCWD, s->log, 16384, &text, NULL, &err) < 0)
		return;
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		printf("# log: %s\n", line);
}

/* Start a server on data and wait until it has the job's password (the readiness check). */
static void start(const struct world *w, const struct svc_install *pg, const char *data,
		  const char *name, unsigned p, const char *role, const char *db, struct server *s)
{
	cleanup_free char *sockname = xasprintf("%s-sock", name);
	cleanup_free char *logname = xasprintf("%s.log", name);
	struct svc_spawn how = server_ids(w);
	CLEANUP(strv_freep) char **argv = NULL;
	cleanup_close int log = -1;
	struct err err = { 0 };

	memset(s, 0, sizeof(*s));
	s->port = p;
	s->sock = owned_dir(w, sockname);
	s->log = path_join(test_tmpdir(), logname);
	log = open(s->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	CHECK(log >= 0);
	how.out_fd = log;
	struct svc_pg_server srv = { .datadir = data, .socket_dir = s->sock, .port = p };
	CHECK_OK(svc_pg_argv(pg, &srv, &argv, &err));
	CHECK_OK(svc_password_new(s->password, &err));
	if (svc_spawn(argv, &how, &s->pid, &err) < 0)
		test_fail(__FILE__, __LINE__, "svc_spawn: %s", err.msg);
	struct svc_target t = {
		.host = s->sock, .port = p, .user = role, .db = db, .server = s->pid
	};
	if (svc_pg_set_password(&t, role ? role : "postgres", s->password, WAIT, &err) < 0) {
		print_log(s);
		test_fail(__FILE__, __LINE__, "svc_pg_set_password: %s", err.msg);
	}
}

static void stop(struct server *s)
{
	struct err err = { 0 };
	int status = 0;

	CHECK_OK(svc_stop(s->pid, SVC_POSTGRES, 5000, &status, &err));
	CHECK_EQ(kill(-s->pid, 0), -1); /* nothing left of its process group */
	free(s->sock);
	free(s->log);
}

/* psql over TCP with the password, as a job would; stdout in *out (caller frees). */
static int psql(const struct svc_install *pg, const struct server *s, const char *user,
		const char *db, const char *sql, char **out)
{
	cleanup_free char *bin = path_join(pg->bindir, "psql");
	cleanup_free char *port = xasprintf("%u", s->port);
	cleanup_free char *pw = xasprintf("PGPASSWORD=%s", s->password);
	char *const argv[] = { bin,
			       (char *) "-X",
			       (char *) "-At",
			       (char *) "-v",
			       (char *) "ON_ERROR_STOP=1",
			       (char *) "-h",
			       (char *) "127.0.0.1",
			       (char *) "-p",
			       port,
			       (char *) "-U",
			       (char *) user,
			       (char *) "-d",
			       (char *) db,
			       (char *) "-c",
			       (char *) sql,
			       NULL };
	char *const env[] = { pw, NULL };
	struct run_result res;
	int status;

	run_argv(argv, env, 60, &res);
	status = res.status;
	if (status != 0)
		printf("# psql -c '%s': %s", sql, res.err);
	if (out) {
		*out = res.out;
		res.out = NULL;
		if (str_endswith(*out, "\n"))
			(*out)[strlen(*out) - 1] = '\0';
	}
	run_result_free(&res);
	return status;
}

static size_t count_prefixed(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	CHECK(d);
	while ((de = readdir(d)))
		n += str_startswith(de->d_name, prefix);
	closedir(d);
	return n;
}

TEST(svc_pg_template_is_built_once_then_reused)
{
	struct world w = world();
	struct svc_install pg = need_postgres();
	cleanup_free char *cache = path_join(test_tmpdir(), "state");
	cleanup_free char *tpls = path_join(cache, "templates");
	cleanup_free char *a = NULL, *b = NULL, *marker = NULL;
	struct stat st1, st2, data;
	int r;

	double t0 = now_ms();
	a = template(&w, &pg, cache, NULL, NULL, &r);
	double t1 = now_ms();
	CHECK_EQ(r, 1);
	b = template(&w, &pg, cache, NULL, NULL, &r);
	double t2 = now_ms();
	CHECK_EQ(r, 0);
	CHECK_STR_EQ(a, b);
	printf("# template built in %.0f ms, found again in %.3f ms\n", t1 - t0, t2 - t1);
	marker = xasprintf("%s/../template.info", a);
	CHECK_OK(stat(marker, &st1));
	free(template(&w, &pg, cache, NULL, NULL, &r));
	CHECK_OK(stat(marker, &st2));
	CHECK_EQ(st1.st_ino, st2.st_ino); /* not rebuilt */
	CHECK_EQ(st1.st_mtim.tv_nsec, st2.st_mtim.tv_nsec);
	CHECK_OK(stat(a, &data));
	CHECK_EQ(data.st_uid, w.uid);
	CHECK_EQ(data.st_mode & 0777, 0700);
	CHECK_EQ(count_prefixed(tpls, ".tmp-"), 0);
}

TEST(svc_pg_template_concurrent_callers_build_once)
{
	struct world w = world();
	struct svc_install pg = need_postgres();
	cleanup_free char *cache = path_join(test_tmpdir(), "state");
	cleanup_free char *tpls = path_join(cache, "templates");
	cleanup_free char *mine = NULL;
	int fds[2], built = 0;
	pid_t kids[3];

	CHECK_OK(pipe2(fds, O_CLOEXEC));
	for (size_t i = 0; i < ARRAY_SIZE(kids); i++) {
		kids[i] = fork();
		CHECK(kids[i] >= 0);
		if (kids[i] == 0) {
			int r;
			free(template(&w, &pg, cache, NULL, NULL, &r));
			char c = (char) ('0' + r);
			(void) !write(fds[1], &c, 1);
			_exit(0);
		}
	}
	(void) close(fds[1]);
	for (size_t i = 0; i < ARRAY_SIZE(kids); i++) {
		char c = 0;
		int status;
		CHECK_EQ(read(fds[0], &c, 1), 1);
		built += c == '1';
		CHECK_EQ(waitpid(kids[i], &status, 0), kids[i]);
		CHECK_EQ(status, 0);
	}
	CHECK_EQ(built, 1);
	mine = template(&w, &pg, cache, NULL, NULL, &built);
	CHECK_EQ(built, 0);
	CHECK_EQ(count_prefixed(tpls, ".tmp-"), 0);
	CHECK_EQ(count_prefixed(tpls, "postgres-"), 1);
}

TEST(svc_pg_template_damaged_or_stale_is_rebuilt)
{
	struct world w = world();
	struct svc_install pg = need_postgres();
	cleanup_free char *cache = path_join(test_tmpdir(), "state");
	cleanup_free char *tpls = path_join(cache, "templates");
	cleanup_free char *data = template(&w, &pg, cache, NULL, NULL, NULL);
	cleanup_free char *control = path_join(data, "global/pg_control");
	cleanup_free char *marker = xasprintf("%s/../template.info", data);
	cleanup_free char *name = xstrndup(data + strlen(tpls) + 1,
					   strlen(data) - strlen(tpls) - strlen("/data") - 1);
	cleanup_free char *crashed = xasprintf("%s/.tmp-%s-999999", tpls, name);
	struct err err = { 0 };
	int r;

	/* pg_control gone: rebuilt, and left behind by a crashed builder: removed. */
	CHECK_OK(unlink(control));
	CHECK_OK(mkdir(crashed, 0700));
	free(template(&w, &pg, cache, NULL, NULL, &r));
	CHECK_EQ(r, 1);
	CHECK_OK(access(control, F_OK));
	CHECK_EQ(count_prefixed(tpls, ".tmp-"), 0);
	/* A marker that says something else. */
	CHECK_OK(write_file_atomic_at(AT_FDCWD, marker, "x\n", 2, 0644, 0, &err));
	free(template(&w, &pg, cache, NULL, NULL, &r));
	CHECK_EQ(r, 1);
	/* Files owned by someone else. */
	if (!w.nest && w.root) {
		CHECK_OK(chown(data, OWNER + 1, OWNER));
		free(template(&w, &pg, cache, NULL, NULL, &r));
		CHECK_EQ(r, 1);
	}
	/* New binaries (an upgrade changes the identity): a template of their own. */
	memcpy(pg.identity, "0000000000000000", SVC_IDENTITY_LEN);
	cleanup_free char *other = template(&w, &pg, cache, NULL, NULL, &r);
	CHECK_EQ(r, 1);
	CHECK(strcmp(other, data) != 0);
	CHECK_EQ(count_prefixed(tpls, "postgres-"), 2);
}

TEST(svc_pg_template_cache_others_may_write_is_refused)
{
	struct world w = world();
	struct svc_install pg = need_postgres();
	cleanup_free char *cache = path_join(test_tmpdir(), "state");
	cleanup_free char *tpls = path_join(cache, "templates");
	struct svc_pg_init init = { .uid = w.uid, .gid = w.gid };
	struct err err = { 0 };
	char *data = NULL;

	CHECK_OK(mkdir(cache, 0711));
	CHECK_OK(mkdir(tpls, 0777));
	CHECK_OK(chmod(tpls, 0777));
	CHECK_EQ(svc_pg_template(cache, &pg, &init, &data, &err), -EPERM);
	CHECK_STR_CONTAINS(err.msg, "not writable by others");
	if (w.root && !w.nest) {
		CHECK_OK(chmod(tpls, 0711));
		CHECK_OK(chown(tpls, 12345, 12345));
		CHECK_EQ(svc_pg_template(cache, &pg, &init, &data, &err), -EPERM);
		CHECK_STR_CONTAINS(err.msg, "belongs to uid 12345");
	}
	CHECK(data == NULL);
	init.uid = 0; /* the host's root may not own one; root of a user namespace may */
	if (!w.nest)
		CHECK_EQ(svc_pg_template(cache, &pg, &init, &data, &err),
			 w.root ? -EINVAL : -EPERM);
}

TEST(svc_pg_template_on_a_full_disk_fails_and_leaves_nothing)
{
	NEED(ROOT);
	struct world w = world();
	struct svc_install pg = need_postgres();
	cleanup_free char *cache = path_join(test_tmpdir(), "state");
	cleanup_free char *tpls = path_join(cache, "templates");
	struct svc_pg_init init = { .uid = w.uid, .gid = w.gid };
	struct err err = { 0 };
	char *data = NULL;

	CHECK_OK(mkdir(cache, 0711));
	CHECK_OK(mount("tmpfs", cache, "tmpfs", 0, "size=4m,mode=0711"));
	CHECK_EQ(svc_pg_template(cache, &pg, &init, &data, &err), -ENOSPC);
	CHECK_STR_CONTAINS(err.msg, "is full");
	CHECK(data == NULL);
	CHECK_EQ(count_prefixed(tpls, ".tmp-"), 0);
	CHECK_EQ(count_prefixed(tpls, "postgres-"), 0);
}

TEST(svc_pg_overlay_clones_are_isolated)
{
	NEED(ROOT);
	struct world w = world();
	struct svc_install pg = need_postgres();
	cleanup_free char *tpl = template(&w, &pg, NULL, NULL, NULL, NULL);
	cleanup_free char *d1 = clone_of(&w, tpl, "job1"), *d2 = clone_of(&w, tpl, "job2");
	cleanup_free char *out = NULL, *out2 = NULL;
	struct server s1, s2;
	int r;

	double t0 = now_ms();
	start(&w, &pg, d1, "job1", port(&w, 0), NULL, NULL, &s1);
	printf("# overlay clone started and ready in %.1f ms\n", now_ms() - t0);
	start(&w, &pg, d2, "job2", port(&w, 1), NULL, NULL, &s2);
	/* The job's side: libpq over TCP with SCRAM against the verifier we set. */
	CHECK_EQ(psql(&pg, &s1, "postgres", "postgres",
		      "create table t (x int); insert into t values (42)", NULL),
		 0);
	CHECK_EQ(psql(&pg, &s1, "postgres", "postgres", "select x from t", &out), 0);
	CHECK_STR_EQ(out, "42");
	CHECK_EQ(psql(&pg, &s2, "postgres", "postgres",
		      "select count(*) from pg_tables where tablename = 't'", &out2),
		 0);
	CHECK_STR_EQ(out2, "0");
	stop(&s1);
	stop(&s2);
	/* The template under both is untouched: still valid, nothing rebuilt. */
	free(template(&w, &pg, NULL, NULL, NULL, &r));
	CHECK_EQ(r, 0);
}

TEST(svc_pg_copy_clone_starts_and_answers_over_tcp)
{
	struct world w = world();
	struct svc_install pg = need_postgres();
	cleanup_free char *tpl = template(&w, &pg, NULL, NULL, NULL, NULL);
	cleanup_free char *data = clone_of(&w, tpl, "job");
	struct svc_target t = { .host = "127.0.0.1", .user = "postgres" };
	struct err err = { 0 };
	struct server s;

	start(&w, &pg, data, "job", port(&w, 0), NULL, NULL, &s);
	t.port = s.port;
	t.password = s.password;
	double t0 = now_ms();
	CHECK_OK(svc_pg_ready(&t, WAIT, &err));
	printf("# TCP login (SCRAM) and SELECT 1 in %.1f ms\n", now_ms() - t0);
	t.host = "::1";
	CHECK_OK(svc_pg_ready(&t, WAIT, &err));
	stop(&s);
}

/* SysV shared memory segments on the host: their number. */
static int host_shm_segments(void)
{
	char *text = NULL;
	struct err err = { 0 };
	int n = -1; /* the header line */

	if (read_file_at(AT_FDCWD, "/proc/sysvipc/shm", 1 << 20, &text, NULL, &err) < 0)
		return 0;
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		n++;
	free(text);
	return n;
}

TEST(svc_pg_killed_server_leaves_no_shared_memory_on_the_host)
{
	/* An IPC namespace needs privilege: unprivileged, a crashed host-side server still
	 * leaves its segment (servers in sandboxes never do: the sandbox's namespace). */
	NEED(ROOT);
	struct world w = world();
	struct svc_install pg = need_postgres();
	cleanup_free char *tpl = template(&w, &pg, NULL, NULL, NULL, NULL);
	cleanup_free char *data = clone_of(&w, tpl, "job");
	struct server s;
	int before = host_shm_segments(), status;

	/* A crash (SIGKILL of the postmaster and its group) leaves PostgreSQL's SysV segment
	 * behind unless the server had an IPC namespace of its own. */
	start(&w, &pg, data, "job", port(&w, 0), NULL, NULL, &s);
	CHECK_EQ(kill(-s.pid, SIGKILL), 0);
	CHECK_EQ(waitpid(s.pid, &status, 0), s.pid);
	free(s.sock);
	free(s.log);
	CHECK_EQ(host_shm_segments(), before);
}

TEST(svc_pg_wrong_password_is_refused_with_the_servers_message)
{
	struct world w = world();
	struct svc_install pg = need_postgres();
	cleanup_free char *tpl = template(&w, &pg, NULL, NULL, NULL, NULL);
	cleanup_free char *data = clone_of(&w, tpl, "job");
	struct svc_target t = { .host = "127.0.0.1", .user = "postgres" };
	struct err err = { 0 };
	struct server s;

	start(&w, &pg, data, "job", port(&w, 0), NULL, NULL, &s);
	t.port = s.port;
	t.password = "not-the-password-7x";
	CHECK_EQ(svc_pg_ready(&t, WAIT, &err), -EACCES);
	CHECK_STR_CONTAINS(err.msg, "password authentication failed for user \"postgres\"");
	CHECK_STR_CONTAINS(err.msg, "28P01");
	CHECK_STR_NOT_CONTAINS(err.msg, "not-the-password-7x");
	t.password = NULL;
	CHECK_EQ(svc_pg_ready(&t, WAIT, &err), -EACCES);
	CHECK_STR_CONTAINS(err.msg, "asks for a password and none was given");
	t.password = s.password;
	t.db = "nosuchdb";
	CHECK_EQ(svc_pg_ready(&t, WAIT, &err), -ENOENT);
	CHECK_STR_CONTAINS(err.msg, "database \"nosuchdb\" does not exist");
	/* The server log never saw the password: only a verifier crossed the wire. */
	cleanup_free char *log = NULL;
	CHECK_OK(read_file_at(AT_FDCWD, s.log, 1 << 20, &log, NULL, &err));
	CHECK_STR_NOT_CONTAINS(log, s.password);
	stop(&s);
}

TEST(svc_pg_init_file_errors_name_the_file_and_line)
{
	struct world w = world();
	struct svc_install pg = need_postgres();
	cleanup_free char *tpl = template(&w, &pg, NULL, NULL, NULL, NULL);
	cleanup_free char *data = clone_of(&w, tpl, "job");
	cleanup_free char *ok = path_join(test_tmpdir(), "ok.sql");
	cleanup_free char *bad = path_join(test_tmpdir(), "bad.sql");
	const char *ok_sql = "create table a (id int primary key);\n"
			     "do $$ begin insert into a values (1); end $$;\n";
	const char *bad_sql = "-- a comment\ninsert into a values (2);\nselec 3;\n";
	char *files[] = { (char *) "ok.sql", (char *) "bad.sql", NULL };
	char *good[] = { (char *) "ok2.sql", NULL };
	cleanup_free char *ok2 = path_join(test_tmpdir(), "ok2.sql");
	cleanup_free char *out = NULL;
	struct err err = { 0 };
	struct server s;

	CHECK_OK(write_file_atomic_at(AT_FDCWD, ok, ok_sql, strlen(ok_sql), 0644, 0, &err));
	CHECK_OK(write_file_atomic_at(AT_FDCWD, bad, bad_sql, strlen(bad_sql), 0644, 0, &err));
	CHECK_OK(write_file_atomic_at(AT_FDCWD, ok2, "insert into a values (9);\n", 25, 0644, 0,
				      &err));
	start(&w, &pg, data, "job", port(&w, 0), NULL, NULL, &s);
	/* Over the socket, as pid 1 will; psql as ourselves (root may enter the socket dir;
	 * a plain user owns it). */
	struct svc_target t = { .host = s.sock, .port = s.port, .user = "postgres" };
	CHECK_EQ(svc_pg_exec_files(&pg, &t, test_tmpdir(), files, WAIT, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "init file 'bad.sql' line 3: ERROR: syntax error at or near "
				    "\"selec\"");
	CHECK_OK(svc_pg_exec_files(&pg, &t, test_tmpdir(), good, WAIT, &err));
	CHECK_EQ(psql(&pg, &s, "postgres", "postgres",
		      "select string_agg(id::text, ',' order "
		      "by id) from a",
		      &out),
		 0);
	CHECK_STR_EQ(out, "1,2,9"); /* no transaction around a file, as with the image */
	char *missing[] = { (char *) "nope.sql", NULL };
	CHECK_EQ(svc_pg_exec_files(&pg, &t, test_tmpdir(), missing, WAIT, &err), -EIO);
	CHECK_STR_CONTAINS(err.msg, "nope.sql: No such file or directory");
	stop(&s);
}

TEST(svc_pg_user_and_database_as_the_official_image)
{
	struct world w = world();
	struct svc_install pg = need_postgres();
	cleanup_free char *cache = path_join(test_tmpdir(), "state");
	cleanup_free char *tpl = template(&w, &pg, cache, "app", "app db", NULL);
	cleanup_free char *data = clone_of(&w, tpl, "job");
	cleanup_free char *out = NULL, *url = NULL;
	struct server s;

	start(&w, &pg, data, "job", port(&w, 0), "app", "app db", &s);
	struct svc_vars v = { .postgres = true,
			      .pg_port = s.port,
			      .pg_user = "app",
			      .pg_password = s.password,
			      .pg_db = "app db" };
	CLEANUP(strv_freep) char **env = svc_env(&v);
	cleanup_free char *bin = path_join(pg.bindir, "psql");
	for (size_t i = 0; env[i]; i++)
		if (str_startswith(env[i], "DATABASE_URL="))
			url = xstrdup(env[i] + strlen("DATABASE_URL="));
	CHECK(url);
	CHECK_STR_CONTAINS(url, "@localhost:");
	char *const argv[] = { bin,
			       (char *) "-X",
			       (char *) "-At",
			       (char *) "-c",
			       (char *) "select current_user || '/' || current_database() || '/' "
					"|| (select count(*) from pg_roles where rolname = "
					"'postgres') || '/' || (select datdba::regrole::text from "
					"pg_database where datname = current_database())",
			       url,
			       NULL };
	struct run_result res;
	run_argv(argv, NULL, 60, &res);
	if (res.status != 0)
		printf("# psql: %s", res.err);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, "app/app db/0/app\n"); /* no "postgres" role, as the image */
	run_result_free(&res);
	/* The PG* variables alone work too. */
	char *const plain[] = { bin,	       (char *) "-X",	    (char *) "-At",
				(char *) "-c", (char *) "select 1", NULL };
	run_argv(plain, env, 60, &res);
	CHECK_EQ(res.status, 0);
	run_result_free(&res);
	stop(&s);
}

TEST(svc_pg_a_server_that_exits_is_reported_at_once)
{
	struct world w = world();
	struct svc_install pg = need_postgres();
	cleanup_free char *tpl = template(&w, &pg, NULL, NULL, NULL, NULL);
	cleanup_free char *d1 = clone_of(&w, tpl, "job1"), *d2 = clone_of(&w, tpl, "job2");
	cleanup_free char *sock = owned_dir(&w, "sock2"), *log = NULL;
	cleanup_free char *logpath = path_join(test_tmpdir(), "job2.log");
	struct svc_spawn how = server_ids(&w);
	CLEANUP(strv_freep) char **argv = NULL;
	cleanup_close int fd = -1;
	struct err err = { 0 };
	struct server s1;
	int status;
	pid_t pid;

	start(&w, &pg, d1, "job1", port(&w, 0), NULL, NULL, &s1);
	/* The same port again: the second server cannot listen and exits. */
	struct svc_pg_server srv = { .datadir = d2, .socket_dir = sock, .port = s1.port };
	CHECK_OK(svc_pg_argv(&pg, &srv, &argv, &err));
	fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	how.out_fd = fd;
	CHECK_OK(svc_spawn(argv, &how, &pid, &err));
	struct svc_target t = { .host = sock, .port = s1.port, .server = pid };
	double t0 = now_ms();
	CHECK_EQ(svc_pg_set_password(&t, "postgres", "pw", WAIT, &err), -ECHILD);
	CHECK(now_ms() - t0 < WAIT / 2);
	CHECK_STR_CONTAINS(err.msg, "the server exited with status 1 before it was ready");
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK_OK(read_file_at(AT_FDCWD, logpath, 1 << 20, &log, NULL, &err));
	CHECK_STR_CONTAINS(log, "Address already in use");
	stop(&s1);
}

TEST(svc_pg_ready_gives_up_at_the_deadline)
{
	struct world w = world();
	cleanup_free char *none = path_join(test_tmpdir(), "no-server");
	struct svc_target t = { .host = "127.0.0.1", .port = port(&w, 0) };
	struct err err = { 0 };

	double t0 = now_ms();
	CHECK_EQ(svc_pg_ready(&t, 50, &err), -ETIMEDOUT);
	CHECK(now_ms() - t0 < 1000);
	CHECK_STR_CONTAINS(err.msg, "not ready after");
	CHECK_STR_CONTAINS(err.msg, "Connection refused");
	t.host = none;
	CHECK_EQ(svc_pg_ready(&t, 50, &err), -ETIMEDOUT);
	CHECK_STR_CONTAINS(err.msg, "No such file or directory");
	t.host = "db.example.com";
	CHECK_EQ(svc_pg_ready(&t, 50, &err), -EINVAL);
}

/* services.c - how fast a job's PostgreSQL and Redis are ready, side by side in one run:
 * the cold path containers take (initdb + start until a query answers, on tmpfs and on the
 * disk), a `cp -a` copy of a template + start, and mayfly's way: an overlay whose lower
 * layer is the template (upper on tmpfs) + start, until the job's password is set over the
 * unix socket (that is the readiness check), then the job's first TCP login (SCRAM) and
 * query. Also PostgreSQL's immediate stop, Redis start to PING and its SIGTERM stop, and
 * the memory of idle servers. Then, with $MAYFLY_BIN, `mayfly exec --service` end to end
 * (the whole mayfly process, teardown included) against `mayfly exec -- true`, its phases
 * from --json, the memory of an idle job with both services, and 20 concurrent jobs. Needs
 * root (its own mount and network namespaces, servers as an unprivileged uid); otherwise
 * it says so and exits 0. Usage: services [-n RUNS]. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
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
#include "util/banned.h"

#include "bench.h"

#define OWNER	   4000000u /* template owner and server uid: nothing else runs as it */
#define COLD_RUNS  5
#define READY_WAIT 30000 /* ms */
#define STOP_WAIT  5000
#define GOAL_PG_MS 40.0 /* exec until SELECT 1 (the 60 ms end to end, minus ours) */
#define GOAL_REDIS 15.0
#define MAX_RUNS   1000
#define CONCURRENT 20

DEFINE_CLEANUP(char **, strv_free)

struct samples {
	double v[MAX_RUNS];
	size_t n;
};

static struct {
	char dir[64];	/* scratch on the disk */
	char tmpfs[96]; /* a tmpfs inside it */
	struct svc_install pg, redis;
	bool have_redis;
	char *tpl; /* the template's data dir (on disk, as the state dir) */
	int log_fd;
	unsigned seq;
	const char *mayfly; /* $MAYFLY_BIN */
	char *state;	    /* its state dir */
} B;

static void add(struct samples *s, double v)
{
	if (s->n < MAX_RUNS)
		s->v[s->n++] = v;
}

static void die(const char *what, const struct err *err)
{
	(void) fprintf(stderr, "services: %s: %s\n", what, err->msg);
	exit(1);
}

static char *fresh(const char *base, const char *what)
{
	char *p = xasprintf("%s/%s-%u", base, what, ++B.seq);
	struct err err = { 0 };

	if (mkdir(p, 0711) < 0) {
		(void) err_set(&err, errno, "mkdir '%s'", p);
		die("scratch", &err);
	}
	return p;
}

static char *owned_dir(const char *base, const char *what)
{
	char *p = fresh(base, what);
	if (chown(p, OWNER, OWNER) < 0 || chmod(p, 0700) < 0) {
		struct err err = { 0 };
		(void) err_set(&err, errno, "chown '%s'", p);
		die("scratch", &err);
	}
	return p;
}

/* Start postgres on datadir and wait until the job's password is set: the readiness. */
static pid_t pg_start(const char *datadir, const char *sock, const char *password)
{
	struct svc_pg_server srv = { .datadir = datadir, .socket_dir = sock };
	struct svc_spawn how = { .out_fd = B.log_fd, .uid = OWNER, .gid = OWNER };
	struct svc_target t = { .host = sock, .user = "postgres", .db = "postgres" };
	CLEANUP(strv_freep) char **argv = NULL;
	struct err err = { 0 };
	pid_t pid;

	if (svc_pg_argv(&B.pg, &srv, &argv, &err) < 0 || svc_spawn(argv, &how, &pid, &err) < 0)
		die("postgres", &err);
	t.server = pid;
	if (svc_pg_set_password(&t, "postgres", password, READY_WAIT, &err) < 0)
		die("postgres ready", &err);
	return pid;
}

static double pg_stop(pid_t pid)
{
	struct err err = { 0 };
	double t0 = bench_now_ms();

	if (svc_stop(pid, SVC_POSTGRES, STOP_WAIT, NULL, &err) < 0)
		die("postgres stop", &err);
	return bench_now_ms() - t0;
}

static void rm_tree(const char *p)
{
	struct err err = { 0 };
	if (rm_rf_at(AT_FDCWD, p, &err) < 0)
		die("cleanup", &err);
}

/* initdb into a fresh cache under base, start, ready. */
static void run_cold(const char *base, struct samples *s)
{
	struct svc_pg_init init = { .uid = OWNER, .gid = OWNER };
	cleanup_free char *cache = fresh(base, "cold");
	cleanup_free char *sock = owned_dir(B.tmpfs, "sock");
	cleanup_free char *data = NULL;
	char pw[SVC_PASSWORD_LEN + 1];
	struct err err = { 0 };
	double t0 = bench_now_ms();

	if (svc_password_new(pw, &err) < 0 || svc_pg_template(cache, &B.pg, &init, &data, &err) < 0)
		die("cold template", &err);
	pid_t pid = pg_start(data, sock, pw);
	add(s, bench_now_ms() - t0);
	(void) pg_stop(pid);
	rm_tree(cache);
	rm_tree(sock);
}

static void run_copy(struct samples *s)
{
	cleanup_free char *dst = fresh(B.tmpfs, "copy");
	cleanup_free char *sock = owned_dir(B.tmpfs, "sock");
	cleanup_free char *data = path_join(dst, "data");
	char *const cp[] = { (char *) "/bin/cp", (char *) "-a", B.tpl, data, NULL };
	struct svc_spawn how = { .out_fd = -1, .uid = (uid_t) -1, .gid = (gid_t) -1 };
	char pw[SVC_PASSWORD_LEN + 1];
	struct err err = { 0 };
	int status;
	pid_t pid;

	if (svc_password_new(pw, &err) < 0)
		die("password", &err);
	double t0 = bench_now_ms();
	if (svc_spawn(cp, &how, &pid, &err) < 0)
		die("cp", &err);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	pid = pg_start(data, sock, pw);
	add(s, bench_now_ms() - t0);
	(void) pg_stop(pid);
	rm_tree(dst);
	rm_tree(sock);
}

/* mayfly's way; also the job's first TCP login, and the stop. */
static void run_overlay(struct samples *ready, struct samples *tcp, struct samples *stop)
{
	cleanup_free char *dir = fresh(B.tmpfs, "ovl");
	cleanup_free char *sock = owned_dir(B.tmpfs, "sock");
	cleanup_free char *upper = path_join(dir, "upper"), *work = path_join(dir, "work");
	cleanup_free char *merged = path_join(dir, "data");
	cleanup_free char *opts = NULL;
	char pw[SVC_PASSWORD_LEN + 1];
	struct err err = { 0 };

	if (svc_password_new(pw, &err) < 0)
		die("password", &err);
	opts = xasprintf("lowerdir=%s,upperdir=%s,workdir=%s", B.tpl, upper, work);
	double t0 = bench_now_ms();
	if (mkdir(upper, 0700) < 0 || chown(upper, OWNER, OWNER) < 0 || mkdir(work, 0700) < 0 ||
	    mkdir(merged, 0700) < 0 || mount("overlay", merged, "overlay", 0, opts) < 0) {
		(void) err_set(&err, errno, "overlay on '%s'", merged);
		die("overlay", &err);
	}
	pid_t pid = pg_start(merged, sock, pw);
	double t1 = bench_now_ms();
	struct svc_target t = { .host = "127.0.0.1", .user = "postgres", .password = pw };
	if (svc_pg_ready(&t, READY_WAIT, &err) < 0)
		die("postgres tcp", &err);
	add(ready, t1 - t0);
	add(tcp, bench_now_ms() - t1);
	add(stop, pg_stop(pid));
	if (umount2(merged, MNT_DETACH) < 0) {
		(void) err_set(&err, errno, "umount '%s'", merged);
		die("overlay", &err);
	}
	rm_tree(dir);
	rm_tree(sock);
}

static pid_t redis_start(const char *dir, unsigned port)
{
	struct svc_redis_server srv = { .port = port, .dir = dir };
	struct svc_spawn how = { .out_fd = B.log_fd, .uid = OWNER, .gid = OWNER };
	CLEANUP(strv_freep) char **argv = NULL;
	cleanup_free char *in = NULL;
	struct err err = { 0 };
	pid_t pid;

	if (svc_redis_argv(&B.redis, &srv, &argv, &in, &err) < 0 ||
	    svc_spawn(argv, &how, &pid, &err) < 0)
		die("redis", &err);
	struct svc_target t = { .host = "127.0.0.1", .port = port, .server = pid };
	if (svc_redis_ready(&t, READY_WAIT, &err) < 0)
		die("redis ready", &err);
	return pid;
}

static void run_redis(struct samples *ready, struct samples *stop)
{
	cleanup_free char *dir = owned_dir(B.tmpfs, "redis");
	struct err err = { 0 };
	double t0 = bench_now_ms();
	pid_t pid = redis_start(dir, SVC_REDIS_PORT);

	add(ready, bench_now_ms() - t0);
	t0 = bench_now_ms();
	if (svc_stop(pid, SVC_REDIS, STOP_WAIT, NULL, &err) < 0)
		die("redis stop", &err);
	add(stop, bench_now_ms() - t0);
	rm_tree(dir);
}

/* PSS (KiB) of one process; 0 if it is gone. */
static unsigned long pss_kib(unsigned pid)
{
	cleanup_free char *path = xasprintf("/proc/%u/smaps_rollup", pid);
	cleanup_free char *text = NULL;
	struct err err = { 0 };

	if (read_file_at(AT_FDCWD, path, 65536, &text, NULL, &err) < 0)
		return 0;
	const char *p = strstr(text, "\nPss:");
	return p ? strtoul(p + 5, NULL, 10) : 0;
}

/* Name and parent of a process; false if it is gone. */
static bool proc_status(unsigned pid, char name[32], unsigned *ppid)
{
	cleanup_free char *path = xasprintf("/proc/%u/status", pid);
	cleanup_free char *text = NULL;
	struct err err = { 0 };

	if (read_file_at(AT_FDCWD, path, 65536, &text, NULL, &err) < 0)
		return false;
	const char *n = strstr(text, "Name:\t"), *pp = strstr(text, "\nPPid:\t");
	if (!n || !pp)
		return false;
	(void) snprintf(name, 32, "%.*s", (int) strcspn(n + 6, "\n"), n + 6);
	*ppid = (unsigned) strtoul(pp + 7, NULL, 10);
	return true;
}

/* PSS (KiB) of a server and its children (PostgreSQL's each call setsid(): their process
 * groups are their own). */
static unsigned long server_pss(pid_t server)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	unsigned long kib = 0;
	unsigned pid, ppid;
	char name[32];

	while (d && (de = readdir(d)))
		if (safe_atou(de->d_name, &pid) == 0 && proc_status(pid, name, &ppid) &&
		    (pid == (unsigned) server || ppid == (unsigned) server))
			kib += pss_kib(pid);
	if (d)
		closedir(d);
	return kib;
}

static void memory(void)
{
	cleanup_free char *dir = fresh(B.tmpfs, "mem");
	cleanup_free char *sock = owned_dir(B.tmpfs, "sock");
	cleanup_free char *rdir = owned_dir(B.tmpfs, "redis");
	cleanup_free char *upper = path_join(dir, "upper"), *work = path_join(dir, "work");
	cleanup_free char *merged = path_join(dir, "data");
	cleanup_free char *opts =
		xasprintf("lowerdir=%s,upperdir=%s,workdir=%s", B.tpl, upper, work);
	struct err err = { 0 };
	pid_t rpid = -1;

	if (mkdir(upper, 0700) < 0 || chown(upper, OWNER, OWNER) < 0 || mkdir(work, 0700) < 0 ||
	    mkdir(merged, 0700) < 0 || mount("overlay", merged, "overlay", 0, opts) < 0) {
		(void) err_set(&err, errno, "overlay on '%s'", merged);
		die("overlay", &err);
	}
	pid_t pid = pg_start(merged, sock, "bench");
	if (B.have_redis)
		rpid = redis_start(rdir, SVC_REDIS_PORT);
	struct timespec ts = { .tv_nsec = 300 * 1000000L };
	(void) nanosleep(&ts, NULL);
	cleanup_free char *du = NULL;
	char *const duv[] = { (char *) "/usr/bin/du", (char *) "-sk", upper, NULL };
	printf("idle postgres: %lu KiB PSS (all its processes)", server_pss(pid));
	struct svc_spawn how = { .out_fd = -1, .uid = (uid_t) -1, .gid = (gid_t) -1 };
	int p[2];
	if (pipe2(p, O_CLOEXEC) == 0) {
		pid_t dpid;
		how.out_fd = p[1];
		if (svc_spawn(duv, &how, &dpid, &err) == 0) {
			(void) close(p[1]);
			if (fd_read_all(p[0], 4096, &du, NULL) == 0)
				printf(", overlay upper after start: %ld KiB",
				       strtol(du, NULL, 10));
			(void) waitpid(dpid, NULL, 0);
		} else {
			(void) close(p[1]);
		}
		(void) close(p[0]);
	}
	printf("\n");
	if (rpid > 0) {
		printf("idle redis: %lu KiB PSS\n", server_pss(rpid));
		(void) svc_stop(rpid, SVC_REDIS, STOP_WAIT, NULL, &err);
	}
	(void) pg_stop(pid);
	(void) umount2(merged, MNT_DETACH);
}

static void row(const char *name, struct samples *s)
{
	if (s->n == 0)
		return;
	printf("%-50s %8.1f %8.1f %8.1f %5zu\n", name, bench_pct(s->v, s->n, 0.5),
	       bench_pct(s->v, s->n, 0.9), bench_pct(s->v, s->n, 0), s->n);
}

/* ---- `mayfly exec --service`, end to end ---- */

enum { E_ALONE, E_PG, E_REDIS, E_BOTH, E_PSQL, E_COUNT };

static const struct contender {
	const char *name;
	const char *args[8]; /* after `exec --state-dir <state> --json` */
	const char *want;    /* the job's stdout; NULL: anything */
	bool redis;
} E[E_COUNT] = {
	[E_ALONE] = { .name = "exec -- true (the sandbox alone)", .args = { "--", "true" } },
	[E_PG] = { .name = "exec --service postgres -- true",
		   .args = { "--service", "postgres", "--", "true" } },
	[E_REDIS] = { .name = "exec --service redis -- true",
		      .args = { "--service", "redis", "--", "true" },
		      .redis = true },
	[E_BOTH] = { .name = "exec --service postgres --service redis -- true",
		     .args = { "--service", "postgres", "--service", "redis", "--", "true" },
		     .redis = true },
	[E_PSQL] = { .name = "exec --service postgres -- psql -qAtc 'select 1'",
		     .args = { "--service", "postgres", "--", "psql", "-qAtc", "select 1" },
		     .want = "1\n" },
};

/* Wall time of the mayfly process, and the phases it prints with --json. */
struct exec_stats {
	struct samples wall, setup, run, teardown, after; /* after: run + teardown */
	unsigned failed;
};

struct job {
	double t0, ms;
	pid_t pid;
	int status;
};

/* Start `$MAYFLY_BIN exec --state-dir <state> --json ARGS`, its stdout and stderr into
 * files numbered tag in the scratch dir, stdin /dev/null. */
static void exec_start(const char *const *args, unsigned tag, struct job *j)
{
	cleanup_free char *out = xasprintf("%s/out-%u", B.dir, tag);
	cleanup_free char *errp = xasprintf("%s/err-%u", B.dir, tag);
	cleanup_close int o = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cleanup_close int e = open(errp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cleanup_close int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
	CLEANUP(strv_freep) char **argv = NULL;
	struct err err = { 0 };

	const char *head[] = { B.mayfly, "exec", "--state-dir", B.state, "--json" };
	for (size_t i = 0; i < 5; i++)
		strv_push(&argv, head[i]);
	for (size_t i = 0; args[i]; i++)
		strv_push(&argv, args[i]);
	j->t0 = bench_now_ms();
	if (o < 0 || e < 0 || in < 0 || (j->pid = fork()) < 0) {
		(void) err_set(&err, errno, "start '%s', output to '%s'", B.mayfly, out);
		die("exec", &err);
	}
	if (j->pid == 0) {
		if (dup2(in, 0) == 0 && dup2(o, 1) == 1 && dup2(e, 2) == 2)
			execv(argv[0], argv);
		_exit(127);
	}
}

static void exec_wait(struct job *j)
{
	while (waitpid(j->pid, &j->status, 0) < 0 && errno == EINTR)
		;
	j->ms = bench_now_ms() - j->t0;
}

/* A phase from the --json line on stderr, in ms; -1 if absent. */
static double json_ms(const char *text, const char *key)
{
	cleanup_free char *k = xasprintf("\"%s\":", key);
	const char *p = text ? strstr(text, k) : NULL;

	return p ? strtod(p + strlen(k), NULL) / 1000 : -1;
}

/* Whether job tag exited 0 and printed want (NULL: anything); its phases into s. The
 * first failure of each kind is shown. */
static bool exec_check(const struct job *j, unsigned tag, const char *name, const char *want,
		       struct exec_stats *s)
{
	cleanup_free char *out_path = xasprintf("%s/out-%u", B.dir, tag);
	cleanup_free char *err_path = xasprintf("%s/err-%u", B.dir, tag);
	cleanup_free char *out = NULL, *text = NULL;
	struct err err = { 0 };

	(void) read_file_at(AT_FDCWD, out_path, 65536, &out, NULL, &err);
	(void) read_file_at(AT_FDCWD, err_path, 65536, &text, NULL, &err);
	if (!WIFEXITED(j->status) || WEXITSTATUS(j->status) != 0 ||
	    (want && (!out || strcmp(out, want) != 0))) {
		if (s->failed++ == 0)
			printf("note: %s failed (wait status %#x); stdout: %.80s; stderr: %.300s\n",
			       name, (unsigned) j->status, out ? out : "", text ? text : "");
		return false;
	}
	double setup = json_ms(text, "setup_us"), run = json_ms(text, "run_us");
	double down = json_ms(text, "teardown_us");
	add(&s->wall, j->ms);
	add(&s->setup, setup);
	add(&s->run, run);
	add(&s->teardown, down);
	add(&s->after, run + down);
	return true;
}

static void exec_once(unsigned c, struct exec_stats *s)
{
	struct job j;

	exec_start(E[c].args, 0, &j);
	exec_wait(&j);
	(void) exec_check(&j, 0, E[c].name, E[c].want, s);
}

static bool pid_ns(unsigned pid, char *buf, size_t size)
{
	char path[64];
	(void) snprintf(path, sizeof(path), "/proc/%u/ns/pid", pid);
	ssize_t n = readlink(path, buf, size - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return true;
}

enum { K_MAYFLY, K_INIT, K_POSTGRES, K_REDIS, K_OTHER, K_COUNT };

/* PSS (KiB) by kind of every process of the sandbox that mayfly process owner runs: owner
 * itself (on the host), its child (the sandbox's pid 1) and everything in pid 1's pid
 * namespace except the job's `sleep`. Whether the sleep runs yet (then the servers are
 * ready). */
static bool sandbox_pss(pid_t owner, unsigned long kib[K_COUNT], unsigned n[K_COUNT])
{
	char name[32], ns[64] = "", other[64];
	unsigned init = 0, ppid, pid;
	bool job = false;
	DIR *d = opendir("/proc");
	struct dirent *de;

	for (int pass = 0; d && pass < 2; pass++, rewinddir(d)) {
		while ((de = readdir(d))) {
			if (safe_atou(de->d_name, &pid) < 0 || !proc_status(pid, name, &ppid))
				continue;
			if (pass == 0 && ppid == (unsigned) owner && pid_ns(pid, ns, sizeof(ns)))
				init = pid;
			if (pass == 0 || !init || !pid_ns(pid, other, sizeof(other)) ||
			    (strcmp(other, ns) != 0 && pid != (unsigned) owner))
				continue;
			if (strcmp(name, "sleep") == 0) {
				job = true;
				continue;
			}
			int k = pid == (unsigned) owner		? K_MAYFLY
				: pid == init			? K_INIT
				: strcmp(name, "postgres") == 0 ? K_POSTGRES
				: str_startswith(name, "redis") ? K_REDIS
								: K_OTHER;
			kib[k] += pss_kib(pid);
			n[k]++;
		}
	}
	if (d)
		closedir(d);
	return job;
}

static void exec_memory(void)
{
	static const char *const args[] = { "--service", "postgres", "--service", "redis",
					    "--",	 "sleep",    "60",	  NULL };
	static const char *const names[K_COUNT] = { "mayfly (host side)", "pid 1", "postgres",
						    "redis", "other" };
	unsigned long kib[K_COUNT] = { 0 }, total = 0;
	unsigned n[K_COUNT] = { 0 }, count = 0;
	struct job j;
	bool up = false;

	exec_start(args, 0, &j);
	for (unsigned i = 0; i < 10000 && !up; i += 5) {
		struct timespec ts = { .tv_nsec = 5 * 1000000L };
		(void) nanosleep(&ts, NULL);
		up = sandbox_pss(j.pid, (unsigned long[K_COUNT]){ 0 }, (unsigned[K_COUNT]){ 0 });
	}
	if (up) {
		struct timespec ts = { .tv_nsec = 300 * 1000000L };
		(void) nanosleep(&ts, NULL);
		(void) sandbox_pss(j.pid, kib, n);
	}
	(void) kill(j.pid, SIGTERM);
	exec_wait(&j);
	if (!up) {
		printf("idle job: the sandbox's sleep never started (see %s/err-0)\n", B.dir);
		return;
	}
	for (int k = 0; k < K_COUNT; k++)
		total += kib[k], count += n[k];
	printf("idle job with postgres + redis (exec -- sleep): %lu KiB PSS, %u processes "
	       "without the sleep:",
	       total, count);
	for (int k = 0; k < K_COUNT; k++)
		if (n[k])
			printf("%s %s %lu (%u)", k ? "," : "", names[k], kib[k], n[k]);
	printf("\n");
}

/* CONCURRENT jobs at once, each with both services: a table and a key that only it sees
 * (CREATE TABLE fails and INCR says 2 if another job's server answers). */
static void exec_concurrent(void)
{
	static const char script[] =
		"psql -qAtc \"create table t(x int); insert into t values (1); "
		"select count(*) from t\" && redis-cli incr k";
	static const char *const args[] = { "--service", "postgres", "--service", "redis", "--",
					    "sh",	 "-c",	     script,	  NULL };
	struct job j[CONCURRENT];
	struct exec_stats s = { 0 };
	unsigned ok = 0;
	double t0 = bench_now_ms();

	for (unsigned i = 0; i < CONCURRENT; i++)
		exec_start(args, i, &j[i]);
	for (unsigned i = 0; i < CONCURRENT; i++)
		exec_wait(&j[i]);
	double wall = bench_now_ms() - t0;
	for (unsigned i = 0; i < CONCURRENT; i++)
		ok += exec_check(&j[i], i, "concurrent job", "1\n1\n", &s);
	printf("%d concurrent jobs, both services, create table + insert + count, INCR: "
	       "%u/%d succeeded; wall %.0f ms; per job: median %.0f, max %.0f ms "
	       "(setup median %.0f)\n",
	       CONCURRENT, ok, CONCURRENT, wall, bench_pct(s.wall.v, s.wall.n, 0.5),
	       bench_pct(s.wall.v, s.wall.n, 1), bench_pct(s.setup.v, s.setup.n, 0.5));
}

static void goal(const char *what, double v, double limit, bool at_most)
{
	printf("goal %s %s %.0f: %s (%.1f)\n", what, at_most ? "<=" : ">=", limit,
	       (at_most ? v <= limit : v >= limit) ? "met" : "MISSED", v);
}

static void exec_bench(unsigned runs, struct samples *cold_tmpfs, struct samples *cold_disk)
{
	static struct exec_stats s[E_COUNT];
	struct exec_stats warm = { 0 };
	double t0 = bench_now_ms();

	B.state = path_join(B.dir, "mayfly-state");
	exec_once(E_PG, &warm); /* builds the template into the fresh state dir */
	printf("mayfly exec, end to end: state dir fresh in this run; its PostgreSQL template "
	       "built by the first warm-up run (%.0f ms, end to end); 3 warm-up rounds\n",
	       bench_now_ms() - t0);
	if (warm.failed)
		return;
	for (unsigned i = 0; i < 3 + runs; i++) /* rotating who goes first */
		for (unsigned k = 0; k < E_COUNT; k++) {
			unsigned c = (i + k) % E_COUNT;
			if (!E[c].redis || B.have_redis)
				exec_once(c, i < 3 ? &warm : &s[c]);
		}
	printf("%-50s %8s %8s %8s %5s\n", "ms (wall of the mayfly process)", "median", "p90", "min",
	       "runs");
	for (unsigned c = 0; c < E_COUNT; c++)
		row(E[c].name, &s[c].wall);
	printf("\n%-50s %8s %8s %8s\n", "phases from --json, medians (ms)", "setup", "run",
	       "teardown");
	for (unsigned c = 0; c < E_COUNT; c++)
		if (s[c].setup.n)
			printf("%-50s %8.1f %8.1f %8.1f\n", E[c].name,
			       bench_pct(s[c].setup.v, s[c].setup.n, 0.5),
			       bench_pct(s[c].run.v, s[c].run.n, 0.5),
			       bench_pct(s[c].teardown.v, s[c].teardown.n, 0.5));
	printf("(setup: until the job's exec, servers ready; run: the job, then pid 1 kills "
	       "what is left and exits; teardown: cgroup, journal)\n\n");

	double psql = bench_pct(s[E_PSQL].wall.v, s[E_PSQL].wall.n, 0.5);
	printf("ratio exec postgres -- psql / exec alone median %.1fx\n",
	       psql / bench_pct(s[E_ALONE].wall.v, s[E_ALONE].wall.n, 0.5));
	printf("ratio cold(tmpfs)/exec postgres -- psql median %.1fx\n",
	       bench_pct(cold_tmpfs->v, cold_tmpfs->n, 0.5) / psql);
	printf("ratio cold(disk)/exec postgres -- psql  median %.1fx\n",
	       bench_pct(cold_disk->v, cold_disk->n, 0.5) / psql);
	goal("exec --service postgres -- psql median", psql, 60, true);
	goal("cold(tmpfs)/exec postgres -- psql",
	     bench_pct(cold_tmpfs->v, cold_tmpfs->n, 0.5) / psql, 10, false);
	if (B.have_redis) {
		goal("redis ready (setup with redis - setup alone) median",
		     bench_pct(s[E_REDIS].setup.v, s[E_REDIS].setup.n, 0.5) -
			     bench_pct(s[E_ALONE].setup.v, s[E_ALONE].setup.n, 0.5),
		     15, true);
		goal("teardown (run + teardown of both services -- true) median",
		     bench_pct(s[E_BOTH].after.v, s[E_BOTH].after.n, 0.5), 20, true);
	}
	for (unsigned c = 0; c < E_COUNT; c++)
		if (s[c].failed)
			printf("FAILED: %s: %u of %u runs\n", E[c].name, s[c].failed,
			       s[c].failed + (unsigned) s[c].wall.n);
	printf("\n");
	if (B.have_redis) {
		exec_memory();
		exec_concurrent();
	}
}

/* Other work on the machine moves every row: say how busy it was. */
static void print_load(const char *when)
{
	cleanup_free char *text = NULL;
	struct err err = { 0 };

	if (read_file_at(AT_FDCWD, "/proc/loadavg", 256, &text, NULL, &err) == 0)
		printf("load average %s: %.*s\n", when, (int) strcspn(text, " "), text);
}

static void setup(void)
{
	struct err err = { 0 };

	if (unshare(CLONE_NEWNS | CLONE_NEWNET) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		(void) err_set(&err, errno, "private mount and network namespaces");
		die("setup", &err);
	}
	if (net_loopback_up(&err) < 0)
		die("setup", &err);
	(void) snprintf(B.dir, sizeof(B.dir), "/var/tmp/mayfly-bench-svc-XXXXXX");
	if (!mkdtemp(B.dir) || chmod(B.dir, 0711) < 0) {
		(void) err_set(&err, errno, "mkdtemp");
		die("setup", &err);
	}
	(void) snprintf(B.tmpfs, sizeof(B.tmpfs), "%s/tmpfs", B.dir);
	if (mkdir(B.tmpfs, 0711) < 0 || mount("tmpfs", B.tmpfs, "tmpfs", 0, "mode=0711") < 0) {
		(void) err_set(&err, errno, "tmpfs on '%s'", B.tmpfs);
		die("setup", &err);
	}
	cleanup_free char *log = path_join(B.dir, "servers.log");
	B.log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (B.log_fd < 0) {
		(void) err_set(&err, errno, "open '%s'", log);
		die("setup", &err);
	}
}

int main(int argc, char **argv)
{
	struct samples cold_tmpfs = { 0 }, cold_disk = { 0 }, copy = { 0 }, ovl = { 0 };
	struct samples tcp = { 0 }, stop = { 0 }, rready = { 0 }, rstop = { 0 };
	struct svc_pg_init init = { .uid = OWNER, .gid = OWNER };
	unsigned runs = 30;
	struct err err = { 0 };
	int c;

	while ((c = getopt(argc, argv, "n:")) != -1) {
		if (c != 'n' || safe_atou(optarg, &runs) < 0 || runs == 0 || runs > MAX_RUNS) {
			(void) fprintf(stderr, "usage: services [-n RUNS (1-%d)]\n", MAX_RUNS);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0) {
		printf("services: skipped (needs root: its own mount and network namespaces, "
		       "servers as uid %u)\n",
		       OWNER);
		return 0;
	}
	if (svc_find(NULL, "postgres", NULL, &B.pg, &err) < 0) {
		printf("services: skipped (%s)\n", err.msg);
		return 0;
	}
	B.have_redis = svc_find(NULL, "redis", NULL, &B.redis, &err) == 0;
	setup();
	printf("postgres %s (%s), redis %s; %u runs, %d cold runs; servers as uid %u\n",
	       B.pg.version, B.pg.server, B.have_redis ? B.redis.server : "missing", runs,
	       COLD_RUNS, OWNER);
	print_load("at the start (1 min)");
	cleanup_free char *cache = path_join(B.dir, "state");
	double t0 = bench_now_ms();
	if (svc_pg_template(cache, &B.pg, &init, &B.tpl, &err) < 0)
		die("template", &err);
	printf("template built in %.0f ms (initdb, on the disk); a second call: ",
	       bench_now_ms() - t0);
	t0 = bench_now_ms();
	cleanup_free char *again = NULL;
	if (svc_pg_template(cache, &B.pg, &init, &again, &err) != 0)
		die("template", &err);
	printf("%.3f ms\n\n", bench_now_ms() - t0);

	for (unsigned i = 0; i < 3; i++) /* warm-up: page cache, first-run costs */
		run_overlay(&(struct samples){ 0 }, &(struct samples){ 0 }, &(struct samples){ 0 });
	for (unsigned i = 0; i < COLD_RUNS && i < runs; i++) {
		run_cold(B.tmpfs, &cold_tmpfs);
		run_cold(B.dir, &cold_disk);
	}
	for (unsigned i = 0; i < runs; i++) {
		run_copy(&copy);
		run_overlay(&ovl, &tcp, &stop);
		if (B.have_redis)
			run_redis(&rready, &rstop);
	}

	printf("%-50s %8s %8s %8s %5s\n", "ms (wall)", "median", "p90", "min", "runs");
	row("cold: initdb + start + SELECT 1 (tmpfs)", &cold_tmpfs);
	row("cold: initdb + start + SELECT 1 (disk)", &cold_disk);
	row("cp -a template (tmpfs) + start + ready", &copy);
	row("overlay clone + start + ready (mayfly)", &ovl);
	row("  then the job's first TCP login + query", &tcp);
	row("postgres immediate stop (SIGQUIT)", &stop);
	row("redis start + PING", &rready);
	row("redis stop (SIGTERM, hz 100)", &rstop);
	printf("\n");
	double o = bench_pct(ovl.v, ovl.n, 0.5);
	printf("ratio cold(tmpfs)/overlay median %.1fx\n",
	       bench_pct(cold_tmpfs.v, cold_tmpfs.n, 0.5) / o);
	printf("ratio cold(disk)/overlay  median %.1fx\n",
	       bench_pct(cold_disk.v, cold_disk.n, 0.5) / o);
	printf("ratio cp -a/overlay       median %.1fx\n", bench_pct(copy.v, copy.n, 0.5) / o);
	goal("postgres exec..SELECT 1 median", o, GOAL_PG_MS, true);
	goal("cold/overlay", bench_pct(cold_tmpfs.v, cold_tmpfs.n, 0.5) / o, 10, false);
	if (B.have_redis)
		goal("redis start..PONG median", bench_pct(rready.v, rready.n, 0.5), GOAL_REDIS,
		     true);
	printf("\n");
	memory();
	printf("\n");
	B.mayfly = getenv("MAYFLY_BIN");
	if (B.mayfly && *B.mayfly)
		exec_bench(runs, &cold_tmpfs, &cold_disk);
	else
		printf("mayfly exec rows: skipped (MAYFLY_BIN not set)\n");
	print_load("at the end (1 min)");
	(void) umount2(B.tmpfs, MNT_DETACH);
	rm_tree(B.dir);
	return 0;
}

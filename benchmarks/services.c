/* services.c - how fast a job's PostgreSQL and Redis are ready, side by side in one run:
 * the cold path containers take (initdb + start until a query answers, on tmpfs and on the
 * disk), a `cp -a` copy of a template + start, and mayfly's way: an overlay whose lower
 * layer is the template (upper on tmpfs) + start, until the job's password is set over the
 * unix socket (that is the readiness check), then the job's first TCP login (SCRAM) and
 * query. Also PostgreSQL's immediate stop, Redis start to PING and its SIGTERM stop, and
 * the memory of idle servers. Needs root (its own mount and network namespaces, servers
 * as an unprivileged uid); otherwise it says so and exits 0. Usage: services [-n RUNS].
 * Not part of the sandbox yet: `mayfly exec --service` end to end comes with the wiring. */
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

#define OWNER	   4000000u /* template owner and server uid: nothing else runs as it */
#define COLD_RUNS  5
#define READY_WAIT 30000 /* ms */
#define STOP_WAIT  5000
#define GOAL_PG_MS 40.0 /* exec until SELECT 1 (the 60 ms end to end, minus ours) */
#define GOAL_REDIS 15.0
#define MAX_RUNS   1000

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
} B;

static double now_ms(void)
{
	struct timespec ts;
	(void) clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static void add(struct samples *s, double v)
{
	if (s->n < MAX_RUNS)
		s->v[s->n++] = v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *) a, y = *(const double *) b;
	return x < y ? -1 : x > y;
}

static double pct(struct samples *s, double p)
{
	if (s->n == 0)
		return 0;
	qsort(s->v, s->n, sizeof(double), cmp_double);
	size_t i = (size_t) (p * (double) (s->n - 1) + 0.5);
	return s->v[i];
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
	double t0 = now_ms();

	if (svc_stop(pid, SVC_POSTGRES, STOP_WAIT, NULL, &err) < 0)
		die("postgres stop", &err);
	return now_ms() - t0;
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
	double t0 = now_ms();

	if (svc_password_new(pw, &err) < 0 || svc_pg_template(cache, &B.pg, &init, &data, &err) < 0)
		die("cold template", &err);
	pid_t pid = pg_start(data, sock, pw);
	add(s, now_ms() - t0);
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
	double t0 = now_ms();
	if (svc_spawn(cp, &how, &pid, &err) < 0)
		die("cp", &err);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	pid = pg_start(data, sock, pw);
	add(s, now_ms() - t0);
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
	double t0 = now_ms();
	if (mkdir(upper, 0700) < 0 || chown(upper, OWNER, OWNER) < 0 || mkdir(work, 0700) < 0 ||
	    mkdir(merged, 0700) < 0 || mount("overlay", merged, "overlay", 0, opts) < 0) {
		(void) err_set(&err, errno, "overlay on '%s'", merged);
		die("overlay", &err);
	}
	pid_t pid = pg_start(merged, sock, pw);
	double t1 = now_ms();
	struct svc_target t = { .host = "127.0.0.1", .user = "postgres", .password = pw };
	if (svc_pg_ready(&t, READY_WAIT, &err) < 0)
		die("postgres tcp", &err);
	add(ready, t1 - t0);
	add(tcp, now_ms() - t1);
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
	double t0 = now_ms();
	pid_t pid = redis_start(dir, SVC_REDIS_PORT);

	add(ready, now_ms() - t0);
	t0 = now_ms();
	if (svc_stop(pid, SVC_REDIS, STOP_WAIT, NULL, &err) < 0)
		die("redis stop", &err);
	add(stop, now_ms() - t0);
	rm_tree(dir);
}

/* PSS (KiB) of every process in pid's process group. */
static unsigned long group_pss(pid_t pgid)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	unsigned long kib = 0;

	while (d && (de = readdir(d))) {
		unsigned pid;
		if (safe_atou(de->d_name, &pid) < 0 || getpgid((pid_t) pid) != pgid)
			continue;
		cleanup_free char *path = xasprintf("/proc/%u/smaps_rollup", pid);
		cleanup_free char *text = NULL;
		struct err err = { 0 };
		if (read_file_at(AT_FDCWD, path, 65536, &text, NULL, &err) < 0)
			continue;
		const char *p = strstr(text, "\nPss:");
		if (p)
			kib += strtoul(p + 5, NULL, 10);
	}
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
	printf("idle postgres: %lu KiB PSS (all its processes)", group_pss(pid));
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
		printf("idle redis: %lu KiB PSS\n", group_pss(rpid));
		(void) svc_stop(rpid, SVC_REDIS, STOP_WAIT, NULL, &err);
	}
	(void) pg_stop(pid);
	(void) umount2(merged, MNT_DETACH);
}

static void row(const char *name, struct samples *s)
{
	if (s->n == 0)
		return;
	printf("%-44s %8.1f %8.1f %8.1f %5zu\n", name, pct(s, 0.5), pct(s, 0.9), pct(s, 0), s->n);
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
	cleanup_free char *cache = path_join(B.dir, "state");
	double t0 = now_ms();
	if (svc_pg_template(cache, &B.pg, &init, &B.tpl, &err) < 0)
		die("template", &err);
	printf("template built in %.0f ms (initdb, on the disk); a second call: ", now_ms() - t0);
	t0 = now_ms();
	cleanup_free char *again = NULL;
	if (svc_pg_template(cache, &B.pg, &init, &again, &err) != 0)
		die("template", &err);
	printf("%.3f ms\n\n", now_ms() - t0);

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

	printf("%-44s %8s %8s %8s %5s\n", "ms (wall)", "median", "p90", "min", "runs");
	row("cold: initdb + start + SELECT 1 (tmpfs)", &cold_tmpfs);
	row("cold: initdb + start + SELECT 1 (disk)", &cold_disk);
	row("cp -a template (tmpfs) + start + ready", &copy);
	row("overlay clone + start + ready (mayfly)", &ovl);
	row("  then the job's first TCP login + query", &tcp);
	row("postgres immediate stop (SIGQUIT)", &stop);
	row("redis start + PING", &rready);
	row("redis stop (SIGTERM, hz 100)", &rstop);
	printf("\n");
	double o = pct(&ovl, 0.5);
	printf("ratio cold(tmpfs)/overlay median %.1fx\n", pct(&cold_tmpfs, 0.5) / o);
	printf("ratio cold(disk)/overlay  median %.1fx\n", pct(&cold_disk, 0.5) / o);
	printf("ratio cp -a/overlay       median %.1fx\n", pct(&copy, 0.5) / o);
	printf("goal postgres exec..SELECT 1 median <= %.0f ms: %s (%.1f)\n", GOAL_PG_MS,
	       o <= GOAL_PG_MS ? "met" : "MISSED", o);
	printf("goal cold/overlay >= 10x: %s\n",
	       pct(&cold_tmpfs, 0.5) / o >= 10 ? "met" : "MISSED");
	if (B.have_redis)
		printf("goal redis start..PONG median <= %.0f ms: %s (%.1f)\n", GOAL_REDIS,
		       pct(&rready, 0.5) <= GOAL_REDIS ? "met" : "MISSED", pct(&rready, 0.5));
	printf("\n");
	memory();
	(void) umount2(B.tmpfs, MNT_DETACH);
	rm_tree(B.dir);
	return 0;
}

/* secrets.c - what secrets cost (issue 5): the masker's throughput with 20 leased values
 * next to a plain copy of the same output in the same process (the "cat" it stands in
 * for), and end to end `mayfly exec -- cat FILE` with and without 20 leased secrets;
 * and what a lease of 20 secrets (`--from bench --secret ...`) adds to the job's start
 * (setup_us of --json) and to the whole `mayfly exec -- true`, alternating, medians of the
 * same run. Goals: masker >= 200 MB/s, lease + delivery <= 1 ms to the start. Usage: secrets [-n
 * RUNS] [--mb MB]. The exec rows need user namespaces (else they say so). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "secrets/secrets.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/xalloc.h"
#include "util/banned.h"

#include "bench.h"

#define NVALUES	   20
#define GOAL_MBPS  200.0
#define GOAL_LEASE 1.0
#define MAX_RUNS   1000
#define CHUNK	   65536

static char values[NVALUES][48];

/* Log-like text: words, numbers, hex ids, a leased value now and then. */
static char *make_output(size_t size)
{
	char *buf = xmalloc(size);
	size_t at = 0;
	unsigned x = 12345;

	while (at + 200 < size) {
		x = x * 1103515245u + 12345u;
		int n = snprintf(buf + at, size - at,
				 "2026-11-23T12:00:%02u step %u: compiling module_%u.c (%08x) ok\n",
				 x % 60, x % 977, x % 4093, x);
		at += (size_t) n;
		if (x % 50 == 0)
			at += (size_t) snprintf(buf + at, size - at, "token=%s\n",
						values[x % NVALUES]);
	}
	memset(buf + at, '\n', size - at);
	return buf;
}

static int sink(void *userdata, const void *buf, size_t len)
{
	*(size_t *) userdata += len;
	return 0;
}

static void bench_masker(size_t mb)
{
	size_t size = mb << 20, out = 0;
	cleanup_free char *text = make_output(size);
	cleanup_free char *copy = xmalloc(CHUNK);
	struct secret_masker *m = secret_masker_new();
	struct err err = { 0 };
	double t0, t_mask, t_copy;

	for (int i = 0; i < NVALUES; i++)
		if (secret_masker_add(m, values[i], strlen(values[i]), &err) < 0)
			abort();
	t0 = bench_now_ms();
	for (size_t off = 0; off < size; off += CHUNK)
		(void) secret_masker_feed(m, text + off, size - off < CHUNK ? size - off : CHUNK,
					  sink, &out);
	(void) secret_masker_flush(m, sink, &out);
	t_mask = bench_now_ms() - t0;
	t0 = bench_now_ms();
	for (size_t off = 0; off < size; off += CHUNK) {
		memcpy(copy, text + off, size - off < CHUNK ? size - off : CHUNK);
		(void) sink(&out, copy, CHUNK);
	}
	t_copy = bench_now_ms() - t0;
	secret_masker_free(m);
	double mask_mbps = (double) mb / (t_mask / 1e3), copy_mbps = (double) mb / (t_copy / 1e3);
	printf("masker, %d values, %zu MiB of log output   %8.0f MB/s   (goal >= %.0f: %s)\n",
	       NVALUES, mb, mask_mbps, GOAL_MBPS, mask_mbps >= GOAL_MBPS ? "met" : "MISSED");
	printf("plain copy of the same output (the peer)   %8.0f MB/s   ratio %.2fx\n", copy_mbps,
	       copy_mbps / mask_mbps);
}

/* Start argv with stdin and stdout on /dev/null, stderr on err_fd (-1: /dev/null). */
static pid_t start(char *const *argv, int err_fd)
{
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		(void) dup2(null, 0);
		(void) dup2(null, 1);
		(void) dup2(err_fd >= 0 ? err_fd : null, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* Run argv with stdout and stderr to /dev/null; its status, or -1. */
static int run(char *const *argv)
{
	pid_t pid = start(argv, -1);
	int status;

	if (pid < 0)
		return -1;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Run argv (with "--json" after "exec", put there by the caller) and return the setup_us
 * its JSON summary reports on stderr (mayfly's start to the job's exec), in ms; < 0 on
 * failure. */
static double run_setup_ms(char *const *argv)
{
	char buf[8192];
	size_t len = 0;
	ssize_t n;
	int p[2], status;
	pid_t pid;

	if (pipe(p) < 0)
		return -1;
	pid = start(argv, p[1]);
	if (pid < 0)
		return -1;
	(void) close(p[1]);
	while (len < sizeof(buf) - 1 && (n = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t) n;
	buf[len] = '\0';
	(void) close(p[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	const char *at = strstr(buf, "\"setup_us\":");
	return at ? strtod(at + 11, NULL) / 1000.0 : -1;
}

/* Time a and b alternately (so both see the same load), runs times each; the minimum of
 * each into *ret_a, *ret_b (the least disturbed run: these hosts are shared), medians
 * into *med_a, *med_b. */
static bool time_pair(char *const *a, char *const *b, unsigned runs, double *ret_a, double *ret_b,
		      double *med_a, double *med_b)
{
	static double va[MAX_RUNS], vb[MAX_RUNS];
	bool ok = true;

	(void) run(a); /* warm-up */
	(void) run(b);
	for (unsigned i = 0; i < runs; i++) {
		double t0 = bench_now_ms();
		ok &= run(a) == 0;
		va[i] = bench_now_ms() - t0;
		t0 = bench_now_ms();
		ok &= run(b) == 0;
		vb[i] = bench_now_ms() - t0;
	}
	*ret_a = va[0];
	*ret_b = vb[0];
	for (unsigned i = 1; i < runs; i++) {
		*ret_a = va[i] < *ret_a ? va[i] : *ret_a;
		*ret_b = vb[i] < *ret_b ? vb[i] : *ret_b;
	}
	*med_a = bench_median(va, runs); /* sorts */
	*med_b = bench_median(vb, runs);
	return ok;
}

static void bench_exec(const char *mayfly, unsigned runs, size_t mb)
{
	char state[] = "/tmp/mayfly-bench-secrets-XXXXXX", file[4200], big[4200];
	char *secret_args[2 * NVALUES + 16];
	size_t n = 0;
	bool ok1, ok2;

	(void) ok1;

	if (!mkdtemp(state) || chmod(state, 0711) < 0) {
		printf("exec rows: skipped (no scratch dir)\n");
		return;
	}
	snprintf(file, sizeof(file), "%s/value", state);
	for (int i = 0; i < NVALUES; i++) {
		char name[16];
		snprintf(name, sizeof(name), "S%02d", i);
		int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		(void) fd_write_all(fd, values[i], strlen(values[i]));
		(void) close(fd);
		char *set[] = { (char *) mayfly, "--state-dir", state,	       "secrets", "set",
				"bench",	 name,		"--from-file", file,	  NULL };
		if (run(set) != 0) {
			printf("exec rows: skipped ('mayfly secrets set' failed)\n");
			return;
		}
	}
	(void) unlink(file);
	secret_args[n++] = (char *) mayfly;
	secret_args[n++] = "--state-dir";
	secret_args[n++] = state;
	secret_args[n++] = "exec";
	secret_args[n++] = "--from";
	secret_args[n++] = "bench";
	size_t names_from = n;
	for (int i = 0; i < NVALUES; i++) {
		secret_args[n++] = "--secret";
		secret_args[n++] = xasprintf("S%02d", i);
	}
	size_t cmd_at = n;
	char *plain_true[] = { (char *) mayfly, "--state-dir", state, "exec", "--",
			       "/bin/true",	NULL };
	secret_args[n++] = "--";
	secret_args[n++] = "/bin/true";
	secret_args[n] = NULL;
	if (run(plain_true) != 0) {
		printf("exec rows: skipped (mayfly exec cannot make a sandbox here)\n");
		return;
	}
	double t_plain, t_secret, m_plain, m_secret;
	ok1 = time_pair(plain_true, secret_args, runs, &t_plain, &t_secret, &m_plain, &m_secret);
	printf("exec -- true                               %8.2f ms min  %8.2f median (%u runs)\n",
	       t_plain, m_plain, runs);
	printf("exec --from --secret x%d -- true           %8.2f ms min  %8.2f median\n", NVALUES,
	       t_secret, m_secret);
	printf("lease + delivery + masking relay, wall     %+8.2f ms min  %+8.2f median%s\n",
	       t_secret - t_plain, m_secret - m_plain, ok1 ? "" : " (FAILED runs)");

	/* To the job's start (what a lease delays): setup_us from --json, alternately. */
	{
		static double sa[MAX_RUNS], sb[MAX_RUNS];
		char *ja[] = { (char *) mayfly, "--state-dir", state,	    "exec",
			       "--json",	"--",	       "/bin/true", NULL };
		char **jb = xcalloc(n + 2, sizeof(char *));
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			jb[k++] = secret_args[i];
			if (i == 3)
				jb[k++] = "--json";
		}
		for (unsigned i = 0; i < runs; i++) {
			sa[i] = run_setup_ms(ja);
			sb[i] = run_setup_ms(jb);
		}
		double da = bench_median(sa, runs), db = bench_median(sb, runs);
		printf("to the job's start (setup, --json), median  %6.2f ms plain, %6.2f with "
		       "the lease: %+.2f (goal <= %.1f: %s)\n",
		       da, db, db - da, GOAL_LEASE, db - da <= GOAL_LEASE ? "met" : "MISSED");
		free(jb);
	}

	/* End to end: the job cats a big file; its output goes through the relay. */
	snprintf(big, sizeof(big), "%s/output.log", state);
	{
		cleanup_free char *text = make_output(mb << 20);
		int fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		(void) fd_write_all(fd, text, mb << 20);
		(void) close(fd);
	}
	char bind[4300];
	snprintf(bind, sizeof(bind), "%s:/data/output.log:ro", big);
	char *plain_cat[] = { (char *) mayfly,	  "--state-dir", state, "exec",
			      "--bind",		  bind,		 "--",	"cat",
			      "/data/output.log", NULL };
	size_t k = cmd_at;
	secret_args[k++] = "--bind";
	secret_args[k++] = bind;
	secret_args[k++] = "--";
	secret_args[k++] = "cat";
	secret_args[k++] = "/data/output.log";
	secret_args[k] = NULL;
	double c_plain, c_secret, cm_plain, cm_secret;
	ok2 = time_pair(plain_cat, secret_args, 3, &c_plain, &c_secret, &cm_plain, &cm_secret);
	printf("exec -- cat %zu MiB                         %8.1f ms   %6.0f MB/s (median of 3)\n",
	       mb, cm_plain, (double) mb / (cm_plain / 1e3));
	printf("exec --secret x%d -- cat %zu MiB (masked)    %8.1f ms   %6.0f MB/s%s\n", NVALUES,
	       mb, cm_secret, (double) mb / (cm_secret / 1e3), ok2 ? "" : " (FAILED runs)");
	for (size_t i = names_from + 1; i < cmd_at; i += 2)
		free(secret_args[i]);
	struct err err = { 0 };
	(void) rm_rf_at(AT_FDCWD, state, &err);
}

int main(int argc, char **argv)
{
	const char *mayfly = getenv("MAYFLY_BIN");
	unsigned runs = 30;
	size_t mb = 256;
	static const struct option opts[] = { { "mb", required_argument, NULL, 'm' },
					      { NULL, 0, NULL, 0 } };
	int c;

	while ((c = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
		if (c == 'n')
			runs = (unsigned) strtoul(optarg, NULL, 10);
		else if (c == 'm')
			mb = strtoul(optarg, NULL, 10);
		else
			return 2;
	}
	if (runs == 0 || runs > MAX_RUNS || mb == 0 || mb > 4096)
		return 2;
	for (int i = 0; i < NVALUES; i++)
		snprintf(values[i], sizeof(values[i]), "sk_live_%02d_%08x%08x", i,
			 (unsigned) (i * 2654435761u), (unsigned) (i * 40503u + 7));
	bench_masker(mb);
	if (!mayfly || access(mayfly, X_OK) < 0)
		printf("exec rows: skipped (MAYFLY_BIN not set)\n");
	else
		bench_exec(mayfly, runs, mb / 4 ? mb / 4 : 1);
	return 0;
}

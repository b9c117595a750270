/* walls.h - what the test-walls-*.c files share: run a sandbox with chosen options and
 * command, build and bind the probe (probes/probe.c) into it, check its answers, and find
 * host processes by a marker. Static inline: each test file uses a different subset.
 *
 * Every check that fails prints the sandbox's stdout and stderr as TAP comments, so a
 * failure in CI says what the job saw. */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "run.h"
#include "test.h"

#define WALLS_PROBE_DST "/opt/probe" /* where the probe is inside the sandbox */
#define WALLS_MAX_ARGS	96

/* Print what the sandbox said, as TAP comments (one per line). */
static inline void walls_dump(const struct run_result *res)
{
	const char *streams[2] = { res->out, res->err };
	const char *names[2] = { "stdout", "stderr" };

	printf("# status %d, %.0f ms\n", res->status, res->ms);
	for (int i = 0; i < 2; i++) {
		const char *p = streams[i] ? streams[i] : "";
		printf("# %s:%s\n", names[i], *p ? "" : " (empty)");
		while (*p) {
			const char *e = strchrnul(p, '\n');
			printf("#   %.*s\n", (int) (e - p), p);
			p = *e ? e + 1 : e;
		}
	}
	(void) fflush(stdout);
}

/* CHECK variants that show the sandbox's output when they fail. */
#define WCHECK(res, cond)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			walls_dump(res);                                                           \
			test_fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond);                  \
		}                                                                                  \
	} while (0)
#define WCHECK_EQ(res, a, b)                                                                       \
	do {                                                                                       \
		long long wa_ = (long long) (a), wb_ = (long long) (b);                            \
		if (wa_ != wb_) {                                                                  \
			walls_dump(res);                                                           \
			test_fail(__FILE__, __LINE__, "CHECK_EQ(%s, %s): %lld != %lld", #a, #b,    \
				  wa_, wb_);                                                       \
		}                                                                                  \
	} while (0)
#define WCHECK_CONTAINS(res, hay, needle)                                                          \
	do {                                                                                       \
		const char *wh_ = (hay), *wn_ = (needle);                                          \
		if (!wh_ || !strstr(wh_, wn_)) {                                                   \
			walls_dump(res);                                                           \
			test_fail(__FILE__, __LINE__, "%s lacks '%s'", #hay, wn_);                 \
		}                                                                                  \
	} while (0)
#define WCHECK_NOT_CONTAINS(res, hay, needle)                                                      \
	do {                                                                                       \
		const char *wh_ = (hay), *wn_ = (needle);                                          \
		if (wh_ && strstr(wh_, wn_)) {                                                     \
			walls_dump(res);                                                           \
			test_fail(__FILE__, __LINE__, "%s has '%s'", #hay, wn_);                   \
		}                                                                                  \
	} while (0)

/* A string that lives until the test ends (tests are short-lived forked children). */
static inline char *walls_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline char *walls_fmt(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	return s;
}

/* Run `mayfly --state-dir <test state> exec OPTS... -- CMD...` (both NULL-terminated,
 * opts may be NULL) with extra_env ("K=V", NULL-terminated, or NULL) added. */
static inline void walls_run(const char *const *opts, const char *const *cmd,
			     char *const *extra_env, unsigned timeout_s, struct run_result *res)
{
	const char *argv[WALLS_MAX_ARGS];
	size_t n = 0;

	argv[n++] = mayfly_bin();
	argv[n++] = "--state-dir";
	argv[n++] = test_state_dir();
	argv[n++] = "exec";
	for (size_t i = 0; opts && opts[i]; i++) {
		if (n >= WALLS_MAX_ARGS - 2)
			test_fail(__FILE__, __LINE__, "walls_run: too many arguments");
		argv[n++] = opts[i];
	}
	argv[n++] = "--";
	for (size_t i = 0; cmd[i]; i++) {
		if (n >= WALLS_MAX_ARGS - 1)
			test_fail(__FILE__, __LINE__, "walls_run: too many arguments");
		argv[n++] = cmd[i];
	}
	argv[n] = NULL;
	run_argv((char *const *) argv, extra_env, timeout_s, res);
}

/* Where probes/probe.c is: next to this header when the test was compiled from the
 * repository's root (the Makefile does), else found from the test binary's path
 * (<repo>/<build>/tests/integ/test-walls-x). NULL when neither works. */
static inline const char *walls_probe_source(void)
{
	static char path[PATH_MAX];
	const char *slash = strrchr(__FILE__, '/');
	char exe[PATH_MAX];
	ssize_t n;

	if (slash)
		(void) snprintf(path, sizeof(path), "%.*s/probe.c", (int) (slash - __FILE__),
				__FILE__);
	else
		(void) snprintf(path, sizeof(path), "probe.c");
	if (access(path, R_OK) == 0)
		return path;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	for (int up = 0; up < 4; up++) {
		char *cut = strrchr(exe, '/');
		if (!cut)
			return NULL;
		*cut = '\0';
	}
	(void) snprintf(path, sizeof(path), "%s/tests/integ/probes/probe.c", exe);
	return access(path, R_OK) == 0 ? path : NULL;
}

/* Build the probe into the test's tmpdir (once per test) and return the --bind value that
 * puts it read-only at WALLS_PROBE_DST. Skips when there is no source or no compiler. */
static inline const char *walls_probe_bind(void)
{
	static char bind[PATH_MAX + 64];
	const char *src = walls_probe_source();
	const char *cc = getenv("CC") && *getenv("CC") ? getenv("CC") : "cc";
	char bin[PATH_MAX];
	struct run_result res;

	if (bind[0])
		return bind;
	if (!src)
		test_skip("probes/probe.c not found (run the test from the repository's root)");
	(void) snprintf(bin, sizeof(bin), "%s/probe", test_tmpdir());
	const char *argv[] = { cc, "-O1", "-o", bin, src, NULL };
	run_argv((char *const *) argv, NULL, 60, &res);
	if (res.status == 127)
		test_skip("no C compiler ('%s') to build the probe", cc);
	if (res.status != 0) {
		walls_dump(&res);
		test_fail(__FILE__, __LINE__, "building the probe failed");
	}
	run_result_free(&res);
	if (chmod(bin, 0755) < 0)
		test_fail(__FILE__, __LINE__, "chmod '%s': %s", bin, strerror(errno));
	(void) snprintf(bind, sizeof(bind), "%s:%s:ro", bin, WALLS_PROBE_DST);
	return bind;
}

/* Whether the probe's stdout has the line "ACTION=R" for one of the '|'-separated
 * alternatives R in want ("ACTION=R1|R2"). */
static inline bool walls_probe_answered(const char *out, const char *want)
{
	size_t key = strcspn(want, "=");
	const char *alt = want + key + 1;
	char *hay = walls_fmt("\n%s", out);

	for (;;) {
		size_t n = strcspn(alt, "|");
		char *line = walls_fmt("\n%.*s=%.*s\n", (int) key, want, (int) n, alt);
		if (strstr(hay, line))
			return true;
		if (!alt[n])
			return false;
		alt += n + 1;
	}
}

/* Run the probe in a sandbox (opts as for walls_run, the probe's --bind added) with the
 * actions of `expect` ("ACTION=RESULT" strings, NULL-terminated; RESULT may list
 * alternatives as "R1|R2") and check that it answered each one so. Every mismatch is
 * listed before the test fails. */
static inline void walls_probe_expect(const char *const *opts, const char *const *expect)
{
	const char *o[WALLS_MAX_ARGS], *cmd[WALLS_MAX_ARGS];
	struct run_result res;
	size_t no = 0, nc = 0;
	unsigned bad = 0;

	o[no++] = "--bind";
	o[no++] = walls_probe_bind();
	for (size_t i = 0; opts && opts[i] && no < WALLS_MAX_ARGS - 1; i++)
		o[no++] = opts[i];
	o[no] = NULL;
	cmd[nc++] = WALLS_PROBE_DST;
	for (size_t i = 0; expect[i] && nc < WALLS_MAX_ARGS - 1; i++)
		cmd[nc++] = walls_fmt("%.*s", (int) strcspn(expect[i], "="), expect[i]);
	cmd[nc] = NULL;
	walls_run(o, cmd, NULL, 60, &res);
	for (size_t i = 0; expect[i]; i++) {
		if (walls_probe_answered(res.out, expect[i]))
			continue;
		char *key = walls_fmt("\n%.*s=", (int) strcspn(expect[i], "="), expect[i]);
		const char *got = strstr(walls_fmt("\n%s", res.out), key);
		printf("# probe: expected %s, got %.*s\n", expect[i],
		       got ? (int) strcspn(got + 1, "\n") : 7, got ? got + 1 : "nothing");
		bad++;
	}
	if (bad || res.status != 0) {
		walls_dump(&res);
		test_fail(__FILE__, __LINE__,
			  "%u of the probe's answers were not the expected "
			  "ones (probe exit %d)",
			  bad, res.status);
	}
	run_result_free(&res);
}

/* How many host processes (other than this one) have `marker` in their command line;
 * with sig > 0, send them sig too (to clean up after a wall that did not hold). */
static inline int walls_signal_procs(const char *marker, int sig)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int count = 0;

	if (!d)
		test_fail(__FILE__, __LINE__, "opendir /proc: %s", strerror(errno));
	while ((e = readdir(d))) {
		char path[300], buf[4096];
		ssize_t n;
		int fd;

		if (e->d_name[0] < '0' || e->d_name[0] > '9' || atoi(e->d_name) == getpid())
			continue;
		(void) snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		(void) close(fd);
		if (n <= 0)
			continue;
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
		buf[n] = '\0';
		/* The marker as a whole word: 1000.123 must not match 1000.1234. */
		for (const char *p = buf; (p = strstr(p, marker)); p++)
			if (p[strlen(marker)] < '0' || p[strlen(marker)] > '9') {
				if (sig > 0)
					(void) kill((pid_t) atoi(e->d_name), sig);
				count++;
				break;
			}
	}
	(void) closedir(d);
	return count;
}

static inline int walls_count_procs(const char *marker)
{
	return walls_signal_procs(marker, 0);
}

/* Wait up to timeout_ms for no host process to carry marker; returns how many are left. */
static inline int walls_wait_procs_gone(const char *marker, unsigned timeout_ms)
{
	struct timespec step = { 0, 50 * 1000 * 1000 };
	int left = walls_count_procs(marker);

	for (unsigned waited = 0; left > 0 && waited < timeout_ms; waited += 50) {
		(void) nanosleep(&step, NULL);
		left = walls_count_procs(marker);
	}
	return left;
}

/* A marker for one test: a sleep duration no other process uses ("1000.<pid>"), so that
 * `sleep MARKER` runs 1000 s and its command line names the test. */
static inline const char *walls_marker(void)
{
	static char m[32];

	if (!m[0])
		(void) snprintf(m, sizeof(m), "1000.%d", (int) getpid());
	return m;
}

/* Read a whole small host file into a static buffer ("" when unreadable). procfs hands
 * out a page per read(): read until the end. */
static inline const char *walls_host_file(const char *path)
{
	static char buf[1 << 20];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	ssize_t n;

	while (fd >= 0 && len < sizeof(buf) - 1 &&
	       (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t) n;
	buf[len] = '\0';
	if (fd >= 0)
		(void) close(fd);
	return buf;
}

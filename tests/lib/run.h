/* run.h - run a program (usually `mayfly`) from a test and capture what it did. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct run_result {
	int status; /* exit status, or 128+N when killed by signal N */
	char *out;  /* all of stdout, NUL-terminated (caller frees via run_result_free) */
	char *err;  /* all of stderr */
	double ms;  /* wall time */
};

/* Run argv (argv[0] searched in PATH) with stdin from /dev/null, capturing stdout and
 * stderr, killed (SIGKILL) after timeout_s seconds. extra_env: NULL-terminated "K=V"
 * strings added to the environment, or NULL. Aborts the test on fork/pipe failure. */
void run_argv(char *const *argv, char *const *extra_env, unsigned timeout_s,
	      struct run_result *res);
void run_result_free(struct run_result *res);

/* The mayfly under test: $MAYFLY_BIN, else build/mayfly; skips the test when missing. */
const char *mayfly_bin(void);
/* A fresh state dir path under the test's tmpdir (mayfly creates it). */
const char *test_state_dir(void);
/* Run `mayfly --state-dir <test state> exec [opts...] -- sh -c SCRIPT`, where opts is a
 * NULL-terminated list (may be NULL). Timeout 120 s. _in: from the directory cwd. */
void run_sandbox_sh(const char *const *opts, const char *script, struct run_result *res);
void run_sandbox_sh_in(const char *cwd, const char *const *opts, const char *script,
		       struct run_result *res);
/* printf-style shorthand: run a script in a default sandbox, return its exit status;
 * its stdout and stderr are printed as TAP comments when it is not 0. */
int sandbox_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Host processes whose /proc/<pid>/comm is comm (exact), or, with comm NULL, whose command
 * line contains marker and not "mayfly". */
int test_count_procs(const char *comm, const char *marker);

/* A loopback TCP port nothing listens on (bound, then released). */
int test_free_port(void);
/* Whether something accepts TCP connections on 127.0.0.1:port. */
bool test_port_accepts(int port);
/* Make root/rel holding content (parents too), or the directory root/rel when rel ends
 * in '/'. Fails the test on error. */
void test_put(const char *root, const char *rel, const char *content);

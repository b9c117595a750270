/* test.c - the harness's main(): runs every registered test in a forked child with a
 * time limit, prints TAP, and exits non-zero when any test failed. */
#include "test.h"

#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/err.h"
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

#include "util/cleanup.h"
#include "util/path.h"

#define MAX_TESTS 512

static struct {
	const char *name;
	test_fn *fn;
	const char *file;
} tests[MAX_TESTS];
static size_t ntests;
static char tmpdir[256];

void test_register(const char *name, test_fn *fn, const char *file)
{
	if (ntests >= MAX_TESTS) {
		(void) fprintf(stderr, "too many tests\n");
		abort();
	}
	tests[ntests].name = name;
	tests[ntests].fn = fn;
	tests[ntests].file = file;
	ntests++;
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	(void) fprintf(stderr, "# %s:%d: ", file, line);
	va_start(ap, fmt);
	(void) vfprintf(stderr, fmt, ap);
	va_end(ap);
	(void) fprintf(stderr, "\n");
	(void) fflush(stderr);
	_exit(1);
}

static void __attribute__((noreturn)) skip(bool host, const char *fmt, va_list ap)
{
	char reason[512];
	int fd;

	reason[0] = host ? '!' : ' ';
	(void) vsnprintf(reason + 1, sizeof(reason) - 1, fmt, ap);
	/* The parent prints the reason on the TAP line: hand it over through a file. */
	char path[300];
	(void) snprintf(path, sizeof(path), "%s/.skip", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		(void) !write(fd, reason, strlen(reason));
		(void) close(fd);
	}
	_exit(77);
}

void test_skip(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	skip(false, fmt, ap);
}

void test_skip_host(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	skip(true, fmt, ap);
}

const char *test_tmpdir(void)
{
	return tmpdir;
}

#ifdef __SANITIZE_ADDRESS__
static bool under_seccomp(void)
{
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return strstr(buf, "Seccomp:\t2") != NULL;
}
#endif

static unsigned timeout_seconds(void)
{
	const char *e = getenv("MAYFLY_TEST_TIMEOUT");
	long v = e ? strtol(e, NULL, 10) : 0;
	return v > 0 ? (unsigned) v : 300;
}

int main(int argc, char **argv)
{
	const char *filter = getenv("MAYFLY_TEST_FILTER");
	bool strict =
		getenv("MAYFLY_TEST_STRICT") && strcmp(getenv("MAYFLY_TEST_STRICT"), "1") == 0;
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	size_t nrun = 0;
	int failed = 0;

	(void) argc;
	(void) argv;
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; i < ntests; i++)
		if (!filter || strstr(tests[i].name, filter))
			nrun++;
	printf("1..%zu\n", nrun);
	nrun = 0;
	for (size_t i = 0; i < ntests; i++) {
		struct err err = { 0 };
		struct timespec t0, t1;
		int status = 0;
		pid_t pid;

		if (filter && !strstr(tests[i].name, filter))
			continue;
		nrun++;
		(void) snprintf(tmpdir, sizeof(tmpdir), "%s/mayfly-test-XXXXXX", base);
		if (!mkdtemp(tmpdir)) {
			printf("not ok %zu - %s # mkdtemp: %s\n", nrun, tests[i].name,
			       strerror(errno));
			failed++;
			continue;
		}
		(void) chmod(tmpdir, 0755);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		pid = fork();
		if (pid == 0) {
			(void) setpgid(0, 0);
			alarm(timeout_seconds());
			tests[i].fn();
			(void) fflush(NULL);
#ifdef __SANITIZE_ADDRESS__
			/* _exit() skips LeakSanitizer's exit-time check: ask for it now
			 * (not under a seccomp filter, which refuses the ptrace it needs). */
			if (!under_seccomp() && __lsan_do_recoverable_leak_check())
				_exit(1);
#endif
			_exit(0);
		}
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		(void) kill(-pid, SIGKILL); /* whatever the test left running in its group */
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double ms = (double) (t1.tv_sec - t0.tv_sec) * 1e3 +
			    (double) (t1.tv_nsec - t0.tv_nsec) / 1e6;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			printf("ok %zu - %s (%.0f ms)\n", nrun, tests[i].name, ms);
		} else if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
			char reason[512] = "  no reason given";
			char path[300];
			(void) snprintf(path, sizeof(path), "%s/.skip", tmpdir);
			cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd >= 0) {
				ssize_t n = read(fd, reason, sizeof(reason) - 1);
				reason[n > 0 ? n : 0] = '\0';
			}
			if (strict && reason[0] != '!') {
				printf("not ok %zu - %s # skipped under MAYFLY_TEST_STRICT: %s\n",
				       nrun, tests[i].name, reason + 1);
				failed++;
			} else
				printf("ok %zu - %s # SKIP %s\n", nrun, tests[i].name, reason + 1);
		} else {
			if (WIFSIGNALED(status))
				printf("not ok %zu - %s # killed by signal %d%s\n", nrun,
				       tests[i].name, WTERMSIG(status),
				       WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
			else
				printf("not ok %zu - %s # exit %d\n", nrun, tests[i].name,
				       WEXITSTATUS(status));
			failed++;
		}
		if (rm_rf_at(AT_FDCWD, tmpdir, &err) < 0)
			printf("# cleanup of test dir: %s\n", err.msg);
	}
	return failed ? 1 : 0;
}

/* fetch-child.c - a fetch with a deadline. libgit2 1.5 has no timeout for connect or read,
 * so the fetch runs in a child process that the parent kills when the deadline passes. A
 * fork without exec: the credential stays in memory, out of argv and the environment, and
 * nothing is loaded again. mayfly starts no thread before it spawns the sandbox and
 * libgit2 starts none, so the child is a faithful copy. Its struct err comes back through
 * a pipe: errors read as if the fetch had run in the caller. */
#include "checkout/checkout.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checkout/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/banned.h"

struct child_result {
	int r;
	struct err err;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	(void) clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void __attribute__((noreturn)) child(int wfd, checkout_child_fn *fn, void *arg)
{
	struct child_result res = { 0 };

	/* The parent decides how long this may take; a terminal's ^C reaches both anyway. */
	(void) signal(SIGPIPE, SIG_IGN);
	res.r = fn(arg, &res.err);
	(void) fd_write_all(wfd, &res, sizeof(res));
	_exit(0);
}

/* Wait for the child's result until deadline_ms (0: forever). 0 done, -ETIMEDOUT. */
static int wait_result(int rfd, int64_t deadline_ms, struct child_result *res, bool *got)
{
	size_t have = 0;

	*got = false;
	for (;;) {
		struct pollfd p = { .fd = rfd, .events = POLLIN };
		int64_t left = deadline_ms ? deadline_ms - mono_ms() : -1;
		ssize_t n;

		if (deadline_ms && left <= 0)
			return -ETIMEDOUT;
		int k = poll(&p, 1, left < 0 ? -1 : (int) (left > 60000 ? 60000 : left));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			continue; /* an error here would spin; poll on one pipe does not fail */
		n = read(rfd, (char *) res + have, sizeof(*res) - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0; /* EOF: the child is gone, with or without a result */
		have += (size_t) n;
		if (have == sizeof(*res)) {
			*got = true;
			return 0;
		}
	}
}

int checkout_run_child(checkout_child_fn *fn, void *arg, unsigned timeout_s, const char *shown,
		       struct err *err)
{
	int64_t deadline = timeout_s ? mono_ms() + (int64_t) timeout_s * 1000 : 0;
	struct child_result res = { 0 };
	cleanup_close int rfd = -1;
	int fds[2], status = 0, fork_errno, r;
	pid_t pid;
	bool got;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return err_set(err, errno, "fetch '%s': pipe", shown);
	(void) fflush(NULL); /* nothing buffered is written twice */
	pid = fork();
	fork_errno = errno;
	if (pid == 0) {
		(void) close(fds[0]);
		child(fds[1], fn, arg);
	}
	(void) close(fds[1]);
	rfd = fds[0];
	if (pid < 0)
		return err_set(err, fork_errno, "fetch '%s': fork", shown);
	r = wait_result(rfd, deadline, &res, &got);
	if (r == -ETIMEDOUT) {
		killp(&pid); /* SIGKILL and reap: what it wrote is the caller's to clean */
		return err_set(err, ETIMEDOUT,
			       "fetch from '%s' did not finish in %u s: the remote is slow or "
			       "unreachable; raise --fetch-timeout",
			       shown, timeout_s);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!got) {
		if (WIFSIGNALED(status))
			return err_set(err, EIO,
				       "fetch '%s': the fetching process died (signal %d)", shown,
				       WTERMSIG(status));
		return err_set(err, EIO, "fetch '%s': the fetching process exited (status %d)",
			       shown, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	}
	if (res.r >= 0)
		return res.r;
	if (res.err.code == 0)
		return err_set(err, -res.r, "fetch '%s'", shown);
	res.err.msg[sizeof(res.err.msg) - 1] = '\0';
	*err = res.err;
	return res.r;
}

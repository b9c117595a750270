/* mask.c - the masking relay: when a sandbox has secrets, the job's stdout and stderr are
 * pipes read by a relay process that mayfly forks before the sandbox starts; it passes
 * everything through secret_masker (one per stream) to mayfly's own stdout and stderr,
 * until both pipes reach end of file. A process, not a thread: pid 1 is cloned with a raw
 * clone() and then changes its ids, which in a process with threads makes glibc wait for
 * every thread to follow (setxid broadcast), forever; a relay thread hung it. */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "secrets/secrets.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/xalloc.h"
#include "util/banned.h"

struct sandbox_mask {
	const struct secret_lease *lease;
	pid_t relay; /* 0 until sandbox_mask_run() */
	int w[2];    /* the pipes' write ends: the job's stdout and stderr */
	int r[2];    /* their read ends, for the relay */
	int out[2];  /* where the masked output goes (borrowed) */
};

static int write_out(void *userdata, const void *buf, size_t len)
{
	return fd_write_all(*(const int *) userdata, buf, len);
}

static void __attribute__((noreturn))
relay(const struct secret_lease *lease, const int in[2], const int out[2])
{
	static char buf[65536];
	struct secret_masker *m[2] = { secret_masker_new(), secret_masker_new() };
	struct err err = { 0 };
	bool open_[2] = { true, true };
	int out_fd[2] = { out[0], out[1] };

	/* A Ctrl-C meant for the job reaches us too: keep draining until the job is gone. */
	for (int s = 0, list[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE };
	     s < 7; s++)
		(void) signal(list[s], SIG_IGN);
	for (int i = 0; i < 2; i++)
		if (secret_masker_add_lease(m[i], lease, &err) < 0)
			_exit(1);
	while (open_[0] || open_[1]) {
		struct pollfd p[2] = { { .fd = open_[0] ? in[0] : -1, .events = POLLIN },
				       { .fd = open_[1] ? in[1] : -1, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		for (int i = 0; i < 2; i++) {
			if (!open_[i] || !p[i].revents)
				continue;
			ssize_t n = read(in[i], buf, sizeof(buf));
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0) {
				(void) secret_masker_flush(m[i], write_out, &out_fd[i]);
				open_[i] = false;
				continue;
			}
			/* A reader that went away loses the rest; the job keeps running. */
			(void) secret_masker_feed(m[i], buf, (size_t) n, write_out, &out_fd[i]);
		}
	}
	secret_masker_free(m[0]);
	secret_masker_free(m[1]);
	_exit(0);
}

int sandbox_mask_start(const struct secret_lease *lease, int stdio[3], struct sandbox_mask **ret,
		       struct err *err)
{
	struct sandbox_mask *m;
	int p_out[2], p_err[2];

	if (pipe2(p_out, O_CLOEXEC) < 0)
		return err_set(err, errno, "pipe for the job's output");
	if (pipe2(p_err, O_CLOEXEC) < 0) {
		(void) close(p_out[0]);
		(void) close(p_out[1]);
		return err_set(err, errno, "pipe for the job's output");
	}
	m = xcalloc(1, sizeof(*m));
	m->lease = lease;
	m->r[0] = p_out[0];
	m->r[1] = p_err[0];
	m->out[0] = stdio[1];
	m->out[1] = stdio[2];
	m->w[0] = stdio[1] = p_out[1];
	m->w[1] = stdio[2] = p_err[1];
	*ret = m;
	return 0;
}

/* Fork the relay. Called once the job runs (its output waits in the pipes meanwhile), so
 * the fork is not on the way to the job's start; the child keeps only its pipes and
 * outputs. */
void sandbox_mask_run(void *userdata)
{
	struct sandbox_mask *m = userdata;
	pid_t pid;

	if (!m || m->relay)
		return;
	pid = fork();
	if (pid == 0) {
		int keep[4] = { m->r[0], m->r[1], m->out[0], m->out[1] };
		(void) fd_close_all(3, keep, 4);
		relay(m->lease, m->r, m->out);
	}
	m->relay = pid < 0 ? -1 : pid;
	(void) close(m->r[0]);
	(void) close(m->r[1]);
	m->r[0] = m->r[1] = -1;
}

void sandbox_mask_finish(struct sandbox_mask *m)
{
	if (!m)
		return;
	sandbox_mask_run(m); /* the sandbox failed before its job ran: drain all the same */
	(void) close(m->w[0]);
	(void) close(m->w[1]);
	while (m->relay > 0 && waitpid(m->relay, NULL, 0) < 0 && errno == EINTR)
		;
	free(m);
}

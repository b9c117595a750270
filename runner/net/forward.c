/* forward.c - the proxy process's fixed-destination mode: every connection accepted on
 * the sandbox's listening socket is piped to one address mayfly resolved and checked on
 * the host (a postgres-role lease's database), nothing else. One child per connection,
 * at most FWD_MAX at once; each writes one audit line ("kind":"forward") when it ends,
 * also when the sandbox's end stops it. */
#include "net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net/internal.h"
#include "util/cleanup.h"
#include "util/json.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define FWD_MAX	  64
#define FWD_CHUNK 65536

static int64_t now_ms(void)
{
	struct timespec ts;

	(void) clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void audit(const struct net_proxy_config *cfg, const char *decision, uint64_t up,
		  uint64_t down, int64_t t0, const char *reason)
{
	char day[32], when[48], port[16];
	struct timespec ts;
	struct tm tm;

	if (cfg->audit_fd < 0)
		return;
	(void) clock_gettime(CLOCK_REALTIME, &ts);
	(void) gmtime_r(&ts.tv_sec, &tm);
	(void) strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	(void) snprintf(when, sizeof(when), "%s.%03ldZ", day, ts.tv_nsec / 1000000);
	(void) snprintf(port, sizeof(port), "%u", cfg->forward_port);
	struct json_w *w = json_w_new();
	json_w_obj_open(w, NULL);
	json_w_str(w, "kind", "forward");
	json_w_str(w, "time", when);
	json_w_str(w, "sandbox", cfg->sandbox_id);
	json_w_str(w, "decision", decision);
	json_w_str(w, "addr", cfg->forward_ip);
	json_w_i64(w, "port", cfg->forward_port);
	json_w_i64(w, "bytes_up", (int64_t) up);
	json_w_i64(w, "bytes_down", (int64_t) down);
	json_w_i64(w, "duration_ms", now_ms() - t0);
	json_w_str(w, "reason", reason);
	json_w_obj_close(w);
	cleanup_free char *text = json_w_done(w);
	cleanup_free char *line = xasprintf("%s\n", text);
	/* One write() on an O_APPEND fd: lines never interleave. */
	(void) !write(cfg->audit_fd, line, strlen(line));
}

static int dial(const struct net_proxy_config *cfg, const char **ret_reason)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *in4 = (struct sockaddr_in *) &ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &ss;
	socklen_t len;
	int fd;

	if (inet_pton(AF_INET, cfg->forward_ip, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t) cfg->forward_port);
		len = sizeof(*in4);
	} else if (inet_pton(AF_INET6, cfg->forward_ip, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t) cfg->forward_port);
		len = sizeof(*in6);
	} else {
		*ret_reason = "bad address";
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*ret_reason = strerror(errno);
		return -1;
	}
	if (connect(fd, (struct sockaddr *) &ss, len) < 0) {
		*ret_reason = strerror(errno);
		(void) close(fd);
		return -1;
	}
	return fd;
}

/* In a child: pipe cfd <-> the destination until both sides are done or SIGTERM. */
static void __attribute__((noreturn))
serve_one(const struct net_proxy_config *cfg, int cfd, int term_fd)
{
	static char buf[FWD_CHUNK];
	const char *reason = NULL;
	uint64_t counts[2] = { 0, 0 };
	int64_t t0 = now_ms();
	int ufd = dial(cfg, &reason);
	bool open_[2] = { true, true }; /* [0] job -> db, [1] db -> job */

	if (ufd < 0) {
		audit(cfg, "error", 0, 0, t0, reason);
		_exit(0);
	}
	while (open_[0] || open_[1]) {
		struct pollfd p[3] = { { open_[0] ? cfd : -1, POLLIN, 0 },
				       { open_[1] ? ufd : -1, POLLIN, 0 },
				       { term_fd, POLLIN, 0 } };
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[2].revents) {
			reason = "open when the sandbox ended";
			break;
		}
		for (int d = 0; d < 2; d++) {
			int from = d ? ufd : cfd, to = d ? cfd : ufd;
			if (!p[d].revents)
				continue;
			ssize_t n = read(from, buf, sizeof(buf));
			if (n <= 0) {
				open_[d] = false;
				(void) shutdown(to, SHUT_WR);
				continue;
			}
			for (ssize_t off = 0; off < n;) {
				ssize_t m = write(to, buf + off, (size_t) (n - off));
				if (m < 0 && errno == EINTR)
					continue;
				if (m <= 0) {
					open_[0] = open_[1] = false;
					break;
				}
				off += m;
			}
			counts[d] += (uint64_t) n;
		}
	}
	audit(cfg, "allow", counts[0], counts[1], t0, reason);
	_exit(0);
}

void net_forward_serve(const struct net_proxy_config *cfg, int term_fd)
{
	pid_t kids[FWD_MAX] = { 0 };
	unsigned active = 0;
	sigset_t chld;
	int chld_fd;

	/* SIGCHLD from a signalfd, so children are reaped and counted in the loop. */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	(void) sigprocmask(SIG_BLOCK, &chld, NULL);
	chld_fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (chld_fd < 0)
		_exit(1);
	for (;;) {
		struct pollfd p[3] = { { active < FWD_MAX ? cfg->listen_fd : -1, POLLIN, 0 },
				       { term_fd, POLLIN, 0 },
				       { chld_fd, POLLIN, 0 } };
		if (poll(p, 3, -1) < 0 && errno != EINTR)
			_exit(1);
		if (p[1].revents) {
			/* The sandbox ended: each child writes its line, then we go. */
			for (unsigned i = 0; i < FWD_MAX; i++)
				if (kids[i] > 0)
					(void) kill(kids[i], SIGTERM);
			while (wait(NULL) > 0 || errno == EINTR)
				;
			_exit(0);
		}
		if (p[2].revents) {
			struct signalfd_siginfo si;
			while (read(chld_fd, &si, sizeof(si)) > 0)
				;
			pid_t w;
			while ((w = waitpid(-1, NULL, WNOHANG)) > 0)
				for (unsigned i = 0; i < FWD_MAX; i++)
					if (kids[i] == w) {
						kids[i] = 0;
						active--;
					}
		}
		if (!(p[0].revents & POLLIN))
			continue;
		int cfd = accept4(cfg->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0)
			continue;
		pid_t pid = fork();
		if (pid == 0) {
			/* SIGTERM stays blocked (from term_fd's mask) and is read from a
			 * signalfd of our own; the proxy's death sends it too. */
			sigset_t term;
			sigemptyset(&term);
			sigaddset(&term, SIGTERM);
			int tfd = signalfd(-1, &term, SFD_CLOEXEC | SFD_NONBLOCK);
			(void) prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
			(void) close(cfg->listen_fd);
			(void) close(term_fd);
			(void) close(chld_fd);
			serve_one(cfg, cfd, tfd);
		}
		for (unsigned i = 0; pid > 0 && i < FWD_MAX; i++)
			if (kids[i] == 0) {
				kids[i] = pid;
				active++;
				break;
			}
		(void) close(cfd);
	}
}

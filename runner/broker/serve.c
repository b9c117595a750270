/* serve.c - the broker's process: bind, fork, drop privileges, and one poll() loop that
 * serves every connection, bounded in size, time and rate. */
#include "broker/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define READ_CHUNK 65536

static struct broker_limits with_defaults(const struct broker_limits *l)
{
	struct broker_limits d = *l;

#define DEF(f, v)                                                                                  \
	if (!d.f)                                                                                  \
		d.f = (v);
	DEF(max_body, 1u << 20);
	DEF(max_request, d.max_body / 3 * 4 + BROKER_MAX_META + 64);
	DEF(max_response, 8u << 20);
	DEF(max_clients, 32);
	DEF(request_ms, 10000);
	DEF(idle_ms, 60000);
	DEF(upstream_ms, 30000);
	DEF(rate_per_s, 20);
	DEF(burst, 50);
	DEF(global_rate_per_s, 100);
	DEF(global_burst, 200);
#undef DEF
	return d;
}

void broker_conn_reply(struct broker_conn *c, char *line)
{
	size_t n = strlen(line);

	if (c->out_off == c->out_len) {
		free(c->out);
		c->out = NULL;
		c->out_len = c->out_off = 0;
	}
	c->out = xrealloc(c->out, c->out_len + n + 1);
	memcpy(c->out + c->out_len, line, n);
	c->out[c->out_len + n] = '\n';
	c->out_len += n + 1;
	free(line);
}

static void conn_close(struct broker_conn *c)
{
	c->fd = safe_close(c->fd);
	free(c->in);
	free(c->out);
	c->in = c->out = NULL;
	c->in_len = c->out_len = c->out_off = 0;
	c->busy = c->closing = false;
	c->gen++;
}

static bool take_token(double *tokens, uint64_t *refill, unsigned rate, unsigned burst,
		       uint64_t now)
{
	*tokens += (double) (now - *refill) * rate / 1000.0;
	if (*tokens > burst)
		*tokens = burst;
	*refill = now;
	if (*tokens < 1.0)
		return false;
	*tokens -= 1.0;
	return true;
}

/* Refuse a connection or a request: an answer, an audit line, and (close) hang up once
 * the answer is out. */
static void refuse(struct broker_server *s, struct broker_conn *c, const char *why, bool close)
{
	const struct broker_audit a = { .pid = c->pid, .start_ms = broker_now_ms(), .reason = why };

	(void) broker_audit_write(s, &a);
	broker_conn_reply(c, broker_error_json(why));
	if (close)
		c->closing = true;
}

/* PPid and the number of NSpid entries (pid-namespace depth) of pid; false when gone. */
static bool proc_status(pid_t pid, pid_t *ret_ppid, unsigned *ret_depth)
{
	char path[64];
	cleanup_free char *text = NULL;
	size_t len;
	struct err err = { 0 };
	const char *pp, *ns;

	(void) snprintf(path, sizeof(path), "/proc/%d/status", (int) pid);
	if (read_file_at(AT_FDCWD, path, 16384, &text, &len, &err) < 0)
		return false;
	pp = strstr(text, "\nPPid:");
	ns = strstr(text, "\nNSpid:");
	if (!pp || !ns)
		return false;
	*ret_ppid = (pid_t) strtol(pp + 6, NULL, 10);
	*ret_depth = 0;
	for (const char *p = ns + 7; *p && *p != '\n'; p++)
		if ((p[0] == ' ' || p[0] == '\t') && p[1] >= '0' && p[1] <= '9')
			(*ret_depth)++;
	return true;
}

/* Whether pid is init or one of its descendants, at init's pid-namespace depth: inside a
 * pid namespace every orphan is adopted by its init, so the chain of parents of a process
 * of the sandbox ends there. */
static bool descends_from(pid_t pid, pid_t init)
{
	pid_t ppid;
	unsigned depth, init_depth;

	if (!proc_status(init, &ppid, &init_depth) || !proc_status(pid, &ppid, &depth) ||
	    depth != init_depth)
		return false;
	for (int hops = 0; hops < 4096 && pid > 1; hops++) {
		if (pid == init)
			return true;
		if (!proc_status(pid, &ppid, &depth))
			return false;
		pid = ppid;
	}
	return pid == init;
}

/* SECURITY: the socket is bound into one sandbox, but say who we serve rather than trust
 * where the socket is: the peer's uid and pid namespace, as the kernel reports them. */
static int check_peer(const struct broker_server *s, struct broker_conn *c, char *why, size_t size)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char path[64];
	struct stat st;

	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		(void) snprintf(why, size, "peer check: SO_PEERCRED: %s", strerror(errno));
		return -EACCES;
	}
	c->pid = cred.pid;
	c->uid = cred.uid;
	if (s->cfg->peer_uid != (uid_t) -1 && cred.uid != s->cfg->peer_uid) {
		(void) snprintf(why, size, "peer check: uid %u is not the sandbox's (%u)",
				(unsigned) cred.uid, (unsigned) s->cfg->peer_uid);
		return -EACCES;
	}
	if (s->cfg->peer_pidns_ino) {
		(void) snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int) cred.pid);
		if (stat(path, &st) == 0) {
			if ((uint64_t) st.st_ino != s->cfg->peer_pidns_ino) {
				(void) snprintf(why, size,
						"peer check: pid %d is not in the sandbox's pid "
						"namespace",
						(int) cred.pid);
				return -EACCES;
			}
			return 0;
		}
		if (errno != EACCES || s->cfg->peer_init_pid <= 0) {
			(void) snprintf(why, size,
					"peer check: cannot read the pid namespace of pid %d (%s)",
					(int) cred.pid, strerror(errno));
			return -EACCES;
		}
	}
	if (s->cfg->peer_init_pid > 0 && !descends_from(cred.pid, s->cfg->peer_init_pid)) {
		(void) snprintf(why, size,
				"peer check: pid %d is not in the sandbox's pid namespace (not a "
				"descendant of its init at the same depth)",
				(int) cred.pid);
		return -EACCES;
	}
	return 0;
}

static void do_accept(struct broker_server *s, int lfd)
{
	cleanup_close int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	struct broker_conn *c = NULL;
	char why[256];
	uint64_t now = broker_now_ms();

	if (fd < 0)
		return;
	for (size_t i = 0; i < s->n_conns && !c; i++)
		if (s->conns[i].fd < 0)
			c = &s->conns[i];
	if (!c) {
		/* Every slot taken: answer on the spot, best effort, and hang up. */
		static const char full[] = "{\"ok\":false,\"error\":\"too many connections\"}\n";
		const struct broker_audit a = { .start_ms = now, .reason = "too many connections" };
		(void) !send(fd, full, sizeof(full) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		(void) broker_audit_write(s, &a);
		return;
	}
	c->fd = TAKE_FD(fd);
	c->last_ms = now;
	c->req_start_ms = 0;
	c->tokens = s->lim.burst;
	c->refill_ms = now;
	if (check_peer(s, c, why, sizeof(why)) < 0)
		refuse(s, c, why, true);
}

/* Complete lines in c->in, one request each, while the connection is not waiting on an
 * upstream request. */
static void process_lines(struct broker_server *s, size_t i)
{
	struct broker_conn *c = &s->conns[i];
	size_t off = 0;

	if (!c->in)
		return; /* nothing read yet */
	while (!c->busy && !c->closing && off < c->in_len) {
		char *nl = memchr(c->in + off, '\n', c->in_len - off);
		uint64_t now = broker_now_ms();
		size_t len;
		if (!nl)
			break;
		len = (size_t) (nl - (c->in + off));
		if (len > 0 && c->in[off + len - 1] == '\r')
			len--;
		if (len == 0) {
			off = (size_t) (nl - c->in) + 1;
			continue;
		}
		if (!take_token(&c->tokens, &c->refill_ms, s->lim.rate_per_s, s->lim.burst, now))
			refuse(s, c, "rate limit: too many requests on this connection", false);
		else if (!take_token(&s->tokens, &s->refill_ms, s->lim.global_rate_per_s,
				     s->lim.global_burst, now))
			refuse(s, c, "rate limit: too many requests to the broker", false);
		else
			broker_handle(s, i, c->in + off, len);
		c->last_ms = broker_now_ms();
		off = (size_t) (nl - c->in) + 1;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	c->req_start_ms = c->in_len ? (c->req_start_ms ? c->req_start_ms : broker_now_ms()) : 0;
}

static void do_read(struct broker_server *s, size_t i)
{
	struct broker_conn *c = &s->conns[i];
	ssize_t n;

	if (!c->in)
		c->in = xmalloc(s->lim.max_request + 2);
	n = read(c->fd, c->in + c->in_len, s->lim.max_request + 1 - c->in_len);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		if (c->busy) /* the job finds the slot's generation changed */
			c->closing = true;
		conn_close(c);
		return;
	}
	if (n < 0)
		return;
	if (c->in_len == 0)
		c->req_start_ms = broker_now_ms();
	c->in_len += (size_t) n;
	c->last_ms = broker_now_ms();
	process_lines(s, i);
	if (c->in_len > s->lim.max_request) {
		char why[128];
		(void) snprintf(why, sizeof(why), "request larger than %zu bytes",
				s->lim.max_request);
		c->in_len = 0;
		refuse(s, c, why, true);
	}
}

static void do_write(struct broker_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			conn_close(c);
			return;
		}
		c->out_off += (size_t) n;
		c->last_ms = broker_now_ms();
	}
	if (c->closing)
		conn_close(c);
}

static void check_time(struct broker_server *s, size_t i, uint64_t now)
{
	struct broker_conn *c = &s->conns[i];
	char why[128];

	if (c->fd < 0 || c->busy)
		return;
	if (c->in_len && c->req_start_ms && now - c->req_start_ms > s->lim.request_ms) {
		(void) snprintf(why, sizeof(why), "request not complete within %u ms",
				s->lim.request_ms);
		c->in_len = 0;
		refuse(s, c, why, true);
		c->last_ms = now;
	} else if (now - c->last_ms > (c->closing ? s->lim.request_ms : s->lim.idle_ms))
		conn_close(c); /* idle, or not reading its answer */
}

int broker_serve(const struct broker_config *cfg, int listen_fd, int audit_fd, struct err *err)
{
	struct broker_server s = { .cfg = cfg, .audit_fd = audit_fd };
	cleanup_free struct pollfd *pfd = NULL;
	cleanup_close int w0 = -1, w1 = -1;

	if (sodium_init() < 0)
		return err_set(err, EIO, "libsodium failed to initialise");
	s.lim = with_defaults(&cfg->limits);
	if (pipe2(s.wake, O_CLOEXEC | O_NONBLOCK) < 0)
		return err_set(err, errno, "broker: pipe");
	/* Closed when the loop ends (it returns only on a fatal error). */
	w0 = s.wake[0];
	w1 = s.wake[1];
	s.wake[0] = w0;
	s.wake[1] = w1;
	s.n_conns = s.lim.max_clients;
	s.conns = xcalloc(s.n_conns, sizeof(*s.conns));
	for (size_t i = 0; i < s.n_conns; i++)
		s.conns[i].fd = -1;
	s.tokens = s.lim.global_burst;
	s.refill_ms = broker_now_ms();
	pfd = xcalloc(s.n_conns + 2, sizeof(*pfd));
	(void) fd_set_cloexec(listen_fd, 1);
	(void) fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
	for (;;) {
		size_t n = 0;
		bool any = false;
		pfd[n++] = (struct pollfd){ .fd = listen_fd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = s.wake[0], .events = POLLIN };
		for (size_t i = 0; i < s.n_conns; i++) {
			struct broker_conn *c = &s.conns[i];
			short ev = 0;
			if (c->fd >= 0) {
				any = true;
				if (c->out_off < c->out_len)
					ev |= POLLOUT;
				else if (!c->busy && !c->closing)
					ev |= POLLIN;
			}
			pfd[n++] = (struct pollfd){ .fd = ev ? c->fd : -1, .events = ev };
		}
		if (poll(pfd, n, any ? 200 : -1) < 0) {
			if (errno == EINTR)
				continue;
			return err_set(err, errno, "broker: poll");
		}
		if (pfd[1].revents & POLLIN) {
			void *job;
			while (read(s.wake[0], &job, sizeof(job)) == (ssize_t) sizeof(job))
				broker_job_done(&s, job);
		}
		for (size_t i = 0; i < s.n_conns; i++) {
			struct broker_conn *c = &s.conns[i];
			short re = pfd[i + 2].revents;
			if (c->fd < 0 || pfd[i + 2].fd < 0)
				continue;
			if (re & POLLOUT)
				do_write(c);
			else if (re & (POLLIN | POLLHUP | POLLERR))
				do_read(&s, i);
			if (c->fd >= 0 && !c->busy && c->out_off == c->out_len)
				process_lines(&s, i); /* pipelined requests left waiting */
			if (c->fd >= 0 && c->out_off < c->out_len)
				do_write(c);
		}
		if (pfd[0].revents & POLLIN)
			do_accept(&s, listen_fd);
		uint64_t now = broker_now_ms();
		for (size_t i = 0; i < s.n_conns; i++)
			check_time(&s, i, now);
	}
}

static int bind_socket(const char *path, int *ret_fd, struct err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	cleanup_close int fd = -1;
	struct stat st;

	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(err, ENAMETOOLONG, "broker socket '%s': path too long", path);
	memcpy(sa.sun_path, path, strlen(path));
	/* A socket left by a dead broker is replaced; anything else is not ours to remove. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return err_set(err, EEXIST,
				       "broker socket '%s': exists and is not a socket", path);
		(void) unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(err, errno, "broker socket: socket");
	if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
		return err_set(err, errno, "broker socket '%s': bind", path);
	/* Anyone who can reach the file may connect (the sandbox's root is an unprivileged
	 * host uid); the directory the caller made guards it, and the peer check decides. */
	if (chmod(path, 0666) < 0 || listen(fd, 64) < 0)
		return err_set(err, errno, "broker socket '%s': chmod/listen", path);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

struct report {
	int code;
	char msg[ERR_MSG_MAX];
};

static int drop_privileges(const struct broker_config *cfg, struct err *err)
{
	struct rlimit core = { 0, 0 };

	(void) setrlimit(RLIMIT_CORE, &core);
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return err_set(err, errno, "broker: PR_SET_DUMPABLE");
	if (geteuid() == 0 && cfg->run_as_uid != (uid_t) -1) {
		gid_t gid = cfg->run_as_gid != (gid_t) -1 ? cfg->run_as_gid : cfg->run_as_uid;
		if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
		    setresuid(cfg->run_as_uid, cfg->run_as_uid, cfg->run_as_uid) < 0)
			return err_set(err, errno, "broker: drop to uid %u",
				       (unsigned) cfg->run_as_uid);
		if (setresuid(0, 0, 0) == 0)
			return err_set(err, EPERM, "broker: could regain root after the drop");
		/* setresuid() clears the dumpable flag only sometimes: set it again. */
		(void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return err_set(err, errno, "broker: PR_SET_NO_NEW_PRIVS");
	return 0;
}

int broker_spawn(const struct broker_config *cfg, pid_t *ret_pid, struct err *err)
{
	cleanup_close int lfd = -1, afd = -1, rd = -1, wr = -1;
	int p[2];
	pid_t parent = getpid(), pid;
	struct report rep = { 0 };
	int r;

	for (size_t i = 0; i < cfg->n_grants; i++) {
		if (!cfg->grants[i]->value)
			return err_set(err, EINVAL, "broker: grant '%s' has no value",
				       broker_grant_name(cfg->grants[i]));
		for (size_t k = 0; k < i; k++)
			if (strcmp(broker_grant_name(cfg->grants[i]),
				   broker_grant_name(cfg->grants[k])) == 0)
				return err_set(err, EINVAL,
					       "broker: '%s' is granted twice; give one grant per "
					       "secret",
					       broker_grant_name(cfg->grants[i]));
	}
	r = bind_socket(cfg->socket_path, &lfd, err);
	if (r < 0)
		return r;
	afd = open(cfg->audit_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (afd < 0)
		return err_set(err, errno, "broker: open audit log '%s'", cfg->audit_path);
	if (pipe2(p, O_CLOEXEC) < 0)
		return err_set(err, errno, "broker: pipe");
	rd = p[0];
	wr = p[1];
	pid = fork();
	if (pid < 0)
		return err_set(err, errno, "broker: fork");
	if (pid == 0) {
		struct err e = { 0 };
		const int keep[] = { lfd, afd, wr };
		(void) signal(SIGPIPE, SIG_IGN);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
			_exit(1);
		(void) fd_close_all(3, keep, 3);
		/* Nothing of mayfly's environment steers libcurl or the TLS library (a
		 * proxy, a key log file): the broker needs none of it. */
		(void) clearenv();
		if (drop_privileges(cfg, &e) < 0) {
			rep.code = e.code;
			(void) snprintf(rep.msg, sizeof(rep.msg), "%s", e.msg);
		}
		(void) fd_write_all(wr, &rep, sizeof(rep));
		if (rep.code)
			_exit(1);
		(void) close(wr);
		(void) broker_serve(cfg, lfd, afd, &e);
		_exit(1);
	}
	(void) safe_close(TAKE_FD(wr)); /* EOF on rd if the child dies before it reports */
	if (fd_read_exact(rd, &rep, sizeof(rep)) < 0) {
		(void) kill(pid, SIGKILL);
		(void) waitpid(pid, NULL, 0);
		return err_set(err, EIO, "broker: the child died while starting");
	}
	if (rep.code) {
		(void) waitpid(pid, NULL, 0);
		rep.msg[sizeof(rep.msg) - 1] = '\0';
		return err_set(err, rep.code, "%s", rep.msg);
	}
	*ret_pid = pid;
	return 0;
}

/* proxy-start.c - the life of the egress proxy process: mayfly forks it, the child drops
 * fds, ids and privileges and executes the running binary afresh (so the process that
 * parses the job's bytes holds nothing of mayfly's memory), net_proxy_main() rebuilds the
 * allowlist from its argv and serves (proxy.c); teardown stops it with SIGTERM. */
#include "net/net.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define NOFILE (4 * 256 + 64) /* MAX_CONNS: a client, an origin or a lookup each, twice */

#ifndef SYS_execveat
#define SYS_execveat 322
#endif

/* In the forked child: everything but the exec. */
static int become_proxy(const struct net_proxy_config *cfg, pid_t parent, int report_fd, int exe_fd,
			struct err *err)
{
	int keep[4] = { cfg->listen_fd, cfg->audit_fd, report_fd, exe_fd };
	struct rlimit nofile = { NOFILE, NOFILE };
	sigset_t term;
	int r;

	/* SIGTERM is taken from a signalfd (proxy.c's finish()); the mask and SIGPIPE's
	 * disposition survive the exec. */
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	(void) sigprocmask(SIG_SETMASK, &term, NULL);
	(void) signal(SIGPIPE, SIG_IGN);
	r = fd_close_all(3, keep, 4);
	if (r < 0)
		return err_set(err, -r, "close inherited file descriptors");
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull >= 0) {
		(void) dup2(devnull, STDIN_FILENO);
		(void) dup2(devnull, STDOUT_FILENO);
		if (devnull > 2)
			(void) close(devnull);
	}
	(void) setrlimit(RLIMIT_NOFILE, &nofile);
	if (cfg->drop_ids) {
		if (setgroups(0, NULL) < 0)
			return err_set(err, errno, "drop supplementary groups");
		if (setresgid(cfg->gid, cfg->gid, cfg->gid) < 0)
			return err_set(err, errno, "set gid %u", (unsigned) cfg->gid);
		if (setresuid(cfg->uid, cfg->uid, cfg->uid) < 0)
			return err_set(err, errno, "set uid %u", (unsigned) cfg->uid);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return err_set(err, errno, "set no_new_privs");
	(void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* Changing ids cleared the parent-death signal: arm it (again; an exec keeps it),
	 * then make sure mayfly did not die before it was armed. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
		return err_set(err, ESRCH, "mayfly went away");
	if (cfg->harden) {
		r = cfg->harden(cfg->harden_data);
		if (r < 0)
			return err_set(err, -r, "harden the egress proxy");
	}
	if (fd_set_cloexec(cfg->listen_fd, 0) < 0 ||
	    (cfg->audit_fd >= 0 && fd_set_cloexec(cfg->audit_fd, 0) < 0))
		return err_set(err, errno, "pass the sockets on");
	return 0;
}

int net_proxy_start(const struct net_proxy_config *cfg, pid_t *ret_pid, struct err *err)
{
	cleanup_close int rd = -1, wr = -1;
	/* Opened now, as whoever runs mayfly: after the id change the path may be out of
	 * reach, the file itself is not (mode 0755). */
	cleanup_close int exe = open("/proc/self/exe", O_PATH | O_CLOEXEC);
	pid_t parent = getpid(), pid;
	int p[2];

	if (exe < 0)
		return err_set(err, errno, "open '/proc/self/exe' for the egress proxy");
	if (pipe2(p, O_CLOEXEC) < 0)
		return err_set(err, errno, "pipe");
	rd = p[0];
	wr = p[1];
	pid = fork();
	if (pid < 0)
		return err_set(err, errno, "fork the egress proxy");
	if (pid == 0) {
		struct err e2 = { 0 };
		char lfd[16], afd[16];
		char *const *pats = cfg->allow ? net_allow_patterns(cfg->allow) : NULL;
		size_t n = strv_len(pats);
		char **argv = xcalloc(n + 8, sizeof(char *));
		char fport[16];
		char *envp[] = { NULL };

		(void) prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		(void) snprintf(lfd, sizeof(lfd), "%d", cfg->listen_fd);
		(void) snprintf(afd, sizeof(afd), "%d", cfg->audit_fd);
		argv[0] = (char *) NET_PROXY_ARGV0;
		argv[1] = lfd;
		argv[2] = afd;
		argv[3] = (char *) cfg->sandbox_id;
		if (cfg->forward_ip) {
			(void) snprintf(fport, sizeof(fport), "%u", cfg->forward_port);
			argv[4] = (char *) "f";
			argv[5] = (char *) cfg->forward_ip;
			argv[6] = fport;
		} else {
			argv[4] = (char *) (net_allow_private(cfg->allow) ? "1" : "0");
			for (size_t i = 0; pats && i < n; i++)
				argv[5 + i] = pats[i];
		}
		if (become_proxy(cfg, parent, wr, exe, &e2) == 0) {
			(void) syscall(SYS_execveat, exe, "", argv, envp, AT_EMPTY_PATH);
			(void) err_set(&e2, errno, "execute '/proc/self/exe'");
		}
		(void) fd_write_all(wr, &e2, sizeof(e2));
		_exit(1);
	}
	(void) safe_close(TAKE_FD(wr));
	struct err e2 = { 0 };
	int r = fd_read_exact(rd, &e2, sizeof(e2));
	if (r == -EPIPE) {
		*ret_pid = pid;
		return 0; /* closed without a report: the exec worked */
	}
	(void) kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	if (r < 0)
		return err_set(err, -r, "start the egress proxy");
	e2.msg[sizeof(e2.msg) - 1] = '\0';
	return err_set(err, e2.code ? e2.code : EIO, "egress proxy: %s", e2.msg);
}

int net_proxy_main(int argc, char **argv)
{
	CLEANUP(net_allow_freep) struct net_allow *allow = NULL;
	struct err err = { 0 };
	int lfd, afd, listening = 0, term_fd;
	socklen_t len = sizeof(listening);
	sigset_t term;

	/* An exec made us dumpable again. */
	(void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	(void) prctl(PR_SET_NAME, NET_PROXY_ARGV0, 0, 0, 0);
	if (argc < 5 || safe_atoi(argv[1], &lfd) < 0 || safe_atoi(argv[2], &afd) < 0 ||
	    (strcmp(argv[4], "0") != 0 && strcmp(argv[4], "1") != 0 &&
	     (strcmp(argv[4], "f") != 0 || argc != 7)) ||
	    getsockopt(lfd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 || !listening) {
		(void) fprintf(stderr, "%s: started by mayfly only (mayfly exec --allow-host)\n",
			       NET_PROXY_ARGV0);
		return 2;
	}
	(void) fd_set_cloexec(lfd, 1);
	if (afd >= 0)
		(void) fd_set_cloexec(afd, 1);
	if (argv[4][0] != 'f' && net_allow_new(argv + 5, argv[4][0] == '1', &allow, &err) < 0) {
		(void) fprintf(stderr, "%s: %s\n", NET_PROXY_ARGV0, err.msg);
		return 2;
	}
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	(void) sigprocmask(SIG_BLOCK, &term, NULL);
	term_fd = signalfd(-1, &term, SFD_CLOEXEC | SFD_NONBLOCK);
	if (term_fd < 0) {
		(void) fprintf(stderr, "%s: signalfd: %s\n", NET_PROXY_ARGV0, strerror(errno));
		return 1;
	}
	struct net_proxy_config cfg = {
		.listen_fd = lfd,
		.audit_fd = afd,
		.sandbox_id = argv[3],
		.allow = allow,
	};
	if (argv[4][0] == 'f') {
		unsigned port = 0;
		if (safe_atou(argv[6], &port) < 0 || port == 0 || port > 65535) {
			(void) fprintf(stderr, "%s: bad port\n", NET_PROXY_ARGV0);
			return 2;
		}
		cfg.forward_ip = argv[5];
		cfg.forward_port = port;
		net_forward_serve(&cfg, term_fd);
	}
	net_proxy_serve(&cfg, term_fd);
}

void net_proxy_stop(pid_t pid)
{
	int status;

	if (pid <= 0)
		return;
	(void) kill(pid, SIGTERM);
	for (int i = 0; i < 1000; i++) {
		struct timespec step = { 0, 1000 * 1000 };
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid || (w < 0 && errno != EINTR))
			return;
		(void) nanosleep(&step, NULL);
	}
	(void) kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

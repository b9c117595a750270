/* egress.c - --allow-host for one sandbox: the socket pair on which pid 1 sends the
 * listening socket it made on the sandbox's loopback, the job's proxy variables, the
 * audit log, and the life of the proxy process (net/proxy.c), which serves that socket
 * from the host until teardown kills it. See docs/network.md. */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "jail/jail.h"
#include "net/net.h"
#include "sandbox/internal.h"
#include "seccomp/seccomp.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

/* The proxy's ids when mayfly is root: nobody, outside every sandbox's id range. */
#define EGRESS_UID 65534
#define EGRESS_GID 65534

struct egress {
	int sock[2];		 /* [0] ours, [1] pid 1's */
	struct net_allow *allow; /* NULL: a forward */
	char forward_ip[46];
	unsigned forward_port;
	int audit_fd;
	pid_t pid;
};

int egress_prepare(const struct sandbox_spec *spec, struct egress **ret, struct err *err)
{
	CLEANUP(egress_freep) struct egress *e = NULL;
	int r;

	*ret = NULL;
	if (strv_len(spec->allow_hosts) == 0)
		return 0;
	e = xcalloc(1, sizeof(*e));
	e->sock[0] = e->sock[1] = e->audit_fd = -1;
	r = net_allow_new(spec->allow_hosts, spec->allow_private_egress, &e->allow, err);
	if (r < 0)
		return r;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, e->sock) < 0)
		return err_set(err, errno, "socketpair for the egress proxy");
	*ret = TAKE_PTR(e);
	return 0;
}

int forward_prepare(const struct sandbox_spec *spec, struct egress **ret, struct err *err)
{
	CLEANUP(egress_freep) struct egress *e = NULL;

	*ret = NULL;
	if (!spec->forward_port)
		return 0;
	e = xcalloc(1, sizeof(*e));
	e->sock[0] = e->sock[1] = e->audit_fd = -1;
	(void) str_copy(e->forward_ip, sizeof(e->forward_ip), spec->forward_ip);
	e->forward_port = spec->forward_port;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, e->sock) < 0)
		return err_set(err, errno, "socketpair for the database forward");
	*ret = TAKE_PTR(e);
	return 0;
}

int egress_jail_fd(const struct egress *e)
{
	return e ? e->sock[1] : -1;
}

void egress_env(const struct sandbox_spec *spec, char ***envp)
{
	static const char *const vars[] = {
		"HTTP_PROXY=http://127.0.0.1:3128", "HTTPS_PROXY=http://127.0.0.1:3128",
		"http_proxy=http://127.0.0.1:3128", "https_proxy=http://127.0.0.1:3128",
		"NO_PROXY=localhost,127.0.0.1,::1", "no_proxy=localhost,127.0.0.1,::1",
	};

	for (size_t i = 0; i < ARRAY_SIZE(vars); i++) {
		size_t n = strcspn(vars[i], "=") + 1;
		bool set = false;
		/* An explicit --env wins (the job can change its variables anyway). */
		for (size_t k = 0; spec->env && spec->env[k]; k++)
			set |= strncmp(spec->env[k], vars[i], n) == 0;
		if (!set)
			strv_push(envp, vars[i]);
	}
}

/* The proxy runs under the job's seccomp filter: what a job may not call (bpf, mount,
 * keyctl, unshare, io_uring, ...), neither may the process that parses the job's bytes. */
static int load_filter(void *userdata)
{
	return sc_policy_load(userdata);
}

int egress_start(struct egress *e, const char *state_dir, const char *id,
		 const struct sc_policy *policy, struct err *err)
{
	cleanup_free char *log = path_join(state_dir, "audit.log");
	cleanup_close int lfd = -1;
	int r;

	e->sock[1] = safe_close(e->sock[1]);
	r = e->allow ? jail_recv_egress(e->sock[0], &lfd, err)
		     : jail_recv_forward(e->sock[0], &lfd, err);
	if (r < 0)
		return r;
	e->audit_fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (e->audit_fd < 0)
		return err_set(err, errno, "open audit log '%s'", log);
	struct net_proxy_config cfg = {
		.listen_fd = lfd,
		.audit_fd = e->audit_fd,
		.sandbox_id = id,
		.allow = e->allow,
		.forward_ip = e->allow ? NULL : e->forward_ip,
		.forward_port = e->forward_port,
		.harden = policy ? load_filter : NULL,
		.harden_data = (void *) policy,
		.drop_ids = sandbox_root_mode(),
		.uid = EGRESS_UID,
		.gid = EGRESS_GID,
	};
	/* From here on the proxy holds the only copy of the listening socket: when it is
	 * gone, so is 127.0.0.1:3128 in the sandbox. */
	return net_proxy_start(&cfg, &e->pid, err);
}

struct egress *egress_free(struct egress *e)
{
	if (!e)
		return NULL;
	net_proxy_stop(e->pid);
	(void) safe_close(e->sock[0]);
	(void) safe_close(e->sock[1]);
	(void) safe_close(e->audit_fd);
	(void) net_allow_free(e->allow);
	free(e);
	return NULL;
}

/* jail.h - the walls of one sandbox: namespaces (user, mount, pid, net, ipc, uts, cgroup),
 * id maps, the root file system (read-only host system dirs or an image, a minimal /dev,
 * a masked /proc, one size-limited scratch tmpfs for /tmp, $HOME and /workspace),
 * pivot_root, capabilities, no_new_privs, seccomp, and mayfly's pid-1 init inside.
 *
 * jail_spawn() clones the child, writes its id maps and leaves it waiting; the caller
 * puts it into its cgroup, then jail_start() lets it build the walls and exec the job,
 * and reports whether that worked. The child (pid 1 inside) is the init: it exits with
 * the job's status (128+N for a signal) once the job has exited, killing what is left.
 * Never logs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct err;
struct sc_policy;
struct jail; /* opaque */

struct jail_bind {
	char *src; /* host path */
	char *dst; /* absolute path inside */
	bool ro;
};

/* A writable copy-on-write view of read-only host dirs at dst: an overlayfs whose upper
 * layer is on the sandbox's scratch tmpfs, so what the job writes stays in the sandbox
 * and the lower dirs are never written. The merged root belongs to the job's user and
 * has the top lower's mode. */
struct jail_overlay {
	const char *dst;	   /* absolute, clean path inside */
	const char *const *lowers; /* host dirs, top first; a lower whose fds[i] >= 0 is
				    * that detached mount instead (jail_idmap_tree) */
	const int *fds;		   /* n_lowers fds (borrowed), or NULL: all paths */
	size_t n_lowers;
	const char *const *remove; /* paths relative to dst to delete once mounted (their
				    * whiteouts go to the upper layer); NULL-terminated or NULL */
};

/* Runs in pid 1 inside the sandbox, hardened and as the job's user, before the job is
 * forked: starts the job's services and waits until they are ready. A failure stops the
 * sandbox before the job runs (its message is the sandbox's error). */
typedef int jail_prestart_fn(void *userdata, struct err *err);
/* Runs in pid 1 when it reaps a process other than the job before the job is done (a
 * service that died): it may write one line on notice_fd (cfg->notice_fd) for mayfly to
 * report. userdata: cfg->reaped_data. */
typedef void jail_reaped_fn(void *userdata, pid_t pid, int status, int notice_fd);

struct jail_config {
	char *const *argv;   /* the job's command; borrowed */
	char *const *envp;   /* the job's whole environment; borrowed */
	const char *workdir; /* absolute path inside */
	const char *hostname;
	const char *rootfs;	       /* NULL: the host's system dirs; else an image dir */
	const struct jail_bind *binds; /* borrowed */
	size_t n_binds;
	const struct jail_overlay *overlays; /* borrowed; mounted after the binds */
	size_t n_overlays;
	uint64_t disk_bytes;  /* size of the scratch tmpfs */
	const char *root_mnt; /* an empty host directory to build the root on */
	uid_t uid;	      /* the job's uid and gid inside */
	gid_t gid;
	/* Root mode maps inside [0, JAIL_ID_COUNT) to [host_base, +JAIL_ID_COUNT); rootless
	 * maps the single id `uid` to the caller's own uid and gid. */
	bool map_range;
	uid_t host_base;
	const struct sc_policy *seccomp; /* borrowed */
	int stdio[3];			 /* the job's stdin, stdout, stderr; borrowed */
	/* -t: a unix socket (borrowed) on which pid 1 sends the master of a pseudo-terminal
	 * it made in the sandbox's own devpts; the job gets the terminal as its stdio and
	 * controlling tty. -1: no terminal. */
	int console_fd;
	/* --allow-host: a unix socket (borrowed) on which pid 1, right after `lo` is up,
	 * sends a TCP socket listening on the sandbox's 127.0.0.1:NET_PROXY_PORT (the egress
	 * proxy serves it from the host). -1 (or any fd below 3, as a zeroed initializer
	 * leaves it): no egress. */
	int egress_fd;
	/* A postgres-role lease: as egress_fd, a socket listening on the sandbox's
	 * 127.0.0.1:forward_port, sent on forward_fd (tag 'f'). -1 (or below 3): none. */
	int forward_fd;
	unsigned forward_port;
	/* cgroup v2: an fd of the sandbox's cgroup directory (borrowed), so the child is born
	 * in it (clone3 CLONE_INTO_CGROUP) and never migrates; -1: the caller attaches it. */
	int cgroup_fd;
	jail_prestart_fn *prestart; /* NULL: nothing to start before the job */
	void *prestart_data;
	jail_reaped_fn *reaped; /* NULL: nothing to watch */
	void *reaped_data;
	int notice_fd; /* write end of a pipe mayfly reads (borrowed); -1: none */
};

#define JAIL_ID_COUNT 65536

/* Where a failure happened, so callers can pick an exit status. */
enum jail_stage {
	JAIL_STAGE_SETUP = 1, /* building the walls */
	JAIL_STAGE_EXEC = 2,  /* finding or executing the command */
};

/* Clone the child into new namespaces and write its id maps. It waits for jail_start().
 * On success *ret belongs to the caller (jail_free kills a child not yet started). */
int jail_spawn(const struct jail_config *cfg, struct jail **ret, struct err *err);
pid_t jail_pid(const struct jail *j);
/* Whether the child was born in cfg->cgroup_fd's cgroup (else the caller attaches it). */
bool jail_born_in_cgroup(const struct jail *j);
/* Let the child build the walls and exec the job; returns once the job's exec succeeded
 * or something failed (then err holds the child's message and *ret_stage says where;
 * the child has exited). After success the caller owns the pid: reap it. */
int jail_start(struct jail *j, enum jail_stage *ret_stage, struct err *err);
/* The process's original argv and environment strings (contiguous on Linux), which a
 * forked pid 1 still carries and /proc/1/cmdline and /proc/1/environ show: pid 1 wipes
 * them. Call once from main(), before anything changes environ. */
void jail_note_cmdline_area(char *start, size_t len);
/* With cfg->console_fd: receive the terminal's master (after jail_start() succeeded). */
int jail_recv_console(int console_fd, int *ret_master, struct err *err);
/* With cfg->egress_fd: receive the proxy's listening socket (after jail_start()
 * succeeded; pid 1 sent it before it built the root). */
int jail_recv_egress(int egress_fd, int *ret_listen_fd, struct err *err);
/* The same for cfg->forward_fd. */
int jail_recv_forward(int forward_fd, int *ret_listen_fd, struct err *err);
/* Shared read-only caches, root mode: a cache is owned on disk by one id outside every
 * sandbox's range, and each sandbox sees it through an idmapped mount on which that id
 * is the job's host id. jail_idmap_userns() makes the user namespace of such a mapping
 * (from_uid:from_gid on disk shown as to_uid:to_gid; needs CAP_SETUID and CAP_SETGID);
 * jail_idmap_tree() a detached, read-only, nosuid, nodev mount of path through it, for
 * jail_overlay.fds (needs CAP_SYS_ADMIN, Linux 5.12+ and a file system with idmapped
 * mounts). -ENOSYS: the kernel has no idmapped mounts; -EOPNOTSUPP: path's file system
 * does not support them. */
int jail_idmap_userns(uid_t from_uid, gid_t from_gid, uid_t to_uid, gid_t to_gid, int *ret_fd,
		      struct err *err);
int jail_idmap_tree(const char *path, int userns_fd, int *ret_fd, struct err *err);

/* Frees the handle; a child that was spawned but never started is killed and reaped. */
struct jail *jail_free(struct jail *j);

#include "util/cleanup.h"
DEFINE_CLEANUP(struct jail *, jail_free)

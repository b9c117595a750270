/* internal.h - shared by the jail's files: spawn.c (clone, id maps, protocol with the
 * parent), rootfs.c (mounts), harden.c (caps, rlimits, seccomp) and init.c (pid 1). */
#pragma once

#include <stdint.h>

#include "jail/jail.h"

struct err;

/* The new mount API (Linux 5.2+, mount_setattr 5.12+), declared here: glibc 2.36's
 * <sys/mount.h> and <linux/mount.h> conflict. */
struct mnt_attr {
	uint64_t attr_set, attr_clr, propagation, userns_fd;
};
#define M_ATTR_RDONLY 0x1
#define M_ATTR_NOSUID 0x2
#define M_ATTR_NODEV  0x4
#define M_ATTR_NOEXEC 0x8
#define M_ATTR_IDMAP  0x100000
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#define M_OPEN_TREE_CLONE	  1
#define M_MOVE_MOUNT_F_EMPTY_PATH 0x4
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

/* One message from the child to the parent; EOF instead means the job's exec worked. */
struct jail_report {
	int stage; /* enum jail_stage */
	int code;  /* positive errno */
	char msg[512];
};

/* In the child, before pivot: build the new root under cfg->root_mnt and pivot into it.
 * Afterwards "/" is the sandbox's root, read-only. */
int jail_setup_root(const struct jail_config *cfg, struct err *err);
/* In pid 1, before it forks the job (which inherits all of it): close inherited fds but
 * keep[], rlimits, drop every capability (bounding, ambient, permitted), take the job's
 * ids, no_new_privs, and install the seccomp filter. */
int jail_harden(const struct jail_config *cfg, const int *keep, size_t nkeep, struct err *err);
/* The job process (already hardened): its stdio, session, workdir, then exec with a PATH
 * search in the job's environment; tty: the terminal to attach (-t) or NULL. Only returns
 * on failure, with *ret_stage set. */
int jail_exec_job(const struct jail_config *cfg, const char *tty, int report_fd,
		  enum jail_stage *ret_stage, struct err *err);
/* Pid 1: harden, fork the job, forward signals, reap, exit with the job's status; die
 * with everything when lifeline_fd (the read end of a pipe mayfly holds open) hangs up.
 * Never returns. */
void jail_run_init(const struct jail_config *cfg, int report_fd, int lifeline_fd)
	__attribute__((noreturn));
/* -t, in pid 1: make a terminal in the sandbox's devpts, send its master to mayfly over
 * console_fd, and return the slave's path. */
int jail_console_open(int console_fd, char *ret_slave, size_t size, struct err *err);
/* --allow-host, in pid 1 with `lo` up: listen on 127.0.0.1:NET_PROXY_PORT in the
 * sandbox's netns and send the socket to mayfly over egress_fd (then close ours). */
int jail_egress_open(int egress_fd, struct err *err);
/* The same for a postgres-role lease's forward: 127.0.0.1:port on forward_fd. */
int jail_forward_open(int forward_fd, unsigned port, struct err *err);
/* -t, in the job (a session leader): the slave becomes its stdio and controlling tty. */
int jail_console_attach(const char *slave, struct err *err);
/* In the child, after the binds and before pivot: cfg->overlays. mount_points: only make
 * the mount points outside the scratch dirs (before the skeleton turns read-only). */
int jail_setup_overlays(const char *root, const struct jail_config *cfg, bool mount_points,
			struct err *err);
/* Whether dst (absolute) lies in one of the writable scratch dirs (rootfs.c). */
bool jail_under_scratch(const char *dst);
/* Create the mount point dst under root, following no symlink (rootfs.c). */
int jail_make_mount_point(const char *root, const char *dst, bool dir, struct err *err);
/* Send a failure report and _exit(code). */
void jail_child_fail(int report_fd, enum jail_stage stage, const struct err *err, int code)
	__attribute__((noreturn));

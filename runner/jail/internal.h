/* internal.h - shared by the jail's files: spawn.c (clone, id maps, protocol with the
 * parent), rootfs.c (mounts), harden.c (caps, rlimits, seccomp) and init.c (pid 1). */
#pragma once

#include "jail/jail.h"

struct err;

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
/* -t, in the job (a session leader): the slave becomes its stdio and controlling tty. */
int jail_console_attach(const char *slave, struct err *err);
/* Send a failure report and _exit(code). */
void jail_child_fail(int report_fd, enum jail_stage stage, const struct err *err, int code)
	__attribute__((noreturn));

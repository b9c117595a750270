/* spawn.c - clone the sandbox's pid 1 into new namespaces, write its id maps, and run
 * the small protocol with it: the child waits for one byte ("go": it is in its cgroup
 * now), then builds the walls and reports either a failure (a struct jail_report) or, by
 * closing the pipe on the job's successful exec, success. */
#include "jail/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jail/internal.h"
#include "net/net.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define CLONE_INTO_CGROUP_FLAG 0x200000000ULL
#ifndef SYS_clone3
#define SYS_clone3 435
#endif

struct jail {
	pid_t pid;
	bool in_cgroup; /* born there by CLONE_INTO_CGROUP */
	int go_fd;	/* write end of the life line: one byte lets the child go; it stays
			 * open while we live, and its hang-up tells pid 1 we are gone */
	int report_fd;	/* read end of the child's reports */
	bool started;
};

void jail_child_fail(int report_fd, enum jail_stage stage, const struct err *err, int code)
{
	struct jail_report rep = { .stage = (int) stage, .code = err->code ? err->code : EIO };

	memcpy(rep.msg, err->msg, sizeof(rep.msg));
	rep.msg[sizeof(rep.msg) - 1] = '\0';
	(void) fd_write_all(report_fd, &rep, sizeof(rep));
	_exit(code);
}

/* The clone child: pid 1 of the new pid namespace. */
static void __attribute__((noreturn))
child_main(const struct jail_config *cfg, int go_fd, int report_fd)
{
	struct err err = { 0 };
	char go;
	ssize_t n;

	/* If mayfly dies, so does the sandbox (the pid namespace dies with its init). The
	 * read below catches a parent that died before this line. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		_exit(125);
	do
		n = read(go_fd, &go, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(125);

	if (cfg->map_range) {
		/* Become root of the new user namespace (the host's root is not mapped, so
		 * until now we own no id here) and drop the host's supplementary groups. */
		if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) {
			(void) err_set(&err, errno, "become root in the user namespace");
			jail_child_fail(report_fd, JAIL_STAGE_SETUP, &err, 125);
		}
		if (setgroups(0, NULL) < 0) {
			(void) err_set(&err, errno, "drop supplementary groups");
			jail_child_fail(report_fd, JAIL_STAGE_SETUP, &err, 125);
		}
	}
	/* Now that the parent has put us in the sandbox's cgroup, make it our cgroup root. */
	if (unshare(CLONE_NEWCGROUP) < 0) {
		(void) err_set(&err, errno, "new cgroup namespace");
		jail_child_fail(report_fd, JAIL_STAGE_SETUP, &err, 125);
	}
	if (sethostname(cfg->hostname, strlen(cfg->hostname)) < 0) {
		(void) err_set(&err, errno, "set hostname '%s'", cfg->hostname);
		jail_child_fail(report_fd, JAIL_STAGE_SETUP, &err, 125);
	}
	if (net_loopback_up(&err) < 0)
		jail_child_fail(report_fd, JAIL_STAGE_SETUP, &err, 125);
	if (cfg->egress_fd > 2 && jail_egress_open(cfg->egress_fd, &err) < 0)
		jail_child_fail(report_fd, JAIL_STAGE_SETUP, &err, 125);
	if (cfg->forward_fd > 2 && jail_forward_open(cfg->forward_fd, cfg->forward_port, &err) < 0)
		jail_child_fail(report_fd, JAIL_STAGE_SETUP, &err, 125);
	if (jail_setup_root(cfg, &err) < 0)
		jail_child_fail(report_fd, JAIL_STAGE_SETUP, &err, 125);
	jail_run_init(cfg, report_fd, go_fd);
}

static int write_maps(pid_t pid, const struct jail_config *cfg, struct err *err)
{
	char path[64], map[128];
	int r;

	if (cfg->map_range) {
		(void) snprintf(map, sizeof(map), "0 %u %u\n", (unsigned) cfg->host_base,
				(unsigned) JAIL_ID_COUNT);
		(void) snprintf(path, sizeof(path), "/proc/%d/uid_map", (int) pid);
		r = write_file_at(AT_FDCWD, path, map, err);
		if (r < 0)
			return r;
		(void) snprintf(path, sizeof(path), "/proc/%d/gid_map", (int) pid);
		return write_file_at(AT_FDCWD, path, map, err);
	}
	/* Rootless: one id, ours. setgroups must be denied before an unprivileged gid_map. */
	(void) snprintf(path, sizeof(path), "/proc/%d/setgroups", (int) pid);
	r = write_file_at(AT_FDCWD, path, "deny", err);
	if (r < 0 && r != -ENOENT)
		return r;
	err_clear(err);
	(void) snprintf(map, sizeof(map), "%u %u 1\n", (unsigned) cfg->uid, (unsigned) geteuid());
	(void) snprintf(path, sizeof(path), "/proc/%d/uid_map", (int) pid);
	r = write_file_at(AT_FDCWD, path, map, err);
	if (r < 0)
		return r;
	(void) snprintf(map, sizeof(map), "%u %u 1\n", (unsigned) cfg->gid, (unsigned) getegid());
	(void) snprintf(path, sizeof(path), "/proc/%d/gid_map", (int) pid);
	return write_file_at(AT_FDCWD, path, map, err);
}

int jail_spawn(const struct jail_config *cfg, struct jail **ret, struct err *err)
{
	const unsigned long flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET |
				    CLONE_NEWIPC | CLONE_NEWUTS;
	cleanup_close int go_r = -1, go_w = -1, rep_r = -1, rep_w = -1;
	int p[2];
	pid_t pid;
	int r;

	if (pipe2(p, O_CLOEXEC) < 0)
		return err_set(err, errno, "pipe");
	go_r = p[0];
	go_w = p[1];
	if (pipe2(p, O_CLOEXEC) < 0)
		return err_set(err, errno, "pipe");
	rep_r = p[0];
	rep_w = p[1];

	/* Rootless, we may write the child's id maps only while it is dumpable (otherwise
	 * its /proc files belong to root), and it inherits that from us: be dumpable for
	 * the clone. The child turns it off again in jail_run_init(). */
	int dumpable = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
	if (!cfg->map_range && dumpable == 0)
		(void) prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	/* A raw clone behaves like fork(): the child continues on a copy of our stack. With a
	 * cgroup v2 fd, clone3 puts it straight into its cgroup: moving a process there later
	 * waits for an RCU grace period (milliseconds); being born there costs nothing. */
	bool in_cgroup = false;
	pid = -1;
	if (cfg->cgroup_fd >= 0) {
		struct {
			uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack,
				stack_size, tls, set_tid, set_tid_size, cgroup;
		} args = { .flags = flags | CLONE_INTO_CGROUP_FLAG,
			   .exit_signal = SIGCHLD,
			   .cgroup = (uint64_t) cfg->cgroup_fd };
		pid = (pid_t) syscall(SYS_clone3, &args, sizeof(args));
		in_cgroup = pid >= 0;
	}
	if (pid < 0)
		pid = (pid_t) syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid != 0 && !cfg->map_range && dumpable == 0)
		(void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (pid < 0) {
		r = -errno;
		if (r == -EPERM || r == -EINVAL || r == -ENOSPC || r == -EUSERS)
			return err_set(err, -r,
				       "create namespaces (user, mount, pid, net, ipc, "
				       "uts): is user namespace creation allowed? see "
				       "docs/install.md");
		return err_set(err, -r, "clone");
	}
	if (pid == 0) {
		(void) close(go_w);
		(void) close(rep_r);
		child_main(cfg, go_r, rep_w);
	}

	struct jail *j = xcalloc(1, sizeof(*j));
	j->pid = pid;
	j->in_cgroup = in_cgroup;
	j->go_fd = TAKE_FD(go_w);
	j->report_fd = TAKE_FD(rep_r);
	r = write_maps(pid, cfg, err);
	if (r < 0) {
		(void) jail_free(j);
		return err_wrap(err, "user namespace id map");
	}
	*ret = j;
	return 0;
}

pid_t jail_pid(const struct jail *j)
{
	return j->pid;
}

bool jail_born_in_cgroup(const struct jail *j)
{
	return j->in_cgroup;
}

int jail_start(struct jail *j, enum jail_stage *ret_stage, struct err *err)
{
	struct jail_report rep;
	int r;

	j->started = true;
	r = fd_write_all(j->go_fd, "g", 1);
	if (r < 0)
		return err_set(err, -r, "start sandbox init");
	r = fd_read_exact(j->report_fd, &rep, sizeof(rep));
	j->report_fd = safe_close(j->report_fd);
	if (r == -EPIPE)
		return 0; /* closed without a report: the job's exec succeeded */
	if (r < 0)
		return err_set(err, -r, "read sandbox report");
	/* The child failed and has exited (or is about to): reap it. */
	while (waitpid(j->pid, NULL, 0) < 0 && errno == EINTR)
		;
	j->pid = 0;
	rep.msg[sizeof(rep.msg) - 1] = '\0';
	err->code = rep.code > 0 ? rep.code : EIO;
	memcpy(err->msg, rep.msg, sizeof(err->msg));
	*ret_stage = rep.stage == JAIL_STAGE_EXEC ? JAIL_STAGE_EXEC : JAIL_STAGE_SETUP;
	return -err->code;
}

struct jail *jail_free(struct jail *j)
{
	if (!j)
		return NULL;
	if (!j->started && j->pid > 0) {
		(void) kill(j->pid, SIGKILL);
		while (waitpid(j->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	(void) safe_close(j->go_fd);
	(void) safe_close(j->report_fd);
	free(j);
	return NULL;
}

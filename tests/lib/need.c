/* need.c - see need.h. Probes run in a forked child so they change nothing here. */
#include "need.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

static bool probe_in_child(int flags, bool overlay)
{
	char lower[] = "/tmp/mayfly-need-XXXXXX";
	pid_t pid;
	int status;
	bool ok;

	/* Made and removed here, so no probe leaves a directory behind. */
	if (overlay && !mkdtemp(lower))
		return false;
	pid = fork();
	if (pid == 0) {
		uid_t uid = geteuid();
		gid_t gid = getegid();
		if (unshare(flags) < 0)
			_exit(1);
		if (flags & CLONE_NEWUSER) {
			/* Map ourselves, as mayfly does: an unmapped id may create nothing. */
			char map[64];
			int fd = open("/proc/self/setgroups", O_WRONLY);
			if (fd >= 0) {
				(void) !write(fd, "deny", 4);
				close(fd);
			}
			snprintf(map, sizeof(map), "0 %u 1", (unsigned) uid);
			fd = open("/proc/self/uid_map", O_WRONLY);
			if (fd < 0 || write(fd, map, strlen(map)) < 0)
				_exit(1);
			close(fd);
			snprintf(map, sizeof(map), "0 %u 1", (unsigned) gid);
			fd = open("/proc/self/gid_map", O_WRONLY);
			if (fd < 0 || write(fd, map, strlen(map)) < 0)
				_exit(1);
			close(fd);
		}
		if (overlay) {
			if (mount("none", lower, "tmpfs", 0, NULL) < 0)
				_exit(1);
			/* tmpfs under our new mount ns: build lower/upper/work/merged in it. */
			char p[4][300];
			const char *names[] = { "l", "u", "w", "m" };
			for (int i = 0; i < 4; i++) {
				(void) snprintf(p[i], sizeof(p[i]), "%s/%s", lower, names[i]);
				(void) mkdir(p[i], 0755);
			}
			char opts[1024];
			(void) snprintf(opts, sizeof(opts), "lowerdir=%s,upperdir=%s,workdir=%s",
					p[0], p[1], p[2]);
			int r = mount("overlay", p[3], "overlay", 0, opts);
			_exit(r < 0 ? 1 : 0);
		}
		_exit(0);
	}
	ok = pid >= 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
	     WEXITSTATUS(status) == 0;
	if (overlay)
		(void) rmdir(lower);
	return ok;
}

static bool have_cgroup(void)
{
	/* v2: memory and pids in the root's controllers; v1: writable memory + pids. */
	char buf[512] = "";
	int fd = open("/sys/fs/cgroup/cgroup.controllers", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		close(fd);
		if (strstr(buf, "memory") && strstr(buf, "pids"))
			return access("/sys/fs/cgroup/cgroup.procs", W_OK) == 0;
	}
	return access("/sys/fs/cgroup/memory/cgroup.procs", W_OK) == 0 &&
	       access("/sys/fs/cgroup/pids/cgroup.procs", W_OK) == 0;
}

void need(unsigned needs)
{
	if ((needs & ROOT) && geteuid() != 0)
		test_skip("needs root");
	if ((needs & USERNS) && !probe_in_child(CLONE_NEWUSER, false))
		test_skip("needs unprivileged user namespaces");
	if ((needs & OVERLAY) && !probe_in_child(CLONE_NEWUSER | CLONE_NEWNS, true))
		test_skip("needs overlayfs in a user namespace");
	if ((needs & NET) && !probe_in_child(CLONE_NEWUSER | CLONE_NEWNET, false))
		test_skip("needs network namespaces");
	if ((needs & CGROUP) && !have_cgroup())
		test_skip("needs a writable cgroup hierarchy with memory and pids");
	if (needs & CGROUP2) {
		char buf[512] = "";
		int fd = open("/sys/fs/cgroup/cgroup.controllers", O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
		buf[n > 0 ? n : 0] = '\0';
		if (fd >= 0)
			close(fd);
		if (!strstr(buf, "memory"))
			test_skip_host(
				"needs cgroup v2 with the memory controller (this host has v1)");
	}
}

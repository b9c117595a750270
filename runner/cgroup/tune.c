/* tune.c - making the move into a cgroup cheap. On cgroup v1 every write to cgroup.procs
 * takes the global threadgroup rwsem for writing, which waits for an RCU grace period:
 * 5 to 13 ms per sandbox, measured here, more than the whole rest of a sandbox's start.
 * The kernel's "favordynmods" mode (Linux 6.0+) keeps that rwsem in its writer-friendly
 * state (0.05 ms per move) at the price of slightly slower fork and exit host-wide. A v1
 * remount cannot change it, but mounting any v1 hierarchy with the option switches the
 * mode on; we mount a controller-less named hierarchy in a private mount namespace, so
 * the host's mount table never shows it, and unmount it again. */
#include "cgroup/cgroup.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/err.h"
#include "util/banned.h"

int cg_favor_dynmods(const char *mnt, struct err *err)
{
	pid_t pid;
	int status;

	pid = fork();
	if (pid < 0)
		return err_set(err, errno, "fork");
	if (pid == 0) {
		if (unshare(CLONE_NEWNS) < 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			_exit(1);
		if (mount("cgroup", mnt, "cgroup", MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  "none,name=mayfly-favordynmods,favordynmods") < 0)
			_exit(errno == EINVAL ? 2 : 1);
		(void) umount2(mnt, MNT_DETACH);
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return err_set(err, errno, "wait");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return err_set(err,
			       WIFEXITED(status) && WEXITSTATUS(status) == 2 ? EOPNOTSUPP : EPERM,
			       "switch cgroup migrations to favordynmods mode");
	return 0;
}

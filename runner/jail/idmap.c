/* idmap.c - idmapped mounts of shared caches, made by mayfly (real root) before the
 * sandbox exists: a cache owned on disk by one id outside every sandbox's range is shown,
 * through a detached mount, as owned by one sandbox's job. The sandbox's pid 1 inherits
 * the mount's fd and attaches it under its scratch (overlay.c). */
#include "jail/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jail/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/banned.h"

int jail_idmap_userns(uid_t from_uid, gid_t from_gid, uid_t to_uid, gid_t to_gid, int *ret_fd,
		      struct err *err)
{
	char path[64], map[64];
	int ready[2], hold[2];
	int r = 0, fd = -1, status;
	pid_t pid;

	if (pipe2(ready, O_CLOEXEC) < 0)
		return err_set(err, errno, "pipe");
	if (pipe2(hold, O_CLOEXEC) < 0) {
		r = err_set(err, errno, "pipe");
		(void) close(ready[0]);
		(void) close(ready[1]);
		return r;
	}
	/* A child in a new user namespace, alive until we hold the namespace's fd. */
	pid = (pid_t) syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid == 0) {
		char c;
		(void) close(ready[0]);
		(void) close(hold[1]);
		(void) close(ready[1]); /* "ready": the namespace exists */
		while (read(hold[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	(void) close(ready[1]);
	(void) close(hold[0]);
	if (pid < 0) {
		r = err_set(err, errno, "new user namespace for an idmapped mount");
		(void) close(ready[0]);
		(void) close(hold[1]);
		return r;
	}
	{
		char c;
		while (read(ready[0], &c, 1) < 0 && errno == EINTR)
			;
	}
	(void) snprintf(map, sizeof(map), "%u %u 1\n", (unsigned) from_uid, (unsigned) to_uid);
	(void) snprintf(path, sizeof(path), "/proc/%d/uid_map", (int) pid);
	r = write_file_at(AT_FDCWD, path, map, err);
	if (r == 0) {
		(void) snprintf(map, sizeof(map), "%u %u 1\n", (unsigned) from_gid,
				(unsigned) to_gid);
		(void) snprintf(path, sizeof(path), "/proc/%d/gid_map", (int) pid);
		r = write_file_at(AT_FDCWD, path, map, err);
	}
	if (r == 0) {
		(void) snprintf(path, sizeof(path), "/proc/%d/ns/user", (int) pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			r = err_set(err, errno, "open '%s'", path);
	}
	(void) close(hold[1]);
	(void) close(ready[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (r < 0)
		return err_wrap(err, "idmap %u:%u to %u:%u", (unsigned) from_uid,
				(unsigned) from_gid, (unsigned) to_uid, (unsigned) to_gid);
	*ret_fd = fd;
	return 0;
}

int jail_idmap_tree(const char *path, int userns_fd, int *ret_fd, struct err *err)
{
	struct mnt_attr a = { .attr_set =
				      M_ATTR_IDMAP | M_ATTR_RDONLY | M_ATTR_NOSUID | M_ATTR_NODEV,
			      .userns_fd = (uint64_t) userns_fd };
	cleanup_close int fd =
		(int) syscall(SYS_open_tree, AT_FDCWD, path, M_OPEN_TREE_CLONE | O_CLOEXEC);

	if (fd < 0 && errno == ENOSYS)
		return err_set(err, ENOSYS,
			       "'%s': this kernel has no idmapped mounts (Linux "
			       "5.12 or later is needed to share caches with "
			       "sandboxes as root)",
			       path);
	if (fd < 0)
		return err_set(err, errno, "open_tree '%s'", path);
	if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &a, sizeof(a)) < 0) {
		if (errno == ENOSYS)
			return err_set(err, ENOSYS,
				       "'%s': this kernel has no idmapped mounts "
				       "(Linux 5.12 or later is needed)",
				       path);
		if (errno == EINVAL)
			return err_set(err, EOPNOTSUPP,
				       "'%s': its file system does not support idmapped mounts "
				       "(put the state directory on ext4, xfs, btrfs or tmpfs)",
				       path);
		return err_set(err, errno, "idmap mount of '%s'", path);
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* tree.c - removing unpacked trees. Images hold read-only directories (0555 is common), so
 * as a plain user rm_rf_at() alone is refused: directories get u+rwx, then it retries. */
#include "archive/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/err.h"
#include "util/path.h"
#include "util/banned.h"

/* chmod u+rwx the directory dirfd/name. By name, after lstat said "directory": only a
 * writer in dirfd could swap a symlink in between, and these trees are ours alone (the
 * cache dir is 0700, a temporary dir is ours). */
static int chmod_dir(int dirfd, const char *name, const struct stat *st, struct err *err)
{
	if ((st->st_mode & 0700) == 0700)
		return 0;
	if (fchmodat(dirfd, name, (st->st_mode & 07777) | 0700, 0) < 0)
		return err_set(err, errno, "chmod '%s'", name);
	return 0;
}

static int make_writable(int fd, dev_t dev, struct err *err)
{
	int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	CLEANUP(closedirp) DIR *d = NULL;
	struct dirent *de;

	if (dfd < 0)
		return err_set(err, errno, "dup");
	d = fdopendir(dfd);
	if (!d) {
		(void) close(dfd);
		return err_set(err, errno, "opendir");
	}
	while ((de = readdir(d))) {
		cleanup_close int sub = -1;
		struct stat st;
		int r;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return err_set(err, errno, "stat '%s'", de->d_name);
		if (!S_ISDIR(st.st_mode) || st.st_dev != dev)
			continue; /* a mount point: rm_rf_at() reports it */
		r = chmod_dir(fd, de->d_name, &st, err);
		if (r < 0)
			return r;
		sub = openat(fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			return err_set(err, errno, "open '%s'", de->d_name);
		r = make_writable(sub, dev, err);
		if (r < 0)
			return err_wrap(err, "'%s'", de->d_name);
	}
	return 0;
}

int arc_rm_tree(int dirfd, const char *name, struct err *err)
{
	cleanup_close int fd = -1;
	struct stat st;
	int r = rm_rf_at(dirfd, name, err);

	if (r != -EACCES && r != -EPERM)
		return r;
	err_clear(err);
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : err_set(err, errno, "stat '%s'", name);
	if (S_ISDIR(st.st_mode)) {
		r = chmod_dir(dirfd, name, &st, err);
		if (r < 0)
			return r;
		fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return err_set(err, errno, "open '%s'", name);
		r = make_writable(fd, st.st_dev, err);
		if (r < 0)
			return err_wrap(err, "remove '%s'", name);
	}
	return rm_rf_at(dirfd, name, err);
}

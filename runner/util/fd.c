/* fd.c - see fd.h. */
#include "util/fd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/err.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

int fd_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t) n;
	}
	return 0;
}

int fd_read_exact(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t) n;
	}
	return 0;
}

int fd_read_all(int fd, size_t max, char **ret_buf, size_t *ret_len)
{
	cleanup_free char *buf = NULL;
	size_t len = 0, cap = 0;

	for (;;) {
		ssize_t n;

		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 4096;
			if (cap > max + 1)
				cap = max + 1;
			buf = xrealloc(buf, cap + 1);
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		len += (size_t) n;
		if (len > max)
			return -EFBIG;
	}
	if (!buf)
		buf = xmalloc(1);
	buf[len] = '\0';
	*ret_buf = TAKE_PTR(buf);
	if (ret_len)
		*ret_len = len;
	return 0;
}

int read_file_at(int dirfd, const char *path, size_t max, char **ret_buf, size_t *ret_len,
		 struct err *err)
{
	cleanup_close int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	int r;

	if (fd < 0)
		return err_set(err, errno, "open '%s'", path);
	r = fd_read_all(fd, max, ret_buf, ret_len);
	if (r < 0)
		return err_set(err, -r, "read '%s'", path);
	return 0;
}

int write_file_at(int dirfd, const char *path, const char *content, struct err *err)
{
	cleanup_close int fd = openat(dirfd, path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	int r;

	if (fd < 0)
		return err_set(err, errno, "open '%s'", path);
	r = fd_write_all(fd, content, strlen(content));
	if (r < 0)
		return err_set(err, -r, "write '%s'", path);
	return 0;
}

int write_file_atomic_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
			 unsigned flags, struct err *err)
{
	char tmp[4096];
	cleanup_close int fd = -1;
	int r;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", name, (int) getpid()) >= (int) sizeof(tmp))
		return err_set(err, ENAMETOOLONG, "write '%s'", name);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return err_set(err, errno, "create '%s'", tmp);
	r = fd_write_all(fd, data, len);
	if (r == 0 && (flags & WRITE_DURABLE) && fsync(fd) < 0)
		r = -errno;
	if (r < 0) {
		(void) unlinkat(dirfd, tmp, 0);
		return err_set(err, -r, "write '%s'", tmp);
	}
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		r = -errno;
		(void) unlinkat(dirfd, tmp, 0);
		return err_set(err, -r, "rename '%s' to '%s'", tmp, name);
	}
	if ((flags & WRITE_DURABLE) && dirfd != AT_FDCWD)
		(void) fsync(dirfd);
	return 0;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *) a, y = *(const int *) b;
	return (x > y) - (x < y);
}

int fd_close_all(int lowest, const int *keep, size_t nkeep)
{
	int sorted[64];
	int from = lowest;

	if (nkeep > ARRAY_SIZE(sorted))
		return -E2BIG;
	memcpy(sorted, keep, nkeep * sizeof(int));
	qsort(sorted, nkeep, sizeof(int), cmp_int);
	for (size_t i = 0; i <= nkeep; i++) {
		int to = i < nkeep ? sorted[i] - 1 : -1; /* -1: to the end */
		if (i < nkeep && sorted[i] < from)
			continue;
		if (to == -1 || to >= from) {
			long r = syscall(SYS_close_range, (unsigned) from,
					 to == -1 ? ~0U : (unsigned) to, 0);
			if (r < 0 && errno == ENOSYS) {
				/* Kernels before 5.9: walk /proc/self/fd. */
				DIR *d = opendir("/proc/self/fd");
				struct dirent *de;
				if (!d)
					return -errno;
				while ((de = readdir(d))) {
					int fd;
					if (safe_atoi(de->d_name, &fd) < 0 || fd == dirfd(d))
						continue;
					if (fd >= from && (to == -1 || fd <= to))
						(void) close(fd);
				}
				(void) closedir(d);
			} else if (r < 0)
				return -errno;
		}
		if (i < nkeep)
			from = sorted[i] + 1;
	}
	return 0;
}

int fd_set_cloexec(int fd, int on)
{
	int flags = fcntl(fd, F_GETFD);

	if (flags < 0)
		return -errno;
	flags = on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC;
	return fcntl(fd, F_SETFD, flags) < 0 ? -errno : 0;
}

/* fd.h - file descriptor helpers: bounded reads, full writes, atomic file replacement.
 * Every fd these return is close-on-exec. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

struct err;

/* Write all of buf, retrying on EINTR and short writes. */
int fd_write_all(int fd, const void *buf, size_t len);
/* Read until EOF into a new NUL-terminated buffer; fails with -EFBIG past max bytes. */
int fd_read_all(int fd, size_t max, char **ret_buf, size_t *ret_len);
/* Read exactly len bytes; -EPIPE on early EOF. */
int fd_read_exact(int fd, void *buf, size_t len);
/* Read a whole file at dirfd/path (AT_FDCWD for plain paths), at most max bytes. */
int read_file_at(int dirfd, const char *path, size_t max, char **ret_buf, size_t *ret_len,
		 struct err *err);
/* Write a small string to an existing file (sysfs, cgroupfs, /proc/<pid>/uid_map). */
int write_file_at(int dirfd, const char *path, const char *content, struct err *err);
enum write_flags {
	WRITE_DURABLE = 1 << 0, /* fsync the file and its directory: survives a power loss */
};
/* Replace dirfd/name atomically: write name.tmp.<pid>, (fsync,) rename (, fsync dir).
 * Readers see the old or the new content, never a mix. */
int write_file_atomic_at(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
			 unsigned flags, struct err *err);
/* Close every fd >= lowest except those in keep[] (close_range, /proc fallback). */
int fd_close_all(int lowest, const int *keep, size_t nkeep);
int fd_set_cloexec(int fd, int on);

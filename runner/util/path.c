/* path.c - see path.h. */
#include "util/path.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/err.h"
#include "util/xalloc.h"
#include "util/banned.h"

char *path_join(const char *a, const char *b)
{
	size_t la = strlen(a);

	while (la > 1 && a[la - 1] == '/')
		la--;
	while (*b == '/')
		b++;
	if (la == 1 && a[0] == '/')
		return xasprintf("/%s", b);
	return xasprintf("%.*s/%s", (int) la, a, b);
}

int mkdir_p(const char *path, mode_t mode, struct err *err)
{
	cleanup_free char *p = xstrdup(path);

	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char saved = *s;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return err_set(err, errno, "mkdir '%s'", p);
		*s = saved;
		if (!saved)
			break;
	}
	struct stat st;
	if (stat(path, &st) < 0)
		return err_set(err, errno, "stat '%s'", path);
	if (!S_ISDIR(st.st_mode))
		return err_set(err, ENOTDIR, "mkdir '%s'", path);
	return 0;
}

static int rm_children(int fd, dev_t dev, const char *name, struct err *err)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;
	int r = 0;

	if (!d) {
		r = err_set(err, errno, "opendir '%s'", name);
		(void) close(fd);
		return r;
	}
	while ((de = readdir(d))) {
		struct stat st;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			r = err_set(err, errno, "stat '%s/%s'", name, de->d_name);
			break;
		}
		if (S_ISDIR(st.st_mode)) {
			int sub;
			if (st.st_dev != dev) {
				r = err_set(err, EBUSY, "remove '%s/%s': a mount point", name,
					    de->d_name);
				break;
			}
			sub = openat(dirfd(d), de->d_name,
				     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				r = err_set(err, errno, "open '%s/%s'", name, de->d_name);
				break;
			}
			r = rm_children(sub, dev, de->d_name, err);
			if (r < 0)
				break;
			if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT) {
				r = err_set(err, errno, "rmdir '%s/%s'", name, de->d_name);
				break;
			}
		} else if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT) {
			r = err_set(err, errno, "unlink '%s/%s'", name, de->d_name);
			break;
		}
	}
	(void) closedir(d);
	return r;
}

int rm_rf_at(int dirfd, const char *name, struct err *err)
{
	struct stat st;
	int fd, r;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : err_set(err, errno, "stat '%s'", name);
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
			return err_set(err, errno, "unlink '%s'", name);
		return 0;
	}
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, errno, "open '%s'", name);
	r = rm_children(fd, st.st_dev, name, err);
	if (r < 0)
		return r;
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return err_set(err, errno, "rmdir '%s'", name);
	return 0;
}

bool path_is_clean(const char *path)
{
	const char *p = path;

	if (!*p)
		return false;
	if (*p == '/')
		p++;
	if (!*p)
		return true; /* "/" */
	for (;;) {
		const char *e = strchrnul(p, '/');
		size_t n = (size_t) (e - p);
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return false;
		if (!*e)
			return true;
		p = e + 1;
	}
}

int dir_open_at(int dirfd, const char *name, DIR **ret, struct err *err)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;

	if (fd < 0)
		return err_set(err, errno, "open '%s'", name);
	d = fdopendir(fd);
	if (!d) {
		int r = err_set(err, errno, "opendir '%s'", name);
		(void) close(fd);
		return r;
	}
	*ret = d;
	return 0;
}

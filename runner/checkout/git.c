/* git.c - libgit2 set up once per process and kept away from the host's git configuration,
 * its errors translated to ours, and the flock helpers both caches use. */
#include "checkout/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkout/dl.h"

#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/banned.h"

static pthread_once_t git_once = PTHREAD_ONCE_INIT;
static char git_failure[256];

static void git_init_once(void)
{
	static const int levels[] = { GIT_CONFIG_LEVEL_PROGRAMDATA, GIT_CONFIG_LEVEL_SYSTEM,
				      GIT_CONFIG_LEVEL_XDG, GIT_CONFIG_LEVEL_GLOBAL };

	if (checkout_dl_load(git_failure, sizeof(git_failure)))
		return;
	/* Never shut down: libgit2's global state lives as long as the process. */
	if (git_libgit2_init() < 0)
		abort();
	/* A tree's files must depend on the tree alone, and a host's ~/.gitconfig
	 * (core.autocrlf, url.*.insteadOf, filters, a proxy) must not reach into a job: no
	 * global, XDG or system configuration, hence no attributes files from them either. */
	for (size_t i = 0; i < ARRAY_SIZE(levels); i++)
		if (git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, levels[i], "") < 0)
			abort();
}

int checkout_git_init(struct err *err)
{
	(void) pthread_once(&git_once, git_init_once);
	if (git_failure[0])
		return err_set(err, ELIBACC, "%s", git_failure);
	return 0;
}

static int map_error(int gerr, int klass)
{
	switch (gerr) {
	case GIT_ENOTFOUND:
		return klass == GIT_ERROR_ODB || klass == GIT_ERROR_ZLIB ? EUCLEAN : ENOENT;
	case GIT_EAUTH:
	case GIT_ECERTIFICATE:
		return EACCES;
	case GIT_EAMBIGUOUS:
	case GIT_EINVALIDSPEC:
		return EINVAL;
	case GIT_ELOCKED:
		return EBUSY;
	case GIT_EMISMATCH:
		return EUCLEAN;
	case GIT_EOWNER:
		return EPERM;
	default:
		break;
	}
	switch (klass) {
	case GIT_ERROR_NET:
	case GIT_ERROR_SSL:
	case GIT_ERROR_SSH:
	case GIT_ERROR_HTTP:
		return EHOSTUNREACH;
	case GIT_ERROR_ODB:
	case GIT_ERROR_ZLIB:
	case GIT_ERROR_INDEXER:
	case GIT_ERROR_OBJECT:
	case GIT_ERROR_SHA:
		return EUCLEAN;
	case GIT_ERROR_OS:
		return errno ? errno : EIO;
	default:
		return EINVAL;
	}
}

int checkout_git_err(struct err *err, int gerr, const char *fmt, ...)
{
	const git_error *e = git_error_last();
	int klass = e ? e->klass : GIT_ERROR_NONE;
	char what[ERR_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	(void) vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	err->code = map_error(gerr, klass);
	(void) snprintf(err->msg, sizeof(err->msg), "%s: %s", what,
			e && e->message ? e->message : "libgit2 error");
	/* libgit2 ends some messages with a newline or a period: ours have neither. */
	for (size_t n = strlen(err->msg); n > 0 && strchr("\n. ", err->msg[n - 1]); n--)
		err->msg[n - 1] = '\0';
	git_error_clear();
	return -err->code;
}

int checkout_repo_open(const char *path, struct git_repository **ret, struct err *err)
{
	git_repository *repo = NULL;
	int r;

	r = checkout_git_init(err);
	if (r < 0)
		return r;
	/* Bare whatever its config says: nothing here ever touches a work tree. */
	r = git_repository_open_ext(&repo, path,
				    GIT_REPOSITORY_OPEN_NO_SEARCH | GIT_REPOSITORY_OPEN_BARE, NULL);
	if (r < 0)
		return checkout_git_err(err, r, "open mirror '%s'", path);
	*ret = repo;
	return 0;
}

void checkout_repo_freep(struct git_repository **repo)
{
	if (*repo) /* libgit2 may not even be loaded (fast.c) */
		git_repository_free(*repo);
}

int checkout_lock_at(int dirfd, const char *name, int op)
{
	for (;;) {
		cleanup_close int fd = openat(
			dirfd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
		struct stat a, b;

		if (fd < 0)
			return -errno;
		while (flock(fd, op) < 0)
			if (errno != EINTR)
				return -errno;
		if (fstat(fd, &a) < 0)
			return -errno;
		if (fstatat(dirfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0) {
			if (a.st_dev == b.st_dev && a.st_ino == b.st_ino)
				return TAKE_FD(fd);
		} else if (errno != ENOENT) {
			return -errno;
		}
		/* Removed or replaced while we waited: lock the file that has the name now. */
	}
}

unsigned checkout_umask(void)
{
	cleanup_free char *text = NULL;
	unsigned mask = 022;
	const char *p;
	size_t len;

	if (read_file_at(AT_FDCWD, "/proc/self/status", 1 << 16, &text, &len, &(struct err){ 0 }) <
	    0)
		return mask;
	p = strstr(text, "\nUmask:\t");
	if (p && sscanf(p + 8, "%o", &mask) != 1)
		mask = 022;
	return mask;
}

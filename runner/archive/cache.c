/* cache.c - the image cache: "<cache_dir>/<sha256>/" trees, each built in a temporary
 * sibling and renamed into place; the (dev, inode, size, mtime, ctime) -> sha256 memo;
 * the gc of what crashed runs left; and the magic-byte sniffing of arc_is_archive(). */
#include "archive/archive.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/sha256.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define TMP_PREFIX ".tmp-"
#define MEMO_DIR   ".memo"
#define MEMO_MAX   256
#define SHOWN	   200

int arc_is_archive(const char *path)
{
	/* O_NONBLOCK: opening a FIFO must not hang; it is then refused as not regular. */
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	unsigned char b[512];
	struct stat st;
	ssize_t n;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return 0;
	do
		n = pread(fd, b, sizeof(b), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((n >= 2 && b[0] == 0x1f && b[1] == 0x8b) ||			 /* gzip */
	    (n >= 6 && memcmp(b, "\xfd\x37\x7a\x58\x5a\x00", 6) == 0) || /* xz */
	    (n >= 4 && memcmp(b, "\x28\xb5\x2f\xfd", 4) == 0) ||	 /* zstd */
	    (n >= 3 && memcmp(b, "BZh", 3) == 0) ||			 /* bzip2 */
	    (n >= 262 && memcmp(b + 257, "ustar", 5) == 0))		 /* POSIX and GNU tar */
		return 1;
	return 0;
}

static bool same_state(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* The memo only spares hashing: it is trusted when every field matches the tarball as it
 * is now. ctime is in the key because no one can set it: rewriting a tarball in place and
 * touching its mtime back still moves ctime. The cold path hashes what it unpacks anyway. */
static void memo_name(const struct stat *st, char *buf, size_t size)
{
	(void) snprintf(buf, size, MEMO_DIR "/%llx-%llx", (unsigned long long) st->st_dev,
			(unsigned long long) st->st_ino);
}

static void memo_text(const struct stat *st, const char *hex, char *buf, size_t size)
{
	(void) snprintf(buf, size, "v1 size=%lld mtime=%lld.%09ld ctime=%lld.%09ld sha256=%s\n",
			(long long) st->st_size, (long long) st->st_mtim.tv_sec,
			st->st_mtim.tv_nsec, (long long) st->st_ctim.tv_sec, st->st_ctim.tv_nsec,
			hex);
}

static bool is_hex64(const char *s)
{
	for (int i = 0; i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool memo_lookup(int cdir, const struct stat *st, char hex[SHA256_HEX_SIZE])
{
	char name[64], want[MEMO_MAX], have[MEMO_MAX];
	cleanup_close int fd = -1;
	size_t plen;
	ssize_t n;

	memo_name(st, name, sizeof(name));
	memo_text(st, "", want, sizeof(want));
	plen = strlen(want) - 1; /* all but the final newline */
	fd = openat(cdir, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return false;
	n = read(fd, have, sizeof(have) - 1);
	if (n < 0 || (size_t) n != plen + 64 + 1)
		return false;
	have[n] = '\0';
	if (memcmp(have, want, plen) != 0 || !is_hex64(have + plen) || have[n - 1] != '\n')
		return false;
	memcpy(hex, have + plen, 64);
	hex[64] = '\0';
	return true;
}

static void memo_store(int cdir, const struct stat *st, const char *hex)
{
	struct err ignored = { 0 };
	char name[64], text[MEMO_MAX];

	/* An optimisation only, so not fsync'd: a memo that is lost or cannot be written
	 * costs a hash next time. */
	if (mkdirat(cdir, MEMO_DIR, 0700) < 0 && errno != EEXIST)
		return;
	memo_name(st, name, sizeof(name));
	memo_text(st, hex, text, sizeof(text));
	(void) write_file_atomic_at(cdir, name, text, strlen(text), 0600, 0, &ignored);
}

static void memo_forget(int cdir, const struct stat *st)
{
	char name[64];

	memo_name(st, name, sizeof(name));
	(void) unlinkat(cdir, name, 0);
}

static bool parse_uint(const char **p, unsigned *ret)
{
	unsigned long v = 0;
	const char *s = *p;

	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (unsigned long) (*s - '0');
		if (v > 0x7fffffffUL)
			return false;
	}
	*ret = (unsigned) v;
	*p = s;
	return true;
}

/* The owner's pid of ".tmp-<64 hex>-<pid>-<tid>", 0 when the name is not of that shape
 * (then it is not ours and stays). */
static pid_t tmp_owner(const char *name)
{
	const char *p = name + strlen(TMP_PREFIX);
	unsigned pid, tid;

	if (!str_startswith(name, TMP_PREFIX) || strlen(p) < 66 || !is_hex64(p) || p[64] != '-')
		return 0;
	p += 65;
	if (!parse_uint(&p, &pid) || *p++ != '-' || !parse_uint(&p, &tid) || *p != '\0')
		return 0;
	return (pid_t) pid;
}

static bool pid_is_dead(pid_t pid)
{
	return pid > 0 && kill(pid, 0) < 0 && errno == ESRCH;
}

static bool tmp_is_stale(int cdir, const char *name)
{
	cleanup_close int fd = -1;

	if (!pid_is_dead(tmp_owner(name)))
		return false;
	/* The pid says dead, but pids are per namespace and get reused: the owner holds a
	 * lock on its directory for as long as it lives, whatever its pid looks like here. */
	fd = openat(cdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0;
}

static int gc_tmps(int cdir, struct err *err)
{
	CLEANUP(closedirp) DIR *d = NULL;
	struct dirent *de;
	int n = 0;
	int r = dir_open_at(cdir, ".", &d, err);

	if (r < 0)
		return r;
	while ((de = readdir(d))) {
		if (!tmp_is_stale(cdir, de->d_name))
			continue;
		r = arc_rm_tree(cdir, de->d_name, err);
		if (r < 0)
			return r;
		n++;
	}
	return n;
}

/* Memo entries whose image is gone, and write_file_atomic_at() leftovers of dead pids. */
static int gc_memos(int cdir, struct err *err)
{
	int fd = openat(cdir, MEMO_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	CLEANUP(closedirp) DIR *d = NULL;
	struct dirent *de;
	int n = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : err_set(err, errno, "open '" MEMO_DIR "'");
	d = fdopendir(fd);
	if (!d) {
		(void) close(fd);
		return err_set(err, errno, "opendir '" MEMO_DIR "'");
	}
	while ((de = readdir(d))) {
		const char *tmp = strstr(de->d_name, ".tmp.");
		char text[MEMO_MAX], hex[SHA256_HEX_SIZE];
		cleanup_close int mfd = -1;
		bool stale;
		unsigned pid;
		ssize_t len;

		if (de->d_name[0] == '.')
			continue;
		if (tmp) {
			const char *p = tmp + 5;
			stale = parse_uint(&p, &pid) && *p == '\0' && pid_is_dead((pid_t) pid);
		} else {
			mfd = openat(dirfd(d), de->d_name,
				     O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
			len = mfd < 0 ? -1 : read(mfd, text, sizeof(text) - 1);
			if (len < 66 || text[len - 1] != '\n')
				continue;
			text[len] = '\0';
			memcpy(hex, text + len - 65, 64);
			hex[64] = '\0';
			stale = is_hex64(hex) &&
				faccessat(cdir, hex, F_OK, AT_SYMLINK_NOFOLLOW) < 0 &&
				errno == ENOENT;
		}
		if (!stale)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT)
			return err_set(err, errno, "unlink '" MEMO_DIR "/%s'", de->d_name);
		n++;
	}
	return n;
}

int arc_gc(const char *cache_dir, struct err *err)
{
	cleanup_close int cdir = open(cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int a, b;

	if (cdir < 0 && errno == ENOENT)
		return 0;
	if (cdir < 0)
		return err_set(err, errno, "image cache '%s': open", cache_dir);
	a = gc_tmps(cdir, err);
	if (a < 0)
		return err_wrap(err, "image cache '%s'", cache_dir);
	b = gc_memos(cdir, err);
	if (b < 0)
		return err_wrap(err, "image cache '%s'", cache_dir);
	return a + b;
}

/* Extract into the locked temporary directory tfd and rename it to hex: 0 done, 1 when
 * another caller renamed its copy first (ours is then the caller's to remove). */
static int fill_and_publish(int fd, int cdir, int tfd, const char *tmp, const char *hex,
			    const char *cache_dir, struct err *err)
{
	int r;

	if (lseek(fd, 0, SEEK_SET) < 0)
		return err_set(err, errno, "seek");
	r = arc_extract_fd(fd, tfd, &arc_default_limits, hex, err);
	if (r < 0)
		return r;
	if (fchmod(tfd, 0755) < 0)
		return err_set(err, errno, "chmod '%s/%s'", cache_dir, tmp);
	/* Files reach the disk before the rename does: after a power cut, whole or nothing. */
	if (syncfs(tfd) < 0)
		return err_set(err, errno, "sync '%s/%s'", cache_dir, tmp);
	if (renameat(cdir, tmp, cdir, hex) < 0) {
		if (errno == ENOTEMPTY || errno == EEXIST)
			return 1; /* the same bytes, unpacked by a racing caller */
		return err_set(err, errno, "rename '%s/%s' to '%s'", cache_dir, tmp, hex);
	}
	(void) fsync(cdir);
	return 0;
}

static int unpack_into_cache(int fd, int cdir, const char *hex, const char *cache_dir,
			     struct err *err)
{
	struct err ignored = { 0 };
	cleanup_close int tfd = -1;
	char tmp[128];
	int r;

	/* pid for gc's liveness test, tid because threads of one process may race too. */
	(void) snprintf(tmp, sizeof(tmp), TMP_PREFIX "%s-%d-%d", hex, (int) getpid(),
			(int) gettid());
	if (mkdirat(cdir, tmp, 0755) < 0) {
		if (errno != EEXIST)
			return err_set(err, errno, "mkdir '%s/%s'", cache_dir, tmp);
		/* Our pid and tid: no live task shares a tid, so a dead run left this. */
		r = arc_rm_tree(cdir, tmp, err);
		if (r < 0)
			return r;
		if (mkdirat(cdir, tmp, 0755) < 0)
			return err_set(err, errno, "mkdir '%s/%s'", cache_dir, tmp);
	}
	tfd = openat(cdir, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (tfd < 0) {
		r = err_set(err, errno, "open '%s/%s'", cache_dir, tmp);
		(void) arc_rm_tree(cdir, tmp, &ignored);
		return r;
	}
	/* Held until we return (tfd closes): arc_gc() leaves a locked directory alone. A
	 * file system without flock() only weakens gc to the pid test. */
	(void) flock(tfd, LOCK_EX | LOCK_NB);
	r = fill_and_publish(fd, cdir, tfd, tmp, hex, cache_dir, err);
	if (r != 0)
		(void) arc_rm_tree(cdir, tmp, &ignored);
	return r < 0 ? r : 0;
}

/* Is "<cache_dir>/<hex>" there: 1 yes, 0 no, < 0 something else is in its place. */
static int image_present(int cdir, const char *hex, const char *cache_dir, struct err *err)
{
	struct stat st;

	if (fstatat(cdir, hex, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return err_set(err, errno, "stat '%s/%s'", cache_dir, hex);
	}
	if (!S_ISDIR(st.st_mode))
		return err_set(err, EEXIST, "'%s/%s' is not an image directory; remove it",
			       cache_dir, hex);
	return 1;
}

/* The tarball's sha256, from the memo or by reading it; *ret_store tells whether a fresh
 * hash is worth remembering (not when the file changed while it was read). */
static int hash_tarball(int fd, int cdir, const struct stat *st, char hex[SHA256_HEX_SIZE],
			bool *ret_store)
{
	struct stat after;
	int r;

	if (memo_lookup(cdir, st, hex)) {
		*ret_store = false;
		return 0;
	}
	r = sha256_fd(fd, hex);
	if (r < 0)
		return r;
	if (fstat(fd, &after) < 0)
		return -errno;
	*ret_store = same_state(st, &after);
	return 0;
}

int arc_unpack_image(const char *tarball, const char *cache_dir, char **ret_dir, struct err *err)
{
	cleanup_close int fd = open(tarball, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	cleanup_close int cdir = -1;
	char shown[SHOWN], hex[SHA256_HEX_SIZE];
	bool store = false;
	struct stat st;
	int r;

	arc_printable(tarball, shown, sizeof(shown));
	if (fd < 0)
		return err_set(err, errno, "image '%s': open", shown);
	if (fstat(fd, &st) < 0)
		return err_set(err, errno, "image '%s': stat", shown);
	if (!S_ISREG(st.st_mode))
		return err_set(err, EINVAL,
			       "image '%s': not a regular file; pass a tarball or a "
			       "directory",
			       shown);
	r = mkdir_p(cache_dir, 0700, err);
	if (r < 0)
		return err_wrap(err, "image '%s': cache", shown);
	cdir = open(cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cdir < 0)
		return err_set(err, errno, "image '%s': open cache '%s'", shown, cache_dir);
	r = hash_tarball(fd, cdir, &st, hex, &store);
	if (r < 0)
		return err_set(err, -r, "image '%s': read", shown);
	r = image_present(cdir, hex, cache_dir, err);
	if (r < 0)
		return err_wrap(err, "image '%s'", shown);
	if (r == 0) {
		struct err ignored = { 0 };

		(void) gc_tmps(cdir, &ignored);
		r = unpack_into_cache(fd, cdir, hex, cache_dir, err);
		if (r == -EAGAIN)
			memo_forget(cdir, &st);
		if (r == -ENOSPC || r == -EDQUOT)
			(void) err_wrap(err,
					"cache '%s' is full; free space there or remove "
					"unused images",
					cache_dir);
		if (r < 0)
			return err_wrap(err, "image '%s'", shown);
	}
	if (store)
		memo_store(cdir, &st, hex);
	*ret_dir = path_join(cache_dir, hex);
	return 0;
}

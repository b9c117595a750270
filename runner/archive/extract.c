/* extract.c - the extraction core. libarchive reads the archive; each entry is judged by
 * our own rules first (entry.c for names, then the tree as it stands: no symlinked parent,
 * hardlinks only to files already unpacked), cleaned (no setuid, no device nodes, no
 * ownership), and archive_write_disk writes it below the thread's cwd, the target dir, with
 * its SECURE_* checks as the second wall. */
#include "archive/internal.h"

#include <archive.h>
#include <archive_entry.h>
#include "archive/dl.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/err.h"
#include "util/sha256.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

const struct arc_limits arc_default_limits = {
	.max_bytes = ARC_MAX_BYTES,
	.max_entries = ARC_MAX_ENTRIES,
};

#define READ_CHUNK ((size_t) 256 << 10)
#define SHOWN	   200 /* room for an entry name in a message */

/* Owner, setuid and device bits are left out on purpose: everything belongs to the caller
 * (an image is not allowed to say who owns what on the host), and nothing is special. */
#define WRITE_FLAGS                                                                                \
	(ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SECURE_SYMLINKS |           \
	 ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS)

struct source {
	int fd;		  /* borrowed; -1 when reading memory */
	const void *data; /* borrowed */
	size_t size;
	uint8_t *buf; /* READ_CHUNK bytes, borrowed */
	bool hash;
	struct sha256 sha;
};

struct job {
	struct source *src;
	int rootfd; /* borrowed */
	const struct arc_limits *lim;
	int r;
	struct err err;
};

DEFINE_CLEANUP(struct archive *, archive_read_free)
DEFINE_CLEANUP(struct archive *, archive_write_free)

static la_ssize_t source_read(struct archive *a, void *userdata, const void **ret_buf)
{
	struct source *s = userdata;

	for (;;) {
		ssize_t n = read(s->fd, s->buf, READ_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			archive_set_error(a, errno, "read");
			return -1;
		}
		if (s->hash)
			sha256_update(&s->sha, s->buf, (size_t) n);
		*ret_buf = s->buf;
		return n;
	}
}

/* libarchive says "bad data" with EILSEQ or its own -1; to the caller it is EINVAL. */
static int data_errno(int code)
{
	return code <= 0 || code == EILSEQ || code == EINVAL ? EINVAL : code;
}

static int read_error(struct archive *rd, const char *entry, bool in_entry, struct err *err)
{
	const char *what = archive_error_string(rd) ? archive_error_string(rd) : "read failed";
	long long off = (long long) archive_filter_bytes(rd, -1);
	int code = data_errno(archive_errno(rd));
	char at[48] = "";

	/* Where in the file, when libarchive still knows (not after a failed open). */
	if (off >= 0)
		(void) snprintf(at, sizeof(at), " (byte %lld)", off);
	if (!entry)
		return err_set(err, code,
			       "start of file%s: %s; not a tar archive (plain or gzip, bzip2, xz, "
			       "zstd compressed), or damaged",
			       at, what);
	return err_set(err, code,
		       "%s '%s'%s: %s; the file is damaged or incomplete, fetch or rebuild it",
		       in_entry ? "entry" : "after entry", entry, at, what);
}

static int write_error(struct archive *wr, const char *entry, struct err *err)
{
	const char *what = archive_error_string(wr) ? archive_error_string(wr) : "write failed";
	int code = archive_errno(wr);

	/* libarchive's own refusals (SECURE_*) come without an errno. */
	if (data_errno(code) == EINVAL)
		return err_set(err, EINVAL, "entry '%s': %s; rebuild the image without it", entry,
			       what);
	return err_set(err, code, "entry '%s': %s", entry, what);
}

/* Walk the parents of name (relative to rootfd) without following anything. SECURITY:
 * an image may plant "link -> /etc" and then "link/passwd"; a hardlink may name
 * "link/shadow". Returns 0 with *ret_st when name exists, 1 when something on the way is
 * missing (the writer creates it), -EINVAL when a parent is a symlink or not a directory. */
static int walk_parents(int rootfd, const char *name, struct stat *ret_st, const char **ret_why,
			char *bad, size_t badsize)
{
	char path[ARC_MAX_PATH + 1];
	size_t len;

	if (name[0] == '.' && name[1] == '/')
		name += 2;
	if (str_copy(path, sizeof(path), name) < 0) {
		*ret_why = "name too long";
		return -ENAMETOOLONG;
	}
	len = strlen(path);
	if (len > 0 && path[len - 1] == '/')
		path[len - 1] = '\0';
	for (char *s = path;; s++) {
		struct stat st;
		char saved;

		s = strchrnul(s, '/');
		saved = *s;
		*s = '\0';
		if (fstatat(rootfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				return 1;
			*ret_why = "stat";
			return errno > 0 ? -errno : -EIO;
		}
		if (saved == '\0') {
			*ret_st = st;
			return 0;
		}
		if (!S_ISDIR(st.st_mode)) {
			arc_printable(path, bad, badsize);
			*ret_why = S_ISLNK(st.st_mode) ? "is a symlink (extraction never follows "
							 "links); rebuild the image without it"
						       : "is not a directory; rebuild the image "
							 "without it";
			return -EINVAL;
		}
		*s = saved;
	}
}

static int check_tree(int rootfd, const char *shown, const char *name, const char *hardlink,
		      bool is_dir, struct err *err)
{
	char bad[SHOWN] = "", target[SHOWN];
	const char *why = NULL;
	struct stat st = { 0 };
	int r;

	if (hardlink) {
		arc_printable(hardlink, target, sizeof(target));
		r = walk_parents(rootfd, hardlink, &st, &why, bad, sizeof(bad));
		if (r == -EINVAL && bad[0])
			return err_set(err, EINVAL, "entry '%s': hardlink target '%s': '%s' %s",
				       shown, target, bad, why);
		if (r < 0)
			return err_set(err, -r, "entry '%s': hardlink target '%s': %s", shown,
				       target, why);
		if (r == 1)
			return err_set(err, EINVAL,
				       "entry '%s': hardlink target '%s' is not in the image "
				       "before it; rebuild the image",
				       shown, target);
		if (S_ISDIR(st.st_mode))
			return err_set(err, EINVAL,
				       "entry '%s': hardlink to directory '%s'; rebuild the image "
				       "without it",
				       shown, target);
	}
	bad[0] = '\0';
	r = walk_parents(rootfd, name, &st, &why, bad, sizeof(bad));
	if (r == -EINVAL && bad[0])
		return err_set(err, EINVAL, "entry '%s': '%s' %s", shown, bad, why);
	if (r < 0)
		return err_set(err, -r, "entry '%s': %s", shown, why);
	/* SECURITY: a directory stays a directory. libarchive sets directory modes and
	 * times at the end, by name: had a symlink replaced one meanwhile, that chmod would
	 * follow it out of the image (CVE-2021-31566 was this, inside libarchive). */
	if (r == 0 && S_ISDIR(st.st_mode) && !is_dir)
		return err_set(err, EINVAL,
			       "entry '%s' would replace a directory; rebuild the image without "
			       "one of them",
			       shown);
	return 0;
}

/* Decide about one entry and clean it: 0 to write it, 1 to skip it, < 0 to refuse. */
static int prepare_entry(struct archive_entry *e, int rootfd, const struct arc_limits *lim,
			 uint64_t *bytes, const char *shown, struct err *err)
{
	const char *name = archive_entry_pathname(e);
	const char *hardlink = archive_entry_hardlink(e);
	const char *symlink = archive_entry_symlink(e);
	mode_t type = archive_entry_filetype(e);
	mode_t perm = archive_entry_perm(e);
	const char *why = NULL;
	int r;

	if (!lim->no_own_checks) {
		r = arc_check_name(name, &why);
		if (r < 0)
			return err_set(err, EINVAL, "entry '%s': %s", shown, why);
		if (r == 1)
			return 1; /* the image root: ours stays 0755 */
	}
	if (hardlink) {
		if (!lim->no_own_checks && arc_check_name(hardlink, &why) != 0) {
			char target[SHOWN];
			return err_set(err, EINVAL, "entry '%s': hardlink target '%s': %s", shown,
				       arc_printable(hardlink, target, sizeof(target)),
				       why ? why : "the image root; rebuild the image without it");
		}
		/* SECURITY: the data is the target's; nothing is ever written through a link. */
		archive_entry_set_size(e, 0);
	} else {
		switch (type) {
		case AE_IFREG:
			if (archive_entry_size(e) < 0 ||
			    (uint64_t) archive_entry_size(e) > lim->max_bytes - *bytes) {
				char max[32];
				str_format_size(lim->max_bytes, max, sizeof(max));
				return err_set(err, EFBIG,
					       "entry '%s': the image holds more than %s of file "
					       "data; shrink it",
					       shown, max);
			}
			*bytes += (uint64_t) archive_entry_size(e);
			break;
		case AE_IFDIR:
			archive_entry_set_size(e, 0);
			break;
		case AE_IFLNK:
			/* Symlinks may point anywhere: they are resolved inside the sandbox,
			 * whose root is this image. Only their length is ours to judge. */
			if (!symlink || !symlink[0] || strlen(symlink) > ARC_MAX_PATH)
				return err_set(err, EINVAL,
					       "entry '%s': symlink target empty or longer than "
					       "4095 bytes; rebuild the image without it",
					       shown);
			archive_entry_set_size(e, 0);
			break;
		case AE_IFCHR:
		case AE_IFBLK:
		case AE_IFIFO:
		case AE_IFSOCK:
			return 1; /* the sandbox brings its own /dev; a FIFO in an image is junk */
		default:
			return err_set(err, EINVAL,
				       "entry '%s': unknown file type 0%o; rebuild the image "
				       "without it",
				       shown, (unsigned) type);
		}
	}
	/* SECURITY: no setuid or setgid program reaches a sandbox through an image; sticky
	 * stays only where it means something (directories such as /tmp). */
	archive_entry_set_perm(e, perm & (type == AE_IFDIR ? 01777 : 0777));
	if (lim->no_own_checks)
		return 0;
	return check_tree(rootfd, shown, name, hardlink, !hardlink && type == AE_IFDIR, err);
}

static int copy_data(struct archive *rd, struct archive *wr, const char *shown, struct err *err)
{
	for (;;) {
		const void *buf;
		size_t size;
		la_int64_t off;
		int r = archive_read_data_block(rd, &buf, &size, &off);

		if (r == ARCHIVE_EOF)
			return 0;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return read_error(rd, shown, true, err);
		/* A failed write(2) comes back as ARCHIVE_WARN: anything short of OK is an
		 * error here. */
		if (archive_write_data_block(wr, buf, size, off) < ARCHIVE_OK)
			return write_error(wr, shown, err);
	}
}

static int open_source(struct archive *rd, struct source *src)
{
	/* Tar only: mtree would read host files named by the archive, and the other formats
	 * and filters (external programs among them) are surface no root image needs. */
	(void) archive_read_support_filter_gzip(rd);
	(void) archive_read_support_filter_bzip2(rd);
	(void) archive_read_support_filter_xz(rd);
	(void) archive_read_support_filter_zstd(rd);
	(void) archive_read_support_format_tar(rd);
	if (src->fd >= 0)
		return archive_read_open(rd, src, NULL, source_read, NULL);
	return archive_read_open_memory(rd, src->data, src->size);
}

static int extract_all(struct job *j, struct err *err)
{
	CLEANUP(archive_read_freep) struct archive *rd = archive_read_new();
	CLEANUP(archive_write_freep) struct archive *wr = archive_write_disk_new();
	char shown[SHOWN] = "";
	uint64_t nentries = 0, bytes = 0;
	int written = 0;

	if (!rd || !wr)
		abort(); /* out of memory */
	if (open_source(rd, j->src) != ARCHIVE_OK)
		return read_error(rd, NULL, false, err);
	if (archive_write_disk_set_options(wr, WRITE_FLAGS) != ARCHIVE_OK)
		return write_error(wr, "(options)", err);
	for (;;) {
		struct archive_entry *e;
		int r = archive_read_next_header(rd, &e);

		if (r == ARCHIVE_EOF)
			break;
		/* ARCHIVE_WARN: e.g. a pax UTF-8 name in the C locale; the bytes are kept. */
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return read_error(rd, shown[0] ? shown : NULL, false, err);
		if (++nentries > j->lim->max_entries)
			return err_set(err, EFBIG,
				       "more than %llu entries; split or shrink the image",
				       (unsigned long long) j->lim->max_entries);
		if (!archive_entry_pathname(e))
			return err_set(err, EINVAL, "after entry '%s': an entry without a name",
				       shown);
		arc_printable(archive_entry_pathname(e), shown, sizeof(shown));
		r = prepare_entry(e, j->rootfd, j->lim, &bytes, shown, err);
		if (r < 0)
			return r;
		if (r == 1)
			continue;
		if (archive_write_header(wr, e) != ARCHIVE_OK)
			return write_error(wr, shown, err);
		if (archive_entry_size(e) > 0) {
			r = copy_data(rd, wr, shown, err);
			if (r < 0)
				return r;
		}
		if (archive_write_finish_entry(wr) != ARCHIVE_OK)
			return write_error(wr, shown, err);
		written++;
	}
	if (nentries == 0)
		return err_set(err, EINVAL, "no entries; not a root image");
	/* Directory modes and times are applied here, deepest first. */
	if (archive_write_close(wr) != ARCHIVE_OK)
		return write_error(wr, "(directory modes and times)", err);
	return written;
}

static void *job_main(void *userdata)
{
	struct job *j = userdata;

	/* cwd and umask belong to the whole process: archive_write_disk resolves entry names
	 * against the cwd (SECURE_* need relative names), and archive_write_disk_new() calls
	 * umask(0) then restores it. With CLONE_FS unshared this thread has its own, and
	 * they end with it; nothing leaks into, or races with, other threads. */
	if (unshare(CLONE_FS) < 0) {
		j->r = err_set(&j->err, errno, "unshare(CLONE_FS) for the extraction thread");
		return NULL;
	}
	if (fchdir(j->rootfd) < 0) {
		j->r = err_set(&j->err, errno, "chdir into the target directory");
		return NULL;
	}
	(void) umask(022);
	j->r = extract_all(j, &j->err);
	return NULL;
}

static int run_job(struct job *j, struct err *err)
{
	pthread_t thread;
	int r = arc_dl_load(err);

	if (r < 0)
		return r;
	r = pthread_create(&thread, NULL, job_main, j);

	if (r != 0)
		return err_set(err, r, "start the extraction thread");
	r = pthread_join(thread, NULL);
	if (r != 0)
		abort(); /* only for a bad thread id */
	if (j->r < 0)
		*err = j->err;
	return j->r;
}

int arc_extract_fd(int fd, int rootfd, const struct arc_limits *lim, const char *expect_hex,
		   struct err *err)
{
	cleanup_free uint8_t *buf = xmalloc(READ_CHUNK);
	struct source src = { .fd = fd, .buf = buf, .hash = expect_hex != NULL };
	struct job j = { .src = &src, .rootfd = rootfd, .lim = lim };
	uint8_t digest[SHA256_DIGEST_SIZE];
	char hex[SHA256_HEX_SIZE];
	int r;

	sha256_init(&src.sha);
	r = run_job(&j, err);
	if (r < 0 || !expect_hex)
		return r;
	/* libarchive stops at the end-of-archive blocks; the hash covers the whole file. */
	for (;;) {
		ssize_t n = read(fd, buf, READ_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set(err, errno, "read");
		if (n == 0)
			break;
		sha256_update(&src.sha, buf, (size_t) n);
	}
	sha256_final(&src.sha, digest);
	sha256_to_hex(digest, hex);
	if (strcmp(hex, expect_hex) != 0)
		return err_set(err, EAGAIN, "the file changed while it was unpacked; try again");
	return r;
}

int arc_extract_mem(const void *data, size_t size, int rootfd, const struct arc_limits *lim,
		    struct err *err)
{
	struct source src = { .fd = -1, .data = data, .size = size };
	struct job j = { .src = &src, .rootfd = rootfd, .lim = lim };

	return run_job(&j, err);
}

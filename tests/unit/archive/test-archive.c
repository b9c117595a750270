/* test-archive.c - unpacking root images: exact content and modes, the cache, and every
 * hostile entry refused by name with nothing left behind. Tarballs are built here with
 * libarchive's writer (and, for what it will not write, by hand). No root needed. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "archive/archive.h"
#include "archive/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "test.h"

#define MTIME 1600000000

struct ent {
	const char *name;
	char type; /* f file, d dir, l symlink, h hardlink, c char device, p FIFO */
	unsigned mode;
	const char *data; /* file content or link target */
};

enum { PLAIN, GZIP, BZIP2, XZ, ZSTD };

static void write_tar(const char *path, const struct ent *e, size_t n, int filter)
{
	struct archive *a = archive_write_new();

	CHECK(a);
	CHECK_EQ(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	if (filter == GZIP)
		CHECK_EQ(archive_write_add_filter_gzip(a), ARCHIVE_OK);
	if (filter == BZIP2)
		CHECK_EQ(archive_write_add_filter_bzip2(a), ARCHIVE_OK);
	if (filter == XZ)
		CHECK_EQ(archive_write_add_filter_xz(a), ARCHIVE_OK);
	if (filter == ZSTD)
		CHECK_EQ(archive_write_add_filter_zstd(a), ARCHIVE_OK);
	CHECK_EQ(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *x = archive_entry_new();
		size_t len = e[i].type == 'f' ? strlen(e[i].data) : 0;

		archive_entry_set_pathname(x, e[i].name);
		archive_entry_set_mtime(x, MTIME, 0);
		archive_entry_set_perm(x, e[i].mode);
		archive_entry_set_uid(x, 1234);
		archive_entry_set_gid(x, 1234);
		switch (e[i].type) {
		case 'f':
			archive_entry_set_filetype(x, AE_IFREG);
			break;
		case 'd':
			archive_entry_set_filetype(x, AE_IFDIR);
			break;
		case 'l':
			archive_entry_set_filetype(x, AE_IFLNK);
			archive_entry_set_symlink(x, e[i].data);
			break;
		case 'h':
			archive_entry_set_filetype(x, AE_IFREG);
			archive_entry_set_hardlink(x, e[i].data);
			break;
		case 'c':
			archive_entry_set_filetype(x, AE_IFCHR);
			archive_entry_set_rdev(x, makedev(1, 3));
			break;
		case 'p':
			archive_entry_set_filetype(x, AE_IFIFO);
			break;
		default:
			CHECK(!"bad type");
		}
		archive_entry_set_size(x, (la_int64_t) len);
		CHECK_EQ(archive_write_header(a, x), ARCHIVE_OK);
		if (len)
			CHECK_EQ(archive_write_data(a, e[i].data, len), (long long) len);
		archive_entry_free(x);
	}
	CHECK_EQ(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static char *tmp_path(const char *name)
{
	return path_join(test_tmpdir(), name);
}

static char *make_tar(const char *name, const struct ent *e, size_t n, int filter)
{
	char *p = tmp_path(name);

	write_tar(p, e, n, filter);
	return p;
}

static void write_bytes(const char *path, const void *data, size_t len)
{
	cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	CHECK(fd >= 0);
	CHECK_EQ(write(fd, data, len), (long long) len);
}

static char *slurp(const char *path)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf = xmalloc(4096);
	ssize_t n;

	CHECK(fd >= 0);
	n = read(fd, buf, 4095);
	CHECK(n >= 0);
	buf[n] = '\0';
	return buf;
}

/* Nothing but finished images (and the memo) in the cache: no ".tmp-*", and exactly
 * nimages image directories. */
static void check_cache(const char *cache, int nimages)
{
	DIR *d = opendir(cache);
	struct dirent *de;
	int n = 0;

	if (!d) {
		CHECK_EQ(errno, ENOENT);
		CHECK_EQ(nimages, 0);
		return;
	}
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, ".memo") == 0)
			continue;
		CHECK_STR_NOT_CONTAINS(de->d_name, ".tmp-");
		CHECK_EQ(strlen(de->d_name), 64);
		n++;
	}
	closedir(d);
	CHECK_EQ(n, nimages);
}

static unsigned mode_of(const char *dir, const char *name)
{
	cleanup_free char *p = path_join(dir, name);
	struct stat st;

	CHECK_OK(lstat(p, &st));
	return st.st_mode & 07777;
}

static bool exists(const char *dir, const char *name)
{
	cleanup_free char *p = path_join(dir, name);
	struct stat st;

	return lstat(p, &st) == 0;
}

/* Remove a cache with read-only directories in it, as a plain user too. */
static void drop(const char *dir)
{
	struct err err = { 0 };

	CHECK_OK(arc_rm_tree(AT_FDCWD, dir, &err));
}

static const struct ent normal[] = {
	{ "./", 'd', 0700, NULL },
	{ "./etc/", 'd', 0755, NULL },
	{ "./etc/hostname", 'f', 0644, "box\n" },
	{ "./etc/shadow", 'f', 0600, "root:*:\n" },
	{ "./bin/sh", 'f', 0755, "#!fake shell\n" },
	{ "./bin/sh2", 'h', 0755, "./bin/sh" },
	{ "./etc/sh-link", 'l', 0777, "../bin/sh" },
	{ "./etc/abs-link", 'l', 0777, "/etc/hostname" },
	{ "./ro/", 'd', 0555, NULL },
	{ "./ro/file", 'f', 0444, "read only\n" },
	{ "./usr/lib/deep/file", 'f', 0640, "no parent entries\n" },
	{ "./empty", 'f', 0644, "" },
};

TEST(arc_unpack_normal_image_exactly)
{
	cleanup_free char *tar = make_tar("img.tar", normal, ARRAY_SIZE(normal), PLAIN);
	cleanup_free char *cache = tmp_path("cache");
	cleanup_free char *dir = NULL, *txt = NULL, *p = NULL;
	struct err err = { 0 };
	struct stat a, b;
	char target[256];
	ssize_t n;

	CHECK_OK(arc_unpack_image(tar, cache, &dir, &err));
	CHECK(str_startswith(dir, cache));
	CHECK_EQ(mode_of(dir, "."), 0755); /* ours, not the archive's "./" */
	CHECK_EQ(mode_of(dir, "etc"), 0755);
	CHECK_EQ(mode_of(dir, "etc/hostname"), 0644);
	CHECK_EQ(mode_of(dir, "etc/shadow"), 0600);
	CHECK_EQ(mode_of(dir, "bin/sh"), 0755);
	CHECK_EQ(mode_of(dir, "ro"), 0555);
	CHECK_EQ(mode_of(dir, "ro/file"), 0444);
	CHECK_EQ(mode_of(dir, "usr/lib/deep/file"), 0640);
	p = path_join(dir, "etc/hostname");
	txt = slurp(p);
	CHECK_STR_EQ(txt, "box\n");
	CHECK_OK(lstat(p, &a));
	CHECK_EQ(a.st_mtim.tv_sec, MTIME);
	CHECK_EQ(a.st_uid, geteuid()); /* uid 1234 in the archive: ownership is not restored */
	free(p);
	p = path_join(dir, "ro/file");
	free(txt);
	txt = slurp(p);
	CHECK_STR_EQ(txt, "read only\n");
	free(p);
	p = path_join(dir, "bin/sh");
	CHECK_OK(lstat(p, &a));
	free(p);
	p = path_join(dir, "bin/sh2");
	CHECK_OK(lstat(p, &b));
	CHECK_EQ(a.st_ino, b.st_ino); /* a hardlink, not a copy */
	CHECK_EQ(a.st_nlink, 2);
	free(p);
	p = path_join(dir, "etc/sh-link");
	n = readlink(p, target, sizeof(target) - 1);
	CHECK(n > 0);
	target[n] = '\0';
	CHECK_STR_EQ(target, "../bin/sh");
	free(p);
	p = path_join(dir, "etc/abs-link");
	n = readlink(p, target, sizeof(target) - 1);
	CHECK(n > 0);
	target[n] = '\0';
	CHECK_STR_EQ(target, "/etc/hostname"); /* resolved inside the sandbox, later */
	free(p);
	p = path_join(dir, "empty");
	CHECK_OK(lstat(p, &a));
	CHECK_EQ(a.st_size, 0);
	check_cache(cache, 1);
	drop(cache);
}

TEST(arc_unpack_second_call_reuses_the_image)
{
	cleanup_free char *tar = make_tar("img.tar.gz", normal, ARRAY_SIZE(normal), GZIP);
	cleanup_free char *cache = tmp_path("cache");
	cleanup_free char *one = NULL, *two = NULL, *three = NULL, *marker = NULL;
	struct err err = { 0 };
	struct stat a, b;

	CHECK_OK(arc_unpack_image(tar, cache, &one, &err));
	CHECK_OK(stat(one, &a));
	/* A file we add ourselves survives: the second call did not unpack again. */
	marker = path_join(one, "marker");
	write_bytes(marker, "x", 1);
	CHECK_OK(arc_unpack_image(tar, cache, &two, &err));
	CHECK_STR_EQ(one, two);
	CHECK_OK(stat(two, &b));
	CHECK_EQ(a.st_ino, b.st_ino);
	CHECK(exists(two, "marker"));
	/* Same bytes under another name, another inode: the same image (content address). */
	cleanup_free char *copy = tmp_path("copy.tgz");
	cleanup_free char *bytes = NULL;
	cleanup_close int fd = open(tar, O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	CHECK_OK(fd_read_all(fd, 1 << 20, &bytes, &len));
	write_bytes(copy, bytes, len);
	CHECK_OK(arc_unpack_image(copy, cache, &three, &err));
	CHECK_STR_EQ(one, three);
	CHECK(exists(three, "marker"));
	check_cache(cache, 1);
	drop(cache);
}

TEST(arc_unpack_every_compression)
{
	static const struct {
		int filter;
		const char *name;
	} rows[] = {
		{ PLAIN, "i.tar" }, { GZIP, "i.tar.gz" },  { BZIP2, "i.tar.bz2" },
		{ XZ, "i.tar.xz" }, { ZSTD, "i.tar.zst" },
	};
	const struct ent e[] = { { "etc/os-release", 'f', 0644, "ID=test\n" } };
	cleanup_free char *cache = tmp_path("cache");

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		cleanup_free char *tar = make_tar(rows[i].name, e, 1, rows[i].filter);
		cleanup_free char *dir = NULL, *p = NULL, *txt = NULL;
		struct err err = { 0 };

		CHECK_EQ(arc_is_archive(tar), 1);
		CHECK_OK(arc_unpack_image(tar, cache, &dir, &err));
		p = path_join(dir, "etc/os-release");
		txt = slurp(p);
		CHECK_STR_EQ(txt, "ID=test\n");
	}
	check_cache(cache, ARRAY_SIZE(rows)); /* other bytes, other images */
}

/* Unpack a one-bad-entry image: refused with the entry named, nothing in the cache. */
static void check_refused(const struct ent *e, size_t n, const char *entry, const char *why)
{
	cleanup_free char *tar = make_tar("bad.tar", e, n, PLAIN);
	cleanup_free char *cache = tmp_path("cache");
	char *dir = NULL;
	struct err err = { 0 };
	char want[512];

	CHECK_EQ(arc_unpack_image(tar, cache, &dir, &err), -EINVAL);
	CHECK(dir == NULL);
	(void) snprintf(want, sizeof(want), "image '%s': entry '%s'", tar, entry);
	CHECK_STR_CONTAINS(err.msg, want);
	CHECK_STR_CONTAINS(err.msg, why);
	CHECK_STR_CONTAINS(err.msg, "rebuild the image");
	check_cache(cache, 0);
}

TEST(arc_unpack_refuses_dotdot)
{
	const struct ent e[] = {
		{ "ok", 'f', 0644, "fine" },
		{ "../evil", 'f', 0644, "escaped" },
	};
	cleanup_free char *outside = tmp_path("evil");

	check_refused(e, ARRAY_SIZE(e), "../evil", "path leaves the image");
	CHECK(access(outside, F_OK) < 0);
}

TEST(arc_unpack_refuses_the_example_message)
{
	const struct ent e[] = { { "../evil", 'f', 0644, "escaped" } };
	cleanup_free char *tar = make_tar("x.tar", e, 1, PLAIN);
	cleanup_free char *cache = tmp_path("cache");
	char *dir = NULL;
	struct err err = { 0 };
	char want[512];

	CHECK_EQ(arc_unpack_image(tar, cache, &dir, &err), -EINVAL);
	(void) snprintf(want, sizeof(want),
			"image '%s': entry '../evil': path leaves the image; rebuild the image "
			"without it",
			tar);
	CHECK(str_startswith(err.msg, want));
}

TEST(arc_unpack_refuses_absolute)
{
	cleanup_free char *abs = tmp_path("abs-pwned");
	const struct ent e[] = { { abs, 'f', 0644, "escaped" } };

	check_refused(e, ARRAY_SIZE(e), abs, "absolute path");
	CHECK(access(abs, F_OK) < 0);
}

TEST(arc_unpack_refuses_dotdot_inside)
{
	const struct ent e[] = {
		{ "a/", 'd', 0755, NULL },
		{ "a/../../x", 'f', 0644, "escaped" },
	};
	cleanup_free char *outside = tmp_path("x");

	check_refused(e, ARRAY_SIZE(e), "a/../../x", "path leaves the image");
	CHECK(access(outside, F_OK) < 0);
}

TEST(arc_unpack_refuses_writing_through_a_symlink)
{
	cleanup_free char *outside = tmp_path("outside");
	cleanup_free char *pwned = tmp_path("outside/pwned");
	const struct ent e[] = {
		{ "link", 'l', 0777, outside },
		{ "link/pwned", 'f', 0644, "escaped" },
	};

	CHECK_OK(mkdir(outside, 0755));
	check_refused(e, ARRAY_SIZE(e), "link/pwned", "'link' is a symlink");
	CHECK(access(pwned, F_OK) < 0);
}

TEST(arc_unpack_refuses_hardlink_out)
{
	const struct ent e[] = {
		{ "etc/", 'd', 0755, NULL },
		{ "etc/passwd", 'h', 0644, "../../etc/passwd" },
	};

	check_refused(e, ARRAY_SIZE(e), "etc/passwd", "hardlink target '../../etc/passwd'");
}

TEST(arc_unpack_refuses_hardlink_through_a_symlink)
{
	cleanup_free char *outside = tmp_path("outside");
	cleanup_free char *secret = tmp_path("outside/secret");
	const struct ent e[] = {
		{ "link", 'l', 0777, outside },
		{ "stolen", 'h', 0644, "link/secret" },
	};
	struct stat st;

	CHECK_OK(mkdir(outside, 0755));
	write_bytes(secret, "host secret", 11);
	check_refused(e, ARRAY_SIZE(e), "stolen", "'link' is a symlink");
	CHECK_OK(stat(secret, &st));
	CHECK_EQ(st.st_nlink, 1);
}

TEST(arc_unpack_hardlink_to_a_symlink_touches_nothing_outside)
{
	/* Allowed (ln makes these), but a hardlink entry never carries data or a mode onto
	 * its target: the link is made and that is all. */
	cleanup_free char *victim = tmp_path("victim");
	const struct ent e[] = {
		{ "s", 'l', 0777, victim },
		{ "h", 'h', 04777, "s" },
	};
	cleanup_free char *tar = make_tar("hs.tar", e, ARRAY_SIZE(e), PLAIN);
	cleanup_free char *cache = tmp_path("cache");
	cleanup_free char *dir = NULL;
	struct err err = { 0 };
	struct stat st;

	write_bytes(victim, "keep", 4);
	CHECK_OK(chmod(victim, 0600));
	CHECK_OK(arc_unpack_image(tar, cache, &dir, &err));
	CHECK_OK(stat(victim, &st));
	CHECK_EQ(st.st_mode & 07777, 0600);
	CHECK_EQ(st.st_size, 4);
	cleanup_free char *h = path_join(dir, "h");
	CHECK_OK(lstat(h, &st));
	CHECK(S_ISLNK(st.st_mode));
}

TEST(arc_unpack_refuses_replacing_a_directory)
{
	const struct ent e[] = {
		{ "d/", 'd', 0755, NULL },
		{ "d", 'l', 0777, "/etc" },
	};

	check_refused(e, ARRAY_SIZE(e), "d", "would replace a directory");
}

TEST(arc_unpack_refuses_odd_names)
{
	const struct ent e1[] = { { "a//b", 'f', 0644, "x" } };
	const struct ent e2[] = { { "a/./b", 'f', 0644, "x" } };
	const struct ent e3[] = { { "new\nline", 'f', 0644, "x" } };

	check_refused(e1, 1, "a//b", "empty path component");
	check_refused(e2, 1, "a/./b", "'.' inside the path");
	check_refused(e3, 1, "new?line", "control character");
}

TEST(arc_unpack_skips_devices_and_fifos)
{
	const struct ent e[] = {
		{ "dev/", 'd', 0755, NULL },
		{ "dev/null", 'c', 0666, NULL },
		{ "fifo", 'p', 0644, NULL },
		{ "ok", 'f', 0644, "fine" },
	};
	cleanup_free char *tar = make_tar("dev.tar", e, ARRAY_SIZE(e), PLAIN);
	cleanup_free char *cache = tmp_path("cache");
	cleanup_free char *dir = NULL;
	struct err err = { 0 };

	CHECK_OK(arc_unpack_image(tar, cache, &dir, &err));
	CHECK(exists(dir, "dev"));
	CHECK(!exists(dir, "dev/null"));
	CHECK(!exists(dir, "fifo"));
	CHECK(exists(dir, "ok"));
}

TEST(arc_unpack_clears_setuid_setgid_sticky_on_files)
{
	const struct ent e[] = {
		{ "suid", 'f', 04755, "x" },	{ "sgid", 'f', 02755, "x" },
		{ "sticky", 'f', 01644, "x" },	{ "tmp/", 'd', 01777, NULL },
		{ "sgdir/", 'd', 02775, NULL }, { "suid-link", 'h', 04755, "suid" },
	};
	cleanup_free char *tar = make_tar("suid.tar", e, ARRAY_SIZE(e), PLAIN);
	cleanup_free char *cache = tmp_path("cache");
	cleanup_free char *dir = NULL;
	struct err err = { 0 };

	CHECK_OK(arc_unpack_image(tar, cache, &dir, &err));
	CHECK_EQ(mode_of(dir, "suid"), 0755);
	CHECK_EQ(mode_of(dir, "sgid"), 0755);
	CHECK_EQ(mode_of(dir, "sticky"), 0644);
	CHECK_EQ(mode_of(dir, "tmp"), 01777);
	CHECK_EQ(mode_of(dir, "sgdir"), 0775);
}

TEST(arc_unpack_truncated_gzip_fails_cleanly)
{
	cleanup_free char *big = xmalloc(300000);
	struct ent e[] = {
		{ "a", 'f', 0644, "first" },
		{ "big", 'f', 0644, big },
	};
	cleanup_free char *tar = NULL, *bytes = NULL;
	cleanup_free char *cache = tmp_path("cache");
	cleanup_free char *cut = tmp_path("cut.tar.gz");
	char *dir = NULL;
	struct err err = { 0 };
	uint32_t x = 7;
	size_t len = 0;

	/* Text that compresses poorly, so the cut lands in the middle of "big". */
	for (size_t i = 0; i < 299999; i++) {
		x = x * 1103515245 + 12345;
		big[i] = (char) ('a' + (x >> 16) % 26);
	}
	big[299999] = '\0';
	tar = make_tar("whole.tar.gz", e, ARRAY_SIZE(e), GZIP);
	cleanup_close int fd = open(tar, O_RDONLY | O_CLOEXEC);
	CHECK_OK(fd_read_all(fd, 1 << 20, &bytes, &len));
	write_bytes(cut, bytes, len / 2);
	CHECK_EQ(arc_unpack_image(cut, cache, &dir, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "entry 'big'");
	CHECK_STR_CONTAINS(err.msg, "damaged or incomplete");
	check_cache(cache, 0);
	/* The whole file still works: a failure remembers nothing. */
	CHECK_OK(arc_unpack_image(tar, cache, &dir, &err));
	free(dir);
	check_cache(cache, 1);
}

TEST(arc_unpack_garbage_and_empty_fail)
{
	cleanup_free char *junk = tmp_path("junk.tar");
	cleanup_free char *empty = tmp_path("empty.tar");
	cleanup_free char *zeros = tmp_path("zeros.tar");
	cleanup_free char *cache = tmp_path("cache");
	char buf[4096], nul[1024] = { 0 };
	char *dir = NULL;
	struct err err = { 0 };
	uint32_t x = 99;

	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245 + 12345;
		buf[i] = (char) (x >> 16);
	}
	write_bytes(junk, buf, sizeof(buf));
	write_bytes(empty, "", 0);
	write_bytes(zeros, nul, sizeof(nul));
	CHECK_EQ(arc_unpack_image(junk, cache, &dir, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "not a tar archive");
	CHECK_EQ(arc_unpack_image(empty, cache, &dir, &err), -EINVAL);
	CHECK_EQ(arc_unpack_image(zeros, cache, &dir, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "no entries");
	CHECK_EQ(arc_unpack_image(cache, cache, &dir, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "not a regular file");
	CHECK(dir == NULL);
	check_cache(cache, 0);
}

TEST(arc_is_archive_by_magic)
{
	static const struct {
		const char *bytes;
		size_t len;
		int want;
	} rows[] = {
		{ "\x1f\x8b\x08\x00", 4, 1 }, /* gzip */
		{ "\xfd"
		  "7zXZ\0\0\x04",
		  8, 1 },			      /* xz */
		{ "\x28\xb5\x2f\xfd\x04\x00", 6, 1 }, /* zstd */
		{ "BZh91AY&SY", 10, 1 },	      /* bzip2 */
		{ "#!/bin/sh\necho hi\n", 18, 0 },
		{ "\x1f", 1, 0 },
		{ "", 0, 0 },
	};
	const struct ent e[] = { { "a", 'f', 0644, "x" } };
	cleanup_free char *tar = make_tar("t.tar", e, 1, PLAIN);
	cleanup_free char *fifo = tmp_path("fifo");
	cleanup_free char *missing = tmp_path("missing");

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		cleanup_free char *p = tmp_path("magic");
		write_bytes(p, rows[i].bytes, rows[i].len);
		if (arc_is_archive(p) != rows[i].want)
			test_fail(__FILE__, __LINE__, "row %zu: %d", i, arc_is_archive(p));
	}
	CHECK_EQ(arc_is_archive(tar), 1); /* "ustar" at 257 */
	CHECK_EQ(arc_is_archive(test_tmpdir()), 0);
	CHECK_OK(mkfifo(fifo, 0600));
	CHECK_EQ(arc_is_archive(fifo), 0); /* and no hang */
	CHECK_EQ(arc_is_archive(missing), -ENOENT);
}

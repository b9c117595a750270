/* test-extract.c - the extraction core below the cache (internal.h): the entry-name rules
 * as a table, libarchive's SECURE_* wall on its own (our checks switched off), the limits,
 * the hash check, and names libarchive reads with a warning. Tarballs are built by hand
 * here, in memory, so that any byte can be put in a header. No root needed. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/path.h"
#include "util/sha256.h"
#include "util/xalloc.h"
#include "test.h"

struct tarbuf {
	char *p;
	size_t len;
};

static void tb_put(struct tarbuf *t, const void *data, size_t len)
{
	size_t padded = (len + 511) / 512 * 512;

	t->p = xrealloc(t->p, t->len + padded);
	memset(t->p + t->len, 0, padded);
	memcpy(t->p + t->len, data, len);
	t->len += padded;
}

/* One ustar header (name and link under 100 bytes) and its data. */
static void tb_add(struct tarbuf *t, const char *name, char type, unsigned mode, const char *link,
		   const char *data)
{
	size_t size = data ? strlen(data) : 0;
	unsigned char h[512] = { 0 };
	unsigned sum = 0;

	(void) snprintf((char *) h, 100, "%s", name);
	(void) snprintf((char *) h + 100, 8, "%07o", mode);
	(void) snprintf((char *) h + 108, 8, "%07o", 0);
	(void) snprintf((char *) h + 116, 8, "%07o", 0);
	(void) snprintf((char *) h + 124, 12, "%011zo", size);
	(void) snprintf((char *) h + 136, 12, "%011o", 1600000000);
	memset(h + 148, ' ', 8);
	h[156] = (unsigned char) type;
	if (link)
		(void) snprintf((char *) h + 157, 100, "%s", link);
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	for (size_t i = 0; i < sizeof(h); i++)
		sum += h[i];
	(void) snprintf((char *) h + 148, 8, "%06o", sum);
	h[155] = ' ';
	tb_put(t, h, sizeof(h));
	if (size)
		tb_put(t, data, size);
}

/* A pax extended header giving the next entry's path. */
static void tb_pax_path(struct tarbuf *t, const char *path)
{
	char rec[600];
	int n = (int) strlen(path) + (int) strlen(" path=\n");
	int len = n + snprintf(NULL, 0, "%d", n);

	if (snprintf(NULL, 0, "%d", len) != snprintf(NULL, 0, "%d", n))
		len++;
	(void) snprintf(rec, sizeof(rec), "%d path=%s\n", len, path);
	tb_add(t, "PaxHeader", 'x', 0644, NULL, rec);
}

static void tb_end(struct tarbuf *t)
{
	static const char zeros[1024];

	tb_put(t, zeros, sizeof(zeros));
}

static int dest(const char *name)
{
	cleanup_free char *p = path_join(test_tmpdir(), name);
	int fd;

	CHECK_OK(mkdir(p, 0755));
	fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(fd >= 0);
	return fd;
}

static void rm_in(const char *name)
{
	cleanup_free char *p = path_join(test_tmpdir(), name);
	struct err err = { 0 };

	CHECK_OK(arc_rm_tree(AT_FDCWD, p, &err));
}

static bool exists_in(const char *dir, const char *name)
{
	cleanup_free char *d = path_join(test_tmpdir(), dir);
	cleanup_free char *p = path_join(d, name);
	struct stat st;

	return lstat(p, &st) == 0;
}

TEST(arc_check_name_table)
{
	static const struct {
		const char *name;
		int r;
		const char *why;
	} rows[] = {
		{ "a", 0, NULL },
		{ "usr/lib/x.so", 0, NULL },
		{ "./usr/", 0, NULL },
		{ "dir/", 0, NULL },
		{ "..a/b..", 0, NULL },
		{ ".hidden/.x", 0, NULL },
		{ "./", 1, NULL },
		{ ".", 1, NULL },
		{ "", -EINVAL, "empty name" },
		{ "/", -EINVAL, "absolute path" },
		{ "/etc/passwd", -EINVAL, "absolute path" },
		{ "..", -EINVAL, "path leaves the image" },
		{ "../x", -EINVAL, "path leaves the image" },
		{ "a/../../x", -EINVAL, "path leaves the image" },
		{ "./../x", -EINVAL, "path leaves the image" },
		{ "a/../b", -EINVAL, "'..' in the path" },
		{ "a/..", -EINVAL, "'..' in the path" },
		{ "a//b", -EINVAL, "empty path component" },
		{ ".//a", -EINVAL, "empty path component" },
		{ "a//", -EINVAL, "empty path component" },
		{ "././a", -EINVAL, "'.' inside the path" },
		{ "a/./b", -EINVAL, "'.' inside the path" },
		{ "a/.", -EINVAL, "'.' inside the path" },
		{ "a\nb", -EINVAL, "control character" },
		{ "a\x7f", -EINVAL, "control character" },
		{ "tab\there", -EINVAL, "control character" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		const char *why = NULL;
		int r = arc_check_name(rows[i].name, &why);
		if (r != rows[i].r)
			test_fail(__FILE__, __LINE__, "'%s': %d != %d", rows[i].name, r, rows[i].r);
		if (rows[i].why) {
			CHECK_STR_CONTAINS(why, rows[i].why);
			CHECK_STR_CONTAINS(why, "rebuild the image");
		}
	}
}

TEST(arc_check_name_lengths_and_depth)
{
	cleanup_free char *longname = xmalloc(5000);
	cleanup_free char *comp = xmalloc(300);
	cleanup_free char *deep = xmalloc(1200);
	const char *why = NULL;

	memset(longname, 'a', 4095);
	longname[4095] = '\0';
	CHECK_EQ(arc_check_name(longname, &why), -EINVAL); /* one component of 4095 */
	for (size_t i = 1; i < 4094; i += 2)
		longname[i] = '/';
	CHECK_EQ(arc_check_name(longname, &why), -EINVAL); /* 2048 levels */
	CHECK_STR_CONTAINS(why, "256 levels");
	memcpy(longname + 4095, "/b", 3);
	CHECK_EQ(arc_check_name(longname, &why), -EINVAL);
	CHECK_STR_CONTAINS(why, "longer than 4095 bytes");
	memset(comp, 'c', 255);
	comp[255] = '\0';
	CHECK_EQ(arc_check_name(comp, &why), 0);
	memcpy(comp + 255, "c", 2);
	CHECK_EQ(arc_check_name(comp, &why), -EINVAL);
	CHECK_STR_CONTAINS(why, "longer than 255 bytes");
	for (size_t i = 0; i < 256; i++)
		memcpy(deep + 2 * i, "d/", 2);
	deep[511] = '\0'; /* 256 levels: fine */
	CHECK_EQ(arc_check_name(deep, &why), 0);
	memcpy(deep + 511, "/e", 3);
	CHECK_EQ(arc_check_name(deep, &why), -EINVAL);
}

TEST(arc_printable_cuts_and_masks)
{
	char buf[16];
	char big[100];

	CHECK_STR_EQ(arc_printable("plain", buf, sizeof(buf)), "plain");
	CHECK_STR_EQ(arc_printable("a\nb\x1b", buf, sizeof(buf)), "a?b?");
	memset(big, 'x', sizeof(big) - 1);
	big[0] = 'A';
	big[98] = 'Z';
	big[99] = '\0';
	arc_printable(big, buf, sizeof(buf));
	CHECK_EQ(strlen(buf), 15);
	CHECK(buf[0] == 'A' && buf[14] == 'Z');
	CHECK_STR_CONTAINS(buf, "...");
}

/* libarchive's SECURE_* flags alone, our checks off: the second wall holds by itself. */
static void check_libarchive_refuses(const struct tarbuf *t, const char *entry)
{
	struct arc_limits lim = arc_default_limits;
	cleanup_close int fd = dest("root");
	struct err err = { 0 };

	lim.no_own_checks = true;
	CHECK(arc_extract_mem(t->p, t->len, fd, &lim, &err) < 0);
	CHECK_STR_CONTAINS(err.msg, entry);
}

TEST(arc_libarchive_alone_refuses_dotdot_absolute_and_symlinks)
{
	cleanup_free char *outside = path_join(test_tmpdir(), "outside");
	cleanup_free char *abs = path_join(test_tmpdir(), "abs-pwned");
	cleanup_free char *secret = path_join(test_tmpdir(), "outside/secret");
	struct tarbuf t1 = { 0 }, t2 = { 0 }, t3 = { 0 }, t4 = { 0 };
	struct stat st;

	CHECK_OK(mkdir(outside, 0755));
	cleanup_close int sfd = open(secret, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	CHECK(sfd >= 0);

	tb_add(&t1, "../dotdot-pwned", '0', 0644, NULL, "x");
	tb_end(&t1);
	check_libarchive_refuses(&t1, "'../dotdot-pwned'");
	CHECK(!exists_in(".", "dotdot-pwned"));
	rm_in("root");

	tb_add(&t2, abs, '0', 0644, NULL, "x");
	tb_end(&t2);
	check_libarchive_refuses(&t2, abs);
	CHECK(!exists_in(".", "abs-pwned"));
	rm_in("root");

	tb_add(&t3, "link", '2', 0777, outside, NULL);
	tb_add(&t3, "link/pwned", '0', 0644, NULL, "x");
	tb_end(&t3);
	check_libarchive_refuses(&t3, "'link/pwned'");
	CHECK(!exists_in("outside", "pwned"));
	rm_in("root");

	tb_add(&t4, "link", '2', 0777, outside, NULL);
	tb_add(&t4, "stolen", '1', 0644, "link/secret", NULL);
	tb_end(&t4);
	check_libarchive_refuses(&t4, "'stolen'");
	CHECK_OK(stat(secret, &st));
	CHECK_EQ(st.st_nlink, 1);
	free(t1.p);
	free(t2.p);
	free(t3.p);
	free(t4.p);
}

TEST(arc_libarchive_alone_refuses_hardlink_out)
{
	struct tarbuf t = { 0 };

	tb_add(&t, "passwd", '1', 0644, "../../etc/passwd", NULL);
	tb_end(&t);
	check_libarchive_refuses(&t, "'passwd'");
	CHECK(!exists_in("root", "passwd"));
	free(t.p);
}

TEST(arc_limits_bytes_and_entries)
{
	struct arc_limits lim = { .max_bytes = 10, .max_entries = 3 };
	cleanup_close int fd = dest("root");
	struct tarbuf t = { 0 };
	struct err err = { 0 };

	tb_add(&t, "a", '0', 0644, NULL, "12345");
	tb_add(&t, "b", '0', 0644, NULL, "12345");
	tb_add(&t, "c", '0', 0644, NULL, "1");
	tb_end(&t);
	CHECK_EQ(arc_extract_mem(t.p, t.len, fd, &lim, &err), -EFBIG);
	CHECK_STR_CONTAINS(err.msg, "entry 'c'");
	CHECK_STR_CONTAINS(err.msg, "more than 10B");
	lim.max_bytes = 100;
	lim.max_entries = 2;
	CHECK_EQ(arc_extract_mem(t.p, t.len, fd, &lim, &err), -EFBIG);
	CHECK_STR_CONTAINS(err.msg, "more than 2 entries");
	lim.max_entries = 3;
	CHECK_EQ(arc_extract_mem(t.p, t.len, fd, &lim, &err), 3);
	free(t.p);
}

TEST(arc_extract_fd_checks_the_hash_of_every_byte)
{
	cleanup_free char *p = path_join(test_tmpdir(), "t.tar");
	cleanup_close int root = dest("root");
	cleanup_close int fd = -1;
	struct tarbuf t = { 0 };
	struct err err = { 0 };
	char hex[65];

	tb_add(&t, "a", '0', 0644, NULL, "hello");
	tb_end(&t);
	fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, t.p, t.len), (long long) t.len);
	/* Trailing bytes after the end-of-archive blocks are part of the file's hash. */
	CHECK_EQ(write(fd, "trailer", 7), 7);
	CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
	CHECK_EQ(arc_extract_fd(fd, root, &arc_default_limits, "0123", &err), -EAGAIN);
	CHECK_STR_CONTAINS(err.msg, "changed while it was unpacked");
	CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
	CHECK_OK(sha256_fd(fd, hex));
	CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
	CHECK_EQ(arc_extract_fd(fd, root, &arc_default_limits, hex, &err), 1);
	CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
	CHECK_EQ(arc_extract_fd(fd, root, &arc_default_limits, NULL, &err), 1);
	free(t.p);
}

TEST(arc_extract_keeps_pax_utf8_names_in_the_c_locale)
{
	/* libarchive cannot convert UTF-8 to the C locale and says so (ARCHIVE_WARN); the
	 * bytes are still right, and images made by docker export are full of such names. */
	cleanup_close int fd = dest("root");
	struct tarbuf t = { 0 };
	struct err err = { 0 };

	tb_pax_path(&t, "donn\xc3\xa9"
			"es/\xe4\xb8\xad.txt");
	tb_add(&t, "ignored", '0', 0644, NULL, "hi");
	tb_end(&t);
	CHECK_EQ(arc_extract_mem(t.p, t.len, fd, &arc_default_limits, &err), 1);
	CHECK(exists_in("root", "donn\xc3\xa9"
				"es/\xe4\xb8\xad.txt"));
	free(t.p);
}

TEST(arc_extract_refuses_unknown_types_and_empty_symlinks)
{
	cleanup_close int fd = dest("root");
	struct tarbuf t1 = { 0 }, t2 = { 0 };
	struct err err = { 0 };

	tb_add(&t1, "empty-link", '2', 0777, "", NULL);
	tb_end(&t1);
	CHECK_EQ(arc_extract_mem(t1.p, t1.len, fd, &arc_default_limits, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "entry 'empty-link': symlink target empty");
	/* A GNU long-name entry without its successor: libarchive's own complaint. */
	tb_add(&t2, "././@LongLink", 'L', 0644, NULL, "x");
	tb_end(&t2);
	CHECK(arc_extract_mem(t2.p, t2.len, fd, &arc_default_limits, &err) < 0);
	free(t1.p);
	free(t2.p);
}

TEST(arc_rm_tree_removes_read_only_trees)
{
	cleanup_free char *top = path_join(test_tmpdir(), "tree");
	cleanup_free char *a = path_join(top, "a");
	cleanup_free char *b = path_join(top, "a/b");
	cleanup_free char *f = path_join(top, "a/b/f");
	struct err err = { 0 };

	CHECK_OK(mkdir(top, 0755));
	CHECK_OK(mkdir(a, 0755));
	CHECK_OK(mkdir(b, 0755));
	cleanup_close int fd = open(f, O_WRONLY | O_CREAT | O_CLOEXEC, 0);
	CHECK(fd >= 0);
	cleanup_free char *link = path_join(top, "a/etc");
	CHECK_OK(symlink("/etc", link));
	CHECK_OK(chmod(b, 0));
	CHECK_OK(chmod(a, 0555));
	CHECK_OK(chmod(top, 0500));
	CHECK_OK(arc_rm_tree(AT_FDCWD, top, &err));
	CHECK(access(top, F_OK) < 0);
	CHECK_OK(access("/etc/passwd", F_OK));	    /* the symlink was removed, not followed */
	CHECK_OK(arc_rm_tree(AT_FDCWD, top, &err)); /* missing is fine */
}

/* test-archive.c - unpacking images as root: a full disk leaves nothing behind, and root's
 * powers (restoring owners, setuid bits, device nodes) are not used on an image's behalf.
 * Mounts happen in a private mount namespace of the test's own child. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "archive/archive.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/path.h"
#include "util/xalloc.h"
#include "need.h"
#include "test.h"

struct ent {
	const char *name;
	mode_t type;
	unsigned mode;
	size_t size; /* bytes of pseudo-random text for files */
};

static char *make_tar(const char *name, const struct ent *e, size_t n)
{
	char *path = path_join(test_tmpdir(), name);
	struct archive *a = archive_write_new();
	uint32_t x = 42;

	CHECK_EQ(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	CHECK_EQ(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *x_e = archive_entry_new();
		cleanup_free char *data = xmalloc(e[i].size + 1);

		for (size_t j = 0; j < e[i].size; j++) {
			x = x * 1103515245 + 12345;
			data[j] = (char) ('a' + (x >> 16) % 26);
		}
		archive_entry_set_pathname(x_e, e[i].name);
		archive_entry_set_filetype(x_e, e[i].type);
		archive_entry_set_perm(x_e, e[i].mode);
		archive_entry_set_uid(x_e, 1234);
		archive_entry_set_gid(x_e, 5678);
		if (e[i].type == AE_IFCHR)
			archive_entry_set_rdev(x_e, makedev(1, 3));
		archive_entry_set_size(x_e, (la_int64_t) e[i].size);
		CHECK_EQ(archive_write_header(a, x_e), ARCHIVE_OK);
		if (e[i].size)
			CHECK_EQ(archive_write_data(a, data, e[i].size), (long long) e[i].size);
		archive_entry_free(x_e);
	}
	CHECK_EQ(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	return path;
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	CHECK(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			(void) fprintf(stderr, "# left behind: %s\n", de->d_name);
			n++;
		}
	closedir(d);
	return n;
}

TEST(arc_unpack_on_a_full_disk_fails_and_leaves_nothing)
{
	NEED(ROOT);
	const struct ent e[] = {
		{ "usr/", AE_IFDIR, 0755, 0 },	      { "usr/a", AE_IFREG, 0644, 2 << 20 },
		{ "usr/b", AE_IFREG, 0644, 2 << 20 }, { "usr/c", AE_IFREG, 0644, 2 << 20 },
		{ "usr/d", AE_IFREG, 0644, 2 << 20 },
	};
	cleanup_free char *tar = make_tar("big.tar", e, ARRAY_SIZE(e));
	cleanup_free char *cache = path_join(test_tmpdir(), "cache");
	char *dir = NULL;
	struct err err = { 0 };
	char want[600];

	CHECK_OK(mkdir(cache, 0700));
	CHECK_OK(unshare(CLONE_NEWNS));
	CHECK_OK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
	CHECK_OK(mount("tmpfs", cache, "tmpfs", MS_NOSUID | MS_NODEV, "size=2m,mode=0700"));

	CHECK_EQ(arc_unpack_image(tar, cache, &dir, &err), -ENOSPC);
	CHECK(dir == NULL);
	(void) snprintf(want, sizeof(want), "image '%s': cache '%s' is full", tar, cache);
	CHECK_STR_CONTAINS(err.msg, want);
	CHECK_STR_CONTAINS(err.msg, "entry 'usr/");
	CHECK_STR_CONTAINS(err.msg, "No space left on device");
	CHECK_EQ(count_entries(cache), 0); /* no image, no .tmp-*, no memo */
	/* And the same works in a cache with room: the failure poisoned nothing. */
	CHECK_OK(umount2(cache, MNT_DETACH));
	CHECK_OK(mount("tmpfs", cache, "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=0700"));
	CHECK_OK(arc_unpack_image(tar, cache, &dir, &err));
	free(dir);
}

TEST(arc_unpack_as_root_restores_no_owner_setuid_or_device)
{
	NEED(ROOT);
	const struct ent e[] = {
		{ "bin/", AE_IFDIR, 0755, 0 },	     { "bin/su", AE_IFREG, 04755, 10 },
		{ "bin/wall", AE_IFREG, 02755, 10 }, { "dev/", AE_IFDIR, 0755, 0 },
		{ "dev/mem", AE_IFCHR, 0666, 0 },    { "dev/fifo", AE_IFIFO, 0666, 0 },
	};
	cleanup_free char *tar = make_tar("root.tar", e, ARRAY_SIZE(e));
	cleanup_free char *cache = path_join(test_tmpdir(), "cache");
	cleanup_free char *dir = NULL, *su = NULL, *wall = NULL, *mem = NULL, *fifo = NULL;
	struct err err = { 0 };
	struct stat st;

	CHECK_OK(arc_unpack_image(tar, cache, &dir, &err));
	su = path_join(dir, "bin/su");
	CHECK_OK(lstat(su, &st));
	CHECK_EQ(st.st_mode & 07777, 0755);
	CHECK_EQ(st.st_uid, 0); /* the caller's, not uid 1234 from the archive */
	CHECK_EQ(st.st_gid, getegid());
	wall = path_join(dir, "bin/wall");
	CHECK_OK(lstat(wall, &st));
	CHECK_EQ(st.st_mode & 07777, 0755);
	mem = path_join(dir, "dev/mem");
	fifo = path_join(dir, "dev/fifo");
	CHECK(lstat(mem, &st) < 0 && errno == ENOENT);
	CHECK(lstat(fifo, &st) < 0 && errno == ENOENT);
}

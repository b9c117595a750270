/* test-cache.c - the image cache around the unpacking: the (dev, inode, size, mtime, ctime)
 * memo, racing callers, and the gc of what crashed runs leave. No root needed. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "archive/archive.h"
#include "archive/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/sha256.h"
#include "util/xalloc.h"
#include "test.h"

#define FAKE_HEX "abababababababababababababababababababababababababababababababab"

/* A tarball of nfiles files of size bytes each, their content drawn from seed. */
static char *make_tar(const char *name, int nfiles, size_t size, uint32_t seed)
{
	char *path = path_join(test_tmpdir(), name);
	cleanup_free char *data = xmalloc(size + 1);
	struct archive *a = archive_write_new();

	CHECK_EQ(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	CHECK_EQ(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (int i = 0; i < nfiles; i++) {
		struct archive_entry *e = archive_entry_new();
		char fname[32];

		for (size_t j = 0; j < size; j++) {
			seed = seed * 1103515245 + 12345;
			data[j] = (char) ('a' + (seed >> 16) % 26);
		}
		(void) snprintf(fname, sizeof(fname), "dir/f%d", i);
		archive_entry_set_pathname(e, fname);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t) size);
		CHECK_EQ(archive_write_header(a, e), ARCHIVE_OK);
		CHECK_EQ(archive_write_data(a, data, size), (long long) size);
		archive_entry_free(e);
	}
	CHECK_EQ(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	return path;
}

static char *memo_path(const char *cache, const char *tar)
{
	struct stat st;

	CHECK_OK(stat(tar, &st));
	return xasprintf("%s/.memo/%llx-%llx", cache, (unsigned long long) st.st_dev,
			 (unsigned long long) st.st_ino);
}

/* A memo for tar claiming hex, its fields shifted by the given amounts. */
static void write_memo(const char *cache, const char *tar, const char *hex, long dsize, long dmtime,
		       long dctime)
{
	cleanup_free char *p = memo_path(cache, tar);
	cleanup_free char *text = NULL;
	cleanup_close int fd = -1;
	struct stat st;

	CHECK_OK(stat(tar, &st));
	text = xasprintf("v1 size=%lld mtime=%lld.%09ld ctime=%lld.%09ld sha256=%s\n",
			 (long long) st.st_size + dsize, (long long) st.st_mtim.tv_sec + dmtime,
			 st.st_mtim.tv_nsec, (long long) st.st_ctim.tv_sec + dctime,
			 st.st_ctim.tv_nsec, hex);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, text, strlen(text)), (long long) strlen(text));
}

static const char *base(const char *path)
{
	return strrchr(path, '/') + 1;
}

TEST(arc_memo_spares_hashing_and_is_ignored_when_anything_differs)
{
	cleanup_free char *a = make_tar("a.tar", 2, 1000, 1);
	cleanup_free char *b = make_tar("b.tar", 2, 1000, 2);
	cleanup_free char *cache = path_join(test_tmpdir(), "cache");
	cleanup_free char *dir_a = NULL, *dir_b = NULL, *memo = NULL, *text = NULL;
	struct err err = { 0 };
	size_t len;

	CHECK_OK(arc_unpack_image(a, cache, &dir_a, &err));
	CHECK_OK(arc_unpack_image(b, cache, &dir_b, &err));
	CHECK_NE(strcmp(dir_a, dir_b), 0);
	/* The memo names the tarball's hash. */
	memo = memo_path(cache, a);
	cleanup_close int fd = open(memo, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK_OK(fd_read_all(fd, 4096, &text, &len));
	CHECK_STR_CONTAINS(text, base(dir_a));
	/* Proof that it is used: a memo that lies, with every field right, is believed. */
	write_memo(cache, a, base(dir_b), 0, 0, 0);
	for (int i = 0; i < 2; i++) {
		cleanup_free char *dir = NULL;
		CHECK_OK(arc_unpack_image(a, cache, &dir, &err));
		CHECK_STR_EQ(dir, dir_b);
	}
	/* One field off and it is ignored: the tarball is hashed again (and the memo
	 * rewritten). */
	static const long shifts[][3] = { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 }, { 0, 0, -1 } };
	for (size_t i = 0; i < ARRAY_SIZE(shifts); i++) {
		cleanup_free char *dir = NULL;
		write_memo(cache, a, base(dir_b), shifts[i][0], shifts[i][1], shifts[i][2]);
		CHECK_OK(arc_unpack_image(a, cache, &dir, &err));
		CHECK_STR_EQ(dir, dir_a);
	}
	/* Garbage in the memo is ignored too. */
	write_memo(cache, a, "not-a-hash", 0, 0, 0);
	cleanup_free char *dir = NULL;
	CHECK_OK(arc_unpack_image(a, cache, &dir, &err));
	CHECK_STR_EQ(dir, dir_a);
}

TEST(arc_memo_pointing_at_a_missing_image_is_checked_while_unpacking)
{
	cleanup_free char *a = make_tar("a.tar", 1, 100, 1);
	cleanup_free char *cache = path_join(test_tmpdir(), "cache");
	cleanup_free char *memo_dir = path_join(cache, ".memo");
	cleanup_free char *dir = NULL;
	struct err err = { 0 };
	char *none = NULL;

	CHECK_OK(mkdir(cache, 0700));
	CHECK_OK(mkdir(memo_dir, 0700));
	/* The memo claims a hash with no image: the unpack hashes what it reads, notices,
	 * keeps nothing, and forgets the memo, so that the next call hashes afresh. */
	write_memo(cache, a, FAKE_HEX, 0, 0, 0);
	CHECK_EQ(arc_unpack_image(a, cache, &none, &err), -EAGAIN);
	CHECK_STR_CONTAINS(err.msg, "changed while it was unpacked");
	CHECK(none == NULL);
	CHECK_OK(arc_unpack_image(a, cache, &dir, &err));
	CHECK_NE(strcmp(base(dir), FAKE_HEX), 0);
}

TEST(arc_racing_callers_share_one_image)
{
	cleanup_free char *tar = make_tar("big.tar", 8, 1 << 20, 3);
	cleanup_free char *cache = path_join(test_tmpdir(), "cache");
	cleanup_close int tfd = open(tar, O_RDONLY | O_CLOEXEC);
	char hex[SHA256_HEX_SIZE];
	cleanup_free char *want = NULL;
	pid_t pids[4];
	int gate[2];

	CHECK_OK(sha256_fd(tfd, hex));
	want = path_join(cache, hex);
	CHECK_OK(pipe2(gate, O_CLOEXEC));
	for (size_t i = 0; i < ARRAY_SIZE(pids); i++) {
		pids[i] = fork();
		CHECK(pids[i] >= 0);
		if (pids[i] == 0) {
			struct err err = { 0 };
			char *dir = NULL, c;
			(void) close(gate[1]);
			(void) !read(gate[0], &c, 1); /* all start together */
			if (arc_unpack_image(tar, cache, &dir, &err) < 0) {
				(void) fprintf(stderr, "# child: %s\n", err.msg);
				_exit(1);
			}
			_exit(strcmp(dir, want) == 0 ? 0 : 2);
		}
	}
	(void) close(gate[0]);
	(void) close(gate[1]);
	for (size_t i = 0; i < ARRAY_SIZE(pids); i++) {
		int status;
		CHECK_EQ(waitpid(pids[i], &status, 0), pids[i]);
		CHECK(WIFEXITED(status));
		CHECK_EQ(WEXITSTATUS(status), 0);
	}
	/* One image, complete, and no temporary copy left. */
	DIR *d = opendir(cache);
	struct dirent *de;
	int n = 0;
	CHECK(d);
	while ((de = readdir(d))) {
		CHECK_STR_NOT_CONTAINS(de->d_name, ".tmp-");
		if (de->d_name[0] != '.') {
			CHECK_STR_EQ(de->d_name, hex);
			n++;
		}
	}
	closedir(d);
	CHECK_EQ(n, 1);
	cleanup_free char *last = path_join(want, "dir/f7");
	struct stat st;
	CHECK_OK(stat(last, &st));
	CHECK_EQ(st.st_size, 1 << 20);
}

static pid_t dead_pid(void)
{
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0)
		_exit(0);
	CHECK_EQ(waitpid(pid, NULL, 0), pid);
	return pid;
}

/* A temporary tree as a crashed run leaves it, read-only directory included. */
static char *fake_tmp(const char *cache, pid_t pid, int tid)
{
	char *p = xasprintf("%s/.tmp-%s-%d-%d", cache, FAKE_HEX, (int) pid, tid);
	cleanup_free char *ro = path_join(p, "ro");
	cleanup_free char *f = path_join(p, "ro/f");
	cleanup_close int fd = -1;

	CHECK_OK(mkdir(p, 0755));
	CHECK_OK(mkdir(ro, 0755));
	fd = open(f, O_WRONLY | O_CREAT | O_CLOEXEC, 0444);
	CHECK(fd >= 0);
	CHECK_OK(chmod(ro, 0555));
	return p;
}

TEST(arc_gc_removes_only_dead_runs_leftovers)
{
	cleanup_free char *cache = path_join(test_tmpdir(), "cache");
	cleanup_free char *tar = make_tar("a.tar", 1, 10, 1);
	cleanup_free char *image = NULL, *dead = NULL, *live = NULL, *locked = NULL;
	cleanup_free char *other = NULL, *odd = NULL, *memo_gone = NULL, *memo_kept = NULL;
	struct err err = { 0 };
	pid_t gone = dead_pid();

	CHECK_OK(arc_unpack_image(tar, cache, &image, &err));
	memo_kept = memo_path(cache, tar);
	dead = fake_tmp(cache, gone, (int) gone);
	live = fake_tmp(cache, getpid(), 1);
	/* Dead by its pid, yet locked: an owner in another pid namespace. Kept. */
	locked = fake_tmp(cache, gone, 7);
	cleanup_close int lfd = open(locked, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(lfd >= 0);
	CHECK_OK(flock(lfd, LOCK_EX));
	other = path_join(cache, "unrelated");
	CHECK_OK(mkdir(other, 0755));
	odd = path_join(cache, ".tmp-notours");
	CHECK_OK(mkdir(odd, 0755));
	memo_gone = path_join(cache, ".memo/1-2");
	cleanup_close int mfd = open(memo_gone, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	CHECK(mfd >= 0);
	static const char text[] = "v1 size=1 mtime=1.0 ctime=1.0 sha256=" FAKE_HEX "\n";
	CHECK_EQ(write(mfd, text, strlen(text)), (long long) strlen(text));

	CHECK_EQ(arc_gc(cache, &err), 2);
	CHECK(access(dead, F_OK) < 0);
	CHECK(access(memo_gone, F_OK) < 0);
	CHECK_OK(access(live, F_OK));
	CHECK_OK(access(locked, F_OK));
	CHECK_OK(access(other, F_OK));
	CHECK_OK(access(odd, F_OK));
	CHECK_OK(access(image, F_OK));
	CHECK_OK(access(memo_kept, F_OK));
	CHECK_EQ(arc_gc(cache, &err), 0);
	/* A missing cache is nothing to do. */
	cleanup_free char *missing = path_join(test_tmpdir(), "missing");
	CHECK_EQ(arc_gc(missing, &err), 0);
	CHECK_OK(arc_rm_tree(AT_FDCWD, cache, &err));
}

TEST(arc_unpack_clears_dead_runs_leftovers_on_its_way)
{
	cleanup_free char *cache = path_join(test_tmpdir(), "cache");
	cleanup_free char *tar = make_tar("a.tar", 1, 10, 1);
	cleanup_free char *image = NULL, *dead = NULL;
	struct err err = { 0 };

	CHECK_OK(mkdir(cache, 0700));
	dead = fake_tmp(cache, dead_pid(), 3);
	CHECK_OK(arc_unpack_image(tar, cache, &image, &err));
	CHECK(access(dead, F_OK) < 0);
}

TEST(arc_unpack_replaces_its_own_stale_tmp)
{
	/* Our pid and tid in a leftover name (a previous life of this pid): it cannot be a
	 * live run's, so the unpack clears it and goes on. */
	cleanup_free char *cache = path_join(test_tmpdir(), "cache");
	cleanup_free char *tar = make_tar("a.tar", 1, 10, 1);
	cleanup_close int fd = open(tar, O_RDONLY | O_CLOEXEC);
	cleanup_free char *image = NULL, *mine = NULL;
	char hex[SHA256_HEX_SIZE];
	struct err err = { 0 };

	CHECK_OK(sha256_fd(fd, hex));
	CHECK_OK(mkdir(cache, 0700));
	mine = xasprintf("%s/.tmp-%s-%d-%d", cache, hex, (int) getpid(), (int) gettid());
	CHECK_OK(mkdir(mine, 0755));
	CHECK_OK(arc_unpack_image(tar, cache, &image, &err));
	CHECK(access(mine, F_OK) < 0);
	CHECK_STR_EQ(base(image), hex);
}

TEST(arc_unpack_refuses_a_non_directory_in_the_images_place)
{
	cleanup_free char *cache = path_join(test_tmpdir(), "cache");
	cleanup_free char *tar = make_tar("a.tar", 1, 10, 1);
	cleanup_close int fd = open(tar, O_RDONLY | O_CLOEXEC);
	cleanup_free char *squat = NULL;
	char *image = NULL;
	char hex[SHA256_HEX_SIZE];
	struct err err = { 0 };

	CHECK_OK(sha256_fd(fd, hex));
	CHECK_OK(mkdir(cache, 0700));
	squat = path_join(cache, hex);
	cleanup_close int sfd = open(squat, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	CHECK(sfd >= 0);
	CHECK_EQ(arc_unpack_image(tar, cache, &image, &err), -EEXIST);
	CHECK_STR_CONTAINS(err.msg, "not an image directory; remove it");
	CHECK(image == NULL);
}

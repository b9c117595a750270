/* test-fd-path-json.c - the util helpers every module leans on: bounded reads, atomic
 * writes, closing inherited fds, path checks, tree removal, and the JSON writer/reader. */
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/json.h"
#include "util/path.h"
#include "util/str.h"

TEST(path_is_clean_table)
{
	static const struct {
		const char *p;
		bool clean;
	} rows[] = {
		{ "/", true },	    { "/a/b", true },	 { "a/b", true },      { "", false },
		{ "/a//b", false }, { "/a/./b", false }, { "/a/../b", false }, { "..", false },
		{ "/a/", false },   { "/..", false },	 { "/.a/b..", true },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (path_is_clean(rows[i].p) != rows[i].clean)
			test_fail(__FILE__, __LINE__, "path_is_clean('%s') != %d", rows[i].p,
				  rows[i].clean);
}

TEST(path_join_folds_slashes)
{
	char *p = path_join("/a/", "/b");
	CHECK_STR_EQ(p, "/a/b");
	free(p);
	p = path_join("/", "x");
	CHECK_STR_EQ(p, "/x");
	free(p);
}

TEST(fd_read_all_is_bounded)
{
	int p[2];
	char *buf = NULL;
	size_t len = 0;

	CHECK_EQ(pipe(p), 0);
	CHECK_EQ(write(p[1], "0123456789", 10), 10);
	close(p[1]);
	CHECK_EQ(fd_read_all(p[0], 9, &buf, &len), -EFBIG);
	CHECK(buf == NULL);
	close(p[0]);
	CHECK_EQ(pipe(p), 0);
	CHECK_EQ(write(p[1], "0123456789", 10), 10);
	close(p[1]);
	CHECK_OK(fd_read_all(p[0], 10, &buf, &len));
	CHECK_EQ(len, 10);
	CHECK_STR_EQ(buf, "0123456789");
	free(buf);
	close(p[0]);
}

TEST(write_file_atomic_replaces_whole)
{
	struct err err = { 0 };
	char *text = NULL;
	int dfd = open(test_tmpdir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	CHECK(dfd >= 0);
	CHECK_OK(write_file_atomic_at(dfd, "f", "one", 3, 0600, 0, &err));
	CHECK_OK(write_file_atomic_at(dfd, "f", "two!", 4, 0600, WRITE_DURABLE, &err));
	CHECK_OK(read_file_at(dfd, "f", 100, &text, NULL, &err));
	CHECK_STR_EQ(text, "two!");
	free(text);
	/* No temporary file is left behind. */
	CHECK(faccessat(dfd, "f.tmp.0", F_OK, 0) < 0);
	close(dfd);
}

TEST(fd_close_all_keeps_only_what_is_asked)
{
	int a = open("/dev/null", O_RDONLY), b = open("/dev/null", O_RDONLY),
	    c = open("/dev/null", O_RDONLY);
	int keep[] = { b };

	CHECK(a > 2 && b > 2 && c > 2);
	CHECK_OK(fd_close_all(3, keep, 1));
	CHECK(fcntl(a, F_GETFD) < 0);
	CHECK(fcntl(b, F_GETFD) >= 0);
	CHECK(fcntl(c, F_GETFD) < 0);
	CHECK(fcntl(1, F_GETFD) >= 0);
}

TEST(rm_rf_does_not_follow_symlinks)
{
	char outside[4096], tree[4096], p[4200];
	struct err err = { 0 };

	snprintf(outside, sizeof(outside), "%s/outside", test_tmpdir());
	snprintf(tree, sizeof(tree), "%s/tree/a/b", test_tmpdir());
	CHECK_OK(mkdir_p(outside, 0755, &err));
	CHECK_OK(mkdir_p(tree, 0755, &err));
	snprintf(p, sizeof(p), "%s/keep", outside);
	CHECK_EQ(close(open(p, O_WRONLY | O_CREAT, 0600)), 0);
	snprintf(p, sizeof(p), "%s/link", tree);
	CHECK_EQ(symlink(outside, p), 0);
	snprintf(p, sizeof(p), "%s/tree", test_tmpdir());
	CHECK_OK(rm_rf_at(AT_FDCWD, p, &err));
	CHECK(access(p, F_OK) < 0);
	snprintf(p, sizeof(p), "%s/keep", outside);
	CHECK_EQ(access(p, F_OK), 0);
	/* Missing is success. */
	snprintf(p, sizeof(p), "%s/tree", test_tmpdir());
	CHECK_OK(rm_rf_at(AT_FDCWD, p, &err));
}

TEST(json_writer_escapes_and_reader_reads_back)
{
	struct json_w *w = json_w_new();
	struct json *j = NULL;
	struct err err = { 0 };
	int64_t v = 0;
	char *text;

	json_w_obj_open(w, NULL);
	json_w_str(w, "s", "quote\" back\\slash \n tab\t \x01");
	json_w_i64(w, "n", -42);
	json_w_bool(w, "b", true);
	json_w_str(w, "null", NULL);
	json_w_arr_open(w, "a");
	json_w_str(w, NULL, "x");
	json_w_i64(w, NULL, 7);
	json_w_arr_close(w);
	json_w_obj_close(w);
	text = json_w_done(w);
	CHECK_STR_EQ(text, "{\"s\":\"quote\\\" back\\\\slash \\u000a tab\\u0009 \\u0001\","
			   "\"n\":-42,\"b\":true,\"null\":null,\"a\":[\"x\",7]}");
	CHECK_OK(json_parse(text, strlen(text), &j, &err));
	CHECK_STR_EQ(json_get_str(j, "s"), "quote\" back\\slash \n tab\t \x01");
	CHECK(json_get_i64(j, "n", &v));
	CHECK_EQ(v, -42);
	CHECK(json_get_str(j, "null") == NULL);
	CHECK_EQ(json_array_len(json_get(j, "a")), 2);
	CHECK_STR_EQ(json_str(json_array_at(json_get(j, "a"), 0)), "x");
	json_free(j);
	free(text);
	CHECK_EQ(json_parse("{\"a\":", 5, &j, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "malformed JSON");
}

TEST(json_object_members_in_order_with_duplicates)
{
	struct json *j = NULL;
	struct err err = { 0 };
	const char *k = NULL;
	const char text[] = "{\"a\":\"1\",\"b\":2,\"a\":\"3\"}";

	CHECK_OK(json_parse(text, sizeof(text) - 1, &j, &err));
	CHECK(json_is_object(j));
	CHECK_EQ(json_object_len(j), 3);
	CHECK_STR_EQ(json_str(json_member_at(j, 0, &k)), "1");
	CHECK_STR_EQ(k, "a");
	CHECK(json_str(json_member_at(j, 1, &k)) == NULL);
	CHECK_STR_EQ(k, "b");
	CHECK_STR_EQ(json_str(json_member_at(j, 2, &k)), "3");
	CHECK(json_member_at(j, 3, &k) == NULL);
	CHECK(!json_is_object(json_get(j, "a")));
	CHECK_EQ(json_object_len(json_get(j, "a")), 0);
	json_free(j);
}

/* test-str.c - parsers of user-given numbers and string helpers. */
#include "util/err.h"
#include "util/str.h"
#include "test.h"

TEST(str_parse_size_table)
{
	static const struct {
		const char *in;
		int r;
		uint64_t out;
	} rows[] = {
		{ "512", 0, 512 },	     { "64K", 0, 64 << 10 },
		{ "2M", 0, 2 << 20 },	     { "2G", 0, 2ULL << 30 },
		{ "1.5G", 0, 3ULL << 29 },   { "1T", 0, 1ULL << 40 },
		{ "2GiB", 0, 2ULL << 30 },   { "2gb", 0, 2ULL << 30 },
		{ "", -EINVAL, 0 },	     { "G", -EINVAL, 0 },
		{ "2X", -EINVAL, 0 },	     { "-1G", -EINVAL, 0 },
		{ "1 G", -EINVAL, 0 },	     { "99999999999999999999", -ERANGE, 0 },
		{ "16777216T", -ERANGE, 0 },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct err err = { 0 };
		uint64_t v = 0;
		int r = str_parse_size(rows[i].in, &v, &err);
		if (r != rows[i].r)
			test_fail(__FILE__, __LINE__, "'%s': %d != %d", rows[i].in, r, rows[i].r);
		if (r == 0)
			CHECK_EQ(v, rows[i].out);
		else
			CHECK_STR_CONTAINS(err.msg, "size '");
	}
}

TEST(str_parse_duration_table)
{
	static const struct {
		const char *in;
		int r;
		uint64_t ms;
	} rows[] = {
		{ "90", 0, 90000 },	 { "90s", 0, 90000 },	 { "10m", 0, 600000 },
		{ "1h30m", 0, 5400000 }, { "2d", 0, 172800000 }, { "500ms", 0, 500 },
		{ "1.5s", 0, 1500 },	 { "0", -EINVAL, 0 },	 { "", -EINVAL, 0 },
		{ "m", -EINVAL, 0 },	 { "5y", -EINVAL, 0 },	 { "-5s", -EINVAL, 0 },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct err err = { 0 };
		uint64_t v = 0;
		int r = str_parse_duration(rows[i].in, &v, &err);
		if (r != rows[i].r)
			test_fail(__FILE__, __LINE__, "'%s': %d != %d", rows[i].in, r, rows[i].r);
		if (r == 0)
			CHECK_EQ(v, rows[i].ms);
	}
}

TEST(str_parse_cpus_table)
{
	struct err err = { 0 };
	unsigned m = 0;

	CHECK_OK(str_parse_cpus("1.5", &m, &err));
	CHECK_EQ(m, 1500);
	CHECK_OK(str_parse_cpus("0.25", &m, &err));
	CHECK_EQ(m, 250);
	CHECK_EQ(str_parse_cpus("0", &m, &err), -EINVAL);
	CHECK_EQ(str_parse_cpus("abc", &m, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "cpus 'abc'");
}

TEST(safe_atou_rejects_junk)
{
	unsigned v;
	int i;

	CHECK_EQ(safe_atou("12x", &v), -EINVAL);
	CHECK_EQ(safe_atou("", &v), -EINVAL);
	CHECK_EQ(safe_atou("4294967296", &v), -ERANGE);
	CHECK_OK(safe_atou("4294967295", &v));
	CHECK_EQ(v, 4294967295u);
	CHECK_OK(safe_atoi("-2147483648", &i));
	CHECK_EQ(i, -2147483647 - 1);
	CHECK_EQ(safe_atoi("2147483648", &i), -ERANGE);
}

TEST(strv_join_and_copy)
{
	char **v = NULL;
	char *j;

	strv_push(&v, "a");
	strv_push(&v, "b c");
	j = strv_join(v, " ");
	CHECK_STR_EQ(j, "a b c");
	free(j);
	CHECK_EQ(strv_len(v), 2);
	v = strv_free(v);
	CHECK(v == NULL);
}

TEST(err_wrap_builds_a_chain)
{
	struct err err = { 0 };

	CHECK_EQ(err_set(&err, ENOENT, "open '%s'", "/x"), -ENOENT);
	CHECK_EQ(err_wrap(&err, "cgroup '%s'", "a"), -ENOENT);
	CHECK_STR_EQ(err.msg, "cgroup 'a': open '/x': No such file or directory");
	CHECK_EQ(err.code, ENOENT);
}

TEST(str_is_token_table)
{
	CHECK(str_is_token("GET"));
	CHECK(str_is_token("X-Api-Key"));
	CHECK(str_is_token("a!#$%&'*+-.^_`|~9"));
	CHECK(!str_is_token(""));
	CHECK(!str_is_token("X Key"));
	CHECK(!str_is_token("X:Key"));
	CHECK(!str_is_token("X\r\nHost"));
	CHECK(!str_is_token("caf\xc3\xa9"));
}

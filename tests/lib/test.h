/* test.h - the test harness. Each test file is one binary; TEST() registers itself. Every
 * test runs in its own forked child (a crash or a leak in one cannot hide another), prints
 * TAP, and a missing privilege is a skip with a reason (exit status 77), never silent.
 * MAYFLY_TEST_STRICT=1 turns skips into failures. MAYFLY_TEST_FILTER=substr runs a subset. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void test_fn(void);

void test_register(const char *name, test_fn *fn, const char *file);
void test_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));
void test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* A skip for what this host lacks rather than a privilege (cgroup v2 on a v1 host):
 * not turned into a failure by MAYFLY_TEST_STRICT. */
void test_skip_host(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#define TEST(name)                                                                                 \
	static void test_##name(void);                                                             \
	static void __attribute__((constructor)) test_register_##name(void)                        \
	{                                                                                          \
		test_register(#name, test_##name, __FILE__);                                       \
	}                                                                                          \
	static void test_##name(void)

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			test_fail(__FILE__, __LINE__, "CHECK(%s) failed", #cond);                  \
	} while (0)

#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		long long check_a_ = (long long) (a), check_b_ = (long long) (b);                  \
		if (check_a_ != check_b_)                                                          \
			test_fail(__FILE__, __LINE__, "CHECK_EQ(%s, %s): %lld != %lld", #a, #b,    \
				  check_a_, check_b_);                                             \
	} while (0)

#define CHECK_NE(a, b)                                                                             \
	do {                                                                                       \
		long long check_a_ = (long long) (a), check_b_ = (long long) (b);                  \
		if (check_a_ == check_b_)                                                          \
			test_fail(__FILE__, __LINE__, "CHECK_NE(%s, %s): both %lld", #a, #b,       \
				  check_a_);                                                       \
	} while (0)

#define CHECK_OK(expr)                                                                             \
	do {                                                                                       \
		long long check_r_ = (long long) (expr);                                           \
		if (check_r_ < 0)                                                                  \
			test_fail(__FILE__, __LINE__, "CHECK_OK(%s): %lld (%s)", #expr, check_r_,  \
				  strerror((int) -check_r_));                                      \
	} while (0)

#define CHECK_STR_EQ(a, b)                                                                         \
	do {                                                                                       \
		const char *check_a_ = (a), *check_b_ = (b);                                       \
		if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_) != 0)                     \
			test_fail(__FILE__, __LINE__, "CHECK_STR_EQ(%s, %s): '%s' != '%s'", #a,    \
				  #b, check_a_ ? check_a_ : "(null)",                              \
				  check_b_ ? check_b_ : "(null)");                                 \
	} while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                                            \
	do {                                                                                       \
		const char *check_h_ = (hay), *check_n_ = (needle);                                \
		if (!check_h_ || !strstr(check_h_, check_n_))                                      \
			test_fail(__FILE__, __LINE__, "CHECK_STR_CONTAINS(%s): '%s' lacks '%s'",   \
				  #hay, check_h_ ? check_h_ : "(null)", check_n_);                 \
	} while (0)

#define CHECK_STR_NOT_CONTAINS(hay, needle)                                                        \
	do {                                                                                       \
		const char *check_h_ = (hay), *check_n_ = (needle);                                \
		if (check_h_ && strstr(check_h_, check_n_))                                        \
			test_fail(__FILE__, __LINE__, "CHECK_STR_NOT_CONTAINS(%s): '%s' has '%s'", \
				  #hay, check_h_, check_n_);                                       \
	} while (0)

/* A scratch directory for this test, removed when the test ends (made on first call). */
const char *test_tmpdir(void);

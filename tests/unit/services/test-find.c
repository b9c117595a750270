/* test-find.c - finding servers in a fake root (scripts standing in for the binaries):
 * versions, the newest by default, clear errors naming what to install, and the listing
 * for `mayfly services ls`. */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "services/internal.h"
#include "services/services.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "test.h"

static void script(const char *root, const char *path, const char *text)
{
	cleanup_free char *p = path_join(root, path);
	cleanup_free char *dir = xstrdup(p);
	cleanup_free char *body = xasprintf("#!/bin/sh\n%s\n", text);
	struct err err = { 0 };

	*strrchr(dir, '/') = '\0';
	CHECK_OK(mkdir_p(dir, 0755, &err));
	CHECK_OK(write_file_atomic_at(AT_FDCWD, p, body, strlen(body), 0755, 0, &err));
}

static const char *fake_root(void)
{
	const char *root = test_tmpdir();

	script(root, "usr/lib/postgresql/13/bin/postgres",
	       "echo 'postgres (PostgreSQL) 13.9 (Debian 13.9-0+deb11u1)'");
	script(root, "usr/lib/postgresql/13/bin/initdb", "exit 0");
	script(root, "usr/lib/postgresql/15/bin/postgres", "echo 'postgres (PostgreSQL) 15.4'");
	script(root, "usr/lib/postgresql/15/bin/initdb", "exit 0");
	/* A server without initdb (a half-removed package) does not count. */
	script(root, "usr/lib/postgresql/16/bin/postgres", "exit 0");
	script(root, "usr/bin/redis-server", "echo 'Redis server v=6.2.14 sha=00000000:0 bits=64'");
	return root;
}

TEST(svc_find_picks_the_newest_or_the_asked_version)
{
	const char *root = fake_root();
	struct svc_install in;
	struct err err = { 0 };

	CHECK_OK(svc_find(root, "postgres", NULL, &in, &err));
	CHECK_EQ(in.kind, SVC_POSTGRES);
	CHECK_EQ(in.major, 15);
	CHECK_STR_EQ(in.version, "15");
	CHECK(str_endswith(in.server, "/usr/lib/postgresql/15/bin/postgres"));
	CHECK_EQ(strlen(in.identity), SVC_IDENTITY_LEN);
	CHECK_OK(svc_find(root, "postgres", "13", &in, &err));
	CHECK_EQ(in.major, 13);
	CHECK_OK(svc_find(root, "postgres", "13.2", &in, &err)); /* the minor is the package's */
	CHECK_EQ(in.major, 13);
	CHECK_OK(svc_find(root, "redis", "6.2", &in, &err));
	CHECK_STR_EQ(in.version, "6.2.14");
	CHECK_EQ(in.major, 6);
	CHECK_OK(svc_find(root, "redis", NULL, &in, &err));
	CHECK_STR_EQ(in.version, ""); /* not asked: not run */
}

TEST(svc_find_says_what_to_install)
{
	const char *root = fake_root();
	cleanup_free char *empty = path_join(root, "empty");
	struct svc_install in;
	struct err err = { 0 };

	CHECK_EQ(svc_find(root, "postgres", "14", &in, &err), -ENOENT);
	CHECK_STR_CONTAINS(err.msg, "postgres 14 is not installed (installed: 15, 13): "
				    "apt-get install postgresql-14");
	CHECK_EQ(svc_find(root, "redis", "7", &in, &err), -ENOENT);
	CHECK_STR_CONTAINS(err.msg, "redis 7 is not installed");
	CHECK_STR_CONTAINS(err.msg, "redis 6.2.14");
	CHECK_EQ(svc_find(root, "redis", "6.2.1", &in, &err), -ENOENT);
	CHECK_EQ(mkdir(empty, 0755), 0);
	CHECK_EQ(svc_find(empty, "postgres", NULL, &in, &err), -ENOENT);
	CHECK_STR_CONTAINS(err.msg, "apt-get install postgresql");
	CHECK_EQ(svc_find(empty, "postgres", "15", &in, &err), -ENOENT);
	CHECK_STR_CONTAINS(err.msg, "apt-get install postgresql-15");
	CHECK_EQ(svc_find(empty, "redis", NULL, &in, &err), -ENOENT);
	CHECK_STR_CONTAINS(err.msg, "apt-get install redis-server");
	CHECK_EQ(svc_find(root, "mysql", NULL, &in, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "unknown service kind 'mysql' (known: postgres, redis)");
	static const char *const bad[] = { "latest", "15-alpine", "1..5", ".15", "15.", "0" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		CHECK_EQ(svc_find(root, "postgres", bad[i], &in, &err), -EINVAL);
}

TEST(svc_list_shows_versions_and_templates)
{
	const char *root = fake_root();
	cleanup_free char *cache = path_join(root, "state");
	cleanup_free struct svc_info *list = NULL;
	struct svc_install pg15;
	struct err err = { 0 };
	size_t n = 0;

	/* A complete-looking marker for 15's binary, one for another binary. */
	CHECK_OK(svc_find(root, "postgres", "15", &pg15, &err));
	cleanup_free char *m1 = xasprintf("templates/postgres-15-aaaa/template.info");
	cleanup_free char *m2 = xasprintf("templates/postgres-15-bbbb/template.info");
	cleanup_free char *t1 = xasprintf("x\nbinary=%s\n", pg15.identity);
	cleanup_free char *p1 = path_join(cache, m1), *p2 = path_join(cache, m2);
	cleanup_free char *d1 = path_join(cache, "templates/postgres-15-aaaa");
	cleanup_free char *d2 = path_join(cache, "templates/postgres-15-bbbb");
	CHECK_OK(mkdir_p(d1, 0755, &err));
	CHECK_OK(mkdir_p(d2, 0755, &err));
	CHECK_OK(write_file_atomic_at(AT_FDCWD, p1, t1, strlen(t1), 0644, 0, &err));
	CHECK_OK(write_file_atomic_at(AT_FDCWD, p2, "x\nbinary=0\n", 11, 0644, 0, &err));

	CHECK_OK(svc_list(root, cache, &list, &n, &err));
	CHECK_EQ(n, 3);
	CHECK_EQ(list[0].inst.major, 15);
	CHECK_STR_EQ(list[0].full_version, "15.4");
	CHECK(list[0].is_default);
	CHECK_EQ(list[0].templates, 1);
	CHECK_EQ(list[1].inst.major, 13);
	CHECK_STR_EQ(list[1].full_version, "13.9");
	CHECK(!list[1].is_default);
	CHECK_EQ(list[1].templates, 0);
	CHECK_EQ(list[2].inst.kind, SVC_REDIS);
	CHECK_STR_EQ(list[2].full_version, "6.2.14");
	CHECK_EQ(list[2].inst.major, 6);
}

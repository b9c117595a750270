/* test-cgroup-detect.c - which cgroup version a tree offers, and parsing /proc/self/cgroup:
 * table tests over fake trees under the test's tmpdir. */
#include <fcntl.h>
#include <grp.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup/cgroup.h"
#include "cgroup/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/path.h"
#include "util/xalloc.h"
#include "run.h"
#include "test.h"

/* Make root/rel with content, or the directory root/rel when rel ends in '/'. */
static void put(const char *root, const char *rel, const char *content)
{
	test_put(root, rel, content);
}

#define V2_TOP	"cgroup.controllers=cpuset cpu io memory hugetlb pids rdma misc\n"
#define V1_TREE "memory/cgroup.procs=", "pids/cgroup.procs=", "cpu/cgroup.procs="
#define V1_PSC	"9:name=systemd:/\n8:pids:/\n4:memory:/process_api/3b13\n1:cpu:/\n0::/\n"
#define SCOPE	"user.slice/user-1000.slice/user@1000.service/app.slice/run-u1.scope"

TEST(cg_detect_table)
{
	static const struct {
		const char *what;
		const char *files[8]; /* "rel=content" or "rel/" */
		const char *psc;
		enum cg_version v;
	} rows[] = {
		{ "v2, we sit at the top", { V2_TOP, "cgroup.procs=" }, "0::/\n", CG_V2 },
		{ "v2, delegated user scope",
		  { V2_TOP, SCOPE "/cgroup.controllers=memory pids\n" },
		  "0::/" SCOPE "\n",
		  CG_V2 },
		{ "v2, after moving to the supervisor cgroup",
		  { V2_TOP, "svc/cgroup.procs=" },
		  "0::/svc/mayfly-supervisor\n",
		  CG_V2 },
		{ "v2, own cgroup gone", { V2_TOP }, "0::/nope\n", CG_NONE },
		{ "v2, no 0:: line", { V2_TOP }, "4:memory:/\n", CG_NONE },
		{ "v2, own cgroup outside our namespace", { V2_TOP }, "0::/../..\n", CG_NONE },
		{ "v2 without pids, no v1",
		  { "cgroup.controllers=cpu memory io\n" },
		  "0::/\n",
		  CG_NONE },
		{ "v2 without memory, v1 memory and pids",
		  { "cgroup.controllers=cpu\n", V1_TREE, "memory/process_api/3b13/" },
		  V1_PSC,
		  CG_V1 },
		{ "v1", { V1_TREE, "memory/process_api/3b13/" }, V1_PSC, CG_V1 },
		{ "hybrid: v1 plus an almost empty unified",
		  { V1_TREE, "memory/process_api/3b13/", "unified/cgroup.controllers=hugetlb\n" },
		  V1_PSC,
		  CG_V1 },
		{ "v1 without pids",
		  { "memory/cgroup.procs=", "cpu/cgroup.procs=" },
		  V1_PSC,
		  CG_NONE },
		{ "v1, own memory cgroup gone", { V1_TREE }, V1_PSC, CG_NONE },
		{ "v1, no memory line", { V1_TREE }, "8:pids:/\n0::/\n", CG_NONE },
		{ "nothing", { "unified/" }, "0::/\n", CG_NONE },
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		cleanup_free char *root = xasprintf("%s/t%zu", test_tmpdir(), i);
		enum cg_version v;

		put(root, "/", "");
		for (size_t j = 0; j < ARRAY_SIZE(rows[i].files) && rows[i].files[j]; j++) {
			cleanup_free char *f = xstrdup(rows[i].files[j]);
			char *eq = strchr(f, '=');
			if (eq)
				*eq = '\0';
			put(root, f, eq ? eq + 1 : "");
		}
		v = cg_detect(root, rows[i].psc);
		if (v != rows[i].v)
			test_fail(__FILE__, __LINE__, "%s: %d != %d", rows[i].what, v, rows[i].v);
	}
}

TEST(cg_detect_refuses_bad_roots)
{
	CHECK_EQ(cg_detect("relative", "0::/\n"), CG_NONE);
	CHECK_EQ(cg_detect("/", "0::/\n"), CG_NONE);
	CHECK_EQ(cg_detect("/tmp/../sys/fs/cgroup", "0::/\n"), CG_NONE);
	CHECK_EQ(cg_detect("/tmp/a:b", "0::/\n"), CG_NONE);
}

/* cg_detect() as an unprivileged user: as root, in a child that became nobody. */
static enum cg_version detect_unprivileged(const char *root, const char *psc)
{
	int status = 0;
	pid_t pid;

	if (geteuid() != 0)
		return cg_detect(root, psc);
	pid = fork();
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
		    setresuid(65534, 65534, 65534) < 0)
			_exit(100);
		_exit((int) cg_detect(root, psc));
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status));
	if (WEXITSTATUS(status) == 100)
		test_skip("cannot become uid 65534 here (user namespace without it mapped?)");
	return (enum cg_version) WEXITSTATUS(status);
}

TEST(cg_detect_none_without_write_access)
{
	cleanup_free char *root = xasprintf("%s/ro", test_tmpdir());
	cleanup_free char *own = NULL;
	cleanup_free char *shared = NULL;

	put(root, "cgroup.controllers", "memory pids\n");
	put(root, "svc/cgroup.procs", "");
	own = path_join(root, "svc");
	shared = path_join(own, "mayfly");
	CHECK_EQ(cg_detect(root, "0::/svc\n"), CG_V2);
	/* Root owns svc (as root), or it is read-only (as a user): not ours to write. */
	if (geteuid() != 0)
		CHECK_OK(chmod(own, 0555));
	CHECK_EQ(detect_unprivileged(root, "0::/svc\n"), CG_NONE);
	/* A shared parent somebody made writable for us is enough. */
	CHECK_OK(chmod(own, 0755));
	CHECK_OK(mkdir(shared, 0755));
	if (geteuid() == 0)
		CHECK_OK(chown(shared, 65534, 65534));
	else
		CHECK_OK(chmod(own, 0555));
	CHECK_EQ(detect_unprivileged(root, "0::/svc\n"), CG_V2);
	CHECK_OK(chmod(own, 0755)); /* so the harness can remove it */
}

TEST(cg_own_path_table)
{
	static const struct {
		const char *psc;
		const char *ctrl;
		int r;
		const char *path;
	} rows[] = {
		{ "0::/a/b\n", NULL, 0, "/a/b" },
		{ "0::/a/b", NULL, 0, "/a/b" },
		{ "0::/\n", NULL, 0, "/" },
		{ "0::/a/mayfly-supervisor\n", NULL, 0, "/a" },
		{ "0::/mayfly-supervisor\n", NULL, 0, "/" },
		{ "0::/a/mayfly-supervisor-x\n", NULL, 0, "/a/mayfly-supervisor-x" },
		{ "12:pids:/x\n0::/y\n", "pids", 0, "/x" },
		{ "12:pids:/x\n0::/y\n", NULL, 0, "/y" },
		{ "3:cpu,cpuacct:/c\n", "cpu", 0, "/c" },
		{ "3:cpu,cpuacct:/c\n", "cpuacct", 0, "/c" },
		{ "2:cpuacct:/d\n1:cpu:/e\n", "cpu", 0, "/e" },
		{ "4:memory:/process_api/3b13\n", "memory", 0, "/process_api/3b13" },
		/* v1 lines keep a trailing supervisor: we only ever move on v2. */
		{ "4:memory:/a/mayfly-supervisor\n", "memory", 0, "/a/mayfly-supervisor" },
		{ "4:memory:/process_api/3b13\n", NULL, -ENOENT, NULL },
		{ "9:name=systemd:/\n", "systemd", -ENOENT, NULL },
		{ "4:memory:/m\n", "mem", -ENOENT, NULL },
		{ "0::/../../x\n", NULL, -ENOENT, NULL },
		{ "0::relative\n", NULL, -ENOENT, NULL },
		{ "0::\n", NULL, -ENOENT, NULL },
		{ "0::/a:b\n", NULL, -ENOENT, NULL },
		{ "0::/a//b\n", NULL, -ENOENT, NULL },
		{ "0::/a/./b\n", NULL, -ENOENT, NULL },
		{ "1::/a\n", NULL, -ENOENT, NULL },
		{ "", NULL, -ENOENT, NULL },
		{ "garbage without colons", NULL, -ENOENT, NULL },
		{ "\n\n:\n::\n", "memory", -ENOENT, NULL },
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		cleanup_free char *p = NULL;
		struct err err = { 0 };
		int r = cg_own_path(rows[i].psc, rows[i].ctrl, &p, &err);

		if (r != rows[i].r)
			test_fail(__FILE__, __LINE__, "row %zu: %d != %d (%s)", i, r, rows[i].r,
				  err.msg);
		if (r == 0)
			CHECK_STR_EQ(p, rows[i].path);
		else
			CHECK(p == NULL);
	}
}

TEST(cg_name_valid_table)
{
	static const struct {
		const char *name;
		bool ok;
	} rows[] = {
		{ "0123456789abcdef", true },
		{ "test-42-1", true },
		{ "a.b_C", true },
		{ "", false },
		{ ".", false },
		{ "..", false },
		{ ".hidden", false },
		{ "a/b", false },
		{ "a:b", false },
		{ "a b", false },
		{ "a\nb", false },
		{ "ä", false },
	};
	char longest[CG_NAME_MAX + 2];

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
		if (cg_name_valid(rows[i].name) != rows[i].ok)
			test_fail(__FILE__, __LINE__, "'%s'", rows[i].name);
	memset(longest, 'a', sizeof(longest));
	longest[CG_NAME_MAX] = '\0';
	CHECK(cg_name_valid(longest));
	longest[CG_NAME_MAX] = 'a';
	longest[CG_NAME_MAX + 1] = '\0';
	CHECK(!cg_name_valid(longest));
}

TEST(cg_list_has_table)
{
	CHECK(cg_list_has("cpuset cpu io memory pids\n", "cpu"));
	CHECK(cg_list_has("cpuset cpu io memory pids\n", "pids"));
	CHECK(!cg_list_has("cpuset io memory\n", "cpu"));
	CHECK(!cg_list_has("memoryx pid", "pids"));
	CHECK(cg_list_has("+memory +pids +cpu", "pids"));
	CHECK(!cg_list_has("", "memory"));
	CHECK(!cg_list_has("memory", ""));
}

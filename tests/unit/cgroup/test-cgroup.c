/* test-cgroup.c - cg_create, cg_open, cg_kill and cg_destroy on fake v1, hybrid and v2
 * trees under the test's tmpdir. The fake_* ops below play the kernel (internal.h): a new
 * directory gets the files the kernel would make, rmdir empties it, subtree_control
 * refuses with EBUSY when processes are inside, and a pid written to cgroup.procs leaves
 * its parent's list. No real process is ever placed or signalled. */
#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup/cgroup.h"
#include "cgroup/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "run.h"
#include "test.h"

static char root[512];	      /* the fake tree of the running test */
static char wlog[16384];      /* "rel=content\n" for every write, in order */
static bool fake_swap = true; /* v2: memory.swap.max appears (swap accounting on) */

static void put(const char *rel, const char *content)
{
	test_put(root, rel, content);
}

/* The content of root/rel, or "(none)". A ring of buffers, so that a few results can be
 * compared at once and nothing leaks. */
static const char *get(const char *rel)
{
	static char ring[8][4096];
	static unsigned next;
	cleanup_free char *p = path_join(root, rel);
	cleanup_free char *text = NULL;
	char *slot = ring[next++ % 8];

	if (cg_read(p, 1 << 20, &text) < 0)
		return "(none)";
	(void) snprintf(slot, sizeof(ring[0]), "%s", text);
	return slot;
}

static bool exists(const char *rel)
{
	cleanup_free char *p = path_join(root, rel);
	return access(p, F_OK) == 0;
}

static const char *under_root(const char *path)
{
	size_t n = strlen(root);

	if (strncmp(path, root, n) != 0 || path[n] != '/' || !path_is_clean(path))
		test_fail(__FILE__, __LINE__, "touched '%s' outside the fake root", path);
	return path + n + 1;
}

static char *dir_of(const char *path)
{
	return xstrndup(path, (size_t) (strrchr(path, '/') - path));
}

static bool has_procs(const char *dir)
{
	cleanup_free char *p = path_join(dir, "cgroup.procs");
	cleanup_free char *text = NULL;

	return cg_read(p, 1 << 20, &text) == 0 && strspn(text, " \n") != strlen(text);
}

static void put_abs(const char *path, const char *content)
{
	cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, content, strlen(content)) != (ssize_t) strlen(content))
		test_fail(__FILE__, __LINE__, "write '%s': %m", path);
}

static int fake_mkdir(const char *path)
{
	cleanup_free char *parent = dir_of(path);
	cleanup_free char *pcf = path_join(parent, "cgroup.controllers");
	char *enabled = NULL;
	DIR *d;
	struct dirent *de;

	(void) under_root(path);
	if (mkdir(path, 0755) < 0)
		return -errno;
	if (access(pcf, F_OK) < 0) {
		/* v1: a child has the files its parent has. */
		d = opendir(parent);
		while (d && (de = readdir(d))) {
			cleanup_free char *f = path_join(path, de->d_name);
			if (de->d_type == DT_REG)
				put_abs(f, "");
		}
		if (d)
			(void) closedir(d);
		return 0;
	}
	/* v2: the files of the controllers the parent enabled for its children. */
	{
		cleanup_free char *sc = path_join(parent, "cgroup.subtree_control");
		if (cg_read(sc, 4096, &enabled) < 0)
			enabled = xstrdup("");
	}
	static const char *const base[][2] = {
		{ "cgroup.procs", "" },
		{ "cgroup.subtree_control", "" },
		{ "cgroup.kill", "" },
		{ "cgroup.freeze", "0\n" },
		{ "cgroup.events", "populated 0\n" },
		{ "cgroup.controllers", NULL },
	};
	static const char *const per_ctrl[][3] = {
		{ "memory", "memory.max", "max\n" },
		{ "memory", "memory.swap.max", "max\n" },
		{ "memory", "memory.current", "0\n" },
		{ "memory", "memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n" },
		{ "pids", "pids.max", "max\n" },
		{ "cpu", "cpu.max", "max 100000\n" },
	};
	char ctrls[256] = "";
	for (size_t i = 0; i < ARRAY_SIZE(per_ctrl); i++) {
		cleanup_free char *f = path_join(path, per_ctrl[i][1]);
		if (!cg_list_has(enabled, per_ctrl[i][0]))
			continue;
		if (!fake_swap && strcmp(per_ctrl[i][1], "memory.swap.max") == 0)
			continue;
		put_abs(f, per_ctrl[i][2]);
		if (!strstr(ctrls, per_ctrl[i][0])) {
			size_t n = strlen(ctrls);
			(void) snprintf(ctrls + n, sizeof(ctrls) - n, "%s%s", n ? " " : "",
					per_ctrl[i][0]);
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(base); i++) {
		cleanup_free char *f = path_join(path, base[i][0]);
		put_abs(f, base[i][1] ? base[i][1] : ctrls);
	}
	free(enabled);
	return 0;
}

static int fake_rmdir(const char *path)
{
	DIR *d;
	struct dirent *de;

	(void) under_root(path);
	if (access(path, F_OK) < 0)
		return -errno;
	if (has_procs(path))
		return -EBUSY;
	d = opendir(path);
	while (d && (de = readdir(d))) {
		if (de->d_type == DT_DIR && strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0) {
			(void) closedir(d);
			return -EBUSY;
		}
	}
	if (d)
		rewinddir(d);
	while (d && (de = readdir(d)))
		if (de->d_type == DT_REG)
			(void) unlinkat(dirfd(d), de->d_name, 0);
	if (d)
		(void) closedir(d);
	return rmdir(path) < 0 ? -errno : 0;
}

static int fake_write(const char *path, const char *content)
{
	const char *rel = under_root(path);
	const char *base = strrchr(path, '/') + 1;
	cleanup_free char *dir = dir_of(path);
	size_t n = strlen(wlog);

	(void) snprintf(wlog + n, sizeof(wlog) - n, "%s=%s\n", rel, content);
	if (access(path, F_OK) < 0)
		return -errno; /* the kernel has no O_CREAT either */
	if (strcmp(base, "cgroup.subtree_control") == 0) {
		cleanup_free char *cf = path_join(dir, "cgroup.controllers");
		cleanup_free char *avail = NULL;
		cleanup_free char *want = xstrdup(content);
		char *save = NULL;

		if (strcmp(dir, root) != 0 && has_procs(dir))
			return -EBUSY; /* no internal processes, except at the root */
		if (cg_read(cf, 4096, &avail) < 0)
			return -ENOENT;
		for (char *t = strtok_r(want, " ", &save); t; t = strtok_r(NULL, " ", &save))
			if (t[0] != '+' || !cg_list_has(avail, t + 1))
				return -ENOENT;
	}
	if (strcmp(base, "cgroup.procs") == 0) {
		/* Move: append here, drop from the parent's list. */
		cleanup_free char *parent = dir_of(dir);
		cleanup_free char *pp = path_join(parent, "cgroup.procs");
		cleanup_free char *old = NULL;
		cleanup_free char *mine = NULL;
		cleanup_free char *line = xasprintf("%s\n", content);

		if (cg_read(pp, 1 << 20, &old) == 0 && strstr(old, line)) {
			char *at = strstr(old, line);
			memmove(at, at + strlen(line), strlen(at + strlen(line)) + 1);
			put_abs(pp, old);
		}
		if (cg_read(path, 1 << 20, &mine) < 0)
			return -ENOENT;
		cleanup_free char *all = xasprintf("%s%s", mine, line);
		put_abs(path, all);
		return 0;
	}
	cleanup_close int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0 || write(fd, content, strlen(content)) != (ssize_t) strlen(content))
		return -EIO;
	return 0;
}

static const struct cg_ops fake = {
	.mkdir = fake_mkdir,
	.rmdir = fake_rmdir,
	.write = fake_write,
};

static void new_root(const char *name)
{
	(void) snprintf(root, sizeof(root), "%s/%s", test_tmpdir(), name);
	put("/", "");
	wlog[0] = '\0';
}

/* A v2 tree, our cgroup at own with the given controllers available and processes. */
static void tree_v2(const char *own, const char *controllers, const char *procs)
{
	cleanup_free char *cf = path_join(own, "cgroup.controllers");
	cleanup_free char *sc = path_join(own, "cgroup.subtree_control");
	cleanup_free char *pr = path_join(own, "cgroup.procs");

	new_root("v2");
	put("cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
	put("cgroup.subtree_control", "");
	put("cgroup.procs", "");
	put(cf, controllers);
	put(sc, "");
	put(pr, procs);
}

/* A v1 tree with the hierarchies named in hier ("memory pids cpu freezer"). */
static void tree_v1(const char *hier)
{
	static const char *const files[][2] = {
		{ "memory", "memory.limit_in_bytes" },
		{ "memory", "memory.memsw.limit_in_bytes" },
		{ "memory", "memory.usage_in_bytes" },
		{ "memory", "memory.oom_control" },
		{ "pids", "pids.max" },
		{ "cpu", "cpu.cfs_period_us" },
		{ "cpu", "cpu.cfs_quota_us" },
		{ "freezer", "freezer.state" },
	};

	new_root("v1");
	put("memory/process_api/3b13/cgroup.procs", "");
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		cleanup_free char *top = xasprintf("%s/cgroup.procs", files[i][0]);
		cleanup_free char *f = xasprintf("%s/%s", files[i][0], files[i][1]);
		cleanup_free char *own = xasprintf("memory/process_api/3b13/%s", files[i][1]);
		if (!cg_list_has(hier, files[i][0]))
			continue;
		put(top, "");
		put(f, "");
		if (strcmp(files[i][0], "memory") == 0)
			put(own, "");
	}
}

#define V1_PSC                                                                                     \
	"9:name=systemd:/\n8:pids:/\n6:freezer:/\n4:memory:/process_api/3b13\n1:cpu:/\n0::/\n"

static const struct cg_limits lim_all = {
	.memory_bytes = 2ULL << 30,
	.pids = 100,
	.cpu_millis = 1500,
};

TEST(cg_create_v2_at_the_top)
{
	CLEANUP(cg_freep) struct cg *cg = NULL;
	cleanup_free char *missing = NULL;
	cleanup_free char *want = NULL;
	struct err err = { 0 };

	tree_v2("/", "cpuset cpu io memory hugetlb pids rdma misc\n", "1\n");
	CHECK_OK(cg_create_ops(&fake, root, "0::/\n", "sb1", &lim_all, &cg, &missing, &err));
	CHECK(missing == NULL);
	CHECK_EQ(cg_version_of(cg), CG_V2);
	CHECK_STR_EQ(get("cgroup.subtree_control"), "+memory +pids +cpu");
	CHECK_STR_EQ(get("mayfly/cgroup.subtree_control"), "+memory +pids +cpu");
	CHECK_STR_EQ(get("mayfly/sb1/memory.max"), "2147483648");
	CHECK_STR_EQ(get("mayfly/sb1/memory.swap.max"), "0");
	CHECK_STR_EQ(get("mayfly/sb1/pids.max"), "100");
	CHECK_STR_EQ(get("mayfly/sb1/cpu.max"), "150000 100000");
	want = xasprintf("%s/mayfly/sb1", root);
	CHECK_STR_EQ(cg_paths(cg), want);
	CHECK(!exists("mayfly-supervisor")); /* the root may hold processes */
}

TEST(cg_create_v2_leaves_enabled_controllers_alone)
{
	CLEANUP(cg_freep) struct cg *cg = NULL;
	struct err err = { 0 };

	tree_v2("/", "cpu memory pids\n", "");
	put("cgroup.subtree_control", "cpu memory pids\n");
	CHECK_OK(cg_create_ops(&fake, root, "0::/\n", "sb1", &lim_all, &cg, NULL, &err));
	CHECK_STR_NOT_CONTAINS(wlog, "\ncgroup.subtree_control=");
	CHECK(!str_startswith(wlog, "cgroup.subtree_control="));
	CHECK_STR_EQ(get("mayfly/sb1/pids.max"), "100");
}

#define SCOPE "user.slice/user-1000.slice/user@1000.service/app.slice/run-u1.scope"

TEST(cg_create_v2_moves_our_processes_to_the_supervisor)
{
	CLEANUP(cg_freep) struct cg *cg = NULL;
	CLEANUP(cg_freep) struct cg *cg2 = NULL;
	cleanup_free char *missing = NULL;
	cleanup_free char *want = NULL;
	struct err err = { 0 };

	tree_v2(SCOPE, "memory pids cpu\n", "4242\n4343\n");
	CHECK_OK(cg_create_ops(&fake, root, "0::/" SCOPE "\n", "sb1", &lim_all, &cg, &missing,
			       &err));
	CHECK(missing == NULL);
	CHECK_STR_EQ(get(SCOPE "/mayfly-supervisor/cgroup.procs"), "4242\n4343\n");
	CHECK_STR_EQ(get(SCOPE "/cgroup.procs"), "");
	CHECK_STR_EQ(get(SCOPE "/cgroup.subtree_control"), "+memory +pids +cpu");
	CHECK_STR_EQ(get(SCOPE "/mayfly/sb1/memory.max"), "2147483648");
	want = xasprintf("%s/" SCOPE "/mayfly/sb1", root);
	CHECK_STR_EQ(cg_paths(cg), want);
	/* Now /proc/self/cgroup names the supervisor: the next sandbox goes beside. */
	CHECK_OK(cg_create_ops(&fake, root, "0::/" SCOPE "/mayfly-supervisor\n", "sb2", &lim_all,
			       &cg2, NULL, &err));
	CHECK(exists(SCOPE "/mayfly/sb2/cgroup.procs"));
	CHECK(!exists(SCOPE "/mayfly-supervisor/mayfly"));
}

TEST(cg_create_v2_reports_what_is_not_delegated)
{
	CLEANUP(cg_freep) struct cg *cg = NULL;
	cleanup_free char *missing = NULL;
	struct err err = { 0 };

	tree_v2(SCOPE, "pids\n", "");
	CHECK_OK(cg_create_ops(&fake, root, "0::/" SCOPE "\n", "sb1", &lim_all, &cg, &missing,
			       &err));
	CHECK_STR_EQ(missing, "memory,cpu");
	CHECK_STR_EQ(get(SCOPE "/cgroup.subtree_control"), "+pids");
	CHECK_STR_EQ(get(SCOPE "/mayfly/sb1/pids.max"), "100");
	CHECK(!exists(SCOPE "/mayfly/sb1/memory.max"));
}

TEST(cg_create_v2_without_swap_accounting)
{
	CLEANUP(cg_freep) struct cg *cg = NULL;
	cleanup_free char *missing = NULL;
	struct cg_limits lim = { .memory_bytes = 64 << 20 };
	struct err err = { 0 };

	fake_swap = false;
	tree_v2("/", "memory pids\n", "");
	CHECK_OK(cg_create_ops(&fake, root, "0::/\n", "sb1", &lim, &cg, &missing, &err));
	CHECK(missing == NULL);
	CHECK_STR_EQ(get("mayfly/sb1/memory.max"), "67108864");
	CHECK(!exists("mayfly/sb1/memory.swap.max"));
	CHECK_STR_EQ(get("mayfly/sb1/pids.max"), "max\n"); /* not asked for: untouched */
}

TEST(cg_create_v2_cpu_quota_has_a_floor)
{
	CLEANUP(cg_freep) struct cg *cg = NULL;
	struct cg_limits lim = { .cpu_millis = 1 };
	struct err err = { 0 };

	tree_v2("/", "cpu memory pids\n", "");
	CHECK_OK(cg_create_ops(&fake, root, "0::/\n", "sb1", &lim, &cg, NULL, &err));
	CHECK_STR_EQ(get("mayfly/sb1/cpu.max"), "1000 100000");
}

TEST(cg_create_v1_writes_limits)
{
	CLEANUP(cg_freep) struct cg *cg = NULL;
	cleanup_free char *missing = NULL;
	cleanup_free char *want = NULL;
	struct err err = { 0 };

	tree_v1("memory pids cpu freezer");
	CHECK_EQ(cg_detect(root, V1_PSC), CG_V1);
	CHECK_OK(cg_create_ops(&fake, root, V1_PSC, "sb1", &lim_all, &cg, &missing, &err));
	CHECK(missing == NULL);
	CHECK_EQ(cg_version_of(cg), CG_V1);
	CHECK_STR_EQ(get("memory/process_api/3b13/mayfly/sb1/memory.limit_in_bytes"), "2147483648");
	CHECK_STR_EQ(get("memory/process_api/3b13/mayfly/sb1/memory.memsw.limit_in_bytes"),
		     "2147483648");
	/* memsw may not go below limit_in_bytes: limit first. */
	CHECK(strstr(wlog, "memory.limit_in_bytes=") < strstr(wlog, "memory.memsw.limit"));
	CHECK_STR_EQ(get("pids/mayfly/sb1/pids.max"), "100");
	CHECK_STR_EQ(get("cpu/mayfly/sb1/cpu.cfs_period_us"), "100000");
	CHECK_STR_EQ(get("cpu/mayfly/sb1/cpu.cfs_quota_us"), "150000");
	want = xasprintf("%s/memory/process_api/3b13/mayfly/sb1:%s/pids/mayfly/sb1:"
			 "%s/cpu/mayfly/sb1:%s/freezer/mayfly/sb1",
			 root, root, root, root);
	CHECK_STR_EQ(cg_paths(cg), want);
}

TEST(cg_create_hybrid_is_v1)
{
	CLEANUP(cg_freep) struct cg *cg = NULL;
	struct err err = { 0 };

	tree_v1("memory pids cpu freezer");
	put("unified/cgroup.controllers", "hugetlb\n");
	put("unified/cgroup.procs", "");
	CHECK_EQ(cg_detect(root, V1_PSC), CG_V1);
	CHECK_OK(cg_create_ops(&fake, root, V1_PSC, "sb1", &lim_all, &cg, NULL, &err));
	CHECK_EQ(cg_version_of(cg), CG_V1);
	CHECK_STR_NOT_CONTAINS(cg_paths(cg), "unified");
	CHECK(!exists("unified/mayfly"));
}

TEST(cg_create_v1_reports_missing_cpu)
{
	CLEANUP(cg_freep) struct cg *cg = NULL;
	cleanup_free char *parent = NULL;
	cleanup_free char *missing = NULL;
	cleanup_free char *want = NULL;
	struct err err = { 0 };

	tree_v1("memory pids freezer");
	/* A shared parent from an earlier run. */
	parent = xasprintf("%s/memory/process_api/3b13/mayfly", root);
	CHECK_OK(fake_mkdir(parent));
	CHECK_OK(cg_create_ops(&fake, root, V1_PSC, "sb1", &lim_all, &cg, &missing, &err));
	CHECK_STR_EQ(missing, "cpu");
	want = xasprintf("%s/memory/process_api/3b13/mayfly/sb1:%s/pids/mayfly/sb1:"
			 "%s/freezer/mayfly/sb1",
			 root, root, root);
	CHECK_STR_EQ(cg_paths(cg), want);
}

TEST(cg_create_v1_makes_no_cpu_cgroup_unasked)
{
	CLEANUP(cg_freep) struct cg *cg = NULL;
	struct cg_limits lim = { .pids = 5 };
	struct err err = { 0 };

	tree_v1("memory pids cpu");
	CHECK_OK(cg_create_ops(&fake, root, V1_PSC, "sb1", &lim, &cg, NULL, &err));
	CHECK(!exists("cpu/mayfly"));
	CHECK_STR_EQ(get("memory/process_api/3b13/mayfly/sb1/memory.limit_in_bytes"), "");
	CHECK_STR_EQ(get("pids/mayfly/sb1/pids.max"), "5");
}

TEST(cg_create_refuses_an_existing_cgroup)
{
	CLEANUP(cg_freep) struct cg *cg = NULL;
	CLEANUP(cg_freep) struct cg *cg2 = NULL;
	struct err err = { 0 };

	tree_v1("memory pids");
	CHECK_OK(cg_create_ops(&fake, root, V1_PSC, "sb1", &lim_all, &cg, NULL, &err));
	CHECK_EQ(cg_create_ops(&fake, root, V1_PSC, "sb1", &lim_all, &cg2, NULL, &err), -EEXIST);
	CHECK_STR_CONTAINS(err.msg, "mkdir '");
	CHECK(cg2 == NULL);
	CHECK(exists("memory/process_api/3b13/mayfly/sb1/cgroup.procs"));
	CHECK(exists("pids/mayfly/sb1/cgroup.procs"));

	/* Half made: memory is new, pids exists. The new half goes, the old stays. */
	put("pids/mayfly/sb2/cgroup.procs", "");
	CHECK_EQ(cg_create_ops(&fake, root, V1_PSC, "sb2", &lim_all, &cg2, NULL, &err), -EEXIST);
	CHECK(!exists("memory/process_api/3b13/mayfly/sb2"));
	CHECK(exists("pids/mayfly/sb2/cgroup.procs"));
}

TEST(cg_create_refuses_bad_names)
{
	static const char *const names[] = { "", ".", "..", "../x", "a/b", "a:b", ".x", "a b" };

	tree_v2("/", "memory pids\n", "");
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		struct cg *cg = NULL;
		struct err err = { 0 };
		CHECK_EQ(cg_create_ops(&fake, root, "0::/\n", names[i], NULL, &cg, NULL, &err),
			 -EINVAL);
		CHECK(cg == NULL);
	}
	CHECK(wlog[0] == '\0');
	CHECK(!exists("mayfly"));
}

TEST(cg_create_without_a_hierarchy)
{
	struct cg *cg = NULL;
	struct err err = { 0 };

	new_root("empty");
	put("unified/cgroup.controllers", "hugetlb\n");
	CHECK_EQ(cg_create_ops(&fake, root, "0::/\n", "sb1", &lim_all, &cg, NULL, &err), -ENOENT);
	CHECK_STR_CONTAINS(err.msg, "no cgroup hierarchy");
}

TEST(cg_create_stays_inside_the_root)
{
	struct cg *cg = NULL;
	struct err err = { 0 };

	tree_v2("/", "memory pids\n", "");
	CHECK_EQ(cg_create_ops(&fake, root, "0::/../../..\n", "sb1", NULL, &cg, NULL, &err),
		 -ENOENT);
	CHECK_STR_CONTAINS(err.msg, "outside our cgroup namespace");
	CHECK(wlog[0] == '\0');
}

TEST(cg_open_refuses_tampered_paths)
{
	static const char *const v2_bad[] = {
		"",
		"relative/mayfly/x",
		"R/../mayfly/x",
		"R/mayfly/../../../etc/mayfly/x",
		"/etc/mayfly/x",
		"R2/mayfly/x",
		"R/mayfly/x:",
		":R/mayfly/x",
		"R/mayfly/x:R/mayfly/y",
		"R/system.slice",
		"R/mayfly",
		"R/mayfly/.x",
		"R/mayfly/x/",
		"R//mayfly/x",
		"R/notmayfly/x",
	};
	static const char *const v1_bad[] = {
		"R/mayfly/x",
		"R/unified/mayfly/x",
		"R/memory/mayfly/a:R/pids/mayfly/b",
		"R/memory/mayfly/a:R/memory/x/mayfly/a",
		"R/memory/mayfly/a:R/pids/mayfly/a:R/cpu/mayfly/a:R/freezer/mayfly/a:R/x/mayfly/a",
		"R/blkio/mayfly/a",
	};

	tree_v2("/", "memory pids\n", "");
	for (size_t i = 0; i < ARRAY_SIZE(v2_bad) + ARRAY_SIZE(v1_bad); i++) {
		bool v1 = i >= ARRAY_SIZE(v2_bad);
		const char *tmpl = v1 ? v1_bad[i - ARRAY_SIZE(v2_bad)] : v2_bad[i];
		char paths[4096] = "";
		struct cg *cg = NULL;
		struct err err = { 0 };

		if (v1 && i == ARRAY_SIZE(v2_bad))
			tree_v1("memory pids");
		/* R is the root, "R2" a sibling whose name starts like it. */
		for (const char *p = tmpl; *p; p++) {
			size_t n = strlen(paths);
			if (*p == 'R')
				(void) snprintf(paths + n, sizeof(paths) - n, "%s", root);
			else
				(void) snprintf(paths + n, sizeof(paths) - n, "%c", *p);
		}
		if (cg_open_ops(&fake, root, paths, &cg, &err) != -EINVAL)
			test_fail(__FILE__, __LINE__, "accepted '%s'", paths);
		CHECK(cg == NULL);
	}
	CHECK_EQ(cg_open(NULL, &(struct cg *){ NULL }, &(struct err){ 0 }), -EINVAL);
}

TEST(cg_paths_round_trip)
{
	static const char *const kinds[] = { "v2", "v1" };

	for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
		CLEANUP(cg_freep) struct cg *cg = NULL;
		CLEANUP(cg_freep) struct cg *again = NULL;
		const char *psc = k == 0 ? "0::/\n" : V1_PSC;
		struct err err = { 0 };

		if (k == 0)
			tree_v2("/", "memory pids cpu\n", "");
		else
			tree_v1("memory pids cpu freezer");
		CHECK_OK(cg_create_ops(&fake, root, psc, "sb1", &lim_all, &cg, NULL, &err));
		CHECK_OK(cg_open_ops(&fake, root, cg_paths(cg), &again, &err));
		CHECK_STR_EQ(cg_paths(again), cg_paths(cg));
		CHECK_EQ(cg_version_of(again), cg_version_of(cg));
		CHECK_OK(cg_destroy(again, &err));
		for (const char *p = cg_paths(cg), *e; *p; p = *e ? e + 1 : e) {
			cleanup_free char *one = NULL;
			cleanup_free char *parent = NULL;
			e = strchrnul(p, ':');
			one = xstrndup(p, (size_t) (e - p));
			parent = dir_of(one);
			CHECK(access(one, F_OK) < 0);
			CHECK(access(parent, F_OK) == 0); /* shared parents stay */
		}
		CHECK_OK(cg_destroy(cg, &err)); /* already gone: success */
	}
}

TEST(cg_kill_uses_cgroup_kill_on_v2)
{
	CLEANUP(cg_freep) struct cg *cg = NULL;
	struct err err = { 0 };

	tree_v2("/", "memory pids\n", "");
	CHECK_OK(cg_create_ops(&fake, root, "0::/\n", "sb1", NULL, &cg, NULL, &err));
	CHECK_OK(cg_kill(cg, &err));
	CHECK_STR_EQ(get("mayfly/sb1/cgroup.kill"), "1");
	CHECK_STR_EQ(get("mayfly/sb1/cgroup.freeze"), "0\n"); /* only without cgroup.kill */
}

TEST(cg_kill_freezes_and_thaws_on_v1)
{
	CLEANUP(cg_freep) struct cg *cg = NULL;
	struct err err = { 0 };

	tree_v1("memory pids freezer");
	CHECK_OK(cg_create_ops(&fake, root, V1_PSC, "sb1", NULL, &cg, NULL, &err));
	CHECK_OK(cg_kill(cg, &err));
	CHECK_STR_CONTAINS(wlog, "freezer/mayfly/sb1/freezer.state=FROZEN\n"
				 "freezer/mayfly/sb1/freezer.state=THAWED\n");
}

TEST(cg_kill_gives_up_after_two_seconds)
{
	CLEANUP(cg_freep) struct cg *cg = NULL;
	cleanup_free char *kill_file = NULL;
	struct err err = { 0 };
	uint64_t t0;

	tree_v2("/", "memory pids\n", "");
	CHECK_OK(cg_create_ops(&fake, root, "0::/\n", "sb1", NULL, &cg, NULL, &err));
	/* An old kernel: no cgroup.kill, the loop has to do it. */
	kill_file = path_join(root, "mayfly/sb1/cgroup.kill");
	CHECK_OK(unlink(kill_file));
	/* Above PID_MAX_LIMIT (2^22): no process can have it, so it is never killed and
	 * never leaves the list. */
	put("mayfly/sb1/cgroup.procs", "4194305\n");
	t0 = cg_now_ms();
	CHECK_EQ(cg_kill(cg, &err), -EBUSY);
	CHECK(cg_now_ms() - t0 >= CG_KILL_TIMEOUT_MS);
	CHECK(cg_now_ms() - t0 < CG_KILL_TIMEOUT_MS + 1000);
	CHECK_STR_CONTAINS(err.msg, "1 processes left");
	CHECK_STR_EQ(get("mayfly/sb1/cgroup.freeze"), "1"); /* no forks while the loop runs */
	CHECK_EQ(cg_destroy(cg, &err), -EBUSY);
	CHECK(exists("mayfly/sb1"));
}

TEST(cg_destroy_removes_child_cgroups_first)
{
	CLEANUP(cg_freep) struct cg *cg = NULL;
	struct err err = { 0 };

	tree_v2("/", "memory pids\n", "");
	CHECK_OK(cg_create_ops(&fake, root, "0::/\n", "sb1", NULL, &cg, NULL, &err));
	put("mayfly/sb1/inner/deeper/cgroup.procs", "");
	CHECK_OK(cg_destroy(cg, &err));
	CHECK(!exists("mayfly/sb1"));
	CHECK(exists("mayfly/cgroup.procs"));
}

TEST(cg_destroy_of_missing_directories_succeeds)
{
	CLEANUP(cg_freep) struct cg *cg = NULL;
	cleanup_free char *paths = NULL;
	struct err err = { 0 };

	tree_v1("memory pids");
	paths = xasprintf("%s/memory/mayfly/gone:%s/pids/x/mayfly/gone", root, root);
	CHECK_OK(cg_open_ops(&fake, root, paths, &cg, &err));
	CHECK_OK(cg_destroy(cg, &err));
}

TEST(cg_attach_writes_every_hierarchy)
{
	CLEANUP(cg_freep) struct cg *cg = NULL;
	struct err err = { 0 };

	tree_v1("memory pids cpu freezer");
	CHECK_OK(cg_create_ops(&fake, root, V1_PSC, "sb1", &lim_all, &cg, NULL, &err));
	CHECK_OK(cg_attach(cg, 4242, &err));
	CHECK_STR_EQ(get("memory/process_api/3b13/mayfly/sb1/cgroup.procs"), "4242\n");
	CHECK_STR_EQ(get("pids/mayfly/sb1/cgroup.procs"), "4242\n");
	CHECK_STR_EQ(get("cpu/mayfly/sb1/cgroup.procs"), "4242\n");
	CHECK_STR_EQ(get("freezer/mayfly/sb1/cgroup.procs"), "4242\n");
	CHECK_EQ(cg_attach(cg, 0, &err), -EINVAL);
	CHECK_EQ(cg_attach(cg, -1, &err), -EINVAL);
	/* Never killed: the pid is made up. */
}

TEST(cg_memory_and_oom_events)
{
	CLEANUP(cg_freep) struct cg *v2 = NULL;
	CLEANUP(cg_freep) struct cg *v1 = NULL;
	struct err err = { 0 };
	uint64_t bytes = 0;

	tree_v2("/", "memory pids\n", "");
	CHECK_OK(cg_create_ops(&fake, root, "0::/\n", "sb1", NULL, &v2, NULL, &err));
	put("mayfly/sb1/memory.current", "12345\n");
	CHECK_OK(cg_memory_current(v2, &bytes, &err));
	CHECK_EQ(bytes, 12345);
	CHECK(!cg_oom_killed(v2));
	put("mayfly/sb1/memory.events", "low 0\nhigh 0\nmax 7\noom 1\noom_kill 2\n");
	CHECK(cg_oom_killed(v2));
	put("mayfly/sb1/memory.events", "oom_kill_x 3\noom_kill 0");
	CHECK(!cg_oom_killed(v2));
	put("mayfly/sb1/memory.current", "lots\n");
	CHECK_EQ(cg_memory_current(v2, &bytes, &err), -EINVAL);

	tree_v1("memory pids");
	CHECK_OK(cg_create_ops(&fake, root, V1_PSC, "sb1", NULL, &v1, NULL, &err));
	put("memory/process_api/3b13/mayfly/sb1/memory.usage_in_bytes", "4096\n");
	CHECK_OK(cg_memory_current(v1, &bytes, &err));
	CHECK_EQ(bytes, 4096);
	put("memory/process_api/3b13/mayfly/sb1/memory.oom_control",
	    "oom_kill_disable 1\nunder_oom 0\noom_kill 0\n");
	CHECK(!cg_oom_killed(v1));
	put("memory/process_api/3b13/mayfly/sb1/memory.oom_control",
	    "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n");
	CHECK(cg_oom_killed(v1));
}

/* test-jail.c - the jail module on its own: a child born straight into a cgroup v2
 * directory (clone3 CLONE_INTO_CGROUP), so the sandbox never migrates; without clone3,
 * the fallback clone. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "jail/jail.h"
#include "need.h"
#include "test.h"
#include "util/err.h"
#include "util/fd.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

/* A cgroup2 mount we may make directories in: the host's, or the hybrid "unified". */
static const char *cgroup2_root(void)
{
	static const char *const cands[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };
	for (size_t i = 0; i < 2; i++) {
		struct statfs sf;
		if (statfs(cands[i], &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC &&
		    access(cands[i], W_OK) == 0)
			return cands[i];
	}
	return NULL;
}

TEST(jail_child_is_born_in_its_cgroup_v2)
{
	char *argv[] = { "/bin/true", NULL };
	char *envp[] = { "PATH=/usr/bin:/bin", NULL };
	char dir[4096], root[4096], procpath[64], expect[4200];
	struct jail *j = NULL;
	struct err err = { 0 };
	enum jail_stage stage;
	char *text = NULL;
	int fd, status;
	const char *cg2;

	NEED(ROOT | USERNS);
	cg2 = cgroup2_root();
	if (!cg2)
		test_skip_host("no writable cgroup2 mount on this host");
	snprintf(dir, sizeof(dir), "%s/mayfly-test-jail-%d", cg2, (int) getpid());
	CHECK_EQ(mkdir(dir, 0755), 0);
	fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	CHECK(fd >= 0);
	snprintf(root, sizeof(root), "%s/root", test_tmpdir());
	CHECK_EQ(mkdir(root, 0755), 0);
	struct jail_config cfg = {
		.argv = argv,
		.envp = envp,
		.workdir = "/",
		.hostname = "t",
		.disk_bytes = 1 << 20,
		.root_mnt = root,
		.uid = 1000,
		.gid = 1000,
		.map_range = true,
		.host_base = 0x40000000u,
		.stdio = { 0, 1, 2 },
		.console_fd = -1,
		.egress_fd = -1,
		.cgroup_fd = fd,
		.notice_fd = -1,
	};
	CHECK_OK(jail_spawn(&cfg, &j, &err));
	/* Without clone3 (older kernels, tests/tools/enosys) the caller attaches. */
	bool have_clone3 = !(syscall(SYS_clone3, NULL, 0) < 0 && errno == ENOSYS);
	CHECK_EQ(jail_born_in_cgroup(j), have_clone3);
	if (!have_clone3) {
		char procs[4200], pid[32];
		snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
		snprintf(pid, sizeof(pid), "%d", (int) jail_pid(j));
		CHECK_OK(write_file_at(AT_FDCWD, procs, pid, &err));
	}
	snprintf(procpath, sizeof(procpath), "/proc/%d/cgroup", (int) jail_pid(j));
	CHECK_OK(read_file_at(AT_FDCWD, procpath, 4096, &text, NULL, &err));
	snprintf(expect, sizeof(expect), "0::%s\n", dir + strlen(cg2));
	CHECK_STR_CONTAINS(text, expect);
	if (jail_start(j, &stage, &err) < 0)
		test_fail(__FILE__, __LINE__, "jail_start: %s", err.msg);
	CHECK_EQ(waitpid(jail_pid(j), &status, 0), jail_pid(j));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	jail_free(j);
	close(fd);
	CHECK_EQ(rmdir(dir), 0);
	free(text);
}

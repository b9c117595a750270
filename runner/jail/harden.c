/* harden.c - the last walls, raised in pid 1 before it forks the job, so every process
 * of the sandbox has them: no capability in any set, the job's ids, no_new_privs,
 * rlimits, no inherited fd, and the seccomp filter (installed last, so everything above
 * may still use the syscalls it needs; fork passes it on, one load serves all). */
#include "jail/jail.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "jail/internal.h"
#include "seccomp/seccomp.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/banned.h"

#define NOFILE_MAX 65536

static int drop_bounding_set(struct err *err)
{
	for (int cap = 0; cap <= 63; cap++) {
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0)
			break; /* EINVAL: past the kernel's last capability */
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return err_set(err, errno, "drop capability %d from the bounding set", cap);
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return err_set(err, errno, "clear ambient capabilities");
	return 0;
}

static int clear_capabilities(struct err *err)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) < 0)
		return err_set(err, errno, "clear capabilities");
	return 0;
}

static int set_rlimits(struct err *err)
{
	struct rlimit core = { 0, 0 }, nofile;

	if (setrlimit(RLIMIT_CORE, &core) < 0)
		return err_set(err, errno, "set RLIMIT_CORE");
	if (getrlimit(RLIMIT_NOFILE, &nofile) < 0)
		return err_set(err, errno, "get RLIMIT_NOFILE");
	if (nofile.rlim_max == RLIM_INFINITY || nofile.rlim_max > NOFILE_MAX)
		nofile.rlim_max = NOFILE_MAX;
	nofile.rlim_cur = nofile.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &nofile) < 0)
		return err_set(err, errno, "set RLIMIT_NOFILE");
	return 0;
}

int jail_harden(const struct jail_config *cfg, const int *keep, size_t nkeep, struct err *err)
{
	int r;

	r = fd_close_all(3, keep, nkeep);
	if (r < 0)
		return err_set(err, -r, "close inherited file descriptors");
	r = set_rlimits(err);
	if (r < 0)
		return r;
	r = drop_bounding_set(err);
	if (r < 0)
		return r;
	/* Fails with EPERM where setgroups is denied (rootless), where there are no
	 * supplementary groups to drop anyway. */
	if (setgroups(0, NULL) < 0 && errno != EPERM)
		return err_set(err, errno, "drop supplementary groups");
	if (setresgid(cfg->gid, cfg->gid, cfg->gid) < 0)
		return err_set(err, errno, "set gid %u", (unsigned) cfg->gid);
	if (setresuid(cfg->uid, cfg->uid, cfg->uid) < 0)
		return err_set(err, errno, "set uid %u", (unsigned) cfg->uid);
	r = clear_capabilities(err);
	if (r < 0)
		return r;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return err_set(err, errno, "set no_new_privs");
	if (cfg->seccomp) {
		r = sc_policy_load(cfg->seccomp);
		if (r < 0)
			return err_set(err, -r, "install the seccomp filter");
	}
	return 0;
}

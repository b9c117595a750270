/* cgroup.h - the cgroup of one sandbox: limits (memory without swap, pids, cpu), moving
 * a process in, usage, and killing everything inside at once. cgroup v2 (what most users
 * run) and v1 (memory/pids/cpu on separate hierarchies) are both supported; which one is
 * detected at run time, per controller. Never logs. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct err;
struct cg; /* opaque: one sandbox's cgroup, in one or more hierarchies */

struct cg_limits {
	uint64_t memory_bytes; /* 0: no limit. Swap is always limited to 0 */
	unsigned pids;	       /* 0: no limit */
	unsigned cpu_millis;   /* 0: no limit; 1500 = 1.5 cpus */
};

enum cg_version { CG_NONE = 0, CG_V1 = 1, CG_V2 = 2 };

/* Which cgroup version this host offers mayfly for memory+pids (CG_NONE: no writable
 * cgroup, e.g. rootless without delegation). root is "/sys/fs/cgroup" except in tests,
 * which point it at a fake tree; proc_self_cgroup is the text of /proc/self/cgroup. */
enum cg_version cg_detect(const char *root, const char *proc_self_cgroup);

/* Create the cgroup for sandbox `name` below mayfly's own cgroup ("<own>/mayfly/<name>",
 * or "/mayfly/<name>" at the top when root) and apply the limits. When a limit cannot be
 * applied (no controller, no delegation) creation still succeeds
 * and *ret_missing gets a comma-separated list of what was not applied (caller frees; NULL
 * when everything applied). Every limit is optional in that sense: callers decide from
 * *ret_missing. -EACCES/-EROFS/-ENOENT when no cgroup can be made at all.
 * root/proc_self_cgroup: NULL for the real ones. */
int cg_create(const char *root, const char *proc_self_cgroup, const char *name,
	      const struct cg_limits *lim, struct cg **ret_cg, char **ret_missing, struct err *err);
/* Re-open an existing sandbox cgroup from the paths cg_paths() gave (gc, destroy). */
int cg_open(const char *paths, struct cg **ret_cg, struct err *err);
/* The cgroup's directories, ':'-separated, for the journal. Borrowed. */
const char *cg_paths(const struct cg *cg);
enum cg_version cg_version_of(const struct cg *cg);

int cg_attach(const struct cg *cg, pid_t pid, struct err *err);
/* cgroup v2: an O_PATH fd of the sandbox's cgroup directory, for clone3(CLONE_INTO_CGROUP)
 * (a child born inside needs no migration). -EOPNOTSUPP on v1. Caller closes it. */
int cg_open_dir_fd(const struct cg *cg, int *ret_fd, struct err *err);
/* SIGKILL every process inside (cgroup.kill on v2 >= 5.14, else freeze and kill until
 * empty); returns when the cgroup is empty or after ~2 s with -EBUSY. */
int cg_kill(const struct cg *cg, struct err *err);
/* Kill, then remove the directories. Missing directories are success. */
int cg_destroy(const struct cg *cg, struct err *err);
int cg_memory_current(const struct cg *cg, uint64_t *ret_bytes, struct err *err);
/* True when the kernel OOM-killed something in this cgroup. */
bool cg_oom_killed(const struct cg *cg);
struct cg *cg_free(struct cg *cg); /* frees the handle only, NULL-safe, returns NULL */

/* v1 hosts, as root: make moving a process into a cgroup take microseconds instead of an
 * RCU grace period, host-wide, until reboot (see tune.c). mnt: an empty directory to
 * mount on, in a private mount namespace. -EOPNOTSUPP before Linux 6.0. */
int cg_favor_dynmods(const char *mnt, struct err *err);

#include "util/cleanup.h"
DEFINE_CLEANUP(struct cg *, cg_free)

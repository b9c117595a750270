/* internal.h - what detect.c, create.c, cgroup.c and kill.c share, and the seams the unit
 * tests use. Not for other modules.
 *
 * Fake trees. The kernel creates a cgroup's interface files (cgroup.procs, memory.max, ...)
 * when the directory is made, removes them on rmdir, and refuses some writes (EBUSY for
 * subtree_control with processes inside). This module never creates a control file
 * (O_CREAT on cgroupfs would be a bug), so a fake tree under a test's tmpdir needs someone
 * playing the kernel: the three writes that change a tree go through struct cg_ops, and
 * the tests pass ops that mirror the kernel (populate a new directory, empty it before
 * rmdir, move a pid written to cgroup.procs). Everything else (reads, existence checks,
 * kill(2)) is the same code in tests and production; production passes NULL ops. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cgroup/cgroup.h"
#include "util/str.h"

struct err;

#define CG_ROOT	      "/sys/fs/cgroup"
#define CG_PARENT     "mayfly"		  /* the shared parent of every sandbox cgroup */
#define CG_SUPERVISOR "mayfly-supervisor" /* v2: where our own processes move (create.c) */
#define CG_NAME_MAX   128
#define CG_MAX_DIRS   4 /* v1: memory, pids, cpu, freezer */

/* Bounds on what we read: cg_open() refuses longer journal strings; small control files
 * and /proc/self/cgroup; cgroup.procs (about 500k pids). */
#define CG_PATHS_MAX (CG_MAX_DIRS * 4096)
#define CG_READ_MAX  (64 * 1024)
#define CG_PROCS_MAX (4 * 1024 * 1024)

#define CG_KILL_TIMEOUT_MS  2000
#define CG_RMDIR_TIMEOUT_MS 1000
#define CG_CPU_PERIOD_US    100000
#define CG_CPU_QUOTA_MIN_US 1000 /* the kernel refuses less */

/* Controllers, as bits: what a directory's hierarchy carries (v1) or what is enabled in it
 * (v2 carries all of them in one directory). */
enum cg_ctrl {
	CG_MEMORY = 1 << 0,
	CG_PIDS = 1 << 1,
	CG_CPU = 1 << 2,
	CG_FREEZER = 1 << 3,
};

/* The writes that change a tree. Each returns 0 or -errno and sets no err. */
struct cg_ops {
	int (*mkdir)(const char *path);
	int (*rmdir)(const char *path);
	/* Replace the content of an existing file: no O_CREAT, like every cgroupfs write. */
	int (*write)(const char *path, const char *content);
};

struct cg_dir {
	char *path;	/* absolute, owned */
	unsigned ctrls; /* enum cg_ctrl: on v1 the hierarchy's controller */
};

struct cg {
	enum cg_version version;
	const struct cg_ops *ops; /* borrowed, static storage */
	size_t ndirs;
	struct cg_dir dirs[CG_MAX_DIRS];
	char *paths; /* the ':'-joined dirs[].path, owned */
};

/* The real kernel: mkdir(2), rmdir(2), open(O_WRONLY | O_TRUNC) + write(2). */
extern const struct cg_ops cg_kernel_ops;

/* cg_create() and cg_open() with explicit ops (NULL: cg_kernel_ops) and, for cg_open, the
 * cgroup root the paths must lie under (NULL: CG_ROOT). */
int cg_create_ops(const struct cg_ops *ops, const char *root, const char *proc_self_cgroup,
		  const char *name, const struct cg_limits *lim, struct cg **ret_cg,
		  char **ret_missing, struct err *err);
int cg_open_ops(const struct cg_ops *ops, const char *root, const char *paths, struct cg **ret_cg,
		struct err *err);

/* detect.c */

/* What the tree at root offers, from files only: CG_V2 when its cgroup.controllers lists
 * memory and pids, CG_V1 when memory/ and pids/ hold a cgroup.procs, else CG_NONE. Says
 * nothing about whether we may write there (cg_detect() adds that). */
enum cg_version cg_layout(const char *root);
/* A cgroup root as given (NULL: CG_ROOT) after checking it is absolute, clean, not "/" and
 * free of ':' (the journal's separator). Borrowed: it is the argument or CG_ROOT. */
int cg_root_check(const char *root, const char **ret_root, struct err *err);
/* Our own cgroup from the text of /proc/self/cgroup: the "0::" line when controller is
 * NULL (v2), else the v1 line whose controller list names it ("4:cpu,cpuacct:/x" for
 * "cpu"). v2 answers the parent of a trailing "/mayfly-supervisor" (see create.c). The
 * path must be absolute, clean and free of ':' (in a cgroup namespace it is "/../x" when
 * we sit outside it); -ENOENT otherwise, as without such a line: no usable cgroup.
 * On success *ret_path is a new string. */
int cg_own_path(const char *proc_self_cgroup, const char *controller, char **ret_path,
		struct err *err);
/* Read /proc/self/cgroup (bounded) into a new string. */
int cg_read_proc_self(char **ret_text, struct err *err);
/* True when a sandbox name can be a directory and a journal entry: 1..CG_NAME_MAX of
 * [A-Za-z0-9_.-], not starting with '.'. */
bool cg_name_valid(const char *name);
/* True when the space-separated list (cgroup.controllers, cgroup.subtree_control; a
 * leading '+' on an entry is ignored) names word. */
bool cg_list_has(const char *list, const char *word);

/* cgroup.c */

/* Read a small file (at most max bytes) into a new string; -errno, no err. */
int cg_read(const char *path, size_t max, char **ret_text);
/* Join dir and file into a new string. */
char *cg_file(const char *dir, const char *file);
/* Write content to dir/file through ops; -errno, no err. */
int cg_write(const struct cg *cg, const char *dir, const char *file, const char *content);
/* The first directory carrying ctrl (v2: the only one), or NULL. */
const struct cg_dir *cg_dir_of(const struct cg *cg, unsigned ctrl);
/* A handle with no directories yet; cg_add_dir() takes path. */
struct cg *cg_new(enum cg_version version, const struct cg_ops *ops);
void cg_add_dir(struct cg *cg, char *path, unsigned ctrls);
/* Join the directories into cg->paths (after the last cg_add_dir()). */
void cg_seal(struct cg *cg);

/* kill.c */

/* Every directory of the subtree below (and including) dir, parents before children, at
 * most a few levels deep; missing dir gives none. *ret is a NULL-terminated strv. */
int cg_subtree(const char *dir, char ***ret, struct err *err);
static inline void cg_strv_freep(char ***v)
{
	(void) strv_free(*v);
}

/* Monotonic milliseconds. */
uint64_t cg_now_ms(void);
void cg_sleep_ms(unsigned ms);

/* create.c - making a sandbox cgroup and applying its limits, on v2 and v1.
 *
 * Placement is "<own>/mayfly/<name>", <own> being our cgroup from /proc/self/cgroup (per
 * hierarchy on v1). On v2 the "no internal processes" rule forbids enabling controllers in
 * the subtree_control of a non-root cgroup that has processes, and <own> has at least us.
 * Like crun, podman and docker-in-docker, we then move every process of <own> into
 * "<own>/mayfly-supervisor" and enable the controllers; detect.c maps a cgroup ending in
 * "/mayfly-supervisor" back to <own>, so later calls land in the same place. The
 * alternative, creating beside <own> under its parent, writes outside what was delegated
 * to us. The move happens once per <own> and only when enabling really fails with EBUSY. */
#include "cgroup/cgroup.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cgroup/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define MOVE_ROUNDS 8 /* processes fork while we move them; then give up */

static const struct {
	const char *name;
	unsigned ctrl;
} v2_ctrls[] = {
	{ "memory", CG_MEMORY },
	{ "pids", CG_PIDS },
	{ "cpu", CG_CPU },
};

/* Move every process in dir into dir/mayfly-supervisor, until dir is empty. */
static int move_to_supervisor(const struct cg *cg, const char *dir, struct err *err)
{
	cleanup_free char *sup = path_join(dir, CG_SUPERVISOR);
	cleanup_free char *procs = cg_file(dir, "cgroup.procs");
	int r;

	r = cg->ops->mkdir(sup);
	if (r < 0 && r != -EEXIST)
		return err_set(err, r, "mkdir '%s'", sup);
	for (int round = 0; round < MOVE_ROUNDS; round++) {
		cleanup_free char *text = NULL;
		bool any = false;

		r = cg_read(procs, CG_PROCS_MAX, &text);
		if (r < 0)
			return err_set(err, r, "read '%s'", procs);
		for (char *line = text, *next; *line; line = next) {
			char *eol = strchrnul(line, '\n');
			unsigned pid;

			next = *eol ? eol + 1 : eol;
			*eol = '\0';
			if (safe_atou(line, &pid) < 0 || pid == 0)
				continue;
			any = true;
			r = cg_write(cg, sup, "cgroup.procs", line);
			if (r < 0 && r != -ESRCH)
				return err_set(err, r, "move pid %u to '%s'", pid, sup);
		}
		if (!any)
			return 0;
	}
	return err_set(err, EBUSY, "move processes out of '%s': they keep coming", dir);
}

/* Enable memory, pids and cpu, as far as dir offers them, for dir's children. Nothing here
 * is fatal, not even a failed move: what is not enabled has no limit files in the sandbox
 * cgroup, apply_limits() reports it missing, and the sandbox still gets a cgroup to be
 * killed by. */
static void enable_controllers(const struct cg *cg, const char *dir, bool may_move)
{
	cleanup_free char *avail = NULL;
	cleanup_free char *enabled = NULL;
	cleanup_free char *sc = cg_file(dir, "cgroup.subtree_control");
	cleanup_free char *cf = cg_file(dir, "cgroup.controllers");
	char want[64] = "";
	int r;

	if (cg_read(cf, CG_READ_MAX, &avail) < 0 || cg_read(sc, CG_READ_MAX, &enabled) < 0)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(v2_ctrls); i++) {
		if (!cg_list_has(avail, v2_ctrls[i].name) || cg_list_has(enabled, v2_ctrls[i].name))
			continue;
		size_t n = strlen(want);
		(void) snprintf(want + n, sizeof(want) - n, "%s+%s", n ? " " : "",
				v2_ctrls[i].name);
	}
	if (!want[0])
		return;
	r = cg->ops->write(sc, want);
	if (r == -EBUSY && may_move) {
		struct err ignored = { 0 };
		if (move_to_supervisor(cg, dir, &ignored) >= 0)
			r = cg->ops->write(sc, want);
	}
	if (r < 0) {
		/* One controller can refuse (cpu with realtime tasks inside): take the rest. */
		for (size_t i = 0; i < ARRAY_SIZE(v2_ctrls); i++) {
			char one[32];
			if (!cg_list_has(want, v2_ctrls[i].name))
				continue;
			(void) snprintf(one, sizeof(one), "+%s", v2_ctrls[i].name);
			(void) cg->ops->write(sc, one);
		}
	}
}

/* mkdir for the shared parent: somebody else may have made it. */
static int mkdir_shared(const struct cg *cg, const char *path, struct err *err)
{
	int r = cg->ops->mkdir(path);

	if (r < 0 && r != -EEXIST)
		return err_set(err, r, "mkdir '%s'", path);
	return 0;
}

static int create_v2(struct cg *cg, const char *root, const char *psc, const char *name,
		     struct err *err)
{
	cleanup_free char *own = NULL;
	cleanup_free char *own_dir = NULL;
	cleanup_free char *parent = NULL;
	cleanup_free char *leaf = NULL;
	int r;

	r = cg_own_path(psc, NULL, &own, err);
	if (r < 0)
		return r;
	own_dir = path_join(root, own);
	enable_controllers(cg, own_dir, true);
	parent = path_join(own_dir, CG_PARENT);
	r = mkdir_shared(cg, parent, err);
	if (r < 0)
		return r;
	enable_controllers(cg, parent, false);
	leaf = path_join(parent, name);
	r = cg->ops->mkdir(leaf);
	if (r < 0)
		return err_set(err, r, "mkdir '%s'", leaf);
	cg_add_dir(cg, TAKE_PTR(leaf), CG_MEMORY | CG_PIDS | CG_CPU);
	return 0;
}

/* Make <top><own>/mayfly/<name> in one v1 hierarchy; *ret_leaf gets the new directory. */
static int mkdir_v1(const struct cg *cg, const char *top, const char *own, const char *name,
		    char **ret_leaf, struct err *err)
{
	cleanup_free char *own_dir = path_join(top, own);
	cleanup_free char *parent = path_join(own_dir, CG_PARENT);
	cleanup_free char *leaf = path_join(parent, name);
	int r;

	r = mkdir_shared(cg, parent, err);
	if (r < 0)
		return r;
	r = cg->ops->mkdir(leaf);
	if (r < 0)
		return err_set(err, r, "mkdir '%s'", leaf);
	*ret_leaf = TAKE_PTR(leaf);
	return 0;
}

static int create_v1(struct cg *cg, const char *root, const char *psc, const char *name,
		     const struct cg_limits *lim, struct err *err)
{
	const struct {
		const char *name;
		unsigned ctrl;
		bool required;
		bool wanted;
	} hier[] = {
		{ "memory", CG_MEMORY, true, true },
		{ "pids", CG_PIDS, true, true },
		{ "cpu", CG_CPU, false, lim->cpu_millis > 0 },
		/* Lets cg_kill() stop forks while it kills. */
		{ "freezer", CG_FREEZER, false, true },
	};

	for (size_t i = 0; i < ARRAY_SIZE(hier); i++) {
		cleanup_free char *top = path_join(root, hier[i].name);
		cleanup_free char *procs = cg_file(top, "cgroup.procs");
		cleanup_free char *own = NULL;
		cleanup_free char *leaf = NULL;
		struct err e = { 0 };
		int r;

		if (!hier[i].wanted)
			continue;
		if (access(procs, F_OK) < 0) {
			if (hier[i].required)
				return err_set(err, errno, "cgroup v1 hierarchy '%s'", top);
			continue;
		}
		r = cg_own_path(psc, hier[i].name, &own, &e);
		if (r >= 0)
			r = mkdir_v1(cg, top, own, name, &leaf, &e);
		if (r >= 0) {
			cg_add_dir(cg, TAKE_PTR(leaf), hier[i].ctrl);
			continue;
		}
		/* An existing leaf is somebody else's sandbox: never share it. Without cpu the
		 * limit is reported missing; without freezer cg_kill() loops. */
		if (hier[i].required || r == -EEXIST) {
			*err = e;
			return r;
		}
	}
	return 0;
}

/* The errors that mean "this limit is not available to us", as opposed to a failure. */
static bool unavailable(int r)
{
	return r == -ENOENT || r == -EACCES || r == -EPERM || r == -EROFS;
}

/* Write one limit file; *missing gets ctrl when the file is not there for us. */
static int set_limit(const struct cg *cg, unsigned ctrl, const char *file, const char *value,
		     unsigned *missing, struct err *err)
{
	const struct cg_dir *d = cg_dir_of(cg, ctrl);
	int r;

	if (!d) {
		*missing |= ctrl;
		return 0;
	}
	r = cg_write(cg, d->path, file, value);
	if (unavailable(r)) {
		*missing |= ctrl;
		return 0;
	}
	if (r < 0)
		return err_set(err, r, "write '%s' to '%s/%s'", value, d->path, file);
	return 0;
}

/* Write a file that is only there sometimes (swap accounting); absent is fine. */
static int set_optional(const struct cg *cg, unsigned ctrl, const char *file, const char *value,
			struct err *err)
{
	const struct cg_dir *d = cg_dir_of(cg, ctrl);
	int r = d ? cg_write(cg, d->path, file, value) : 0;

	if (r < 0 && !unavailable(r))
		return err_set(err, r, "write '%s' to '%s/%s'", value, d->path, file);
	return 0;
}

static int apply_limits(const struct cg *cg, const struct cg_limits *lim, unsigned *missing,
			struct err *err)
{
	bool v2 = cg->version == CG_V2;
	char buf[64];
	int r;

	if (lim->memory_bytes > 0) {
		unsigned before = *missing;

		(void) snprintf(buf, sizeof(buf), "%llu", (unsigned long long) lim->memory_bytes);
		r = set_limit(cg, CG_MEMORY, v2 ? "memory.max" : "memory.limit_in_bytes", buf,
			      missing, err);
		if (r < 0)
			return r;
		/* Swap is limited to nothing: v1 memsw counts memory plus swap, so the same
		 * number. Lowering memsw below limit_in_bytes fails, hence the order. */
		if (*missing == before) {
			r = set_optional(cg, CG_MEMORY,
					 v2 ? "memory.swap.max" : "memory.memsw.limit_in_bytes",
					 v2 ? "0" : buf, err);
			if (r < 0)
				return r;
		}
	}
	if (lim->pids > 0) {
		(void) snprintf(buf, sizeof(buf), "%u", lim->pids);
		r = set_limit(cg, CG_PIDS, "pids.max", buf, missing, err);
		if (r < 0)
			return r;
	}
	if (lim->cpu_millis > 0) {
		/* 1000 millicpus are one full period; the kernel refuses quotas below 1 ms. */
		unsigned long long quota =
			(unsigned long long) lim->cpu_millis * (CG_CPU_PERIOD_US / 1000);
		if (quota < CG_CPU_QUOTA_MIN_US)
			quota = CG_CPU_QUOTA_MIN_US;
		if (v2) {
			(void) snprintf(buf, sizeof(buf), "%llu %d", quota, CG_CPU_PERIOD_US);
			return set_limit(cg, CG_CPU, "cpu.max", buf, missing, err);
		}
		unsigned before = *missing;
		(void) snprintf(buf, sizeof(buf), "%d", CG_CPU_PERIOD_US);
		r = set_limit(cg, CG_CPU, "cpu.cfs_period_us", buf, missing, err);
		if (r < 0 || *missing != before)
			return r;
		(void) snprintf(buf, sizeof(buf), "%llu", quota);
		return set_limit(cg, CG_CPU, "cpu.cfs_quota_us", buf, missing, err);
	}
	return 0;
}

static char *missing_text(unsigned missing)
{
	static const struct {
		const char *name;
		unsigned ctrl;
	} order[] = { { "memory", CG_MEMORY }, { "pids", CG_PIDS }, { "cpu", CG_CPU } };
	char buf[64] = "";

	if (!missing)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		size_t n = strlen(buf);
		if (missing & order[i].ctrl)
			(void) snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? "," : "",
					order[i].name);
	}
	return xstrdup(buf);
}

/* Undo a half-made cgroup: only the leaves we made, never the shared parents. */
static void remove_leaves(const struct cg *cg)
{
	for (size_t i = 0; i < cg->ndirs; i++)
		(void) cg->ops->rmdir(cg->dirs[i].path);
}

int cg_create_ops(const struct cg_ops *ops, const char *root, const char *proc_self_cgroup,
		  const char *name, const struct cg_limits *lim, struct cg **ret_cg,
		  char **ret_missing, struct err *err)
{
	static const struct cg_limits no_limits;
	CLEANUP(cg_freep) struct cg *cg = NULL;
	cleanup_free char *text = NULL;
	unsigned missing = 0;
	enum cg_version v;
	int r;

	if (!lim)
		lim = &no_limits;
	r = cg_root_check(root, &root, err);
	if (r < 0)
		return r;
	if (!cg_name_valid(name))
		return err_set(err, EINVAL, "cgroup name '%.*s': invalid", CG_NAME_MAX, name);
	if (!proc_self_cgroup) {
		r = cg_read_proc_self(&text, err);
		if (r < 0)
			return r;
		proc_self_cgroup = text;
	}
	v = cg_layout(root);
	if (v == CG_NONE)
		return err_set(err, ENOENT, "no cgroup hierarchy with memory and pids under '%s'",
			       root);
	cg = cg_new(v, ops);
	if (v == CG_V2)
		r = create_v2(cg, root, proc_self_cgroup, name, err);
	else
		r = create_v1(cg, root, proc_self_cgroup, name, lim, err);
	if (r >= 0)
		r = apply_limits(cg, lim, &missing, err);
	if (r < 0) {
		remove_leaves(cg);
		return r;
	}
	cg_seal(cg);
	if (ret_missing)
		*ret_missing = missing_text(missing);
	*ret_cg = TAKE_PTR(cg);
	return 0;
}

int cg_create(const char *root, const char *proc_self_cgroup, const char *name,
	      const struct cg_limits *lim, struct cg **ret_cg, char **ret_missing, struct err *err)
{
	return cg_create_ops(NULL, root, proc_self_cgroup, name, lim, ret_cg, ret_missing, err);
}

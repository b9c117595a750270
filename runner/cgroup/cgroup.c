/* cgroup.c - the handle: re-opening from the journal, attaching, usage, OOM events, and
 * the file helpers the other files share. */
#include "cgroup/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

static int kernel_mkdir(const char *path)
{
	return mkdir(path, 0755) < 0 ? -errno : 0;
}

static int kernel_rmdir(const char *path)
{
	return rmdir(path) < 0 ? -errno : 0;
}

static int kernel_write(const char *path, const char *content)
{
	/* No O_CREAT: a control file that is not there is a controller that is not there. */
	cleanup_close int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);

	if (fd < 0)
		return -errno;
	return fd_write_all(fd, content, strlen(content));
}

const struct cg_ops cg_kernel_ops = {
	.mkdir = kernel_mkdir,
	.rmdir = kernel_rmdir,
	.write = kernel_write,
};

int cg_read(const char *path, size_t max, char **ret_text)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);

	int r;

	if (fd < 0) {
		r = -errno;
		return r < 0 ? r : -EIO;
	}
	return fd_read_all(fd, max, ret_text, NULL);
}

char *cg_file(const char *dir, const char *file)
{
	return path_join(dir, file);
}

int cg_write(const struct cg *cg, const char *dir, const char *file, const char *content)
{
	cleanup_free char *p = cg_file(dir, file);

	return cg->ops->write(p, content);
}

const struct cg_dir *cg_dir_of(const struct cg *cg, unsigned ctrl)
{
	if (cg->version == CG_V2)
		return cg->ndirs > 0 ? &cg->dirs[0] : NULL;
	for (size_t i = 0; i < cg->ndirs; i++)
		if (cg->dirs[i].ctrls & ctrl)
			return &cg->dirs[i];
	return NULL;
}

struct cg *cg_new(enum cg_version version, const struct cg_ops *ops)
{
	struct cg *cg = xcalloc(1, sizeof(*cg));

	cg->version = version;
	cg->ops = ops ? ops : &cg_kernel_ops;
	return cg;
}

void cg_add_dir(struct cg *cg, char *path, unsigned ctrls)
{
	if (cg->ndirs >= CG_MAX_DIRS)
		abort(); /* programmer error: callers add at most one per hierarchy */
	cg->dirs[cg->ndirs].path = path;
	cg->dirs[cg->ndirs].ctrls = ctrls;
	cg->ndirs++;
}

void cg_seal(struct cg *cg)
{
	char *v[CG_MAX_DIRS + 1] = { NULL };

	for (size_t i = 0; i < cg->ndirs; i++)
		v[i] = cg->dirs[i].path;
	free(cg->paths);
	cg->paths = strv_join(v, ":");
}

struct cg *cg_free(struct cg *cg)
{
	if (!cg)
		return NULL;
	for (size_t i = 0; i < cg->ndirs; i++)
		free(cg->dirs[i].path);
	free(cg->paths);
	free(cg);
	return NULL;
}

const char *cg_paths(const struct cg *cg)
{
	return cg->paths;
}

enum cg_version cg_version_of(const struct cg *cg)
{
	return cg->version;
}

/* v1 hierarchies we make directories in, by the name of their directory under the root. */
static unsigned v1_hierarchy(const char *name, size_t len)
{
	static const struct {
		const char *name;
		unsigned ctrl;
	} known[] = {
		{ "memory", CG_MEMORY },
		{ "pids", CG_PIDS },
		{ "cpu", CG_CPU },
		{ "freezer", CG_FREEZER },
	};

	for (size_t i = 0; i < ARRAY_SIZE(known); i++)
		if (strlen(known[i].name) == len && memcmp(known[i].name, name, len) == 0)
			return known[i].ctrl;
	return 0;
}

/* SECURITY: the journal is a file on disk and may have been tampered with; cg_kill() and
 * cg_destroy() SIGKILL whatever lives in these directories. Accept only what cg_create()
 * makes: "<root>[/<hierarchy>]/<own...>/mayfly/<name>", clean and absolute, so the worst
 * a forged entry can name is another sandbox of ours. */
static int check_dir(const char *root, enum cg_version v, const char *path, unsigned *ret_ctrl,
		     const char **ret_name, struct err *err)
{
	size_t nroot = strlen(root);
	const char *rel, *name, *parent;
	unsigned ctrl = CG_MEMORY | CG_PIDS | CG_CPU;

	if (path[0] != '/' || !path_is_clean(path))
		return err_set(err, EINVAL, "cgroup path '%s': not a clean absolute path", path);
	if (strncmp(path, root, nroot) != 0 || path[nroot] != '/')
		return err_set(err, EINVAL, "cgroup path '%s': not under '%s'", path, root);
	rel = path + nroot + 1;
	if (v == CG_V1) {
		const char *slash = strchrnul(rel, '/');
		ctrl = v1_hierarchy(rel, (size_t) (slash - rel));
		if (!ctrl || !*slash)
			return err_set(err, EINVAL, "cgroup path '%s': not in a known hierarchy",
				       path);
		rel = slash + 1;
	}
	name = strrchr(rel, '/');
	if (!name)
		return err_set(err, EINVAL, "cgroup path '%s': not a mayfly cgroup", path);
	parent = name;
	while (parent > rel && parent[-1] != '/')
		parent--;
	if ((size_t) (name - parent) != strlen(CG_PARENT) ||
	    memcmp(parent, CG_PARENT, strlen(CG_PARENT)) != 0 || !cg_name_valid(name + 1))
		return err_set(err, EINVAL, "cgroup path '%s': not a mayfly cgroup", path);
	name++;
	*ret_ctrl = ctrl;
	*ret_name = name;
	return 0;
}

int cg_open_ops(const struct cg_ops *ops, const char *root, const char *paths, struct cg **ret_cg,
		struct err *err)
{
	CLEANUP(cg_freep) struct cg *cg = NULL;
	cleanup_free char *copy = NULL;
	cleanup_free char *marker = NULL;
	const char *first_name = NULL;
	unsigned seen = 0;
	enum cg_version v;
	char *p;
	int r;

	r = cg_root_check(root, &root, err);
	if (r < 0)
		return r;
	if (!paths || !*paths || strlen(paths) > CG_PATHS_MAX)
		return err_set(err, EINVAL, "cgroup paths: empty or too long");
	/* The root's own kind decides, not the journal: a cgroup2 mount has
	 * cgroup.controllers at its top, the tmpfs holding v1 hierarchies has not. */
	marker = path_join(root, "cgroup.controllers");
	v = access(marker, F_OK) == 0 ? CG_V2 : CG_V1;
	cg = cg_new(v, ops);
	copy = xstrdup(paths);
	p = copy;
	for (;;) {
		char *sep = strchr(p, ':');
		const char *name = NULL;
		unsigned ctrl = 0;

		if (sep)
			*sep = '\0';
		if (cg->ndirs >= (v == CG_V2 ? 1 : CG_MAX_DIRS))
			return err_set(err, EINVAL, "cgroup paths '%s': too many directories",
				       paths);
		r = check_dir(root, v, p, &ctrl, &name, err);
		if (r < 0)
			return r;
		if (first_name && strcmp(first_name, name) != 0)
			return err_set(err, EINVAL, "cgroup paths '%s': names differ", paths);
		if (v == CG_V1 && (seen & ctrl))
			return err_set(err, EINVAL, "cgroup paths '%s': a hierarchy twice", paths);
		seen |= ctrl;
		cg_add_dir(cg, xstrdup(p), ctrl);
		first_name = strrchr(cg->dirs[cg->ndirs - 1].path, '/') + 1;
		if (!sep)
			break;
		p = sep + 1;
	}
	cg_seal(cg);
	*ret_cg = TAKE_PTR(cg);
	return 0;
}

int cg_open(const char *paths, struct cg **ret_cg, struct err *err)
{
	return cg_open_ops(NULL, NULL, paths, ret_cg, err);
}

int cg_attach(const struct cg *cg, pid_t pid, struct err *err)
{
	char buf[32];

	if (pid <= 0)
		return err_set(err, EINVAL, "attach pid %d", (int) pid);
	(void) snprintf(buf, sizeof(buf), "%d", (int) pid);
	for (size_t i = 0; i < cg->ndirs; i++) {
		int r = cg_write(cg, cg->dirs[i].path, "cgroup.procs", buf);
		if (r < 0)
			return err_set(err, r, "attach pid %d: write '%s/cgroup.procs'", (int) pid,
				       cg->dirs[i].path);
	}
	return 0;
}

int cg_memory_current(const struct cg *cg, uint64_t *ret_bytes, struct err *err)
{
	const struct cg_dir *d = cg_dir_of(cg, CG_MEMORY);
	cleanup_free char *file = NULL;
	cleanup_free char *text = NULL;
	uint64_t v;
	int r;

	if (!d)
		return err_set(err, ENOENT, "memory usage: no memory controller");
	file = cg_file(d->path, cg->version == CG_V2 ? "memory.current" : "memory.usage_in_bytes");
	r = cg_read(file, CG_READ_MAX, &text);
	if (r < 0)
		return err_set(err, r, "read '%s'", file);
	text[strcspn(text, "\n")] = '\0';
	r = safe_atou64(text, &v);
	if (r < 0)
		return err_set(err, r, "read '%s': not a number", file);
	*ret_bytes = v;
	return 0;
}

bool cg_oom_killed(const struct cg *cg)
{
	const struct cg_dir *d = cg_dir_of(cg, CG_MEMORY);
	cleanup_free char *file = NULL;
	cleanup_free char *text = NULL;
	const char *line;

	if (!d)
		return false;
	/* v2 memory.events and v1 memory.oom_control both carry "oom_kill <count>". */
	file = cg_file(d->path, cg->version == CG_V2 ? "memory.events" : "memory.oom_control");
	if (cg_read(file, CG_READ_MAX, &text) < 0)
		return false;
	for (line = text; *line;) {
		char *eol = strchrnul(line, '\n');
		bool last = !*eol;
		uint64_t n;

		*eol = '\0';
		if (str_startswith(line, "oom_kill ") &&
		    safe_atou64(line + strlen("oom_kill "), &n) == 0)
			return n > 0;
		line = last ? eol : eol + 1;
	}
	return false;
}

int cg_open_dir_fd(const struct cg *cg, int *ret_fd, struct err *err)
{
	int fd;

	if (cg->version != CG_V2 || cg->ndirs != 1)
		return -EOPNOTSUPP;
	fd = open(cg->dirs[0].path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, errno, "open '%s'", cg->dirs[0].path);
	*ret_fd = fd;
	return 0;
}

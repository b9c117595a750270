/* detect.c - which cgroup version this host offers us, and where we are in it: parsing
 * /proc/self/cgroup and checking the names that become paths. Reads only. */
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

int cg_root_check(const char *root, const char **ret_root, struct err *err)
{
	if (!root)
		root = CG_ROOT;
	if (root[0] != '/' || !path_is_clean(root) || strcmp(root, "/") == 0 || strchr(root, ':') ||
	    strlen(root) >= 1024)
		return err_set(err, EINVAL, "cgroup root '%s': not a clean absolute path", root);
	*ret_root = root;
	return 0;
}

bool cg_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > CG_NAME_MAX || name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
		if (!ok)
			return false;
	}
	return true;
}

bool cg_list_has(const char *list, const char *word)
{
	size_t n = strlen(word);
	const char *p = list;

	while (*p) {
		const char *e;

		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (*p == '+')
			p++;
		e = p;
		while (*e && *e != ' ' && *e != '\t' && *e != '\n')
			e++;
		if ((size_t) (e - p) == n && n > 0 && memcmp(p, word, n) == 0)
			return true;
		p = e;
	}
	return false;
}

/* True when the comma-separated v1 controller list names ctrl. */
static bool ctrl_list_has(const char *list, size_t len, const char *ctrl)
{
	size_t n = strlen(ctrl);
	const char *p = list, *end = list + len;

	while (p < end) {
		const char *e = memchr(p, ',', (size_t) (end - p));
		if (!e)
			e = end;
		if ((size_t) (e - p) == n && memcmp(p, ctrl, n) == 0)
			return true;
		p = e + 1;
	}
	return false;
}

int cg_own_path(const char *proc_self_cgroup, const char *controller, char **ret_path,
		struct err *err)
{
	const char *what = controller ? controller : "cgroup2";
	const char *line = proc_self_cgroup;

	while (*line) {
		const char *eol = strchrnul(line, '\n');
		const char *c1 = memchr(line, ':', (size_t) (eol - line));
		const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t) (eol - c1 - 1)) : NULL;
		bool match;

		if (c2) {
			size_t nctrl = (size_t) (c2 - c1 - 1);
			if (controller)
				match = ctrl_list_has(c1 + 1, nctrl, controller);
			else
				match = nctrl == 0 && c1 - line == 1 && line[0] == '0';
			if (match) {
				/* SECURITY: this path becomes a directory we write below; in a
				 * cgroup namespace it can be "/../x" when we sit outside it. */
				cleanup_free char *p = xstrndup(c2 + 1, (size_t) (eol - c2 - 1));
				if (p[0] != '/' || !path_is_clean(p) || strchr(p, ':') ||
				    strlen(p) >= 2048)
					return err_set(err, ENOENT,
						       "own %s cgroup '%s': outside our cgroup "
						       "namespace or unusable",
						       what, p);
				if (!controller && str_endswith(p, "/" CG_SUPERVISOR)) {
					/* We moved ourselves there: our cgroup is still the one
					 * above (create.c). */
					size_t n = strlen(p) - strlen("/" CG_SUPERVISOR);
					p[n > 0 ? n : 1] = '\0';
				}
				*ret_path = TAKE_PTR(p);
				return 0;
			}
		}
		line = *eol ? eol + 1 : eol;
	}
	return err_set(err, ENOENT, "own %s cgroup: not in /proc/self/cgroup", what);
}

int cg_read_proc_self(char **ret_text, struct err *err)
{
	int r = cg_read("/proc/self/cgroup", CG_READ_MAX, ret_text);

	if (r < 0)
		return err_set(err, r, "read '/proc/self/cgroup'");
	return 0;
}

/* We can make a cgroup in dir, or in the shared parent below it somebody made for us. */
static bool dir_writable(const char *dir)
{
	cleanup_free char *parent = path_join(dir, CG_PARENT);

	return access(dir, W_OK | X_OK) == 0 || access(parent, W_OK | X_OK) == 0;
}

static bool exists(const char *root, const char *file)
{
	cleanup_free char *p = path_join(root, file);

	return access(p, F_OK) == 0;
}

static bool v2_offered(const char *root)
{
	cleanup_free char *controllers = NULL;
	cleanup_free char *cf = path_join(root, "cgroup.controllers");

	if (cg_read(cf, CG_READ_MAX, &controllers) < 0)
		return false;
	return cg_list_has(controllers, "memory") && cg_list_has(controllers, "pids");
}

static bool v2_usable(const char *root, const char *psc)
{
	cleanup_free char *own = NULL;
	cleanup_free char *dir = NULL;
	struct err err = { 0 };

	if (cg_own_path(psc, NULL, &own, &err) < 0)
		return false;
	dir = path_join(root, own);
	return dir_writable(dir);
}

static bool v1_usable(const char *root, const char *psc)
{
	static const char *const required[] = { "memory", "pids" };

	for (size_t i = 0; i < ARRAY_SIZE(required); i++) {
		cleanup_free char *hier = path_join(root, required[i]);
		cleanup_free char *own = NULL;
		cleanup_free char *dir = NULL;
		struct err err = { 0 };

		if (cg_own_path(psc, required[i], &own, &err) < 0)
			return false;
		dir = path_join(hier, own);
		if (!dir_writable(dir))
			return false;
	}
	return true;
}

static bool v1_offered(const char *root)
{
	return exists(root, "memory/cgroup.procs") && exists(root, "pids/cgroup.procs");
}

enum cg_version cg_layout(const char *root)
{
	if (v2_offered(root))
		return CG_V2;
	return v1_offered(root) ? CG_V1 : CG_NONE;
}

enum cg_version cg_detect(const char *root, const char *proc_self_cgroup)
{
	cleanup_free char *text = NULL;
	struct err err = { 0 };

	if (cg_root_check(root, &root, &err) < 0)
		return CG_NONE;
	if (!proc_self_cgroup) {
		if (cg_read_proc_self(&text, &err) < 0)
			return CG_NONE;
		proc_self_cgroup = text;
	}
	/* A cgroup2 root that offers memory and pids wins; a hybrid host (v1 controllers
	 * plus an empty unified/) has no cgroup.controllers at the top and counts as v1. */
	switch (cg_layout(root)) {
	case CG_V2:
		return v2_usable(root, proc_self_cgroup) ? CG_V2 : CG_NONE;
	case CG_V1:
		return v1_usable(root, proc_self_cgroup) ? CG_V1 : CG_NONE;
	case CG_NONE:
		break;
	}
	return CG_NONE;
}

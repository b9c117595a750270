/* overlay.c - the sandbox's copy-on-write views of shared read-only dirs (a cached git
 * tree, a PostgreSQL template), built in the child before pivot_root.
 *
 * For overlay N at dst:
 *   T/ovl/N/l<K>   where a lower given as a detached (idmapped) mount is attached
 *   T/ovl/N/u      the upper layer: the job's writes, on the scratch tmpfs
 *   T/ovl/N/w      overlayfs's work dir
 * and root+dst becomes overlay(lowers, u). overlayfs keeps private clones of its layers,
 * so the attached lowers go away with the old root and the overlay still works. */
#include "jail/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "jail/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

static int mkdir_owned(const char *path, mode_t mode, uid_t uid, gid_t gid, struct err *err)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return err_set(err, errno, "create '%s'", path);
	if (chown(path, uid, gid) < 0)
		return err_set(err, errno, "chown '%s'", path);
	if (chmod(path, mode) < 0)
		return err_set(err, errno, "chmod '%s'", path);
	return 0;
}

/* Delete rel (relative to the merged dir) through the overlay, which records a whiteout
 * in the upper layer. No symlink is followed: rel names the entry itself. */
static int remove_beneath(const char *merged, const char *rel, struct err *err)
{
	cleanup_free char *copy = xstrdup(rel);
	cleanup_close int dir = open(merged, O_PATH | O_DIRECTORY | O_CLOEXEC);
	char *s = copy;

	if (dir < 0)
		return err_set(err, errno, "open '%s'", merged);
	if (*rel == '/' || !path_is_clean(rel) || strcmp(rel, "..") == 0 ||
	    strncmp(rel, "../", 3) == 0)
		return err_set(err, EINVAL, "remove '%s': not a clean relative path", rel);
	for (char *slash; (slash = strchr(s, '/')); s = slash + 1) {
		int next;
		*slash = '\0';
		next = openat(dir, s, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && (errno == ENOENT || errno == ENOTDIR || errno == ELOOP))
			return 0; /* already gone, or not under a directory */
		if (next < 0)
			return err_set(err, errno, "remove '%s'", rel);
		(void) close(dir);
		dir = next;
	}
	if (unlinkat(dir, s, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno == EISDIR && unlinkat(dir, s, AT_REMOVEDIR) == 0)
		return 0;
	return err_set(err, errno, "remove '%s'", rel);
}

/* The overlay's options. Paths go into a comma-separated list with ':' between lower
 * dirs: refuse the characters that would need escaping rather than get it wrong. */
static int overlay_opts(const char *base, const struct jail_overlay *o, bool userxattr, char **ret,
			struct err *err)
{
	cleanup_free char *lower = NULL;

	for (size_t k = 0; k < o->n_lowers; k++) {
		cleanup_free char *l = NULL;
		if (o->fds && o->fds[k] >= 0)
			l = xasprintf("%s/l%zu", base, k);
		else
			l = xstrdup(o->lowers[k]);
		if (strpbrk(l, ",:\\"))
			return err_set(err, EINVAL,
				       "overlay '%s': lower dir '%s' contains ',', "
				       "':' or '\\'",
				       o->dst, l);
		char *joined = lower ? xasprintf("%s:%s", lower, l) : xstrdup(l);
		free(lower);
		lower = joined;
	}
	if (strpbrk(base, ",:\\"))
		return err_set(err, EINVAL, "overlay '%s': '%s' contains ',', ':' or '\\'", o->dst,
			       base);
	*ret = xasprintf("lowerdir=%s,upperdir=%s/u,workdir=%s/w%s", lower, base, base,
			 userxattr ? ",userxattr" : "");
	return 0;
}

static int mount_one(const char *root, const struct jail_config *cfg, size_t n, struct err *err)
{
	const struct jail_overlay *o = &cfg->overlays[n];
	cleanup_free char *top = path_join(cfg->root_mnt, "ovl");
	cleanup_free char *base = xasprintf("%s/%zu", top, n);
	cleanup_free char *upper = path_join(base, "u");
	cleanup_free char *work = path_join(base, "w");
	cleanup_free char *dst = path_join(root, o->dst);
	cleanup_free char *opts = NULL;
	struct stat st;
	int r;

	if (o->n_lowers == 0)
		return err_set(err, EINVAL, "overlay '%s': no lower dir", o->dst);
	r = mkdir_owned(top, 0700, (uid_t) -1, (gid_t) -1, err);
	if (r == 0)
		r = mkdir_owned(base, 0700, (uid_t) -1, (gid_t) -1, err);
	if (r < 0)
		return r;
	for (size_t k = 0; o->fds && k < o->n_lowers; k++) {
		cleanup_free char *l = NULL;
		if (o->fds[k] < 0)
			continue;
		l = xasprintf("%s/l%zu", base, k);
		r = mkdir_owned(l, 0700, (uid_t) -1, (gid_t) -1, err);
		if (r < 0)
			return r;
		if (syscall(SYS_move_mount, o->fds[k], "", AT_FDCWD, l, M_MOVE_MOUNT_F_EMPTY_PATH) <
		    0)
			return err_set(err, errno, "overlay '%s': attach lower '%s'", o->dst,
				       o->lowers[k]);
	}
	/* The merged root takes the upper dir's owner and mode: the job's, the top lower's. */
	{
		cleanup_free char *l0 = (o->fds && o->fds[0] >= 0) ? xasprintf("%s/l0", base)
								   : xstrdup(o->lowers[0]);
		if (stat(l0, &st) < 0)
			return err_set(err, errno, "overlay '%s': lower '%s'", o->dst,
				       o->lowers[0]);
		if (!S_ISDIR(st.st_mode))
			return err_set(err, ENOTDIR, "overlay '%s': lower '%s'", o->dst,
				       o->lowers[0]);
	}
	r = mkdir_owned(upper, st.st_mode & 07777, cfg->uid, cfg->gid, err);
	if (r == 0)
		r = mkdir_owned(work, 0700, (uid_t) -1, (gid_t) -1, err);
	if (r == 0)
		r = jail_make_mount_point(root, o->dst, true, err);
	if (r < 0)
		return err_wrap(err, "overlay '%s'", o->dst);
	/* In a user namespace overlayfs keeps its whiteouts and opaque marks in user.*
	 * xattrs (tmpfs has them since Linux 6.6); older kernels take the plain mount. */
	r = overlay_opts(base, o, true, &opts, err);
	if (r < 0)
		return r;
	if (mount("overlay", dst, "overlay", MS_NOSUID | MS_NODEV, opts) < 0) {
		if (errno != EINVAL)
			return err_set(err, errno, "mount overlay on '%s'", o->dst);
		free(opts);
		opts = NULL;
		r = overlay_opts(base, o, false, &opts, err);
		if (r < 0)
			return r;
		if (mount("overlay", dst, "overlay", MS_NOSUID | MS_NODEV, opts) < 0)
			return err_set(err, errno, "mount overlay on '%s'", o->dst);
	}
	for (size_t k = 0; o->fds && k < o->n_lowers; k++)
		if (o->fds[k] >= 0)
			(void) close(o->fds[k]);
	for (size_t i = 0; o->remove && o->remove[i]; i++) {
		r = remove_beneath(dst, o->remove[i], err);
		if (r < 0)
			return err_wrap(err, "overlay '%s'", o->dst);
	}
	return 0;
}

int jail_setup_overlays(const char *root, const struct jail_config *cfg, bool mount_points,
			struct err *err)
{
	for (size_t i = 0; i < cfg->n_overlays; i++) {
		const struct jail_overlay *o = &cfg->overlays[i];
		int r;

		if (mount_points) {
			if (jail_under_scratch(o->dst))
				continue;
			r = jail_make_mount_point(root, o->dst, true, err);
		} else
			r = mount_one(root, cfg, i, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* rootfs.c - the sandbox's file system, built in the child's own mount namespace (so it
 * disappears with the sandbox: nothing to unmount, nothing to forget).
 *
 * One tmpfs of size --disk is mounted on cfg->root_mnt and holds everything writable:
 *   T/root       the new root: a skeleton of read-only binds of the host's system dirs,
 *                or an overlay of an image (upper in T/upper) that is made read-only
 *   T/tmp        bound on /tmp (and /var/tmp)
 *   T/home       bound on $HOME (/home/runner, or /root for --user root)
 *   T/workspace  bound on /workspace
 *   T/run        bound on /run
 *   T/ovl/N      the upper layers of the overlays (overlay.c)
 * then pivot_root into T/root and detach the old root. */
#include "jail/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "jail/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

enum {
	RO = 1 << 0,
	NOEXEC = 1 << 1,
	REC = 1 << 2,
	DEV = 1 << 3,	/* keep device access (no nodev) */
	LATER = 1 << 4, /* no flags now: restrict_tree() of a parent sets them in one call */
};

/* Make the mount at path read-only (RO), nosuid, nodev and maybe noexec. mount_setattr
 * changes only what it names and reaches submounts; the fallback remount must repeat the
 * flags the kernel locked on the source (a user namespace may not clear them). */
static int restrict_mount(const char *path, unsigned how, struct err *err)
{
	struct mnt_attr a = { .attr_set = M_ATTR_NOSUID | ((how & DEV) ? 0 : M_ATTR_NODEV) };
	struct statvfs sv;
	unsigned long fl;

	if (how & RO)
		a.attr_set |= M_ATTR_RDONLY;
	if (how & NOEXEC)
		a.attr_set |= M_ATTR_NOEXEC;
	if (syscall(SYS_mount_setattr, AT_FDCWD, path, (how & REC) ? AT_RECURSIVE : 0, &a,
		    sizeof(a)) == 0)
		return 0;
	if (errno != ENOSYS)
		return err_set(err, errno, "restrict mount '%s'", path);
	if (statvfs(path, &sv) < 0)
		return err_set(err, errno, "statvfs '%s'", path);
	fl = MS_REMOUNT | MS_BIND | MS_NOSUID | ((how & DEV) ? 0 : MS_NODEV);
	fl |= sv.f_flag &
	      (ST_NOEXEC | ST_NODEV | ST_NOATIME | ST_NODIRATIME | ST_RELATIME | ST_RDONLY);
	if (how & RO)
		fl |= MS_RDONLY;
	if (how & NOEXEC)
		fl |= MS_NOEXEC;
	if (mount(NULL, path, NULL, fl, NULL) < 0)
		return err_set(err, errno, "remount '%s'", path);
	return 0;
}

/* restrict_mount() for path and every mount below it: one mount_setattr(AT_RECURSIVE),
 * or, on kernels before 5.12, a remount of each mount that /proc/self/mountinfo lists. */
static int restrict_tree(const char *path, unsigned how, struct err *err)
{
	struct mnt_attr a = { .attr_set = M_ATTR_NOSUID | ((how & DEV) ? 0 : M_ATTR_NODEV) };
	cleanup_fclose FILE *f = NULL;
	char line[4096];
	size_t n = strlen(path);

	if (how & RO)
		a.attr_set |= M_ATTR_RDONLY;
	if (how & NOEXEC)
		a.attr_set |= M_ATTR_NOEXEC;
	if (syscall(SYS_mount_setattr, AT_FDCWD, path, AT_RECURSIVE, &a, sizeof(a)) == 0)
		return 0;
	if (errno != ENOSYS)
		return err_set(err, errno, "restrict mounts under '%s'", path);
	f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return err_set(err, errno, "open '/proc/self/mountinfo'");
	while (fgets(line, sizeof(line), f)) {
		char mp[4096];
		/* Field 5 is the mount point (octal escapes for spaces: we never make any). */
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
			continue;
		if (strncmp(mp, path, n) != 0 || (mp[n] != '\0' && mp[n] != '/'))
			continue;
		int r = restrict_mount(mp, how & ~(unsigned) REC, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int bind(const char *src, const char *dst, unsigned how, struct err *err)
{
	if (mount(src, dst, NULL, MS_BIND | ((how & REC) ? MS_REC : 0), NULL) < 0)
		return err_set(err, errno, "bind '%s' on '%s'", src, dst);
	if (how & LATER)
		return 0;
	return restrict_mount(dst, how, err);
}

static int make_dir(const char *path, mode_t mode, struct err *err)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return err_set(err, errno, "mkdir '%s'", path);
	return 0;
}

/* Create a fresh file: whatever was at path (an image's symlink, say) is removed first,
 * and O_EXCL|O_NOFOLLOW make sure the write lands on the file just made. */
static int make_file(const char *path, const char *content, mode_t mode, struct err *err)
{
	cleanup_close int fd = -1;
	int r;

	if (unlink(path) < 0 && errno != ENOENT)
		return err_set(err, errno, "replace '%s'", path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);

	if (fd < 0)
		return err_set(err, errno, "create '%s'", path);
	r = fd_write_all(fd, content, strlen(content));
	if (r < 0)
		return err_set(err, -r, "write '%s'", path);
	if (fchmod(fd, mode) < 0)
		return err_set(err, errno, "chmod '%s'", path);
	return 0;
}

static int make_file_in(const char *dir, const char *name, const char *content, mode_t mode,
			struct err *err)
{
	cleanup_free char *path = path_join(dir, name);
	return make_file(path, content, mode, err);
}

/* Mirror host path `name` (relative to /) into root: a symlink is copied, a directory or
 * file is bound read-only; a missing one is skipped. */
static int mirror_host(const char *root, const char *name, struct err *err)
{
	cleanup_free char *src = path_join("/", name);
	cleanup_free char *dst = path_join(root, name);
	struct stat st;

	if (lstat(src, &st) < 0)
		return errno == ENOENT ? 0 : err_set(err, errno, "stat '%s'", src);
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlink(src, target, sizeof(target) - 1);
		if (n < 0)
			return err_set(err, errno, "readlink '%s'", src);
		target[n] = '\0';
		if (symlink(target, dst) < 0 && errno != EEXIST)
			return err_set(err, errno, "symlink '%s'", dst);
		return 0;
	}
	if (S_ISDIR(st.st_mode)) {
		if (make_dir(dst, 0755, err) < 0)
			return -err->code;
	} else if (S_ISREG(st.st_mode)) {
		if (make_file(dst, "", 0644, err) < 0)
			return -err->code;
	} else
		return 0;
	return bind(src, dst, REC | LATER, err);
}

/* The host files a job may see in /etc: what programs need to run (dynamic linker cache,
 * alternatives, CA certificates, time zone, service names), nothing with secrets
 * (no shadow, ssh keys, ssl/private, credentials of host tools: npmrc and pip.conf
 * often hold registry tokens, so they stay out too). */
static const char *const etc_allow[] = {
	"alternatives",
	"ssl/certs",
	"ssl/openssl.cnf",
	"ca-certificates",
	"ca-certificates.conf",
	"ld.so.cache",
	"ld.so.conf",
	"ld.so.conf.d",
	"localtime",
	"timezone",
	"os-release",
	"debian_version",
	"lsb-release",
	"protocols",
	"services",
	"rpc",
	"mime.types",
	"profile",
	"profile.d",
	"bash.bashrc",
	"inputrc",
	"shells",
	"java-*",
	"python3*",
	"perl",
	"fonts",
	"magic",
	"mailcap",
	"login.defs",
	"gai.conf",
	"xdg",
	"vim",
	"subversion",
	"mercurial",
	"gitattributes",
};

static int build_etc(const char *root, const struct jail_config *cfg, struct err *err)
{
	cleanup_free char *etc = path_join(root, "etc");
	int r;

	r = make_dir(etc, 0755, err);
	if (r < 0)
		return r;
	cleanup_free char *ssl = path_join(etc, "ssl");
	r = make_dir(ssl, 0755, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(etc_allow); i++) {
		cleanup_free char *pat = path_join("/etc", etc_allow[i]);
		glob_t g;

		if (glob(pat, GLOB_NOSORT, NULL, &g) != 0)
			continue;
		for (size_t k = 0; k < g.gl_pathc; k++) {
			r = mirror_host(root, g.gl_pathv[k] + 1, err);
			if (r < 0) {
				globfree(&g);
				return r;
			}
		}
		globfree(&g);
	}
	return 0;
}

/* /etc/passwd and /etc/group with root, the job's user and nobody. */
/* Open path inside image as if image were "/": symlinks cannot lead out of it
 * (openat2 RESOLVE_IN_ROOT; before Linux 5.6, no symlink is followed at all). */
static int open_in_image(const char *image, const char *path)
{
	struct {
		uint64_t flags, mode, resolve;
	} how = { .flags = O_RDONLY | O_CLOEXEC, .resolve = 0x10 /* RESOLVE_IN_ROOT */ };
	cleanup_close int dfd = open(image, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int fd;

	if (dfd < 0)
		return -1;
	fd = (int) syscall(SYS_openat2, dfd, path, &how, sizeof(how));
	if (fd < 0 && errno == ENOSYS) {
		how.resolve = 0x04; /* RESOLVE_NO_SYMLINKS, emulated: */
		cleanup_free char *copy = xstrdup(path);
		int cur = dup(dfd);
		for (char *c = copy, *next; cur >= 0 && c; c = next) {
			next = strchr(c, '/');
			if (next)
				*next++ = '\0';
			int n = openat(cur, c,
				       (next ? O_PATH | O_DIRECTORY : O_RDONLY) | O_NOFOLLOW |
					       O_CLOEXEC);
			(void) close(cur);
			cur = n;
		}
		fd = cur;
	}
	return fd;
}

static int write_identity(const char *etc, const struct jail_config *cfg, const char *image,
			  struct err *err)
{
	cleanup_free char *passwd = NULL, *group = NULL, *pw_path = path_join(etc, "passwd"),
			  *gr_path = path_join(etc, "group");
	const char *shell = access("/bin/bash", X_OK) == 0 ? "/bin/bash" : "/bin/sh";
	int r;

	if (image) {
		/* The image's own passwd and group, with the job's user added when its id
		 * is unknown there; they shadow the image's in the overlay's top layer. */
		cleanup_free char *old_pw = NULL, *old_gr = NULL;
		cleanup_close int pfd = open_in_image(image, "etc/passwd");
		cleanup_close int gfd = open_in_image(image, "etc/group");
		char needle[32];
		if (pfd < 0 || fd_read_all(pfd, 1 << 20, &old_pw, NULL) < 0)
			old_pw = xstrdup("root:x:0:0:root:/root:/bin/sh\n");
		if (gfd < 0 || fd_read_all(gfd, 1 << 20, &old_gr, NULL) < 0)
			old_gr = xstrdup("root:x:0:\n");
		(void) snprintf(needle, sizeof(needle), ":%u:", (unsigned) cfg->uid);
		passwd = strstr(old_pw, needle) || cfg->uid == 0
				 ? xstrdup(old_pw)
				 : xasprintf("%s%srunner:x:%u:%u:runner:/home/runner:/bin/sh\n",
					     old_pw, str_endswith(old_pw, "\n") ? "" : "\n",
					     (unsigned) cfg->uid, (unsigned) cfg->gid);
		group = strstr(old_gr, needle) || cfg->gid == 0
				? xstrdup(old_gr)
				: xasprintf("%s%srunner:x:%u:\n", old_gr,
					    str_endswith(old_gr, "\n") ? "" : "\n",
					    (unsigned) cfg->gid);
		r = make_file(pw_path, passwd, 0644, err);
		if (r < 0)
			return r;
		return make_file(gr_path, group, 0644, err);
	}
	cleanup_free char *user =
		cfg->uid == 0 || cfg->uid == 65534
			? xstrdup("")
			: xasprintf("runner:x:%u:%u:runner:/home/runner:%s\n", (unsigned) cfg->uid,
				    (unsigned) cfg->gid, shell);
	cleanup_free char *ugroup = cfg->gid == 0 || cfg->gid == 65534
					    ? xstrdup("")
					    : xasprintf("runner:x:%u:\n", (unsigned) cfg->gid);
	passwd = xasprintf("root:x:0:0:root:/root:%s\n%s"
			   "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
			   shell, user);
	group = xasprintf("root:x:0:\n%snogroup:x:65534:\n", ugroup);
	r = make_file(pw_path, passwd, 0644, err);
	if (r < 0)
		return r;
	return make_file(gr_path, group, 0644, err);
}

static int write_net_files(const char *etc, const struct jail_config *cfg, struct err *err)
{
	cleanup_free char *hosts = xasprintf("127.0.0.1\tlocalhost %s\n"
					     "::1\tlocalhost ip6-localhost ip6-loopback\n",
					     cfg->hostname);
	cleanup_free char *hostname = xasprintf("%s\n", cfg->hostname);
	int r;

	r = make_file_in(etc, "hosts", hosts, 0644, err);
	if (r == 0)
		r = make_file_in(etc, "hostname", hostname, 0644, err);
	/* No DNS inside: an empty resolv.conf (and no resolver listens on loopback). */
	if (r == 0)
		r = make_file_in(etc, "resolv.conf", "", 0644, err);
	if (r == 0)
		r = make_file_in(etc, "nsswitch.conf",
				 "passwd: files\ngroup: files\nshadow: files\nhosts: files\n"
				 "networks: files\nprotocols: files\nservices: files\n",
				 0644, err);
	return r;
}

static const char *const proc_hide_files[] = {
	"kcore",       "keys",	   "timer_list", "sched_debug", "sysrq-trigger", "latency_stats",
	"timer_stats", "kallsyms", "kpagecount", "kpageflags",	"kpagecgroup",	 "config.gz",
};
static const char *const proc_hide_dirs[] = { "acpi", "scsi", "asound", "driver" };
static const char *const proc_ro_dirs[] = { "sys", "irq", "bus", "fs" };

static int setup_proc(const char *root, struct err *err)
{
	cleanup_free char *proc = path_join(root, "proc");
	int r;

	if (mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return err_set(err, errno, "mount proc on '%s'", proc);
	/* The targets were just created by this kernel in a proc nobody else can reach
	 * yet, so no one can race us with a symlink (the CVE-2025-31133 class). */
	for (size_t i = 0; i < ARRAY_SIZE(proc_hide_files); i++) {
		cleanup_free char *p = path_join(proc, proc_hide_files[i]);
		struct stat st;
		if (lstat(p, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		/* nodev (from the restrict_tree() below) makes opening it fail. */
		if (mount("/dev/null", p, NULL, MS_BIND, NULL) < 0)
			return err_set(err, errno, "mask '%s'", p);
	}
	for (size_t i = 0; i < ARRAY_SIZE(proc_hide_dirs); i++) {
		cleanup_free char *p = path_join(proc, proc_hide_dirs[i]);
		struct stat st;
		if (lstat(p, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (mount("mayfly", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  "size=0,mode=0555") < 0)
			return err_set(err, errno, "mask '%s'", p);
	}
	for (size_t i = 0; i < ARRAY_SIZE(proc_ro_dirs); i++) {
		cleanup_free char *p = path_join(proc, proc_ro_dirs[i]);
		struct stat st;
		if (lstat(p, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		r = bind(p, p, RO | NOEXEC | REC, err);
		if (r < 0)
			return r;
	}
	return restrict_tree(proc, NOEXEC, err);
}

static int setup_dev(const char *root, struct err *err)
{
	static const char *const nodes[] = { "null", "zero", "full", "random", "urandom", "tty" };
	static const char *const links[][2] = {
		{ "ptmx", "pts/ptmx" },		 { "fd", "/proc/self/fd" },
		{ "stdin", "/proc/self/fd/0" },	 { "stdout", "/proc/self/fd/1" },
		{ "stderr", "/proc/self/fd/2" },
	};
	cleanup_free char *dev = path_join(root, "dev");
	cleanup_free char *pts = path_join(dev, "pts");
	cleanup_free char *shm = path_join(dev, "shm");
	int r;

	if (mount("mayfly", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=0755") < 0)
		return err_set(err, errno, "mount tmpfs on '%s'", dev);
	/* A user namespace cannot mknod: bind the host's harmless character devices. */
	for (size_t i = 0; i < ARRAY_SIZE(nodes); i++) {
		cleanup_free char *src = path_join("/dev", nodes[i]);
		cleanup_free char *dst = path_join(dev, nodes[i]);
		r = make_file(dst, "", 0666, err);
		if (r == 0)
			r = bind(src, dst, LATER, err);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < ARRAY_SIZE(links); i++) {
		cleanup_free char *dst = path_join(dev, links[i][0]);
		if (symlink(links[i][1], dst) < 0)
			return err_set(err, errno, "symlink '%s'", dst);
	}
	r = make_dir(pts, 0755, err);
	if (r < 0)
		return r;
	if (mount("devpts", pts, "devpts", MS_NOSUID | MS_NOEXEC,
		  "newinstance,ptmxmode=0666,mode=0620") < 0)
		return err_set(err, errno, "mount devpts on '%s'", pts);
	r = make_dir(shm, 01777, err);
	if (r < 0)
		return r;
	if (mount("mayfly", shm, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64m,mode=1777") <
	    0)
		return err_set(err, errno, "mount tmpfs on '%s'", shm);
	r = restrict_tree(dev, NOEXEC | DEV, err);
	if (r < 0)
		return r;
	if (mount(NULL, dev, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC,
		  "size=64k,mode=0755") < 0)
		return err_set(err, errno, "remount '%s' read-only", dev);
	return 0;
}

/* Create the mount point of a bind under root, following no symlink of the new root's
 * skeleton out of it: each component is created or opened with O_NOFOLLOW. */
int jail_make_mount_point(const char *root, const char *dst, bool dir, struct err *err)
{
	cleanup_free char *rel = xstrdup(dst + 1);
	cleanup_close int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	char *s = rel;

	if (fd < 0)
		return err_set(err, errno, "open '%s'", root);
	for (;;) {
		char *slash = strchr(s, '/');
		bool last = !slash;
		int next;

		if (slash)
			*slash = '\0';
		if (!last || dir) {
			if (mkdirat(fd, s, 0755) < 0 && errno != EEXIST)
				return err_set(err, errno, "create mount point '%s'", dst);
			next = openat(fd, s, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		} else {
			next = openat(fd, s, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
		}
		if (next < 0)
			return err_set(err, errno, "create mount point '%s'", dst);
		(void) close(fd);
		fd = next;
		if (last)
			return 0;
		s = slash + 1;
	}
}

static const char *const scratch_tops[] = { "tmp", "home", "root", "workspace", "run" };

/* Whether dst (absolute) lies in one of the writable scratch dirs. */
bool jail_under_scratch(const char *dst)
{
	for (size_t i = 0; i < ARRAY_SIZE(scratch_tops); i++) {
		size_t n = strlen(scratch_tops[i]);
		if (strncmp(dst + 1, scratch_tops[i], n) == 0 &&
		    (dst[n + 1] == '/' || dst[n + 1] == '\0'))
			return true;
	}
	return false;
}

/* The job's binds. Mount points outside the scratch dirs must be made before the
 * skeleton turns read-only (early); the binds themselves come last. */
static int setup_binds(const char *root, const struct jail_config *cfg, bool early, struct err *err)
{
	for (size_t i = 0; i < cfg->n_binds; i++) {
		const struct jail_bind *b = &cfg->binds[i];
		cleanup_free char *dst = path_join(root, b->dst);
		struct stat st;
		int r;

		if (early && jail_under_scratch(b->dst))
			continue;
		if (stat(b->src, &st) < 0)
			return err_set(err, errno, "bind '%s:%s': source", b->src, b->dst);
		r = jail_make_mount_point(root, b->dst, S_ISDIR(st.st_mode), err);
		if (r == 0 && !early)
			r = bind(b->src, dst, (b->ro ? RO : 0) | REC, err);
		if (r < 0)
			return err_wrap(err, "bind '%s:%s'", b->src, b->dst);
	}
	return 0;
}

struct scratch_dir {
	const char *src, *dst;
	mode_t mode;
	bool owned;
};

/* The writable dirs, all from the one scratch tmpfs. */
static void scratch_dirs(const struct jail_config *cfg, struct scratch_dir dirs[4])
{
	dirs[0] = (struct scratch_dir){ "tmp", "tmp", 01777, false };
	dirs[1] =
		(struct scratch_dir){ "home", cfg->uid == 0 ? "root" : "home/runner", 0755, true };
	dirs[2] = (struct scratch_dir){ "workspace", "workspace", 0755, true };
	dirs[3] = (struct scratch_dir){ "run", "run", 0755, true };
}

/* Phase one: the scratch dirs and their mount points in the skeleton. */
static int make_scratch_points(const char *scratch, const char *root, const struct jail_config *cfg,
			       struct err *err)
{
	struct scratch_dir dirs[4];
	cleanup_free char *home = path_join(root, "home");
	cleanup_free char *var = path_join(root, "var");
	cleanup_free char *vartmp = path_join(var, "tmp");
	int r;

	scratch_dirs(cfg, dirs);
	r = make_dir(home, 0755, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		cleanup_free char *src = path_join(scratch, dirs[i].src);
		cleanup_free char *dst = path_join(root, dirs[i].dst);
		r = make_dir(src, dirs[i].mode, err);
		if (r < 0)
			return r;
		if (chmod(src, dirs[i].mode) < 0)
			return err_set(err, errno, "chmod '%s'", src);
		if (dirs[i].owned && chown(src, cfg->uid, cfg->gid) < 0)
			return err_set(err, errno, "chown '%s'", src);
		r = make_dir(dst, 0755, err);
		if (r < 0)
			return r;
	}
	/* /var/tmp is /tmp. */
	r = make_dir(var, 0755, err);
	if (r < 0)
		return r;
	if (symlink("/tmp", vartmp) < 0 && errno != EEXIST)
		return err_set(err, errno, "symlink '%s'", vartmp);
	return 0;
}

static int bind_scratch(const char *scratch, const char *root, const struct jail_config *cfg,
			struct err *err)
{
	struct scratch_dir dirs[4];

	scratch_dirs(cfg, dirs);
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		cleanup_free char *src = path_join(scratch, dirs[i].src);
		cleanup_free char *dst = path_join(root, dirs[i].dst);
		int r = bind(src, dst, 0, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* An image root: an overlay with no upper layer (so nothing can ever be written to the
 * image), whose top layer is our skeleton (generated /etc files, mount points) and whose
 * bottom layer is the image. The skeleton's directories shadow whatever the image has
 * at those names: an image's "etc -> /elsewhere" symlink is hidden, not followed. */
static int overlay_image(const char *skel, const char *root, const char *image, struct err *err)
{
	cleanup_free char *opts = NULL;

	/* Overlay options are comma-separated with ':' between lower dirs. */
	if (strpbrk(image, ",:\\") || strpbrk(skel, ",:\\"))
		return err_set(err, EINVAL, "image path '%s' contains ',', ':' or '\\'", image);
	opts = xasprintf("lowerdir=%s:%s", skel, image);
	if (mount("overlay", root, "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV, opts) < 0)
		return err_set(err, errno, "mount overlay of image '%s'", image);
	return 0;
}

int jail_setup_root(const struct jail_config *cfg, struct err *err)
{
	cleanup_free char *opts =
		xasprintf("size=%llu,mode=0755", (unsigned long long) cfg->disk_bytes);
	cleanup_free char *root = path_join(cfg->root_mnt, "root");
	/* Where the skeleton is built: the root itself, or an image's top layer. */
	cleanup_free char *skel = path_join(cfg->root_mnt, cfg->rootfs ? "skel" : "root");
	cleanup_free char *etc = path_join(skel, "etc");
	cleanup_free char *proc_dir = path_join(skel, "proc");
	cleanup_free char *dev_dir = path_join(skel, "dev");
	int r;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return err_set(err, errno, "make mounts private");
	if (mount("mayfly", cfg->root_mnt, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
		return err_set(err, errno, "mount scratch tmpfs on '%s'", cfg->root_mnt);
	r = make_dir(root, 0755, err);
	if (r == 0)
		r = make_dir(skel, 0755, err);
	if (r < 0)
		return r;
	if (!cfg->rootfs) {
		static const char *const sys[] = { "usr",   "bin",   "sbin",  "lib",
						   "lib32", "lib64", "libx32" };
		if (mount(root, root, NULL, MS_BIND, NULL) < 0)
			return err_set(err, errno, "bind '%s'", root);
		for (size_t i = 0; i < ARRAY_SIZE(sys); i++) {
			r = mirror_host(root, sys[i], err);
			if (r < 0)
				return r;
		}
		r = build_etc(root, cfg, err);
	} else
		r = make_dir(etc, 0755, err);
	if (r == 0)
		r = write_identity(etc, cfg, cfg->rootfs, err);
	if (r == 0)
		r = write_net_files(etc, cfg, err);
	if (r == 0)
		r = make_dir(proc_dir, 0555, err);
	if (r == 0)
		r = make_dir(dev_dir, 0755, err);
	if (r == 0)
		r = make_scratch_points(cfg->root_mnt, skel, cfg, err);
	if (r == 0)
		r = setup_binds(skel, cfg, true, err);
	if (r == 0)
		r = jail_setup_overlays(skel, cfg, true, err);
	if (r == 0 && cfg->rootfs)
		r = overlay_image(skel, root, cfg->rootfs, err);
	/* The skeleton is complete: all of it read-only in one call. What is mounted from
	 * here on brings its own flags. */
	if (r == 0)
		r = restrict_tree(root, RO, err);
	if (r == 0)
		r = setup_proc(root, err);
	if (r == 0)
		r = setup_dev(root, err);
	if (r == 0)
		r = bind_scratch(cfg->root_mnt, root, cfg, err);
	if (r == 0)
		r = setup_binds(root, cfg, false, err);
	if (r == 0)
		r = jail_setup_overlays(root, cfg, false, err);
	if (r < 0)
		return r;

	if (chdir(root) < 0)
		return err_set(err, errno, "chdir '%s'", root);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return err_set(err, errno, "pivot_root");
	/* The old root is now stacked under the new one: detach it and all it holds. */
	if (umount2(".", MNT_DETACH) < 0)
		return err_set(err, errno, "detach the old root");
	if (chdir("/") < 0)
		return err_set(err, errno, "chdir '/'");
	return 0;
}

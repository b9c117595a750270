/* spinup-peers.c - each peer's command line: unshare, bubblewrap with the host's usr-merged
 * layout, crun with a generated OCI bundle (and its work-arounds for hybrid cgroup hosts),
 * mayfly. */
#include "spinup.h"

/* --oci-bundle, else benchmarks/ in the current dir (make bench), else next to the build dir
 * this binary is in (<build>/benchmarks/spinup). */
char *find_oci_bundle(const char *given)
{
	char exe[PATH_MAX], *p = realpath(given ? given : "benchmarks/oci-bundle.sh", NULL);
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	cleanup_free char *q = NULL;

	if (p || given || n <= 0)
		return p;
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	q = xasprintf("%s/../../benchmarks/oci-bundle.sh", exe);
	return realpath(q, NULL);
}

void read_layout(struct bench *b)
{
	static const char *const names[] = { "bin", "sbin", "lib", "lib32", "lib64", "libx32" };

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		struct layout_entry *e = &b->lay[b->nlay];
		char p[32];
		struct stat st;
		ssize_t n;

		(void) snprintf(p, sizeof(p), "/%s", names[i]);
		if (lstat(p, &st) < 0 || !(S_ISLNK(st.st_mode) || S_ISDIR(st.st_mode)))
			continue;
		(void) str_copy(e->name, sizeof(e->name), names[i]);
		e->target[0] = '\0';
		if (S_ISLNK(st.st_mode)) {
			n = readlink(p, e->target, sizeof(e->target) - 1);
			if (n <= 0)
				continue;
			e->target[n] = '\0';
		}
		b->nlay++;
	}
}

static void push_all(char ***v, const char *const *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		strv_push(v, a[i]);
}

/* Make <tmp>/crun/<tag>, a bundle that runs cmd, with oci-bundle.sh (next to this source). */
static int crun_bundle(const struct bench *b, const char *tag, char *const *cmd, char **ret_dir,
		       struct err *err)
{
	cleanup_close int mfd = memfd_create("spinup-stderr", MFD_CLOEXEC);
	cleanup_free char *dir = xasprintf("%s/crun/%s", b->tmp, tag);
	CLEANUP(strv_freep) char **argv = NULL;
	char id[16], why[WHY_MAX];
	pid_t pid = -1;
	int r, status = 0;

	if (!b->oci_bundle) {
		err->code = ENOENT;
		(void) snprintf(err->msg, sizeof(err->msg),
				"oci-bundle.sh not found (--oci-bundle)");
		return -ENOENT;
	}
	(void) snprintf(id, sizeof(id), "%u", b->host_id);
	push_all(&argv, (const char *const[]){ "/bin/sh", b->oci_bundle, dir, id }, 4);
	push_all(&argv, (const char *const *) cmd, strv_len(cmd));
	r = fork_spawn(argv, -1, b->null_fd, mfd, &pid, err);
	if (r < 0)
		return r;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		describe(status, mfd, why, sizeof(why));
		err->code = EIO;
		(void) snprintf(err->msg, sizeof(err->msg), "'%s': %s", b->oci_bundle, why);
		return -EIO;
	}
	*ret_dir = TAKE_PTR(dir);
	return 0;
}

/* The command line that runs cmd under peer p; NULL when p is missing. */
char **peer_argv(struct bench *b, enum peer p, char *const *cmd, const char *tag, struct err *err)
{
	const char *exe = b->c[p].exe;
	char **v = NULL;

	if (p == P_FORKEXEC)
		return strv_copy(cmd);
	if (!exe)
		return NULL;
	strv_push(&v, exe);
	switch (p) {
	case P_UNSHARE: {
		static const char *const a[] = { "--user",   "--map-root-user", "--mount", "--pid",
						 "--fork",   "--net",		"--ipc",   "--uts",
						 "--cgroup", "--mount-proc" };
		push_all(&v, a, ARRAY_SIZE(a));
		break;
	}
	case P_BWRAP: {
		static const char *const a[] = { "--unshare-all", "--die-with-parent", "--ro-bind",
						 "/usr", "/usr" };
		static const char *const z[] = { "--proc",  "/proc", "--dev",	     "/dev",
						 "--tmpfs", "/tmp",  "--new-session" };
		push_all(&v, a, ARRAY_SIZE(a));
		for (size_t i = 0; i < b->nlay; i++) {
			cleanup_free char *dst = xasprintf("/%s", b->lay[i].name);
			strv_push(&v, b->lay[i].target[0] ? "--symlink" : "--ro-bind");
			strv_push(&v, b->lay[i].target[0] ? b->lay[i].target : dst);
			strv_push(&v, dst);
		}
		push_all(&v, z, ARRAY_SIZE(z));
		break;
	}
	case P_CRUN: {
		cleanup_free char *dir = NULL;
		cleanup_free char *state = xasprintf("%s/crun-state", b->tmp);

		if (crun_bundle(b, tag, cmd, &dir, err) < 0)
			return strv_free(v);
		for (size_t i = 0; b->crun_flags && b->crun_flags[i]; i++)
			strv_push(&v, b->crun_flags[i]);
		push_all(&v, (const char *const[]){ "--root", state, "run", "--bundle", dir, "id" },
			 6);
		free(v[strv_len(v) - 1]);
		v[strv_len(v) - 1] = xcalloc(1, CRUN_ID_MAX); /* rewritten before each run */
		return v;
	}
	case P_MAYFLY:
		strv_push(&v, "exec");
		strv_push(&v, "--");
		break;
	default:
		break;
	}
	for (size_t i = 0; cmd[i]; i++)
		strv_push(&v, cmd[i]);
	return v;
}

static bool is_cgroup2(const char *path)
{
	struct statfs sf;
	return statfs(path, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
}

/* A mount namespace like ours but without the cgroup2 mount of a hybrid host, so that crun
 * sees plain cgroup v1. The helper child only builds it; we keep a handle on it. */
static int make_v1_mntns(int *ret_fd, struct err *err)
{
	cleanup_close int r0 = -1, r1 = -1, g0 = -1, g1 = -1;
	cleanup_pid pid_t pid = -1;
	char path[64];
	int p[2], fd, r;

	if (pipe2(p, O_CLOEXEC) < 0)
		return err_set(err, errno, "pipe");
	r0 = p[0], r1 = p[1];
	if (pipe2(p, O_CLOEXEC) < 0)
		return err_set(err, errno, "pipe");
	g0 = p[0], g1 = p[1];
	pid = fork();
	if (pid < 0)
		return err_set(err, errno, "fork");
	if (pid == 0) {
		char c;
		if (unshare(CLONE_NEWNS) < 0)
			child_fail(r1, errno, "unshare mnt");
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			child_fail(r1, errno, "make / rprivate");
		if (umount2(CGROUP2_UNIFIED, MNT_DETACH) < 0)
			child_fail(r1, errno, "umount '" CGROUP2_UNIFIED "'");
		r1 = safe_close(r1); /* EOF: ready */
		/* Hold the namespace until the parent has a handle on it (EOF). */
		_exit(read(g0, &c, 1) < 0 ? 1 : 0);
	}
	r1 = safe_close(r1);
	g0 = safe_close(g0);
	r = read_child_err(r0, err);
	if (r < 0)
		return r;
	(void) snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int) pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, errno, "open '%s'", path);
	*ret_fd = fd;
	return 0;
}

/* crun refuses a hybrid cgroup host ("cgroups in hybrid mode not supported") even with
 * --cgroup-manager=disabled, so on failure try it where the cgroup2 mount is hidden, then
 * without cgroups at all, and say which one worked. */
void setup_crun(struct bench *b, struct contender *c)
{
	char first[WHY_MAX], ctrl[128] = "";
	cleanup_free char *buf = NULL;
	struct err err = { 0 };
	size_t len;

	if (probe(b, c))
		return;
	(void) str_copy(first, sizeof(first), c->why);
	if (geteuid() == 0 && is_cgroup2(CGROUP2_UNIFIED)) {
		if (make_v1_mntns(&c->mntns_fd, &err) < 0) {
			(void) snprintf(c->why, sizeof(c->why), "%s (hiding cgroup2: %s)", first,
					err.msg);
			return;
		}
		if (read_file_at(AT_FDCWD, CGROUP2_UNIFIED "/cgroup.controllers", 4096, &buf, &len,
				 &err) == 0) {
			buf[strcspn(buf, "\n")] = '\0';
			(void) snprintf(ctrl, sizeof(ctrl), " (its v2 hierarchy has: %s)",
					buf[0] ? buf : "no controllers");
		}
		if (probe(b, c)) {
			(void) snprintf(c->note, sizeof(c->note),
					"hybrid cgroups%s make crun fail (%s); it runs in a mount "
					"namespace without " CGROUP2_UNIFIED ", cgroup manager "
					"cgroupfs on v1",
					ctrl, first);
			return;
		}
	}
	strv_push(&b->crun_flags, "--cgroup-manager=disabled");
	c->argv_true = strv_free(c->argv_true);
	c->argv_false = strv_free(c->argv_false);
	c->argv_true = peer_argv(b, P_CRUN, cmd_true, "true", &err);
	c->argv_false = peer_argv(b, P_CRUN, cmd_false, "false", &err);
	if (c->argv_true && c->argv_false && probe(b, c)) {
		(void) snprintf(c->note, sizeof(c->note),
				"crun failed (%s); measured with --cgroup-manager=disabled%s",
				first, c->mntns_fd >= 0 ? " without " CGROUP2_UNIFIED : "");
		return;
	}
	if (!c->argv_true || !c->argv_false)
		(void) str_copy(c->why, sizeof(c->why), err.msg);
	else if (strcmp(c->why, first) == 0)
		(void) snprintf(c->why, sizeof(c->why), "%s; also with --cgroup-manager=disabled%s",
				first,
				c->mntns_fd >= 0 ? " and " CGROUP2_UNIFIED " hidden"
				: geteuid() != 0 ? " (hiding " CGROUP2_UNIFIED " needs root)"
						 : "");
}

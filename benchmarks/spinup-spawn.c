/* spinup-spawn.c - starting a contender: fork+exec with a child that reports why it failed,
 * and the floor, a bare clone() behind every namespace written here. */
#include "spinup.h"

static char floor_stack[64 * 1024] __attribute__((aligned(16)));

void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000L };
	(void) nanosleep(&ts, NULL);
}

/* A forked child reports why it failed and leaves. */
_Noreturn void child_fail(int fd, int code, const char *what)
{
	struct child_err ce = { .code = code };

	(void) str_copy(ce.what, sizeof(ce.what), what);
	(void) fd_write_all(fd, &ce, sizeof(ce));
	_exit(127);
}

/* EOF on the close-on-exec pipe means the child reached execve. */
int read_child_err(int fd, struct err *err)
{
	struct child_err ce;
	ssize_t n;

	do
		n = read(fd, &ce, sizeof(ce));
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0;
	if (n != (ssize_t) sizeof(ce))
		return err_set(err, n < 0 ? errno : EIO, "read child status");
	ce.what[sizeof(ce.what) - 1] = '\0';
	return err_set(err, ce.code, "%s", ce.what);
}

char *find_exe(const char *name)
{
	const char *path = getenv("PATH");
	cleanup_free char *dirs = xstrdup(path && *path ? path : "/usr/bin:/bin");
	char *save = NULL;

	if (strchr(name, '/'))
		return access(name, X_OK) == 0 ? xstrdup(name) : NULL;
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		cleanup_free char *p = path_join(d, name);
		if (access(p, X_OK) == 0)
			return TAKE_PTR(p);
	}
	return NULL;
}

int fork_spawn(char *const *argv, int mntns_fd, int out_fd, int err_fd, pid_t *ret_pid,
	       struct err *err)
{
	cleanup_close int e0 = -1, e1 = -1;
	cleanup_pid pid_t guard = -1;
	int ep[2], r;

	if (pipe2(ep, O_CLOEXEC) < 0)
		return err_set(err, errno, "pipe");
	e0 = ep[0], e1 = ep[1];
	guard = fork();
	if (guard < 0)
		return err_set(err, errno, "fork");
	if (guard == 0) {
		(void) setpgid(0, 0);
		if (mntns_fd >= 0 && setns(mntns_fd, CLONE_NEWNS) < 0)
			child_fail(e1, errno, "setns mnt");
		if (dup2(out_fd, STDOUT_FILENO) < 0 || dup2(err_fd, STDERR_FILENO) < 0)
			child_fail(e1, errno, "dup2");
		execve(argv[0], argv, environ);
		child_fail(e1, errno, "execve");
	}
	e1 = safe_close(e1);
	r = read_child_err(e0, err);
	if (r < 0)
		return err_wrap(err, "'%s'", argv[0]);
	*ret_pid = guard;
	guard = -1;
	return 0;
}

/* "exit 1: <first line of stderr>", "killed by signal 9", ... */
void describe(int status, int err_fd, char *buf, size_t size)
{
	char line[256] = "";
	ssize_t n = err_fd >= 0 ? pread(err_fd, line, sizeof(line) - 1, 0) : 0;
	int m;

	line[n > 0 ? n : 0] = '\0';
	line[strcspn(line, "\n")] = '\0';
	if (WIFEXITED(status))
		m = snprintf(buf, size, "exit %d", WEXITSTATUS(status));
	else
		m = snprintf(buf, size, "killed by signal %d", WTERMSIG(status));
	if (line[0] && m > 0 && (size_t) m < size)
		(void) snprintf(buf + m, size - (size_t) m, ": %s", line);
}

struct floor_args {
	char *const *argv;
	int sync_fd, err_pipe, out_fd, err_fd;
};

static int floor_child(void *userdata)
{
	const struct floor_args *a = userdata;
	char c;

	/* The parent writes our id maps, then one byte. */
	if (read(a->sync_fd, &c, 1) != 1)
		child_fail(a->err_pipe, EPIPE, "wait for id map");
	(void) setpgid(0, 0);
	if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
		child_fail(a->err_pipe, errno, "become mapped root");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		child_fail(a->err_pipe, errno, "make / rprivate");
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		child_fail(a->err_pipe, errno, "mount /proc");
	if (dup2(a->out_fd, STDOUT_FILENO) < 0 || dup2(a->err_fd, STDERR_FILENO) < 0)
		child_fail(a->err_pipe, errno, "dup2");
	execve(a->argv[0], a->argv, environ);
	child_fail(a->err_pipe, errno, "execve");
}

/* The floor: what any sandbox must do at least to run a command behind every namespace. */
int floor_spawn(const struct bench *b, char *const *argv, int err_fd, pid_t *ret_pid,
		struct err *err)
{
	const int flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |
			  CLONE_NEWUTS | CLONE_NEWCGROUP;
	cleanup_close int s0 = -1, s1 = -1, e0 = -1, e1 = -1;
	cleanup_pid pid_t guard = -1;
	struct floor_args a;
	char path[64], map[64];
	int p[2], r;

	if (pipe2(p, O_CLOEXEC) < 0)
		return err_set(err, errno, "pipe");
	s0 = p[0], s1 = p[1];
	if (pipe2(p, O_CLOEXEC) < 0)
		return err_set(err, errno, "pipe");
	e0 = p[0], e1 = p[1];
	a = (struct floor_args){ argv, s0, e1, b->null_fd, err_fd };
	guard = clone(floor_child, floor_stack + sizeof(floor_stack), flags | SIGCHLD, &a);
	if (guard < 0)
		return err_set(err, errno, "clone");
	s0 = safe_close(s0);
	e1 = safe_close(e1);
	(void) snprintf(map, sizeof(map), "0 %u 1", b->host_id);
	for (int i = 0; i < 3; i++) {
		static const char *const files[] = { "setgroups", "uid_map", "gid_map" };
		(void) snprintf(path, sizeof(path), "/proc/%d/%s", (int) guard, files[i]);
		r = write_file_at(AT_FDCWD, path, i == 0 ? "deny" : map, err);
		if (r < 0)
			return r;
	}
	if (fd_write_all(s1, "x", 1) < 0)
		return err_set(err, errno, "wake child");
	r = read_child_err(e0, err);
	if (r < 0)
		return r;
	*ret_pid = guard;
	guard = -1;
	return 0;
}

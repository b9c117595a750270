/* run.c - see run.h. */
#include "run.h"

#include <dirent.h>
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "util/err.h"
#include "util/path.h"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static void append(char **buf, size_t *len, const char *data, size_t n)
{
	*buf = realloc(*buf, *len + n + 1);
	if (!*buf)
		abort();
	memcpy(*buf + *len, data, n);
	*len += n;
	(*buf)[*len] = '\0';
}

void run_argv(char *const *argv, char *const *extra_env, unsigned timeout_s, struct run_result *res)
{
	int out[2], err[2];
	size_t olen = 0, elen = 0;
	double t0 = now_ms(), deadline = t0 + timeout_s * 1000.0;
	pid_t pid;
	int status;

	memset(res, 0, sizeof(*res));
	res->out = calloc(1, 1);
	res->err = calloc(1, 1);
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
		test_fail(__FILE__, __LINE__, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		test_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);
		dup2(devnull, 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		for (size_t i = 0; extra_env && extra_env[i]; i++)
			putenv(extra_env[i]);
		execvp(argv[0], argv);
		fprintf(stderr, "exec '%s': %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	struct pollfd p[2] = { { .fd = out[0], .events = POLLIN },
			       { .fd = err[0], .events = POLLIN } };
	int open_fds = 2;
	while (open_fds > 0) {
		double left = deadline - now_ms();
		if (left <= 0) {
			kill(pid, SIGKILL);
			printf("# run: '%s' timed out after %u s\n", argv[0], timeout_s);
			break;
		}
		if (poll(p, 2, (int) left + 1) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++) {
			char buf[65536];
			ssize_t n;
			if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(p[i].fd, buf, sizeof(buf));
			if (n <= 0) {
				close(p[i].fd);
				p[i].fd = -1;
				open_fds--;
				continue;
			}
			if (i == 0)
				append(&res->out, &olen, buf, (size_t) n);
			else
				append(&res->err, &elen, buf, (size_t) n);
		}
	}
	for (int i = 0; i < 2; i++)
		if (p[i].fd >= 0)
			close(p[i].fd);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	res->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	res->ms = now_ms() - t0;
}

void run_result_free(struct run_result *res)
{
	free(res->out);
	free(res->err);
	res->out = res->err = NULL;
}

const char *mayfly_bin(void)
{
	static char path[PATH_MAX];
	const char *e = getenv("MAYFLY_BIN");

	if (e && *e)
		return e;
	if (!path[0] && !realpath("build/mayfly", path))
		test_skip("no mayfly binary: set MAYFLY_BIN or run from the repository after "
			  "'make'");
	return path;
}

const char *test_state_dir(void)
{
	static char dir[PATH_MAX];

	/* Not created here: mayfly makes it, with the modes it needs. */
	if (!dir[0])
		snprintf(dir, sizeof(dir), "%s/state", test_tmpdir());
	return dir;
}

void run_sandbox_sh_in(const char *cwd, const char *const *opts, const char *script,
		       struct run_result *res)
{
	const char *argv[72];
	size_t n = 0;

	if (cwd) {
		argv[n++] = "/bin/sh";
		argv[n++] = "-c";
		argv[n++] = "cd \"$0\" && exec \"$@\"";
		argv[n++] = cwd;
	}
	argv[n++] = mayfly_bin();
	argv[n++] = "--state-dir";
	argv[n++] = test_state_dir();
	argv[n++] = "exec";
	for (size_t i = 0; opts && opts[i] && n < 64; i++)
		argv[n++] = opts[i];
	argv[n++] = "--";
	argv[n++] = "/bin/sh";
	argv[n++] = "-c";
	argv[n++] = script;
	argv[n] = NULL;
	run_argv((char *const *) argv, NULL, 120, res);
}

void run_sandbox_sh(const char *const *opts, const char *script, struct run_result *res)
{
	run_sandbox_sh_in(NULL, opts, script, res);
}

int sandbox_sh(const char *fmt, ...)
{
	struct run_result res;
	char script[8192];
	va_list ap;
	int status;

	va_start(ap, fmt);
	vsnprintf(script, sizeof(script), fmt, ap);
	va_end(ap);
	run_sandbox_sh(NULL, script, &res);
	status = res.status;
	if (status != 0)
		printf("# script: %s\n# status %d\n# stdout: %s\n# stderr: %s\n", script, status,
		       res.out, res.err);
	run_result_free(&res);
	return status;
}

int test_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	CHECK(fd >= 0);
	CHECK_OK(bind(fd, (struct sockaddr *) &a, sizeof(a)));
	CHECK_OK(getsockname(fd, (struct sockaddr *) &a, &len));
	close(fd);
	return ntohs(a.sin_port);
}

bool test_port_accepts(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t) port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	bool ok = fd >= 0 && connect(fd, (struct sockaddr *) &a, sizeof(a)) == 0;

	if (fd >= 0)
		close(fd);
	return ok;
}

void test_put(const char *root, const char *rel, const char *content)
{
	struct err err = { 0 };
	char p[4096];
	char *slash;
	int fd;
	size_t n = strlen(content);

	snprintf(p, sizeof(p), "%s/%s", root, rel);
	slash = strrchr(p, '/');
	if (slash && slash[1] == '\0') {
		*slash = '\0';
		if (mkdir_p(p, 0755, &err) < 0)
			test_fail(__FILE__, __LINE__, "%s", err.msg);
		return;
	}
	*slash = '\0';
	if (mkdir_p(p, 0755, &err) < 0)
		test_fail(__FILE__, __LINE__, "%s", err.msg);
	*slash = '/';
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, content, n) != (ssize_t) n)
		test_fail(__FILE__, __LINE__, "write '%s': %m", p);
	close(fd);
}

int test_count_procs(const char *comm, const char *marker)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	CHECK(d != NULL);
	while ((de = readdir(d))) {
		char path[300], buf[4096];
		ssize_t len;
		int fd;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/%s", de->d_name, comm ? "comm" : "cmdline");
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue;
		for (ssize_t i = 0; i < len; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
		buf[len] = '\0';
		if (comm)
			n += strcspn(buf, "\n") == strlen(comm) &&
			     strncmp(buf, comm, strlen(comm)) == 0;
		else
			n += strstr(buf, marker) && !strstr(buf, "mayfly");
	}
	closedir(d);
	return n;
}

/* test-exec.c - `mayfly exec` as a user meets it: exit statuses, options, and every kind
 * of bad input named in the issue, each with a clear error and nothing left behind. */
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <pty.h>
#include <unistd.h>

#include "need.h"
#include "run.h"
#include "test.h"
#include "util/str.h"

/* Entries in <state>/sandboxes: live or left behind. */
static int count_entries(const char *state)
{
	char path[4096];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(path, sizeof(path), "%s/sandboxes", state);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void exec_opts(const char *const *opts, struct run_result *res)
{
	const char *argv[32];
	size_t n = 0;

	argv[n++] = mayfly_bin();
	argv[n++] = "--state-dir";
	argv[n++] = test_state_dir();
	argv[n++] = "exec";
	for (size_t i = 0; opts[i]; i++)
		argv[n++] = opts[i];
	argv[n] = NULL;
	run_argv((char *const *) argv, NULL, 60, res);
}

/* Expect a usage/setup failure: status, one clear line naming `needle`, and no entry. */
static void expect_failure(const char *const *opts, int status, const char *needle)
{
	struct run_result res;

	exec_opts(opts, &res);
	if (res.status != status || !strstr(res.err, needle))
		printf("# status %d, stderr: %s\n", res.status, res.err);
	CHECK_EQ(res.status, status);
	CHECK_STR_CONTAINS(res.err, needle);
	CHECK_STR_CONTAINS(res.err, "mayfly: error: ");
	CHECK_EQ(count_entries(test_state_dir()), 0);
	run_result_free(&res);
}

TEST(exec_returns_the_jobs_status)
{
	NEED(USERNS);
	CHECK_EQ(sandbox_sh("exit 0"), 0);
	CHECK_EQ(sandbox_sh("exit 3"), 3);
	CHECK_EQ(sandbox_sh("exit 255"), 255);
	CHECK_EQ(sandbox_sh("kill -TERM $$"), 128 + SIGTERM);
	CHECK_EQ(count_entries(test_state_dir()), 0);
}

TEST(exec_streams_stdout_and_stderr_apart)
{
	struct run_result res;

	NEED(USERNS);
	run_sandbox_sh(NULL, "echo to-out; echo to-err >&2", &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, "to-out\n");
	/* Rootless, a warning about limits may come first. */
	CHECK(str_endswith(res.err, "to-err\n"));
	CHECK_STR_NOT_CONTAINS(res.err, "to-out");
	run_result_free(&res);
}

TEST(exec_command_not_found_is_127)
{
	NEED(USERNS);
	expect_failure((const char *const[]){ "--", "no-such-command-x", NULL }, 127,
		       "command 'no-such-command-x' not found in the sandbox");
}

TEST(exec_not_executable_is_126)
{
	NEED(USERNS);
	expect_failure((const char *const[]){ "--", "/etc/hostname", NULL }, 126,
		       "execute '/etc/hostname': Permission denied");
}

TEST(exec_usage_errors_are_125_and_named)
{
	expect_failure((const char *const[]){ "--bogus", "--", "true", NULL }, 125,
		       "unknown option '--bogus'");
	expect_failure((const char *const[]){ NULL }, 125, "no command given");
	expect_failure((const char *const[]){ "--", NULL }, 125, "no command given");
	expect_failure((const char *const[]){ "--memory", "12X", "--", "true", NULL }, 125,
		       "size '12X': unknown unit 'X'");
	expect_failure((const char *const[]){ "--memory", "100T", "--", "true", NULL }, 125,
		       "--memory 100.0T exceeds this host's");
	expect_failure((const char *const[]){ "--cpus", "512", "--", "true", NULL }, 125,
		       "--cpus 512.000 exceeds this host's");
	expect_failure((const char *const[]){ "--cpus", "many", "--", "true", NULL }, 125,
		       "cpus 'many'");
	expect_failure((const char *const[]){ "--pids", "0", "--", "true", NULL }, 125,
		       "--pids '0'");
	expect_failure((const char *const[]){ "--ttl", "0", "--", "true", NULL }, 125,
		       "duration '0'");
	expect_failure((const char *const[]){ "--ttl", "5y", "--", "true", NULL }, 125,
		       "duration '5y'");
	expect_failure((const char *const[]){ "--disk", "abc", "--", "true", NULL }, 125,
		       "size 'abc'");
	expect_failure((const char *const[]){ "--user", "bob", "--", "true", NULL }, 125,
		       "--user 'bob'");
	expect_failure((const char *const[]){ "--user", "70000", "--", "true", NULL }, 125,
		       "--user 70000");
	expect_failure((const char *const[]){ "--hostname", "a b", "--", "true", NULL }, 125,
		       "--hostname 'a b'");
	expect_failure((const char *const[]){ "--workdir", "rel", "--", "true", NULL }, 125,
		       "--workdir 'rel'");
	expect_failure((const char *const[]){ "--env", "1A=b", "--", "true", NULL }, 125,
		       "not a valid variable name");
}

TEST(exec_bind_errors_are_named)
{
	expect_failure((const char *const[]){ "--bind", "/nonexistent-x:/x", "--", "true", NULL },
		       125, "source '/nonexistent-x'");
	expect_failure((const char *const[]){ "--bind", "/tmp", "--", "true", NULL }, 125,
		       "expected SRC:DST[:ro]");
	expect_failure((const char *const[]){ "--bind", "/tmp:rel", "--", "true", NULL }, 125,
		       "clean absolute path");
	expect_failure((const char *const[]){ "--bind", "/tmp:/proc/x", "--", "true", NULL }, 125,
		       "'/proc' belongs to the sandbox");
	expect_failure((const char *const[]){ "--bind", "/tmp:/x:rx", "--", "true", NULL }, 125,
		       "mode must be 'ro' or 'rw'");
}

TEST(exec_rootfs_errors_are_named)
{
	char bad[4096];
	int fd;

	NEED(USERNS);
	expect_failure(
		(const char *const[]){ "--rootfs", "/nonexistent-rootfs", "--", "true", NULL }, 125,
		"--rootfs '/nonexistent-rootfs'");
	snprintf(bad, sizeof(bad), "%s/broken.tar.gz", test_tmpdir());
	fd = open(bad, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	/* A gzip header, then garbage: a corrupt image. */
	CHECK_EQ(write(fd, "\x1f\x8b\x08\x00garbage-garbage-garbage", 28), 28);
	close(fd);
	expect_failure((const char *const[]){ "--rootfs", bad, "--", "true", NULL }, 125,
		       "broken.tar.gz");
}

TEST(exec_env_env_file_workdir_hostname_user)
{
	char file[4096], script[256];
	struct run_result res;
	FILE *f;

	NEED(USERNS);
	snprintf(file, sizeof(file), "%s/env", test_tmpdir());
	f = fopen(file, "w");
	CHECK(f != NULL);
	fprintf(f, "# a comment\n\nexport FROM_FILE=yes\nSPACED=a b c\n");
	fclose(f);
	snprintf(script, sizeof(script),
		 "echo \"$A|$FROM_FILE|$SPACED|$(pwd)|$(hostname)|$(id -u)|$HOME\"");
	run_sandbox_sh((const char *const[]){ "--env", "A=1", "--env-file", file, "--workdir",
					      "/tmp", "--hostname", "box-1", "--user", "root",
					      NULL },
		       script, &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, "1|yes|a b c|/tmp|box-1|0|/root\n");
	run_result_free(&res);

	f = fopen(file, "w");
	fprintf(f, "OK=1\n# fine\nthis line is bad\n");
	fclose(f);
	expect_failure((const char *const[]){ "--env-file", file, "--", "true", NULL }, 125,
		       "line 3: expected NAME=VALUE");
	expect_failure((const char *const[]){ "--workdir", "/nope", "--", "true", NULL }, 125,
		       "workdir '/nope' in the sandbox");
}

TEST(exec_binds_host_paths_ro_and_rw)
{
	char dir[4096], opt_rw[4200], opt_ro[4200], path[4200];
	struct run_result res;

	NEED(USERNS);
	snprintf(dir, sizeof(dir), "%s/shared", test_tmpdir());
	CHECK_EQ(mkdir(dir, 0777), 0);
	CHECK_EQ(chmod(dir, 0777), 0);
	snprintf(opt_rw, sizeof(opt_rw), "%s:/data", dir);
	snprintf(opt_ro, sizeof(opt_ro), "%s:/ro:ro", dir);
	run_sandbox_sh(
		(const char *const[]){ "--bind", opt_rw, "--bind", opt_ro, NULL },
		"echo hi > /data/f || exit 8; if (echo no > /ro/g) 2>/dev/null; then exit 9; "
		"fi; cat /ro/f",
		&res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, "hi\n");
	snprintf(path, sizeof(path), "%s/f", dir);
	CHECK_EQ(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/g", dir);
	CHECK(access(path, F_OK) < 0);
	run_result_free(&res);
}

/* A minimal image: its own /etc, and the host's /usr bound in. */
static void make_image(const char *root)
{
	char p[4200];
	const char *links[][2] = { { "usr/bin", "bin" },
				   { "usr/lib", "lib" },
				   { "usr/lib64", "lib64" },
				   { "usr/sbin", "sbin" } };
	FILE *f;

	CHECK_EQ(mkdir(root, 0755), 0);
	snprintf(p, sizeof(p), "%s/usr", root);
	CHECK_EQ(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/etc", root);
	CHECK_EQ(mkdir(p, 0755), 0);
	for (size_t i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s/%s", root, links[i][1]);
		CHECK_EQ(symlink(links[i][0], p), 0);
	}
	snprintf(p, sizeof(p), "%s/etc/image-marker", root);
	f = fopen(p, "w");
	CHECK(f != NULL);
	fprintf(f, "from-the-image\n");
	fclose(f);
}

TEST(exec_rootfs_directory_and_tarball)
{
	char root[4096], tar[4200], cmd[9000];
	struct run_result res;
	const char *script = "cat /etc/image-marker; if (echo x > /etc/new-file) 2>/dev/null; "
			     "then exit 9; fi; id -un";

	NEED(USERNS | OVERLAY);
	snprintf(root, sizeof(root), "%s/image", test_tmpdir());
	make_image(root);
	run_sandbox_sh((const char *const[]){ "--rootfs", root, "--bind", "/usr:/usr:ro", NULL },
		       script, &res);
	if (res.status != 0)
		printf("# %s\n", res.err);
	CHECK_EQ(res.status, 0);
	/* The root is read-only: the write failed, the rest ran. */
	CHECK_STR_EQ(res.out, "from-the-image\nrunner\n");
	run_result_free(&res);
	run_sandbox_sh((const char *const[]){ "--rootfs", root, "--bind", "/usr:/usr:ro", NULL },
		       "cat /etc/image-marker; touch /tmp/ok && id -un", &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, "from-the-image\nrunner\n");
	run_result_free(&res);
	/* The image itself is untouched. */
	snprintf(cmd, sizeof(cmd), "%s/etc/new-file", root);
	CHECK(access(cmd, F_OK) < 0);

	snprintf(tar, sizeof(tar), "%s/image.tar.gz", test_tmpdir());
	run_argv((char *const[]){ "tar", "-C", root, "-czf", tar, ".", NULL }, NULL, 60, &res);
	CHECK_EQ(res.status, 0);
	run_result_free(&res);
	run_sandbox_sh((const char *const[]){ "--rootfs", tar, "--bind", "/usr:/usr:ro", NULL },
		       "cat /etc/image-marker", &res);
	if (res.status != 0)
		printf("# %s\n", res.err);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, "from-the-image\n");
	run_result_free(&res);
}

/* Run mayfly with a state dir on a mount we control, in a private mount namespace. */
static void state_on_mount(const char *opts, unsigned long flags, bool fill, struct run_result *res)
{
	char dir[4096];

	snprintf(dir, sizeof(dir), "%s/small", test_tmpdir());
	CHECK_EQ(mkdir(dir, 0755), 0);
	CHECK_EQ(unshare(CLONE_NEWNS), 0);
	CHECK_EQ(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	CHECK_EQ(mount("t", dir, "tmpfs", fill ? 0 : flags, opts), 0);
	if (fill) {
		char p[4200];
		snprintf(p, sizeof(p), "%s/state", dir);
		CHECK_EQ(mkdir(p, 0711), 0);
		snprintf(p, sizeof(p), "%s/filler", dir);
		int fd = open(p, O_WRONLY | O_CREAT, 0600);
		char buf[4096] = { 0 };
		while (write(fd, buf, sizeof(buf)) > 0)
			;
		close(fd);
	}
	if (flags & MS_RDONLY && fill)
		CHECK_EQ(mount(NULL, dir, NULL, MS_REMOUNT | flags, opts), 0);
	char state[4200];
	snprintf(state, sizeof(state), "%s/state", dir);
	run_argv((char *const[]){ (char *) mayfly_bin(), "--state-dir", state, "exec", "--", "true",
				  NULL },
		 NULL, 60, res);
}

TEST(exec_read_only_state_dir_is_named)
{
	struct run_result res;

	NEED(ROOT);
	state_on_mount("size=1m", MS_RDONLY, false, &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "state dir");
	CHECK_STR_CONTAINS(res.err, "--state-dir");
	run_result_free(&res);
}

TEST(exec_full_state_dir_is_named)
{
	struct run_result res;

	NEED(ROOT | USERNS);
	state_on_mount("size=64k", 0, true, &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "No space left on device");
	run_result_free(&res);
}

TEST(exec_without_user_namespaces_is_named)
{
	char script[8192];
	struct run_result res;

	NEED(USERNS);
	/* A user namespace whose limit of nested user namespaces is 0: a kernel that
	 * allows none, as far as mayfly can tell. */
	snprintf(script, sizeof(script),
		 "echo 0 > /proc/sys/user/max_user_namespaces && exec '%s' --state-dir '%s' "
		 "exec -- true",
		 mayfly_bin(), test_state_dir());
	run_argv(
		(char *const[]){ "unshare", "--user", "--map-root-user", "sh", "-c", script, NULL },
		NULL, 60, &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "user namespace");
	CHECK_EQ(count_entries(test_state_dir()), 0);
	run_result_free(&res);
}

TEST(exec_rootless_under_unshare)
{
	char script[8192];
	struct run_result res;

	NEED(USERNS);
	/* Root of a user namespace with a single id: mayfly's rootless mode. */
	snprintf(script, sizeof(script),
		 "exec '%s' --state-dir '%s' exec -- sh -c 'id -u; cat /proc/self/uid_map'",
		 mayfly_bin(), test_state_dir());
	run_argv(
		(char *const[]){ "unshare", "--user", "--map-root-user", "sh", "-c", script, NULL },
		NULL, 60, &res);
	if (geteuid() == 0) {
		/* Our single id would be the host's root: refused, with the reason. */
		CHECK_EQ(res.status, 125);
		CHECK_STR_CONTAINS(res.err, "maps it to the host's root");
		CHECK_EQ(count_entries(test_state_dir()), 0);
	} else {
		if (res.status != 0)
			printf("# %s\n", res.err);
		CHECK_EQ(res.status, 0);
		/* uid 1000 inside, mapped to our single id (0 in this namespace). */
		CHECK_STR_CONTAINS(res.out, "1000\n");
		CHECK_STR_CONTAINS(res.out, "1000          0          1");
	}
	run_result_free(&res);
}

TEST(help_and_version)
{
	struct run_result res;

	run_argv((char *const[]){ (char *) mayfly_bin(), "version", NULL }, NULL, 10, &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "mayfly ");
	run_result_free(&res);
	run_argv((char *const[]){ (char *) mayfly_bin(), "exec", "--help", NULL }, NULL, 10, &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "exit status");
	run_result_free(&res);
	run_argv((char *const[]){ (char *) mayfly_bin(), "help", "gc", NULL }, NULL, 10, &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "usage: mayfly gc");
	run_result_free(&res);
	run_argv((char *const[]){ (char *) mayfly_bin(), "frobnicate", NULL }, NULL, 10, &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "unknown command 'frobnicate'");
	run_result_free(&res);
}

TEST(exec_tty_gives_the_job_a_terminal_of_its_own)
{
	struct winsize ws = { .ws_row = 40, .ws_col = 100 };
	char out[8192] = "";
	size_t len = 0;
	int master, status;
	pid_t pid;

	NEED(USERNS);
	pid = forkpty(&master, NULL, NULL, &ws);
	CHECK(pid >= 0);
	if (pid == 0) {
		execl(mayfly_bin(), "mayfly", "--state-dir", test_state_dir(), "exec", "-t", "--",
		      "sh", "-c",
		      "tty; test -t 0 && test -t 1 && echo tty-ok; stty size; echo $TERM; exit 7",
		      (char *) NULL);
		_exit(127);
	}
	for (;;) {
		ssize_t n = read(master, out + len, sizeof(out) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t) n;
	}
	out[len] = '\0';
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status));
	CHECK_EQ(WEXITSTATUS(status), 7);
	/* The sandbox's own devpts: its first terminal, not one of the host's. */
	CHECK_STR_CONTAINS(out, "/dev/pts/0\r\n");
	CHECK_STR_CONTAINS(out, "tty-ok\r\n");
	CHECK_STR_CONTAINS(out, "40 100\r\n");
	close(master);
}

TEST(exec_pid1_shows_no_arguments)
{
	struct run_result res;

	NEED(USERNS);
	/* mayfly's flags (host paths, --env values) must not be readable in pid 1. */
	run_sandbox_sh((const char *const[]){ "--env", "CANARY=canary-value-4711", NULL },
		       "tr '\\0' ' ' < /proc/1/cmdline; echo; cat /proc/1/environ 2>&1; "
		       "echo \"$CANARY\"",
		       &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "mayfly-init");
	CHECK_STR_NOT_CONTAINS(res.out, "--env");
	CHECK_STR_NOT_CONTAINS(res.out, "state");
	/* Only the job's own copy, asked for with --env, holds the value: once, last. */
	const char *first = strstr(res.out, "canary-value-4711");
	CHECK(first != NULL);
	CHECK_STR_EQ(first, "canary-value-4711\n");
	run_result_free(&res);
}

/* secrets.h - helpers for the secrets integration tests: run `mayfly secrets ...` and
 * friends against the test's own state dir, and put values in files (never argv). */
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run.h"
#include "test.h"

/* Run `mayfly --state-dir <test state> ARGS...` (NULL-terminated), extra_env may be NULL. */
static inline void mayfly_env(struct run_result *res, char *const *extra_env, ...)
{
	const char *argv[64];
	size_t n = 0;
	va_list ap;

	argv[n++] = mayfly_bin();
	argv[n++] = "--state-dir";
	argv[n++] = test_state_dir();
	va_start(ap, extra_env);
	for (const char *a; (a = va_arg(ap, const char *)) && n < 63;)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	run_argv((char *const *) argv, extra_env, 120, res);
}
#define mayfly(res, ...) mayfly_env(res, NULL, __VA_ARGS__, (const char *) NULL)

/* A file under the test's tmpdir holding content; returns its path (static buffer). */
static inline const char *value_file(const char *name, const char *content)
{
	static char path[8][4096];
	static unsigned k;
	char *p = path[k++ % 8];

	snprintf(p, 4096, "%s/%s", test_tmpdir(), name);
	test_put(test_tmpdir(), name, content);
	return p;
}

/* `mayfly secrets set ENV NAME --from-file <file with value>`; fails the test unless 0. */
static inline void secret_set(const char *env, const char *name, const char *value)
{
	struct run_result res;
	char fname[256];

	snprintf(fname, sizeof(fname), "value-%s", name);
	const char *file = value_file(fname, value);
	mayfly(&res, "secrets", "set", env, name, "--from-file", file);
	if (res.status != 0)
		test_fail(__FILE__, __LINE__, "secrets set %s %s: status %d: %s", env, name,
			  res.status, res.err);
	run_result_free(&res);
	(void) unlink(file);
}

/* Whether the file at path contains needle (binary-safe). */
static inline bool file_contains(const char *path, const char *needle)
{
	char buf[1 << 16];
	size_t nl = strlen(needle), have = 0;
	bool found = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	while (!found && (n = read(fd, buf + have, sizeof(buf) - have)) > 0) {
		have += (size_t) n;
		found = memmem(buf, have, needle, nl) != NULL;
		if (have > nl) {
			memmove(buf, buf + have - nl, nl);
			have = nl;
		}
	}
	close(fd);
	return found;
}

/* Every regular file under dir: none may contain needle. */
static inline void scan_tree(const char *dir, const char *needle)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char path[4096];
		struct stat st;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode))
			scan_tree(path, needle);
		else if (S_ISREG(st.st_mode) && file_contains(path, needle))
			test_fail(__FILE__, __LINE__, "'%s' holds a secret value", path);
	}
	closedir(d);
}

/* repo.h - helpers for the checkout tests: run real git (isolated from the host's
 * configuration, with fixed identities and dates), generate repositories quickly through
 * `git fast-import`, and list a directory tree (type, mode, content hash, link target) so
 * that two checkouts can be compared byte for byte. Static functions: each test file is
 * its own binary. */
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "checkout/checkout.h"
#include "run.h"
#include "test.h"
#include "util/cleanup.h"
#include "util/path.h"
#include "util/sha256.h"
#include "util/str.h"
#include "util/xalloc.h"

static inline double repo_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

/* Run a shell script with git isolated from the host: no system or global config, fixed
 * author, committer and dates, so that ids are the same on every run. Returns the exit
 * status; stdout goes to *out when out is not NULL; failures print their output. */
static inline int repo_sh_out(char **out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline int repo_sh_out(char **out, const char *fmt, ...)
{
	static char home[300];
	char *env[] = { home,
			"GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=/dev/null",
			"GIT_AUTHOR_NAME=A U Thor",
			"GIT_AUTHOR_EMAIL=author@example.com",
			"GIT_COMMITTER_NAME=C O Mitter",
			"GIT_COMMITTER_EMAIL=committer@example.com",
			"GIT_AUTHOR_DATE=1700000000 +0000",
			"GIT_COMMITTER_DATE=1700000000 +0000",
			"LC_ALL=C",
			"GIT_TERMINAL_PROMPT=0",
			NULL };
	struct run_result res;
	cleanup_free char *script = NULL;
	va_list ap;
	int status;

	(void) snprintf(home, sizeof(home), "HOME=%s", test_tmpdir());
	va_start(ap, fmt);
	if (vasprintf(&script, fmt, ap) < 0)
		abort();
	va_end(ap);
	char *argv[] = { "sh", "-ec", script, NULL };
	run_argv(argv, env, 600, &res);
	status = res.status;
	if (status != 0)
		printf("# script: %s\n# exit %d\n# stdout: %s\n# stderr: %s\n", script, status,
		       res.out, res.err);
	if (out)
		*out = xstrdup(res.out);
	run_result_free(&res);
	return status;
}

#define repo_sh(...) repo_sh_out(NULL, __VA_ARGS__)

/* The first line of a command's output, without its newline. */
static inline char *repo_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline char *repo_line(const char *fmt, ...)
{
	cleanup_free char *script = NULL;
	char *out = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&script, fmt, ap) < 0)
		abort();
	va_end(ap);
	CHECK_EQ(repo_sh_out(&out, "%s", script), 0);
	out[strcspn(out, "\n")] = '\0';
	return out;
}

static inline char *repo_path(const char *name)
{
	return path_join(test_tmpdir(), name);
}

/* A deterministic file body for file i of generation gen; returns its length. */
static inline size_t repo_body(char *buf, size_t size, unsigned i, unsigned gen)
{
	uint32_t seed = i * 2654435761u + gen;
	size_t n = 64 + (seed % 1500);

	if (n > size)
		n = size;
	for (size_t j = 0; j < n; j++) {
		seed = seed * 1103515245 + 12345;
		buf[j] = (j % 61 == 60) ? '\n' : (char) ('a' + (seed >> 16) % 26);
	}
	buf[n - 1] = '\n';
	return n;
}

/* A repository at dir (created by `git init -b main`) with nfiles files spread over
 * directories, committed on main; then `changes` more commits, commit k rewriting files
 * k*change_files..: one fast-import stream, so 5,000 files take well under a second. */
static inline void repo_generate(const char *dir, unsigned nfiles, unsigned changes,
				 unsigned change_files)
{
	cleanup_free char *stream = path_join(test_tmpdir(), "stream.fi");
	cleanup_fclose FILE *f = fopen(stream, "w");
	char body[2048];

	CHECK(f != NULL);
	for (unsigned c = 0; c <= changes; c++) {
		fprintf(f, "commit refs/heads/main\nmark :%u\n", c + 1);
		fprintf(f, "committer C O Mitter <c@example.com> %u +0000\n", 1700000000 + c);
		fprintf(f, "data 10\ncommit %03u\n", c % 1000);
		if (c > 0)
			fprintf(f, "from :%u\n", c);
		unsigned first = c == 0 ? 0 : ((c - 1) * change_files) % nfiles;
		unsigned count = c == 0 ? nfiles : change_files;
		for (unsigned k = 0; k < count; k++) {
			unsigned i = (first + k) % nfiles;
			size_t n = repo_body(body, sizeof(body), i, c);
			fprintf(f, "M %s inline d%02u/s%02u/f%05u.%s\ndata %zu\n",
				i % 7 == 0 ? "100755" : "100644", i % 50, (i / 50) % 10, i,
				i % 3 ? "c" : "txt", n);
			CHECK_EQ(fwrite(body, 1, n, f), n);
			fputc('\n', f);
		}
	}
	CHECK_EQ(fclose(TAKE_PTR(f)), 0);
	CHECK_EQ(repo_sh("git init -q -b main '%s' && cd '%s' && git fast-import --quiet < '%s'",
			 dir, dir, stream),
		 0);
}

/* One line per entry under dir, sorted, ".git" left out: "f 0644 <sha256> path",
 * "l -> target path", "d 0755 path". Two checkouts are equal when their listings are. */
static char **repo_listing_acc;
static const char *repo_listing_root;

static inline int repo_listing_cb(const char *path, const struct stat *st, int type,
				  struct FTW *ftw)
{
	const char *rel = path + strlen(repo_listing_root);
	char line[8192];

	(void) type;
	(void) ftw;
	if (*rel == '/')
		rel++;
	if (!*rel || strcmp(rel, ".git") == 0 || str_startswith(rel, ".git/"))
		return 0;
	if (S_ISLNK(st->st_mode)) {
		char target[4096];
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		(void) snprintf(line, sizeof(line), "l -> %s %s", target, rel);
	} else if (S_ISDIR(st->st_mode)) {
		(void) snprintf(line, sizeof(line), "d %04o %s", (unsigned) st->st_mode & 07777,
				rel);
	} else {
		char hex[SHA256_HEX_SIZE] = "?";
		cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0)
			(void) sha256_fd(fd, hex);
		(void) snprintf(line, sizeof(line), "f %04o %s %s", (unsigned) st->st_mode & 07777,
				hex, rel);
	}
	strv_push(&repo_listing_acc, line);
	return 0;
}

static inline int repo_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static inline char *repo_listing(const char *dir)
{
	char *text;

	repo_listing_acc = NULL;
	repo_listing_root = dir;
	CHECK_EQ(nftw(dir, repo_listing_cb, 64, FTW_PHYS), 0);
	if (repo_listing_acc)
		qsort(repo_listing_acc, strv_len(repo_listing_acc), sizeof(char *), repo_cmp_str);
	text = strv_join(repo_listing_acc ? repo_listing_acc : (char *[]){ NULL }, "\n");
	repo_listing_acc = strv_free(repo_listing_acc);
	return text;
}

/* Print the first line where two listings differ, as a TAP comment. */
static inline void repo_show_diff(const char *a, const char *b)
{
	size_t i = 0, line = 0;

	while (a[i] && a[i] == b[i])
		i++;
	while (i > 0 && a[i - 1] != '\n')
		i--;
	for (size_t j = 0; j < i; j++)
		line += a[j] == '\n';
	printf("# listings differ at line %zu:\n#   %.*s\n#   %.*s\n", line + 1,
	       (int) strcspn(a + i, "\n"), a + i, (int) strcspn(b + i, "\n"), b + i);
}

static inline size_t repo_count_entries(const char *dir, const char *prefix)
{
	cleanup_free char *out = NULL;
	size_t n = 0;

	CHECK_EQ(repo_sh_out(&out, "ls -a '%s'", dir), 0);
	for (char *p = out; *p; p += strcspn(p, "\n") + (p[strcspn(p, "\n")] ? 1 : 0))
		if (str_startswith(p, prefix))
			n++;
	return n;
}

/* The tree's top layer as a plain dir (checkout_materialize_owned() gives its layers); its
 * lock kept in *ret_lock_fd when not NULL, else let go. */
static inline int repo_materialize_dir(const char *cache, const char *mirror, const char *tree,
				       uid_t uid, gid_t gid, char **ret_dir, int *ret_lock_fd,
				       struct err *err)
{
	struct checkout_tree t = { 0 };
	int r = checkout_materialize_owned(cache, mirror, tree, uid, gid, &t, err);

	if (r < 0)
		return r;
	*ret_dir = xstrdup(t.layers[0]);
	if (ret_lock_fd) {
		*ret_lock_fd = t.lock_fds[0];
		t.lock_fds[0] = -1;
	}
	checkout_tree_release(&t);
	return 0;
}

/* `git daemon` serving base over git:// on 127.0.0.1:*ret_port (0: any free port);
 * returns its pid (SIGKILLed by the caller's cleanup_pid, and the harness kills the
 * test's process group anyway). */
static inline pid_t repo_git_daemon(const char *base, int *ret_port)
{
	int port = *ret_port ? *ret_port : test_free_port();
	pid_t pid;

	if (access("/usr/lib/git-core/git-daemon", X_OK) < 0)
		test_skip_host("no git-daemon (package git)");
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		cleanup_free char *log = path_join(test_tmpdir(), "daemon.log");
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		char p[32], b[4200];
		if (fd >= 0)
			(void) dup2(fd, 2); /* the readiness probes make it complain */
		(void) snprintf(p, sizeof(p), "--port=%d", port);
		(void) snprintf(b, sizeof(b), "--base-path=%s", base);
		/* Not `git daemon`: git would run it as a child, which a kill would miss. It
		 * runs itself again for each connection, by name. */
		cleanup_free char *path = xasprintf("/usr/lib/git-core:%s", getenv("PATH"));
		(void) setenv("PATH", path, 1);
		execl("/usr/lib/git-core/git-daemon", "git-daemon", "--reuseaddr",
		      "--listen=127.0.0.1", p, b, "--export-all", "--informative-errors", base,
		      (char *) NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && !test_port_accepts(port); i++)
		usleep(10 * 1000);
	CHECK(test_port_accepts(port));
	*ret_port = port;
	return pid;
}

/* The commits of a chain that makes every kind of change git knows, one shell step each
 * (run in the work tree, then `git add -A && git commit`): a delta layer on the tree
 * before must give what `git checkout` gives at each. An initialiser list. */
#define REPO_EVERY_CHANGE                                                                                                                                          \
	/* 0: the start */                                                                                                                                         \
	"mkdir -p a/b c d/e gone/deep tofile && echo 1 > a/b/f && echo 2 > a/g && "                                                                                \
	"echo 3 > c/h && echo 4 > d/e/i && echo 5 > gone/deep/j && echo 6 > keep && "                                                                              \
	"printf '*.bat text eol=crlf\\n*.txt ident\\n' > .gitattributes && "                                                                                       \
	"printf '*.bat -text\\n' > a/.gitattributes && printf 'x\\ny\\n' > w.bat && "                                                                              \
	"printf 'p\\nq\\n' > a/b/n.bat && printf '$Id$\\n' > i.txt && "                                                                                            \
	"echo x > modef && ln -s keep ln && echo 7 > tofile/x && echo 8 > todir", /* 1: change,                                                                    \
										     add in a new                                                                  \
										     dir, delete a                                                                 \
										     file whose                                                                    \
										     dir stays,                                                                    \
										     delete a dir                                                                  \
										   */                                                                              \
		"printf 'x2\\ny\\n' > w.bat && printf 'p2\\nq\\n' > a/b/n.bat && "                                                                                 \
		"printf '$Id$\\nmore\\n' > i.txt && echo 1b > a/b/f && mkdir -p n/m && echo 9 > "                                                                  \
		"n/m/new && rm a/g && rm -r gone", /* 2: directory <-> file, mode only, symlink                                                                    \
						      retargeted */                                                                                                \
		"rm -r tofile && echo now-a-file > tofile && rm todir && mkdir todir && "                                                                          \
		"echo in > todir/y && chmod 755 modef && ln -sfn c ln", /* 3: back again, a file                                                                   \
									   becomes a symlink, a                                                                    \
									   dir emptied but for one                                                                 \
									   file */                                                                                 \
		"chmod 644 modef && rm keep && ln -s a/b/f keep && rm d/e/i && echo k > d/e/k", /* 4: a whole subtree replaced by a symlink, a symlink by a dir */ \
		"rm -r n && ln -s a n && rm ln && mkdir ln && echo z > ln/z", /* 5, 6: submodules:                                                                 \
										 new, replacing a                                                                  \
										 directory; then                                                                   \
										 another commit,                                                                   \
										 and back */                                                                       \
		"mkdir sub && git update-index --add --cacheinfo 160000,"                                                                                          \
		"1111111111111111111111111111111111111111,sub && git rm -rq c && mkdir c && "                                                                      \
		"git update-index --add --cacheinfo 160000,"                                                                                                       \
		"2222222222222222222222222222222222222222,c && echo 5 > s5a && echo 5 > s5b",                                                                      \
		"git update-index --cacheinfo "                                                                                                                    \
		"160000,3333333333333333333333333333333333333333,sub "                                                                                             \
		"&& git rm -q --cached c && rmdir c && mkdir c && echo back > c/h"

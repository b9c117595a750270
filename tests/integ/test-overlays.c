/* test-overlays.c - sandbox_spec.overlays through sandbox_run(): a writable copy-on-write
 * view of shared read-only dirs, owned by the job's user inside (an idmapped mount of the
 * cache's id in root mode), whose writes never reach the lower dirs; bad specs refused. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "need.h"
#include "run.h"
#include "sandbox/sandbox.h"
#include "test.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/str.h"
#include "util/xalloc.h"

/* Two lower dirs: top (a.txt "top", only-top) over bottom (a.txt "bottom", keep, gone,
 * sub/deep, a symlink "link" -> /etc), all owned by the cache's owner. */
static void make_lowers(char *top, char *bottom, size_t size)
{
	snprintf(top, size, "%s/top", test_tmpdir());
	snprintf(bottom, size, "%s/bottom", test_tmpdir());
	test_put(top, "a.txt", "top\n");
	test_put(top, "only-top", "t\n");
	test_put(bottom, "a.txt", "bottom\n");
	test_put(bottom, "keep", "k\n");
	test_put(bottom, "gone", "g\n");
	test_put(bottom, "sub/deep", "d\n");
	char link[700];
	snprintf(link, sizeof(link), "%s/link", bottom);
	CHECK_EQ(symlink("/etc", link), 0);
	CHECK_EQ(chmod(top, 0750), 0);
	uid_t uid;
	gid_t gid;
	sandbox_cache_owner(&uid, &gid);
	char cmd[1600];
	snprintf(cmd, sizeof(cmd), "chown -hR %u:%u '%s' '%s'", (unsigned) uid, (unsigned) gid, top,
		 bottom);
	CHECK_EQ(system(cmd), 0);
}

/* Run sh -c script in a sandbox with the given overlay; stdout into *out. */
static int run_with(struct sandbox_overlay *o, const char *script, char **out, struct err *err)
{
	char path[600];
	struct sandbox_spec spec = { 0 };
	struct sandbox_result res;
	int fd, r;

	snprintf(path, sizeof(path), "%s/out", test_tmpdir());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	strv_push(&spec.argv, "/bin/sh");
	strv_push(&spec.argv, "-c");
	strv_push(&spec.argv, script);
	spec.uid = SANDBOX_DEFAULT_UID;
	spec.overlays = o;
	spec.n_overlays = o ? 1 : 0;
	const struct sandbox_env env = { .state_dir = test_state_dir(), .stdio = { 0, fd, 2 } };
	r = sandbox_run(&spec, &env, &res, err);
	spec.overlays = NULL;
	spec.n_overlays = 0;
	sandbox_spec_release(&spec);
	close(fd);
	CHECK_OK(read_file_at(AT_FDCWD, path, 1 << 20, out, NULL, &(struct err){ 0 }));
	return r < 0 ? r : res.exit_code;
}

static struct sandbox_overlay overlay(const char *dst, const char *top, const char *bottom)
{
	struct sandbox_overlay o = { .dst = xstrdup(dst) };
	if (top)
		strv_push(&o.lowers, top);
	if (bottom)
		strv_push(&o.lowers, bottom);
	return o;
}

static void overlay_release(struct sandbox_overlay *o)
{
	free(o->dst);
	strv_free(o->lowers);
	strv_free(o->remove);
}

TEST(overlay_is_writable_owned_by_the_job_and_never_writes_the_lowers)
{
	char top[600], bottom[600], path[700];
	struct err err = { 0 };
	char *out = NULL;
	char *text = NULL;

	NEED(USERNS);
	make_lowers(top, bottom, sizeof(top));
	struct sandbox_overlay o = overlay("/workspace", top, bottom);
	strv_push(&o.remove, "gone");
	strv_push(&o.remove, "link/passwd"); /* through a symlink: not followed */
	strv_push(&o.remove, "missing");     /* already absent: fine */
	CHECK_EQ(run_with(&o,
			  "cd /workspace && cat a.txt only-top keep sub/deep && "
			  "stat -c '%u %a' . a.txt sub && test ! -e gone && echo gone-is-gone && "
			  "test -e /etc/passwd && echo etc-intact && "
			  "echo changed > a.txt && echo new > new && rm keep && "
			  "mkdir d2 && echo x > d2/f && cat a.txt && ls",
			  &out, &err),
		 0);
	CHECK_STR_EQ(out, "top\nt\nk\nd\n1000 750\n1000 644\n1000 755\ngone-is-gone\n"
			  "etc-intact\nchanged\na.txt\nd2\nlink\nnew\nonly-top\nsub\n");
	free(out);
	overlay_release(&o);
	/* The lower dirs are as they were. */
	snprintf(path, sizeof(path), "%s/a.txt", top);
	CHECK_OK(read_file_at(AT_FDCWD, path, 100, &text, NULL, &err));
	CHECK_STR_EQ(text, "top\n");
	free(text);
	snprintf(path, sizeof(path), "%s/keep", bottom);
	CHECK_EQ(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/gone", bottom);
	CHECK_EQ(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/new", top);
	CHECK(access(path, F_OK) < 0);
}

TEST(overlay_outside_the_scratch_dirs_gets_its_mount_point)
{
	char top[600], bottom[600];
	struct err err = { 0 };
	char *out = NULL;

	NEED(USERNS);
	make_lowers(top, bottom, sizeof(top));
	struct sandbox_overlay o = overlay("/opt/cache/data", bottom, NULL);
	CHECK_EQ(run_with(&o,
			  "cat /opt/cache/data/a.txt && echo x > /opt/cache/data/y && "
			  "cat /opt/cache/data/y && touch /opt/z 2>/dev/null || echo ro",
			  &out, &err),
		 0);
	CHECK_STR_EQ(out, "bottom\nx\nro\n");
	free(out);
	overlay_release(&o);
}

TEST(overlay_lower_dirs_are_unreachable_from_inside)
{
	char top[600], bottom[600], path[700];
	struct err err = { 0 };
	char *out = NULL;

	NEED(USERNS);
	make_lowers(top, bottom, sizeof(top));
	struct sandbox_overlay o = overlay("/workspace", top, bottom);
	/* The job reads the overlay's lower dirs from mountinfo and goes for them, and for
	 * the host path of the cache; none leads anywhere. */
	char script[2400];
	snprintf(script, sizeof(script),
		 "n=0; for d in $(sed -n 's/.*lowerdir=\\([^,]*\\).*/\\1/p' "
		 "/proc/self/mountinfo | tr ':' ' ') '%s' '%s'; do n=$((n+1)); "
		 "if ls \"$d\" >/dev/null 2>&1 || touch \"$d/x\" 2>/dev/null; then "
		 "echo \"reached $d\"; fi; done; echo \"tried $n\"; "
		 "echo y > /workspace/a.txt && cat /workspace/a.txt",
		 top, bottom);
	CHECK_EQ(run_with(&o, script, &out, &err), 0);
	CHECK_STR_EQ(out, "tried 4\ny\n");
	free(out);
	overlay_release(&o);
	snprintf(path, sizeof(path), "%s/x", top);
	CHECK(access(path, F_OK) < 0);
}

TEST(overlay_of_files_not_owned_by_the_cache_owner_shows_nobody)
{
	char dir[600];
	struct err err = { 0 };
	char *out = NULL;

	NEED(ROOT | USERNS);
	/* Root mode: only the cache's id is mapped; root's files are nobody's inside. */
	snprintf(dir, sizeof(dir), "%s/rootowned", test_tmpdir());
	test_put(dir, "f", "r\n");
	struct sandbox_overlay o = overlay("/workspace", dir, NULL);
	CHECK_EQ(run_with(&o,
			  "stat -c %u /workspace/f; echo y > /workspace/f 2>/dev/null || "
			  "echo refused",
			  &out, &err),
		 0);
	CHECK_STR_EQ(out, "65534\nrefused\n");
	free(out);
	overlay_release(&o);
}

TEST(overlay_bad_specs_are_refused_before_anything_starts)
{
	char top[600], bottom[600], file[700];
	struct err err = { 0 };
	char *out = NULL;
	static const struct {
		const char *dst, *lower, *remove, *msg;
	} cases[] = {
		{ "workspace", NULL, NULL, "must be a clean absolute path" },
		{ "/", NULL, NULL, "must be a clean absolute path" },
		{ "/proc/x", NULL, NULL, "belongs to the sandbox" },
		{ "/workspace", "relative/dir", NULL, "is not an absolute path" },
		{ "/workspace", "/no/such/dir", NULL, "No such file or directory" },
		{ "/workspace", "FILE", NULL, "Not a directory" },
		{ "/workspace", NULL, "../escape", "is not a clean relative path" },
		{ "/workspace", NULL, "/abs", "is not a clean relative path" },
	};

	NEED(USERNS);
	make_lowers(top, bottom, sizeof(top));
	snprintf(file, sizeof(file), "%s/a.txt", top);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *lower = !cases[i].lower			  ? top
				    : strcmp(cases[i].lower, "FILE") == 0 ? file
									  : cases[i].lower;
		struct sandbox_overlay o = overlay(cases[i].dst, lower, NULL);
		if (cases[i].remove)
			strv_push(&o.remove, cases[i].remove);
		err_clear(&err);
		CHECK(run_with(&o, "echo ran", &out, &err) < 0);
		CHECK_STR_EQ(out, "");
		CHECK_STR_CONTAINS(err.msg, cases[i].msg);
		free(out);
		overlay_release(&o);
	}
	struct sandbox_overlay none = { .dst = xstrdup("/workspace") };
	CHECK(run_with(&none, "echo ran", &out, &err) < 0);
	CHECK_STR_CONTAINS(err.msg, "no lower dir");
	free(out);
	overlay_release(&none);
}

/* checkout.c - how fast a job gets a checkout of a commit, side by side in one run, on
 * repositories generated deterministically (small 100 files, medium 5,000; large 100,000
 * with --large or MAYFLY_BENCH_LARGE=1, it takes minutes): the peers `git clone --local`
 * (with its checkout), `git worktree add`, `git clone --depth 1 file://` (what
 * actions/checkout does each job), and mayfly's checkout library at (a) a commit whose tree
 * is cached, (b) a new commit that changed 10 files (a delta layer on the cached parent:
 * the 10 files only), (c) a cold mirror (fetch everything, build the tree); also a tree built from
 * scratch with the mirror present, and the first `git status` in mayfly's workspace (the
 * overlay a job gets: lower = the tree, upper on tmpfs with the .git) next to one in a
 * plain clone; with MAYFLY_BIN set, `mayfly exec --repo ... -- git status` end to end
 * next to `git clone --local` + `git status`. "ready" for mayfly means: mirror checked, rev
 * resolved, tree locked, .git written, and (as root) the overlay mounted. Medians, with ratios
 * against the peers. Runs on a tmpfs of its own when root (like the measurements); else in
 * --dir or $TMPDIR, and without the overlay rows. Usage: checkout [-n RUNS] [--large] [--dir DIR].
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checkout/checkout.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/xalloc.h"
#include "util/banned.h"

#include "bench.h"

#define MAX_RUNS 100
#define CHANGED	 10 /* files a new commit changes */
#define GOAL_A	 5.0
#define GOAL_B	 5.0 /* percent: (b)'s tree against one from scratch */

extern char **environ;

struct samples {
	double v[MAX_RUNS];
	size_t n;
};

static struct {
	char base[256];
	bool mounted;  /* base is our tmpfs */
	bool overlays; /* we may mount (root, own mount namespace) */
	unsigned seq;
	char **env;
} B;

static void add(struct samples *s, double v)
{
	if (s->n < MAX_RUNS)
		s->v[s->n++] = v;
}

static void die(const char *what, const struct err *err)
{
	(void) fprintf(stderr, "checkout: %s: %s\n", what, err ? err->msg : strerror(errno));
	exit(1);
}

static char *fresh(const char *what)
{
	return xasprintf("%s/%s-%u", B.base, what, ++B.seq);
}

/* Run argv with git isolated from the host's configuration; stdout/stderr to /dev/null
 * unless the command fails (then run again visibly is left to the reader). Exit status. */
static int run(char *const *argv, const char *out_file)
{
	posix_spawn_file_actions_t fa;
	int status = -1;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out_file ? out_file : "/dev/null",
					 O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, B.env) != 0)
		return -1;
	posix_spawn_file_actions_destroy(&fa);
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void must(char *const *argv)
{
	if (run(argv, NULL) != 0) {
		(void) fprintf(stderr, "checkout: '%s %s' failed\n", argv[0], argv[1]);
		exit(1);
	}
}

static void rm_tree(const char *p)
{
	(void) rm_rf_at(AT_FDCWD, p, &(struct err){ 0 });
}

/* A repository of nfiles files (about 800 bytes each, 10 per directory level, some
 * executable), then `changes` commits of CHANGED files each, by git fast-import. */
static void generate(const char *dir, unsigned nfiles, unsigned changes)
{
	cleanup_free char *stream = xasprintf("%s.fi", dir);
	FILE *f = fopen(stream, "w");
	char body[1024];

	if (!f)
		die(stream, NULL);
	for (unsigned c = 0; c <= changes; c++) {
		unsigned count = c == 0 ? nfiles : CHANGED;
		fprintf(f, "commit refs/heads/main\nmark :%u\n", c + 1);
		fprintf(f, "committer C <c@example.com> %u +0000\ndata 4\nc%02u\n", 1700000000 + c,
			c % 100);
		if (c > 0)
			fprintf(f, "from :%u\n", c);
		for (unsigned k = 0; k < count; k++) {
			unsigned i = c == 0 ? k : ((c - 1) * CHANGED + k * 7919) % nfiles;
			int n = snprintf(body, sizeof(body), "/* file %u, generation %u */\n", i,
					 c);
			while (n < 780)
				n += snprintf(body + n, sizeof(body) - (size_t) n,
					      "int v%u_%d = %u;\n", i, n, (i * 2654435761u) ^ c);
			fprintf(f, "M %s inline d%02u/s%02u/f%06u.c\ndata %d\n%s\n",
				i % 7 ? "100644" : "100755", i % 100, (i / 100) % 10, i, n, body);
		}
	}
	if (fclose(f) != 0)
		die(stream, NULL);
	must((char *[]){ "git", "init", "-q", "-b", "main", (char *) dir, NULL });
	cleanup_free char *script = xasprintf("cd '%s' && git fast-import --quiet < '%s' && "
					      "git checkout -q main && git gc -q",
					      dir, stream);
	must((char *[]){ "sh", "-c", script, NULL });
	(void) unlink(stream);
}

static char *rev(const char *src, unsigned back)
{
	cleanup_free char *out = fresh("rev"), *text = NULL;
	char spec[32];

	(void) snprintf(spec, sizeof(spec), "main~%u", back);
	if (run((char *[]){ "git", "-C", (char *) src, "rev-parse", spec, NULL }, out) != 0 ||
	    read_file_at(AT_FDCWD, out, 100, &text, NULL, &(struct err){ 0 }) < 0)
		die("rev-parse", NULL);
	text[strcspn(text, "\n")] = '\0';
	(void) unlink(out);
	return xstrdup(text);
}

/* A job's overlay over tree with the .git layer on top, then its first `git status`. */
static double mount_workspace(const char *gitlayer, const struct checkout_tree *tree,
			      const char *merged, const char *scratch)
{
	cleanup_free char *up = path_join(scratch, "up"), *work = path_join(scratch, "work");
	cleanup_free char *opts = NULL, *lowers = xstrdup(gitlayer);
	double t0 = bench_now_ms();

	for (size_t i = 0; i < tree->n_layers; i++) { /* a delta's, then its parents' */
		char *more = xasprintf("%s:%s", lowers, tree->layers[i]);
		free(lowers);
		lowers = more;
	}

	if (mkdir(scratch, 0755) < 0 || mount("ws", scratch, "tmpfs", 0, "mode=0755") < 0 ||
	    mkdir(up, 0755) < 0 || mkdir(work, 0755) < 0 || mkdir(merged, 0755) < 0)
		die("scratch", NULL);
	opts = xasprintf("lowerdir=%s,upperdir=%s,workdir=%s", lowers, up, work);
	if (mount("overlay", merged, "overlay", 0, opts) < 0)
		die("mount overlay", NULL);
	return bench_now_ms() - t0;
}

static void unmount_workspace(const char *merged, const char *scratch)
{
	(void) umount2(merged, MNT_DETACH);
	(void) umount2(scratch, MNT_DETACH);
	(void) rmdir(merged);
	(void) rmdir(scratch);
}

enum { P_MIRROR, P_RESOLVE, P_TREE, P_GIT, P_MOUNT, NPARTS };
static const char *const part_names[NPARTS] = { "mirror", "resolve", "tree", ".git", "mount" };

struct ready {
	double ms, part[NPARTS];
	char *gitlayer, *merged, *scratch;
	struct checkout_tree tree; /* its layers, held */
};

/* mayfly's path to a ready workspace for commit: what `mayfly exec --repo` does before
 * the job starts. */
static void mayfly_ready(const char *cache, const char *src, const char *commit, struct ready *r)
{
	cleanup_free char *mirror = NULL;
	struct err err = { 0 };
	char c[41], tree[41];
	double t0 = bench_now_ms();

	double t = t0;

	*r = (struct ready){ .gitlayer = fresh("gitlayer") };
#define LAP(p) (r->part[p] = bench_now_ms() - t, t += r->part[p])
	if (checkout_mirror(cache, src, NULL, commit, 0, &mirror, &err) < 0)
		die("mayfly checkout", &err);
	LAP(P_MIRROR);
	if (checkout_resolve(mirror, commit, c, tree, &err) < 0)
		die("mayfly checkout", &err);
	LAP(P_RESOLVE);
	if (checkout_materialize(cache, mirror, tree, &r->tree, &err) < 0)
		die("mayfly checkout", &err);
	LAP(P_TREE);
	if (mkdir(r->gitlayer, 0755) < 0)
		die(r->gitlayer, NULL);
	const struct checkout_workspace ws = { .mirror = mirror,
					       .mirror_inside = mirror,
					       .commit = c,
					       .tree_dir = r->tree.layers[0] };
	if (checkout_workspace_git(&ws, r->gitlayer, &err) < 0)
		die("workspace .git", &err);
	LAP(P_GIT);
	if (B.overlays) {
		r->merged = fresh("merged");
		r->scratch = fresh("scratch");
		(void) mount_workspace(r->gitlayer, &r->tree, r->merged, r->scratch);
	}
	LAP(P_MOUNT);
#undef LAP
	r->ms = bench_now_ms() - t0;
}

static void ready_release(struct ready *r)
{
	if (r->merged)
		unmount_workspace(r->merged, r->scratch);
	rm_tree(r->gitlayer);
	checkout_tree_release(&r->tree);
	free(r->gitlayer);
	free(r->merged);
	free(r->scratch);
}

static double git_status_ms(const char *dir)
{
	double t0 = bench_now_ms();
	if (run((char *[]){ "git", "-C", (char *) dir, "status", "--porcelain", NULL }, NULL) != 0)
		die("git status", NULL);
	return bench_now_ms() - t0;
}

/* End to end with the real binary: `mayfly exec --repo SRC --commit HEAD -- git status`
 * (the commit cached by a first run), and `mayfly exec -- true` for what a sandbox costs
 * without a checkout. */
static void end_to_end(const char *src, const char *head, unsigned runs, struct samples *repo,
		       struct samples *plain)
{
	cleanup_free char *state = fresh("state");
	char *bin = getenv("MAYFLY_BIN");
	char *with_repo[] = { bin,	    "--state-dir", state,	  "exec", "--repo",
			      (char *) src, "--commit",	   (char *) head, "--",	  "git",
			      "status",	    "--porcelain", NULL };
	char *without[] = { bin, "--state-dir", state, "exec", "--", "true", NULL };
	double t0;

	must(with_repo);
	for (unsigned i = 0; i < runs; i++) {
		t0 = bench_now_ms();
		must(with_repo);
		add(repo, bench_now_ms() - t0);
		t0 = bench_now_ms();
		must(without);
		add(plain, bench_now_ms() - t0);
	}
}

static void row(const char *name, struct samples *s, double ref_ms, const char *ref_name)
{
	double m = bench_median(s->v, s->n);

	if (s->n == 0)
		return;
	printf("  %-44s %10.2f ms", name, m);
	if (ref_ms > 0 && m > 0)
		printf("   %8.1fx %s", ref_ms / m, ref_name);
	printf("\n");
}

static void bench(const char *label, unsigned nfiles, unsigned runs)
{
	cleanup_free char *src = fresh("src"), *cache = fresh("cache");
	struct samples clone = { 0 }, wt = { 0 }, shallow = { 0 }, a = { 0 }, b = { 0 };
	struct samples cold = { 0 }, scratch = { 0 }, st_ours = { 0 }, st_clone = { 0 };
	struct samples a_part[NPARTS] = { 0 }, b_tree = { 0 }, b_git = { 0 }, e2e = { 0 },
		       e2e_true = { 0 };
	double t0;

	printf("\n%s: %u files, %u runs\n", label, nfiles, runs);
	(void) fflush(stdout);
	generate(src, nfiles, runs + 1);
	cleanup_free char *url = xasprintf("file://%s", src);
	for (unsigned i = 0; i < runs; i++) {
		cleanup_free char *d1 = fresh("clone"), *d2 = fresh("wt"), *d3 = fresh("shallow");
		t0 = bench_now_ms();
		must((char *[]){ "git", "clone", "-q", "--local", src, d1, NULL });
		add(&clone, bench_now_ms() - t0);
		add(&st_clone, git_status_ms(d1));
		t0 = bench_now_ms();
		must((char *[]){ "git", "-C", src, "worktree", "add", "-q", "--detach", d2, "main",
				 NULL });
		add(&wt, bench_now_ms() - t0);
		t0 = bench_now_ms();
		must((char *[]){ "git", "clone", "-q", "--depth", "1", url, d3, NULL });
		add(&shallow, bench_now_ms() - t0);
		rm_tree(d1);
		rm_tree(d3);
		must((char *[]){ "git", "-C", src, "worktree", "remove", "--force", d2, NULL });
	}
	/* (c) cold: a new cache each time, the whole repository fetched and built. */
	cleanup_free char *head = rev(src, 0), *parent = rev(src, runs + 1);
	for (unsigned i = 0; i < runs; i++) {
		cleanup_free char *c = fresh("cold-cache");
		struct ready r;
		mayfly_ready(c, src, head, &r);
		add(&cold, r.ms);
		ready_release(&r);
		rm_tree(c);
	}
	/* From scratch with the mirror there: the tree alone, no base to link from. */
	for (unsigned i = 0; i < runs; i++) {
		cleanup_free char *c = fresh("scratch-cache"), *mirror = NULL;
		CLEANUP(checkout_tree_release) struct checkout_tree t = { 0 };
		struct err err = { 0 };
		char cm[41], tree[41];
		if (checkout_mirror(c, src, NULL, NULL, 0, &mirror, &err) < 0 ||
		    checkout_resolve(mirror, head, cm, tree, &err) < 0)
			die("mirror", &err);
		t0 = bench_now_ms();
		if (checkout_materialize(c, mirror, tree, &t, &err) < 0)
			die("materialise", &err);
		add(&scratch, bench_now_ms() - t0);
		rm_tree(c);
	}
	/* The shared cache: the oldest commit built once, then (b) each newer commit from
	 * the one before (10 files changed), then (a) the cached head again and again. */
	struct ready r;
	mayfly_ready(cache, src, parent, &r);
	ready_release(&r);
	for (unsigned i = runs; i-- > 0;) {
		cleanup_free char *c = rev(src, i);
		mayfly_ready(cache, src, c, &r);
		add(&b, r.ms);
		add(&b_tree, r.part[P_TREE]);
		add(&b_git, r.part[P_GIT]);
		ready_release(&r);
	}
	for (unsigned i = 0; i < runs; i++) {
		mayfly_ready(cache, src, head, &r);
		add(&a, r.ms);
		for (int p = 0; p < NPARTS; p++)
			add(&a_part[p], r.part[p]);
		if (r.merged)
			add(&st_ours, git_status_ms(r.merged));
		ready_release(&r);
	}
	if (getenv("MAYFLY_BIN"))
		end_to_end(src, head, runs, &e2e, &e2e_true);
	double ref = bench_median(clone.v, clone.n);
	row("git clone --local (+ checkout)", &clone, 0, "");
	row("git worktree add", &wt, 0, "");
	row("git clone --depth 1 file://", &shallow, 0, "");
	row(B.overlays ? "mayfly (a) cached commit, overlay mounted" : "mayfly (a) cached commit",
	    &a, ref, "faster than clone --local");
	row("mayfly (b) new commit, 10 files changed", &b, ref, "faster than clone --local");
	row("mayfly (c) cold mirror (fetch + build)", &cold, ref, "faster than clone --local");
	row("mayfly tree from scratch (mirror present)", &scratch, 0, "");
	row("first git status, plain clone", &st_clone, 0, "");
	row("first git status, mayfly workspace", &st_ours, bench_median(st_clone.v, st_clone.n),
	    "faster than in the clone");
	double clone_status = bench_median(clone.v, clone.n) + bench_median(st_clone.v, st_clone.n);
	row("mayfly exec --repo (cached) -- git status", &e2e, clone_status,
	    "faster than clone --local + git status");
	row("mayfly exec -- true (no checkout)", &e2e_true, 0, "");
	double ma = bench_median(a.v, a.n), mb = bench_median(b_tree.v, b_tree.n),
	       ms = bench_median(scratch.v, scratch.n);
	printf("  (a) vs worktree add %.1fx, vs clone --depth 1 %.1fx; (a) is",
	       bench_median(wt.v, wt.n) / ma, bench_median(shallow.v, shallow.n) / ma);
	for (int p = 0; p < NPARTS; p++)
		printf("%s %s %.2f", p ? "," : "", part_names[p],
		       bench_median(a_part[p].v, a_part[p].n));
	printf(" ms\n  (b)'s tree (a delta layer): %.2f ms, %.1f%% of a tree from scratch; (b) in "
	       "all "
	       "%.2f ms (tree %.2f + .git and index %.2f)\n",
	       mb, 100.0 * mb / ms, bench_median(b.v, b.n), mb, bench_median(b_git.v, b_git.n));
	printf("  goal (a) <= %.0f ms: %s\n", GOAL_A, ma <= GOAL_A ? "met" : "missed");
	printf("  goal (b) <= %.0f%% of from scratch: %s\n", GOAL_B,
	       100.0 * mb / ms <= GOAL_B ? "met" : "missed");
	rm_tree(src);
	rm_tree(cache);
	(void) fflush(stdout);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "runs", required_argument, NULL, 'n' },
					      { "large", no_argument, NULL, 'L' },
					      { "dir", required_argument, NULL, 'd' },
					      { NULL, 0, NULL, 0 } };
	const char *large_env = getenv("MAYFLY_BENCH_LARGE");
	bool large = large_env && strcmp(large_env, "1") == 0;
	const char *dir = NULL;
	unsigned runs = 0;
	int c;

	while ((c = getopt_long(argc, argv, "n:", opts, NULL)) != -1) {
		if (c == 'n')
			runs = (unsigned) strtoul(optarg, NULL, 10);
		else if (c == 'L')
			large = true;
		else if (c == 'd')
			dir = optarg;
		else
			return 2;
	}
	if (runs > MAX_RUNS)
		runs = MAX_RUNS;
	static char *env[] = { "GIT_CONFIG_NOSYSTEM=1",
			       "GIT_CONFIG_GLOBAL=/dev/null",
			       "GIT_AUTHOR_NAME=A",
			       "GIT_AUTHOR_EMAIL=a@example.com",
			       "GIT_COMMITTER_NAME=C",
			       "GIT_COMMITTER_EMAIL=c@example.com",
			       "LC_ALL=C",
			       NULL,
			       NULL };
	cleanup_free char *path =
		xasprintf("PATH=%s", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	env[7] = path;
	B.env = env;
	(void) snprintf(B.base, sizeof(B.base), "%s/mayfly-bench-checkout-XXXXXX",
			dir		   ? dir
			: getenv("TMPDIR") ? getenv("TMPDIR")
					   : "/tmp");
	if (!mkdtemp(B.base))
		die(B.base, NULL);
	(void) chmod(B.base, 0711); /* root mode: sandboxes build their root in a state dir here */
	if (geteuid() == 0 && unshare(CLONE_NEWNS) == 0 &&
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0) {
		B.overlays = true;
		B.mounted = !dir && mount("bench", B.base, "tmpfs", 0, "mode=0711") == 0;
	}
	printf("checkout: in %s (%s); %s\n", B.base, B.mounted ? "a tmpfs of its own" : "as is",
	       B.overlays ? "overlays mounted as a job gets them"
			  : "not root: no overlay, no first git status in the workspace");
	bench("small", 100, runs ? runs : 11);
	bench("medium", 5000, runs ? runs : 7);
	if (large)
		bench("large", 100000, runs ? runs : 3);
	else
		printf("\nlarge (100,000 files): skipped; --large or MAYFLY_BENCH_LARGE=1 "
		       "(minutes)\n");
	if (B.mounted)
		(void) umount2(B.base, MNT_DETACH);
	rm_tree(B.base);
	return 0;
}

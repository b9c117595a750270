/* test-snapshot.c - `--repo .`: a work tree's modified, added and untracked files copied
 * into a layer, deleted tracked paths listed, ignored files left out, and hostile work
 * trees (symlinks out of the tree, a symlink in place of a directory, a FIFO) copied as
 * they are without following anything. */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkout/checkout.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "repo.h"
#include "test.h"

static char *make_work_tree(void)
{
	char *wt = repo_path("wt");

	CHECK_EQ(repo_sh("git init -q -b main '%s' && cd '%s' && mkdir -p src gone keep && "
			 "echo one > src/a.c && echo two > src/b.c && echo 'build/' > .gitignore "
			 "&& echo g > gone/x && echo g > gone/y && echo k > keep/k && "
			 "printf '#!/bin/sh\\n' > run.sh && echo d > dir-to-link && "
			 "mkdir linkdir && echo l > linkdir/f && "
			 "git add -A && git commit -qm base",
			 wt, wt),
		 0);
	return wt;
}

static char *joined(char **v)
{
	return strv_join(v ? v : (char *[]){ NULL }, ",");
}

TEST(checkout_snapshot_takes_modified_untracked_and_deleted)
{
	cleanup_free char *wt = make_work_tree(), *layer = repo_path("layer");
	CLEANUP(checkout_snapshot_release) struct checkout_snapshot s = { 0 };
	struct err err = { 0 };

	CHECK_EQ(repo_sh("cd '%s' && echo changed > src/a.c && echo new > src/new.c && "
			 "mkdir -p build deep/er && echo obj > build/a.o && echo u > deep/er/u && "
			 "echo staged > staged.txt && git add staged.txt && rm -r gone && "
			 "rm keep/k && chmod +x src/b.c && rm dir-to-link && mkdir dir-to-link && "
			 "echo inside > dir-to-link/f",
			 wt),
		 0);
	cleanup_free char *sub = path_join(wt, "src"); /* discovered upwards, as git does */
	CHECK_OK(checkout_snapshot(sub, layer, (uid_t) -1, (gid_t) -1, &s, &err));
	cleanup_free char *head = repo_line("git -C '%s' rev-parse HEAD", wt);
	CHECK_STR_EQ(s.commit, head);
	cleanup_free char *gd = path_join(wt, ".git/");
	CHECK_STR_EQ(s.git_dir, gd);
	CHECK_STR_EQ(s.branch, "main");
	cleanup_free char *listing = NULL;
	CHECK_EQ(repo_sh_out(&listing, "cd '%s' && find . | sort | tr '\\n' ' '", layer), 0);
	CHECK_STR_EQ(listing, ". ./deep ./deep/er ./deep/er/u ./dir-to-link ./dir-to-link/f "
			      "./src ./src/a.c ./src/b.c ./src/new.c ./staged.txt ");
	cleanup_free char *a = NULL;
	CHECK_EQ(repo_sh_out(&a, "cat '%s/src/a.c'; stat -c %%a '%s/src/b.c' '%s/src/a.c'", layer,
			     layer, layer),
		 0);
	CHECK_STR_EQ(a, "changed\n755\n644\n");
	/* Each file, and the directory gone with them after them: the overlay removes a
	 * directory only once it is empty. dir-to-link is no deletion. */
	cleanup_free char *del = joined(s.deleted);
	CHECK_STR_EQ(del, "keep/k,gone/y,gone/x,gone");
	CHECK_EQ(s.files, 6);
	CHECK_EQ(s.skipped, 0);
}

TEST(checkout_snapshot_copies_symlinks_and_never_follows_them)
{
	cleanup_free char *wt = make_work_tree(), *layer = repo_path("layer");
	CLEANUP(checkout_snapshot_release) struct checkout_snapshot s = { 0 };
	struct err err = { 0 };

	/* An untracked link out of the tree, a tracked file turned into a link to a secret,
	 * a tracked directory turned into a link to a directory outside, and a FIFO. */
	CHECK_EQ(repo_sh("cd '%s' && ln -s /etc/passwd out && rm src/a.c && "
			 "ln -s /etc/shadow src/a.c && rm -r linkdir && ln -s /etc linkdir && "
			 "mkfifo pipe",
			 wt),
		 0);
	CHECK_OK(checkout_snapshot(wt, layer, (uid_t) -1, (gid_t) -1, &s, &err));
	cleanup_free char *out = NULL;
	CHECK_EQ(repo_sh_out(&out, "cd '%s' && find . -printf '%%y %%p %%l\\n' | sort", layer), 0);
	CHECK_STR_EQ(out, "d . \n"
			  "d ./src \n"
			  "l ./linkdir /etc\n"
			  "l ./out /etc/passwd\n"
			  "l ./src/a.c /etc/shadow\n");
	/* linkdir/f is covered by the link that replaced its directory: not a deletion. */
	CHECK(s.deleted == NULL);
	CHECK_EQ(s.skipped, 0); /* git status does not even list the FIFO */
	CHECK(s.bytes == 0);
}

TEST(checkout_snapshot_of_a_clean_tree_is_empty)
{
	cleanup_free char *wt = make_work_tree(), *layer = repo_path("layer");
	CLEANUP(checkout_snapshot_release) struct checkout_snapshot s = { 0 };
	struct err err = { 0 };

	CHECK_OK(checkout_snapshot(wt, layer, (uid_t) -1, (gid_t) -1, &s, &err));
	CHECK_EQ(s.files, 0);
	CHECK(s.deleted == NULL);
	cleanup_free char *n = repo_line("find '%s' | wc -l", layer);
	CHECK_STR_EQ(n, "1");
}

TEST(checkout_snapshot_refuses_what_is_no_work_tree)
{
	cleanup_free char *plain = repo_path("plain"), *layer = repo_path("layer");
	cleanup_free char *bare = repo_path("bare.git"), *empty = repo_path("empty");
	struct checkout_snapshot s = { 0 };
	struct err err = { 0 };

	CHECK_EQ(repo_sh("mkdir -p '%s' && git init -q --bare '%s' && git init -q '%s'", plain,
			 bare, empty),
		 0);
	CHECK_EQ(checkout_snapshot(plain, layer, (uid_t) -1, (gid_t) -1, &s, &err), -ENOENT);
	CHECK_STR_CONTAINS(err.msg, "not in a git work tree");
	CHECK_EQ(checkout_snapshot(bare, layer, (uid_t) -1, (gid_t) -1, &s, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "bare repository");
	CHECK_EQ(checkout_snapshot(empty, layer, (uid_t) -1, (gid_t) -1, &s, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "no commit yet");
	CHECK_EQ(access(layer, F_OK), -1);
}

/* A linked work tree (`git worktree add`) snapshots like any other; its repository, hence
 * its mirror, is the main one's. */
TEST(checkout_snapshot_of_a_linked_work_tree_names_the_main_repository)
{
	cleanup_free char *wt = make_work_tree(), *linked = repo_path("linked");
	cleanup_free char *layer = repo_path("layer"), *main_git = path_join(wt, ".git/");
	CLEANUP(checkout_snapshot_release) struct checkout_snapshot s = { 0 };
	struct err err = { 0 };

	CHECK_EQ(repo_sh("git -C '%s' worktree add -q -b topic '%s' && echo new > '%s/src/a.c'", wt,
			 linked, linked),
		 0);
	CHECK_OK(checkout_snapshot(linked, layer, (uid_t) -1, (gid_t) -1, &s, &err));
	CHECK_STR_EQ(s.git_dir, main_git);
	CHECK_STR_EQ(s.branch, "topic");
	CHECK_EQ(s.files, 1);
	/* Its index is its own: what is staged there is what the job gets. */
	CHECK_STR_CONTAINS(s.index, "/.git/worktrees/linked/index");
}

/* The index a job gets from checkout_snapshot_index(): a work tree, its snapshot, its
 * mirror, HEAD's tree materialised and a workspace .git made for it, as exec-repo.c does. */
struct idx {
	char *wt, *layer, *cache, *mirror, *tree_dir, *ws, *git;
	struct checkout_snapshot snap;
	char commit[41], tree[41];
};

static void idx_release(struct idx *x)
{
	free(x->wt);
	free(x->layer);
	free(x->cache);
	free(x->mirror);
	free(x->tree_dir);
	free(x->ws);
	free(x->git);
	checkout_snapshot_release(&x->snap);
}

/* Snapshot, mirror, tree, .git; the caller calls checkout_snapshot_index(). */
static void idx_setup(struct idx *x, const char *edits)
{
	struct err err = { 0 };

	x->wt = make_work_tree();
	x->layer = repo_path("layer");
	x->cache = repo_path("cache");
	x->ws = repo_path("ws");
	CHECK_EQ(repo_sh("cd '%s' && %s", x->wt, edits), 0);
	CHECK_OK(checkout_snapshot(x->wt, x->layer, (uid_t) -1, (gid_t) -1, &x->snap, &err));
	CHECK_OK(checkout_mirror(x->cache, x->snap.git_dir, NULL, x->snap.commit, 0, &x->mirror,
				 &err));
	CHECK_OK(checkout_resolve(x->mirror, x->snap.commit, x->commit, x->tree, &err));
	CHECK_OK(repo_materialize_dir(x->cache, x->mirror, x->tree, (uid_t) -1, (gid_t) -1,
				      &x->tree_dir, NULL, &err));
	CHECK_OK(mkdir(x->ws, 0755));
	const struct checkout_workspace spec = { .mirror = x->mirror,
						 .mirror_inside = x->mirror,
						 .commit = x->commit,
						 .branch = x->snap.branch,
						 .tree_dir = x->tree_dir };
	CHECK_OK(checkout_workspace_git(&spec, x->ws, &err));
	x->git = xasprintf("git --git-dir='%s/.git'", x->ws);
}

/* "<mtime seconds> <size>" of path in the job's index. */
static char *idx_stat(const struct idx *x, const char *path)
{
	cleanup_free char *out = NULL;
	unsigned long long sec = 0, nsec = 0, size = 0;
	const char *m, *s;

	CHECK_EQ(repo_sh_out(&out, "%s ls-files --debug -- '%s'", x->git, path), 0);
	m = strstr(out, "mtime: ");
	s = strstr(out, "size: ");
	CHECK(m && s);
	if (m && s) {
		CHECK_EQ(sscanf(m, "mtime: %llu:%llu", &sec, &nsec), 2);
		CHECK_EQ(sscanf(s, "size: %llu", &size), 1);
	}
	return xasprintf("%llu %llu", sec, size);
}

static char *file_stat(const char *dir, const char *path)
{
	return repo_line("stat -c '%%Y %%s' '%s/%s'", dir, path);
}

TEST(checkout_snapshot_index_trusts_only_what_it_knows)
{
	CLEANUP(idx_release) struct idx x = { 0 };
	struct err err = { 0 };

	/* run.sh: staged as it is in the work tree (layer); src/a.c staged then edited;
	 * src/b.c as HEAD (cached tree); staged.c new (its blob loose in the work tree's
	 * repository only); evil/passwd an entry under a symlink to /etc in the work tree,
	 * whose blob is the host's file: its stat data must never be the host's. */
	idx_setup(&x, "echo '#x' >> run.sh && git add run.sh && echo s >> src/a.c && "
		      "git add src/a.c && echo again >> src/a.c && echo new > staged.c && "
		      "git add staged.c && oid=$(git hash-object -w /etc/passwd) && "
		      "git update-index --add --cacheinfo 100644,$oid,evil/passwd && "
		      "ln -s /etc evil");
	cleanup_free char *staged_blob = repo_line("git -C '%s' rev-parse :staged.c", x.wt);
	cleanup_free char *loose =
		xasprintf("%s/.git/objects/%.2s/%s", x.ws, staged_blob, staged_blob + 2);
	CHECK_EQ(access(loose, F_OK), -1);
	CHECK(x.snap.staged);
	CHECK_OK(checkout_snapshot_index(&x.snap, x.mirror, x.ws, &err));
	CHECK_EQ(access(loose, F_OK), 0); /* copied, loose, as git writes it */
	cleanup_free char *theirs = NULL, *ours = NULL;
	CHECK_EQ(repo_sh_out(&theirs, "git -C '%s' ls-files -s", x.wt), 0);
	CHECK_EQ(repo_sh_out(&ours, "%s ls-files -s", x.git), 0);
	CHECK_STR_EQ(ours, theirs);
	cleanup_free char *run = idx_stat(&x, "run.sh"), *run_layer = file_stat(x.layer, "run.sh");
	CHECK_STR_EQ(run, run_layer);
	cleanup_free char *b = idx_stat(&x, "src/b.c"), *b_tree = file_stat(x.tree_dir, "src/b.c");
	CHECK_STR_EQ(b, b_tree);
	cleanup_free char *st = idx_stat(&x, "staged.c"),
			  *st_layer = file_stat(x.layer, "staged.c");
	CHECK_STR_EQ(st, st_layer);
	cleanup_free char *a = idx_stat(&x, "src/a.c"), *evil = idx_stat(&x, "evil/passwd");
	CHECK_STR_EQ(a, "0 0");
	CHECK_STR_EQ(evil, "0 0");
	/* The objects the index names are all there: git can write its tree. */
	CHECK_EQ(repo_sh("%s write-tree > /dev/null", x.git), 0);
}

TEST(checkout_snapshot_index_leaves_a_clean_index_and_the_cache_alone)
{
	CLEANUP(idx_release) struct idx x = { 0 };
	struct err err = { 0 };
	struct stat before, after, cached;

	idx_setup(&x, "echo unstaged >> src/a.c");
	cleanup_free char *index = xasprintf("%s/.git/index", x.ws);
	cleanup_free char *cache_index = xasprintf("%s.index", x.tree_dir);
	/* As every workspace after the first has it: a hard link to the cached index. */
	CHECK_EQ(repo_sh("ln -f '%s' '%s'", cache_index, index), 0);
	CHECK_OK(stat(index, &before));
	CHECK_OK(checkout_snapshot_index(&x.snap, x.mirror, x.ws, &err));
	CHECK_OK(stat(index, &after));
	CHECK_EQ(after.st_ino, before.st_ino); /* not even rewritten */
	/* A staged change replaces the workspace's index, never the cached one it links. */
	CHECK_OK(stat(cache_index, &cached));
	CHECK_EQ(cached.st_ino, before.st_ino);
	cleanup_free char *sum = repo_line("sha256sum < '%s'", cache_index);
	CHECK(!x.snap.staged);
	CHECK_EQ(repo_sh("cd '%s' && git add src/a.c && rm -r '%s'", x.wt, x.layer), 0);
	checkout_snapshot_release(&x.snap);
	CHECK_OK(checkout_snapshot(x.wt, x.layer, (uid_t) -1, (gid_t) -1, &x.snap, &err));
	CHECK(x.snap.staged);
	CHECK_OK(checkout_snapshot_index(&x.snap, x.mirror, x.ws, &err));
	CHECK_OK(stat(index, &after));
	CHECK(after.st_ino != before.st_ino);
	cleanup_free char *sum_after = repo_line("sha256sum < '%s'", cache_index);
	CHECK_STR_EQ(sum_after, sum);
	cleanup_free char *staged = NULL;
	CHECK_EQ(repo_sh_out(&staged, "%s diff --cached --name-only", x.git), 0);
	CHECK_STR_EQ(staged, "src/a.c\n");
}

TEST(checkout_snapshot_index_fails_clearly_on_a_bad_index)
{
	CLEANUP(idx_release) struct idx x = { 0 };
	struct err err = { 0 };

	idx_setup(&x, "echo new > staged.c && git add staged.c");
	cleanup_free char *index = xasprintf("%s/.git/index", x.ws);
	cleanup_free char *before = repo_line("sha256sum < '%s'", index);
	/* A staged blob damaged, then gone, in the work tree's repository: its fault, not the
	 * mirror's (-EUCLEAN would have the mirror rebuilt). */
	cleanup_free char *blob = repo_line("git -C '%s' rev-parse :staged.c", x.wt);
	cleanup_free char *obj = xasprintf("%s/.git/objects/%.2s/%s", x.wt, blob, blob + 2);
	CHECK_EQ(repo_sh("chmod u+w '%s' && echo garbage > '%s'", obj, obj), 0);
	CHECK_EQ(checkout_snapshot_index(&x.snap, x.mirror, x.ws, &err), -EIO);
	CHECK_STR_CONTAINS(err.msg, "index entry 'staged.c': object ");
	CHECK_EQ(repo_sh("rm -f '%s'", obj), 0);
	CHECK_EQ(checkout_snapshot_index(&x.snap, x.mirror, x.ws, &err), -EIO);
	CHECK_STR_CONTAINS(err.msg, "index entry 'staged.c': object ");
	CHECK_STR_CONTAINS(err.msg, "is missing from");
	/* A damaged index file, read again (the snapshot's own read is not kept). */
	struct checkout_snapshot reread = x.snap; /* borrowed: not released */
	reread.index_read = NULL;
	CHECK_EQ(repo_sh("cd '%s' && truncate -s 40 .git/index", x.wt), 0);
	CHECK_EQ(checkout_snapshot_index(&reread, x.mirror, x.ws, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "work tree index '");
	/* And a snapshot of it fails saying what it read. */
	cleanup_free char *layer2 = repo_path("layer2");
	struct checkout_snapshot s2 = { 0 };
	CHECK(checkout_snapshot(x.wt, layer2, (uid_t) -1, (gid_t) -1, &s2, &err) < 0);
	printf("# %s\n", err.msg);
	CHECK_STR_CONTAINS(err.msg, "index");
	CHECK_EQ(access(layer2, F_OK), -1);
	/* The job's index is as it was: nothing half done. */
	cleanup_free char *after = repo_line("sha256sum < '%s'", index);
	CHECK_STR_EQ(after, before);
}

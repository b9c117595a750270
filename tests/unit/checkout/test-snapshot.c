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
}

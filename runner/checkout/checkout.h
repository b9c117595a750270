/* checkout.h - git checkouts for sandboxes: one bare mirror per remote, fetched
 * incrementally; a cache of materialised trees keyed by tree id, each built once, read by
 * many, new ones hard-linking what they share with the nearest cached tree; and a minimal
 * `.git` for a workspace whose objects live in the mirror. Owns every use of libgit2.
 * Never logs, never puts a credential in a message, a file or a URL on disk.
 *
 *   <cache_dir>/git/<sha256 of the normalised URL>.git     bare mirror of every ref
 *   <cache_dir>/git/<same>.lock                            flock: one fetch at a time
 *   <cache_dir>/trees/<tree id>/                           a materialised tree: complete,
 *                                                          or a delta layer on its parent
 *   <cache_dir>/trees/<tree id>.parent                     a delta's parent tree id
 *   <cache_dir>/trees/<tree id>.lock                       flock: shared while in use;
 *                                                          its mtime is the last use
 *   <cache_dir>/trees/.bases/<sha256 of the mirror path>   trees made from each mirror
 *
 * docs/checkout.md explains the layout, the locks and the guarantees. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct err;

/* Credentials for one remote, borrowed for the call. For https, token is sent as the
 * password of username (default "x-access-token", what GitHub expects; GitLab wants
 * "oauth2" or "gitlab-ci-token"). Both NULL: anonymous, unless the URL has userinfo
 * ("https://user:token@host/..."), which is then used and stripped from everything kept. */
struct checkout_cred {
	const char *username;
	const char *token;
};

enum checkout_mirror_flags {
	/* Use the mirror as it is when it exists: no fetch, no lock, no network. */
	CHECKOUT_NO_FETCH_IF_PRESENT = 1 << 0,
	/* Throw the mirror away and fetch it afresh (after -EUCLEAN from another call). */
	CHECKOUT_REBUILD = 1 << 1,
};

/* Make "<cache_dir>/git/<hash>.git" a current mirror of url and return its path in
 * *ret_mirror (caller frees). url: a local path (made absolute; a work tree's ".git" is
 * the same repository), file://, git://, http(s):// or ssh:// (untested) URL. The hash is
 * of the normalised URL (docs/checkout.md: scheme and host lowercased, userinfo, trailing
 * slashes and one ".git" dropped), so "https://h/o/app.git/" and "https://H/o/app" share a
 * mirror. The first fetch builds the mirror aside and renames it into place: a mirror that
 * exists has been fetched completely at least once.
 *
 * want (NULL, or a full or abbreviated commit id the caller needs): when the mirror has
 * it, return at once, without the lock, so a job never waits for a fetch it does not
 * need. Concurrent callers are serialised on "<hash>.lock"; one that waited while another
 * fetched, with that fetch begun after this call began, does not fetch again. A fetch
 * that fails for want of the mirror's own objects gets the refs checked; a damaged mirror
 * is then thrown away and fetched afresh, once (-EUCLEAN from the other calls means: call
 * again with CHECKOUT_REBUILD, and retry). Errors callers act on: -EINVAL bad URL,
 * -EACCES authentication or certificate refused, -ENOENT no repository at url,
 * -EHOSTUNREACH the remote cannot be reached or broke the protocol, -EFBIG the remote
 * sent more than 32 GiB. There is no timeout (libgit2 1.5 has none for connect or read). */
int checkout_mirror(const char *cache_dir, const char *url, const struct checkout_cred *cred,
		    const char *want, unsigned flags, char **ret_mirror, struct err *err);

/* Without libgit2 (no fetch, no lock): when a checkout of commit (40 hex digits) from url
 * has been resolved before, *ret_mirror gets the mirror's path and ret_tree the commit's
 * tree id, as checkout_mirror() then checkout_resolve() would give them. -ENOENT: not
 * known (take the long way), -EINVAL bad URL. */
int checkout_lookup_cached(const char *cache_dir, const char *url, const char *commit,
			   char **ret_mirror, char ret_tree[41], struct err *err);

/* Resolve rev in the mirror to a commit and its tree (40 hex digits each, NUL-terminated).
 * rev: a branch, a tag (annotated tags are peeled), "HEAD" (the remote's default branch),
 * a full ref name ("refs/pull/7/head"), or a full or abbreviated (>= 4 digits) commit id;
 * a ref wins over an id prefix of the same spelling, as in git. Errors: -ENOENT unknown rev
 * (the message names it and lists some branches that exist), -EINVAL ambiguous id, a
 * malformed rev or one that names no commit, -EUCLEAN the mirror is corrupt. */
int checkout_resolve(const char *mirror, const char *rev, char ret_commit[41], char ret_tree[41],
		     struct err *err);
/* The branch rev names in the mirror, as `git checkout rev` would make it current: "main"
 * for "main", "refs/heads/main" or (when the remote's default branch is main) "HEAD";
 * NULL for a tag, an id, any other ref, or an error. A new string. */
char *checkout_rev_branch(const char *mirror, const char *rev);

/* A materialised tree: the directories an overlay stacks to show it, top first, each
 * held under a shared lock (checkout_cache_prune() leaves a held layer alone) until
 * checkout_tree_release(). A complete tree is one layer; a delta is its own layer (what
 * changed, whiteouts for what is gone) on its parent's layers, down to a complete tree.
 * All owned. */
struct checkout_tree {
	char **layers; /* NULL-terminated: "<cache_dir>/trees/<tree id>" first */
	size_t n_layers;
	int *lock_fds; /* one per layer */
};
void checkout_tree_release(struct checkout_tree *t);

/* Materialise tree_id of mirror in "<cache_dir>/trees/<tree_id>/" unless it is there, and
 * return its layers in *ret (release with checkout_tree_release()). Stacked as overlayfs
 * lower dirs, the layers show what `git checkout` writes with no user or system
 * configuration: modes 0644/0755 (directories 0755), symlinks as symlinks,
 * .gitattributes text/eol/ident filters applied, submodules as empty directories. Files
 * written get an mtime one second before the build began. Built aside and renamed: a
 * crash or a full disk never leaves a half tree. A new tree near one this mirror made
 * before (a few paths changed, no .gitattributes among them, fewer than
 * CHECKOUT_MAX_LAYERS deltas below) is a delta layer on it; otherwise it is complete,
 * hard-linking every file it shares (path, blob, mode) with the nearest complete tree.
 * Either way it costs what changed. Cached trees are never written again: a job reaches
 * one only as a read-only lower layer of an overlay.
 *
 * Errors: -EINVAL hostile tree (the message names the path: "..", ".git", "\\", control
 * characters, duplicate names, a blob that is no blob), -EFBIG a blob over 1 GiB,
 * -EUCLEAN an object is missing or damaged in the mirror (rebuild it, retry once), or the
 * tree's layers are damaged while another user holds them (a tree nobody holds is built
 * afresh; the message says what to remove), -ENOSPC/-EDQUOT the cache is full (nothing is
 * left behind). */
int checkout_materialize(const char *cache_dir, const char *mirror, const char *tree_id,
			 struct checkout_tree *ret, struct err *err);
/* The same, every file, directory, symlink and whiteout of a layer it builds owned by
 * uid:gid (chown needs CAP_CHOWN; (uid_t) -1, (gid_t) -1: ourselves, as
 * checkout_materialize()). In root mode that is SANDBOX_CACHE_UID, mapped onto each job's
 * user per sandbox; rootless it is the caller. A new tree lies on or hard-links from
 * trees of the same owner only. Extra error: -EPERM the tree is cached already for
 * another owner (the message says which), or chown was refused. */
int checkout_materialize_owned(const char *cache_dir, const char *mirror, const char *tree_id,
			       uid_t uid, gid_t gid, struct checkout_tree *ret, struct err *err);

/* Remove least recently used trees until the tree cache holds at most max_bytes (files
 * shared by hard links are counted once), skipping trees in use (locked) and the parents
 * of delta layers still there (a delta goes first), and whatever crashed runs left
 * (temporary trees of dead builders, a parent record without its tree). Mirrors are not counted.
 * Returns the number of trees removed; *ret_freed (may be NULL) gets the bytes freed. */
int checkout_cache_prune(const char *cache_dir, uint64_t max_bytes, uint64_t *ret_freed,
			 struct err *err);

/* What a workspace's .git is made of. All borrowed. */
struct checkout_workspace {
	const char *mirror;	   /* host path of the mirror: objects are read from it */
	const char *mirror_inside; /* the mirror's path as the job sees it: for alternates */
	const char *commit;	   /* full commit id: HEAD */
	const char *branch;	   /* NULL: detached HEAD; else refs/heads/<branch> = commit */
	const char *tree_dir;	   /* the tree's top layer (checkout_tree.layers[0]): the
				    * index takes the stat data of its layers' files */
};

/* Write a minimal git directory at "<dir>/.git" (dir exists; ".git" must not): HEAD,
 * objects/info/alternates -> "<mirror_inside>/objects", config (core.checkStat=minimal,
 * core.trustctime=false, so that the index stays valid under an overlay; remote "origin"
 * with the mirror's URL, which never has userinfo), packed-refs with the mirror's tags and
 * branches (as refs/remotes/origin/<name>), and an index of the commit's tree with the stat
 * data of the files in tree_dir: `git status` there is clean without reading a file.
 * ws->branch NULL gives a detached HEAD (with a reflog line, so `git status` says
 * "HEAD detached at"); a branch gets refs/heads/<branch> and origin as its upstream. Built
 * as "<dir>/.git.tmp-<pid>" and renamed. Errors: -ENOENT unknown commit, -EEXIST ".git"
 * exists, -EINVAL bad arguments, -EUCLEAN corrupt mirror. */
int checkout_workspace_git(const struct checkout_workspace *ws, const char *dir, struct err *err);

/* What the cache holds, for `mayfly cache ls`. Times are wall clock, ms since the epoch
 * (0: unknown). */
struct checkout_mirror_info {
	char *url;	    /* the remote, never with userinfo ("(hidden)" if it had any) */
	char *path;	    /* the bare mirror on this host */
	uint64_t bytes;	    /* on disk */
	int64_t fetched_ms; /* when its last good fetch began */
	int64_t used_ms;    /* its last use by checkout_mirror() */
};
struct checkout_tree_info {
	char id[41];
	uint64_t bytes;	 /* everything in it, files shared with other trees included */
	uint64_t own;	 /* what removing it would free (files no other tree links) */
	int64_t used_ms; /* its last use */
	bool in_use;	 /* someone holds its lock: prune leaves it alone */
	char parent[41]; /* a delta layer's parent, "" for a complete tree */
	unsigned depth;	 /* deltas below and including it: 0 for a complete tree */
};
struct checkout_cache_info {
	struct checkout_mirror_info *mirrors;
	size_t n_mirrors;
	struct checkout_tree_info *trees; /* least recently used first, as prune goes */
	size_t n_trees;
	uint64_t mirror_bytes, tree_bytes; /* totals; tree_bytes counts each file once */
	unsigned trees_in_use;
};

/* List the mirrors and trees of cache_dir (a cache that does not exist is empty). Reads
 * only: never takes a lock but for a moment to test it. Owned by the caller: release with
 * checkout_cache_info_release(). */
int checkout_cache_list(const char *cache_dir, struct checkout_cache_info *ret, struct err *err);
void checkout_cache_info_release(struct checkout_cache_info *info);

/* What `mayfly exec --repo .` takes from a work tree besides its HEAD. All owned. */
struct checkout_snapshot {
	char commit[41]; /* HEAD of the work tree's repository */
	char *git_dir;	/* its git directory (a linked work tree: the main one): the mirror's source
			 */
	char *branch;	/* the branch checked out there, NULL when HEAD is detached */
	char **deleted; /* tracked paths gone from the work tree, relative, top-most
			 * missing directory only; NULL-terminated, NULL when none */
	unsigned files; /* files and symlinks copied into the layer */
	unsigned skipped; /* paths left out: nested repositories, special files, bad names */
	uint64_t bytes;	  /* copied */
};

/* Snapshot the work tree containing path (discovered upwards, as git does) on top of its
 * HEAD: create layer_dir (must not exist; its parent must) holding each modified, added
 * or untracked-not-ignored file (libgit2 status, the repository's own .gitignore and
 * info/exclude), and list the tracked paths deleted. Regular files keep their content,
 * executable bit (0755/0644) and mtime; symlinks are copied as symlinks, never followed;
 * no path is opened through a symlink (each directory is opened O_NOFOLLOW from the work
 * tree's root), so no file outside the work tree is ever read. Everything created is
 * owned by uid:gid ((uid_t) -1: ourselves). The index is not kept: staged and unstaged
 * changes alike appear as changes to HEAD. Errors: -ENOENT not in a git work tree,
 * -EINVAL a bare repository or no commit yet on HEAD, -EFBIG a file over 1 GiB. On error
 * layer_dir is removed. */
int checkout_snapshot(const char *path, const char *layer_dir, uid_t uid, gid_t gid,
		      struct checkout_snapshot *ret, struct err *err);
void checkout_snapshot_release(struct checkout_snapshot *s);
/* The local branch names of the repository at repo_path (a work tree, a bare repository or
 * a mirror), a new strv, empty (not NULL) when there is none. Errors: -ENOENT no
 * repository there. */
int checkout_branches(const char *repo_path, char ***ret, struct err *err);

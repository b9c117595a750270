/* checkout.h - git checkouts for sandboxes: one bare mirror per remote, fetched
 * incrementally; a cache of materialised trees keyed by tree id, each built once, read by
 * many, new ones hard-linking what they share with the nearest cached tree; and a minimal
 * `.git` for a workspace whose objects live in the mirror. Owns every use of libgit2.
 * Never logs, never puts a credential in a message, a file or a URL on disk.
 *
 *   <cache_dir>/git/<sha256 of the normalised URL>.git     bare mirror of every ref;
 *                                                          flock shared by jobs holding it
 *   <cache_dir>/git/<same>.lock                            flock: one fetch at a time;
 *                                                          its mtime is the last use
 *   <cache_dir>/git/.trash-<same>-*                        moved aside, held by a job
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
struct git_index;

/* Credentials for one remote, borrowed for the call. For https, token is sent as the
 * password of username (default "x-access-token", what GitHub expects; GitLab wants
 * "oauth2" or "gitlab-ci-token"). Both NULL: anonymous, unless the URL has userinfo
 * ("https://user:token@host/..."), which is then used and stripped from everything kept. */
struct checkout_cred {
	const char *username;
	const char *token;
	/* ssh (docs/checkout.md, "SSH remotes"): a private key file, read when the fetch
	 * starts and kept only in memory; NULL: the ssh-agent at $SSH_AUTH_SOCK, if any. */
	const char *ssh_key;
	const char *ssh_passphrase; /* for an encrypted ssh_key */
	/* The known_hosts file the server's host key must be in; NULL: ~/.ssh/known_hosts,
	 * then /etc/ssh/ssh_known_hosts. A host key that is unknown or different is refused
	 * (-EACCES, the message gives its SHA256 fingerprint). */
	const char *ssh_known_hosts;
};

enum checkout_mirror_flags {
	/* Use the mirror as it is when it exists: no fetch, no lock, no network. */
	CHECKOUT_NO_FETCH_IF_PRESENT = 1 << 0,
	/* Throw the mirror away and fetch it afresh (after -EUCLEAN from another call). */
	CHECKOUT_REBUILD = 1 << 1,
};

/* Make "<cache_dir>/git/<hash>.git" a current mirror of url and return its path in
 * *ret_mirror (caller frees). url: a local path (made absolute; a work tree's ".git" is
 * the same repository), file://, git://, http(s)://, ssh:// or scp-like ("user@host:path")
 * URL. The hash is of the normalised URL (docs/checkout.md: scheme and host lowercased,
 * userinfo, trailing slashes and one ".git" dropped, ssh's port 22), so
 * "https://h/o/app.git/" and "https://H/o/app" share a mirror, as do "git@h:o/app" and
 * "ssh://h:22/o/app". The first fetch builds the mirror aside and renames it into place:
 * a mirror that exists has been fetched completely at least once.
 *
 * want (NULL, or a full or abbreviated commit id the caller needs): when the mirror has
 * it, return at once, without the lock, so a job never waits for a fetch it does not
 * need. Concurrent callers are serialised on "<hash>.lock"; one that waited while another
 * fetched, with that fetch begun after this call began, does not fetch again. A fetch
 * that fails for want of the mirror's own objects gets the refs checked; a damaged mirror
 * is then thrown away and fetched afresh, once (-EUCLEAN from the other calls means: call
 * again with CHECKOUT_REBUILD, and retry). Errors callers act on: -EINVAL bad URL or an
 * unusable ssh key file, -EACCES authentication, certificate or ssh host key refused,
 * -ENOENT no repository at url (or no such ssh key or known_hosts file),
 * -EHOSTUNREACH the remote cannot be reached or broke the protocol, -EFBIG the remote
 * sent more than 32 GiB, -ETIMEDOUT the fetch took longer than CHECKOUT_FETCH_TIMEOUT_S
 * (checkout_mirror_timed()). A mirror moved aside for a rebuild is deleted at once unless
 * a job holds it (checkout_mirror_hold()). */
int checkout_mirror(const char *cache_dir, const char *url, const struct checkout_cred *cred,
		    const char *want, unsigned flags, char **ret_mirror, struct err *err);

/* The default limit on one fetch, connect to last byte: 10 minutes, time for a cold
 * clone of a few GiB on a link of 10 MB/s, and a silent remote costs that, not forever. */
#define CHECKOUT_FETCH_TIMEOUT_S 600
/* checkout_mirror() with its own limit on the fetch: timeout_s seconds (0: none). libgit2
 * 1.5 has no timeout for connect or read, so every fetch runs in a child process (fork,
 * no exec: the credential stays out of argv and the environment) which is killed at the
 * deadline: -ETIMEDOUT, "fetch from 'URL' did not finish in N s: ...". The cache stays
 * consistent: a first fetch leaves nothing, an update leaves the refs it had (what the
 * killed fetch wrote is removed under the lock, then and before each fetch). The caller
 * must have no threads (fork). */
int checkout_mirror_timed(const char *cache_dir, const char *url, const struct checkout_cred *cred,
			  const char *want, unsigned flags, unsigned timeout_s, char **ret_mirror,
			  struct err *err);

/* Hold the mirror at path (what checkout_mirror() returned) for a job that reads it: *ret_fd
 * gets a shared flock on the mirror's directory, which belongs to that mirror and moves
 * with it. While it is open, a rebuild moves the mirror aside instead of deleting it, and
 * prune leaves it alone. -ESTALE: the mirror at path was pruned or replaced meanwhile; call
 * checkout_mirror() again. */
int checkout_mirror_hold(const char *mirror, int *ret_fd, struct err *err);
/* Let go of a mirror held (fd < 0: nothing), recording the use; a mirror that was moved
 * aside meanwhile is deleted if nobody else holds it. Returns -1, for `fd = ...(fd)`. */
int checkout_mirror_release(const char *mirror, int fd);

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
/* The same, also removing every tree (not in use) whose last use is before
 * unused_before_ms (wall clock, ms since the epoch; 0: none). */
int checkout_cache_prune_unused(const char *cache_dir, uint64_t max_bytes, int64_t unused_before_ms,
				uint64_t *ret_freed, struct err *err);

/* Mirrors (mirror-prune.c): remove least recently used mirrors until they hold at most
 * max_bytes, and every one whose last use is before unused_before_ms (wall clock, ms
 * since the epoch; 0: none). Never one being fetched (its "<hash>.lock" held) nor one a
 * job holds (checkout_mirror_hold()). Also deletes mirrors that rebuilds moved aside once
 * nobody holds them, and first fetches dead callers left. A mirror removed is fetched
 * afresh by its next checkout_mirror(). Returns the number of mirrors removed;
 * *ret_freed (may be NULL) gets the bytes freed, those moved aside included. */
int checkout_mirror_prune(const char *cache_dir, uint64_t max_bytes, int64_t unused_before_ms,
			  uint64_t *ret_freed, struct err *err);

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
	int64_t used_ms;    /* its last use: checkout_mirror(), or a job letting go of it */
	bool in_use;	    /* a job holds it, or it is being fetched: prune leaves it alone */
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
	unsigned trees_in_use, mirrors_in_use;
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
	char **deleted; /* tracked files gone from the work tree and the directories gone
			 * with them, relative, each after what it held (the order to remove
			 * them in); NULL-terminated, NULL when none */
	unsigned files; /* files and symlinks copied into the layer */
	unsigned skipped; /* paths left out: nested repositories, special files, bad names */
	uint64_t bytes;	  /* copied */
	/* For checkout_snapshot_index(): */
	char *index;   /* the work tree's index file (a linked work tree has its own) */
	char *layer;   /* layer_dir */
	char **copied; /* the files and symlinks in the layer, relative; NULL when none */
	bool staged;   /* the index is not HEAD's tree as it is: staged changes, conflicts,
			* intent-to-add, skip-worktree or assume-unchanged bits, a submodule */
	struct git_index *index_read; /* when staged, the index as status read it: owned */
};

/* Snapshot the work tree containing path (discovered upwards, as git does) on top of its
 * HEAD: create layer_dir (must not exist; its parent must) holding each modified, added
 * or untracked-not-ignored file (libgit2 status, the repository's own .gitignore and
 * info/exclude), and list the tracked paths deleted. Regular files keep their content,
 * executable bit (0755/0644) and mtime; symlinks are copied as symlinks, never followed;
 * no path is opened through a symlink (each directory is opened O_NOFOLLOW from the work
 * tree's root), so no file outside the work tree is ever read. Everything created is
 * owned by uid:gid ((uid_t) -1: ourselves). The index is kept by
 * checkout_snapshot_index(), once the workspace's .git exists. Errors: -ENOENT not in a
 * git work tree, -EINVAL a bare repository or no commit yet on HEAD, -EFBIG a file over
 * 1 GiB. On error layer_dir is removed. */
int checkout_snapshot(const char *path, const char *layer_dir, uid_t uid, gid_t gid,
		      struct checkout_snapshot *ret, struct err *err);
/* Give the workspace at dir (its .git written by checkout_workspace_git() for snap's
 * commit, over snap's layer and HEAD's cached tree) the work tree's index: every entry,
 * conflict stages, intent-to-add, skip-worktree and assume-unchanged bits as they are, so
 * that git status, diff --cached and commit there say what they say in the work tree.
 * Stat data is kept where the file the job will see is known to hold the entry's blob
 * (HEAD's file in the cached tree, or a layer file whose hash is the entry's), zero
 * elsewhere (git hashes that file once). Objects the entries need that the mirror lacks
 * (staged blobs, loose in the work tree's repository) are copied into dir's .git/objects.
 * The work tree's index is only read (snap->index_read: as of the snapshot). Nothing is
 * done when it is HEAD's tree as it is. Errors: -EINVAL an index mayfly cannot read (a
 * split or sparse index: the message says the git command that undoes it) or an entry
 * libgit2 refuses (named), -EFBIG a staged blob over 1 GiB, -EIO an object missing or
 * damaged in the work tree's repository. */
int checkout_snapshot_index(const struct checkout_snapshot *snap, const char *mirror,
			    const char *dir, struct err *err);
void checkout_snapshot_release(struct checkout_snapshot *s);
/* The local branch names of the repository at repo_path (a work tree, a bare repository or
 * a mirror), a new strv, empty (not NULL) when there is none. Errors: -ENOENT no
 * repository there. */
int checkout_branches(const char *repo_path, char ***ret, struct err *err);

/* Submodules (submodule.c, submodule-tree.c): what `git clone --recurse-submodules` gives,
 * each submodule's tree from the same cache. Borrowed. */
struct checkout_submodule_opts {
	const char *cache_dir;
	const char *super_url; /* the superproject's URL or path, as given: relative URLs and
				* the credential rule are judged against it (a local one's
				* remote.origin.url when it has one, as git) */
	const struct checkout_cred *cred; /* the superproject's: only to its scheme, host, port */
	uid_t uid;			  /* owner of the trees, as checkout_materialize_owned() */
	gid_t gid;
	bool recursive;		    /* submodules of submodules, CHECKOUT_SUBMODULE_DEPTH deep */
	const char *mirrors_inside; /* mirror i is seen by the job at "<mirrors_inside>/<i>" */
	const char *layers;	    /* a directory of ours where the ".git" file layers go */
	unsigned fetch_timeout;	    /* seconds for each fetch, as checkout_mirror_timed() */
};
#define CHECKOUT_SUBMODULE_DEPTH 8

/* One submodule checked out. All owned. */
struct checkout_submodule_dir {
	char *path;  /* relative to the checkout's root ("lib/a", nested: "lib/a/deps/b") */
	char *layer; /* a directory holding only ".git", a file "gitdir: <relative>" */
	struct checkout_tree tree; /* its commit's cached tree, each layer held while the job
				    * lives */
};
struct checkout_submodules {
	struct checkout_submodule_dir *v; /* parents before their children */
	size_t n;
	char **mirrors;	 /* host paths; mirrors[i] must be visible at <mirrors_inside>/<i> */
	int *mirror_fds; /* mirrors[i] held (checkout_mirror_hold()) until released */
};

/* Check out the submodules of tree_id (in mirror) whose gitlinks .gitmodules (read from
 * the tree, never from a work tree) names, as git's layout has them: each one's git dir at
 * "<git_dir>/modules/<name>" (git_dir: the superproject's .git, host path, writable),
 * written like checkout_workspace_git() (detached HEAD at the gitlink's commit, alternates
 * into its mirror as the job sees it, an index with the tree's stat data) plus
 * core.worktree; the superproject's config gets submodule.<name>.active and .url. Each
 * mirror is fetched with checkout_mirror(want = the gitlink's commit) and each tree is
 * materialised with checkout_materialize_owned(). Gitlinks whose entry says update=none
 * stay empty directories, as in git. The caller mounts, in order, each v[i] at
 * "<checkout dir>/<path>" as {layer, tree layers} and each mirror at its place inside.
 * Errors name the submodule (name, path, URL without userinfo) and what to do: -EINVAL
 * a refused .gitmodules (names, paths, URLs: see submodule.h), a gitlink with no entry,
 * an entry whose path is not a gitlink, nesting deeper than CHECKOUT_SUBMODULE_DEPTH;
 * -ENOENT the commit is not in the submodule's remote; checkout_mirror()'s errors. On
 * error *ret is untouched and the caller removes layers and git_dir. */
int checkout_submodules(const struct checkout_submodule_opts *o, const char *mirror,
			const char *tree_id, const char *git_dir, struct checkout_submodules *ret,
			struct err *err);
void checkout_submodules_release(struct checkout_submodules *s);

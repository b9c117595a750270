/* internal.h - shared by checkout/'s files, its unit tests and its fuzz target: URL
 * normalisation, tree entry name rules, libgit2 set-up and error translation, and the
 * flock helpers of the caches. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct err;
struct checkout_cred;
struct git_cert;
struct git_credential;
struct git_repository;
struct git_tree;
struct checkout_workspace;
struct git_index_entry;
struct stat;
struct checkout_tree;

#define CHECKOUT_MAX_URL    4096
#define CHECKOUT_MAX_BLOB   (1ULL << 30)  /* bytes in one file: blobs are read whole */
#define CHECKOUT_MAX_FETCH  (32ULL << 30) /* bytes one fetch may download */
#define CHECKOUT_MAX_PATH   4095	  /* bytes in a path inside a tree */
#define CHECKOUT_MAX_DEPTH  256		  /* directory levels: each holds an fd */
#define CHECKOUT_SHOWN	    200		  /* bytes of a path or rev shown in messages */
#define CHECKOUT_BASE_TRIES 8		  /* recent trees considered as a base */
#define CHECKOUT_MAX_LAYERS 8		  /* delta layers on a complete tree */
#define CHECKOUT_DELTA_MAX  2048	  /* paths a delta may change; more: complete */
#define CHECKOUT_MAX_INDEX  (1ULL << 30)  /* bytes of a cached index ("<tree>.index") */
#define CHECKOUT_USERNAME   "x-access-token"
#define FETCHED_MARK	    "mayfly-fetched" /* in a mirror: when its last good fetch began */

/* A URL taken apart. key: what names the mirror (sha256 of it); fetch: what libgit2 is
 * given and what the mirror's config records (never userinfo); user and password: the
 * URL's userinfo, if any, for the credential callback only. All owned. */
struct checkout_url {
	char *key;
	char *fetch;
	char *user;
	char *password;
	char *host;    /* remote URLs: lowercased, IPv6 without brackets */
	unsigned port; /* 0: the scheme's default (ssh: 22 is stored as 0) */
	bool local;    /* a path on this host (plain or file://) */
	bool ssh;      /* ssh://, git+ssh://, or scp-like "user@host:path" */
};

/* Parse and normalise url (see checkout_mirror()). Local paths must exist: they are made
 * canonical with realpath(). -EINVAL with a message naming the URL (without its userinfo)
 * when it is refused. */
int checkout_url_parse(const char *url, struct checkout_url *ret, struct err *err);
void checkout_url_release(struct checkout_url *u);
/* True when a URL (as recorded in a mirror's config) has userinfo that may hold a secret:
 * such a URL is never shown or written anywhere a job or a log can read. */
bool checkout_url_has_secret(const char *u);

/* Judge one tree entry name: NULL when fine, else a static reason. Refused: empty, "."
 * and "..", '/', '\\', control characters, ".git" in any case (also with trailing dots or
 * spaces, and its 8.3 alias "git~1"), and ".gitmodules" as a symlink. */
const char *checkout_check_name(const char *name, size_t len, bool is_symlink);
/* A name fit for a message: control bytes become '?', long names are cut. Returns buf. */
const char *checkout_printable(const char *s, char *buf, size_t size);
/* True for exactly 40 lowercase hex digits. */
bool checkout_is_oid(const char *s);

/* Load (dl.h) and initialise libgit2 once per process, isolated from the host's git
 * configuration (global, XDG and system config and attributes are never read). Every
 * entry point calls it first. -ELIBACC: libgit2 is missing, the message says what to
 * install. */
int checkout_git_init(struct err *err);
/* dl.c: dlopen libgit2 and resolve what checkout/ uses; NULL, or why not (in buf). */
const char *checkout_dl_load(char *buf, size_t size);
/* Set err from libgit2's last error for a failed call that returned gerr: the errno is
 * mapped (-ENOENT not found, -EACCES authentication, -EHOSTUNREACH network, -EUCLEAN
 * object storage, -EINVAL otherwise) and the message is "<what>: <libgit2 text>". */
int checkout_git_err(struct err *err, int gerr, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Open the git directory at path exactly (no discovery, no ".git" appended), as bare: a
 * work tree, if it has one, is never looked at. */
int checkout_repo_open(const char *path, struct git_repository **ret, struct err *err);
void checkout_repo_freep(struct git_repository **repo);

/* Do the mirror's refs lead to readable commits and trees? -EUCLEAN-worthy when not: the
 * message names the first ref that does not. */
int checkout_mirror_verify(const char *mirror, struct err *err);

/* Open (creating) dirfd/name and flock it with op (LOCK_SH, LOCK_EX, | LOCK_NB), making
 * sure the lock is on the file that still has that name (a remover unlinks lock files
 * while holding them exclusively). Returns the fd, or -EWOULDBLOCK with LOCK_NB, or
 * -errno. */
int checkout_lock_at(int dirfd, const char *name, int op);
/* The process's umask, read without changing it. */
unsigned checkout_umask(void);

struct checkout_write_stats {
	uint64_t written; /* files and symlinks written */
	uint64_t linked;  /* hard-linked from the base */
	uint64_t dirs;
	uint64_t bytes;	    /* written */
	uint64_t whiteouts; /* a delta's deleted paths */
};

/* Write tree into the empty directory rootfd (borrowed). With base (a tree already
 * materialised complete at base_fd, borrowed, owned by uid:gid too), hard-link each file
 * the two share (path, blob, mode). Filters follow the tree's own .gitattributes. Every
 * file, directory and symlink created is given to uid:gid ((uid_t) -1 and (gid_t) -1:
 * left to us); rootfd itself is the caller's. On error whatever was written stays in
 * rootfd for the caller to remove; the message names the path. */
int checkout_write_tree(struct git_repository *repo, const struct git_tree *tree,
			const struct git_tree *base, int base_fd, int rootfd, uid_t uid, gid_t gid,
			struct checkout_write_stats *stats, struct err *err);

/* Write into the empty directory rootfd (borrowed) only what tree has that parent (a tree
 * already materialised, all of whose names were judged) has not or has otherwise, and an
 * overlayfs whiteout (character device 0/0) for each path of parent that tree lacks: a
 * delta layer, which on top of parent's layers looks exactly like tree checked out. The
 * caller makes sure no .gitattributes differs (filters would). Ownership, modes, times,
 * filters and errors as checkout_write_tree(). */
int checkout_write_delta(struct git_repository *repo, const struct git_tree *tree,
			 const struct git_tree *parent, int rootfd, uid_t uid, gid_t gid,
			 struct checkout_write_stats *stats, struct err *err);

/* layer.c: "<trees>/<id>.parent" holds the tree id a delta layer lies on. */
/* 1 and ret_parent: id is a delta on it; 0: id is complete (or absent); -EUCLEAN: the
 * record is damaged. tdir: the tree cache, borrowed. */
int checkout_layer_parent(int tdir, const char *id, char ret_parent[41]);
/* Deltas from id down to its complete tree (0: complete); -EUCLEAN past
 * CHECKOUT_MAX_LAYERS or a damaged record. */
int checkout_layer_depth(int tdir, const char *id);
/* Record (durably: written and fsynced before the caller renames the layer into place)
 * that id is a delta on parent; parent NULL: id is complete, any stale record goes. */
int checkout_layer_set_parent(int tdir, const char *id, const char *parent, struct err *err);
/* The layers of the present tree id, top first, into *ret: id's own (lock_fd, held shared,
 * taken) then each parent's, locked shared and touched (their last use is at least their
 * child's, so prune meets a delta before its parent). -ESTALE: a record is damaged or a
 * parent is missing (the message says what to remove). */
int checkout_layers_take(int tdir, const char *trees, const char *id, int lock_fd,
			 struct checkout_tree *ret, struct err *err);

/* A set of inode numbers (open addressing). */
struct checkout_inoset {
	uint64_t *v;
	size_t cap, n;
};
/* True when ino was not in the set yet. */
bool checkout_inoset_add(struct checkout_inoset *s, uint64_t ino);
void checkout_inoset_release(struct checkout_inoset *s);

/* Disk use under a directory, sums added to by each call. Trees share files by hard
 * links: bytes counts every entry, own only what removing this directory would free (no
 * other link), unique each inode once across every call that shares seen. */
struct checkout_usage {
	uint64_t bytes, own, unique;
	struct checkout_inoset seen; /* owned: checkout_inoset_release() */
};
/* Walk the directory fd (taken), never following symlinks. -errno on failure. */
int checkout_dir_usage(int fd, struct checkout_usage *u);

/* fast.c: what a checkout of a known commit needs, remembered without libgit2. */
/* Remember in the mirror that commit's tree is tree (best effort). */
void checkout_note_commit(const char *mirror, const char *commit, const char *tree);
/* "<tree_dir>.ws/<key>": where the .git of ws is kept as a template, key naming the
 * mirror, mirror_inside, commit and the mirror's last fetch; NULL when ws cannot have one
 * (a branch, a tree dir outside the cache, a mirror never fetched). */
char *checkout_ws_template(const struct checkout_workspace *ws);
/* Make to_parent/to_name a copy of the directory from whose files are hard links (built
 * aside, renamed). -errno. */
int checkout_ws_link(const char *from, const char *to_parent, const char *to_name);
/* snapindex.c: when libgit2's last error says the index at path is a split or a sparse
 * one (libgit2 1.5 reads neither), set err to say so and how to undo it, and return
 * -EINVAL; else 0. */
int checkout_index_unsupported(const char *path, struct err *err);
/* mirror.c: the path checkout_mirror() gives url's mirror, without fetching or libgit2;
 * and the record of its last use. */
int checkout_mirror_path(const char *cache_dir, const char *url, char **ret, struct err *err);
void checkout_mirror_touch(const char *mirror);
/* Delete the mirrors of hex (NULL: of any remote) that a rebuild or prune moved aside,
 * ".trash-<hex>-*" in the mirrors' dir gdir, unless a job still holds them. Returns how
 * many went. */
int checkout_mirror_sweep(int gdir, const char *hex, struct err *err);

/* fetch-child.c: run fn(arg, err) in a child process (fork, no exec: what fn uses, a
 * credential too, stays in memory) and return its result and struct err as if it had run
 * here. timeout_s (0: none): past it the child is killed and the result is -ETIMEDOUT,
 * "fetch from '<shown>' did not finish in N s: ...". A child that dies without a result is
 * -EIO. Whatever fn leaves on disk when killed is the caller's to clean. */
typedef int checkout_child_fn(void *arg, struct err *err);
int checkout_run_child(checkout_child_fn *fn, void *arg, unsigned timeout_s, const char *shown,
		       struct err *err);

/* ssh.c: an ssh remote's key, agent and host key checking, for mirror.c's callbacks. */
enum checkout_kh {
	CHECKOUT_KH_UNKNOWN, /* no line names the host */
	CHECKOUT_KH_MATCH,   /* a line names the host with this key */
	CHECKOUT_KH_CHANGED, /* lines name the host, none with this key */
	CHECKOUT_KH_REVOKED, /* a "@revoked" line has this key */
};
/* Look host up in known_hosts text (OpenSSH's format: comma-separated patterns with '*',
 * '?' and '!', "[host]:port" for a port other than 22, hashed "|1|salt|hmac" names,
 * "@revoked" markers; "@cert-authority" lines and lines it cannot read are skipped) for
 * key (the raw public key blob). *ret_line gets the deciding line (1-based) unless
 * UNKNOWN. port 0 or 22: the plain host name. */
enum checkout_kh checkout_known_hosts_match(const char *text, size_t len, const char *host,
					    unsigned port, const uint8_t *key, size_t key_len,
					    unsigned *ret_line);
#define CHECKOUT_SSH_FP_SIZE 52 /* "SHA256:" and 43 base64 digits */
/* What `ssh-keygen -l` shows for a raw public key: "SHA256:<unpadded base64>". */
void checkout_ssh_fingerprint(const uint8_t *key, size_t len, char buf[CHECKOUT_SSH_FP_SIZE]);

struct checkout_ssh {
	bool on;
	char *key;		 /* the private key's text (wiped when released); NULL: agent */
	const char *key_file;	 /* borrowed: where it came from, for messages */
	const char *passphrase;	 /* borrowed */
	const char *known_hosts; /* borrowed; NULL: ~/.ssh/known_hosts and the system's */
	char *host;		 /* the URL's */
	unsigned port;		 /* 0: 22 */
	bool rsa;		 /* the key is RSA (libssh2 1.10 signs with SHA-1 only) */
	/* One fetch (checkout_ssh_begin() resets): */
	bool offered, agent, refused, missing, host_refused;
	char user[128]; /* the account the credential was offered for, messages */
	char why[448];	/* why the host was refused */
};
/* Set s up for u (an ssh URL): read and check the key file of cred (refused: a public key,
 * not a key, passphrase-protected without cred->ssh_passphrase), check that the known
 * hosts file is readable. Release s with checkout_ssh_release() whatever this returns. */
int checkout_ssh_init(struct checkout_ssh *s, const struct checkout_url *u,
		      const struct checkout_cred *cred, struct err *err);
void checkout_ssh_release(struct checkout_ssh *s);
/* Forget what one fetch tried (NULL-safe). */
void checkout_ssh_begin(struct checkout_ssh *s);
/* libgit2's credential callback for the ssh key types: the key, else the agent, once. */
int checkout_ssh_credential(struct checkout_ssh *s, struct git_credential **out, const char *user,
			    unsigned allowed);
/* libgit2's certificate callback: 0 when the host key is known, else GIT_ECERTIFICATE
 * with the reason kept for checkout_ssh_fetch_err(). */
int checkout_ssh_check_host(struct checkout_ssh *s, struct git_cert *cert, const char *host);
/* After a failed fetch: -EACCES with an ssh-specific message (host refused, no key, key
 * refused), or 0 when the failure was not ssh's. */
int checkout_ssh_fetch_err(const struct checkout_ssh *s, const char *shown, struct err *err);

/* workspace.c: an index entry's stat data from st (what git records and compares). */
void checkout_stat_to_entry(const struct stat *st, struct git_index_entry *e);

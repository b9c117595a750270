/* services.h - PostgreSQL and Redis for jobs, from the host's own binaries. This module
 * finds the binaries, keeps initdb'd PostgreSQL data directories as templates in a cache
 * (a job's data directory is an overlay whose lower layer is a template), builds the
 * command lines of throwaway servers, starts and stops processes, waits for a server by
 * speaking its protocol (no sleeps), sets the job's password, runs init SQL files and
 * makes the job's variables. Where the servers run (the sandbox's namespaces, as which
 * user) is the caller's choice. Never logs. No password ever appears in an argv, an error
 * message or a file outside the server's own catalog; PostgreSQL receives a SCRAM verifier,
 * Redis its password on stdin. docs/services.md explains kinds, settings and limits. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct err;

enum svc_kind {
	SVC_POSTGRES = 1,
	SVC_REDIS = 2,
};

#define SVC_PATH_MAX	 512
#define SVC_VERSION_MAX	 32
#define SVC_IDENTITY_LEN 16 /* hex digits naming a server binary's identity */
#define SVC_PASSWORD_LEN 24 /* svc_password_new(): 24 of [A-Za-z0-9], 142 bits */
#define SVC_PG_PORT	 5432
#define SVC_REDIS_PORT	 6379

/* One installed kind and version. Paths are host paths; a sandbox that binds the host's
 * /usr sees the same paths. */
struct svc_install {
	enum svc_kind kind;
	unsigned major;		       /* postgres: 15; redis: 7 when known, else 0 */
	char version[SVC_VERSION_MAX]; /* postgres: "15"; redis: "7.0.15" when known, else "" */
	char bindir[SVC_PATH_MAX];     /* "/usr/lib/postgresql/15/bin", "/usr/bin" */
	char server[SVC_PATH_MAX];     /* bindir + "/postgres" or "/redis-server" */
	/* (device, inode, size, mtime, ctime) of the server binary, hashed: an upgrade or a
	 * reinstall changes it, and with it the templates' names. */
	char identity[SVC_IDENTITY_LEN + 1];
};

/* Find the binaries of kind "postgres" or "redis" under root (NULL: "/"; tests pass a
 * fake tree). version: NULL or "" for the newest installed; for postgres a major version
 * ("15"; "15.4" selects 15, the minor is the installed package's); for redis a prefix of
 * `redis-server --version` in dotted parts ("7", "7.0"; asking runs that command once).
 * Errors callers act on: -EINVAL unknown kind or malformed version, -ENOENT not installed
 * (the message names the Debian package to install, and the versions that are). */
int svc_find(const char *root, const char *kind, const char *version, struct svc_install *ret,
	     struct err *err);

/* For `mayfly services ls`: every installed kind and version, newest first per kind. */
struct svc_info {
	struct svc_install inst;
	char full_version[SVC_VERSION_MAX]; /* from --version ("15.18"); "" if it failed */
	bool is_default;		    /* what svc_find() picks without a version */
	unsigned templates;		    /* complete templates of this binary in cache */
};
/* *ret is a new array (free()) of *ret_n entries, possibly none. cache_dir may be NULL. */
int svc_list(const char *root, const char *cache_dir, struct svc_info **ret, size_t *ret_n,
	     struct err *err);

/* ---- PostgreSQL templates ---- */

/* What a template is made of; each distinct value gets its own template. */
struct svc_pg_init {
	const char *user;      /* POSTGRES_USER, the bootstrap superuser; NULL: "postgres" */
	const char *db;	       /* POSTGRES_DB, created in the template; NULL: user */
	char *const *settings; /* initdb options "key=value" (see docs/services.md: encoding,
				* locale, lc-collate, lc-ctype, lc-messages, locale-provider,
				* icu-locale, data-checksums, auth-host); NULL-terminated; NULL */
	/* Owner of the template's files; (uid_t) -1 and (gid_t) -1: ourselves. The host's
	 * root: any uid but 0 (best one that no process runs as; the caller idmaps it onto
	 * the server's uid under the clone); initdb runs as it, named or not. Root of a user
	 * namespace with one id (`unshare -r`): 0, and initdb runs as uid 1000 in a user
	 * namespace of its own mapped onto us. Not root: our own ids. */
	uid_t uid;
	gid_t gid;
};

/* Make sure a template for (inst, init) exists in
 * "<cache_dir>/templates/postgres-<major>-<hash>/" and return its data directory (the
 * lower layer for a job's overlay, "…/data") in *ret_datadir (caller frees). A complete
 * template is used as it is (a few stat() calls); otherwise initdb runs once: built in a
 * ".tmp-" sibling, a marker written last, renamed into place, so no caller ever sees a
 * half template. Concurrent callers wait on a lock while one builds, then use its result.
 * A damaged template (marker, PG_VERSION or global/pg_control missing or wrong, wrong
 * owner or mode) is moved aside and rebuilt; new binaries get a new template. Returns 0
 * when the template was there, 1 when it was built now. Errors callers act on: -EINVAL
 * bad user, db or setting; -EPERM the template cache belongs to someone else or others
 * may write it, or uid is not ours; -ENOSPC, -EDQUOT the cache is full; -EIO initdb
 * failed (its first error line is in the message). The cache is never cleaned here: TODO(gc):
 * remove templates of binaries no longer installed, once jobs hold a lock on the template they use.
 */
int svc_pg_template(const char *cache_dir, const struct svc_install *inst,
		    const struct svc_pg_init *init, char **ret_datadir, struct err *err);

/* ---- command lines ---- */

/* A throwaway PostgreSQL server for one job. */
struct svc_pg_server {
	const char *datadir;	/* the job's clone of a template */
	const char *socket_dir; /* its unix socket directory, writable by the server */
	unsigned port;		/* 0: 5432 */
	char *const *settings;	/* overrides "key=value", NULL-terminated, may be NULL */
};
/* The effective server settings, "key=value" in order: mayfly's throwaway defaults
 * (docs/services.md) with overrides applied (a later key replaces an earlier one; a new
 * key is appended). -EINVAL for a malformed entry or a key mayfly sets itself (port,
 * unix_socket_directories, data_directory, config_file, hba_file, ident_file). */
int svc_pg_settings(char *const *overrides, char ***ret, struct err *err);
/* The argv of the server (new strv): postgres -D DIR -p PORT -c key=value... It listens
 * on 127.0.0.1 and ::1 and on socket_dir; logs go to stderr. */
int svc_pg_argv(const struct svc_install *inst, const struct svc_pg_server *srv, char ***ret_argv,
		struct err *err);

struct svc_redis_server {
	unsigned port;	       /* 0: 6379 */
	const char *dir;       /* its working directory (SAVE writes there); NULL: /tmp */
	const char *password;  /* NULL: none, as the official image */
	char *const *settings; /* overrides "key=value" ("save=60 1": words become arguments) */
};
/* The argv of redis-server (new strv) and, when there is a password, the configuration
 * text to give it on stdin (*ret_stdin, caller frees; else NULL): the password is never
 * in an argv. No persistence, loopback only, hz 100 (a SIGTERM stop in ~10 ms, not ~100).
 * -EINVAL for a malformed override or a key mayfly sets itself (port, requirepass,
 * daemonize, include). */
int svc_redis_argv(const struct svc_install *inst, const struct svc_redis_server *srv,
		   char ***ret_argv, char **ret_stdin, struct err *err);

/* ---- processes ---- */

struct svc_spawn {
	char *const *envp;	/* the whole environment; NULL: empty */
	const char *stdin_data; /* given on stdin through a pipe (at most 4 KiB); NULL:
				 * /dev/null */
	int out_fd;		/* stdout and stderr (borrowed); -1: /dev/null */
	uid_t uid;		/* become these first (needs root); (uid_t) -1: stay */
	gid_t gid;
	/* Become uid and gid in a new user namespace where they map onto our own ids: what
	 * lets root in a user namespace with a single id (`unshare -r`) run PostgreSQL,
	 * which refuses uid 0, on its own files. */
	bool userns;
	const char *cwd; /* NULL: "/" */
};
/* Start argv[0] (an absolute path) as a child in its own process group (pgid = pid) with
 * default signal handling, no other fds, and a parent-death signal (SIGKILL). Returns
 * once the exec succeeded or failed (the child reports why). *ret_pid is the caller's to
 * reap (svc_stop, or cleanup_pid). */
int svc_spawn(char *const *argv, const struct svc_spawn *how, pid_t *ret_pid, struct err *err);
/* Stop a server started by svc_spawn() and reap it: PostgreSQL gets SIGQUIT (immediate
 * shutdown, no checkpoint), Redis SIGTERM; after timeout_ms, the whole process group gets
 * SIGKILL. *ret_status (may be NULL): its wait status. */
int svc_stop(pid_t pid, enum svc_kind kind, unsigned timeout_ms, int *ret_status, struct err *err);

/* ---- readiness and setup ---- */

/* Where a server listens and who connects. */
struct svc_target {
	const char *host;     /* IP literal, "localhost" (127.0.0.1), or an absolute unix
			       * socket directory (PostgreSQL) or socket path (Redis) */
	unsigned port;	      /* 0: the kind's default */
	const char *user;     /* PostgreSQL role; Redis ACL user (NULL: default) */
	const char *password; /* NULL: none offered */
	const char *db;	      /* PostgreSQL database; NULL: user */
	pid_t server;	      /* > 0: give up as soon as this child exits (not reaped) */
};

/* Wait until PostgreSQL accepts t's connection and answers "SELECT 1". Connection refused,
 * a missing socket and "the database system is starting up" are retried every 1-2 ms until
 * timeout_ms. Authentication: trust, cleartext password and SCRAM-SHA-256 (whose server
 * signature is checked); MD5 is refused (-ENOTSUP: templates never use it). Errors:
 * -ETIMEDOUT, -ECHILD the server exited (t->server), -EACCES authentication failed,
 * -ENOENT no such database or role, -EPROTO anything else the server said; the message
 * carries the server's own (severity, text, SQLSTATE), never the password. */
int svc_pg_ready(const struct svc_target *t, unsigned timeout_ms, struct err *err);
/* Wait as svc_pg_ready(), then give role the password (ALTER ROLE ... PASSWORD with a
 * SCRAM-SHA-256 verifier computed here, so the server never sees, and cannot log, the
 * password itself). The verifier is computed before connecting, while the server starts.
 * t is normally the server's unix socket, where the template trusts local connections.
 * -EINVAL for a password that is not printable ASCII (SASLprep would change it) or longer
 * than 1024 bytes. This is the readiness check of a job's server. */
int svc_pg_set_password(const struct svc_target *t, const char *role, const char *password,
			unsigned timeout_ms, struct err *err);
/* Connect to t once (no retries: for a server that is already up, such as the admin
 * connection of a postgres-role secret), log in and run sql as one simple query (several
 * statements run in one implicit transaction). Errors as svc_pg_ready(), and
 * -ECONNREFUSED, -ETIMEDOUT past timeout_ms; the message names the server and user, and
 * carries the server's own error, never the password. */
int svc_pg_exec(const struct svc_target *t, const char *sql, unsigned timeout_ms, struct err *err);
/* PostgreSQL's stored form of password ("SCRAM-SHA-256$4096:salt$StoredKey:ServerKey")
 * with a random salt, for CREATE/ALTER ROLE ... PASSWORD: the server never sees the
 * password. -EINVAL as svc_pg_set_password(). */
#define SVC_PG_VERIFIER_MAX 160
int svc_pg_verifier(const char *password, char out[SVC_PG_VERIFIER_MAX], struct err *err);
/* name as a quoted SQL identifier ("a""b"), a new string. */
char *svc_pg_quote_ident(const char *name);
/* Run SQL files in order with inst's psql in one session per file list (as the official
 * image does: ON_ERROR_STOP, no psqlrc; psql's meta-commands work), connecting to t, in
 * directory cwd (NULL: "/"; relative file names are shown as given). On the first error:
 * -EINVAL with "init file 'F' line N: ERROR: message" (psql's file and line: where the
 * failing statement ends), -EIO when psql could not run or connect, -ETIMEDOUT past
 * timeout_ms (psql is killed). */
int svc_pg_exec_files(const struct svc_install *inst, const struct svc_target *t, const char *cwd,
		      char *const *files, unsigned timeout_ms, struct err *err);
/* Wait until Redis answers PING with PONG (AUTH first when t->password). Retries as
 * svc_pg_ready(); -EACCES for a refused password, -ECHILD, -ETIMEDOUT, -EPROTO. */
int svc_redis_ready(const struct svc_target *t, unsigned timeout_ms, struct err *err);

/* ---- the job's side ---- */

/* A new random password: SVC_PASSWORD_LEN characters of [A-Za-z0-9], NUL-terminated. */
int svc_password_new(char buf[SVC_PASSWORD_LEN + 1], struct err *err);

/* What the job is told. */
struct svc_vars {
	const char *host; /* NULL: "localhost" */
	bool postgres;
	unsigned pg_port;			   /* 0: 5432 */
	const char *pg_user, *pg_password, *pg_db; /* user NULL: "postgres"; db NULL: user */
	bool redis;
	unsigned redis_port;	    /* 0: 6379 */
	const char *redis_password; /* NULL: none */
};
/* DATABASE_URL, PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE (with postgres) and
 * REDIS_URL (with redis) as a new strv of "KEY=value" (URL parts percent-encoded). */
char **svc_env(const struct svc_vars *v);

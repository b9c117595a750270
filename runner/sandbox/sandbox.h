/* sandbox.h - the life of one sandbox: a spec, then plan, walls, job, teardown; the
 * journal that lets `mayfly gc` finish what a killed mayfly left; ps, destroy and gc.
 * Front ends build a struct sandbox_spec and call sandbox_run(); they never touch
 * namespaces. Never logs errors (returns them); warnings go to the caller's callback. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct err;
struct jail_bind;
struct secret_caller;
struct secret_lease;

/* A writable, copy-on-write view of read-only shared dirs (a cached git tree, a database
 * template) at dst: an overlay whose upper layer lives on the sandbox's scratch tmpfs,
 * so what the job writes stays in the sandbox and the lower dirs are never written. The
 * merged root belongs to the job's user and has the top lower's mode; files owned on
 * disk by sandbox_cache_owner() appear owned by the job's user. */
struct sandbox_overlay {
	char *dst;     /* absolute path inside, e.g. "/workspace" */
	char **lowers; /* host dirs, top first, NULL-terminated (at least one) */
	char **remove; /* paths relative to dst deleted once mounted (whiteouts in the upper
			* layer); NULL-terminated, may be NULL */
};

struct sandbox_spec {
	char **argv;	/* the command */
	char **env;	/* K=V added to the defaults (PATH, HOME, ...) */
	char *workdir;	/* NULL: /workspace */
	char *hostname; /* NULL: "mayfly" */
	char *rootfs;	/* NULL: the host's system dirs; a directory or a tarball */
	struct jail_bind *binds;
	size_t n_binds;
	uint64_t memory_bytes;	/* 0: no limit */
	unsigned pids;		/* 0: no limit */
	unsigned cpu_millis;	/* 0: no limit */
	uint64_t disk_bytes;	/* size of the writable scratch; 0: the default */
	uint64_t ttl_ms;	/* 0: the default */
	uid_t uid;		/* the job's user inside (SANDBOX_DEFAULT_UID unless set) */
	unsigned seccomp_flags; /* enum sc_flags */
	bool tty;		/* -t: a terminal made inside, relayed to stdio */
	char **services;	/* --service KIND[:VERSION]: servers started before the job */
	char **service_env;	/* POSTGRES_USER=, POSTGRES_PASSWORD=, POSTGRES_DB= */
	char **service_init;	/* host paths of SQL files run once before the job */
	char **service_config;	/* "KIND:key=value" server settings over mayfly's defaults */
	struct sandbox_overlay *overlays;
	size_t n_overlays;
	char **allow_hosts;	   /* --allow-host NAME|*.SUFFIX[:PORT]: egress through the
				    * host-side proxy (docs/network.md); NULL: none */
	bool allow_private_egress; /* exact names may resolve to private addresses */
	/* A postgres-role lease (sandbox_secrets_lease() sets them): the database's address,
	 * resolved on the host, to which the sandbox's 127.0.0.1:forward_port is forwarded
	 * (the job's URL points there). forward_port 0: none. */
	char forward_ip[46];
	unsigned forward_port;
	char **grants;	     /* --grant sign:NAME | http:NAME@URL (docs/broker.md) */
	bool broker_dry_run; /* the broker sends nothing and answers synthetically */
	/* Secrets (sandbox_secrets_lease()); both borrowed, NULL: none. */
	const struct secret_lease *lease;
	const struct secret_caller *secret_caller;
	const char *secret_key_file; /* borrowed; NULL: the default master key */
};

/* Shared caches (trees, templates) are owned on disk by one id outside every sandbox's
 * host range in root mode, and by the caller rootless: who must own the lower dirs'
 * files of a sandbox_overlay. */
#define SANDBOX_CACHE_UID 1073741823u /* 2^30 - 1, just below the sandboxes' ranges */
#define SANDBOX_CACHE_GID 1073741823u
void sandbox_cache_owner(uid_t *ret_uid, gid_t *ret_gid);

#define SANDBOX_DEFAULT_UID    1000
#define SANDBOX_DEFAULT_DISK   (2ULL << 30)
#define SANDBOX_DEFAULT_PIDS   4096
#define SANDBOX_DEFAULT_TTL_MS (3600ULL * 1000)

/* Exit statuses of `mayfly exec` that are mayfly's own (see docs/mayfly.1). */
enum sandbox_exit {
	SANDBOX_EXIT_TTL = 124,	     /* the TTL fired: everything in the sandbox was killed */
	SANDBOX_EXIT_FAILURE = 125,  /* mayfly could not make the sandbox */
	SANDBOX_EXIT_NOEXEC = 126,   /* the command exists but cannot be executed */
	SANDBOX_EXIT_NOTFOUND = 127, /* the command was not found in the sandbox */
};

struct sandbox_result {
	char id[17];
	int exit_code; /* the job's status, or one of enum sandbox_exit */
	bool ttl_expired;
	bool oom_killed;
	bool destroyed;	    /* by `mayfly destroy` */
	double setup_ms;    /* mayfly start to the job's exec */
	double run_ms;	    /* exec to the job's end */
	double teardown_ms; /* the job's end to everything gone */
};

typedef void sandbox_warn_fn(void *userdata, const char *msg);

typedef void sandbox_started_fn(void *userdata);

struct sandbox_env {
	const char *state_dir; /* resolved; see sandbox_state_dir() */
	sandbox_warn_fn *warn; /* warnings (limits not applied, ...); may be NULL */
	void *userdata;
	sandbox_started_fn *started; /* called once the job's exec succeeded; may be NULL */
	void *started_data;
	int stdio[3]; /* the job's stdin, stdout, stderr; borrowed */
};

/* The state directory: override, else $MAYFLY_STATE_DIR, else /var/lib/mayfly for root,
 * else $XDG_STATE_HOME/mayfly (~/.local/state/mayfly). A new string. */
char *sandbox_state_dir(const char *override);

/* Check a spec against this host (limits that exceed it, binds, rootfs, user) before
 * anything is created. Errors say what, where and what to do. */
int sandbox_spec_check(const struct sandbox_spec *spec, struct err *err);
void sandbox_spec_release(struct sandbox_spec *spec);

/* Run spec's command in a new sandbox and tear it all down. Returns 0 once the job ran
 * (its status in res->exit_code, whatever it was); < 0 when mayfly failed, with
 * res->exit_code set to 125, 126 or 127 and err saying why. Signals SIGINT, SIGTERM,
 * SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH received meanwhile go to the job. */
int sandbox_run(const struct sandbox_spec *spec, const struct sandbox_env *env,
		struct sandbox_result *res, struct err *err);

/* Live sandboxes, for `mayfly ps`. */
struct sandbox_info {
	char id[17];
	char *command;
	int64_t created_ms;  /* wall clock, ms since the epoch */
	int64_t deadline_ms; /* wall clock */
	uint64_t memory_bytes;
	pid_t pid; /* the mayfly that owns it */
};
int sandbox_list(const char *state_dir, struct sandbox_info **ret, size_t *ret_n, struct err *err);
void sandbox_info_free(struct sandbox_info *v, size_t n);
/* Kill sandbox `id` now (its mayfly then reports it and exits); -ENOENT if unknown. */
int sandbox_destroy(const char *state_dir, const char *id, struct err *err);
/* Finish the teardown of every sandbox whose mayfly is gone: kill, remove its cgroup,
 * its journal and scratch. *ret_n: how many were cleaned. */
int sandbox_gc(const char *state_dir, unsigned *ret_n, struct err *err);

/* Secrets for a sandbox: what a front end asks for. */
struct sandbox_secrets_req {
	const char *env;      /* --from */
	char **names;	      /* --secret, --secret-file; NULL-terminated */
	bool *as_file;	      /* per name: /run/secrets/NAME */
	bool *brokered;	      /* per name: for the broker only (--grant) */
	const char *key_file; /* NULL: the default (secret_key_path()) */
	uint64_t lease_ms;    /* 0: the sandbox's TTL */
	const struct secret_caller *caller;
};
/* Before any sandbox exists: open the vault, check every name (one error naming all that
 * is missing and what exists) and the policy (<state>/secrets/policy.json; a denial names
 * the rule and is audited), and unseal. Sets spec->ttl_ms to the lease's length when that
 * is shorter; *ret_note (or NULL) says what was clamped. The caller sets spec->lease and
 * spec->secret_caller, and frees *ret after sandbox_run(); sandbox_run() delivers the
 * values and audits the lease and its release. */
int sandbox_secrets_lease(const char *state, const struct sandbox_secrets_req *req,
			  struct sandbox_spec *spec, struct secret_lease **ret, char **ret_note,
			  struct err *err);
/* The end of a lease (after sandbox_run(), whatever happened, or when it never ran):
 * postgres-role leases' roles lose their sessions and are dropped (their entries unsealed
 * again from the vault, with key_file as at the lease), audited as "revoke"
 * with the sandbox id (id NULL or "": none). The first failure in err; the others are
 * audited. A no-op for other leases and when called again. */
int sandbox_secrets_revoke(const char *state, const char *id, struct secret_lease *lease,
			   const char *key_file, const struct secret_caller *caller,
			   struct err *err);
/* The masking relay: replace stdio[1] and stdio[2] with pipes whose output a relay
 * process masks (every leased value and its encodings become "***") on its way to the
 * original fds. sandbox_mask_finish() closes our ends and waits until the relay has
 * written everything. */
struct sandbox_mask;
int sandbox_mask_start(const struct secret_lease *lease, int stdio[3], struct sandbox_mask **ret,
		       struct err *err);
/* Fork the relay (a sandbox_started_fn; userdata: the mask): once the job runs, so the fork
 * is not on the way to its start. sandbox_mask_finish() does it if it was not done. */
void sandbox_mask_run(void *userdata);
void sandbox_mask_finish(struct sandbox_mask *m);

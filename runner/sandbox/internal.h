/* internal.h - shared by the sandbox module's files: state.c (state dir, slots, clocks),
 * journal.c (one record per live sandbox), run.c (the life of one sandbox) and gc.c
 * (ps, destroy, gc). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "sandbox/sandbox.h"
#include "util/cleanup.h"

struct err;

/* One live sandbox, as <state>/sandboxes/<id>/journal.json records it. The directory's
 * "lock" file is flock()ed by the owning mayfly for the sandbox's whole life: a lock that
 * can be taken means the owner is gone and the entry is garbage. */
struct journal_rec {
	char id[17];
	pid_t owner;	     /* the mayfly process */
	pid_t init_pid;	     /* pid 1 of the sandbox, as the host sees it */
	uint64_t init_start; /* its start time (/proc/<pid>/stat field 22): pid reuse guard */
	int64_t created_ms;
	int64_t deadline_ms;
	char *cgroup; /* cg_paths(), or NULL */
	char *command;
};

int state_prepare(const char *state, struct err *err);
/* Make a new sandbox directory with a random id, locked by *ret_lock_fd. */
int journal_begin(const char *state, char ret_id[17], int *ret_lock_fd, struct err *err);
int journal_write(const char *state, const struct journal_rec *rec, struct err *err);
int journal_read(const char *state, const char *id, struct journal_rec *rec, struct err *err);
void journal_rec_release(struct journal_rec *rec);
int journal_remove(const char *state, const char *id, struct err *err);
/* Whether the owner of entry id still holds its lock. */
bool journal_is_live(const char *state, const char *id);

/* A slot number unique among live sandboxes (its lock held by *ret_fd): picks the host
 * uid range of a root-mode sandbox, so no two sandboxes share host ids. */
int slot_acquire(const char *state, unsigned *ret_slot, int *ret_fd, struct err *err);
#define SLOT_MAX      16000
#define SLOT_UID_BASE 0x40000000u /* far above /etc/subuid ranges and real users */

uint64_t proc_start_time(pid_t pid); /* 0 if gone */
int64_t wall_ms(void);
double mono_ms(void);

/* The job's whole environment: defaults, then spec->env on top. A new vector. */
char **spec_build_env(const struct sandbox_spec *spec, const char *id);
/* Put dir first in env's PATH, unless the caller set PATH with --env. */
void spec_env_prepend_path(const struct sandbox_spec *spec, char ***env, const char *dir);
/* The job's uid/gid and its home directory inside. */
const char *spec_home(const struct sandbox_spec *spec);

/* Root mode (a range of host ids per sandbox) or rootless (one id: ours). */
bool sandbox_root_mode(void);

/* The overlays of one sandbox, ready for jail_config: in root mode each lower is an
 * idmapped detached mount (SANDBOX_CACHE_UID shown as the job's host id). */
struct ovl_set;
int overlays_prepare(struct sandbox_overlay *const *src, size_t n, bool root_mode, uid_t host_uid,
		     gid_t host_gid, struct ovl_set **ret, struct err *err);
const struct jail_overlay *overlays_jail(const struct ovl_set *s, size_t *ret_n);
struct ovl_set *overlays_free(struct ovl_set *s);

struct sc_policy;
/* The seccomp policy for flags, from <state>/cache when it was compiled by this binary. */
int policy_get(const char *state, unsigned flags, struct sc_policy **ret, struct err *err);

/* --service: plan on the host (find binaries, command lines, the job's variables in
 * *env_add, a new strv), start in pid 1 (a jail_prestart_fn; userdata: the plan). *ret is
 * NULL when no service was asked for. */
struct svc_plan;
int services_plan(const struct sandbox_spec *spec, const char *state_dir, struct svc_plan **ret,
		  char ***env_add, struct err *err);
int services_start(void *userdata, struct err *err);
/* A jail_reaped_fn: a service that died before the job is reported on notice_fd. */
void services_reaped(void *userdata, pid_t pid, int status, int notice_fd);
struct svc_plan *services_plan_free(struct svc_plan *p);
/* A directory to put first in the job's PATH (PostgreSQL's own bindir, so that psql,
 * pg_dump... are the server's version and not Debian's Perl wrapper), or NULL. */
const char *services_bindir(const struct svc_plan *p);
/* The overlay a plan's services need (PostgreSQL's data dir), or NULL. */
struct sandbox_overlay *services_overlay(struct svc_plan *p);

/* --allow-host (egress.c): *ret is NULL when the spec grants no host. egress_jail_fd()
 * is jail_config.egress_fd (-1 for NULL); egress_env() adds the proxy variables to the
 * job's environment; egress_start(), once jail_start() succeeded, takes the listening
 * socket from pid 1 and starts the proxy under policy (the job's seccomp filter; NULL:
 * none); egress_free() stops and reaps it. */
struct egress;
int egress_prepare(const struct sandbox_spec *spec, struct egress **ret, struct err *err);
int egress_jail_fd(const struct egress *e);
/* A postgres-role lease's database (spec->forward_port): the same, in the proxy's
 * fixed-destination mode; *ret NULL without one. Its jail fd is jail_config.forward_fd;
 * egress_start() and egress_free() serve both. */
int forward_prepare(const struct sandbox_spec *spec, struct egress **ret, struct err *err);
void egress_env(const struct sandbox_spec *spec, char ***envp);
int egress_start(struct egress *e, const char *state_dir, const char *id,
		 const struct sc_policy *policy, struct err *err);
struct egress *egress_free(struct egress *e);
DEFINE_CLEANUP(struct egress *, egress_free)

/* Secrets (secrets.c): the lease's variables appended to *envp and the lease audited;
 * *ret is NULL when the spec has no lease. secrets_prestart (a jail_prestart_fn, userdata
 * the delivery) writes the --secret-file values under /run/secrets and then starts the
 * services. secrets_release() wipes the values in envp and audits the release. */
/* postgres-role leases (pgrole.c): pgroles_lease() makes each such entry's role (valid
 * until the lease ends) and puts its URL in the lease in place of the entry, and the
 * database's address in spec->forward_ip/forward_port; pgroles_revoke() (the entries
 * unsealed from v when the lease forgot them; v may be NULL otherwise) terminates the
 * sessions of and drops every role still made (their names appended to *ret_roles when
 * not NULL), the first error in err; pgrole_drop_source() drops role with the admin
 * connection of an entry's value (gc). */
int pgroles_lease(struct secret_lease *l, struct sandbox_spec *spec, struct err *err);
struct secret_vault;
int pgroles_revoke(struct secret_lease *l, const struct secret_vault *v, char ***ret_roles,
		   struct err *err);
struct secret_lease;
struct secret_value;
int pgrole_drop_source(const struct secret_value *src, const char *role, struct err *err);

struct secrets_delivery;
int secrets_deliver(const struct sandbox_spec *spec, const char *state, const char *id,
		    char ***envp, struct svc_plan *services, struct secrets_delivery **ret,
		    struct err *err);
int secrets_prestart(void *userdata, struct err *err);
struct secrets_delivery *secrets_release(struct secrets_delivery *d, char **envp);
/* gc, for a sandbox whose mayfly is gone: audit the release of its lease, if it had one. */
void secrets_gc_release(const char *state, const char *id);

/* --grant (grants.c): the sandbox's broker. grants_prepare() checks the grants against
 * the lease (their values leased "brokered"), makes the socket's directory and adds its
 * binds (/run/mayfly) and MAYFLY_BROKER_SOCKET; *ret is NULL without grants.
 * grants_start(), once pid 1 exists and before the job starts, forks the broker, which
 * only answers peers in init_pid's pid namespace with uid peer_uid (host view).
 * grants_free() kills and reaps it. */
struct grants;
struct jail_bind;
int grants_prepare(const struct sandbox_spec *spec, const char *state, const char *id,
		   struct grants **ret, struct jail_bind **binds, size_t *n_binds, char ***envp,
		   struct err *err);
int grants_start(struct grants *g, pid_t init_pid, uid_t peer_uid, struct err *err);
struct grants *grants_free(struct grants *g);

/* secrets.c - a sandbox's secrets: the lease a front end asks for (checked before any
 * sandbox exists), its delivery (variables in the job's environment, or files under
 * /run/secrets written by pid 1 inside, on the sandbox's own tmpfs), the audit lines of
 * lease and release, and the masking relay that stands between the job's output and
 * mayfly's. No value is ever put in an argv, a message, the journal or a host file. */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/internal.h"
#include "secrets/secrets.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/json.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define SECRETS_DIR "/run/secrets"
#define LEASE_NOTE  "lease.json" /* in the sandbox's journal dir: names, never values */

static int audit_roles(const char *state, const char *event, const char *id,
		       const struct secret_caller *caller, const char *env, char *const *names,
		       const char *outcome, int64_t until_ms, char *const *roles, struct err *err)
{
	struct secret_audit_rec rec = { event, id, caller, env, names, outcome, until_ms, roles };
	return secret_audit_append(state, &rec, err);
}

static int audit(const char *state, const char *event, const char *id,
		 const struct secret_caller *caller, const char *env, char *const *names,
		 const char *outcome, int64_t until_ms, struct err *err)
{
	return audit_roles(state, event, id, caller, env, names, outcome, until_ms, NULL, err);
}

int sandbox_secrets_revoke(const char *state, const char *id, struct secret_lease *lease,
			   const char *key_file, const struct secret_caller *caller,
			   struct err *err)
{
	CLEANUP(secret_vault_closep) struct secret_vault *v = NULL;
	char **roles = NULL;
	struct err e2 = { 0 };
	bool any = false;
	int r;

	for (size_t i = 0; i < secret_lease_count(lease); i++)
		any |= secret_lease_handle(lease, i) != NULL;
	if (!any)
		return 0;
	r = secret_vault_open(state, key_file, 0, &v, err);
	if (r < 0)
		(void) err_wrap(err, "open the vault to drop the lease's roles");
	else
		r = pgroles_revoke(lease, v, &roles, err);
	if (!roles) /* the vault did not open: name the roles all the same */
		for (size_t i = 0; i < secret_lease_count(lease); i++)
			if (secret_lease_handle(lease, i))
				strv_push(&roles, secret_lease_handle(lease, i));
	if (roles)
		(void) audit_roles(state, "revoke", id && id[0] ? id : NULL, caller,
				   secret_lease_env(lease), NULL, r < 0 ? err->msg : "ok", 0, roles,
				   &e2);
	strv_free(roles);
	return r;
}

int sandbox_secrets_lease(const char *state, const struct sandbox_secrets_req *req,
			  struct sandbox_spec *spec, struct secret_lease **ret, char **ret_note,
			  struct err *err)
{
	CLEANUP(secret_vault_closep) struct secret_vault *v = NULL;
	CLEANUP(secret_policy_freep) struct secret_policy *pol = NULL;
	cleanup_free char *policy_path = secret_policy_path(state);
	cleanup_free char *note = NULL;
	uint64_t ttl = spec->ttl_ms ? spec->ttl_ms : SANDBOX_DEFAULT_TTL_MS;
	int64_t now = wall_ms();
	int r;

	r = secret_vault_open(state, req->key_file, 0, &v, err);
	if (r < 0)
		return err_wrap(err, "--from '%s'", req->env);
	r = secret_policy_load(policy_path, &pol, err);
	if (r == -ENOENT)
		err_clear(err); /* no policy file: local callers may lease anything */
	else if (r < 0)
		return r;
	/* The lease ends with the sandbox; asked for longer, it is clamped; for shorter, the
	 * sandbox ends with it, so no value outlives its lease. */
	if (req->lease_ms > ttl) {
		char a[32], b[32];
		str_format_duration(req->lease_ms, a, sizeof(a));
		str_format_duration(ttl, b, sizeof(b));
		note = xasprintf("the lease of %s asked for was clamped to the sandbox's TTL of %s",
				 a, b);
	} else if (req->lease_ms && req->lease_ms < ttl) {
		char a[32];
		str_format_duration(req->lease_ms, a, sizeof(a));
		note = xasprintf("the sandbox's TTL is the lease's, %s: it ends with its lease", a);
		ttl = req->lease_ms;
	}
	struct secret_lease_req lreq = { req->env, req->names, req->as_file, now + (int64_t) ttl,
					 req->brokered };
	CLEANUP(secret_lease_freep) struct secret_lease *l = NULL;
	r = secret_lease_new(v, pol, req->caller, &lreq, &l, err);
	if (r == 0) {
		/* Roles are made now, before the masking relay starts: their URLs are masked. */
		r = pgroles_lease(l, spec, err);
		if (r < 0) {
			struct err e2 = { 0 };
			(void) pgroles_revoke(l, v, NULL, &e2);
		}
		/* SECURITY: the admin connections are not kept for the sandbox's life (nor
		 * copied into the processes forked from here); the release unseals them
		 * again. */
		for (size_t i = 0; i < secret_lease_count(l); i++)
			if (secret_lease_kind(l, i))
				secret_lease_forget_source(l, i);
	}
	if (r < 0) {
		struct err e2 = { 0 };
		(void) audit(state, r == -EACCES ? "deny" : "lease", NULL, req->caller, req->env,
			     req->names, err->msg, 0, &e2);
		return r;
	}
	*ret = TAKE_PTR(l);
	spec->ttl_ms = ttl;
	spec->secret_key_file = req->key_file;
	*ret_note = TAKE_PTR(note);
	return 0;
}

struct secrets_delivery {
	const struct secret_lease *lease; /* borrowed from the spec */
	const struct secret_caller *caller;
	struct svc_plan *services; /* borrowed: started after the files are written */
	char *state;
	char id[17];
	char **names;
	char **roles;	/* postgres-role leases' roles */
	char *key_file; /* NULL: the default */
};

/* What `mayfly gc` needs to audit the release of a sandbox whose mayfly was killed. */
static int note_lease(const struct secrets_delivery *d, struct err *err)
{
	cleanup_free char *dir = xasprintf("%s/sandboxes/%s", d->state, d->id), *text = NULL;
	cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct json_w *w = json_w_new();

	json_w_obj_open(w, NULL);
	json_w_str(w, "environment", secret_lease_env(d->lease));
	json_w_i64(w, "uid", d->caller ? (int64_t) d->caller->uid : -1);
	json_w_arr_open(w, "names");
	for (size_t i = 0; d->names && d->names[i]; i++)
		json_w_str(w, NULL, d->names[i]);
	json_w_arr_close(w);
	/* postgres-role leases: the roles gc must drop (names only), and where the key is to
	 * reach their admin connections. */
	json_w_arr_open(w, "roles");
	for (size_t i = 0; i < secret_lease_count(d->lease); i++)
		if (secret_lease_handle(d->lease, i)) {
			json_w_obj_open(w, NULL);
			json_w_str(w, "name", secret_lease_name(d->lease, i));
			json_w_str(w, "role", secret_lease_handle(d->lease, i));
			json_w_obj_close(w);
		}
	json_w_arr_close(w);
	json_w_str(w, "key_file", d->key_file);
	json_w_obj_close(w);
	text = json_w_done(w);
	if (dfd < 0)
		return err_set(err, errno, "open '%s'", dir);
	return write_file_atomic_at(dfd, LEASE_NOTE, text, strlen(text), 0600, 0, err);
}

/* The roles of postgres-role leases a killed mayfly left: dropped with the admin
 * connection of their entries, each audited. */
static void gc_drop_roles(const char *state, const char *id, const struct json *j,
			  const struct secret_caller *caller)
{
	const struct json *arr = json_get(j, "roles");
	const char *env = json_get_str(j, "environment");
	CLEANUP(secret_vault_closep) struct secret_vault *v = NULL;
	struct err err = { 0 };

	if (json_array_len(arr) == 0 || !env)
		return;
	int r = secret_vault_open(state, json_get_str(j, "key_file"), 0, &v, &err);
	for (size_t i = 0; i < json_array_len(arr); i++) {
		const char *name = json_get_str(json_array_at(arr, i), "name");
		const char *role = json_get_str(json_array_at(arr, i), "role");
		CLEANUP(secret_value_freep) struct secret_value *val = NULL;
		char *names[] = { (char *) name, NULL }, *roles[] = { (char *) role, NULL };
		struct err e2 = { 0 };
		int r2 = r;

		if (!name || !role)
			continue;
		if (r2 == 0)
			r2 = secret_vault_get(v, env, name, &val, &err);
		if (r2 == 0)
			r2 = pgrole_drop_source(val, role, &err);
		else
			(void) err_wrap(&err, "drop role '%s'", role);
		(void) audit_roles(state, "revoke", id, caller, env, names,
				   r2 < 0 ? err.msg : "ok: dropped by gc (its mayfly was killed)",
				   0, roles, &e2);
		if (r == 0)
			err_clear(&err);
	}
}

void secrets_gc_release(const char *state, const char *id)
{
	cleanup_free char *path = xasprintf("%s/sandboxes/%s/" LEASE_NOTE, state, id);
	cleanup_free char *text = NULL;
	CLEANUP(json_freep) struct json *j = NULL;
	char **names = NULL;
	struct err err = { 0 };
	size_t len = 0;
	int64_t uid = -1;

	if (read_file_at(AT_FDCWD, path, 1 << 20, &text, &len, &err) < 0 ||
	    json_parse(text, len, &j, &err) < 0)
		return;
	const struct json *arr = json_get(j, "names");
	for (size_t i = 0; i < json_array_len(arr); i++)
		if (json_str(json_array_at(arr, i)))
			strv_push(&names, json_str(json_array_at(arr, i)));
	(void) json_get_i64(j, "uid", &uid);
	struct secret_caller caller = { .uid = (uid_t) uid };
	gc_drop_roles(state, id, j, &caller);
	(void) audit(state, "release", id, &caller, json_get_str(j, "environment"), names,
		     "its mayfly was killed: released by gc (the values died with the sandbox)", 0,
		     &err);
	strv_free(names);
}

int secrets_deliver(const struct sandbox_spec *spec, const char *state, const char *id,
		    char ***envp, struct svc_plan *services, struct secrets_delivery **ret,
		    struct err *err)
{
	const struct secret_lease *l = spec->lease;
	struct secrets_delivery *d;
	int r;

	*ret = NULL;
	if (!l)
		return 0;
	d = xcalloc(1, sizeof(*d));
	d->lease = l;
	d->caller = spec->secret_caller;
	d->services = services;
	d->state = xstrdup(state);
	d->key_file = spec->secret_key_file ? xstrdup(spec->secret_key_file) : NULL;
	(void) str_copy(d->id, sizeof(d->id), id);
	for (size_t i = 0; i < secret_lease_count(l); i++) {
		const struct secret_value *v = secret_lease_value(l, i);
		const char *name = secret_lease_name(l, i);
		strv_push(&d->names, name);
		if (secret_lease_handle(l, i))
			strv_push(&d->roles, secret_lease_handle(l, i));
		if (secret_lease_is_file(l, i) || secret_lease_is_brokered(l, i))
			continue;
		/* SECURITY: the value goes into the job's environment only (which init hands to
		 * execve, never to its own environ); secrets_release() wipes these strings. */
		size_t n = strlen(name);
		char *kv = xmalloc(n + 1 + v->len + 1);
		memcpy(kv, name, n);
		kv[n] = '=';
		memcpy(kv + n + 1, v->data, v->len);
		kv[n + 1 + v->len] = '\0';
		size_t len = strv_len(*envp);
		*envp = xrealloc(*envp, (len + 2) * sizeof(char *));
		(*envp)[len] = kv;
		(*envp)[len + 1] = NULL;
	}
	r = audit_roles(state, "lease", id, d->caller, secret_lease_env(l), d->names, "ok",
			secret_lease_until(l), d->roles, err);
	if (r == 0)
		r = note_lease(d, err);
	*ret = d;
	if (r < 0)
		return err_wrap(err, "sandbox %s: secrets", id);
	return 0;
}

/* In pid 1 inside, as the job's user, before the job: the --secret-file values. */
int secrets_prestart(void *userdata, struct err *err)
{
	const struct secrets_delivery *d = userdata;
	bool any = false;

	for (size_t i = 0; i < secret_lease_count(d->lease); i++) {
		const struct secret_value *v = secret_lease_value(d->lease, i);
		const char *name = secret_lease_name(d->lease, i);
		char path[256];
		int fd, r;

		if (!secret_lease_is_file(d->lease, i))
			continue;
		if (!any && mkdir(SECRETS_DIR, 0700) < 0 && errno != EEXIST)
			return err_set(err, errno, "mkdir '%s'", SECRETS_DIR);
		any = true;
		(void) snprintf(path, sizeof(path), SECRETS_DIR "/%s", name);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0400);
		if (fd < 0)
			return err_set(err, errno, "create '%s'", path);
		r = fd_write_all(fd, v->data, v->len);
		(void) close(fd);
		if (r < 0)
			return err_set(err, -r, "write '%s'", path);
	}
	if (any && chmod(SECRETS_DIR, 0500) < 0)
		return err_set(err, errno, "chmod '%s'", SECRETS_DIR);
	return d->services ? services_start(d->services, err) : 0;
}

struct secrets_delivery *secrets_release(struct secrets_delivery *d, char **envp)
{
	struct err err = { 0 };

	if (!d)
		return NULL;
	/* The values in the job's environment strings: wiped before they are freed. */
	for (size_t i = 0; envp && envp[i]; i++)
		for (size_t k = 0; d->names && d->names[k]; k++) {
			size_t n = strlen(d->names[k]);
			if (strncmp(envp[i], d->names[k], n) == 0 && envp[i][n] == '=')
				explicit_bzero(envp[i] + n + 1, strlen(envp[i] + n + 1));
		}
	(void) audit(d->state, "release", d->id, d->caller, secret_lease_env(d->lease), d->names,
		     "ok", 0, &err);
	strv_free(d->names);
	strv_free(d->roles);
	free(d->key_file);
	free(d->state);
	free(d);
	return NULL;
}

/* vault.c - the vault: opened under its lock, changed in memory, committed atomically;
 * and the rotation of its master key. */
#include "secrets/secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "secrets/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define VAULT_NAME "vault"

struct secret_vault {
	char *dir; /* <state>/secrets */
	int dir_fd;
	int lock_fd;
	bool write;
	char *key_path;
	bool key_default;
	struct vkey *key; /* NULL: no key and no vault yet (read-only open) */
	struct ventry *e;
	size_t n;
};

struct secret_vault *secret_vault_close(struct secret_vault *v)
{
	if (!v)
		return NULL;
	for (size_t i = 0; i < v->n; i++)
		ventry_release(&v->e[i]);
	free(v->e);
	v->key = vkey_free(v->key);
	(void) safe_close(v->dir_fd);
	(void) safe_close(v->lock_fd); /* unlocks */
	free(v->dir);
	free(v->key_path);
	free(v);
	return NULL;
}
DEFINE_CLEANUP(char **, strv_free)

/* A rotation that was cut short after the vault was re-sealed left "<key>.new": it is the
 * key, and (when we may write) it takes its place now. */
static int finish_rotation(struct secret_vault *v, const char *want_id, struct err *err)
{
	cleanup_free char *next = xasprintf("%s.new", v->key_path);
	CLEANUP(vkey_freep) struct vkey *k = NULL;
	struct err e2 = { 0 };

	if (vkey_load(next, &k, &e2) < 0 || strcmp(k->id, want_id) != 0)
		return 0;
	if (v->write && rename(next, v->key_path) < 0)
		return err_set(err, errno, "finish key rotation: rename '%s'", next);
	vkey_free(v->key);
	v->key = TAKE_PTR(k);
	return 1;
}

static int load(struct secret_vault *v, struct err *err)
{
	cleanup_free char *text = NULL;
	char id[KEY_ID_HEX];
	size_t len = 0;
	int r;

	r = read_file_at(v->dir_fd, VAULT_NAME, VAULT_MAX, &text, &len, err);
	if (r == -ENOENT) {
		err_clear(err);
		text = NULL;
	} else if (r < 0)
		return r;
	if (!text && v->key_default && !v->write && access(v->key_path, F_OK) < 0)
		return 0; /* nothing was ever stored: an empty vault */
	if (!text && v->key_default && v->write && access(v->key_path, F_OK) < 0)
		return vkey_create(v->key_path, &v->key, err);
	r = vkey_load(v->key_path, &v->key, err);
	if (r == -ENOKEY && text)
		return err_wrap(err, "the vault exists but cannot be opened without its key; "
				     "restore the key (or point MAYFLY_MASTER_KEY_FILE at it)");
	if (r < 0)
		return r;
	if (!text)
		return 0;
	r = vfile_key_id(text, len, id, err);
	if (r < 0)
		return r;
	if (strcmp(id, v->key->id) != 0) {
		r = finish_rotation(v, id, err);
		if (r < 0)
			return r;
	}
	r = vfile_parse(text, len, v->key, &v->e, &v->n, err);
	if (r == -EKEYREJECTED)
		return err_wrap(err,
				"master key '%s' does not open it: use the key it was "
				"sealed with (--key-file, MAYFLY_MASTER_KEY_FILE)",
				v->key_path);
	return r;
}

int secret_vault_open(const char *state_dir, const char *key_file, unsigned flags,
		      struct secret_vault **ret, struct err *err)
{
	CLEANUP(secret_vault_closep) struct secret_vault *v = xcalloc(1, sizeof(*v));
	cleanup_free char *lock = NULL;
	int r;

	if (sodium_init() < 0)
		return err_set(err, EIO, "libsodium failed to initialise");
	v->dir_fd = v->lock_fd = -1;
	v->write = flags & SECRET_OPEN_WRITE;
	v->dir = path_join(state_dir, "secrets");
	v->key_path = secret_key_path(state_dir, key_file, &v->key_default);
	if (v->write) {
		/* The state dir as sandbox/state.c makes it (0711); the vault's own, 0700. */
		r = mkdir_p(state_dir, 0711, err);
		if (r == 0)
			r = mkdir_p(v->dir, 0700, err);
		if (r < 0)
			return err_wrap(err, "vault");
	}
	v->dir_fd = open(v->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (v->dir_fd < 0 && errno == ENOENT && !v->write) {
		/* Nothing stored yet; an admin-given key must still be a good one. */
		if (!v->key_default && (r = vkey_load(v->key_path, &v->key, err)) < 0)
			return r;
		*ret = TAKE_PTR(v);
		return 0;
	}
	if (v->dir_fd < 0)
		return err_set(err, errno, "open vault directory '%s'", v->dir);
	lock = path_join(v->dir, "lock");
	v->lock_fd =
		open(lock, (v->write ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (v->lock_fd < 0 && errno == ENOENT) {
		r = load(v, err); /* never written: no lock file yet */
	} else if (v->lock_fd < 0)
		return err_set(err, errno, "open vault lock '%s'", lock);
	else {
		while (flock(v->lock_fd, v->write ? LOCK_EX : LOCK_SH) < 0)
			if (errno != EINTR)
				return err_set(err, errno, "lock '%s'", lock);
		r = load(v, err);
	}
	if (r < 0)
		return err_wrap(err, "vault '%s/%s'", v->dir, VAULT_NAME);
	*ret = TAKE_PTR(v);
	return 0;
}

static struct ventry *find(const struct secret_vault *v, const char *env, const char *name)
{
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->e[i].env, env) == 0 && strcmp(v->e[i].name, name) == 0)
			return &v->e[i];
	return NULL;
}

static int need_write(const struct secret_vault *v, struct err *err)
{
	if (!v->write || !v->key)
		return err_set(err, EBADF, "vault opened read-only");
	return 0;
}

int secret_vault_set(struct secret_vault *v, const char *env, const char *name, const void *value,
		     size_t len, int64_t expires_ms, struct err *err)
{
	struct ventry *e;
	int64_t now = secrets_wall_ms();
	int r;

	if (!secret_env_name_ok(env))
		return err_set(err, EINVAL,
			       "environment '%s': use letters, digits, '.', '_', '-' in parts "
			       "joined by '/' (e.g. 'production', 'preview/feature-x')",
			       env);
	if (!secret_name_ok(name))
		return err_set(err, EINVAL,
			       "name '%s': use a variable name ([A-Za-z_][A-Za-z0-9_]*, at most "
			       "%d characters)",
			       name, SECRET_NAME_MAX);
	if (len < SECRET_MIN_LEN)
		return err_set(err, EMSGSIZE,
			       "'%s': the value has %zu bytes; values under %d bytes are refused "
			       "(they could not be masked safely in job output)",
			       name, len, SECRET_MIN_LEN);
	if (len > SECRET_MAX_LEN)
		return err_set(err, EMSGSIZE, "'%s': the value has %zu bytes, more than %d", name,
			       len, SECRET_MAX_LEN);
	r = need_write(v, err);
	if (r < 0)
		return r;
	e = find(v, env, name);
	if (!e) {
		if (v->n >= SECRET_MAX_ENTRIES)
			return err_set(err, ENOSPC, "the vault holds %d values already",
				       SECRET_MAX_ENTRIES);
		v->e = xrealloc(v->e, (v->n + 1) * sizeof(*v->e));
		e = &v->e[v->n++];
		memset(e, 0, sizeof(*e));
		e->env = xstrdup(env);
		e->name = xstrdup(name);
		e->created_ms = now;
	}
	e->updated_ms = now;
	e->expires_ms = expires_ms;
	free(e->kind);
	e->kind = NULL;
	return ventry_seal(e, v->key, value, len);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* "'A', 'B'" of env's names, or of the environments when env is NULL. */
static char *existing(const struct secret_vault *v, const char *env)
{
	CLEANUP(strv_freep) char **names = NULL;
	cleanup_free char *s = NULL;

	if (!env)
		names = secret_vault_envs(v);
	else
		for (size_t i = 0; i < v->n; i++)
			if (strcmp(v->e[i].env, env) == 0) {
				cleanup_free char *q = xasprintf("'%s'", v->e[i].name);
				strv_push(&names, q);
			}
	if (!names)
		return xstrdup("none");
	qsort(names, strv_len(names), sizeof(*names), cmp_str);
	if (!env)
		for (size_t i = 0; names[i]; i++) {
			char *q = xasprintf("'%s'", names[i]);
			free(names[i]);
			names[i] = q;
		}
	s = strv_join(names, ", ");
	return TAKE_PTR(s);
}

int secret_vault_missing(const struct secret_vault *v, const char *env, const char *name,
			 struct err *err)
{
	bool have_env = false;

	for (size_t i = 0; i < v->n && !have_env; i++)
		have_env = strcmp(v->e[i].env, env) == 0;
	if (!have_env) {
		cleanup_free char *envs = existing(v, NULL);
		return err_set(err, ENOENT, "no environment '%s' in the vault (environments: %s)",
			       env, envs);
	}
	cleanup_free char *names = existing(v, env);
	return err_set(err, ENOENT, "no secret '%s' in '%s' (it has: %s)", name, env, names);
}

int secret_vault_rm(struct secret_vault *v, const char *env, const char *name, struct err *err)
{
	struct ventry *e = find(v, env, name);
	int r = need_write(v, err);

	if (r < 0)
		return r;
	if (!e)
		return secret_vault_missing(v, env, name, err);
	ventry_release(e);
	*e = v->e[--v->n];
	return 0;
}

int secret_vault_rm_env(struct secret_vault *v, const char *env, unsigned *ret_n, struct err *err)
{
	unsigned n = 0;
	int r = need_write(v, err);

	if (r < 0)
		return r;
	for (size_t i = 0; i < v->n;) {
		if (strcmp(v->e[i].env, env) == 0) {
			ventry_release(&v->e[i]);
			v->e[i] = v->e[--v->n];
			n++;
		} else
			i++;
	}
	*ret_n = n;
	return 0;
}

int secret_vault_commit(struct secret_vault *v, struct err *err)
{
	cleanup_free char *text = NULL;
	size_t len;
	int r = need_write(v, err);

	if (r < 0)
		return r;
	r = vfile_format(v->e, v->n, v->key, &text, &len);
	if (r == 0)
		r = write_file_atomic_at(v->dir_fd, VAULT_NAME, text, len, 0600, WRITE_DURABLE,
					 err);
	if (r < 0)
		return err_wrap(err, "vault '%s/%s'", v->dir, VAULT_NAME);
	return 0;
}

static int reseal(struct secret_vault *v, const struct vkey *nk, struct err *err)
{
	for (size_t i = 0; i < v->n; i++) {
		CLEANUP(secret_value_freep) struct secret_value *val = NULL;
		int r = ventry_open(&v->e[i], v->key, &val, err);
		if (r < 0)
			return r;
		(void) ventry_seal(&v->e[i], nk, val->data, val->len);
	}
	return 0;
}

int secret_vault_rotate(struct secret_vault *v, const char *new_key_file, struct err *err)
{
	CLEANUP(vkey_freep) struct vkey *nk = NULL;
	cleanup_free char *next = xasprintf("%s.new", v->key_path);
	int r = need_write(v, err);

	if (r < 0)
		return r;
	if (new_key_file)
		r = vkey_load(new_key_file, &nk, err);
	else
		r = vkey_create(next, &nk, err); /* step 1: the new key, durably, aside */
	if (r < 0)
		return err_wrap(err, "rotate");
	if (!nk || !v->key || strcmp(nk->id, v->key->id) == 0)
		return err_set(err, EINVAL, "rotate: the new key is the current key");
	r = reseal(v, nk, err);
	if (r < 0) {
		if (!new_key_file)
			(void) unlink(next);
		return err_wrap(err, "rotate");
	}
	vkey_free(v->key);
	v->key = TAKE_PTR(nk);
	r = secret_vault_commit(v, err); /* step 2: the vault under the new key */
	if (r < 0)
		return err_wrap(err, "rotate");
	if (!new_key_file && rename(next, v->key_path) < 0) /* step 3: the key in place */
		return err_set(err, errno,
			       "rotate: the vault is sealed under the new key in '%s' but it could "
			       "not replace '%s'; mayfly uses it from there until it can",
			       next, v->key_path);
	if (!new_key_file)
		(void) fsync(v->dir_fd);
	return 0;
}

static int cmp_meta(const void *a, const void *b)
{
	const struct secret_meta *x = a, *y = b;
	int c = strcmp(x->env, y->env);
	return c ? c : strcmp(x->name, y->name);
}

int secret_vault_list(const struct secret_vault *v, const char *env, struct secret_meta **ret,
		      size_t *ret_n)
{
	struct secret_meta *m = xcalloc(v->n ? v->n : 1, sizeof(*m));
	size_t n = 0;

	for (size_t i = 0; i < v->n; i++) {
		const struct ventry *e = &v->e[i];
		if (env && strcmp(e->env, env) != 0)
			continue;
		m[n++] = (struct secret_meta){ e->env,	      e->name,	     e->created_ms,
					       e->updated_ms, e->expires_ms, e->kind };
	}
	qsort(m, n, sizeof(*m), cmp_meta);
	*ret = m;
	*ret_n = n;
	return 0;
}

char **secret_vault_envs(const struct secret_vault *v)
{
	char **envs = NULL;

	for (size_t i = 0; i < v->n; i++) {
		bool seen = false;
		for (size_t j = 0; envs && envs[j] && !seen; j++)
			seen = strcmp(envs[j], v->e[i].env) == 0;
		if (!seen)
			strv_push(&envs, v->e[i].env);
	}
	if (envs)
		qsort(envs, strv_len(envs), sizeof(*envs), cmp_str);
	return envs;
}

int secret_vault_check(const struct secret_vault *v, const char *env, const char *name,
		       struct err *err)
{
	const struct ventry *e = find(v, env, name);

	if (!e)
		return secret_vault_missing(v, env, name, err);
	if (e->expires_ms && e->expires_ms <= secrets_wall_ms()) {
		char when[64];
		secrets_format_time(e->expires_ms, when, sizeof(when));
		return err_set(err, EKEYEXPIRED,
			       "secret '%s' in '%s' expired at %s; set it again to renew it", name,
			       env, when);
	}
	return 0;
}

int secret_vault_get(const struct secret_vault *v, const char *env, const char *name,
		     struct secret_value **ret, struct err *err)
{
	int r = secret_vault_check(v, env, name, err);

	if (r < 0)
		return r;
	return ventry_open(find(v, env, name), v->key, ret, err);
}

int secret_vault_set_kind(struct secret_vault *v, const char *env, const char *name,
			  const char *kind, struct err *err)
{
	struct ventry *e = find(v, env, name);
	int r = need_write(v, err);

	if (r < 0)
		return r;
	if (!e)
		return secret_vault_missing(v, env, name, err);
	if (kind && strcmp(kind, SECRET_KIND_PGROLE) != 0)
		return err_set(err, EINVAL, "kind '%s': the kinds are 'value' and '%s'", kind,
			       SECRET_KIND_PGROLE);
	free(e->kind);
	e->kind = kind ? xstrdup(kind) : NULL;
	return 0;
}

const char *secret_vault_kind(const struct secret_vault *v, const char *env, const char *name)
{
	const struct ventry *e = find(v, env, name);

	return e ? e->kind : NULL;
}

size_t secret_vault_sealed_len(const struct secret_vault *v, const char *env, const char *name)
{
	const struct ventry *e = find(v, env, name);

	return e ? e->ct_len : 0;
}

int secret_vault_get_into(const struct secret_vault *v, const char *env, const char *name,
			  unsigned char *dst, size_t *ret_len, struct err *err)
{
	int r = secret_vault_check(v, env, name, err);

	if (r < 0)
		return r;
	return ventry_open_into(find(v, env, name), v->key, dst, ret_len, err);
}

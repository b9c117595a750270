/* lease.c - a lease: the values one sandbox may have, unsealed, until its end. All names
 * are checked before anything is unsealed, so one error names every problem. */
#include "secrets/secrets.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "secrets/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

struct lease_item {
	char *name;
	bool as_file;
	bool brokered;
	char *kind;		    /* NULL: a plain value */
	struct secret_value value;  /* data points into the lease's arena, or at own */
	struct secret_value source; /* a kind's: the vault's value (in the arena) */
	unsigned char *own;	    /* sodium_malloc: set by secret_lease_set_value() */
	char *handle;
	struct secret_value part; /* also masked: a part of value (sodium_malloc), or none */
};

struct secret_lease {
	unsigned char *arena; /* sodium_malloc: every value, one allocation (one mlock) */
	char *env;
	struct lease_item *items;
	size_t n;
	int64_t until_ms;
};

struct secret_lease *secret_lease_free(struct secret_lease *l)
{
	if (!l)
		return NULL;
	for (size_t i = 0; i < l->n; i++) {
		free(l->items[i].name);
		free(l->items[i].kind);
		free(l->items[i].handle);
		if (l->items[i].part.data)
			sodium_free(l->items[i].part.data); /* wipes */
		if (l->items[i].own)
			sodium_free(l->items[i].own); /* wipes */
	}
	if (l->arena)
		sodium_free(l->arena); /* wipes */
	free(l->items);
	free(l->env);
	free(l);
	return NULL;
}

int secret_lease_new(const struct secret_vault *v, const struct secret_policy *p,
		     const struct secret_caller *caller, const struct secret_lease_req *req,
		     struct secret_lease **ret, struct err *err)
{
	CLEANUP(secret_lease_freep) struct secret_lease *l = xcalloc(1, sizeof(*l));
	size_t n = strv_len(req->names);
	int r;

	if (!secret_env_name_ok(req->env))
		return err_set(err, EINVAL, "environment '%s' is not a valid name", req->env);
	/* Every name first: what is missing is reported before any policy question. */
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < i; j++)
			if (strcmp(req->names[i], req->names[j]) == 0)
				return err_set(err, EINVAL, "secret '%s' asked for twice",
					       req->names[i]);
		r = secret_vault_check(v, req->env, req->names[i], err);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < n; i++) {
		r = secret_policy_check(p, caller, req->env, req->names[i], err);
		if (r < 0)
			return r;
	}
	size_t room = 0, at = 0;
	for (size_t i = 0; i < n; i++)
		room += secret_vault_sealed_len(v, req->env, req->names[i]) + 1;
	l->arena = sodium_malloc(room ? room : 1);
	if (!l->arena)
		abort();
	l->env = xstrdup(req->env);
	l->until_ms = req->until_ms;
	l->items = xcalloc(n ? n : 1, sizeof(*l->items));
	for (size_t i = 0; i < n; i++) {
		struct lease_item *it = &l->items[l->n++];
		it->name = xstrdup(req->names[i]);
		it->as_file = req->as_file && req->as_file[i];
		it->brokered = req->brokered && req->brokered[i];
		it->value.data = l->arena + at;
		r = secret_vault_get_into(v, req->env, req->names[i], it->value.data,
					  &it->value.len, err);
		if (r < 0)
			return r;
		at += secret_vault_sealed_len(v, req->env, req->names[i]) + 1;
		if (secret_vault_kind(v, req->env, req->names[i])) {
			it->kind = xstrdup(secret_vault_kind(v, req->env, req->names[i]));
			it->source = it->value;
		}
	}
	*ret = TAKE_PTR(l);
	return 0;
}

size_t secret_lease_count(const struct secret_lease *l)
{
	return l ? l->n : 0;
}

const char *secret_lease_env(const struct secret_lease *l)
{
	return l->env;
}

const char *secret_lease_name(const struct secret_lease *l, size_t i)
{
	return l->items[i].name;
}

bool secret_lease_is_file(const struct secret_lease *l, size_t i)
{
	return l->items[i].as_file;
}

bool secret_lease_is_brokered(const struct secret_lease *l, size_t i)
{
	return l->items[i].brokered;
}

const struct secret_value *secret_lease_value(const struct secret_lease *l, size_t i)
{
	return &l->items[i].value;
}

int64_t secret_lease_until(const struct secret_lease *l)
{
	return l->until_ms;
}

const char *secret_lease_kind(const struct secret_lease *l, size_t i)
{
	return l->items[i].kind;
}

const struct secret_value *secret_lease_source(const struct secret_lease *l, size_t i)
{
	return &l->items[i].source;
}

void secret_lease_set_value(struct secret_lease *l, size_t i, const void *data, size_t len)
{
	struct lease_item *it = &l->items[i];

	if (it->own)
		sodium_free(it->own);
	it->own = sodium_malloc(len + 1);
	if (!it->own)
		abort();
	memcpy(it->own, data, len);
	it->own[len] = '\0';
	it->value.data = it->own;
	it->value.len = len;
}

void secret_lease_set_handle(struct secret_lease *l, size_t i, const char *handle)
{
	free(l->items[i].handle);
	l->items[i].handle = handle ? xstrdup(handle) : NULL;
}

const char *secret_lease_handle(const struct secret_lease *l, size_t i)
{
	return l->items[i].handle;
}

void secret_lease_set_part(struct secret_lease *l, size_t i, const void *data, size_t len)
{
	struct lease_item *it = &l->items[i];

	if (it->part.data)
		sodium_free(it->part.data);
	it->part.data = sodium_malloc(len + 1);
	if (!it->part.data)
		abort();
	memcpy(it->part.data, data, len);
	it->part.data[len] = '\0';
	it->part.len = len;
}

const struct secret_value *secret_lease_part(const struct secret_lease *l, size_t i)
{
	return l->items[i].part.data ? &l->items[i].part : NULL;
}

void secret_lease_forget_source(struct secret_lease *l, size_t i)
{
	struct lease_item *it = &l->items[i];

	if (it->source.data && it->source.data != it->value.data)
		sodium_memzero(it->source.data, it->source.len);
	it->source.data = NULL;
	it->source.len = 0;
}

/* policy.c - who may lease what. The policy file is JSON (docs/secrets.md):
 *
 *   {"rules": [{"name": "ci-deploys", "effect": "allow", "environment": "production",
 *               "names": ["DB_URL", "STRIPE_*"], "repository": "github.com/acme/app",
 *               "branch": ["main", "release-1"], "frontend": "github", "job": "deploy*"}]}
 *
 * Every field but "name" and "environment" may be omitted (then anything matches) and
 * takes a glob (fnmatch, '*' does not cross '/') or a list of them. A rule naming a field
 * the caller does not have (a local caller has no repository) does not match. Rules are
 * tried in order; the first whose fields all match decides; none: denied. */
#include "secrets/secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "secrets/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/json.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define POLICY_MAX (1 << 20)
#define MAX_RULES  10000

enum field { F_ENV, F_NAMES, F_REPO, F_BRANCH, F_FRONTEND, F_JOB, F_COUNT };
static const char *const field_keys[F_COUNT] = { "environment", "names",    "repository",
						 "branch",	"frontend", "job" };

struct rule {
	char *name;
	bool allow;
	char **globs[F_COUNT]; /* NULL: any */
};

struct secret_policy {
	char *path;
	struct rule *rules;
	size_t n;
};

DEFINE_CLEANUP(char **, strv_free)

struct secret_policy *secret_policy_free(struct secret_policy *p)
{
	if (!p)
		return NULL;
	for (size_t i = 0; i < p->n; i++) {
		free(p->rules[i].name);
		for (int f = 0; f < F_COUNT; f++)
			strv_free(p->rules[i].globs[f]);
	}
	free(p->rules);
	free(p->path);
	free(p);
	return NULL;
}

char *secret_policy_path(const char *state_dir)
{
	const char *env = getenv("MAYFLY_SECRETS_POLICY");

	if (env && *env)
		return xstrdup(env);
	return xasprintf("%s/secrets/policy.json", state_dir);
}

/* A string or a list of strings; absent: *ret stays NULL. */
static int globs_of(const struct json *rule, const char *key, char ***ret, struct err *err)
{
	const struct json *j = json_get(rule, key);
	const char *s = json_get_str(rule, key);
	CLEANUP(strv_freep) char **v = NULL;

	if (!j)
		return 0;
	if (s)
		strv_push(&v, s);
	else {
		size_t n = json_array_len(j);
		if (n == 0)
			return err_set(err, EINVAL,
				       "'%s' must be a string or a non-empty list of "
				       "strings",
				       key);
		for (size_t i = 0; i < n; i++) {
			const char *item = json_str(json_array_at(j, i));
			if (!item)
				return err_set(err, EINVAL, "'%s' item %zu is not a string", key,
					       i + 1);
			strv_push(&v, item);
		}
	}
	*ret = TAKE_PTR(v);
	return 0;
}

static int parse_rule(const struct json *j, size_t idx, struct rule *rule, struct err *err)
{
	const char *name = json_get_str(j, "name"), *effect = json_get_str(j, "effect");
	int r;

	rule->name = name ? xstrdup(name) : xasprintf("#%zu", idx + 1);
	if (!name)
		return err_set(err, EINVAL, "rule #%zu: needs a \"name\"", idx + 1);
	if (effect && strcmp(effect, "allow") != 0 && strcmp(effect, "deny") != 0)
		return err_set(err, EINVAL, "rule '%s': \"effect\" must be \"allow\" or \"deny\"",
			       name);
	rule->allow = !effect || strcmp(effect, "allow") == 0;
	for (int f = 0; f < F_COUNT; f++) {
		r = globs_of(j, field_keys[f], &rule->globs[f], err);
		if (r < 0)
			return err_wrap(err, "rule '%s'", name);
	}
	if (!rule->globs[F_ENV])
		return err_set(err, EINVAL, "rule '%s': needs an \"environment\"", name);
	if (!rule->globs[F_NAMES])
		return err_set(err, EINVAL, "rule '%s': needs \"names\" (\"*\" for all)", name);
	return 0;
}

int secret_policy_load(const char *path, struct secret_policy **ret, struct err *err)
{
	CLEANUP(secret_policy_freep) struct secret_policy *p = xcalloc(1, sizeof(*p));
	CLEANUP(json_freep) struct json *doc = NULL;
	cleanup_free char *text = NULL;
	const struct json *rules;
	size_t len = 0, n;
	int r;

	r = read_file_at(AT_FDCWD, path, POLICY_MAX, &text, &len, err);
	if (r < 0)
		return err_wrap(err, "policy");
	p->path = xstrdup(path);
	r = json_parse(text, len, &doc, err);
	if (r < 0)
		return err_wrap(err, "policy '%s'", path);
	rules = json_get(doc, "rules");
	n = json_array_len(rules);
	if (!rules || (n == 0 && !json_get(doc, "rules")) || n > MAX_RULES)
		return err_set(err, EINVAL, "policy '%s': expected {\"rules\": [...]}", path);
	p->rules = xcalloc(n ? n : 1, sizeof(*p->rules));
	for (size_t i = 0; i < n; i++) {
		p->n++;
		r = parse_rule(json_array_at(rules, i), i, &p->rules[i], err);
		if (r < 0)
			return err_wrap(err, "policy '%s'", path);
	}
	*ret = TAKE_PTR(p);
	return 0;
}

static bool matches(char *const *globs, const char *value)
{
	if (!globs)
		return true;
	if (!value)
		return false;
	for (size_t i = 0; globs[i]; i++)
		if (fnmatch(globs[i], value, FNM_PATHNAME) == 0)
			return true;
	return false;
}

static bool is_local(const struct secret_caller *c)
{
	return !c->frontend || strcmp(c->frontend, "cli") == 0;
}

static const char *or_none(const char *s)
{
	return s ? s : "-";
}

int secret_policy_check(const struct secret_policy *p, const struct secret_caller *c,
			const char *env, const char *name, struct err *err)
{
	if (str_startswith(env, "preview/") && !(p == NULL && is_local(c) && !c->branch) &&
	    (!c->branch || strcmp(c->branch, env + strlen("preview/")) != 0))
		return err_set(err, EACCES,
			       "'%s' is leasable only by branch '%s' (this caller's branch: %s)",
			       env, env + strlen("preview/"), c->branch ? c->branch : "none");
	if (!p) {
		if (is_local(c))
			return 0;
		return err_set(err, EACCES,
			       "no policy file: only local callers may lease (front end '%s')",
			       c->frontend);
	}
	for (size_t i = 0; i < p->n; i++) {
		const struct rule *rule = &p->rules[i];
		const char *vals[F_COUNT] = {
			env,   name, c->repository, c->branch, c->frontend ? c->frontend : "cli",
			c->job
		};
		bool all = true;
		for (int f = 0; f < F_COUNT && all; f++)
			all = matches(rule->globs[f], vals[f]);
		if (!all)
			continue;
		if (rule->allow)
			return 0;
		return err_set(err, EACCES, "policy rule '%s' (#%zu in '%s') denies '%s' from '%s'",
			       rule->name, i + 1, p->path, name, env);
	}
	return err_set(err, EACCES,
		       "no rule in policy '%s' allows '%s' from '%s' (repository %s, branch %s, "
		       "front end %s, job %s); default deny",
		       p->path, name, env, or_none(c->repository), or_none(c->branch),
		       c->frontend ? c->frontend : "cli", or_none(c->job));
}

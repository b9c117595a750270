/* resolve.c - a user's rev (branch, tag, HEAD, ref name, full or abbreviated id) to a
 * commit and its tree. Revision syntax ("main~2", "@{1}", ":/text") is not interpreted:
 * a rev names a ref or an object, nothing a job could make expensive. */
#include "checkout/checkout.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkout/dl.h"

#include "checkout/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define MAX_REV	      1024
#define SHOW_BRANCHES 5

DEFINE_CLEANUP(git_object *, git_object_free)
DEFINE_CLEANUP(git_reference *, git_reference_free)
DEFINE_CLEANUP(git_branch_iterator *, git_branch_iterator_free)
DEFINE_CLEANUP(char **, strv_free)

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* "main, next, v2 (and 14 more)", sorted: what an unknown rev's message offers. */
static char *some_branches(git_repository *repo)
{
	CLEANUP(git_branch_iterator_freep) git_branch_iterator *it = NULL;
	CLEANUP(strv_freep) char **names = NULL;
	cleanup_free char *shown = NULL;
	git_reference *ref;
	git_branch_t type;
	size_t n;

	if (git_branch_iterator_new(&it, repo, GIT_BRANCH_LOCAL) < 0) {
		git_error_clear();
		return xstrdup("(branches unreadable)");
	}
	while (git_branch_next(&ref, &type, it) == 0) {
		const char *name = NULL;
		if (git_branch_name(&name, ref) == 0 && strv_len(names) < 10000)
			strv_push(&names, name);
		git_reference_free(ref);
	}
	git_error_clear();
	n = strv_len(names);
	if (!names || n == 0)
		return xstrdup("the mirror has no branches");
	qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = SHOW_BRANCHES; i < n; i++) {
		free(names[i]);
		names[i] = NULL;
	}
	shown = strv_join(names, ", ");
	if (n <= SHOW_BRANCHES)
		return xasprintf("branches: %s", shown);
	return xasprintf("branches: %s (and %zu more)", shown, n - SHOW_BRANCHES);
}

/* From the config, not git_remote_lookup(): see set_origin() in mirror.c. */
static char *remote_url(git_repository *repo, const char *mirror)
{
	git_config *cfg = NULL;
	git_buf url = GIT_BUF_INIT;
	char *ret;

	if (git_repository_config_snapshot(&cfg, repo) < 0 ||
	    git_config_get_string_buf(&url, cfg, "remote.origin.url") < 0) {
		git_error_clear();
		git_config_free(cfg);
		return xstrdup(mirror);
	}
	ret = xstrdup(url.ptr);
	git_buf_dispose(&url);
	git_config_free(cfg);
	return ret;
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char) *s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static bool is_hex_prefix(const char *s, size_t n)
{
	return n >= GIT_OID_MINPREFIXLEN && n <= GIT_OID_HEXSZ &&
	       strspn(s, "0123456789abcdefABCDEF") == n;
}

/* The object rev names: ref first (git's order), then an id prefix. 1 when not found. */
static int lookup(git_repository *repo, const char *rev, const char *shown, git_object **ret,
		  struct err *err)
{
	CLEANUP(git_reference_freep) git_reference *ref = NULL;
	size_t n = strlen(rev);
	git_oid oid;
	int r;

	r = git_reference_dwim(&ref, repo, rev);
	if (r == 0) {
		r = git_reference_peel(ret, ref, GIT_OBJECT_ANY);
		if (r == GIT_ENOTFOUND) {
			/* The ref exists, what it names does not: the mirror lost objects. */
			struct err why = { 0 };
			(void) checkout_git_err(&why, r, "rev '%s'", shown);
			return err_set(err, EUCLEAN, "%s; the mirror is damaged", why.msg);
		}
		return r < 0 ? checkout_git_err(err, r, "rev '%s'", shown) : 0;
	}
	if (r != GIT_ENOTFOUND && r != GIT_EINVALIDSPEC)
		return checkout_git_err(err, r, "rev '%s'", shown);
	git_error_clear();
	if (!is_hex_prefix(rev, n))
		return 1;
	r = git_oid_fromstrn(&oid, rev, n);
	if (r == 0)
		r = git_object_lookup_prefix(ret, repo, &oid, n, GIT_OBJECT_ANY);
	if (r == GIT_ENOTFOUND) {
		git_error_clear();
		return 1;
	}
	if (r == GIT_EAMBIGUOUS) {
		git_error_clear();
		return err_set(err, EINVAL, "rev '%s': ambiguous id; give more digits", shown);
	}
	return r < 0 ? checkout_git_err(err, r, "rev '%s'", shown) : 0;
}

int checkout_resolve(const char *mirror, const char *rev, char ret_commit[41], char ret_tree[41],
		     struct err *err)
{
	CLEANUP(checkout_repo_freep) git_repository *repo = NULL;
	CLEANUP(git_object_freep) git_object *obj = NULL, *commit = NULL;
	char shown[CHECKOUT_SHOWN];
	int r;

	checkout_printable(rev, shown, sizeof(shown));
	if (!*rev || strlen(rev) > MAX_REV || rev[0] == '-' || has_control(rev))
		return err_set(err, EINVAL,
			       "rev '%s': empty, too long, or starts with '-' or "
			       "has control characters",
			       shown);
	r = checkout_repo_open(mirror, &repo, err);
	if (r < 0)
		return r;
	r = lookup(repo, rev, shown, &obj, err);
	if (r < 0)
		return r;
	if (r > 0) {
		struct err why = { 0 };
		/* A pack gone bad hides commits too: then it is the mirror's fault. */
		if (checkout_mirror_verify(mirror, &why) < 0)
			return err_set(err, EUCLEAN,
				       "rev '%s' not found, and the mirror is "
				       "damaged (%s)",
				       shown, why.msg);
		cleanup_free char *branches = some_branches(repo);
		cleanup_free char *url = remote_url(repo, mirror);
		return err_set(err, ENOENT, "rev '%s' not found in '%s' (%s)", shown, url,
			       branches);
	}
	r = git_object_peel(&commit, obj, GIT_OBJECT_COMMIT);
	if (r == GIT_EPEEL || r == GIT_EINVALIDSPEC) {
		git_error_clear();
		return err_set(err, EINVAL, "rev '%s' names a %s, not a commit", shown,
			       git_object_type2string(git_object_type(obj)));
	}
	if (r < 0)
		return checkout_git_err(err, r, "rev '%s'", shown);
	git_oid_tostr(ret_commit, 41, git_object_id(commit));
	git_oid_tostr(ret_tree, 41, git_commit_tree_id((git_commit *) commit));
	checkout_note_commit(mirror, ret_commit, ret_tree); /* for checkout_lookup_cached() */
	return 0;
}

char *checkout_rev_branch(const char *mirror, const char *rev)
{
	CLEANUP(checkout_repo_freep) git_repository *repo = NULL;
	CLEANUP(git_reference_freep) git_reference *ref = NULL, *resolved = NULL;
	const char *name;
	char *branch = NULL;

	if (checkout_repo_open(mirror, &repo, &(struct err){ 0 }) < 0 ||
	    git_reference_dwim(&ref, repo, rev) < 0 || git_reference_resolve(&resolved, ref) < 0) {
		git_error_clear();
		return NULL;
	}
	/* resolved is direct: HEAD followed to the branch it names. */
	name = git_reference_type(ref) == GIT_REFERENCE_SYMBOLIC ? git_reference_name(resolved)
								 : git_reference_name(ref);
	if (str_startswith(name, "refs/heads/") && name[strlen("refs/heads/")])
		branch = xstrdup(name + strlen("refs/heads/"));
	return branch;
}

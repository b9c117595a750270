/* branches.c - the branch names of a local repository (a work tree, a bare repository or
 * one of our mirrors), for `mayfly secrets prune --branches-from`. */
#include "checkout/checkout.h"

#include <sys/stat.h>

#include "checkout/dl.h"

#include "checkout/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define MAX_BRANCHES 100000

DEFINE_CLEANUP(git_branch_iterator *, git_branch_iterator_free)
DEFINE_CLEANUP(char **, strv_free)

int checkout_branches(const char *repo_path, char ***ret, struct err *err)
{
	CLEANUP(checkout_repo_freep) git_repository *repo = NULL;
	CLEANUP(git_branch_iterator_freep) git_branch_iterator *it = NULL;
	CLEANUP(strv_freep) char **names = NULL;
	git_reference *ref;
	git_branch_t type;
	size_t n = 0;
	int r;

	cleanup_free char *dotgit = path_join(repo_path, ".git");
	struct stat st;

	/* A work tree's repository is its ".git" directory. */
	if (stat(dotgit, &st) == 0 && S_ISDIR(st.st_mode))
		repo_path = dotgit;
	r = checkout_repo_open(repo_path, &repo, err);
	if (r < 0)
		return r;
	/* Local branches; a mirror keeps every remote branch as a local one. */
	r = git_branch_iterator_new(&it, repo, GIT_BRANCH_LOCAL);
	if (r < 0)
		return checkout_git_err(err, r, "list branches of '%s'", repo_path);
	while ((r = git_branch_next(&ref, &type, it)) == 0) {
		const char *name = NULL;
		if (git_branch_name(&name, ref) == 0 && n++ < MAX_BRANCHES)
			strv_push(&names, name);
		git_reference_free(ref);
	}
	if (r != GIT_ITEROVER)
		return checkout_git_err(err, r, "list branches of '%s'", repo_path);
	if (!names)
		names = xcalloc(1, sizeof(*names)); /* no branch at all: empty, not NULL */
	*ret = TAKE_PTR(names);
	return 0;
}

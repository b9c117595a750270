/* submodule.h - shared by submodule.c (the rules: .gitmodules parsing, names, paths,
 * URLs; no libgit2, so the unit tests and a fuzz target link it alone) and
 * submodule-tree.c (reading a commit's gitlinks and making each submodule's checkout). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct err;

#define CHECKOUT_MAX_GITMODULES	    (1U << 20) /* bytes of a .gitmodules blob */
#define CHECKOUT_MAX_SUBMODULES	    256	       /* per checkout, nested ones included */
#define CHECKOUT_MAX_SUBMODULE_NAME 1024

/* One [submodule "name"] section: the keys mayfly uses. All owned; NULL when absent. */
struct checkout_gitmodule {
	char *name;
	char *path;
	char *url;
	bool update_none; /* update = none: git leaves it out of a clone, so do we */
};

/* Parse the text of a .gitmodules blob (len bytes; not NUL-terminated): git's config
 * syntax, strictly. Sections of one name merge, the last value of a key wins, keys are
 * case-insensitive, other sections and keys are ignored; include directives are never
 * followed (they are plain keys of an ignored section). Every entry with a path gets its
 * name and path judged (checkout_submodule_check_name() and _path()). -EINVAL with
 * "line N: ..." for what git would refuse or mayfly does not read (a NUL byte, an
 * unterminated quote or section header, a key with no value where one is needed, more
 * than CHECKOUT_MAX_SUBMODULES sections). *ret_v (NULL when none) and *ret_n are the
 * caller's: checkout_gitmodules_free(). */
int checkout_gitmodules_parse(const char *text, size_t len, struct checkout_gitmodule **ret_v,
			      size_t *ret_n, struct err *err);
void checkout_gitmodules_free(struct checkout_gitmodule *v, size_t n);

/* A submodule name becomes "<git dir>/modules/<name>": refused when empty, longer than
 * CHECKOUT_MAX_SUBMODULE_NAME, absolute, with a '\\' or a control character, or with a
 * component that checkout_check_name() refuses ("", ".", "..", ".git"): git's own rule
 * (check_submodule_name()) and stricter. -EINVAL naming the reason. */
int checkout_submodule_check_name(const char *name, struct err *err);
/* A submodule path, relative to its repository's root: each component as a tree entry
 * name must be (checkout_check_name()), no leading, trailing or doubled '/'. -EINVAL. */
int checkout_submodule_check_path(const char *path, struct err *err);

/* The URL git clones a submodule from: url as .gitmodules gives it, "./x" and "../x"
 * taken relative to super_url, the superproject's remote, as git's relative_url() does
 * ("https://h/org/app.git" + "../lib.git" = "https://h/org/lib.git"; scp-like
 * "git@h:org/app" + "../lib" = "git@h:org/lib"; "/srv/app" + "../lib" = "/srv/lib"),
 * except that climbing above the host or the root is refused rather than taken into the
 * host part. SECURITY: a URL starting with '-', with a control character, or a host
 * starting with '-' is refused; so is a local one (a path, file://) unless super_local:
 * a hostile .gitmodules must not make mayfly read the host's repositories. -EINVAL with
 * the reason; a new string in *ret. */
int checkout_submodule_url(const char *super_url, bool super_local, const char *url, char **ret,
			   struct err *err);
/* True when url is a path or file:// URL rather than a remote. */
bool checkout_url_is_local(const char *url);
/* True when a and b are remote URLs with the same scheme, host (any case) and port
 * (default ports filled in; scp-like "h:p" is ssh on port 22): the superproject's
 * credential may then be sent to b, as actions/checkout does. */
bool checkout_same_origin(const char *a, const char *b);
/* url as messages show it: userinfo replaced by "***", control bytes masked. New string. */
char *checkout_url_shown(const char *url);

/* fuzz-gitmodules.c - a .gitmodules blob from anyone who can push a commit: the parser,
 * and for each entry it accepts, the URL rules against a remote and a local superproject
 * and the credential rule. The input is capped at 64 KiB. Whatever is accepted must keep
 * to the rules the parser promises (names and paths inside, no '-' or local URL from a
 * remote superproject). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checkout/internal.h"
#include "checkout/submodule.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct checkout_gitmodule *v = NULL;
	struct err err = { 0 };
	size_t n = 0;

	if (size > 64 * 1024)
		return 0;
	if (checkout_gitmodules_parse((const char *) data, size, &v, &n, &err) < 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i].path && (checkout_submodule_check_path(v[i].path, &err) < 0 ||
				  checkout_submodule_check_name(v[i].name, &err) < 0))
			abort();
		if (!v[i].url)
			continue;
		cleanup_free char *remote = NULL, *local = NULL, *shown = NULL;
		if (checkout_submodule_url("https://h/org/app.git", false, v[i].url, &remote,
					   &err) == 0) {
			if (remote[0] == '-' || checkout_url_is_local(remote))
				abort();
			(void) checkout_same_origin("https://h/org/app.git", remote);
		}
		(void) checkout_submodule_url("/srv/app", true, v[i].url, &local, &err);
		shown = checkout_url_shown(v[i].url);
	}
	checkout_gitmodules_free(v, n);
	return 0;
}

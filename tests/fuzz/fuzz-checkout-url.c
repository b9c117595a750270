/* fuzz-checkout-url.c - remote URL normalisation (what names a mirror, what is fetched,
 * which userinfo is a credential) and the tree entry name rules, on arbitrary bytes. The
 * input is capped at 8 KiB; a URL that parses must come back without its password in the
 * key or the fetch URL. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checkout/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	CLEANUP(checkout_url_release) struct checkout_url u = { 0 };
	cleanup_free char *s = NULL;
	struct err err = { 0 };
	char shown[64];

	if (size > 8192)
		return 0;
	s = xstrndup((const char *) data, size);
	(void) checkout_check_name((const char *) data, size, size & 1);
	(void) checkout_printable(s, shown, sizeof(shown));
	if (checkout_url_parse(s, &u, &err) < 0 || !u.password || !*u.password)
		return 0;
	/* A password must reach neither the key nor the fetch URL, unless the rest of the
	 * URL (scheme, host, path: what is kept) happens to spell it too. */
	const char *sep = strstr(s, "://"), *at = NULL;
	if (!sep)
		abort(); /* only scheme://user:password@ has a password */
	for (const char *p = sep + 3; *p && *p != '/'; p++)
		if (*p == '@')
			at = p;
	if (!at)
		abort();
	cleanup_free char *rest = xasprintf("%.*s%s", (int) (sep + 3 - s), s, at + 1);
	if ((strcasestr(u.key, u.password) || strcasestr(u.fetch, u.password)) &&
	    !strcasestr(rest, u.password))
		abort();
	return 0;
}

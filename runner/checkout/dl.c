/* dl.c - see dl.h. */
#include <dlfcn.h>
#include <stdio.h>

/* The real prototypes; the pointers below take their types from them. */
#define CHECKOUT_DL_NO_REDIRECT
#include "checkout/dl.h"
#include "checkout/internal.h"
#include "util/banned.h"

#define CHECKOUT_DL_DEFINE(f) __typeof__(f) *checkout_dl_##f;
CHECKOUT_DL_FUNCTIONS(CHECKOUT_DL_DEFINE)

/* Called once (git.c's pthread_once). Returns NULL, or why libgit2 cannot be used. */
const char *checkout_dl_load(char *buf, size_t size)
{
	/* RTLD_NOW: a missing symbol shows now, not halfway through a fetch. */
	void *h = dlopen("libgit2.so.1.5", RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		(void) snprintf(buf, size,
				"load libgit2 (%s): install it, e.g. 'apt-get install "
				"libgit2-1.5'",
				dlerror());
		return buf;
	}
#define CHECKOUT_DL_RESOLVE(f)                                                                     \
	if (!(checkout_dl_##f = (__typeof__(f) *) dlsym(h, #f))) {                                 \
		(void) snprintf(buf, size, "libgit2 lacks '%s'", #f);                              \
		return buf;                                                                        \
	}
	CHECKOUT_DL_FUNCTIONS(CHECKOUT_DL_RESOLVE)
	return NULL;
}

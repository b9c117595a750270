/* dl.c - see dl.h. */
#include <archive.h>
#include <archive_entry.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "util/err.h"
#include "util/banned.h"

/* The real prototypes above; the pointers below take their types from them. */
#define ARC_DL_NO_REDIRECT
#include "archive/dl.h"

#define ARC_DL_DEFINE(f) __typeof__(f) *arc_dl_##f;
ARC_DL_FUNCTIONS(ARC_DL_DEFINE)

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char failure[256];

static void load(void)
{
	/* RTLD_NOW: a missing symbol shows now, not halfway through an unpack. */
	void *h = dlopen("libarchive.so.13", RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		(void) snprintf(failure, sizeof(failure),
				"load libarchive (%s): install it, e.g. 'apt-get install "
				"libarchive13'",
				dlerror());
		return;
	}
#define ARC_DL_RESOLVE(f)                                                                          \
	if (!failure[0] && !(arc_dl_##f = (__typeof__(f) *) dlsym(h, #f)))                         \
		(void) snprintf(failure, sizeof(failure), "libarchive lacks '%s'", #f);
	ARC_DL_FUNCTIONS(ARC_DL_RESOLVE)
}

int arc_dl_load(struct err *err)
{
	(void) pthread_once(&once, load);
	if (failure[0])
		return err_set(err, ELIBACC, "%s", failure);
	return 0;
}

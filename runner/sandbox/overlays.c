/* overlays.c - the copy-on-write views a sandbox gets of shared caches (spec->overlays,
 * a --service's template). In root mode each lower dir is handed to the jail as an
 * idmapped detached mount on which the cache's owner (SANDBOX_CACHE_UID) is the job's host
 * id, so the job owns what it sees without any cache file being copied or chowned.
 * Rootless, the caller owns the caches and is the job's id inside: plain paths. */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jail/jail.h"
#include "sandbox/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

struct ovl_set {
	struct jail_overlay *v;
	size_t n;
	int **fds; /* per overlay, its lowers' fds (or NULL rootless) */
	int userns_fd;
};

struct ovl_set *overlays_free(struct ovl_set *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n; i++) {
		for (size_t k = 0; s->fds && s->fds[i] && k < s->v[i].n_lowers; k++)
			(void) safe_close(s->fds[i][k]);
		free(s->fds ? s->fds[i] : NULL);
	}
	free(s->fds);
	free(s->v);
	(void) safe_close(s->userns_fd);
	free(s);
	return NULL;
}

int overlays_prepare(struct sandbox_overlay *const *src, size_t n, bool root_mode, uid_t host_uid,
		     gid_t host_gid, struct ovl_set **ret, struct err *err)
{
	struct ovl_set *s = xcalloc(1, sizeof(*s));
	int r = 0;

	s->userns_fd = -1;
	s->v = xcalloc(n ? n : 1, sizeof(*s->v));
	s->fds = xcalloc(n ? n : 1, sizeof(*s->fds));
	s->n = n;
	if (root_mode && n > 0)
		r = jail_idmap_userns(SANDBOX_CACHE_UID, SANDBOX_CACHE_GID, host_uid, host_gid,
				      &s->userns_fd, err);
	for (size_t i = 0; r == 0 && i < n; i++) {
		size_t nl = strv_len(src[i]->lowers);

		s->v[i] = (struct jail_overlay){
			.dst = src[i]->dst,
			.lowers = (const char *const *) src[i]->lowers,
			.n_lowers = nl,
			.remove = (const char *const *) src[i]->remove,
		};
		if (!root_mode)
			continue;
		s->fds[i] = xcalloc(nl ? nl : 1, sizeof(int));
		for (size_t k = 0; k < nl; k++)
			s->fds[i][k] = -1;
		s->v[i].fds = s->fds[i];
		for (size_t k = 0; r == 0 && k < nl; k++)
			r = jail_idmap_tree(src[i]->lowers[k], s->userns_fd, &s->fds[i][k], err);
		if (r < 0)
			r = err_wrap(err, "overlay '%s'", src[i]->dst);
	}
	if (r < 0) {
		overlays_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

const struct jail_overlay *overlays_jail(const struct ovl_set *s, size_t *ret_n)
{
	*ret_n = s ? s->n : 0;
	return s ? s->v : NULL;
}

/* layer.c - the tree cache's delta layers. A delta "<trees>/<id>/" holds only what differs
 * from its parent tree, with whiteouts for what is gone; "<trees>/<id>.parent" names that
 * parent. The record is written and fsynced before the layer is renamed into place, a
 * complete tree's build removes a stale one before its rename, and prune removes a layer
 * before its record: so a present directory with a record is always a delta on that
 * parent, and one without is always complete, whenever a crash strikes. */
#include "checkout/checkout.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkout/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/xalloc.h"
#include "util/banned.h"

int checkout_layer_parent(int tdir, const char *id, char ret_parent[41])
{
	cleanup_free char *name = xasprintf("%.40s.parent", id), *text = NULL;
	size_t len = 0;
	int r = read_file_at(tdir, name, 64, &text, &len, &(struct err){ 0 });

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	if (len != 41 || text[40] != '\n')
		return -EUCLEAN;
	text[40] = '\0';
	if (!checkout_is_oid(text) || strcmp(text, id) == 0)
		return -EUCLEAN;
	memcpy(ret_parent, text, 41);
	return 1;
}

int checkout_layer_depth(int tdir, const char *id)
{
	char cur[41], parent[41];
	int depth = 0;

	(void) snprintf(cur, sizeof(cur), "%.40s", id);
	for (;;) {
		int r = checkout_layer_parent(tdir, cur, parent);
		if (r <= 0)
			return r < 0 ? r : depth;
		if (++depth > CHECKOUT_MAX_LAYERS)
			return -EUCLEAN;
		memcpy(cur, parent, sizeof(cur));
	}
}

int checkout_layer_set_parent(int tdir, const char *id, const char *parent, struct err *err)
{
	cleanup_free char *name = xasprintf("%.40s.parent", id);
	char line[42];

	if (!parent) {
		if (unlinkat(tdir, name, 0) < 0 && errno != ENOENT)
			return err_set(err, errno, "remove '%s'", name);
		return 0;
	}
	(void) snprintf(line, sizeof(line), "%.40s\n", parent);
	return write_file_atomic_at(tdir, name, line, 41, 0644, WRITE_DURABLE, err);
}

void checkout_tree_release(struct checkout_tree *t)
{
	for (size_t i = 0; i < t->n_layers; i++) {
		free(t->layers[i]);
		(void) safe_close(t->lock_fds[i]);
	}
	free(t->layers);
	free(t->lock_fds);
	*t = (struct checkout_tree){ 0 };
}

static void push_layer(struct checkout_tree *t, const char *trees, const char *id, int lock_fd)
{
	t->layers = xrealloc(t->layers, (t->n_layers + 2) * sizeof(*t->layers));
	t->lock_fds = xrealloc(t->lock_fds, (t->n_layers + 1) * sizeof(*t->lock_fds));
	t->layers[t->n_layers] = path_join(trees, id);
	t->lock_fds[t->n_layers++] = lock_fd;
	t->layers[t->n_layers] = NULL;
}

int checkout_layers_take(int tdir, const char *trees, const char *id, int lock_fd,
			 struct checkout_tree *ret, struct err *err)
{
	CLEANUP(checkout_tree_release) struct checkout_tree t = { 0 };
	char cur[41], parent[41];
	struct stat st;

	(void) snprintf(cur, sizeof(cur), "%.40s", id);
	push_layer(&t, trees, cur, lock_fd);
	for (;;) {
		cleanup_free char *lock = NULL;
		int r = checkout_layer_parent(tdir, cur, parent), fd;

		if (r == 0)
			break;
		if (r < 0 || t.n_layers > CHECKOUT_MAX_LAYERS)
			return err_set(
				err, ESTALE,
				"tree '%s/%s': damaged or too deep parent record '%s.parent'; "
				"remove both",
				trees, cur, cur);
		lock = xasprintf("%s.lock", parent);
		fd = checkout_lock_at(tdir, lock, LOCK_SH);
		if (fd < 0)
			return err_set(err, -fd, "lock '%s/%s'", trees, lock);
		push_layer(&t, trees, parent, fd);
		/* Prune never removes a parent whose delta is there: gone means tampered. */
		if (fstatat(tdir, parent, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
			return err_set(err, ESTALE,
				       "tree '%s/%s': its parent layer '%s' is missing; remove "
				       "'%s' and '%s.parent'",
				       trees, cur, parent, cur, cur);
		(void) futimens(fd, NULL);
		memcpy(cur, parent, sizeof(cur));
	}
	*ret = t;
	t = (struct checkout_tree){ 0 };
	return 0;
}

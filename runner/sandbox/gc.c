/* gc.c - the sandboxes of this state dir from outside: ps, destroy and gc. A sandbox is
 * live while its mayfly holds the lock of its entry; gc takes over entries whose lock is
 * free and finishes their teardown: kill pid 1 (checking its start time, so a reused pid
 * is never hit), remove the cgroup, remove the entry. */
#include "sandbox/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "archive/archive.h"
#include "cgroup/cgroup.h"
#include "sandbox/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define STALE_NEW_ENTRY_MS (60 * 1000)

static void kill_init(const struct journal_rec *rec)
{
	if (rec->init_pid > 1 && rec->init_start &&
	    proc_start_time(rec->init_pid) == rec->init_start)
		(void) kill(rec->init_pid, SIGKILL);
}

static int kill_cgroup(const struct journal_rec *rec, bool destroy, struct err *err)
{
	CLEANUP(cg_freep) struct cg *cg = NULL;
	int r;

	if (!rec->cgroup || !*rec->cgroup)
		return 0;
	r = cg_open(rec->cgroup, &cg, err);
	if (r == -ENOENT) {
		err_clear(err);
		return 0;
	}
	if (r < 0)
		return r;
	return destroy ? cg_destroy(cg, err) : cg_kill(cg, err);
}

/* Take over a dead entry: teardown of what it names, then the entry itself. */
static int collect(const char *state, const char *name, struct err *err)
{
	cleanup_free char *dir = xasprintf("%s/sandboxes/%s", state, name);
	cleanup_free char *lock = path_join(dir, "lock");
	cleanup_close int fd = open(lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct journal_rec rec = { 0 };
	struct err e2 = { 0 };
	int r;

	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? 0 : err_set(err, errno, "lock '%s'", lock);
	if (journal_read(state, name, &rec, &e2) == 0) {
		kill_init(&rec);
		r = kill_cgroup(&rec, true, err);
		journal_rec_release(&rec);
		if (r < 0)
			return err_wrap(err, "sandbox %s", name);
	}
	secrets_gc_release(state, name);
	return rm_rf_at(AT_FDCWD, dir, err) < 0 ? -err->code : 1;
}

int sandbox_gc(const char *state, unsigned *ret_n, struct err *err)
{
	cleanup_free char *dir = path_join(state, "sandboxes");
	DIR *d = opendir(dir);
	struct dirent *de;
	unsigned n = 0;
	int r = 0;

	*ret_n = 0;
	if (!d)
		return errno == ENOENT ? 0 : err_set(err, errno, "open '%s'", dir);
	while ((de = readdir(d))) {
		const char *name = de->d_name;
		int k;

		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		if (str_startswith(name, ".new-")) {
			/* Born but never renamed: its creator died in between. */
			struct stat st;
			if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    wall_ms() - (int64_t) st.st_mtime * 1000 > STALE_NEW_ENTRY_MS) {
				cleanup_free char *p = path_join(dir, name);
				if (rm_rf_at(AT_FDCWD, p, err) == 0)
					n++;
			}
			continue;
		}
		k = collect(state, name, err);
		if (k < 0) {
			r = k;
			break;
		}
		n += (unsigned) k;
	}
	(void) closedir(d);
	if (r == 0) {
		/* Half-unpacked images of killed mayflies too. */
		cleanup_free char *images = path_join(state, "images");
		struct err e2 = { 0 };
		(void) arc_gc(images, &e2);
	}
	*ret_n = n;
	return r;
}

int sandbox_list(const char *state, struct sandbox_info **ret, size_t *ret_n, struct err *err)
{
	cleanup_free char *dir = path_join(state, "sandboxes");
	DIR *d = opendir(dir);
	struct sandbox_info *v = NULL;
	struct dirent *de;
	size_t n = 0;

	if (!d) {
		if (errno != ENOENT)
			return err_set(err, errno, "open '%s'", dir);
		*ret = NULL;
		*ret_n = 0;
		return 0;
	}
	while ((de = readdir(d))) {
		struct journal_rec rec = { 0 };
		struct err e2 = { 0 };

		if (de->d_name[0] == '.' || !journal_is_live(state, de->d_name))
			continue;
		if (journal_read(state, de->d_name, &rec, &e2) < 0)
			continue; /* being born: no journal yet */
		v = xrealloc(v, (n + 1) * sizeof(*v));
		memset(&v[n], 0, sizeof(v[n]));
		memcpy(v[n].id, rec.id, sizeof(v[n].id));
		v[n].command = TAKE_PTR(rec.command);
		v[n].created_ms = rec.created_ms;
		v[n].deadline_ms = rec.deadline_ms;
		v[n].pid = rec.owner;
		if (rec.cgroup) {
			CLEANUP(cg_freep) struct cg *cg = NULL;
			if (cg_open(rec.cgroup, &cg, &e2) == 0)
				(void) cg_memory_current(cg, &v[n].memory_bytes, &e2);
		}
		journal_rec_release(&rec);
		n++;
	}
	(void) closedir(d);
	*ret = v;
	*ret_n = n;
	return 0;
}

void sandbox_info_free(struct sandbox_info *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].command);
	free(v);
}

int sandbox_destroy(const char *state, const char *id, struct err *err)
{
	struct journal_rec rec = { 0 };
	cleanup_free char *mark = NULL;
	cleanup_close int fd = -1;
	int r;

	r = journal_read(state, id, &rec, err);
	if (r == -ENOENT)
		return err_set(err, ENOENT, "no sandbox '%s' (see 'mayfly ps')", id);
	if (r < 0)
		return r;
	if (!journal_is_live(state, id)) {
		journal_rec_release(&rec);
		r = collect(state, id, err);
		return r < 0 ? r : 0;
	}
	/* Tell its mayfly why, then kill: the mayfly reports it and tears down. */
	mark = xasprintf("%s/sandboxes/%s/destroyed", state, id);
	fd = open(mark, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = err_set(err, errno, "sandbox %s: create '%s'", id, mark);
		journal_rec_release(&rec);
		return r;
	}
	kill_init(&rec);
	r = kill_cgroup(&rec, false, err);
	journal_rec_release(&rec);
	return r < 0 ? err_wrap(err, "sandbox %s", id) : 0;
}

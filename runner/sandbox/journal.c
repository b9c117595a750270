/* journal.c - one record per live sandbox under <state>/sandboxes/<id>/: journal.json
 * (written atomically) and lock (held by the owner). A sandbox directory is born under a
 * hidden name, locked, then renamed into place, so gc never sees an unlocked live one. */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/json.h"
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

static char *entry_path(const char *state, const char *id)
{
	return xasprintf("%s/sandboxes/%s", state, id);
}

static bool id_is_valid(const char *id)
{
	size_t n = strlen(id);

	if (n != 16)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return true;
}

int journal_begin(const char *state, char ret_id[17], int *ret_lock_fd, struct err *err)
{
	unsigned char rnd[8];
	char id[17];
	cleanup_free char *tmp = NULL, *final = NULL, *lock = NULL;
	cleanup_close int fd = -1;

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t) sizeof(rnd))
		return err_set(err, errno, "getrandom");
	for (size_t i = 0; i < sizeof(rnd); i++)
		(void) snprintf(id + 2 * i, 3, "%02x", rnd[i]);
	tmp = xasprintf("%s/sandboxes/.new-%s", state, id);
	final = entry_path(state, id);
	if (mkdir(tmp, 0700) < 0)
		return err_set(err, errno, "create sandbox dir '%s'", tmp);
	lock = path_join(tmp, "lock");
	fd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		int r = err_set(err, errno, "lock '%s'", lock);
		(void) unlink(lock);
		(void) rmdir(tmp);
		return r;
	}
	if (rename(tmp, final) < 0) {
		int r = err_set(err, errno, "rename '%s'", tmp);
		(void) unlink(lock);
		(void) rmdir(tmp);
		return r;
	}
	memcpy(ret_id, id, sizeof(id));
	*ret_lock_fd = TAKE_FD(fd);
	return 0;
}

int journal_write(const char *state, const struct journal_rec *rec, struct err *err)
{
	cleanup_free char *dir = entry_path(state, rec->id);
	cleanup_close int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct json_w *w = json_w_new();
	cleanup_free char *text = NULL;
	int r;

	json_w_obj_open(w, NULL);
	json_w_str(w, "id", rec->id);
	json_w_i64(w, "owner", rec->owner);
	json_w_i64(w, "init_pid", rec->init_pid);
	json_w_i64(w, "init_start", (int64_t) rec->init_start);
	json_w_i64(w, "created_ms", rec->created_ms);
	json_w_i64(w, "deadline_ms", rec->deadline_ms);
	json_w_str(w, "cgroup", rec->cgroup);
	json_w_str(w, "command", rec->command);
	json_w_obj_close(w);
	text = json_w_done(w);
	if (dfd < 0)
		return err_set(err, errno, "open '%s'", dir);
	/* Not durable on purpose: sandboxes do not survive a reboot, and a journal only has
	 * to outlive a killed mayfly, which the page cache does. */
	r = write_file_atomic_at(dfd, "journal.json", text, strlen(text), 0600, 0, err);
	if (r < 0)
		return err_wrap(err, "journal of sandbox %s", rec->id);
	return 0;
}

int journal_read(const char *state, const char *id, struct journal_rec *rec, struct err *err)
{
	cleanup_free char *path = NULL, *text = NULL;
	CLEANUP(json_freep) struct json *j = NULL;
	size_t len;
	int64_t v;
	int r;

	if (!id_is_valid(id))
		return err_set(err, ENOENT,
			       "no sandbox '%s' (ids are 16 hex digits; see "
			       "'mayfly ps')",
			       id);
	path = xasprintf("%s/sandboxes/%s/journal.json", state, id);
	r = read_file_at(AT_FDCWD, path, 64 * 1024, &text, &len, err);
	if (r < 0)
		return r;
	r = json_parse(text, len, &j, err);
	if (r < 0)
		return err_wrap(err, "journal '%s'", path);
	memset(rec, 0, sizeof(*rec));
	memcpy(rec->id, id, 17);
	if (json_get_i64(j, "owner", &v))
		rec->owner = (pid_t) v;
	if (json_get_i64(j, "init_pid", &v))
		rec->init_pid = (pid_t) v;
	if (json_get_i64(j, "init_start", &v))
		rec->init_start = (uint64_t) v;
	if (json_get_i64(j, "created_ms", &v))
		rec->created_ms = v;
	if (json_get_i64(j, "deadline_ms", &v))
		rec->deadline_ms = v;
	if (json_get_str(j, "cgroup"))
		rec->cgroup = xstrdup(json_get_str(j, "cgroup"));
	rec->command = xstrdup(json_get_str(j, "command") ? json_get_str(j, "command") : "");
	return 0;
}

void journal_rec_release(struct journal_rec *rec)
{
	free(rec->cgroup);
	free(rec->command);
	rec->cgroup = rec->command = NULL;
}

int journal_remove(const char *state, const char *id, struct err *err)
{
	cleanup_free char *dir = entry_path(state, id);
	return rm_rf_at(AT_FDCWD, dir, err);
}

bool journal_is_live(const char *state, const char *id)
{
	cleanup_free char *lock = xasprintf("%s/sandboxes/%s/lock", state, id);
	cleanup_close int fd = open(lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return false;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0)
		return errno == EWOULDBLOCK;
	return false;
}

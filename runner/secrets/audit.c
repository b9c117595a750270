/* audit.c - the audit log: <state>/audit.log, one JSON object per line, appended with
 * O_APPEND under an exclusive flock (so lines from concurrent mayflies never interleave),
 * mode 0600. Records names, never values. */
#include "secrets/secrets.h"

#include <errno.h>
#include <time.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "secrets/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/json.h"
#include "util/path.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define AUDIT_NAME     "audit.log"
#define AUDIT_READ_MAX (256u << 20)

int secret_audit_append(const char *state_dir, const struct secret_audit_rec *rec, struct err *err)
{
	cleanup_free char *path = path_join(state_dir, AUDIT_NAME), *line = NULL, *text = NULL;
	cleanup_close int fd = -1;
	struct json_w *w = json_w_new();
	int64_t now = secrets_wall_ms();
	char when[64];
	int r;

	secrets_format_time(now, when, sizeof(when));
	json_w_obj_open(w, NULL);
	json_w_str(w, "time", when);
	json_w_i64(w, "time_ms", now);
	json_w_str(w, "event", rec->event);
	json_w_str(w, "sandbox", rec->sandbox);
	if (rec->caller) {
		json_w_i64(w, "uid", (int64_t) rec->caller->uid);
		json_w_str(w, "frontend", rec->caller->frontend ? rec->caller->frontend : "cli");
		json_w_str(w, "repository", rec->caller->repository);
		json_w_str(w, "branch", rec->caller->branch);
		json_w_str(w, "job", rec->caller->job);
	}
	json_w_str(w, "environment", rec->env);
	if (rec->names) {
		json_w_arr_open(w, "names");
		for (size_t i = 0; rec->names[i]; i++)
			json_w_str(w, NULL, rec->names[i]);
		json_w_arr_close(w);
	}
	if (rec->roles) {
		json_w_arr_open(w, "roles");
		for (size_t i = 0; rec->roles[i]; i++)
			json_w_str(w, NULL, rec->roles[i]);
		json_w_arr_close(w);
	}
	if (rec->until_ms) {
		secrets_format_time(rec->until_ms, when, sizeof(when));
		json_w_str(w, "until", when);
	}
	json_w_str(w, "outcome", rec->outcome ? rec->outcome : "ok");
	json_w_obj_close(w);
	text = json_w_done(w);
	line = xasprintf("%s\n", text);

	/* 0711 like the rest of the state dir: sandboxes reach parts of it (sandbox/state.c). */
	r = mkdir_p(state_dir, 0711, err);
	if (r < 0)
		return err_wrap(err, "audit log");
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (fd < 0)
		return err_set(err, errno, "open audit log '%s'", path);
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR)
			return err_set(err, errno, "lock audit log '%s'", path);
	r = fd_write_all(fd, line, strlen(line));
	if (r == 0 && fdatasync(fd) < 0)
		r = -errno;
	if (r < 0)
		return err_set(err, -r, "append to audit log '%s'", path);
	return 0;
}

/* The broker and the egress proxy write "time": "YYYY-MM-DDTHH:MM:SS.mmmZ" only. */
static bool iso_ms(const char *s, int64_t *ret)
{
	struct tm tm = { 0 };
	int ms = 0, n = 0;

	if (!s || sscanf(s, "%d-%d-%dT%d:%d:%d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			 &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return false;
	if (s[n] == '.' && sscanf(s + n + 1, "%3d", &ms) != 1)
		return false;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*ret = (int64_t) timegm(&tm) * 1000 + ms;
	return true;
}

int secret_audit_read(const char *state_dir, int64_t since_ms, const char *sandbox,
		      secret_audit_fn *fn, void *userdata, struct err *err)
{
	cleanup_free char *path = path_join(state_dir, AUDIT_NAME), *text = NULL;
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	size_t len = 0;
	int r;

	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return err_set(err, errno, "open audit log '%s'", path);
	while (flock(fd, LOCK_SH) < 0)
		if (errno != EINTR)
			return err_set(err, errno, "lock audit log '%s'", path);
	r = fd_read_all(fd, AUDIT_READ_MAX, &text, &len);
	if (r < 0)
		return err_set(err, -r, "read audit log '%s'", path);
	for (char *line = text, *next; line && *line; line = next) {
		CLEANUP(json_freep) struct json *j = NULL;
		struct err e2 = { 0 };
		int64_t t = 0;
		const char *sb;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (json_parse(line, strlen(line), &j, &e2) < 0)
			continue; /* a torn last line after a crash: skip it */
		if (!json_get_i64(j, "time_ms", &t) && !iso_ms(json_get_str(j, "time"), &t))
			continue;
		if (t < since_ms)
			continue;
		sb = json_get_str(j, "sandbox");
		if (sandbox && (!sb || strcmp(sb, sandbox) != 0))
			continue;
		fn(userdata, line, t);
	}
	return 0;
}

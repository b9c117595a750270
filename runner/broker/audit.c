/* audit.c - one JSON line per broker call in the audit log shared with the vault's lease
 * lines: never a value. */
#include "broker/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/json.h"
#include "util/banned.h"

bool broker_audit_write(const struct broker_server *s, const struct broker_audit *a)
{
	struct timeval tv;
	struct tm tm;
	char when[40];
	struct json_w *w = json_w_new();
	cleanup_free char *line = NULL;
	size_t len;
	bool ok;

	(void) gettimeofday(&tv, NULL);
	(void) gmtime_r(&tv.tv_sec, &tm);
	(void) snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
			tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			tm.tm_sec, (int) (tv.tv_usec / 1000));
	json_w_obj_open(w, NULL);
	json_w_str(w, "kind", "broker");
	json_w_str(w, "time", when);
	json_w_str(w, "sandbox", s->cfg->sandbox_id ? s->cfg->sandbox_id : "");
	json_w_i64(w, "peer_pid", a->pid);
	json_w_str(w, "verb", a->verb ? a->verb : "");
	json_w_str(w, "name", a->name ? a->name : "");
	if (a->method)
		json_w_str(w, "method", a->method);
	if (a->host) {
		json_w_str(w, "host", a->host);
		json_w_i64(w, "port", a->port);
		json_w_str(w, "path", a->path ? a->path : "");
	}
	json_w_i64(w, "status", a->status);
	json_w_i64(w, "bytes", (int64_t) a->bytes);
	json_w_i64(w, "duration_ms", (int64_t) (broker_now_ms() - a->start_ms));
	json_w_bool(w, "allowed", a->allowed);
	if (a->dry_run)
		json_w_bool(w, "dry_run", true);
	json_w_str(w, "reason", a->reason ? a->reason : "");
	json_w_obj_close(w);
	line = json_w_done(w);
	len = strlen(line);
	line[len] = '\n'; /* json_w_done's text has room: replace its NUL */
	/* One write() per line on an O_APPEND fd; a short write is not retried (it would
	 * interleave) but reported, and the caller withholds the answer. */
	ok = s->audit_fd >= 0 && write(s->audit_fd, line, len + 1) == (ssize_t) (len + 1);
	line[len] = '\0';
	return ok;
}

char *broker_audited(bool ok, char *answer)
{
	if (ok)
		return answer;
	free(answer);
	return broker_error_json("the audit log cannot be written: nothing is answered without "
				 "a record (ask the host's admin)");
}

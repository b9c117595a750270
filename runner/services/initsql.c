/* initsql.c - init SQL files, run by the installed psql as the official image runs them
 * (ON_ERROR_STOP=1, no psqlrc), because psql splits statements as PostgreSQL does (dollar
 * quotes, comments, COPY data), understands meta-commands, and names the file and line
 * of a failure, which we pick out of its output. */
#include "services/services.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "services/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

DEFINE_CLEANUP(char **, strv_free)

#define FILES_MAX 256

/* In "psql:FILE:LINE: ERROR:  text", where the severity starts; FILE may hold colons. */
static const char *severity_at(const char *line, size_t len)
{
	static const char *const marks[] = { ": ERROR:", ": FATAL:", ": error:", ": PANIC:" };
	const char *best = NULL;

	for (size_t i = 0; i < ARRAY_SIZE(marks); i++) {
		const char *m = memmem(line, len, marks[i], strlen(marks[i]));
		if (m && (!best || m < best))
			best = m;
	}
	return best;
}

void psql_error(const char *out, char *buf, size_t size)
{
	for (const char *line = out; *line;) {
		size_t len = strcspn(line, "\n");
		const char *sev = str_startswith(line, "psql:") ? severity_at(line, len) : NULL;
		const char *colon = NULL;

		/* FILE:LINE before the severity: the last colon splits them. */
		for (const char *p = line + 5; sev && p < sev; p++)
			if (*p == ':')
				colon = p;
		bool digits = colon && colon + 1 < sev;
		for (const char *p = colon ? colon + 1 : sev; digits && p < sev; p++)
			digits = *p >= '0' && *p <= '9';
		if (digits) {
			const char *text = sev + 2; /* "ERROR:  message" */
			const char *sp = strchr(text, ':');
			size_t tlen = len - (size_t) (text - line);
			const char *next = line[len] ? line + len + 1 : line + len;
			size_t nlen = strcspn(next, "\n");
			int o = snprintf(buf, size, "init file '%.*s' line %.*s: %.*s:",
					 (int) (colon - line - 5), line + 5,
					 (int) (sev - colon - 1), colon + 1, (int) (sp - text),
					 text);
			const char *msg = sp + 1;
			msg += strspn(msg, " ");
			if (o >= 0 && (size_t) o < size)
				o += snprintf(buf + o, size - (size_t) o, " %.*s",
					      (int) (tlen - (size_t) (msg - text)), msg);
			/* psql prints DETAIL (and LINE/HINT) on the following lines. */
			if (o >= 0 && (size_t) o < size && str_startswith(next, "DETAIL:"))
				(void) snprintf(buf + o, size - (size_t) o, " (%.*s)", (int) nlen,
						next);
			return;
		}
		line += len;
		if (*line)
			line++;
	}
	out_tail(out, 2, buf, size);
	if (!buf[0])
		(void) snprintf(buf, size, "psql failed without a message");
}

int svc_pg_exec_files(const struct svc_install *inst, const struct svc_target *t, const char *cwd,
		      char *const *files, unsigned timeout_ms, struct err *err)
{
	cleanup_free char *psql = path_join(inst->bindir, "psql");
	cleanup_free char *port = xasprintf("%u", t->port ? t->port : SVC_PG_PORT);
	cleanup_free char *pw = t->password ? xasprintf("PGPASSWORD=%s", t->password) : NULL;
	const char *user = t->user ? t->user : "postgres";
	CLEANUP(strv_freep) char **argv = NULL;
	cleanup_free char *out = NULL;
	char msg[ERR_MSG_MAX - 64], st[48];
	int status, r;

	if (strv_len(files) == 0)
		return 0;
	if (strv_len(files) > FILES_MAX)
		return err_set(err, EINVAL, "init files: more than %d", FILES_MAX);
	/* The password goes in the environment, never in argv (ps shows argv to all). */
	char *envp[] = { (char *) "LC_ALL=C.UTF-8", (char *) "PGAPPNAME=mayfly-init",
			 (char *) "PGCONNECT_TIMEOUT=10", pw, NULL };
	struct svc_spawn how = {
		.envp = envp, .out_fd = -1, .uid = (uid_t) -1, .gid = (gid_t) -1, .cwd = cwd
	};
	strv_push(&argv, psql);
	strv_push(&argv, "-X");
	strv_push(&argv, "-q");
	strv_push(&argv, "--no-password");
	strv_push(&argv, "-v");
	strv_push(&argv, "ON_ERROR_STOP=1");
	strv_push(&argv, "-h");
	strv_push(&argv, t->host ? t->host : "localhost");
	strv_push(&argv, "-p");
	strv_push(&argv, port);
	strv_push(&argv, "-U");
	strv_push(&argv, user);
	strv_push(&argv, "-d");
	strv_push(&argv, t->db ? t->db : user);
	for (size_t i = 0; files[i]; i++) {
		strv_push(&argv, "-f");
		strv_push(&argv, files[i]);
	}
	r = svc_run(argv, &how, timeout_ms, &status, &out, err);
	if (r < 0)
		return err_wrap(err, "init files");
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	psql_error(out, msg, sizeof(msg));
	if (str_startswith(msg, "init file '"))
		return err_set(err, EINVAL, "%s", msg);
	status_text(status, st, sizeof(st));
	return err_set(err, EIO, "init files: psql %s: %s", st, msg);
}

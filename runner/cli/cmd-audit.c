/* cmd-audit.c - `mayfly audit`: who leased what, when, from the audit log. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "sandbox/sandbox.h"
#include "secrets/secrets.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"
#include "util/str.h"
#include "util/banned.h"

static const char audit_usage[] =
	"usage: mayfly audit [--since DURATION] [--sandbox ID] [--json]\n"
	"\n"
	"Print the audit log: every lease, release and denial of secrets, every change to\n"
	"the vault (time, event, sandbox, caller, environment, names, outcome), every broker\n"
	"call (verb, name, target, allowed or denied and why) and every egress decision\n"
	"(host, port, allowed or denied and why) and database forward (address, port,\n"
	"bytes each way) of a postgres-role lease, whose roles the lease and revoke lines\n"
	"name. Never values. --since 1h: only the last\n"
	"hour; --json: the log's JSON lines as they are.\n";

static const char *str_or(const struct json *j, const char *key, const char *dflt)
{
	const char *s = json_get_str(j, key);
	return s && *s ? s : dflt;
}

/* A broker call, an egress decision or a database forward (their lines carry "kind");
 * false for the rest. */
static bool print_other(const struct json *j)
{
	const char *kind = json_get_str(j, "kind");
	int64_t port = 0, status = 0;
	bool allowed = false;
	char what[512];

	if (!kind || (strcmp(kind, "broker") != 0 && strcmp(kind, "egress") != 0 &&
		      strcmp(kind, "forward") != 0))
		return false;
	(void) json_get_i64(j, "status", &status);
	if (strcmp(kind, "forward") == 0) {
		int64_t up = 0, down = 0;
		(void) json_get_i64(j, "port", &port);
		(void) json_get_i64(j, "bytes_up", &up);
		(void) json_get_i64(j, "bytes_down", &down);
		(void) snprintf(what, sizeof(what), "%s:%lld up %lld down %lld",
				str_or(j, "addr", "?"), (long long) port, (long long) up,
				(long long) down);
		allowed = strcmp(str_or(j, "decision", ""), "allow") == 0;
	} else if (strcmp(kind, "egress") == 0) {
		(void) json_get_i64(j, "port", &port);
		(void) snprintf(what, sizeof(what), "%s %s:%lld", str_or(j, "method", "?"),
				str_or(j, "host", "?"), (long long) port);
		allowed = strcmp(str_or(j, "decision", ""), "allow") == 0;
	} else {
		(void) snprintf(what, sizeof(what), "%s %s %s%s%s", str_or(j, "verb", "?"),
				str_or(j, "name", "?"), str_or(j, "method", ""),
				json_get_str(j, "host") ? " " : "", str_or(j, "host", ""));
		(void) json_get_bool(j, "allowed", &allowed);
	}
	char t[24];
	(void) snprintf(t, sizeof(t), "%.19sZ", str_or(j, "time", "?"));
	printf("%-20s %-8s %-16s %-48s %s%s%s\n", t, kind, str_or(j, "sandbox", "-"), what,
	       allowed ? "allowed" : "denied", *str_or(j, "reason", "") ? ": " : "",
	       str_or(j, "reason", ""));
	return true;
}

static void print_line(void *userdata, const char *line, int64_t time_ms)
{
	const bool *json = userdata;
	CLEANUP(json_freep) struct json *j = NULL;
	struct err err = { 0 };
	char names[1024] = "";
	const struct json *arr;
	size_t at = 0;

	(void) time_ms;
	if (*json) {
		printf("%s\n", line);
		return;
	}
	if (json_parse(line, strlen(line), &j, &err) < 0)
		return;
	if (print_other(j))
		return;
	arr = json_get(j, "names");
	for (size_t i = 0; i < json_array_len(arr) && at < sizeof(names); i++) {
		const char *s = json_str(json_array_at(arr, i));
		int n = snprintf(names + at, sizeof(names) - at, "%s%s", i ? "," : "", s ? s : "?");
		if (n > 0)
			at += (size_t) n;
	}
	arr = json_get(j, "roles");
	for (size_t i = 0; i < json_array_len(arr) && at < sizeof(names); i++) {
		const char *s = json_str(json_array_at(arr, i));
		int n = snprintf(names + at, sizeof(names) - at, "%srole=%s", at ? "," : "",
				 s ? s : "?");
		if (n > 0)
			at += (size_t) n;
	}
	const char *sb = json_get_str(j, "sandbox"), *env = json_get_str(j, "environment");
	int64_t uid = -1;
	(void) json_get_i64(j, "uid", &uid);
	printf("%-20s %-8s %-16s uid=%-6lld %-20s %-30s %s\n", json_get_str(j, "time"),
	       json_get_str(j, "event"), sb ? sb : "-", (long long) uid, env ? env : "-",
	       names[0] ? names : "-", json_get_str(j, "outcome"));
}

int cmd_audit(const struct cli_global *g, int argc, char **argv)
{
	cleanup_free char *state = sandbox_state_dir(g->state_dir);
	const char *sandbox = NULL;
	struct err err = { 0 };
	int64_t since = 0;
	bool json = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			(void) fputs(audit_usage, stdout);
			return 0;
		} else if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--sandbox") == 0 && i + 1 < argc)
			sandbox = argv[++i];
		else if (strcmp(argv[i], "--since") == 0 && i + 1 < argc) {
			uint64_t ms;
			struct timespec ts;
			if (str_parse_duration(argv[++i], &ms, &err) < 0)
				return cli_usage_error("audit", "--since: %s", err.msg);
			(void) clock_gettime(CLOCK_REALTIME, &ts);
			since = (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - (int64_t) ms;
		} else
			return cli_usage_error("audit", "unknown argument '%s'", argv[i]);
	}
	if (secret_audit_read(state, since, sandbox, print_line, &json, &err) < 0) {
		log_error("audit: %s", err.msg);
		return 1;
	}
	return 0;
}

/* cmd-ps.c - `mayfly ps`, `mayfly destroy`, `mayfly gc`: the sandboxes of a state dir. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "sandbox/sandbox.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"
#include "util/str.h"
#include "util/banned.h"

#include <time.h>

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool wants_help(int argc, char **argv, const char *text)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			(void) fputs(text, stdout);
			return true;
		}
	return false;
}

int cmd_ps(const struct cli_global *g, int argc, char **argv)
{
	static const char help[] = "usage: mayfly ps [--json]\n\nList live sandboxes: id, "
				   "age, TTL left, memory, command.\n";
	cleanup_free char *state = sandbox_state_dir(g->state_dir);
	struct sandbox_info *v = NULL;
	struct err err = { 0 };
	bool json = false;
	size_t n = 0;
	int64_t now = now_ms();

	if (wants_help(argc, argv, help))
		return 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else
			return cli_usage_error("ps", "unknown argument '%s'", argv[i]);
	}
	/* Like every mayfly start, finish what a killed mayfly left behind first. */
	{
		unsigned cleaned = 0;
		struct err e2 = { 0 };
		(void) sandbox_gc(state, &cleaned, &e2);
	}
	if (sandbox_list(state, &v, &n, &err) < 0) {
		log_error("ps: %s", err.msg);
		return 1;
	}
	if (json) {
		struct json_w *w = json_w_new();
		cleanup_free char *text = NULL;
		json_w_arr_open(w, NULL);
		for (size_t i = 0; i < n; i++) {
			json_w_obj_open(w, NULL);
			json_w_str(w, "id", v[i].id);
			json_w_str(w, "command", v[i].command);
			json_w_i64(w, "created_ms", v[i].created_ms);
			json_w_i64(w, "deadline_ms", v[i].deadline_ms);
			json_w_i64(w, "memory_bytes", (int64_t) v[i].memory_bytes);
			json_w_i64(w, "pid", v[i].pid);
			json_w_obj_close(w);
		}
		json_w_arr_close(w);
		text = json_w_done(w);
		printf("%s\n", text);
	} else {
		printf("%-16s  %-8s  %-8s  %-8s  %s\n", "ID", "AGE", "TTL LEFT", "MEMORY",
		       "COMMAND");
		for (size_t i = 0; i < n; i++) {
			char age[32], left[32], mem[32];
			int64_t l = v[i].deadline_ms - now;
			str_format_duration((uint64_t) (now - v[i].created_ms), age, sizeof(age));
			str_format_duration(l > 0 ? (uint64_t) l : 0, left, sizeof(left));
			str_format_size(v[i].memory_bytes, mem, sizeof(mem));
			printf("%-16s  %-8s  %-8s  %-8s  %s\n", v[i].id, age, left,
			       v[i].memory_bytes ? mem : "-", v[i].command);
		}
	}
	sandbox_info_free(v, n);
	return 0;
}

int cmd_destroy(const struct cli_global *g, int argc, char **argv)
{
	static const char help[] = "usage: mayfly destroy ID...\n\nKill every process of "
				   "each sandbox now; its 'mayfly exec' reports it and exits "
				   "137.\n";
	cleanup_free char *state = sandbox_state_dir(g->state_dir);
	int rc = 0;

	if (wants_help(argc, argv, help))
		return 0;
	if (argc < 2)
		return cli_usage_error("destroy", "no sandbox id given (see 'mayfly ps')");
	for (int i = 1; i < argc; i++) {
		struct err err = { 0 };
		if (sandbox_destroy(state, argv[i], &err) < 0) {
			log_error("destroy: %s", err.msg);
			rc = 1;
		}
	}
	return rc;
}

int cmd_gc(const struct cli_global *g, int argc, char **argv)
{
	static const char help[] = "usage: mayfly gc\n\nFinish the teardown of sandboxes "
				   "whose mayfly was killed: their processes, cgroups and "
				   "state.\n";
	cleanup_free char *state = sandbox_state_dir(g->state_dir);
	struct err err = { 0 };
	unsigned n = 0;

	if (wants_help(argc, argv, help))
		return 0;
	if (argc > 1)
		return cli_usage_error("gc", "unknown argument '%s'", argv[1]);
	if (sandbox_gc(state, &n, &err) < 0) {
		log_error("gc: %s", err.msg);
		return 1;
	}
	printf("cleaned up %u sandbox%s\n", n, n == 1 ? "" : "es");
	n = exec_repo_gc(state);
	if (n > 0)
		printf("removed %u checkout layer%s left by killed runs\n", n, n == 1 ? "" : "s");
	return 0;
}

/* cmd-services.c - `mayfly services ls`: the kinds and versions of servers a job can ask
 * for with --service, where they are, and their PostgreSQL templates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "sandbox/sandbox.h"
#include "services/services.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"
#include "util/path.h"
#include "util/banned.h"

static const char help[] =
	"usage: mayfly services ls [--json]\n"
	"\n"
	"The servers a job can have with 'mayfly exec --service KIND[:VERSION]': each installed\n"
	"kind and version, its binary, whether it is the default, how many PostgreSQL\n"
	"templates exist for it.\n";

int cmd_services(const struct cli_global *g, int argc, char **argv)
{
	cleanup_free char *state = sandbox_state_dir(g->state_dir);
	cleanup_free char *cache = path_join(state, "cache");
	cleanup_free struct svc_info *v = NULL;
	struct err err = { 0 };
	bool json = false;
	size_t n = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			(void) fputs(help, stdout);
			return 0;
		}
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (i != 1 || strcmp(argv[i], "ls") != 0)
			return cli_usage_error("services", "unknown argument '%s'", argv[i]);
	}
	if (argc < 2 || strcmp(argv[1], "ls") != 0)
		return cli_usage_error("services", "expected 'ls'");
	if (svc_list(NULL, cache, &v, &n, &err) < 0) {
		log_error("services: %s", err.msg);
		return 1;
	}
	if (json) {
		struct json_w *w = json_w_new();
		cleanup_free char *text = NULL;
		json_w_arr_open(w, NULL);
		for (size_t i = 0; i < n; i++) {
			bool redis = v[i].inst.kind == SVC_REDIS;
			json_w_obj_open(w, NULL);
			json_w_str(w, "kind", redis ? "redis" : "postgres");
			json_w_str(w, "version",
				   v[i].full_version[0] ? v[i].full_version : v[i].inst.version);
			json_w_str(w, "server", v[i].inst.server);
			json_w_bool(w, "default", v[i].is_default);
			json_w_i64(w, "templates", v[i].templates);
			json_w_obj_close(w);
		}
		json_w_arr_close(w);
		text = json_w_done(w);
		printf("%s\n", text);
		return 0;
	}
	printf("%-9s %-9s %-8s %-9s %s\n", "KIND", "VERSION", "DEFAULT", "TEMPLATES", "SERVER");
	for (size_t i = 0; i < n; i++) {
		bool redis = v[i].inst.kind == SVC_REDIS;
		printf("%-9s %-9s %-8s %-9u %s\n", redis ? "redis" : "postgres",
		       v[i].full_version[0] ? v[i].full_version : v[i].inst.version,
		       v[i].is_default ? "yes" : "", v[i].templates, v[i].inst.server);
	}
	if (n == 0)
		printf("(none installed: apt-get install postgresql redis-server)\n");
	return 0;
}

/* cmd-cache.c - `mayfly cache ls|prune`: the git mirrors and the materialised trees that
 * `mayfly exec --repo` keeps under the state dir, their sizes and last use. prune keeps
 * both within one budget: trees go first (least recently used first; a tree is rebuilt
 * from its mirror without the network), then mirrors (a mirror costs a fetch), never
 * anything in use; --older-than drops whatever nobody used for that long. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "checkout/checkout.h"
#include "cli/cli.h"
#include "sandbox/sandbox.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"
#include "util/path.h"
#include "util/str.h"
#include "util/banned.h"

#define DEFAULT_MAX_SIZE (20ULL << 30)

static const char help[] =
	"usage: mayfly cache ls [--json]\n"
	"       mayfly cache prune [--max-size SIZE] [--older-than DURATION] [--json]\n"
	"\n"
	"The checkout cache of 'mayfly exec --repo': one bare mirror per remote, and the\n"
	"materialised trees (one per commit's tree, read-only, shared by every job).\n"
	"\n"
	"  ls                 mirrors (remote, size, last fetch, last use, in use) and trees\n"
	"                     (id, size, what removing it frees, last use, in use), totals\n"
	"  prune              fit mirrors and trees together in SIZE (default 20G; 0 removes\n"
	"                     everything not in use): least recently used trees first, then\n"
	"                     least recently used mirrors; never one a sandbox uses or a\n"
	"                     fetch is writing\n"
	"  --older-than D     also remove every tree and mirror unused for D (30d, 12h, 90m)\n"
	"  --json             one JSON object instead of tables\n";

char *cli_checkout_cache_dir(const char *state_dir)
{
	return path_join(state_dir, "checkout");
}

static void format_time(int64_t ms, char *buf, size_t size)
{
	time_t t = (time_t) (ms / 1000);
	struct tm tm;

	if (ms <= 0 || !gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M:%SZ", &tm) == 0)
		(void) snprintf(buf, size, "-");
}

static void print_json(const struct checkout_cache_info *c)
{
	struct json_w *w = json_w_new();
	cleanup_free char *text = NULL;

	json_w_obj_open(w, NULL);
	json_w_arr_open(w, "mirrors");
	for (size_t i = 0; i < c->n_mirrors; i++) {
		json_w_obj_open(w, NULL);
		json_w_str(w, "url", c->mirrors[i].url);
		json_w_str(w, "path", c->mirrors[i].path);
		json_w_i64(w, "bytes", (int64_t) c->mirrors[i].bytes);
		json_w_i64(w, "fetched_ms", c->mirrors[i].fetched_ms);
		json_w_i64(w, "used_ms", c->mirrors[i].used_ms);
		json_w_bool(w, "in_use", c->mirrors[i].in_use);
		json_w_obj_close(w);
	}
	json_w_arr_close(w);
	json_w_arr_open(w, "trees");
	for (size_t i = 0; i < c->n_trees; i++) {
		json_w_obj_open(w, NULL);
		json_w_str(w, "id", c->trees[i].id);
		json_w_i64(w, "bytes", (int64_t) c->trees[i].bytes);
		json_w_i64(w, "own_bytes", (int64_t) c->trees[i].own);
		json_w_i64(w, "used_ms", c->trees[i].used_ms);
		json_w_bool(w, "in_use", c->trees[i].in_use);
		if (c->trees[i].parent[0]) /* a delta layer on it */
			json_w_str(w, "parent", c->trees[i].parent);
		json_w_i64(w, "depth", c->trees[i].depth);
		json_w_obj_close(w);
	}
	json_w_arr_close(w);
	json_w_i64(w, "mirror_bytes", (int64_t) c->mirror_bytes);
	json_w_i64(w, "tree_bytes", (int64_t) c->tree_bytes);
	json_w_i64(w, "trees_in_use", c->trees_in_use);
	json_w_i64(w, "mirrors_in_use", c->mirrors_in_use);
	json_w_obj_close(w);
	text = json_w_done(w);
	printf("%s\n", text);
}

static void print_tables(const struct checkout_cache_info *c)
{
	char size[32], own[32], t1[32], t2[32];

	printf("%-9s %-21s %-21s %-6s %s\n", "SIZE", "FETCHED", "USED", "IN USE", "MIRROR");
	for (size_t i = 0; i < c->n_mirrors; i++) {
		str_format_size(c->mirrors[i].bytes, size, sizeof(size));
		format_time(c->mirrors[i].fetched_ms, t1, sizeof(t1));
		format_time(c->mirrors[i].used_ms, t2, sizeof(t2));
		printf("%-9s %-21s %-21s %-6s %s\n", size, t1, t2,
		       c->mirrors[i].in_use ? "yes" : "", c->mirrors[i].url);
	}
	str_format_size(c->mirror_bytes, size, sizeof(size));
	printf("%zu mirror%s (%u in use), %s\n\n", c->n_mirrors, c->n_mirrors == 1 ? "" : "s",
	       c->mirrors_in_use, size);
	printf("%-9s %-9s %-21s %-6s %s\n", "SIZE", "OWN", "USED", "IN USE", "TREE");
	for (size_t i = 0; i < c->n_trees; i++) {
		str_format_size(c->trees[i].bytes, size, sizeof(size));
		str_format_size(c->trees[i].own, own, sizeof(own));
		format_time(c->trees[i].used_ms, t2, sizeof(t2));
		printf("%-9s %-9s %-21s %-6s %s", size, own, t2, c->trees[i].in_use ? "yes" : "",
		       c->trees[i].id);
		if (c->trees[i].parent[0])
			printf(" (delta %u on %.12s)", c->trees[i].depth, c->trees[i].parent);
		printf("\n");
	}
	str_format_size(c->tree_bytes, size, sizeof(size));
	printf("%zu tree%s (%u in use), %s (files shared by trees counted once)\n", c->n_trees,
	       c->n_trees == 1 ? "" : "s", c->trees_in_use, size);
}

static int cache_ls(const char *cache, bool json)
{
	CLEANUP(checkout_cache_info_release) struct checkout_cache_info c = { 0 };
	struct err err = { 0 };

	if (checkout_cache_list(cache, &c, &err) < 0) {
		log_error("cache ls: %s", err.msg);
		return 1;
	}
	if (json)
		print_json(&c);
	else
		print_tables(&c);
	return 0;
}

static uint64_t minus(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

/* Trees first, within what the mirrors leave of the budget; then mirrors, within what the
 * trees left then leave. */
static int prune(const char *cache, uint64_t max, int64_t before_ms, int *ret_trees,
		 int *ret_mirrors, uint64_t *ret_freed, struct checkout_cache_info *after,
		 struct err *err)
{
	CLEANUP(checkout_cache_info_release) struct checkout_cache_info c = { 0 };
	uint64_t freed_trees = 0, freed_mirrors = 0;
	int r;

	r = checkout_cache_list(cache, &c, err);
	if (r < 0)
		return r;
	r = checkout_cache_prune_unused(cache, minus(max, c.mirror_bytes), before_ms, &freed_trees,
					err);
	if (r < 0)
		return r;
	*ret_trees = r;
	checkout_cache_info_release(&c);
	r = checkout_cache_list(cache, &c, err);
	if (r < 0)
		return r;
	r = checkout_mirror_prune(cache, minus(max, c.tree_bytes), before_ms, &freed_mirrors, err);
	if (r < 0)
		return r;
	*ret_mirrors = r;
	*ret_freed = freed_trees + freed_mirrors;
	return checkout_cache_list(cache, after, err);
}

static int cache_prune(const char *cache, uint64_t max, uint64_t older_ms, bool json)
{
	CLEANUP(checkout_cache_info_release) struct checkout_cache_info c = { 0 };
	char freed_s[32], left_s[32], max_s[32];
	int64_t before_ms = 0;
	struct err err = { 0 };
	uint64_t freed = 0;
	int trees = 0, mirrors = 0;

	if (older_ms) {
		struct timespec ts;
		(void) clock_gettime(CLOCK_REALTIME, &ts);
		before_ms = (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - (int64_t) older_ms;
	}
	if (prune(cache, max, before_ms, &trees, &mirrors, &freed, &c, &err) < 0) {
		log_error("cache prune: %s", err.msg);
		return 1;
	}
	if (json) {
		struct json_w *w = json_w_new();
		cleanup_free char *text = NULL;
		json_w_obj_open(w, NULL);
		json_w_i64(w, "removed", trees);
		json_w_i64(w, "removed_mirrors", mirrors);
		json_w_i64(w, "freed_bytes", (int64_t) freed);
		json_w_i64(w, "tree_bytes", (int64_t) c.tree_bytes);
		json_w_i64(w, "trees", (int64_t) c.n_trees);
		json_w_i64(w, "trees_in_use", c.trees_in_use);
		json_w_i64(w, "mirror_bytes", (int64_t) c.mirror_bytes);
		json_w_i64(w, "mirrors", (int64_t) c.n_mirrors);
		json_w_i64(w, "mirrors_in_use", c.mirrors_in_use);
		json_w_obj_close(w);
		text = json_w_done(w);
		printf("%s\n", text);
		return 0;
	}
	str_format_size(freed, freed_s, sizeof(freed_s));
	str_format_size(c.tree_bytes + c.mirror_bytes, left_s, sizeof(left_s));
	str_format_size(max, max_s, sizeof(max_s));
	printf("removed %d tree%s and %d mirror%s, freed %s; left: %zu tree%s (%u in use), "
	       "%zu mirror%s (%u in use), %s (budget %s)\n",
	       trees, trees == 1 ? "" : "s", mirrors, mirrors == 1 ? "" : "s", freed_s, c.n_trees,
	       c.n_trees == 1 ? "" : "s", c.trees_in_use, c.n_mirrors, c.n_mirrors == 1 ? "" : "s",
	       c.mirrors_in_use, left_s, max_s);
	if (c.tree_bytes + c.mirror_bytes > max)
		printf("over budget: what is left is in use\n");
	return 0;
}

int cmd_cache(const struct cli_global *g, int argc, char **argv)
{
	cleanup_free char *state = NULL, *cache = NULL;
	uint64_t max = DEFAULT_MAX_SIZE, older = 0;
	const char *sub = NULL;
	struct err err = { 0 };
	bool json = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			(void) fputs(help, stdout);
			return 0;
		}
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--max-size") == 0 ||
			 str_startswith(argv[i], "--max-size=")) {
			const char *v = argv[i][10] == '=' ? argv[i] + 11 : NULL;
			if (!v && i + 1 >= argc)
				return cli_usage_error("cache",
						       "option '--max-size' needs a value");
			if (!v)
				v = argv[++i];
			if (str_parse_size(v, &max, &err) < 0)
				return cli_usage_error("cache", "--max-size: %s", err.msg);
		} else if (strcmp(argv[i], "--older-than") == 0 ||
			   str_startswith(argv[i], "--older-than=")) {
			const char *v = argv[i][12] == '=' ? argv[i] + 13 : NULL;
			if (!v && i + 1 >= argc)
				return cli_usage_error("cache",
						       "option '--older-than' needs a value");
			if (!v)
				v = argv[++i];
			if (str_parse_duration(v, &older, &err) < 0)
				return cli_usage_error("cache", "--older-than: %s", err.msg);
		} else if (!sub && (strcmp(argv[i], "ls") == 0 || strcmp(argv[i], "prune") == 0))
			sub = argv[i];
		else
			return cli_usage_error("cache", "unknown argument '%s'", argv[i]);
	}
	if (!sub)
		return cli_usage_error("cache", "expected 'ls' or 'prune'");
	if (strcmp(sub, "ls") == 0 && older)
		return cli_usage_error("cache", "--older-than is for 'prune'");
	state = sandbox_state_dir(g->state_dir);
	cache = cli_checkout_cache_dir(state);
	if (strcmp(sub, "ls") == 0)
		return cache_ls(cache, json);
	return cache_prune(cache, max, older, json);
}

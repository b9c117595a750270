/* cmd-secrets.c - `mayfly secrets set|import|ls|rm|rotate|prune`: the vault of a state
 * dir. Values come from stdin or a file, never argv; nothing here prints a value. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "checkout/checkout.h"
#include "cli/cli.h"
#include "sandbox/sandbox.h"
#include "secrets/secrets.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

static const char secrets_usage[] =
	"usage: mayfly secrets COMMAND [OPTIONS]\n"
	"\n"
	"The vault: environments holding named values sealed under the host's master key.\n"
	"\n"
	"  set ENV NAME [--from-file F] [--expires DURATION] [--kind KIND]\n"
	"                      seal the value read from stdin (or F) as NAME in ENV; values\n"
	"                      are never accepted on the command line; one final newline is\n"
	"                      dropped; values under 8 bytes are refused (unmaskable);\n"
	"                      --kind postgres-role: the value is an admin connection (JSON\n"
	"                      or key=value lines) from which each lease creates a role of\n"
	"                      its own and hands the job its URL\n"
	"  import ENV --dotenv FILE [--expires DURATION]\n"
	"                      seal every NAME=VALUE line of FILE, all or nothing\n"
	"  ls [ENV] [--json]   names with created, updated and expiry times; never values\n"
	"                      (without ENV: the environments)\n"
	"  rm ENV NAME         remove one value\n"
	"  rotate [--new-key-file F]\n"
	"                      re-seal everything under a new master key (generated and put\n"
	"                      in place of the current key file, or F's), atomically\n"
	"  prune --branches-from REPO [--dry-run]\n"
	"                      remove preview/<branch> environments whose branch REPO no\n"
	"                      longer has\n"
	"\n"
	"options for every command:\n"
	"  --key-file F        the master key (default: $MAYFLY_MASTER_KEY_FILE, else\n"
	"                      $CREDENTIALS_DIRECTORY/mayfly-master-key, else\n"
	"                      <state>/secrets/master.key, made on first use, mode 0600)\n"
	"\n"
	"ENV: 'production', 'staging', 'preview/<branch>', ...: parts of letters, digits,\n"
	"'.', '_', '-' joined by '/'. NAME: a variable name. See docs/secrets.md.\n";

struct opts {
	const char *key_file;
	const char *from_file;
	const char *dotenv;
	const char *new_key_file;
	const char *branches_from;
	const char *kind;
	int64_t expires_ms;
	bool json;
	bool dry_run;
	char *pos[3];
	int npos;
};

static int parse(int argc, char **argv, struct opts *o)
{
	struct err err = { 0 };

	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = NULL;
		if (strcmp(a, "--key-file") == 0)
			slot = &o->key_file;
		else if (strcmp(a, "--from-file") == 0)
			slot = &o->from_file;
		else if (strcmp(a, "--dotenv") == 0)
			slot = &o->dotenv;
		else if (strcmp(a, "--new-key-file") == 0)
			slot = &o->new_key_file;
		else if (strcmp(a, "--branches-from") == 0)
			slot = &o->branches_from;
		else if (strcmp(a, "--kind") == 0)
			slot = &o->kind;
		if (slot) {
			if (i + 1 >= argc)
				return cli_usage_error("secrets", "option '%s' needs a value", a);
			*slot = argv[++i];
		} else if (strcmp(a, "--expires") == 0) {
			uint64_t ms;
			if (i + 1 >= argc)
				return cli_usage_error("secrets", "option '%s' needs a value", a);
			if (str_parse_duration(argv[++i], &ms, &err) < 0)
				return cli_usage_error("secrets", "--expires: %s", err.msg);
			struct timespec ts;
			(void) clock_gettime(CLOCK_REALTIME, &ts);
			o->expires_ms =
				(int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + (int64_t) ms;
		} else if (strcmp(a, "--json") == 0)
			o->json = true;
		else if (strcmp(a, "--dry-run") == 0)
			o->dry_run = true;
		else if (a[0] == '-' && a[1] != '\0')
			return cli_usage_error("secrets", "unknown option '%s'", a);
		else if (o->npos < 3)
			o->pos[o->npos++] = argv[i];
		else
			return cli_usage_error("secrets", "%s: too many arguments", argv[1]);
	}
	return 0;
}

static void audit(const char *state, const char *event, const char *env, char *const *names,
		  const char *outcome)
{
	struct secret_caller me = { .uid = getuid(), .frontend = "cli" };
	struct secret_audit_rec rec = {
		.event = event, .caller = &me, .env = env, .names = names, .outcome = outcome
	};
	struct err err = { 0 };

	if (secret_audit_append(state, &rec, &err) < 0)
		log_warn("secrets: %s", err.msg);
}

static int fail(const char *what, const struct err *err)
{
	log_error("secrets %s: %s", what, err->msg);
	return 1;
}

static int do_set(const char *state, const struct opts *o)
{
	CLEANUP(secret_vault_closep) struct secret_vault *v = NULL;
	CLEANUP(secret_value_freep) struct secret_value *val = NULL;
	cleanup_close int file_fd = -1;
	struct err err = { 0 };
	char *names[] = { o->npos > 1 ? o->pos[1] : NULL, NULL };
	const char *kind = o->kind && strcmp(o->kind, "value") != 0 ? o->kind : NULL;
	int fd = STDIN_FILENO;

	if (o->npos == 3)
		/* SECURITY: never echo it: it is probably the value. */
		return cli_usage_error("secrets",
				       "set: a value on the command line would be "
				       "visible to every user (ps, /proc) and kept in shell "
				       "history: pass it on stdin or with --from-file");
	if (o->npos != 2)
		return cli_usage_error("secrets", "set: expected ENV NAME");
	if (o->from_file) {
		file_fd = open(o->from_file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		fd = file_fd;
	}
	if (fd < 0) {
		(void) err_set(&err, errno, "--from-file '%s'", o->from_file);
		return fail("set", &err);
	}
	if (!o->from_file && isatty(fd))
		(void) fputs("mayfly: reading the value from the terminal; end it with Ctrl-D\n",
			     stderr);
	if (kind && strcmp(kind, SECRET_KIND_PGROLE) != 0)
		return cli_usage_error("secrets", "--kind '%s': the kinds are 'value' and '%s'",
				       kind, SECRET_KIND_PGROLE);
	if (secret_value_read_fd(fd, &val, &err) < 0)
		return fail("set", &err);
	if (kind) {
		/* Checked now, so that a bad entry fails here rather than in a job. */
		CLEANUP(secret_pgrole_freep) struct secret_pgrole *pg = NULL;
		if (secret_pgrole_parse(val->data, val->len, &pg, &err) < 0)
			return fail("set", &err);
	}
	if (secret_vault_open(state, o->key_file, SECRET_OPEN_WRITE, &v, &err) < 0 ||
	    secret_vault_set(v, o->pos[0], o->pos[1], val->data, val->len, o->expires_ms, &err) <
		    0 ||
	    (kind && secret_vault_set_kind(v, o->pos[0], o->pos[1], kind, &err) < 0) ||
	    secret_vault_commit(v, &err) < 0) {
		audit(state, "set", o->pos[0], names, err.msg);
		return fail("set", &err);
	}
	audit(state, "set", o->pos[0], names, "ok");
	return 0;
}

DEFINE_CLEANUP(char **, strv_free)

static int do_import(const char *state, const struct opts *o)
{
	CLEANUP(secret_vault_closep) struct secret_vault *v = NULL;
	CLEANUP(strv_freep) char **names = NULL;
	cleanup_close int fd = -1;
	struct err err = { 0 };

	if (o->npos != 1 || !o->dotenv)
		return cli_usage_error("secrets", "import: expected ENV --dotenv FILE");
	fd = open(o->dotenv, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		(void) err_set(&err, errno, "--dotenv '%s'", o->dotenv);
		return fail("import", &err);
	}
	if (secret_vault_open(state, o->key_file, SECRET_OPEN_WRITE, &v, &err) < 0 ||
	    secret_vault_import_dotenv(v, o->pos[0], fd, o->expires_ms, &names, &err) < 0 ||
	    secret_vault_commit(v, &err) < 0) {
		(void) err_wrap(&err, "'%s'", o->dotenv);
		return fail("import", &err);
	}
	audit(state, "set", o->pos[0], names, "ok");
	printf("imported %zu value%s into '%s'\n", strv_len(names), strv_len(names) == 1 ? "" : "s",
	       o->pos[0]);
	return 0;
}

static void when(int64_t ms, char *buf, size_t size)
{
	time_t t = (time_t) (ms / 1000);
	struct tm tm;

	if (ms == 0 || !gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void) snprintf(buf, size, "-");
}

static int do_ls(const char *state, const struct opts *o)
{
	CLEANUP(secret_vault_closep) struct secret_vault *v = NULL;
	cleanup_free struct secret_meta *m = NULL;
	struct err err = { 0 };
	size_t n = 0;
	struct timespec ts;

	if (o->npos > 1)
		return cli_usage_error("secrets", "ls: expected [ENV]");
	if (secret_vault_open(state, o->key_file, 0, &v, &err) < 0)
		return fail("ls", &err);
	(void) clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now = (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if (o->npos == 0 && !o->json) {
		CLEANUP(strv_freep) char **envs = secret_vault_envs(v);
		for (size_t i = 0; envs && envs[i]; i++) {
			(void) secret_vault_list(v, envs[i], &m, &n);
			printf("%-40s %zu value%s\n", envs[i], n, n == 1 ? "" : "s");
			free(m);
			m = NULL;
		}
		return 0;
	}
	(void) secret_vault_list(v, o->npos ? o->pos[0] : NULL, &m, &n);
	if (o->npos && n == 0) {
		CLEANUP(secret_value_freep) struct secret_value *none = NULL;
		(void) secret_vault_get(v, o->pos[0], "_", &none, &err);
		return fail("ls", &err); /* names what exists */
	}
	if (o->json) {
		struct json_w *w = json_w_new();
		cleanup_free char *text = NULL;
		json_w_arr_open(w, NULL);
		for (size_t i = 0; i < n; i++) {
			json_w_obj_open(w, NULL);
			json_w_str(w, "environment", m[i].env);
			json_w_str(w, "name", m[i].name);
			json_w_i64(w, "created_ms", m[i].created_ms);
			json_w_i64(w, "updated_ms", m[i].updated_ms);
			json_w_i64(w, "expires_ms", m[i].expires_ms);
			json_w_bool(w, "expired", m[i].expires_ms && m[i].expires_ms <= now);
			json_w_str(w, "kind", m[i].kind ? m[i].kind : "value");
			json_w_obj_close(w);
		}
		json_w_arr_close(w);
		text = json_w_done(w);
		printf("%s\n", text);
		return 0;
	}
	printf("%-32s %-20s %-20s %-20s %s\n", "NAME", "CREATED", "UPDATED", "EXPIRES", "KIND");
	for (size_t i = 0; i < n; i++) {
		char c[32], u[32], e[32];
		when(m[i].created_ms, c, sizeof(c));
		when(m[i].updated_ms, u, sizeof(u));
		when(m[i].expires_ms, e, sizeof(e));
		if (m[i].expires_ms && m[i].expires_ms <= now)
			(void) str_copy(e + strlen(e), sizeof(e) - strlen(e), " (expired)");
		printf("%-32s %-20s %-20s %-20s %s\n", m[i].name, c, u, e,
		       m[i].kind ? m[i].kind : "value");
	}
	return 0;
}

static int do_rm(const char *state, const struct opts *o)
{
	CLEANUP(secret_vault_closep) struct secret_vault *v = NULL;
	struct err err = { 0 };
	char *names[] = { o->npos > 1 ? o->pos[1] : NULL, NULL };

	if (o->npos != 2)
		return cli_usage_error("secrets", "rm: expected ENV NAME");
	if (secret_vault_open(state, o->key_file, SECRET_OPEN_WRITE, &v, &err) < 0 ||
	    secret_vault_rm(v, o->pos[0], o->pos[1], &err) < 0 || secret_vault_commit(v, &err) < 0)
		return fail("rm", &err);
	audit(state, "rm", o->pos[0], names, "ok");
	return 0;
}

static int do_rotate(const char *state, const struct opts *o)
{
	CLEANUP(secret_vault_closep) struct secret_vault *v = NULL;
	struct err err = { 0 };

	if (o->npos != 0)
		return cli_usage_error("secrets", "rotate: takes no arguments");
	if (secret_vault_open(state, o->key_file, SECRET_OPEN_WRITE, &v, &err) < 0 ||
	    secret_vault_rotate(v, o->new_key_file, &err) < 0) {
		audit(state, "rotate", NULL, NULL, err.msg);
		return fail("rotate", &err);
	}
	audit(state, "rotate", NULL, NULL, "ok");
	if (o->new_key_file)
		printf("re-sealed under '%s': use it as the key from now on\n", o->new_key_file);
	return 0;
}

static int do_prune(const char *state, const struct opts *o)
{
	CLEANUP(secret_vault_closep) struct secret_vault *v = NULL;
	CLEANUP(strv_freep) char **branches = NULL, **envs = NULL;
	struct err err = { 0 };
	unsigned total = 0;

	if (o->npos != 0 || !o->branches_from)
		return cli_usage_error("secrets", "prune: expected --branches-from REPO");
	if (checkout_branches(o->branches_from, &branches, &err) < 0)
		return fail("prune", &err);
	if (secret_vault_open(state, o->key_file, o->dry_run ? 0 : SECRET_OPEN_WRITE, &v, &err) < 0)
		return fail("prune", &err);
	envs = secret_vault_envs(v);
	for (size_t i = 0; envs && envs[i]; i++) {
		const char *branch = envs[i] + strlen("preview/");
		bool keep = !str_startswith(envs[i], "preview/");
		unsigned n = 0;
		for (size_t b = 0; !keep && branches[b]; b++)
			keep = strcmp(branches[b], branch) == 0;
		if (keep)
			continue;
		if (!o->dry_run && secret_vault_rm_env(v, envs[i], &n, &err) < 0)
			return fail("prune", &err);
		printf("%s '%s': branch '%s' is gone from '%s'\n",
		       o->dry_run ? "would remove" : "removed", envs[i], branch, o->branches_from);
		if (!o->dry_run)
			audit(state, "prune", envs[i], NULL, "ok");
		total++;
	}
	if (!o->dry_run && total && secret_vault_commit(v, &err) < 0)
		return fail("prune", &err);
	return 0;
}

int cmd_secrets(const struct cli_global *g, int argc, char **argv)
{
	cleanup_free char *state = sandbox_state_dir(g->state_dir);
	struct opts o = { 0 };
	int r;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		(void) fputs(secrets_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? CLI_EXIT_USAGE : 0;
	}
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			(void) fputs(secrets_usage, stdout);
			return 0;
		}
	r = parse(argc, argv, &o);
	if (r != 0)
		return r;
	if (strcmp(argv[1], "set") == 0)
		return do_set(state, &o);
	if (strcmp(argv[1], "import") == 0)
		return do_import(state, &o);
	if (strcmp(argv[1], "ls") == 0)
		return do_ls(state, &o);
	if (strcmp(argv[1], "rm") == 0)
		return do_rm(state, &o);
	if (strcmp(argv[1], "rotate") == 0)
		return do_rotate(state, &o);
	if (strcmp(argv[1], "prune") == 0)
		return do_prune(state, &o);
	return cli_usage_error("secrets", "unknown command '%s'", argv[1]);
}

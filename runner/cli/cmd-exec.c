/* cmd-exec.c - `mayfly exec`: flags to a sandbox_spec, run it, report, exit with the
 * job's status (or 124 TTL, 125 mayfly failed, 126 cannot execute, 127 not found). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/broker.h"
#include "cli/cli.h"
#include "jail/jail.h"
#include "sandbox/sandbox.h"
#include "seccomp/seccomp.h"
#include "secrets/secrets.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/json.h"
#include "util/log.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

static const char exec_usage[] =
	"usage: mayfly exec [OPTIONS] [--] COMMAND [ARG]...\n"
	"\n"
	"Run COMMAND in a new sandbox that exists only for it: new user, mount, pid, net,\n"
	"ipc, uts and cgroup namespaces, read-only system dirs, no network but loopback,\n"
	"no capabilities, a seccomp filter, and limits. Exits with COMMAND's status.\n"
	"\n"
	"limits:\n"
	"  --memory SIZE        memory limit, no swap (e.g. 512M, 2G; default: none)\n"
	"  --pids N             process limit (default 4096)\n"
	"  --cpus N             cpu limit (e.g. 1.5; default: none)\n"
	"  --disk SIZE          size of the writable space: /tmp, $HOME, /workspace, /run\n"
	"                       (a tmpfs; default 2G)\n"
	"  --ttl DURATION       kill everything at this age (e.g. 90s, 30m, 1h; default 1h)\n"
	"environment:\n"
	"  --env NAME=VALUE     set a variable (repeatable); --env NAME copies mayfly's\n"
	"  --env-file FILE      NAME=VALUE lines ('#' comments, blank lines ignored)\n"
	"  --bind SRC:DST[:ro]  bind a host path into the sandbox (repeatable; rw unless :ro)\n"
	"  --workdir DIR        where COMMAND starts (default /workspace)\n"
	"  --user root|UID      run as root or UID inside (default 1000, 'runner'); never\n"
	"                       privileged on the host\n"
	"  --rootfs DIR|TAR     root file system from an image directory or tarball\n"
	"                       (default: the host's /usr, /bin, /lib..., read-only)\n"
	"  --hostname NAME      (default 'mayfly')\n"
	"  --service KIND[:VER] a server of the job's own on localhost, ready before it starts\n"
	"                       (postgres, redis; DATABASE_URL, PG*, REDIS_URL tell the job\n"
	"                       where; repeatable; see docs/services.md)\n"
	"  --service-env NAME=VALUE  POSTGRES_USER, POSTGRES_PASSWORD or POSTGRES_DB, as with\n"
	"                       the official images (default postgres, random, the user)\n"
	"  --service-init FILE  SQL run once before the job (repeatable, in order)\n"
	"  --service-config KIND:KEY=VALUE  a server setting over mayfly's throwaway defaults\n"
	"  --allow-host HOST[:PORT]  let the job reach HOST (or *.SUFFIX) through a proxy on\n"
	"                       the host (HTTP_PROXY and HTTPS_PROXY are set; no port: 80 and\n"
	"                       443; repeatable; see docs/network.md)\n"
	"  --allow-private-egress  hosts granted by exact name may resolve to loopback or\n"
	"                       private addresses (refused by default)\n"
	"  --allow-ptrace       let the job ptrace its own processes (debuggers)\n"
	"  --allow-perf         let the job use perf_event_open (profilers)\n"
	"secrets (docs/secrets.md, docs/broker.md):\n"
	"  --from ENV           the vault environment to lease from (production, ...)\n"
	"  --secret NAME        lease NAME as a variable (repeatable); output is masked\n"
	"  --secret-file NAME   lease NAME as the file /run/secrets/NAME (mode 0400)\n"
	"  --lease DURATION     how long the lease lasts (default and maximum: the TTL;\n"
	"                       shorter: the sandbox ends with it)\n"
	"  --key-file FILE      the vault's master key (see 'mayfly secrets --help')\n"
	"  --grant sign:NAME | http:NAME@URL[;methods=GET,...][;header=K: {}]\n"
	"                       lease NAME for the sandbox's broker only: the job signs or\n"
	"                       calls URLs under the prefix with it (mayfly broker, at\n"
	"                       /run/mayfly/mayfly) and never holds it (repeatable)\n"
	"  --broker-dry-run     the broker audits what it would send and answers synthetically\n"
	"checkout (see docs/checkout.md):\n"
	"  --repo URL|PATH      the job starts in a copy-on-write checkout with a working .git:\n"
	"                       https://, git://, ssh://, user@host:path, file://, a path;\n"
	"                       a local work tree without --ref/--commit: as it is now,\n"
	"                       uncommitted files included\n"
	"  --ref REF            a branch, tag or ref to fetch and check out (default HEAD)\n"
	"  --commit SHA         a commit id (fetched only if the mirror lacks it)\n"
	"  --checkout-dir DIR   where the checkout goes (default /workspace)\n"
	"  --git-token-file FILE  the token for https (else $MAYFLY_GIT_TOKEN; user\n"
	"                       $MAYFLY_GIT_USERNAME, default x-access-token); never argv\n"
	"  --fetch-timeout SECONDS  give up a fetch that takes longer (default 600; 0: never;\n"
	"                       90s, 10m also work)\n"
	"  --submodules normal|recursive  check out the submodules .gitmodules names (recursive:\n"
	"                       theirs too), as git clone --recurse-submodules (default none:\n"
	"                       empty directories)\n"
	"  --git-ssh-key FILE   the private key for ssh:// and user@host:path remotes (else\n"
	"                       the ssh-agent at $SSH_AUTH_SOCK); an encrypted key needs\n"
	"                       $MAYFLY_GIT_SSH_PASSPHRASE\n"
	"  --git-known-hosts FILE  the ssh server's host key must be in FILE (default\n"
	"                       ~/.ssh/known_hosts, /etc/ssh/ssh_known_hosts); never skipped\n"
	"terminal and output:\n"
	"  -t, --tty            give the job a terminal (made inside the sandbox)\n"
	"  --json               print a JSON summary (id, status, timings) on stderr at the end\n"
	"  -h, --help           this text\n"
	"\n"
	"exit status: COMMAND's; 128+N if it was killed by signal N; 124 the TTL fired;\n"
	"125 mayfly failed; 126 COMMAND cannot be executed; 127 COMMAND not found.\n";

enum {
	OPT_MEMORY = 256,
	OPT_PIDS,
	OPT_CPUS,
	OPT_DISK,
	OPT_TTL,
	OPT_ENV,
	OPT_ENV_FILE,
	OPT_BIND,
	OPT_WORKDIR,
	OPT_USER,
	OPT_ROOTFS,
	OPT_HOSTNAME,
	OPT_JSON,
	OPT_STATE_DIR,
	OPT_ALLOW_PTRACE,
	OPT_ALLOW_PERF,
	OPT_SERVICE,
	OPT_SERVICE_ENV,
	OPT_SERVICE_INIT,
	OPT_SERVICE_CONFIG,
	OPT_REPO,
	OPT_REF,
	OPT_COMMIT,
	OPT_CHECKOUT_DIR,
	OPT_GIT_TOKEN_FILE,
	OPT_FETCH_TIMEOUT,
	OPT_GIT_SSH_KEY,
	OPT_GIT_KNOWN_HOSTS,
	OPT_ALLOW_HOST,
	OPT_ALLOW_PRIVATE_EGRESS,
	OPT_FROM,
	OPT_SECRET,
	OPT_SUBMODULES,
	OPT_SECRET_FILE,
	OPT_LEASE,
	OPT_KEY_FILE,
	OPT_GRANT,
	OPT_BROKER_DRY_RUN,
};

static const struct option options[] = {
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "pids", required_argument, NULL, OPT_PIDS },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "ttl", required_argument, NULL, OPT_TTL },
	{ "env", required_argument, NULL, OPT_ENV },
	{ "env-file", required_argument, NULL, OPT_ENV_FILE },
	{ "bind", required_argument, NULL, OPT_BIND },
	{ "workdir", required_argument, NULL, OPT_WORKDIR },
	{ "user", required_argument, NULL, OPT_USER },
	{ "rootfs", required_argument, NULL, OPT_ROOTFS },
	{ "hostname", required_argument, NULL, OPT_HOSTNAME },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
	{ "allow-ptrace", no_argument, NULL, OPT_ALLOW_PTRACE },
	{ "service", required_argument, NULL, OPT_SERVICE },
	{ "service-env", required_argument, NULL, OPT_SERVICE_ENV },
	{ "service-init", required_argument, NULL, OPT_SERVICE_INIT },
	{ "service-config", required_argument, NULL, OPT_SERVICE_CONFIG },
	{ "repo", required_argument, NULL, OPT_REPO },
	{ "ref", required_argument, NULL, OPT_REF },
	{ "commit", required_argument, NULL, OPT_COMMIT },
	{ "checkout-dir", required_argument, NULL, OPT_CHECKOUT_DIR },
	{ "git-token-file", required_argument, NULL, OPT_GIT_TOKEN_FILE },
	{ "fetch-timeout", required_argument, NULL, OPT_FETCH_TIMEOUT },
	{ "submodules", required_argument, NULL, OPT_SUBMODULES },
	{ "git-ssh-key", required_argument, NULL, OPT_GIT_SSH_KEY },
	{ "git-known-hosts", required_argument, NULL, OPT_GIT_KNOWN_HOSTS },
	{ "allow-perf", no_argument, NULL, OPT_ALLOW_PERF },
	{ "allow-host", required_argument, NULL, OPT_ALLOW_HOST },
	{ "allow-private-egress", no_argument, NULL, OPT_ALLOW_PRIVATE_EGRESS },
	{ "from", required_argument, NULL, OPT_FROM },
	{ "secret", required_argument, NULL, OPT_SECRET },
	{ "secret-file", required_argument, NULL, OPT_SECRET_FILE },
	{ "lease", required_argument, NULL, OPT_LEASE },
	{ "key-file", required_argument, NULL, OPT_KEY_FILE },
	{ "grant", required_argument, NULL, OPT_GRANT },
	{ "broker-dry-run", no_argument, NULL, OPT_BROKER_DRY_RUN },
	{ "tty", no_argument, NULL, 't' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static bool env_name_ok(const char *s, size_t n)
{
	if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

static int add_env(struct sandbox_spec *spec, const char *arg)
{
	const char *eq = strchr(arg, '=');

	if (!eq) {
		const char *v = getenv(arg);
		if (!env_name_ok(arg, strlen(arg)))
			return cli_usage_error("exec", "--env '%s': expected NAME=VALUE or NAME",
					       arg);
		if (v) {
			cleanup_free char *kv = xasprintf("%s=%s", arg, v);
			strv_push(&spec->env, kv);
		}
		return 0;
	}
	if (!env_name_ok(arg, (size_t) (eq - arg)))
		return cli_usage_error("exec", "--env '%.*s': not a valid variable name",
				       (int) (eq - arg), arg);
	strv_push(&spec->env, arg);
	return 0;
}

static int add_env_file(struct sandbox_spec *spec, const char *path)
{
	cleanup_free char *text = NULL;
	struct err err = { 0 };
	unsigned lineno = 0;

	if (read_file_at(AT_FDCWD, path, 1 << 20, &text, NULL, &err) < 0)
		return cli_usage_error("exec", "--env-file: %s", err.msg);
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		line += strspn(line, " \t");
		if (*line == '\0' || *line == '#')
			continue;
		if (str_startswith(line, "export "))
			line += strlen("export ");
		char *eq = strchr(line, '=');
		if (!eq || !env_name_ok(line, (size_t) (eq - line)))
			return cli_usage_error("exec",
					       "--env-file '%s' line %u: expected "
					       "NAME=VALUE",
					       path, lineno);
		size_t n = strlen(line);
		if (n > 0 && line[n - 1] == '\r')
			line[n - 1] = '\0';
		strv_push(&spec->env, line);
	}
	return 0;
}

static int add_bind(struct sandbox_spec *spec, const char *arg)
{
	cleanup_free char *copy = xstrdup(arg);
	char *src = copy, *dst = strchr(copy, ':'), *mode;
	char real[PATH_MAX];
	bool ro = false;

	if (!dst)
		return cli_usage_error("exec", "--bind '%s': expected SRC:DST[:ro]", arg);
	*dst++ = '\0';
	mode = strchr(dst, ':');
	if (mode) {
		*mode++ = '\0';
		if (strcmp(mode, "ro") == 0)
			ro = true;
		else if (strcmp(mode, "rw") != 0)
			return cli_usage_error("exec", "--bind '%s': mode must be 'ro' or 'rw'",
					       arg);
	}
	if (!*src || !*dst)
		return cli_usage_error("exec", "--bind '%s': expected SRC:DST[:ro]", arg);
	if (!realpath(src, real)) {
		log_error("exec: --bind '%s': source '%s': %s", arg, src, strerror(errno));
		return CLI_EXIT_USAGE;
	}
	spec->binds = xrealloc(spec->binds, (spec->n_binds + 1) * sizeof(*spec->binds));
	spec->binds[spec->n_binds].src = xstrdup(real);
	spec->binds[spec->n_binds].dst = xstrdup(dst);
	spec->binds[spec->n_binds].ro = ro;
	spec->n_binds++;
	return 0;
}

static void exec_secrets_req_release(struct sandbox_secrets_req *sreq)
{
	sreq->names = strv_free(sreq->names);
	free(sreq->as_file);
	sreq->as_file = NULL;
	free(sreq->brokered);
	sreq->brokered = NULL;
}

static int exec_add_secret(struct sandbox_secrets_req *sreq, const char *name, bool as_file,
			   bool brokered)
{
	size_t n = strv_len(sreq->names);

	if (!secret_name_ok(name))
		return cli_usage_error("exec", "--secret '%s': not a variable name", name);
	for (size_t i = 0; i < n; i++)
		if (strcmp(sreq->names[i], name) == 0)
			return cli_usage_error("exec",
					       "'%s' is asked for twice (--secret, "
					       "--secret-file, --grant): a granted secret "
					       "is never the job's too",
					       name);
	strv_push(&sreq->names, name);
	sreq->as_file = xrealloc(sreq->as_file, (n + 1) * sizeof(bool));
	sreq->as_file[n] = as_file;
	sreq->brokered = xrealloc(sreq->brokered, (n + 1) * sizeof(bool));
	sreq->brokered[n] = brokered;
	return 0;
}

static void print_warning(void *userdata, const char *msg)
{
	(void) userdata;
	log_warn("%s", msg);
}

static void print_json(const struct sandbox_result *res, const char *error)
{
	struct json_w *w = json_w_new();
	cleanup_free char *text = NULL;

	json_w_obj_open(w, NULL);
	json_w_str(w, "id", res->id[0] ? res->id : NULL);
	json_w_i64(w, "exit_code", res->exit_code);
	json_w_bool(w, "ttl_expired", res->ttl_expired);
	json_w_bool(w, "oom_killed", res->oom_killed);
	json_w_bool(w, "destroyed", res->destroyed);
	json_w_i64(w, "setup_us", (int64_t) (res->setup_ms * 1000));
	json_w_i64(w, "run_us", (int64_t) (res->run_ms * 1000));
	json_w_i64(w, "teardown_us", (int64_t) (res->teardown_ms * 1000));
	json_w_str(w, "error", error);
	json_w_obj_close(w);
	text = json_w_done(w);
	(void) fprintf(stderr, "%s\n", text);
}

static int parse(struct sandbox_spec *spec, int argc, char **argv, bool *json,
		 const char **state_dir, struct exec_repo *repo, struct sandbox_secrets_req *sreq)
{
	struct err err = { 0 };
	int c, r;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+ht", options, NULL)) != -1) {
		r = 0;
		switch (c) {
		case OPT_MEMORY:
			r = str_parse_size(optarg, &spec->memory_bytes, &err);
			break;
		case OPT_DISK:
			r = str_parse_size(optarg, &spec->disk_bytes, &err);
			if (r == 0 && spec->disk_bytes < (1ULL << 20))
				r = err_set(&err, EINVAL, "--disk: at least 1M");
			break;
		case OPT_PIDS:
			if (safe_atou(optarg, &spec->pids) < 0 || spec->pids == 0)
				return cli_usage_error("exec",
						       "--pids '%s': expected a positive "
						       "number",
						       optarg);
			break;
		case OPT_CPUS:
			r = str_parse_cpus(optarg, &spec->cpu_millis, &err);
			break;
		case OPT_TTL:
			r = str_parse_duration(optarg, &spec->ttl_ms, &err);
			break;
		case OPT_ENV:
			if ((r = add_env(spec, optarg)) != 0)
				return r;
			break;
		case OPT_ENV_FILE:
			if ((r = add_env_file(spec, optarg)) != 0)
				return r;
			break;
		case OPT_BIND:
			if ((r = add_bind(spec, optarg)) != 0)
				return r;
			break;
		case OPT_WORKDIR:
			free(spec->workdir);
			spec->workdir = xstrdup(optarg);
			break;
		case OPT_USER: {
			unsigned uid;
			if (strcmp(optarg, "root") == 0)
				spec->uid = 0;
			else if (safe_atou(optarg, &uid) == 0)
				spec->uid = uid;
			else
				return cli_usage_error("exec",
						       "--user '%s': use 'root' or a "
						       "numeric uid",
						       optarg);
			break;
		}
		case OPT_ROOTFS: {
			char real[PATH_MAX];
			if (!realpath(optarg, real)) {
				log_error("exec: --rootfs '%s': %s", optarg, strerror(errno));
				return CLI_EXIT_USAGE;
			}
			free(spec->rootfs);
			spec->rootfs = xstrdup(real);
			break;
		}
		case OPT_HOSTNAME:
			free(spec->hostname);
			spec->hostname = xstrdup(optarg);
			break;
		case OPT_JSON:
			*json = true;
			break;
		case OPT_STATE_DIR:
			*state_dir = optarg;
			break;
		case OPT_SERVICE:
			strv_push(&spec->services, optarg);
			break;
		case OPT_SERVICE_ENV:
			strv_push(&spec->service_env, optarg);
			break;
		case OPT_SERVICE_INIT:
			strv_push(&spec->service_init, optarg);
			break;
		case OPT_SERVICE_CONFIG:
			strv_push(&spec->service_config, optarg);
			break;
		case OPT_REPO:
			repo->repo = optarg;
			break;
		case OPT_REF:
			repo->ref = optarg;
			break;
		case OPT_COMMIT:
			repo->commit = optarg;
			break;
		case OPT_CHECKOUT_DIR:
			repo->checkout_dir = optarg;
			break;
		case OPT_GIT_TOKEN_FILE:
			repo->token_file = optarg;
			break;
		case OPT_FETCH_TIMEOUT:
			repo->fetch_timeout = optarg;
			break;
		case OPT_SUBMODULES:
			repo->submodules = optarg;
			break;
		case OPT_GIT_SSH_KEY:
			repo->ssh_key = optarg;
			break;
		case OPT_GIT_KNOWN_HOSTS:
			repo->known_hosts = optarg;
			break;
		case OPT_ALLOW_PTRACE:
			spec->seccomp_flags |= SC_ALLOW_PTRACE;
			break;
		case OPT_ALLOW_PERF:
			spec->seccomp_flags |= SC_ALLOW_PERF;
			break;
		case OPT_ALLOW_HOST:
			strv_push(&spec->allow_hosts, optarg);
			break;
		case OPT_ALLOW_PRIVATE_EGRESS:
			spec->allow_private_egress = true;
			break;
		case OPT_FROM:
			sreq->env = optarg;
			break;
		case OPT_SECRET:
		case OPT_SECRET_FILE:
			r = exec_add_secret(sreq, optarg, c == OPT_SECRET_FILE, false);
			if (r != 0)
				return r;
			break;
		case OPT_GRANT: {
			struct broker_grant *bg = NULL;
			if (broker_grant_parse(optarg, &bg, &err) < 0) {
				log_error("exec: --grant '%s': %s", optarg, err.msg);
				return CLI_EXIT_USAGE;
			}
			r = exec_add_secret(sreq, broker_grant_name(bg), false, true);
			broker_grant_free(bg);
			if (r != 0)
				return r;
			strv_push(&spec->grants, optarg);
			break;
		}
		case OPT_BROKER_DRY_RUN:
			spec->broker_dry_run = true;
			break;
		case OPT_LEASE:
			r = str_parse_duration(optarg, &sreq->lease_ms, &err);
			break;
		case OPT_KEY_FILE:
			sreq->key_file = optarg;
			break;
		case 't':
			spec->tty = true;
			break;
		case 'h':
			(void) fputs(exec_usage, stdout);
			return -1;
		case ':':
			return cli_usage_error("exec", "option '%s' needs a value",
					       argv[optind - 1]);
		default:
			return cli_usage_error("exec", "unknown option '%s'", argv[optind - 1]);
		}
		if (r < 0) {
			log_error("exec: %s", err.msg);
			return CLI_EXIT_USAGE;
		}
	}
	if (sreq->names && !sreq->env)
		return cli_usage_error("exec", "--secret and --grant need --from ENV (the "
					       "environment to lease from)");
	if (sreq->env && !sreq->names)
		return cli_usage_error("exec",
				       "--from '%s' needs at least one --secret NAME or "
				       "--grant",
				       sreq->env);
	if (sreq->names && spec->tty)
		/* TODO(secrets-tty): mask the terminal relay too. */
		return cli_usage_error("exec", "--secret or --grant with -t is not supported "
					       "yet: a terminal's output is not masked");
	if (spec->broker_dry_run && !spec->grants)
		return cli_usage_error("exec", "--broker-dry-run needs a --grant");
	if (optind >= argc)
		return cli_usage_error("exec", "no command given: put it after '--', e.g. "
					       "'mayfly exec -- make test'");
	if ((r = exec_repo_check(repo)) != 0)
		return r;
	spec->argv = strv_copy(argv + optind);
	if (spec->tty) {
		/* Programs on a terminal want to know which; an explicit --env wins. */
		bool have = false;
		for (size_t i = 0; spec->env && spec->env[i]; i++)
			have |= str_startswith(spec->env[i], "TERM=");
		if (!have) {
			cleanup_free char *term =
				xasprintf("TERM=%s", getenv("TERM") ? getenv("TERM") : "xterm");
			strv_push(&spec->env, term);
		}
	}
	return 0;
}

DEFINE_CLEANUP(struct exec_repo_state *, exec_repo_free)

/* The end of the lease: a postgres-role lease's role is dropped now. */
static void end_lease(const char *state, const char *id, struct secret_lease *lease,
		      const char *key_file, const struct secret_caller *caller)
{
	struct err err = { 0 };

	if (lease && sandbox_secrets_revoke(state, id, lease, key_file, caller, &err) < 0)
		log_warn("exec: %s (it could not log in after the lease's end anyway)", err.msg);
}

int cmd_exec(const struct cli_global *g, int argc, char **argv)
{
	CLEANUP(exec_repo_freep) struct exec_repo_state *checkout = NULL;
	struct sandbox_spec spec = { .uid = SANDBOX_DEFAULT_UID, .pids = SANDBOX_DEFAULT_PIDS };
	struct exec_repo repo = { 0 };
	struct sandbox_result res;
	struct err err = { 0 };
	const char *state_override = g->state_dir;
	cleanup_free char *state = NULL;
	struct secret_caller caller = { .uid = getuid(), .frontend = "cli" };
	struct sandbox_secrets_req sreq = { .caller = &caller };
	CLEANUP(secret_lease_freep) struct secret_lease *lease = NULL;
	struct sandbox_mask *mask = NULL;
	bool json = false;
	int r;

	r = parse(&spec, argc, argv, &json, &state_override, &repo, &sreq);
	if (r != 0) {
		sandbox_spec_release(&spec);
		exec_secrets_req_release(&sreq);
		return r < 0 ? 0 : r;
	}
	state = sandbox_state_dir(state_override);
	if (sreq.names) {
		cleanup_free char *note = NULL;
		r = sandbox_secrets_lease(state, &sreq, &spec, &lease, &note, &err);
		exec_secrets_req_release(&sreq);
		if (r < 0) {
			log_error("exec: %s", err.msg);
			if (json)
				print_json(&(struct sandbox_result){ .exit_code =
									     SANDBOX_EXIT_FAILURE },
					   err.msg);
			sandbox_spec_release(&spec);
			return SANDBOX_EXIT_FAILURE;
		}
		if (note)
			log_warn("exec: %s", note);
		spec.lease = lease;
		spec.secret_caller = &caller;
	}
	struct sandbox_env env = {
		.state_dir = state,
		.warn = print_warning,
		.stdio = { STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO },
	};
	r = repo.repo ? exec_repo_prepare(&repo, state, &spec, &checkout, &err) : 0;
	if (r < 0) {
		res = (struct sandbox_result){ .exit_code = SANDBOX_EXIT_FAILURE };
	} else {
		if (lease && sandbox_mask_start(lease, env.stdio, &mask, &err) < 0) {
			log_error("exec: %s", err.msg);
			end_lease(state, NULL, lease, spec.secret_key_file, &caller);
			sandbox_spec_release(&spec);
			return SANDBOX_EXIT_FAILURE;
		}
		env.started = sandbox_mask_run;
		env.started_data = mask;
		r = sandbox_run(&spec, &env, &res, &err);
		sandbox_mask_finish(mask); /* the job's output is out before our own lines */
	}
	end_lease(state, res.id, lease, spec.secret_key_file, &caller);
	if (r < 0)
		log_error("%s", err.msg);
	else if (res.ttl_expired) {
		char d[32];
		str_format_duration(spec.ttl_ms ? spec.ttl_ms : SANDBOX_DEFAULT_TTL_MS, d,
				    sizeof(d));
		log_error("sandbox %s: TTL of %s reached: every process in it was killed", res.id,
			  d);
	} else if (res.destroyed)
		log_error("sandbox %s: destroyed by 'mayfly destroy'", res.id);
	else if (res.oom_killed) {
		char m[32];
		str_format_size(spec.memory_bytes, m, sizeof(m));
		log_error("sandbox %s: out of memory: the kernel killed a process (--memory %s)",
			  res.id, m);
	}
	if (json)
		print_json(&res, r < 0 ? err.msg : NULL);
	sandbox_spec_release(&spec);
	return res.exit_code;
}

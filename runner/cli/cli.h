/* cli.h - the subcommands of mayfly(1), one cmd-<name>.c each. Each returns the process
 * exit status; usage errors print one line and return CLI_EXIT_USAGE. */
#pragma once

#define CLI_EXIT_USAGE 125

struct cli_global {
	const char *state_dir; /* --state-dir, or NULL */
};

int cmd_exec(const struct cli_global *g, int argc, char **argv);
int cmd_ps(const struct cli_global *g, int argc, char **argv);
int cmd_destroy(const struct cli_global *g, int argc, char **argv);
int cmd_gc(const struct cli_global *g, int argc, char **argv);
int cmd_services(const struct cli_global *g, int argc, char **argv);
int cmd_broker(const struct cli_global *g, int argc, char **argv);
int cmd_cache(const struct cli_global *g, int argc, char **argv);

/* "<state_dir>/checkout": mirrors and trees of `mayfly exec --repo` (a new string). */
char *cli_checkout_cache_dir(const char *state_dir);
int cmd_secrets(const struct cli_global *g, int argc, char **argv);
int cmd_audit(const struct cli_global *g, int argc, char **argv);

/* "mayfly: error: <cmd>: <msg>; see 'mayfly <cmd> --help'" and CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* `mayfly exec --repo` (exec-repo.c). Borrowed strings; NULL: not given. */
struct exec_repo {
	const char *repo;	   /* URL, path, or a local work tree (uncommitted work too) */
	const char *ref;	   /* --ref: a branch, tag or ref name (fetches) */
	const char *commit;	   /* --commit: an id (fetches only when missing) */
	const char *checkout_dir;  /* --checkout-dir (default /workspace) */
	const char *token_file;	   /* --git-token-file (else $MAYFLY_GIT_TOKEN) */
	const char *fetch_timeout; /* --fetch-timeout: seconds or a duration, 0 none */
	const char *submodules;	   /* --submodules none|normal|recursive (NULL: none) */
	const char *ssh_key;	   /* --git-ssh-key (else the ssh-agent) */
	const char *known_hosts;   /* --git-known-hosts (else ~/.ssh/known_hosts, system's) */
};
struct exec_repo_state;
struct sandbox_spec;
struct err;
/* Check out o into the cache under state_dir and add to spec the overlay at the checkout
 * dir and the mirror's read-only bind; *ret must outlive the sandbox (it holds the tree
 * in use and owns the job's .git layer): free it after sandbox_run() returns. A corrupt
 * mirror is rebuilt and the checkout retried once. Errors name the repository (never its
 * userinfo) and say what to do. */
int exec_repo_prepare(const struct exec_repo *o, const char *state_dir, struct sandbox_spec *spec,
		      struct exec_repo_state **ret, struct err *err);
struct exec_repo_state *exec_repo_free(struct exec_repo_state *s);
/* Usage errors (printed; returns CLI_EXIT_USAGE), else 0. */
int exec_repo_check(const struct exec_repo *o);
/* Remove the .git layers runs killed before their end left under <state>/tmp. Returns
 * how many. */
unsigned exec_repo_gc(const char *state_dir);

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
int cmd_secrets(const struct cli_global *g, int argc, char **argv);
int cmd_audit(const struct cli_global *g, int argc, char **argv);

/* "mayfly: error: <cmd>: <msg>; see 'mayfly <cmd> --help'" and CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

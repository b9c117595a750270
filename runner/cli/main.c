/* main.c - mayfly(1): global options and the subcommand table. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cli/cli.h"
#include "jail/jail.h"
#include "net/net.h"
#include "util/log.h"
#include "util/str.h"
#include "util/banned.h"

static const char usage[] =
	"usage: mayfly [--state-dir DIR] [-v] COMMAND [ARGS]\n"
	"\n"
	"Disposable Linux sandboxes for CI jobs and agents.\n"
	"\n"
	"commands:\n"
	"  exec [OPTIONS] -- COMMAND [ARG]...   run a command in a new sandbox\n"
	"  ps [--json]                          list live sandboxes\n"
	"  destroy ID...                        kill sandboxes now\n"
	"  gc                                   finish what a killed mayfly left behind\n"
	"  services ls [--json]                 servers a job can have with --service\n"
	"  broker sign|http NAME ...            (inside a sandbox) use a granted secret\n"
	"  cache ls|prune [--max-size SIZE]     git mirrors and checkout trees; evict LRU\n"
	"  secrets set|import|ls|rm|rotate|prune  the vault of secrets jobs may lease\n"
	"  audit [--since D] [--sandbox ID]     who leased which secrets, when\n"
	"  version                              print the version\n"
	"  help [COMMAND]                       this text, or a command's\n"
	"\n"
	"global options:\n"
	"  --state-dir DIR   state directory (default /var/lib/mayfly as root,\n"
	"                    $XDG_STATE_HOME/mayfly otherwise; also MAYFLY_STATE_DIR)\n"
	"  -v, --verbose     more diagnostics (also MAYFLY_LOG=debug)\n"
	"\n"
	"See mayfly(1) for exit statuses and the security model.\n";

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	(void) vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("%s%s%s; see 'mayfly %s%s--help'", cmd ? cmd : "", cmd ? ": " : "", msg,
		  cmd ? cmd : "", cmd ? " " : "");
	return CLI_EXIT_USAGE;
}

static const struct {
	const char *name;
	int (*fn)(const struct cli_global *g, int argc, char **argv);
} commands[] = {
	{ "exec", cmd_exec },	      { "ps", cmd_ps },
	{ "destroy", cmd_destroy },   { "gc", cmd_gc },
	{ "services", cmd_services }, { "broker", cmd_broker },
	{ "cache", cmd_cache },	      { "secrets", cmd_secrets },
	{ "audit", cmd_audit },
};

extern char **environ;

/* The span of our argv and environment strings, which the kernel lays out back to back. */
static void note_cmdline_area(int argc, char **argv)
{
	char *end = argv[argc - 1] + strlen(argv[argc - 1]) + 1;

	for (char **e = environ; e && *e; e++)
		if (*e >= end && *e < end + 65536 * 4)
			end = *e + strlen(*e) + 1;
	jail_note_cmdline_area(argv[0], (size_t) (end - argv[0]));
}

int main(int argc, char **argv)
{
	struct cli_global g = { 0 };
	struct rlimit core = { 0, 0 };
	int i = 1;

	note_cmdline_area(argc, argv);
	/* mayfly will hold secrets: no core dumps, no ptrace by the same user. */
	(void) setrlimit(RLIMIT_CORE, &core);
	(void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* The egress proxy: this binary executed afresh by net_proxy_start(). */
	if (argc > 0 && strcmp(argv[0], NET_PROXY_ARGV0) == 0)
		return net_proxy_main(argc, argv);
	log_init();

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--state-dir") == 0 && i + 1 < argc)
			g.state_dir = argv[++i];
		else if (str_startswith(argv[i], "--state-dir="))
			g.state_dir = argv[i] + strlen("--state-dir=");
		else if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0)
			log_set_level(log_get_level() == LOG_INFO ? LOG_DEBUG : LOG_INFO);
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			(void) fputs(usage, stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("mayfly %s\n", MAYFLY_VERSION);
			return 0;
		} else
			return cli_usage_error(NULL, "unknown option '%s'", argv[i]);
	}
	if (i >= argc) {
		(void) fputs(usage, stderr);
		return CLI_EXIT_USAGE;
	}
	const char *cmd = argv[i];
	if (strcmp(cmd, "version") == 0) {
		printf("mayfly %s\n", MAYFLY_VERSION);
		return 0;
	}
	if (strcmp(cmd, "help") == 0) {
		if (i + 1 < argc) {
			char *help_argv[] = { argv[i + 1], (char *) "--help", NULL };
			for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
				if (strcmp(commands[k].name, argv[i + 1]) == 0)
					return commands[k].fn(&g, 2, help_argv);
			return cli_usage_error(NULL, "unknown command '%s'", argv[i + 1]);
		}
		(void) fputs(usage, stdout);
		return 0;
	}
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
		if (strcmp(commands[k].name, cmd) == 0)
			return commands[k].fn(&g, argc - i, argv + i);
	return cli_usage_error(NULL, "unknown command '%s'", cmd);
}

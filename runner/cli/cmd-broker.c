/* cmd-broker.c - `mayfly broker sign|http`: the job's client of the broker socket. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/broker.h"
#include "cli/cli.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/log.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define MAX_PAYLOAD (1u << 20)

static const char help[] =
	"usage: mayfly broker sign NAME [--alg hmac-sha256|ed25519] [--public-key] < PAYLOAD\n"
	"       mayfly broker http NAME METHOD URL [-H 'Name: value']... [-i]\n"
	"                          [--data-binary @FILE|@-|TEXT]\n"
	"\n"
	"Ask the sandbox's broker to use a granted secret (mayfly exec --grant) that the job\n"
	"never sees. sign prints the signature of stdin (at most 1 MiB) in hex; --public-key\n"
	"prints the Ed25519 public key instead. http sends the request from the host with the\n"
	"secret injected and prints the response body; the status goes to stderr (-i: the\n"
	"headers too). Redirects are returned, not followed.\n"
	"\n"
	"The socket is $MAYFLY_BROKER_SOCKET, else " BROKER_SOCKET_INSIDE "; its protocol is in\n"
	"docs/broker.md. Exit status: 0 done (http: status below 400), 22 http status 400 or\n"
	"above, 1 refused by the broker or no broker, 125 usage.\n";

static int read_payload(int fd, char **ret, size_t *ret_len, const char *what)
{
	int r = fd_read_all(fd, MAX_PAYLOAD, ret, ret_len);

	if (r == -EFBIG)
		log_error("broker: %s is larger than %u bytes", what, MAX_PAYLOAD);
	else if (r < 0)
		log_error("broker: read %s: %s", what, strerror(-r));
	return r;
}

static int do_sign(int argc, char **argv)
{
	const char *name = NULL, *alg = NULL;
	bool public_key = false;
	cleanup_free char *payload = NULL;
	struct broker_sign_result res;
	struct err err = { 0 };
	size_t len = 0;

	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--alg") == 0 && i + 1 < argc)
			alg = argv[++i];
		else if (str_startswith(argv[i], "--alg="))
			alg = argv[i] + 6;
		else if (strcmp(argv[i], "--public-key") == 0)
			public_key = true;
		else if (argv[i][0] == '-' || name)
			return cli_usage_error("broker", "unexpected argument '%s'", argv[i]);
		else
			name = argv[i];
	}
	if (!name)
		return cli_usage_error("broker", "sign: the secret's NAME is missing");
	if (alg && strcmp(alg, "hmac-sha256") != 0 && strcmp(alg, "ed25519") != 0)
		return cli_usage_error("broker", "--alg: '%s' is not hmac-sha256 or ed25519", alg);
	if (public_key && !alg)
		alg = "ed25519";
	if (read_payload(STDIN_FILENO, &payload, &len, "stdin") < 0)
		return 1;
	if (broker_client_sign(NULL, name, alg, payload, len, &res, &err) < 0) {
		log_error("broker sign '%s': %s", name, err.msg);
		return 1;
	}
	if (public_key && !res.public_key_hex[0]) {
		log_error("broker sign '%s': no public key (not an ed25519 grant)", name);
		return 1;
	}
	printf("%s\n", public_key ? res.public_key_hex : res.signature_hex);
	return 0;
}

static int do_http(int argc, char **argv)
{
	const char *pos[3] = { NULL };
	size_t npos = 0;
	cleanup_free const char **headers = xcalloc((size_t) argc, sizeof(char *));
	cleanup_free char *body = NULL;
	struct broker_http_call call = { 0 };
	struct broker_http_result res = { 0 };
	struct err err = { 0 };
	bool show_headers = false, have_body = false;
	size_t body_len = 0;

	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if ((strcmp(a, "-H") == 0 || strcmp(a, "--header") == 0) && i + 1 < argc)
			headers[call.n_headers++] = argv[++i];
		else if (strcmp(a, "-i") == 0 || strcmp(a, "--include") == 0)
			show_headers = true;
		else if ((strcmp(a, "--data-binary") == 0 || strcmp(a, "-d") == 0) &&
			 i + 1 < argc) {
			const char *d = argv[++i];
			if (have_body)
				return cli_usage_error("broker", "give --data-binary once");
			have_body = true;
			if (strcmp(d, "@-") == 0) {
				if (read_payload(STDIN_FILENO, &body, &body_len, "stdin") < 0)
					return 1;
			} else if (d[0] == '@') {
				cleanup_close int fd = open(d + 1, O_RDONLY | O_CLOEXEC);
				if (fd < 0) {
					log_error("broker: open '%s': %s", d + 1, strerror(errno));
					return 1;
				}
				if (read_payload(fd, &body, &body_len, d + 1) < 0)
					return 1;
			} else {
				body = xstrdup(d);
				body_len = strlen(d);
			}
		} else if (a[0] == '-' && a[1])
			return cli_usage_error("broker", "unknown option '%s'", a);
		else if (npos < 3)
			pos[npos++] = a;
		else
			return cli_usage_error("broker", "unexpected argument '%s'", a);
	}
	if (npos != 3)
		return cli_usage_error("broker", "http needs NAME METHOD URL");
	call.name = pos[0];
	call.method = pos[1];
	call.url = pos[2];
	call.headers = headers;
	call.body = have_body ? (body ? body : "") : NULL;
	call.body_len = body_len;
	if (broker_client_http(NULL, &call, &res, &err) < 0) {
		log_error("broker http '%s' %s %s: %s", call.name, call.method, call.url, err.msg);
		return 1;
	}
	fprintf(stderr, "HTTP %d\n", res.status);
	if (show_headers)
		for (char **h = res.headers; h && *h; h++)
			fprintf(stderr, "%s\n", *h);
	(void) fflush(stderr);
	(void) fd_write_all(STDOUT_FILENO, res.body, res.body_len);
	int status = res.status >= 400 ? 22 : 0;
	broker_http_result_release(&res);
	return status;
}

int cmd_broker(const struct cli_global *g, int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			(void) fputs(help, stdout);
			return 0;
		}
	if (argc < 2)
		return cli_usage_error("broker", "expected 'sign' or 'http'");
	if (strcmp(argv[1], "sign") == 0)
		return do_sign(argc, argv);
	if (strcmp(argv[1], "http") == 0)
		return do_http(argc, argv);
	return cli_usage_error("broker", "unknown verb '%s' (sign or http)", argv[1]);
}

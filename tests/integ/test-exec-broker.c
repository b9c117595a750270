/* test-exec-broker.c - `mayfly exec --from ENV --grant ...`: the sandbox's broker, end to
 * end through the real mayfly. The job signs with, and calls an HTTP API (a real server on
 * the host's loopback that demands the token) with, secrets it never holds: the values
 * are in no variable, file or output inside, the signature verifies with the key on the
 * host side, the token reaches the server and its echo comes back masked. Bad input fails
 * before any sandbox starts. */
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "need.h"
#include "run.h"
#include "secrets.h"
#include "test.h"

#define SIGN_KEY  "signing-key-5d1e93a0c7"
#define API_TOKEN "api-token-7f3b2c9e41d8"

/* An API on the host's loopback: 200 and the Authorization header echoed back (raw) when
 * it is "Bearer API_TOKEN", 401 otherwise. */
static const char api_py[] =
	"import http.server, sys\n"
	"class H(http.server.BaseHTTPRequestHandler):\n"
	"    def do_GET(self):\n"
	"        a = self.headers.get('Authorization', '')\n"
	"        ok = a == 'Bearer " API_TOKEN "'\n"
	"        body = ('you sent: ' + a + '\\n').encode() if ok else b'no\\n'\n"
	"        self.send_response(200 if ok else 401)\n"
	"        self.send_header('Content-Length', str(len(body)))\n"
	"        self.end_headers()\n"
	"        self.wfile.write(body)\n"
	"    def log_message(self, *a): pass\n"
	"http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n";

static void vault(void)
{
	secret_set("production", "WEBHOOK_KEY", SIGN_KEY);
	secret_set("production", "API_TOKEN", API_TOKEN);
}

static void sh(const char *const *opts, const char *script, struct run_result *res)
{
	run_sandbox_sh(opts, script, res);
	if (res->status != 0)
		printf("# status %d\n# out: %s\n# err: %s\n", res->status, res->out, res->err);
}

TEST(grant_sign_verifies_and_the_key_never_enters)
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES], key[32];
	char hex[2 * sizeof(mac) + 2];
	struct run_result res;

	NEED(USERNS);
	vault();
	sh((const char *const[]){ "--from", "production", "--grant", "sign:WEBHOOK_KEY",
				  "--allow-host", "example.com", NULL },
	   "curl -s -o /dev/null http://example.org/; "
	   "printf 'payload 1' | /run/mayfly/mayfly broker sign WEBHOOK_KEY && "
	   /* The key is nowhere the job can look. */
	   "if env | grep -q " SIGN_KEY "; then echo in-env; fi; "
	   "if grep -rqs " SIGN_KEY " /run /tmp /workspace /home /proc/self/environ; then "
	   "echo in-files; fi; "
	   "test -S \"$MAYFLY_BROKER_SOCKET\" && echo socket",
	   &res);
	CHECK_EQ(res.status, 0);
	/* HMAC-SHA256 with the key, computed here (libsodium takes a 32-byte key; HMAC keys
	 * shorter than the block are zero-padded, so that is the same MAC). */
	CHECK_EQ(sodium_init() >= 0, 1);
	memset(key, 0, sizeof(key));
	memcpy(key, SIGN_KEY, strlen(SIGN_KEY));
	crypto_auth_hmacsha256(mac, (const unsigned char *) "payload 1", 9, key);
	sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
	strcat(hex, "\n");
	CHECK(strncmp(res.out, hex, strlen(hex)) == 0);
	CHECK_STR_EQ(res.out + strlen(hex), "socket\n");
	CHECK(strstr(res.err, SIGN_KEY) == NULL);
	run_result_free(&res);
	/* The lease, the broker call and the proxy's refusal are audited, without the value,
	 * and `mayfly audit` shows them all. */
	mayfly(&res, "audit", "--json");
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "\"kind\":\"broker\"");
	CHECK(strstr(res.out, SIGN_KEY) == NULL);
	run_result_free(&res);
	mayfly(&res, "audit", "--since", "1h");
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, " lease ");
	CHECK_STR_CONTAINS(res.out, " broker ");
	CHECK_STR_CONTAINS(res.out, "sign WEBHOOK_KEY hmac-sha256");
	CHECK_STR_CONTAINS(res.out, "egress");
	CHECK_STR_CONTAINS(res.out, "GET example.org:80");
	CHECK_STR_CONTAINS(res.out, "denied: host 'example.org' port 80 is not in this "
				    "sandbox's --allow-host list");
	CHECK(strstr(res.out, SIGN_KEY) == NULL);
	run_result_free(&res);
}

TEST(grant_http_injects_the_token_from_the_host_and_masks_its_echo)
{
	char port[16], py[4096], script[1024], grant[256];
	struct run_result res;
	pid_t server;

	NEED(USERNS);
	if (access("/usr/bin/python3", X_OK) < 0)
		test_skip_host("python3 is not installed");
	vault();
	snprintf(port, sizeof(port), "%d", test_free_port());
	snprintf(py, sizeof(py), "%s/api.py", test_tmpdir());
	test_put("/", py + 1, api_py);
	server = fork();
	CHECK(server >= 0);
	if (server == 0) {
		execl("/usr/bin/python3", "python3", py, port, (char *) NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && !test_port_accepts(atoi(port)); i++)
		usleep(10000);
	CHECK(test_port_accepts(atoi(port)));
	snprintf(grant, sizeof(grant), "http:API_TOKEN@http://127.0.0.1:%s/v1/", port);
	/* The sandbox has no network: the broker makes the request from the host. */
	snprintf(script, sizeof(script),
		 "/run/mayfly/mayfly broker http API_TOKEN GET http://127.0.0.1:%s/v1/charges; "
		 "echo \"status $?\"; "
		 "/run/mayfly/mayfly broker http API_TOKEN GET http://127.0.0.1:%s/admin "
		 "2>&1; echo \"status $?\"; "
		 /* A canary scan: the token is nowhere the job can look. */
		 "if env | grep -q " API_TOKEN " || grep -rqs " API_TOKEN " /run /tmp "
		 "/workspace /home /proc/self/environ; then echo token-inside; fi",
		 port, port);
	sh((const char *const[]){ "--from", "production", "--grant", grant, NULL }, script, &res);
	kill(server, SIGKILL);
	waitpid(server, NULL, 0);
	CHECK_EQ(res.status, 0);
	/* 200: the token went in; its echo is masked (by the broker and by mayfly). */
	CHECK_STR_CONTAINS(res.out, "you sent: Bearer ***\nstatus 0\n");
	/* Outside the granted prefix: refused. */
	CHECK_STR_CONTAINS(res.out, "status 1\n");
	CHECK(strstr(res.out, "token-inside") == NULL);
	CHECK(strstr(res.out, API_TOKEN) == NULL);
	CHECK(strstr(res.err, API_TOKEN) == NULL);
	run_result_free(&res);
}

TEST(grant_dry_run_sends_nothing)
{
	struct run_result res;

	NEED(USERNS);
	vault();
	/* Nothing listens at that address: a dry run never connects. */
	sh((const char *const[]){ "--from", "production", "--grant",
				  "http:API_TOKEN@https://api.invalid/v1/", "--broker-dry-run",
				  NULL },
	   "/run/mayfly/mayfly broker http API_TOKEN GET https://api.invalid/v1/x >/dev/null; "
	   "echo \"status $?\"",
	   &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, "status 0\n");
	run_result_free(&res);
}

TEST(grant_bad_input_fails_before_the_sandbox)
{
	struct run_result res;

	NEED(USERNS);
	vault();
	sh((const char *const[]){ "--grant", "sign:WEBHOOK_KEY", NULL }, "echo ran", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "--secret and --grant need --from ENV");
	run_result_free(&res);
	sh((const char *const[]){ "--from", "production", "--grant", "sign:NO_SUCH", NULL },
	   "echo ran", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "NO_SUCH");
	CHECK(strstr(res.out, "ran") == NULL);
	run_result_free(&res);
	sh((const char *const[]){ "--from", "production", "--secret", "WEBHOOK_KEY", "--grant",
				  "sign:WEBHOOK_KEY", NULL },
	   "echo ran", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "'WEBHOOK_KEY' is asked for twice");
	run_result_free(&res);
	sh((const char *const[]){ "--from", "production", "--grant", "frob:WEBHOOK_KEY", NULL },
	   "echo ran", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "--grant 'frob:WEBHOOK_KEY'");
	run_result_free(&res);
	sh((const char *const[]){ "--broker-dry-run", NULL }, "echo ran", &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "--broker-dry-run needs a --grant");
	run_result_free(&res);
}

TEST(no_grant_no_broker)
{
	struct run_result res;

	NEED(USERNS);
	sh(NULL,
	   "if test -e /run/mayfly; then echo there; else echo none; fi; "
	   "echo \"${MAYFLY_BROKER_SOCKET:-unset}\"",
	   &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, "none\nunset\n");
	run_result_free(&res);
}

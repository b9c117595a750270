/* test-broker.c - the real broker (broker_spawn) on a socket in the test's tmpdir, the
 * real `mayfly broker` client, and a real HTTPS API: lighttpd on loopback with a fresh
 * certificate, whose CGI answers 200 only to "Authorization: Bearer <token>" and echoes
 * the header back (raw, base64 and hex) so that scrubbing is put to the test. Signatures
 * are verified on the host with the key; refusals are checked in the answer and in the
 * audit log; the token is looked for everywhere the job could see and in the audit log. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sodium.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker/broker.h"
#include "http/http.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/xalloc.h"
#include "run.h"
#include "need.h"
#include "test.h"

#define TOKEN	 "tok-9f8e7d6c5b4a-canary"
#define HMAC_KEY "whsec-0123456789abcdef-canary"
#define LIGHTTPD "/usr/sbin/lighttpd"

DEFINE_CLEANUP(struct broker_grant *, broker_grant_free)

struct fx {
	pid_t pid;
	char *sock, *audit;
	struct broker_grant *grants[8];
	size_t n;
};

static void fx_stop(struct fx *f)
{
	killp(&f->pid);
	for (size_t i = 0; i < f->n; i++)
		broker_grant_free(f->grants[i]);
	free(f->sock);
	free(f->audit);
}

static void grant(struct fx *f, const char *text, const void *value, size_t len)
{
	struct err err = { 0 };

	CHECK(f->n < 8);
	if (broker_grant_parse(text, &f->grants[f->n], &err) < 0 ||
	    broker_grant_set_value(f->grants[f->n], value, len, &err) < 0)
		test_fail(__FILE__, __LINE__, "grant '%s': %s", text, err.msg);
	f->n++;
}

static uint64_t my_pidns(void)
{
	struct stat st;

	CHECK_OK(stat("/proc/self/ns/pid", &st));
	return (uint64_t) st.st_ino;
}

/* cfg: limits, dry_run, ca_file, peer checks (peer_pidns_ino 1 means "none"). */
static void fx_start(struct fx *f, struct broker_config cfg)
{
	struct err err = { 0 };

	f->sock = path_join(test_tmpdir(), "broker.sock");
	f->audit = path_join(test_tmpdir(), "audit.log");
	cfg.grants = f->grants;
	cfg.n_grants = f->n;
	cfg.socket_path = f->sock;
	if (!cfg.audit_path)
		cfg.audit_path = f->audit;
	cfg.sandbox_id = "test-sandbox";
	if (!cfg.peer_pidns_ino)
		cfg.peer_pidns_ino = my_pidns();
	else if (cfg.peer_pidns_ino == 1)
		cfg.peer_pidns_ino = 0;
	/* As a plain user the broker cannot read the (non-dumpable) client's ns/pid: it
	 * checks that the client descends from this test instead. */
	if (!cfg.peer_init_pid)
		cfg.peer_init_pid = getpid();
	if (!cfg.peer_uid)
		cfg.peer_uid = getuid();
	if (!cfg.run_as_uid)
		cfg.run_as_uid = (uid_t) -1;
	if (!cfg.run_as_gid)
		cfg.run_as_gid = (gid_t) -1;
	if (broker_spawn(&cfg, &f->pid, &err) < 0)
		test_fail(__FILE__, __LINE__, "broker_spawn: %s", err.msg);
}

/* sh -c SCRIPT with $M the mayfly binary and the broker's socket in the environment. */
static void client(const struct fx *f, const char *script, struct run_result *res)
{
	cleanup_free char *e1 = xasprintf("MAYFLY_BROKER_SOCKET=%s", f->sock);
	cleanup_free char *e2 = xasprintf("M=%s", mayfly_bin());
	char *const env[] = { e1, e2, NULL };
	char *const argv[] = { (char *) "sh", (char *) "-c", (char *) script, NULL };

	run_argv(argv, env, 60, res);
	printf("# $ %s\n# status %d, stdout: %.300s\n# stderr: %s\n", script, res->status, res->out,
	       res->err);
}

static char *audit_text(const struct fx *f)
{
	char *buf = NULL;
	size_t len;
	struct err err = { 0 };

	CHECK_OK(read_file_at(AT_FDCWD, f->audit, 1 << 20, &buf, &len, &err));
	return buf;
}

/* The token in none of the forms a job could decode. */
static void check_no_secret(const char *where, const char *text, const char *secret)
{
	char b64[256], hex[256];

	sodium_bin2base64(b64, sizeof(b64), (const unsigned char *) secret, strlen(secret),
			  sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2hex(hex, sizeof(hex), (const unsigned char *) secret, strlen(secret));
	b64[strlen(b64) - 4] = '\0'; /* the padding-free middle is enough */
	if (strstr(text, secret) || strstr(text, b64) || strstr(text, hex))
		test_fail(__FILE__, __LINE__, "%s holds the secret: %s", where, text);
}

static void hex_of(const unsigned char *b, size_t n, char *out, size_t size)
{
	sodium_bin2hex(out, size, b, n);
}

TEST(broker_sign_hmac_verifies_with_the_key)
{
	CLEANUP(fx_stop) struct fx f = { 0 };
	struct run_result res;
	crypto_auth_hmacsha256_state st;
	unsigned char mac[32];
	char want[65];
	cleanup_free char *audit = NULL;

	CHECK(sodium_init() >= 0);
	grant(&f, "sign:WEBHOOK_KEY", HMAC_KEY, strlen(HMAC_KEY));
	fx_start(&f, (struct broker_config){ 0 });
	client(&f, "printf 'payload to sign' | \"$M\" broker sign WEBHOOK_KEY", &res);
	CHECK_EQ(res.status, 0);
	crypto_auth_hmacsha256_init(&st, (const unsigned char *) HMAC_KEY, strlen(HMAC_KEY));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *) "payload to sign", 15);
	crypto_auth_hmacsha256_final(&st, mac);
	hex_of(mac, 32, want, sizeof(want));
	CHECK_STR_EQ(strtok_r(res.out, "\n", &(char *){ NULL }), want);
	check_no_secret("stdout", res.out, HMAC_KEY);
	run_result_free(&res);
	/* The wrong algorithm, an unknown name: refused, with the reason. */
	client(&f, "echo x | \"$M\" broker sign WEBHOOK_KEY --alg ed25519", &res);
	CHECK_EQ(res.status, 1);
	CHECK_STR_CONTAINS(res.err, "granted for hmac-sha256, not ed25519");
	run_result_free(&res);
	client(&f, "echo x | \"$M\" broker sign OTHER_KEY", &res);
	CHECK_EQ(res.status, 1);
	CHECK_STR_CONTAINS(res.err,
			   "'OTHER_KEY' is not granted to this sandbox (granted: WEBHOOK_KEY)");
	run_result_free(&res);
	audit = audit_text(&f);
	printf("# audit:\n%s", audit);
	CHECK_STR_CONTAINS(audit, "\"kind\":\"broker\"");
	CHECK_STR_CONTAINS(audit, "\"sandbox\":\"test-sandbox\"");
	CHECK_STR_CONTAINS(audit,
			   "\"verb\":\"sign\",\"name\":\"WEBHOOK_KEY\",\"method\":\"hmac-sha256\"");
	CHECK_STR_CONTAINS(audit, "\"allowed\":true");
	CHECK_STR_CONTAINS(audit, "\"name\":\"OTHER_KEY\"");
	CHECK_STR_CONTAINS(audit, "\"allowed\":false");
	check_no_secret("the audit log", audit, HMAC_KEY);
	struct stat sta;
	CHECK_OK(stat(f.audit, &sta));
	CHECK_EQ(sta.st_mode & 0777, 0600);
}

TEST(broker_sign_ed25519_verifies_with_the_public_key)
{
	CLEANUP(fx_stop) struct fx f = { 0 };
	struct run_result res, pub;
	unsigned char seed[32], pk[32], sk[64], sig[64], got_pk[32];
	char pk_hex[65];
	size_t n;

	CHECK(sodium_init() >= 0);
	randombytes_buf(seed, sizeof(seed));
	crypto_sign_seed_keypair(pk, sk, seed);
	grant(&f, "sign:DEPLOY_KEY;alg=ed25519", seed, sizeof(seed));
	fx_start(&f, (struct broker_config){ 0 });
	client(&f, "printf 'release v1.2.3' | \"$M\" broker sign DEPLOY_KEY --alg ed25519", &res);
	CHECK_EQ(res.status, 0);
	client(&f, "\"$M\" broker sign DEPLOY_KEY --public-key </dev/null", &pub);
	CHECK_EQ(pub.status, 0);
	hex_of(pk, 32, pk_hex, sizeof(pk_hex));
	CHECK_EQ(strncmp(pub.out, pk_hex, 64), 0);
	CHECK_EQ(sodium_hex2bin(sig, sizeof(sig), res.out, 128, NULL, &n, NULL), 0);
	CHECK_EQ(n, 64);
	CHECK_EQ(sodium_hex2bin(got_pk, sizeof(got_pk), pub.out, 64, NULL, &n, NULL), 0);
	CHECK_EQ(crypto_sign_verify_detached(sig, (const unsigned char *) "release v1.2.3", 14, pk),
		 0);
	CHECK_NE(crypto_sign_verify_detached(sig, (const unsigned char *) "release v1.2.4", 14, pk),
		 0);
	run_result_free(&res);
	run_result_free(&pub);
}

/* --- the HTTPS API ------------------------------------------------------------------ */

struct api {
	pid_t pid;
	int port;
	char *cert, *dir;
};

static void api_stop(struct api *a)
{
	killp(&a->pid);
	free(a->cert);
	free(a->dir);
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	va_list ap;
	cleanup_free char *cmd = NULL;
	struct run_result res;
	int status;

	va_start(ap, fmt);
	CHECK(vasprintf(&cmd, fmt, ap) >= 0);
	va_end(ap);
	char *const argv[] = { (char *) "sh", (char *) "-c", cmd, NULL };
	run_argv(argv, NULL, 60, &res);
	status = res.status;
	if (status != 0)
		printf("# sh: %s: %d\n# %s%s\n", cmd, status, res.out, res.err);
	run_result_free(&res);
	return status;
}

/* The CGI: /api/redirect sends the client off the prefix, /other/ marks that it was
 * reached (the broker must never get there), the rest demands the bearer token and
 * echoes the Authorization header it received, raw, in base64 and in hex. */
static const char cgi[] =
	"#!/bin/sh\n"
	"case \"$REQUEST_URI\" in\n"
	"/api/redirect*) printf 'Status: 302 Found\\r\\nLocation: "
	"https://localhost:%d/other/steal\\r\\n\\r\\n'; exit 0;;\n"
	"/other/*) touch '%s/reached-other'; printf 'Status: 200 OK\\r\\n\\r\\nother\\n'; exit "
	"0;;\n"
	"esac\n"
	"touch '%s/reached-api'\n"
	"if [ \"$HTTP_AUTHORIZATION\" != 'Bearer %s' ]; then\n"
	"  printf 'Status: 401 Unauthorized\\r\\nWWW-Authenticate: Bearer\\r\\nContent-Type: "
	"text/plain\\r\\n\\r\\nno valid token\\n'; exit 0\n"
	"fi\n"
	"printf 'Status: 200 OK\\r\\nContent-Type: text/plain\\r\\nX-Echo: %%s\\r\\n\\r\\n' "
	"\"$HTTP_AUTHORIZATION\"\n"
	"printf 'hello %%s %%s\\n' \"$REQUEST_METHOD\" \"$REQUEST_URI\"\n"
	"printf 'raw: %%s\\n' \"$HTTP_AUTHORIZATION\"\n"
	"printf 'b64: %%s\\n' \"$(printf %%s \"$HTTP_AUTHORIZATION\" | base64 -w0)\"\n"
	"printf 'hex: %%s\\n' \"$(printf %%s \"$HTTP_AUTHORIZATION\" | od -An -tx1 | tr -d ' "
	"\\n')\"\n"
	"if [ -n \"$CONTENT_LENGTH\" ]; then printf 'body: '; head -c \"$CONTENT_LENGTH\"; echo; "
	"fi\n";

static void api_start(struct api *a)
{
	cleanup_free char *conf = NULL, *text = NULL, *script = NULL, *cgi_path = NULL;
	struct err err = { 0 };

	if (access(LIGHTTPD, X_OK) < 0 || access("/usr/lib/lighttpd/mod_openssl.so", R_OK) < 0)
		test_skip_host("no lighttpd with TLS (apt-get install lighttpd "
			       "lighttpd-mod-openssl)");
	a->dir = path_join(test_tmpdir(), "api");
	CHECK_OK(mkdir(a->dir, 0755));
	a->port = test_free_port();
	a->cert = path_join(a->dir, "cert.pem");
	CHECK_EQ(sh("cd '%s' && openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "
		    "/CN=localhost -addext subjectAltName=DNS:localhost -keyout key.pem "
		    "-out cert.pem 2>/dev/null && cat cert.pem key.pem > server.pem && mkdir www",
		    a->dir),
		 0);
	script = xasprintf(cgi, a->port, a->dir, a->dir, TOKEN);
	cgi_path = path_join(a->dir, "app.cgi");
	CHECK_OK(write_file_atomic_at(AT_FDCWD, cgi_path, script, strlen(script), 0755, 0, &err));
	conf = path_join(a->dir, "lighttpd.conf");
	text = xasprintf("server.document-root = \"%s/www\"\n"
			 "server.bind = \"127.0.0.1\"\n"
			 "server.port = %d\n"
			 "server.errorlog = \"%s/error.log\"\n"
			 "server.modules = ( \"mod_openssl\", \"mod_alias\", \"mod_cgi\" )\n"
			 "ssl.engine = \"enable\"\n"
			 "ssl.pemfile = \"%s/server.pem\"\n"
			 "alias.url = ( \"/api/\" => \"%s/\", \"/other/\" => \"%s/\" )\n"
			 "cgi.assign = ( \".cgi\" => \"\" )\n",
			 a->dir, a->port, a->dir, a->dir, cgi_path, cgi_path);
	CHECK_OK(write_file_atomic_at(AT_FDCWD, conf, text, strlen(text), 0644, 0, &err));
	a->pid = fork();
	CHECK(a->pid >= 0);
	if (a->pid == 0) {
		execl(LIGHTTPD, "lighttpd", "-D", "-f", conf, (char *) NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && !test_port_accepts(a->port); i++)
		usleep(10 * 1000);
	if (!test_port_accepts(a->port)) {
		(void) sh("cat '%s/error.log' >&2", a->dir);
		CHECK(!"lighttpd did not start");
	}
}

static bool exists(const char *dir, const char *name)
{
	cleanup_free char *p = path_join(dir, name);
	return access(p, F_OK) == 0;
}

static void need_curl(void)
{
	struct err err = { 0 };
	if (!http_available(&err))
		test_skip_host("%s", err.msg);
}

/* The API, and a broker granting TOKEN as API_TOKEN under its /api/ (opts: ";methods=.."). */
static void with_api(struct fx *f, struct api *a, const char *opts, bool dry_run)
{
	cleanup_free char *g = NULL;

	need_curl();
	api_start(a);
	g = xasprintf("http:API_TOKEN@https://localhost:%d/api/%s", a->port, opts);
	grant(f, g, TOKEN, strlen(TOKEN));
	fx_start(f, (struct broker_config){ .ca_file = a->cert, .dry_run = dry_run });
}

TEST(broker_http_injects_the_token_and_scrubs_its_echo)
{
	CLEANUP(fx_stop) struct fx f = { 0 };
	CLEANUP(api_stop) struct api a = { 0 };
	struct run_result res;
	cleanup_free char *g = NULL, *script = NULL, *audit = NULL, *url = NULL;
	struct http_response direct = { 0 };
	struct err err = { 0 };

	need_curl();
	CHECK(sodium_init() >= 0);
	api_start(&a);
	url = xasprintf("https://localhost:%d/api/", a.port);
	g = xasprintf("http:API_TOKEN@%s", url);
	grant(&f, g, TOKEN, strlen(TOKEN));
	fx_start(&f, (struct broker_config){ .ca_file = a.cert });

	/* The API is real: without the token it answers 401. */
	const struct http_request plain = { .method = "GET", .url = url, .ca_file = a.cert };
	CHECK_OK(http_request(&plain, &direct, &err));
	CHECK_EQ(direct.status, 401);
	http_response_release(&direct);

	script = xasprintf("\"$M\" broker http API_TOKEN GET '%scharges?limit=3' -i", url);
	client(&f, script, &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.err, "HTTP 200");
	CHECK_STR_CONTAINS(res.out, "hello GET /api/charges?limit=3");
	/* The server echoed the header in three encodings and in X-Echo: all scrubbed. */
	CHECK_STR_CONTAINS(res.out, "raw: Bearer ***");
	CHECK_STR_CONTAINS(res.err, "x-echo: Bearer ***");
	CHECK_STR_CONTAINS(res.out, "b64: ");
	CHECK_STR_CONTAINS(res.out, "hex: ");
	check_no_secret("stdout", res.out, TOKEN);
	check_no_secret("stderr", res.err, TOKEN);
	run_result_free(&res);

	/* A POST with a body and a header of the job's own. */
	free(script);
	script = xasprintf(
		"printf '{\"amount\":42}' | \"$M\" broker http API_TOKEN POST '%scharges' "
		"-H 'Content-Type: application/json' --data-binary @-",
		url);
	client(&f, script, &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.out, "hello POST");
	CHECK_STR_CONTAINS(res.out, "body: {\"amount\":42}");
	check_no_secret("stdout", res.out, TOKEN);
	run_result_free(&res);

	audit = audit_text(&f);
	printf("# audit:\n%s", audit);
	CHECK_STR_CONTAINS(audit, "\"verb\":\"http\",\"name\":\"API_TOKEN\",\"method\":\"GET\","
				  "\"host\":\"localhost\"");
	CHECK_STR_CONTAINS(audit, "\"path\":\"/api/charges\",\"status\":200");
	check_no_secret("the audit log", audit, TOKEN);
}

/* The http module by itself: what the broker relies on. */
TEST(http_client_verifies_tls_caps_and_does_not_follow)
{
	CLEANUP(api_stop) struct api a = { 0 };
	struct http_response r = { 0 };
	struct err err = { 0 };
	cleanup_free char *redirect = NULL, *api = NULL,
			  *line = xasprintf("Authorization: Bearer %s", TOKEN);
	const char *hdrs[] = { line };

	need_curl();
	api_start(&a);
	redirect = xasprintf("https://localhost:%d/api/redirect", a.port);
	api = xasprintf("https://localhost:%d/api/x", a.port);
	/* Not trusted: the system's CAs do not know the test's certificate. */
	const struct http_request untrusted = { .method = "GET", .url = api };
	CHECK_EQ(http_request(&untrusted, &r, &err), -EPROTO);
	printf("# %s\n", err.msg);
	/* A 302 is an answer, not an instruction. */
	const struct http_request red = { .method = "GET", .url = redirect, .ca_file = a.cert };
	CHECK_OK(http_request(&red, &r, &err));
	CHECK_EQ(r.status, 302);
	http_response_release(&r);
	CHECK(!exists(a.dir, "reached-other"));
	/* The body cap. */
	const struct http_request capped = { .method = "GET",
					     .url = api,
					     .ca_file = a.cert,
					     .headers = hdrs,
					     .n_headers = 1,
					     .max_body = 16 };
	CHECK_EQ(http_request(&capped, &r, &err), -EFBIG);
	CHECK_STR_CONTAINS(err.msg, "larger than 16 bytes");
	CHECK_STR_NOT_CONTAINS(err.msg, TOKEN);
	/* Only http and https; no CR/LF in a header line. */
	const struct http_request ftp = { .method = "GET", .url = "ftp://localhost/" };
	CHECK_EQ(http_request(&ftp, &r, &err), -EINVAL);
	const char *bad[] = { "X-A: 1\r\nX-B: 2" };
	const struct http_request crlf = {
		.method = "GET", .url = api, .ca_file = a.cert, .headers = bad, .n_headers = 1
	};
	CHECK_EQ(http_request(&crlf, &r, &err), -EINVAL);
	const struct http_request method = { .method = "GE T", .url = api };
	CHECK_EQ(http_request(&method, &r, &err), -EINVAL);
}

TEST(broker_http_wrong_token_gets_401_and_exit_22)
{
	CLEANUP(fx_stop) struct fx f = { 0 };
	CLEANUP(api_stop) struct api a = { 0 };
	struct run_result res;
	cleanup_free char *g = NULL, *script = NULL;

	need_curl();
	api_start(&a);
	g = xasprintf("http:OLD_TOKEN@https://localhost:%d/api/", a.port);
	grant(&f, g, "revoked-token-123", 17);
	fx_start(&f, (struct broker_config){ .ca_file = a.cert });
	script = xasprintf("\"$M\" broker http OLD_TOKEN GET https://localhost:%d/api/x", a.port);
	client(&f, script, &res);
	CHECK_EQ(res.status, 22);
	CHECK_STR_CONTAINS(res.err, "HTTP 401");
	CHECK_STR_CONTAINS(res.out, "no valid token");
	run_result_free(&res);
}

TEST(broker_http_refuses_outside_the_prefix_and_audits)
{
	CLEANUP(fx_stop) struct fx f = { 0 };
	CLEANUP(api_stop) struct api a = { 0 };
	struct run_result res;
	cleanup_free char *audit = NULL;
	char *tricks[9];

	with_api(&f, &a, ";methods=GET", false);
	/* Arguments after "broker http API_TOKEN", and what the refusal says. */
	static const char *const why[] = {
		"is not under the prefix",
		"is not under the prefix",
		"is not under the prefix",
		"is not under the prefix",
		"user information",
		"is not under the prefix",
		"method 'DELETE' is not granted",
		"the one the broker injects",
		"control byte 0x0d",
	};
	tricks[0] = xasprintf("GET https://localhost:%d/other/x", a.port);
	tricks[1] = xasprintf("GET https://localhost:%d/api/../other/x", a.port);
	tricks[2] = xasprintf("GET https://localhost:%d/api/%%2e%%2e/other/x", a.port);
	tricks[3] = xasprintf("GET http://localhost:%d/api/x", a.port);
	tricks[4] = xasprintf("GET https://localhost:%d@127.0.0.1:%d/api/x", a.port, a.port);
	tricks[5] = xasprintf("GET https://127.0.0.1:%d/api/x", a.port);
	tricks[6] = xasprintf("DELETE https://localhost:%d/api/x", a.port);
	tricks[7] =
		xasprintf("GET https://localhost:%d/api/x -H 'Authorization: Bearer mine'", a.port);
	tricks[8] = xasprintf(
		"GET https://localhost:%d/api/x -H \"$(printf 'X-A: 1\\r\\nX-B: 2')\"", a.port);
	for (size_t i = 0; i < sizeof(tricks) / sizeof(tricks[0]); i++) {
		cleanup_free char *args = tricks[i];
		cleanup_free char *s = xasprintf("\"$M\" broker http API_TOKEN %s", args);
		client(&f, s, &res);
		CHECK_EQ(res.status, 1);
		CHECK_STR_CONTAINS(res.err, "the broker refused");
		CHECK_STR_CONTAINS(res.err, why[i]);
		check_no_secret("stderr", res.err, TOKEN);
		run_result_free(&res);
	}
	CHECK(!exists(a.dir, "reached-other"));
	CHECK(!exists(a.dir, "reached-api"));
	audit = audit_text(&f);
	printf("# audit:\n%s", audit);
	CHECK_STR_CONTAINS(audit, "\"path\":\"/other/x\",\"status\":0");
	CHECK_STR_CONTAINS(audit, "is not under the prefix");
	CHECK_STR_NOT_CONTAINS(audit, "\"allowed\":true");
	check_no_secret("the audit log", audit, TOKEN);
}

TEST(broker_http_redirect_out_of_the_prefix_is_not_followed)
{
	CLEANUP(fx_stop) struct fx f = { 0 };
	CLEANUP(api_stop) struct api a = { 0 };
	struct run_result res;
	cleanup_free char *s = NULL, *loc = NULL;

	with_api(&f, &a, "", false);
	s = xasprintf("\"$M\" broker http API_TOKEN GET https://localhost:%d/api/redirect -i",
		      a.port);
	client(&f, s, &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.err, "HTTP 302");
	loc = xasprintf("location: https://localhost:%d/other/steal", a.port);
	CHECK_STR_CONTAINS(res.err, loc);
	run_result_free(&res);
	CHECK(!exists(a.dir, "reached-other"));
	/* Following it by hand is a new request, and that one is outside the prefix. */
	free(s);
	s = xasprintf("\"$M\" broker http API_TOKEN GET https://localhost:%d/other/steal", a.port);
	client(&f, s, &res);
	CHECK_EQ(res.status, 1);
	CHECK_STR_CONTAINS(res.err, "is not under the prefix");
	run_result_free(&res);
	CHECK(!exists(a.dir, "reached-other"));
}

TEST(broker_dry_run_sends_nothing)
{
	CLEANUP(fx_stop) struct fx f = { 0 };
	CLEANUP(api_stop) struct api a = { 0 };
	struct run_result res;
	cleanup_free char *s = NULL, *audit = NULL;

	with_api(&f, &a, "", true);
	s = xasprintf("\"$M\" broker http API_TOKEN DELETE https://localhost:%d/api/customers/7",
		      a.port);
	client(&f, s, &res);
	CHECK_EQ(res.status, 0);
	CHECK_STR_CONTAINS(res.err, "HTTP 200");
	run_result_free(&res);
	CHECK(!exists(a.dir, "reached-api"));
	audit = audit_text(&f);
	printf("# audit:\n%s", audit);
	CHECK_STR_CONTAINS(audit, "\"method\":\"DELETE\"");
	CHECK_STR_CONTAINS(audit, "\"dry_run\":true");
	CHECK_STR_CONTAINS(audit, "\"path\":\"/api/customers/7\"");
}

/* --- hostile clients -------------------------------------------------------------- */

static int raw_connect(const struct fx *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	memcpy(sa.sun_path, f->sock, strlen(f->sock));
	CHECK_OK(connect(fd, (struct sockaddr *) &sa, sizeof(sa)));
	return fd;
}

/* Everything the broker sends until it hangs up (or 60 s pass). */
static char *read_all(int fd)
{
	char *buf = xcalloc(1, 1);
	size_t len = 0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char chunk[4096];
		if (poll(&p, 1, 60000) <= 0)
			break;
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n <= 0)
			break;
		buf = xrealloc(buf, len + (size_t) n + 1);
		memcpy(buf + len, chunk, (size_t) n);
		len += (size_t) n;
		buf[len] = '\0';
	}
	return buf;
}

static void sign_works(const struct fx *f)
{
	struct run_result res;

	client(f, "echo hi | \"$M\" broker sign K", &res);
	CHECK_EQ(res.status, 0);
	CHECK_EQ(strlen(res.out), 65);
	run_result_free(&res);
}

TEST(broker_survives_garbage_huge_and_slow_clients)
{
	CLEANUP(fx_stop) struct fx f = { 0 };
	cleanup_close int slow = -1, garbage = -1, huge = -1;
	cleanup_free char *r1 = NULL, *r2 = NULL, *r3 = NULL, *audit = NULL, *big = NULL;
	const size_t max = 4096;

	grant(&f, "sign:K", HMAC_KEY, strlen(HMAC_KEY));
	fx_start(&f,
		 (struct broker_config){
			 .limits = { .max_body = 1024, .max_request = max, .request_ms = 300 } });
	/* A slow client: half a request, then nothing. */
	slow = raw_connect(&f);
	CHECK_EQ(write(slow, "{\"verb\":\"si", 11), 11);
	/* Garbage: answered, and the connection stays usable. */
	garbage = raw_connect(&f);
	CHECK_EQ(write(garbage, "\x01\x02garbage\n", 10), 10);
	sign_works(&f);
	/* Huge: refused once past the cap, then hung up on. */
	huge = raw_connect(&f);
	big = xmalloc(max * 4);
	memset(big, 'x', max * 4);
	(void) !send(huge, big, max * 4, MSG_NOSIGNAL);
	r3 = read_all(huge);
	CHECK_STR_CONTAINS(r3, "request larger than 4096 bytes");
	sign_works(&f);
	/* The slow one is answered and dropped when its time is up. */
	r1 = read_all(slow);
	CHECK_STR_CONTAINS(r1, "\"ok\":false,\"error\":\"request not complete within 300 ms\"");
	CHECK_EQ(shutdown(garbage, SHUT_WR), 0);
	r2 = read_all(garbage);
	CHECK_STR_CONTAINS(r2, "\"ok\":false,\"error\":\"bad request: malformed JSON");
	sign_works(&f);
	audit = audit_text(&f);
	printf("# audit:\n%s", audit);
	CHECK_STR_CONTAINS(audit, "request larger than");
	CHECK_STR_CONTAINS(audit, "request not complete");
	CHECK_STR_CONTAINS(audit, "malformed JSON");
}

TEST(broker_rate_limits_and_connection_cap)
{
	CLEANUP(fx_stop) struct fx f = { 0 };
	cleanup_close int fd = -1;
	cleanup_free char *out = NULL, *audit = NULL;
	int extra[3];
	const char req[] = "{\"verb\":\"sign\",\"name\":\"K\",\"payload_b64\":\"aGk=\"}\n";
	size_t ok = 0, limited = 0;

	grant(&f, "sign:K", HMAC_KEY, strlen(HMAC_KEY));
	fx_start(&f, (struct broker_config){
			     .limits = { .rate_per_s = 1, .burst = 3, .max_clients = 2 } });
	fd = raw_connect(&f);
	for (int i = 0; i < 10; i++)
		CHECK_EQ(write(fd, req, sizeof(req) - 1), (ssize_t) sizeof(req) - 1);
	CHECK_EQ(shutdown(fd, SHUT_WR), 0);
	out = read_all(fd);
	for (const char *p = out; (p = strstr(p, "\"ok\":true")); p++)
		ok++;
	for (const char *p = out; (p = strstr(p, "rate limit")); p++)
		limited++;
	printf("# %zu answered, %zu refused\n", ok, limited);
	CHECK(ok >= 3);
	CHECK(limited >= 1);
	CHECK_EQ(ok + limited, 10);
	/* Two connections at most: the third is told so. */
	for (int i = 0; i < 3; i++)
		extra[i] = raw_connect(&f);
	cleanup_free char *third = read_all(extra[2]);
	CHECK_STR_CONTAINS(third, "too many connections");
	for (int i = 0; i < 3; i++)
		close(extra[i]);
	audit = audit_text(&f);
	CHECK_STR_CONTAINS(audit, "rate limit");
	CHECK_STR_CONTAINS(audit, "too many connections");
}

TEST(broker_answers_nothing_it_cannot_audit)
{
	CLEANUP(fx_stop) struct fx f = { 0 };
	struct run_result res;

	if (access("/dev/full", W_OK) < 0)
		test_skip_host("no /dev/full");
	grant(&f, "sign:K", HMAC_KEY, strlen(HMAC_KEY));
	fx_start(&f, (struct broker_config){ .audit_path = "/dev/full" });
	client(&f, "echo x | \"$M\" broker sign K", &res);
	CHECK_EQ(res.status, 1);
	CHECK_STR_CONTAINS(res.err, "the audit log cannot be written");
	CHECK_EQ(strlen(res.out), 0);
	run_result_free(&res);
}

TEST(broker_spawn_refuses_a_name_granted_twice)
{
	CLEANUP(fx_stop) struct fx f = { 0 };
	struct err err = { 0 };
	pid_t pid = 0;

	grant(&f, "sign:K", HMAC_KEY, strlen(HMAC_KEY));
	grant(&f, "http:K@https://x.example/", HMAC_KEY, strlen(HMAC_KEY));
	f.sock = path_join(test_tmpdir(), "broker.sock");
	f.audit = path_join(test_tmpdir(), "audit.log");
	const struct broker_config cfg = { .grants = f.grants,
					   .n_grants = f.n,
					   .socket_path = f.sock,
					   .audit_path = f.audit,
					   .peer_uid = (uid_t) -1,
					   .run_as_uid = (uid_t) -1 };
	CHECK_EQ(broker_spawn(&cfg, &pid, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "'K' is granted twice");
	CHECK_STR_NOT_CONTAINS(err.msg, HMAC_KEY);
}

TEST(broker_checks_the_peer)
{
	struct run_result res;
	cleanup_free char *audit = NULL;

	{
		CLEANUP(fx_stop) struct fx f = { 0 };
		grant(&f, "sign:K", HMAC_KEY, strlen(HMAC_KEY));
		/* Not the namespace, nor a descendant of the "init" (a stranger's process). */
		pid_t stranger = fork();
		CHECK(stranger >= 0);
		if (stranger == 0) {
			pause();
			_exit(0);
		}
		fx_start(&f, (struct broker_config){ .peer_pidns_ino = my_pidns() + 1,
						     .peer_init_pid = stranger });
		(void) kill(stranger, SIGKILL);
		client(&f, "echo x | \"$M\" broker sign K", &res);
		CHECK_EQ(res.status, 1);
		CHECK_STR_CONTAINS(res.err, "is not in the sandbox's pid namespace");
		run_result_free(&res);
		audit = audit_text(&f);
		CHECK_STR_CONTAINS(audit, "\"allowed\":false,\"reason\":\"peer check");
	}
	{
		CLEANUP(fx_stop) struct fx f = { 0 };
		grant(&f, "sign:K", HMAC_KEY, strlen(HMAC_KEY));
		fx_start(&f, (struct broker_config){ .peer_uid = getuid() + 4242 });
		client(&f, "echo x | \"$M\" broker sign K", &res);
		CHECK_EQ(res.status, 1);
		CHECK_STR_CONTAINS(res.err, "is not the sandbox's");
		run_result_free(&res);
	}
}

TEST(broker_as_root_drops_to_an_unprivileged_uid)
{
	CLEANUP(fx_stop) struct fx f = { 0 };
	cleanup_free char *status = NULL, *path = NULL;
	size_t len;
	struct err err = { 0 };

	NEED(ROOT);
	grant(&f, "sign:K", HMAC_KEY, strlen(HMAC_KEY));
	/* As nobody the broker cannot read a root peer's /proc/<pid>/ns: check the uid only. */
	fx_start(&f, (struct broker_config){
			     .run_as_uid = 65534, .run_as_gid = 65534, .peer_pidns_ino = 1 });
	sign_works(&f);
	path = xasprintf("/proc/%d/status", (int) f.pid);
	CHECK_OK(read_file_at(AT_FDCWD, path, 65536, &status, &len, &err));
	CHECK_STR_CONTAINS(status, "Uid:\t65534\t65534\t65534\t65534");
	CHECK_STR_CONTAINS(status, "Gid:\t65534\t65534\t65534\t65534");
	CHECK_STR_CONTAINS(status, "NoNewPrivs:\t1");
	CHECK_STR_CONTAINS(status, "CapEff:\t0000000000000000");
}

TEST(broker_dies_with_its_parent)
{
	int p[2];
	pid_t mid, broker = 0;
	struct fx f = { 0 };

	grant(&f, "sign:K", HMAC_KEY, strlen(HMAC_KEY));
	CHECK_OK(pipe(p));
	mid = fork();
	CHECK(mid >= 0);
	if (mid == 0) {
		fx_start(&f, (struct broker_config){ 0 });
		(void) !write(p[1], &f.pid, sizeof(f.pid));
		_exit(0); /* the broker's parent is gone: PR_SET_PDEATHSIG kills it */
	}
	CHECK_EQ(read(p[0], &broker, sizeof(broker)), (ssize_t) sizeof(broker));
	CHECK_EQ(waitpid(mid, NULL, 0), mid);
	for (int i = 0; i < 1000 && kill(broker, 0) == 0; i++)
		usleep(10000);
	/* Gone or a zombie waiting for a reaper: either way it serves no one. */
	char path[64], st[256] = "";
	snprintf(path, sizeof(path), "/proc/%d/stat", (int) broker);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		(void) !read(fd, st, sizeof(st) - 1);
		close(fd);
		CHECK(strstr(st, ") Z ") != NULL);
	}
	for (size_t i = 0; i < f.n; i++)
		broker_grant_free(f.grants[i]);
}

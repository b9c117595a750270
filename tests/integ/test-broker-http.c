/* test-broker-http.c - the broker's `http` verb against a real HTTPS API: lighttpd on
 * loopback with a fresh certificate, whose CGI answers 200 only to "Authorization: Bearer
 * <token>" and echoes the header back (raw, base64 and hex) so that scrubbing is put to
 * the test. Refusals (outside the prefix, a redirect out of it, a wrong token, dry runs)
 * are checked in the answer and in the audit log; the token is looked for everywhere the
 * job could see and in the audit log. */
#include "broker-fx.h"

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

/* test-checkout-https.c - smart HTTP over TLS: `git http-backend` behind lighttpd on
 * loopback, a self-signed certificate, basic authentication required. Credentials work from
 * struct checkout_cred and from the URL's userinfo, wrong or missing ones fail clearly, an
 * untrusted certificate is refused, and the token is found nowhere on disk afterwards.
 * `mayfly exec --repo` with the real binary: over plain HTTP, and as root over HTTPS with
 * the test's certificate bound into the system's CA bundle in a private mount namespace. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <git2.h>

#include "checkout/checkout.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/xalloc.h"
#include "../unit/checkout/repo.h"
#include "need.h"
#include "run.h"
#include "test.h"

#define TOKEN	 "s3cret-t0ken-9f8e7d"
#define LIGHTTPD "/usr/sbin/lighttpd"

struct server {
	bool plain; /* http:// without TLS: for the real binary, which trusts only the system's
		     * certificates (a test must not add one there) */
	pid_t pid;
	int port;
	char *cert; /* the self-signed certificate, PEM */
	char *srv;  /* GIT_PROJECT_ROOT */
};

static void server_stop(struct server *s)
{
	killp(&s->pid);
	free(s->cert);
	free(s->srv);
}

/* lighttpd on 127.0.0.1:<port>, TLS with a fresh self-signed certificate for "localhost",
 * /git/ handed to git http-backend, basic auth "x-access-token:TOKEN" on everything. */
static void server_start(struct server *s)
{
	const char *tmp = test_tmpdir();
	cleanup_free char *conf = path_join(tmp, "lighttpd.conf"), *text = NULL;
	struct err err = { 0 };

	if (access(LIGHTTPD, X_OK) < 0 || access("/usr/lib/lighttpd/mod_openssl.so", R_OK) < 0)
		test_skip_host("no lighttpd with TLS (apt-get install lighttpd "
			       "lighttpd-mod-openssl)");
	s->port = test_free_port();
	s->cert = path_join(tmp, "cert.pem");
	s->srv = path_join(tmp, "srv");
	CHECK_OK(mkdir(s->srv, 0755));
	CHECK_EQ(repo_sh("cd '%s' && openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "
			 "/CN=localhost -addext subjectAltName=DNS:localhost -keyout key.pem "
			 "-out cert.pem 2>/dev/null && cat cert.pem key.pem > server.pem && "
			 "printf 'x-access-token:%s\\n' > users && mkdir -p www",
			 tmp, TOKEN),
		 0);
	text = xasprintf(
		"server.document-root = \"%s/www\"\n"
		"server.bind = \"127.0.0.1\"\n"
		"server.port = %d\n"
		"server.errorlog = \"%s/lighttpd.log\"\n"
		"server.modules = ( \"mod_openssl\", \"mod_auth\", \"mod_authn_file\", "
		"\"mod_alias\", \"mod_setenv\", \"mod_cgi\" )\n"
		"ssl.engine = \"%s\"\n"
		"ssl.pemfile = \"%s/server.pem\"\n"
		"auth.backend = \"plain\"\n"
		"auth.backend.plain.userfile = \"%s/users\"\n"
		"auth.require = ( \"/\" => ( \"method\" => \"basic\", \"realm\" => \"git\", "
		"\"require\" => \"valid-user\" ) )\n"
		"alias.url = ( \"/git\" => \"/usr/lib/git-core/git-http-backend\" )\n"
		"$HTTP[\"url\"] =~ \"^/git\" {\n"
		"  cgi.assign = ( \"\" => \"\" )\n"
		"  setenv.add-environment = ( \"GIT_PROJECT_ROOT\" => \"%s\", "
		"\"GIT_HTTP_EXPORT_ALL\" => \"1\" )\n"
		"}\n",
		tmp, s->port, tmp, s->plain ? "disable" : "enable", tmp, tmp, s->srv);
	CHECK_OK(write_file_atomic_at(AT_FDCWD, conf, text, strlen(text), 0644, 0, &err));
	s->pid = fork();
	CHECK(s->pid >= 0);
	if (s->pid == 0) {
		execl(LIGHTTPD, "lighttpd", "-D", "-f", conf, (char *) NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && !test_port_accepts(s->port); i++)
		usleep(10 * 1000);
	if (!test_port_accepts(s->port)) {
		(void) repo_sh("cat '%s/lighttpd.log' >&2", tmp);
		CHECK(!"lighttpd did not start");
	}
}

/* Trust the test's certificate, as a host would by adding its CA to the system store. */
static void trust(const struct server *s)
{
	CHECK(git_libgit2_init() > 0);
	CHECK_EQ(git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, s->cert, NULL), 0);
}

static char *make_app(const struct server *s)
{
	cleanup_free char *src = path_join(s->srv, "app.git");

	CHECK_EQ(repo_sh("git init -q -b main '%s' && cd '%s' && echo one > a && git add a && "
			 "git commit -qm one && git config http.receivepack false",
			 src, src),
		 0);
	return xasprintf("%s://localhost:%d/git/app.git", s->plain ? "http" : "https", s->port);
}

/* The token must not be in any file under dir. */
static void check_no_token(const char *dir)
{
	CHECK_EQ(repo_sh("! grep -r -a -l -F '%s' '%s'", TOKEN, dir), 0);
}

TEST(checkout_https_with_a_token)
{
	CLEANUP(server_stop) struct server s = { 0 };
	cleanup_free char *cache = repo_path("cache"), *url = NULL, *mirror = NULL;
	cleanup_free char *m2 = NULL, *dir = NULL, *ws = repo_path("ws"), *src = NULL;
	const struct checkout_cred cred = { .token = TOKEN };
	char commit[41], tree[41];
	struct err err = { 0 };

	server_start(&s);
	trust(&s);
	url = make_app(&s);
	CHECK_OK(checkout_mirror(cache, url, &cred, NULL, 0, &mirror, &err));
	CHECK_OK(checkout_resolve(mirror, "HEAD", commit, tree, &err));
	/* Incrementally, a second commit. */
	src = path_join(s.srv, "app.git");
	CHECK_EQ(repo_sh("cd '%s' && echo two > b && git add b && git commit -qm two", src), 0);
	cleanup_free char *head = repo_line("git -C '%s' rev-parse main", src);
	CHECK_OK(checkout_mirror(cache, url, &cred, head, 0, &m2, &err));
	CHECK_OK(checkout_resolve(mirror, "main", commit, tree, &err));
	CHECK_STR_EQ(commit, head);
	CHECK_OK(repo_materialize_dir(cache, mirror, tree, (uid_t) -1, (gid_t) -1, &dir, NULL,
				      &err));
	CHECK_OK(mkdir(ws, 0755));
	const struct checkout_workspace spec = {
		.mirror = mirror, .mirror_inside = "/m", .commit = commit, .tree_dir = dir
	};
	CHECK_OK(checkout_workspace_git(&spec, ws, &err));
	cleanup_free char *cfg_url =
		repo_line("git --git-dir='%s/.git' config remote.origin.url", ws);
	CHECK_STR_EQ(cfg_url, url);
	check_no_token(cache);
	check_no_token(ws);
}

TEST(checkout_https_token_in_the_url_is_used_and_forgotten)
{
	CLEANUP(server_stop) struct server s = { 0 };
	cleanup_free char *cache = repo_path("cache"), *url = NULL, *mirror = NULL;
	cleanup_free char *with_token = NULL;
	char commit[41], tree[41];
	struct err err = { 0 };

	server_start(&s);
	trust(&s);
	url = make_app(&s);
	with_token = xasprintf("https://x-access-token:%s@localhost:%d/git/app.git", TOKEN, s.port);
	CHECK_OK(checkout_mirror(cache, with_token, NULL, NULL, 0, &mirror, &err));
	CHECK_OK(checkout_resolve(mirror, "main", commit, tree, &err));
	cleanup_free char *cfg_url =
		repo_line("git --git-dir='%s' config remote.origin.url", mirror);
	CHECK_STR_EQ(cfg_url, url);
	check_no_token(cache);
}

TEST(checkout_https_refuses_missing_and_wrong_credentials)
{
	CLEANUP(server_stop) struct server s = { 0 };
	cleanup_free char *cache = repo_path("cache"), *url = NULL, *m = NULL;
	cleanup_free char *gitdir = NULL, *bad_url = NULL;
	const struct checkout_cred wrong = { .token = "not-the-token-4711" };
	const struct checkout_cred other_user = { .username = "mallory", .token = TOKEN };
	struct err err = { 0 };

	server_start(&s);
	trust(&s);
	url = make_app(&s);
	CHECK_EQ(checkout_mirror(cache, url, NULL, NULL, 0, &m, &err), -EACCES);
	printf("# %s\n", err.msg);
	CHECK_STR_CONTAINS(err.msg, "wants credentials and none were given");
	CHECK_EQ(checkout_mirror(cache, url, &wrong, NULL, 0, &m, &err), -EACCES);
	printf("# %s\n", err.msg);
	CHECK_STR_CONTAINS(err.msg, "authentication failed");
	CHECK_STR_NOT_CONTAINS(err.msg, "4711");
	CHECK_EQ(checkout_mirror(cache, url, &other_user, NULL, 0, &m, &err), -EACCES);
	CHECK_STR_NOT_CONTAINS(err.msg, TOKEN);
	bad_url = xasprintf("https://x-access-token:wrong-4711@localhost:%d/git/app.git", s.port);
	CHECK_EQ(checkout_mirror(cache, bad_url, NULL, NULL, 0, &m, &err), -EACCES);
	printf("# %s\n", err.msg);
	CHECK_STR_NOT_CONTAINS(err.msg, "4711");
	CHECK(m == NULL);
	gitdir = path_join(cache, "git");
	CHECK_EQ(repo_count_entries(gitdir, ".tmp-"), 0);
	CHECK_EQ(repo_count_entries(gitdir, "."), 2); /* no mirror was kept */
}

TEST(checkout_https_refuses_an_untrusted_certificate)
{
	CLEANUP(server_stop) struct server s = { 0 };
	cleanup_free char *cache = repo_path("cache"), *url = NULL, *m = NULL;
	const struct checkout_cred cred = { .token = TOKEN };
	struct err err = { 0 };

	server_start(&s);
	url = make_app(&s);
	CHECK_EQ(checkout_mirror(cache, url, &cred, NULL, 0, &m, &err), -EACCES);
	printf("# %s\n", err.msg);
	CHECK_STR_CONTAINS(err.msg, url);
	CHECK_STR_NOT_CONTAINS(err.msg, TOKEN);
}

/* `mayfly exec --repo` with the real binary against the same server over plain HTTP: the
 * token comes from $MAYFLY_GIT_TOKEN or --git-token-file, reaches neither the job's
 * environment nor any file, and a wrong or missing one fails clearly. */
static void exec_http(const char *url, const char *token_env, const char *token_file,
		      struct run_result *res)
{
	cleanup_free char *env_kv = token_env ? xasprintf("MAYFLY_GIT_TOKEN=%s", token_env) : NULL;
	char *env[] = { env_kv, NULL };
	const char *argv[16];
	size_t n = 0;

	argv[n++] = mayfly_bin();
	argv[n++] = "--state-dir";
	argv[n++] = test_state_dir();
	argv[n++] = "exec";
	argv[n++] = "--repo";
	argv[n++] = url;
	if (token_file) {
		argv[n++] = "--git-token-file";
		argv[n++] = token_file;
	}
	argv[n++] = "--";
	argv[n++] = "sh";
	argv[n++] = "-c";
	argv[n++] = "cat a; env | grep -c s3cret; git status --porcelain; git remote -v | head -1";
	argv[n] = NULL;
	run_argv((char *const *) argv, env_kv ? env : NULL, 120, res);
	printf("# exit %d, stderr: %s\n", res->status, res->err);
}

TEST(exec_repo_over_http_takes_the_token_from_the_environment_or_a_file)
{
	CLEANUP(server_stop) struct server s = { .plain = true };
	cleanup_free char *url = NULL, *file = repo_path("token");
	struct err err = { 0 };
	struct run_result res;

	server_start(&s);
	url = make_app(&s);
	exec_http(url, TOKEN, NULL, &res);
	CHECK_EQ(res.status, 0);
	cleanup_free char *want = xasprintf("one\n0\norigin\t%s (fetch)\n", url);
	CHECK_STR_EQ(res.out, want);
	run_result_free(&res);
	CHECK_OK(
		write_file_atomic_at(AT_FDCWD, file, TOKEN "\n", strlen(TOKEN) + 1, 0600, 0, &err));
	exec_http(url, NULL, file, &res);
	CHECK_EQ(res.status, 0);
	run_result_free(&res);
	check_no_token(test_state_dir());

	exec_http(url, "wrong-4711", NULL, &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "authentication failed");
	CHECK_STR_NOT_CONTAINS(res.err, "4711");
	run_result_free(&res);
	exec_http(url, NULL, NULL, &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "wants credentials and none were given");
	run_result_free(&res);
}

/* The same over HTTPS, as root: the host's CA bundle plus the test's certificate bound
 * over the system's in a mount namespace of this test's own (the host's is untouched), so
 * that the real binary trusts the server the way a host with a private CA would. */
TEST(exec_repo_over_https_with_right_and_wrong_tokens)
{
	CLEANUP(server_stop) struct server s = { 0 };
	cleanup_free char *url = NULL, *bundle = repo_path("bundle.crt");
	const char *system = "/etc/ssl/certs/ca-certificates.crt";
	struct run_result res;

	NEED(ROOT);
	server_start(&s);
	url = make_app(&s);
	CHECK_EQ(repo_sh("cat '%s' '%s' > '%s'", system, s.cert, bundle), 0);
	CHECK_OK(unshare(CLONE_NEWNS));
	CHECK_OK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
	CHECK_OK(mount(bundle, system, NULL, MS_BIND, NULL));
	exec_http(url, TOKEN, NULL, &res);
	CHECK_EQ(res.status, 0);
	cleanup_free char *want = xasprintf("one\n0\norigin\t%s (fetch)\n", url);
	CHECK_STR_EQ(res.out, want);
	run_result_free(&res);
	check_no_token(test_state_dir());
	exec_http(url, "wrong-4711", NULL, &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "authentication failed");
	CHECK_STR_NOT_CONTAINS(res.err, "4711");
	run_result_free(&res);
	(void) umount2(system, MNT_DETACH);
}

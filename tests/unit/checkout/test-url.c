/* test-url.c - remote URLs: what names a mirror, what is fetched, which userinfo becomes a
 * credential and never appears anywhere else; and the rules for names inside trees. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "checkout/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/path.h"
#include "util/xalloc.h"
#include "test.h"

static const struct {
	const char *url, *key, *fetch, *user, *password;
} good[] = {
	{ "https://github.com/org/app.git", "https://github.com/org/app",
	  "https://github.com/org/app.git", NULL, NULL },
	{ "https://GitHub.COM/org/app/", "https://github.com/org/app", "https://github.com/org/app",
	  NULL, NULL },
	{ "HTTPS://github.com/org/app.git///", "https://github.com/org/app",
	  "https://github.com/org/app.git", NULL, NULL },
	{ "https://x-access-token:s3cr%40t@github.com/org/app.git", "https://github.com/org/app",
	  "https://github.com/org/app.git", "x-access-token", "s3cr@t" },
	{ "https://bob@git.example.com:8443/a/b", "https://git.example.com:8443/a/b",
	  "https://git.example.com:8443/a/b", "bob", NULL },
	{ "http://127.0.0.1:8080/r.git", "http://127.0.0.1:8080/r", "http://127.0.0.1:8080/r.git",
	  NULL, NULL },
	{ "git://127.0.0.1:9418/repo", "git://127.0.0.1:9418/repo", "git://127.0.0.1:9418/repo",
	  NULL, NULL },
	{ "ssh://git@host.example/org/r.git", "ssh://host.example/org/r",
	  "ssh://git@host.example/org/r.git", "git", NULL },
	{ "git@github.com:org/app.git", "ssh://github.com/org/app", "git@github.com:org/app.git",
	  "git", NULL },
	/* ssh: port 22 is no port, so "ssh://host:22/p" and "host:p" share a mirror. */
	{ "ssh://git@Host.Example:22/org/r.git", "ssh://host.example/org/r",
	  "ssh://git@host.example/org/r.git", "git", NULL },
	{ "ssh://host.example:2222/org/r", "ssh://host.example:2222/org/r",
	  "ssh://host.example:2222/org/r", NULL, NULL },
	{ "git+ssh://bob@h/x.git", "ssh://h/x", "ssh://bob@h/x.git", "bob", NULL },
	{ "ssh://git@[::1]:2222/r.git", "ssh://[::1]:2222/r", "ssh://git@[::1]:2222/r.git", "git",
	  NULL },
	{ "ssh://[::1]:22/r", "ssh://[::1]/r", "ssh://[::1]/r", NULL, NULL },
	{ "github.com:org/app", "ssh://github.com/org/app", "github.com:org/app", NULL, NULL },
	{ "alice@Example.COM:/srv/r.git/", "ssh://example.com/srv/r",
	  "alice@Example.COM:/srv/r.git", "alice", NULL },
	{ "https://h/.git", "https://h/.git", "https://h/.git", NULL, NULL },
};

TEST(checkout_url_normalises_remote_urls)
{
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		CLEANUP(checkout_url_release) struct checkout_url u = { 0 };
		struct err err = { 0 };

		printf("# %s\n", good[i].url);
		CHECK_OK(checkout_url_parse(good[i].url, &u, &err));
		CHECK_STR_EQ(u.key, good[i].key);
		CHECK_STR_EQ(u.fetch, good[i].fetch);
		CHECK(!u.local);
		if (good[i].user)
			CHECK_STR_EQ(u.user, good[i].user);
		if (good[i].password)
			CHECK_STR_EQ(u.password, good[i].password);
		else
			CHECK(u.password == NULL);
	}
}

/* What the ssh host key check looks up: the host without brackets and the port (0: 22). */
TEST(checkout_url_ssh_host_and_port)
{
	static const struct {
		const char *url, *host;
		unsigned port;
		bool ssh;
	} rows[] = {
		{ "ssh://git@Host.Example/r", "host.example", 0, true },
		{ "ssh://h:22/r", "h", 0, true },
		{ "ssh://h:2222/r", "h", 2222, true },
		{ "ssh://[::1]:2222/r", "::1", 2222, true },
		{ "ssh+git://h/r", "h", 0, true },
		{ "git@GitHub.com:org/app", "github.com", 0, true },
		{ "h:r", "h", 0, true },
		{ "https://h:8443/r", "h", 8443, false },
		{ "git://127.0.0.1/r", "127.0.0.1", 0, false },
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		CLEANUP(checkout_url_release) struct checkout_url u = { 0 };
		struct err err = { 0 };

		printf("# %s\n", rows[i].url);
		CHECK_OK(checkout_url_parse(rows[i].url, &u, &err));
		CHECK_STR_EQ(u.host, rows[i].host);
		CHECK_EQ(u.port, rows[i].port);
		CHECK_EQ(u.ssh, rows[i].ssh);
	}
}

/* What cache ls and a workspace's origin may show: an account name is no secret. */
TEST(checkout_url_has_secret_only_with_a_password_or_token)
{
	static const struct {
		const char *url;
		bool secret;
	} rows[] = {
		{ "https://github.com/o/r.git", false },
		{ "https://x-access-token:t0k@github.com/o/r", true },
		{ "https://bob@h/r", true }, /* a token alone in the user part is common */
		{ "ssh://git@h/o/r.git", false },
		{ "ssh://git:pw@h/o/r.git", true },
		{ "git@github.com:o/r.git", false },
		{ "github.com:o/r.git", false },
		{ "u:pw@h:r", true },
		{ "/srv/git/app", false },
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		printf("# %s\n", rows[i].url);
		CHECK_EQ(checkout_url_has_secret(rows[i].url), rows[i].secret);
	}
}

TEST(checkout_url_local_paths_are_canonical)
{
	cleanup_free char *repo = path_join(test_tmpdir(), "r");
	cleanup_free char *dotgit = path_join(repo, ".git");
	cleanup_free char *spelled = xasprintf("%s/../r/", repo);
	cleanup_free char *file_url = xasprintf("file://%s", dotgit);
	const char *urls[] = { repo, dotgit, spelled, file_url };
	cleanup_free char *key = NULL;

	CHECK_OK(mkdir(repo, 0755));
	CHECK_OK(mkdir(dotgit, 0755));
	for (size_t i = 0; i < ARRAY_SIZE(urls); i++) {
		CLEANUP(checkout_url_release) struct checkout_url u = { 0 };
		struct err err = { 0 };

		CHECK_OK(checkout_url_parse(urls[i], &u, &err));
		CHECK(u.local);
		CHECK_STR_EQ(u.fetch, repo);
		if (!key)
			key = xstrdup(u.key);
		CHECK_STR_EQ(u.key, key);
	}
}

TEST(checkout_url_refuses_bad_urls_without_showing_secrets)
{
	static const struct {
		const char *url, *msg;
	} bad[] = {
		{ "", "empty" },
		{ "-uhttps://h/r", "starts with '-'" },
		{ "https://h/r\n", "control character" },
		{ "ftp://h/r", "unsupported scheme 'ftp'" },
		{ "https://user:hunter2@/r", "bad host" },
		{ "https://user:hunter2@h", "no repository path" },
		{ "https://user:hunter2@h/r#frag", "no repository path" },
		{ "https://us%zzer:hunter2@h/r", "malformed userinfo" },
		{ "file://otherhost/r", "local absolute path" },
		{ "/nonexistent/mayfly/repo", "No such file" },
		{ "ssh://h:99999/r", "bad host or port" },
		{ "ssh://h:0/r", "bad host or port" },
		{ "ssh://h:x2/r", "bad host or port" },
		{ "ssh://[::1/r", "bad host" },
		{ "ssh://::1/r", "bad host or port" },
		{ "user:hunter2@h:r", "a password in an ssh URL" },
		{ "ssh://git:hunter2@h/r", "a password in an ssh URL" },
		{ "@h:r", "malformed" },
		{ "git@h:-oProxyCommand=x", "malformed" },
		{ "git@[::1]:r", "malformed" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		CLEANUP(checkout_url_release) struct checkout_url u = { 0 };
		struct err err = { 0 };

		CHECK(checkout_url_parse(bad[i].url, &u, &err) < 0);
		printf("# %s\n", err.msg);
		CHECK_STR_CONTAINS(err.msg, bad[i].msg);
		CHECK_STR_NOT_CONTAINS(err.msg, "hunter2");
		CHECK(u.key == NULL);
	}
}

TEST(checkout_check_name_refuses_what_git_checkout_refuses)
{
	static const struct {
		const char *name;
		bool symlink, ok;
	} rows[] = {
		{ "README", false, true },	{ "readme", false, true },
		{ ".gitignore", false, true },	{ ".github", false, true },
		{ "a b", false, true },		{ "caf\xc3\xa9", false, true },
		{ ".gitmodules", false, true }, { "", false, false },
		{ ".", false, false },		{ "..", false, false },
		{ "a/b", false, false },	{ "a\\b", false, false },
		{ "a\tb", false, false },	{ "a\x7f", false, false },
		{ ".git", false, false },	{ ".GIT", false, false },
		{ ".Git.", false, false },	{ ".git ", false, false },
		{ "GIT~1", false, false },	{ ".gitmodules", true, false },
		{ ".git2", false, true },
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		const char *why =
			checkout_check_name(rows[i].name, strlen(rows[i].name), rows[i].symlink);
		printf("# '%s': %s\n", rows[i].name, why ? why : "ok");
		CHECK_EQ(why == NULL, rows[i].ok);
	}
}

TEST(checkout_printable_cuts_the_middle_and_masks_controls)
{
	char buf[12], big[300];

	CHECK_STR_EQ(checkout_printable("a\nb", buf, sizeof(buf)), "a?b");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[0] = 'S';
	big[sizeof(big) - 2] = 'E';
	CHECK_STR_EQ(checkout_printable(big, buf, sizeof(buf)), "Sxxx...xxxE");
}

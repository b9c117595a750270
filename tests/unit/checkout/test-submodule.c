/* test-submodule.c - the rules for submodules from untrusted bytes: the .gitmodules parser
 * (git's syntax, strictly), the names and paths it may give, relative URLs resolved as git
 * does, local and option-like URLs refused, and when the caller's credential may go along. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "checkout/internal.h"
#include "checkout/submodule.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/xalloc.h"
#include "test.h"

static int parse(const char *text, struct checkout_gitmodule **v, size_t *n, struct err *err)
{
	return checkout_gitmodules_parse(text, strlen(text), v, n, err);
}

TEST(gitmodules_parse_reads_what_git_writes)
{
	struct checkout_gitmodule *v = NULL;
	size_t n = 0;
	struct err err = { 0 };

	CHECK_EQ(parse("[submodule \"lib/a\"]\n\tpath = lib/a\n\turl = ../liba\n"
		       "[submodule \"b\"]\n\tpath = third party/b\n\turl = https://h/o/b.git\n"
		       "\tbranch = main\n",
		       &v, &n, &err),
		 0);
	CHECK_EQ(n, 2);
	CHECK_STR_EQ(v[0].name, "lib/a");
	CHECK_STR_EQ(v[0].path, "lib/a");
	CHECK_STR_EQ(v[0].url, "../liba");
	CHECK_STR_EQ(v[1].path, "third party/b");
	CHECK_STR_EQ(v[1].url, "https://h/o/b.git");
	CHECK(!v[1].update_none);
	checkout_gitmodules_free(v, n);
}

TEST(gitmodules_parse_follows_git_syntax)
{
	static const struct {
		const char *text, *name, *path, *url;
		bool none;
	} rows[] = {
		/* Comments, blank lines, CRLF, a BOM, case-insensitive section and keys. */
		{ "\xef\xbb\xbf# c\n; c\r\n\n[Submodule \"x\"] # c\r\n  PATH=p ; c\r\n URL = u\n",
		  "x", "p", "u", false },
		/* Quotes join, escapes, trailing blanks dropped, inner ones kept. */
		{ "[submodule \"x\"]\npath = \"a b\"c  \nurl = \"h\\\"q\\\\\" # c\n", "x", "a bc",
		  "h\"q\\", false },
		/* A backslash at the end of a line continues the value. */
		{ "[submodule \"x\"]\npath = p\nurl = https://h/\\\nrepo\n", "x", "p",
		  "https://h/repo", false },
		/* Sections of one name merge; the last value wins; update=none. */
		{ "[submodule \"x\"]\npath = old\n[other]\npath = no\n[submodule \"x\"]\npath = p\n"
		  "url = u\nupdate = none\n",
		  "x", "p", "u", true },
		/* Escapes in a subsection name; the old [section.sub] form is lowercased. */
		{ "[submodule \"a\\\"b\"]\npath = p\nurl = u\n", "a\"b", "p", "u", false },
		{ "[submodule.MiXed]\npath = p\nurl = u\n", "mixed", "p", "u", false },
		/* An include is a key of an ignored section: never followed. */
		{ "[include]\npath = /etc/shadow\n[submodule \"x\"]\npath = p\nurl = u\n", "x", "p",
		  "u", false },
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct checkout_gitmodule *v = NULL;
		size_t n = 0;
		struct err err = { 0 };

		printf("# row %zu\n", i);
		CHECK_EQ(parse(rows[i].text, &v, &n, &err), 0);
		CHECK_EQ(n, 1);
		CHECK_STR_EQ(v[0].name, rows[i].name);
		CHECK_STR_EQ(v[0].path, rows[i].path);
		CHECK_STR_EQ(v[0].url, rows[i].url);
		CHECK_EQ(v[0].update_none, rows[i].none);
		checkout_gitmodules_free(v, n);
	}
}

TEST(gitmodules_parse_refuses_what_it_cannot_read_exactly)
{
	static const struct {
		const char *text, *msg;
	} rows[] = {
		{ "[submodule \"x\"\npath = p\n", "line 1: unterminated section header" },
		{ "[submodule \"x]\npath = p\n", "line 1: unterminated section header" },
		{ "[submodule \"x\"] path = p\n", "line 1: text after a section header" },
		{ "[submodule \"x\"]\npath = \"p\n", "line 2: unterminated quote" },
		{ "[submodule \"x\"]\n\npath = p\\q\n", "line 3: bad escape in a value" },
		{ "[submodule \"x\"]\npath\n", "line 2: key without a value" },
		{ "[submodule \"x\"]\n=p\n", "line 2: expected a section or a key" },
		{ "[submodule \"x\"]\npath p\n", "line 2: expected '=' after a key" },
		{ "[]\n", "line 1: malformed section header" },
		/* Judged names and paths: nothing may leave the tree or .git/modules. */
		{ "[submodule \"../../x\"]\npath = p\nurl = u\n", "name '../../x' refused" },
		{ "[submodule \"x\"]\npath = ../p\nurl = u\n", "path '../p' refused" },
		{ "[submodule \"x\"]\npath = a/../../p\nurl = u\n", "path 'a/../../p' refused" },
		{ "[submodule \"x\"]\npath = /etc\nurl = u\n", "path '/etc' refused" },
		{ "[submodule \"x\"]\npath = .git/hooks\nurl = u\n", "path '.git/hooks' refused" },
		{ "[submodule \"x\"]\npath = p\n[submodule \"y\"]\npath = p\n",
		  "two entries for one path" },
		{ "[submodule \"a/hooks\"]\npath = b\n[submodule \"a\"]\npath = a\n",
		  "name nests inside the repository of 'a'" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct checkout_gitmodule *v = NULL;
		size_t n = 0;
		struct err err = { 0 };

		printf("# row %zu\n", i);
		CHECK_EQ(parse(rows[i].text, &v, &n, &err), -EINVAL);
		CHECK_STR_CONTAINS(err.msg, rows[i].msg);
		CHECK(v == NULL);
	}
	/* A NUL byte, and size. */
	struct checkout_gitmodule *v = NULL;
	size_t n = 0;
	struct err err = { 0 };
	CHECK_EQ(checkout_gitmodules_parse("[a]\nb = c\0d\n", 12, &v, &n, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "NUL byte");
	cleanup_free char *big = xmalloc(CHECKOUT_MAX_GITMODULES + 2);
	memset(big, '#', CHECKOUT_MAX_GITMODULES + 1);
	CHECK_EQ(checkout_gitmodules_parse(big, CHECKOUT_MAX_GITMODULES + 1, &v, &n, &err), -EFBIG);
}

TEST(submodule_names_and_paths_stay_inside)
{
	static const char *const good[] = { "a", "lib/a", "a b", "x.y", "..a", "a..b" };
	static const char *const bad[] = {
		"",	"..",	  "../a",  "a/..", "a//b", "/a",  "a/",
		".git", "a/.git", ".GIT.", "a\\b", "a\nb", "./a", "a/./b"
	};
	struct err err = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		CHECK_EQ(checkout_submodule_check_name(good[i], &err), 0);
		CHECK_EQ(checkout_submodule_check_path(good[i], &err), 0);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		printf("# '%s'\n", bad[i]);
		CHECK_EQ(checkout_submodule_check_name(bad[i], &err), -EINVAL);
		CHECK_EQ(checkout_submodule_check_path(bad[i], &err), -EINVAL);
	}
}

TEST(submodule_url_resolves_relative_urls_as_git_does)
{
	static const struct {
		const char *super, *url, *want;
		bool local;
	} rows[] = {
		{ "https://h/org/app.git", "../lib.git", "https://h/org/lib.git", false },
		{ "https://h/org/app/", "../lib", "https://h/org/lib", false },
		{ "https://h/org/app", "./lib", "https://h/org/app/lib", false },
		{ "https://h/org/app", "../../other/lib", "https://h/other/lib", false },
		{ "https://h/app", "../lib", "https://h/lib", false },
		{ "https://u:t@h:8443/o/app", "../lib", "https://u:t@h:8443/o/lib", false },
		{ "git://127.0.0.1:9418/app", "../lib", "git://127.0.0.1:9418/lib", false },
		{ "git@h:org/app.git", "../lib.git", "git@h:org/lib.git", false },
		{ "git@h:app", "../lib", "git@h:lib", false },
		{ "/srv/git/app", "../lib", "/srv/git/lib", true },
		{ "/srv/git/app", "./lib", "/srv/git/app/lib", true },
		{ "/srv/git/app", "/srv/other", "/srv/other", true },
		{ "/srv/git/app", "file:///srv/other", "file:///srv/other", true },
		/* Absolute remote URLs as they are. */
		{ "https://h/org/app", "https://other/x.git", "https://other/x.git", false },
		{ "https://h/org/app", "git@other:x.git", "git@other:x.git", false },
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		cleanup_free char *got = NULL;
		struct err err = { 0 };

		printf("# row %zu: %s + %s\n", i, rows[i].super, rows[i].url);
		CHECK_EQ(checkout_submodule_url(rows[i].super, rows[i].local, rows[i].url, &got,
						&err),
			 0);
		CHECK_STR_EQ(got, rows[i].want);
	}
}

TEST(submodule_url_refuses_local_option_like_and_escaping_urls)
{
	static const struct {
		const char *super, *url, *msg;
		bool local;
	} rows[] = {
		/* SECURITY: a remote superproject must not make mayfly read host repositories. */
		{ "https://h/o/app", "file:///etc", "a local path or file:// URL", false },
		{ "https://h/o/app", "/root/secret.git", "a local path or file:// URL", false },
		{ "git://h/app", "FILE://localhost/x", "a local path or file:// URL", false },
		{ "/srv/app", "lib", "must start with './' or '../'", true },
		{ "https://h/o/app", "--upload-pack=touch /tmp/x", "starts with '-'", false },
		{ "https://h/o/app", "-oProxyCommand=x:y", "starts with '-'", false },
		{ "https://h/o/app", "ssh://-oProxyCommand=x/y", "host starts with '-'", false },
		{ "https://h/o/app", "-h:x", "starts with '-'", false },
		{ "https://h/o/app", "ext::sh -c x", "unsupported scheme", false },
		{ "https://h/o/app", "ext://x/y", "unsupported scheme", false },
		{ "https://h/o/app", "https://h/\nx", "control character", false },
		{ "https://h/o/app", "", "empty", false },
		/* Climbing above the host would change it: git would, mayfly refuses. */
		{ "https://h/app", "../../evil/x", "climbs above", false },
		{ "git@h:app", "../../x", "climbs above", false },
		{ "/app", "../../x", "climbs above", true },
		{ "https://h/o/app", "../", "names no repository", false },
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		char *got = NULL;
		struct err err = { 0 };

		printf("# row %zu: %s + %s\n", i, rows[i].super, rows[i].url);
		CHECK_EQ(checkout_submodule_url(rows[i].super, rows[i].local, rows[i].url, &got,
						&err),
			 -EINVAL);
		CHECK_STR_CONTAINS(err.msg, rows[i].msg);
		CHECK(got == NULL);
	}
}

TEST(submodule_credential_goes_to_the_same_origin_only)
{
	static const struct {
		const char *a, *b;
		bool same;
	} rows[] = {
		{ "https://h/o/app", "https://h/o/lib", true },
		{ "https://H/o/app", "https://x:y@h:443/lib", true },
		{ "https://h/o/app", "https://h:8443/o/lib", false },
		{ "https://h/o/app", "http://h/o/lib", false },
		{ "https://h/o/app", "https://h.evil/o/lib", false },
		{ "https://h/o/app", "https://evil/h/o/lib", false },
		{ "git://h/app", "git://h:9418/lib", true },
		{ "ssh://git@h/app", "git@h:lib", true },
		{ "https://h/o/app", "/srv/lib", false },
		{ "/srv/app", "/srv/lib", false },
		{ "https://[::1]:8443/a", "https://[::1]:8443/b", true },
		{ "https://[::1]:8443/a", "https://[::1]/b", false },
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		printf("# row %zu: %s %s\n", i, rows[i].a, rows[i].b);
		CHECK_EQ(checkout_same_origin(rows[i].a, rows[i].b), rows[i].same);
	}
	cleanup_free char *s = checkout_url_shown("https://u:tok@h/o/app");
	CHECK_STR_EQ(s, "https://***@h/o/app");
}

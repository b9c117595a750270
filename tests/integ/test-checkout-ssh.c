/* test-checkout-ssh.c - ssh remotes against a real OpenSSH server: sshd started by the
 * test in a network namespace of its own (so that it can listen on port 22, for the
 * scp-like "user@host:path" form, as well as on a high port), with a temporary host key,
 * the test's authorized_keys and StrictModes off, serving repositories through
 * git-upload-pack. A key clones and fetches; a wrong key, an unknown, changed or revoked
 * host key are refused with a message saying what and what to do; hashed known_hosts
 * entries match; the ssh-agent works; and the key's text is found nowhere: not in the
 * cache, the state dir, the job's .git/config or environment, nor mayfly's output.
 *
 * Rootless (as nobody in CI), sshd runs as the caller on a high port of the host's loopback
 * and refuses every login (not root, it cannot read the shadow file): what happens before
 * a login (host keys, key files, a refused key) is tested there too; what needs a fetch to
 * succeed skips with that reason. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <pwd.h>
#include <unistd.h>

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

#define SSHD "/usr/sbin/sshd"

struct sshd {
	pid_t pid;
	bool login;	/* root: logins work, port 22 too (our own network namespace) */
	char *user;	/* the account to log in as: root, else ourselves */
	int port;	/* the high port; 22 too */
	char *dir;	/* keys, config, known_hosts */
	char *srv;	/* repositories */
	char *key;	/* the client's private key, authorized */
	char *other;	/* a key the server does not know */
	char *known;	/* known_hosts with the server's key for [127.0.0.1]:port and 127.0.0.1 */
	char *host_pub; /* the server's public key line */
	char *key_text; /* the private key's content */
};

static void sshd_stop(struct sshd *s)
{
	killp(&s->pid);
	free(s->user);
	free(s->dir);
	free(s->srv);
	free(s->key);
	free(s->other);
	free(s->known);
	free(s->host_pub);
	free(s->key_text);
}

static void write_text(const char *path, const char *text)
{
	struct err err = { 0 };

	CHECK_OK(write_file_atomic_at(AT_FDCWD, path, text, strlen(text), 0600, 0, &err));
}

/* Our own network namespace with loopback up: port 22 is ours, nothing else sees sshd. */
static void private_loopback(void)
{
	CHECK_OK(unshare(CLONE_NEWNET));
	CHECK_EQ(repo_sh("ip link set lo up"), 0);
}

static void sshd_start(struct sshd *s)
{
	cleanup_free char *conf = NULL, *text = NULL, *host_key = NULL;

	if (access(SSHD, X_OK) < 0)
		test_skip_host("no sshd (apt-get install openssh-server)");
	s->login = geteuid() == 0;
	if (s->login) {
		NEED(NET);
		private_loopback();
		s->user = xstrdup("root");
	} else {
		struct passwd *pw = getpwuid(geteuid());
		CHECK(pw != NULL);
		s->user = xstrdup(pw->pw_name);
	}
	s->dir = path_join(test_tmpdir(), "ssh");
	s->srv = path_join(test_tmpdir(), "srv");
	s->key = path_join(s->dir, "id");
	s->other = path_join(s->dir, "other");
	s->known = path_join(s->dir, "known_hosts");
	host_key = path_join(s->dir, "host");
	conf = path_join(s->dir, "sshd_config");
	CHECK_OK(mkdir(s->dir, 0700));
	CHECK_OK(mkdir(s->srv, 0755));
	/* sshd's privilege separation wants its empty directory (as root). */
	if (s->login && mkdir("/run/sshd", 0755) < 0)
		CHECK_EQ(errno, EEXIST);
	CHECK_EQ(repo_sh("cd '%s' && ssh-keygen -q -t ed25519 -N '' -C host -f host && "
			 "ssh-keygen -q -t ed25519 -N '' -C mayfly-test -f id && "
			 "ssh-keygen -q -t ed25519 -N '' -C other -f other && "
			 "cp id.pub authorized_keys",
			 s->dir),
		 0);
	s->port = test_free_port();
	/* ::1 too, where the kernel has IPv6 (sshd goes on with the addresses it could bind). */
	text = xasprintf("%sPort %d\nListenAddress 127.0.0.1\nListenAddress ::1\n"
			 "HostKey %s\n"
			 "AuthorizedKeysFile %s/authorized_keys\nStrictModes no\n"
			 "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
			 "UsePAM no\nPermitRootLogin prohibit-password\nAllowUsers %s\n"
			 "PidFile none\nLogLevel VERBOSE\nMaxStartups 100\n",
			 s->login ? "Port 22\n" : "", s->port, host_key, s->dir, s->user);
	write_text(conf, text);
	s->host_pub = repo_line("cut -d' ' -f1,2 '%s.pub'", host_key);
	s->key_text = repo_line("sed -n 2p '%s'", s->key); /* a line of the key's base64 */
	CHECK(strlen(s->key_text) > 20);
	free(text);
	text = xasprintf("[127.0.0.1]:%d %s\n127.0.0.1 %s\n", s->port, s->host_pub, s->host_pub);
	write_text(s->known, text);
	s->pid = fork();
	CHECK(s->pid >= 0);
	if (s->pid == 0) {
		cleanup_free char *log = path_join(s->dir, "sshd.log");
		execl(SSHD, SSHD, "-D", "-f", conf, "-E", log, (char *) NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && !test_port_accepts(s->port); i++)
		usleep(10 * 1000);
	if (!test_port_accepts(s->port)) {
		(void) repo_sh("cat '%s/sshd.log' >&2", s->dir);
		CHECK(!"sshd did not start");
	}
}

/* srv/<name>.git with one commit; returns its path. */
static char *make_repo(const struct sshd *s, const char *name)
{
	char *src = xasprintf("%s/%s.git", s->srv, name);

	CHECK_EQ(repo_sh("git init -q -b main '%s' && cd '%s' && echo one > a && git add a && "
			 "git commit -qm one",
			 src, src),
		 0);
	return src;
}

static char *ssh_url(const struct sshd *s, const char *src)
{
	return xasprintf("ssh://%s@127.0.0.1:%d%s", s->user, s->port, src);
}

/* What follows needs a login that runs git-upload-pack, and (for scp-like URLs) port 22. */
static void need_login(const struct sshd *s)
{
	if (!s->login)
		test_skip("needs root: a sshd that is not root refuses every login (it cannot "
			  "read the shadow file), and nobody's shell is nologin");
}

/* A fetch that must get past the host key and the key (r, err: what checkout_mirror()
 * said). As root it works. Rootless, sshd (not root: it cannot read the shadow file, so
 * every account is "locked" to it) refuses every login, so what is proven there is that
 * the host key was accepted and the key was usable and offered. */
static void check_accepted(const struct sshd *s, int r, const struct err *err)
{
	if (s->login) {
		if (r < 0)
			printf("# %s\n", err->msg);
		CHECK_EQ(r, 0);
		return;
	}
	printf("# rootless, past the host key: %s\n", err->msg);
	CHECK_EQ(r, -EACCES);
	CHECK_STR_NOT_CONTAINS(err->msg, "host key");
	CHECK_STR_NOT_CONTAINS(err->msg, "could not be used");
	CHECK_STR_NOT_CONTAINS(err->msg, "no ssh key to offer");
}

/* The key's text must be in no file under dir. */
static void check_no_key(const struct sshd *s, const char *dir)
{
	CHECK_EQ(repo_sh("! grep -r -a -l -F '%s' '%s'", s->key_text, dir), 0);
}

TEST(checkout_ssh_clones_and_fetches_with_a_key)
{
	CLEANUP(sshd_stop) struct sshd s = { 0 };
	cleanup_free char *cache = repo_path("cache"), *src = NULL, *url = NULL;
	cleanup_free char *mirror = NULL, *m2 = NULL, *head = NULL, *cfg = NULL;
	struct checkout_cred cred = { 0 };
	char commit[41], tree[41];
	struct err err = { 0 };

	sshd_start(&s);
	need_login(&s);
	src = make_repo(&s, "app");
	url = ssh_url(&s, src);
	cred = (struct checkout_cred){ .ssh_key = s.key, .ssh_known_hosts = s.known };
	CHECK_OK(checkout_mirror(cache, url, &cred, NULL, 0, &mirror, &err));
	CHECK_OK(checkout_resolve(mirror, "HEAD", commit, tree, &err));
	/* Incrementally: a second commit arrives by a fetch. */
	CHECK_EQ(repo_sh("cd '%s' && echo two > b && git add b && git commit -qm two", src), 0);
	head = repo_line("git -C '%s' rev-parse main", src);
	CHECK_OK(checkout_mirror(cache, url, &cred, head, 0, &m2, &err));
	CHECK_STR_EQ(m2, mirror);
	CHECK_OK(checkout_resolve(mirror, "main", commit, tree, &err));
	CHECK_STR_EQ(commit, head);
	cfg = repo_line("git --git-dir='%s' config remote.origin.url", mirror);
	CHECK_STR_EQ(cfg, url);
	check_no_key(&s, cache);
}

TEST(checkout_ssh_scp_like_url_shares_the_mirror)
{
	CLEANUP(sshd_stop) struct sshd s = { 0 };
	cleanup_free char *cache = repo_path("cache"), *src = NULL, *scp = NULL;
	cleanup_free char *mirror = NULL, *m2 = NULL, *url22 = NULL;
	struct checkout_cred cred = { 0 };
	char commit[41], tree[41];
	struct err err = { 0 };

	sshd_start(&s);
	need_login(&s); /* and port 22 */
	src = make_repo(&s, "app");
	scp = xasprintf("root@127.0.0.1:%s", src);
	cred = (struct checkout_cred){ .ssh_key = s.key, .ssh_known_hosts = s.known };
	CHECK_OK(checkout_mirror(cache, scp, &cred, NULL, 0, &mirror, &err));
	CHECK_OK(checkout_resolve(mirror, "main", commit, tree, &err));
	/* The same remote spelled ssh://host:22/path (no ".git", a trailing slash) is the
	 * same mirror: it exists, so nothing is fetched. */
	url22 = xasprintf("ssh://root@127.0.0.1:22%.*s/", (int) strlen(src) - 4, src);
	CHECK_OK(checkout_mirror(cache, url22, &cred, NULL, CHECKOUT_NO_FETCH_IF_PRESENT, &m2,
				 &err));
	CHECK_STR_EQ(m2, mirror);
}

TEST(checkout_ssh_refuses_a_wrong_key_and_a_missing_one)
{
	CLEANUP(sshd_stop) struct sshd s = { 0 };
	cleanup_free char *cache = repo_path("cache"), *src = NULL, *url = NULL, *m = NULL;
	cleanup_free char *gitdir = NULL;
	struct checkout_cred cred = { 0 };
	struct err err = { 0 };

	sshd_start(&s);
	src = make_repo(&s, "app");
	url = ssh_url(&s, src);
	cred = (struct checkout_cred){ .ssh_key = s.other, .ssh_known_hosts = s.known };
	CHECK_EQ(checkout_mirror(cache, url, &cred, NULL, 0, &m, &err), -EACCES);
	printf("# %s\n", err.msg);
	CHECK_STR_CONTAINS(err.msg, "refused the ssh key");
	CHECK_STR_CONTAINS(err.msg, s.other);
	cleanup_free char *quoted_user = xasprintf("for user '%s'", s.user);
	CHECK_STR_CONTAINS(err.msg, quoted_user);
	CHECK(m == NULL);
	/* No key, no agent. */
	(void) unsetenv("SSH_AUTH_SOCK");
	cred = (struct checkout_cred){ .ssh_known_hosts = s.known };
	CHECK_EQ(checkout_mirror(cache, url, &cred, NULL, 0, &m, &err), -EACCES);
	printf("# %s\n", err.msg);
	CHECK_STR_CONTAINS(err.msg, "no ssh key to offer");
	gitdir = path_join(cache, "git");
	CHECK_EQ(repo_count_entries(gitdir, ".tmp-"), 0);
}

TEST(checkout_ssh_refuses_bad_key_files_clearly)
{
	CLEANUP(sshd_stop) struct sshd s = { 0 };
	cleanup_free char *cache = repo_path("cache"), *src = NULL, *url = NULL, *m = NULL;
	cleanup_free char *locked = NULL, *pub = NULL;
	struct checkout_cred cred = { 0 };
	char commit[41], tree[41];
	struct err err = { 0 };

	sshd_start(&s);
	src = make_repo(&s, "app");
	url = ssh_url(&s, src);
	locked = path_join(s.dir, "locked");
	CHECK_EQ(repo_sh("cd '%s' && ssh-keygen -q -t ed25519 -N 'pass phrase' -f locked && "
			 "cat locked.pub >> authorized_keys",
			 s.dir),
		 0);
	cred = (struct checkout_cred){ .ssh_key = locked, .ssh_known_hosts = s.known };
	CHECK_EQ(checkout_mirror(cache, url, &cred, NULL, 0, &m, &err), -EINVAL);
	printf("# %s\n", err.msg);
	CHECK_STR_CONTAINS(err.msg, "protected by a passphrase");
	CHECK_STR_CONTAINS(err.msg, "MAYFLY_GIT_SSH_PASSPHRASE");
	/* A wrong passphrase says so, and shows neither. */
	cred.ssh_passphrase = "wrong-4711";
	CHECK_EQ(checkout_mirror(cache, url, &cred, NULL, 0, &m, &err), -EACCES);
	printf("# %s\n", err.msg);
	CHECK_STR_CONTAINS(err.msg, "could not be used: a wrong passphrase");
	CHECK_STR_CONTAINS(err.msg, locked);
	CHECK_STR_NOT_CONTAINS(err.msg, "4711");
	/* The public half is not a key to sign with. */
	pub = xasprintf("%s.pub", s.key);
	cred = (struct checkout_cred){ .ssh_key = pub, .ssh_known_hosts = s.known };
	CHECK_EQ(checkout_mirror(cache, url, &cred, NULL, 0, &m, &err), -EINVAL);
	printf("# %s\n", err.msg);
	CHECK_STR_CONTAINS(err.msg, "a public key; give the private half");
	cred.ssh_key = "/nonexistent/id";
	CHECK_EQ(checkout_mirror(cache, url, &cred, NULL, 0, &m, &err), -ENOENT);
	CHECK_STR_CONTAINS(err.msg, "ssh key '/nonexistent/id'");
	CHECK(m == NULL);
	/* With its passphrase it works. */
	cred = (struct checkout_cred){ .ssh_key = locked,
				       .ssh_passphrase = "pass phrase",
				       .ssh_known_hosts = s.known };
	check_accepted(&s, checkout_mirror(cache, url, &cred, NULL, 0, &m, &err), &err);
	if (s.login)
		CHECK_OK(checkout_resolve(m, "main", commit, tree, &err));
}

TEST(checkout_ssh_refuses_an_unknown_host_key_with_its_fingerprint)
{
	CLEANUP(sshd_stop) struct sshd s = { 0 };
	cleanup_free char *cache = repo_path("cache"), *src = NULL, *url = NULL, *m = NULL;
	cleanup_free char *empty = NULL, *fp = NULL, *home = NULL, *dotssh = NULL;
	struct checkout_cred cred = { 0 };
	struct err err = { 0 };

	sshd_start(&s);
	src = make_repo(&s, "app");
	url = ssh_url(&s, src);
	empty = path_join(s.dir, "empty_known_hosts");
	write_text(empty, "# nothing\n");
	fp = repo_line("ssh-keygen -l -f '%s/host.pub' | cut -d' ' -f2", s.dir);
	cred = (struct checkout_cred){ .ssh_key = s.key, .ssh_known_hosts = empty };
	CHECK_EQ(checkout_mirror(cache, url, &cred, NULL, 0, &m, &err), -EACCES);
	printf("# %s\n", err.msg);
	CHECK_STR_CONTAINS(err.msg, "is not known");
	CHECK_STR_CONTAINS(err.msg, fp);
	cleanup_free char *scan = xasprintf("ssh-keyscan -p %d 127.0.0.1 >> %s", s.port, empty);
	CHECK_STR_CONTAINS(err.msg, scan);
	CHECK(m == NULL);
	/* Refused before authentication: the server never saw the key. */
	CHECK_EQ(repo_sh("! grep publickey '%s/sshd.log'", s.dir), 0);
	/* The default: $HOME/.ssh/known_hosts, here without the host. */
	home = path_join(test_tmpdir(), "home");
	dotssh = path_join(home, ".ssh");
	CHECK_OK(mkdir(home, 0700));
	CHECK_OK(mkdir(dotssh, 0700));
	CHECK_OK(setenv("HOME", home, 1));
	cred.ssh_known_hosts = NULL;
	CHECK_EQ(checkout_mirror(cache, url, &cred, NULL, 0, &m, &err), -EACCES);
	CHECK_STR_CONTAINS(err.msg, "is not known");
	/* What the message says to do makes it known. */
	CHECK_EQ(repo_sh("ssh-keyscan -p %d 127.0.0.1 > '%s/known_hosts' 2>/dev/null", s.port,
			 dotssh),
		 0);
	check_accepted(&s, checkout_mirror(cache, url, &cred, NULL, 0, &m, &err), &err);
	if (s.login)
		CHECK_EQ(repo_sh("grep -q 'Accepted publickey' '%s/sshd.log'", s.dir), 0);
	/* A known_hosts file that is not there is an error, not an empty file. */
	cred.ssh_known_hosts = "/nonexistent/known_hosts";
	CHECK_EQ(checkout_mirror(cache, url, &cred, NULL, CHECKOUT_REBUILD, &m, &err), -ENOENT);
	CHECK_STR_CONTAINS(err.msg, "known hosts file '/nonexistent/known_hosts'");
}

TEST(checkout_ssh_refuses_a_changed_or_revoked_host_key)
{
	CLEANUP(sshd_stop) struct sshd s = { 0 };
	cleanup_free char *cache = repo_path("cache"), *src = NULL, *url = NULL, *m = NULL;
	cleanup_free char *changed = NULL, *revoked = NULL, *other_pub = NULL, *text = NULL;
	struct checkout_cred cred = { 0 };
	struct err err = { 0 };

	sshd_start(&s);
	src = make_repo(&s, "app");
	url = ssh_url(&s, src);
	other_pub = repo_line("cut -d' ' -f1,2 '%s.pub'", s.other);
	changed = path_join(s.dir, "changed");
	text = xasprintf("# a comment\n[127.0.0.1]:%d %s\n", s.port, other_pub);
	write_text(changed, text);
	cred = (struct checkout_cred){ .ssh_key = s.key, .ssh_known_hosts = changed };
	CHECK_EQ(checkout_mirror(cache, url, &cred, NULL, 0, &m, &err), -EACCES);
	printf("# %s\n", err.msg);
	CHECK_STR_CONTAINS(err.msg, "does not match the known key");
	CHECK_STR_CONTAINS(err.msg, "possible man-in-the-middle");
	CHECK_STR_CONTAINS(err.msg, "line 2");
	CHECK(m == NULL);
	revoked = path_join(s.dir, "revoked");
	free(text);
	text = xasprintf("[127.0.0.1]:%d %s\n@revoked * %s\n", s.port, s.host_pub, s.host_pub);
	write_text(revoked, text);
	cred.ssh_known_hosts = revoked;
	CHECK_EQ(checkout_mirror(cache, url, &cred, NULL, 0, &m, &err), -EACCES);
	printf("# %s\n", err.msg);
	CHECK_STR_CONTAINS(err.msg, "is revoked");
}

TEST(checkout_ssh_accepts_hashed_known_hosts_entries)
{
	CLEANUP(sshd_stop) struct sshd s = { 0 };
	cleanup_free char *cache = repo_path("cache"), *src = NULL, *url = NULL, *m = NULL;
	cleanup_free char *hashed = NULL, *scp = NULL, *m2 = NULL;
	struct checkout_cred cred = { 0 };
	struct err err = { 0 };

	sshd_start(&s);
	src = make_repo(&s, "app");
	url = ssh_url(&s, src);
	hashed = path_join(s.dir, "hashed");
	/* ssh-keygen -H hashes every name, "[127.0.0.1]:port" and "127.0.0.1" alike. */
	CHECK_EQ(repo_sh("cp '%s' '%s' && ssh-keygen -q -H -f '%s' >/dev/null 2>&1 && "
			 "! grep -q 127.0.0.1 '%s' && grep -q '^|1|' '%s'",
			 s.known, hashed, hashed, hashed, hashed),
		 0);
	cred = (struct checkout_cred){ .ssh_key = s.key, .ssh_known_hosts = hashed };
	check_accepted(&s, checkout_mirror(cache, url, &cred, NULL, 0, &m, &err), &err);
	need_login(&s); /* port 22 */
	scp = xasprintf("root@127.0.0.1:%s", src);
	CHECK_OK(checkout_mirror(cache, scp, &cred, NULL, CHECKOUT_REBUILD, &m2, &err));
}

/* What Debian 12's libssh2 1.10 can sign with against OpenSSH 9.2: ECDSA (and ed25519,
 * above); RSA only by SHA-1, which OpenSSH 8.8 and later refuse, so the message says so. */
TEST(checkout_ssh_key_types_this_libssh2_can_use)
{
	CLEANUP(sshd_stop) struct sshd s = { 0 };
	cleanup_free char *cache = repo_path("cache"), *src = NULL, *url = NULL, *m = NULL;
	cleanup_free char *ecdsa = NULL, *rsa = NULL;
	struct checkout_cred cred = { 0 };
	struct err err = { 0 };

	sshd_start(&s);
	src = make_repo(&s, "app");
	url = ssh_url(&s, src);
	ecdsa = path_join(s.dir, "ecdsa");
	rsa = path_join(s.dir, "rsa");
	CHECK_EQ(repo_sh("cd '%s' && ssh-keygen -q -t ecdsa -b 256 -N '' -f ecdsa && "
			 "ssh-keygen -q -t rsa -b 3072 -N '' -f rsa && "
			 "cat ecdsa.pub rsa.pub >> authorized_keys",
			 s.dir),
		 0);
	cred = (struct checkout_cred){ .ssh_key = ecdsa, .ssh_known_hosts = s.known };
	check_accepted(&s, checkout_mirror(cache, url, &cred, NULL, 0, &m, &err), &err);
	cred.ssh_key = rsa;
	CHECK_EQ(checkout_mirror(cache, url, &cred, NULL, CHECKOUT_REBUILD, &m, &err), -EACCES);
	printf("# %s\n", err.msg);
	CHECK_STR_CONTAINS(err.msg, "refused the ssh key");
	CHECK_STR_CONTAINS(err.msg, "use an ed25519 or ECDSA key");
}

/* An IPv6 literal: "ssh://[::1]:port/path", known as "[::1]:port". */
TEST(checkout_ssh_ipv6_literal)
{
	CLEANUP(sshd_stop) struct sshd s = { 0 };
	cleanup_free char *cache = repo_path("cache"), *src = NULL, *url = NULL, *m = NULL;
	cleanup_free char *known6 = NULL, *text = NULL;
	struct checkout_cred cred = { 0 };
	char commit[41], tree[41];
	struct err err = { 0 };

	sshd_start(&s);
	if (repo_sh("grep -q 'Server listening on ::1 port' '%s/sshd.log'", s.dir) != 0)
		test_skip_host("sshd could not listen on ::1 (no IPv6 on loopback)");
	src = make_repo(&s, "app");
	url = xasprintf("ssh://%s@[::1]:%d%s", s.user, s.port, src);
	known6 = path_join(s.dir, "known6");
	text = xasprintf("[::1]:%d %s\n", s.port, s.host_pub);
	write_text(known6, text);
	cred = (struct checkout_cred){ .ssh_key = s.key, .ssh_known_hosts = known6 };
	check_accepted(&s, checkout_mirror(cache, url, &cred, NULL, 0, &m, &err), &err);
	if (s.login)
		CHECK_OK(checkout_resolve(m, "main", commit, tree, &err));
	/* The IPv4 entry does not vouch for ::1. */
	cred.ssh_known_hosts = s.known;
	CHECK_EQ(checkout_mirror(cache, url, &cred, NULL, CHECKOUT_REBUILD, &m, &err), -EACCES);
	CHECK_STR_CONTAINS(err.msg, "host key of '[::1]:");
	CHECK_STR_CONTAINS(err.msg, "is not known");
}

/* An agent started by the test, holding the key; no key file is given. */
TEST(checkout_ssh_uses_the_agent)
{
	CLEANUP(sshd_stop) struct sshd s = { 0 };
	cleanup_free char *cache = repo_path("cache"), *src = NULL, *url = NULL, *m = NULL;
	cleanup_free char *sock = NULL;
	CLEANUP(killp) pid_t agent = -1;
	struct checkout_cred cred = { 0 };
	char commit[41], tree[41];
	struct err err = { 0 };

	sshd_start(&s);
	src = make_repo(&s, "app");
	url = ssh_url(&s, src);
	sock = path_join(s.dir, "agent.sock");
	/* In the foreground (-D), our child: killed with the test whatever happens. */
	agent = fork();
	CHECK(agent >= 0);
	if (agent == 0) {
		execlp("ssh-agent", "ssh-agent", "-D", "-a", sock, (char *) NULL);
		_exit(127);
	}
	for (int i = 0; i < 500 && access(sock, F_OK) < 0; i++)
		usleep(10 * 1000);
	CHECK_OK(setenv("SSH_AUTH_SOCK", sock, 1));
	CHECK_EQ(repo_sh("SSH_AUTH_SOCK='%s' ssh-add -q '%s' 2>/dev/null", sock, s.other), 0);
	cred = (struct checkout_cred){ .ssh_known_hosts = s.known };
	/* The agent's only key is not authorized. */
	CHECK_EQ(checkout_mirror(cache, url, &cred, NULL, 0, &m, &err), -EACCES);
	printf("# %s\n", err.msg);
	CHECK_STR_CONTAINS(err.msg, "refused every key of the ssh-agent");
	CHECK_EQ(repo_sh("SSH_AUTH_SOCK='%s' ssh-add -q '%s' 2>/dev/null", sock, s.key), 0);
	check_accepted(&s, checkout_mirror(cache, url, &cred, NULL, 0, &m, &err), &err);
	if (s.login)
		CHECK_OK(checkout_resolve(m, "main", commit, tree, &err));
}

/* The real binary: --git-ssh-key and --git-known-hosts; the job sees the checkout and
 * nowhere the key: not in its .git/config, its processes' environments, nor mayfly's
 * output or state dir. */
TEST(exec_repo_over_ssh_keeps_the_key_out_of_the_job)
{
	CLEANUP(sshd_stop) struct sshd s = { 0 };
	cleanup_free char *src = NULL, *url = NULL, *script = NULL, *locked = NULL, *scp = NULL;
	char *env[] = { "MAYFLY_GIT_SSH_PASSPHRASE=phrase-4711", NULL };
	struct run_result res;

	sshd_start(&s);
	need_login(&s);
	src = make_repo(&s, "app");
	url = ssh_url(&s, src);
	script = xasprintf("cat a; git status --porcelain; git remote -v | head -1; "
			   "grep -c -F '%s' .git/config /proc/*/environ 2>/dev/null | "
			   "grep -v ':0$' | wc -l",
			   s.key_text);
	const char *argv[] = { mayfly_bin(),
			       "--state-dir",
			       test_state_dir(),
			       "exec",
			       "--repo",
			       url,
			       "--git-ssh-key",
			       s.key,
			       "--git-known-hosts",
			       s.known,
			       "--",
			       "sh",
			       "-c",
			       script,
			       NULL };
	run_argv((char *const *) argv, NULL, 120, &res);
	printf("# exit %d, stderr: %s\n", res.status, res.err);
	CHECK_EQ(res.status, 0);
	cleanup_free char *want = xasprintf("one\norigin\t%s (fetch)\n0\n", url);
	CHECK_STR_EQ(res.out, want);
	CHECK_STR_NOT_CONTAINS(res.err, s.key_text);
	run_result_free(&res);
	check_no_key(&s, test_state_dir());

	/* A wrong key: exit 125, a clear message, still no key text. */
	argv[7] = s.other;
	run_argv((char *const *) argv, NULL, 120, &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "refused the ssh key");
	CHECK_STR_NOT_CONTAINS(res.err, s.key_text);
	run_result_free(&res);

	/* An encrypted key: refused without its passphrase, which then reaches no job. */
	locked = path_join(s.dir, "locked");
	CHECK_EQ(repo_sh("cd '%s' && ssh-keygen -q -t ed25519 -N 'phrase-4711' -f locked && "
			 "cat locked.pub >> authorized_keys",
			 s.dir),
		 0);
	argv[7] = locked;
	argv[13] = "env | grep -c 4711; cat a";
	run_argv((char *const *) argv, NULL, 120, &res);
	CHECK_EQ(res.status, 125);
	CHECK_STR_CONTAINS(res.err, "protected by a passphrase");
	run_result_free(&res);
	run_argv((char *const *) argv, env, 120, &res);
	printf("# exit %d, stderr: %s\n", res.status, res.err);
	CHECK_EQ(res.status, 0);
	CHECK_STR_EQ(res.out, "0\none\n");
	run_result_free(&res);

	/* The scp-like form: the job's origin is that URL (an account name is no secret). */
	scp = xasprintf("root@127.0.0.1:%s", src);
	argv[5] = scp;
	argv[7] = s.key;
	argv[13] = "git remote -v | head -1; git status --porcelain";
	run_argv((char *const *) argv, NULL, 120, &res);
	printf("# exit %d, stderr: %s\n", res.status, res.err);
	CHECK_EQ(res.status, 0);
	cleanup_free char *want_scp = xasprintf("origin\t%s (fetch)\n", scp);
	CHECK_STR_EQ(res.out, want_scp);
	run_result_free(&res);

	/* A password in an scp-like URL is refused and not shown. */
	argv[5] = "root:hunter2@127.0.0.1:/srv/app.git";
	run_argv((char *const *) argv, NULL, 120, &res);
	printf("# exit %d, stderr: %s\n", res.status, res.err);
	CHECK(res.status != 0);
	CHECK_STR_CONTAINS(res.err, "a password in an ssh URL");
	CHECK_STR_NOT_CONTAINS(res.err, "hunter2");
	run_result_free(&res);
	check_no_key(&s, test_state_dir());
}

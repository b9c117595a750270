/* broker-fx.h - the broker integration tests' fixture: the real broker (broker_spawn) on
 * a socket in the test's tmpdir with grants made here, the real `mayfly broker` client
 * run against it, its audit log, and the checks that a secret shows in no form a job
 * could decode. Shared by test-broker.c and test-broker-http.c. */
#pragma once

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

static inline void fx_stop(struct fx *f)
{
	killp(&f->pid);
	for (size_t i = 0; i < f->n; i++)
		broker_grant_free(f->grants[i]);
	free(f->sock);
	free(f->audit);
}

static inline void grant(struct fx *f, const char *text, const void *value, size_t len)
{
	struct err err = { 0 };

	CHECK(f->n < 8);
	if (broker_grant_parse(text, &f->grants[f->n], &err) < 0 ||
	    broker_grant_set_value(f->grants[f->n], value, len, &err) < 0)
		test_fail(__FILE__, __LINE__, "grant '%s': %s", text, err.msg);
	f->n++;
}

static inline uint64_t my_pidns(void)
{
	struct stat st;

	CHECK_OK(stat("/proc/self/ns/pid", &st));
	return (uint64_t) st.st_ino;
}

/* cfg: limits, dry_run, ca_file, peer checks (peer_pidns_ino 1 means "none"). */
static inline void fx_start(struct fx *f, struct broker_config cfg)
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
static inline void client(const struct fx *f, const char *script, struct run_result *res)
{
	cleanup_free char *e1 = xasprintf("MAYFLY_BROKER_SOCKET=%s", f->sock);
	cleanup_free char *e2 = xasprintf("M=%s", mayfly_bin());
	char *const env[] = { e1, e2, NULL };
	char *const argv[] = { (char *) "sh", (char *) "-c", (char *) script, NULL };

	run_argv(argv, env, 60, res);
	printf("# $ %s\n# status %d, stdout: %.300s\n# stderr: %s\n", script, res->status, res->out,
	       res->err);
}

static inline char *audit_text(const struct fx *f)
{
	char *buf = NULL;
	size_t len;
	struct err err = { 0 };

	CHECK_OK(read_file_at(AT_FDCWD, f->audit, 1 << 20, &buf, &len, &err));
	return buf;
}

/* The token in none of the forms a job could decode. */
static inline void check_no_secret(const char *where, const char *text, const char *secret)
{
	char b64[256], hex[256];

	sodium_bin2base64(b64, sizeof(b64), (const unsigned char *) secret, strlen(secret),
			  sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2hex(hex, sizeof(hex), (const unsigned char *) secret, strlen(secret));
	b64[strlen(b64) - 4] = '\0'; /* the padding-free middle is enough */
	if (strstr(text, secret) || strstr(text, b64) || strstr(text, hex))
		test_fail(__FILE__, __LINE__, "%s holds the secret: %s", where, text);
}

static inline void hex_of(const unsigned char *b, size_t n, char *out, size_t size)
{
	sodium_bin2hex(out, size, b, n);
}

/* test-vault.c - the vault: sealing round trips, names, expiry, key handling, and every
 * kind of damage to the file refused with a clear error. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "secrets/secrets.h"
#include "state.h"
#include "test.h"
#include "util/err.h"
#include "util/fd.h"

static void put(const char *st, const char *env, const char *name, const char *value,
		int64_t expires)
{
	CLEANUP(secret_vault_closep) struct secret_vault *v = NULL;
	struct err err = { 0 };

	CHECK_OK(secret_vault_open(st, NULL, SECRET_OPEN_WRITE, &v, &err));
	CHECK_OK(secret_vault_set(v, env, name, value, strlen(value), expires, &err));
	CHECK_OK(secret_vault_commit(v, &err));
}

static char *vault_text(const char *st, size_t *len)
{
	char path[4096];
	char *text = NULL;
	struct err err = { 0 };

	snprintf(path, sizeof(path), "%s/secrets/vault", st);
	CHECK_OK(read_file_at(AT_FDCWD, path, 1 << 20, &text, len, &err));
	return text;
}

static void write_vault(const char *st, const char *text, size_t len)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/secrets/vault", st);
	fd = open(path, O_WRONLY | O_TRUNC);
	CHECK(fd >= 0);
	CHECK_OK(fd_write_all(fd, text, len));
	close(fd);
}

static int open_err(const char *st, struct err *err)
{
	struct secret_vault *v = NULL;
	int r = secret_vault_open(st, NULL, 0, &v, err);
	secret_vault_close(v);
	return r;
}

TEST(vault_round_trip_and_key_file_mode)
{
	const char *st = state();
	CLEANUP(secret_vault_closep) struct secret_vault *v = NULL;
	CLEANUP(secret_value_freep) struct secret_value *val = NULL;
	struct err err = { 0 };
	char key[4096];
	struct stat sb;

	put(st, "production", "DB_URL", "postgres://u:pw@db/app", 0);
	put(st, "preview/feature-x", "STRIPE_KEY", "sk_test_0123456789", 0);
	snprintf(key, sizeof(key), "%s/secrets/master.key", st);
	CHECK_OK(stat(key, &sb));
	CHECK_EQ(sb.st_mode & 0777, 0600);
	CHECK_OK(secret_vault_open(st, NULL, 0, &v, &err));
	CHECK_OK(secret_vault_get(v, "production", "DB_URL", &val, &err));
	CHECK_EQ(val->len, strlen("postgres://u:pw@db/app"));
	CHECK_STR_EQ((const char *) val->data, "postgres://u:pw@db/app");
	/* The file holds no value in the clear. */
	size_t len;
	char *text = vault_text(st, &len);
	CHECK(!strstr(text, "postgres://"));
	CHECK(!strstr(text, "sk_test_"));
	free(text);
}

TEST(vault_names_and_short_values)
{
	const char *st = state();
	CLEANUP(secret_vault_closep) struct secret_vault *v = NULL;
	struct err err = { 0 };

	CHECK(secret_env_name_ok("production"));
	CHECK(secret_env_name_ok("preview/feature/x-1.2"));
	CHECK(!secret_env_name_ok("preview/../etc"));
	CHECK(!secret_env_name_ok("/abs"));
	CHECK(!secret_env_name_ok("a//b"));
	CHECK(!secret_env_name_ok("a b"));
	CHECK(!secret_env_name_ok(""));
	CHECK(secret_name_ok("DB_URL"));
	CHECK(!secret_name_ok("1X"));
	CHECK(!secret_name_ok("A-B"));
	CHECK(!secret_name_ok("../x"));
	CHECK_OK(secret_vault_open(st, NULL, SECRET_OPEN_WRITE, &v, &err));
	CHECK_EQ(secret_vault_set(v, "production", "PIN", "1234567", 7, 0, &err), -EMSGSIZE);
	CHECK_STR_CONTAINS(err.msg, "under 8 bytes");
	CHECK_STR_NOT_CONTAINS(err.msg, "1234567");
	CHECK_EQ(secret_vault_set(v, "bad name", "X", "12345678", 8, 0, &err), -EINVAL);
	CHECK_EQ(secret_vault_set(v, "production", "bad-name", "12345678", 8, 0, &err), -EINVAL);
}

TEST(vault_unknown_names_say_what_exists)
{
	const char *st = state();
	CLEANUP(secret_vault_closep) struct secret_vault *v = NULL;
	struct secret_value *val = NULL;
	struct err err = { 0 };

	put(st, "production", "DB_URL", "postgres://x/y/z", 0);
	put(st, "staging", "API_KEY", "staging-api-key", 0);
	CHECK_OK(secret_vault_open(st, NULL, 0, &v, &err));
	CHECK_EQ(secret_vault_get(v, "prod", "DB_URL", &val, &err), -ENOENT);
	CHECK_STR_CONTAINS(err.msg, "no environment 'prod'");
	CHECK_STR_CONTAINS(err.msg, "'production', 'staging'");
	CHECK_EQ(secret_vault_get(v, "production", "NOPE", &val, &err), -ENOENT);
	CHECK_STR_CONTAINS(err.msg, "no secret 'NOPE' in 'production'");
	CHECK_STR_CONTAINS(err.msg, "'DB_URL'");
}

TEST(vault_expired_value_refused)
{
	const char *st = state();
	CLEANUP(secret_vault_closep) struct secret_vault *v = NULL;
	struct secret_value *val = NULL;
	struct err err = { 0 };

	put(st, "staging", "OLD", "expired-value-1", 1000); /* 1970 */
	CHECK_OK(secret_vault_open(st, NULL, 0, &v, &err));
	CHECK_EQ(secret_vault_get(v, "staging", "OLD", &val, &err), -EKEYEXPIRED);
	CHECK_STR_CONTAINS(err.msg, "expired at 1970-01-01T00:00:01Z");
}

TEST(vault_wrong_key_refused)
{
	const char *st = state();
	char other[4096];
	struct err err = { 0 };
	int fd;

	put(st, "production", "DB_URL", "postgres://x/y/z", 0);
	snprintf(other, sizeof(other), "%s/other.key", test_tmpdir());
	fd = open(other, O_WRONLY | O_CREAT, 0600);
	CHECK_OK(fd_write_all(
		fd, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n", 65));
	close(fd);
	setenv("MAYFLY_MASTER_KEY_FILE", other, 1);
	struct secret_vault *v = NULL;
	CHECK_EQ(secret_vault_open(st, NULL, 0, &v, &err), -EKEYREJECTED);
	CHECK_STR_CONTAINS(err.msg, "another master key");
	/* A key readable by others is refused, whatever it is. */
	chmod(other, 0644);
	CHECK_EQ(secret_vault_open(st, NULL, 0, &v, &err), -EPERM);
	CHECK_STR_CONTAINS(err.msg, "readable by others");
	unsetenv("MAYFLY_MASTER_KEY_FILE");
	/* A missing key with a vault present. */
	char key[4096];
	snprintf(key, sizeof(key), "%s/secrets/master.key", st);
	CHECK_OK(unlink(key));
	CHECK_EQ(open_err(st, &err), -ENOKEY);
	CHECK_STR_CONTAINS(err.msg, "cannot be opened without its key");
}

TEST(vault_tampering_and_truncation_refused)
{
	const char *st = state();
	struct err err = { 0 };
	size_t len;
	char *orig;

	put(st, "production", "DB_URL", "postgres://x/y/z", 0);
	put(st, "production", "OTHER", "another-value-here", 0);
	orig = vault_text(st, &len);
	/* Every truncation. */
	for (size_t cut = 0; cut < len; cut += 7) {
		write_vault(st, orig, cut);
		CHECK_EQ(open_err(st, &err), -EBADMSG);
	}
	/* Every single-bit flip past the header line's magic. */
	for (size_t i = 0; i < len; i += 3) {
		char *t = strdup(orig);
		t[i] ^= 0x01;
		write_vault(st, t, len);
		int r = open_err(st, &err);
		CHECK(r == -EBADMSG || r == -EKEYREJECTED);
		free(t);
	}
	write_vault(st, orig, len);
	CHECK_OK(open_err(st, &err));
	free(orig);
}

TEST(vault_rm_and_list)
{
	const char *st = state();
	CLEANUP(secret_vault_closep) struct secret_vault *v = NULL;
	struct secret_meta *m = NULL;
	size_t n = 0;
	struct err err = { 0 };

	put(st, "production", "B_NAME", "value-b-123", 0);
	put(st, "production", "A_NAME", "value-a-123", 5000);
	put(st, "staging", "C_NAME", "value-c-123", 0);
	CHECK_OK(secret_vault_open(st, NULL, SECRET_OPEN_WRITE, &v, &err));
	CHECK_OK(secret_vault_list(v, "production", &m, &n));
	CHECK_EQ(n, 2);
	CHECK_STR_EQ(m[0].name, "A_NAME");
	CHECK_EQ(m[0].expires_ms, 5000);
	CHECK(m[0].created_ms > 0 && m[0].updated_ms >= m[0].created_ms);
	free(m);
	CHECK_EQ(secret_vault_rm(v, "production", "NOPE", &err), -ENOENT);
	CHECK_OK(secret_vault_rm(v, "production", "A_NAME", &err));
	CHECK_OK(secret_vault_commit(v, &err));
	v = secret_vault_close(v);
	CHECK_OK(secret_vault_open(st, NULL, 0, &v, &err));
	CHECK_OK(secret_vault_list(v, NULL, &m, &n));
	CHECK_EQ(n, 2);
	free(m);
}

TEST(vault_rotate_reseals_under_a_new_key)
{
	const char *st = state();
	CLEANUP(secret_vault_closep) struct secret_vault *v = NULL;
	CLEANUP(secret_value_freep) struct secret_value *val = NULL;
	struct err err = { 0 };
	char key[4096], *before = NULL, *after = NULL;
	size_t len;

	put(st, "production", "DB_URL", "postgres://x/y/z", 0);
	snprintf(key, sizeof(key), "%s/secrets/master.key", st);
	CHECK_OK(read_file_at(AT_FDCWD, key, 4096, &before, &len, &err));
	CHECK_OK(secret_vault_open(st, NULL, SECRET_OPEN_WRITE, &v, &err));
	CHECK_OK(secret_vault_rotate(v, NULL, &err));
	v = secret_vault_close(v);
	CHECK_OK(read_file_at(AT_FDCWD, key, 4096, &after, &len, &err));
	CHECK(strcmp(before, after) != 0);
	CHECK_OK(secret_vault_open(st, NULL, 0, &v, &err));
	CHECK_OK(secret_vault_get(v, "production", "DB_URL", &val, &err));
	CHECK_STR_EQ((const char *) val->data, "postgres://x/y/z");
	free(before);
	free(after);
}

/* Rotation cut short after the vault was written: the next open finishes it. */
TEST(vault_rotation_interrupted_is_finished)
{
	const char *st = state();
	CLEANUP(secret_vault_closep) struct secret_vault *v = NULL;
	CLEANUP(secret_value_freep) struct secret_value *val = NULL;
	struct err err = { 0 };
	char key[4096], saved[4096], next[4096];

	put(st, "production", "DB_URL", "postgres://x/y/z", 0);
	snprintf(key, sizeof(key), "%s/secrets/master.key", st);
	snprintf(next, sizeof(next), "%s.new", key);
	snprintf(saved, sizeof(saved), "%s/old.key", test_tmpdir());
	CHECK_OK(link(key, saved));
	CHECK_OK(secret_vault_open(st, NULL, SECRET_OPEN_WRITE, &v, &err));
	CHECK_OK(secret_vault_rotate(v, NULL, &err));
	v = secret_vault_close(v);
	/* Put things back as they were between steps 2 and 3. */
	CHECK_OK(rename(key, next));
	CHECK_OK(rename(saved, key));
	CHECK_OK(secret_vault_open(st, NULL, SECRET_OPEN_WRITE, &v, &err));
	CHECK_OK(secret_vault_get(v, "production", "DB_URL", &val, &err));
	CHECK(access(next, F_OK) < 0);
}

/* Two writers at once: both changes land, the file is never torn. */
TEST(vault_concurrent_writers)
{
	const char *st = state();
	CLEANUP(secret_vault_closep) struct secret_vault *v = NULL;
	struct secret_meta *m = NULL;
	struct err err = { 0 };
	pid_t kids[4];
	size_t n = 0;

	put(st, "production", "SEED", "seed-value-1", 0);
	for (int k = 0; k < 4; k++) {
		kids[k] = fork();
		CHECK(kids[k] >= 0);
		if (kids[k] == 0) {
			for (int i = 0; i < 10; i++) {
				char name[32];
				snprintf(name, sizeof(name), "W%d_%d", k, i);
				put(st, "production", name, "written-concurrently", 0);
			}
			_exit(0);
		}
	}
	for (int k = 0; k < 4; k++) {
		int status;
		CHECK_EQ(waitpid(kids[k], &status, 0), kids[k]);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	CHECK_OK(secret_vault_open(st, NULL, 0, &v, &err));
	CHECK_OK(secret_vault_list(v, "production", &m, &n));
	CHECK_EQ(n, 41);
	free(m);
}

/* key.c - the master key: where it is, loading and creating it, and the keys derived from
 * it (one to seal values, one to MAC the vault file, a public id). */
#include "secrets/secrets.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "secrets/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define KDF_CONTEXT "mayflyV1"

char *secret_key_path(const char *state_dir, const char *key_file, bool *ret_default)
{
	const char *env = getenv("MAYFLY_MASTER_KEY_FILE");
	const char *creds = getenv("CREDENTIALS_DIRECTORY");

	*ret_default = false;
	if (key_file && *key_file)
		return xstrdup(key_file);
	if (env && *env)
		return xstrdup(env);
	if (creds && *creds) {
		cleanup_free char *p = path_join(creds, "mayfly-master-key");
		if (access(p, F_OK) == 0)
			return TAKE_PTR(p);
	}
	*ret_default = true;
	return xasprintf("%s/secrets/master.key", state_dir);
}

static struct vkey *vkey_alloc(void)
{
	struct vkey *k;

	if (sodium_init() < 0)
		abort();
	k = sodium_malloc(sizeof(*k));
	if (!k)
		abort();
	return k;
}

struct vkey *vkey_free(struct vkey *k)
{
	if (k)
		sodium_free(k);
	return NULL;
}

static void derive(struct vkey *k)
{
	unsigned char id[16]; /* crypto_kdf_BYTES_MIN; the first KEY_ID_BYTES name the key */

	(void) crypto_kdf_derive_from_key(k->seal, sizeof(k->seal), 1, KDF_CONTEXT, k->master);
	(void) crypto_kdf_derive_from_key(k->mac, sizeof(k->mac), 2, KDF_CONTEXT, k->master);
	(void) crypto_kdf_derive_from_key(id, sizeof(id), 3, KDF_CONTEXT, k->master);
	(void) sodium_bin2hex(k->id, sizeof(k->id), id, KEY_ID_BYTES);
}

int vkey_load(const char *path, struct vkey **ret, struct err *err)
{
	CLEANUP(vkey_freep) struct vkey *k = vkey_alloc();
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	unsigned char buf[2 * KEY_BYTES + 2];
	struct stat st;
	ssize_t n;
	int r = 0;

	if (fd < 0 && errno == ENOENT)
		return err_set(err, ENOKEY, "master key '%s' does not exist", path);
	if (fd < 0)
		return err_set(err, errno == EACCES ? ENOKEY : errno, "open master key '%s'", path);
	if (fstat(fd, &st) < 0)
		return err_set(err, errno, "stat master key '%s'", path);
	if (!S_ISREG(st.st_mode))
		return err_set(err, EINVAL, "master key '%s' is not a regular file", path);
	if (st.st_mode & 077)
		return err_set(err, EPERM,
			       "master key '%s' is readable by others (mode %04o): 'chmod 600' it, "
			       "and rotate the key if others may have read it",
			       path, (unsigned) (st.st_mode & 07777));
	do
		n = read(fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return err_set(err, errno, "read master key '%s'", path);
	if (n == KEY_BYTES) {
		memcpy(k->master, buf, KEY_BYTES);
	} else if ((n == 2 * KEY_BYTES || (n == 2 * KEY_BYTES + 1 && buf[n - 1] == '\n'))) {
		size_t got = 0;
		if (sodium_hex2bin(k->master, KEY_BYTES, (const char *) buf, 2 * KEY_BYTES, NULL,
				   &got, NULL) < 0 ||
		    got != KEY_BYTES)
			r = -EINVAL;
	} else
		r = -EINVAL;
	sodium_memzero(buf, sizeof(buf));
	if (r < 0)
		return err_set(
			err, EINVAL,
			"master key '%s' is not a key: expected 32 bytes, or 64 hex digits "
			"(e.g. from 'head -c32 /dev/urandom | od -An -tx1 | tr -d \" \\n\"')",
			path);
	derive(k);
	*ret = TAKE_PTR(k);
	return 0;
}

int vkey_create(const char *path, struct vkey **ret, struct err *err)
{
	CLEANUP(vkey_freep) struct vkey *k = vkey_alloc();
	char *hex;
	int r = 0;

	randombytes_buf(k->master, KEY_BYTES);
	derive(k);
	if (path) {
		cleanup_free char *dir = xstrdup(path);
		char *slash = strrchr(dir, '/');
		const char *base = slash ? slash + 1 : path;
		cleanup_close int dfd = -1;

		if (slash)
			*slash = '\0';
		dfd = open(slash ? (*dir ? dir : "/") : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return err_set(err, errno, "open directory of master key '%s'", path);
		hex = sodium_malloc(2 * KEY_BYTES + 2);
		if (!hex)
			abort();
		(void) sodium_bin2hex(hex, 2 * KEY_BYTES + 1, k->master, KEY_BYTES);
		hex[2 * KEY_BYTES] = '\n';
		hex[2 * KEY_BYTES + 1] = '\0';
		r = write_file_atomic_at(dfd, base, hex, 2 * KEY_BYTES + 1, 0600, WRITE_DURABLE,
					 err);
		sodium_free(hex);
		if (r < 0)
			return err_wrap(err, "master key");
	}
	*ret = TAKE_PTR(k);
	return 0;
}

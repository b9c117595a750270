/* names.c - names of environments and values, unsealed values (and reading one), times. */
#include "secrets/secrets.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "secrets/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/xalloc.h"
#include "util/banned.h"

static bool seg_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

bool secret_env_name_ok(const char *env)
{
	size_t n = env ? strlen(env) : 0, seg = 0;

	if (n == 0 || n > SECRET_ENV_NAME_MAX)
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || env[i] == '/') {
			if (seg == 0)
				return false; /* empty segment: "a//b", "/a", "a/" */
			seg = 0;
			continue;
		}
		if (!seg_char(env[i]) || (seg == 0 && env[i] == '.'))
			return false; /* no ".", "..", hidden names */
		seg++;
	}
	return true;
}

bool secret_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > SECRET_NAME_MAX || (name[0] >= '0' && name[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9')))
			return false;
	}
	return true;
}

struct secret_value *secret_value_new(const void *data, size_t len)
{
	struct secret_value *v;

	if (sodium_init() < 0)
		abort();
	v = xmalloc(sizeof(*v)); /* the length is no secret: only the bytes need guarding */
	v->len = len;
	v->data = sodium_malloc(len + 1);
	if (!v->data)
		abort();
	if (data && len)
		memcpy(v->data, data, len);
	v->data[len] = '\0';
	return v;
}

struct secret_value *secret_value_free(struct secret_value *v)
{
	if (v) {
		sodium_free(v->data); /* wipes */
		free(v);
	}
	return NULL;
}

int64_t secrets_wall_ms(void)
{
	struct timespec ts;

	(void) clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void secrets_format_time(int64_t ms, char *buf, size_t size)
{
	time_t t = (time_t) (ms / 1000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void) snprintf(buf, size, "%lld", (long long) ms);
}

int secret_value_read_fd(int fd, struct secret_value **ret, struct err *err)
{
	CLEANUP(secret_value_freep)
	struct secret_value *v = secret_value_new(NULL, SECRET_MAX_LEN + 2);
	size_t len = 0;

	for (;;) {
		ssize_t n = read(fd, v->data + len, SECRET_MAX_LEN + 2 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set(err, errno, "read the value");
		if (n == 0)
			break;
		len += (size_t) n;
		if (len > SECRET_MAX_LEN + 1)
			return err_set(err, EMSGSIZE, "the value is longer than %d bytes",
				       SECRET_MAX_LEN);
	}
	/* `echo "$V" |` and editors add one newline that is not part of the value. */
	if (len > 0 && v->data[len - 1] == '\n')
		len--;
	if (len > 0 && v->data[len - 1] == '\r')
		len--;
	if (len > SECRET_MAX_LEN)
		return err_set(err, EMSGSIZE, "the value is longer than %d bytes", SECRET_MAX_LEN);
	*ret = secret_value_new(v->data, len);
	return 0;
}

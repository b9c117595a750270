/* redis.c - the Redis readiness check: AUTH (when there is a password) and PING, in RESP,
 * pipelined on one connection; refused connections are retried until the deadline. */
#include "services/services.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "services/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define REPLY_MAX 1024

int resp_status(const char *buf, size_t len, char *msg, size_t size)
{
	const char *crlf = memmem(buf, len, "\r\n", 2);
	size_t n;

	if (!crlf)
		return len >= REPLY_MAX ? -EPROTO : 0;
	n = (size_t) (crlf - buf);
	(void) snprintf(msg, size, "%.*s", n > 0 ? (int) n - 1 : 0, buf + 1);
	for (char *p = msg; *p; p++)
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			*p = '?';
	if (n > 0 && buf[0] == '+')
		return 1;
	if (n > 0 && buf[0] == '-') {
		if (strncmp(buf + 1, "NOAUTH", 6) == 0 || strncmp(buf + 1, "WRONGPASS", 9) == 0)
			return -EACCES;
		if (strncmp(buf + 1, "LOADING", 7) == 0)
			return -EAGAIN;
		return -EPROTO;
	}
	(void) snprintf(msg, size, "unexpected reply (not a Redis server?)");
	return -EPROTO;
}

/* Append one command as a RESP array of bulk strings. */
static void resp_cmd(char **buf, size_t *len, const char *const *args, size_t n)
{
	size_t cap = *len + 24;

	for (size_t i = 0; i < n; i++)
		cap += strlen(args[i]) + 24;
	*buf = xrealloc(*buf, cap);
	*len += (size_t) snprintf(*buf + *len, cap - *len, "*%zu\r\n", n);
	for (size_t i = 0; i < n; i++) {
		size_t a = strlen(args[i]);
		*len += (size_t) snprintf(*buf + *len, cap - *len, "$%zu\r\n", a);
		memcpy(*buf + *len, args[i], a);
		memcpy(*buf + *len + a, "\r\n", 2);
		*len += a + 2;
	}
}

/* Send the commands, then read one status reply per command; -EAGAIN to retry. */
static int redis_check(int fd, const struct svc_target *t, uint64_t deadline, struct err *err)
{
	cleanup_free char *req = NULL;
	char buf[REPLY_MAX], msg[256];
	size_t len = 0, have = 0;
	unsigned replies = 1;
	int r;

	if (t->password) {
		const char *auth[] = { "AUTH", t->user ? t->user : t->password, t->password };
		resp_cmd(&req, &len, auth, t->user ? 3 : 2);
		replies++;
	}
	const char *ping[] = { "PING" };
	resp_cmd(&req, &len, ping, 1);
	r = conn_write(fd, req, len, deadline);
	if (r < 0)
		return err_set(err, r, "write");
	while (replies > 0) {
		r = resp_status(buf, have, msg, sizeof(msg));
		if (r == 0) {
			ssize_t n = conn_read(fd, buf + have, sizeof(buf) - have, deadline);
			if (n == 0)
				return err_set(err, ECONNRESET, "the server closed the connection");
			if (n == -ETIMEDOUT)
				return err_set(err, ETIMEDOUT, "no answer from the server in time");
			if (n < 0)
				return err_set(err, (int) n, "read");
			have += (size_t) n;
			continue;
		}
		if (r < 0)
			return err_set(err, r, "%s", msg);
		if (replies == 1 && strcmp(msg, "PONG") != 0)
			return err_set(err, EPROTO, "PING answered '%s'", msg);
		const char *end = memmem(buf, have, "\r\n", 2);
		size_t used = (size_t) (end - buf) + 2;
		memmove(buf, buf + used, have - used);
		have -= used;
		replies--;
	}
	return 0;
}

int svc_redis_ready(const struct svc_target *t, unsigned timeout_ms, struct err *err)
{
	uint64_t start = svc_now_ms(), deadline = start + timeout_ms;
	unsigned port = t->port ? t->port : SVC_REDIS_PORT, attempt = 0;
	char name[300];

	conn_name(t, port, false, name, sizeof(name));
	for (;;) {
		cleanup_close int fd = -1;
		struct err last = { 0 };
		int r;

		r = conn_open(t, port, false, &fd, &last);
		bool connected = r == 0;
		if (r == 0)
			r = redis_check(fd, t, deadline, &last);
		if (r == 0)
			return 0;
		if (connected ? (r != -EAGAIN && r != -ECONNRESET)
			      : (r != -ECONNREFUSED && r != -ENOENT)) {
			*err = last;
			return err_wrap(err, "redis at '%s'", name);
		}
		r = conn_backoff(t, deadline, &attempt, err);
		if (r == -ETIMEDOUT)
			return err_set(err, ETIMEDOUT,
				       "redis at '%s': not ready after %u ms "
				       "(last: %s)",
				       name, (unsigned) (svc_now_ms() - start), last.msg);
		if (r < 0)
			return err_wrap(err, "redis at '%s'", name);
	}
}

/* err.c - see err.h. */
#include "util/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/banned.h"

int err_set(struct err *err, int code, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (code < 0)
		code = -code;
	if (code == 0)
		code = EIO;
	err->code = code;
	va_start(ap, fmt);
	(void) vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	n = strlen(err->msg);
	if (n < sizeof(err->msg) - 1)
		(void) snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(code));
	return -code;
}

int err_wrap(struct err *err, const char *fmt, ...)
{
	char prefix[ERR_MSG_MAX];
	char old[ERR_MSG_MAX];
	va_list ap;

	if (err->code == 0)
		err->code = EIO;
	va_start(ap, fmt);
	(void) vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	(void) snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old);
	return -err->code;
}

void err_clear(struct err *err)
{
	err->code = 0;
	err->msg[0] = '\0';
}

/* log.c - see log.h. One write() per line so concurrent writers do not interleave. */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/banned.h"

static enum log_level level = LOG_WARN;

void log_init(void)
{
	const char *e = getenv("MAYFLY_LOG");

	if (!e)
		return;
	if (strcmp(e, "debug") == 0)
		level = LOG_DEBUG;
	else if (strcmp(e, "info") == 0)
		level = LOG_INFO;
	else if (strcmp(e, "warn") == 0)
		level = LOG_WARN;
	else if (strcmp(e, "error") == 0)
		level = LOG_ERROR;
}

void log_set_level(enum log_level l)
{
	level = l;
}

enum log_level log_get_level(void)
{
	return level;
}

void log_msg(enum log_level l, const char *fmt, ...)
{
	static const char *const names[] = { "error: ", "warning: ", "", "debug: " };
	char line[2048];
	va_list ap;
	int n;

	if (l > level)
		return;
	n = snprintf(line, sizeof(line), "mayfly: %s", names[l]);
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t) n - 1, fmt, ap);
	va_end(ap);
	if (n > (int) sizeof(line) - 2)
		n = (int) sizeof(line) - 2;
	line[n++] = '\n';
	(void) !write(STDERR_FILENO, line, (size_t) n);
}

/* dotenv.c - `mayfly secrets import ENV --dotenv FILE`: NAME=VALUE lines into the vault.
 * The file is read into sodium memory and parsed in place; no value is ever copied into
 * ordinary heap memory or named in an error. */
#include "secrets/secrets.h"

#include <errno.h>
#include <string.h>

#include "secrets/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/str.h"
#include "util/banned.h"

DEFINE_CLEANUP(char **, strv_free)

static char *trim(char *s, char *end)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

int secret_vault_import_dotenv(struct secret_vault *v, const char *env, int fd, int64_t expires_ms,
			       char ***ret_names, struct err *err)
{
	CLEANUP(secret_value_freep) struct secret_value *text = NULL;
	CLEANUP(strv_freep) char **names = NULL;
	unsigned lineno = 0;
	int r;

	r = secret_value_read_fd(fd, &text, err);
	if (r < 0)
		return r;
	/* Two passes: check every line, then set; a bad line changes nothing. */
	for (int pass = 0; pass < 2; pass++) {
		char *p = (char *) text->data, *end = p + text->len;
		lineno = 0;
		while (p < end) {
			char *nl = memchr(p, '\n', (size_t) (end - p)), *line_end = nl ? nl : end;
			char saved = *line_end, *line, *eq, *val;
			size_t vlen;

			lineno++;
			*line_end = '\0';
			line = trim(p, line_end);
			if (str_startswith(line, "export "))
				line = trim(line + strlen("export "), line_end);
			if (*line == '\0' || *line == '#') {
				*line_end = saved;
				p = nl ? nl + 1 : end;
				continue;
			}
			eq = strchr(line, '=');
			if (!eq) {
				*line_end = saved;
				return err_set(err, EINVAL, "line %u: expected NAME=VALUE", lineno);
			}
			*eq = '\0';
			(void) trim(line, eq);
			val = trim(eq + 1, line_end);
			vlen = strlen(val);
			if (vlen >= 2 && (val[0] == '"' || val[0] == '\'') &&
			    val[vlen - 1] == val[0]) {
				val++;
				vlen -= 2;
			}
			if (!secret_name_ok(line))
				r = err_set(err, EINVAL, "not a variable name");
			else if (pass == 0 && vlen < SECRET_MIN_LEN)
				r = err_set(err, EMSGSIZE,
					    "the value has %zu bytes; values under %d bytes are "
					    "refused (they could not be masked safely)",
					    vlen, SECRET_MIN_LEN);
			else if (pass == 0 && vlen > SECRET_MAX_LEN)
				r = err_set(err, EMSGSIZE, "the value is longer than %d bytes",
					    SECRET_MAX_LEN);
			else if (pass == 1)
				r = secret_vault_set(v, env, line, val, vlen, expires_ms, err);
			if (r < 0) {
				(void) err_wrap(err, "line %u ('%s')", lineno,
						secret_name_ok(line) ? line : "?");
				*eq = '=';
				*line_end = saved;
				return -err->code;
			}
			if (pass == 1)
				strv_push(&names, line);
			*eq = '=';
			*line_end = saved;
			p = nl ? nl + 1 : end;
		}
	}
	*ret_names = TAKE_PTR(names);
	return 0;
}

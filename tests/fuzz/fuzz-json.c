/* fuzz-json.c - the JSON reader mayfly uses for journals (which gc reads back from disk,
 * where anything may have been written): parse, then walk every accessor a journal read
 * uses. The input is capped at 64 KiB, like a journal. */
#include <stdint.h>
#include <string.h>

#include "util/err.h"
#include "util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = { "id",	  "owner",	 "init_pid", "init_start",
					    "created_ms", "deadline_ms", "cgroup",   "command" };
	struct json *j = NULL;
	struct err err = { 0 };
	int64_t v;

	if (size > 64 * 1024)
		return 0;
	if (json_parse((const char *) data, size, &j, &err) < 0)
		return 0;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *s = json_get_str(j, keys[i]);
		if (s)
			(void) strlen(s);
		(void) json_get_i64(j, keys[i], &v);
	}
	for (size_t i = 0; i < json_array_len(j); i++)
		(void) json_str(json_array_at(j, i));
	json_free(j);
	return 0;
}

/* fuzz-proc-cgroup.c - the parser of /proc/self/cgroup text (a file the kernel writes,
 * but inside a container it may be anything the container's runtime shows): find our own
 * cgroup for each controller and for cgroup v2. Capped at 64 KiB. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup/internal.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const controllers[] = { "memory", "pids", "cpu", "freezer", NULL };
	char *text;

	if (size > 64 * 1024)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	for (size_t i = 0; i < sizeof(controllers) / sizeof(controllers[0]); i++) {
		struct err err = { 0 };
		char *path = NULL;
		if (cg_own_path(text, controllers[i], &path, &err) == 0)
			free(path);
	}
	free(text);
	return 0;
}

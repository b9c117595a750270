/* fuzz-archive.c - the extraction core on arbitrary bytes: the decompressors, the tar
 * reader, the entry-name rules and the tree checks. Each input is unpacked into a fresh
 * temporary directory with small limits (the input is capped at 256 KiB, what it may
 * write at 4 MiB and 1000 entries), which is removed afterwards. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "archive/internal.h"
#include "util/cleanup.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct arc_limits lim = { .max_bytes = 4 << 20, .max_entries = 1000 };
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	cleanup_close int fd = -1;
	struct err err = { 0 };
	char dir[4096];

	if (size > ((size_t) 256 << 10))
		return 0;
	if (snprintf(dir, sizeof(dir), "%s/mayfly-fuzz-archive-XXXXXX", base) >= (int) sizeof(dir))
		return 0;
	if (!mkdtemp(dir))
		return 0;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		(void) arc_extract_mem(data, size, fd, &lim, &err);
	err_clear(&err);
	(void) arc_rm_tree(AT_FDCWD, dir, &err);
	return 0;
}

/* state.h - a fresh state dir for a secrets unit test, with no master key named by the
 * environment (each test runs in its own forked child and tmpdir). */
#pragma once

#include <stdio.h>
#include <stdlib.h>

#include "test.h"

static inline const char *state(void)
{
	static char path[4096];

	unsetenv("MAYFLY_MASTER_KEY_FILE");
	unsetenv("CREDENTIALS_DIRECTORY");
	snprintf(path, sizeof(path), "%s/state", test_tmpdir());
	return path;
}

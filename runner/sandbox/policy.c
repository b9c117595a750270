/* policy.c - the seccomp policy of a sandbox, from a cache: compiling it with libseccomp
 * takes milliseconds, loading its bytes microseconds. The cache is keyed by the flags and
 * by the identity of the mayfly binary that compiled it (device, inode, size, mtime), so
 * a rebuilt or upgraded mayfly never runs an old policy. It lives in the state dir, which
 * is as trusted as the binary itself. */
#include "sandbox/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox/internal.h"
#include "seccomp/seccomp.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define POLICY_MAX_BYTES (64 * 1024)

/* Policies compiled by other builds of mayfly will not be used again: remove them. key:
 * the binary's part of our file names ("-<dev>-<ino>-..."). */
static void prune_other_binaries(int dfd, const char *key)
{
	CLEANUP(closedirp) DIR *d = NULL;
	struct err err = { 0 };
	struct dirent *de;

	if (dir_open_at(dfd, ".", &d, &err) < 0)
		return;
	while ((de = readdir(d)))
		if (str_startswith(de->d_name, "seccomp-") && str_endswith(de->d_name, ".bpf") &&
		    !strstr(de->d_name, key))
			(void) unlinkat(dfd, de->d_name, 0);
}

int policy_get(const char *state, unsigned flags, struct sc_policy **ret, struct err *err)
{
	cleanup_free char *dir = path_join(state, "cache");
	cleanup_free char *name = NULL, *path = NULL, *bytes = NULL;
	cleanup_close int dfd = -1;
	struct stat st;
	size_t len;
	int r;

	if (stat("/proc/self/exe", &st) < 0)
		return sc_policy_new(flags, ret, err);
	name = xasprintf("seccomp-%x-%llx-%llx-%llx-%lld.%09ld.bpf", flags,
			 (unsigned long long) st.st_dev, (unsigned long long) st.st_ino,
			 (unsigned long long) st.st_size, (long long) st.st_mtim.tv_sec,
			 st.st_mtim.tv_nsec);
	path = path_join(dir, name);
	if (read_file_at(AT_FDCWD, path, POLICY_MAX_BYTES, &bytes, &len, err) == 0 &&
	    sc_policy_from_bpf(flags, bytes, len, ret, err) == 0)
		return 0;
	err_clear(err);
	r = sc_policy_new(flags, ret, err);
	if (r < 0)
		return r;
	/* Best effort: a sandbox never fails because its policy could not be cached. */
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return 0;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		struct err e2 = { 0 };
		const void *bpf = sc_policy_bpf(*ret, &len);
		if (write_file_atomic_at(dfd, name, bpf, len, 0600, 0, &e2) == 0)
			prune_other_binaries(dfd, strchr(name + strlen("seccomp-"), '-'));
	}
	return 0;
}

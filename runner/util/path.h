/* path.h - path strings and directory trees: joining, creating, removing. Removal never
 * follows symlinks and never crosses into another file system (a mount left inside a
 * scratch dir is reported, not emptied). */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

struct err;

/* "a" + "/" + "b" with duplicate slashes folded; a new string. */
char *path_join(const char *a, const char *b);
/* mkdir -p with mode for every created component; existing dirs are fine. */
int mkdir_p(const char *path, mode_t mode, struct err *err);
/* rm -rf dirfd/name (AT_FDCWD for a plain path): no symlink following, no crossing of
 * mount points (-EBUSY). Missing is success. */
int rm_rf_at(int dirfd, const char *name, struct err *err);
typedef struct __dirstream DIR;
/* opendir() of dirfd/name ("." for dirfd itself), close-on-exec; dirfd stays open. */
int dir_open_at(int dirfd, const char *name, DIR **ret, struct err *err);
/* True for a normalized relative or absolute path with no "..", "." or empty parts. */
bool path_is_clean(const char *path);

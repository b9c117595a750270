/* internal.h - shared by archive/'s files, its unit tests and its fuzz target: the checks
 * on entry names, the extraction core (an archive into a directory fd, no cache), and a
 * tree remover that copes with the read-only directories images contain. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct err;

#define ARC_MAX_BYTES	(64ULL << 30) /* sum of regular file sizes in one image */
#define ARC_MAX_ENTRIES (4ULL << 20)  /* a full distribution has a few hundred thousand */
#define ARC_MAX_PATH	4095	      /* bytes in an entry name or a link target */
#define ARC_MAX_NAME	255	      /* bytes in one component */
#define ARC_MAX_DEPTH	256	      /* components; keeps tree removal within fd limits */

struct arc_limits {
	uint64_t max_bytes;   /* -EFBIG past this many bytes of file data */
	uint64_t max_entries; /* -EFBIG past this many entries, skipped ones included */
	/* Tests only: leave names, links and parents to libarchive's own SECURE_* checks,
	 * to prove that layer holds by itself. Never set outside tests. */
	bool no_own_checks;
};

extern const struct arc_limits arc_default_limits;

/* Judge an entry name (or a hardlink target): 0 when it is a clean relative path, 1 when
 * it names the image root itself ("." or "./"), -EINVAL when refused, with *ret_why a
 * static reason that says what to do ("path leaves the image; rebuild the image without
 * it"). One leading "./" and one trailing "/" are allowed; nothing else unusual is. */
int arc_check_name(const char *name, const char **ret_why);
/* A name fit for an error message: control bytes become '?', long names are cut in the
 * middle with "...". Always NUL-terminates buf; returns buf. */
const char *arc_printable(const char *name, char *buf, size_t size);

/* Unpack an archive into the directory rootfd (borrowed): read from fd (borrowed, from
 * its offset to EOF), or from size bytes at data. Errors name the entry ("entry 'x': ...")
 * and leave whatever was written in rootfd for the caller to remove. When expect_hex is
 * not NULL, every byte of fd is hashed as it is read and must give that SHA-256, else
 * -EAGAIN (the file changed under us). Returns the number of entries written. Runs in a
 * thread of its own, with its own cwd and umask (unshare(CLONE_FS)), so that neither
 * libarchive's relative paths nor its umask() calls touch the rest of the process. */
int arc_extract_fd(int fd, int rootfd, const struct arc_limits *lim, const char *expect_hex,
		   struct err *err);
int arc_extract_mem(const void *data, size_t size, int rootfd, const struct arc_limits *lim,
		    struct err *err);

/* rm -rf dirfd/name like rm_rf_at() (no symlink following, no crossing mounts), first
 * giving its directories u+rwx when plain removal is refused (images hold 0555 dirs). */
int arc_rm_tree(int dirfd, const char *name, struct err *err);

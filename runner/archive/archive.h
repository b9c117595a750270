/* archive.h - root images: unpack a tarball (tar, plain or gzip, bzip2, xz, zstd compressed)
 * into a content-addressed cache, safely. Owns every use of libarchive. Never logs. */
#pragma once

struct err;

/* Unpack `tarball` into "<cache_dir>/<sha256 of the tarball>/" unless it is there already,
 * and return that directory's path in *ret_dir (caller frees). cache_dir is created (0700)
 * if missing. The unpack is atomic (built in ".tmp-<sha256>-<pid>-<tid>", then renamed):
 * a crash or a full disk never leaves a half image, and when two callers race the loser
 * uses the winner's copy. A memo in "<cache_dir>/.memo" maps (dev, inode, size, mtime,
 * ctime) to the hash, so an unchanged tarball is not hashed again.
 *
 * Hostile entries are refused with an error naming the image and the entry: absolute
 * paths, "..", empty components, control characters, names over 4095 bytes, writing
 * through a symlink, hardlinks to anything but a file already unpacked. Symlink targets
 * are not judged: they resolve inside the sandbox, whose root is the image. Device nodes,
 * FIFOs and sockets are skipped; setuid, setgid and sticky-on-files bits are cleared;
 * ownership is not restored (everything belongs to the caller). Errors callers act on:
 * -EINVAL the archive is corrupt, truncated or hostile (the message says which entry and
 * what to do), -EFBIG past 64 GiB of file data or 4 Mi entries, -ENOSPC/-EDQUOT the cache
 * is full (nothing is left behind), -EAGAIN the tarball changed while it was read. */
int arc_unpack_image(const char *tarball, const char *cache_dir, char **ret_dir, struct err *err);
/* 1 when path is a regular file that looks like an archive by its magic bytes (gzip, xz,
 * zstd, bzip2, or "ustar" at offset 257), not its name; 0 when not (directories
 * included); -errno when it cannot be opened or read. */
int arc_is_archive(const char *path);
/* Remove what crashed runs left in cache_dir: ".tmp-*" trees whose owner is gone (its pid
 * is dead and its lock is free) and memo entries whose image is gone. Complete images are
 * kept: which ones are still wanted is the caller's knowledge. Returns how many entries
 * were removed; a missing cache_dir is 0. */
int arc_gc(const char *cache_dir, struct err *err);

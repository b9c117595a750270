/* archive.h - root images: unpack a tarball (any format and compression libarchive reads)
 * into a content-addressed cache, safely. Owns every use of libarchive. Never logs. */
#pragma once

struct err;

/* Unpack `tarball` into "<cache_dir>/<sha256 of the tarball>/" unless it is there already,
 * and return that directory's path in *ret_dir (caller frees). The unpack is atomic
 * (built in a temporary sibling, then renamed): a crash or a full disk never leaves a
 * half image. Hostile entries are refused with an error naming the entry: absolute paths,
 * "..", symlinks or hardlinks leading out of the image, device nodes and FIFOs are
 * skipped, setuid/setgid bits are cleared, ownership is not restored (everything is owned
 * by the caller). A truncated or corrupt archive fails with -EINVAL naming the offset. */
int arc_unpack_image(const char *tarball, const char *cache_dir, char **ret_dir,
		     struct err *err);
/* True when path looks like an archive (by magic bytes, not the name). */
int arc_is_archive(const char *path);

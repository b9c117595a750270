/* dl.h - libarchive, loaded when first needed. mayfly links no libarchive: it and what it
 * pulls in (libxml2, ICU, libstdc++, nettle, ...) would cost every `mayfly exec` ~2 ms of
 * start-up and ~2 MB of memory, for the rare run with a --rootfs tarball. Included by
 * extract.c after <archive.h>: each call below goes through a pointer arc_dl_load() set. */
#pragma once

#include <archive.h>
#include <archive_entry.h>

struct err;

/* dlopen libarchive and resolve what we use; idempotent and thread-safe. */
int arc_dl_load(struct err *err);

#define ARC_DL_FUNCTIONS(X)                                                                        \
	X(archive_entry_filetype)                                                                  \
	X(archive_entry_hardlink)                                                                  \
	X(archive_entry_pathname)                                                                  \
	X(archive_entry_perm)                                                                      \
	X(archive_entry_set_perm)                                                                  \
	X(archive_entry_set_size)                                                                  \
	X(archive_entry_size)                                                                      \
	X(archive_entry_symlink)                                                                   \
	X(archive_errno)                                                                           \
	X(archive_error_string)                                                                    \
	X(archive_filter_bytes)                                                                    \
	X(archive_read_data_block)                                                                 \
	X(archive_read_new)                                                                        \
	X(archive_read_free)                                                                       \
	X(archive_write_free)                                                                      \
	X(archive_read_next_header)                                                                \
	X(archive_read_open)                                                                       \
	X(archive_read_open_memory)                                                                \
	X(archive_read_support_filter_bzip2)                                                       \
	X(archive_read_support_filter_gzip)                                                        \
	X(archive_read_support_filter_xz)                                                          \
	X(archive_read_support_filter_zstd)                                                        \
	X(archive_read_support_format_tar)                                                         \
	X(archive_set_error)                                                                       \
	X(archive_write_close)                                                                     \
	X(archive_write_data_block)                                                                \
	X(archive_write_disk_new)                                                                  \
	X(archive_write_disk_set_options)                                                          \
	X(archive_write_finish_entry)                                                              \
	X(archive_write_header)

#define ARC_DL_DECLARE(f) extern __typeof__(f) *arc_dl_##f;
ARC_DL_FUNCTIONS(ARC_DL_DECLARE)

#ifndef ARC_DL_NO_REDIRECT
#define archive_entry_filetype		  (*arc_dl_archive_entry_filetype)
#define archive_entry_hardlink		  (*arc_dl_archive_entry_hardlink)
#define archive_entry_pathname		  (*arc_dl_archive_entry_pathname)
#define archive_entry_perm		  (*arc_dl_archive_entry_perm)
#define archive_entry_set_perm		  (*arc_dl_archive_entry_set_perm)
#define archive_entry_set_size		  (*arc_dl_archive_entry_set_size)
#define archive_entry_size		  (*arc_dl_archive_entry_size)
#define archive_entry_symlink		  (*arc_dl_archive_entry_symlink)
#define archive_errno			  (*arc_dl_archive_errno)
#define archive_error_string		  (*arc_dl_archive_error_string)
#define archive_filter_bytes		  (*arc_dl_archive_filter_bytes)
#define archive_read_data_block		  (*arc_dl_archive_read_data_block)
#define archive_read_new		  (*arc_dl_archive_read_new)
#define archive_read_free		  (*arc_dl_archive_read_free)
#define archive_write_free		  (*arc_dl_archive_write_free)
#define archive_read_next_header	  (*arc_dl_archive_read_next_header)
#define archive_read_open		  (*arc_dl_archive_read_open)
#define archive_read_open_memory	  (*arc_dl_archive_read_open_memory)
#define archive_read_support_filter_bzip2 (*arc_dl_archive_read_support_filter_bzip2)
#define archive_read_support_filter_gzip  (*arc_dl_archive_read_support_filter_gzip)
#define archive_read_support_filter_xz	  (*arc_dl_archive_read_support_filter_xz)
#define archive_read_support_filter_zstd  (*arc_dl_archive_read_support_filter_zstd)
#define archive_read_support_format_tar	  (*arc_dl_archive_read_support_format_tar)
#define archive_set_error		  (*arc_dl_archive_set_error)
#define archive_write_close		  (*arc_dl_archive_write_close)
#define archive_write_data_block	  (*arc_dl_archive_write_data_block)
#define archive_write_disk_new		  (*arc_dl_archive_write_disk_new)
#define archive_write_disk_set_options	  (*arc_dl_archive_write_disk_set_options)
#define archive_write_finish_entry	  (*arc_dl_archive_write_finish_entry)
#define archive_write_header		  (*arc_dl_archive_write_header)
#endif

/* dl.h - libgit2, loaded when first needed. mayfly links no libgit2: it and what it pulls
 * in (mbedTLS, libssh2, http-parser, PCRE, ...) would cost every `mayfly exec` ~1.5 ms of
 * start-up, for the runs without --repo. Included by checkout/'s files after <git2.h>:
 * each call below goes through a pointer checkout_git_init() set. */
#pragma once

#include <git2.h>
#include <git2/sys/repository.h>

#define CHECKOUT_DL_FUNCTIONS(X)                                                                   \
	X(git_blob_free)                                                                           \
	X(git_blob_lookup)                                                                         \
	X(git_blob_rawcontent)                                                                     \
	X(git_blob_rawsize)                                                                        \
	X(git_branch_iterator_free)                                                                \
	X(git_branch_iterator_new)                                                                 \
	X(git_branch_name)                                                                         \
	X(git_branch_next)                                                                         \
	X(git_buf_dispose)                                                                         \
	X(git_commit_free)                                                                         \
	X(git_commit_lookup)                                                                       \
	X(git_commit_tree)                                                                         \
	X(git_commit_tree_id)                                                                      \
	X(git_config_free)                                                                         \
	X(git_config_get_string_buf)                                                               \
	X(git_config_set_bool)                                                                     \
	X(git_config_set_int32)                                                                    \
	X(git_config_set_string)                                                                   \
	X(git_credential_ssh_key_from_agent)                                                       \
	X(git_credential_ssh_key_memory_new)                                                       \
	X(git_credential_ssh_key_new)                                                              \
	X(git_credential_username_new)                                                             \
	X(git_credential_userpass_plaintext_new)                                                   \
	X(git_diff_free)                                                                           \
	X(git_diff_get_delta)                                                                      \
	X(git_diff_num_deltas)                                                                     \
	X(git_diff_tree_to_tree)                                                                   \
	X(git_error_clear)                                                                         \
	X(git_error_last)                                                                          \
	X(git_fetch_options_init)                                                                  \
	X(git_filter_list_apply_to_blob)                                                           \
	X(git_filter_list_free)                                                                    \
	X(git_filter_list_load)                                                                    \
	X(git_index_add)                                                                           \
	X(git_index_entrycount)                                                                    \
	X(git_index_free)                                                                          \
	X(git_index_get_byindex)                                                                   \
	X(git_index_get_bypath)                                                                    \
	X(git_index_new)                                                                           \
	X(git_index_open)                                                                          \
	X(git_index_read_tree)                                                                     \
	X(git_index_remove)                                                                        \
	X(git_index_remove_directory)                                                              \
	X(git_index_write)                                                                         \
	X(git_libgit2_init)                                                                        \
	X(git_libgit2_opts)                                                                        \
	X(git_object_free)                                                                         \
	X(git_object_id)                                                                           \
	X(git_object_lookup)                                                                       \
	X(git_object_lookup_prefix)                                                                \
	X(git_object_peel)                                                                         \
	X(git_object_type)                                                                         \
	X(git_object_type2string)                                                                  \
	X(git_odb_exists)                                                                          \
	X(git_odb_free)                                                                            \
	X(git_odb_hash)                                                                            \
	X(git_odb_hashfile)                                                                        \
	X(git_odb_object_data)                                                                     \
	X(git_odb_object_free)                                                                     \
	X(git_odb_object_size)                                                                     \
	X(git_odb_open)                                                                            \
	X(git_odb_read)                                                                            \
	X(git_odb_read_header)                                                                     \
	X(git_odb_write)                                                                           \
	X(git_oid_cpy)                                                                             \
	X(git_oid_equal)                                                                           \
	X(git_oid_fromstr)                                                                         \
	X(git_oid_fromstrn)                                                                        \
	X(git_oid_tostr)                                                                           \
	X(git_reference_delete)                                                                    \
	X(git_reference_dwim)                                                                      \
	X(git_reference_free)                                                                      \
	X(git_reference_is_branch)                                                                 \
	X(git_reference_iterator_free)                                                             \
	X(git_reference_iterator_glob_new)                                                         \
	X(git_reference_iterator_new)                                                              \
	X(git_reference_lookup)                                                                    \
	X(git_reference_name)                                                                      \
	X(git_reference_name_is_valid)                                                             \
	X(git_reference_name_to_id)                                                                \
	X(git_reference_next)                                                                      \
	X(git_reference_peel)                                                                      \
	X(git_reference_resolve)                                                                   \
	X(git_reference_shorthand)                                                                 \
	X(git_reference_symbolic_create)                                                           \
	X(git_reference_symbolic_target)                                                           \
	X(git_reference_target)                                                                    \
	X(git_reference_type)                                                                      \
	X(git_remote_create_options_init)                                                          \
	X(git_remote_create_with_opts)                                                             \
	X(git_remote_default_branch)                                                               \
	X(git_remote_fetch)                                                                        \
	X(git_remote_free)                                                                         \
	X(git_remote_lookup)                                                                       \
	X(git_repository_commondir)                                                                \
	X(git_repository_config)                                                                   \
	X(git_repository_config_snapshot)                                                          \
	X(git_repository_free)                                                                     \
	X(git_repository_head)                                                                     \
	X(git_repository_index)                                                                    \
	X(git_repository_init_ext)                                                                 \
	X(git_repository_init_options_init)                                                        \
	X(git_repository_is_bare)                                                                  \
	X(git_repository_odb)                                                                      \
	X(git_repository_open_ext)                                                                 \
	X(git_repository_path)                                                                     \
	X(git_repository_set_index)                                                                \
	X(git_repository_workdir)                                                                  \
	X(git_status_byindex)                                                                      \
	X(git_status_list_entrycount)                                                              \
	X(git_status_list_free)                                                                    \
	X(git_status_list_new)                                                                     \
	X(git_status_options_init)                                                                 \
	X(git_tree_entry_byindex)                                                                  \
	X(git_tree_entry_byname)                                                                   \
	X(git_tree_entry_bypath)                                                                   \
	X(git_tree_entry_filemode)                                                                 \
	X(git_tree_entry_free)                                                                     \
	X(git_tree_entry_id)                                                                       \
	X(git_tree_entry_name)                                                                     \
	X(git_tree_entrycount)                                                                     \
	X(git_tree_free)                                                                           \
	X(git_tree_id)                                                                             \
	X(git_tree_lookup)                                                                         \
	X(git_tree_walk)

#define CHECKOUT_DL_DECLARE(f) extern __typeof__(f) *checkout_dl_##f;
CHECKOUT_DL_FUNCTIONS(CHECKOUT_DL_DECLARE)

#ifndef CHECKOUT_DL_NO_REDIRECT
#define git_blob_free			      (*checkout_dl_git_blob_free)
#define git_blob_lookup			      (*checkout_dl_git_blob_lookup)
#define git_blob_rawcontent		      (*checkout_dl_git_blob_rawcontent)
#define git_blob_rawsize		      (*checkout_dl_git_blob_rawsize)
#define git_branch_iterator_free	      (*checkout_dl_git_branch_iterator_free)
#define git_branch_iterator_new		      (*checkout_dl_git_branch_iterator_new)
#define git_branch_name			      (*checkout_dl_git_branch_name)
#define git_branch_next			      (*checkout_dl_git_branch_next)
#define git_buf_dispose			      (*checkout_dl_git_buf_dispose)
#define git_commit_free			      (*checkout_dl_git_commit_free)
#define git_commit_lookup		      (*checkout_dl_git_commit_lookup)
#define git_commit_tree			      (*checkout_dl_git_commit_tree)
#define git_commit_tree_id		      (*checkout_dl_git_commit_tree_id)
#define git_config_free			      (*checkout_dl_git_config_free)
#define git_config_get_string_buf	      (*checkout_dl_git_config_get_string_buf)
#define git_config_set_bool		      (*checkout_dl_git_config_set_bool)
#define git_config_set_int32		      (*checkout_dl_git_config_set_int32)
#define git_config_set_string		      (*checkout_dl_git_config_set_string)
#define git_credential_ssh_key_from_agent     (*checkout_dl_git_credential_ssh_key_from_agent)
#define git_credential_ssh_key_memory_new     (*checkout_dl_git_credential_ssh_key_memory_new)
#define git_credential_ssh_key_new	      (*checkout_dl_git_credential_ssh_key_new)
#define git_credential_username_new	      (*checkout_dl_git_credential_username_new)
#define git_credential_userpass_plaintext_new (*checkout_dl_git_credential_userpass_plaintext_new)
#define git_diff_free			      (*checkout_dl_git_diff_free)
#define git_diff_get_delta		      (*checkout_dl_git_diff_get_delta)
#define git_diff_num_deltas		      (*checkout_dl_git_diff_num_deltas)
#define git_diff_tree_to_tree		      (*checkout_dl_git_diff_tree_to_tree)
#define git_error_clear			      (*checkout_dl_git_error_clear)
#define git_error_last			      (*checkout_dl_git_error_last)
#define git_fetch_options_init		      (*checkout_dl_git_fetch_options_init)
#define git_filter_list_apply_to_blob	      (*checkout_dl_git_filter_list_apply_to_blob)
#define git_filter_list_free		      (*checkout_dl_git_filter_list_free)
#define git_filter_list_load		      (*checkout_dl_git_filter_list_load)
#define git_index_add			      (*checkout_dl_git_index_add)
#define git_index_entrycount		      (*checkout_dl_git_index_entrycount)
#define git_index_free			      (*checkout_dl_git_index_free)
#define git_index_get_byindex		      (*checkout_dl_git_index_get_byindex)
#define git_index_get_bypath		      (*checkout_dl_git_index_get_bypath)
#define git_index_new			      (*checkout_dl_git_index_new)
#define git_index_open			      (*checkout_dl_git_index_open)
#define git_index_read_tree		      (*checkout_dl_git_index_read_tree)
#define git_index_remove		      (*checkout_dl_git_index_remove)
#define git_index_remove_directory	      (*checkout_dl_git_index_remove_directory)
#define git_index_write			      (*checkout_dl_git_index_write)
#define git_libgit2_init		      (*checkout_dl_git_libgit2_init)
#define git_libgit2_opts		      (*checkout_dl_git_libgit2_opts)
#define git_object_free			      (*checkout_dl_git_object_free)
#define git_object_id			      (*checkout_dl_git_object_id)
#define git_object_lookup		      (*checkout_dl_git_object_lookup)
#define git_object_lookup_prefix	      (*checkout_dl_git_object_lookup_prefix)
#define git_object_peel			      (*checkout_dl_git_object_peel)
#define git_object_type			      (*checkout_dl_git_object_type)
#define git_object_type2string		      (*checkout_dl_git_object_type2string)
#define git_odb_exists			      (*checkout_dl_git_odb_exists)
#define git_odb_free			      (*checkout_dl_git_odb_free)
#define git_odb_hash			      (*checkout_dl_git_odb_hash)
#define git_odb_hashfile		      (*checkout_dl_git_odb_hashfile)
#define git_odb_object_data		      (*checkout_dl_git_odb_object_data)
#define git_odb_object_free		      (*checkout_dl_git_odb_object_free)
#define git_odb_object_size		      (*checkout_dl_git_odb_object_size)
#define git_odb_open			      (*checkout_dl_git_odb_open)
#define git_odb_read			      (*checkout_dl_git_odb_read)
#define git_odb_read_header		      (*checkout_dl_git_odb_read_header)
#define git_odb_write			      (*checkout_dl_git_odb_write)
#define git_oid_cpy			      (*checkout_dl_git_oid_cpy)
#define git_oid_equal			      (*checkout_dl_git_oid_equal)
#define git_oid_fromstr			      (*checkout_dl_git_oid_fromstr)
#define git_oid_fromstrn		      (*checkout_dl_git_oid_fromstrn)
#define git_oid_tostr			      (*checkout_dl_git_oid_tostr)
#define git_reference_delete		      (*checkout_dl_git_reference_delete)
#define git_reference_dwim		      (*checkout_dl_git_reference_dwim)
#define git_reference_free		      (*checkout_dl_git_reference_free)
#define git_reference_is_branch		      (*checkout_dl_git_reference_is_branch)
#define git_reference_iterator_free	      (*checkout_dl_git_reference_iterator_free)
#define git_reference_iterator_glob_new	      (*checkout_dl_git_reference_iterator_glob_new)
#define git_reference_iterator_new	      (*checkout_dl_git_reference_iterator_new)
#define git_reference_lookup		      (*checkout_dl_git_reference_lookup)
#define git_reference_name		      (*checkout_dl_git_reference_name)
#define git_reference_name_is_valid	      (*checkout_dl_git_reference_name_is_valid)
#define git_reference_name_to_id	      (*checkout_dl_git_reference_name_to_id)
#define git_reference_next		      (*checkout_dl_git_reference_next)
#define git_reference_peel		      (*checkout_dl_git_reference_peel)
#define git_reference_resolve		      (*checkout_dl_git_reference_resolve)
#define git_reference_shorthand		      (*checkout_dl_git_reference_shorthand)
#define git_reference_symbolic_create	      (*checkout_dl_git_reference_symbolic_create)
#define git_reference_symbolic_target	      (*checkout_dl_git_reference_symbolic_target)
#define git_reference_target		      (*checkout_dl_git_reference_target)
#define git_reference_type		      (*checkout_dl_git_reference_type)
#define git_remote_create_options_init	      (*checkout_dl_git_remote_create_options_init)
#define git_remote_create_with_opts	      (*checkout_dl_git_remote_create_with_opts)
#define git_remote_default_branch	      (*checkout_dl_git_remote_default_branch)
#define git_remote_fetch		      (*checkout_dl_git_remote_fetch)
#define git_remote_free			      (*checkout_dl_git_remote_free)
#define git_remote_lookup		      (*checkout_dl_git_remote_lookup)
#define git_repository_commondir	      (*checkout_dl_git_repository_commondir)
#define git_repository_config		      (*checkout_dl_git_repository_config)
#define git_repository_config_snapshot	      (*checkout_dl_git_repository_config_snapshot)
#define git_repository_free		      (*checkout_dl_git_repository_free)
#define git_repository_head		      (*checkout_dl_git_repository_head)
#define git_repository_index		      (*checkout_dl_git_repository_index)
#define git_repository_init_ext		      (*checkout_dl_git_repository_init_ext)
#define git_repository_init_options_init      (*checkout_dl_git_repository_init_options_init)
#define git_repository_is_bare		      (*checkout_dl_git_repository_is_bare)
#define git_repository_odb		      (*checkout_dl_git_repository_odb)
#define git_repository_open_ext		      (*checkout_dl_git_repository_open_ext)
#define git_repository_path		      (*checkout_dl_git_repository_path)
#define git_repository_set_index	      (*checkout_dl_git_repository_set_index)
#define git_repository_workdir		      (*checkout_dl_git_repository_workdir)
#define git_status_byindex		      (*checkout_dl_git_status_byindex)
#define git_status_list_entrycount	      (*checkout_dl_git_status_list_entrycount)
#define git_status_list_free		      (*checkout_dl_git_status_list_free)
#define git_status_list_new		      (*checkout_dl_git_status_list_new)
#define git_status_options_init		      (*checkout_dl_git_status_options_init)
#define git_tree_entry_byindex		      (*checkout_dl_git_tree_entry_byindex)
#define git_tree_entry_byname		      (*checkout_dl_git_tree_entry_byname)
#define git_tree_entry_bypath		      (*checkout_dl_git_tree_entry_bypath)
#define git_tree_entry_filemode		      (*checkout_dl_git_tree_entry_filemode)
#define git_tree_entry_free		      (*checkout_dl_git_tree_entry_free)
#define git_tree_entry_id		      (*checkout_dl_git_tree_entry_id)
#define git_tree_entry_name		      (*checkout_dl_git_tree_entry_name)
#define git_tree_entrycount		      (*checkout_dl_git_tree_entrycount)
#define git_tree_free			      (*checkout_dl_git_tree_free)
#define git_tree_id			      (*checkout_dl_git_tree_id)
#define git_tree_lookup			      (*checkout_dl_git_tree_lookup)
#define git_tree_walk			      (*checkout_dl_git_tree_walk)
#endif

/* seccomp.h - syscall filters for job processes. Owns every use of libseccomp. Never
 * logs. The policy is an allowlist shaped after Docker's default profile, native
 * architecture only, with the must-block table of docs/security.md answering with stable
 * errnos. A policy is compiled to classic BPF once, in the parent, so loading it in the
 * sandbox is a single syscall. */
#pragma once

#include <stddef.h>

struct err;
struct sc_policy; /* opaque */

enum sc_flags {
	SC_ALLOW_PTRACE = 1 << 0, /* ptrace + process_vm_readv/writev, for debugging jobs */
	SC_ALLOW_PERF = 1 << 1,	  /* perf_event_open, for profiling jobs */
	SC_LOG = 1 << 2,	  /* log denials to the kernel audit log */
};

/* Build and compile the policy (flags: enum sc_flags). On success *ret_policy belongs to
 * the caller (free with sc_policy_free()); on failure it is untouched. */
int sc_policy_new(unsigned flags, struct sc_policy **ret_policy, struct err *err);
struct sc_policy *sc_policy_free(struct sc_policy *p); /* NULL-safe, returns NULL */

/* The compiled program's bytes (borrowed), and a policy made back from them: compiling
 * takes milliseconds, so callers may cache the bytes (keyed by flags and the binary that
 * compiled them). sc_policy_from_bpf() checks only that the bytes are a whole program of
 * a valid length: the cache must be as trusted as the binary. */
const void *sc_policy_bpf(const struct sc_policy *p, size_t *ret_len);
int sc_policy_from_bpf(unsigned flags, const void *bpf, size_t len, struct sc_policy **ret_policy,
		       struct err *err);

/* Install the compiled filter on the calling thread. PR_SET_NO_NEW_PRIVS must already be
 * set (or the caller must hold CAP_SYS_ADMIN in its user namespace). Async-signal-safe:
 * it allocates nothing, so it may run in a freshly cloned child. -errno on failure. */
int sc_policy_load(const struct sc_policy *p);

#include "util/cleanup.h"
DEFINE_CLEANUP(struct sc_policy *, sc_policy_free)

/* internal.h - what the files of the seccomp module share: the compiled policy, the action
 * table (table.c: what the policy says) that policy.c compiles (how) and load.c installs.
 * Unit tests include it to check the compiled program against the table. */
#pragma once

#include <linux/filter.h>
#include <stddef.h>
#include <stdint.h>

/* What happens to one syscall. The table names answers even where they equal the default
 * (ENOSYS), so that they stay if the default changes; libseccomp refuses a rule that
 * repeats the default, so policy.c leaves those to it. */
enum sc_rule {
	SC_RULE_ALLOW,	/* allowed, whatever the arguments */
	SC_RULE_EPERM,	/* must-block table of security.md §4.2: EPERM */
	SC_RULE_ENOSYS, /* must-block table: ENOSYS, so that callers fall back cleanly */
	SC_RULE_ARGS,	/* decided by its arguments: policy.c has one builder per syscall */
	SC_RULE_PTRACE, /* EPERM unless SC_ALLOW_PTRACE */
	SC_RULE_PERF,	/* EPERM unless SC_ALLOW_PERF */
};

struct sc_syscall {
	const char *name; /* as libseccomp and the kernel's syscall tables spell it */
	enum sc_rule rule;
	/* The number, for syscalls added since Linux 5.1 (424 and up): one number on every
	 * architecture, used when libseccomp is older than the syscall. 0 for older ones. */
	int nr;
};

/* The action table: every syscall the policy names. Anything else gets ENOSYS. Names
 * that do not exist on the native architecture (vm86 on x86_64, open on aarch64) are
 * skipped. */
extern const struct sc_syscall sc_syscall_table[];
extern const size_t sc_syscall_table_len;

/* A list of argument values, for the SC_RULE_ARGS syscalls. */
struct sc_values {
	const uint64_t *v;
	size_t n;
};

extern const struct sc_values sc_clone_ns_flags;      /* clone: any of these, EPERM */
extern const struct sc_values sc_socket_families;     /* socket: else EAFNOSUPPORT */
extern const struct sc_values sc_socket_inet_types;   /* AF_INET/AF_INET6: else EPERM */
extern const struct sc_values sc_socketpair_families; /* socketpair: else EAFNOSUPPORT */
extern const struct sc_values sc_ioctl_denied;	      /* ioctl: these EPERM */
extern const struct sc_values sc_personality_allowed; /* personality: else EPERM */

/* The compiled filter. Immutable once built, so sc_policy_load() only reads it. */
struct sc_policy {
	unsigned flags;		/* enum sc_flags it was built with */
	struct sock_fprog prog; /* .filter points at insns */
	struct sock_filter insns[];
};

/* The native syscall number of a table entry; -ENOSYS when the native architecture has no
 * such syscall, -ENOENT when no architecture libseccomp knows has one and the entry
 * carries no number (a typo, or a syscall newer than libseccomp). Both are skipped. */
int sc_syscall_nr(const struct sc_syscall *s);

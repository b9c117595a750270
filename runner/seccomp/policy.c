/* policy.c - compile the action table (table.c) into classic BPF with libseccomp, once, in
 * the parent, so that the sandbox only has to install it (load.c).
 *
 * libseccomp takes one comparison per argument in a rule, and when two rules for the
 * same syscall overlap it keeps the broader one without a word: "allow ioctl" plus
 * "ioctl TIOCSTI: EPERM" compiles to "allow ioctl". So every argument-dependent syscall
 * here is spelled as disjoint masked-equal rules that together cover all values (see
 * add_complement()), and the unit tests run the compiled program against the table. */
#include "seccomp/seccomp.h"

#include <errno.h>
#include <linux/filter.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <seccomp.h>

#include "seccomp/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define SC_FLAGS_ALL (SC_ALLOW_PTRACE | SC_ALLOW_PERF | SC_LOG)

/* What a syscall nobody named answers: ENOSYS, so that programs probing a syscall newer
 * than the policy fall back as on an older kernel (Docker and Flatpak answer clone3 so). */
#define DEFAULT_ACTION SCMP_ACT_ERRNO(ENOSYS)

/* The kernel reads int and unsigned int arguments from the low 32 bits of the register;
 * the upper half may hold anything (a sign-extended int from musl's ioctl(), garbage from
 * hand-written assembly). Rules on such arguments compare only what the kernel reads,
 * so high bits can neither slip a request past a deny rule (CVE-2019-10063) nor turn an
 * allowed call into ENOSYS. */
#define ARG32 UINT64_C(0xffffffff)
/* The type argument of socket(2) keeps SOCK_NONBLOCK and SOCK_CLOEXEC above these bits. */
#define SOCK_TYPE_BITS UINT64_C(0xf)

#if defined(__s390__) || defined(__s390x__)
#error "clone(2) takes its flags as the second argument on s390: add_clone() needs a change"
#endif

typedef int arg_rules_fn(scmp_filter_ctx ctx, int nr, unsigned flags, struct err *err);

static void ctx_releasep(scmp_filter_ctx *ctx)
{
	if (*ctx)
		seccomp_release(*ctx);
}

static struct scmp_arg_cmp masked_eq(unsigned arg, uint64_t mask, uint64_t value)
{
	return (struct scmp_arg_cmp){
		.arg = arg, .op = SCMP_CMP_MASKED_EQ, .datum_a = mask, .datum_b = value
	};
}

static int add_rule(scmp_filter_ctx ctx, uint32_t action, int nr, unsigned ncmp,
		    const struct scmp_arg_cmp *cmp, struct err *err)
{
	int r = seccomp_rule_add_exact_array(ctx, action, nr, ncmp, cmp);

	if (r < 0)
		return err_set(err, r, "add seccomp rule for syscall %d", nr);
	return 0;
}

struct cover {
	scmp_filter_ctx ctx;
	uint32_t action;
	int nr;
	const struct scmp_arg_cmp *pre; /* ANDed in front of each rule; may be NULL */
	unsigned arg;
	uint64_t width; /* 2^k - 1: the bits of the argument that count */
	const struct sc_values *values;
};

static bool cover_has_value(const struct cover *c, uint64_t mask, uint64_t prefix)
{
	for (size_t i = 0; i < c->values->n; i++)
		if ((c->values->v[i] & mask) == prefix)
			return true;
	return false;
}

/* Below `prefix` (the bits above `bit`), each half that holds no listed value becomes one
 * rule; a half that holds one is split further. */
static int cover_split(const struct cover *c, uint64_t prefix, int bit, struct err *err)
{
	uint64_t mask = c->width & ~((UINT64_C(1) << bit) - 1);

	for (uint64_t half = 0; half < 2; half++) {
		uint64_t q = prefix | half << bit;
		struct scmp_arg_cmp cmp[2];
		unsigned n = 0;
		int r;

		if (cover_has_value(c, mask, q)) {
			r = bit > 0 ? cover_split(c, q, bit - 1, err) : 0;
		} else {
			if (c->pre)
				cmp[n++] = *c->pre;
			cmp[n++] = masked_eq(c->arg, mask, q);
			r = add_rule(c->ctx, c->action, c->nr, n, cmp, err);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* Rules with `action` matching exactly the calls whose argument `arg`, cut to `width`,
 * is none of `values`: the branches off the values' binary trie, at most one per value
 * and bit, all disjoint from each other and from rules on the values themselves. */
static int add_complement(scmp_filter_ctx ctx, uint32_t action, int nr,
			  const struct scmp_arg_cmp *pre, unsigned arg, uint64_t width,
			  const struct sc_values *values, struct err *err)
{
	const struct cover c = { ctx, action, nr, pre, arg, width, values };
	int top = 63 - __builtin_clzll(width);

	return cover_split(&c, 0, top, err);
}

static int add_each(scmp_filter_ctx ctx, uint32_t action, int nr, const struct scmp_arg_cmp *pre,
		    unsigned arg, uint64_t width, const struct sc_values *values, struct err *err)
{
	for (size_t i = 0; i < values->n; i++) {
		struct scmp_arg_cmp cmp[2];
		unsigned n = 0;
		int r;

		if (pre)
			cmp[n++] = *pre;
		cmp[n++] = masked_eq(arg, width, values->v[i]);
		r = add_rule(ctx, action, nr, n, cmp, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* clone(flags, ...): EPERM when any namespace flag is set, one rule per flag; allowed when
 * none is. The EPERM rules overlap each other, but with one action, so whichever
 * libseccomp keeps gives the same answer; the allow rule overlaps none of them. */
static int add_clone(scmp_filter_ctx ctx, int nr, unsigned flags, struct err *err)
{
	struct scmp_arg_cmp none;
	uint64_t all = 0;
	int r;

	for (size_t i = 0; i < sc_clone_ns_flags.n; i++) {
		uint64_t f = sc_clone_ns_flags.v[i];
		const struct scmp_arg_cmp cmp = masked_eq(0, f, f);

		all |= f;
		r = add_rule(ctx, SCMP_ACT_ERRNO(EPERM), nr, 1, &cmp, err);
		if (r < 0)
			return r;
	}
	none = masked_eq(0, all, 0);
	return add_rule(ctx, SCMP_ACT_ALLOW, nr, 1, &none, err);
}

/* socket(family, type, protocol): allowed families, AF_INET and AF_INET6 only with
 * allowed types (others EPERM), every other family EAFNOSUPPORT. */
static int add_socket(scmp_filter_ctx ctx, int nr, unsigned flags, struct err *err)
{
	int r;

	for (size_t i = 0; i < sc_socket_families.n; i++) {
		uint64_t family = sc_socket_families.v[i];
		const struct scmp_arg_cmp fam = masked_eq(0, ARG32, family);

		if (family == AF_INET || family == AF_INET6) {
			r = add_each(ctx, SCMP_ACT_ALLOW, nr, &fam, 1, SOCK_TYPE_BITS,
				     &sc_socket_inet_types, err);
			if (r >= 0)
				r = add_complement(ctx, SCMP_ACT_ERRNO(EPERM), nr, &fam, 1,
						   SOCK_TYPE_BITS, &sc_socket_inet_types, err);
		} else
			r = add_rule(ctx, SCMP_ACT_ALLOW, nr, 1, &fam, err);
		if (r < 0)
			return r;
	}
	return add_complement(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), nr, NULL, 0, ARG32,
			      &sc_socket_families, err);
}

static int add_socketpair(scmp_filter_ctx ctx, int nr, unsigned flags, struct err *err)
{
	int r = add_each(ctx, SCMP_ACT_ALLOW, nr, NULL, 0, ARG32, &sc_socketpair_families, err);

	if (r < 0)
		return r;
	return add_complement(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), nr, NULL, 0, ARG32,
			      &sc_socketpair_families, err);
}

/* ioctl(fd, request, ...): the denied requests EPERM, every other request allowed. */
static int add_ioctl(scmp_filter_ctx ctx, int nr, unsigned flags, struct err *err)
{
	int r = add_each(ctx, SCMP_ACT_ERRNO(EPERM), nr, NULL, 1, ARG32, &sc_ioctl_denied, err);

	if (r < 0)
		return r;
	return add_complement(ctx, SCMP_ACT_ALLOW, nr, NULL, 1, ARG32, &sc_ioctl_denied, err);
}

/* personality(persona): the allowed values as allow rules, every other value EPERM
 * (Docker gets EPERM from its default action; ours is ENOSYS). */
static int add_personality(scmp_filter_ctx ctx, int nr, unsigned flags, struct err *err)
{
	int r = add_each(ctx, SCMP_ACT_ALLOW, nr, NULL, 0, ARG32, &sc_personality_allowed, err);

	if (r < 0)
		return r;
	return add_complement(ctx, SCMP_ACT_ERRNO(EPERM), nr, NULL, 0, ARG32,
			      &sc_personality_allowed, err);
}

static const struct {
	const char *name;
	arg_rules_fn *add;
} arg_rules[] = {
	{ "clone", add_clone },
	{ "ioctl", add_ioctl },
	{ "personality", add_personality },
	{ "socket", add_socket },
	{ "socketpair", add_socketpair },
};

int sc_syscall_nr(const struct sc_syscall *s)
{
	int nr = seccomp_syscall_resolve_name_arch(SCMP_ARCH_NATIVE, s->name);

	if (nr == __NR_SCMP_ERROR) /* libseccomp is older than the syscall, or a typo */
		return s->nr > 0 ? s->nr : -ENOENT;
	return nr >= 0 ? nr : -ENOSYS; /* libseccomp's pseudo number for another arch's call */
}

static int add_syscall(scmp_filter_ctx ctx, const struct sc_syscall *s, unsigned flags,
		       struct err *err)
{
	int nr = sc_syscall_nr(s);
	uint32_t action;
	int r;

	if (nr < 0)
		return 0;
	switch (s->rule) {
	case SC_RULE_ALLOW:
		action = SCMP_ACT_ALLOW;
		break;
	case SC_RULE_EPERM:
		action = SCMP_ACT_ERRNO(EPERM);
		break;
	case SC_RULE_ENOSYS:
		action = SCMP_ACT_ERRNO(ENOSYS);
		break;
	case SC_RULE_PTRACE:
		action = flags & SC_ALLOW_PTRACE ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO(EPERM);
		break;
	case SC_RULE_PERF:
		action = flags & SC_ALLOW_PERF ? SCMP_ACT_ALLOW : SCMP_ACT_ERRNO(EPERM);
		break;
	case SC_RULE_ARGS:
		for (size_t i = 0; i < ARRAY_SIZE(arg_rules); i++) {
			if (strcmp(arg_rules[i].name, s->name) != 0)
				continue;
			r = arg_rules[i].add(ctx, nr, flags, err);
			return r < 0 ? err_wrap(err, "'%s'", s->name) : 0;
		}
		return err_set(err, EINVAL, "seccomp table: no argument rules for '%s'", s->name);
	default:
		return err_set(err, EINVAL, "seccomp table: bad rule %d for '%s'", (int) s->rule,
			       s->name);
	}
	/* libseccomp refuses a rule that repeats the default action (EACCES): the table
	 * still names the syscall so that its answer stays if the default changes. */
	if (action == DEFAULT_ACTION)
		return 0;
	r = seccomp_rule_add_exact(ctx, action, nr, 0);
	if (r < 0)
		return err_set(err, r, "add seccomp rule for '%s'", s->name);
	return 0;
}

static struct sc_policy *policy_alloc(unsigned flags, size_t len)
{
	struct sc_policy *p = xmalloc(sizeof(*p) + len);

	p->flags = flags;
	p->prog.len = (unsigned short) (len / sizeof(struct sock_filter));
	p->prog.filter = p->insns;
	return p;
}

/* libseccomp 2.5 exports only to a file descriptor: export into a memfd and read it
 * back, bounded by the kernel's own limit on a filter's length. */
static int export_bpf(scmp_filter_ctx ctx, unsigned flags, struct sc_policy **ret_policy,
		      struct err *err)
{
	cleanup_close int fd = memfd_create("mayfly-seccomp", MFD_CLOEXEC);
	cleanup_free struct sc_policy *p = NULL;
	struct stat st;
	size_t len;
	int r;

	if (fd < 0)
		return err_set(err, errno, "memfd_create for the seccomp filter");
	r = seccomp_export_bpf(ctx, fd);
	if (r < 0)
		return err_set(err, r, "export seccomp filter");
	if (fstat(fd, &st) < 0)
		return err_set(err, errno, "stat exported seccomp filter");
	if (st.st_size <= 0 || st.st_size > BPF_MAXINSNS * (off_t) sizeof(struct sock_filter) ||
	    st.st_size % (off_t) sizeof(struct sock_filter) != 0)
		return err_set(err, E2BIG, "seccomp filter of %lld bytes (at most %d instructions)",
			       (long long) st.st_size, BPF_MAXINSNS);
	len = (size_t) st.st_size;
	p = policy_alloc(flags, len);
	if (lseek(fd, 0, SEEK_SET) < 0)
		return err_set(err, errno, "seek exported seccomp filter");
	r = fd_read_exact(fd, p->insns, len);
	if (r < 0)
		return err_set(err, r, "read exported seccomp filter");
	*ret_policy = TAKE_PTR(p);
	return 0;
}

int sc_policy_new(unsigned flags, struct sc_policy **ret_policy, struct err *err)
{
	CLEANUP(ctx_releasep) scmp_filter_ctx ctx = NULL;
	int r;

	if (flags & ~SC_FLAGS_ALL)
		return err_set(err, EINVAL, "seccomp policy: unknown flags %#x",
			       flags & ~SC_FLAGS_ALL);
	ctx = seccomp_init(DEFAULT_ACTION);
	if (!ctx)
		return err_set(err, EOPNOTSUPP, "seccomp_init for the native architecture");
	/* SECURITY: only the native ABI. i386 (int 0x80) and x32 calls would see a different
	 * syscall table, and i386 multiplexes sockets through socketcall(2), whose
	 * arguments seccomp cannot read. */
	r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (r < 0)
		return err_set(err, r, "seccomp: kill on foreign architecture");
	/* A binary tree of syscall numbers: a few comparisons per syscall, not hundreds. */
	r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (r < 0)
		return err_set(err, r, "seccomp: binary tree optimization");
	for (size_t i = 0; i < sc_syscall_table_len; i++) {
		r = add_syscall(ctx, &sc_syscall_table[i], flags, err);
		if (r < 0)
			return r;
	}
	return export_bpf(ctx, flags, ret_policy, err);
}

const void *sc_policy_bpf(const struct sc_policy *p, size_t *ret_len)
{
	*ret_len = (size_t) p->prog.len * sizeof(struct sock_filter);
	return p->insns;
}

int sc_policy_from_bpf(unsigned flags, const void *bpf, size_t len, struct sc_policy **ret_policy,
		       struct err *err)
{
	struct sc_policy *p;

	if (len == 0 || len > BPF_MAXINSNS * sizeof(struct sock_filter) ||
	    len % sizeof(struct sock_filter) != 0)
		return err_set(err, EINVAL, "seccomp filter of %zu bytes is not a whole program",
			       len);
	p = policy_alloc(flags, len);
	memcpy(p->insns, bpf, len);
	*ret_policy = p;
	return 0;
}

struct sc_policy *sc_policy_free(struct sc_policy *p)
{
	free(p);
	return NULL;
}

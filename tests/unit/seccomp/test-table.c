/* test-table.c - the compiled BPF program against the action table and against the spec,
 * by running it in a small classic-BPF interpreter over every syscall number and over
 * whole ranges of argument values. libseccomp drops a rule that overlaps a broader one
 * without a word, so "the rule was added" proves nothing; only running the program does.
 * One test checks that the interpreter and the kernel agree. */
#include "seccomp/seccomp.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "seccomp/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "test.h"

#if defined(__x86_64__)
#define NATIVE_ARCH  AUDIT_ARCH_X86_64
#define FOREIGN_ARCH AUDIT_ARCH_I386
#elif defined(__aarch64__)
#define NATIVE_ARCH  AUDIT_ARCH_AARCH64
#define FOREIGN_ARCH AUDIT_ARCH_ARM
#else
#error "seccomp tests know x86_64 and aarch64"
#endif

#define ALLOW	  SECCOMP_RET_ALLOW
#define ERRNO(e)  (SECCOMP_RET_ERRNO | (uint32_t) (e))
#define KILL	  SECCOMP_RET_KILL_PROCESS
#define MAX_NR	  1024
#define HIGH32	  UINT64_C(0xffffffff00000000)
#define LOW32(v)  ((v) &UINT64_C(0xffffffff))
#define MAX_CHECK 16

/* The spec's values (docs/security.md §4.2), written out again rather than taken from
 * table.c, so that a wrong table fails here. */
static const uint64_t spec_clone_ns = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
				      CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;
static const uint64_t spec_personality[] = { 0x0, 0x8, 0x20000, 0x20008, 0xffffffff };

static struct sc_policy *policy(unsigned flags)
{
	struct sc_policy *p = NULL;
	struct err err = { 0 };

	if (sc_policy_new(flags, &p, &err) < 0)
		test_fail(__FILE__, __LINE__, "sc_policy_new: %s", err.msg);
	return p;
}

/* Classic BPF as the kernel runs it for seccomp: the opcodes libseccomp emits, and a
 * failure for any other. */
static uint32_t bpf_run(const struct sock_fprog *prog, const struct seccomp_data *d)
{
	uint32_t a = 0, x = 0, mem[BPF_MEMWORDS] = { 0 };

	for (unsigned pc = 0; pc < prog->len; pc++) {
		const struct sock_filter *f = &prog->filter[pc];
		uint32_t k = f->k;

		switch (f->code) {
		case BPF_LD | BPF_W | BPF_ABS:
			if (k % 4 != 0 || k + 4 > sizeof(*d))
				test_fail(__FILE__, __LINE__, "load at %u out of range", k);
			memcpy(&a, (const char *) d + k, sizeof(a));
			break;
		case BPF_LD | BPF_IMM:
			a = k;
			break;
		case BPF_LDX | BPF_IMM:
			x = k;
			break;
		case BPF_LD | BPF_MEM:
		case BPF_LDX | BPF_MEM:
		case BPF_ST:
		case BPF_STX:
			if (k >= BPF_MEMWORDS)
				test_fail(__FILE__, __LINE__, "scratch word %u", k);
			if (f->code == (BPF_LD | BPF_MEM))
				a = mem[k];
			else if (f->code == (BPF_LDX | BPF_MEM))
				x = mem[k];
			else
				mem[k] = f->code == BPF_ST ? a : x;
			break;
		case BPF_ALU | BPF_AND | BPF_K:
			a &= k;
			break;
		case BPF_ALU | BPF_OR | BPF_K:
			a |= k;
			break;
		case BPF_MISC | BPF_TAX:
			x = a;
			break;
		case BPF_MISC | BPF_TXA:
			a = x;
			break;
		case BPF_JMP | BPF_JA:
			pc += k;
			break;
		case BPF_JMP | BPF_JEQ | BPF_K:
			pc += a == k ? f->jt : f->jf;
			break;
		case BPF_JMP | BPF_JGT | BPF_K:
			pc += a > k ? f->jt : f->jf;
			break;
		case BPF_JMP | BPF_JGE | BPF_K:
			pc += a >= k ? f->jt : f->jf;
			break;
		case BPF_JMP | BPF_JSET | BPF_K:
			pc += (a & k) ? f->jt : f->jf;
			break;
		case BPF_RET | BPF_K:
			return k;
		case BPF_RET | BPF_A:
			return a;
		default:
			test_fail(__FILE__, __LINE__, "opcode %#x at %u", f->code, pc);
		}
	}
	test_fail(__FILE__, __LINE__, "ran off the end of the program");
}

static uint32_t run(const struct sc_policy *p, uint32_t arch, int nr, const uint64_t *args)
{
	struct seccomp_data d = { .nr = nr, .arch = arch };

	if (args)
		memcpy(d.args, args, sizeof(d.args));
	return bpf_run(&p->prog, &d);
}

static uint32_t run1(const struct sc_policy *p, int nr, uint64_t a0, uint64_t a1)
{
	const uint64_t args[6] = { a0, a1, 0, 0, 0, 0 };

	return run(p, NATIVE_ARCH, nr, args);
}

#define CHECK_ACTION(got, want, ...)                                                               \
	do {                                                                                       \
		uint32_t got_ = (got), want_ = (want);                                             \
		if (got_ != want_) {                                                               \
			char what_[256];                                                           \
			(void) snprintf(what_, sizeof(what_), __VA_ARGS__);                        \
			test_fail(__FILE__, __LINE__, "%s: action %#x, want %#x", what_, got_,     \
				  want_);                                                          \
		}                                                                                  \
	} while (0)

static uint32_t expected(enum sc_rule rule, unsigned flags)
{
	switch (rule) {
	case SC_RULE_ALLOW:
		return ALLOW;
	case SC_RULE_EPERM:
		return ERRNO(EPERM);
	case SC_RULE_ENOSYS:
		return ERRNO(ENOSYS);
	case SC_RULE_PTRACE:
		return flags & SC_ALLOW_PTRACE ? ALLOW : ERRNO(EPERM);
	case SC_RULE_PERF:
		return flags & SC_ALLOW_PERF ? ALLOW : ERRNO(EPERM);
	case SC_RULE_ARGS:
		break;
	}
	test_fail(__FILE__, __LINE__, "no plain action for rule %d", (int) rule);
}

/* xorshift64: reproducible "random" argument values. */
static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

TEST(sc_table_names_are_known_and_unique)
{
	bool seen[MAX_NR] = { false };
	size_t native = 0;

	for (size_t i = 0; i < sc_syscall_table_len; i++) {
		const struct sc_syscall *s = &sc_syscall_table[i];
		int nr = sc_syscall_nr(s);

		if (nr == -ENOENT)
			test_fail(__FILE__, __LINE__, "'%s': no such syscall anywhere", s->name);
		for (size_t j = 0; j < i; j++)
			if (strcmp(s->name, sc_syscall_table[j].name) == 0)
				test_fail(__FILE__, __LINE__, "'%s' twice", s->name);
		if (nr < 0)
			continue;
		CHECK(nr < MAX_NR);
		if (seen[nr])
			test_fail(__FILE__, __LINE__, "'%s': number %d twice", s->name, nr);
		seen[nr] = true;
		native++;
	}
	/* Both architectures have far more than this; a broken lookup has none. */
	CHECK(native > 250);
	printf("# %zu of %zu table entries exist on this architecture\n", native,
	       sc_syscall_table_len);
}

TEST(sc_program_follows_the_table)
{
	static const unsigned flag_sets[] = { 0, SC_ALLOW_PTRACE, SC_ALLOW_PERF,
					      SC_ALLOW_PTRACE | SC_ALLOW_PERF | SC_LOG };
	static const uint64_t ones[6] = { ~0ULL, ~0ULL, ~0ULL, ~0ULL, ~0ULL, ~0ULL };

	for (size_t f = 0; f < ARRAY_SIZE(flag_sets); f++) {
		CLEANUP(sc_policy_freep) struct sc_policy *p = policy(flag_sets[f]);
		bool named[MAX_NR] = { false };

		CHECK(p->prog.len > 0 && p->prog.len <= BPF_MAXINSNS);
		if (f == 0)
			printf("# the program has %u instructions\n", p->prog.len);
		for (size_t i = 0; i < sc_syscall_table_len; i++) {
			const struct sc_syscall *s = &sc_syscall_table[i];
			int nr = sc_syscall_nr(s);

			if (nr < 0)
				continue;
			named[nr] = true;
			if (s->rule == SC_RULE_ARGS)
				continue;
			CHECK_ACTION(run(p, NATIVE_ARCH, nr, NULL), expected(s->rule, flag_sets[f]),
				     "'%s' flags %#x", s->name, flag_sets[f]);
			CHECK_ACTION(run(p, NATIVE_ARCH, nr, ones), expected(s->rule, flag_sets[f]),
				     "'%s' flags %#x, arguments all ones", s->name, flag_sets[f]);
		}
		/* Every number the table does not name: ENOSYS. */
		for (int nr = 0; nr < MAX_NR; nr++)
			if (!named[nr])
				CHECK_ACTION(run(p, NATIVE_ARCH, nr, NULL), ERRNO(ENOSYS),
					     "unnamed syscall %d", nr);
		CHECK_ACTION(run(p, NATIVE_ARCH, 0x3fffffff, NULL), ERRNO(ENOSYS), "0x3fffffff");
	}
}

TEST(sc_program_kills_foreign_abis)
{
	CLEANUP(sc_policy_freep) struct sc_policy *p = policy(0);

	for (int nr = 0; nr < MAX_NR; nr++) {
		CHECK_ACTION(run(p, FOREIGN_ARCH, nr, NULL), KILL, "foreign syscall %d", nr);
		CHECK_ACTION(run(p, 0, nr, NULL), KILL, "arch 0 syscall %d", nr);
#ifdef __x86_64__
		CHECK_ACTION(run(p, NATIVE_ARCH, 0x40000000 | nr, NULL), KILL, "x32 syscall %d",
			     nr);
#endif
	}
}

TEST(sc_program_clone_namespace_flags)
{
	CLEANUP(sc_policy_freep) struct sc_policy *p = policy(0);
	uint64_t seed = 0x9e3779b97f4a7c15;

	for (int bit = 0; bit < 64; bit++) {
		uint64_t flags = UINT64_C(1) << bit;
		uint32_t want = flags & spec_clone_ns ? ERRNO(EPERM) : ALLOW;

		CHECK_ACTION(run1(p, SYS_clone, flags, 0), want, "clone flag bit %d", bit);
		CHECK_ACTION(run1(p, SYS_clone, flags | SIGCHLD, 0), want, "clone bit %d", bit);
	}
	for (int i = 0; i < 100000; i++) {
		uint64_t flags = next(&seed);

		if (i % 2) /* half of them without any namespace flag */
			flags &= ~spec_clone_ns;
		CHECK_ACTION(run1(p, SYS_clone, flags, next(&seed)),
			     flags & spec_clone_ns ? ERRNO(EPERM) : ALLOW, "clone %#llx",
			     (unsigned long long) flags);
	}
}

static uint32_t socket_oracle(uint64_t family, uint64_t type)
{
	uint64_t f = LOW32(family), t = type & 0xf;

	if (f == AF_UNIX || f == AF_NETLINK)
		return ALLOW;
	if (f != AF_INET && f != AF_INET6)
		return ERRNO(EAFNOSUPPORT);
	return t == SOCK_STREAM || t == SOCK_DGRAM || t == SOCK_SEQPACKET ? ALLOW : ERRNO(EPERM);
}

TEST(sc_program_socket_families_and_types)
{
	static const uint64_t type_bits[] = { 0, SOCK_CLOEXEC, SOCK_NONBLOCK | SOCK_CLOEXEC,
					      HIGH32 };
	static const uint64_t family_bits[] = { 0, HIGH32, UINT64_C(1) << 32 };
	CLEANUP(sc_policy_freep) struct sc_policy *p = policy(0);
	uint64_t seed = 0x2545f4914f6cdd1d;

	for (uint64_t family = 0; family < 256; family++)
		for (size_t h = 0; h < ARRAY_SIZE(family_bits); h++)
			for (uint64_t type = 0; type < 16; type++)
				for (size_t b = 0; b < ARRAY_SIZE(type_bits); b++) {
					uint64_t fa = family | family_bits[h];
					uint64_t ty = type | type_bits[b];

					CHECK_ACTION(run1(p, SYS_socket, fa, ty),
						     socket_oracle(fa, ty), "socket(%#llx, %#llx)",
						     (unsigned long long) fa,
						     (unsigned long long) ty);
				}
	for (int i = 0; i < 100000; i++) {
		uint64_t fa = next(&seed), ty = next(&seed);

		if (i % 2)
			fa = (fa & HIGH32) | (i % 4 == 1 ? AF_INET : AF_INET6);
		CHECK_ACTION(run1(p, SYS_socket, fa, ty), socket_oracle(fa, ty),
			     "socket(%#llx, %#llx)", (unsigned long long) fa,
			     (unsigned long long) ty);
		CHECK_ACTION(run1(p, SYS_socketpair, fa, ty),
			     LOW32(fa) == AF_UNIX ? ALLOW : ERRNO(EAFNOSUPPORT),
			     "socketpair(%#llx)", (unsigned long long) fa);
	}
	for (uint64_t family = 0; family < 256; family++)
		CHECK_ACTION(run1(p, SYS_socketpair, family, SOCK_STREAM),
			     family == AF_UNIX ? ALLOW : ERRNO(EAFNOSUPPORT), "socketpair(%llu)",
			     (unsigned long long) family);
}

TEST(sc_program_ioctl_requests)
{
	static const uint64_t upper[] = { 0, HIGH32, UINT64_C(1) << 32, UINT64_C(1) << 63 };
	static const uint64_t middle[] = { 0, 0x80040000, 0x40080000, 0xffff0000 };
	CLEANUP(sc_policy_freep) struct sc_policy *p = policy(0);
	uint64_t seed = 0xdeadbeefcafef00d;

	/* Every request with 16 low bits (all the tty ones), under several high halves. */
	for (uint64_t low = 0; low < 0x10000; low++)
		for (size_t m = 0; m < ARRAY_SIZE(middle); m++)
			for (size_t u = 0; u < ARRAY_SIZE(upper); u++) {
				uint64_t req = low | middle[m] | upper[u];
				uint64_t r32 = LOW32(req);
				uint32_t want =
					r32 == TIOCSTI || r32 == TIOCLINUX ? ERRNO(EPERM) : ALLOW;

				CHECK_ACTION(run1(p, SYS_ioctl, 0, req), want, "ioctl %#llx",
					     (unsigned long long) req);
			}
	for (int i = 0; i < 200000; i++) {
		uint64_t req = next(&seed);

		if (i % 4 == 0)
			req = (req & HIGH32) | (i % 8 ? TIOCSTI : TIOCLINUX);
		CHECK_ACTION(run1(p, SYS_ioctl, req >> 7, req),
			     LOW32(req) == TIOCSTI || LOW32(req) == TIOCLINUX ? ERRNO(EPERM)
									      : ALLOW,
			     "ioctl %#llx", (unsigned long long) req);
	}
}

static uint32_t personality_oracle(uint64_t v)
{
	for (size_t i = 0; i < ARRAY_SIZE(spec_personality); i++)
		if (LOW32(v) == spec_personality[i])
			return ALLOW;
	return ERRNO(EPERM);
}

TEST(sc_program_personality_values)
{
	CLEANUP(sc_policy_freep) struct sc_policy *p = policy(0);
	uint64_t seed = 0x0123456789abcdef;

	/* Each allowed value, its neighbours and every one-bit change of it. */
	for (size_t i = 0; i < ARRAY_SIZE(spec_personality); i++)
		for (int d = -64; d <= 64; d++)
			for (int bit = -1; bit < 64; bit++) {
				uint64_t v = spec_personality[i] + (uint64_t) (int64_t) d;

				if (bit >= 0)
					v ^= UINT64_C(1) << bit;
				CHECK_ACTION(run1(p, SYS_personality, v, 0), personality_oracle(v),
					     "personality(%#llx)", (unsigned long long) v);
			}
	for (int i = 0; i < 200000; i++) {
		uint64_t v = next(&seed);

		if (i % 2)
			v &= 0x7f0fff;
		CHECK_ACTION(run1(p, SYS_personality, v, 0), personality_oracle(v),
			     "personality(%#llx)", (unsigned long long) v);
	}
}

/* The interpreter is only as good as its agreement with the kernel: load the filter into
 * a child (of its own session: vhangup) and make every denied call for real, with
 * arguments that are harmless should one get through (bad pointers, fd -1, flags ~0). */
static void kernel_agrees(void)
{
	CLEANUP(sc_policy_freep) struct sc_policy *p = policy(0);
	static const uint64_t ones[6] = { ~0ULL, ~0ULL, ~0ULL, ~0ULL, ~0ULL, ~0ULL };
	const struct {
		int nr;
		uint64_t a0, a1;
	} arg_calls[] = {
		{ SYS_clone, CLONE_NEWUSER | SIGCHLD, 0 },
		{ SYS_clone, CLONE_NEWNET | CLONE_NEWNS | SIGCHLD, 0 },
		{ SYS_socket, AF_PACKET, SOCK_RAW },
		{ SYS_socket, HIGH32 | AF_ALG, SOCK_SEQPACKET },
		{ SYS_socket, AF_INET6, SOCK_RAW },
		{ SYS_socketpair, AF_INET, SOCK_STREAM },
		{ SYS_ioctl, ~0ULL, TIOCSTI },
		{ SYS_ioctl, ~0ULL, HIGH32 | TIOCLINUX },
		{ SYS_ioctl, ~0ULL, FIONREAD },
		{ SYS_personality, 0x0040000, 0 },
		{ SYS_personality, HIGH32 | 0xffffffff, 0 },
	};
	struct {
		const char *name;
		uint64_t a0, a1;
		int nr;
		uint32_t want;
	} calls[512];
	size_t n = 0;
	pid_t self = getpid();

	for (size_t i = 0; i < sc_syscall_table_len; i++) {
		const struct sc_syscall *s = &sc_syscall_table[i];
		int nr = sc_syscall_nr(s);

		if (nr < 0 || s->rule == SC_RULE_ALLOW || s->rule == SC_RULE_ARGS)
			continue;
		CHECK(n < ARRAY_SIZE(calls) - ARRAY_SIZE(arg_calls));
		calls[n].name = s->name;
		calls[n].nr = nr;
		calls[n].a0 = calls[n].a1 = ~0ULL;
		calls[n++].want = run(p, NATIVE_ARCH, nr, ones);
	}
	for (size_t i = 0; i < ARRAY_SIZE(arg_calls); i++) {
		calls[n].name = "argument rule";
		calls[n].nr = arg_calls[i].nr;
		calls[n].a0 = arg_calls[i].a0;
		calls[n].a1 = arg_calls[i].a1;
		calls[n++].want = run1(p, arg_calls[i].nr, arg_calls[i].a0, arg_calls[i].a1);
	}
	CHECK_EQ(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
	CHECK_EQ(sc_policy_load(p), 0);
	for (size_t i = 0; i < n; i++) {
		long r;

		errno = 0;
		r = syscall(calls[i].nr, calls[i].a0, calls[i].a1, ~0UL, ~0UL, ~0UL, ~0UL);
		if (r == 0 && getpid() != self)
			_exit(0);
		if (calls[i].want == ALLOW) /* FIONREAD on fd -1, a personality query */
			CHECK(r >= 0 || errno == EBADF);
		else if (r != -1 || (uint32_t) errno != (calls[i].want & SECCOMP_RET_DATA))
			test_fail(__FILE__, __LINE__, "'%s' (%d): kernel %ld errno %d, program %#x",
				  calls[i].name, calls[i].nr, r, errno, calls[i].want);
	}
}

TEST(sc_interpreter_agrees_with_the_kernel)
{
	pid_t pid = fork();
	int status = 0;

	CHECK(pid >= 0);
	if (pid == 0) {
		if (setsid() < 0)
			_exit(2);
		kernel_agrees();
		(void) fflush(NULL);
		_exit(0);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK_EQ(status, 0);
}

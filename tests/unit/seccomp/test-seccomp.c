/* test-seccomp.c - the seccomp policy as the kernel enforces it: each test loads the filter
 * (PR_SET_NO_NEW_PRIVS, then sc_policy_load()) into a child and makes raw syscalls, so
 * that libc wrappers and fallbacks cannot hide an answer. Expected errnos come from
 * docs/security.md §4.2, not from the module's own table. */
#include "seccomp/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/err.h"
#include "need.h"
#include "test.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

extern char **environ;

/* Syscalls newer than the build's kernel headers: one number on every architecture. */
#define NR_LSM_SET_SELF_ATTR 460
#define NR_OPEN_TREE_ATTR    467
#define NR_LISTNS	     470
#define HIGH32		     0xffffffff00000000UL

/* First, so that nothing the harness or another test left behind counts as a leak. */
TEST(sc_policy_new_free_leaks_nothing)
{
	struct err err = { 0 };

	for (unsigned i = 0; i < 16; i++) {
		CLEANUP(sc_policy_freep) struct sc_policy *p = NULL;

		CHECK_OK(sc_policy_new(i & 7, &p, &err));
		CHECK(p != NULL);
		p = sc_policy_free(p);
		CHECK(p == NULL);
	}
#if defined(__SANITIZE_ADDRESS__)
	/* The harness leaves with _exit(): look for leaks now. */
	CHECK_EQ(__lsan_do_recoverable_leak_check(), 0);
#endif
}

static void load(unsigned flags)
{
	CLEANUP(sc_policy_freep) struct sc_policy *p = NULL;
	struct err err = { 0 };

	CHECK_EQ(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
	if (sc_policy_new(flags, &p, &err) < 0)
		test_fail(__FILE__, __LINE__, "sc_policy_new: %s", err.msg);
	CHECK_EQ(sc_policy_load(p), 0);
}

/* Run fn in a child of its own session, without a controlling terminal: a call that
 * wrongly gets through (vhangup, TIOCSTI) cannot reach the terminal running the tests.
 * The child's failures are this test's. */
static void in_session(test_fn *fn)
{
	pid_t pid = fork();
	int status = 0;

	CHECK(pid >= 0);
	if (pid == 0) {
		if (setsid() < 0)
			_exit(2);
		fn();
		(void) fflush(NULL);
		_exit(0);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		test_fail(__FILE__, __LINE__, "child failed (status %#x)", (unsigned) status);
}

struct call {
	const char *what;
	long nr;
	unsigned long a[6];
	int want; /* the errno the filter answers */
};

/* clang-format off */
#define CALL(nr, want, ...) { #nr " " #__VA_ARGS__, nr, { __VA_ARGS__ }, want }
/* clang-format on */

static const char *errname(int e)
{
	const char *s = e ? strerrorname_np(e) : "success";
	return s ? s : "?";
}

static void check_calls(const struct call *calls, size_t n, const char *file, int line)
{
	pid_t self = getpid();

	for (size_t i = 0; i < n; i++) {
		const struct call *c = &calls[i];
		long r;

		errno = 0;
		r = syscall(c->nr, c->a[0], c->a[1], c->a[2], c->a[3], c->a[4], c->a[5]);
		if (r == 0 && getpid() != self)
			_exit(0); /* a clone that got through: the child leaves quietly */
		if (r != -1 || errno != c->want)
			test_fail(file, line, "%s: returned %ld, errno %s; want %s", c->what, r,
				  errname(r < 0 ? errno : 0), errname(c->want));
	}
}

static void denied_calls(void)
{
	static const struct call calls[] = {
		/* Keyring, eBPF, modules, kexec, reboot. */
		CALL(SYS_add_key, EPERM, 0, 0, 0, 0, 0),
		CALL(SYS_keyctl, EPERM, 0, -1UL, 0),
		CALL(SYS_request_key, EPERM, 0, 0, 0, 0),
		CALL(SYS_bpf, EPERM, 0, 0, 0),
		CALL(SYS_init_module, EPERM, 0, 0, 0),
		CALL(SYS_finit_module, EPERM, -1UL, 0, 0),
		CALL(SYS_delete_module, EPERM, 0, 0),
		CALL(SYS_kexec_load, EPERM, 0, 0, 0, 0),
		CALL(SYS_kexec_file_load, EPERM, -1UL, -1UL, 0, 0, 0),
		CALL(SYS_reboot, EPERM, 0, 0, 0, 0),
		/* Mounts, old and new API. */
		CALL(SYS_mount, EPERM, 0, 0, 0, 0, 0),
		CALL(SYS_umount2, EPERM, 0, 0),
		CALL(SYS_pivot_root, EPERM, 0, 0),
		CALL(SYS_chroot, EPERM, 0),
		CALL(SYS_fsopen, ENOSYS, 0, 0),
		CALL(SYS_fsconfig, ENOSYS, -1UL, 0, 0, 0, 0),
		CALL(SYS_fsmount, ENOSYS, -1UL, 0, 0),
		CALL(SYS_fspick, ENOSYS, -1UL, 0, 0),
		CALL(SYS_open_tree, ENOSYS, -1UL, 0, 0),
		CALL(SYS_move_mount, ENOSYS, -1UL, 0, -1UL, 0, 0),
		CALL(SYS_mount_setattr, ENOSYS, -1UL, 0, 0, 0, 0),
		CALL(NR_OPEN_TREE_ATTR, ENOSYS, -1UL, 0, 0, 0, 0),
		/* Namespaces: unshare, setns, clone with each CLONE_NEW* flag, clone3. */
		CALL(SYS_unshare, EPERM, CLONE_NEWUSER),
		CALL(SYS_unshare, EPERM, 0),
		CALL(SYS_setns, EPERM, -1UL, 0),
		CALL(SYS_clone, EPERM, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0),
		CALL(SYS_clone, EPERM, CLONE_NEWUTS | SIGCHLD, 0, 0, 0, 0),
		CALL(SYS_clone, EPERM, CLONE_NEWIPC | SIGCHLD, 0, 0, 0, 0),
		CALL(SYS_clone, EPERM, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0),
		CALL(SYS_clone, EPERM, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0),
		CALL(SYS_clone, EPERM, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0),
		CALL(SYS_clone, EPERM, CLONE_NEWCGROUP | SIGCHLD, 0, 0, 0, 0),
		CALL(SYS_clone, EPERM, CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | SIGCHLD, 0, 0,
		     0, 0),
		CALL(SYS_clone, EPERM, HIGH32 | CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0),
		CALL(SYS_clone3, ENOSYS, 0, 0),
		/* Other processes. */
		CALL(SYS_ptrace, EPERM, PTRACE_TRACEME, 0, 0, 0),
		CALL(SYS_ptrace, EPERM, PTRACE_PEEKDATA, 0, 0, 0),
		CALL(SYS_process_vm_readv, EPERM, 0, 0, 0, 0, 0, 0),
		CALL(SYS_process_vm_writev, EPERM, 0, 0, 0, 0, 0, 0),
		CALL(SYS_kcmp, EPERM, 0, 0, 0, 0, 0),
		CALL(SYS_pidfd_getfd, EPERM, -1UL, 0, 0),
		CALL(SYS_process_madvise, EPERM, -1UL, 0, 0, 0, 0),
		/* Host information, breakouts, exploit helpers. */
		CALL(SYS_perf_event_open, EPERM, 0, 0, -1UL, -1UL, 0),
		CALL(SYS_lookup_dcookie, EPERM, 0, 0, 0),
		CALL(SYS_fanotify_init, EPERM, 0, 0),
		CALL(SYS_syslog, EPERM, 10, 0, 0),
		CALL(SYS_open_by_handle_at, EPERM, -1UL, 0, 0),
		CALL(SYS_userfaultfd, EPERM, 0),
		CALL(SYS_io_uring_setup, ENOSYS, 0, 0),
		CALL(SYS_io_uring_enter, ENOSYS, -1UL, 0, 0, 0, 0, 0),
		CALL(SYS_io_uring_register, ENOSYS, -1UL, 0, 0, 0),
		/* Clock, host-wide state, NUMA. */
		CALL(SYS_settimeofday, EPERM, 0, 0),
		CALL(SYS_clock_settime, EPERM, CLOCK_REALTIME, 0),
		CALL(SYS_clock_adjtime, EPERM, CLOCK_REALTIME, 0),
		CALL(SYS_adjtimex, EPERM, 0),
		CALL(SYS_swapon, EPERM, 0, 0),
		CALL(SYS_swapoff, EPERM, 0),
		CALL(SYS_acct, EPERM, 0),
		CALL(SYS_quotactl, EPERM, 0, 0, 0, 0),
		CALL(SYS_quotactl_fd, EPERM, -1UL, 0, 0, 0),
		CALL(SYS_vhangup, EPERM),
		CALL(SYS_mbind, EPERM, 0, 0, 0, 0, 0, 0),
		CALL(SYS_set_mempolicy, EPERM, 0, 0, 0),
		CALL(SYS_get_mempolicy, EPERM, 0, 0, 0, 0, 0),
		CALL(SYS_migrate_pages, EPERM, 0, 0, 0, 0),
		CALL(SYS_move_pages, EPERM, 0, 0, 0, 0, 0, 0),
		CALL(SYS_set_mempolicy_home_node, EPERM, 0, 0, 0, 0),
		CALL(NR_LSM_SET_SELF_ATTR, EPERM, 0, 0, 0, 0),
#ifdef __x86_64__
		CALL(SYS_iopl, EPERM, 0),
		CALL(SYS_ioperm, EPERM, 0, 0, 0),
		CALL(SYS_modify_ldt, EPERM, 0, 0, 0),
		CALL(SYS_uselib, EPERM, 0),
		CALL(SYS_ustat, EPERM, 0, 0),
		CALL(SYS_sysfs, EPERM, 3),
		CALL(SYS__sysctl, EPERM, 0),
		CALL(SYS_create_module, EPERM, 0, 0),
		CALL(SYS_nfsservctl, EPERM, 0, 0, 0),
#endif
		/* personality: only Docker's five values. */
		CALL(SYS_personality, EPERM, 0x0200000), /* ADDR_COMPAT_LAYOUT */
		CALL(SYS_personality, EPERM, 0x0040000), /* ADDR_NO_RANDOMIZE */
		CALL(SYS_personality, EPERM, 0x0400000), /* READ_IMPLIES_EXEC */
		CALL(SYS_personality, EPERM, 0x0000006), /* PER_BSD */
		CALL(SYS_personality, EPERM, 0xfffffffe),
		CALL(SYS_personality, EPERM, HIGH32 | 0x0200000),
		/* socket: four families; no raw or packet INET sockets. */
		CALL(SYS_socket, EAFNOSUPPORT, AF_PACKET, SOCK_RAW, 0),
		CALL(SYS_socket, EAFNOSUPPORT, AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0),
		CALL(SYS_socket, EAFNOSUPPORT, AF_ALG, SOCK_SEQPACKET, 0),
		CALL(SYS_socket, EAFNOSUPPORT, AF_VSOCK, SOCK_STREAM, 0),
		CALL(SYS_socket, EAFNOSUPPORT, AF_KEY, SOCK_RAW, 2),
		CALL(SYS_socket, EAFNOSUPPORT, AF_BLUETOOTH, SOCK_RAW, 0),
		CALL(SYS_socket, EAFNOSUPPORT, AF_UNSPEC, SOCK_STREAM, 0),
		CALL(SYS_socket, EAFNOSUPPORT, 1000, SOCK_STREAM, 0),
		CALL(SYS_socket, EAFNOSUPPORT, -1UL, SOCK_STREAM, 0),
		CALL(SYS_socket, EAFNOSUPPORT, HIGH32 | AF_PACKET, SOCK_RAW, 0),
		CALL(SYS_socket, EPERM, AF_INET, SOCK_RAW, IPPROTO_ICMP),
		CALL(SYS_socket, EPERM, AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 255),
		CALL(SYS_socket, EPERM, AF_INET6, SOCK_RAW, IPPROTO_ICMPV6),
		CALL(SYS_socket, EPERM, AF_INET, SOCK_PACKET, 0x0300),
		CALL(SYS_socket, EPERM, HIGH32 | AF_INET, HIGH32 | SOCK_RAW, 0),
		CALL(SYS_socketpair, EAFNOSUPPORT, AF_PACKET, SOCK_DGRAM, 0, 0),
		CALL(SYS_socketpair, EAFNOSUPPORT, AF_INET, SOCK_STREAM, 0, 0),
		/* ioctl: terminal injection, with and without high bits (CVE-2019-10063). */
		CALL(SYS_ioctl, EPERM, -1UL, TIOCSTI, 0),
		CALL(SYS_ioctl, EPERM, -1UL, HIGH32 | TIOCSTI, 0),
		CALL(SYS_ioctl, EPERM, -1UL, 0x100000000UL | TIOCSTI, 0),
		CALL(SYS_ioctl, EPERM, -1UL, TIOCLINUX, 0),
		CALL(SYS_ioctl, EPERM, -1UL, HIGH32 | TIOCLINUX, 0),
		/* Nobody named it: ENOSYS, as from an older kernel. */
		CALL(1000, ENOSYS),
		CALL(NR_LISTNS, ENOSYS, 0, 0, 0, 0),
		CALL(0x3fffffff, ENOSYS),
	};

	load(0);
	check_calls(calls, ARRAY_SIZE(calls), __FILE__, __LINE__);
}

TEST(sc_denies_must_block_table)
{
	in_session(denied_calls);
}

/* The same calls with and without the filter must end the same way (both succeed or both
 * fail with one errno): the filter adds nothing to what the kernel says. */
struct same {
	const char *what;
	long nr;
	unsigned long a[6];
	bool must_succeed;
};

/* clang-format off */
#define SAME(must, nr, ...) { #nr " " #__VA_ARGS__, nr, { __VA_ARGS__ }, must }
/* clang-format on */

static int outcome(const struct same *s)
{
	long r;

	errno = 0;
	r = syscall(s->nr, s->a[0], s->a[1], s->a[2], s->a[3], s->a[4], s->a[5]);
	return r < 0 ? errno : 0;
}

TEST(sc_allows_ordinary_calls_unchanged)
{
	cleanup_close int ptmx = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	char buf[4096]; /* fits struct utsname, termios, ... */
	int fds[2];
	struct timespec ts;
	const struct same calls[] = {
		SAME(true, SYS_getpid),
		SAME(true, SYS_getppid),
		SAME(true, SYS_uname, (unsigned long) buf),
		SAME(true, SYS_clock_gettime, CLOCK_MONOTONIC, (unsigned long) &ts),
		SAME(true, SYS_getrandom, (unsigned long) buf, 16, 0),
		SAME(true, SYS_pipe2, (unsigned long) fds, O_CLOEXEC),
		SAME(true, SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		     -1UL, 0),
		SAME(true, SYS_memfd_create, (unsigned long) "x", MFD_CLOEXEC),
		SAME(true, SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0),
		SAME(true, SYS_socket, AF_UNIX, SOCK_DGRAM, 0),
		SAME(true, SYS_socket, AF_INET, SOCK_STREAM, 0),
		SAME(true, SYS_socket, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0),
		SAME(false, SYS_socket, AF_INET, SOCK_DGRAM, IPPROTO_ICMP), /* ping socket */
		SAME(false, SYS_socket, AF_INET6, SOCK_STREAM, 0),
		SAME(true, SYS_socket, AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0 /* ROUTE */),
		SAME(true, SYS_socket, 0x100000000UL | AF_UNIX, SOCK_STREAM, 0),
		SAME(true, SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, (unsigned long) fds),
		SAME(true, SYS_personality, 0xffffffff),
		SAME(true, SYS_personality, HIGH32 | 0xffffffff),
		SAME(false, SYS_ioctl, (unsigned long) ptmx, TCGETS, (unsigned long) buf),
		/* musl declares ioctl(int, int, ...): its requests arrive sign-extended. */
		SAME(false, SYS_ioctl, (unsigned long) ptmx, (unsigned long) (long) (int) TIOCGPTN,
		     (unsigned long) buf),
		SAME(false, SYS_ioctl, -1UL, FIONREAD, (unsigned long) buf),
		SAME(true, SYS_prctl, PR_GET_DUMPABLE),
		SAME(true, SYS_close_range, 1000, 2000, 0),
		SAME(true, SYS_kill, (unsigned long) getpid(), 0),
	};
	int before[ARRAY_SIZE(calls)];

	for (size_t i = 0; i < ARRAY_SIZE(calls); i++)
		before[i] = outcome(&calls[i]);
	load(0);
	for (size_t i = 0; i < ARRAY_SIZE(calls); i++) {
		int after = outcome(&calls[i]);

		if (after != before[i] || (calls[i].must_succeed && after != 0))
			test_fail(__FILE__, __LINE__, "%s: %s under the filter, %s without",
				  calls[i].what, errname(after), errname(before[i]));
	}
}

static int wait_status(pid_t pid)
{
	int status = 0;

	CHECK_EQ(waitpid(pid, &status, 0), pid);
	return status;
}

TEST(sc_allows_fork_exec_and_a_shell)
{
	char *const sh[] = { "/bin/sh", "-c", "x=$(echo hi | cat); [ \"$x\" = hi ] && exit 7",
			     NULL };
	pid_t pid;

	load(0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(3);
	CHECK_EQ(wait_status(pid), 3 << 8);

	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		char *const argv[] = { "/bin/true", NULL };
		execve(argv[0], argv, environ);
		_exit(127);
	}
	CHECK_EQ(wait_status(pid), 0);

	CHECK_EQ(posix_spawn(&pid, sh[0], NULL, NULL, sh, environ), 0);
	CHECK_EQ(wait_status(pid), 7 << 8);
}

static void *thread_main(void *arg)
{
	return arg;
}

TEST(sc_allows_threads_after_clone3_enosys)
{
	pthread_t t;
	void *ret = NULL;
	int marker = 0;

	load(0);
	CHECK_EQ(pthread_create(&t, NULL, thread_main, &marker), 0);
	CHECK_EQ(pthread_join(t, &ret), 0);
	CHECK(ret == &marker);
}

/* What mayfly's pid-1 init does after loading the filter: signalfd for SIGCHLD, fork,
 * exec, waitid, kill, prctl, close_range. */
TEST(sc_allows_what_init_needs)
{
	sigset_t mask;
	siginfo_t si;
	struct signalfd_siginfo ssi;
	cleanup_close int sfd = -1;
	pid_t pid;

	load(0);
	CHECK_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
	CHECK_EQ(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), 0);
	CHECK_EQ(syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC), 0);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	CHECK_EQ(sigprocmask(SIG_BLOCK, &mask, NULL), 0);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	CHECK(sfd >= 0);

	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		char *const argv[] = { "/bin/sleep", "60", NULL };
		sigset_t none;
		sigemptyset(&none);
		(void) sigprocmask(SIG_SETMASK, &none, NULL);
		execve(argv[0], argv, environ);
		_exit(127);
	}
	CHECK_EQ(kill(pid, SIGTERM), 0);
	CHECK_EQ(read(sfd, &ssi, sizeof(ssi)), (ssize_t) sizeof(ssi));
	CHECK_EQ(ssi.ssi_signo, SIGCHLD);
	CHECK_EQ(waitid(P_PID, (id_t) pid, &si, WEXITED), 0);
	CHECK_EQ(si.si_code, CLD_KILLED);
	CHECK_EQ(si.si_status, SIGTERM);
}

TEST(sc_allow_ptrace_lets_a_debugger_work)
{
	static volatile long marker = 0x5eccc0de;
	long got = 0;
	struct iovec local = { &got, sizeof(got) };
	struct iovec remote = { (void *) &marker, sizeof(marker) };
	pid_t pid;

	load(SC_ALLOW_PTRACE);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0)
			_exit(1);
		(void) raise(SIGSTOP);
		_exit(0);
	}
	CHECK_EQ(wait_status(pid), (SIGSTOP << 8) | 0x7f);
	errno = 0;
	CHECK_EQ(ptrace(PTRACE_PEEKDATA, pid, (void *) &marker, NULL), marker);
	CHECK_EQ(errno, 0);
	CHECK_EQ(process_vm_readv(pid, &local, 1, &remote, 1, 0), (ssize_t) sizeof(got));
	CHECK_EQ(got, marker);
	CHECK_EQ(ptrace(PTRACE_CONT, pid, NULL, NULL), 0);
	CHECK_EQ(wait_status(pid), 0);
	/* The other opt-in stays off. */
	CHECK_EQ(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0), -1);
	CHECK_EQ(errno, EPERM);
}

TEST(sc_allow_perf_passes_perf_event_open_to_the_kernel)
{
	long r;
	int kernel_says;

	/* A NULL attr: the kernel answers EFAULT before any permission check. */
	r = syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0);
	CHECK_EQ(r, -1);
	kernel_says = errno;
	CHECK_NE(kernel_says, EPERM);
	load(SC_ALLOW_PERF);
	CHECK_EQ(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0), -1);
	CHECK_EQ(errno, kernel_says);
	CHECK_EQ(syscall(SYS_ptrace, PTRACE_PEEKDATA, 0, 0, 0), -1);
	CHECK_EQ(errno, EPERM);
}

TEST(sc_log_loads_and_still_denies)
{
	char *status = NULL;
	size_t len = 0;
	FILE *f;

	load(SC_LOG);
	CHECK_EQ(syscall(SYS_unshare, CLONE_NEWUSER), -1);
	CHECK_EQ(errno, EPERM);
	f = fopen("/proc/self/status", "re");
	CHECK(f != NULL);
	CHECK(getdelim(&status, &len, '\0', f) > 0);
	(void) fclose(f);
	CHECK_STR_CONTAINS(status, "Seccomp:\t2\n");
	free(status);
}

/* The filter's flags as the kernel keeps them, read by a tracer. */
static uint64_t loaded_filter_flags(unsigned flags)
{
	struct __ptrace_seccomp_metadata md = { .filter_off = 0 };
	cleanup_close int rd = -1, wr = -1;
	cleanup_pid pid_t pid = -1;
	int fds[2];
	char c;

	CHECK_EQ(pipe2(fds, O_CLOEXEC), 0);
	rd = fds[0];
	wr = fds[1];
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		load(flags);
		if (write(wr, "x", 1) != 1)
			_exit(1);
		for (;;)
			(void) pause();
	}
	CHECK_EQ(read(rd, &c, 1), 1);
	CHECK_EQ(ptrace(PTRACE_SEIZE, pid, NULL, NULL), 0);
	CHECK_EQ(ptrace(PTRACE_INTERRUPT, pid, NULL, NULL), 0);
	CHECK(WIFSTOPPED(wait_status(pid)));
	CHECK_EQ(ptrace(PTRACE_SECCOMP_GET_METADATA, pid, (void *) sizeof(md), &md),
		 (long) sizeof(md));
	return md.flags;
}

TEST(sc_log_sets_the_kernel_log_flag)
{
	NEED(ROOT); /* PTRACE_SECCOMP_GET_METADATA wants CAP_SYS_ADMIN */
	CHECK_EQ(loaded_filter_flags(SC_LOG) & SECCOMP_FILTER_FLAG_LOG, SECCOMP_FILTER_FLAG_LOG);
	CHECK_EQ(loaded_filter_flags(SC_ALLOW_PTRACE | SC_ALLOW_PERF), 0);
}

#ifdef __x86_64__
/* getpid through the i386 ABI: int 0x80 with eax = 20. */
static long int80_getpid(void)
{
	long r;

	__asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory", "r8", "r9", "r10", "r11");
	return r;
}

static void *int80_thread(void *arg)
{
	(void) int80_getpid();
	return arg;
}

/* Run fn in a child that must not leave a core dump; returns its wait status. */
static int status_of(test_fn *fn)
{
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		const struct rlimit none = { 0, 0 };
		(void) setrlimit(RLIMIT_CORE, &none);
		(void) prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		alarm(10);
		fn();
		_exit(0);
	}
	return wait_status(pid);
}

static void int80_plain(void)
{
	_exit(int80_getpid() == getpid() ? 0 : 1);
}

static void int80_filtered(void)
{
	load(0);
	(void) int80_getpid();
	_exit(0);
}

/* The whole process dies, not only the thread that made the call. */
static void int80_filtered_in_thread(void)
{
	pthread_t t;

	load(0);
	if (pthread_create(&t, NULL, int80_thread, NULL) != 0)
		_exit(1);
	(void) pthread_join(t, NULL);
	_exit(0);
}

static void x32_filtered(void)
{
	load(0);
	(void) syscall(0x40000000L | SYS_getpid);
	_exit(0);
}

TEST(sc_kills_the_i386_abi)
{
	int status = status_of(int80_plain);

	if (WIFSIGNALED(status))
		test_skip("no i386 emulation in this kernel (int 0x80 gets signal %d)",
			  WTERMSIG(status));
	CHECK_EQ(status, 0);
	status = status_of(int80_filtered);
	CHECK(WIFSIGNALED(status));
	CHECK_EQ(WTERMSIG(status), SIGSYS);
	status = status_of(int80_filtered_in_thread);
	CHECK(WIFSIGNALED(status));
	CHECK_EQ(WTERMSIG(status), SIGSYS);
}

TEST(sc_kills_the_x32_abi)
{
	int status = status_of(x32_filtered);

	CHECK(WIFSIGNALED(status));
	CHECK_EQ(WTERMSIG(status), SIGSYS);
}
#endif

TEST(sc_policy_load_needs_no_new_privs)
{
	CLEANUP(sc_policy_freep) struct sc_policy *p = NULL;
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct caps[2] = { 0 };
	struct err err = { 0 };

	CHECK_OK(sc_policy_new(0, &p, &err));
	/* Without CAP_SYS_ADMIN in the effective set and without no_new_privs. */
	CHECK_EQ(syscall(SYS_capget, &hdr, caps), 0);
	caps[0].effective = caps[1].effective = 0;
	CHECK_EQ(syscall(SYS_capset, &hdr, caps), 0);
	CHECK_EQ(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), 0);
	CHECK_EQ(sc_policy_load(p), -EACCES);
	CHECK_EQ(sc_policy_load(NULL), -EINVAL);
}

TEST(sc_policy_new_rejects_unknown_flags)
{
	static char sentinel;
	struct sc_policy *p = (struct sc_policy *) &sentinel; /* must stay untouched */
	struct err err = { 0 };

	CHECK_EQ(sc_policy_new(1U << 10, &p, &err), -EINVAL);
	CHECK(p == (struct sc_policy *) &sentinel);
	CHECK_STR_CONTAINS(err.msg, "unknown flags 0x400");
	CHECK(sc_policy_free(NULL) == NULL);
}

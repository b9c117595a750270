/* probe.c - attacks on the sandbox's walls, run from inside a sandbox by the test-walls-*
 * tests. Not built by the Makefile: a test compiles it with `cc` into its tmpdir at run
 * time and binds the binary read-only into the sandbox (tests/integ/probes/walls.h).
 *
 *   probe ACTION[:ARG[:ARG]]...
 *
 * Each action runs in a forked child (a seccomp kill or a crash is an answer, not the end
 * of the probe) and prints one line "ACTION=RESULT", RESULT being "ok" when the call
 * succeeded, the errno's name (EPERM, ENOSYS, ...) when it failed, "signal:NAME" when the
 * child was killed (SIGSYS: the seccomp filter killed it), or "returned:N" where a number
 * is the answer. The probe exits 0 unless an action is unknown (2). The tests check the
 * exact RESULT of each action, so a sandbox that lost a wall (no seccomp, a capability
 * left, a missing namespace) changes some line. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <linux/userfaultfd.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef AF_ALG
#define AF_ALG 38
#endif
#ifndef AF_KEY
#define AF_KEY 15
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif
#define X32_SYSCALL_BIT 0x40000000UL

/* Each action returns 0 on success or -errno; a few print their own answer (>0). */
typedef long action_fn(const char *a1, const char *a2);

static long ret(long r)
{
	return r < 0 ? -errno : 0;
}

static long ret_close(long fd)
{
	if (fd < 0)
		return -errno;
	(void) close((int) fd);
	return 0;
}

/* --- mounts ------------------------------------------------------------------------ */

static long a_mount(const char *a1, const char *a2)
{
	return ret(mount("none", "/tmp", "tmpfs", 0, NULL));
}
static long a_mount_proc(const char *a1, const char *a2)
{
	/* A second procfs would show what the masks over the first one hide. */
	(void) mkdir("/tmp/p", 0755);
	return ret(mount("proc", "/tmp/p", "proc", 0, NULL));
}
static long a_remount_rw(const char *a1, const char *a2)
{
	return ret(mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND, NULL));
}
static long a_umount(const char *a1, const char *a2)
{
	/* Unmounting a mask would uncover what is under it. */
	return ret(umount2("/proc/sys", MNT_DETACH));
}
static long a_pivot_root(const char *a1, const char *a2)
{
	return ret(syscall(SYS_pivot_root, "/tmp", "/tmp"));
}
static long a_chroot(const char *a1, const char *a2)
{
	return ret(chroot("/tmp"));
}
static long a_fsopen(const char *a1, const char *a2)
{
	return ret_close(syscall(430 /* fsopen */, "tmpfs", 0));
}
static long a_fsmount(const char *a1, const char *a2)
{
	return ret_close(syscall(432 /* fsmount */, -1, 0, 0));
}
static long a_fspick(const char *a1, const char *a2)
{
	return ret_close(syscall(433 /* fspick */, AT_FDCWD, "/", 0));
}
static long a_open_tree(const char *a1, const char *a2)
{
	return ret_close(syscall(428 /* open_tree */, AT_FDCWD, "/", OPEN_TREE_CLONE));
}
static long a_move_mount(const char *a1, const char *a2)
{
	return ret(syscall(429 /* move_mount */, -1, "", AT_FDCWD, "/tmp", 0));
}
static long a_mount_setattr(const char *a1, const char *a2)
{
	uint64_t attr[4] = { 0 }; /* attr_set, attr_clr (MOUNT_ATTR_RDONLY = 1), ... */
	attr[1] = 1;
	return ret(syscall(442 /* mount_setattr */, AT_FDCWD, "/", 0, attr, sizeof(attr)));
}

/* --- namespaces -------------------------------------------------------------------- */

static long do_unshare(int flags)
{
	return ret(unshare(flags));
}
static long a_unshare_user(const char *a1, const char *a2)
{
	return do_unshare(CLONE_NEWUSER);
}
static long a_unshare_mnt(const char *a1, const char *a2)
{
	return do_unshare(CLONE_NEWNS);
}
static long a_unshare_net(const char *a1, const char *a2)
{
	return do_unshare(CLONE_NEWNET);
}
static long a_unshare_pid(const char *a1, const char *a2)
{
	return do_unshare(CLONE_NEWPID);
}

/* clone(2) with one namespace flag; the child exits at once. */
static long do_clone(unsigned long flag)
{
	long pid = syscall(SYS_clone, flag | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(0);
	(void) waitpid((pid_t) pid, NULL, 0);
	return 0;
}
/* The control for the clone_* actions: a fork through raw clone(2). */
static long a_clone_plain(const char *a1, const char *a2)
{
	return do_clone(0);
}
static long a_clone_user(const char *a1, const char *a2)
{
	return do_clone(CLONE_NEWUSER);
}
static long a_clone_mnt(const char *a1, const char *a2)
{
	return do_clone(CLONE_NEWNS);
}
static long a_clone_pid(const char *a1, const char *a2)
{
	return do_clone(CLONE_NEWPID);
}
static long a_clone_net(const char *a1, const char *a2)
{
	return do_clone(CLONE_NEWNET);
}
static long a_clone_ipc(const char *a1, const char *a2)
{
	return do_clone(CLONE_NEWIPC);
}
static long a_clone_uts(const char *a1, const char *a2)
{
	return do_clone(CLONE_NEWUTS);
}
static long a_clone_cgroup(const char *a1, const char *a2)
{
	return do_clone(CLONE_NEWCGROUP);
}
/* The user namespace flag with garbage in the upper half of the register: the kernel
 * reads clone's flags as unsigned long, so this still asks for a new user namespace. */
static long a_clone_user_hi(const char *a1, const char *a2)
{
	return do_clone(CLONE_NEWUSER | (1UL << 40));
}
static long a_clone3_user(const char *a1, const char *a2)
{
	struct {
		uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
	} args = { .flags = CLONE_NEWUSER, .exit_signal = SIGCHLD };
	long pid = syscall(435 /* clone3 */, &args, sizeof(args));
	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(0);
	(void) waitpid((pid_t) pid, NULL, 0);
	return 0;
}
static long a_setns(const char *a1, const char *a2)
{
	/* Joining one's own net namespace: without the filter, EPERM for lack of
	 * CAP_SYS_ADMIN would be the kernel's answer too; joining the own user namespace is
	 * EINVAL from the kernel but EPERM from the filter. */
	int fd = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	long r = ret(setns(fd, 0));
	(void) close(fd);
	return r;
}

/* --- kernel interfaces ------------------------------------------------------------- */

static long a_keyctl(const char *a1, const char *a2)
{
	return ret(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
}
static long a_add_key(const char *a1, const char *a2)
{
	return ret(syscall(SYS_add_key, "user", "mayfly-probe", "x", 1, KEY_SPEC_PROCESS_KEYRING));
}
static long a_request_key(const char *a1, const char *a2)
{
	return ret(syscall(SYS_request_key, "user", "mayfly-probe", NULL, 0));
}
static long a_bpf(const char *a1, const char *a2)
{
	union bpf_attr attr;
	memset(&attr, 0, sizeof(attr));
	attr.map_type = BPF_MAP_TYPE_ARRAY;
	attr.key_size = 4;
	attr.value_size = 4;
	attr.max_entries = 1;
	return ret_close(syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr)));
}
/* A user-space-only software counter on ourselves: what perf_event_paranoid 2 still
 * lets any user open, so only the filter stands in the way. */
static long a_perf(const char *a1, const char *a2)
{
	struct perf_event_attr pe;
	memset(&pe, 0, sizeof(pe));
	pe.type = PERF_TYPE_SOFTWARE;
	pe.size = sizeof(pe);
	pe.config = PERF_COUNT_SW_TASK_CLOCK;
	pe.disabled = 1;
	pe.exclude_kernel = 1;
	pe.exclude_hv = 1;
	return ret_close(syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0));
}
static long a_io_uring_setup(const char *a1, const char *a2)
{
	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	return ret_close(syscall(425 /* io_uring_setup */, 4, &p));
}
static long a_io_uring_enter(const char *a1, const char *a2)
{
	return ret(syscall(426 /* io_uring_enter */, -1, 0, 0, 0, NULL, 0));
}
static long a_io_uring_register(const char *a1, const char *a2)
{
	return ret(syscall(427 /* io_uring_register */, -1, 0, NULL, 0));
}
/* UFFD_USER_MODE_ONLY is what vm.unprivileged_userfaultfd=0 still allows anyone. */
static long a_userfaultfd(const char *a1, const char *a2)
{
	return ret_close(syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY));
}
static long a_init_module(const char *a1, const char *a2)
{
	static char image[64];
	return ret(syscall(SYS_init_module, image, sizeof(image), ""));
}
static long a_finit_module(const char *a1, const char *a2)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	long r = ret(syscall(SYS_finit_module, fd, "", 0));
	(void) close(fd);
	return r;
}
static long a_delete_module(const char *a1, const char *a2)
{
	return ret(syscall(SYS_delete_module, "mayfly_probe", O_NONBLOCK));
}
static long a_kexec_load(const char *a1, const char *a2)
{
	return ret(syscall(SYS_kexec_load, 0, 0, NULL, 0));
}
static long a_kexec_file_load(const char *a1, const char *a2)
{
	return ret(syscall(SYS_kexec_file_load, -1, -1, 0, "", 2 /* KEXEC_FILE_NO_INITRAMFS */));
}
static long a_reboot(const char *a1, const char *a2)
{
	/* CAD_OFF changes nothing even where it works. */
	return ret(syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
			   LINUX_REBOOT_CMD_CAD_OFF, NULL));
}
static long a_syslog(const char *a1, const char *a2)
{
	return ret(klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0));
}
static long a_open_by_handle_at(const char *a1, const char *a2)
{
	struct {
		unsigned int handle_bytes;
		int handle_type;
		unsigned char f_handle[8];
	} h = { .handle_bytes = 8, .handle_type = 1 };
	return ret_close(syscall(SYS_open_by_handle_at, AT_FDCWD, &h, O_RDONLY));
}
static long a_settimeofday(const char *a1, const char *a2)
{
	struct timeval tv;
	(void) gettimeofday(&tv, NULL);
	return ret(settimeofday(&tv, NULL));
}
static long a_clock_settime(const char *a1, const char *a2)
{
	struct timespec ts;
	(void) clock_gettime(CLOCK_REALTIME, &ts);
	return ret(clock_settime(CLOCK_REALTIME, &ts));
}
static long a_swapon(const char *a1, const char *a2)
{
	return ret(swapon("/tmp/mayfly-probe-swap", 0));
}
static long a_acct(const char *a1, const char *a2)
{
	return ret(acct(NULL));
}
static long a_personality(const char *a1, const char *a2)
{
	/* READ_IMPLIES_EXEC: not in the allowed list. */
	return ret(syscall(SYS_personality, 0x0400000UL));
}
static long a_personality_query(const char *a1, const char *a2)
{
	return ret(syscall(SYS_personality, 0xffffffffUL));
}
static long a_unknown_syscall(const char *a1, const char *a2)
{
	/* No such syscall anywhere: ENOSYS from kernel and filter alike. A control. */
	return ret(syscall(1023));
}

/* i386 getpid through int 0x80: the filter's foreign-ABI action kills the process. */
static long a_int80(const char *a1, const char *a2)
{
#if defined(__x86_64__)
	long r;
	__asm__ volatile("int $0x80" : "=a"(r) : "a"(20L) : "memory");
	printf("returned:%ld\n", r);
	return 1;
#else
	return -ENOTSUP;
#endif
}
/* An x32 getpid: a third ABI on the same architecture. */
static long a_x32(const char *a1, const char *a2)
{
#if defined(__x86_64__)
	return ret(syscall((long) (X32_SYSCALL_BIT + 39)));
#else
	return -ENOTSUP;
#endif
}

/* --- other processes --------------------------------------------------------------- */

static pid_t sleeper(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		(void) prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	return pid;
}

static void reap(pid_t pid)
{
	(void) kill(pid, SIGKILL);
	(void) waitpid(pid, NULL, 0);
}

static long a_ptrace(const char *a1, const char *a2)
{
	pid_t pid = (pid_t) atoi(a1 ? a1 : "1");
	return ret(ptrace(PTRACE_ATTACH, pid, NULL, NULL));
}
/* ptrace of a process the job started itself: refused unless --allow-ptrace. */
static long a_ptrace_child(const char *a1, const char *a2)
{
	pid_t pid = sleeper();
	long r = ret(ptrace(PTRACE_ATTACH, pid, NULL, NULL));
	reap(pid);
	return r;
}
static long a_process_vm_readv(const char *a1, const char *a2)
{
	static char secret[16] = "probe";
	char buf[16];
	struct iovec local = { buf, sizeof(buf) }, remote = { secret, sizeof(secret) };
	pid_t pid = a1 ? (pid_t) atoi(a1) : sleeper();
	long r = ret(syscall(SYS_process_vm_readv, pid, &local, 1, &remote, 1, 0));
	if (!a1)
		reap(pid);
	return r;
}
static long a_pidfd_getfd(const char *a1, const char *a2)
{
	pid_t pid = sleeper();
	int pfd = (int) syscall(SYS_pidfd_open, pid, 0);
	long r = pfd < 0 ? -errno : ret_close(syscall(438 /* pidfd_getfd */, pfd, 0, 0));
	reap(pid);
	return r;
}
static long a_kcmp(const char *a1, const char *a2)
{
	return ret(syscall(SYS_kcmp, getpid(), getpid(), 0 /* KCMP_FILE */, 0, 0));
}
static long a_kill(const char *a1, const char *a2)
{
	return ret(kill((pid_t) atoi(a1 ? a1 : "1"), 0));
}
static long a_open(const char *a1, const char *a2)
{
	return ret_close(open(a1 ? a1 : "/", O_RDONLY | O_CLOEXEC));
}
static long a_open_write(const char *a1, const char *a2)
{
	return ret_close(open(a1 ? a1 : "/", O_WRONLY | O_CLOEXEC));
}
/* Read one byte of pid 1's memory where its stack is (the address does not matter: the
 * open is what fails). */
static long a_read_mem(const char *a1, const char *a2)
{
	char path[64], c;
	int fd;
	(void) snprintf(path, sizeof(path), "/proc/%s/mem", a1 ? a1 : "1");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	long r = pread(fd, &c, 1, 0x1000) < 0 ? -errno : 0;
	(void) close(fd);
	return r;
}

/* --- ids ------------------------------------------------------------------------- */

static long a_setuid0(const char *a1, const char *a2)
{
	return ret(setresuid(0, 0, 0));
}
static long a_setgroups(const char *a1, const char *a2)
{
	return ret(setgroups(0, NULL));
}
static long a_ids(const char *a1, const char *a2)
{
	uid_t r, e, s;
	(void) getresuid(&r, &e, &s);
	printf("returned:%u/%u/%u\n", (unsigned) r, (unsigned) e, (unsigned) s);
	return 1;
}

/* --- devices and terminals --------------------------------------------------------- */

static long a_mknod_chr(const char *a1, const char *a2)
{
	(void) unlink("/tmp/mayfly-probe-null");
	return ret(mknod("/tmp/mayfly-probe-null", S_IFCHR | 0666, makedev(1, 3)));
}
static long a_mknod_blk(const char *a1, const char *a2)
{
	struct stat st;
	dev_t dev = makedev(8, 0);
	/* The host's root device, if the probe can tell (it can: stat shows st_dev). */
	if (stat("/usr", &st) == 0)
		dev = st.st_dev;
	(void) unlink("/tmp/mayfly-probe-blk");
	return ret(mknod("/tmp/mayfly-probe-blk", S_IFBLK | 0666, dev));
}
static long a_mkfifo(const char *a1, const char *a2)
{
	(void) unlink("/tmp/mayfly-probe-fifo");
	return ret(mknod("/tmp/mayfly-probe-fifo", S_IFIFO | 0600, 0));
}

/* A new pty made our controlling terminal, the setting in which TIOCSTI works for an
 * unprivileged process (dev.tty.legacy_tiocsti=1): only the filter refuses it. */
static int own_pty(void)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC), s;
	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0)
		return -1;
	if (setsid() < 0)
		return -1;
	s = open(ptsname(m), O_RDWR | O_CLOEXEC);
	if (s < 0 || ioctl(s, TIOCSCTTY, 0) < 0)
		return -1;
	return s;
}
static long tty_ioctl(unsigned long request)
{
	char c = 'x';
	int s = own_pty();
	if (s < 0)
		return -errno;
	if (request == TIOCGWINSZ) {
		struct winsize ws;
		return ret(syscall(SYS_ioctl, s, request, &ws));
	}
	return ret(syscall(SYS_ioctl, s, request, &c));
}
static long a_tiocsti(const char *a1, const char *a2)
{
	return tty_ioctl(TIOCSTI);
}
/* CVE-2019-10063: the request with bits set above the 32 the kernel reads. */
static long a_tiocsti_hi(const char *a1, const char *a2)
{
	return tty_ioctl(TIOCSTI | (1UL << 32));
}
static long a_tioclinux(const char *a1, const char *a2)
{
	return tty_ioctl(TIOCLINUX);
}
static long a_tiocgwinsz(const char *a1, const char *a2)
{
	return tty_ioctl(TIOCGWINSZ);
}

/* --- sockets ----------------------------------------------------------------------- */

static long sock(long family, long type, long proto)
{
	return ret_close(syscall(SYS_socket, family, type, proto));
}
static long a_raw4(const char *a1, const char *a2)
{
	return sock(AF_INET, SOCK_RAW, IPPROTO_ICMP);
}
static long a_raw6(const char *a1, const char *a2)
{
	return sock(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
}
static long a_raw4_cloexec(const char *a1, const char *a2)
{
	return sock(AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_TCP);
}
static long a_sock_packet(const char *a1, const char *a2)
{
	return sock(AF_INET, SOCK_PACKET, htons(0x0003));
}
static long a_packet(const char *a1, const char *a2)
{
	return sock(AF_PACKET, SOCK_RAW, htons(0x0003 /* ETH_P_ALL */));
}
static long a_packet_dgram(const char *a1, const char *a2)
{
	return sock(AF_PACKET, SOCK_DGRAM, htons(0x0003));
}
/* The family with garbage above the 32 bits the kernel reads. */
static long a_packet_hi(const char *a1, const char *a2)
{
	return sock((long) ((1UL << 32) | AF_PACKET), SOCK_RAW, htons(0x0003));
}
static long a_vsock(const char *a1, const char *a2)
{
	return sock(AF_VSOCK, SOCK_STREAM, 0);
}
static long a_alg(const char *a1, const char *a2)
{
	return sock(AF_ALG, SOCK_SEQPACKET, 0);
}
static long a_af_key(const char *a1, const char *a2)
{
	return sock(AF_KEY, SOCK_RAW, 2 /* PF_KEY_V2 */);
}
static long a_tcp4(const char *a1, const char *a2)
{
	return sock(AF_INET, SOCK_STREAM, 0);
}
static long a_udp6(const char *a1, const char *a2)
{
	return sock(AF_INET6, SOCK_DGRAM, 0);
}
static long a_unix(const char *a1, const char *a2)
{
	return sock(AF_UNIX, SOCK_STREAM, 0);
}
static long a_netlink(const char *a1, const char *a2)
{
	return sock(AF_NETLINK, SOCK_RAW, 0 /* NETLINK_ROUTE */);
}
static long a_socketpair_packet(const char *a1, const char *a2)
{
	int sv[2];
	return ret(socketpair(AF_PACKET, SOCK_DGRAM, 0, sv));
}

static long timed_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	struct timeval tv = { 2, 0 };
	(void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	long r = ret(connect(fd, sa, len));
	(void) close(fd);
	return r;
}
/* connect4:IP:PORT */
static long a_connect4(const char *a1, const char *a2)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) atoi(a2)) };
	if (inet_pton(AF_INET, a1, &sa.sin_addr) != 1)
		return -EINVAL;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	return fd < 0 ? -errno : timed_connect(fd, (struct sockaddr *) &sa, sizeof(sa));
}
/* connect6:IP:PORT, the IP's colons written as '-' (e.g. connect6:--1:80 for [::1]:80). */
static long a_connect6(const char *a1, const char *a2)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6,
				   .sin6_port = htons((uint16_t) atoi(a2)) };
	char ip[64];
	(void) snprintf(ip, sizeof(ip), "%s", a1);
	for (char *p = ip; *p; p++)
		if (*p == '-')
			*p = ':';
	if (inet_pton(AF_INET6, ip, &sa.sin6_addr) != 1)
		return -EINVAL;
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	return fd < 0 ? -errno : timed_connect(fd, (struct sockaddr *) &sa, sizeof(sa));
}
/* udp4:IP:PORT - a datagram, as a DNS query or a metadata probe would send. */
static long a_udp4(const char *a1, const char *a2)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) atoi(a2)) };
	if (inet_pton(AF_INET, a1, &sa.sin_addr) != 1)
		return -EINVAL;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	long r = ret(sendto(fd, "x", 1, 0, (struct sockaddr *) &sa, sizeof(sa)));
	(void) close(fd);
	return r;
}
static socklen_t abstract_addr(struct sockaddr_un *sa, const char *name)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	(void) snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1, "%s", name);
	return (socklen_t) (offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
}
/* abstract:NAME - connect to the abstract unix socket "@NAME". */
static long a_abstract(const char *a1, const char *a2)
{
	struct sockaddr_un sa;
	socklen_t len = abstract_addr(&sa, a1 ? a1 : "mayfly-probe");
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	return fd < 0 ? -errno : timed_connect(fd, (struct sockaddr *) &sa, len);
}
/* Control: listen on an abstract name inside and connect to it. */
static long a_abstract_self(const char *a1, const char *a2)
{
	struct sockaddr_un sa;
	socklen_t len = abstract_addr(&sa, "mayfly-probe-self");
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || bind(l, (struct sockaddr *) &sa, len) < 0 || listen(l, 1) < 0)
		return -errno;
	return a_abstract("mayfly-probe-self", NULL);
}
/* Control: a TCP server inside on 127.0.0.1 answers a client inside. */
static long a_tcp_self(const char *a1, const char *a2)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	char buf[8] = "";
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), c, a;
	if (l < 0 || bind(l, (struct sockaddr *) &sa, len) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *) &sa, &len) < 0)
		return -errno;
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c < 0 || connect(c, (struct sockaddr *) &sa, len) < 0)
		return -errno;
	a = accept(l, NULL, NULL);
	if (a < 0 || write(c, "ping", 4) != 4 || read(a, buf, 4) != 4)
		return -errno;
	return strcmp(buf, "ping") == 0 ? 0 : -EPROTO;
}

/* ----------------------------------------------------------------------------------- */

static const struct {
	const char *name;
	action_fn *fn;
} actions[] = {
	{ "mount", a_mount },
	{ "mount_proc", a_mount_proc },
	{ "remount_rw", a_remount_rw },
	{ "umount", a_umount },
	{ "pivot_root", a_pivot_root },
	{ "chroot", a_chroot },
	{ "fsopen", a_fsopen },
	{ "fsmount", a_fsmount },
	{ "fspick", a_fspick },
	{ "open_tree", a_open_tree },
	{ "move_mount", a_move_mount },
	{ "mount_setattr", a_mount_setattr },
	{ "unshare_user", a_unshare_user },
	{ "unshare_mnt", a_unshare_mnt },
	{ "unshare_net", a_unshare_net },
	{ "unshare_pid", a_unshare_pid },
	{ "clone_user", a_clone_user },
	{ "clone_user_hi", a_clone_user_hi },
	{ "clone_mnt", a_clone_mnt },
	{ "clone_pid", a_clone_pid },
	{ "clone_net", a_clone_net },
	{ "clone_ipc", a_clone_ipc },
	{ "clone_uts", a_clone_uts },
	{ "clone_cgroup", a_clone_cgroup },
	{ "clone_plain", a_clone_plain },
	{ "clone3_user", a_clone3_user },
	{ "setns", a_setns },
	{ "keyctl", a_keyctl },
	{ "add_key", a_add_key },
	{ "request_key", a_request_key },
	{ "bpf", a_bpf },
	{ "perf_event_open", a_perf },
	{ "io_uring_setup", a_io_uring_setup },
	{ "io_uring_enter", a_io_uring_enter },
	{ "io_uring_register", a_io_uring_register },
	{ "userfaultfd", a_userfaultfd },
	{ "init_module", a_init_module },
	{ "finit_module", a_finit_module },
	{ "delete_module", a_delete_module },
	{ "kexec_load", a_kexec_load },
	{ "kexec_file_load", a_kexec_file_load },
	{ "reboot", a_reboot },
	{ "syslog", a_syslog },
	{ "open_by_handle_at", a_open_by_handle_at },
	{ "settimeofday", a_settimeofday },
	{ "clock_settime", a_clock_settime },
	{ "swapon", a_swapon },
	{ "acct", a_acct },
	{ "personality", a_personality },
	{ "personality_query", a_personality_query },
	{ "unknown_syscall", a_unknown_syscall },
	{ "int80", a_int80 },
	{ "x32", a_x32 },
	{ "ptrace", a_ptrace },
	{ "ptrace_child", a_ptrace_child },
	{ "process_vm_readv", a_process_vm_readv },
	{ "pidfd_getfd", a_pidfd_getfd },
	{ "kcmp", a_kcmp },
	{ "kill", a_kill },
	{ "open", a_open },
	{ "open_write", a_open_write },
	{ "read_mem", a_read_mem },
	{ "setuid0", a_setuid0 },
	{ "setgroups", a_setgroups },
	{ "ids", a_ids },
	{ "mknod_chr", a_mknod_chr },
	{ "mknod_blk", a_mknod_blk },
	{ "mkfifo", a_mkfifo },
	{ "tiocsti", a_tiocsti },
	{ "tiocsti_hi", a_tiocsti_hi },
	{ "tioclinux", a_tioclinux },
	{ "tiocgwinsz", a_tiocgwinsz },
	{ "raw4", a_raw4 },
	{ "raw6", a_raw6 },
	{ "raw4_cloexec", a_raw4_cloexec },
	{ "sock_packet", a_sock_packet },
	{ "packet", a_packet },
	{ "packet_dgram", a_packet_dgram },
	{ "packet_hi", a_packet_hi },
	{ "vsock", a_vsock },
	{ "alg", a_alg },
	{ "af_key", a_af_key },
	{ "tcp4", a_tcp4 },
	{ "udp6", a_udp6 },
	{ "unix", a_unix },
	{ "netlink", a_netlink },
	{ "socketpair_packet", a_socketpair_packet },
	{ "connect4", a_connect4 },
	{ "connect6", a_connect6 },
	{ "udp4", a_udp4 },
	{ "abstract", a_abstract },
	{ "abstract_self", a_abstract_self },
	{ "tcp_self", a_tcp_self },
};

static int run_one(const char *arg)
{
	char name[256], *a1 = NULL, *a2 = NULL;
	action_fn *fn = NULL;
	int pipefd[2], status;
	char out[256] = "";
	ssize_t n;
	pid_t pid;

	(void) snprintf(name, sizeof(name), "%s", arg);
	if ((a1 = strchr(name, ':'))) {
		*a1++ = '\0';
		if ((a2 = strchr(a1, ':')))
			*a2++ = '\0';
	}
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (strcmp(actions[i].name, name) == 0) {
			fn = actions[i].fn;
			break;
		}
	if (!fn) {
		fprintf(stderr, "probe: unknown action '%s'\n", name);
		return 2;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return 2;
	(void) fflush(stdout);
	pid = fork();
	if (pid < 0) {
		printf("%s=fork:%s\n", arg, strerrorname_np(errno));
		return 0;
	}
	if (pid == 0) {
		(void) close(pipefd[0]);
		(void) dup2(pipefd[1], 1);
		long r = fn(a1, a2);
		if (r <= 0)
			printf("%s\n", r == 0 ? "ok" : strerrorname_np((int) -r));
		(void) fflush(stdout);
		_exit(0);
	}
	(void) close(pipefd[1]);
	n = read(pipefd[0], out, sizeof(out) - 1);
	out[n > 0 ? n : 0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	(void) close(pipefd[0]);
	(void) waitpid(pid, &status, 0);
	if (WIFSIGNALED(status))
		printf("%s=signal:SIG%s\n", arg, sigabbrev_np(WTERMSIG(status)));
	else
		printf("%s=%s\n", arg, out[0] ? out : "no-answer");
	return 0;
}

int main(int argc, char **argv)
{
	int rc = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i < argc; i++)
		if (run_one(argv[i]) != 0)
			rc = 2;
	return rc;
}

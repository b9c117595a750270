/* test-walls-syscalls.c - try the kernel's dangerous doors from inside a sandbox: mounts,
 * new namespaces, the keyring, eBPF, perf, io_uring, userfaultfd, modules, foreign
 * syscall ABIs, ptrace and friends, terminal injection (security.md invariants 2 and 3,
 * the must-block table of §4.2). The probe (probes/probe.c) makes each raw syscall and
 * prints the errno name; every answer is checked exactly, against the table's action.
 *
 * Where the kernel alone would refuse the same call for lack of a capability, the errno
 * still tells the filter's answer apart in most rows (ENOSYS for the new mount API where
 * the kernel says EPERM, EPERM for setns where it says EINVAL, EAFNOSUPPORT...); the
 * others are covered by walls_ids_no_capabilities_nnp_seccomp (Seccomp: 2). Each test
 * also runs an action of the same kind that must succeed (a plain clone, the personality
 * query, a tty ioctl that is allowed, ptrace of the job's own child with --allow-ptrace). */
#include <sys/utsname.h>

#include "need.h"
#include "probes/walls.h"
#include "run.h"
#include "test.h"

TEST(walls_syscalls_mounts_refused)
{
	NEED(USERNS);
	const char *const expect[] = {
		"mount=EPERM",
		"mount_proc=EPERM",
		"remount_rw=EPERM",
		"umount=EPERM",
		"pivot_root=EPERM",
		"chroot=EPERM",
		/* The new mount API answers ENOSYS, as from an older kernel (§4.2). */
		"fsopen=ENOSYS",
		"fsmount=ENOSYS",
		"fspick=ENOSYS",
		"open_tree=ENOSYS",
		"move_mount=ENOSYS",
		"mount_setattr=ENOSYS",
		"clone_plain=ok", /* control: the probe's syscalls do run */
		NULL,
	};
	const char *const root[] = { "--user", "root", NULL };

	walls_probe_expect(NULL, expect);
	/* Root inside is where a mount would work if a capability were left. */
	walls_probe_expect(root, expect);
}

TEST(walls_syscalls_new_namespaces_refused)
{
	NEED(USERNS);
	const char *const expect[] = {
		"unshare_user=EPERM",
		"unshare_mnt=EPERM",
		"unshare_net=EPERM",
		"unshare_pid=EPERM",
		/* One masked rule per flag; the user namespace flag with garbage in the upper
		 * half of the register too. */
		"clone_user=EPERM",
		"clone_user_hi=EPERM",
		"clone_mnt=EPERM",
		"clone_pid=EPERM",
		"clone_net=EPERM",
		"clone_ipc=EPERM",
		"clone_uts=EPERM",
		"clone_cgroup=EPERM",
		/* clone3's flags are out of seccomp's sight: the whole call is ENOSYS. */
		"clone3_user=ENOSYS",
		/* The kernel would say EINVAL (joining one's own user namespace): EPERM is the
		 * filter's. */
		"setns=EPERM",
		"clone_plain=ok", /* control: clone without namespace flags works */
		NULL,
	};
	const char *const root[] = { "--user", "root", NULL };
	struct run_result res;

	walls_probe_expect(NULL, expect);
	walls_probe_expect(root, expect);

	/* The tool a job would use: unshare(1) fails, and says why. */
	const char *const cmd[] = { "/bin/sh", "-c",
				    "unshare -U true; echo unshare-U=$?; unshare -r -n true; "
				    "echo unshare-rn=$?; true; echo control=$?",
				    NULL };
	walls_run(NULL, cmd, NULL, 30, &res);
	WCHECK_EQ(&res, res.status, 0);
	WCHECK_CONTAINS(&res, res.out, "unshare-U=1\n");
	WCHECK_CONTAINS(&res, res.out, "unshare-rn=1\n");
	WCHECK_CONTAINS(&res, res.out, "control=0\n");
	WCHECK_CONTAINS(&res, res.err, "Operation not permitted");
	run_result_free(&res);
}

TEST(walls_syscalls_kernel_interfaces_refused)
{
	NEED(USERNS);
	const char *const expect[] = {
		/* The keyring is not namespaced; without the filter these succeed. */
		"keyctl=EPERM",
		"add_key=EPERM",
		"request_key=EPERM",
		"bpf=EPERM",
		/* A user-only counter on itself: allowed by perf_event_paranoid=2, refused
		 * by the filter. */
		"perf_event_open=EPERM",
		/* io_uring answers ENOSYS (without the filter: ok, EBADF, EINVAL). */
		"io_uring_setup=ENOSYS",
		"io_uring_enter=ENOSYS",
		"io_uring_register=ENOSYS",
		/* UFFD_USER_MODE_ONLY is open to anyone without the filter. */
		"userfaultfd=EPERM",
		"init_module=EPERM",
		"finit_module=EPERM",
		"delete_module=EPERM",
		"kexec_load=EPERM",
		"kexec_file_load=EPERM",
		"reboot=EPERM",
		"syslog=EPERM",
		"open_by_handle_at=EPERM",
		"settimeofday=EPERM",
		"clock_settime=EPERM",
		"swapon=EPERM",
		"acct=EPERM",
		/* READ_IMPLIES_EXEC is not in Docker's list; the query is (control). */
		"personality=EPERM",
		"personality_query=ok",
		"unknown_syscall=ENOSYS",
		NULL,
	};
	const char *const root[] = { "--user", "root", NULL };

	walls_probe_expect(NULL, expect);
	walls_probe_expect(root, expect);
}

/* --allow-perf opens exactly the call the default refuses: proof that the EPERM above is
 * the filter's and not the host's perf_event_paranoid. */
TEST(walls_syscalls_perf_is_opt_in)
{
	NEED(USERNS);
	const char *paranoid = walls_host_file("/proc/sys/kernel/perf_event_paranoid");
	const char *const allow[] = { "--allow-perf", NULL };
	const char *const expect_allowed[] = { "perf_event_open=ok", NULL };
	const char *const expect_denied[] = { "perf_event_open=EPERM", NULL };

	if (!*paranoid || atoi(paranoid) > 2)
		test_skip("kernel.perf_event_paranoid is '%.*s': perf is closed to users anyway",
			  (int) strcspn(paranoid, "\n"), paranoid);
	walls_probe_expect(allow, expect_allowed);
	walls_probe_expect(NULL, expect_denied);
}

/* i386 (int 0x80) and x32 calls: SCMP_FLTATR_ACT_BADARCH kills the process (SIGSYS), which
 * closes the socketcall(2) hole in the socket family rules. Without the filter int 0x80
 * getpid returns a pid. */
TEST(walls_syscalls_foreign_abi_killed)
{
	NEED(USERNS);
	struct utsname u;
	const char *const expect[] = { "int80=signal:SIGSYS", "x32=signal:SIGSYS", "clone_plain=ok",
				       NULL };

	if (uname(&u) < 0 || strcmp(u.machine, "x86_64") != 0)
		test_skip("foreign ABIs are probed on x86_64 only (this is %s)", u.machine);
	walls_probe_expect(NULL, expect);
}

/* No ptrace of anything the job did not start: pid 1 (mayfly's init, which holds a copy
 * of mayfly's memory) stays out of reach even with --allow-ptrace; by default the whole
 * ptrace family is refused, even on the job's own child. */
TEST(walls_syscalls_ptrace_refused)
{
	NEED(USERNS);
	const char *const expect_default[] = {
		"ptrace:1=EPERM",	    "ptrace_child=EPERM", "process_vm_readv=EPERM",
		"process_vm_readv:1=EPERM", "pidfd_getfd=EPERM",  "kcmp=EPERM",
		"read_mem:1=EACCES",	    "clone_plain=ok",	  NULL,
	};
	const char *const allow[] = { "--allow-ptrace", NULL };
	const char *const expect_allowed[] = {
		"ptrace_child=ok",     /* control: the opt-in works on the job's own child */
		"process_vm_readv=ok", /* ...and so does reading its memory */
		"ptrace:1=EPERM",      /* but the init is not the job's */
		"process_vm_readv:1=EPERM", "read_mem:1=EACCES", NULL,
	};
	const char *const root[] = { "--user", "root", NULL };
	const char *const root_allow[] = { "--user", "root", "--allow-ptrace", NULL };
	const char *const expect_root_allowed[] = { "ptrace:1=EPERM", "process_vm_readv:1=EPERM",
						    "read_mem:1=EACCES", "ptrace_child=ok", NULL };

	walls_probe_expect(NULL, expect_default);
	walls_probe_expect(root, expect_default);
	walls_probe_expect(allow, expect_allowed);
	walls_probe_expect(root_allow, expect_root_allowed);
}

/* TIOCSTI on the job's own controlling terminal (where dev.tty.legacy_tiocsti=1 lets any
 * process type into it), also with bits above the 32 the kernel reads (CVE-2019-10063),
 * and TIOCLINUX. An allowed ioctl on the same terminal is the control. */
TEST(walls_syscalls_tiocsti_refused)
{
	NEED(USERNS);
	const char *const expect[] = { "tiocsti=EPERM", "tiocsti_hi=EPERM", "tioclinux=EPERM",
				       "tiocgwinsz=ok", NULL };
	const char *const root[] = { "--user", "root", NULL };

	walls_probe_expect(NULL, expect);
	walls_probe_expect(root, expect);
}

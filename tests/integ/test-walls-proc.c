/* test-walls-proc.c - processes and /proc (security.md invariants 4, 5 and 6, boundary 3):
 * no host process visible or signalable, mayfly's init inside (a fork of mayfly, holding
 * its memory) out of the job's reach, /proc/sys and /sys not writable, the kernel's
 * information files masked, and nothing of the launcher's environment inside. */
#include <sys/stat.h>

#include "need.h"
#include "probes/walls.h"
#include "run.h"
#include "test.h"

/* ps and /proc show only the sandbox's processes; the test's own host pid is not there
 * (kill -0 says so), the job's own is (the control). */
TEST(walls_proc_host_processes_invisible)
{
	NEED(USERNS);
	pid_t me = getpid();
	struct run_result res;
	const char *script =
		walls_fmt("echo ps:$(ps -e -o pid= | wc -l);"
			  "echo maxpid:$(ls /proc | grep -E '^[0-9]+$' | sort -n | tail -n 1);"
			  "echo npids:$(ls /proc | grep -cE '^[0-9]+$');"
			  "test -e /proc/%d && echo host-pid-in-proc;"
			  "kill -0 %d 2>&1; echo kill-host=$?;"
			  "kill -0 $$; echo kill-self=$?;"
			  "echo init:$(cat /proc/1/comm)",
			  (int) me, (int) me);
	const char *const cmd[] = { "/bin/sh", "-c", script, NULL };

	walls_run(NULL, cmd, NULL, 30, &res);
	WCHECK_EQ(&res, res.status, 0);
	/* init, sh, and the pipeline's processes: a handful, never the host's hundreds. */
	{
		const char *ps = strstr(res.out, "ps:"), *np = strstr(res.out, "npids:");
		WCHECK(&res, ps && atoi(ps + 3) >= 2 && atoi(ps + 3) <= 6);
		WCHECK(&res, np && atoi(np + 6) >= 2 && atoi(np + 6) <= 6);
	}
	WCHECK_NOT_CONTAINS(&res, res.out, "host-pid-in-proc");
	WCHECK_CONTAINS(&res, res.out, "No such process");
	WCHECK_CONTAINS(&res, res.out, "kill-host=1\n");
	WCHECK_CONTAINS(&res, res.out, "kill-self=0\n");
	/* pid 1 is the sandbox's own init (mayfly's), not the host's. */
	WCHECK_CONTAINS(&res, res.out, "init:mayfly\n");
	{
		const char *p = strstr(res.out, "maxpid:");
		WCHECK(&res, p && atoi(p + 7) > 0 && atoi(p + 7) < 100);
	}
	run_result_free(&res);
}

/* The init inside is a fork of mayfly (its memory holds mayfly's environment and
 * arguments): its environ, mem, open files, cwd, root and exe are out of reach, as the
 * job's user and as root inside; the job's own are readable (the control). Writing to
 * /proc/1/exe would overwrite the runtime binary (CVE-2019-5736). (In rootless mode the
 * job's uid owns /proc/1's directories, so listing /proc/1/fd may work: the fds' targets
 * stay out of reach, which is what is checked.) */
TEST(walls_proc_init_out_of_reach)
{
	NEED(USERNS);
	const char *const expect[] = {
		"open:/proc/1/environ=EACCES",
		"read_mem:1=EACCES",
		"open:/proc/1/fd/0=EACCES",
		"open:/proc/1/fd/3=EACCES",
		"open:/proc/1/cwd=EACCES",
		"open:/proc/1/root=EACCES",
		"open:/proc/1/exe=EACCES",
		"open_write:/proc/1/exe=EACCES",
		"ptrace:1=EPERM",
		/* Controls: the job's own. */
		"open:/proc/self/environ=ok",
		"open:/proc/self/fd=ok",
		"open:/proc/1/cmdline=ok",
		NULL,
	};
	const char *const root[] = { "--user", "root", NULL };
	const char *const cmd[] = { "/bin/sh", "-c",
				    "echo x >> /proc/self/exe; echo self-exe=$?;"
				    "echo x > /proc/1/exe; echo init-exe=$?",
				    NULL };
	struct run_result res;

	walls_probe_expect(NULL, expect);
	walls_probe_expect(root, expect);
	/* Through the shell too; the job's own binary (a host file) is not writable
	 * either. */
	walls_run(root, cmd, NULL, 30, &res);
	WCHECK_CONTAINS(&res, res.out, "self-exe=2\n");
	WCHECK_CONTAINS(&res, res.out, "init-exe=2\n");
	WCHECK_CONTAINS(&res, res.err, "cannot create /proc/1/exe: Permission denied");
	run_result_free(&res);
}

/* /proc/sys is read-only (as root inside too, where the network namespace's own sysctls
 * such as ip_forward would otherwise be writable), /proc/sysrq-trigger is not writable;
 * the values stay readable (control). */
TEST(walls_proc_sys_read_only)
{
	NEED(USERNS);
	const char *const root[] = { "--user", "root", NULL };
	const char *const cmd[] = {
		"/bin/sh",
		"-c",
		"for f in kernel/hostname kernel/core_pattern kernel/modprobe vm/drop_caches "
		"    net/ipv4/ip_forward fs/protected_symlinks; do"
		"  [ -e /proc/sys/$f ] || continue; echo present:$f;"
		"  if echo 1 2>/dev/null > /proc/sys/$f; then echo writable:$f; fi;"
		"  (echo 1 > /proc/sys/$f) 2>&1 | grep -q 'Read-only file system' || echo "
		"    not-erofs:$f;"
		"done;"
		"if [ -e /proc/sysrq-trigger ]; then echo h 2>/dev/null > /proc/sysrq-trigger && "
		"echo writable:sysrq-trigger; fi;"
		"echo hostname:$(cat /proc/sys/kernel/hostname)",
		NULL,
	};
	struct run_result res;

	walls_run(root, cmd, NULL, 30, &res);
	WCHECK_EQ(&res, res.status, 0);
	WCHECK_NOT_CONTAINS(&res, res.out, "writable:");
	WCHECK_NOT_CONTAINS(&res, res.out, "not-erofs:");
	WCHECK_CONTAINS(&res, res.out, "present:kernel/hostname\n");
	WCHECK_CONTAINS(&res, res.out, "present:net/ipv4/ip_forward\n");
	WCHECK_CONTAINS(&res, res.out, "hostname:mayfly\n");
	run_result_free(&res);
}

/* The kernel information files of security.md §4.3 are masked: each one the host has
 * is unreadable or empty inside; an ordinary /proc file is readable (control). */
TEST(walls_proc_kernel_files_masked)
{
	NEED(USERNS);
	static const char *const masked[] = { "kcore",	     "keys",	      "timer_list",
					      "sched_debug", "sysrq-trigger", "kallsyms",
					      "kmsg" };
	char script[2048] = "";
	size_t off = 0, present = 0;
	const char *const root[] = { "--user", "root", NULL };
	struct run_result res;

	for (size_t i = 0; i < sizeof(masked) / sizeof(masked[0]); i++) {
		char host[64];
		(void) snprintf(host, sizeof(host), "/proc/%s", masked[i]);
		if (access(host, F_OK) < 0)
			continue; /* this kernel has no such file: nothing to leak */
		present++;
		/* A read that fails or returns nothing is fine; any byte is a leak. */
		off += (size_t) snprintf(script + off, sizeof(script) - off,
					 "n=$(timeout 2 head -c 64 /proc/%s 2>/dev/null | wc -c);"
					 " [ \"$n\" = 0 ] || echo readable:%s;",
					 masked[i], masked[i]);
	}
	(void) snprintf(script + off, sizeof(script) - off,
			"echo uptime:$(head -c 64 /proc/uptime | wc -c)");
	const char *const cmd[] = { "/bin/sh", "-c", script, NULL };
	printf("# %zu of the masked files exist on this host\n", present);
	walls_run(NULL, cmd, NULL, 30, &res);
	WCHECK_EQ(&res, res.status, 0);
	WCHECK_NOT_CONTAINS(&res, res.out, "readable:");
	WCHECK_NOT_CONTAINS(&res, res.out, "uptime:0\n");
	WCHECK_CONTAINS(&res, res.out, "uptime:");
	run_result_free(&res);
	walls_run(root, cmd, NULL, 30, &res);
	WCHECK_EQ(&res, res.status, 0);
	WCHECK_NOT_CONTAINS(&res, res.out, "readable:");
	run_result_free(&res);
}

/* /sys absent (or read-only), and no cgroup file system or control file inside. */
TEST(walls_proc_no_writable_sys_or_cgroupfs)
{
	NEED(USERNS);
	const char *const root[] = { "--user", "root", NULL };
	const char *const cmd[] = {
		"/bin/sh",
		"-c",
		"if [ -e /sys ]; then touch /sys/x 2>/dev/null && echo sys-writable;"
		"  for f in /sys/kernel/uevent_helper /sys/fs/cgroup/cgroup.procs; do"
		"    [ -e $f ] && echo $$ 2>/dev/null > $f && echo writable:$f; done;"
		"else echo no-sys; fi;"
		"grep -E ' - (cgroup|cgroup2|sysfs|debugfs|securityfs|tracefs|bpf) ' "
		"  /proc/self/mountinfo | sed 's/^/kernel-fs:/';"
		"find / -path /proc -prune -o \\( -name cgroup.procs -o -name release_agent "
		"  \\) -print 2>/dev/null | sed 's/^/control-file:/';"
		"echo cgroup:$(cat /proc/self/cgroup | tr '\\n' ' ')",
		NULL,
	};
	struct run_result res;

	walls_run(root, cmd, NULL, 30, &res);
	WCHECK_EQ(&res, res.status, 0);
	WCHECK_NOT_CONTAINS(&res, res.out, "sys-writable");
	WCHECK_NOT_CONTAINS(&res, res.out, "writable:");
	WCHECK_NOT_CONTAINS(&res, res.out, "kernel-fs:");
	WCHECK_NOT_CONTAINS(&res, res.out, "control-file:");
	/* The cgroup namespace: the sandbox's cgroup is its root, no host path shows. */
	WCHECK_NOT_CONTAINS(&res, res.out, "mayfly/");
	WCHECK_CONTAINS(&res, res.out, "cgroup:");
	run_result_free(&res);
}

/* The launcher's environment stays outside: a canary in mayfly's environment is in no
 * `env` and no /proc/<pid>/environ readable inside, pid 1's environ is unreadable; the
 * same canary passed on purpose (--env NAME copies it) does arrive (the control). */
TEST(walls_proc_launcher_environment_not_inside)
{
	NEED(USERNS);
	char canary[96];
	char *env[2];
	const char *const opts[] = { "--env", "MAYFLY_VISIBLE=shown", NULL };
	const char *const copy[] = { "--env", "MAYFLY_CANARY_SECRET", NULL };
	const char *const cmd[] = {
		"/bin/sh",
		"-c",
		"env; for f in /proc/[0-9]*/environ /proc/[0-9]*/task/*/environ; do"
		"  tr '\\0' '\\n' < $f 2>/dev/null; done;"
		/* (spelt so that the script's own text, in /proc/1/cmdline, lacks it) */
		"cat /proc/1/environ >/dev/null 2>&1 && echo pid1-environ-read$(echo able);"
		"tr '\\0' '\\n' < /proc/1/cmdline",
		NULL,
	};
	struct run_result res;

	(void) snprintf(canary, sizeof(canary), "MAYFLY_CANARY_SECRET=canary-%d-xyzzy",
			(int) getpid());
	env[0] = canary;
	env[1] = NULL;
	walls_run(opts, cmd, env, 30, &res);
	WCHECK_EQ(&res, res.status, 0);
	WCHECK_NOT_CONTAINS(&res, res.out, "xyzzy");
	WCHECK_NOT_CONTAINS(&res, res.err, "xyzzy");
	WCHECK_NOT_CONTAINS(&res, res.out, "pid1-environ-readable");
	WCHECK_CONTAINS(&res, res.out, "MAYFLY_VISIBLE=shown\n");
	run_result_free(&res);

	walls_run(copy, cmd, env, 30, &res);
	WCHECK_EQ(&res, res.status, 0);
	WCHECK_CONTAINS(&res, res.out, canary);
	run_result_free(&res);
}

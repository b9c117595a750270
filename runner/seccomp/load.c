/* load.c - install a compiled policy. Runs in a freshly cloned child between
 * PR_SET_NO_NEW_PRIVS and execve(): one syscall, no allocation, no locks, no libseccomp. */
#include "seccomp/seccomp.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "seccomp/internal.h"
#include "util/banned.h"

int sc_policy_load(const struct sc_policy *p)
{
	unsigned long flags = 0;

	if (!p)
		return -EINVAL;
	/* Log every action but ALLOW to the audit log (kernel.seccomp.actions_logged). */
	if (p->flags & SC_LOG)
		flags |= SECCOMP_FILTER_FLAG_LOG;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &p->prog) < 0)
		return -errno;
	return 0;
}

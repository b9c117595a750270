/* enosys - run a command where newer system calls fail with ENOSYS, as on an older kernel
 * or under a container runtime whose seccomp profile predates them, so that mayfly's
 * fallbacks run in the tests: `enosys COMMAND [ARG]...`. MAYFLY_ENOSYS="a b c" replaces
 * the default list (clone3 openat2 mount_setattr open_tree move_mount fsopen fsmount). */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *list = getenv("MAYFLY_ENOSYS");
	char names[1024];
	scmp_filter_ctx ctx;

	if (argc < 2) {
		fprintf(stderr, "usage: enosys COMMAND [ARG]...\n");
		return 125;
	}
	snprintf(names, sizeof(names), "%s",
		 list ? list : "clone3 openat2 mount_setattr open_tree move_mount fsopen fsmount");
	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return 125;
	for (char *save = NULL, *n = strtok_r(names, " ", &save); n;
	     n = strtok_r(NULL, " ", &save)) {
		int nr = seccomp_syscall_resolve_name(n);
		if (nr == __NR_SCMP_ERROR ||
		    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0) < 0) {
			fprintf(stderr, "enosys: unknown syscall '%s'\n", n);
			return 125;
		}
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || seccomp_load(ctx) < 0) {
		perror("enosys: load filter");
		return 125;
	}
	seccomp_release(ctx);
	execvp(argv[1], argv + 1);
	fprintf(stderr, "enosys: exec '%s': %s\n", argv[1], strerror(errno));
	return 127;
}

/* spinup.h - what the parts of benchmarks/spinup share: the contenders, the run's state and
 * the functions each part gives the others. spinup.c runs and reports, spinup-spawn.c starts
 * processes (and the floor), spinup-peers.c builds each peer's command line (crun's bundle and
 * its cgroup work-arounds), spinup-idle.c measures an idle sandbox's memory. */
#pragma once

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/json.h"
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#include "bench.h"

#define WARMUP		3
#define RUN_TIMEOUT_S	10	/* a run that takes longer makes its peer unavailable */
#define IDLE_WAIT_MS	5000	/* for the sleep to appear, and for teardown */
#define IDLE_SETTLE_MS	200	/* let the launcher finish settling before we read memory */
#define UNPRIV_ID	1000000 /* the host uid sandbox root maps to when we are root */
#define CRUN_ID_MAX	64
#define WHY_MAX		384
#define CGROUP2_UNIFIED "/sys/fs/cgroup/unified"

DEFINE_CLEANUP(char **, strv_free)

enum peer { P_FORKEXEC, P_FLOOR, P_UNSHARE, P_BWRAP, P_CRUN, P_MAYFLY, P_COUNT };

struct contender {
	const char *name;
	const char *exe; /* resolved launcher; NULL when not needed or not found */
	bool ok;
	char why[WHY_MAX];  /* why unavailable */
	char note[WHY_MAX]; /* what it took to make it run, when that needs saying */
	char **argv_true;   /* runs /bin/true (for the floor: is the command) */
	char **argv_false;  /* the same with /bin/false */
	int mntns_fd;	    /* mount namespace to enter before exec, or -1 */
	double *ms;	    /* samples after warm-up */
	size_t n;
};

/* The host's top-level dirs next to /usr: usr-merged symlinks are recreated, dirs bound. */
struct layout_entry {
	char name[16];
	char target[PATH_MAX]; /* empty: a real directory, bind-mounted read-only */
};

struct idle {
	bool ok;
	char why[WHY_MAX];
	uint64_t pss_kib, rss_kib;
	unsigned nproc, leftover;
};

struct bench {
	char tmp[PATH_MAX]; /* scratch dir, removed at exit */
	struct layout_entry lay[6];
	size_t nlay;
	unsigned host_id;
	char *oci_bundle;  /* path of oci-bundle.sh, or NULL */
	char **crun_flags; /* extra global crun options that made it work */
	unsigned crun_seq;
	int null_fd;
	struct contender c[P_COUNT];
	struct idle idle[P_COUNT];
};

struct child_err {
	int code;
	char what[120];
};

/* The commands every contender runs. */
extern char *const cmd_true[], *const cmd_false[], *const cmd_sleep[];

/* spinup-spawn.c */
void sleep_ms(unsigned ms);
/* A forked child reports why it failed (code, what) on fd and leaves. */
_Noreturn void child_fail(int fd, int code, const char *what);
/* EOF on the close-on-exec pipe fd means the child reached execve: 0; else its error. */
int read_child_err(int fd, struct err *err);
/* name searched in $PATH (or taken as it is with a '/'); NULL when not executable. */
char *find_exe(const char *name);
/* fork, setpgid, setns(mntns_fd) unless -1, stdout/stderr to out_fd/err_fd, execve argv. */
int fork_spawn(char *const *argv, int mntns_fd, int out_fd, int err_fd, pid_t *ret_pid,
	       struct err *err);
/* "exit 1: <first line of err_fd>", "killed by signal 9", ... into buf. */
void describe(int status, int err_fd, char *buf, size_t size);
/* The floor: a bare clone() with every namespace, the id map, /proc, then argv. */
int floor_spawn(const struct bench *b, char *const *argv, int err_fd, pid_t *ret_pid,
		struct err *err);

/* spinup-peers.c */
char *find_oci_bundle(const char *given);
void read_layout(struct bench *b);
/* The command line that runs cmd under peer p; NULL when p is missing. */
char **peer_argv(struct bench *b, enum peer p, char *const *cmd, const char *tag, struct err *err);
void setup_crun(struct bench *b, struct contender *c);

/* spinup.c */
bool probe(struct bench *b, struct contender *c);

/* spinup-idle.c */
/* How many live descendants we have; sends sig (unless 0) to each. */
size_t descendants(int sig);
void reap_some(void);
void measure_idle(struct bench *b, enum peer p, struct idle *out);

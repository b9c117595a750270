/* state.c - the state directory, uid slots and clocks. */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "jail/jail.h"
#include "sandbox/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

char *sandbox_state_dir(const char *override)
{
	const char *e = getenv("MAYFLY_STATE_DIR");
	const char *xdg = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");

	if (override && *override)
		return xstrdup(override);
	if (e && *e)
		return xstrdup(e);
	if (geteuid() == 0)
		return xstrdup("/var/lib/mayfly");
	if (xdg && *xdg == '/')
		return path_join(xdg, "mayfly");
	return xasprintf("%s/.local/state/mayfly", home && *home ? home : "/tmp");
}

/* In root mode the sandbox builds its root on <state>/root as an unprivileged host uid,
 * so every directory on the way there must be searchable by others (0711 is enough: it
 * lists nothing). We make the dirs we create so; one made by someone else we name. */
static int check_searchable(const char *state, struct err *err)
{
	cleanup_free char *p = xstrdup(state);

	if (geteuid() != 0)
		return 0; /* rootless: the sandbox runs as the state dir's owner */
	for (;;) {
		struct stat st;
		if (stat(p, &st) < 0)
			return err_set(err, errno, "stat '%s'", p);
		if (!(st.st_mode & S_IXOTH))
			return err_set(err, EACCES,
				       "state dir '%s': sandboxes cannot reach it because '%s' is "
				       "not searchable by others: chmod o+x '%s' (mode 0711 shows "
				       "nothing), or choose another state dir",
				       state, p, p);
		char *slash = strrchr(p, '/');
		if (!slash || slash == p)
			return 0;
		*slash = '\0';
	}
}

int state_prepare(const char *state, struct err *err)
{
	static const char *const subdirs[] = { "sandboxes", "slots", "root", "images", "cache" };
	int r;

	if (*state != '/')
		return err_set(err, EINVAL, "state dir '%s': must be an absolute path", state);
	r = mkdir_p(state, 0711, err);
	if (r == -EROFS || r == -EACCES || r == -EPERM)
		return err_wrap(err,
				"state dir '%s' is not writable: choose another with "
				"--state-dir or MAYFLY_STATE_DIR",
				state);
	if (r < 0)
		return err_wrap(err, "state dir '%s'", state);
	for (size_t i = 0; i < ARRAY_SIZE(subdirs); i++) {
		cleanup_free char *p = path_join(state, subdirs[i]);
		/* root/ (a mount point) and images/ are reached by sandboxes, cache/ by initdb
		 * building a template as the cache's owner. */
		bool reached = strcmp(subdirs[i], "root") == 0 ||
			       strcmp(subdirs[i], "images") == 0 ||
			       strcmp(subdirs[i], "cache") == 0;
		int made = mkdir(p, reached ? 0711 : 0700);
		if (made < 0 && errno == EEXIST && reached)
			(void) chmod(p, 0711); /* made 0700 by an older mayfly */
		else if (made < 0 && errno != EEXIST) {
			r = -errno;
			if (r == -EROFS || r == -EACCES || r == -EPERM)
				return err_set(err, -r,
					       "state dir '%s' is not writable: choose "
					       "another with --state-dir or "
					       "MAYFLY_STATE_DIR",
					       state);
			return err_set(err, -r, "state dir '%s': mkdir '%s'", state, p);
		}
	}
	if (access(state, W_OK) < 0)
		return err_set(err, errno,
			       "state dir '%s' is not writable: choose another with "
			       "--state-dir or MAYFLY_STATE_DIR",
			       state);
	return check_searchable(state, err);
}

int slot_acquire(const char *state, unsigned *ret_slot, int *ret_fd, struct err *err)
{
	cleanup_free char *dir = path_join(state, "slots");

	for (unsigned n = 0; n < SLOT_MAX; n++) {
		char name[32];
		cleanup_free char *p = NULL;
		int fd;

		(void) snprintf(name, sizeof(name), "%u", n);
		p = path_join(dir, name);
		fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return err_set(err, errno, "open slot '%s'", p);
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			*ret_slot = n;
			*ret_fd = fd;
			return 0;
		}
		(void) close(fd);
		if (errno != EWOULDBLOCK)
			return err_set(err, errno, "lock slot '%s'", p);
	}
	return err_set(err, EAGAIN, "all %u sandbox slots are in use", SLOT_MAX);
}

uint64_t proc_start_time(pid_t pid)
{
	char path[64];
	char buf[1024];
	cleanup_close int fd = -1;
	ssize_t n;
	char *p;
	uint64_t v = 0;

	(void) snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* Skip "pid (comm)": comm may hold spaces and parentheses; the last ')' ends it. */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	/* Field 22 is starttime; after ')' come fields 3.. separated by single spaces. */
	for (int field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p)
		return 0;
	for (p++; *p >= '0' && *p <= '9'; p++)
		v = v * 10 + (uint64_t) (*p - '0');
	return v;
}

int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

/* Root mode: we may map a range of host ids that no real user has. Under `unshare -r`
 * or as a plain user we own one id only: rootless mode. */
bool sandbox_root_mode(void)
{
	cleanup_free char *map = NULL;
	struct err err = { 0 };
	const uint64_t lo = SLOT_UID_BASE, hi = lo + (uint64_t) SLOT_MAX * JAIL_ID_COUNT;

	if (geteuid() != 0)
		return false;
	if (read_file_at(AT_FDCWD, "/proc/self/uid_map", 4096, &map, NULL, &err) < 0)
		return false;
	for (char *line = map; line && *line;) {
		unsigned long long in, out, count;
		if (sscanf(line, "%llu %llu %llu", &in, &out, &count) == 3 && in <= lo &&
		    in + count >= hi)
			return true;
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
	return false;
}

void sandbox_cache_owner(uid_t *ret_uid, gid_t *ret_gid)
{
	bool root = sandbox_root_mode();

	*ret_uid = root ? SANDBOX_CACHE_UID : geteuid();
	*ret_gid = root ? SANDBOX_CACHE_GID : getegid();
}

/* spinup-idle.c - the memory an idle sandbox costs: every process a launcher leaves around
 * an idle "sleep 30" (we are a subreaper), PSS and RSS from smaps_rollup, then teardown. */
#include "spinup.h"

struct proc {
	pid_t pid, ppid;
	char state;
	char comm[32];
};

/* Every process in /proc; *ret_n entries. */
static struct proc *proc_scan(size_t *ret_n)
{
	DIR *d = opendir("/proc");
	struct proc *ps = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;

	while (d && (de = readdir(d))) {
		char path[64], buf[512], *close_paren;
		unsigned pid;
		int ppid;
		ssize_t len;
		int fd;

		if (safe_atou(de->d_name, &pid) < 0)
			continue;
		(void) snprintf(path, sizeof(path), "/proc/%u/stat", pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		(void) close(fd);
		if (len <= 0)
			continue;
		buf[len] = '\0';
		close_paren = strrchr(buf, ')');
		if (!close_paren || !strchr(buf, '('))
			continue;
		if (n == cap)
			ps = xrealloc(ps, (cap = cap ? cap * 2 : 256) * sizeof(*ps));
		ps[n] = (struct proc){ .pid = (pid_t) pid };
		*close_paren = '\0';
		(void) snprintf(ps[n].comm, sizeof(ps[n].comm), "%s", strchr(buf, '(') + 1);
		if (sscanf(close_paren + 1, " %c %d", &ps[n].state, &ppid) != 2)
			continue;
		ps[n].ppid = ppid;
		n++;
	}
	if (d)
		(void) closedir(d);
	*ret_n = n;
	return ps;
}

/* Every process, and in *ret_mark which are our live descendants: as a subreaper we inherit
 * whatever a launcher leaves behind, so this is everything it started. Both are the caller's. */
static struct proc *scan_tree(size_t *ret_n, bool **ret_mark)
{
	struct proc *ps = proc_scan(ret_n);
	size_t n = *ret_n;
	bool *mark = xcalloc(n + 1, sizeof(bool));
	bool changed = true;

	while (changed) {
		changed = false;
		for (size_t i = 0; i < n; i++) {
			bool parent_in = ps[i].ppid == getpid();
			for (size_t j = 0; !parent_in && j < n; j++)
				parent_in = mark[j] && ps[j].pid == ps[i].ppid;
			if (!mark[i] && parent_in)
				mark[i] = changed = true;
		}
	}
	for (size_t i = 0; i < n; i++)
		mark[i] = mark[i] && ps[i].state != 'Z';
	*ret_mark = mark;
	return ps;
}

/* How many live descendants we have; sends sig (unless 0) to each. */
size_t descendants(int sig)
{
	cleanup_free bool *mark = NULL;
	size_t n, count = 0;
	cleanup_free struct proc *ps = scan_tree(&n, &mark);

	for (size_t i = 0; i < n; i++)
		if (mark[i] && (count++, sig))
			(void) kill(ps[i].pid, sig);
	return count;
}

void reap_some(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

static int smaps_kib(pid_t pid, uint64_t *pss, uint64_t *rss)
{
	char path[64], line[256];
	cleanup_fclose FILE *f = NULL;
	unsigned long long v;

	(void) snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int) pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Pss: %llu kB", &v) == 1)
			*pss += v;
		else if (sscanf(line, "Rss: %llu kB", &v) == 1)
			*rss += v;
	}
	return 0;
}

/* Memory of p's launcher tree around an idle "sleep 30", the sleep itself not counted. */
void measure_idle(struct bench *b, enum peer p, struct idle *out)
{
	cleanup_close int mfd = memfd_create("spinup-stderr", MFD_CLOEXEC);
	struct err err = { 0 };
	char **argv = peer_argv(b, p, cmd_sleep, "sleep", &err);
	pid_t pid = -1, sleep_pid = -1;
	bool exited = false;
	int status = 0;

	if (!argv || mfd < 0 || fork_spawn(argv, -1, b->null_fd, mfd, &pid, &err) < 0) {
		(void) snprintf(out->why, sizeof(out->why), "%s",
				b->c[p].why[0] ? b->c[p].why : err.msg);
		argv = strv_free(argv);
		return;
	}
	argv = strv_free(argv);
	for (unsigned t = 0; t < IDLE_WAIT_MS && sleep_pid < 0 && !exited; t++) {
		cleanup_free bool *mark = NULL;
		size_t n;
		cleanup_free struct proc *ps = scan_tree(&n, &mark);

		for (size_t i = 0; i < n; i++)
			if (mark[i] && strcmp(ps[i].comm, "sleep") == 0)
				sleep_pid = ps[i].pid;
		exited = waitpid(pid, &status, WNOHANG) == pid;
		sleep_ms(1);
	}
	if (sleep_pid < 0) {
		char d[WHY_MAX] = "still running";
		if (exited)
			describe(status, mfd, d, sizeof(d));
		(void) snprintf(out->why, sizeof(out->why), "no 'sleep' within %d ms (%s)",
				IDLE_WAIT_MS, d);
	} else {
		cleanup_free struct proc *ps = NULL;
		cleanup_free bool *mark = NULL;
		size_t n;
		int r = 0;

		sleep_ms(IDLE_SETTLE_MS);
		ps = scan_tree(&n, &mark);
		for (size_t i = 0; i < n && r == 0; i++)
			if (mark[i] && ps[i].pid != sleep_pid) {
				r = smaps_kib(ps[i].pid, &out->pss_kib, &out->rss_kib);
				out->nproc++;
			}
		out->ok = r == 0;
		if (r < 0)
			(void) snprintf(out->why, sizeof(out->why), "read smaps_rollup: %s",
					strerror(-r));
	}
	/* Teardown: SIGTERM the launcher, then everything must be gone. */
	if (!exited)
		(void) kill(pid, SIGTERM);
	for (unsigned t = 0; t < IDLE_WAIT_MS && (reap_some(), descendants(0)) > 0; t++)
		sleep_ms(1);
	out->leftover = (unsigned) descendants(SIGKILL);
	for (unsigned t = 0; t < IDLE_WAIT_MS && (reap_some(), descendants(0)) > 0; t++)
		sleep_ms(1);
}

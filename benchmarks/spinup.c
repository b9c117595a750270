/* spinup.c - how long a sandbox takes to run /bin/true to completion, teardown included, next
 * to peers measured in the same run: plain fork+exec, the floor (a bare clone() with every
 * namespace, written here), unshare(1), bubblewrap, crun and mayfly; then the memory an idle
 * sandbox costs its host. A peer that is missing or fails gets an "unavailable" row with the
 * reason and the rest still runs. Usage: spinup [-n RUNS] [--json] [--oci-bundle PATH];
 * MAYFLY_BIN names the mayfly binary. What the numbers mean: benchmarks/README.md. */
#include "spinup.h"

static const char *const peer_names[P_COUNT] = { "fork+exec", "floor", "unshare",
						 "bwrap",     "crun",  "mayfly" };

char *const cmd_true[] = { "/bin/true", NULL };
char *const cmd_false[] = { "/bin/false", NULL };
char *const cmd_sleep[] = { "sleep", "30", NULL };

static volatile sig_atomic_t alarm_fired;

static void on_alarm(int sig)
{
	alarm_fired = 1;
}

static double ms_between(const struct timespec *a, const struct timespec *b)
{
	return (double) (b->tv_sec - a->tv_sec) * 1e3 + (double) (b->tv_nsec - a->tv_nsec) / 1e6;
}

/* Wait for pid and for everything it left behind (we are a subreaper), so a launcher that
 * returns before its sandbox is gone is not timed as done. */
static int wait_tree(pid_t pid, int *ret_status, struct err *err)
{
	bool timed_out = false;
	int st, status = -1;

	for (;;) {
		pid_t w = waitpid(-1, &st, 0);
		if (w == pid)
			status = st;
		if (w > 0)
			continue;
		if (errno != EINTR || (alarm_fired && timed_out))
			break; /* ECHILD: all gone; or stuck even after SIGKILL */
		if (alarm_fired) {
			timed_out = true;
			alarm_fired = 0;
			(void) descendants(SIGKILL);
			alarm(2);
		}
	}
	if (timed_out) {
		err->code = ETIMEDOUT;
		(void) snprintf(err->msg, sizeof(err->msg), "no exit within %d s, killed",
				RUN_TIMEOUT_S);
		return -ETIMEDOUT;
	}
	*ret_status = status;
	return 0;
}

/* One run of argv (or of the floor): wall time from before fork until reaped. */
static int run_once(struct bench *b, struct contender *c, char **argv, int err_fd, double *ret_ms,
		    int *ret_status, struct err *err)
{
	struct timespec t0, t1;
	pid_t pid = -1;
	int r;

	if (c == &b->c[P_CRUN])
		(void) snprintf(argv[strv_len(argv) - 1], CRUN_ID_MAX, "spinup-%d-%u",
				(int) getpid(), b->crun_seq++);
	alarm_fired = 0;
	alarm(RUN_TIMEOUT_S);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (c == &b->c[P_FLOOR])
		r = floor_spawn(b, argv, err_fd, &pid, err);
	else
		r = fork_spawn(argv, c->mntns_fd, b->null_fd, err_fd, &pid, err);
	if (r >= 0)
		r = wait_tree(pid, ret_status, err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	alarm(0);
	*ret_ms = ms_between(&t0, &t1);
	return r;
}

/* Run argv once with stderr captured; true when its exit status is what we expect. */
static bool try_run(struct bench *b, struct contender *c, char **argv, bool want_success, char *why,
		    size_t size)
{
	cleanup_close int mfd = memfd_create("spinup-stderr", MFD_CLOEXEC);
	struct err err = { 0 };
	double ms;
	int status = 0;

	if (mfd < 0 || run_once(b, c, argv, mfd, &ms, &status, &err) < 0) {
		(void) snprintf(why, size, "%s", mfd < 0 ? strerror(errno) : err.msg);
		return false;
	}
	if (want_success == (WIFEXITED(status) && WEXITSTATUS(status) == 0))
		return true;
	if (want_success)
		describe(status, mfd, why, size);
	else
		(void) snprintf(why, size,
				"'/bin/false' exited 0 under it: the command did not run");
	return false;
}

/* /bin/true must succeed and /bin/false must fail: a launcher that ignores its command
 * (a stub) is not timed. Sets or clears c->why. */
bool probe(struct bench *b, struct contender *c)
{
	bool ok = try_run(b, c, c->argv_true, true, c->why, sizeof(c->why)) &&
		  try_run(b, c, c->argv_false, false, c->why, sizeof(c->why));
	if (ok)
		c->why[0] = '\0';
	return ok;
}

/* Sorts c->ms. out[0] median, out[1] p95 (nearest rank), out[2] min. */
static void stats(struct contender *c, double out[3])
{
	size_t n = c->n, k = (n * 95 + 99) / 100;

	qsort(c->ms, n, sizeof(double), bench_cmp_double);
	out[0] = n % 2 ? c->ms[n / 2] : (c->ms[n / 2 - 1] + c->ms[n / 2]) / 2;
	out[1] = c->ms[k ? k - 1 : 0];
	out[2] = c->ms[0];
}

static const enum peer ratio_to[] = { P_BWRAP, P_FLOOR, P_UNSHARE, P_CRUN };

static void print_text(struct bench *b, unsigned runs, double st[P_COUNT][3])
{
	struct contender *m = &b->c[P_MAYFLY];

	printf("spinup: /bin/true to completion (launcher exited and reaped, teardown included);"
	       " %u runs each after %d warm-up, interleaved\n",
	       runs, WARMUP);
	printf("%-10s %10s %10s %10s\n", "name", "median ms", "p95 ms", "min ms");
	for (int p = 0; p < P_COUNT; p++)
		if (b->c[p].ok)
			printf("%-10s %10.2f %10.2f %10.2f\n", b->c[p].name, st[p][0], st[p][1],
			       st[p][2]);
		else
			printf("%s: unavailable (%s)\n", b->c[p].name, b->c[p].why);
	for (int p = 0; p < P_COUNT; p++)
		if (b->c[p].note[0])
			printf("note %s: %s\n", b->c[p].name, b->c[p].note);
	for (size_t i = 0; i < ARRAY_SIZE(ratio_to); i++) {
		struct contender *d = &b->c[ratio_to[i]];
		double *s = st[ratio_to[i]];
		if (!m->ok || !d->ok)
			printf("ratio mayfly/%s skipped (%s unavailable)\n", d->name,
			       m->ok ? d->name : "mayfly");
		else
			printf("ratio mayfly/%s median %.2f p95 %.2f min %.2f\n", d->name,
			       st[P_MAYFLY][0] / s[0], st[P_MAYFLY][1] / s[1],
			       st[P_MAYFLY][2] / s[2]);
	}
	if (m->ok && b->c[P_BWRAP].ok)
		printf("goal mayfly/bwrap median <= 1.00: %s\n",
		       st[P_MAYFLY][0] <= st[P_BWRAP][0] ? "met" : "missed");
	if (m->ok && b->c[P_FLOOR].ok)
		printf("goal mayfly/floor median <= 2.00: %s\n",
		       st[P_MAYFLY][0] <= 2 * st[P_FLOOR][0] ? "met" : "missed");
	printf("idle overhead");
	for (int k = 0; k < 2; k++) {
		struct idle *id = &b->idle[k == 0 ? P_MAYFLY : P_BWRAP];
		const char *name = k == 0 ? "mayfly" : "bwrap";
		if (id->ok)
			printf("%s %s: %" PRIu64 " KiB PSS (%u process%s, %" PRIu64 " KiB RSS)",
			       k ? "," : "", name, id->pss_kib, id->nproc,
			       id->nproc == 1 ? "" : "es", id->rss_kib);
		else
			printf("%s %s: unavailable (%s)", k ? "," : "", name, id->why);
		if (id->leftover)
			printf(" [%u process%s left after SIGTERM, killed]", id->leftover,
			       id->leftover == 1 ? "" : "es");
	}
	printf("\n");
	if (b->idle[P_MAYFLY].ok)
		printf("goal idle mayfly <= 1024 KiB RSS: %s\n",
		       b->idle[P_MAYFLY].rss_kib <= 1024 ? "met" : "missed");
}

static void print_json(struct bench *b, unsigned runs, double st[P_COUNT][3])
{
	static const char *const keys[] = { "median_us", "p95_us", "min_us" };
	static const char *const pct[] = { "median_pct", "p95_pct", "min_pct" };
	struct json_w *w = json_w_new();
	cleanup_free char *text = NULL;
	struct utsname u;

	json_w_obj_open(w, NULL);
	json_w_str(w, "benchmark", "spinup");
	json_w_str(w, "command", "/bin/true");
	json_w_i64(w, "runs", runs);
	json_w_i64(w, "warmup", WARMUP);
	json_w_i64(w, "nproc", sysconf(_SC_NPROCESSORS_ONLN));
	json_w_str(w, "kernel", uname(&u) == 0 ? u.release : NULL);
	json_w_bool(w, "root", geteuid() == 0);
	json_w_arr_open(w, "peers");
	for (int p = 0; p < P_COUNT; p++) {
		json_w_obj_open(w, NULL);
		json_w_str(w, "name", b->c[p].name);
		json_w_bool(w, "available", b->c[p].ok);
		for (int i = 0; i < 3 && b->c[p].ok; i++)
			json_w_i64(w, keys[i], (int64_t) (st[p][i] * 1000 + 0.5));
		if (!b->c[p].ok)
			json_w_str(w, "reason", b->c[p].why);
		if (b->c[p].note[0])
			json_w_str(w, "note", b->c[p].note);
		json_w_obj_close(w);
	}
	json_w_arr_close(w);
	json_w_arr_open(w, "ratios");
	for (size_t i = 0; i < ARRAY_SIZE(ratio_to) && b->c[P_MAYFLY].ok; i++) {
		enum peer d = ratio_to[i];
		cleanup_free char *name = xasprintf("mayfly/%s", b->c[d].name);
		if (!b->c[d].ok)
			continue;
		json_w_obj_open(w, NULL);
		json_w_str(w, "name", name);
		for (int k = 0; k < 3; k++)
			json_w_i64(w, pct[k], (int64_t) (st[P_MAYFLY][k] / st[d][k] * 100 + 0.5));
		json_w_obj_close(w);
	}
	json_w_arr_close(w);
	json_w_arr_open(w, "idle");
	for (int p = 0; p < P_COUNT; p++) {
		struct idle *id = &b->idle[p];
		if (p != P_MAYFLY && p != P_BWRAP)
			continue;
		json_w_obj_open(w, NULL);
		json_w_str(w, "name", b->c[p].name);
		json_w_bool(w, "available", id->ok);
		if (id->ok) {
			json_w_i64(w, "pss_kib", (int64_t) id->pss_kib);
			json_w_i64(w, "rss_kib", (int64_t) id->rss_kib);
			json_w_i64(w, "processes", id->nproc);
		} else
			json_w_str(w, "reason", id->why);
		json_w_i64(w, "left_after_sigterm", id->leftover);
		json_w_obj_close(w);
	}
	json_w_arr_close(w);
	json_w_obj_close(w);
	text = json_w_done(w);
	printf("%s\n", text);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: spinup [-n RUNS] [--json] [--oci-bundle PATH]\n"
		"Time /bin/true in a sandbox against fork+exec, a bare clone() floor, unshare,\n"
		"bwrap, crun and $MAYFLY_BIN exec; then idle memory. See benchmarks/README.md.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "json", no_argument, NULL, 'j' },
					      { "oci-bundle", required_argument, NULL, 'b' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	static const char *const exes[P_COUNT] = {
		[P_UNSHARE] = "unshare", [P_BWRAP] = "bwrap", [P_CRUN] = "crun"
	};
	struct sigaction sa = { .sa_handler = on_alarm }; /* no SA_RESTART: waitpid sees EINTR */
	static struct bench bench;
	struct bench *b = &bench;
	double st[P_COUNT][3] = { { 0 } };
	const char *mayfly = getenv("MAYFLY_BIN");
	cleanup_free char *state = NULL;
	struct err err = { 0 };
	unsigned runs = 50;
	const char *oci_bundle = NULL;
	bool json = false;
	int o;

	while ((o = getopt_long(argc, argv, "n:h", opts, NULL)) >= 0) {
		if (o == 'n' && (safe_atou(optarg, &runs) < 0 || runs == 0 || runs > 100000)) {
			fprintf(stderr, "spinup: bad run count '%s'\n", optarg);
			return 2;
		} else if (o == 'j')
			json = true;
		else if (o == 'b')
			oci_bundle = optarg;
		else if (o == 'h') {
			usage(stdout);
			return 0;
		} else if (o != 'n') {
			usage(stderr);
			return 2;
		}
	}
	(void) sigaction(SIGALRM, &sa, NULL);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		fprintf(stderr, "spinup: cannot become a subreaper: %s\n", strerror(errno));
	b->host_id = geteuid() == 0 ? UNPRIV_ID : geteuid();
	b->null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	(void) snprintf(b->tmp, sizeof(b->tmp), "%s/mayfly-spinup.XXXXXX",
			getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (b->null_fd < 0 || !mkdtemp(b->tmp) || chmod(b->tmp, 0755) < 0) {
		fprintf(stderr, "spinup: scratch dir '%s': %s\n", b->tmp, strerror(errno));
		return 1;
	}
	/* Not created here: mayfly makes its state dir with the modes it needs. */
	state = xasprintf("%s/mayfly-state", b->tmp);
	if (setenv("MAYFLY_STATE_DIR", state, 1) < 0) {
		fprintf(stderr, "spinup: setenv: %s\n", strerror(errno));
		return 1;
	}
	read_layout(b);
	b->oci_bundle = find_oci_bundle(oci_bundle);
	for (int p = 0; p < P_COUNT; p++) {
		struct contender *c = &b->c[p];

		*c = (struct contender){ .name = peer_names[p], .mntns_fd = -1 };
		c->ms = xcalloc(runs, sizeof(double));
		if (exes[p] && !(c->exe = find_exe(exes[p])))
			(void) snprintf(c->why, sizeof(c->why), "'%s' not found in PATH", exes[p]);
		if (p == P_MAYFLY && !mayfly)
			(void) snprintf(c->why, sizeof(c->why), "MAYFLY_BIN not set");
		else if (p == P_MAYFLY && !(c->exe = find_exe(mayfly)))
			(void) snprintf(c->why, sizeof(c->why), "'%s': %s", mayfly,
					strerror(errno));
		if (p == P_FLOOR) {
			c->argv_true = strv_copy(cmd_true);
			c->argv_false = strv_copy(cmd_false);
		} else if (!c->why[0]) {
			c->argv_true = peer_argv(b, (enum peer) p, cmd_true, "true", &err);
			c->argv_false = peer_argv(b, (enum peer) p, cmd_false, "false", &err);
			if (!c->argv_true || !c->argv_false)
				(void) str_copy(c->why, sizeof(c->why), err.msg);
		}
		if (c->why[0])
			continue;
		if (p == P_CRUN)
			setup_crun(b, c);
		else
			(void) probe(b, c);
		c->ok = !c->why[0];
	}

	/* Round-robin, the starting peer rotating, so drift and order touch all alike. */
	for (unsigned i = 0; i < WARMUP + runs; i++)
		for (int k = 0; k < P_COUNT; k++) {
			struct contender *c = &b->c[(i + (unsigned) k) % P_COUNT];
			double ms;
			int status = 0;

			if (!c->ok)
				continue;
			if (run_once(b, c, c->argv_true, b->null_fd, &ms, &status, &err) < 0 ||
			    !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
				char d[WHY_MAX];
				if (!try_run(b, c, c->argv_true, true, d, sizeof(d)))
					(void) snprintf(c->why, sizeof(c->why), "run %u failed: %s",
							i + 1, d);
				else
					(void) snprintf(c->why, sizeof(c->why),
							"run %u failed (%s), then passed", i + 1,
							err.code ? err.msg : "non-zero exit");
				c->ok = false;
				err_clear(&err);
				continue;
			}
			if (i >= WARMUP)
				c->ms[c->n++] = ms;
		}
	for (int p = 0; p < P_COUNT; p++)
		if (b->c[p].ok)
			stats(&b->c[p], st[p]);

	for (int p = 0; p < P_COUNT; p++)
		if (p == P_MAYFLY || p == P_BWRAP) {
			if (b->c[p].ok)
				measure_idle(b, (enum peer) p, &b->idle[p]);
			else
				(void) str_copy(b->idle[p].why, sizeof(b->idle[p].why),
						b->c[p].why);
		}

	if (json)
		print_json(b, runs, st);
	else
		print_text(b, runs, st);

	for (int p = 0; p < P_COUNT; p++) {
		struct contender *c = &b->c[p];
		c->argv_true = strv_free(c->argv_true);
		c->argv_false = strv_free(c->argv_false);
		free(c->ms);
		free((char *) c->exe);
		c->mntns_fd = safe_close(c->mntns_fd);
	}
	b->crun_flags = strv_free(b->crun_flags);
	free(b->oci_bundle);
	if (rm_rf_at(AT_FDCWD, b->tmp, &err) < 0)
		fprintf(stderr, "spinup: remove scratch dir: %s\n", err.msg);
	return 0;
}

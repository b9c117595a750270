/* test-walls-ids.c - namespaces, ids and privileges (security.md invariants 1 and 2,
 * boundary 6): all seven namespaces new, root inside an unprivileged uid outside, no
 * capability in any set, no_new_privs, a seccomp filter, and two live sandboxes apart
 * from each other. */
#include <fcntl.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "need.h"
#include "probes/walls.h"
#include "run.h"
#include "test.h"

static const char *const ns_names[] = { "user", "mnt", "pid", "net", "ipc", "uts", "cgroup" };
#define N_NS (sizeof(ns_names) / sizeof(ns_names[0]))

static const char ns_script[] =
	"for n in user mnt pid net ipc uts cgroup; do echo ns-$n=$(readlink /proc/self/ns/$n);"
	" done";

/* The value printed for "key=" (up to the end of its line), or NULL. */
static char *value_of(const char *out, const char *key)
{
	char *needle = walls_fmt("\n%s=", key), *hay = walls_fmt("\n%s", out);
	const char *p = strstr(hay, needle);

	if (!p)
		return NULL;
	p += strlen(needle);
	return walls_fmt("%.*s", (int) strcspn(p, "\n"), p);
}

/* Root inside maps to which host id: the uid_map line whose inside range starts at 0. */
static long host_id_of_root(const char *map)
{
	unsigned long in, out, count;

	for (const char *p = map; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (sscanf(p, "%lu %lu %lu", &in, &out, &count) == 3 && in == 0)
			return (long) out;
	return -1;
}

static bool initial_userns(void)
{
	return strstr(walls_host_file("/proc/self/uid_map"), "0          0 4294967295") != NULL;
}

/* An id of this test's user namespace as the parent namespace sees it (the host, unless
 * the tests themselves run in a user namespace, as under `unshare -r`); -1 if unmapped.
 * Under `unshare -r` run by root, 0 here is 0 on the host: root. */
static long to_host_id(const char *own_map, unsigned long id)
{
	unsigned long in, out, count;

	for (const char *p = own_map; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (sscanf(p, "%lu %lu %lu", &in, &out, &count) == 3 && id >= in && id - in < count)
			return (long) (out + (id - in));
	return -1;
}

/* readlink /proc/self/ns/NAME inside differs from the test's own for each of the seven. */
TEST(walls_ids_all_namespaces_new)
{
	NEED(USERNS);
	const char *const cmd[] = { "/bin/sh", "-c", ns_script, NULL };
	struct run_result res;

	walls_run(NULL, cmd, NULL, 30, &res);
	WCHECK_EQ(&res, res.status, 0);
	for (size_t i = 0; i < N_NS; i++) {
		char path[64], mine[128];
		ssize_t n;
		(void) snprintf(path, sizeof(path), "/proc/self/ns/%s", ns_names[i]);
		n = readlink(path, mine, sizeof(mine) - 1);
		CHECK(n > 0);
		mine[n] = '\0';
		char *inside = value_of(res.out, walls_fmt("ns-%s", ns_names[i]));
		WCHECK(&res, inside && strncmp(inside, ns_names[i], strlen(ns_names[i])) == 0);
		if (strcmp(inside, mine) == 0) {
			walls_dump(&res);
			test_fail(__FILE__, __LINE__, "the %s namespace is the host's (%s)",
				  ns_names[i], mine);
		}
	}
	run_result_free(&res);
}

/* The job is uid/gid 1000 inside, and no line of uid_map or gid_map maps any inside id to
 * host id 0; the job's host uid is not 0 (rootless: the caller's own). */
TEST(walls_ids_uid_map_unprivileged)
{
	NEED(USERNS);
	const char *const cmd[] = {
		"/bin/sh", "-c",
		"echo id=$(id -u):$(id -g); echo uid_map:; cat /proc/self/uid_map;"
		" echo gid_map:; cat /proc/self/gid_map",
		NULL
	};
	const char *own_map = walls_fmt("%s", walls_host_file("/proc/self/uid_map"));
	struct run_result res;
	unsigned lines = 0;

	walls_run(NULL, cmd, NULL, 30, &res);
	WCHECK_EQ(&res, res.status, 0);
	WCHECK_CONTAINS(&res, res.out, "id=1000:1000\n");
	for (const char *p = res.out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		unsigned long in, out, count;
		if (sscanf(p, "%lu %lu %lu", &in, &out, &count) != 3)
			continue;
		lines++;
		WCHECK(&res, count > 0 && count <= 65536);
		/* No inside id is host id 0 (through this test's own map, if it has one). */
		for (unsigned long id = out; id < out + count; id++)
			if (to_host_id(own_map, id) == 0) {
				walls_dump(&res);
				test_fail(__FILE__, __LINE__,
					  "inside id %lu is host uid/gid 0 (map "
					  "line '%lu %lu %lu')",
					  in + (id - out), in, out, count);
			}
	}
	WCHECK_EQ(&res, lines >= 2, 1);
	if (geteuid() == 0 && initial_userns())
		/* Root mode maps a range far above real users (SLOT_UID_BASE). */
		WCHECK(&res, host_id_of_root(strstr(res.out, "uid_map:")) >= 0x40000000L);
	run_result_free(&res);
}

/* --user root is uid 0 inside, yet what it creates in a rw bind belongs on the host to an
 * unprivileged uid (the uid_map's), never to 0. */
TEST(walls_ids_root_inside_is_not_root_outside)
{
	NEED(USERNS);
	char *dir = walls_fmt("%s/out", test_tmpdir());
	const char *own_map = walls_fmt("%s", walls_host_file("/proc/self/uid_map"));
	struct run_result res;
	struct stat st;

	CHECK_OK(mkdir(dir, 0777));
	CHECK_OK(chmod(dir, 0777));
	const char *const opts[] = { "--user", "root", "--bind", walls_fmt("%s:/out", dir), NULL };
	const char *const cmd[] = { "/bin/sh", "-c",
				    "echo id=$(id -u):$(id -g); cat /proc/self/uid_map;"
				    "touch /out/file && mkdir /out/dir && echo made",
				    NULL };
	walls_run(opts, cmd, NULL, 30, &res);
	WCHECK_EQ(&res, res.status, 0);
	WCHECK_CONTAINS(&res, res.out, "id=0:0\n"); /* control: root inside */
	WCHECK_CONTAINS(&res, res.out, "made\n");
	long root_out = host_id_of_root(res.out);
	WCHECK(&res, root_out >= 0);
	for (int i = 0; i < 2; i++) {
		char *p = walls_fmt("%s/%s", dir, i ? "dir" : "file");
		CHECK_OK(stat(p, &st));
		CHECK_EQ(st.st_uid, root_out); /* the uid_map says where root inside goes */
		long host = to_host_id(own_map, st.st_uid);
		if (host == 0 || to_host_id(own_map, st.st_gid) == 0)
			test_fail(__FILE__, __LINE__,
				  "'%s', made by root inside, belongs to host "
				  "root (%u:%u here)",
				  p, (unsigned) st.st_uid, (unsigned) st.st_gid);
	}
	run_result_free(&res);
}

/* /proc/self/status inside: every capability set empty, no_new_privs, a seccomp filter -
 * for the default user and for root inside, and for pid 1 (mayfly's init, which runs the
 * same hardening) too; setuid(0) and setgroups fail. */
TEST(walls_ids_no_capabilities_nnp_seccomp)
{
	NEED(USERNS);
	const char *const cmd[] = { "/bin/sh", "-c",
				    "cat /proc/self/status; echo ---init---; cat /proc/1/status",
				    NULL };
	const char *const root[] = { "--user", "root", NULL };
	static const char *const want[] = {
		"\nCapInh:\t0000000000000000\n",
		"\nCapPrm:\t0000000000000000\n",
		"\nCapEff:\t0000000000000000\n",
		"\nCapBnd:\t0000000000000000\n",
		"\nCapAmb:\t0000000000000000\n",
		"\nNoNewPrivs:\t1\n",
		"\nSeccomp:\t2\n",
	};
	/* Rootless mode maps no uid 0 at all: setresuid(0) is EINVAL there. */
	const char *const expect_user[] = { "setuid0=EPERM|EINVAL", "setgroups=EPERM",
					    "ids=returned:1000/1000/1000", NULL };
	const char *const expect_root[] = { "setgroups=EPERM", "ids=returned:0/0/0", NULL };
	struct run_result res;

	for (int pass = 0; pass < 2; pass++) {
		walls_run(pass ? root : NULL, cmd, NULL, 30, &res);
		WCHECK_EQ(&res, res.status, 0);
		char *init = strstr(res.out, "---init---");
		WCHECK(&res, init != NULL);
		*init = '\0'; /* res.out: the job's status; init + 10: pid 1's */
		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
			WCHECK_CONTAINS(&res, res.out, want[i]);
			WCHECK_CONTAINS(&res, init + 10, want[i]);
		}
		run_result_free(&res);
	}
	walls_probe_expect(NULL, expect_user);
	walls_probe_expect(root, expect_root);
}

/* Two live sandboxes (same state dir) are apart: different namespaces of every kind and
 * different host uid ranges. */
TEST(walls_ids_two_sandboxes_apart)
{
	NEED(USERNS);
	char *gate = walls_fmt("%s/gate", test_tmpdir()),
	     *a_out = walls_fmt("%s/a.out", test_tmpdir());
	struct run_result b;
	int status;
	pid_t a;

	CHECK_OK(mkdir(gate, 0777));
	CHECK_OK(chmod(gate, 0777));
	const char *a_script = walls_fmt("%s; echo uid_map:; cat /proc/self/uid_map; echo ready;"
					 "while [ ! -e /gate/done ]; do sleep 0.05; done",
					 ns_script);
	const char *const a_argv[] = { mayfly_bin(),
				       "--state-dir",
				       test_state_dir(),
				       "exec",
				       "--ttl",
				       "20s",
				       "--bind",
				       walls_fmt("%s:/gate:ro", gate),
				       "--",
				       "/bin/sh",
				       "-c",
				       a_script,
				       NULL };
	a = fork();
	CHECK(a >= 0);
	if (a == 0) {
		int fd = open(a_out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0)
			_exit(126);
		execv(a_argv[0], (char *const *) a_argv);
		_exit(127);
	}
	/* Wait until A is up (it printed "ready"). */
	for (int i = 0; i < 200 && !strstr(walls_host_file(a_out), "ready\n"); i++)
		(void) usleep(25000);
	const char *a_text = walls_fmt("%s", walls_host_file(a_out));
	if (!strstr(a_text, "ready\n")) {
		(void) kill(a, SIGKILL);
		test_fail(__FILE__, __LINE__, "sandbox A did not start: '%s'", a_text);
	}
	const char *b_script = walls_fmt("%s; echo uid_map:; cat /proc/self/uid_map", ns_script);
	const char *const b_cmd[] = { "/bin/sh", "-c", b_script, NULL };
	walls_run(NULL, b_cmd, NULL, 30, &b);
	/* Let A go. */
	int fd = open(walls_fmt("%s/done", gate), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	(void) close(fd);
	CHECK_EQ(waitpid(a, &status, 0), a);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	WCHECK_EQ(&b, b.status, 0);
	for (size_t i = 0; i < N_NS; i++) {
		char *key = walls_fmt("ns-%s", ns_names[i]);
		char *va = value_of(a_text, key), *vb = value_of(b.out, key);
		WCHECK(&b, va && vb);
		if (strcmp(va, vb) == 0) {
			walls_dump(&b);
			test_fail(__FILE__, __LINE__, "two sandboxes share the %s namespace %s",
				  ns_names[i], va);
		}
	}
	if (geteuid() == 0 && initial_userns()) {
		long ra = host_id_of_root(strstr(a_text, "uid_map:"));
		long rb = host_id_of_root(strstr(b.out, "uid_map:"));
		WCHECK(&b, ra > 0 && rb > 0);
		if (ra == rb)
			test_fail(__FILE__, __LINE__, "two live sandboxes share host uid %ld", ra);
	}
	run_result_free(&b);
}

/* IPC and UTS: a SysV shared memory segment of the host is not listed inside; the
 * hostname inside is the sandbox's and cannot be changed (root inside has no
 * CAP_SYS_ADMIN), the host's stays as it was. */
TEST(walls_ids_host_ipc_and_uts_invisible)
{
	NEED(USERNS);
	key_t key = (key_t) (0x6d660000 | (getpid() & 0xffff));
	int id = shmget(key, 4096, IPC_CREAT | IPC_EXCL | 0666);
	char host_name[256] = "", after[256] = "";
	const char *const root[] = { "--user", "root", NULL };
	const char *script = walls_fmt(
		"grep -c . /proc/sysvipc/shm | sed 's/^/shm-lines:/';"
		"grep -qw %d /proc/sysvipc/shm && echo host-segment-visible;"
		"echo hostname:$(hostname); hostname evil 2>/dev/null && echo renamed; true",
		(int) key);
	const char *const cmd[] = { "/bin/sh", "-c", script, NULL };
	struct run_result res;

	CHECK(id >= 0);
	/* Control: the host lists it (the key is the first column, in decimal). */
	bool listed = false;
	for (const char *p = walls_host_file("/proc/sysvipc/shm"); p;
	     p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		int k;
		if (sscanf(p, "%d", &k) == 1 && k == (int) key)
			listed = true;
	}
	if (!listed) {
		(void) shmctl(id, IPC_RMID, NULL);
		test_fail(__FILE__, __LINE__, "the host does not list its own segment");
	}
	(void) gethostname(host_name, sizeof(host_name));
	walls_run(root, cmd, NULL, 30, &res);
	(void) shmctl(id, IPC_RMID, NULL);
	(void) gethostname(after, sizeof(after));
	WCHECK_EQ(&res, res.status, 0);
	WCHECK_NOT_CONTAINS(&res, res.out, "host-segment-visible");
	WCHECK_CONTAINS(&res, res.out, "shm-lines:1\n"); /* the header only */
	WCHECK_CONTAINS(&res, res.out, "hostname:mayfly\n");
	WCHECK_NOT_CONTAINS(&res, res.out, "renamed");
	CHECK_STR_EQ(after, host_name);
	run_result_free(&res);
}

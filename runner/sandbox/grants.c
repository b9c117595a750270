/* grants.c - `mayfly exec --grant sign:NAME | http:NAME@URL`: the sandbox's broker. The
 * values come from the sandbox's lease (leased "brokered": never put in the job's
 * environment or files); the broker is a process on the host side (broker/), forked once
 * the sandbox's pid 1 exists and before the job starts, serving a socket in a directory
 * bound into the sandbox at /run/mayfly:
 *
 *   <state>/sandboxes/<id>/broker/            0711, bound on /run/mayfly (read-only)
 *   <state>/sandboxes/<id>/broker/broker.sock the broker's socket (0666; peers checked)
 *   <state>/sandboxes/<id>/broker/mayfly      mount point of mayfly's own binary, so the
 *                                             client `mayfly broker` is there inside
 *
 * The sandbox's entry (and <state>/sandboxes) are searchable by others so that pid 1, root
 * of the sandbox's user namespace but nobody on the host, can reach the directory to bind
 * it; their files stay 0600. Teardown kills and reaps the broker; the entry goes with the
 * journal. */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker/broker.h"
#include "jail/jail.h"
#include "sandbox/internal.h"
#include "secrets/secrets.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define INSIDE_DIR "/run/mayfly"
#define NOBODY	   65534

struct grants {
	struct broker_grant **v;
	size_t n;
	char *dir, *sock, *audit;
	char id[17];
	bool dry_run;
	pid_t pid; /* the broker, once started */
};

struct grants *grants_free(struct grants *g)
{
	if (!g)
		return NULL;
	if (g->pid > 0) {
		(void) kill(g->pid, SIGKILL);
		while (waitpid(g->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	for (size_t i = 0; i < g->n; i++)
		broker_grant_free(g->v[i]);
	free(g->v);
	if (g->sock)
		(void) unlink(g->sock);
	free(g->dir);
	free(g->sock);
	free(g->audit);
	free(g);
	return NULL;
}

/* The brokered value of name in the lease, or NULL. */
static const struct secret_value *leased(const struct secret_lease *l, const char *name)
{
	for (size_t i = 0; i < secret_lease_count(l); i++)
		if (secret_lease_is_brokered(l, i) && strcmp(secret_lease_name(l, i), name) == 0)
			return secret_lease_value(l, i);
	return NULL;
}

/* Whether pid 1, nobody on the host in root mode, can reach path to bind it. */
static bool reachable(const char *path)
{
	cleanup_free char *p = xstrdup(path);
	struct stat st;

	if (geteuid() != 0)
		return access(path, R_OK) == 0;
	if (stat(p, &st) < 0 || !(st.st_mode & S_IROTH))
		return false;
	for (char *slash = strrchr(p, '/'); slash && slash != p; slash = strrchr(p, '/')) {
		*slash = '\0';
		if (stat(p, &st) < 0 || !(st.st_mode & S_IXOTH))
			return false;
	}
	return true;
}

static int make_dirs(struct grants *g, const char *state, const char *id, struct err *err)
{
	cleanup_free char *all = path_join(state, "sandboxes");
	cleanup_free char *entry = path_join(all, id);
	cleanup_free char *exe_point = NULL;
	int fd;

	/* Traversable, not listable: pid 1 binds g->dir from the host's view. */
	if (chmod(all, 0711) < 0 || chmod(entry, 0711) < 0)
		return err_set(err, errno, "chmod '%s'", entry);
	if (mkdir(g->dir, 0711) < 0 && errno != EEXIST)
		return err_set(err, errno, "mkdir '%s'", g->dir);
	exe_point = path_join(g->dir, "mayfly");
	fd = open(exe_point, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return err_set(err, errno, "create '%s'", exe_point);
	(void) close(fd);
	return 0;
}

int grants_prepare(const struct sandbox_spec *spec, const char *state, const char *id,
		   struct grants **ret, struct jail_bind **binds, size_t *n_binds, char ***envp,
		   struct err *err)
{
	struct grants *g;
	char exe[PATH_MAX];
	ssize_t n;
	int r = 0;

	*ret = NULL;
	if (strv_len(spec->grants) == 0)
		return 0;
	if (!spec->lease)
		return err_set(err, EINVAL,
			       "--grant needs --from ENV (the environment to lease "
			       "the granted secrets from)");
	g = xcalloc(1, sizeof(*g));
	g->v = xcalloc(strv_len(spec->grants), sizeof(*g->v));
	g->dry_run = spec->broker_dry_run;
	(void) str_copy(g->id, sizeof(g->id), id);
	for (size_t i = 0; r == 0 && spec->grants[i]; i++) {
		struct broker_grant *bg = NULL;
		const struct secret_value *v;

		r = broker_grant_parse(spec->grants[i], &bg, err);
		if (r < 0)
			break;
		g->v[g->n++] = bg;
		v = leased(spec->lease, broker_grant_name(bg));
		if (!v)
			r = err_set(err, ENOENT, "'%s' was not leased for the broker",
				    broker_grant_name(bg));
		else
			r = broker_grant_set_value(bg, v->data, v->len, err);
		if (r < 0)
			r = err_wrap(err, "--grant '%s'", spec->grants[i]);
	}
	g->dir = xasprintf("%s/sandboxes/%s/broker", state, id);
	g->sock = path_join(g->dir, "broker.sock");
	g->audit = path_join(state, "audit.log");
	if (r == 0)
		r = make_dirs(g, state, id, err);
	if (r < 0) {
		grants_free(g);
		return err_wrap(err, "sandbox %s: broker", id);
	}
	/* The directory, and mayfly's own binary for the client, read-only inside. */
	*binds = xrealloc(*binds, (*n_binds + 2) * sizeof(**binds));
	(*binds)[(*n_binds)++] = (struct jail_bind){ .src = xstrdup(g->dir),
						     .dst = xstrdup(INSIDE_DIR),
						     .ro = true };
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		if (reachable(exe))
			(*binds)[(*n_binds)++] =
				(struct jail_bind){ .src = xstrdup(exe),
						    .dst = xstrdup(INSIDE_DIR "/mayfly"),
						    .ro = true };
	}
	strv_push(envp, "MAYFLY_BROKER_SOCKET=" INSIDE_DIR "/broker.sock");
	*ret = g;
	return 0;
}

int grants_start(struct grants *g, pid_t init_pid, uid_t peer_uid, struct err *err)
{
	char ns[64];
	struct stat st;
	int r;

	(void) snprintf(ns, sizeof(ns), "/proc/%d/ns/pid", (int) init_pid);
	if (stat(ns, &st) < 0)
		return err_set(err, errno, "broker: stat '%s'", ns);
	const struct broker_config cfg = {
		.grants = g->v,
		.n_grants = g->n,
		.socket_path = g->sock,
		.audit_path = g->audit,
		.sandbox_id = g->id,
		.peer_pidns_ino = (uint64_t) st.st_ino,
		.peer_init_pid = init_pid,
		.peer_uid = peer_uid,
		.run_as_uid = geteuid() == 0 ? NOBODY : (uid_t) -1,
		.run_as_gid = geteuid() == 0 ? NOBODY : (gid_t) -1,
		.dry_run = g->dry_run,
	};
	r = broker_spawn(&cfg, &g->pid, err);
	return r < 0 ? err_wrap(err, "broker") : 0;
}

/* services.c - `mayfly exec --service KIND[:VERSION]`: the job's own servers, found and
 * planned on the host, started by the sandbox's pid 1 inside the sandbox (its network
 * namespace, its cgroup, the job's user, the seccomp filter) and checked with their own
 * protocol before the job runs. They die with the sandbox.
 *
 * PostgreSQL's data directory is an overlay at PG_DATA whose lower layer is a template
 * initdb'd once into <state>/cache/templates (owned by SANDBOX_CACHE_UID in root mode,
 * shown as the job's user through an idmapped mount: overlays.c); its writes land on the
 * sandbox's scratch tmpfs. Its password is random per job, given to the server as a SCRAM
 * verifier over the unix socket (the readiness check), and to the job in PGPASSWORD. */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/internal.h"
#include "services/services.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define READY_TIMEOUT_MS 30000
#define INIT_TIMEOUT_MS	 (10 * 60 * 1000)
#define INIT_FILE_MAX	 (64u << 20)
#define REDIS_LOG	 "/run/mayfly-redis.log"
#define PG_LOG		 "/run/mayfly-postgres.log"
#define PG_DATA		 "/var/lib/postgresql/data"
#define PG_SOCKET	 "/run/postgresql"
#define INIT_DIR	 "/run/mayfly-init"

struct init_file {
	char *name; /* as the caller gave it, for messages */
	char *base; /* its base name, written under INIT_DIR/<n>/ */
	char *content;
	size_t len;
};

struct svc_plan {
	bool redis;
	char **redis_argv;
	char *redis_stdin;
	pid_t redis_pid; /* in pid 1, once started */

	bool pg;
	struct svc_install pg_inst;
	char **pg_argv;
	char *pg_user, *pg_db, *pg_password;
	struct sandbox_overlay pg_ovl;
	struct init_file *init;
	size_t n_init;
	pid_t pg_pid;
};

struct svc_plan *services_plan_free(struct svc_plan *p)
{
	if (!p)
		return NULL;
	strv_free(p->redis_argv);
	free(p->redis_stdin);
	strv_free(p->pg_argv);
	free(p->pg_user);
	free(p->pg_db);
	if (p->pg_password) {
		explicit_bzero(p->pg_password, strlen(p->pg_password));
		free(p->pg_password);
	}
	free(p->pg_ovl.dst);
	strv_free(p->pg_ovl.lowers);
	for (size_t i = 0; i < p->n_init; i++) {
		free(p->init[i].name);
		free(p->init[i].base);
		free(p->init[i].content);
	}
	free(p->init);
	free(p);
	return NULL;
}

const char *services_bindir(const struct svc_plan *p)
{
	return p && p->pg ? p->pg_inst.bindir : NULL;
}

struct sandbox_overlay *services_overlay(struct svc_plan *p)
{
	return p && p->pg ? &p->pg_ovl : NULL;
}

/* The settings of one kind from --service-config "KIND:key=value" (a new strv). */
static int config_for(const struct sandbox_spec *spec, const char *kind, char ***ret,
		      struct err *err)
{
	char **v = NULL;

	for (size_t i = 0; spec->service_config && spec->service_config[i]; i++) {
		const char *c = spec->service_config[i];
		const char *colon = strchr(c, ':');
		if (!colon || !strchr(colon, '=')) {
			strv_free(v);
			return err_set(err, EINVAL,
				       "--service-config '%s': expected "
				       "KIND:key=value (e.g. postgres:work_mem=64MB)",
				       c);
		}
		if ((size_t) (colon - c) == strlen(kind) && strncmp(c, kind, strlen(kind)) == 0)
			strv_push(&v, colon + 1);
		else if (strncmp(c, "postgres:", 9) != 0 && strncmp(c, "redis:", 6) != 0) {
			strv_free(v);
			return err_set(err, EINVAL,
				       "--service-config '%s': unknown kind (known: "
				       "postgres, redis)",
				       c);
		}
	}
	*ret = v;
	return 0;
}

/* POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB from --service-env. */
static int service_env(const struct sandbox_spec *spec, struct svc_plan *p, struct err *err)
{
	for (size_t i = 0; spec->service_env && spec->service_env[i]; i++) {
		const char *kv = spec->service_env[i];
		const char *eq = strchr(kv, '=');
		char **slot = NULL;

		if (!eq || !eq[1])
			return err_set(err, EINVAL, "--service-env '%.*s': expected NAME=VALUE",
				       (int) strcspn(kv, "="), kv);
		if (str_startswith(kv, "POSTGRES_USER="))
			slot = &p->pg_user;
		else if (str_startswith(kv, "POSTGRES_DB="))
			slot = &p->pg_db;
		else if (str_startswith(kv, "POSTGRES_PASSWORD="))
			slot = &p->pg_password;
		else
			return err_set(err, EINVAL,
				       "--service-env '%.*s': unknown variable "
				       "(known: POSTGRES_USER, POSTGRES_PASSWORD, "
				       "POSTGRES_DB)",
				       (int) (eq - kv), kv);
		if (*slot) {
			if (slot == &p->pg_password)
				explicit_bzero(*slot, strlen(*slot));
			free(*slot);
		}
		*slot = xstrdup(eq + 1);
	}
	return 0;
}

static int read_init_files(const struct sandbox_spec *spec, struct svc_plan *p, struct err *err)
{
	size_t n = strv_len(spec->service_init);

	p->init = xcalloc(n ? n : 1, sizeof(*p->init));
	for (size_t i = 0; i < n; i++) {
		const char *f = spec->service_init[i];
		cleanup_free char *copy = xstrdup(f);
		struct init_file *in = &p->init[p->n_init];
		int r = read_file_at(AT_FDCWD, f, INIT_FILE_MAX, &in->content, &in->len, err);
		if (r < 0)
			return err_wrap(err, "--service-init '%s'", f);
		in->name = xstrdup(f);
		in->base = xstrdup(basename(copy));
		p->n_init++;
	}
	return 0;
}

static int plan_postgres(const struct sandbox_spec *spec, const char *state_dir,
			 const char *version, struct svc_plan *p, struct err *err)
{
	cleanup_free char *cache = path_join(state_dir, "cache");
	cleanup_free char *datadir = NULL;
	char **settings = NULL;
	uid_t owner_uid;
	gid_t owner_gid;
	int r;

	if (spec->uid == 0)
		return err_set(err, EPERM,
			       "PostgreSQL refuses to run as root: run the job as "
			       "its default user (drop --user root) or as another "
			       "uid (--user 1000)");
	r = svc_find(NULL, "postgres", version, &p->pg_inst, err);
	if (r < 0)
		return r;
	if (!p->pg_user)
		p->pg_user = xstrdup("postgres");
	if (!p->pg_db)
		p->pg_db = xstrdup(p->pg_user);
	if (!p->pg_password) {
		char pw[SVC_PASSWORD_LEN + 1];
		r = svc_password_new(pw, err);
		if (r < 0)
			return r;
		p->pg_password = xstrdup(pw);
		explicit_bzero(pw, sizeof(pw));
	}
	r = mkdir_p(cache, 0700, err);
	if (r < 0)
		return r;
	sandbox_cache_owner(&owner_uid, &owner_gid);
	r = svc_pg_template(cache, &p->pg_inst,
			    &(struct svc_pg_init){ .user = p->pg_user,
						   .db = p->pg_db,
						   .uid = geteuid() == 0 ? owner_uid : (uid_t) -1,
						   .gid = geteuid() == 0 ? owner_gid : (gid_t) -1 },
			    &datadir, err);
	if (r < 0)
		return r;
	r = config_for(spec, "postgres", &settings, err);
	if (r == 0)
		r = svc_pg_argv(&p->pg_inst,
				&(struct svc_pg_server){ .datadir = PG_DATA,
							 .socket_dir = PG_SOCKET,
							 .settings = settings },
				&p->pg_argv, err);
	strv_free(settings);
	if (r < 0)
		return r;
	p->pg_ovl.dst = xstrdup(PG_DATA);
	strv_push(&p->pg_ovl.lowers, datadir);
	r = read_init_files(spec, p, err);
	if (r < 0)
		return r;
	p->pg = true;
	return 0;
}

static int plan_redis(const struct sandbox_spec *spec, const char *version, struct svc_plan *p,
		      struct err *err)
{
	struct svc_install inst;
	char **settings = NULL;
	int r = svc_find(NULL, "redis", version, &inst, err);

	if (r == 0)
		r = config_for(spec, "redis", &settings, err);
	if (r == 0)
		r = svc_redis_argv(
			&inst, &(struct svc_redis_server){ .dir = "/tmp", .settings = settings },
			&p->redis_argv, &p->redis_stdin, err);
	strv_free(settings);
	if (r < 0)
		return r;
	p->redis = true;
	return 0;
}

int services_plan(const struct sandbox_spec *spec, const char *state_dir, struct svc_plan **ret,
		  char ***env_add, struct err *err)
{
	struct svc_plan *p;
	int r = 0;

	*ret = NULL;
	if (strv_len(spec->services) == 0) {
		if (strv_len(spec->service_env) || strv_len(spec->service_init) ||
		    strv_len(spec->service_config))
			return err_set(err, EINVAL,
				       "--service-env, --service-init and "
				       "--service-config need a --service");
		return 0;
	}
	if (spec->rootfs)
		return err_set(err, EINVAL,
			       "--service runs the host's own server binaries, "
			       "which a --rootfs image does not have: drop --rootfs, "
			       "or start the server from the job");
	p = xcalloc(1, sizeof(*p));
	r = service_env(spec, p, err);
	for (size_t i = 0; r == 0 && spec->services[i]; i++) {
		cleanup_free char *kind = xstrdup(spec->services[i]);
		char *version = strchr(kind, ':');
		bool pg;

		if (version)
			*version++ = '\0';
		pg = strcmp(kind, "postgres") == 0 || strcmp(kind, "postgresql") == 0;
		if (!pg && strcmp(kind, "redis") != 0) {
			r = err_set(err, EINVAL,
				    "--service '%s': unknown kind (known: postgres, "
				    "redis)",
				    spec->services[i]);
			break;
		}
		if (pg ? p->pg : p->redis) {
			r = err_set(err, EINVAL, "--service %s given twice", kind);
			break;
		}
		r = pg ? plan_postgres(spec, state_dir, version, p, err)
		       : plan_redis(spec, version, p, err);
		if (r < 0)
			r = err_wrap(err, "--service %s", spec->services[i]);
	}
	if (r == 0 && !p->pg && (p->pg_user || p->pg_db || p->pg_password || spec->service_init))
		r = err_set(err, EINVAL, "POSTGRES_* and --service-init need --service postgres");
	if (r < 0) {
		services_plan_free(p);
		return r;
	}
	*env_add = svc_env(&(struct svc_vars){ .postgres = p->pg,
					       .pg_user = p->pg_user,
					       .pg_password = p->pg_password,
					       .pg_db = p->pg_db,
					       .redis = p->redis });
	*ret = p;
	return 0;
}

/* ---- in pid 1, inside the sandbox, as the job's user ---- */

static int open_log(const char *path, struct err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	return fd < 0 ? err_set(err, errno, "open '%s'", path) : fd;
}

/* The init files, written into the sandbox so that psql (inside) reads them. */
static int write_init_files(const struct svc_plan *p, struct err *err)
{
	if (p->n_init && mkdir(INIT_DIR, 0700) < 0 && errno != EEXIST)
		return err_set(err, errno, "create '%s'", INIT_DIR);
	for (size_t i = 0; i < p->n_init; i++) {
		cleanup_free char *dir = xasprintf("%s/%zu", INIT_DIR, i);
		cleanup_close int dfd = -1;
		int r;

		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return err_set(err, errno, "create '%s'", dir);
		dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return err_set(err, errno, "open '%s'", dir);
		r = write_file_atomic_at(dfd, p->init[i].base, p->init[i].content, p->init[i].len,
					 0600, 0, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int start_postgres(struct svc_plan *p, struct err *err)
{
	cleanup_close int log = -1;
	int r;

	if (mkdir(PG_SOCKET, 0700) < 0 && errno != EEXIST)
		return err_set(err, errno, "create '%s'", PG_SOCKET);
	log = open_log(PG_LOG, err);
	if (log < 0)
		return log;
	r = svc_spawn(p->pg_argv,
		      &(struct svc_spawn){
			      .out_fd = log, .uid = (uid_t) -1, .gid = (gid_t) -1, .cwd = PG_DATA },
		      &p->pg_pid, err);
	return r < 0 ? err_wrap(err, "service postgres") : 0;
}

static int ready_postgres(struct svc_plan *p, struct err *err)
{
	const struct svc_target t = {
		.host = PG_SOCKET, .user = p->pg_user, .db = p->pg_db, .server = p->pg_pid
	};
	int r = svc_pg_set_password(&t, p->pg_user, p->pg_password, READY_TIMEOUT_MS, err);

	if (r < 0)
		return err_wrap(err, "service postgres (its log: %s in the sandbox)", PG_LOG);
	r = write_init_files(p, err);
	for (size_t i = 0; r == 0 && i < p->n_init; i++) {
		cleanup_free char *dir = xasprintf("%s/%zu", INIT_DIR, i);
		char *files[] = { p->init[i].base, NULL };
		r = svc_pg_exec_files(&p->pg_inst, &t, dir, files, INIT_TIMEOUT_MS, err);
		if (r < 0)
			return err_wrap(err, "--service-init '%s'", p->init[i].name);
	}
	return r;
}

static int start_redis(struct svc_plan *p, struct err *err)
{
	cleanup_close int log = open_log(REDIS_LOG, err);
	int r;

	if (log < 0)
		return log;
	r = svc_spawn(p->redis_argv,
		      &(struct svc_spawn){ .stdin_data = p->redis_stdin,
					   .out_fd = log,
					   .uid = (uid_t) -1,
					   .gid = (gid_t) -1,
					   .cwd = "/tmp" },
		      &p->redis_pid, err);
	return r < 0 ? err_wrap(err, "service redis") : 0;
}

int services_start(void *userdata, struct err *err)
{
	struct svc_plan *p = userdata;
	int r = 0;

	/* Servers never hold the caller's stdout or stderr: they log into the sandbox. Both
	 * start before either is waited for. */
	if (p->pg)
		r = start_postgres(p, err);
	if (r == 0 && p->redis)
		r = start_redis(p, err);
	if (r == 0 && p->redis) {
		r = svc_redis_ready(
			&(struct svc_target){ .host = "127.0.0.1", .server = p->redis_pid },
			READY_TIMEOUT_MS, err);
		if (r < 0)
			r = err_wrap(err, "service redis (its log: %s in the sandbox)", REDIS_LOG);
	}
	if (r == 0 && p->pg)
		r = ready_postgres(p, err);
	return r;
}

void services_reaped(void *userdata, pid_t pid, int status, int notice_fd)
{
	const struct svc_plan *p = userdata;
	const char *kind = NULL, *log = NULL;
	char line[256];
	int n;

	if (p->pg && pid == p->pg_pid) {
		kind = "postgres";
		log = PG_LOG;
	} else if (p->redis && pid == p->redis_pid) {
		kind = "redis";
		log = REDIS_LOG;
	}
	if (!kind || notice_fd < 0)
		return;
	if (WIFSIGNALED(status))
		n = snprintf(line, sizeof(line),
			     "service %s died of signal %d while the job ran "
			     "(its log: %s in the sandbox)\n",
			     kind, WTERMSIG(status), log);
	else
		n = snprintf(line, sizeof(line),
			     "service %s exited with status %d while the job "
			     "ran (its log: %s in the sandbox)\n",
			     kind, WEXITSTATUS(status), log);
	if (n > 0)
		(void) fd_write_all(notice_fd, line,
				    (size_t) n < sizeof(line) ? (size_t) n : sizeof(line) - 1);
}

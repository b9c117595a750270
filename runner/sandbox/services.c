/* services.c - `mayfly exec --service KIND[:VERSION]`: the job's own servers, found and
 * planned on the host, started by the sandbox's pid 1 inside the sandbox (its network
 * namespace, its cgroup, the job's user, the seccomp filter) and checked with their own
 * protocol before the job runs. They die with the sandbox.
 * TODO(services): PostgreSQL needs its template to appear owned by the job's user in each
 * sandbox (an idmapped lower layer); until then only Redis is offered. */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sandbox/internal.h"
#include "services/services.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define READY_TIMEOUT_MS 15000
#define REDIS_LOG "/run/mayfly-redis.log"

struct svc_plan {
	bool redis;
	char **redis_argv;
	char *redis_stdin;
};

struct svc_plan *services_plan_free(struct svc_plan *p)
{
	if (p) {
		strv_free(p->redis_argv);
		free(p->redis_stdin);
		free(p);
	}
	return NULL;
}

int services_plan(const struct sandbox_spec *spec, struct svc_plan **ret, char ***env_add,
		  struct err *err)
{
	struct svc_plan *p;
	struct svc_vars vars = { 0 };

	*ret = NULL;
	if (strv_len(spec->services) == 0)
		return 0;
	p = xcalloc(1, sizeof(*p));
	for (size_t i = 0; spec->services[i]; i++) {
		cleanup_free char *kind = xstrdup(spec->services[i]);
		char *version = strchr(kind, ':');
		struct svc_install inst;
		int r;

		if (version)
			*version++ = '\0';
		if (strcmp(kind, "postgres") == 0 || strcmp(kind, "postgresql") == 0) {
			services_plan_free(p);
			return err_set(err, EOPNOTSUPP,
				       "--service %s: PostgreSQL inside sandboxes is not available "
				       "yet (its templates are built and tested; see issue 4); "
				       "--service redis is", spec->services[i]);
		}
		if (strcmp(kind, "redis") != 0) {
			services_plan_free(p);
			return err_set(err, EINVAL, "--service '%s': unknown kind (known: redis)",
				       spec->services[i]);
		}
		if (p->redis) {
			services_plan_free(p);
			return err_set(err, EINVAL, "--service redis given twice");
		}
		r = svc_find(NULL, "redis", version, &inst, err);
		if (r == 0)
			r = svc_redis_argv(&inst, &(struct svc_redis_server){ .dir = "/tmp" },
					   &p->redis_argv, &p->redis_stdin, err);
		if (r < 0) {
			services_plan_free(p);
			return err_wrap(err, "--service %s", spec->services[i]);
		}
		p->redis = true;
		vars.redis = true;
	}
	*env_add = svc_env(&vars);
	*ret = p;
	return 0;
}

int services_start(void *userdata, struct err *err)
{
	const struct svc_plan *p = userdata;
	cleanup_close int log = -1;
	pid_t pid;
	int r;

	if (!p->redis)
		return 0;
	/* Servers never hold the caller's stdout or stderr: they log into the sandbox. */
	log = open(REDIS_LOG, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (log < 0)
		return err_set(err, errno, "service redis: open '%s'", REDIS_LOG);
	r = svc_spawn(p->redis_argv,
		      &(struct svc_spawn){ .stdin_data = p->redis_stdin, .out_fd = log,
					   .uid = (uid_t) -1, .gid = (gid_t) -1, .cwd = "/tmp" },
		      &pid, err);
	if (r < 0)
		return err_wrap(err, "service redis");
	r = svc_redis_ready(&(struct svc_target){ .host = "127.0.0.1", .server = pid },
			    READY_TIMEOUT_MS, err);
	if (r < 0)
		return err_wrap(err, "service redis (its log: %s in the sandbox)", REDIS_LOG);
	return 0;
}

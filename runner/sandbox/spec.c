/* spec.c - checking a sandbox_spec against this host, and the job's environment. */
#include "sandbox/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "jail/jail.h"
#include "net/net.h"
#include "sandbox/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

static const char *const reserved_dsts[] = { "/proc", "/dev", "/sys" };

/* The reserved prefix dst falls under, or NULL. */
static const char *reserved_dst(const char *dst)
{
	for (size_t i = 0; i < sizeof(reserved_dsts) / sizeof(reserved_dsts[0]); i++) {
		size_t n = strlen(reserved_dsts[i]);
		if (strncmp(dst, reserved_dsts[i], n) == 0 && (dst[n] == '\0' || dst[n] == '/'))
			return reserved_dsts[i];
	}
	return NULL;
}

static int check_bind(const struct jail_bind *b, struct err *err)
{
	struct stat st;

	if (*b->src != '/')
		return err_set(err, EINVAL, "bind '%s:%s': the source must be an absolute path",
			       b->src, b->dst);
	if (stat(b->src, &st) < 0)
		return err_set(err, errno, "bind '%s:%s': source '%s'", b->src, b->dst, b->src);
	if (*b->dst != '/' || !path_is_clean(b->dst) || strcmp(b->dst, "/") == 0)
		return err_set(err, EINVAL,
			       "bind '%s:%s': the destination must be a clean absolute path "
			       "other than '/' (no '.', '..' or '//')",
			       b->src, b->dst);
	if (reserved_dst(b->dst))
		return err_set(err, EPERM, "bind '%s:%s': '%s' belongs to the sandbox", b->src,
			       b->dst, reserved_dst(b->dst));
	return 0;
}

static int check_overlay(const struct sandbox_overlay *o, struct err *err)
{
	if (!o->dst || *o->dst != '/' || !path_is_clean(o->dst) || strcmp(o->dst, "/") == 0)
		return err_set(err, EINVAL,
			       "overlay '%s': the destination must be a clean "
			       "absolute path other than '/'",
			       o->dst ? o->dst : "");
	if (reserved_dst(o->dst))
		return err_set(err, EPERM, "overlay '%s': that path belongs to the sandbox",
			       o->dst);
	if (strv_len(o->lowers) == 0)
		return err_set(err, EINVAL, "overlay '%s': no lower dir", o->dst);
	for (size_t k = 0; o->lowers[k]; k++) {
		struct stat st;
		if (*o->lowers[k] != '/')
			return err_set(err, EINVAL,
				       "overlay '%s': lower '%s' is not an absolute "
				       "path",
				       o->dst, o->lowers[k]);
		if (stat(o->lowers[k], &st) < 0)
			return err_set(err, errno, "overlay '%s': lower '%s'", o->dst,
				       o->lowers[k]);
		if (!S_ISDIR(st.st_mode))
			return err_set(err, ENOTDIR, "overlay '%s': lower '%s'", o->dst,
				       o->lowers[k]);
	}
	for (size_t k = 0; o->remove && o->remove[k]; k++) {
		const char *p = o->remove[k];
		if (!*p || *p == '/' || !path_is_clean(p) || strcmp(p, "..") == 0 ||
		    strncmp(p, "../", 3) == 0)
			return err_set(err, EINVAL,
				       "overlay '%s': '%s' to remove is not a clean "
				       "relative path",
				       o->dst, p);
	}
	return 0;
}

int sandbox_spec_check(const struct sandbox_spec *spec, struct err *err)
{
	struct sysinfo si;
	char a[32], b[32];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t mem_total;

	if (!spec->argv || !spec->argv[0] || !*spec->argv[0])
		return err_set(err, EINVAL,
			       "no command given: put it after '--', e.g. "
			       "'mayfly exec -- make test'");
	if (sysinfo(&si) < 0)
		return err_set(err, errno, "sysinfo");
	mem_total = (uint64_t) si.totalram * si.mem_unit;
	if (spec->memory_bytes && spec->memory_bytes < (4ULL << 20))
		return err_set(err, EINVAL, "--memory: at least 4M is needed to start anything");
	if (spec->memory_bytes > mem_total) {
		str_format_size(spec->memory_bytes, a, sizeof(a));
		str_format_size(mem_total, b, sizeof(b));
		return err_set(err, ERANGE, "--memory %s exceeds this host's %s of memory", a, b);
	}
	if (spec->disk_bytes > mem_total) {
		str_format_size(spec->disk_bytes, a, sizeof(a));
		str_format_size(mem_total, b, sizeof(b));
		return err_set(err, ERANGE,
			       "--disk %s exceeds this host's %s of memory (the scratch space is "
			       "a tmpfs)",
			       a, b);
	}
	if (ncpu > 0 && spec->cpu_millis > (unsigned) ncpu * 1000)
		return err_set(err, ERANGE, "--cpus %u.%03u exceeds this host's %ld cpus",
			       spec->cpu_millis / 1000, spec->cpu_millis % 1000, ncpu);
	if (spec->pids) {
		cleanup_free char *txt = NULL;
		struct err e2 = { 0 };
		unsigned max;
		if (read_file_at(AT_FDCWD, "/proc/sys/kernel/pid_max", 64, &txt, NULL, &e2) == 0) {
			txt[strcspn(txt, "\n")] = '\0';
			if (safe_atou(txt, &max) == 0 && spec->pids > max)
				return err_set(err, ERANGE,
					       "--pids %u exceeds this host's pid_max of %u",
					       spec->pids, max);
		}
	}
	if (spec->workdir && (*spec->workdir != '/' || !path_is_clean(spec->workdir)))
		return err_set(err, EINVAL, "--workdir '%s': must be a clean absolute path",
			       spec->workdir);
	if (spec->hostname) {
		size_t n = strlen(spec->hostname);
		if (n == 0 || n > 63 ||
		    strspn(spec->hostname, "abcdefghijklmnopqrstuvwxyz"
					   "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					   "0123456789-.") != n)
			return err_set(err, EINVAL,
				       "--hostname '%s': use 1 to 63 letters, "
				       "digits, '-' or '.'",
				       spec->hostname);
	}
	if (spec->uid >= JAIL_ID_COUNT)
		return err_set(err, ERANGE, "--user %u: must be 'root' or a uid below %u",
			       (unsigned) spec->uid, JAIL_ID_COUNT);
	for (size_t i = 0; i < spec->n_binds; i++) {
		int r = check_bind(&spec->binds[i], err);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < spec->n_overlays; i++) {
		int r = check_overlay(&spec->overlays[i], err);
		if (r < 0)
			return r;
	}
	if (spec->rootfs) {
		struct stat st;
		if (stat(spec->rootfs, &st) < 0)
			return err_set(err, errno, "--rootfs '%s'", spec->rootfs);
		if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
			return err_set(err, EINVAL,
				       "--rootfs '%s': must be a directory or a "
				       "tarball",
				       spec->rootfs);
	}
	if (spec->allow_hosts) {
		CLEANUP(net_allow_freep) struct net_allow *allow = NULL;
		int r = net_allow_new(spec->allow_hosts, spec->allow_private_egress, &allow, err);
		if (r < 0)
			return r;
	} else if (spec->allow_private_egress)
		return err_set(err, EINVAL,
			       "--allow-private-egress applies to --allow-host names: "
			       "grant a host with --allow-host NAME");
	for (size_t i = 0; spec->env && spec->env[i]; i++) {
		const char *eq = strchr(spec->env[i], '=');
		if (!eq || eq == spec->env[i])
			return err_set(err, EINVAL, "--env '%s': expected NAME=VALUE",
				       spec->env[i]);
	}
	return 0;
}

const char *spec_home(const struct sandbox_spec *spec)
{
	return spec->uid == 0 ? "/root" : "/home/runner";
}

static void env_set(char ***env, const char *kv)
{
	size_t klen = strcspn(kv, "=");

	for (size_t i = 0; *env && (*env)[i]; i++)
		if (strncmp((*env)[i], kv, klen) == 0 && (*env)[i][klen] == '=') {
			free((*env)[i]);
			(*env)[i] = xstrdup(kv);
			return;
		}
	strv_push(env, kv);
}

char **spec_build_env(const struct sandbox_spec *spec, const char *id)
{
	char **env = NULL;
	const char *user = spec->uid == 0 ? "root" : "runner";
	const char *shell = access("/bin/bash", X_OK) == 0 ? "/bin/bash" : "/bin/sh";
	cleanup_free char *home = xasprintf("HOME=%s", spec_home(spec));
	cleanup_free char *u = xasprintf("USER=%s", user);
	cleanup_free char *l = xasprintf("LOGNAME=%s", user);
	cleanup_free char *sh = xasprintf("SHELL=%s", shell);
	cleanup_free char *host =
		xasprintf("HOSTNAME=%s", spec->hostname ? spec->hostname : "mayfly");
	cleanup_free char *sid = xasprintf("MAYFLY_SANDBOX_ID=%s", id);

	strv_push(&env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	strv_push(&env, home);
	strv_push(&env, u);
	strv_push(&env, l);
	strv_push(&env, sh);
	strv_push(&env, host);
	strv_push(&env, "LANG=C.UTF-8");
	strv_push(&env, sid);
	for (size_t i = 0; spec->env && spec->env[i]; i++)
		env_set(&env, spec->env[i]);
	return env;
}

void spec_env_prepend_path(const struct sandbox_spec *spec, char ***env, const char *dir)
{
	for (size_t i = 0; spec->env && spec->env[i]; i++)
		if (str_startswith(spec->env[i], "PATH="))
			return;
	for (size_t i = 0; *env && (*env)[i]; i++)
		if (str_startswith((*env)[i], "PATH=")) {
			char *v = xasprintf("PATH=%s:%s", dir, (*env)[i] + 5);
			free((*env)[i]);
			(*env)[i] = v;
			return;
		}
}

void sandbox_spec_release(struct sandbox_spec *spec)
{
	spec->argv = strv_free(spec->argv);
	spec->env = strv_free(spec->env);
	spec->services = strv_free(spec->services);
	spec->grants = strv_free(spec->grants);
	spec->service_env = strv_free(spec->service_env);
	spec->service_init = strv_free(spec->service_init);
	spec->service_config = strv_free(spec->service_config);
	spec->allow_hosts = strv_free(spec->allow_hosts);
	free(spec->workdir);
	free(spec->hostname);
	free(spec->rootfs);
	for (size_t i = 0; i < spec->n_binds; i++) {
		free(spec->binds[i].src);
		free(spec->binds[i].dst);
	}
	free(spec->binds);
	for (size_t i = 0; i < spec->n_overlays; i++) {
		free(spec->overlays[i].dst);
		strv_free(spec->overlays[i].lowers);
		strv_free(spec->overlays[i].remove);
	}
	free(spec->overlays);
	spec->overlays = NULL;
	spec->n_overlays = 0;
	spec->workdir = spec->hostname = spec->rootfs = NULL;
	spec->binds = NULL;
	spec->n_binds = 0;
}

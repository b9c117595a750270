/* find.c - which servers the host has: PostgreSQL majors under /usr/lib/postgresql/<N>/bin
 * (Debian's layout: several can be installed side by side) and redis-server; the identity
 * of a binary, which names the templates made with it; `mayfly services ls`. */
#include "services/services.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "services/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/path.h"
#include "util/sha256.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define PG_DIR	     "/usr/lib/postgresql"
#define MAJORS_MAX   32
#define VERSION_WAIT 5000 /* ms for `--version` */

static const char *const redis_dirs[] = { "/usr/bin", "/usr/local/bin" };

static char *path_join_root(const char *root, const char *p)
{
	return root && strcmp(root, "/") != 0 ? path_join(root, p) : xstrdup(p);
}

static bool is_exec(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

static int fill(struct svc_install *in, enum svc_kind kind, const char *bindir,
		const char *server_name, struct err *err)
{
	char text[160];
	uint8_t d[SHA256_DIGEST_SIZE];
	char hex[SHA256_HEX_SIZE];
	struct stat st;

	in->kind = kind;
	if ((size_t) snprintf(in->bindir, sizeof(in->bindir), "%s", bindir) >= sizeof(in->bindir) ||
	    (size_t) snprintf(in->server, sizeof(in->server), "%s/%s", bindir, server_name) >=
		    sizeof(in->server))
		return err_set(err, ENAMETOOLONG, "'%s'", bindir);
	if (stat(in->server, &st) < 0)
		return err_set(err, errno, "stat '%s'", in->server);
	(void) snprintf(text, sizeof(text), "%llx %llx %lld %lld.%09ld %lld.%09ld",
			(unsigned long long) st.st_dev, (unsigned long long) st.st_ino,
			(long long) st.st_size, (long long) st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
			(long long) st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
	sha256(text, strlen(text), d);
	sha256_to_hex(d, hex);
	memcpy(in->identity, hex, SVC_IDENTITY_LEN);
	in->identity[SVC_IDENTITY_LEN] = '\0';
	return 0;
}

static int cmp_desc(const void *a, const void *b)
{
	unsigned x = *(const unsigned *) a, y = *(const unsigned *) b;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* Installed PostgreSQL majors under root, newest first. */
static size_t pg_majors(const char *root, unsigned majors[MAJORS_MAX])
{
	cleanup_free char *dir = path_join_root(root, PG_DIR);
	CLEANUP(closedirp) DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	while (d && (de = readdir(d)) && n < MAJORS_MAX) {
		unsigned v;
		if (safe_atou(de->d_name, &v) < 0 || v == 0)
			continue;
		cleanup_free char *pg = xasprintf("%s/%u/bin/postgres", dir, v);
		cleanup_free char *initdb = xasprintf("%s/%u/bin/initdb", dir, v);
		if (is_exec(pg) && is_exec(initdb))
			majors[n++] = v;
	}
	qsort(majors, n, sizeof(majors[0]), cmp_desc);
	return n;
}

static void majors_text(const unsigned *majors, size_t n, char *buf, size_t size)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && o < size; i++) {
		int w = snprintf(buf + o, size - o, "%s%u", i ? ", " : "", majors[i]);
		o = w < 0 ? size : o + (size_t) w;
	}
}

/* The version a binary prints: "postgres (PostgreSQL) 15.18 (Debian ...)" -> "15.18",
 * "Redis server v=7.0.15 sha=..." -> "7.0.15". Empty when it cannot say. */
static void binary_version(const char *server, enum svc_kind kind, char *buf, size_t size)
{
	char *const argv[] = { (char *) server, (char *) "--version", NULL };
	struct svc_spawn how = { .out_fd = -1, .uid = (uid_t) -1, .gid = (gid_t) -1 };
	cleanup_free char *out = NULL;
	struct err ignored = { 0 };
	const char *p = NULL;
	int status;

	buf[0] = '\0';
	if (svc_run(argv, &how, VERSION_WAIT, &status, &out, &ignored) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return;
	if (kind == SVC_REDIS) {
		p = strstr(out, " v=");
		p = p ? p + 3 : NULL;
	} else {
		p = strstr(out, ") ");
		p = p ? p + 2 : NULL;
	}
	if (p)
		(void) snprintf(buf, size, "%.*s", (int) strcspn(p, " \n("), p);
}

/* "7" matches "7.0.15", "7.0" too, "7.1" and "7.0.1" do not. */
static bool version_matches(const char *want, const char *have)
{
	size_t n = strlen(want);
	return strncmp(want, have, n) == 0 && (have[n] == '\0' || have[n] == '.');
}

static bool version_ok(const char *v)
{
	if (!*v || strlen(v) >= SVC_VERSION_MAX || *v == '.' || str_endswith(v, "."))
		return false;
	for (const char *p = v; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p == '.' && p[1] != '.')))
			return false;
	return true;
}

static int find_postgres(const char *root, const char *version, struct svc_install *ret,
			 struct err *err)
{
	unsigned majors[MAJORS_MAX] = { 0 }, want = 0;
	char have[128];
	size_t n = pg_majors(root, majors);

	if (version && *version) {
		cleanup_free char *major = xstrndup(version, strcspn(version, "."));
		if (!version_ok(version) || safe_atou(major, &want) < 0 || want == 0)
			return err_set(err, EINVAL,
				       "postgres version '%s': expected a major "
				       "version such as 15",
				       version);
	}
	if (n == 0)
		return err_set(err, ENOENT,
			       "postgres is not installed (no %s/*/bin/postgres): "
			       "apt-get install postgresql%s%.0u",
			       PG_DIR, want ? "-" : "", want);
	for (size_t i = 0; i < n; i++) {
		if (want && majors[i] != want)
			continue;
		cleanup_free char *dir = path_join_root(root, PG_DIR);
		cleanup_free char *bindir = xasprintf("%s/%u/bin", dir, majors[i]);
		struct svc_install in = { 0 };
		int r = fill(&in, SVC_POSTGRES, bindir, "postgres", err);
		if (r < 0)
			return err_wrap(err, "postgres %u", majors[i]);
		in.major = majors[i];
		(void) snprintf(in.version, sizeof(in.version), "%u", majors[i]);
		*ret = in;
		return 0;
	}
	majors_text(majors, n, have, sizeof(have));
	return err_set(err, ENOENT,
		       "postgres %u is not installed (installed: %s): apt-get "
		       "install postgresql-%u",
		       want, have, want);
}

static int find_redis(const char *root, const char *version, struct svc_install *ret,
		      struct err *err)
{
	struct svc_install in = { 0 };
	int r;

	if (version && *version && !version_ok(version))
		return err_set(err, EINVAL,
			       "redis version '%s': expected a version such as 7 or "
			       "7.0",
			       version);
	for (size_t i = 0; i < ARRAY_SIZE(redis_dirs); i++) {
		cleanup_free char *bindir = path_join_root(root, redis_dirs[i]);
		cleanup_free char *server = path_join(bindir, "redis-server");
		if (!is_exec(server))
			continue;
		r = fill(&in, SVC_REDIS, bindir, "redis-server", err);
		if (r < 0)
			return err_wrap(err, "redis");
		if (version && *version) {
			binary_version(in.server, SVC_REDIS, in.version, sizeof(in.version));
			if (!version_matches(version, in.version))
				return err_set(err, ENOENT,
					       "redis %s is not installed (%s is "
					       "redis %s)",
					       version, in.server,
					       in.version[0] ? in.version : "of unknown version");
			unsigned major;
			cleanup_free char *m = xstrndup(in.version, strcspn(in.version, "."));
			if (safe_atou(m, &major) == 0)
				in.major = major;
		}
		*ret = in;
		return 0;
	}
	return err_set(err, ENOENT,
		       "redis is not installed (no redis-server in /usr/bin or "
		       "/usr/local/bin): apt-get install redis-server");
}

int svc_find(const char *root, const char *kind, const char *version, struct svc_install *ret,
	     struct err *err)
{
	if (kind && strcmp(kind, "postgres") == 0)
		return find_postgres(root, version, ret, err);
	if (kind && strcmp(kind, "redis") == 0)
		return find_redis(root, version, ret, err);
	return err_set(err, EINVAL, "unknown service kind '%s' (known: postgres, redis)",
		       kind ? kind : "");
}

int svc_list(const char *root, const char *cache_dir, struct svc_info **ret, size_t *ret_n,
	     struct err *err)
{
	unsigned majors[MAJORS_MAX] = { 0 };
	size_t n = pg_majors(root, majors), k = 0;
	cleanup_free struct svc_info *list = xcalloc(n + 1, sizeof(*list));
	struct svc_install in;
	int r;

	for (size_t i = 0; i < n; i++) {
		char v[16];
		(void) snprintf(v, sizeof(v), "%u", majors[i]);
		r = find_postgres(root, v, &list[k].inst, err);
		if (r < 0)
			return r;
		binary_version(list[k].inst.server, SVC_POSTGRES, list[k].full_version,
			       sizeof(list[k].full_version));
		list[k].is_default = i == 0;
		list[k].templates = cache_dir ? tpl_count(cache_dir, &list[k].inst) : 0;
		k++;
	}
	r = find_redis(root, NULL, &in, err);
	if (r == 0) {
		list[k].inst = in;
		binary_version(in.server, SVC_REDIS, list[k].full_version,
			       sizeof(list[k].full_version));
		(void) snprintf(list[k].inst.version, sizeof(list[k].inst.version), "%s",
				list[k].full_version);
		cleanup_free char *m =
			xstrndup(list[k].full_version, strcspn(list[k].full_version, "."));
		(void) safe_atou(m, &list[k].inst.major);
		list[k].is_default = true;
		k++;
	} else if (r != -ENOENT) {
		return r;
	}
	err_clear(err);
	*ret = TAKE_PTR(list);
	*ret_n = k;
	return 0;
}

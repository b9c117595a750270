/* template.c - initdb'd PostgreSQL data directories, one per (major, binary identity, owner,
 * user, database, initdb settings), in "<cache>/templates/postgres-<major>-<hash>/":
 *
 *   template.info   the key, written last: a template without it is not one
 *   data/           the data directory (owner: the template's uid, mode 0700), shut down
 *                   cleanly, 1 MiB WAL segments: a job's overlay copies up little
 *
 * Built in ".tmp-<name>-<pid>" and renamed into place under ".<name>.lock" (flock), so
 * readers never see half a template and concurrent builders build once. */
#include "services/services.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "services/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/sha256.h"
#include "util/str.h"
#include "util/xalloc.h"
#include "util/banned.h"

#define TPL_DIR	      "templates"
#define MARKER	      "template.info"
#define KEY_MAX	      4096
#define TMP_PREFIX    ".tmp-"
#define INITDB_WAIT   (5 * 60 * 1000) /* ms; initdb takes 0.5-2 s */
#define PG_CONTROL    8192	      /* bytes of global/pg_control */
#define TEMPLATE_ROOM (64u << 20)     /* a template takes 30-40 MiB */
#define NEST_UID      1000 /* initdb's uid in a user namespace of its own (see struct owner) */

DEFINE_CLEANUP(char **, strv_free)

/* initdb options a template may set, and their defaults. */
static const char *const init_keys[] = {
	"encoding",	   "locale",	 "lc-collate",	   "lc-ctype",	"lc-messages",
	"locale-provider", "icu-locale", "data-checksums", "auth-host", NULL,
};
static const char *const init_defaults[] = {
	"encoding=UTF8",
	"locale=C.UTF-8",
	"auth-host=scram-sha-256",
	NULL,
};
static const char *const no_reserved[] = { NULL };

static bool init_key_ok(const char *key, size_t len)
{
	for (size_t i = 0; init_keys[i]; i++)
		if (strlen(init_keys[i]) == len && strncmp(init_keys[i], key, len) == 0)
			return true;
	return false;
}

static bool init_value_ok(const char *s)
{
	const char *v = strchr(s, '=') + 1;

	if (!*v || strlen(v) > 64)
		return false;
	if (str_startswith(s, "data-checksums="))
		return strcmp(v, "on") == 0 || strcmp(v, "off") == 0;
	if (str_startswith(s, "auth-host="))
		return strcmp(v, "scram-sha-256") == 0 || strcmp(v, "password") == 0 ||
		       strcmp(v, "trust") == 0;
	for (; *v; v++)
		if (!((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') ||
		      (*v >= '0' && *v <= '9') || strchr("._@-", *v)))
			return false;
	return true;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The initdb settings, defaults applied, checked and sorted (the key does not depend on
 * the order they were given in). */
static int init_settings(const struct svc_pg_init *init, char ***ret, struct err *err)
{
	CLEANUP(strv_freep) char **s = NULL;
	int r;

	r = settings_merge(init_defaults, init->settings, no_reserved, init_key_ok, &s, err);
	if (r < 0)
		return err_wrap(err, "template (known settings: encoding, locale, lc-collate, "
				     "lc-ctype, lc-messages, locale-provider, icu-locale, "
				     "data-checksums, auth-host)");
	for (size_t i = 0; s[i]; i++)
		if (!init_value_ok(s[i]))
			return err_set(err, EINVAL, "template setting '%s': unsupported value",
				       s[i]);
	qsort(s, strv_len(s), sizeof(char *), cmp_str);
	*ret = TAKE_PTR(s);
	return 0;
}

static const char *init_user(const struct svc_pg_init *init)
{
	return init->user ? init->user : "postgres";
}

static const char *init_db(const struct svc_pg_init *init)
{
	return init->db ? init->db : init_user(init);
}

int tpl_key(const struct svc_install *inst, const struct svc_pg_init *init, uid_t uid, gid_t gid,
	    char **ret_key, char name[64], struct err *err)
{
	CLEANUP(strv_freep) char **settings = NULL;
	cleanup_free char *joined = NULL;
	uint8_t d[SHA256_DIGEST_SIZE];
	char hex[SHA256_HEX_SIZE];
	int r;

	if (inst->kind != SVC_POSTGRES)
		return err_set(err, EINVAL, "'%s' is not a postgres server", inst->server);
	if (!pg_name_ok(init_user(init)) || !pg_name_ok(init_db(init)))
		return err_set(err, EINVAL,
			       "template: user and database names are 1-63 bytes "
			       "without control characters");
	r = init_settings(init, &settings, err);
	if (r < 0)
		return r;
	joined = strv_join(settings, "\n");
	char *key = xasprintf("mayfly postgres template v1\nmajor=%u\nbinary=%s\nuid=%u\n"
			      "gid=%u\nuser=%s\ndb=%s\n%s\n",
			      inst->major, inst->identity, (unsigned) uid, (unsigned) gid,
			      init_user(init), init_db(init), joined);
	sha256(key, strlen(key), d);
	sha256_to_hex(d, hex);
	(void) snprintf(name, 64, "postgres-%u-%.16s", inst->major, hex);
	*ret_key = key;
	return 0;
}

/* Is tdir/name a complete, untouched template for key, owned as it should be? */
static bool tpl_valid(int tdir, const char *name, const char *key, unsigned major, uid_t uid)
{
	cleanup_close int fd = openat(tdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	cleanup_free char *marker = NULL, *version = NULL;
	char want[16];
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0 || st.st_uid != geteuid() || (st.st_mode & 022))
		return false;
	if (read_file_at(fd, MARKER, KEY_MAX, &marker, NULL, &(struct err){ 0 }) < 0 ||
	    strcmp(marker, key) != 0)
		return false;
	if (fstatat(fd, "data", &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode) ||
	    st.st_uid != uid || (st.st_mode & 077))
		return false;
	(void) snprintf(want, sizeof(want), "%u\n", major);
	if (read_file_at(fd, "data/PG_VERSION", 64, &version, NULL, &(struct err){ 0 }) < 0 ||
	    strcmp(version, want) != 0)
		return false;
	return fstatat(fd, "data/global/pg_control", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISREG(st.st_mode) && st.st_size == PG_CONTROL && st.st_uid == uid;
}

/* The templates directory, made if needed; refused when others could change it. */
static int open_templates(const char *cache_dir, const char *path, int *ret_fd, struct err *err)
{
	cleanup_close int fd = -1;
	struct stat st;
	int r;

	if (cache_dir[0] != '/')
		return err_set(err, EINVAL, "template cache '%s': must be an absolute path",
			       cache_dir);
	/* 0711: the template's owner (initdb) must reach its directory, nobody may list. */
	r = mkdir_p(path, 0711, err);
	if (r < 0)
		return err_wrap(err, "template cache");
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, errno, "template cache: open '%s'", path);
	if (fstat(fd, &st) < 0)
		return err_set(err, errno, "template cache: stat '%s'", path);
	/* SECURITY: whoever can write here can put a template under every job's data. */
	if (st.st_uid != geteuid() || (st.st_mode & 022))
		return err_set(err, EPERM,
			       "template cache '%s' belongs to uid %u with mode %04o: "
			       "it must be ours and not writable by others; remove it",
			       path, (unsigned) st.st_uid, (unsigned) (st.st_mode & 07777));
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* Remove what failed or crashed builds left, and a damaged template (moved aside first,
 * so the name is free at once). We hold the lock: no build of this name is running. */
static int clear_leftovers(int tdir, const char *name, const char *path, struct err *err)
{
	cleanup_free char *prefix = xasprintf(TMP_PREFIX "%s-", name);
	cleanup_free char *bad = xasprintf(TMP_PREFIX "%s-%d-bad", name, (int) getpid());
	int dfd = openat(tdir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CLEANUP(closedirp) DIR *d = NULL;
	struct dirent *de;
	int r;

	if (dfd < 0)
		return err_set(err, errno, "open '%s'", path);
	d = fdopendir(dfd);
	if (!d) {
		(void) close(dfd);
		return err_set(err, errno, "opendir '%s'", path);
	}
	if (renameat(tdir, name, tdir, bad) < 0 && errno != ENOENT)
		return err_set(err, errno, "move damaged template '%s/%s' aside", path, name);
	while ((de = readdir(d))) {
		if (!str_startswith(de->d_name, prefix))
			continue;
		r = rm_rf_at(tdir, de->d_name, err);
		if (r < 0)
			return err_wrap(err, "remove '%s/%s'", path, de->d_name);
	}
	/* readdir may have missed the entry renamed after it opened. */
	r = rm_rf_at(tdir, bad, err);
	return r < 0 ? err_wrap(err, "remove '%s/%s'", path, bad) : 0;
}

/* What went wrong, from a tool's output: its first error line, else its last lines. */
static void first_error(const char *out, char *buf, size_t size)
{
	static const char *const marks[] = { "FATAL:", "PANIC:", "ERROR:", "error:" };

	for (const char *line = out; *line;) {
		size_t len = strcspn(line, "\n");
		for (size_t i = 0; i < ARRAY_SIZE(marks); i++) {
			if (memmem(line, len, marks[i], strlen(marks[i]))) {
				(void) snprintf(buf, size, "%.*s", (int) len, line);
				return;
			}
		}
		line += len;
		line += *line == '\n';
	}
	out_tail(out, 3, buf, size);
}

/* Who runs initdb: the owner itself, or (nest) NEST_UID in a user namespace of its own
 * mapped onto us, when we are the owner and root of a user namespace (unshare -r). */
struct owner {
	uid_t uid;
	gid_t gid;
	bool nest;
};

static int run_tool(char *const *argv, const struct owner *o, const char *passwd,
		    const char *stdin_data, const char *what, struct err *err)
{
	static char *const envp[] = { (char *) "TZ=Etc/UTC", (char *) "LC_ALL=C.UTF-8", NULL };
	struct svc_spawn how = { .envp = envp, .stdin_data = stdin_data, .out_fd = -1 };
	cleanup_free char *out = NULL;
	char tail[300], st[48];
	int status, r;

	/* Not root: we are the owner already. */
	how.uid = o->nest ? NEST_UID : geteuid() == 0 ? o->uid : (uid_t) -1;
	how.gid = o->nest ? NEST_UID : geteuid() == 0 ? o->gid : (gid_t) -1;
	how.userns = o->nest;
	r = svc_run_as(argv, &how, passwd, INITDB_WAIT, &status, &out, err);
	if (r < 0)
		return err_wrap(err, "%s", what);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	status_text(status, st, sizeof(st));
	first_error(out, tail, sizeof(tail));
	bool full = strstr(out, "No space left") || strstr(out, "Check free disk space");
	return err_set(err, full ? ENOSPC : EIO, "%s %s: %s", what, st, tail);
}

/* initdb into tfd/data, then the database if it is not "postgres". */
static int fill_template(const struct svc_install *inst, const struct svc_pg_init *init,
			 char *const *settings, const char *data, const struct owner *o,
			 const char *passwd, struct err *err)
{
	cleanup_free char *initdb = path_join(inst->bindir, "initdb");
	CLEANUP(strv_freep) char **argv = NULL;
	int r;

	strv_push(&argv, initdb);
	strv_push(&argv, "-D");
	strv_push(&argv, data);
	strv_push(&argv, "-U");
	strv_push(&argv, init_user(init));
	/* Local (unix socket) connections are trusted: only the server's uid reaches its
	 * socket directory; that is how mayfly sets the job's password after the start. */
	strv_push(&argv, "--auth-local=trust");
	/* 1 MiB instead of 16: the first WAL write of a job copies up one segment. */
	strv_push(&argv, "--wal-segsize=1");
	strv_push(&argv, "--no-sync"); /* one syncfs() of the whole template instead */
	strv_push(&argv, "--no-instructions");
	for (size_t i = 0; settings[i]; i++) {
		if (strcmp(settings[i], "data-checksums=off") == 0)
			continue;
		cleanup_free char *opt = strcmp(settings[i], "data-checksums=on") == 0
						 ? xstrdup("--data-checksums")
						 : xasprintf("--%s", settings[i]);
		strv_push(&argv, opt);
	}
	r = run_tool(argv, o, passwd, NULL, "initdb", err);
	if (r < 0 || strcmp(init_db(init), "postgres") == 0)
		return r;

	/* POSTGRES_DB: made once here, by a single-user backend, instead of a 40-60 ms
	 * CREATE DATABASE in every job. exit_on_error makes a failed statement fatal. */
	cleanup_free char *postgres = path_join(inst->bindir, "postgres");
	cleanup_free char *quoted = pg_quote_ident(init_db(init));
	cleanup_free char *sql = xasprintf("CREATE DATABASE %s\n", quoted);
	char *const single[] = { postgres,
				 (char *) "--single",
				 (char *) "-F",
				 (char *) "-D",
				 (char *) data,
				 (char *) "-c",
				 (char *) "exit_on_error=on",
				 (char *) "postgres",
				 NULL };
	return run_tool(single, o, passwd, sql, "create database", err);
}

/* A passwd file naming uid, for initdb, when the host has no name for it. */
static int fake_passwd(int tfd, const char *tmp_path, const struct owner *o, char **ret,
		       struct err *err)
{
	uid_t uid = o->nest ? NEST_UID : o->uid;
	gid_t gid = o->nest ? NEST_UID : o->gid;
	cleanup_free char *line = NULL;
	int r;

	*ret = NULL;
	if (geteuid() != 0 || getpwuid(uid))
		return 0;
	line = xasprintf("mayfly-services:x:%u:%u::/nonexistent:/usr/sbin/nologin\n",
			 (unsigned) uid, (unsigned) gid);
	r = write_file_atomic_at(tfd, "passwd", line, strlen(line), 0644, 0, err);
	if (r < 0)
		return r;
	*ret = path_join(tmp_path, "passwd");
	return 0;
}

static int build(int tdir, const char *path, const char *name, const char *key,
		 const struct svc_install *inst, const struct svc_pg_init *init,
		 char *const *settings, const struct owner *o, struct err *err)
{
	cleanup_free char *tmp = xasprintf(TMP_PREFIX "%s-%d", name, (int) getpid());
	cleanup_free char *tmp_path = path_join(path, tmp);
	cleanup_free char *data = path_join(tmp_path, "data");
	cleanup_free char *passwd = NULL;
	cleanup_close int tfd = -1;
	int r;

	if (mkdirat(tdir, tmp, 0711) < 0)
		return err_set(err, errno, "mkdir '%s'", tmp_path);
	tfd = openat(tdir, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (tfd < 0)
		return err_set(err, errno, "open '%s'", tmp_path);
	if (mkdirat(tfd, "data", 0700) < 0)
		return err_set(err, errno, "mkdir '%s'", data);
	if (geteuid() == 0 && !o->nest &&
	    fchownat(tfd, "data", o->uid, o->gid, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == EINVAL)
			return err_set(err, EINVAL,
				       "uid %u or gid %u has no place in this user "
				       "namespace",
				       (unsigned) o->uid, (unsigned) o->gid);
		return err_set(err, errno, "chown '%s'", data);
	}
	r = fake_passwd(tfd, tmp_path, o, &passwd, err);
	if (r < 0)
		return r;
	r = fill_template(inst, init, settings, data, o, passwd, err);
	if (passwd)
		(void) unlinkat(tfd, "passwd", 0);
	if (r < 0)
		return r;
	r = write_file_atomic_at(tfd, MARKER, key, strlen(key), 0644, 0, err);
	if (r < 0)
		return r;
	/* Everything reaches the disk before the name does: after a power cut, a template
	 * is whole or absent. */
	if (syncfs(tfd) < 0)
		return err_set(err, errno, "sync '%s'", tmp_path);
	if (renameat(tdir, tmp, tdir, name) < 0)
		return err_set(err, errno, "rename '%s' to '%s'", tmp, name);
	(void) fsync(tdir);
	return 0;
}

/* Root of a user namespace (`unshare -r`), not of the host: uid 0 is someone's own. */
static bool in_user_namespace(void)
{
	cleanup_free char *map = NULL;
	unsigned in, out, count;

	if (read_file_at(AT_FDCWD, "/proc/self/uid_map", 4096, &map, NULL, &(struct err){ 0 }) < 0)
		return false;
	return sscanf(map, "%u %u %u", &in, &out, &count) != 3 || in != 0 || out != 0 ||
	       count != UINT32_MAX;
}

/* A failed build on a nearly full file system failed for want of space, whatever the
 * tool said (PostgreSQL reports short writes as such). */
static int full_disk(int tdir, int r, struct err *err)
{
	struct statvfs vfs;

	if (r != -EIO || fstatvfs(tdir, &vfs) < 0 ||
	    (uint64_t) vfs.f_bavail * vfs.f_frsize >= TEMPLATE_ROOM)
		return r;
	err->code = ENOSPC;
	return -ENOSPC;
}

int svc_pg_template(const char *cache_dir, const struct svc_install *inst,
		    const struct svc_pg_init *init, char **ret_datadir, struct err *err)
{
	cleanup_free char *path = path_join(cache_dir, TPL_DIR);
	CLEANUP(strv_freep) char **settings = NULL;
	cleanup_free char *key = NULL, *lock = NULL;
	cleanup_close int tdir = -1, lfd = -1;
	struct owner o = {
		.uid = init->uid == (uid_t) -1 ? geteuid() : init->uid,
		.gid = init->gid == (gid_t) -1 ? getegid() : init->gid,
	};
	char name[64];
	int r;

	if (geteuid() != 0 && (o.uid != geteuid() || o.gid != getegid()))
		return err_set(err, EPERM, "template: only root may make one owned by uid %u",
			       (unsigned) o.uid);
	if (o.uid == 0 && !in_user_namespace())
		return err_set(err, EINVAL,
			       "template: PostgreSQL refuses to run as root; give "
			       "the template another owner");
	o.nest = o.uid == 0;
	r = tpl_key(inst, init, o.uid, o.gid, &key, name, err);
	if (r < 0)
		return r;
	r = init_settings(init, &settings, err);
	if (r < 0)
		return r;
	r = open_templates(cache_dir, path, &tdir, err);
	if (r < 0)
		return r;
	if (!tpl_valid(tdir, name, key, inst->major, o.uid)) {
		lock = xasprintf(".%s.lock", name);
		lfd = openat(tdir, lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (lfd < 0)
			return err_set(err, errno, "template: open '%s/%s'", path, lock);
		/* One builds; the others wait here, then find its template valid. */
		while (flock(lfd, LOCK_EX) < 0)
			if (errno != EINTR)
				return err_set(err, errno, "template: lock '%s/%s'", path, lock);
		if (!tpl_valid(tdir, name, key, inst->major, o.uid)) {
			struct err ignored = { 0 };
			cleanup_free char *tmp =
				xasprintf(TMP_PREFIX "%s-%d", name, (int) getpid());

			r = clear_leftovers(tdir, name, path, err);
			if (r == 0)
				r = build(tdir, path, name, key, inst, init, settings, &o, err);
			if (r < 0) {
				(void) rm_rf_at(tdir, tmp, &ignored);
				r = full_disk(tdir, r, err);
				if (r == -ENOSPC || r == -EDQUOT)
					(void) err_wrap(err, "template cache '%s' is full", path);
				return err_wrap(err, "postgres %u template '%s'", inst->major,
						name);
			}
			r = 1;
		}
	}
	*ret_datadir = xasprintf("%s/%s/data", path, name);
	return r > 0 ? 1 : 0;
}

unsigned tpl_count(const char *cache_dir, const struct svc_install *inst)
{
	cleanup_free char *path = path_join(cache_dir, TPL_DIR);
	cleanup_free char *prefix = xasprintf("postgres-%u-", inst->major);
	cleanup_free char *binary = xasprintf("\nbinary=%s\n", inst->identity);
	CLEANUP(closedirp) DIR *d = opendir(path);
	struct dirent *de;
	unsigned n = 0;

	while (d && (de = readdir(d))) {
		cleanup_free char *marker = NULL;
		if (!str_startswith(de->d_name, prefix))
			continue;
		cleanup_free char *m = xasprintf("%s/%s", de->d_name, MARKER);
		if (read_file_at(dirfd(d), m, KEY_MAX, &marker, NULL, &(struct err){ 0 }) == 0 &&
		    strstr(marker, binary))
			n++;
	}
	return n;
}

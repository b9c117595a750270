/* test-walls-fs.c - the file system wall (security.md invariants 4 and 5, boundary 2):
 * nothing of the host's files but the read-only system dirs, every system dir read-only
 * (for root inside too) while the scratch dirs are writable, every mount nosuid, setuid
 * binaries powerless, a minimal /dev where no device can be made, and no host fd leaking
 * in. */
#include <fcntl.h>
#include <sys/stat.h>

#include "need.h"
#include "probes/walls.h"
#include "run.h"
#include "test.h"

/* The host's secrets and mayfly's state are not there: /etc/shadow, /root, /home's users,
 * /var/lib/mayfly, this test's own state dir and a canary file next to it. */
TEST(walls_fs_host_files_invisible)
{
	NEED(USERNS);
	char canary[512];
	int fd;
	struct run_result res;

	(void) snprintf(canary, sizeof(canary), "%s/canary", test_tmpdir());
	fd = open(canary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, "host\n", 5), 5);
	(void) close(fd);
	char *paths = walls_fmt("/etc/shadow /etc/gshadow /etc/sudoers /etc/ssh /root/.bashrc "
				"/root/.ssh /var/lib/mayfly /var/log %s %s %s",
				canary, test_tmpdir(), test_state_dir());
	DIR *home = opendir("/home");
	struct dirent *e;

	/* The host's home directories, whatever they are called. */
	while (home && (e = readdir(home)))
		if (e->d_name[0] != '.')
			paths = walls_fmt("%s /home/%s", paths, e->d_name);
	if (home)
		(void) closedir(home);
	const char *script =
		walls_fmt("for p in %s; do [ -e $p ] || [ -L $p ] && echo visible:$p; done;"
			  "echo home:$(ls -A /home | tr '\\n' ' ');"
			  "echo root-dir:$(ls -A /root 2>/dev/null | wc -l);"
			  "ls -A /etc | sed 's/^/etc:/'",
			  paths);
	const char *const cmd[] = { "/bin/sh", "-c", script, NULL };
	const char *const root[] = { "--user", "root", NULL };

	/* Control: the host does have them (those it has). */
	CHECK_OK(access(canary, R_OK));
	walls_run(NULL, cmd, NULL, 30, &res);
	WCHECK_EQ(&res, res.status, 0);
	WCHECK_NOT_CONTAINS(&res, res.out, "visible:");
	WCHECK_CONTAINS(&res, res.out, "home:runner\n");
	WCHECK_CONTAINS(&res, res.out, "root-dir:0\n");
	WCHECK_NOT_CONTAINS(&res, res.out, "etc:shadow\n");
	WCHECK_NOT_CONTAINS(&res, res.out, "etc:machine-id\n");
	WCHECK_CONTAINS(&res, res.out, "etc:passwd\n"); /* control: /etc is there */
	run_result_free(&res);
	/* Root inside gets a fresh, empty /root. */
	walls_run(root, cmd, NULL, 30, &res);
	WCHECK_EQ(&res, res.status, 0);
	WCHECK_NOT_CONTAINS(&res, res.out, "visible:");
	WCHECK_CONTAINS(&res, res.out, "root-dir:0\n");
	run_result_free(&res);
}

/* /etc/passwd is the sandbox's own: root, the job's user and nobody; no user of the host. */
TEST(walls_fs_passwd_is_the_sandbox_own)
{
	NEED(USERNS);
	const char *host = walls_host_file("/etc/passwd");
	const char *const cmd[] = { "/bin/cat", "/etc/passwd", NULL };
	struct run_result res;
	unsigned host_users = 0;

	walls_run(NULL, cmd, NULL, 30, &res);
	WCHECK_EQ(&res, res.status, 0);
	WCHECK_CONTAINS(&res, res.out, "root:x:0:0:");
	WCHECK_CONTAINS(&res, res.out, "runner:x:1000:1000:");
	WCHECK_CONTAINS(&res, res.out, "nobody:x:65534:65534:");
	for (const char *p = host; *p;) {
		const char *e = strchrnul(p, '\n');
		size_t n = strcspn(p, ":");
		if (n > 0 && n < (size_t) (e - p)) {
			char *name = walls_fmt("\n%.*s:", (int) n, p);
			char *hay = walls_fmt("\n%s", res.out);
			if (strcmp(name, "\nroot:") && strcmp(name, "\nnobody:") &&
			    strcmp(name, "\nrunner:")) {
				host_users++;
				WCHECK_NOT_CONTAINS(&res, hay, name);
			}
		}
		p = *e ? e + 1 : e;
	}
	/* Exactly three lines. */
	{
		unsigned lines = 0;
		for (const char *p = res.out; *p; p++)
			lines += *p == '\n';
		WCHECK_EQ(&res, lines, 3);
	}
	printf("# %u host users checked absent\n", host_users);
	run_result_free(&res);
}

/* Writing to /, /usr, /etc, /bin, /lib, /sbin, /var, /dev fails with EROFS - for root
 * inside too (the mount, not a permission, says no); /tmp, $HOME, /workspace, /run,
 * /var/tmp and /dev/shm are writable (control). */
TEST(walls_fs_system_dirs_read_only)
{
	NEED(USERNS);
	const char *script =
		"for d in / /usr /usr/bin /usr/local /etc /bin /lib /sbin /var /dev; do"
		"  [ -d $d ] || continue;"
		"  if touch $d/mayfly-probe 2>/dev/null; then echo writable:$d; fi;"
		"  touch $d/mayfly-probe 2>&1 | grep -q 'Read-only file system' || "
		"    echo not-erofs:$d;"
		"done;"
		"for f in /etc/passwd /etc/hosts /etc/resolv.conf /usr/bin/env; do"
		"  (echo x >> $f) 2>/dev/null && echo writable:$f; done;"
		"for d in /tmp $HOME /workspace /run /var/tmp /dev/shm; do"
		"  echo x > $d/mayfly-probe && echo rw:$d; done";
	const char *const cmd[] = { "/bin/sh", "-c", script, NULL };
	const char *const root[] = { "--user", "root", NULL };
	struct run_result res;

	for (int pass = 0; pass < 2; pass++) {
		walls_run(pass ? root : NULL, cmd, NULL, 30, &res);
		WCHECK_EQ(&res, res.status, 0);
		WCHECK_NOT_CONTAINS(&res, res.out, "writable:");
		WCHECK_NOT_CONTAINS(&res, res.out, "not-erofs:");
		WCHECK_CONTAINS(&res, res.out, "rw:/tmp\n");
		WCHECK_CONTAINS(&res, res.out, pass ? "rw:/root\n" : "rw:/home/runner\n");
		WCHECK_CONTAINS(&res, res.out, "rw:/workspace\n");
		WCHECK_CONTAINS(&res, res.out, "rw:/run\n");
		WCHECK_CONTAINS(&res, res.out, "rw:/var/tmp\n");
		WCHECK_CONTAINS(&res, res.out, "rw:/dev/shm\n");
		run_result_free(&res);
	}
}

/* --bind SRC:DST:ro is read-only (for root inside too) and cannot be remounted rw; a rw
 * bind is writable and the file lands on the host (control). */
TEST(walls_fs_read_only_bind_stays_read_only)
{
	NEED(USERNS);
	char *ro = walls_fmt("%s/ro", test_tmpdir()), *rw = walls_fmt("%s/rw", test_tmpdir());
	struct stat st;
	struct run_result res;

	CHECK_OK(mkdir(ro, 0777));
	CHECK_OK(mkdir(rw, 0777));
	CHECK_OK(chmod(ro, 0777));
	CHECK_OK(chmod(rw, 0777));
	const char *const opts[] = { "--user", "root",
				     "--bind", walls_fmt("%s:/data:ro", ro),
				     "--bind", walls_fmt("%s:/out", rw),
				     NULL };
	const char *const cmd[] = {
		"/bin/sh",
		"-c",
		"touch /data/x 2>&1 | grep -q 'Read-only file system' && echo ro-erofs;"
		"mount -o remount,rw,bind /data 2>/dev/null && echo remounted;"
		"touch /data/x 2>/dev/null && echo written;"
		"echo hello > /out/f && echo rw-ok",
		NULL,
	};
	walls_run(opts, cmd, NULL, 30, &res);
	WCHECK_EQ(&res, res.status, 0);
	WCHECK_CONTAINS(&res, res.out, "ro-erofs\n");
	WCHECK_NOT_CONTAINS(&res, res.out, "remounted");
	WCHECK_NOT_CONTAINS(&res, res.out, "written");
	WCHECK_CONTAINS(&res, res.out, "rw-ok\n");
	run_result_free(&res);
	CHECK(stat(walls_fmt("%s/x", ro), &st) < 0 && errno == ENOENT);
	CHECK_OK(stat(walls_fmt("%s/f", rw), &st));
}

/* Every mount inside is nosuid, and every one outside /dev is nodev too (§4.3). */
TEST(walls_fs_every_mount_nosuid_nodev)
{
	NEED(USERNS);
	const char *const cmd[] = { "/bin/cat", "/proc/self/mountinfo", NULL };
	struct run_result res;
	unsigned mounts = 0;

	walls_run(NULL, cmd, NULL, 30, &res);
	WCHECK_EQ(&res, res.status, 0);
	for (char *line = res.out; *line;) {
		char *e = strchrnul(line, '\n');
		char mp[512], opts[512];
		char *copy = walls_fmt("%.*s", (int) (e - line), line);
		if (sscanf(copy, "%*s %*s %*s %*s %511s %511s", mp, opts) == 2) {
			char *o = walls_fmt(",%s,", opts);
			mounts++;
			if (!strstr(o, ",nosuid,")) {
				walls_dump(&res);
				test_fail(__FILE__, __LINE__, "mount '%s' is not nosuid: %s", mp,
					  opts);
			}
			if (strncmp(mp, "/dev", 4) != 0 && !strstr(o, ",nodev,")) {
				walls_dump(&res);
				test_fail(__FILE__, __LINE__, "mount '%s' is not nodev: %s", mp,
					  opts);
			}
		}
		line = *e ? e + 1 : e;
	}
	WCHECK(&res, mounts >= 5);
	run_result_free(&res);
}

/* setuid-root binaries of the host (su, mount, sudo if there) do not give uid 0, and a
 * setuid bit set inside changes nothing (/tmp is nosuid; no_new_privs besides). The job
 * owns its /tmp copy, so the euid check alone could not fail: the nosuid flag is checked
 * too, and the next test makes the attack with a file owned by another uid. */
TEST(walls_fs_setuid_powerless)
{
	NEED(USERNS);
	struct run_result res;
	const char *script =
		"out=$(su -c 'id -u' root </dev/null 2>&1); echo su=$?;"
		"echo \"$out\" | grep -qx 0 && echo su-root;"
		"if command -v sudo >/dev/null; then sudo -n id -u 2>&1 | grep -qx 0 && "
		"  echo sudo-root; fi;"
		"mount -t tmpfs none /tmp 2>&1; echo mount=$?;"
		"cp /usr/bin/id /tmp/id && chmod 4755 /tmp/id && "
		"  echo copy:$(stat -c %a /tmp/id) && echo tmp-euid:$(/tmp/id -u);"
		"grep -E ' /tmp ' /proc/self/mountinfo | grep -q nosuid && echo tmp-nosuid";
	const char *const cmd[] = { "/bin/sh", "-c", script, NULL };

	walls_run(NULL, cmd, NULL, 30, &res);
	WCHECK_EQ(&res, res.status, 0);
	WCHECK_NOT_CONTAINS(&res, res.out, "su-root");
	WCHECK_NOT_CONTAINS(&res, res.out, "sudo-root");
	WCHECK_NOT_CONTAINS(&res, res.out, "su=0\n");
	WCHECK_NOT_CONTAINS(&res, res.out, "mount=0\n");
	WCHECK_CONTAINS(&res, res.out, "copy:4755\n"); /* control: the bit is set */
	WCHECK_CONTAINS(&res, res.out, "tmp-euid:1000\n");
	WCHECK_CONTAINS(&res, res.out, "tmp-nosuid\n");
	run_result_free(&res);
}

/* The discriminating form of the setuid attack: the host prepares `id` setuid and owned
 * by the host uid that is root inside the sandbox (the first slot of a fresh state dir,
 * confirmed from the job's uid_map), binds it in, and the job (uid 1000) runs it. Were
 * nosuid and no_new_privs both missing, it would print 0. */
TEST(walls_fs_setuid_file_owned_by_sandbox_root_powerless)
{
	NEED(ROOT);
	const char *own_map = walls_host_file("/proc/self/uid_map");
	char *dir = walls_fmt("%s/suid", test_tmpdir()), *bin = walls_fmt("%s/id", dir);
	const unsigned base = 0x40000000u; /* SLOT_UID_BASE + slot 0 * 65536 */
	struct run_result res;

	if (!strstr(own_map, "0          0 4294967295"))
		test_skip("needs the initial user namespace (root mode maps a uid range)");
	CHECK_OK(mkdir(dir, 0755));
	const char *const cp[] = { "cp", "/usr/bin/id", bin, NULL };
	run_argv((char *const *) cp, NULL, 30, &res);
	WCHECK_EQ(&res, res.status, 0);
	run_result_free(&res);
	CHECK_OK(chown(bin, base, base));
	CHECK_OK(chmod(bin, 04755));
	const char *const opts[] = { "--bind", walls_fmt("%s:/suid:ro", dir), NULL };
	const char *const cmd[] = {
		"/bin/sh",
		"-c",
		"echo map:$(head -n 1 /proc/self/uid_map | tr -s ' ' | sed 's/^ //');"
		"echo owner:$(stat -c %u:%a /suid/id);"
		"echo euid:$(/suid/id -u)",
		NULL,
	};
	walls_run(opts, cmd, NULL, 30, &res);
	WCHECK_EQ(&res, res.status, 0);
	/* The assumption: the file's owner is root inside. */
	WCHECK_CONTAINS(&res, res.out, walls_fmt("map:0 %u 65536\n", base));
	WCHECK_CONTAINS(&res, res.out, "owner:0:4755\n");
	WCHECK_CONTAINS(&res, res.out, "euid:1000\n");
	run_result_free(&res);
}

/* /dev holds exactly the harmless nodes; no block device anywhere; making a device node
 * fails (for root inside too) while a fifo can be made (control). */
TEST(walls_fs_dev_minimal_no_mknod)
{
	NEED(USERNS);
	const char *const cmd[] = {
		"/bin/sh",
		"-c",
		"echo dev:$(ls -A /dev | sort | tr '\\n' ' ');"
		/* %Y stats each file: d_type shows a bind-mounted node as its mount point. */
		"find / \\( -path /proc -o -path /usr \\) -prune -o -printf '%Y %p\\n' "
		"  2>/dev/null | grep '^b ' | sed 's/^/blockdev:/';"
		"echo chr:$(find /dev ! -type l -printf '%Y %p\\n' | grep '^c ' | cut -c3- |"
		"  sort | tr '\\n' ' ');"
		"mknod /tmp/sda b 8 0 2>/dev/null && echo mknod-ok; true",
		NULL,
	};
	const char *const expect[] = { "mknod_chr=EPERM", "mknod_blk=EPERM", "mkfifo=ok", NULL };
	const char *const root[] = { "--user", "root", NULL };
	struct run_result res;

	walls_run(root, cmd, NULL, 30, &res);
	WCHECK_EQ(&res, res.status, 0);
	WCHECK_CONTAINS(&res, res.out,
			"dev:fd full null ptmx pts random shm stderr stdin stdout "
			"tty urandom zero\n");
	WCHECK_NOT_CONTAINS(&res, res.out, "blockdev:");
	WCHECK_NOT_CONTAINS(&res, res.out, "mknod-ok");
	/* Character devices: the six nodes and the pts multiplexer, nothing else. */
	WCHECK_CONTAINS(&res, res.out,
			"chr:/dev/full /dev/null /dev/pts/ptmx /dev/random "
			"/dev/tty /dev/urandom /dev/zero\n");
	run_result_free(&res);
	walls_probe_expect(NULL, expect);
	walls_probe_expect(root, expect);
}

/* No host fd reaches the job: mayfly is started with a secret file and a host directory
 * open without O_CLOEXEC; inside, /proc/self/fd is 0, 1, 2 (and ls's own), no fd of any
 * process points at them. The same fds do reach a plain child of the launcher (the control
 * that the leak was set up). */
TEST(walls_fs_no_leaked_fds)
{
	NEED(USERNS);
	char *secret = walls_fmt("%s/secret", test_tmpdir());
	char *word = walls_fmt("leaked-%d-plugh", (int) getpid());
	struct run_result res;
	int fd, dfd;

	fd = open(secret, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	CHECK_EQ(write(fd, word, strlen(word)), (ssize_t) strlen(word));
	(void) close(fd);
	fd = open(secret, O_RDONLY | O_CLOEXEC);
	dfd = open(test_tmpdir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(fd >= 3 && dfd >= 3);
	CHECK_OK(fcntl(fd, F_SETFD, 0)); /* inheritable, on purpose */
	CHECK_OK(fcntl(dfd, F_SETFD, 0));

	/* Control: a plain child sees both. */
	{
		const char *script =
			walls_fmt("cat /proc/self/fd/%d; ls /proc/self/fd/%d/", fd, dfd);
		const char *const argv[] = { "/bin/sh", "-c", script, NULL };
		run_argv((char *const *) argv, NULL, 30, &res);
		WCHECK_CONTAINS(&res, res.out, word);
		WCHECK_CONTAINS(&res, res.out, "secret\n");
		run_result_free(&res);
	}
	const char *script = walls_fmt(
		"echo fds:$(ls /proc/self/fd | tr '\\n' ' ');"
		"for p in /proc/[0-9]*; do for f in $p/fd/*; do"
		"  echo link:$(readlink $f 2>/dev/null); done; done;"
		"cat /proc/self/fd/%d /proc/1/fd/%d 2>/dev/null; ls /proc/self/fd/%d/ 2>/dev/null;"
		"true",
		fd, fd, dfd);
	const char *const cmd[] = { "/bin/sh", "-c", script, NULL };
	walls_run(NULL, cmd, NULL, 30, &res);
	WCHECK_EQ(&res, res.status, 0);
	/* ls's own directory fd is 3. */
	WCHECK_CONTAINS(&res, res.out, "fds:0 1 2 3\n");
	WCHECK_NOT_CONTAINS(&res, res.out, word);
	WCHECK_NOT_CONTAINS(&res, res.out, test_tmpdir());
	WCHECK_NOT_CONTAINS(&res, res.out, "secret");
	run_result_free(&res);
}

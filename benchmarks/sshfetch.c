/* sshfetch.c - what an SSH remote costs a mirror: mayfly's fetch (libgit2, libssh2)
 * over ssh:// against the same over git://, and against `git clone --mirror` over ssh
 * (the OpenSSH client) and over git://, in one run, on one repository of 5,000 files
 * (about 800 bytes each, as benchmarks/checkout.c makes them). Then a fetch with nothing
 * new, where SSH's connection setup is all there is. The servers are OpenSSH's sshd
 * (a temporary ed25519 host key, a high port on loopback) and `git daemon`. Root only:
 * sshd logs in through the account's shell (see tests/integ/test-sshfetch.c).
 *
 *   build/benchmarks/sshfetch [-n RUNS]      (default 7 rounds, contenders rotating) */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkout/checkout.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fd.h"
#include "util/path.h"
#include "util/xalloc.h"
#include "util/banned.h"

#include "bench.h"

#define MAX_RUNS 50
#define NFILES	 5000
#define SSHD	 "/usr/sbin/sshd"

struct samples {
	double v[MAX_RUNS];
	size_t n;
};

static char base[256];
static char **env;
static unsigned seq;

static int run(char *const *argv)
{
	posix_spawn_file_actions_t fa;
	int status = -1;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, env) != 0)
		return -1;
	posix_spawn_file_actions_destroy(&fa);
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void sh(const char *script)
{
	if (run((char *[]){ "sh", "-c", (char *) script, NULL }) != 0) {
		(void) fprintf(stderr, "sshfetch: '%s' failed\n", script);
		exit(1);
	}
}

/* A server, its output discarded (git daemon complains of each port probe). */
static pid_t spawn(char *const *argv)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, env) != 0) {
		(void) fprintf(stderr, "sshfetch: cannot start %s\n", argv[0]);
		exit(1);
	}
	posix_spawn_file_actions_destroy(&fa);
	return pid;
}

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	cleanup_close int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *) &a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *) &a, &len) < 0)
		exit(1);
	return ntohs(a.sin_port);
}

static void wait_port(int port)
{
	cleanup_free char *probe = xasprintf("exec 3<>/dev/tcp/127.0.0.1/%d", port);

	for (int i = 0; i < 500; i++) {
		if (run((char *[]){ "bash", "-c", probe, NULL }) == 0)
			return;
		usleep(10 * 1000);
	}
	(void) fprintf(stderr, "sshfetch: nothing listens on port %d\n", port);
	exit(1);
}

/* The repository: NFILES files of about 800 bytes, 10 per directory level, one commit. */
static void generate(const char *dir)
{
	cleanup_free char *stream = xasprintf("%s.fi", dir);
	cleanup_free char *script = NULL;
	FILE *f = fopen(stream, "w");
	char body[1024];

	if (!f)
		exit(1);
	fprintf(f, "commit refs/heads/main\ncommitter C <c@example.com> 1700000000 +0000\n"
		   "data 2\nc\n");
	for (unsigned i = 0; i < NFILES; i++) {
		int n = snprintf(body, sizeof(body), "/* file %u */\n", i);
		while (n < 780)
			n += snprintf(body + n, sizeof(body) - (size_t) n, "int v%u_%d = %u;\n", i,
				      n, i * 2654435761u);
		fprintf(f, "M 100644 inline d%02u/s%02u/f%06u.c\ndata %d\n%s\n", i % 100,
			(i / 100) % 10, i, n, body);
	}
	if (fclose(f) != 0)
		exit(1);
	script = xasprintf("git init -q --bare -b main '%s' && cd '%s' && "
			   "git fast-import --quiet < '%s' && git gc -q",
			   dir, dir, stream);
	sh(script);
	(void) unlink(stream);
}

static double mayfly_fetch(const char *cache, const char *url, const struct checkout_cred *cred)
{
	cleanup_free char *mirror = NULL;
	struct err err = { 0 };
	double t = bench_now_ms();

	if (checkout_mirror(cache, url, cred, NULL, 0, &mirror, &err) < 0) {
		(void) fprintf(stderr, "sshfetch: %s\n", err.msg);
		exit(1);
	}
	return bench_now_ms() - t;
}

static double git_cmd(char *const *argv)
{
	double t = bench_now_ms();

	if (run(argv) != 0) {
		(void) fprintf(stderr, "sshfetch: '%s %s' failed\n", argv[0], argv[1]);
		exit(1);
	}
	return bench_now_ms() - t;
}

static void row(const char *name, struct samples *s, double ref)
{
	double med = bench_median(s->v, s->n);

	printf("  %-44s %8.0f ms  (%.0f-%.0f)", name, med, s->v[0], s->v[s->n - 1]);
	if (ref > 0)
		printf("  %.2fx", med / ref);
	printf("\n");
}

int main(int argc, char **argv)
{
	enum { M_SSH, M_GIT, G_SSH, G_GIT, N_CONT };
	static const char *const names[N_CONT] = { "mayfly (libgit2) over ssh://",
						   "mayfly (libgit2) over git://",
						   "git clone --mirror over ssh (OpenSSH)",
						   "git clone --mirror over git://" };
	static const char *const noop_names[N_CONT] = { "mayfly (libgit2) over ssh://",
							"mayfly (libgit2) over git://",
							"git fetch over ssh (OpenSSH)",
							"git fetch over git://" };
	struct samples clone[N_CONT] = { 0 }, noop[N_CONT] = { 0 };
	cleanup_free char *srv = NULL, *repo = NULL, *conf = NULL, *text = NULL;
	cleanup_free char *ssh_url = NULL, *git_url = NULL, *known = NULL, *key = NULL;
	cleanup_free char *ssh_cmd = NULL, *script = NULL;
	struct checkout_cred cred = { 0 };
	unsigned runs = 7;
	int c, ssh_port, git_port;
	pid_t sshd, gitd;

	while ((c = getopt(argc, argv, "n:")) != -1)
		if (c == 'n')
			runs = (unsigned) strtoul(optarg, NULL, 10);
	if (runs < 1 || runs > MAX_RUNS)
		runs = 7;
	if (geteuid() != 0 || access(SSHD, X_OK) < 0) {
		printf("sshfetch: unavailable (needs root and %s: sshd logs in through the "
		       "account's shell)\n",
		       SSHD);
		return 0;
	}
	(void) snprintf(base, sizeof(base), "/tmp/mayfly-bench-ssh-XXXXXX");
	if (!mkdtemp(base))
		return 1;
	env = (char *[]){ "PATH=/usr/local/bin:/usr/bin:/bin",
			  "HOME=/nonexistent",
			  "GIT_CONFIG_NOSYSTEM=1",
			  "GIT_CONFIG_GLOBAL=/dev/null",
			  NULL,
			  NULL };
	srv = path_join(base, "srv");
	repo = path_join(srv, "big.git");
	known = path_join(base, "known_hosts");
	key = path_join(base, "id");
	conf = path_join(base, "sshd_config");
	(void) mkdir(srv, 0755);
	(void) mkdir("/run/sshd", 0755);
	generate(repo);
	script = xasprintf("cd '%s' && ssh-keygen -q -t ed25519 -N '' -f host && "
			   "ssh-keygen -q -t ed25519 -N '' -f id && cp id.pub authorized_keys",
			   base);
	sh(script);
	ssh_port = free_port();
	git_port = free_port();
	text = xasprintf("Port %d\nListenAddress 127.0.0.1\nHostKey %s/host\n"
			 "AuthorizedKeysFile %s/authorized_keys\nStrictModes no\nUsePAM no\n"
			 "PasswordAuthentication no\nPermitRootLogin prohibit-password\n"
			 "PidFile none\nMaxStartups 100\n",
			 ssh_port, base, base);
	if (write_file_atomic_at(AT_FDCWD, conf, text, strlen(text), 0600, 0, &(struct err){ 0 }) <
	    0)
		return 1;
	free(script);
	script = xasprintf("printf '[127.0.0.1]:%d %%s\\n' \"$(cut -d' ' -f1,2 '%s/host.pub')\" "
			   "> '%s'",
			   ssh_port, base, known);
	sh(script);
	sshd = spawn((char *[]){ SSHD, "-D", "-f", conf, NULL });
	cleanup_free char *port_arg = xasprintf("--port=%d", git_port);
	cleanup_free char *base_arg = xasprintf("--base-path=%s", srv);
	gitd = spawn((char *[]){ "git", "daemon", "--reuseaddr", "--listen=127.0.0.1", port_arg,
				 base_arg, "--export-all", srv, NULL });
	wait_port(ssh_port);
	wait_port(git_port);
	ssh_url = xasprintf("ssh://root@127.0.0.1:%d%s", ssh_port, repo);
	git_url = xasprintf("git://127.0.0.1:%d/big.git", git_port);
	ssh_cmd = xasprintf("GIT_SSH_COMMAND=ssh -i %s -o IdentitiesOnly=yes -o BatchMode=yes "
			    "-o UserKnownHostsFile=%s -p %d",
			    key, known, ssh_port);
	env[4] = ssh_cmd;
	cred = (struct checkout_cred){ .ssh_key = key, .ssh_known_hosts = known };

	for (unsigned r = 0; r < runs; r++) {
		cleanup_free char *dir[N_CONT] = { NULL };

		for (unsigned k = 0; k < N_CONT; k++)
			dir[k] = xasprintf("%s/run-%u-%u", base, ++seq, k);
		for (unsigned i = 0; i < N_CONT; i++) {
			unsigned k = (i + r) % N_CONT; /* rotate who goes first */
			double ms = k == M_SSH	 ? mayfly_fetch(dir[k], ssh_url, &cred)
				    : k == M_GIT ? mayfly_fetch(dir[k], git_url, NULL)
				    : k == G_SSH
					    ? git_cmd((char *[]){ "git", "clone", "-q", "--mirror",
								  ssh_url, dir[k], NULL })
					    : git_cmd((char *[]){ "git", "clone", "-q", "--mirror",
								  git_url, dir[k], NULL });
			clone[k].v[clone[k].n++] = ms;
		}
		noop[M_SSH].v[noop[M_SSH].n++] = mayfly_fetch(dir[M_SSH], ssh_url, &cred);
		noop[M_GIT].v[noop[M_GIT].n++] = mayfly_fetch(dir[M_GIT], git_url, NULL);
		noop[G_SSH].v[noop[G_SSH].n++] =
			git_cmd((char *[]){ "git", "-C", dir[G_SSH], "fetch", "-q", NULL });
		noop[G_GIT].v[noop[G_GIT].n++] =
			git_cmd((char *[]){ "git", "-C", dir[G_GIT], "fetch", "-q", NULL });
		for (unsigned k = 0; k < N_CONT; k++)
			(void) rm_rf_at(AT_FDCWD, dir[k], &(struct err){ 0 });
	}
	(void) kill(sshd, SIGTERM);
	(void) kill(gitd, SIGTERM);
	(void) waitpid(sshd, NULL, 0);
	(void) waitpid(gitd, NULL, 0);
	(void) rm_rf_at(AT_FDCWD, base, &(struct err){ 0 });

	printf("sshfetch: %d files, %u rounds; median (min-max), ratio to git over ssh\n", NFILES,
	       runs);
	printf(" first fetch (a new mirror):\n");
	double ref = bench_median(clone[G_SSH].v, clone[G_SSH].n);
	for (unsigned k = 0; k < N_CONT; k++)
		row(names[k], &clone[k], ref);
	printf(" fetch with nothing new:\n");
	ref = bench_median(noop[G_SSH].v, noop[G_SSH].n);
	for (unsigned k = 0; k < N_CONT; k++)
		row(noop_names[k], &noop[k], ref);
	return 0;
}

/* test-broker.c - the real broker (broker_spawn, broker-fx.h) on a socket in the test's
 * tmpdir and the real `mayfly broker` client: signatures verified on the host with the
 * key; clients sending garbage, huge or slow requests, over the rate and connection caps,
 * and a broker that cannot audit answering nothing. The HTTPS verb is in
 * test-broker-http.c. */
#include "broker-fx.h"

TEST(broker_sign_hmac_verifies_with_the_key)
{
	CLEANUP(fx_stop) struct fx f = { 0 };
	struct run_result res;
	crypto_auth_hmacsha256_state st;
	unsigned char mac[32];
	char want[65];
	cleanup_free char *audit = NULL;

	CHECK(sodium_init() >= 0);
	grant(&f, "sign:WEBHOOK_KEY", HMAC_KEY, strlen(HMAC_KEY));
	fx_start(&f, (struct broker_config){ 0 });
	client(&f, "printf 'payload to sign' | \"$M\" broker sign WEBHOOK_KEY", &res);
	CHECK_EQ(res.status, 0);
	crypto_auth_hmacsha256_init(&st, (const unsigned char *) HMAC_KEY, strlen(HMAC_KEY));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *) "payload to sign", 15);
	crypto_auth_hmacsha256_final(&st, mac);
	hex_of(mac, 32, want, sizeof(want));
	CHECK_STR_EQ(strtok_r(res.out, "\n", &(char *){ NULL }), want);
	check_no_secret("stdout", res.out, HMAC_KEY);
	run_result_free(&res);
	/* The wrong algorithm, an unknown name: refused, with the reason. */
	client(&f, "echo x | \"$M\" broker sign WEBHOOK_KEY --alg ed25519", &res);
	CHECK_EQ(res.status, 1);
	CHECK_STR_CONTAINS(res.err, "granted for hmac-sha256, not ed25519");
	run_result_free(&res);
	client(&f, "echo x | \"$M\" broker sign OTHER_KEY", &res);
	CHECK_EQ(res.status, 1);
	CHECK_STR_CONTAINS(res.err,
			   "'OTHER_KEY' is not granted to this sandbox (granted: WEBHOOK_KEY)");
	run_result_free(&res);
	audit = audit_text(&f);
	printf("# audit:\n%s", audit);
	CHECK_STR_CONTAINS(audit, "\"kind\":\"broker\"");
	CHECK_STR_CONTAINS(audit, "\"sandbox\":\"test-sandbox\"");
	CHECK_STR_CONTAINS(audit,
			   "\"verb\":\"sign\",\"name\":\"WEBHOOK_KEY\",\"method\":\"hmac-sha256\"");
	CHECK_STR_CONTAINS(audit, "\"allowed\":true");
	CHECK_STR_CONTAINS(audit, "\"name\":\"OTHER_KEY\"");
	CHECK_STR_CONTAINS(audit, "\"allowed\":false");
	check_no_secret("the audit log", audit, HMAC_KEY);
	struct stat sta;
	CHECK_OK(stat(f.audit, &sta));
	CHECK_EQ(sta.st_mode & 0777, 0600);
}

TEST(broker_sign_ed25519_verifies_with_the_public_key)
{
	CLEANUP(fx_stop) struct fx f = { 0 };
	struct run_result res, pub;
	unsigned char seed[32], pk[32], sk[64], sig[64], got_pk[32];
	char pk_hex[65];
	size_t n;

	CHECK(sodium_init() >= 0);
	randombytes_buf(seed, sizeof(seed));
	crypto_sign_seed_keypair(pk, sk, seed);
	grant(&f, "sign:DEPLOY_KEY;alg=ed25519", seed, sizeof(seed));
	fx_start(&f, (struct broker_config){ 0 });
	client(&f, "printf 'release v1.2.3' | \"$M\" broker sign DEPLOY_KEY --alg ed25519", &res);
	CHECK_EQ(res.status, 0);
	client(&f, "\"$M\" broker sign DEPLOY_KEY --public-key </dev/null", &pub);
	CHECK_EQ(pub.status, 0);
	hex_of(pk, 32, pk_hex, sizeof(pk_hex));
	CHECK_EQ(strncmp(pub.out, pk_hex, 64), 0);
	CHECK_EQ(sodium_hex2bin(sig, sizeof(sig), res.out, 128, NULL, &n, NULL), 0);
	CHECK_EQ(n, 64);
	CHECK_EQ(sodium_hex2bin(got_pk, sizeof(got_pk), pub.out, 64, NULL, &n, NULL), 0);
	CHECK_EQ(crypto_sign_verify_detached(sig, (const unsigned char *) "release v1.2.3", 14, pk),
		 0);
	CHECK_NE(crypto_sign_verify_detached(sig, (const unsigned char *) "release v1.2.4", 14, pk),
		 0);
	run_result_free(&res);
	run_result_free(&pub);
}

/* --- hostile clients -------------------------------------------------------------- */

static int raw_connect(const struct fx *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	memcpy(sa.sun_path, f->sock, strlen(f->sock));
	CHECK_OK(connect(fd, (struct sockaddr *) &sa, sizeof(sa)));
	return fd;
}

/* Everything the broker sends until it hangs up (or 60 s pass). */
static char *read_all(int fd)
{
	char *buf = xcalloc(1, 1);
	size_t len = 0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char chunk[4096];
		if (poll(&p, 1, 60000) <= 0)
			break;
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n <= 0)
			break;
		buf = xrealloc(buf, len + (size_t) n + 1);
		memcpy(buf + len, chunk, (size_t) n);
		len += (size_t) n;
		buf[len] = '\0';
	}
	return buf;
}

static void sign_works(const struct fx *f)
{
	struct run_result res;

	client(f, "echo hi | \"$M\" broker sign K", &res);
	CHECK_EQ(res.status, 0);
	CHECK_EQ(strlen(res.out), 65);
	run_result_free(&res);
}

TEST(broker_survives_garbage_huge_and_slow_clients)
{
	CLEANUP(fx_stop) struct fx f = { 0 };
	cleanup_close int slow = -1, garbage = -1, huge = -1;
	cleanup_free char *r1 = NULL, *r2 = NULL, *r3 = NULL, *audit = NULL, *big = NULL;
	const size_t max = 4096;

	grant(&f, "sign:K", HMAC_KEY, strlen(HMAC_KEY));
	fx_start(&f,
		 (struct broker_config){
			 .limits = { .max_body = 1024, .max_request = max, .request_ms = 300 } });
	/* A slow client: half a request, then nothing. */
	slow = raw_connect(&f);
	CHECK_EQ(write(slow, "{\"verb\":\"si", 11), 11);
	/* Garbage: answered, and the connection stays usable. */
	garbage = raw_connect(&f);
	CHECK_EQ(write(garbage, "\x01\x02garbage\n", 10), 10);
	sign_works(&f);
	/* Huge: refused once past the cap, then hung up on. */
	huge = raw_connect(&f);
	big = xmalloc(max * 4);
	memset(big, 'x', max * 4);
	(void) !send(huge, big, max * 4, MSG_NOSIGNAL);
	r3 = read_all(huge);
	CHECK_STR_CONTAINS(r3, "request larger than 4096 bytes");
	sign_works(&f);
	/* The slow one is answered and dropped when its time is up. */
	r1 = read_all(slow);
	CHECK_STR_CONTAINS(r1, "\"ok\":false,\"error\":\"request not complete within 300 ms\"");
	CHECK_EQ(shutdown(garbage, SHUT_WR), 0);
	r2 = read_all(garbage);
	CHECK_STR_CONTAINS(r2, "\"ok\":false,\"error\":\"bad request: malformed JSON");
	sign_works(&f);
	audit = audit_text(&f);
	printf("# audit:\n%s", audit);
	CHECK_STR_CONTAINS(audit, "request larger than");
	CHECK_STR_CONTAINS(audit, "request not complete");
	CHECK_STR_CONTAINS(audit, "malformed JSON");
}

TEST(broker_rate_limits_and_connection_cap)
{
	CLEANUP(fx_stop) struct fx f = { 0 };
	cleanup_close int fd = -1;
	cleanup_free char *out = NULL, *audit = NULL;
	int extra[3];
	const char req[] = "{\"verb\":\"sign\",\"name\":\"K\",\"payload_b64\":\"aGk=\"}\n";
	size_t ok = 0, limited = 0;

	grant(&f, "sign:K", HMAC_KEY, strlen(HMAC_KEY));
	fx_start(&f, (struct broker_config){
			     .limits = { .rate_per_s = 1, .burst = 3, .max_clients = 2 } });
	fd = raw_connect(&f);
	for (int i = 0; i < 10; i++)
		CHECK_EQ(write(fd, req, sizeof(req) - 1), (ssize_t) sizeof(req) - 1);
	CHECK_EQ(shutdown(fd, SHUT_WR), 0);
	out = read_all(fd);
	for (const char *p = out; (p = strstr(p, "\"ok\":true")); p++)
		ok++;
	for (const char *p = out; (p = strstr(p, "rate limit")); p++)
		limited++;
	printf("# %zu answered, %zu refused\n", ok, limited);
	CHECK(ok >= 3);
	CHECK(limited >= 1);
	CHECK_EQ(ok + limited, 10);
	/* Two connections at most: the third is told so. */
	for (int i = 0; i < 3; i++)
		extra[i] = raw_connect(&f);
	cleanup_free char *third = read_all(extra[2]);
	CHECK_STR_CONTAINS(third, "too many connections");
	for (int i = 0; i < 3; i++)
		close(extra[i]);
	audit = audit_text(&f);
	CHECK_STR_CONTAINS(audit, "rate limit");
	CHECK_STR_CONTAINS(audit, "too many connections");
}

TEST(broker_answers_nothing_it_cannot_audit)
{
	CLEANUP(fx_stop) struct fx f = { 0 };
	struct run_result res;

	if (access("/dev/full", W_OK) < 0)
		test_skip_host("no /dev/full");
	grant(&f, "sign:K", HMAC_KEY, strlen(HMAC_KEY));
	fx_start(&f, (struct broker_config){ .audit_path = "/dev/full" });
	client(&f, "echo x | \"$M\" broker sign K", &res);
	CHECK_EQ(res.status, 1);
	CHECK_STR_CONTAINS(res.err, "the audit log cannot be written");
	CHECK_EQ(strlen(res.out), 0);
	run_result_free(&res);
}

TEST(broker_spawn_refuses_a_name_granted_twice)
{
	CLEANUP(fx_stop) struct fx f = { 0 };
	struct err err = { 0 };
	pid_t pid = 0;

	grant(&f, "sign:K", HMAC_KEY, strlen(HMAC_KEY));
	grant(&f, "http:K@https://x.example/", HMAC_KEY, strlen(HMAC_KEY));
	f.sock = path_join(test_tmpdir(), "broker.sock");
	f.audit = path_join(test_tmpdir(), "audit.log");
	const struct broker_config cfg = { .grants = f.grants,
					   .n_grants = f.n,
					   .socket_path = f.sock,
					   .audit_path = f.audit,
					   .peer_uid = (uid_t) -1,
					   .run_as_uid = (uid_t) -1 };
	CHECK_EQ(broker_spawn(&cfg, &pid, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "'K' is granted twice");
	CHECK_STR_NOT_CONTAINS(err.msg, HMAC_KEY);
}

TEST(broker_checks_the_peer)
{
	struct run_result res;
	cleanup_free char *audit = NULL;

	{
		CLEANUP(fx_stop) struct fx f = { 0 };
		grant(&f, "sign:K", HMAC_KEY, strlen(HMAC_KEY));
		/* Not the namespace, nor a descendant of the "init" (a stranger's process). */
		pid_t stranger = fork();
		CHECK(stranger >= 0);
		if (stranger == 0) {
			pause();
			_exit(0);
		}
		fx_start(&f, (struct broker_config){ .peer_pidns_ino = my_pidns() + 1,
						     .peer_init_pid = stranger });
		(void) kill(stranger, SIGKILL);
		client(&f, "echo x | \"$M\" broker sign K", &res);
		CHECK_EQ(res.status, 1);
		CHECK_STR_CONTAINS(res.err, "is not in the sandbox's pid namespace");
		run_result_free(&res);
		audit = audit_text(&f);
		CHECK_STR_CONTAINS(audit, "\"allowed\":false,\"reason\":\"peer check");
	}
	{
		CLEANUP(fx_stop) struct fx f = { 0 };
		grant(&f, "sign:K", HMAC_KEY, strlen(HMAC_KEY));
		fx_start(&f, (struct broker_config){ .peer_uid = getuid() + 4242 });
		client(&f, "echo x | \"$M\" broker sign K", &res);
		CHECK_EQ(res.status, 1);
		CHECK_STR_CONTAINS(res.err, "is not the sandbox's");
		run_result_free(&res);
	}
}

TEST(broker_as_root_drops_to_an_unprivileged_uid)
{
	CLEANUP(fx_stop) struct fx f = { 0 };
	cleanup_free char *status = NULL, *path = NULL;
	size_t len;
	struct err err = { 0 };

	NEED(ROOT);
	grant(&f, "sign:K", HMAC_KEY, strlen(HMAC_KEY));
	/* As nobody the broker cannot read a root peer's /proc/<pid>/ns: check the uid only. */
	fx_start(&f, (struct broker_config){
			     .run_as_uid = 65534, .run_as_gid = 65534, .peer_pidns_ino = 1 });
	sign_works(&f);
	path = xasprintf("/proc/%d/status", (int) f.pid);
	CHECK_OK(read_file_at(AT_FDCWD, path, 65536, &status, &len, &err));
	CHECK_STR_CONTAINS(status, "Uid:\t65534\t65534\t65534\t65534");
	CHECK_STR_CONTAINS(status, "Gid:\t65534\t65534\t65534\t65534");
	CHECK_STR_CONTAINS(status, "NoNewPrivs:\t1");
	CHECK_STR_CONTAINS(status, "CapEff:\t0000000000000000");
}

TEST(broker_dies_with_its_parent)
{
	int p[2];
	pid_t mid, broker = 0;
	struct fx f = { 0 };

	grant(&f, "sign:K", HMAC_KEY, strlen(HMAC_KEY));
	CHECK_OK(pipe(p));
	mid = fork();
	CHECK(mid >= 0);
	if (mid == 0) {
		fx_start(&f, (struct broker_config){ 0 });
		(void) !write(p[1], &f.pid, sizeof(f.pid));
		_exit(0); /* the broker's parent is gone: PR_SET_PDEATHSIG kills it */
	}
	CHECK_EQ(read(p[0], &broker, sizeof(broker)), (ssize_t) sizeof(broker));
	CHECK_EQ(waitpid(mid, NULL, 0), mid);
	for (int i = 0; i < 1000 && kill(broker, 0) == 0; i++)
		usleep(10000);
	/* Gone or a zombie waiting for a reaper: either way it serves no one. */
	char path[64], st[256] = "";
	snprintf(path, sizeof(path), "/proc/%d/stat", (int) broker);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		(void) !read(fd, st, sizeof(st) - 1);
		close(fd);
		CHECK(strstr(st, ") Z ") != NULL);
	}
	for (size_t i = 0; i < f.n; i++)
		broker_grant_free(f.grants[i]);
}

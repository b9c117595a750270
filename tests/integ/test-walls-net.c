/* test-walls-net.c - the network wall (security.md invariants 3 and 4, boundary 5): a new
 * network namespace with only `lo`, no route, no DNS, no raw/packet/vsock/alg socket, and
 * nothing of the host's reachable: not its addresses, not its loopback (the sandbox's
 * 127.0.0.1 is its own), not its abstract unix sockets, not its socket files. Host-side
 * listeners are started by the test and checked afterwards: nobody may have connected. */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "need.h"
#include "probes/walls.h"
#include "run.h"
#include "test.h"

/* A listening TCP socket on the host at addr (AF_INET or AF_INET6), any port. */
static int host_listener(int family, const char *addr, unsigned *ret_port)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	CHECK(fd >= 0);
	if (family == AF_INET) {
		struct sockaddr_in *sa = (struct sockaddr_in *) &ss;
		sa->sin_family = AF_INET;
		CHECK_EQ(inet_pton(AF_INET, addr, &sa->sin_addr), 1);
		len = sizeof(*sa);
	} else {
		struct sockaddr_in6 *sa = (struct sockaddr_in6 *) &ss;
		sa->sin6_family = AF_INET6;
		CHECK_EQ(inet_pton(AF_INET6, addr, &sa->sin6_addr), 1);
		len = sizeof(*sa);
	}
	if (bind(fd, (struct sockaddr *) &ss, len) < 0) {
		int e = errno;
		(void) close(fd);
		return -e;
	}
	CHECK_OK(listen(fd, 16));
	len = sizeof(ss);
	CHECK_OK(getsockname(fd, (struct sockaddr *) &ss, &len));
	*ret_port = ntohs(family == AF_INET ? ((struct sockaddr_in *) &ss)->sin_port
					    : ((struct sockaddr_in6 *) &ss)->sin6_port);
	return fd;
}

/* Nobody connected to the listener (it is non-blocking: accept says EAGAIN). */
static void check_untouched(int fd, const char *what)
{
	int c = accept(fd, NULL, NULL);

	if (c >= 0)
		test_fail(__FILE__, __LINE__, "something connected to the host's %s", what);
	CHECK(errno == EAGAIN || errno == EWOULDBLOCK);
}

/* The host side can reach the listener l: the control that the address is live. The
 * connection is accepted and closed, so that check_untouched() sees only the sandbox's. */
static void check_host_reaches(int l, int family, const char *addr, unsigned port)
{
	struct timespec step = { 0, 1000 * 1000 };
	int a = -1;
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	CHECK(fd >= 0);
	if (family == AF_INET) {
		struct sockaddr_in *sa = (struct sockaddr_in *) &ss;
		sa->sin_family = AF_INET;
		sa->sin_port = htons((uint16_t) port);
		CHECK_EQ(inet_pton(AF_INET, addr, &sa->sin_addr), 1);
		len = sizeof(*sa);
	} else {
		struct sockaddr_in6 *sa = (struct sockaddr_in6 *) &ss;
		sa->sin6_family = AF_INET6;
		sa->sin6_port = htons((uint16_t) port);
		CHECK_EQ(inet_pton(AF_INET6, addr, &sa->sin6_addr), 1);
		len = sizeof(*sa);
	}
	if (connect(fd, (struct sockaddr *) &ss, len) < 0)
		test_fail(__FILE__, __LINE__, "host cannot reach its own %s port %u: %s", addr,
			  port, strerror(errno));
	for (int i = 0; i < 1000 && a < 0; i++) {
		a = accept(l, NULL, NULL);
		if (a < 0)
			(void) nanosleep(&step, NULL);
	}
	CHECK(a >= 0);
	(void) close(a);
	(void) close(fd);
}

/* The probe writes IPv6 colons as '-' (they separate its arguments). */
static char *dashed(const char *ip6)
{
	char *s = walls_fmt("%s", ip6);
	for (char *p = s; *p; p++)
		if (*p == ':')
			*p = '-';
	return s;
}

TEST(walls_net_only_loopback)
{
	NEED(USERNS);
	const char *const cmd[] = {
		"/bin/sh",
		"-c",
		/* Interfaces in /proc/net/dev (after the two header lines) and per ip(8). */
		"echo dev:$(tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort | "
		"tr '\\n' ' ');"
		"echo link:$(ip -o link show | cut -d: -f2 | tr -d ' ' | tr '\\n' ' ');"
		"echo routes4:$(ip -4 route show | wc -l); echo routes6:$(ip -6 route show | "
		"grep -vc '^::1 '); echo route-file:$(tail -n +2 /proc/net/route | wc -l);"
		/* The control: lo is up and has its addresses. */
		"ip -o addr show dev lo | grep -q ' 127.0.0.1/8 ' && echo lo-ok",
		NULL,
	};
	struct run_result res;

	walls_run(NULL, cmd, NULL, 30, &res);
	WCHECK_EQ(&res, res.status, 0);
	WCHECK_CONTAINS(&res, res.out, "dev:lo\n");
	WCHECK_CONTAINS(&res, res.out, "link:lo\n");
	WCHECK_CONTAINS(&res, res.out, "routes4:0\n");
	WCHECK_CONTAINS(&res, res.out, "routes6:0\n");
	WCHECK_CONTAINS(&res, res.out, "route-file:0\n");
	WCHECK_CONTAINS(&res, res.out, "lo-ok\n");
	run_result_free(&res);
}

TEST(walls_net_raw_and_exotic_sockets_refused)
{
	NEED(USERNS);
	const char *const expect[] = {
		/* AF_INET/AF_INET6 raw (and SOCK_PACKET) answer EPERM, as without
		 * CAP_NET_RAW. */
		"raw4=EPERM",
		"raw6=EPERM",
		"raw4_cloexec=EPERM",
		"sock_packet=EPERM",
		/* Other families answer EAFNOSUPPORT, where the kernel would say EPERM
		 * (packet) or succeed (vsock, alg) - also with garbage in the family's upper
		 * 32 bits. */
		"packet=EAFNOSUPPORT",
		"packet_dgram=EAFNOSUPPORT",
		"packet_hi=EAFNOSUPPORT",
		"vsock=EAFNOSUPPORT",
		"alg=EAFNOSUPPORT",
		"af_key=EAFNOSUPPORT",
		"socketpair_packet=EAFNOSUPPORT",
		/* Controls: the families a job needs. */
		"tcp4=ok",
		"udp6=ok",
		"unix=ok",
		"netlink=ok",
		NULL,
	};
	const char *const root[] = { "--user", "root", NULL };

	walls_probe_expect(NULL, expect);
	walls_probe_expect(root, expect);
}

/* The network namespace is the sandbox's but not root's to configure: even root inside has
 * no CAP_NET_ADMIN, so no new interface, address or route (and none of the netfilter and
 * routing code that user namespace exploits go through); lo stays up. */
TEST(walls_net_config_refused)
{
	NEED(USERNS);
	const char *const root[] = { "--user", "root", NULL };
	const char *const cmd[] = {
		"/bin/sh",
		"-c",
		"ip link add mf0 type dummy 2>&1; echo add=$?;"
		"ip addr add 10.9.9.9/24 dev lo 2>&1; echo addr=$?;"
		"ip route add default dev lo 2>&1; echo route=$?;"
		"ip link set lo down 2>&1; echo down=$?;"
		"ip -o link show lo | grep -q 'UP' && echo lo-up",
		NULL,
	};
	struct run_result res;

	walls_run(root, cmd, NULL, 30, &res);
	WCHECK_EQ(&res, res.status, 0);
	WCHECK_CONTAINS(&res, res.out, "add=2\n");
	WCHECK_CONTAINS(&res, res.out, "addr=2\n");
	WCHECK_CONTAINS(&res, res.out, "route=2\n");
	WCHECK_CONTAINS(&res, res.out, "down=2\n");
	WCHECK_CONTAINS(&res, res.out, "RTNETLINK answers: Operation not permitted");
	WCHECK_CONTAINS(&res, res.out, "lo-up\n"); /* control: netlink itself works */
	run_result_free(&res);
}

/* The host's own addresses (a listener on the wildcard address, so it would answer on
 * each), its resolver, the cloud metadata endpoint: no route to any of them. */
TEST(walls_net_host_addresses_unreachable)
{
	NEED(USERNS);
	const char *expect[WALLS_MAX_ARGS];
	struct ifaddrs *ifa = NULL, *i;
	unsigned port4 = 0, port6 = 0;
	size_t n = 0, naddr = 0;
	int l4, l6;

	l4 = host_listener(AF_INET, "0.0.0.0", &port4);
	CHECK(l4 >= 0);
	l6 = host_listener(AF_INET6, "::", &port6);
	CHECK_OK(getifaddrs(&ifa));
	for (i = ifa; i && n < 40; i = i->ifa_next) {
		char ip[INET6_ADDRSTRLEN];
		if (!i->ifa_addr || (i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP))
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			(void) inet_ntop(AF_INET, &((struct sockaddr_in *) i->ifa_addr)->sin_addr,
					 ip, sizeof(ip));
			check_host_reaches(l4, AF_INET, ip, port4);
			expect[n++] = walls_fmt("connect4:%s:%u=ENETUNREACH", ip, port4);
			naddr++;
		} else if (i->ifa_addr->sa_family == AF_INET6 && l6 >= 0) {
			struct sockaddr_in6 *sa = (struct sockaddr_in6 *) i->ifa_addr;
			if (IN6_IS_ADDR_LINKLOCAL(&sa->sin6_addr))
				continue; /* needs a scope id; the global ones make the point */
			(void) inet_ntop(AF_INET6, &sa->sin6_addr, ip, sizeof(ip));
			check_host_reaches(l6, AF_INET6, ip, port6);
			expect[n++] = walls_fmt("connect6:%s:%u=ENETUNREACH", dashed(ip), port6);
			naddr++;
		}
	}
	freeifaddrs(ifa);
	/* The cloud metadata endpoint and the host's resolvers. */
	expect[n++] = "connect4:169.254.169.254:80=ENETUNREACH";
	expect[n++] = "udp4:169.254.169.254:53=ENETUNREACH";
	{
		const char *rc = walls_host_file("/etc/resolv.conf");
		for (const char *p = rc; (p = strstr(p, "nameserver")) && n < 50; p++) {
			char ip[64];
			struct in_addr a;
			if (sscanf(p, "nameserver %63s", ip) == 1 &&
			    inet_pton(AF_INET, ip, &a) == 1 && strncmp(ip, "127.", 4) != 0)
				expect[n++] = walls_fmt("udp4:%s:53=ENETUNREACH", ip);
		}
	}
	expect[n++] = "tcp_self=ok"; /* control: TCP inside works */
	expect[n] = NULL;
	printf("# %zu host addresses, the metadata endpoint and %zu resolvers tried\n", naddr,
	       n - naddr - 3);
	walls_probe_expect(NULL, expect);
	check_untouched(l4, "wildcard IPv4 listener");
	if (l6 >= 0)
		check_untouched(l6, "wildcard IPv6 listener");
}

/* A TCP server on the HOST's 127.0.0.1 and ::1 is not reachable from inside: the sandbox's
 * loopback is its own, where a server started inside answers (the control). */
TEST(walls_net_host_loopback_is_not_the_sandbox_loopback)
{
	NEED(USERNS);
	unsigned port4 = 0, port6 = 0;
	int l4 = host_listener(AF_INET, "127.0.0.1", &port4);
	int l6 = host_listener(AF_INET6, "::1", &port6);
	const char *expect[8];
	size_t n = 0;

	CHECK(l4 >= 0);
	check_host_reaches(l4, AF_INET, "127.0.0.1", port4);
	expect[n++] = walls_fmt("connect4:127.0.0.1:%u=ECONNREFUSED", port4);
	if (l6 >= 0) {
		check_host_reaches(l6, AF_INET6, "::1", port6);
		expect[n++] = walls_fmt("connect6:--1:%u=ECONNREFUSED", port6);
	}
	expect[n++] = "tcp_self=ok";
	expect[n] = NULL;
	walls_probe_expect(NULL, expect);
	check_untouched(l4, "127.0.0.1 listener");
	if (l6 >= 0)
		check_untouched(l6, "::1 listener");
}

/* Abstract unix sockets belong to the network namespace: a host process listening on
 * "@mayfly-test-<pid>" is not reachable from inside; one listening inside is. */
TEST(walls_net_host_abstract_socket_unreachable)
{
	NEED(USERNS);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char name[64];
	socklen_t len;
	int l, c;

	(void) snprintf(name, sizeof(name), "mayfly-test-%d", (int) getpid());
	memcpy(sa.sun_path + 1, name, strlen(name));
	len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
	l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	CHECK(l >= 0);
	CHECK_OK(bind(l, (struct sockaddr *) &sa, len));
	CHECK_OK(listen(l, 4));
	/* Control on the host: the name answers there. */
	c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK_OK(connect(c, (struct sockaddr *) &sa, len));
	(void) close(c);
	c = accept(l, NULL, NULL);
	CHECK(c >= 0);
	(void) close(c);

	const char *const expect[] = { walls_fmt("abstract:%s=ECONNREFUSED", name),
				       "abstract_self=ok", NULL };
	walls_probe_expect(NULL, expect);
	check_untouched(l, "abstract socket");
}

/* No DNS: an empty resolv.conf, no resolver on the sandbox's loopback, names resolve only
 * from /etc/hosts (localhost: the control). */
TEST(walls_net_no_dns)
{
	NEED(USERNS);
	const char *const cmd[] = {
		"/bin/sh",
		"-c",
		"echo nameservers:$(grep -c nameserver /etc/resolv.conf);"
		"getent hosts example.com; echo example=$?;"
		"getent ahosts mayfly-test.invalid; echo invalid=$?;"
		"getent ahosts localhost | grep -q '^127.0.0.1 ' && echo localhost-ok",
		NULL,
	};
	const char *const expect[] = { "connect4:127.0.0.1:53=ECONNREFUSED",
				       "connect4:127.0.0.53:53=ECONNREFUSED", NULL };
	struct run_result res;

	walls_run(NULL, cmd, NULL, 30, &res);
	WCHECK_EQ(&res, res.status, 0);
	WCHECK_CONTAINS(&res, res.out, "nameservers:0\n");
	WCHECK_CONTAINS(&res, res.out, "example=2\n"); /* getent: key not found */
	WCHECK_CONTAINS(&res, res.out, "invalid=2\n");
	WCHECK_CONTAINS(&res, res.out, "localhost-ok\n");
	WCHECK_NOT_CONTAINS(&res, res.out, "example.com\n");
	run_result_free(&res);
	/* Nothing listens on the sandbox's own loopback port 53. */
	walls_probe_expect(NULL, expect);
}

/* No host socket file anywhere in the sandbox's tree (the host's /run, with its dbus and
 * database sockets, is not there); a socket made inside is found (the control). */
TEST(walls_net_no_host_socket_files)
{
	NEED(USERNS);
	const char *const cmd[] = {
		"/bin/sh",
		"-c",
		"echo run:$(ls -A /run | wc -l) var-run:$(ls -A /var/run 2>/dev/null | wc -l);"
		"find / -path /proc -prune -o -type s -print 2>/dev/null | sed 's/^/socket:/';"
		"python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind(\"/tmp/ctl.sock\")'"
		" && find /tmp -type s | sed 's/^/control:/'",
		NULL,
	};
	struct run_result res;

	walls_run(NULL, cmd, NULL, 30, &res);
	WCHECK_EQ(&res, res.status, 0);
	WCHECK_CONTAINS(&res, res.out, "run:0 var-run:0\n");
	WCHECK_NOT_CONTAINS(&res, res.out, "socket:");
	WCHECK_CONTAINS(&res, res.out, "control:/tmp/ctl.sock\n");
	run_result_free(&res);
}

/* test-proxy-parse.c - what the egress proxy accepts before it dials: request heads
 * (CONNECT and absolute-form http://), every URL trick it must refuse, the --allow-host
 * patterns and how they match, and the address policy (IPv4 and IPv6 ranges). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "net/internal.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/xalloc.h"
#include "test.h"

#define END "\r\n\r\n"

static int parse(const char *head, struct net_request *r, struct err *err)
{
	return net_request_parse(head, strlen(head), r, err);
}

static const struct {
	const char *head;
	int kind;
	const char *host;
	unsigned port;
	const char *forward; /* NET_REQ_FORWARD: the head sent to the origin */
} good[] = {
	{ "CONNECT api.github.com:443 HTTP/1.1\r\nHost: api.github.com:443" END, NET_REQ_CONNECT,
	  "api.github.com", 443, NULL },
	{ "CONNECT API.GitHub.COM.:8443 HTTP/1.0" END, NET_REQ_CONNECT, "api.github.com", 8443,
	  NULL },
	{ "GET http://example.com/a/b?c=d HTTP/1.1\r\nHost: example.com\r\nAccept: */*" END,
	  NET_REQ_FORWARD, "example.com", 80,
	  "GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nConnection: close" END },
	{ "GET http://example.com HTTP/1.1" END, NET_REQ_FORWARD, "example.com", 80,
	  "GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close" END },
	{ "HEAD HTTP://Example.com:8080?q HTTP/1.0\r\nProxy-Connection: keep-alive\r\n"
	  "Proxy-Authorization: Basic eA==\r\nConnection: keep-alive\r\nHost: evil.example" END,
	  NET_REQ_FORWARD, "example.com", 8080,
	  "HEAD /?q HTTP/1.1\r\nHost: example.com:8080\r\nConnection: close" END },
	{ "POST http://h.example/p%20q HTTP/1.1\r\nContent-Length: 3\r\nX-A:\tv\xc3\xa9" END "abc",
	  NET_REQ_FORWARD, "h.example", 80,
	  "POST /p%20q HTTP/1.1\r\nHost: h.example\r\nContent-Length: 3\r\nX-A:\tv\xc3\xa9\r\n"
	  "Connection: close" END },
	{ "GET http://localhost:8000/..a/.b/a.. HTTP/1.1" END, NET_REQ_FORWARD, "localhost", 8000,
	  "GET /..a/.b/a.. HTTP/1.1\r\nHost: localhost:8000\r\nConnection: close" END },
	{ "GET http://xn--bcher-kva.example/ HTTP/1.1" END, NET_REQ_FORWARD,
	  "xn--bcher-kva.example", 80,
	  "GET / HTTP/1.1\r\nHost: xn--bcher-kva.example\r\nConnection: close" END },
};

TEST(net_request_parses_connect_and_absolute_form)
{
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		CLEANUP(net_request_release) struct net_request r;
		struct err err = { 0 };

		printf("# %zu\n", i);
		CHECK_OK(parse(good[i].head, &r, &err));
		CHECK_EQ(r.kind, good[i].kind);
		CHECK_STR_EQ(r.host, good[i].host);
		CHECK_EQ(r.port, good[i].port);
		CHECK_EQ(r.head_len, (size_t) (strstr(good[i].head, END) - good[i].head) + 4);
		if (good[i].forward) {
			CHECK_STR_EQ(r.forward, good[i].forward);
			CHECK_EQ(r.forward_len, strlen(good[i].forward));
		} else
			CHECK(r.forward == NULL);
	}
}

static const struct {
	const char *head;
	int code;
	const char *why; /* in the message */
} bad[] = {
	/* URL tricks and hosts we never dial: 403. */
	{ "GET http://user@example.com/ HTTP/1.1" END, -EPERM, "user info" },
	{ "GET http://a@b@example.com/ HTTP/1.1" END, -EPERM, "user info" },
	{ "GET http://user:pw@example.com/ HTTP/1.1" END, -EPERM, "user info" },
	{ "CONNECT user@example.com:443 HTTP/1.1" END, -EPERM, "user info" },
	{ "GET http://exa%6dple.com/ HTTP/1.1" END, -EPERM, "percent" },
	{ "GET http://b\xc3\xbc"
	  "cher.example/ HTTP/1.1" END,
	  -EPERM, "non-ASCII" },
	{ "CONNECT b\xc3\xbc"
	  "cher.example:443 HTTP/1.1" END,
	  -EPERM, "non-ASCII" },
	{ "GET http://127.0.0.1/ HTTP/1.1" END, -EPERM, "IP address literal" },
	{ "GET http://2130706433/ HTTP/1.1" END, -EPERM, "IP address literal" },
	{ "GET http://0x7f.1/ HTTP/1.1" END, -EPERM, "IP address literal" },
	{ "GET http://0x7f000001/ HTTP/1.1" END, -EPERM, "IP address literal" },
	{ "GET http://017700000001/ HTTP/1.1" END, -EPERM, "IP address literal" },
	{ "GET http://127.1/ HTTP/1.1" END, -EPERM, "IP address literal" },
	{ "GET http://169.254.169.254/latest/meta-data/ HTTP/1.1" END, -EPERM, "IP address" },
	{ "GET http://169.254.169.254./ HTTP/1.1" END, -EPERM, "IP address literal" },
	{ "CONNECT 10.0.0.1:443 HTTP/1.1" END, -EPERM, "IP address literal" },
	{ "GET http://[::1]/ HTTP/1.1" END, -EPERM, "IPv6" },
	{ "CONNECT [::ffff:127.0.0.1]:443 HTTP/1.1" END, -EPERM, "IPv6" },
	{ "CONNECT [fe80::1%25lo]:443 HTTP/1.1" END, -EPERM, "IPv6" },
	{ "GET http://example.com:80:80/ HTTP/1.1" END, -EPERM, "':'" },
	{ "GET http://example.com/a/../b HTTP/1.1" END, -EPERM, "dot segment" },
	{ "GET http://example.com/.. HTTP/1.1" END, -EPERM, "dot segment" },
	{ "GET http://example.com/a/%2e%2E/b HTTP/1.1" END, -EPERM, "dot segment" },
	{ "GET http://example.com/./b HTTP/1.1" END, -EPERM, "dot segment" },
	/* Malformed: 400. */
	{ "GET http://example.com/ HTTP/1.1\r\nX: a\nb" END, -EINVAL, "bare LF" },
	{ "GET http://example.com/ HTTP/1.1\nHost: x\n\n", -EINVAL, "bare LF" },
	{ "GET http://example.com/ HTTP/1.1\r\nX: a\rb" END, -EINVAL, "bare CR" },
	{ "GET http://example.com/\r\n HTTP/1.1" END, -EINVAL, "malformed request line" },
	{ "GET http://example.com/ HTTP/1.1\r\n folded: x" END, -EINVAL, "header" },
	{ "GET http://example.com/ HTTP/1.1\r\nBad Name: x" END, -EINVAL, "header name" },
	{ "GET http://example.com/ HTTP/1.1\r\nNoColon" END, -EINVAL, "header line" },
	{ "GET http://example.com/ HTTP/1.1\r\nX: a\x01" END, -EINVAL, "control byte" },
	{ "GET http://example.com/ HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2" END, -EINVAL,
	  "ambiguous" },
	{ "POST http://example.com/ HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: "
	  "chunked" END,
	  -EINVAL, "ambiguous" },
	{ "GET http://example.com/ HTTP/2.0" END, -EINVAL, "HTTP/1" },
	{ "GET http://example.com/  HTTP/1.1" END, -EINVAL, "" },
	{ "GET /index.html HTTP/1.1\r\nHost: example.com" END, -EINVAL, "absolute http://" },
	{ "GET https://example.com/ HTTP/1.1" END, -EINVAL, "CONNECT" },
	{ "GET ftp://example.com/ HTTP/1.1" END, -EINVAL, "absolute http://" },
	{ "GET http://example.com/#frag HTTP/1.1" END, -EINVAL, "fragment" },
	{ "GET http:///x HTTP/1.1" END, -EINVAL, "empty host" },
	{ "GET http://exa..mple.com/ HTTP/1.1" END, -EINVAL, "'..'" },
	{ "GET http://-example.com/ HTTP/1.1" END, -EINVAL, "'-'" },
	{ "GET http://exa_mple.com/ HTTP/1.1" END, -EINVAL, "not allowed" },
	{ "GET http://example.com:0/ HTTP/1.1" END, -EINVAL, "port" },
	{ "GET http://example.com:65536/ HTTP/1.1" END, -EINVAL, "port" },
	{ "GET http://example.com:080/ HTTP/1.1" END, -EINVAL, "port" },
	{ "GET http://example.com:99999999999999999999/ HTTP/1.1" END, -EINVAL, "port" },
	{ "GET http://example.com:/ HTTP/1.1" END, -EINVAL, "port" },
	{ "GET http://example.com:-1/ HTTP/1.1" END, -EINVAL, "port" },
	{ "CONNECT example.com HTTP/1.1" END, -EINVAL, "host:port" },
	{ "get http://example.com/ HTTP/1.1" END, -EINVAL, "method" },
	{ "\x16\x03\x01\x02\x01\x01" END, -EINVAL, "" },
	{ END, -EINVAL, "" },
	/* Not forwarded: 405. */
	{ "TRACE http://example.com/ HTTP/1.1" END, -EOPNOTSUPP, "TRACE" },
	{ "BREW http://example.com/ HTTP/1.1" END, -EOPNOTSUPP, "BREW" },
};

TEST(net_request_refuses_tricks_and_garbage)
{
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		CLEANUP(net_request_release) struct net_request r;
		struct err err = { 0 };

		printf("# %zu\n", i);
		CHECK_EQ(parse(bad[i].head, &r, &err), bad[i].code);
		CHECK_STR_CONTAINS(err.msg, bad[i].why);
		CHECK(r.forward == NULL);
	}
}

TEST(net_request_refuses_nul_anywhere)
{
	static const char line[] = "GET http://exa\0mple.com/ HTTP/1.1" END;
	static const char header[] = "GET http://example.com/ HTTP/1.1\r\nX: a\0b" END;
	CLEANUP(net_request_release) struct net_request r;
	struct err err = { 0 };

	CHECK_EQ(net_request_parse(line, sizeof(line) - 1, &r, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "NUL");
	CHECK_EQ(net_request_parse(header, sizeof(header) - 1, &r, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "NUL");
	/* Before the head is complete, too: garbage is refused at once. */
	CHECK_EQ(net_request_parse("\0", 1, &r, &err), -EINVAL);
}

TEST(net_request_statuses)
{
	CHECK_EQ(net_request_status(-EPERM), 403);
	CHECK_EQ(net_request_status(-EINVAL), 400);
	CHECK_EQ(net_request_status(-EOPNOTSUPP), 405);
	CHECK_EQ(net_request_status(-EMSGSIZE), 431);
}

TEST(net_request_waits_for_the_whole_head_and_caps_it)
{
	CLEANUP(net_request_release) struct net_request r;
	struct err err = { 0 };
	cleanup_free char *big = xmalloc(NET_HEAD_MAX + 64);

	CHECK_EQ(parse("CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n", &r, &err), -EAGAIN);
	CHECK_EQ(parse("CONNECT example.com:443 HTTP/1.1\r\n\r", &r, &err), -EAGAIN);
	CHECK_EQ(parse("", &r, &err), -EAGAIN);
	memset(big, 'a', NET_HEAD_MAX + 63);
	big[NET_HEAD_MAX + 63] = '\0';
	memcpy(big, "GET http://example.com/ HTTP/1.1\r\nX: ", 37);
	CHECK_EQ(parse(big, &r, &err), -EMSGSIZE);
	/* A head that fits with headers up to the limit parses. */
	memcpy(big + NET_HEAD_MAX - 4, END, 5);
	CHECK_OK(parse(big, &r, &err));
	CHECK_EQ(r.head_len, NET_HEAD_MAX);
	net_request_release(&r);
	/* Too many headers. */
	cleanup_free char *many = xstrdup("GET http://example.com/ HTTP/1.1\r\n");
	for (int i = 0; i <= NET_HEADERS_MAX; i++) {
		char *m = xasprintf("%sX%d: y\r\n", many, i);
		free(many);
		many = m;
	}
	char *m = xasprintf("%s\r\n", many);
	free(many);
	many = m;
	CHECK_EQ(parse(many, &r, &err), -EINVAL);
	CHECK_STR_CONTAINS(err.msg, "headers");
}

TEST(net_host_normalize_rules)
{
	char out[NET_HOST_MAX + 1];
	struct err err = { 0 };
	char label[80], longname[300];

	CHECK_OK(net_host_normalize("Example.COM.", 12, out, &err));
	CHECK_STR_EQ(out, "example.com");
	CHECK_OK(net_host_normalize("a-b.c0", 6, out, &err));
	CHECK_STR_EQ(out, "a-b.c0");
	CHECK_OK(net_host_normalize("1.example.com", 13, out, &err));
	CHECK_EQ(net_host_normalize("example.com..", 13, out, &err), -EINVAL);
	CHECK_EQ(net_host_normalize(".", 1, out, &err), -EINVAL);
	CHECK_EQ(net_host_normalize("", 0, out, &err), -EINVAL);
	CHECK_EQ(net_host_normalize("a.b-", 4, out, &err), -EINVAL);
	CHECK_EQ(net_host_normalize("a.1", 3, out, &err), -EPERM);
	CHECK_EQ(net_host_normalize("a.0XfF", 6, out, &err), -EPERM);
	CHECK_EQ(net_host_normalize("a.0xg", 5, out, &err), 0);
	memset(label, 'a', 64);
	CHECK_EQ(net_host_normalize(label, 64, out, &err), -EINVAL);
	CHECK_OK(net_host_normalize(label, 63, out, &err));
	for (size_t i = 0; i < sizeof(longname); i++)
		longname[i] = i % 2 ? '.' : 'a';
	CHECK_OK(net_host_normalize(longname, 253, out, &err));
	CHECK_EQ(net_host_normalize(longname, 255, out, &err), -EINVAL);
}

TEST(net_allow_patterns_and_matching)
{
	char *pats[] = { "api.github.com", "*.s3.amazonaws.com", "Git.Example.com.:8443",
			 "*.only443.example:443", NULL };
	CLEANUP(net_allow_freep) struct net_allow *a = NULL;
	struct err err = { 0 };
	bool exact;

	CHECK_OK(net_allow_new(pats, false, &a, &err));
	CHECK(net_allow_match(a, "api.github.com", 443, &exact));
	CHECK(exact);
	CHECK(net_allow_match(a, "api.github.com", 80, NULL));
	CHECK(!net_allow_match(a, "api.github.com", 8080, NULL));
	CHECK(!net_allow_match(a, "github.com", 443, NULL));
	CHECK(!net_allow_match(a, "xapi.github.com", 443, NULL));
	CHECK(net_allow_match(a, "b.s3.amazonaws.com", 443, &exact));
	CHECK(!exact);
	CHECK(net_allow_match(a, "x.y.s3.amazonaws.com", 80, NULL));
	CHECK(!net_allow_match(a, "s3.amazonaws.com", 443, NULL));
	CHECK(!net_allow_match(a, "evils3.amazonaws.com", 443, NULL));
	CHECK(!net_allow_match(a, "b.s3.amazonaws.com.evil.example", 443, NULL));
	CHECK(net_allow_match(a, "git.example.com", 8443, NULL));
	CHECK(!net_allow_match(a, "git.example.com", 443, NULL));
	CHECK(net_allow_match(a, "a.only443.example", 443, NULL));
	CHECK(!net_allow_match(a, "a.only443.example", 80, NULL));
	CHECK(!net_allow_private(a));
}

TEST(net_allow_refuses_bad_patterns)
{
	static const struct {
		const char *pattern, *why;
	} rows[] = {
		{ "*", "every host" },
		{ "*:443", "every host" },
		{ "a.*.example.com", "first label" },
		{ "*example.com", "first label" },
		{ "169.254.169.254", "IP address literal" },
		{ "10.0.0.1:80", "IP address literal" },
		{ "[::1]:443", "IPv6" },
		{ "user@example.com", "user info" },
		{ "b\xc3\xbc"
		  "cher.example",
		  "punycode" },
		{ "example.com:0", "port" },
		{ "example.com:70000", "port" },
		{ "example.com:", "port" },
		{ "exa mple.com", "not allowed" },
		{ "", "empty" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		char *pats[] = { (char *) rows[i].pattern, NULL };
		CLEANUP(net_allow_freep) struct net_allow *a = NULL;
		struct err err = { 0 };

		printf("# %s\n", rows[i].pattern);
		CHECK(net_allow_new(pats, false, &a, &err) < 0);
		CHECK(a == NULL);
		CHECK_STR_CONTAINS(err.msg, "--allow-host");
		CHECK_STR_CONTAINS(err.msg, rows[i].why);
	}
}

static const char *v4(const char *addr, bool private_ok)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };

	CHECK_EQ(inet_pton(AF_INET, addr, &sa.sin_addr), 1);
	return net_addr_forbidden((struct sockaddr *) &sa, private_ok);
}

static const char *v6(const char *addr, bool private_ok)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6 };

	CHECK_EQ(inet_pton(AF_INET6, addr, &sa.sin6_addr), 1);
	return net_addr_forbidden((struct sockaddr *) &sa, private_ok);
}

TEST(net_addr_policy_ipv4)
{
	static const char *const refused[] = {
		"0.0.0.0",     "0.1.2.3",	 "127.0.0.1",	    "127.255.255.254",
		"10.0.0.1",    "10.255.255.255", "172.16.0.1",	    "172.31.255.255",
		"192.168.1.1", "100.64.0.1",	 "100.127.255.255", "169.254.169.254",
		"169.254.0.1", "224.0.0.1",	 "239.255.255.255", "255.255.255.255",
		"240.0.0.1",   "192.0.2.1",	 "198.51.100.7",    "203.0.113.9",
		"198.18.0.1",  "198.19.255.255", "192.0.0.8",	    "192.88.99.1",
	};
	static const char *const allowed[] = {
		"1.1.1.1",     "8.8.8.8",     "9.255.255.255",	 "11.0.0.0",	   "172.15.255.255",
		"172.32.0.0",  "192.167.1.1", "192.169.0.1",	 "100.63.255.255", "100.128.0.0",
		"169.253.1.1", "169.255.0.1", "223.255.255.255", "198.20.0.0",	   "140.82.112.3",
	};

	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		printf("# %s\n", refused[i]);
		CHECK(v4(refused[i], false) != NULL);
	}
	for (size_t i = 0; i < ARRAY_SIZE(allowed); i++) {
		printf("# %s\n", allowed[i]);
		CHECK(v4(allowed[i], false) == NULL);
	}
	CHECK_STR_CONTAINS(v4("169.254.169.254", false), "metadata");
	CHECK_STR_CONTAINS(v4("127.0.0.1", false), "loopback");
	/* --allow-private-egress (an exact grant): private ranges pass, the rest never. */
	CHECK(v4("127.0.0.1", true) == NULL);
	CHECK(v4("10.1.2.3", true) == NULL);
	CHECK(v4("169.254.169.254", true) == NULL);
	CHECK(v4("0.0.0.0", true) != NULL);
	CHECK(v4("224.0.0.1", true) != NULL);
	CHECK(v4("255.255.255.255", true) != NULL);
}

TEST(net_addr_policy_ipv6)
{
	static const char *const refused[] = {
		"::",
		"::1",
		"::ffff:127.0.0.1",
		"::ffff:8.8.8.8",
		"::127.0.0.1",
		"::8.8.8.8",
		"fc00::1",
		"fd12:3456::1",
		"fe80::1",
		"febf::1",
		"fec0::1",
		"ff02::1",
		"ff0e::1",
		"2001:db8::1",
		"2001::1",
		"100::1",
		"64:ff9b::a9fe:a9fe",
		"64:ff9b::7f00:1",
		"2002:7f00:1::1",
		"2002:a9fe:a9fe::1",
	};
	static const char *const allowed[] = {
		"2606:4700:4700::1111", "2a00:1450:4001:80b::200e", "64:ff9b::808:808",
		"2002:808:808::1",	"2001:4860:4860::8888",
	};

	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		printf("# %s\n", refused[i]);
		CHECK(v6(refused[i], false) != NULL);
	}
	for (size_t i = 0; i < ARRAY_SIZE(allowed); i++) {
		printf("# %s\n", allowed[i]);
		CHECK(v6(allowed[i], false) == NULL);
	}
	CHECK(v6("::1", true) == NULL);
	CHECK(v6("fd00::1", true) == NULL);
	CHECK(v6("fe80::1", true) == NULL);
	CHECK(v6("::", true) != NULL);
	CHECK(v6("::ffff:127.0.0.1", true) != NULL);
	CHECK(v6("ff02::1", true) != NULL);
}

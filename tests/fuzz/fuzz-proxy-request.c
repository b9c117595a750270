/* fuzz-proxy-request.c - the egress proxy's request parser on arbitrary bytes (what a job
 * sends to 127.0.0.1:3128), and the allowlist match of whatever host it accepts. The input
 * is capped a little above NET_HEAD_MAX. A request that parses must name a normalised host
 * (lowercase letters, digits, '-' and '.', never an IP literal), a port in 1..65535, and,
 * when forwarded, a head that is one request line and CRLF-terminated header lines. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/internal.h"
#include "util/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_host(const char *h)
{
	size_t n = strlen(h);

	if (n == 0 || n > NET_HOST_MAX || h[n - 1] == '.' || strstr(h, ".."))
		abort();
	for (size_t i = 0; i < n; i++)
		if (!((h[i] >= 'a' && h[i] <= 'z') || (h[i] >= '0' && h[i] <= '9') || h[i] == '-' ||
		      h[i] == '.'))
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *const pats[] = { "example.com", "*.example.org", "a.example:8080", NULL };
	static struct net_allow *allow;
	struct net_request r;
	struct err err = { 0 };

	if (size > NET_HEAD_MAX + 1024)
		return 0;
	if (!allow && net_allow_new(pats, true, &allow, &err) < 0)
		abort();
	if (net_request_parse((const char *) data, size, &r, &err) < 0)
		return 0;
	check_host(r.host);
	if (r.port < 1 || r.port > 65535 || r.head_len > size || r.head_len > NET_HEAD_MAX)
		abort();
	if (r.kind == NET_REQ_FORWARD) {
		const char *end = r.forward + r.forward_len;
		if (r.forward_len < 4 || memcmp(end - 4, "\r\n\r\n", 4) != 0 ||
		    memchr(r.forward, '\0', r.forward_len))
			abort();
		for (const char *p = r.forward; p < end; p++)
			if ((*p == '\n' && (p == r.forward || p[-1] != '\r')) ||
			    (*p == '\r' && (p + 1 == end || p[1] != '\n')))
				abort();
	}
	(void) net_allow_match(allow, r.host, r.port, NULL);
	net_request_release(&r);
	return 0;
}

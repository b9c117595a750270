/* fuzz-broker-request.c - what a job sends the broker: one request line, parsed, then
 * (for http) checked against a grant, which parses and normalises its URL; and the
 * scrubber run over the input as if it were an upstream answer. The input is capped at
 * 64 KiB (the parser's own metadata limit is 16 KiB; a body is base64 like the rest). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/internal.h"
#include "util/err.h"
#include "util/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct broker_grant *grant(void)
{
	static struct broker_grant *g;
	struct err err = { 0 };

	if (!g && (broker_grant_parse("http:K@https://api.example.com/v1/;methods=GET,POST", &g,
				      &err) < 0 ||
		   broker_grant_set_value(g, "fuzz-secret-value", 17, &err) < 0))
		abort();
	return g;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct broker_req req = { 0 };
	struct broker_url url = { 0 };
	struct broker_scrub scrub = { 0 };
	struct err err = { 0 };
	char *copy;
	size_t len = size;

	if (size > 64 * 1024)
		return 0;
	if (broker_request_parse((const char *) data, size, 4096, &req, &err) == 0) {
		if (req.verb == REQ_HTTP && broker_http_check(grant(), &req, &url, &err) == 0) {
			free(broker_url_format(&url));
			broker_url_release(&url);
		}
		broker_req_release(&req);
	}
	copy = xmalloc(size + 1);
	memcpy(copy, data, size);
	copy[size] = '\0';
	broker_scrub_add(&scrub, (const unsigned char *) "fuzz-secret-value", 17);
	(void) broker_scrub_apply(&scrub, &copy, &len);
	broker_scrub_release(&scrub);
	free(copy);
	return 0;
}

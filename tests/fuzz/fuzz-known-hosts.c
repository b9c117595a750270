/* fuzz-known-hosts.c - known_hosts matching (checkout/ssh.c) on arbitrary bytes: patterns,
 * negations, hashed names, markers, base64 keys. The first byte picks the port looked up
 * (22, or 2222: "[host]:port"); the key looked for is a fixed ed25519 blob, also offered as
 * the rest of the input so that matches happen. Input capped at 64 KiB. */
#include <stdint.h>
#include <stdlib.h>

#include "checkout/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[] = { 0,   0,	 0,   11,  's', 's', 'h', '-',
				       'e', 'd', '2', '5', '5', '1', '9' };
	char fp[CHECKOUT_SSH_FP_SIZE];
	unsigned line = 0;
	enum checkout_kh k;

	if (size == 0 || size > 64 * 1024)
		return 0;
	k = checkout_known_hosts_match((const char *) data + 1, size - 1, "h.example",
				       data[0] & 1 ? 2222 : 22, key, sizeof(key), &line);
	if (k != CHECKOUT_KH_UNKNOWN && line == 0)
		abort(); /* a decision always names its line */
	k = checkout_known_hosts_match((const char *) data + 1, size - 1, "::1", 0, data, size,
				       &line);
	(void) k;
	checkout_ssh_fingerprint(data, size, fp);
	return 0;
}

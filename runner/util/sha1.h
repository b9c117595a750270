/* sha1.h - SHA-1 (FIPS 180-4) and HMAC-SHA-1 (RFC 2104), written from the specifications,
 * for one reader: OpenSSH's hashed known_hosts entries ("|1|salt|hmac", the HMAC-SHA-1 of
 * the host name keyed with the salt), which must be matched without libssh2 (see
 * checkout/ssh.c). SHA-1 is broken for collisions: never use it to name or trust bytes. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SHA1_DIGEST_SIZE 20

void sha1(const void *data, size_t len, uint8_t digest[SHA1_DIGEST_SIZE]);
void hmac_sha1(const void *key, size_t key_len, const void *data, size_t len,
	       uint8_t digest[SHA1_DIGEST_SIZE]);

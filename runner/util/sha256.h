/* sha256.h - SHA-256 (FIPS 180-4), written from the specification: content addresses for
 * the image cache and anything else that names bytes by their hash. Not for secrets or
 * signatures (no constant-time promise; libsodium owns those). Streaming: init, update
 * any number of times with chunks of any size, final. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_SIZE 32
#define SHA256_HEX_SIZE	   65 /* 64 lowercase hex digits and a NUL */

struct sha256 {
	uint32_t h[8];
	uint64_t nbytes; /* message length so far */
	uint8_t buf[64]; /* a partial block */
	size_t nbuf;
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
/* Write the digest; s is spent afterwards (sha256_init() to reuse it). */
void sha256_final(struct sha256 *s, uint8_t digest[SHA256_DIGEST_SIZE]);
/* One-shot helpers. */
void sha256(const void *data, size_t len, uint8_t digest[SHA256_DIGEST_SIZE]);
void sha256_to_hex(const uint8_t digest[SHA256_DIGEST_SIZE], char hex[SHA256_HEX_SIZE]);
/* Hash fd from its current offset to EOF (retrying EINTR) into lowercase hex. Returns 0 or
 * the negative errno of the failed read(); hex is written only on success. */
int sha256_fd(int fd, char hex[SHA256_HEX_SIZE]);

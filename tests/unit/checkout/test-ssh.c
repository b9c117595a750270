/* test-ssh.c - known_hosts matching as OpenSSH does it (plain and hashed names,
 * "[host]:port", patterns and negations, @revoked, lines to skip), fingerprints as
 * ssh-keygen -l prints them, and SHA-1 / HMAC-SHA-1 against the published vectors (the
 * hashed names depend on them). Keys and hashed lines were made by ssh-keygen. */
#include <stdio.h>
#include <string.h>

#include "checkout/internal.h"
#include "util/cleanup.h"
#include "util/sha1.h"
#include "test.h"

/* ssh-keygen -t ed25519: the public keys, base64 as in a .pub file. */
#define KEY_A "AAAAC3NzaC1lZDI1NTE5AAAAIHRS4BtyQ/YgBl0xAfC0bkzfqAhjd476Ke9tpjBWZwNh"
#define KEY_B "AAAAC3NzaC1lZDI1NTE5AAAAIABK/q81oUkBInVNE/5WFRL+m7KUoC0MSKYLne6rfysB"
#define FP_A  "SHA256:EkHWon39Go/zdEYeuOxQk/Zl8LFjbf1ZAExMyFnHR2M" /* ssh-keygen -l */
/* `ssh-keygen -H` of "github.com ssh-ed25519 KEY_A". */
#define HASHED_GITHUB "|1|2mNQF5dJP9JuDKxL51AN2g+s3+k=|p+f3MQvBWEHnHb4JIH6uRrpQn+o="
/* HMAC-SHA-1 of "[127.0.0.1]:2222" keyed with bytes 1..20 (Python's hmac). */
#define HASHED_PORT "|1|AQIDBAUGBwgJCgsMDQ4PEBESExQ=|6nwC5rG6k7vxYwKIoAwPZGhI1VE="

static size_t decode(const char *b64, uint8_t *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t j = 0;

	for (; *b64 && *b64 != '='; b64++) {
		acc = acc << 6 | (uint32_t) (strchr(a, *b64) - a);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[j++] = (uint8_t) (acc >> bits);
		}
	}
	return j;
}

TEST(known_hosts_match_table)
{
	static const struct {
		const char *text, *host;
		unsigned port;
		enum checkout_kh want;
		unsigned line;
	} rows[] = {
		{ "github.com ssh-ed25519 " KEY_A "\n", "github.com", 0, CHECKOUT_KH_MATCH, 1 },
		{ "github.com ssh-ed25519 " KEY_A, "github.com", 22, CHECKOUT_KH_MATCH, 1 },
		{ "GitHub.COM ssh-ed25519 " KEY_A " comment\n", "github.com", 0, CHECKOUT_KH_MATCH,
		  1 },
		{ "github.com ssh-ed25519 " KEY_B "\n", "github.com", 0, CHECKOUT_KH_CHANGED, 1 },
		{ "gitlab.com ssh-ed25519 " KEY_B "\n", "github.com", 0, CHECKOUT_KH_UNKNOWN, 0 },
		{ "", "github.com", 0, CHECKOUT_KH_UNKNOWN, 0 },
		/* A port other than 22 is "[host]:port"; the plain name does not cover it. */
		{ "h.example ssh-ed25519 " KEY_A "\n", "h.example", 2222, CHECKOUT_KH_UNKNOWN, 0 },
		{ "[h.example]:2222 ssh-ed25519 " KEY_A "\n", "h.example", 2222, CHECKOUT_KH_MATCH,
		  1 },
		{ "[h.example]:2222 ssh-ed25519 " KEY_A "\n", "h.example", 0, CHECKOUT_KH_UNKNOWN,
		  0 },
		{ "[h.example]:2223 ssh-ed25519 " KEY_B "\n", "h.example", 2222,
		  CHECKOUT_KH_UNKNOWN, 0 },
		/* Lists, wildcards, negation. */
		{ "a.example,h.example,10.0.0.1 ssh-ed25519 " KEY_A "\n", "h.example", 0,
		  CHECKOUT_KH_MATCH, 1 },
		{ "*.example ssh-ed25519 " KEY_A "\n", "h.example", 0, CHECKOUT_KH_MATCH, 1 },
		{ "h?example ssh-ed25519 " KEY_A "\n", "h.example", 0, CHECKOUT_KH_MATCH, 1 },
		{ "*.example,!h.example ssh-ed25519 " KEY_A "\n", "h.example", 0,
		  CHECKOUT_KH_UNKNOWN, 0 },
		{ "* ssh-ed25519 " KEY_A "\n", "h.example", 0, CHECKOUT_KH_MATCH, 1 },
		{ "*.example ssh-ed25519 " KEY_A "\n", "example", 0, CHECKOUT_KH_UNKNOWN, 0 },
		{ "h*e*x*e ssh-ed25519 " KEY_A "\n", "h.example", 0, CHECKOUT_KH_MATCH, 1 },
		{ "h**le ssh-ed25519 " KEY_A "\n", "h.example", 0, CHECKOUT_KH_MATCH, 1 },
		{ "*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b ssh-ed25519 " KEY_A "\n",
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0,
		  CHECKOUT_KH_UNKNOWN, 0 },
		{ "h.example? ssh-ed25519 " KEY_A "\n", "h.example", 0, CHECKOUT_KH_UNKNOWN, 0 },
		/* Hashed names. */
		{ HASHED_GITHUB " ssh-ed25519 " KEY_A "\n", "github.com", 0, CHECKOUT_KH_MATCH, 1 },
		{ HASHED_GITHUB " ssh-ed25519 " KEY_B "\n", "github.com", 0, CHECKOUT_KH_CHANGED,
		  1 },
		{ HASHED_GITHUB " ssh-ed25519 " KEY_A "\n", "gitlab.com", 0, CHECKOUT_KH_UNKNOWN,
		  0 },
		{ HASHED_PORT " ssh-ed25519 " KEY_A "\n", "127.0.0.1", 2222, CHECKOUT_KH_MATCH, 1 },
		{ HASHED_PORT " ssh-ed25519 " KEY_A "\n", "127.0.0.1", 0, CHECKOUT_KH_UNKNOWN, 0 },
		{ "|1|bm90IGJhc2U2NA|!!! ssh-ed25519 " KEY_A "\n", "github.com", 0,
		  CHECKOUT_KH_UNKNOWN, 0 },
		/* One matching line among changed ones wins (a host with several keys). */
		{ "github.com ssh-ed25519 " KEY_B "\ngithub.com ssh-ed25519 " KEY_A "\n",
		  "github.com", 0, CHECKOUT_KH_MATCH, 2 },
		/* @revoked beats everything; a revoked other key changes nothing. */
		{ "github.com ssh-ed25519 " KEY_A "\n@revoked * ssh-ed25519 " KEY_A "\n",
		  "github.com", 0, CHECKOUT_KH_REVOKED, 2 },
		{ "github.com ssh-ed25519 " KEY_A "\n@revoked * ssh-ed25519 " KEY_B "\n",
		  "github.com", 0, CHECKOUT_KH_MATCH, 1 },
		/* Skipped: comments, blank lines, certificate authorities, unknown markers,
		 * lines too short or with a key that is not base64. */
		{ "# github.com ssh-ed25519 " KEY_B "\n\n   \n@cert-authority github.com "
		  "ssh-ed25519 " KEY_B "\n@bogus github.com ssh-ed25519 " KEY_B
		  "\ngithub.com\ngithub.com ssh-ed25519 !!!\n\tgithub.com  ssh-ed25519\t" KEY_A
		  "\n",
		  "github.com", 0, CHECKOUT_KH_MATCH, 8 },
		/* No final newline, CRLF-free text only. */
		{ "x ssh-ed25519 " KEY_B "\ngithub.com ssh-ed25519 " KEY_A, "github.com", 0,
		  CHECKOUT_KH_MATCH, 2 },
		/* An IPv6 address with a port. */
		{ "[::1]:2222 ssh-ed25519 " KEY_A "\n", "::1", 2222, CHECKOUT_KH_MATCH, 1 },
	};
	uint8_t key[64];
	size_t key_len = decode(KEY_A, key);

	CHECK_EQ(key_len, 51);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		unsigned line = 0;
		enum checkout_kh got;

		printf("# row %zu: %s port %u\n", i, rows[i].host, rows[i].port);
		got = checkout_known_hosts_match(rows[i].text, strlen(rows[i].text), rows[i].host,
						 rows[i].port, key, key_len, &line);
		CHECK_EQ(got, rows[i].want);
		CHECK_EQ(line, rows[i].line);
	}
}

TEST(ssh_fingerprint_is_what_ssh_keygen_prints)
{
	uint8_t key[64];
	size_t key_len = decode(KEY_A, key);
	char fp[CHECKOUT_SSH_FP_SIZE];

	checkout_ssh_fingerprint(key, key_len, fp);
	CHECK_STR_EQ(fp, FP_A);
}

static void hex(const uint8_t *d, char *out)
{
	for (int i = 0; i < SHA1_DIGEST_SIZE; i++)
		(void) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* FIPS 180-2 appendix A, and RFC 2202 section 3. */
TEST(sha1_and_hmac_sha1_vectors)
{
	static const struct {
		const char *msg, *hex;
	} sha[] = {
		{ "", "da39a3ee5e6b4b0d3255bfef95601890afd80709" },
		{ "abc", "a9993e364706816aba3e25717850c26c9cd0d89d" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "84983e441c3bd26ebaae4aa1f95129e5e54670f1" },
	};
	uint8_t d[SHA1_DIGEST_SIZE], k[80];
	char h[2 * SHA1_DIGEST_SIZE + 1];

	for (size_t i = 0; i < ARRAY_SIZE(sha); i++) {
		sha1(sha[i].msg, strlen(sha[i].msg), d);
		hex(d, h);
		CHECK_STR_EQ(h, sha[i].hex);
	}
	memset(k, 0x0b, 20);
	hmac_sha1(k, 20, "Hi There", 8, d);
	hex(d, h);
	CHECK_STR_EQ(h, "b617318655057264e28bc0b6fb378c8ef146be00");
	hmac_sha1("Jefe", 4, "what do ya want for nothing?", 28, d);
	hex(d, h);
	CHECK_STR_EQ(h, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
	/* A key longer than a block is hashed first. */
	memset(k, 0xaa, 80);
	hmac_sha1(k, 80, "Test Using Larger Than Block-Size Key - Hash Key First", 54, d);
	hex(d, h);
	CHECK_STR_EQ(h, "aa4ae5e15272d00e95705637ce8a3b55ed402112");
}

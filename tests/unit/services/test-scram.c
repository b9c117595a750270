/* test-scram.c - HMAC-SHA-256, PBKDF2, base64 and SCRAM-SHA-256 against published vectors
 * (RFC 4231, RFC 7914, RFC 7677) and a verifier computed independently (Python's hashlib),
 * and the password generator. */
#include <string.h>

#include "services/internal.h"
#include "services/services.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "test.h"

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		(void) snprintf(out + 2 * i, 3, "%02x", b[i]);
}

TEST(hmac_sha256_rfc4231)
{
	static const struct {
		const char *key;
		size_t klen;
		const char *msg;
		const char *mac;
	} v[] = {
		{ "\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b"
		  "\x0b",
		  20, "Hi There",
		  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
		{ "Jefe", 4, "what do ya want for nothing?",
		  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
	};
	uint8_t mac[32];
	char h[65];

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		hmac_sha256(v[i].key, v[i].klen, v[i].msg, strlen(v[i].msg), mac);
		hex(mac, sizeof(mac), h);
		CHECK_STR_EQ(h, v[i].mac);
	}
	/* A key longer than a block is hashed first (test case 6). */
	uint8_t key[131];
	memset(key, 0xaa, sizeof(key));
	const char *m = "Test Using Larger Than Block-Size Key - Hash Key First";
	hmac_sha256(key, sizeof(key), m, strlen(m), mac);
	hex(mac, sizeof(mac), h);
	CHECK_STR_EQ(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(pbkdf2_sha256_rfc7914)
{
	uint8_t out[64];
	char h[129];

	pbkdf2_sha256("passwd", 6, "salt", 4, 1, out, sizeof(out));
	hex(out, sizeof(out), h);
	CHECK_STR_EQ(h, "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
			"49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783");
	pbkdf2_sha256("Password", 8, "NaCl", 4, 80000, out, sizeof(out));
	hex(out, sizeof(out), h);
	CHECK_STR_EQ(h, "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
			"a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d");
}

TEST(base64_round_trip_and_strictness)
{
	static const struct {
		const char *plain, *b64;
	} v[] = { { "", "" },
		  { "f", "Zg==" },
		  { "fo", "Zm8=" },
		  { "foo", "Zm9v" },
		  { "foob", "Zm9vYg==" },
		  { "fooba", "Zm9vYmE=" },
		  { "foobar", "Zm9vYmFy" } };
	static const char *const bad[] = { "Zg=", "Zg==Zg==", "Z===", "Zm9v!", "Zm=v", "Zg=a" };
	char enc[32];
	uint8_t dec[32];
	size_t n;

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		CHECK_OK(b64_encode((const uint8_t *) v[i].plain, strlen(v[i].plain), enc,
				    sizeof(enc)));
		CHECK_STR_EQ(enc, v[i].b64);
		CHECK_OK(b64_decode(v[i].b64, strlen(v[i].b64), dec, sizeof(dec), &n));
		CHECK_EQ(n, strlen(v[i].plain));
		CHECK(memcmp(dec, v[i].plain, n) == 0);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		CHECK_EQ(b64_decode(bad[i], strlen(bad[i]), dec, sizeof(dec), &n), -EINVAL);
	CHECK_EQ(b64_encode((const uint8_t *) "foobar", 6, enc, 8), -ENOBUFS);
	CHECK_EQ(b64_decode("Zm9vYmFy", 8, dec, 5, &n), -ENOBUFS);
}

/* RFC 7677 section 3's exchange (password, salt, iterations, server nonce), with
 * PostgreSQL's empty user name and a 24-byte client nonce in the client-first message: the
 * proof and signature change with them; these are from an independent implementation. */
TEST(scram_exchange_matches_rfc7677)
{
	const char *server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
				   "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
	struct scram s;
	struct err err = { 0 };
	char first[128], final[512];

	/* The RFC's nonce is 20 characters; ours are 24: pad it the same way on both sides. */
	CHECK_EQ(scram_client_first(&s, "pencil", "rOprNGfwEbeRWgbNEkqO", first, sizeof(first),
				    &err),
		 -EINVAL);
	CHECK_OK(scram_client_first(&s, "pencil", "rOprNGfwEbeRWgbNEkqO%hvY", first, sizeof(first),
				    &err));
	CHECK_STR_EQ(first, "n,,n=,r=rOprNGfwEbeRWgbNEkqO%hvY");
	CHECK_OK(scram_client_final(&s, server_first, strlen(server_first), final, sizeof(final),
				    &err));
	CHECK_STR_EQ(final, "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
			    "p=JrtWag7UkhwzeRKWvQRwfZ5omkdZlV5iVu2k/As2rIk=");
	CHECK_OK(
		scram_server_final(&s, "v=6rEzhkjj6B+kPBMynV0D7v41JnOGVkRtZstuGhs3i+Y=", 46, &err));
	CHECK_EQ(scram_server_final(&s, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", 46, &err),
		 -EPROTO);
	CHECK_STR_CONTAINS(err.msg, "wrong server signature");
	CHECK_EQ(scram_server_final(&s, "e=invalid-proof", 15, &err), -EACCES);
}

TEST(scram_rejects_a_hostile_server_first)
{
	static const char *const bad[] = {
		"r=someone-elses-nonce-xxxxxxxxx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"r=abcdefghijklmnopqrstuvwxEXTRA,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0",
		"r=abcdefghijklmnopqrstuvwxEXTRA,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999",
		"r=abcdefghijklmnopqrstuvwxEXTRA,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=12x",
		"r=abcdefghijklmnopqrstuvwxEXTRA,s=not base64,i=4096",
		"r=abcdefghijklmnopqrstuvwxEXTRA,i=4096",
		"r=abcdefghijklmnopqrstuvwx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", /* not extended */
		"",
	};
	struct err err = { 0 };
	struct scram s;
	char buf[512];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		CHECK_OK(scram_client_first(&s, "pw", "abcdefghijklmnopqrstuvwx", buf, sizeof(buf),
					    &err));
		CHECK_EQ(scram_client_final(&s, bad[i], strlen(bad[i]), buf, sizeof(buf), &err),
			 -EPROTO);
	}
}

TEST(scram_verifier_matches_an_independent_one)
{
	uint8_t salt[16];
	size_t n;
	char v[SCRAM_VERIFIER_MAX];

	CHECK_OK(b64_decode("W22ZaJ0SNY7soEsUEjb6gQ==", 24, salt, sizeof(salt), &n));
	CHECK_EQ(n, 16);
	CHECK_OK(scram_verifier("pencil", salt, n, 4096, v, sizeof(v)));
	CHECK_STR_EQ(v, "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
			"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
			"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=");
	CHECK_EQ(scram_verifier("pencil", salt, n, 4096, v, 40), -ENOBUFS);
}

TEST(passwords_are_random_alphanumerics)
{
	char a[SVC_PASSWORD_LEN + 1], b[SVC_PASSWORD_LEN + 1];
	struct err err = { 0 };

	CHECK_OK(svc_password_new(a, &err));
	CHECK_OK(svc_password_new(b, &err));
	CHECK_EQ(strlen(a), SVC_PASSWORD_LEN);
	CHECK_EQ(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"),
		 SVC_PASSWORD_LEN);
	CHECK(strcmp(a, b) != 0);
}

/* test-sha256.c - SHA-256 against the NIST example vectors (FIPS 180-2 appendix B and the
 * CAVS short messages), streaming in odd chunks, and hashing a file descriptor. */
#include <fcntl.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/path.h"
#include "util/sha256.h"
#include "util/xalloc.h"
#include "test.h"

static void hex_of(const void *data, size_t len, char hex[SHA256_HEX_SIZE])
{
	uint8_t d[SHA256_DIGEST_SIZE];

	sha256(data, len, d);
	sha256_to_hex(d, hex);
}

TEST(sha256_nist_vectors)
{
	static const struct {
		const char *msg;
		const char *hex;
	} rows[] = {
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		/* 448 bits: the padding needs a second block. */
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
		/* 896 bits. */
		{ "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
		  "klmnopqrlmnopqrsmnopqrstnopqrstu",
		  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		char hex[SHA256_HEX_SIZE];
		hex_of(rows[i].msg, strlen(rows[i].msg), hex);
		CHECK_STR_EQ(hex, rows[i].hex);
	}
}

TEST(sha256_million_a)
{
	cleanup_free char *m = xmalloc(1000000);
	char hex[SHA256_HEX_SIZE];
	uint8_t d[SHA256_DIGEST_SIZE];
	struct sha256 s;

	memset(m, 'a', 1000000);
	hex_of(m, 1000000, hex);
	CHECK_STR_EQ(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	/* The same a byte at a time: every path through the partial-block buffer. */
	sha256_init(&s);
	for (int i = 0; i < 1000000; i++)
		sha256_update(&s, "a", 1);
	sha256_final(&s, d);
	sha256_to_hex(d, hex);
	CHECK_STR_EQ(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(sha256_lengths_around_the_block_edges)
{
	/* Around 55, 56 and 64 bytes the padding changes shape: a few lengths against
	 * sha256sum, then every length up to 130 streamed in two parts against one-shot. */
	static const struct {
		size_t len;
		const char *hex;
	} rows[] = {
		{ 55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318" },
		{ 56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a" },
		{ 64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb" },
	};
	char buf[200];

	memset(buf, 'a', sizeof(buf));
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		char hex[SHA256_HEX_SIZE];
		hex_of(buf, rows[i].len, hex);
		CHECK_STR_EQ(hex, rows[i].hex);
	}
	for (size_t len = 0; len <= 130; len++) {
		char one[SHA256_HEX_SIZE], two[SHA256_HEX_SIZE];
		uint8_t d[SHA256_DIGEST_SIZE];
		struct sha256 s;

		hex_of(buf, len, one);
		sha256_init(&s);
		sha256_update(&s, buf, len / 3);
		sha256_update(&s, buf + len / 3, len - len / 3);
		sha256_final(&s, d);
		sha256_to_hex(d, two);
		CHECK_STR_EQ(one, two);
	}
}

TEST(sha256_streaming_odd_chunks_equals_one_shot)
{
	static const size_t chunks[] = { 1, 3, 7, 63, 64, 65, 127, 1000, 4093 };
	const size_t len = 100003;
	cleanup_free uint8_t *m = xmalloc(len);
	char want[SHA256_HEX_SIZE];
	uint32_t x = 12345;

	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245 + 12345;
		m[i] = (uint8_t) (x >> 16);
	}
	hex_of(m, len, want);
	for (size_t c = 0; c < ARRAY_SIZE(chunks); c++) {
		char hex[SHA256_HEX_SIZE];
		uint8_t d[SHA256_DIGEST_SIZE];
		struct sha256 s;

		sha256_init(&s);
		for (size_t off = 0; off < len;) {
			/* Vary the chunk a little too, so no two steps line up the same way. */
			size_t n = chunks[c] + off % 5;
			if (n > len - off)
				n = len - off;
			sha256_update(&s, m + off, n);
			off += n;
		}
		sha256_final(&s, d);
		sha256_to_hex(d, hex);
		CHECK_STR_EQ(hex, want);
	}
}

TEST(sha256_fd_hashes_from_offset_to_eof)
{
	cleanup_free char *p = path_join(test_tmpdir(), "f");
	cleanup_close int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	char hex[SHA256_HEX_SIZE];

	CHECK(fd >= 0);
	CHECK_EQ(write(fd, "xxabc", 5), 5);
	CHECK_EQ(lseek(fd, 2, SEEK_SET), 2);
	CHECK_OK(sha256_fd(fd, hex));
	CHECK_STR_EQ(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	/* A write-only fd cannot be read: the errno comes back, hex untouched. */
	cleanup_close int wfd = open(p, O_WRONLY | O_CLOEXEC);
	CHECK(wfd >= 0);
	hex[0] = 'z';
	CHECK_EQ(sha256_fd(wfd, hex), -EBADF);
	CHECK_EQ(hex[0], 'z');
}

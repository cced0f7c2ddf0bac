/*
 * Base64: the fast decoder (eight characters at a time, an 8-byte store)
 * against a character-at-a-time reference, at every length and alignment
 * the word loop has edges at, in place and into a buffer of exactly the
 * documented size (under ASan an overrun is an error); and qemu-ga's
 * errors wherever the offending character sits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "b64.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The obvious decoder: '=' and '\n' carry no bits, nothing else is
 * accepted. Returns the length, or -1. */
static long
reference(const char *in, size_t n, unsigned char *out)
{
	uint32_t acc = 0;
	int bits = 0;
	long len = 0;

	for (size_t i = 0; i < n; i++) {
		const char *c = in[i] ? strchr(alphabet, in[i]) : NULL;

		if (in[i] == '=' || in[i] == '\n')
			continue;
		if (c == NULL)
			return -1;
		acc = acc << 6 | (uint32_t)(c - alphabet);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[len++] = (unsigned char)(acc >> bits);
		}
	}
	return len;
}

static unsigned char *
random_bytes(size_t n, unsigned seed)
{
	unsigned char *p = malloc(n ? n : 1);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (unsigned char)(seed >> 16);
	}
	return p;
}

/* Decode text into a buffer of exactly the documented size and in place;
 * both must agree with the reference. */
static void
check_decodes(const char *text, size_t len)
{
	unsigned char *want = malloc(len + 1), *out = malloc(len / 4 * 3 + 3);
	char *copy = malloc(len + 1);
	long wantlen = reference(text, len, want);
	const char *why = NULL;
	size_t n;

	assert_non_null(want);
	assert_non_null(out);
	assert_non_null(copy);
	assert_true(wantlen >= 0);
	n = b64_decode_into(text, len, out, &why);
	assert_int_equal(n, (size_t)wantlen);
	if (n)
		assert_memory_equal(out, want, n);
	memcpy(copy, text, len + 1);
	n = b64_decode_into(copy, len, (unsigned char *)copy, &why);
	assert_int_equal(n, (size_t)wantlen);
	if (n)
		assert_memory_equal(copy, want, n);
	free(want);
	free(out);
	free(copy);
}

static void
test_round_trip_every_length(void **state)
{
	(void)state;
	for (size_t n = 0; n <= 200; n++) {
		unsigned char *data = random_bytes(n, (unsigned)n);
		char *text = malloc(b64_encoded_len(n) + 1);
		size_t outlen = 0;
		const char *why = NULL;
		unsigned char *back;

		assert_non_null(text);
		b64_encode(data, n, text);
		assert_int_equal(strlen(text), b64_encoded_len(n));
		check_decodes(text, strlen(text));
		back = b64_decode(text, strlen(text), &outlen, &why);
		assert_non_null(back);
		assert_int_equal(outlen, n);
		if (n)
			assert_memory_equal(back, data, n);
		free(back);
		free(text);
		free(data);
	}
}

/* Newlines and '=' anywhere (GLib's leniency), at every offset the word
 * loop can meet them: the slow path takes over and the word loop resumes. */
static void
test_skipped_characters_anywhere(void **state)
{
	unsigned char *data = random_bytes(60, 7);
	char text[81], with[83];

	(void)state;
	b64_encode(data, 60, text);
	for (size_t at = 0; at <= 80; at++) {
		for (const char *skip = "\n="; *skip; skip++) {
			memcpy(with, text, at);
			with[at] = *skip;
			memcpy(with + at + 1, text + at, 81 - at);
			check_decodes(with, 81);
		}
	}
	/* Unpadded tails: 1, 2 and 3 characters past a whole quad. */
	for (size_t cut = 77; cut <= 80; cut++)
		check_decodes(text, cut);
	free(data);
}

static void
test_bad_character_anywhere(void **state)
{
	unsigned char *data = random_bytes(90, 3), out[90 / 3 * 4];
	char text[121];

	(void)state;
	b64_encode(data, 90, text);
	for (size_t at = 0; at < 120; at++) {
		for (const char *bad = "*-_ \x80\xff"; *bad; bad++) {
			char copy[121];
			const char *why = NULL;

			memcpy(copy, text, sizeof(copy));
			copy[at] = *bad;
			assert_int_equal(b64_decode_into(copy, 120, out, &why), (size_t)-1);
			assert_string_equal(why, "Base64 data contains invalid characters");
		}
		{
			char copy[121];
			const char *why = NULL;

			memcpy(copy, text, sizeof(copy));
			copy[at] = '\0';
			assert_int_equal(b64_decode_into(copy, 120, out, &why), (size_t)-1);
			assert_string_equal(why, "Base64 data contains embedded NUL characters");
		}
	}
	free(data);
}

/* A megabyte: the word loop's steady state, the exact-size buffer's end. */
static void
test_large(void **state)
{
	size_t n = (1 << 20) + 2;
	unsigned char *data = random_bytes(n, 11);
	char *text = malloc(b64_encoded_len(n) + 1);

	(void)state;
	assert_non_null(text);
	b64_encode(data, n, text);
	check_decodes(text, strlen(text));
	free(text);
	free(data);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_every_length),
		cmocka_unit_test(test_skipped_characters_anywhere),
		cmocka_unit_test(test_bad_character_anywhere),
		cmocka_unit_test(test_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

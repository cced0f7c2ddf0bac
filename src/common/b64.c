/* Base64 encode and strict decode. */
#include <stdint.h>
#include <stdlib.h>

#include "b64.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
b64_encoded_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

void
b64_encode(const void *in, size_t n, char *out)
{
	const unsigned char *p = in;
	size_t i;
	uint32_t v;

	for (i = 0; i + 3 <= n; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		*out++ = alphabet[v >> 18];
		*out++ = alphabet[(v >> 12) & 63];
		*out++ = alphabet[(v >> 6) & 63];
		*out++ = alphabet[v & 63];
	}
	if (n - i == 1) {
		v = (uint32_t)p[i] << 16;
		*out++ = alphabet[v >> 18];
		*out++ = alphabet[(v >> 12) & 63];
		*out++ = '=';
		*out++ = '=';
	} else if (n - i == 2) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		*out++ = alphabet[v >> 18];
		*out++ = alphabet[(v >> 12) & 63];
		*out++ = alphabet[(v >> 6) & 63];
		*out++ = '=';
	}
	*out = '\0';
}

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

unsigned char *
b64_decode(const char *in, size_t inlen, size_t *outlen, const char **why)
{
	unsigned char *out, *o;
	uint32_t acc = 0;
	int bits = 0, v;
	size_t i;

	for (i = 0; i < inlen; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '\0') {
			*why = "Base64 data contains embedded NUL characters";
			return NULL;
		}
		if (c != '=' && c != '\n' && b64_value(c) < 0) {
			*why = "Base64 data contains invalid characters";
			return NULL;
		}
	}
	out = o = malloc(inlen / 4 * 3 + 3);
	if (out == NULL) {
		*why = "out of memory";
		return NULL;
	}
	/* Like GLib, decoding is lenient about padding placement: '=' ends
	 * nothing, it just carries no bits. */
	for (i = 0; i < inlen; i++) {
		v = b64_value((unsigned char)in[i]);
		if (v < 0)
			continue;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			*o++ = (unsigned char)(acc >> bits);
		}
	}
	*outlen = (size_t)(o - out);
	return out;
}

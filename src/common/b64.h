/* Base64 as qemu-ga speaks it: standard alphabet, padding, strict decode. */
#ifndef QGA_B64_H
#define QGA_B64_H

#include <stddef.h>

/* Encoded length of n bytes, without the NUL. */
size_t	 b64_encoded_len(size_t n);
/* Write the encoding of in[0..n) to out (b64_encoded_len(n)+1 bytes; out
 * must not overlap in). */
void	 b64_encode(const void *in, size_t n, char *out);
/* Decode a NUL-terminated string. Like qemu-ga, only A-Za-z0-9+/= and
 * newlines are accepted. Returns a malloc'd buffer and its length in *outlen,
 * or NULL with *why set to a static reason (qemu-ga's texts). */
unsigned char *b64_decode(const char *in, size_t inlen, size_t *outlen,
		    const char **why);

/* The same, into out (room for inlen / 4 * 3 + 3 bytes, or out == in to
 * decode in place). Returns the decoded length, or (size_t)-1 with *why set. */
size_t	 b64_decode_into(const char *in, size_t inlen, unsigned char *out,
		    const char **why);

#endif

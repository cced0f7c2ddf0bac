/* UTF-8 checks shared by the JSON reader and error messages. */
#ifndef QGA_UTF8_H
#define QGA_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if it is invalid
 * (overlong, surrogate, above U+10FFFF, truncated). *cp gets the code point. */
size_t	 utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);
/* Encode cp into out (at least 4 bytes); returns the length. */
size_t	 utf8_encode(uint32_t cp, char *out);
/* A NUL-terminated copy with every invalid sequence replaced by U+FFFD,
 * so that any bytes can be put into a JSON string. */
char	*utf8_sanitize(const char *s, size_t len);

#endif

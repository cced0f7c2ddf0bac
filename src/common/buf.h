/* A growable byte buffer: the one way this project accumulates bytes. */
#ifndef QGA_BUF_H
#define QGA_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};

/* Make room for n more bytes; returns 0 or -ENOMEM. */
int	 buf_reserve(struct buf *b, size_t n);
/* ... exactly: room for n more bytes and the NUL, not a power of two. */
int	 buf_reserve_exact(struct buf *b, size_t n);
/* Give back capacity beyond the bytes held (realloc shrinks in place). */
void	 buf_shrink(struct buf *b);
int	 buf_append(struct buf *b, const void *p, size_t n);
int	 buf_putc(struct buf *b, char c);
/* Drop the first n bytes. */
void	 buf_consume(struct buf *b, size_t n);
void	 buf_reset(struct buf *b);
void	 buf_free(struct buf *b);
/* Hand the bytes over NUL-terminated; the buffer is left empty. */
char	*buf_steal(struct buf *b);

/* A json_dump_callback() sink appending to dst. jansson ignores a failed
 * write of an object key and goes on, so a failure sticks: once failed is
 * set every later put fails too. */
struct buf_sink {
	struct buf	*dst;
	bool		 failed;
};
int	 buf_sink_put(const char *s, size_t n, void *sink);

#endif

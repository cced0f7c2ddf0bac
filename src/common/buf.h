/* A growable byte buffer: the one way this project accumulates bytes. */
#ifndef QGA_BUF_H
#define QGA_BUF_H

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

#endif

/* Growable byte buffer. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

int
buf_reserve(struct buf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->cap - b->len > n)
		return 0;
	if (n > ((size_t)-1) / 2 - b->len)
		return -ENOMEM;
	cap = b->cap ? b->cap : 256;
	while (cap - b->len <= n)
		cap *= 2;
	p = realloc(b->data, cap);
	if (p == NULL)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int
buf_reserve_exact(struct buf *b, size_t n)
{
	char *p;

	if (b->cap - b->len > n)
		return 0;
	if (n > ((size_t)-1) / 2 - b->len)
		return -ENOMEM;
	p = realloc(b->data, b->len + n + 1);
	if (p == NULL)
		return -ENOMEM;
	b->data = p;
	b->cap = b->len + n + 1;
	return 0;
}

void
buf_shrink(struct buf *b)
{
	char *p;

	if (b->data == NULL || b->cap == b->len + 1)
		return;
	p = realloc(b->data, b->len + 1);
	if (p) {
		b->data = p;
		b->cap = b->len + 1;
	}
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) < 0)
		return -ENOMEM;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_putc(struct buf *b, char c)
{
	return buf_append(b, &c, 1);
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

char *
buf_steal(struct buf *b)
{
	char *p;

	if (b->data == NULL && buf_reserve(b, 1) < 0)
		return NULL;
	p = b->data;
	p[b->len] = '\0';
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

int
buf_sink_put(const char *s, size_t n, void *sink)
{
	struct buf_sink *k = sink;

	if (k->failed || buf_append(k->dst, s, n) < 0)
		k->failed = true;
	return k->failed ? -1 : 0;
}

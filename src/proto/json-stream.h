/*
 * Incremental JSON reader for the agent protocol: bytes in, whole JSON
 * messages out. It frames by JSON structure (not lines), accepts qemu's
 * dialect (single-quoted strings, \' escapes), enforces the message limits,
 * and recovers from garbage the way qemu-ga does: any lexical error (0xFF,
 * a control byte) is reported once and discards the partial message.
 * No I/O happens here.
 */
#ifndef QGA_JSON_STREAM_H
#define QGA_JSON_STREAM_H

#include <stddef.h>
#include <jansson.h>

/* Bytes of all tokens in one message, and of any single token. */
#define JSON_MAX_TOKEN_SIZE	(64ULL << 20)
/* Tokens in one message. */
#define JSON_MAX_TOKEN_COUNT	(2ULL << 20)
/* Depth of nested objects and arrays. */
#define JSON_MAX_NESTING	1024

struct json_stream;

struct json_stream *json_stream_new(void);
void	 json_stream_free(struct json_stream *s);
/* Consume bytes; complete messages and errors are queued for json_stream_next. */
void	 json_stream_feed(struct json_stream *s, const void *data, size_t len);
/*
 * Pop the next event. Returns 1 and sets either *msg (a new reference) or
 * *err (a malloc'd description without the "JSON parse error" context
 * removed: it is the full desc qemu-ga would send), 0 when nothing is queued.
 */
int	 json_stream_next(struct json_stream *s, json_t **msg, char **err);
/* Forget any partial message and queued events (a new client or session). */
void	 json_stream_reset(struct json_stream *s);
/* True while a message has been started but not finished. */
int	 json_stream_partial(const struct json_stream *s);
/* Whether json_stream_next() has something to return. */
int	 json_stream_ready(const struct json_stream *s);

/* Parse one complete JSON text held in memory with the same dialect and
 * errors; returns a new reference or NULL with *err set. */
json_t	*json_parse_text(const char *text, size_t len, char **err);

#endif

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

/* Bytes of all tokens in one message, and of any single token (the
 * default; see json_stream_max_bytes). */
#define JSON_MAX_TOKEN_SIZE	(64ULL << 20)
/* Tokens in one message. */
#define JSON_MAX_TOKEN_COUNT	(2ULL << 20)
/* Depth of nested objects and arrays. */
#define JSON_MAX_NESTING	1024

/*
 * With deferral on (json_stream_defer), a plain string (ASCII, no escapes)
 * at least this long (the agent's choice; the fuzzer's is tiny) that is a
 * member of the top-level "arguments" object is not copied into the
 * message: an empty string stands in for it there, and its bytes stay in
 * the lexer's buffer, handed over beside the message.
 * A 16 MiB guest-file-write is one 22 MB base64 string; the copy doubled
 * the agent's memory and was a fifth of its CPU.
 */
#define JSON_DEFER_MIN		(1 << 20)

struct json_stream;

/* A deferred string: parent[key] is placeholder until materialized. */
struct json_big {
	json_t		*parent;	/* the "arguments" object (a reference) */
	char		*key;
	json_t		*placeholder;	/* the "" in parent (a reference) */
	char		*str;		/* the bytes, NUL-terminated, writable */
	size_t		 len;
	char		*block;		/* the allocation str points into */
	struct json_big	*next;
};

struct json_stream *json_stream_new(void);
void	 json_stream_free(struct json_stream *s);
/* Consume bytes; complete messages and errors are queued for json_stream_next. */
void	 json_stream_feed(struct json_stream *s, const void *data, size_t len);
/*
 * Pop the next event. Returns 1 and sets either *msg (a new reference) or
 * *err (a malloc'd description without the "JSON parse error" context
 * removed: it is the full desc qemu-ga would send), 0 when nothing is queued.
 * Both NULL: an event was lost for want of memory (still owed a reply).
 */
int	 json_stream_next(struct json_stream *s, json_t **msg, char **err);
/* Defer argument strings of min bytes or more from now on; 0 (the
 * default): none. */
void	 json_stream_defer(struct json_stream *s, size_t min);
/* json_stream_next, also handing over the message's deferred strings in
 * *big (the caller frees them with json_big_free, after the message's last
 * use of them). json_stream_next puts them into the message. */
int	 json_stream_next_big(struct json_stream *s, json_t **msg, char **err,
	    struct json_big **big);
/* Put a deferred string into its message as a real string and forget it;
 * 0 when it is no longer in the message. -1: out of memory. */
int	 json_big_materialize(struct json_big **big);
void	 json_big_free(struct json_big *big);
/* Forget any partial message and queued events (a new client or session). */
void	 json_stream_reset(struct json_stream *s);
/* True while a message has been started but not finished. */
int	 json_stream_partial(const struct json_stream *s);
/* Whether json_stream_next() has something to return. */
int	 json_stream_ready(const struct json_stream *s);

/* Limit the bytes of one message (and so of any token) to max instead of
 * JSON_MAX_TOKEN_SIZE: a client reading replies needs more than the 64 MiB
 * a request may have (a 48 MiB guest-file-read is 64 MiB of base64). */
void	 json_stream_max_bytes(struct json_stream *s, size_t max);

/* Parse one complete JSON text of at most max_bytes held in memory with the
 * same dialect and errors; returns a new reference, or NULL with *err set
 * (NULL too when memory ran out: no error can be told then). */
json_t	*json_parse_text(const char *text, size_t len, size_t max_bytes,
	    char **err);

#endif

/*
 * libFuzzer harness for the request framer and JSON reader: arbitrary
 * bytes, fed whole and then again in pieces cut by the input itself, must
 * give the same messages and errors (framing may not depend on how the
 * channel splits reads), and every error must be one of qemu's texts.
 * The pieces go to a reader that defers argument strings of a few bytes
 * already (the agent's threshold is 1 MiB): put back, every message must
 * be the one the plain reader made.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json-stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const error_prefixes[] = {
	"JSON parse error, ",
	"JSON token size limit exceeded",
	"JSON token count limit exceeded",
	"JSON nesting depth limit exceeded",
};

/* A deferred string is where it says, stands for plain bytes, and goes
 * back into its message. */
static void
check_big(struct json_big *big)
{
	while (big) {
		if (json_object_get(big->parent, big->key) != big->placeholder ||
		    json_string_length(big->placeholder) != 0 ||
		    strlen(big->str) != big->len)
			__builtin_trap();
		for (size_t i = 0; i < big->len; i++)
			if ((unsigned char)big->str[i] < 0x20 ||
			    (unsigned char)big->str[i] >= 0x80 || big->str[i] == '\\')
				__builtin_trap();
		if (json_big_materialize(&big) < 0)
			__builtin_trap();
	}
}

/* Every event as text, in order: "M<json>\n" or "E<desc>\n". */
static void
drain(struct json_stream *s, struct buf *log)
{
	struct json_big *big;
	json_t *msg;
	char *err;

	while (json_stream_next_big(s, &msg, &err, &big)) {
		check_big(big);
		if (msg) {
			struct buf_sink sink = { log, false };

			buf_putc(log, 'M');
			/* The agent echoes ids with these flags: the dump must work. */
			if (json_dump_callback(msg, buf_sink_put, &sink,
			    JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY) < 0 ||
			    sink.failed)
				__builtin_trap();
			json_decref(msg);
		} else {
			size_t i;

			if (err == NULL)
				__builtin_trap();
			for (i = 0; i < sizeof(error_prefixes) / sizeof(*error_prefixes); i++)
				if (strncmp(err, error_prefixes[i], strlen(error_prefixes[i])) == 0)
					break;
			if (i == sizeof(error_prefixes) / sizeof(*error_prefixes)) {
				fprintf(stderr, "unexpected error text: %s\n", err);
				__builtin_trap();
			}
			buf_putc(log, 'E');
			buf_append(log, err, strlen(err));
			free(err);
		}
		buf_putc(log, '\n');
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_stream *whole = json_stream_new(), *parts = json_stream_new();
	struct buf a = { 0 }, b = { 0 };
	size_t off = 0, step = 1;
	unsigned seed = size ? data[0] : 0;
	json_t *v;
	char *err = NULL;

	json_stream_feed(whole, data, size);
	drain(whole, &a);
	json_stream_defer(parts, 1 + seed % 8);

	/* Pieces of 1..16 bytes, lengths drawn from the first byte. */
	while (off < size) {
		seed = seed * 1103515245u + 12345u;
		step = 1 + (seed >> 16) % 16;
		if (step > size - off)
			step = size - off;
		json_stream_feed(parts, data + off, step);
		drain(parts, &b);
		off += step;
	}
	if (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len) != 0)) {
		fprintf(stderr, "whole:\n%s\npieces:\n%s\n", a.data, b.data);
		__builtin_trap();
	}

	/* A reset in the middle of anything leaves a usable reader. */
	json_stream_reset(parts);
	if (json_stream_partial(parts))
		__builtin_trap();
	json_stream_feed(parts, "{\"execute\":\"guest-ping\"}", 24);
	if (!json_stream_next(parts, &v, &err) || v == NULL)
		__builtin_trap();
	json_decref(v);

	/* The one-shot parser on the same bytes. */
	v = json_parse_text((const char *)data, size,
	    JSON_MAX_TOKEN_SIZE, &err);
	if (v == NULL && err == NULL)
		__builtin_trap();
	json_decref(v);
	free(err);

	json_stream_free(whole);
	json_stream_free(parts);
	buf_free(&a);
	buf_free(&b);
	return 0;
}

/*
 * Deferred reply members: a large byte string in a command's return value
 * (guest-file-read's "buf-b64") is base64-encoded at write time, a piece at
 * a time, straight into the client's output, instead of being built as a
 * JSON string and then serialised: the agent holds only the raw bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "b64.h"
#include "deferred.h"

/* The JSON text of a reply, the way jansson writes it with these flags
 * (qemu-ga's: ", " and ": " separators, non-ASCII escaped). */
#define DUMP_FLAGS	(JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY)

json_t *
qga_ctx_reply_base64(struct qga_ctx *ctx, void *data, size_t len)
{
	struct job *j = agent_current_job();
	struct deferred *d;
	json_t *ph;
	char *text;

	(void)ctx;
	/* No job to carry it (fuzzing, unit tests) or a second one in this
	 * reply: an ordinary string. */
	if (j == NULL || j->def) {
		text = malloc(b64_encoded_len(len) + 1);
		if (text)
			b64_encode(data, len, text);
		free(data);
		ph = text ? json_stringn_nocheck(text, b64_encoded_len(len)) : NULL;
		free(text);
		return ph;
	}
	d = calloc(1, sizeof(*d));
	ph = json_string("");
	if (d == NULL || ph == NULL) {
		free(d);
		json_decref(ph);
		free(data);
		return NULL;
	}
	/* Our own reference: if the command drops its value, the address
	 * cannot come back as some other value of the reply. */
	d->placeholder = json_incref(ph);
	d->data = data;
	d->len = len;
	j->def = d;
	return ph;
}

void
deferred_free(struct deferred *d)
{
	if (d == NULL)
		return;
	json_decref(d->placeholder);
	free(d->data);
	free(d);
}

int
deferred_materialize(struct deferred *d)
{
	size_t n = b64_encoded_len(d->len);
	char *text = malloc(n + 1);
	int rc;

	if (text == NULL)
		return -1;
	b64_encode(d->data, d->len, text);
	rc = json_string_setn_nocheck(d->placeholder, text, n);
	free(text);
	return rc;
}

size_t
deferred_piece_len(void)
{
	return b64_encoded_len(DEFERRED_PIECE) + 1;
}

size_t
deferred_text_len(const struct deferred *d)
{
	return b64_encoded_len(d->len);
}

int
deferred_next(struct deferred *d, struct buf *out)
{
	size_t n = d->len - d->pos;

	if (n > DEFERRED_PIECE)
		n = DEFERRED_PIECE;	/* a multiple of 3: the pieces join up */
	if (buf_reserve(out, b64_encoded_len(n)) < 0)
		return -1;
	b64_encode(d->data + d->pos, n, out->data + out->len);
	out->len += b64_encoded_len(n);
	d->pos += n;
	return 0;
}

struct dumper {
	struct buf_sink	 sink;		/* into before, then after */
	struct buf	*after;
	json_t		*ph;
	bool		 hit;
};

static void
put(const char *s, size_t n, struct dumper *d)
{
	(void)buf_sink_put(s, n, &d->sink);
}

static void
leaf(json_t *v, struct dumper *d)
{
	if (json_dump_callback(v, buf_sink_put, &d->sink, DUMP_FLAGS) < 0)
		d->sink.failed = true;
}

static bool
contains(json_t *v, json_t *ph)
{
	const char *key;
	json_t *m;
	size_t i;

	if (v == ph)
		return true;
	if (json_is_object(v)) {
		json_object_foreach(v, key, m)
			if (contains(m, ph))
				return true;
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, m)
			if (contains(m, ph))
				return true;
	}
	return false;
}

/* An object key as jansson writes it (up to its first NUL, as jansson
 * does): plain keys as they are, others through jansson's escaping. */
static void
key(const char *k, struct dumper *d)
{
	size_t n = strlen(k);
	json_t *s;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)k[i];

		if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
			s = json_stringn_nocheck(k, n);
			if (s == NULL)
				d->sink.failed = true;
			else
				leaf(s, d);
			json_decref(s);
			return;
		}
	}
	put("\"", 1, d);
	put(k, n, d);
	put("\"", 1, d);
}

/* Containers on the way to the placeholder are written here, in jansson's
 * layout; everything else is jansson's own output. */
static void
value(json_t *v, struct dumper *d)
{
	const char *k;
	json_t *m;
	size_t i;
	bool first = true;

	if (v == d->ph) {
		put("\"", 1, d);
		d->sink.dst = d->after;
		put("\"", 1, d);
		d->hit = true;
	} else if (d->hit || !contains(v, d->ph)) {
		leaf(v, d);
	} else if (json_is_object(v)) {
		put("{", 1, d);
		json_object_foreach(v, k, m) {
			if (!first)
				put(", ", 2, d);
			first = false;
			key(k, d);
			put(": ", 2, d);
			value(m, d);
		}
		put("}", 1, d);
	} else {
		put("[", 1, d);
		json_array_foreach(v, i, m) {
			if (!first)
				put(", ", 2, d);
			first = false;
			value(m, d);
		}
		put("]", 1, d);
	}
}

int
deferred_dump(json_t *msg, struct deferred *def, struct buf *before,
    struct buf *after)
{
	struct dumper d = { { before, false }, after, def->placeholder, false };

	value(msg, &d);
	if (d.sink.failed)
		return -1;
	return d.hit ? 1 : 0;
}

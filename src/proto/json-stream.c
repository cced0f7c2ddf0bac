/*
 * Incremental JSON reader: a byte-driven lexer feeds tokens to a streamer
 * that counts brackets and cuts messages; a recursive-descent parser turns
 * each message's tokens into jansson values. The error texts are qemu-ga's.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "utf8.h"
#include "json-stream.h"

enum tok_type {
	T_LBRACE, T_RBRACE, T_LBRACKET, T_RBRACKET, T_COLON, T_COMMA,
	T_STRING, T_INTEGER, T_FLOAT, T_KEYWORD, T_ERROR
};

enum lex_state {
	L_START, L_RECOVERY, L_STRING, L_STRING_ESC,
	L_MINUS, L_ZERO, L_INT, L_DOT, L_FRAC, L_EXP, L_EXP_SIGN, L_EXP_DIGITS,
	L_KEYWORD
};

/*
 * Numbers, as qemu's lexer takes them: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
 * num_next[state][class of the next byte] is the next state, or where the
 * number ends: ERR swallows the byte and reports it (a leading zero
 * followed by a digit included: qemu has no way on from "01"); END_* leaves
 * the byte to the next token.
 */
enum num_class { NC_ZERO, NC_DIGIT, NC_DOT, NC_EXP, NC_SIGN, NC_OTHER, NC_COUNT };
enum { NUM_ERR = -1, NUM_END_INT = -2, NUM_END_FLOAT = -3 };

static const signed char num_next[][NC_COUNT] = {
	/*		  0		1-9		.	eE		+-		other */
	[L_MINUS - L_MINUS] =
	    { L_ZERO,	L_INT,		NUM_ERR, NUM_ERR,	NUM_ERR,	NUM_ERR },
	[L_ZERO - L_MINUS] =
	    { NUM_ERR,	NUM_ERR,	L_DOT,	L_EXP,		NUM_END_INT,	NUM_END_INT },
	[L_INT - L_MINUS] =
	    { L_INT,	L_INT,		L_DOT,	L_EXP,		NUM_END_INT,	NUM_END_INT },
	[L_DOT - L_MINUS] =
	    { L_FRAC,	L_FRAC,		NUM_ERR, NUM_ERR,	NUM_ERR,	NUM_ERR },
	[L_FRAC - L_MINUS] =
	    { L_FRAC,	L_FRAC,		NUM_END_FLOAT, L_EXP,	NUM_END_FLOAT,	NUM_END_FLOAT },
	[L_EXP - L_MINUS] =
	    { L_EXP_DIGITS, L_EXP_DIGITS, NUM_ERR, NUM_ERR,	L_EXP_SIGN,	NUM_ERR },
	[L_EXP_SIGN - L_MINUS] =
	    { L_EXP_DIGITS, L_EXP_DIGITS, NUM_ERR, NUM_ERR,	NUM_ERR,	NUM_ERR },
	[L_EXP_DIGITS - L_MINUS] =
	    { L_EXP_DIGITS, L_EXP_DIGITS, NUM_END_FLOAT, NUM_END_FLOAT, NUM_END_FLOAT, NUM_END_FLOAT },
};

static enum num_class
num_class(unsigned char c)
{
	if (c == '0')
		return NC_ZERO;
	if (c >= '1' && c <= '9')
		return NC_DIGIT;
	if (c == '.')
		return NC_DOT;
	if (c == 'e' || c == 'E')
		return NC_EXP;
	if (c == '+' || c == '-')
		return NC_SIGN;
	return NC_OTHER;
}

/* Tokens shorter than this are copied out of the lexer's buffer. */
#define TOKEN_KEEP_BUF	4096
/* Token slots kept between messages. */
#define TOKENS_KEEP	4096

struct token {
	enum tok_type	 type;
	bool		 plain;		/* a string of ASCII without escapes */
	char		*text;
	size_t		 len;
};

struct event {
	json_t		*msg;
	char		*err;
	struct json_big	*big;
	struct event	*next;
};

struct json_stream {
	enum lex_state	 state;
	char		 quote;		/* the quote that opened the current string */
	/* The OR of the bytes of the string being lexed, an escape counting
	 * as 0x80: no bit 7 set means ASCII without escapes, which the parser
	 * takes as it is (else it would scan a 22 MB payload twice more). */
	uint64_t	 str_bits;
	struct buf	 tok;		/* text of the token being lexed */
	bool		 tok_overflow;	/* the token outgrew max_bytes */
	size_t		 max_bytes;	/* JSON_MAX_TOKEN_SIZE unless raised */
	/* The length of the last string of JSON_DEFER_MIN or more: the next
	 * such string (a transfer's next chunk) likely has it too. */
	size_t		 big_hint;

	struct token	*toks;		/* tokens of the message being collected */
	size_t		 ntoks, captoks;
	size_t		 msg_bytes;
	long		 braces, brackets;
	bool		 discarding;	/* after a limit error: skip to the message end */
	size_t		 defer_min;	/* strings this long stay out of messages; 0: none */

	struct event	*head, **tail;
	/* When an event cannot be allocated it takes the spare, so that its
	 * reply (out of memory) keeps its place in the order; only if that
	 * is gone too is it counted as lost and reported after the rest. */
	struct event	*spare;
	size_t		 lost;
	/* An allocation failed (reported to the agent's client as a limit or
	 * a parse error, as qemu-ga would); json_parse_text says so instead. */
	bool		 oom;
};

static void queue_big_event(struct json_stream *s, json_t *msg, char *err,
    struct json_big *big)
{
	struct event *e = calloc(1, sizeof(*e));

	if (e == NULL && (e = s->spare) != NULL)
		s->spare = NULL;
	if (e == NULL) {
		json_decref(msg);
		free(err);
		json_big_free(big);
		s->oom = true;
		s->lost++;
		return;
	}
	e->msg = msg;
	e->err = err;
	e->big = big;
	*s->tail = e;
	s->tail = &e->next;
}

static void
queue_event(struct json_stream *s, json_t *msg, char *err)
{
	queue_big_event(s, msg, err, NULL);
}

static char *
errorf(const char *fmt, ...)
{
	char *p = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&p, fmt, ap) < 0)
		p = NULL;
	va_end(ap);
	return p;
}

static void
drop_tokens(struct json_stream *s)
{
	for (size_t i = 0; i < s->ntoks; i++)
		free(s->toks[i].text);
	s->ntoks = 0;
	s->msg_bytes = 0;
}

static void
reset_message(struct json_stream *s)
{
	drop_tokens(s);
	/* Do not keep the token array of a huge message (up to 48 MiB). */
	if (s->captoks > TOKENS_KEEP) {
		free(s->toks);
		s->toks = NULL;
		s->captoks = 0;
	}
	s->braces = s->brackets = 0;
	s->discarding = false;
}

static void
limit_error(struct json_stream *s, const char *what)
{
	queue_event(s, NULL, errorf("JSON %s limit exceeded", what));
	drop_tokens(s);
	/*
	 * qemu-ga forgets the brackets here and answers every stray closing
	 * token of the oversized message with its own error. We keep counting
	 * and skip to the end of the message instead: one error, then service.
	 */
	s->discarding = true;
}

static json_t *parse_tokens(struct token *t, size_t n, size_t defer_min,
    struct json_big **big, char **err, bool *oom);

static void
emit_message(struct json_stream *s)
{
	struct json_big *big = NULL;
	char *err = NULL;
	json_t *v = parse_tokens(s->toks, s->ntoks, s->defer_min, &big, &err,
	    &s->oom);

	queue_big_event(s, v, v ? NULL : err, big);
	if (v)
		free(err);
	reset_message(s);
}

static void
handle_token(struct json_stream *s, enum tok_type type, char *text, size_t len,
    bool overflow)
{
	struct token *t;

	if (type == T_ERROR) {
		/* qemu's token is a C string: a NUL ends what it reports. */
		char *clean = utf8_sanitize(text, strnlen(text, len));

		queue_event(s, NULL, errorf("JSON parse error, stray '%s'",
		    clean ? clean : ""));
		free(clean);
		free(text);
		reset_message(s);
		return;
	}
	switch (type) {
	case T_LBRACE: s->braces++; break;
	case T_RBRACE: s->braces--; break;
	case T_LBRACKET: s->brackets++; break;
	case T_RBRACKET: s->brackets--; break;
	default: break;
	}
	if (s->discarding) {
		free(text);
		if (s->braces <= 0 && s->brackets <= 0)
			reset_message(s);
		return;
	}
	if (overflow) {
		free(text);
		limit_error(s, "token size");
		goto balanced;
	}
	if (s->braces + s->brackets > JSON_MAX_NESTING) {
		free(text);
		limit_error(s, "nesting depth");
		return;
	}
	s->msg_bytes += len;
	if (s->msg_bytes + 1 > s->max_bytes) {
		free(text);
		limit_error(s, "token size");
		goto balanced;
	}
	if (s->ntoks + 1 > JSON_MAX_TOKEN_COUNT) {
		free(text);
		limit_error(s, "token count");
		goto balanced;
	}
	if (s->ntoks == s->captoks) {
		size_t cap = s->captoks ? s->captoks * 2 : 64;
		t = realloc(s->toks, cap * sizeof(*t));
		if (t == NULL) {
			s->oom = true;
			free(text);
			limit_error(s, "token count");
			goto balanced;
		}
		s->toks = t;
		s->captoks = cap;
	}
	t = &s->toks[s->ntoks++];
	t->type = type;
	t->plain = type == T_STRING &&
	    (s->str_bits & 0x8080808080808080ull) == 0;
	t->text = text;
	t->len = len;
	if (s->braces < 0 || s->brackets < 0 ||
	    (s->braces == 0 && s->brackets == 0))
		emit_message(s);
	return;
balanced:
	if (s->braces <= 0 && s->brackets <= 0)
		reset_message(s);
}

/* Take the lexed token's text. A small token gets an exact-size copy: a
 * message of 2M one-byte tokens must not keep 2M 256-byte buffers. */
static char *
take_token(struct json_stream *s)
{
	size_t len = s->tok.len;
	char *text;

	if (len >= TOKEN_KEEP_BUF || s->tok.data == NULL) {
		/* A hint too long leaves no reserved tail behind. */
		if (s->tok.cap > len + len / 2 + TOKEN_KEEP_BUF)
			buf_shrink(&s->tok);
		return buf_steal(&s->tok);
	}
	text = malloc(len + 1);
	if (text) {
		memcpy(text, s->tok.data, len + 1);
		buf_reset(&s->tok);
	}
	return text;
}

static void
finish_token(struct json_stream *s, enum tok_type type)
{
	bool overflow = s->tok_overflow;
	size_t len = s->tok.len;
	char *text = take_token(s);

	s->tok_overflow = false;
	if (type == T_STRING && len >= JSON_DEFER_MIN && !overflow)
		s->big_hint = len;
	s->state = type == T_ERROR ? L_RECOVERY : L_START;
	if (text == NULL) {
		s->oom = true;
		reset_message(s);
		queue_event(s, NULL, errorf("JSON token size limit exceeded"));
		return;
	}
	handle_token(s, type, text, len, overflow);
}

static void
tok_add(struct json_stream *s, const char *p, size_t n)
{
	size_t want = s->tok.len + n;

	if (s->tok_overflow)
		return;
	if (want > s->max_bytes) {
		s->tok_overflow = true;
		return;
	}
	/* A string growing past JSON_DEFER_MIN gets room for the last big
	 * string's length at once: doubling into it copied the 16 MiB half
	 * of a 22 MB token whenever the heap had no room to grow in place. */
	if (s->state == L_STRING && want >= JSON_DEFER_MIN &&
	    s->tok.cap <= want && s->big_hint > want)
		(void)buf_reserve_exact(&s->tok, s->big_hint - s->tok.len);
	if (buf_append(&s->tok, p, n) < 0) {
		s->oom = true;
		s->tok_overflow = true;
	}
}

static void
single(struct json_stream *s, enum tok_type type, char c)
{
	tok_add(s, &c, 1);
	finish_token(s, type);
}

/* Bytes that stand for themselves inside a string of either quote: not a
 * control byte, 0xFE/0xFF, a backslash or a quote. */
static const unsigned char string_plain[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	1, 1, 0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0,
};

/* Whether 16 bytes are all string_plain, with the compiler's portable
 * vector types (SSE2 here, scalar code where there is none): a base64
 * payload is scanned at 10 GB/s instead of 3.3 with 8-byte words. */
typedef unsigned char bytes16 __attribute__((vector_size(16)));
typedef signed char mask16 __attribute__((vector_size(16)));

static bool
block_plain(const unsigned char *p, bytes16 *bits)
{
	bytes16 v;
	mask16 bad;
	uint64_t lo, hi;

	memcpy(&v, p, sizeof(v));
	bad = (v == '"') | (v == '\'') | (v == '\\') | (v < 0x20) | (v >= 0xFE);
	memcpy(&lo, &bad, 8);
	memcpy(&hi, (const char *)&bad + 8, 8);
	if ((lo | hi) != 0)
		return false;
	*bits |= v;
	return true;
}

/* The OR of the 16 bytes of bits, as the 8-byte str_bits takes it. */
static uint64_t
fold_bits(bytes16 bits)
{
	uint64_t lo, hi;

	memcpy(&lo, &bits, 8);
	memcpy(&hi, (const char *)&bits + 8, 8);
	return lo | hi;
}

static bool
is_structural(unsigned char c)
{
	return c == '{' || c == '}' || c == '[' || c == ']' || c == ':' || c == ',';
}

/* Error with the offending byte included in the token text. */
static void
lex_error(struct json_stream *s, unsigned char c)
{
	tok_add(s, (const char *)&c, 1);
	finish_token(s, T_ERROR);
}

void
json_stream_feed(struct json_stream *s, const void *data, size_t len)
{
	const unsigned char *p = data, *end = p + len;

	while (p < end) {
		unsigned char c = *p;

		switch (s->state) {
		case L_RECOVERY:
			/* Skip to a point where a new message can start; control
			 * bytes and 0xFE/0xFF are how clients force that. */
			if ((c >= 0x20 && c <= 0xFD && !is_structural(c)) || c == '\t') {
				p++;
				continue;
			}
			s->state = L_START;
			continue;
		case L_START:
			p++;
			switch (c) {
			case ' ': case '\t': case '\r': case '\n':
				continue;
			case '{': single(s, T_LBRACE, (char)c); continue;
			case '}': single(s, T_RBRACE, (char)c); continue;
			case '[': single(s, T_LBRACKET, (char)c); continue;
			case ']': single(s, T_RBRACKET, (char)c); continue;
			case ':': single(s, T_COLON, (char)c); continue;
			case ',': single(s, T_COMMA, (char)c); continue;
			case '"': case '\'':
				s->quote = (char)c;
				s->str_bits = 0;
				tok_add(s, (const char *)&c, 1);
				s->state = L_STRING;
				continue;
			case '-':
				tok_add(s, "-", 1);
				s->state = L_MINUS;
				continue;
			case '0':
				tok_add(s, "0", 1);
				s->state = L_ZERO;
				continue;
			default:
				if (c >= '1' && c <= '9') {
					tok_add(s, (const char *)&c, 1);
					s->state = L_INT;
				} else if (c >= 'a' && c <= 'z') {
					tok_add(s, (const char *)&c, 1);
					s->state = L_KEYWORD;
				} else
					lex_error(s, c);
				continue;
			}
		case L_STRING: {
			/* Fast path: copy the run of ordinary bytes at once,
			 * found 16 bytes at a time, then a table lookup a
			 * byte (a base64 payload is one run of tens of MB);
			 * the other quote is ordinary. */
			const unsigned char *q = p;
			bytes16 vbits = { 0 };
			uint64_t bits = 0;
			for (;;) {
				while (end - q >= 16 && block_plain(q, &vbits))
					q += 16;
				while (q < end && string_plain[*q])
					bits |= *q++;
				if (q < end && (*q == '"' || *q == '\'') &&
				    *q != (unsigned char)s->quote) {
					q++;
					continue;
				}
				break;
			}
			s->str_bits |= bits | fold_bits(vbits);
			if (q > p) {
				tok_add(s, (const char *)p, (size_t)(q - p));
				p = q;
				continue;
			}
			p++;
			if (c == (unsigned char)s->quote) {
				tok_add(s, (const char *)&c, 1);
				finish_token(s, T_STRING);
			} else if (c == '\\') {
				tok_add(s, "\\", 1);
				s->str_bits |= 0x80;
				s->state = L_STRING_ESC;
			} else
				lex_error(s, c);
			continue;
		}
		case L_STRING_ESC:
			p++;
			if (c < 0x20 || c >= 0xFE) {
				lex_error(s, c);
				continue;
			}
			tok_add(s, (const char *)&c, 1);
			s->state = L_STRING;
			continue;
		case L_KEYWORD:
			if (c >= 'a' && c <= 'z') {
				tok_add(s, (const char *)&c, 1);
				p++;
				continue;
			}
			finish_token(s, T_KEYWORD);
			continue;
		case L_MINUS: case L_ZERO: case L_INT: case L_DOT: case L_FRAC:
		case L_EXP: case L_EXP_SIGN: case L_EXP_DIGITS: {
			int next = num_next[s->state - L_MINUS][num_class(c)];

			if (next == NUM_END_INT || next == NUM_END_FLOAT) {
				/* c belongs to the next token. */
				finish_token(s, next == NUM_END_INT ? T_INTEGER : T_FLOAT);
				continue;
			}
			p++;
			if (next == NUM_ERR) {
				lex_error(s, c);
				continue;
			}
			tok_add(s, (const char *)&c, 1);
			s->state = (enum lex_state)next;
			continue;
		}
		}
	}
}

struct json_stream *
json_stream_new(void)
{
	struct json_stream *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->tail = &s->head;
	s->max_bytes = JSON_MAX_TOKEN_SIZE;
	s->spare = calloc(1, sizeof(*s->spare));
	if (s->spare == NULL) {
		free(s);
		return NULL;
	}
	return s;
}

void
json_stream_max_bytes(struct json_stream *s, size_t max)
{
	s->max_bytes = max;
}

void
json_stream_reset(struct json_stream *s)
{
	struct json_big *big;
	json_t *msg;
	char *err;

	while (json_stream_next_big(s, &msg, &err, &big)) {
		json_decref(msg);
		free(err);
		json_big_free(big);
	}
	reset_message(s);
	buf_reset(&s->tok);
	s->tok_overflow = false;
	s->oom = false;
	s->state = L_START;
}

void
json_stream_free(struct json_stream *s)
{
	if (s == NULL)
		return;
	json_stream_reset(s);
	free(s->spare);
	free(s->toks);
	buf_free(&s->tok);
	free(s);
}

void
json_stream_defer(struct json_stream *s, size_t min)
{
	s->defer_min = min;
}

int
json_stream_next_big(struct json_stream *s, json_t **msg, char **err,
    struct json_big **big)
{
	struct event *e = s->head;

	*big = NULL;
	if (e == NULL) {
		if (s->lost == 0)
			return 0;
		s->lost--;
		*msg = NULL;
		*err = NULL;
		return 1;
	}
	s->head = e->next;
	if (s->head == NULL)
		s->tail = &s->head;
	*msg = e->msg;
	*err = e->err;
	*big = e->big;
	if (s->spare == NULL) {
		memset(e, 0, sizeof(*e));
		s->spare = e;
	} else
		free(e);
	return 1;
}

int
json_stream_next(struct json_stream *s, json_t **msg, char **err)
{
	struct json_big *big;
	int rc = json_stream_next_big(s, msg, err, &big);

	while (big) {
		if (json_big_materialize(&big) < 0) {
			/* The message would not be the one sent. */
			json_big_free(big);
			big = NULL;
			json_decref(*msg);
			*msg = NULL;
			*err = errorf("JSON parse error, out of memory");
		}
	}
	return rc;
}

int
json_big_materialize(struct json_big **big)
{
	struct json_big *b = *big;
	json_t *v;

	if (json_object_get(b->parent, b->key) == b->placeholder) {
		v = json_stringn_nocheck(b->str, b->len);
		if (v == NULL || json_object_set_new(b->parent, b->key, v) < 0)
			return -1;
	}
	*big = b->next;
	b->next = NULL;
	json_big_free(b);
	return 0;
}

void
json_big_free(struct json_big *big)
{
	struct json_big *b;

	while ((b = big)) {
		big = b->next;
		json_decref(b->parent);
		json_decref(b->placeholder);
		free(b->key);
		free(b->block);
		free(b);
	}
}

int
json_stream_ready(const struct json_stream *s)
{
	return s->head != NULL;
}

int
json_stream_partial(const struct json_stream *s)
{
	return s->ntoks > 0 || s->tok.len > 0 || s->discarding;
}

/* ---- parser ---- */

struct parser {
	struct token	*t;
	size_t		 n, pos;
	char		*err;
	bool		 oom;
	size_t		 defer_min;
	struct json_big	*big, **big_tail;
};

/* What an object is to the deferral: the message, its "arguments", or
 * anything else. */
enum obj_role { OBJ_OTHER, OBJ_MESSAGE, OBJ_ARGUMENTS };

static void
perr(struct parser *p, const char *fmt, ...)
{
	char *msg = NULL, *full;
	va_list ap;

	if (p->err)
		return;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	full = errorf("JSON parse error, %s", msg ? msg : "");
	free(msg);
	p->err = full;
}

static void
parse_oom(struct parser *p)
{
	p->oom = true;
	perr(p, "out of memory");
}

static struct token *
peek(struct parser *p)
{
	return p->pos < p->n ? &p->t[p->pos] : NULL;
}

static struct token *
next(struct parser *p)
{
	return p->pos < p->n ? &p->t[p->pos++] : NULL;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
read_hex4(const char *s, size_t left, uint32_t *out)
{
	uint32_t v = 0;

	if (left < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int h = hexval(s[i]);
		if (h < 0)
			return -1;
		v = v << 4 | (uint32_t)h;
	}
	*out = v;
	return 0;
}

static json_t *
parse_string(struct parser *p, struct token *t)
{
	const char *s = t->text + 1, *end = t->text + t->len - 1;
	struct buf b = { 0 };
	json_t *v;

	/*
	 * Plain ASCII without escapes (every base64 payload): one copy into
	 * jansson. The general path below decodes per character, copies
	 * twice and has jansson check the UTF-8 again: most of the CPU of a
	 * 16 MiB guest-file-write.
	 */
	if (t->plain) {
		v = json_stringn_nocheck(s, (size_t)(end - s));
		if (v == NULL)
			parse_oom(p);
		return v;
	}
	while (s < end) {
		unsigned char c = (unsigned char)*s;
		uint32_t cp, lo;
		size_t n;
		char enc[4];

		if (c != '\\') {
			const char *run = s;
			/* Copy the longest valid run in one go. */
			while (s < end && *s != '\\') {
				n = utf8_decode((const unsigned char *)s, (size_t)(end - s), &cp);
				if (n == 0) {
					perr(p, "invalid UTF-8 sequence in string");
					goto fail;
				}
				s += n;
			}
			if (buf_append(&b, run, (size_t)(s - run)) < 0)
				goto oom;
			continue;
		}
		s++;
		/* Every append is checked: a character dropped for want of
		 * memory would hand over a different string without a word. */
		switch (*s) {
		case '"': case '\'': case '\\': case '/':
			if (buf_putc(&b, *s) < 0)
				goto oom;
			break;
		case 'b': case 'f': case 'n': case 'r': case 't':
			if (buf_putc(&b, *s == 'b' ? '\b' : *s == 'f' ? '\f' :
			    *s == 'n' ? '\n' : *s == 'r' ? '\r' : '\t') < 0)
				goto oom;
			break;
		case 'u':
			if (read_hex4(s + 1, (size_t)(end - s - 1), &cp) < 0) {
				/* qemu quotes the four bytes after the \u, closing
				 * quote included when the escape is short. */
				char *shown = utf8_sanitize(s, strnlen(s, 5));

				perr(p, "\\%s is not a valid Unicode character",
				    shown ? shown : "u");
				free(shown);
				goto fail;
			}
			if (cp >= 0xD800 && cp <= 0xDBFF && end - (s + 5) >= 6 &&
			    s[5] == '\\' && s[6] == 'u' &&
			    read_hex4(s + 7, (size_t)(end - s - 7), &lo) == 0 &&
			    lo >= 0xDC00 && lo <= 0xDFFF) {
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				s += 6;
			} else if (cp >= 0xD800 && cp <= 0xDFFF) {
				char *shown = utf8_sanitize(s, strnlen(s, 5));

				perr(p, "\\%s is not a valid Unicode character",
				    shown ? shown : "u");
				free(shown);
				goto fail;
			}
			n = utf8_encode(cp, enc);
			if (buf_append(&b, enc, n) < 0)
				goto oom;
			s += 4;
			break;
		default:
			perr(p, "invalid escape sequence in string");
			goto fail;
		}
		s++;
	}
	v = json_stringn(b.data ? b.data : "", b.len);
	buf_free(&b);
	/* The text was checked above: only memory can be missing here. */
	if (v == NULL)
		parse_oom(p);
	return v;
oom:
	parse_oom(p);
fail:
	buf_free(&b);
	return NULL;
}

static json_t *
parse_number(struct parser *p, struct token *t)
{
	char *end;
	double d;

	if (t->type == T_INTEGER) {
		long long ll;

		errno = 0;
		ll = strtoll(t->text, &end, 10);
		if (errno == 0)
			return json_integer(ll);
		/* Beyond int64: jansson has no uint64, so it becomes a double
		 * (qemu keeps up to UINT64_MAX exact; see docs/protocol.md). */
	}
	d = strtod(t->text, &end);
	if (isinf(d))
		d = d > 0 ? DBL_MAX : -DBL_MAX;
	(void)p;
	return json_real(d);
}

static json_t *parse_value(struct parser *p);
static json_t *parse_object(struct parser *p, enum obj_role role);

/* obj[key] is to be the big string token t: an empty string stands in for
 * it, and its text goes to the deferred list with the quotes cut off. */
static json_t *
defer_string(struct parser *p, json_t *obj, json_t *key, struct token *t)
{
	struct json_big *b = calloc(1, sizeof(*b));

	if (b == NULL || (b->key = strdup(json_string_value(key))) == NULL ||
	    (b->placeholder = json_string("")) == NULL) {
		if (b)
			free(b->key);
		free(b);
		parse_oom(p);
		return NULL;
	}
	b->parent = json_incref(obj);
	b->block = t->text;
	t->text = NULL;
	b->block[t->len - 1] = '\0';
	b->str = b->block + 1;
	b->len = t->len - 2;
	*p->big_tail = b;
	p->big_tail = &b->next;
	return json_incref(b->placeholder);
}

/* The value of the member key of an object in role: deferred, the
 * arguments object, or parsed as usual. */
static json_t *
parse_member(struct parser *p, enum obj_role role, json_t *obj, json_t *key)
{
	struct token *t = peek(p);
	size_t klen = json_string_length(key);

	if (role == OBJ_ARGUMENTS && t->type == T_STRING && t->plain &&
	    t->len - 2 >= p->defer_min && klen == strlen(json_string_value(key))) {
		next(p);
		return defer_string(p, obj, key, t);
	}
	if (role == OBJ_MESSAGE && t->type == T_LBRACE && klen == 9 &&
	    memcmp(json_string_value(key), "arguments", 9) == 0) {
		next(p);
		return parse_object(p, OBJ_ARGUMENTS);
	}
	return parse_value(p);
}

static json_t *
parse_object(struct parser *p, enum obj_role role)
{
	json_t *obj = json_object(), *key = NULL, *val;
	struct token *t;

	if (obj == NULL)
		return NULL;
	t = peek(p);
	if (t && t->type == T_RBRACE) {
		next(p);
		return obj;
	}
	for (;;) {
		t = peek(p);
		if (t == NULL) {
			perr(p, "premature EOI");
			goto fail;
		}
		key = parse_value(p);
		if (key == NULL)
			goto fail;
		if (!json_is_string(key)) {
			perr(p, "key is not a string in object");
			goto fail;
		}
		t = next(p);
		if (t == NULL) {
			perr(p, "premature EOI");
			goto fail;
		}
		if (t->type != T_COLON) {
			perr(p, "missing : in object pair");
			goto fail;
		}
		if (peek(p) == NULL) {
			perr(p, "Missing value in dict");
			goto fail;
		}
		val = parse_member(p, p->defer_min ? role : OBJ_OTHER, obj, key);
		if (val == NULL)
			goto fail;
		/* Keys keep their length: "id" and "id\u0000x" are two keys. */
		if (json_object_getn(obj, json_string_value(key),
		    json_string_length(key))) {
			json_decref(val);
			perr(p, "duplicate key");
			goto fail;
		}
		/* A member lost to memory would change the request. */
		if (json_object_setn_new(obj, json_string_value(key),
		    json_string_length(key), val) < 0) {
			parse_oom(p);
			goto fail;
		}
		json_decref(key);
		key = NULL;
		t = next(p);
		if (t == NULL) {
			perr(p, "premature EOI");
			goto fail;
		}
		if (t->type == T_RBRACE)
			return obj;
		if (t->type != T_COMMA) {
			perr(p, "expected separator in dict");
			goto fail;
		}
	}
fail:
	json_decref(key);
	json_decref(obj);
	return NULL;
}

static json_t *
parse_array(struct parser *p)
{
	json_t *arr = json_array(), *val;
	struct token *t;

	if (arr == NULL)
		return NULL;
	t = peek(p);
	if (t && t->type == T_RBRACKET) {
		next(p);
		return arr;
	}
	for (;;) {
		if (peek(p) == NULL) {
			perr(p, "premature EOI");
			goto fail;
		}
		val = parse_value(p);
		if (val == NULL)
			goto fail;
		if (json_array_append_new(arr, val) < 0) {
			parse_oom(p);
			goto fail;
		}
		t = next(p);
		if (t == NULL) {
			perr(p, "premature EOI");
			goto fail;
		}
		if (t->type == T_RBRACKET)
			return arr;
		if (t->type != T_COMMA) {
			perr(p, "expected separator in list");
			goto fail;
		}
	}
fail:
	json_decref(arr);
	return NULL;
}

static json_t *
parse_value(struct parser *p)
{
	struct token *t = next(p);

	if (t == NULL) {
		perr(p, "premature EOI");
		return NULL;
	}
	switch (t->type) {
	case T_LBRACE:
		return parse_object(p, OBJ_OTHER);
	case T_LBRACKET:
		return parse_array(p);
	case T_STRING:
		return parse_string(p, t);
	case T_INTEGER:
	case T_FLOAT:
		return parse_number(p, t);
	case T_KEYWORD:
		if (strcmp(t->text, "true") == 0)
			return json_true();
		if (strcmp(t->text, "false") == 0)
			return json_false();
		if (strcmp(t->text, "null") == 0)
			return json_null();
		perr(p, "invalid keyword '%s'", t->text);
		return NULL;
	default:
		perr(p, "expecting value");
		return NULL;
	}
}

static json_t *
parse_tokens(struct token *t, size_t n, size_t defer_min, struct json_big **big,
    char **err, bool *oom)
{
	struct parser p = { .t = t, .n = n, .defer_min = defer_min };
	json_t *v;

	p.big_tail = &p.big;
	if (n > 0 && t[0].type == T_LBRACE) {
		p.pos = 1;
		v = parse_object(&p, OBJ_MESSAGE);
	} else
		v = parse_value(&p);
	if (v == NULL && p.err == NULL)
		parse_oom(&p);
	if (p.oom)
		*oom = true;
	if (v == NULL) {
		json_big_free(p.big);
		p.big = NULL;
	}
	*big = p.big;
	*err = p.err;
	return v;
}

json_t *
json_parse_text(const char *text, size_t len, size_t max_bytes, char **err)
{
	struct json_stream *s = json_stream_new();
	json_t *msg = NULL, *extra;
	char *e = NULL;

	*err = NULL;
	if (s == NULL)
		return NULL;
	json_stream_max_bytes(s, max_bytes);
	json_stream_feed(s, text, len);
	/* A trailing number or keyword needs a delimiter to end. */
	json_stream_feed(s, " ", 1);
	if (!json_stream_next(s, &msg, &e))
		e = errorf("JSON parse error, premature EOI");
	else if (json_stream_next(s, &extra, err)) {
		json_decref(extra);
		free(*err);
		json_decref(msg);
		msg = NULL;
		free(e);
		e = errorf("JSON parse error, trailing data");
	}
	if (s->oom) {
		json_decref(msg);
		msg = NULL;
		free(e);
		e = NULL;
	}
	json_stream_free(s);
	*err = e;
	return msg;
}

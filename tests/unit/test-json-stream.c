/* Unit tests of the incremental JSON reader: framing, recovery, limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "json-stream.h"

/* Feed text and return the single event it produces, as "msg:<json>" or
 * "err:<desc>"; fails if there is not exactly one. */
static char *
one_event(struct json_stream *s, const char *text, size_t len)
{
	json_t *msg = NULL;
	char *err = NULL, *out = NULL;

	json_stream_feed(s, text, len);
	assert_int_equal(json_stream_next(s, &msg, &err), 1);
	if (msg) {
		char *dump = json_dumps(msg, JSON_ENCODE_ANY | JSON_COMPACT | JSON_PRESERVE_ORDER);
		assert_true(asprintf(&out, "msg:%s", dump) > 0);
		free(dump);
		json_decref(msg);
	} else {
		assert_true(asprintf(&out, "err:%s", err) > 0);
		free(err);
	}
	assert_int_equal(json_stream_next(s, &msg, &err), 0);
	return out;
}

static void
expect(const char *input, const char *want)
{
	struct json_stream *s = json_stream_new();
	char *got = one_event(s, input, strlen(input));

	assert_string_equal(got, want);
	free(got);
	json_stream_free(s);
}

static void
test_values(void **state)
{
	(void)state;
	expect("{\"a\": [1, -2, 3.5, true, false, null, \"x\"]}",
	    "msg:{\"a\":[1,-2,3.5,true,false,null,\"x\"]}");
	expect("{'single': 'it\\'s'}", "msg:{\"single\":\"it's\"}");
	expect("\"\\u00e9\\ud83d\\ude00\"", "msg:\"\xc3\xa9\xf0\x9f\x98\x80\"");
	expect("[]", "msg:[]");
	expect("{}", "msg:{}");
	expect("9223372036854775807 ", "msg:9223372036854775807");
	expect("-9223372036854775808 ", "msg:-9223372036854775808");
}

static void
test_errors(void **state)
{
	(void)state;
	expect("{\"a\":1,\"a\":2}", "err:JSON parse error, duplicate key");
	expect("{\"a\" 1}", "err:JSON parse error, missing : in object pair");
	expect("{1:2}", "err:JSON parse error, key is not a string in object");
	expect("[1 2]", "err:JSON parse error, expected separator in list");
	expect("{\"a\":1 \"b\":2}", "err:JSON parse error, expected separator in dict");
	expect("{\"a\":}", "err:JSON parse error, expecting value");
	expect("}", "err:JSON parse error, expecting value");
	expect("nope ", "err:JSON parse error, invalid keyword 'nope'");
	expect("\"\\q\"", "err:JSON parse error, invalid escape sequence in string");
	expect("\"\\ud800\"", "err:JSON parse error, \\ud800 is not a valid Unicode character");
	expect("\"\x80\"", "err:JSON parse error, invalid UTF-8 sequence in string");
	expect("\xff", "err:JSON parse error, stray '\xef\xbf\xbd'");
	expect("\x01", "err:JSON parse error, stray '\x01'");
	expect("-x", "err:JSON parse error, stray '-x'");
}

/* Strings are scanned 8 bytes at a time: every special byte must be seen
 * at every offset within a word, and the other quote is ordinary. */
static void
test_string_scan_offsets(void **state)
{
	static const struct {
		char		 byte;
		const char	*want;	/* with the byte at %zu */
	} cases[] = {
		{ '\'', "msg:\"%s'%s\"" },
		{ '\x01', "err:" },
		{ '\x1f', "err:" },
	};
	char in[128], want[128], a[32], b[32];

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
		for (size_t at = 0; at < 20; at++) {
			struct json_stream *s = json_stream_new();
			char *got;

			memset(a, 'x', at);
			a[at] = '\0';
			memset(b, 'y', 19 - at);
			b[19 - at] = '\0';
			snprintf(in, sizeof(in), "\"%s%c%s\"", a, cases[c].byte, b);
			snprintf(want, sizeof(want), cases[c].want, a, b);
			got = one_event(s, in, strlen(in));
			if (cases[c].byte == '\'')
				assert_string_equal(got, want);
			else
				assert_true(strncmp(got, "err:", 4) == 0);
			free(got);
			json_stream_free(s);
		}
	/* Single-quoted: the double quote is ordinary, the single one ends. */
	expect("'aaaaaaaaaa\"bbbbbbbbbbbbbbbbbbbbbbbb'", "msg:\"aaaaaaaaaa\\\"bbbbbbbbbbbbbbbbbbbbbbbb\"");
	expect("\"aaaaaaaaaaaaaaa\\nbbbbbbbbbb\"", "msg:\"aaaaaaaaaaaaaaa\\nbbbbbbbbbb\"");
	expect("\"aaaaaaaaaaaaaaa\xc3\xa9" "bbbbbbbb\"", "msg:\"aaaaaaaaaaaaaaa\xc3\xa9" "bbbbbbbb\"");
}

/* The lexer tells the parser which strings are ASCII without escapes (the
 * parser then takes them as they are): a non-ASCII byte or an escape at any
 * offset of two 16-byte blocks and the tail, in any string of a message,
 * fed at once or a byte at a time, must still reach the checking path. */
static void
test_plain_strings_flagged(void **state)
{
	static const struct {
		const char	*piece;
		const char	*want;	/* the error, or NULL for a message */
	} cases[] = {
		{ "\x80", "JSON parse error, invalid UTF-8 sequence in string" },
		{ "\xc3", "JSON parse error, invalid UTF-8 sequence in string" },
		{ "\xc3\xa9", NULL },
		{ "\\n", NULL },
		{ "\\u00e9", NULL },
	};
	char in[256], a[48], b[48];

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
		for (size_t at = 0; at < 40; at++)
			for (int bytewise = 0; bytewise < 2; bytewise++) {
				struct json_stream *s = json_stream_new();
				json_t *msg = NULL;
				char *err = NULL;
				size_t n;

				memset(a, 'x', at);
				a[at] = '\0';
				memset(b, 'y', 39 - at);
				b[39 - at] = '\0';
				/* A plain string before and after the one under test. */
				n = (size_t)snprintf(in, sizeof(in),
				    "[\"%s%s\", \"%s%s%s\", \"%s%s\"]",
				    a, b, a, cases[c].piece, b, a, b);
				if (bytewise)
					for (size_t i = 0; i < n; i++)
						json_stream_feed(s, in + i, 1);
				else
					json_stream_feed(s, in, n);
				assert_int_equal(json_stream_next(s, &msg, &err), 1);
				if (cases[c].want) {
					assert_null(msg);
					assert_string_equal(err, cases[c].want);
				} else {
					assert_non_null(msg);
					assert_true(json_is_array(msg));
					assert_int_equal(json_string_length(json_array_get(msg, 1)),
					    39 + (cases[c].piece[0] == '\\' &&
					    cases[c].piece[1] == 'n' ? 1 : 2));
					assert_int_equal(json_string_length(json_array_get(msg, 2)), 39);
				}
				json_decref(msg);
				free(err);
				json_stream_free(s);
			}
}

/*
 * Deferral: which strings stay out of the message (a plain member of the
 * top-level "arguments", at least JSON_DEFER_MIN long) and which do not,
 * what stands in for them, and that the plain API puts them back.
 */
struct defer_case {
	const char	*before, *after;	/* around the big string's text */
	char		 quote;
	size_t		 len;
	bool		 deferred;
};

static char *
big_message(const struct defer_case *c, size_t *n)
{
	size_t hb = strlen(c->before), ha = strlen(c->after);
	char *m = malloc(hb + c->len + ha + 3);

	assert_non_null(m);
	memcpy(m, c->before, hb);
	m[hb] = c->quote;
	memset(m + hb + 1, 'x', c->len);
	m[hb + 1 + c->len] = c->quote;
	memcpy(m + hb + 2 + c->len, c->after, ha + 1);
	*n = hb + c->len + ha + 2;
	return m;
}

/* Where the string's bytes start in big_message's text, less one. */
static size_t
hb_of(const struct defer_case *c)
{
	return strlen(c->before);
}

static void
test_defer_big_arguments(void **state)
{
	const size_t min = JSON_DEFER_MIN;
	const struct defer_case cases[] = {
		{ "{\"execute\":\"x\",\"arguments\":{\"a\":1,\"s\":", ",\"b\":2}}", '"', min, true },
		{ "{\"arguments\":{\"s\":", "},\"execute\":\"x\"}", '\'', min + 1, true },
		{ "{\"execute\":\"x\",\"arguments\":{\"s\":", "}}", '"', min - 1, false },
		/* Not a member of the top-level arguments: */
		{ "{\"execute\":\"x\",\"s\":", "}", '"', min, false },
		{ "{\"execute\":\"x\",\"arguments\":{\"o\":{\"s\":", "}}}", '"', min, false },
		{ "{\"execute\":\"x\",\"arguments\":{\"l\":[", "]}}", '"', min, false },
		{ "[{\"arguments\":{\"s\":", "}}]", '"', min, false },
		{ "{\"x\":{\"arguments\":{\"s\":", "}}}", '"', min, false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int api = 0; api < 2; api++) {
			struct json_stream *s = json_stream_new();
			struct json_big *big = NULL;
			json_t *msg = NULL, *args, *v;
			char *err = NULL, *text;
			size_t n;

			json_stream_defer(s, JSON_DEFER_MIN);
			text = big_message(&cases[i], &n);
			json_stream_feed(s, text, n);
			if (api == 0)
				assert_int_equal(json_stream_next_big(s, &msg, &err, &big), 1);
			else
				assert_int_equal(json_stream_next(s, &msg, &err), 1);
			assert_non_null(msg);
			args = json_object_get(msg, "arguments");
			if (api == 0 && cases[i].deferred) {
				assert_non_null(big);
				assert_null(big->next);
				assert_string_equal(big->key, "s");
				assert_ptr_equal(big->parent, args);
				assert_ptr_equal(json_object_get(args, "s"), big->placeholder);
				assert_string_equal(json_string_value(big->placeholder), "");
				assert_int_equal(big->len, cases[i].len);
				assert_int_equal(strlen(big->str), cases[i].len);
				assert_int_equal(strspn(big->str, "x"), cases[i].len);
				/* Put back: the message as the text says. */
				assert_int_equal(json_big_materialize(&big), 0);
				assert_null(big);
			} else
				assert_null(big);
			/* Wherever the string is, it is now in the message, whole. */
			v = json_object_get(args ? args : msg, "s");
			if (v == NULL && json_is_array(msg))
				v = json_object_get(json_object_get(json_array_get(msg, 0),
				    "arguments"), "s");
			if (v == NULL && json_object_get(msg, "x"))
				v = json_object_get(json_object_get(json_object_get(msg, "x"),
				    "arguments"), "s");
			if (v == NULL && args && json_object_get(args, "o"))
				v = json_object_get(json_object_get(args, "o"), "s");
			if (v == NULL && args && json_object_get(args, "l"))
				v = json_array_get(json_object_get(args, "l"), 0);
			assert_non_null(v);
			assert_int_equal(json_string_length(v), cases[i].len);
			json_decref(msg);
			free(text);
			json_stream_free(s);
		}
	}
}

/* Not deferred: off by default, escapes, non-ASCII. A deferred string in
 * a message that then fails, or in one still queued at reset or free, is
 * freed with it (ASan and valgrind runs check). */
static void
test_defer_not_and_dropped(void **state)
{
	static const char *const tails[] = { "\\n", "\xc3\xa9" };
	const size_t min = JSON_DEFER_MIN;
	struct defer_case c = { "{\"arguments\":{\"s\":", "}}", '"', min, true };
	struct json_big *big = NULL;
	json_t *msg = NULL;
	char *err = NULL, *text;
	size_t n;

	(void)state;
	/* Off by default. */
	{
		struct json_stream *s = json_stream_new();

		text = big_message(&c, &n);
		json_stream_feed(s, text, n);
		assert_int_equal(json_stream_next_big(s, &msg, &err, &big), 1);
		assert_null(big);
		assert_int_equal(json_string_length(json_object_get(
		    json_object_get(msg, "arguments"), "s")), min);
		json_decref(msg);
		free(text);
		json_stream_free(s);
	}
	for (size_t t = 0; t < 2; t++) {
		struct json_stream *s = json_stream_new();
		size_t tl = strlen(tails[t]);

		json_stream_defer(s, JSON_DEFER_MIN);
		text = big_message(&c, &n);
		memcpy(text + n - 3 - tl, tails[t], tl);	/* inside the string */
		json_stream_feed(s, text, n);
		assert_int_equal(json_stream_next_big(s, &msg, &err, &big), 1);
		assert_non_null(msg);
		assert_null(big);
		json_decref(msg);
		free(text);
		json_stream_free(s);
	}
	/* Fails after the big string: an error, nothing deferred. */
	{
		struct json_stream *s = json_stream_new();
		struct defer_case bad = { "{\"arguments\":{\"s\":", ",\"s\":1}}", '"', min, true };

		json_stream_defer(s, JSON_DEFER_MIN);
		text = big_message(&bad, &n);
		json_stream_feed(s, text, n);
		assert_int_equal(json_stream_next_big(s, &msg, &err, &big), 1);
		assert_null(msg);
		assert_null(big);
		assert_string_equal(err, "JSON parse error, duplicate key");
		free(err);
		/* Two queued with big strings in them (the text without its
		 * duplicate): reset, then free. */
		json_stream_feed(s, text, n - 8);
		json_stream_feed(s, "}}", 2);
		json_stream_feed(s, text, n - 8);
		json_stream_feed(s, "}}", 2);
		assert_true(json_stream_ready(s));
		json_stream_reset(s);
		assert_false(json_stream_ready(s));
		json_stream_feed(s, text, n - 8);
		json_stream_feed(s, "}}", 2);
		free(text);
		json_stream_free(s);
	}
}

/* Strings past JSON_DEFER_MIN get room for the last one's length at once
 * (the lexer's hint): equal, longer, much shorter and just-too-short ones
 * in a row, fed as a socket would, each arrives whole, deferred or not. */
static void
test_big_hint_sizes(void **state)
{
	const size_t min = JSON_DEFER_MIN;
	const size_t sizes[] = { min, 3 * min, 3 * min, 3 * min + 1, min - 1,
	    min + 1, 2 * min + 7, 2 * min + 6 };

	(void)state;
	for (int defer = 0; defer < 2; defer++) {
		struct json_stream *s = json_stream_new();

		json_stream_defer(s, defer ? JSON_DEFER_MIN : 0);
		for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			struct defer_case c = { "{\"arguments\":{\"s\":", "}}", '"', sizes[k], true };
			struct json_big *big = NULL;
			json_t *msg = NULL, *v;
			char *err = NULL, *text;
			const char *str;
			size_t n, len;

			text = big_message(&c, &n);
			text[hb_of(&c) + sizes[k]] = 'z';	/* the last byte */
			for (size_t off = 0; off < n; off += 65536)
				json_stream_feed(s, text + off, n - off < 65536 ? n - off : 65536);
			assert_int_equal(json_stream_next_big(s, &msg, &err, &big), 1);
			assert_non_null(msg);
			v = json_object_get(json_object_get(msg, "arguments"), "s");
			if (big) {
				assert_true(defer && sizes[k] >= min);
				str = big->str;
				len = big->len;
			} else {
				assert_false(defer && sizes[k] >= min);
				str = json_string_value(v);
				len = json_string_length(v);
			}
			assert_int_equal(len, sizes[k]);
			assert_int_equal(strspn(str, "x"), sizes[k] - 1);
			assert_int_equal(str[sizes[k] - 1], 'z');
			json_big_free(big);
			json_decref(msg);
			free(text);
		}
		json_stream_free(s);
	}
}

static void
test_split_anywhere(void **state)
{
	const char *req = "{\"execute\":\"guest-sync\",\"arguments\":{\"id\":12345}}";
	size_t len = strlen(req);

	(void)state;
	for (size_t cut = 1; cut < len; cut++) {
		struct json_stream *s = json_stream_new();
		json_t *msg;
		char *err;

		json_stream_feed(s, req, cut);
		assert_int_equal(json_stream_next(s, &msg, &err), 0);
		assert_true(json_stream_partial(s));
		json_stream_feed(s, req + cut, len - cut);
		assert_int_equal(json_stream_next(s, &msg, &err), 1);
		assert_non_null(msg);
		json_decref(msg);
		json_stream_free(s);
	}
}

static void
test_pipelined(void **state)
{
	struct json_stream *s = json_stream_new();
	json_t *msg;
	char *err;
	int n = 0;

	(void)state;
	const char *in = "{\"a\":1}{\"b\":2}\n[3] 4 ";

	json_stream_feed(s, in, strlen(in));
	while (json_stream_next(s, &msg, &err)) {
		assert_non_null(msg);
		json_decref(msg);
		n++;
	}
	assert_int_equal(n, 4);
	json_stream_free(s);
}

static void
test_ff_recovers_partial(void **state)
{
	struct json_stream *s = json_stream_new();
	json_t *msg;
	char *err;

	(void)state;
	json_stream_feed(s, "{\"execute\":\"guest-sy", 20);
	json_stream_feed(s, "\xff{\"ok\":1}", 9);
	assert_int_equal(json_stream_next(s, &msg, &err), 1);
	assert_null(msg);
	assert_string_equal(err, "JSON parse error, stray '\"guest-sy\xef\xbf\xbd'");
	free(err);
	assert_int_equal(json_stream_next(s, &msg, &err), 1);
	assert_non_null(json_object_get(msg, "ok"));
	json_decref(msg);
	json_stream_free(s);
}

static char *
nested(size_t depth)
{
	char *p = malloc(depth * 2 + 2), *q = p;

	for (size_t i = 0; i < depth; i++)
		*q++ = '[';
	for (size_t i = 0; i < depth; i++)
		*q++ = ']';
	*q = '\0';
	return p;
}

static void
test_nesting_limit(void **state)
{
	struct json_stream *s = json_stream_new();
	char *at = nested(JSON_MAX_NESTING), *past = nested(JSON_MAX_NESTING + 1);
	char *got;

	(void)state;
	got = one_event(s, at, strlen(at));
	assert_true(strncmp(got, "msg:[[", 6) == 0);
	free(got);
	/* One error, then the rest of the message is skipped. */
	got = one_event(s, past, strlen(past));
	assert_string_equal(got, "err:JSON nesting depth limit exceeded");
	free(got);
	got = one_event(s, "{\"after\":1}", 11);
	assert_string_equal(got, "msg:{\"after\":1}");
	free(got);
	free(at);
	free(past);
	json_stream_free(s);
}

static void
test_token_count_limit(void **state)
{
	struct json_stream *s = json_stream_new();
	/* "[" + n ones separated by commas + "]" is 2n+1 tokens. */
	size_t n_at = (JSON_MAX_TOKEN_COUNT - 1) / 2, n_past = n_at + 1;
	char *buf = malloc(n_past * 2 + 3), *got;

	(void)state;
	for (int round = 0; round < 2; round++) {
		size_t n = round ? n_past : n_at, k = 0;
		buf[k++] = '[';
		for (size_t i = 0; i < n; i++) {
			buf[k++] = '1';
			buf[k++] = i + 1 < n ? ',' : ']';
		}
		got = one_event(s, buf, k);
		if (round == 0)
			assert_true(strncmp(got, "msg:[1,1", 8) == 0);
		else
			assert_string_equal(got, "err:JSON token count limit exceeded");
		free(got);
	}
	free(buf);
	json_stream_free(s);
}

static void
test_token_size_limit(void **state)
{
	struct json_stream *s = json_stream_new();
	/* A lone string token: its bytes (quotes included) + 1 must not
	 * exceed the limit. */
	size_t at = JSON_MAX_TOKEN_SIZE - 1;
	char *buf = malloc(at + 2), *got;

	(void)state;
	memset(buf, 'a', at + 1);
	buf[0] = '"';
	buf[at - 1] = '"';
	got = one_event(s, buf, at);
	assert_true(strncmp(got, "msg:\"aaa", 8) == 0);
	free(got);
	buf[at - 1] = 'a';
	buf[at] = '"';
	got = one_event(s, buf, at + 1);
	assert_string_equal(got, "err:JSON token size limit exceeded");
	free(got);
	got = one_event(s, "[1]", 3);
	assert_string_equal(got, "msg:[1]");
	free(got);
	free(buf);
	json_stream_free(s);
}

/* A raised or lowered message limit: the token bytes plus one must fit,
 * so 16 bytes of tokens need a limit of 17. */
static void
test_max_bytes(void **state)
{
	static const char msg[] = "{\"a\": \"xxxxxxxx\"}";	/* 16 token bytes */
	char *err = NULL;
	json_t *v;

	(void)state;
	v = json_parse_text(msg, sizeof(msg) - 1, 17, &err);
	assert_non_null(v);
	assert_string_equal(json_string_value(json_object_get(v, "a")),
	    "xxxxxxxx");
	json_decref(v);
	v = json_parse_text(msg, sizeof(msg) - 1, 16, &err);
	assert_null(v);
	assert_string_equal(err, "JSON token size limit exceeded");
	free(err);
	/* Past the default: a 64 MiB string, as a 48 MiB guest-file-read
	 * reply has. */
	size_t n = JSON_MAX_TOKEN_SIZE + 16;
	char *big = malloc(n);
	assert_non_null(big);
	memset(big, 'x', n);
	big[0] = '"';
	big[n - 1] = '"';
	v = json_parse_text(big, n, JSON_MAX_TOKEN_SIZE, &err);
	assert_null(v);
	free(err);
	v = json_parse_text(big, n, n + 1, &err);
	assert_non_null(v);
	assert_int_equal(json_string_length(v), n - 2);
	json_decref(v);
	free(big);
}

static void
test_parse_text(void **state)
{
	char *err;
	json_t *v;

	(void)state;
	v = json_parse_text("{\"a\": 1}", 8, JSON_MAX_TOKEN_SIZE, &err);
	assert_non_null(v);
	json_decref(v);
	v = json_parse_text("42", 2, JSON_MAX_TOKEN_SIZE, &err);
	assert_int_equal(json_integer_value(v), 42);
	json_decref(v);
	v = json_parse_text("{} {}", 5, JSON_MAX_TOKEN_SIZE, &err);
	assert_null(v);
	free(err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_string_scan_offsets),
		cmocka_unit_test(test_plain_strings_flagged),
		cmocka_unit_test(test_defer_big_arguments),
		cmocka_unit_test(test_defer_not_and_dropped),
		cmocka_unit_test(test_big_hint_sizes),
		cmocka_unit_test(test_split_anywhere),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_ff_recovers_partial),
		cmocka_unit_test(test_nesting_limit),
		cmocka_unit_test(test_token_count_limit),
		cmocka_unit_test(test_token_size_limit),
		cmocka_unit_test(test_parse_text),
		cmocka_unit_test(test_max_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

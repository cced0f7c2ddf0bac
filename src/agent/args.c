/*
 * Generic argument validation from the schema tables. The error texts and
 * the order of checks are those of qemu's QObject input visitor: members in
 * schema order (wrong type, missing), then the first unexpected member.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-stream.h"
#include "schema.h"
#include "utf8.h"

static const char *
expected(const struct qga_type *t)
{
	switch (t->kind) {
	case QGA_T_INT:
	case QGA_T_UINT64:
		return "integer";
	case QGA_T_STR:
	case QGA_T_ENUM:
		return "string";
	case QGA_T_BOOL:
		return "boolean";
	case QGA_T_NUMBER:
		return "number";
	case QGA_T_LIST:
		return "array";
	case QGA_T_STRUCT:
	case QGA_T_EMPTY:
		return "object";
	default:
		return t->name;
	}
}

int
qga_enum_lookup(const struct qga_type *t, const char *s)
{
	for (size_t i = 0; i < t->count; i++)
		if (strcmp(t->values[i], s) == 0)
			return (int)i;
	return -1;
}

static int
bad_type(const struct qga_type *t, const char *path, struct qga_error *err)
{
	qga_error_set(err, "Invalid parameter type for '%s', expected: %s",
	    path, expected(t));
	return -1;
}

/* The JSON type a branch of an alternate is chosen by. */
static int
branch_matches(const struct qga_type *t, json_t *v)
{
	switch (t->kind) {
	case QGA_T_INT:
	case QGA_T_UINT64:
		return json_is_integer(v);
	case QGA_T_NUMBER:
		return json_is_number(v);
	case QGA_T_STR:
	case QGA_T_ENUM:
		return json_is_string(v);
	case QGA_T_BOOL:
		return json_is_boolean(v);
	case QGA_T_LIST:
		return json_is_array(v);
	case QGA_T_STRUCT:
	case QGA_T_EMPTY:
		return json_is_object(v);
	default:
		return 1;
	}
}

static int check_struct(const struct qga_type *t, json_t *obj,
    const char *prefix, void *out, bool negotiated, struct qga_error *err);

int
qga_value_check(const struct qga_type *t, json_t *v, const char *path,
    struct qga_error *err)
{
	char *sub;
	size_t i;
	int rc;

	switch (t->kind) {
	case QGA_T_STR:
		return json_is_string(v) ? 0 : bad_type(t, path, err);
	case QGA_T_INT:
		return json_is_integer(v) ? 0 : bad_type(t, path, err);
	case QGA_T_UINT64:
		if (json_is_integer(v))
			return 0;
		/* Values above INT64_MAX arrive as doubles (jansson has no uint64). */
		if (json_is_real(v)) {
			double d = json_real_value(v);
			/* UINT64_MAX itself rounds up to 2^64 as a double. */
			if (d >= 9223372036854775808.0 && d <= 18446744073709551616.0 &&
			    d == floor(d))
				return 0;
			qga_error_set(err, "Parameter '%s' expects uint64", path);
			return -1;
		}
		return bad_type(t, path, err);
	case QGA_T_BOOL:
		return json_is_boolean(v) ? 0 : bad_type(t, path, err);
	case QGA_T_NUMBER:
		return json_is_number(v) ? 0 : bad_type(t, path, err);
	case QGA_T_ANY:
		return 0;
	case QGA_T_ENUM:
		if (!json_is_string(v))
			return bad_type(t, path, err);
		if (qga_enum_lookup(t, json_string_value(v)) < 0) {
			qga_error_set(err, "Parameter '%s' does not accept value '%s'",
			    path, json_string_value(v));
			return -1;
		}
		return 0;
	case QGA_T_EMPTY:
		if (!json_is_object(v))
			return bad_type(t, path, err);
		return check_struct(t, v, path, NULL, false, err);
	case QGA_T_STRUCT:
		if (!json_is_object(v))
			return bad_type(t, path, err);
		return check_struct(t, v, path, NULL, false, err);
	case QGA_T_ALTERNATE:
		for (i = 0; i < t->count; i++)
			if (branch_matches(t->members[i].type, v))
				return qga_value_check(t->members[i].type, v, path, err);
		return bad_type(t, path, err);
	case QGA_T_LIST:
		if (!json_is_array(v))
			return bad_type(t, path, err);
		for (i = 0; i < json_array_size(v); i++) {
			if (asprintf(&sub, "%s[%zu]", path, i) < 0)
				return -1;
			rc = qga_value_check(t->elem, json_array_get(v, i), sub, err);
			free(sub);
			if (rc < 0)
				return -1;
		}
		return 0;
	}
	return -1;
}

uint64_t
qga_json_uint64(const json_t *v)
{
	/* qemu wraps negative values into uint64 the same way. */
	if (json_is_integer(v))
		return (uint64_t)json_integer_value(v);
	/* Above INT64_MAX the value is a double; UINT64_MAX rounds to 2^64,
	 * which a plain conversion would turn into anything. */
	if (json_real_value(v) >= 18446744073709551616.0)
		return UINT64_MAX;
	return (uint64_t)json_real_value(v);
}

static void
store(const struct qga_member *m, json_t *v, char *out)
{
	void *field = out + m->offset;

	if (m->has_offset != QGA_NO_OFFSET)
		*(bool *)(out + m->has_offset) = true;
	switch (m->type->kind) {
	case QGA_T_STR:
		*(const char **)field = json_string_value(v);
		break;
	case QGA_T_INT:
		*(int64_t *)field = json_integer_value(v);
		break;
	case QGA_T_UINT64:
		*(uint64_t *)field = qga_json_uint64(v);
		break;
	case QGA_T_BOOL:
		*(bool *)field = json_is_true(v);
		break;
	case QGA_T_NUMBER:
		*(double *)field = json_number_value(v);
		break;
	case QGA_T_ENUM:
		*(int *)field = qga_enum_lookup(m->type, json_string_value(v));
		break;
	default:
		*(const json_t **)field = v;
		break;
	}
}

static char *
member_path(const char *prefix, const char *name)
{
	char *p = NULL;

	if (prefix == NULL || *prefix == '\0')
		return strdup(name);
	if (asprintf(&p, "%s.%s", prefix, name) < 0)
		return NULL;
	return p;
}

static bool
member_exists(const struct qga_member *m, bool negotiated)
{
	return !m->negotiated_only || negotiated;
}

static const struct qga_member *
find_member(const struct qga_type *t, const char *name, bool negotiated)
{
	for (size_t i = 0; t && i < t->count; i++)
		if (strcmp(t->members[i].name, name) == 0 &&
		    member_exists(&t->members[i], negotiated))
			return &t->members[i];
	return NULL;
}

static int
check_struct(const struct qga_type *t, json_t *obj, const char *prefix,
    void *out, bool negotiated, struct qga_error *err)
{
	const char *key;
	json_t *v;
	char *path, *shown;
	size_t i, keylen;
	int rc = 0;

	for (i = 0; i < t->count && rc == 0; i++) {
		const struct qga_member *m = &t->members[i];

		if (!member_exists(m, negotiated))
			continue;
		v = json_object_get(obj, m->name);
		path = member_path(prefix, m->name);
		if (path == NULL)
			return -1;
		if (v == NULL) {
			if (!m->optional) {
				qga_error_set(err, "Parameter '%s' is missing", path);
				rc = -1;
			}
		} else if (qga_value_check(m->type, v, path, err) < 0)
			rc = -1;
		else if (out)
			store(m, v, out);
		free(path);
	}
	if (rc < 0)
		return rc;
	json_object_keylen_foreach(obj, key, keylen, v) {
		/* "id\u0000x" is not "id": a NUL never matches a member. */
		if (find_member(t, key, negotiated) == NULL || keylen != strlen(key)) {
			shown = utf8_sanitize(key, keylen);
			path = member_path(prefix, shown ? shown : key);
			free(shown);
			qga_error_set(err, "Parameter '%s' is unexpected",
			    path ? path : key);
			free(path);
			return -1;
		}
	}
	return 0;
}

/*
 * A deferred string stays out of args only as the value of a string
 * member: checks of any other type (an enum's error quotes the value)
 * see the real string. As an unexpected member it may stay, too: that
 * error names the key only.
 */
static int
materialize_non_strings(const struct qga_command *cmd, json_t *args,
    struct json_big **big, bool negotiated)
{
	while (*big) {
		const struct qga_member *m = find_member(cmd->args, (*big)->key,
		    negotiated);

		if ((*big)->parent != args || (m && m->type->kind != QGA_T_STR)) {
			if (json_big_materialize(big) < 0)
				return -1;
		} else
			big = &(*big)->next;
	}
	return 0;
}

int
qga_args_check(const struct qga_command *cmd, json_t *args,
    struct json_big **big, void *out, bool negotiated, struct qga_error *err)
{
	static const struct qga_type none = { .kind = QGA_T_STRUCT, .name = "none" };
	int rc;

	if (cmd->args_size)
		memset(out, 0, cmd->args_size);
	if (big && materialize_non_strings(cmd, args, big, negotiated) < 0) {
		qga_error_set(err, "out of memory");
		return -1;
	}
	if (args == NULL)
		args = json_object();
	else
		json_incref(args);
	rc = check_struct(cmd->args ? cmd->args : &none, args, "",
	    cmd->args ? out : NULL, negotiated, err);
	/* The string members whose bytes were kept out of args. */
	for (struct json_big *b = big && rc == 0 ? *big : NULL; b; b = b->next) {
		const struct qga_member *m = find_member(cmd->args, b->key, negotiated);

		if (m && json_object_get(args, b->key) == b->placeholder)
			*(const char **)((char *)out + m->offset) = b->str;
	}
	json_decref(args);
	return rc;
}

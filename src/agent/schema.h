/*
 * The command schema as C data (generated from schema/qga.json by
 * tools/gen-schema.py) and the generic argument validation built on it.
 */
#ifndef QGA_SCHEMA_H
#define QGA_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "error.h"

struct qga_ctx;

enum qga_kind {
	QGA_T_STR, QGA_T_INT, QGA_T_UINT64, QGA_T_BOOL, QGA_T_NUMBER, QGA_T_ANY,
	QGA_T_ENUM, QGA_T_STRUCT, QGA_T_ALTERNATE, QGA_T_LIST, QGA_T_EMPTY
};

#define QGA_NO_OFFSET	((size_t)-1)

struct qga_member {
	const char		*name;
	const struct qga_type	*type;
	bool			 optional;
	size_t			 offset;	/* in a command's argument struct */
	size_t			 has_offset;	/* its has_ flag, when optional */
	bool			 negotiated_only; /* an extension: only for negotiated sessions */
};

struct qga_type {
	enum qga_kind		 kind;
	const char		*name;
	const struct qga_type	*elem;		/* QGA_T_LIST */
	const char *const	*values;	/* QGA_T_ENUM */
	const struct qga_member	*members;	/* QGA_T_STRUCT, QGA_T_ALTERNATE */
	size_t			 count;
};

typedef json_t *(*qga_handler)(const void *args, struct qga_ctx *ctx,
    struct qga_error *err);

struct qga_command {
	const char		*name;
	const struct qga_type	*args;		/* NULL: takes no arguments */
	size_t			 args_size;
	const struct qga_type	*returns;	/* NULL: no success response */
	bool			 success_response;
	bool			 freeze_safe;
	bool			 handshake;	/* request-negotiation, qmp_capabilities */
	bool			 blocking;	/* may block: runs on the worker thread */
	bool			 allow_oob;	/* may be sent with exec-oob */
	bool			 negotiated_only; /* exists for negotiated sessions only */
	const char		*since;
	qga_handler		 call;
};

/* Copy the commands whose handlers are linked in, in schema order. */
size_t	qga_schema_commands(struct qga_command *out, size_t max);

/*
 * Check args (an object, or NULL for none) against a command's argument
 * type, with qemu's error texts, and fill the command's argument struct at
 * out (args_size bytes). Strings and nested values point into args, which
 * must outlive their use. Arguments that are extensions exist only when
 * negotiated is set; otherwise they are unexpected, as with qemu-ga.
 * big: the strings the parser kept out of args (json-stream.h); a string
 * argument takes its bytes from there, anything else is materialized
 * into args first. They too must outlive the arguments' use.
 */
struct json_big;
int	qga_args_check(const struct qga_command *cmd, json_t *args,
	    struct json_big **big, void *out, bool negotiated,
	    struct qga_error *err);

/* Check that v has the shape of type t (used by tests for replies, too). */
int	qga_value_check(const struct qga_type *t, json_t *v, const char *path,
	    struct qga_error *err);

/* The value of a JSON number already checked as a uint64 member (nested
 * members reach handlers as JSON). */
uint64_t qga_json_uint64(const json_t *v);

/* Index of s in an enum, or -1. */
int	qga_enum_lookup(const struct qga_type *t, const char *s);

#endif

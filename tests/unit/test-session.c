/* Unit tests of the negotiation state machine and argument validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "qga-schema-gen.h"
#include "session.h"

static const struct qga_command ping = { .name = "guest-ping", .success_response = true };
static const struct qga_command sync_cmd = { .name = "guest-sync", .success_response = true };
static const struct qga_command neg = { .name = "request-negotiation", .handshake = true };

static int
gate(struct session *s, const struct qga_command *c, bool *warn, const char **desc)
{
	static char last[256];
	struct qga_error err = { 0 };
	int rc = session_gate(s, c, warn, &err);

	last[0] = '\0';
	if (err.desc)
		snprintf(last, sizeof(last), "%s: %s", err.cls, err.desc);
	*desc = last;
	qga_error_clear(&err);
	return rc;
}

static void
test_optional(void **state)
{
	struct session s = { .policy = QGA_NEGOTIATION_OPTIONAL };
	const char *desc;
	bool warn;

	(void)state;
	session_begin(&s);
	assert_int_equal(gate(&s, &ping, &warn, &desc), 0);
	assert_true(warn);
	assert_int_equal(gate(&s, &ping, &warn, &desc), 0);
	assert_false(warn);	/* once per session */

	json_decref(session_negotiate(&s));
	assert_int_equal(s.state, SESSION_NEGOTIATING);
	/* A command mid-handshake: a legacy client took over. */
	assert_int_equal(gate(&s, &ping, &warn, &desc), 0);
	assert_int_equal(s.state, SESSION_LEGACY);

	json_decref(session_negotiate(&s));
	assert_int_equal(session_capabilities(&s, NULL, &(struct qga_error){ 0 }), 0);
	assert_int_equal(s.state, SESSION_NEGOTIATED);
	assert_int_equal(gate(&s, &ping, &warn, &desc), 0);
	session_sync(&s);
	assert_int_equal(s.state, SESSION_LEGACY);
}

static void
test_required(void **state)
{
	struct session s = { .policy = QGA_NEGOTIATION_REQUIRED };
	struct qga_error err = { 0 };
	const char *desc;
	bool warn;

	(void)state;
	session_begin(&s);
	assert_int_equal(gate(&s, &ping, &warn, &desc), -1);
	assert_string_equal(desc, "CommandNotFound: Expecting capabilities negotiation with 'request-negotiation'");
	assert_int_equal(gate(&s, &sync_cmd, &warn, &desc), 0);
	assert_int_equal(gate(&s, &neg, &warn, &desc), 0);
	json_decref(session_negotiate(&s));
	assert_int_equal(gate(&s, &ping, &warn, &desc), -1);
	assert_string_equal(desc, "CommandNotFound: Expecting capabilities negotiation with 'qmp_capabilities'");
	assert_int_equal(session_capabilities(&s, NULL, &err), 0);
	assert_int_equal(gate(&s, &ping, &warn, &desc), 0);
	assert_int_equal(session_capabilities(&s, NULL, &err), -1);
	assert_string_equal(err.desc, "Capabilities negotiation is already complete, command ignored");
	qga_error_clear(&err);
}

static void
test_capabilities(void **state)
{
	struct session s = { .policy = QGA_NEGOTIATION_OPTIONAL };
	struct qga_error err = { 0 };
	json_t *enable = json_pack("[s,s]", "oob", "events");
	json_t *g;

	(void)state;
	session_begin(&s);
	assert_int_equal(session_capabilities(&s, NULL, &err), -1);
	assert_string_equal(err.cls, "CommandNotFound");
	qga_error_clear(&err);

	g = session_negotiate(&s);
	assert_int_equal(json_array_size(json_object_get(json_object_get(g, "QMP"),
	    "capabilities")), 0);
	json_decref(g);
	assert_int_equal(session_capabilities(&s, enable, &err), -1);
	assert_string_equal(err.desc, "Capability oob,events not available");
	qga_error_clear(&err);

	s.offered = QGA_CAP_OOB | QGA_CAP_EVENTS;
	g = session_negotiate(&s);
	assert_int_equal(json_array_size(json_object_get(json_object_get(g, "QMP"),
	    "capabilities")), 2);
	json_decref(g);
	assert_int_equal(session_capabilities(&s, enable, &err), 0);
	assert_int_equal(s.enabled, QGA_CAP_OOB | QGA_CAP_EVENTS);
	json_decref(enable);
}

static const struct qga_command *
schema_command(const char *name)
{
	static struct qga_command cmds[QGA_SCHEMA_MAX_COMMANDS];
	size_t n = qga_schema_commands(cmds, QGA_SCHEMA_MAX_COMMANDS);

	for (size_t i = 0; i < n; i++)
		if (strcmp(cmds[i].name, name) == 0)
			return &cmds[i];
	return NULL;
}

static void
check_args(const char *cmdname, const char *json, const char *want)
{
	const struct qga_command *cmd = schema_command(cmdname);
	struct qga_error err = { 0 };
	char buf[256];
	json_t *args = json_loads(json, 0, NULL);
	int rc;

	assert_non_null(cmd);
	rc = qga_args_check(cmd, args, NULL, buf, false, &err);
	if (want == NULL)
		assert_int_equal(rc, 0);
	else {
		assert_int_equal(rc, -1);
		assert_string_equal(err.desc, want);
	}
	qga_error_clear(&err);
	json_decref(args);
}

static void
test_args(void **state)
{
	const struct qga_command *cmd = schema_command("guest-sync");
	struct qga_args_guest_sync a;
	json_t *args = json_pack("{s:I}", "id", (json_int_t)-5);

	(void)state;
	assert_int_equal(qga_args_check(cmd, args, NULL, &a, false, &(struct qga_error){ 0 }), 0);
	assert_int_equal(a.id, -5);
	json_decref(args);

	check_args("guest-ping", "{}", NULL);
	check_args("guest-ping", "{\"foo\": 42}", "Parameter 'foo' is unexpected");
	check_args("guest-sync", "{}", "Parameter 'id' is missing");
	check_args("guest-sync", "{\"id\": \"x\"}", "Invalid parameter type for 'id', expected: integer");
	check_args("qmp_capabilities", "{\"enable\": [\"x\"]}", "Parameter 'enable[0]' does not accept value 'x'");
	check_args("qmp_capabilities", "{\"enable\": [1]}", "Invalid parameter type for 'enable[0]', expected: string");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_optional),
		cmocka_unit_test(test_required),
		cmocka_unit_test(test_capabilities),
		cmocka_unit_test(test_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

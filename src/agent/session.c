/* The negotiation state machine. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "session.h"
#include "version.h"

static const char *const cap_names[] = { "oob", "events" };
#define NCAPS	(sizeof(cap_names) / sizeof(cap_names[0]))

const char *
session_cap_name(unsigned bit)
{
	for (size_t i = 0; i < NCAPS; i++)
		if (bit == 1u << i)
			return cap_names[i];
	return NULL;
}

void
session_begin(struct session *s)
{
	s->state = SESSION_LEGACY;
	s->enabled = 0;
	s->warned = false;
}

bool
session_is_sync(const struct qga_command *cmd)
{
	return strcmp(cmd->name, "guest-sync") == 0 ||
	    strcmp(cmd->name, "guest-sync-delimited") == 0;
}

static void
note_legacy(struct session *s, bool *legacy_warning)
{
	if (!s->warned) {
		s->warned = true;
		*legacy_warning = true;
	}
}

int
session_gate(struct session *s, const struct qga_command *cmd,
    bool *legacy_warning, struct qga_error *err)
{
	*legacy_warning = false;
	if (cmd->handshake || session_is_sync(cmd))
		return 0;
	switch (s->state) {
	case SESSION_NEGOTIATED:
		return 0;
	case SESSION_NEGOTIATING:
		if (s->policy == QGA_NEGOTIATION_REQUIRED) {
			qga_error_set_class(err, QGA_ERR_NOT_FOUND,
			    "Expecting capabilities negotiation with 'qmp_capabilities'");
			return -1;
		}
		/* A client that does not finish the handshake is a legacy
		 * client that followed a negotiating one: serve it. */
		s->state = SESSION_LEGACY;
		s->enabled = 0;
		note_legacy(s, legacy_warning);
		return 0;
	case SESSION_LEGACY:
		if (s->policy == QGA_NEGOTIATION_REQUIRED) {
			qga_error_set_class(err, QGA_ERR_NOT_FOUND,
			    "Expecting capabilities negotiation with 'request-negotiation'");
			return -1;
		}
		if (s->policy == QGA_NEGOTIATION_OPTIONAL)
			note_legacy(s, legacy_warning);
		return 0;
	}
	return 0;
}

void
session_sync(struct session *s)
{
	s->state = SESSION_LEGACY;
	s->enabled = 0;
}

json_t *
session_negotiate(struct session *s)
{
	json_t *caps = json_array();

	s->state = SESSION_NEGOTIATING;
	s->enabled = 0;
	/* A greeting short of a capability would be a wrong answer: out of
	 * memory is NULL (and an error reply) instead. */
	for (size_t i = 0; i < NCAPS && caps; i++)
		if ((s->offered & (1u << i)) &&
		    json_array_append_new(caps, json_string(cap_names[i])) < 0) {
			json_decref(caps);
			caps = NULL;
		}
	if (caps == NULL)
		return NULL;
	return json_pack("{s:{s:{s:{s:i,s:i,s:i},s:s},s:o}}",
	    "QMP", "version", "qemu",
	    "major", QGA_COMPAT_MAJOR, "minor", QGA_COMPAT_MINOR,
	    "micro", QGA_COMPAT_MICRO,
	    "package", "qgad " QGAD_VERSION,
	    "capabilities", caps);
}

int
session_capabilities(struct session *s, const json_t *enable,
    struct qga_error *err)
{
	struct buf missing = { 0 };
	unsigned want = 0;
	size_t i, j;
	json_t *v;

	if (s->state == SESSION_NEGOTIATED) {
		qga_error_set_class(err, QGA_ERR_NOT_FOUND,
		    "Capabilities negotiation is already complete, command ignored");
		return -1;
	}
	if (s->state == SESSION_LEGACY) {
		qga_error_set_class(err, QGA_ERR_NOT_FOUND,
		    "Expecting capabilities negotiation with 'request-negotiation'");
		return -1;
	}
	json_array_foreach(enable, i, v) {
		const char *name = json_string_value(v);
		for (j = 0; j < NCAPS; j++)
			if (strcmp(cap_names[j], name) == 0)
				break;
		if (j < NCAPS && (s->offered & (1u << j))) {
			want |= 1u << j;
			continue;
		}
		/* Not a silent success if the list cannot be built. */
		if ((missing.len && buf_append(&missing, ",", 1) < 0) ||
		    buf_append(&missing, name, strlen(name)) < 0) {
			buf_free(&missing);
			qga_error_set(err, "out of memory");
			return -1;
		}
	}
	if (missing.len) {
		qga_error_set(err, "Capability %s not available", missing.data);
		buf_free(&missing);
		return -1;
	}
	s->enabled = want;
	s->state = SESSION_NEGOTIATED;
	return 0;
}

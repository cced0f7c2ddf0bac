/*
 * The request-negotiation handshake as a state machine, free of I/O.
 * docs/protocol.md specifies it; this is the one place that implements it.
 */
#ifndef QGA_SESSION_H
#define QGA_SESSION_H

#include <stdbool.h>
#include <jansson.h>

#include "config.h"
#include "error.h"
#include "schema.h"

enum session_state {
	SESSION_LEGACY,		/* nothing negotiated: exactly qemu-ga */
	SESSION_NEGOTIATING,	/* greeting sent, waiting for qmp_capabilities */
	SESSION_NEGOTIATED,	/* capabilities agreed */
};

struct session {
	enum session_state	 state;
	enum qga_negotiation	 policy;
	unsigned		 offered;	/* capability bits the agent offers */
	unsigned		 enabled;	/* capability bits agreed on */
	bool			 warned;	/* legacy warning logged for this session */
};

/* A new client (connection, or host connect on a serial port). */
void	session_begin(struct session *s);
/*
 * May cmd run now? 0 yes, -1 no with err set. Under the optional policy a
 * command in the middle of a handshake abandons it (the client is legacy)
 * and *legacy_warning is set the first time a session is seen as legacy.
 */
int	session_gate(struct session *s, const struct qga_command *cmd,
	    bool *legacy_warning, struct qga_error *err);
/* Is cmd guest-sync or guest-sync-delimited (which end a negotiated session)? */
bool	session_is_sync(const struct qga_command *cmd);
/* guest-sync and guest-sync-delimited: a client (re)starting the legacy way. */
void	session_sync(struct session *s);
/* request-negotiation: start over and return the greeting. */
json_t	*session_negotiate(struct session *s);
/* qmp_capabilities with the names to enable (a list of strings or NULL). */
int	session_capabilities(struct session *s, const json_t *enable,
	    struct qga_error *err);

/* Capability bits; their names are the QMPCapability enum of the schema. */
#define QGA_CAP_OOB	(1u << 0)
#define QGA_CAP_EVENTS	(1u << 1)
const char *session_cap_name(unsigned bit);

struct qga_ctx;
/* The session of the client being served (for the handshake commands). */
struct session *qga_ctx_session(struct qga_ctx *ctx);

#endif

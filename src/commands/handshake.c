/* request-negotiation and qmp_capabilities: the handshake commands. The
 * state machine itself is in src/agent/session.c. */
#include "ctx.h"
#include "qga-schema-gen.h"
#include "session.h"

json_t *
qmp_request_negotiation(struct qga_ctx *ctx, struct qga_error *err)
{
	json_t *g = session_negotiate(qga_ctx_session(ctx));

	if (g == NULL)
		qga_error_set(err, "out of memory");
	return g;
}

json_t *
qmp_qmp_capabilities(const struct qga_args_qmp_capabilities *args,
    struct qga_ctx *ctx, struct qga_error *err)
{
	if (session_capabilities(qga_ctx_session(ctx),
	    args->has_enable ? args->enable : NULL, err) < 0)
		return NULL;
	return json_object();
}

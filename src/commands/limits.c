/* qga-get-limits: the agent's limits and features, for negotiated sessions,
 * so that clients can pick chunk sizes without guessing. */
#include "agent.h"
#include "ctx.h"
#include "qga-schema-gen.h"

json_t *
qmp_qga_get_limits(struct qga_ctx *ctx, struct qga_error *err)
{
	json_t *features = json_array();

	(void)err;
	json_array_append_new(features, json_string("request-negotiation"));
	json_array_append_new(features, json_string("oob"));
	json_array_append_new(features, json_string("events"));
	if (qga_ctx_config(ctx)->max_clients > 1)
		json_array_append_new(features, json_string("multi-client"));
	return json_pack("{s:I,s:i,s:i,s:i,s:i,s:i,s:o}",
	    "max-message-bytes", (json_int_t)JSON_MAX_TOKEN_SIZE,
	    "max-nesting", JSON_MAX_NESTING,
	    "max-file-read-count", QGA_FILE_READ_MAX,
	    "max-exec-output-bytes", QGA_EXEC_OUTPUT_MAX,
	    "max-in-band-queue", QGA_INBAND_QUEUE_MAX,
	    "max-clients", qga_ctx_config(ctx)->max_clients,
	    "features", features);
}

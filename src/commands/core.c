/* guest-sync, guest-sync-delimited, guest-ping, guest-info. */
#include "ctx.h"
#include "log.h"
#include "qga-schema-gen.h"
#include "version.h"

json_t *
qmp_guest_sync(const struct qga_args_guest_sync *args, struct qga_ctx *ctx,
    struct qga_error *err)
{
	(void)ctx;
	(void)err;
	return json_integer(args->id);
}

json_t *
qmp_guest_sync_delimited(const struct qga_args_guest_sync_delimited *args,
    struct qga_ctx *ctx, struct qga_error *err)
{
	(void)err;
	qga_ctx_delimit_reply(ctx);
	return json_integer(args->id);
}

json_t *
qmp_guest_ping(struct qga_ctx *ctx, struct qga_error *err)
{
	(void)ctx;
	(void)err;
	qga_slog("guest-ping called");
	return json_object();
}

json_t *
qmp_guest_info(struct qga_ctx *ctx, struct qga_error *err)
{
	const struct qga_command *cmds;
	size_t n = qga_ctx_commands(ctx, &cmds);
	json_t *list = json_array(), *info;

	/* qemu-ga lists the commands in reverse registration order. */
	for (size_t i = n; i > 0 && list; i--) {
		const struct qga_command *c = &cmds[i - 1];

		if (!qga_ctx_command_visible(ctx, c))
			continue;
		/* A list short of a command would be a wrong answer. */
		if (json_array_append_new(list, json_pack("{s:s,s:b,s:b}",
		    "name", c->name,
		    "enabled", qga_ctx_command_enabled(ctx, c),
		    "success-response", c->success_response)) < 0) {
			json_decref(list);
			list = NULL;
		}
	}
	info = list ? json_pack("{s:s,s:o}", "version", QGA_COMPAT_VERSION,
	    "supported_commands", list) : NULL;
	if (info == NULL)
		qga_error_set(err, "out of memory");
	return info;
}

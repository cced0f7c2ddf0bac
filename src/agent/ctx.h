/*
 * What command handlers may ask of the agent. Handlers get a struct qga_ctx
 * and use only these calls, so every command domain stays independent of
 * the transport, the session and the main loop's internals.
 */
#ifndef QGA_CTX_H
#define QGA_CTX_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "error.h"
#include "loop.h"
#include "schema.h"

struct qga_ctx;

struct qga_loop		*qga_ctx_loop(struct qga_ctx *ctx);
const struct qga_config	*qga_ctx_config(struct qga_ctx *ctx);

/* A new file handle from the persisted counter (never reused, survives
 * restarts); -1 with err set when the state file cannot be written. */
int64_t	 qga_ctx_new_handle(struct qga_ctx *ctx, struct qga_error *err);

/* Filesystem-freeze state: the marker file, paused logging, the command
 * filter that leaves only freeze-safe commands enabled. */
bool	 qga_ctx_frozen(struct qga_ctx *ctx);
int	 qga_ctx_set_frozen(struct qga_ctx *ctx, bool frozen, struct qga_error *err);

/* Prefix the reply to the command being run with the 0xFF sentinel. */
void	 qga_ctx_delimit_reply(struct qga_ctx *ctx);

/* The registered commands, in registration (schema) order. */
size_t	 qga_ctx_commands(struct qga_ctx *ctx, const struct qga_command **cmds);
bool	 qga_ctx_command_enabled(struct qga_ctx *ctx, const struct qga_command *cmd);

/* Register a function run when the agent exits (free module state, thaw). */
void	 qga_ctx_at_exit(struct qga_ctx *ctx, void (*fn)(struct qga_ctx *ctx));

#endif

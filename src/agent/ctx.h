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

/* Limits that clients can query (qga-get-limits) and commands enforce. */
#define QGA_FILE_READ_MAX	(48 * 1024 * 1024)	/* guest-file-read count */
#define QGA_EXEC_OUTPUT_MAX	(16 * 1024 * 1024)	/* guest-exec, per stream */
#define QGA_FREEZE_TIMEOUT_MAX	86400			/* freeze watchdog, seconds */

struct qga_loop		*qga_ctx_loop(struct qga_ctx *ctx);
const struct qga_config	*qga_ctx_config(struct qga_ctx *ctx);

/* A new file handle from the persisted counter (never reused, survives
 * restarts); -1 with err set when the state file cannot be written. */
int64_t	 qga_ctx_new_handle(struct qga_ctx *ctx, struct qga_error *err);

/* Filesystem-freeze state: the marker file, paused logging, the command
 * filter that leaves only freeze-safe commands enabled. */
bool	 qga_ctx_frozen(struct qga_ctx *ctx);
int	 qga_ctx_set_frozen(struct qga_ctx *ctx, bool frozen, struct qga_error *err);

/*
 * Send an event {"event": name, "data": data, "timestamp": ...} to every
 * session that enabled the "events" capability (never to others). Takes
 * the reference to data (may be NULL). Any thread: from the worker it is
 * sent by the main thread, and this returns once it has been written to
 * the channels as far as they take it at once (waiting at most
 * QGA_EVENT_HANDOFF_MS for the main thread).
 */
void	 qga_ctx_emit_event(struct qga_ctx *ctx, const char *name, json_t *data);

/*
 * Call fn(ctx, data) on the main thread: now when called there, else as
 * soon as the main loop gets to it (before the calling job's reply). For
 * blocking commands that need the loop (timers) or events.
 */
void	 qga_ctx_run_on_main(struct qga_ctx *ctx,
	    void (*fn)(struct qga_ctx *ctx, void *data), void *data);

/*
 * A deferred reply member: the value, for the command's return object, of
 * a member that is the base64 encoding of data[0..len) (malloc'd; the
 * agent takes it, and frees it also when this fails). The bytes are
 * encoded as the reply is written, a piece at a time, straight into the
 * client's output: the agent never holds the encoded text, nor a JSON
 * string of it. One per reply (a second one is encoded at once). NULL when
 * out of memory. Any thread: the running command's.
 */
json_t	*qga_ctx_reply_base64(struct qga_ctx *ctx, void *data, size_t len);

/*
 * Commands flagged "blocking" in the schema run on a worker thread; they
 * may use qga_ctx_config, qga_ctx_new_handle, qga_ctx_frozen,
 * qga_ctx_set_frozen, qga_ctx_run_on_main, qga_ctx_emit_event,
 * qga_ctx_reply_base64 and logging, and nothing else of this header.
 *
 * A command's string arguments belong to its request, which nothing reads
 * after the command: a handler may overwrite their bytes (decode them in
 * place), within their length.
 */

/* Prefix the reply to the command being run with the 0xFF sentinel. */
void	 qga_ctx_delimit_reply(struct qga_ctx *ctx);

/* The registered commands, in registration (schema) order. */
size_t	 qga_ctx_commands(struct qga_ctx *ctx, const struct qga_command **cmds);
bool	 qga_ctx_command_enabled(struct qga_ctx *ctx, const struct qga_command *cmd);
/* Whether the session of the running command may see cmd at all: our own
 * extensions exist for negotiated sessions only. */
bool	 qga_ctx_command_visible(struct qga_ctx *ctx, const struct qga_command *cmd);

/* Register a function run when the agent exits (free module state, thaw). */
void	 qga_ctx_at_exit(struct qga_ctx *ctx, void (*fn)(struct qga_ctx *ctx));

#endif

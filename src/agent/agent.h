/* The agent's state, owned by agent.c; commands see it only through ctx.h. */
#ifndef QGA_AGENT_H
#define QGA_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "channel.h"
#include "config.h"
#include "ctx.h"
#include "json-stream.h"
#include "loop.h"
#include "qga-schema-gen.h"
#include "session.h"
#include "state.h"

/* Bytes read from the channel at a time. */
#define QGA_READ_CHUNK		65536
/* After this much input, give freed memory back to the system once the
 * reader is idle: one huge message must not leave the RSS high. */
#define QGA_TRIM_AFTER_BYTES	(1 << 20)
/* While the port says no host is connected, look again this often in case
 * the kernel's SIGIO for the reconnect is missed. */
#define QGA_HOST_RECHECK_MS	1000
/* Delay between attempts to reopen the channel with --retry-path. */
#define QGA_RETRY_INTERVAL_MS	5000
#define QGA_MAX_EXIT_HOOKS	16
/* Replies to requests that arrived together are written together up to
 * this many bytes. */
#define QGA_OUT_BATCH		(64 * 1024)
/* An output buffer grown past this by a big reply is freed once sent. */
#define QGA_OUT_KEEP		(256 * 1024)

struct qga_ctx {
	struct qga_config	*cfg;
	struct qga_loop		*loop;
	struct qga_state	 state;
	struct channel		 ch;
	enum channel_kind	 kind;
	struct json_stream	*stream;
	struct session		 session;
	struct buf		 out;		/* reply bytes not yet written */
	size_t			 out_off;	/* of which this many went */
	bool			 delimit;	/* prefix the next reply with 0xFF */
	size_t			 read_since_trim;
	bool			 frozen;
	bool			 host_waiting;	/* serial port without a host */
	uint64_t		 recheck_timer;
	struct qga_command	 cmds[QGA_SCHEMA_MAX_COMMANDS];
	bool			 allowed[QGA_SCHEMA_MAX_COMMANDS];
	size_t			 ncmds;
	void			(*exit_hooks[QGA_MAX_EXIT_HOOKS])(struct qga_ctx *);
	size_t			 nexit_hooks;
	bool			 pidfile_pending;
	bool			 logfile_pending;
	bool			 pidfile_written;
};

/* Register the linked commands and apply allow/block lists. */
void	agent_commands_init(struct qga_ctx *a);
/* Run one request; returns the reply, or NULL when none is to be sent. */
json_t	*agent_dispatch(struct qga_ctx *a, json_t *req);
/* An error reply for input that never became a request (JSON errors). */
json_t	*agent_error_reply(const json_t *id, const char *cls, const char *desc);

/* Open the channel (or schedule retries with -r) and put it in the loop. */
int	agent_start_channel(struct qga_ctx *a);
int	agent_run(struct qga_ctx *a);
/* Deferred log file and pidfile (frozen at start-up). */
int	agent_open_logfile(struct qga_ctx *a);
int	agent_write_pidfile(struct qga_ctx *a);

#endif

/* The agent's state, owned by agent.c; commands see it only through ctx.h. */
#ifndef QGA_AGENT_H
#define QGA_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "channel.h"
#include "config.h"
#include "ctx.h"
#include "deferred.h"
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
/* ... once traffic has stopped for this long; until then freed memory
 * stays in the heap (main.c) for the next chunk of a transfer. */
#define QGA_TRIM_IDLE_MS	1000
#define QGA_HEAP_KEEP		(256 * 1024 * 1024)
/* While the port says no host is connected, look again this often in case
 * the kernel's SIGIO for the reconnect is missed. */
#define QGA_HOST_RECHECK_MS	1000
/* Delay between attempts to reopen the channel with --retry-path. */
#define QGA_RETRY_INTERVAL_MS	5000
/* After failing to allocate for a new client, accept again this soon. */
#define QGA_ACCEPT_RETRY_MS	100
#define QGA_MAX_EXIT_HOOKS	16
/* A blocking command's event (GUEST_SUSPEND) is handed to the channels by
 * the main thread before the command goes on to act; it waits this long
 * at most for the main thread to do so. */
#define QGA_EVENT_HANDOFF_MS	1000
/* Replies to requests that arrived together are written together up to
 * this many bytes. */
#define QGA_OUT_BATCH		(64 * 1024)
/* An output buffer grown past this by a big reply is freed once sent. */
#define QGA_OUT_KEEP		(256 * 1024)

/* In-band requests one client may have queued (QMP's limit). */
#define QGA_INBAND_QUEUE_MAX	8
/* Clients served at once on a listening socket, at most. */
#define QGA_MAX_CLIENTS_LIMIT	64

struct worker;

/* One request on its way to a reply. */
struct job {
	struct client		*client;
	unsigned		 gen;		/* the client's session it belongs to */
	const struct qga_command *cmd;	/* NULL: reply is already set */
	json_t			*req;		/* owns the arguments */
	struct json_big		*big;		/* and the strings kept out of them */
	json_t			*id;
	void			*args;		/* the command's argument struct */
	json_t			*reply;		/* NULL when done: nothing to send */
	struct deferred		*def;		/* a member of reply written late */
	bool			 done;
	bool			 oob;
	bool			 delimit;	/* prefix the reply with 0xFF */
	struct job		*next;		/* in the client's queue */
	struct job		*wnext;		/* in the worker's queues */
};

/* A client: an accepted connection, or the host side of a serial port. */
struct client {
	struct qga_ctx		*agent;
	int			 fd;
	bool			 port;		/* the serial port itself */
	unsigned		 gen;		/* bumped when a session ends */
	struct json_stream	*stream;
	struct session		 session;
	struct buf		 out;		/* replies and events not yet written */
	size_t			 out_off;	/* of which this many went */
	struct deferred		*def;		/* being encoded after out... */
	struct buf		 out_next;	/* ...and followed by this */
	unsigned		 watching;	/* loop events asked for */
	struct job		*head, **tail;	/* in-band requests, in order */
	size_t			 npending;
	bool			 busy;		/* the head runs on the worker */
	bool			 closed;	/* connection gone while busy */
	size_t			 traffic_since_trim;	/* bytes in, and streamed out */
	struct client		*next;
};

struct qga_ctx {
	struct qga_config	*cfg;
	struct qga_loop		*loop;
	struct qga_state	 state;
	struct channel		 ch;
	enum channel_kind	 kind;
	struct client		*clients;
	size_t			 nclients;
	struct worker		*worker;
	uint64_t		 trim_timer;
	_Atomic bool		 frozen;	/* read by the worker's commands too */
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
/* Turn a parsed request of client c into a job: checked, validated, ready
 * to run; or, on any error, already holding its error reply. It takes the
 * request's deferred strings (json-stream.h). Main thread. */
struct job *agent_prepare(struct qga_ctx *a, struct client *c, json_t *req,
    struct json_big *big);
/* Run a prepared job's command and build its reply (any thread). */
void	agent_execute(struct qga_ctx *a, struct job *j);
void	job_free(struct job *j);
/* The job whose command is running on the calling thread, or NULL. */
struct job *agent_current_job(void);
/* Prepare and execute at once, on the calling thread (tests, fuzzing). */
json_t	*agent_dispatch(struct qga_ctx *a, struct client *c, json_t *req);
/* An error reply for input that never became a request (JSON errors). */
json_t	*agent_error_reply(const json_t *id, const char *cls, const char *desc);

/* Clients (client.c). */
#define QGA_WATCH_NONE	(~0u)	/* the client's fd is not in the loop */
/* Take the client's fd out of the loop (a serial port without a host). */
void	client_unwatch(struct client *c);
/* The client's connection or host went away (agent.c decides what that
 * means for the transport). */
void	agent_client_gone(struct client *c);
struct client *client_new(struct qga_ctx *a, int fd, bool port);
/* Forget everything of the current session: a new client on this fd. */
void	client_reset(struct client *c);
/* The connection is gone: free the client (or once its job returns). */
void	client_close(struct client *c);
void	client_io(int fd, unsigned events, void *data);
/* Run what can run, write what can be written, and watch for the rest. */
void	client_pump(struct client *c);
void	client_job_done(struct job *j);
/* Append a JSON line to the client's output (replies and events). */
void	client_queue(struct client *c, json_t *msg, bool delimit);

/* The worker thread that runs blocking commands (worker.c). */
struct worker *worker_start(struct qga_ctx *a);
void	worker_submit(struct worker *w, struct job *j);
void	worker_stop(struct worker *w);
/* Run fn on the main thread (at once when called there). */
void	worker_call_on_main(struct worker *w, void (*fn)(struct qga_ctx *, void *),
	    void *data);
/* ... and wait until it has run, at most timeout_ms: 1 when it has, 0 when
 * it will run later, -1 when out of memory (it never runs). */
int	worker_call_on_main_wait(struct worker *w,
	    void (*fn)(struct qga_ctx *, void *), void *data, int timeout_ms);

/* Open the channel (or schedule retries with -r) and put it in the loop. */
int	agent_start_channel(struct qga_ctx *a);
int	agent_run(struct qga_ctx *a);
/* Deferred log file and pidfile (frozen at start-up). */
int	agent_open_logfile(struct qga_ctx *a);
int	agent_write_pidfile(struct qga_ctx *a);
/* The session a new client starts with (policy, offered capabilities). */
void	agent_session_init(struct qga_ctx *a, struct session *s);

#endif

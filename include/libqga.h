/*
 * libqga: the host-side client of a QEMU guest agent (qemu-ga or qgad) and,
 * as a by-product of server probing, of a QEMU QMP monitor.
 *
 * One opaque connection object, struct qga_client, carries the socket, the
 * negotiated state and the last error. Every call returns 0 or a negative
 * errno; qga_errstr() then says what went wrong in words. A client whose
 * connection failed (EOF, I/O error, protocol violation) is "broken": every
 * later call fails with the same error and the caller should qga_free() it.
 * A timed-out call does not break the client.
 *
 * Connecting runs the modern-client algorithm: without waiting for anything,
 * send {"execute":"request-negotiation","id":"..."} and classify the server
 * from the answer (see enum qga_server). Silence is answered by a resync
 * (0xFF plus guest-sync-delimited, discarding everything before the agent's
 * 0xFF) and a retry, all within the connect timeout.
 *
 * Two APIs share one core:
 *  - blocking: qga_connect(), qga_call(), each with a timeout in
 *    milliseconds (a negative timeout waits forever);
 *  - non-blocking, for event loops: qga_connect_start(), qga_call_async(),
 *    then poll qga_get_fd() for qga_get_events() with qga_get_timeout() and
 *    hand the result to qga_process(), which runs the callbacks.
 *
 * JSON values are jansson's json_t. Ownership is stated on each function;
 * every *_free() accepts NULL.
 */
#ifndef LIBQGA_H
#define LIBQGA_H

#include <stdint.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LIBQGA_VERSION_MAJOR	0
#define LIBQGA_VERSION_MINOR	2
#define LIBQGA_VERSION_PATCH	0
#define LIBQGA_SONAME		0

/* Longest reply line the client accepts (guest-file-read allows 48 MiB of
 * data, 64 MiB of base64); a longer one breaks the client with -EMSGSIZE. */
#define QGA_MAX_REPLY_SIZE	(96u << 20)
/* Length of the message kept for qga_errstr(), including the NUL. */
#define QGA_ERRSTR_SIZE		256
/* How long connect waits for an answer to request-negotiation (and to each
 * resync) before it treats the agent as silent and resyncs. */
#define QGA_SILENCE_MS		1000
/* Capabilities the caller may ask for in one connect. */
#define QGA_MAX_CAPABILITIES	32
/* Events kept for qga_wait_event() while nobody collects them; beyond
 * this the oldest is dropped. */
#define QGA_MAX_QUEUED_EVENTS	256

/* What qga_connect() found at the other end. */
enum qga_server {
	QGA_SERVER_UNKNOWN = 0,	/* not classified yet */
	QGA_SERVER_NEGOTIATING,	/* answered request-negotiation (qgad) */
	QGA_SERVER_LEGACY,	/* CommandNotFound with the id: qemu-ga >= 4.0 */
	QGA_SERVER_LEGACY_2_12,	/* CommandNotFound without the id: 2.12 */
	QGA_SERVER_LEGACY_OLD,	/* rejects the id member: < 4.0 (not 2.12) */
	QGA_SERVER_QMP,		/* sent a QMP greeting: a QEMU monitor */
	QGA_SERVER_NONE,	/* classification was skipped (QGA_OPT_NO_PROBE) */
};

enum qga_transport {
	QGA_TRANSPORT_UNIX = 0,	/* connect(2) to a unix stream socket path */
	QGA_TRANSPORT_VSOCK,	/* AF_VSOCK cid:port */
	QGA_TRANSPORT_FD,	/* a connected fd; the client takes ownership */
};

/* Flags for struct qga_connect_opts. */
#define QGA_OPT_NO_PROBE	0x1u	/* skip request-negotiation: act as a
					   legacy client (ids still sent) */
#define QGA_OPT_NO_IDS		0x2u	/* with NO_PROBE: send no ids, strict
					   one-at-a-time ordering */

struct qga_connect_opts {
	enum qga_transport	 transport;
	const char		*path;		/* QGA_TRANSPORT_UNIX */
	uint32_t		 cid, port;	/* QGA_TRANSPORT_VSOCK */
	int			 fd;		/* QGA_TRANSPORT_FD */
	unsigned		 flags;		/* QGA_OPT_* */
	/* NULL-terminated capability names to enable if the server offers
	 * them (at most QGA_MAX_CAPABILITIES); NULL enables none, so a
	 * client that does not ask sees exactly what a legacy client sees
	 * (no events, strictly ordered replies). qgad offers "oob" and
	 * "events". */
	const char *const	*capabilities;
};

/* Flags for qga_call_async() and qga_call_flags(). */
#define QGA_CALL_NO_SUCCESS_RESPONSE	0x1u	/* guest-shutdown, guest-suspend-*:
	the agent answers only on failure. Silence until the timeout (or the
	agent closing the connection) completes the call with a NULL reply. */
#define QGA_CALL_OOB			0x2u	/* out of band: sent with
	"exec-oob" when qga_oob_available() says so for this command, so that
	the agent answers it ahead of in-band requests still waiting or
	running; otherwise sent with "execute" as usual (never an error). In a
	session with oob, at most max-in-band-queue - 1 (7 for qgad) in-band
	calls are in flight; later ones wait in the client, so that the agent
	never stops reading with an out-of-band call behind them. */

struct qga_client;
struct qga_reply;

/*
 * Blocking API.
 */

/* Connect and classify within timeout_ms. On success *ret is a ready client
 * (free with qga_free()); on failure *ret is NULL and, when errmsg is not
 * NULL, the reason is copied there (QGA_ERRSTR_SIZE bytes). */
int	 qga_connect(const struct qga_connect_opts *opts, int timeout_ms,
	    struct qga_client **ret, char *errmsg);
/* The same for a unix socket path with default options. */
int	 qga_connect_unix(const char *path, int timeout_ms,
	    struct qga_client **ret, char *errmsg);

/*
 * Run one command. args is borrowed and may be NULL. On success (0) *ret is
 * the reply, which may be an error reply from the server (check
 * qga_reply_is_error()); the caller frees it. On failure *ret is NULL:
 * -ETIMEDOUT when no reply came in time (a late reply is discarded), or the
 * errno that broke the client.
 */
int	 qga_call(struct qga_client *c, const char *name, json_t *args,
	    int timeout_ms, struct qga_reply **ret);
/* qga_call() with QGA_CALL_* flags. With QGA_CALL_NO_SUCCESS_RESPONSE,
 * silence for timeout_ms returns 0 with *ret == NULL. */
int	 qga_call_flags(struct qga_client *c, const char *name, json_t *args,
	    unsigned flags, int timeout_ms, struct qga_reply **ret);

/* Resynchronise the channel: 0xFF and guest-sync-delimited, discarding all
 * input before the agent's sentinel reply. No call may be outstanding
 * (-EBUSY). A negotiating server drops back to legacy on a sync, so the
 * client negotiates again afterwards. Not for QMP servers (-ENOTSUP). */
int	 qga_resync(struct qga_client *c, int timeout_ms);

/* Wait up to timeout_ms (< 0: forever) for the next asynchronous event
 * (qgad's "events" capability, QMP events). On success *event is a new
 * reference the caller json_decref()s. Events are queued for this function
 * whenever no qga_set_event_cb() callback is set, also while other calls
 * wait (at most QGA_MAX_QUEUED_EVENTS, the oldest dropped); queued events
 * are returned before a broken connection is reported. -ETIMEDOUT when none
 * came; -EINVAL while an event callback is set. Pending asynchronous calls
 * progress meanwhile. */
int	 qga_wait_event(struct qga_client *c, int timeout_ms, json_t **event);

/* The agent's limits, so that callers pick chunk sizes without guessing. */
struct qga_limits {
	uint64_t	max_message_bytes;	/* bytes of one request's JSON */
	uint64_t	max_file_read_count;	/* guest-file-read count */
	uint64_t	max_exec_output_bytes;	/* guest-exec output per stream */
	uint32_t	max_nesting;		/* JSON nesting depth */
	uint32_t	max_in_band_queue;	/* in-band requests that may wait
						   (0: not reported) */
	uint32_t	max_clients;		/* simultaneous connections */
	int		from_agent;		/* 1: reported by qga-get-limits;
						   0: qemu-ga's documented values */
	uint64_t	reserved[8];		/* zero; room for more members */
};
/* Fill *out: from qga-get-limits in a negotiated session (asked once per
 * session, out of band when oob is enabled); for legacy agents, or when the
 * agent cannot answer it, qemu-ga's values: 64 MiB message, 48 MiB read
 * count, 16 MiB exec output, nesting 1024, one client, queue 0. -ENOTSUP
 * for a QMP monitor; otherwise 0, or the errno of a failed call. */
int	 qga_get_limits(struct qga_client *c, int timeout_ms,
	    struct qga_limits *out);

/* Close the connection; pending asynchronous calls complete with -ECANCELED. */
void	 qga_free(struct qga_client *c);

/* The last error, in words; "" when there was none. */
const char *qga_errstr(const struct qga_client *c);

/*
 * What the client learnt while connecting.
 */
enum qga_server qga_server_class(const struct qga_client *c);
/* A short stable name: "negotiating", "legacy", "legacy-2.12",
 * "legacy-pre-4.0", "qmp", "none", "unknown". */
const char *qga_server_class_name(enum qga_server cls);
/* The greeting's "QMP" object ({"version":..., "capabilities":[...]}) of a
 * negotiating or QMP server, borrowed; NULL for legacy servers. */
json_t	*qga_greeting(const struct qga_client *c);
/* The capabilities enabled by qmp_capabilities, borrowed JSON array (empty
 * for legacy servers). */
json_t	*qga_enabled_capabilities(const struct qga_client *c);
/* 1 when requests carry ids and may be pipelined, 0 when the server forces
 * strict one-at-a-time ordering without ids. */
int	 qga_uses_ids(const struct qga_client *c);
/* 1 when a QGA_CALL_OOB call of command name would go out of band: the
 * session enabled "oob" and name is one that docs/protocol.md lets run out
 * of band (guest-ping, guest-sync, guest-info, guest-fsfreeze-status,
 * guest-exec-status, qga-get-limits); else 0. */
int	 qga_oob_available(const struct qga_client *c, const char *name);
/* 1 when the session enabled capability name (see qga_connect_opts). */
int	 qga_has_capability(const struct qga_client *c, const char *name);

/*
 * Replies.
 */
int	 qga_reply_is_error(const struct qga_reply *r);
/* The "return" value (borrowed), or NULL for an error reply. */
json_t	*qga_reply_return(const struct qga_reply *r);
/* The error class and desc (borrowed; "" when the agent sent none), or
 * NULL for a success reply. */
const char *qga_reply_error_class(const struct qga_reply *r);
const char *qga_reply_error_desc(const struct qga_reply *r);
/* The whole reply object as received (borrowed). */
json_t	*qga_reply_json(const struct qga_reply *r);
void	 qga_reply_free(struct qga_reply *r);

/*
 * Non-blocking API. The client's fd is non-blocking. Loop:
 *	struct pollfd p = { qga_get_fd(c), qga_get_events(c), 0 };
 *	poll(&p, 1, qga_get_timeout(c));
 *	if (qga_process(c, p.revents) < 0) ... broken ...
 * Callbacks run only inside qga_process() (or qga_free()).
 */

/* Start connecting; *ret is a client in the connecting state. Calls may be
 * queued at once: they are sent when negotiation completes. The whole
 * connect and classification must finish within timeout_ms. */
int	 qga_connect_start(const struct qga_connect_opts *opts, int timeout_ms,
	    struct qga_client **ret, char *errmsg);
/* 1 once classified and ready for calls, 0 while connecting, or the
 * negative errno that broke the client. */
int	 qga_ready(const struct qga_client *c);

int	 qga_get_fd(const struct qga_client *c);
/* POLLIN, plus POLLOUT while there is output or a connect in progress. */
short	 qga_get_events(const struct qga_client *c);
/* Milliseconds until the earliest deadline (0 = overdue), -1 for none. */
int	 qga_get_timeout(const struct qga_client *c);
/* Do the I/O that revents allows and expire deadlines. 0, or the negative
 * errno that broke the client (the callbacks have then been told). */
int	 qga_process(struct qga_client *c, short revents);

/* Completion of an asynchronous call: err is 0 with a reply the callback
 * owns (NULL for a silent QGA_CALL_NO_SUCCESS_RESPONSE success), or a
 * negative errno with reply NULL. */
typedef void qga_reply_cb(struct qga_client *c, int err,
    struct qga_reply *reply, void *opaque);
/* Queue a call. args is borrowed. A timeout_ms < 0 waits forever. Once
 * this returns 0 the callback runs exactly once, from qga_process() or
 * qga_free(), whatever fails later (running out of memory included). */
int	 qga_call_async(struct qga_client *c, const char *name, json_t *args,
	    unsigned flags, int timeout_ms, qga_reply_cb *cb, void *opaque);

/* Asynchronous messages (QMP events; qgad's events capability). The object
 * is borrowed for the duration of the callback. While a callback is set,
 * events go to it and are not queued for qga_wait_event(); cb NULL queues
 * them again. */
typedef void qga_event_cb(struct qga_client *c, json_t *event, void *opaque);
void	 qga_set_event_cb(struct qga_client *c, qga_event_cb *cb, void *opaque);

#ifdef __cplusplus
}
#endif

#endif

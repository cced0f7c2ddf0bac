/* libqga internals shared by the core, the transports and the wrappers. */
#ifndef QGA_CLIENT_INT_H
#define QGA_CLIENT_INT_H

#include <stdint.h>

#include "buf.h"
#include "libqga.h"

/* Room for "libqga-XXXXXXXX-<64-bit counter>". */
#define CLIENT_ID_SIZE		48
/* How long an automatic resync (after a timeout in id-less mode) may take. */
#define CLIENT_RESYNC_MS	5000
/* In a session with oob, in-band calls in flight at once. qgad stops
 * reading a client with QGA_INBAND_QUEUE_MAX (8) in-band requests queued or
 * running, and an exec-oob request behind them then waits for one of them:
 * one fewer keeps out-of-band calls flowing. An agent that reports
 * max-in-band-queue gets that value less one. */
#define CLIENT_INBAND_WINDOW	7
/* Bytes read from the socket at a time. */
#define CLIENT_READ_SIZE	65536

enum phase {
	PH_CONNECTING,	/* a non-blocking connect(2) is in progress */
	PH_PROBE,	/* request-negotiation sent, classifying */
	PH_CAPS,	/* qmp_capabilities sent */
	PH_RESYNC,	/* 0xFF + guest-sync-delimited sent, awaiting the sentinel */
	PH_READY,
	PH_BROKEN,
};

struct reply_waiter {
	int			 done;
	int			 err;
	struct qga_reply	*reply;
};

struct call {
	struct call	*next;
	char		 id[CLIENT_ID_SIZE];	/* "" when sent without one */
	char		*name;
	json_t		*args;
	unsigned	 flags;
	int		 sent;
	int		 oob;			/* sent with exec-oob */
	int64_t		 deadline;		/* ms, monotonic; -1 none */
	qga_reply_cb	*cb;
	void		*opaque;
};

struct qga_client {
	int		 fd;
	int		 is_socket;
	enum phase	 phase;
	int		 err;			/* the errno that broke it */
	char		 errstr[QGA_ERRSTR_SIZE];
	unsigned	 flags;

	enum qga_server	 cls;
	int		 ids;			/* requests carry ids */
	json_t		*greeting;
	json_t		*want;			/* capabilities asked for */
	json_t		*enabled;

	char		 id_prefix[24];
	uint64_t	 seq;
	char		 probe_id[CLIENT_ID_SIZE];
	char		 caps_id[CLIENT_ID_SIZE];
	int64_t		 sync_id;
	int64_t		 silence_deadline;	/* when the probe/resync is silent */
	int64_t		 phase_deadline;	/* connect or resync must be done */
	int		 need_resync;
	/* Inside qga_call_async(): output is queued, not written, and a
	 * break waits in pending_err for the next qga_process(), so that no
	 * callback runs there. */
	int		 in_call_async;
	int		 pending_err;

	struct buf	 in, out;
	struct call	*calls, **calls_tail;

	qga_event_cb	*event_cb;
	void		*event_opaque;
	json_t		*events;		/* queued for qga_wait_event() */

	int		 have_limits;		/* limits below are known */
	struct qga_limits limits;
};

int64_t	 client_now_ms(void);
int64_t	 client_deadline(int timeout_ms);
void	 client_set_error(struct qga_client *c, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Open the transport; 1 when connect(2) is still in progress. */
int	 client_open(struct qga_client *c, const struct qga_connect_opts *o);
/* Run the poll loop until *done, the client breaks, or nothing can happen. */
int	 client_wait(struct qga_client *c, const int *done);
/* Start the probe (or go straight to ready) once the transport is up. */
int	 client_begin(struct qga_client *c);
/* Resync a ready, idle client; it is ready again (renegotiated if it had
 * negotiated) once the sentinel reply arrives. */
int	 client_start_resync(struct qga_client *c, int timeout_ms);
struct qga_reply *reply_new(json_t *obj);
/* Pop the oldest queued event (a reference the caller owns), or NULL. */
json_t	*client_pop_event(struct qga_client *c);

#endif

/*
 * libFuzzer harness for libqga's reply reader: the input is what an agent
 * sends, fed over a socketpair into the real client core (src/client,
 * compiled into the harness, driven by the non-blocking API), so lines,
 * 0xFF resyncs, ids, greetings and events all take the library's own path.
 *
 * Input: one setup byte, then the server's bytes. Bytes 0x01..0x08 and
 * 0x0B never occur in a valid JSON text (raw control characters are
 * rejected inside strings and between tokens alike), so they are taken as
 * a script:
 *
 *   0x01 DELIVER  send the bytes so far and let the client read them
 *   0x02 TIME     the earliest pending deadline passes
 *   0x03 CALL b   queue a call; b picks the name, flags and timeout
 *   0x04 RESYNC   start a resync when qga_resync() would allow one
 *   0x05 ID       the id of the newest request the client sent
 *   0x06 ID k     the k-th newest id the client sent (k mod the ids kept)
 *   0x07 SYNC     the number of the newest guest-sync-delimited
 *   0x08 EOF      the agent closes the connection; the rest is ignored
 *   0x0B STALL    every pending deadline passes at once (a long stall:
 *                 the only way a 1 h connect deadline beats a 1 s silence)
 *
 * ID and SYNC let an input answer requests whose ids the client draws at
 * random. Time is virtual: deadlines only pass at TIME, so an input
 * behaves the same however slowly it runs (valgrind, a loaded machine).
 *
 * Checks: every queued call completes exactly once, with a reply whose id
 * is the one its request carried (or no id at all when the client sends
 * none); events are objects with "event"; everything the client writes is
 * a well-formed request line; EOF breaks the client; the accessors agree
 * with the state.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "client-int.h"
#include "fuzz-check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
	OP_DELIVER = 1, OP_TIME, OP_CALL, OP_RESYNC, OP_ID, OP_ID_K, OP_SYNC,
	OP_EOF, OP_STALL = 0x0b,
};

/* Ids of the client's requests remembered for OP_ID and OP_ID_K. */
#define FUZZ_IDS_KEPT		16
/* Calls one input may queue: enough for pipelining, bounded per run. */
#define FUZZ_MAX_CALLS		64
/* A timeout that only virtual time (OP_TIME) ever reaches. */
#define FUZZ_LONG_MS		(3600 * 1000)
/* Bytes the harness reads of the client's output at a time. */
#define FUZZ_READ_SIZE		4096

static const char *const call_names[] = {
	"guest-ping", "guest-info", "guest-shutdown", "guest-sync",
};

static const char *const want_caps[] = { "events", "oob", NULL };

struct fuzz;

struct fcall {
	struct fuzz	*f;
	int		 tag;
	unsigned	 flags;
	int		 completions;
	char		 id[CLIENT_ID_SIZE];	/* as sent; "" before or without */
	int		 sent;
};

struct fuzz {
	struct qga_client	*c;
	int			 peer;		/* the agent's end; -1 after EOF */
	struct buf		 pending;	/* server bytes not yet sent */
	struct buf		 sent;		/* client output not yet parsed */
	char			 ids[FUZZ_IDS_KEPT][CLIENT_ID_SIZE];
	unsigned		 nids;		/* ever seen */
	char			 sync[24];	/* newest sync id, decimal */
	struct fcall		 calls[FUZZ_MAX_CALLS];
	int			 ncalls;
	int			 eof;
};


static void drain_client(struct fuzz *f);

static void
on_reply(struct qga_client *c, int err, struct qga_reply *r, void *opaque)
{
	struct fcall *k = opaque;
	json_t *msg, *idv;

	(void)c;
	/* The request may have gone out in this very qga_process(). */
	drain_client(k->f);
	k->completions++;
	CHECK(k->completions == 1);
	if (err) {
		CHECK(err < 0 && r == NULL);
		return;
	}
	if (r == NULL) {
		/* Only a call that expects no success reply ends in silence. */
		CHECK(k->flags & QGA_CALL_NO_SUCCESS_RESPONSE);
		return;
	}
	/* A reply answers a request that was sent. */
	CHECK(k->sent);
	msg = qga_reply_json(r);
	CHECK(json_is_object(msg));
	CHECK(qga_reply_is_error(r) ? qga_reply_return(r) == NULL :
	    qga_reply_return(r) != NULL);
	/* Error replies always have printable class and desc. */
	if (qga_reply_is_error(r))
		CHECK(qga_reply_error_class(r) != NULL &&
		    qga_reply_error_desc(r) != NULL);
	idv = json_object_get(msg, "id");
	/* A reply goes to the call whose id it echoes, and an id the client
	 * never sent matches nothing. */
	if (k->id[0])
		CHECK(json_is_string(idv) &&
		    strcmp(json_string_value(idv), k->id) == 0);
	else
		CHECK(idv == NULL);
	qga_reply_free(r);
}

static void
on_event(struct qga_client *c, json_t *ev, void *opaque)
{
	(void)c;
	(void)opaque;
	CHECK(json_is_object(ev) && json_object_get(ev, "event") != NULL);
	CHECK(json_object_get(ev, "return") == NULL &&
	    json_object_get(ev, "error") == NULL);
}

static void
remember_id(struct fuzz *f, const char *id)
{
	snprintf(f->ids[f->nids % FUZZ_IDS_KEPT], CLIENT_ID_SIZE, "%s", id);
	f->nids++;
}

/* One line the client wrote: it must be a request we can account for. */
static void
parse_request(struct fuzz *f, const char *line, size_t len)
{
	json_t *msg, *args, *idv, *tag;
	const char *name;

	if (len && (unsigned char)line[0] == 0xff) {
		line++;
		len--;
	}
	msg = json_loadb(line, len, 0, NULL);
	CHECK(json_is_object(msg));
	name = json_string_value(json_object_get(msg, "execute"));
	CHECK(name != NULL);
	args = json_object_get(msg, "arguments");
	idv = json_object_get(msg, "id");
	CHECK(idv == NULL || json_is_string(idv));
	if (idv)
		remember_id(f, json_string_value(idv));
	if (strcmp(name, "guest-sync-delimited") == 0)
		snprintf(f->sync, sizeof(f->sync), "%lld", (long long)
		    json_integer_value(json_object_get(args, "id")));
	tag = json_object_get(args, "fuzz-tag");
	if (tag) {
		json_int_t n = json_integer_value(tag);
		struct fcall *k;

		CHECK(n >= 0 && n < f->ncalls + 1 && n < FUZZ_MAX_CALLS);
		k = &f->calls[n];
		CHECK(!k->sent);
		k->sent = 1;
		snprintf(k->id, sizeof(k->id), "%s",
		    idv ? json_string_value(idv) : "");
		CHECK(qga_uses_ids(f->c) == (idv != NULL));
	}
	json_decref(msg);
}

/* Read what the client wrote so far and check it line by line. */
static void
drain_client(struct fuzz *f)
{
	char chunk[FUZZ_READ_SIZE];
	char *nl;
	ssize_t n;

	if (f->peer < 0)
		return;
	while ((n = recv(f->peer, chunk, sizeof(chunk), MSG_DONTWAIT)) > 0)
		CHECK(buf_append(&f->sent, chunk, (size_t)n) == 0);
	while (f->sent.len &&
	    (nl = memchr(f->sent.data, '\n', f->sent.len)) != NULL) {
		size_t len = (size_t)(nl - f->sent.data);

		parse_request(f, f->sent.data, len);
		buf_consume(&f->sent, len + 1);
	}
}

static void
check_state(struct fuzz *f)
{
	int ready = qga_ready(f->c);

	CHECK(ready == 0 || ready == 1 || ready < 0);
	if (ready < 0) {
		CHECK(qga_errstr(f->c)[0] != '\0');
		CHECK(qga_get_events(f->c) == 0);
	} else {
		CHECK(qga_get_events(f->c) & POLLIN);
	}
	CHECK(qga_uses_ids(f->c) == 0 || qga_uses_ids(f->c) == 1);
	CHECK(qga_greeting(f->c) == NULL || json_is_object(qga_greeting(f->c)));
	CHECK(json_is_array(qga_enabled_capabilities(f->c)));
	CHECK(qga_server_class(f->c) >= QGA_SERVER_UNKNOWN &&
	    qga_server_class(f->c) <= QGA_SERVER_NONE);
}

/* No time passes between script steps: a silence deadline the client
 * armed stays ahead however long the step took in real time. */
static void
freeze_time(struct fuzz *f)
{
	if (f->c->silence_deadline > 0)
		f->c->silence_deadline = client_now_ms() + QGA_SILENCE_MS;
}

static void
process(struct fuzz *f, short revents)
{
	(void)qga_process(f->c, revents);
	drain_client(f);
	freeze_time(f);
	check_state(f);
}

static void
deliver(struct fuzz *f)
{
	size_t off = 0;
	ssize_t n;

	while (f->peer >= 0 && off < f->pending.len) {
		n = send(f->peer, f->pending.data + off, f->pending.len - off,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0)
			off += (size_t)n;
		else
			CHECK(n < 0 && (errno == EAGAIN || errno == EINTR));
		/* Let the client read (and write) before sending more. */
		process(f, POLLIN | (qga_get_events(f->c) & POLLOUT));
		if (qga_ready(f->c) < 0)
			break;
	}
	buf_consume(&f->pending, f->pending.len);
	process(f, POLLIN | (qga_get_events(f->c) & POLLOUT));
}

static void
pass_time(struct fuzz *f, int stall)
{
	struct qga_client *c = f->c;
	int64_t best = -1;
	struct call *k;

	if (stall) {
		/* 0 is long past; -1 (none) stays none. */
		if (c->phase_deadline > 0)
			c->phase_deadline = 0;
		if (c->silence_deadline > 0)
			c->silence_deadline = 0;
		for (k = c->calls; k; k = k->next)
			if (k->deadline > 0)
				k->deadline = 0;
		process(f, 0);
		return;
	}

#define EARLIEST(t) do { \
	if ((t) >= 0 && (best < 0 || (t) < best)) \
		best = (t); \
} while (0)
	if (c->phase != PH_READY)
		EARLIEST(c->phase_deadline);
	if (c->phase == PH_PROBE || c->phase == PH_RESYNC)
		EARLIEST(c->silence_deadline);
	for (k = c->calls; k; k = k->next)
		EARLIEST(k->deadline);
#undef EARLIEST
	if (best < 0)
		return;
	/* Everything due at that moment is now overdue (0 is long past). */
	if (c->phase_deadline == best)
		c->phase_deadline = 0;
	if (c->silence_deadline == best)
		c->silence_deadline = 0;
	for (k = c->calls; k; k = k->next)
		if (k->deadline == best)
			k->deadline = 0;
	process(f, 0);
}

static void
queue_call(struct fuzz *f, uint8_t b)
{
	struct fcall *k;
	json_t *args;
	int r;

	if (f->ncalls == FUZZ_MAX_CALLS)
		return;
	k = &f->calls[f->ncalls];
	memset(k, 0, sizeof(*k));
	k->f = f;
	k->tag = f->ncalls;
	k->flags = b & 4 ? QGA_CALL_NO_SUCCESS_RESPONSE : 0;
	args = json_pack("{s:i}", "fuzz-tag", k->tag);
	CHECK(args != NULL);
	r = qga_call_async(f->c, call_names[b & 3], args, k->flags,
	    b & 8 ? -1 : FUZZ_LONG_MS, on_reply, k);
	json_decref(args);
	/* A call that was not queued is never completed; one that was is
	 * completed exactly once, however the client fares. */
	if (r == 0)
		f->ncalls++;
	else
		CHECK(k->completions == 0);
	drain_client(f);
	check_state(f);
}

static void
resync(struct fuzz *f)
{
	struct qga_client *c = f->c;

	/* qga_resync()'s conditions; it then blocks, which we do not. */
	if (c->phase != PH_READY || c->calls || c->cls == QGA_SERVER_QMP)
		return;
	(void)client_start_resync(c, FUZZ_LONG_MS);
	drain_client(f);
	check_state(f);
}

static void
expand(struct fuzz *f, const char *s)
{
	CHECK(buf_append(&f->pending, s, strlen(s)) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qga_connect_opts o = { .transport = QGA_TRANSPORT_FD };
	struct fuzz *f;
	int sv[2];
	size_t i;

	if (size == 0)
		return 0;
	f = calloc(1, sizeof(*f));
	CHECK(f != NULL);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	f->peer = sv[1];
	/* Setup byte: how the client connects. */
	switch (data[0] & 3) {
	case 1:
		o.flags = QGA_OPT_NO_PROBE;
		break;
	case 2:
		o.flags = QGA_OPT_NO_PROBE | QGA_OPT_NO_IDS;
		break;
	case 3:
		o.capabilities = want_caps;
		break;
	}
	o.fd = sv[0];
	CHECK(qga_connect_start(&o, FUZZ_LONG_MS, &f->c, NULL) == 0);
	qga_set_event_cb(f->c, on_event, NULL);
	drain_client(f);
	freeze_time(f);
	check_state(f);

	for (i = 1; i < size; i++) {
		/* A dead agent sends nothing more, but the application may
		 * still queue calls before the client notices. */
		if (f->eof && data[i] != OP_CALL)
			continue;
		switch (data[i]) {
		case OP_DELIVER:
			deliver(f);
			break;
		case OP_TIME:
		case OP_STALL:
			deliver(f);
			pass_time(f, data[i] == OP_STALL);
			break;
		case OP_CALL:
			if (!f->eof)
				deliver(f);
			if (++i < size)
				queue_call(f, data[i]);
			break;
		case OP_RESYNC:
			deliver(f);
			resync(f);
			break;
		case OP_ID:
			if (f->nids)
				expand(f, f->ids[(f->nids - 1) % FUZZ_IDS_KEPT]);
			break;
		case OP_ID_K:
			if (++i < size && f->nids) {
				unsigned kept = f->nids < FUZZ_IDS_KEPT ?
				    f->nids : FUZZ_IDS_KEPT;
				unsigned back = data[i] % kept;

				expand(f, f->ids[(f->nids - 1 - back) %
				    FUZZ_IDS_KEPT]);
			}
			break;
		case OP_SYNC:
			expand(f, f->sync);
			break;
		case OP_EOF:
			deliver(f);
			close(f->peer);
			f->peer = -1;
			f->eof = 1;
			break;
		default:
			CHECK(buf_putc(&f->pending, (char)data[i]) == 0);
			break;
		}
	}
	if (f->eof) {
		process(f, POLLIN | POLLHUP);
		/* An agent that went away breaks the client. */
		CHECK(qga_ready(f->c) < 0);
	} else {
		deliver(f);
	}

	qga_free(f->c);
	/* qga_free() cancels what is still pending: every call is done. */
	for (int n = 0; n < f->ncalls; n++)
		CHECK(f->calls[n].completions == 1);
	if (f->peer >= 0)
		close(f->peer);
	buf_free(&f->pending);
	buf_free(&f->sent);
	free(f);
	return 0;
}

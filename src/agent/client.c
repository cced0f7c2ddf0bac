/*
 * One client of the agent: its reader, its session, its in-band queue and
 * its output. Requests are answered in order; a blocking command runs on
 * the worker thread while the client's out-of-band requests (negotiated
 * sessions with "oob") and other clients are still served.
 */
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"

struct client *
client_new(struct qga_ctx *a, int fd, bool port)
{
	struct client *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->stream = json_stream_new();
	if (c->stream == NULL) {
		free(c);
		return NULL;
	}
	json_stream_defer(c->stream, JSON_DEFER_MIN);
	c->agent = a;
	c->fd = fd;
	c->port = port;
	c->watching = QGA_WATCH_NONE;
	c->tail = &c->head;
	agent_session_init(a, &c->session);
	c->next = a->clients;
	a->clients = c;
	a->nclients++;
	return c;
}

static void
watch(struct client *c, unsigned events)
{
	if (c->watching == events || c->fd < 0)
		return;
	if (c->watching == QGA_WATCH_NONE)
		qga_loop_add_fd(c->agent->loop, c->fd, events, client_io, c);
	else
		qga_loop_mod_fd(c->agent->loop, c->fd, events);
	c->watching = events;
}

static void
out_done(struct client *c)
{
	c->out_off = 0;
	if (c->out.cap > QGA_OUT_KEEP)
		buf_free(&c->out);
	else
		buf_reset(&c->out);
}

/* Everything unsent goes: the reply being streamed and what follows it. */
static void
out_drop(struct client *c)
{
	out_done(c);
	deferred_free(c->def);
	c->def = NULL;
	buf_free(&c->out_next);
}

/* Whether output is waiting to be written. */
static bool
out_pending(const struct client *c)
{
	return c->out_off < c->out.len || c->def != NULL;
}

static void
drop_queue(struct client *c)
{
	struct job *j = c->head, *next;

	/* A job on the worker stays there; its reply is dropped by gen. */
	if (c->busy && j) {
		next = j->next;
		j->next = NULL;
		j = next;
	}
	for (; j; j = next) {
		next = j->next;
		job_free(j);
	}
	c->head = NULL;
	c->tail = &c->head;
	c->npending = 0;
	c->busy = false;
}

void
client_reset(struct client *c)
{
	/* A new client starts clean: no half request of the last one, no
	 * reply meant for it (qemu-ga keeps both; see docs/protocol.md). */
	c->gen++;
	json_stream_reset(c->stream);
	out_drop(c);
	drop_queue(c);
	agent_session_init(c->agent, &c->session);
}

void
client_unwatch(struct client *c)
{
	if (c->watching != QGA_WATCH_NONE && c->fd >= 0)
		qga_loop_del_fd(c->agent->loop, c->fd);
	c->watching = QGA_WATCH_NONE;
}

static void
client_free(struct client *c)
{
	json_stream_free(c->stream);
	out_drop(c);
	buf_free(&c->out);
	free(c);
}

void
client_close(struct client *c)
{
	struct qga_ctx *a = c->agent;
	struct client **pp;
	bool busy = c->busy;

	client_unwatch(c);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	client_reset(c);
	for (pp = &a->clients; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			a->nclients--;
			break;
		}
	/* The worker still holds this client's job: free on its return. */
	if (busy)
		c->closed = true;
	else
		client_free(c);
}

/*
 * Append a reply to the output. With a deferred member (deferred.c) the
 * text before it goes to out, the member itself is encoded as the client
 * reads (flush_output), and the rest waits in out_next. While one is being
 * streamed, everything else queues behind it in out_next.
 */
static void
queue_reply(struct client *c, json_t *msg, bool delimit, struct deferred *def)
{
	struct buf *dst = c->def ? &c->out_next : &c->out;
	size_t mark = dst->len, before = c->out.len + c->out_next.len, text = 0;
	int rc = 0;

	if (delimit && buf_putc(dst, (char)0xFF) < 0)
		rc = -1;
	/* A second deferred member while one is on its way: encoded now. */
	if (rc == 0 && def && c->def) {
		rc = deferred_materialize(def);
		deferred_free(def);
		def = NULL;
	}
	if (rc == 0 && def) {
		rc = deferred_dump(msg, def, dst, &c->out_next);
		/* Room for a piece now, so that writing one cannot fail. */
		if (rc == 1 && buf_reserve(&c->out, deferred_piece_len()) < 0)
			rc = -1;
		if (rc == 1) {
			text = deferred_text_len(def);
			/* A big reply leaves its memory in the heap too. */
			c->traffic_since_trim += def->len;
			c->def = def;
			def = NULL;
			dst = &c->out_next;
		}
	} else if (rc == 0) {
		/* Serialise straight into the output buffer: no extra copy
		 * of large replies. ENSURE_ASCII and the default separators
		 * are qemu-ga's. */
		struct buf_sink d = { dst, false };

		if (json_dump_callback(msg, buf_sink_put, &d, JSON_ENSURE_ASCII |
		    JSON_PRESERVE_ORDER | JSON_ENCODE_ANY) < 0 || d.failed)
			rc = -1;
	}
	deferred_free(def);	/* not in msg (an error reply), or failed */
	if (rc < 0) {
		/* A reply that cannot be written out is an error reply
		 * still: no JSON to build, so no allocation but the text's. */
		static const char oom[] = "{\"error\": {\"class\": \"GenericError\", "
		    "\"desc\": \"out of memory\"}}";

		dst->len = mark;
		if (dst != &c->out_next)
			buf_reset(&c->out_next);	/* empty without c->def */
		/* Best effort: these fit in what the buffer already had. */
		if (delimit)
			(void)buf_putc(dst, (char)0xFF);
		(void)buf_append(dst, oom, sizeof(oom) - 1);
	}
	buf_putc(dst, '\n');
	if (c->agent->cfg->verbose)
		qga_log(QGA_LOG_DEBUG, "sending response of %zu bytes",
		    c->out.len + c->out_next.len - before + text);
}

void
client_queue(struct client *c, json_t *msg, bool delimit)
{
	queue_reply(c, msg, delimit, NULL);
}

/*
 * Write what we can; 1 when everything went, 0 when the peer is slow.
 * The written part is skipped with an offset rather than moved. A deferred
 * member is encoded into out a piece at a time, each piece once the
 * previous one went, so a slow client costs no memory.
 */
static int
flush_output(struct client *c)
{
	for (;;) {
		while (c->out_off < c->out.len) {
			ssize_t n = write(c->fd, c->out.data + c->out_off,
			    c->out.len - c->out_off);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN)
					return 0;
				/* The peer is gone; its replies with it. */
				out_drop(c);
				return 1;
			}
			c->out_off += (size_t)n;
		}
		if (c->def == NULL)
			break;
		c->out_off = 0;
		buf_reset(&c->out);
		if (c->def->pos < c->def->len) {
			if (deferred_next(c->def, &c->out) < 0) {
				/* No memory for a piece: a cut reply cannot be
				 * mended, the client's session ends. */
				qga_log(QGA_LOG_ERROR, "out of memory writing a reply");
				out_drop(c);
				if (c->fd >= 0)
					shutdown(c->fd, SHUT_RDWR);
				return 1;
			}
		} else {
			/* The member is out: what followed it is next. */
			deferred_free(c->def);
			c->def = NULL;
			buf_free(&c->out);
			c->out = c->out_next;
			memset(&c->out_next, 0, sizeof(c->out_next));
		}
	}
	out_done(c);
	return 1;
}

/*
 * glibc keeps freed heap memory (main.c asks it to, so that one transfer
 * chunk's buffers are reused by the next instead of being faulted in
 * again), so the RSS after a big message would stay at its peak. Give it
 * back once traffic has stopped for QGA_TRIM_IDLE_MS and no client has
 * anything half-read, queued or unsent.
 */
static void
trim_idle(void *data)
{
	struct qga_ctx *a = data;

	a->trim_timer = 0;
	for (struct client *c = a->clients; c; c = c->next)
		if (out_pending(c) || c->npending || json_stream_partial(c->stream)) {
			a->trim_timer = qga_loop_add_timer(a->loop, QGA_TRIM_IDLE_MS,
			    trim_idle, a);
			return;
		}
	malloc_trim(0);
}

static void
trim_memory(struct client *c)
{
	struct qga_ctx *a = c->agent;

	if (c->traffic_since_trim < QGA_TRIM_AFTER_BYTES)
		return;
	c->traffic_since_trim = 0;
	if (a->trim_timer)
		qga_loop_del_timer(a->loop, a->trim_timer);
	a->trim_timer = qga_loop_add_timer(a->loop, QGA_TRIM_IDLE_MS, trim_idle, a);
}

static void
run_inline(struct client *c, struct job *j)
{
	struct deferred *def;

	agent_execute(c->agent, j);
	def = j->def;
	j->def = NULL;
	if (j->reply)
		queue_reply(c, j->reply, j->delimit, def);
	else
		deferred_free(def);
}

/* Answer the head of the queue if it can be answered now; false when it
 * is running on the worker or the queue is empty. */
static bool
advance(struct client *c)
{
	struct job *j = c->head;

	if (j == NULL || c->busy)
		return false;
	if (!j->done && j->cmd->blocking && c->agent->worker) {
		c->busy = true;
		worker_submit(c->agent->worker, j);
		return false;
	}
	c->head = j->next;
	if (c->head == NULL)
		c->tail = &c->head;
	c->npending--;
	run_inline(c, j);
	job_free(j);
	return true;
}

void
client_pump(struct client *c)
{
	struct qga_ctx *a = c->agent;
	struct json_big *big;
	json_t *msg;
	char *err;

	for (;;) {
		/* Replies to requests that arrived together are written
		 * together; a client that does not read stops being read. */
		if ((c->def || c->out.len - c->out_off >= QGA_OUT_BATCH) &&
		    !flush_output(c))
			break;
		if (advance(c))
			continue;
		if (c->npending >= QGA_INBAND_QUEUE_MAX)
			break;
		if (!json_stream_next_big(c->stream, &msg, &err, &big))
			break;
		if (msg) {
			struct job *j = agent_prepare(a, c, msg, big);

			if (j == NULL) {
				/* Out of memory for the job: answer still. */
				json_t *e = agent_error_reply(json_object_get(msg, "id"),
				    QGA_ERR_GENERIC, "out of memory");

				json_decref(msg);
				client_queue(c, e, false);
				json_decref(e);
				continue;
			}
			json_decref(msg);
			if (j->oob) {
				/* Out of band: answered now, ahead of the queue. */
				run_inline(c, j);
				job_free(j);
				continue;
			}
			*c->tail = j;
			c->tail = &j->next;
			c->npending++;
		} else {
			json_t *reply = agent_error_reply(NULL, QGA_ERR_GENERIC, err);
			struct job *j = calloc(1, sizeof(*j));

			free(err);
			if (j == NULL) {
				/* No memory to queue it: answer at once rather
				 * than not at all. */
				client_queue(c, reply, false);
				json_decref(reply);
				continue;
			}
			/* Errors keep their place among in-band replies. */
			j->client = c;
			j->done = true;
			j->reply = reply;
			*c->tail = j;
			c->tail = &j->next;
			c->npending++;
		}
	}
	if (c->fd < 0)
		return;
	if (out_pending(c) && !flush_output(c)) {
		watch(c, QGA_EV_OUT);
		return;
	}
	if (a->host_waiting && c->port)
		return;
	watch(c, c->npending < QGA_INBAND_QUEUE_MAX ? QGA_EV_IN : 0);
	trim_memory(c);
}

void
client_job_done(struct job *j)
{
	struct client *c = j->client;

	if (c->closed) {
		job_free(j);
		client_free(c);
		return;
	}
	if (j->gen != c->gen || c->head != j) {
		/* The session it belonged to has ended. */
		job_free(j);
		return;
	}
	c->busy = false;
	client_pump(c);
}

void
client_io(int fd, unsigned events, void *data)
{
	struct client *c = data;
	static char chunk[QGA_READ_CHUNK];
	ssize_t n;

	if (!(events & (QGA_EV_IN | QGA_EV_HUP | QGA_EV_ERR))) {
		client_pump(c);
		return;
	}
	n = read(fd, chunk, sizeof(chunk));
	if (n > 0) {
		if (c->agent->cfg->verbose)
			qga_log(QGA_LOG_DEBUG, "read data, count: %zd", n);
		c->traffic_since_trim += (size_t)n;
		json_stream_feed(c->stream, chunk, (size_t)n);
		client_pump(c);
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	/* EOF, or an error such as ECONNRESET: qemu-ga exits on the latter
	 * without -r; we drop the client and keep serving. */
	agent_client_gone(c);
}

/*
 * The libqga core: a state machine driven by qga_process() that probes and
 * classifies the server, resynchronises a silent channel, and matches replies
 * to calls (by id, or by strict ordering for agents that cannot echo ids).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client-int.h"
#include "json-stream.h"

int64_t
client_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
client_deadline(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : client_now_ms() + timeout_ms;
}

void
client_set_error(struct qga_client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->errstr, sizeof(c->errstr), fmt, ap);
	va_end(ap);
}

static uint64_t
random_u64(void)
{
	uint64_t v;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
		v = (uint64_t)client_now_ms() * 6364136223846793005ULL ^
		    (uint64_t)getpid();
	return v;
}

static void
next_id(struct qga_client *c, char *id)
{
	snprintf(id, CLIENT_ID_SIZE, "%s-%llu", c->id_prefix,
	    (unsigned long long)++c->seq);
}

static void
call_free(struct call *k)
{
	if (k == NULL)
		return;
	free(k->name);
	json_decref(k->args);
	free(k);
}

/* Unlink k from the call list. */
static void
call_unlink(struct qga_client *c, struct call *k)
{
	struct call **pp;

	for (pp = &c->calls; *pp; pp = &(*pp)->next)
		if (*pp == k) {
			*pp = k->next;
			break;
		}
	c->calls_tail = &c->calls;
	while (*c->calls_tail)
		c->calls_tail = &(*c->calls_tail)->next;
}

static void
call_complete(struct qga_client *c, struct call *k, int err,
    struct qga_reply *r)
{
	call_unlink(c, k);
	if (k->cb)
		k->cb(c, err, r, k->opaque);
	else
		qga_reply_free(r);
	call_free(k);
}

/* Mark the client broken and fail every call with err. */
static int
client_break(struct qga_client *c, int err)
{
	if (c->phase == PH_BROKEN)
		return c->err;
	if (c->errstr[0] == '\0')
		client_set_error(c, "%s", strerror(-err));
	/* Failing the calls runs their callbacks, which qga_call_async()
	 * promises never to do: leave that to the next qga_process(). */
	if (c->in_call_async) {
		if (c->pending_err == 0)
			c->pending_err = err;
		return err;
	}
	c->phase = PH_BROKEN;
	c->err = err;
	while (c->calls)
		call_complete(c, c->calls, err, NULL);
	return err;
}

static int
flush_out(struct qga_client *c)
{
	ssize_t n;

	while (c->out.len) {
		if (c->is_socket)
			n = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
		else
			n = write(c->fd, c->out.data, c->out.len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			client_set_error(c, "write to the agent: %s",
			    strerror(errno));
			return client_break(c, -errno);
		}
		buf_consume(&c->out, (size_t)n);
	}
	return 0;
}

/* Commands that docs/protocol.md (section 14.1) lets run out of band. */
static const char *const oob_commands[] = {
	"guest-ping", "guest-sync", "guest-info", "guest-fsfreeze-status",
	"guest-exec-status", "qga-get-limits", NULL
};

int
qga_has_capability(const struct qga_client *c, const char *name)
{
	size_t i;
	json_t *v;

	json_array_foreach(c->enabled, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
			return 1;
	return 0;
}

int
qga_oob_available(const struct qga_client *c, const char *name)
{
	size_t i;

	if (!c->ids || !qga_has_capability(c, "oob"))
		return 0;
	for (i = 0; oob_commands[i]; i++)
		if (strcmp(oob_commands[i], name) == 0)
			return 1;
	return 0;
}

/* Queue one request for writing. id may be NULL (no id member); oob sends
 * it with exec-oob instead of execute. */
static int
send_request(struct qga_client *c, const char *name, json_t *args,
    const char *id, int sentinel, int oob)
{
	struct buf_sink d = { &c->out, false };
	size_t mark = c->out.len;
	json_t *msg;

	/* A request missing its arguments, its id or (json_dumps() hands
	 * such text back) an object key would be answered as some other
	 * request: out of memory here breaks the client instead. */
	msg = json_pack("{s:s}", oob ? "exec-oob" : "execute", name);
	if (msg == NULL ||
	    (args && json_object_set(msg, "arguments", args) < 0) ||
	    (id && json_object_set_new(msg, "id", json_string(id)) < 0) ||
	    (sentinel && buf_putc(&c->out, (char)0xff) < 0) ||
	    json_dump_callback(msg, buf_sink_put, &d, JSON_COMPACT) < 0 ||
	    d.failed || buf_putc(&c->out, '\n') < 0) {
		json_decref(msg);
		c->out.len = mark;
		return client_break(c, -ENOMEM);
	}
	json_decref(msg);
	if (c->phase == PH_CONNECTING || c->in_call_async)
		return 0;
	return flush_out(c);
}

static int
begin_probe(struct qga_client *c)
{
	c->cls = QGA_SERVER_UNKNOWN;
	json_decref(c->greeting);
	c->greeting = NULL;
	json_array_clear(c->enabled);
	next_id(c, c->probe_id);
	c->caps_id[0] = '\0';
	c->phase = PH_PROBE;
	c->silence_deadline = client_now_ms() + QGA_SILENCE_MS;
	return send_request(c, "request-negotiation", NULL, c->probe_id, 0, 0);
}

static int
begin_resync(struct qga_client *c)
{
	json_t *args;
	int r;

	/* A positive id that survives every JSON number implementation. */
	c->sync_id = (int64_t)(random_u64() >> 12) + 1;
	args = json_pack("{s:I}", "id", (json_int_t)c->sync_id);
	if (args == NULL)
		return client_break(c, -ENOMEM);
	c->phase = PH_RESYNC;
	c->silence_deadline = client_now_ms() + QGA_SILENCE_MS;
	r = send_request(c, "guest-sync-delimited", args, NULL, 1, 0);
	json_decref(args);
	return r;
}

/* How many in-band calls may be in flight; 0 for no limit (sessions
 * without oob pipeline as deep as the caller likes, as before). */
static int
inband_window(const struct qga_client *c)
{
	if (!c->ids || !qga_has_capability(c, "oob"))
		return 0;
	if (c->have_limits && c->limits.from_agent &&
	    c->limits.max_in_band_queue > 1 &&
	    c->limits.max_in_band_queue <= INT_MAX)
		return (int)c->limits.max_in_band_queue - 1;
	return CLIENT_INBAND_WINDOW;
}

/* Send as many queued calls as the ordering rules allow. */
static int
pump_calls(struct qga_client *c)
{
	struct call *k;
	int r, window, inband = 0;

	if (c->phase != PH_READY)
		return 0;
	if (!c->ids) {
		if (c->calls == NULL || c->calls->sent)
			return 0;
		if (c->need_resync) {
			c->need_resync = 0;
			c->phase_deadline = client_deadline(CLIENT_RESYNC_MS);
			return begin_resync(c);
		}
		c->calls->sent = 1;
		return send_request(c, c->calls->name, c->calls->args, NULL,
		    0, 0);
	}
	window = inband_window(c);
	for (k = c->calls; k; k = k->next)
		if (k->sent && !k->oob)
			inband++;
	for (k = c->calls; k; k = k->next) {
		if (k->sent)
			continue;
		k->oob = (k->flags & QGA_CALL_OOB) &&
		    qga_oob_available(c, k->name);
		/* In-band calls keep their order: once one waits for room,
		 * so do the ones after it. */
		if (!k->oob && window > 0 && inband >= window)
			continue;
		next_id(c, k->id);
		k->sent = 1;
		if (!k->oob)
			inband++;
		r = send_request(c, k->name, k->args, k->id, 0, k->oob);
		if (r < 0)
			return r;
	}
	return 0;
}

static int
become_ready(struct qga_client *c)
{
	c->phase = PH_READY;
	c->phase_deadline = -1;
	c->silence_deadline = -1;
	return pump_calls(c);
}

int
client_begin(struct qga_client *c)
{
	if (c->flags & QGA_OPT_NO_PROBE) {
		c->cls = QGA_SERVER_NONE;
		c->ids = !(c->flags & QGA_OPT_NO_IDS);
		return become_ready(c);
	}
	return begin_probe(c);
}

static int
begin_caps(struct qga_client *c, json_t *greeting)
{
	json_t *offered, *v, *args, *o;
	size_t i, j;
	int r;

	json_decref(c->greeting);
	c->greeting = json_incref(greeting);
	offered = json_object_get(greeting, "capabilities");
	json_array_clear(c->enabled);
	json_array_foreach(c->want, i, v) {
		json_array_foreach(offered, j, o) {
			if (!json_equal(o, v))
				continue;
			if (json_array_append(c->enabled, v) < 0)
				return client_break(c, -ENOMEM);
			break;
		}
	}
	next_id(c, c->caps_id);
	c->phase = PH_CAPS;
	c->silence_deadline = -1;
	args = json_pack("{s:O}", "enable", c->enabled);
	if (args == NULL)
		return client_break(c, -ENOMEM);
	r = send_request(c, "qmp_capabilities", args, c->caps_id, 0, 0);
	json_decref(args);
	return r;
}

static int
is_parse_error(json_t *error)
{
	const char *desc = json_string_value(json_object_get(error, "desc"));

	return desc && strncmp(desc, "JSON parse error", 16) == 0;
}

/* The answer to request-negotiation (id already matched, or id-less). */
static int
classify(struct qga_client *c, json_t *msg, int id_echoed)
{
	json_t *ret = json_object_get(msg, "return");
	json_t *error = json_object_get(msg, "error");
	const char *cls = json_string_value(json_object_get(error, "class"));
	const char *desc = json_string_value(json_object_get(error, "desc"));
	json_t *qmp;

	if (ret && id_echoed) {
		qmp = json_object_get(ret, "QMP");
		if (!json_is_object(qmp) ||
		    !json_is_array(json_object_get(qmp, "capabilities"))) {
			client_set_error(c, "request-negotiation returned "
			    "something that is not a greeting");
			return client_break(c, -EPROTO);
		}
		c->cls = QGA_SERVER_NEGOTIATING;
		c->ids = 1;
		return begin_caps(c, qmp);
	}
	if (error == NULL || cls == NULL)
		return 0;	/* an id-less success: a stale reply */
	if (id_echoed) {
		/* CommandNotFound, or CommandDisabled from an agent that
		 * blocks it: either way a server that echoes ids. */
		c->cls = QGA_SERVER_LEGACY;
		c->ids = 1;
		return become_ready(c);
	}
	if (is_parse_error(error))
		return 0;	/* the complaint about someone's 0xFF */
	if (strcmp(cls, "CommandNotFound") == 0) {
		c->cls = QGA_SERVER_LEGACY_2_12;
		c->ids = 0;
		return become_ready(c);
	}
	if (desc && strstr(desc, "'id'") &&
	    (strcmp(cls, "GenericError") == 0 ||
	    strcmp(cls, "QMPExtraInputObjectMember") == 0)) {
		c->cls = QGA_SERVER_LEGACY_OLD;
		c->ids = 0;
		return become_ready(c);
	}
	return 0;	/* somebody else's error */
}

static struct call *
find_call(struct qga_client *c, const char *id)
{
	struct call *k;

	/* A call sent without an id (strict ordering) has id "": a reply
	 * with "id": "" is someone else's, not its answer. */
	for (k = c->calls; k; k = k->next)
		if (k->sent && k->id[0] != '\0' && strcmp(k->id, id) == 0)
			return k;
	return NULL;
}

static int
deliver(struct qga_client *c, struct call *k, json_t *msg)
{
	struct qga_reply *r = reply_new(msg);

	if (r == NULL)
		return client_break(c, -ENOMEM);
	call_complete(c, k, 0, r);
	return pump_calls(c);
}

/* One JSON message from the server; sentinel says it followed 0xFF. */
static int
handle_message(struct qga_client *c, json_t *msg, int sentinel)
{
	json_t *idv = json_object_get(msg, "id");
	const char *id = json_string_value(idv);
	json_t *error = json_object_get(msg, "error");
	int is_reply = json_object_get(msg, "return") || error;
	struct call *k;

	if (!is_reply && json_is_object(json_object_get(msg, "QMP")) &&
	    (c->phase == PH_PROBE || (c->phase == PH_RESYNC &&
	    c->cls == QGA_SERVER_UNKNOWN))) {
		/* An unsolicited greeting: a QMP monitor. Its answer to
		 * request-negotiation is dropped as stale. */
		c->cls = QGA_SERVER_QMP;
		c->ids = 1;
		return begin_caps(c, json_object_get(msg, "QMP"));
	}
	if (c->phase == PH_RESYNC) {
		/* Everything before our sentinel reply is history. */
		if (sentinel && json_integer_value(json_object_get(msg,
		    "return")) == c->sync_id) {
			if (c->cls == QGA_SERVER_UNKNOWN ||
			    c->cls == QGA_SERVER_NEGOTIATING)
				return begin_probe(c);
			return become_ready(c);
		}
		return 0;
	}
	if (!is_reply) {
		if (!json_is_string(json_object_get(msg, "event")))
			return 0;
		if (c->event_cb) {
			c->event_cb(c, msg, c->event_opaque);
			return 0;
		}
		if (json_array_size(c->events) >= QGA_MAX_QUEUED_EVENTS)
			json_array_remove(c->events, 0);
		if (json_array_append(c->events, msg) < 0)
			return client_break(c, -ENOMEM);
		return 0;
	}
	switch (c->phase) {
	case PH_PROBE:
		if (id && strcmp(id, c->probe_id) == 0)
			return classify(c, msg, 1);
		if (idv == NULL)
			return classify(c, msg, 0);
		return 0;
	case PH_CAPS:
		if (id == NULL || strcmp(id, c->caps_id) != 0)
			return 0;
		if (error) {
			client_set_error(c, "qmp_capabilities failed: %s",
			    json_string_value(json_object_get(error, "desc")));
			return client_break(c, -EPROTO);
		}
		return become_ready(c);
	case PH_READY:
		break;
	default:
		return 0;
	}
	if (id) {
		k = find_call(c, id);
		return k ? deliver(c, k, msg) : 0;
	}
	if (idv != NULL)
		return 0;	/* a non-string id is never ours */
	if (error && is_parse_error(error))
		return 0;
	if (!c->ids && c->calls && c->calls->sent)
		return deliver(c, c->calls, msg);
	return 0;	/* a stale reply */
}

static int
handle_line(struct qga_client *c, char *line, size_t len)
{
	json_t *msg;
	char *perr;
	int sentinel = 0;

	while (len && (unsigned char)line[0] == 0xff) {
		sentinel = 1;
		line++;
		len--;
	}
	if (len && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return 0;
	/* The agent's own reader, not json_loadb(): jansson's lexer drops a
	 * byte of a token when its buffer cannot grow and reports other
	 * allocation failures as syntax errors; this one tells them apart,
	 * and a reply lost for want of memory must not leave its call
	 * waiting (forever without a timeout). The line's length is checked
	 * already: the parser's limit is never the tighter one (it counts one
	 * byte more than the tokens hold). */
	msg = json_parse_text(line, len, (size_t)QGA_MAX_REPLY_SIZE + 1, &perr);
	if (msg == NULL) {
		if (perr == NULL)
			return client_break(c, -ENOMEM);
		free(perr);
		return 0;	/* garbage from a confused channel */
	}
	if (json_is_object(msg))
		(void)handle_message(c, msg, sentinel);
	json_decref(msg);
	return c->phase == PH_BROKEN ? c->err : 0;
}

static int
reply_too_long(struct qga_client *c)
{
	client_set_error(c, "a reply exceeds %u bytes", QGA_MAX_REPLY_SIZE);
	return client_break(c, -EMSGSIZE);
}

static int
read_input(struct qga_client *c)
{
	size_t off, start;
	ssize_t n;
	char *nl;
	int r;

	for (;;) {
		if (buf_reserve(&c->in, CLIENT_READ_SIZE) < 0)
			return client_break(c, -ENOMEM);
		n = read(c->fd, c->in.data + c->in.len, CLIENT_READ_SIZE);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			client_set_error(c, "read from the agent: %s",
			    strerror(errno));
			return client_break(c, -errno);
		}
		if (n == 0)
			return -ECONNRESET;
		start = c->in.len;
		c->in.len += (size_t)n;
		c->in.data[c->in.len] = '\0';
		off = 0;
		while ((nl = memchr(c->in.data + (start > off ? start : off),
		    '\n', c->in.len - (start > off ? start : off))) != NULL) {
			size_t end = (size_t)(nl - c->in.data);

			/* Whether the newline came in the same read or not. */
			if (end - off > QGA_MAX_REPLY_SIZE)
				return reply_too_long(c);
			r = handle_line(c, c->in.data + off, end - off);
			off = end + 1;
			if (r < 0)
				return r;
		}
		buf_consume(&c->in, off);
		if (c->in.len > QGA_MAX_REPLY_SIZE)
			return reply_too_long(c);
	}
}

/* The agent closed the connection. */
static int
handle_eof(struct qga_client *c)
{
	struct call *k, *next;

	/* Shutting down is how some agents "answer" guest-shutdown. */
	for (k = c->calls; k; k = next) {
		next = k->next;
		if (k->sent && (k->flags & QGA_CALL_NO_SUCCESS_RESPONSE))
			call_complete(c, k, 0, NULL);
	}
	client_set_error(c, "the agent closed the connection");
	return client_break(c, -ECONNRESET);
}

static int
expire(struct qga_client *c)
{
	int64_t now = client_now_ms();
	struct call *k, *next;

	if (c->phase_deadline >= 0 && now >= c->phase_deadline &&
	    c->phase != PH_READY) {
		client_set_error(c, "%s", c->phase == PH_CONNECTING ?
		    "connect: timed out" : c->phase == PH_RESYNC ?
		    "no answer to guest-sync-delimited in time" :
		    "the server did not complete the handshake in time");
		return client_break(c, -ETIMEDOUT);
	}
	if (c->silence_deadline >= 0 && now >= c->silence_deadline &&
	    (c->phase == PH_PROBE || c->phase == PH_RESYNC))
		return begin_resync(c);
	for (k = c->calls; k; k = next) {
		next = k->next;
		if (k->deadline < 0 || now < k->deadline)
			continue;
		if (k->sent && !c->ids)
			c->need_resync = 1;
		if (k->sent && (k->flags & QGA_CALL_NO_SUCCESS_RESPONSE))
			call_complete(c, k, 0, NULL);
		else {
			client_set_error(c, "%s: no reply in time", k->name);
			call_complete(c, k, -ETIMEDOUT, NULL);
		}
	}
	return pump_calls(c);
}

static int
finish_connect(struct qga_client *c)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr == EINPROGRESS || soerr == EALREADY)
		return 0;
	if (soerr) {
		client_set_error(c, "connect vsock: %s", strerror(soerr));
		return client_break(c, -soerr);
	}
	return client_begin(c);
}

int
qga_process(struct qga_client *c, short revents)
{
	int r = 0;

	if (c->phase == PH_BROKEN)
		return c->err;
	if (c->pending_err)
		return client_break(c, c->pending_err);
	if (c->phase == PH_CONNECTING) {
		if (revents & (POLLOUT | POLLERR | POLLHUP))
			r = finish_connect(c);
		if (r == 0 && c->phase == PH_CONNECTING)
			return expire(c);
	}
	if (r == 0 && c->phase != PH_BROKEN && (revents & POLLOUT))
		r = flush_out(c);
	if (r == 0 && c->phase != PH_BROKEN &&
	    (revents & (POLLIN | POLLHUP | POLLERR))) {
		r = read_input(c);
		if (r == -ECONNRESET && c->phase != PH_BROKEN)
			r = handle_eof(c);
	}
	if (r == 0 && c->phase != PH_BROKEN)
		r = expire(c);
	return c->phase == PH_BROKEN ? c->err : r;
}

int
qga_get_fd(const struct qga_client *c)
{
	return c->fd;
}

short
qga_get_events(const struct qga_client *c)
{
	if (c->phase == PH_BROKEN)
		return 0;
	if (c->phase == PH_CONNECTING)
		return POLLOUT;
	return POLLIN | (c->out.len ? POLLOUT : 0);
}

static void
earliest(int64_t *best, int64_t t)
{
	if (t >= 0 && (*best < 0 || t < *best))
		*best = t;
}

int
qga_get_timeout(const struct qga_client *c)
{
	int64_t best = -1, now;
	struct call *k;

	if (c->phase == PH_BROKEN)
		return -1;
	if (c->pending_err)
		return 0;
	if (c->phase != PH_READY)
		earliest(&best, c->phase_deadline);
	if (c->phase == PH_PROBE || c->phase == PH_RESYNC)
		earliest(&best, c->silence_deadline);
	for (k = c->calls; k; k = k->next)
		earliest(&best, k->deadline);
	if (best < 0)
		return -1;
	now = client_now_ms();
	if (best <= now)
		return 0;
	return best - now > INT_MAX ? INT_MAX : (int)(best - now);
}

int
qga_ready(const struct qga_client *c)
{
	if (c->phase == PH_BROKEN)
		return c->err;
	return c->phase == PH_READY;
}

int
qga_call_async(struct qga_client *c, const char *name, json_t *args,
    unsigned flags, int timeout_ms, qga_reply_cb *cb, void *opaque)
{
	struct call *k;

	if (c->phase == PH_BROKEN)
		return c->err;
	if (name == NULL || (args && !json_is_object(args))) {
		client_set_error(c, "a command needs a name and object arguments");
		return -EINVAL;
	}
	k = calloc(1, sizeof(*k));
	if (k == NULL || (k->name = strdup(name)) == NULL) {
		free(k);
		return -ENOMEM;
	}
	k->args = args ? json_incref(args) : NULL;
	k->flags = flags;
	k->deadline = client_deadline(timeout_ms);
	k->cb = cb;
	k->opaque = opaque;
	*c->calls_tail = k;
	c->calls_tail = &k->next;
	/*
	 * Callbacks run only inside qga_process() and qga_free(): the request
	 * is written there (qga_get_events() asks for POLLOUT), so an agent
	 * that went away is found there too. Once queued, the call's outcome
	 * is its callback's to report, never this return value's.
	 */
	c->in_call_async = 1;
	(void)pump_calls(c);
	c->in_call_async = 0;
	return 0;
}

void
qga_set_event_cb(struct qga_client *c, qga_event_cb *cb, void *opaque)
{
	c->event_cb = cb;
	c->event_opaque = opaque;
}

/* Allocate a client and open its transport; shared by both connects. */
int
qga_connect_start(const struct qga_connect_opts *opts, int timeout_ms,
    struct qga_client **ret, char *errmsg)
{
	struct qga_client *c;
	size_t n = 0;
	int r;

	*ret = NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->fd = -1;
	c->calls_tail = &c->calls;
	c->phase_deadline = client_deadline(timeout_ms);
	c->silence_deadline = -1;
	c->flags = opts->flags;
	c->want = json_array();
	c->enabled = json_array();
	c->events = json_array();
	snprintf(c->id_prefix, sizeof(c->id_prefix), "libqga-%08x",
	    (unsigned)random_u64());
	r = c->want && c->enabled && c->events ? 0 : -ENOMEM;
	for (; r == 0 && opts->capabilities && opts->capabilities[n]; n++) {
		if (n == QGA_MAX_CAPABILITIES) {
			client_set_error(c, "more than %d capabilities",
			    QGA_MAX_CAPABILITIES);
			r = -E2BIG;
			break;
		}
		if (json_array_append_new(c->want,
		    json_string(opts->capabilities[n])) < 0)
			r = -ENOMEM;
	}
	if (r == 0)
		r = client_open(c, opts);
	if (r == 0)
		r = client_begin(c);
	else if (r == 1) {
		c->phase = PH_CONNECTING;
		r = 0;
	}
	if (r < 0) {
		if (errmsg)
			snprintf(errmsg, QGA_ERRSTR_SIZE, "%s", c->errstr[0] ?
			    c->errstr : strerror(-r));
		qga_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

void
qga_free(struct qga_client *c)
{
	if (c == NULL)
		return;
	client_set_error(c, "the client was freed");
	while (c->calls)
		call_complete(c, c->calls, -ECANCELED, NULL);
	if (c->fd >= 0)
		close(c->fd);
	json_decref(c->greeting);
	json_decref(c->want);
	json_decref(c->enabled);
	json_decref(c->events);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
}

const char *
qga_errstr(const struct qga_client *c)
{
	return c->errstr;
}

enum qga_server
qga_server_class(const struct qga_client *c)
{
	return c->cls;
}

const char *
qga_server_class_name(enum qga_server cls)
{
	switch (cls) {
	case QGA_SERVER_NEGOTIATING:
		return "negotiating";
	case QGA_SERVER_LEGACY:
		return "legacy";
	case QGA_SERVER_LEGACY_2_12:
		return "legacy-2.12";
	case QGA_SERVER_LEGACY_OLD:
		return "legacy-pre-4.0";
	case QGA_SERVER_QMP:
		return "qmp";
	case QGA_SERVER_NONE:
		return "none";
	case QGA_SERVER_UNKNOWN:
		break;
	}
	return "unknown";
}

json_t *
qga_greeting(const struct qga_client *c)
{
	return c->greeting;
}

json_t *
qga_enabled_capabilities(const struct qga_client *c)
{
	return c->enabled;
}

int
qga_uses_ids(const struct qga_client *c)
{
	return c->ids;
}

json_t *
client_pop_event(struct qga_client *c)
{
	json_t *e;

	if (json_array_size(c->events) == 0)
		return NULL;
	e = json_incref(json_array_get(c->events, 0));
	json_array_remove(c->events, 0);
	return e;
}

/* Used by qga_resync(): start a resync on a ready, idle client. */
int
client_start_resync(struct qga_client *c, int timeout_ms)
{
	c->have_limits = 0;	/* a renegotiated session may differ */
	c->phase_deadline = client_deadline(timeout_ms);
	c->need_resync = 0;
	return begin_resync(c);
}

/* The blocking libqga API: the non-blocking core driven by poll(2). */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "client-int.h"

int
client_wait(struct qga_client *c, const int *done)
{
	struct pollfd p;
	int r, t;

	while (!*done) {
		if (c->phase == PH_BROKEN)
			return c->err;
		p.fd = c->fd;
		p.events = qga_get_events(c);
		p.revents = 0;
		t = qga_get_timeout(c);
		if (t < 0 && c->calls == NULL && c->phase == PH_READY)
			return 0;	/* nothing left that could finish */
		r = poll(&p, 1, t);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		r = qga_process(c, p.revents);
		if (r < 0)
			return r;
	}
	return 0;
}

static int
wait_ready(struct qga_client *c)
{
	struct pollfd p;
	int r;

	while (c->phase != PH_READY) {
		if (c->phase == PH_BROKEN)
			return c->err;
		p.fd = c->fd;
		p.events = qga_get_events(c);
		p.revents = 0;
		r = poll(&p, 1, qga_get_timeout(c));
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r >= 0)
			(void)qga_process(c, p.revents);
	}
	return 0;
}

int
qga_connect(const struct qga_connect_opts *opts, int timeout_ms,
    struct qga_client **ret, char *errmsg)
{
	struct qga_client *c;
	int r;

	r = qga_connect_start(opts, timeout_ms, &c, errmsg);
	if (r < 0)
		return r;
	r = wait_ready(c);
	if (r < 0) {
		if (errmsg)
			snprintf(errmsg, QGA_ERRSTR_SIZE, "%s", c->errstr);
		qga_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

int
qga_connect_unix(const char *path, int timeout_ms, struct qga_client **ret,
    char *errmsg)
{
	struct qga_connect_opts o = {
		.transport = QGA_TRANSPORT_UNIX, .path = path
	};

	return qga_connect(&o, timeout_ms, ret, errmsg);
}

static void
store_reply(struct qga_client *c, int err, struct qga_reply *reply,
    void *opaque)
{
	struct reply_waiter *w = opaque;

	(void)c;
	w->done = 1;
	w->err = err;
	w->reply = reply;
}

int
qga_call_flags(struct qga_client *c, const char *name, json_t *args,
    unsigned flags, int timeout_ms, struct qga_reply **ret)
{
	struct reply_waiter w = { 0 };
	int r;

	*ret = NULL;
	r = qga_call_async(c, name, args, flags, timeout_ms, store_reply, &w);
	if (r < 0)
		return r;
	r = client_wait(c, &w.done);
	if (!w.done) {
		/* Only a failed poll(2) gets here; the call is still queued
		 * and will be cancelled by qga_free(). */
		return r < 0 ? r : -EIO;
	}
	*ret = w.reply;
	return w.err;
}

int
qga_call(struct qga_client *c, const char *name, json_t *args,
    int timeout_ms, struct qga_reply **ret)
{
	return qga_call_flags(c, name, args, 0, timeout_ms, ret);
}

int
qga_resync(struct qga_client *c, int timeout_ms)
{
	int r;

	if (c->phase == PH_BROKEN)
		return c->err;
	if (c->phase != PH_READY || c->calls) {
		client_set_error(c, "resync needs an idle, connected client");
		return -EBUSY;
	}
	if (c->cls == QGA_SERVER_QMP) {
		client_set_error(c, "a QMP monitor has no guest-sync");
		return -ENOTSUP;
	}
	r = client_start_resync(c, timeout_ms);
	if (r < 0)
		return r;
	return wait_ready(c);
}

int
qga_wait_event(struct qga_client *c, int timeout_ms, json_t **event)
{
	int64_t deadline = client_deadline(timeout_ms), left;
	struct pollfd p;
	int r, t;

	*event = NULL;
	if (c->event_cb) {
		client_set_error(c, "events go to the event callback");
		return -EINVAL;
	}
	for (;;) {
		if ((*event = client_pop_event(c)) != NULL)
			return 0;
		if (c->phase == PH_BROKEN)
			return c->err;
		t = qga_get_timeout(c);
		if (deadline >= 0) {
			left = deadline - client_now_ms();
			if (left <= 0)
				return -ETIMEDOUT;
			if (t < 0 || left < t)
				t = (int)left;
		}
		p.fd = c->fd;
		p.events = qga_get_events(c);
		p.revents = 0;
		r = poll(&p, 1, t);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		(void)qga_process(c, p.revents);
	}
}

/* What qemu-ga (7.2 to 10.2) enforces without saying so. */
static const struct qga_limits legacy_limits = {
	.max_message_bytes = 64u << 20,		/* JSON_MAX_TOKEN_SIZE */
	.max_file_read_count = 48u << 20,	/* QGA_READ_COUNT_MAX */
	.max_exec_output_bytes = 16u << 20,	/* GUEST_EXEC_MAX_OUTPUT */
	.max_nesting = 1024,			/* JSON_MAX_NESTING */
	.max_in_band_queue = 0,
	.max_clients = 1,
};

/* Copy member key of o into *dst when it is a positive integer. */
static void
take_u64(json_t *o, const char *key, uint64_t *dst)
{
	json_t *v = json_object_get(o, key);

	if (json_is_integer(v) && json_integer_value(v) > 0)
		*dst = (uint64_t)json_integer_value(v);
}

static void
take_u32(json_t *o, const char *key, uint32_t *dst)
{
	uint64_t v = 0;

	take_u64(o, key, &v);
	if (v > 0 && v <= UINT32_MAX)
		*dst = (uint32_t)v;
}

int
qga_get_limits(struct qga_client *c, int timeout_ms, struct qga_limits *out)
{
	struct qga_limits l = legacy_limits;
	struct qga_reply *reply;
	json_t *ret;
	int r;

	if (c->phase == PH_BROKEN)
		return c->err;
	if (c->cls == QGA_SERVER_QMP) {
		client_set_error(c, "a QMP monitor has no agent limits");
		return -ENOTSUP;
	}
	if (!c->have_limits && c->cls == QGA_SERVER_NEGOTIATING) {
		r = qga_call_flags(c, "qga-get-limits", NULL, QGA_CALL_OOB,
		    timeout_ms, &reply);
		if (r < 0)
			return r;
		ret = qga_reply_return(reply);
		if (json_is_object(ret)) {
			take_u64(ret, "max-message-bytes", &l.max_message_bytes);
			take_u64(ret, "max-file-read-count",
			    &l.max_file_read_count);
			take_u64(ret, "max-exec-output-bytes",
			    &l.max_exec_output_bytes);
			take_u32(ret, "max-nesting", &l.max_nesting);
			take_u32(ret, "max-in-band-queue", &l.max_in_band_queue);
			take_u32(ret, "max-clients", &l.max_clients);
			l.from_agent = 1;
		}
		qga_reply_free(reply);
	}
	if (!c->have_limits) {
		c->limits = l;
		c->have_limits = 1;
	}
	*out = c->limits;
	return 0;
}

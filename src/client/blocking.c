/* The blocking libqga API: the non-blocking core driven by poll(2). */
#include <errno.h>
#include <poll.h>
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

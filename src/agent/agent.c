/*
 * The agent proper: the channel in the event loop, bytes into the JSON
 * reader, requests through the dispatcher, replies out with backpressure,
 * and what a client arriving or leaving means on each transport.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"

static void client_io(int fd, unsigned events, void *data);
static void wait_for_host(struct qga_ctx *a);

/* ---- the services ctx.h promises ---- */

struct qga_loop *
qga_ctx_loop(struct qga_ctx *a)
{
	return a->loop;
}

const struct qga_config *
qga_ctx_config(struct qga_ctx *a)
{
	return a->cfg;
}

int64_t
qga_ctx_new_handle(struct qga_ctx *a, struct qga_error *err)
{
	int64_t h = qga_state_next_handle(&a->state);

	if (h < 0)
		qga_error_set(err, "failed to commit persistent state to disk");
	return h;
}

bool
qga_ctx_frozen(struct qga_ctx *a)
{
	return a->frozen;
}

int
qga_ctx_set_frozen(struct qga_ctx *a, bool frozen, struct qga_error *err)
{
	if (frozen == a->frozen)
		return 0;
	if (frozen) {
		/* Log before the pause: nothing may be written while frozen. */
		qga_log(QGA_LOG_INFO, "disabling logging due to filesystem freeze");
		if (qga_state_set_frozen_marker(&a->state, true) < 0) {
			qga_error_set_errno(err, errno, "failed to create frozen marker");
			return -1;
		}
		qga_log_pause(true);
		a->frozen = true;
		return 0;
	}
	a->frozen = false;
	qga_log_pause(false);
	if (a->logfile_pending)
		agent_open_logfile(a);
	if (a->pidfile_pending)
		agent_write_pidfile(a);
	qga_state_load(&a->state, true);
	qga_log(QGA_LOG_INFO, "logging re-enabled due to filesystem unfreeze");
	if (qga_state_set_frozen_marker(&a->state, false) < 0) {
		qga_error_set_errno(err, errno, "failed to remove frozen marker");
		return -1;
	}
	return 0;
}

void
qga_ctx_delimit_reply(struct qga_ctx *a)
{
	a->delimit = true;
}

void
qga_ctx_at_exit(struct qga_ctx *a, void (*fn)(struct qga_ctx *))
{
	if (a->nexit_hooks < QGA_MAX_EXIT_HOOKS)
		a->exit_hooks[a->nexit_hooks++] = fn;
}

struct session *
qga_ctx_session(struct qga_ctx *a)
{
	return &a->session;
}

/* ---- output ---- */

static int
dump_cb(const char *buffer, size_t size, void *data)
{
	return buf_append(data, buffer, size) < 0 ? -1 : 0;
}

static void
queue_reply(struct qga_ctx *a, json_t *reply)
{
	size_t mark = a->out.len;

	if (a->delimit) {
		buf_putc(&a->out, (char)0xFF);
		a->delimit = false;
	}
	/* Serialise straight into the output buffer: no extra copy of large
	 * replies. ENSURE_ASCII and the default separators are qemu-ga's. */
	if (json_dump_callback(reply, dump_cb, &a->out,
	    JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY) < 0) {
		a->out.len = mark;
		json_t *e = agent_error_reply(json_object_get(reply, "id"),
		    QGA_ERR_GENERIC, "out of memory");
		json_dump_callback(e, dump_cb, &a->out, JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
		json_decref(e);
	}
	buf_putc(&a->out, '\n');
	if (a->cfg->verbose)
		qga_log(QGA_LOG_DEBUG, "sending response of %zu bytes", a->out.len - mark);
}

static void
out_done(struct qga_ctx *a)
{
	a->out_off = 0;
	if (a->out.cap > QGA_OUT_KEEP)
		buf_free(&a->out);
	else
		buf_reset(&a->out);
}

/*
 * Write what we can; 1 when everything went, 0 when the peer is slow.
 * The written part is skipped with an offset: consuming it from the
 * front moved the rest of a 22 MB reply after every socket-buffer-sized
 * write (perf: memmove was most of a 16 MiB guest-file-read).
 */
static int
flush_output(struct qga_ctx *a)
{
	while (a->out_off < a->out.len) {
		ssize_t n = write(a->ch.fd, a->out.data + a->out_off,
		    a->out.len - a->out_off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			/* The peer is gone; its reply with it. */
			break;
		}
		a->out_off += (size_t)n;
	}
	out_done(a);
	return 1;
}

/*
 * glibc keeps freed heap memory (and raises its mmap threshold after a big
 * free), so the RSS after one oversized message would stay at its peak.
 * Hand it back once nothing is half-read and the output has drained.
 */
static void
trim_memory(struct qga_ctx *a)
{
	if (a->read_since_trim < QGA_TRIM_AFTER_BYTES || a->out.len ||
	    json_stream_partial(a->stream))
		return;
	a->read_since_trim = 0;
	if (a->out.cap > QGA_READ_CHUNK)
		buf_free(&a->out);
	malloc_trim(0);
}

/*
 * Handle queued requests until a reply cannot be written at once: a
 * client that does not read stops being read (bounded memory). Replies to
 * requests that are already queued wait for the next one, up to
 * QGA_OUT_BATCH bytes: pipelined requests cost one write, not one each.
 */
static void
process(struct qga_ctx *a)
{
	json_t *msg, *reply;
	char *err;

	while (a->ch.fd >= 0) {
		if (a->out.len && (a->out.len - a->out_off >= QGA_OUT_BATCH ||
		    !json_stream_ready(a->stream)) && !flush_output(a)) {
			qga_loop_mod_fd(a->loop, a->ch.fd, QGA_EV_OUT);
			return;
		}
		if (!json_stream_next(a->stream, &msg, &err))
			break;
		if (msg) {
			reply = agent_dispatch(a, msg);
			json_decref(msg);
		} else {
			reply = agent_error_reply(NULL, QGA_ERR_GENERIC, err);
			free(err);
		}
		if (reply) {
			queue_reply(a, reply);
			json_decref(reply);
		}
	}
	if (a->ch.fd >= 0 && !a->host_waiting)
		qga_loop_mod_fd(a->loop, a->ch.fd, QGA_EV_IN);
	trim_memory(a);
}

/* ---- clients coming and going ---- */

static void
begin_session(struct qga_ctx *a)
{
	/* A new client starts clean: no half request of the last one, no
	 * reply meant for it (qemu-ga keeps both; see docs/protocol.md). */
	json_stream_reset(a->stream);
	out_done(a);
	a->delimit = false;
	session_begin(&a->session);
}

static void
listener_ready(int fd, unsigned events, void *data)
{
	struct qga_ctx *a = data;
	int cfd;

	(void)fd;
	(void)events;
	if (a->ch.fd >= 0)
		return;
	cfd = channel_accept(&a->ch);
	if (cfd < 0)
		return;
	qga_log(QGA_LOG_DEBUG, "client connected");
	/* One client at a time, like qemu-ga: others wait in the backlog. */
	qga_loop_del_fd(a->loop, a->ch.listen_fd);
	begin_session(a);
	qga_loop_add_fd(a->loop, cfd, QGA_EV_IN, client_io, a);
}

static void
client_gone(struct qga_ctx *a)
{
	if (channel_is_listener(&a->ch)) {
		qga_log(QGA_LOG_DEBUG, "client disconnected");
		qga_loop_del_fd(a->loop, a->ch.fd);
		channel_close_client(&a->ch);
		begin_session(a);
		qga_loop_add_fd(a->loop, a->ch.listen_fd, QGA_EV_IN, listener_ready, a);
		return;
	}
	/* Serial port: the host side closed. The port stays open. */
	qga_log(QGA_LOG_DEBUG, "host disconnected");
	begin_session(a);
	wait_for_host(a);
}

static bool
host_present(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };

	return !(poll(&p, 1, 0) == 1 && (p.revents & POLLHUP));
}

static void host_recheck(void *data);

static void
host_check(struct qga_ctx *a)
{
	if (!a->host_waiting)
		return;
	if (!host_present(a->ch.fd)) {
		a->recheck_timer = qga_loop_add_timer(a->loop, QGA_HOST_RECHECK_MS,
		    host_recheck, a);
		return;
	}
	a->host_waiting = false;
	qga_log(QGA_LOG_DEBUG, "host connected");
	qga_loop_add_fd(a->loop, a->ch.fd, QGA_EV_IN, client_io, a);
}

static void
host_recheck(void *data)
{
	struct qga_ctx *a = data;

	a->recheck_timer = 0;
	host_check(a);
}

static void
sigio(int signo, void *data)
{
	struct qga_ctx *a = data;

	(void)signo;
	if (a->recheck_timer) {
		qga_loop_del_timer(a->loop, a->recheck_timer);
		a->recheck_timer = 0;
	}
	host_check(a);
}

/*
 * A virtio-serial port without a host reports POLLHUP and EOF without end:
 * watching it would spin. Stop watching and wait for the kernel's SIGIO
 * (sent when the host connects), with a slow timer as a safety net.
 */
static void
wait_for_host(struct qga_ctx *a)
{
	if (a->host_waiting)
		return;
	a->host_waiting = true;
	qga_loop_del_fd(a->loop, a->ch.fd);
	a->recheck_timer = qga_loop_add_timer(a->loop, QGA_HOST_RECHECK_MS,
	    host_recheck, a);
}

static void
client_io(int fd, unsigned events, void *data)
{
	struct qga_ctx *a = data;
	static char chunk[QGA_READ_CHUNK];
	ssize_t n;

	if (!(events & (QGA_EV_IN | QGA_EV_HUP | QGA_EV_ERR))) {
		process(a);
		return;
	}
	{
		n = read(fd, chunk, sizeof(chunk));
		if (n > 0) {
			if (a->cfg->verbose)
				qga_log(QGA_LOG_DEBUG, "read data, count: %zd", n);
			a->read_since_trim += (size_t)n;
			json_stream_feed(a->stream, chunk, (size_t)n);
			process(a);
			return;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		/* EOF, or an error such as ECONNRESET: qemu-ga exits on the
		 * latter without -r; we drop the client and keep serving. */
		client_gone(a);
	}
}

/* ---- start and stop ---- */

int
agent_open_logfile(struct qga_ctx *a)
{
	FILE *f;

	if (a->frozen) {
		a->logfile_pending = true;
		return 0;
	}
	a->logfile_pending = false;
	f = fopen(a->cfg->logfile, "ae");
	if (f == NULL) {
		qga_log(QGA_LOG_ERROR, "unable to open specified log file: %s",
		    strerror(errno));
		return -1;
	}
	qga_log_open(f, false, a->cfg->verbose ? QGA_LOG_ALL : QGA_LOG_DEFAULT);
	return 0;
}

int
agent_write_pidfile(struct qga_ctx *a)
{
	char line[32];
	int fd, len;

	if (a->frozen) {
		a->pidfile_pending = true;
		return 0;
	}
	a->pidfile_pending = false;
	fd = open(a->cfg->pidfile, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		qga_log(QGA_LOG_ERROR, "Cannot open pid file, %s", strerror(errno));
		return -1;
	}
	if (lockf(fd, F_TLOCK, 0) < 0) {
		qga_log(QGA_LOG_ERROR, "Cannot lock pid file, %s", strerror(errno));
		close(fd);
		return -1;
	}
	len = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || write(fd, line, (size_t)len) != len) {
		qga_log(QGA_LOG_ERROR, "Failed to write pid file");
		close(fd);
		return -1;
	}
	/* The fd stays open: the lock lives as long as we do. */
	a->pidfile_written = true;
	return 0;
}

static void
quit(int signo, void *data)
{
	struct qga_ctx *a = data;

	/* Leaving now would leave the guest's filesystems frozen with nobody
	 * to thaw them. */
	if (a->frozen) {
		qga_log(QGA_LOG_WARNING, "ignoring signal %d while frozen", signo);
		return;
	}
	qga_loop_quit(a->loop);
}

static void reopen_channel(void *data);

static int
open_channel(struct qga_ctx *a)
{
	const char *why = "error opening channel";

	if (channel_open(&a->ch, a->kind, a->cfg->path, a->cfg->listen_fd, &why) < 0) {
		qga_log(QGA_LOG_CRITICAL, "%s: %s: %s", why, a->cfg->path,
		    strerror(errno));
		return -1;
	}
	begin_session(a);
	if (channel_is_listener(&a->ch))
		return qga_loop_add_fd(a->loop, a->ch.listen_fd, QGA_EV_IN,
		    listener_ready, a);
	if (a->kind == CHANNEL_VIRTIO_SERIAL) {
		/* Ask for SIGIO on host connect and disconnect. */
		fcntl(a->ch.fd, F_SETOWN, getpid());
		fcntl(a->ch.fd, F_SETFL, fcntl(a->ch.fd, F_GETFL) | O_ASYNC);
	}
	a->host_waiting = true;
	host_check(a);
	return 0;
}

static void
reopen_channel(void *data)
{
	struct qga_ctx *a = data;

	if (open_channel(a) < 0) {
		qga_log(QGA_LOG_MESSAGE, "waiting for channel path...");
		qga_loop_add_timer(a->loop, QGA_RETRY_INTERVAL_MS, reopen_channel, a);
	}
}

int
agent_start_channel(struct qga_ctx *a)
{
	if (channel_kind_parse(a->cfg->method, &a->kind) < 0) {
		qga_log(QGA_LOG_CRITICAL, "unsupported channel method/type: %s",
		    a->cfg->method);
		return -1;
	}
	if (qga_loop_add_signal(a->loop, SIGIO, sigio, a) < 0)
		return -1;
	if (open_channel(a) == 0)
		return 0;
	if (!a->cfg->retry_path)
		return -1;
	qga_loop_add_timer(a->loop, QGA_RETRY_INTERVAL_MS, reopen_channel, a);
	return 0;
}

int
agent_run(struct qga_ctx *a)
{
	qga_loop_add_signal(a->loop, SIGTERM, quit, a);
	qga_loop_add_signal(a->loop, SIGINT, quit, a);
	signal(SIGPIPE, SIG_IGN);
	qga_loop_run(a->loop);
	for (size_t i = a->nexit_hooks; i > 0; i--)
		a->exit_hooks[i - 1](a);
	if (a->ch.fd >= 0 && !a->host_waiting)
		qga_loop_del_fd(a->loop, a->ch.fd);
	channel_close(&a->ch);
	return 0;
}

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
#include <sys/time.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"

static void wait_for_host(struct qga_ctx *a);
static void listener_ready(int fd, unsigned events, void *data);

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
	struct job *j = agent_current_job();

	(void)a;
	if (j)
		j->delimit = true;
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
	struct job *j = agent_current_job();

	(void)a;
	return j && j->client ? &j->client->session : NULL;
}

void
agent_session_init(struct qga_ctx *a, struct session *s)
{
	s->policy = a->cfg->negotiation;
	s->offered = a->cfg->negotiation == QGA_NEGOTIATION_OFF ? 0 :
	    QGA_CAP_OOB | QGA_CAP_EVENTS;
	session_begin(s);
}

void
qga_ctx_run_on_main(struct qga_ctx *a, void (*fn)(struct qga_ctx *, void *),
    void *data)
{
	if (a->worker == NULL)
		fn(a, data);
	else
		worker_call_on_main(a->worker, fn, data);
}

/* ---- events ---- */

struct posted_event {
	char	 name[64];
	json_t	*data;
};

static void
emit_on_main(struct qga_ctx *a, void *data)
{
	struct posted_event *pe = data;
	struct timeval tv;
	json_t *ev;

	gettimeofday(&tv, NULL);
	ev = json_pack("{s:s,s:{s:I,s:I}}", "event", pe->name, "timestamp",
	    "seconds", (json_int_t)tv.tv_sec, "microseconds", (json_int_t)tv.tv_usec);
	if (ev && pe->data)
		json_object_set(ev, "data", pe->data);
	/* Only sessions that asked for events get them: nothing unsolicited
	 * ever reaches a legacy client. */
	for (struct client *c = a->clients; ev && c; c = c->next) {
		if (c->fd < 0 || c->session.state != SESSION_NEGOTIATED ||
		    !(c->session.enabled & QGA_CAP_EVENTS))
			continue;
		client_queue(c, ev, false);
		client_pump(c);
	}
	if (ev == NULL)
		qga_log(QGA_LOG_ERROR, "out of memory: event %s not sent", pe->name);
	json_decref(ev);
	json_decref(pe->data);
	free(pe);
}

void
qga_ctx_emit_event(struct qga_ctx *a, const char *name, json_t *data)
{
	struct posted_event *pe = calloc(1, sizeof(*pe));

	if (pe == NULL) {
		qga_log(QGA_LOG_ERROR, "out of memory: event %s not sent", name);
		json_decref(data);
		return;
	}
	snprintf(pe->name, sizeof(pe->name), "%s", name);
	pe->data = data;
	/* Client output belongs to the main thread; a blocking command on the
	 * worker (guest-suspend-ram) hands its event over and waits until it
	 * is in the channels: the guest may be asleep a moment later. */
	if (a->worker == NULL)
		emit_on_main(a, pe);
	else if (worker_call_on_main_wait(a->worker, emit_on_main, pe,
	    QGA_EVENT_HANDOFF_MS) < 0) {
		json_decref(data);
		free(pe);
	}
}

/* ---- clients coming and going ---- */

static void
listen_for_clients(struct qga_ctx *a, bool on)
{
	static bool listening;

	if (on == listening || a->ch.listen_fd < 0)
		return;
	if (on)
		qga_loop_add_fd(a->loop, a->ch.listen_fd, QGA_EV_IN, listener_ready, a);
	else
		qga_loop_del_fd(a->loop, a->ch.listen_fd);
	listening = on;
}

static void
accept_retry(void *data)
{
	struct qga_ctx *a = data;

	listen_for_clients(a, a->nclients < (size_t)a->cfg->max_clients);
}

static void
listener_ready(int fd, unsigned events, void *data)
{
	struct qga_ctx *a = data;
	struct client *c;
	int cfd;

	(void)fd;
	(void)events;
	while (a->nclients < (size_t)a->cfg->max_clients) {
		/* Memory first: a client we cannot serve stays in the backlog
		 * and is accepted once there is, instead of being hung up on. */
		c = client_new(a, -1, false);
		if (c == NULL) {
			listen_for_clients(a, false);
			qga_loop_add_timer(a->loop, QGA_ACCEPT_RETRY_MS, accept_retry, a);
			return;
		}
		cfd = channel_accept(&a->ch);
		if (cfd < 0) {
			client_close(c);
			break;
		}
		c->fd = cfd;
		qga_log(QGA_LOG_DEBUG, "client connected");
		client_pump(c);
	}
	/* One client at a time by default, like qemu-ga: the others wait in
	 * the backlog until a slot is free. */
	listen_for_clients(a, a->nclients < (size_t)a->cfg->max_clients);
}

void
agent_client_gone(struct client *c)
{
	struct qga_ctx *a = c->agent;

	if (!c->port) {
		qga_log(QGA_LOG_DEBUG, "client disconnected");
		client_close(c);
		listen_for_clients(a, true);
		return;
	}
	/* Serial port: the host side closed. The port stays open. */
	qga_log(QGA_LOG_DEBUG, "host disconnected");
	client_reset(c);
	wait_for_host(a);
}

static struct client *
port_client(struct qga_ctx *a)
{
	for (struct client *c = a->clients; c; c = c->next)
		if (c->port)
			return c;
	return NULL;
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
	struct client *c = port_client(a);

	if (!a->host_waiting || c == NULL)
		return;
	if (!host_present(c->fd)) {
		a->recheck_timer = qga_loop_add_timer(a->loop, QGA_HOST_RECHECK_MS,
		    host_recheck, a);
		return;
	}
	a->host_waiting = false;
	qga_log(QGA_LOG_DEBUG, "host connected");
	client_pump(c);
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
	struct client *c = port_client(a);

	if (a->host_waiting || c == NULL)
		return;
	a->host_waiting = true;
	client_unwatch(c);
	a->recheck_timer = qga_loop_add_timer(a->loop, QGA_HOST_RECHECK_MS,
	    host_recheck, a);
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
	qga_ctx_emit_event(a, "AGENT_STOPPING", json_pack("{s:i}", "signal", signo));
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
	if (channel_is_listener(&a->ch)) {
		listen_for_clients(a, true);
		return 0;
	}
	if (a->kind == CHANNEL_VIRTIO_SERIAL) {
		/* Ask for SIGIO on host connect and disconnect. */
		fcntl(a->ch.fd, F_SETOWN, getpid());
		fcntl(a->ch.fd, F_SETFL, fcntl(a->ch.fd, F_GETFL) | O_ASYNC);
	}
	/* The port is one client for good; hosts come and go behind it. */
	if (client_new(a, a->ch.fd, true) == NULL)
		return -1;
	a->ch.fd = -1;
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
	/* Before the socket exists: a client that connects and at once
	 * sends SIGTERM must find the agent ready to exit cleanly. */
	if (qga_loop_add_signal(a->loop, SIGTERM, quit, a) < 0 ||
	    qga_loop_add_signal(a->loop, SIGINT, quit, a) < 0 ||
	    qga_loop_add_signal(a->loop, SIGIO, sigio, a) < 0)
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
	signal(SIGPIPE, SIG_IGN);
	a->worker = worker_start(a);
	if (a->worker == NULL)
		qga_log(QGA_LOG_WARNING, "no worker thread: blocking commands "
		    "run on the main thread");
	qga_loop_run(a->loop);
	/* Clients first: a job still on the worker is then only freed. */
	while (a->clients)
		client_close(a->clients);
	worker_stop(a->worker);
	a->worker = NULL;
	for (size_t i = a->nexit_hooks; i > 0; i--)
		a->exit_hooks[i - 1](a);
	channel_close(&a->ch);
	return 0;
}

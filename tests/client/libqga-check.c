/*
 * libqga-check: drives libqga for the client tests. Connects once, then runs
 * each operation given on the command line and prints one JSON line per
 * operation for the Python tests to judge:
 *
 *	libqga-check [-t MS] [-c CAP]... [-N] [-I] [-F] [-Q] SOCKET OP...
 *
 * -F connects the socket itself and hands libqga the fd. -Q sets no event
 * callback, so that events queue for qga_wait_event().
 *	OP: class | call:NAME[:JSON] | tcall:MS:NAME[:JSON] |
 *	    oob:NAME[:JSON] (QGA_CALL_OOB) | oobavail:NAME |
 *	    noreply:MS:NAME[:JSON] | resync | async:N:NAME | sleep:MS |
 *	    events (how many event messages have arrived) |
 *	    waitevent:MS (qga_wait_event) | limits (qga_get_limits) |
 *	    send:NAME[:JSON], sendoob:NAME[:JSON] (queue an asynchronous
 *	    call, in band or with QGA_CALL_OOB, and go on) |
 *	    drain (wait for every queued call; a line per completion, in the
 *	    order they complete, each flushed at once) |
 *	    exec:PATH (guest-exec, remembering the pid) | status
 *	    (guest-exec-status of that pid) | statuswait (the same every
 *	    10 ms until it says exited)
 *
 * "async" opens its own connection through the non-blocking API and queues
 * N calls before the handshake has finished.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "libqga.h"

#define CHECK_MAX_CAPS	8

static int nevents;

static void
count_event(struct qga_client *c, json_t *event, void *opaque)
{
	(void)c;
	(void)opaque;
	if (json_is_string(json_object_get(event, "event")))
		nevents++;
}

struct pending {
	int	seq, done;
};

static int npending, nqueued;
static json_int_t exec_pid;

static void emit(json_t *o);

static void
pending_done(struct qga_client *c, int err, struct qga_reply *reply,
    void *opaque)
{
	struct pending *p = opaque;
	json_t *o = json_pack("{s:s,s:i,s:i}", "op", "completed", "seq",
	    p->seq, "rc", err);

	(void)c;
	if (reply)
		json_object_set(o, "reply", qga_reply_json(reply));
	qga_reply_free(reply);
	emit(o);
	p->done = 1;
	npending--;
	free(p);
}

static json_t *
drain(struct qga_client *c)
{
	struct pollfd p;
	int r = 0;

	while (npending > 0) {
		p.fd = qga_get_fd(c);
		p.events = qga_get_events(c);
		p.revents = 0;
		if (poll(&p, 1, qga_get_timeout(c)) < 0)
			break;
		r = qga_process(c, p.revents);
		if (r < 0)
			break;
	}
	return json_pack("{s:i,s:i}", "rc", r, "left", npending);
}

static json_t *
limits_json(struct qga_client *c, int r, const struct qga_limits *l)
{
	if (r < 0)
		return json_pack("{s:i,s:s}", "rc", r, "error", qga_errstr(c));
	return json_pack("{s:i,s:I,s:I,s:I,s:i,s:i,s:i,s:b}", "rc", r,
	    "max-message-bytes", (json_int_t)l->max_message_bytes,
	    "max-file-read-count", (json_int_t)l->max_file_read_count,
	    "max-exec-output-bytes", (json_int_t)l->max_exec_output_bytes,
	    "max-nesting", (int)l->max_nesting,
	    "max-in-band-queue", (int)l->max_in_band_queue,
	    "max-clients", (int)l->max_clients, "from-agent", l->from_agent);
}

static struct qga_connect_opts opts = { .transport = QGA_TRANSPORT_UNIX };
static int timeout_ms = 5000;

static void
emit(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_ENCODE_ANY);

	printf("%s\n", s);
	fflush(stdout);
	free(s);
	json_decref(o);
}

static json_t *
parse_args(const char *text)
{
	json_error_t err;
	json_t *a;

	if (text == NULL)
		return NULL;
	a = json_loads(text, 0, &err);
	if (a == NULL) {
		fprintf(stderr, "bad JSON %s: %s\n", text, err.text);
		exit(2);
	}
	return a;
}

static json_t *
describe(struct qga_client *c)
{
	return json_pack("{s:s,s:b,s:O?,s:O}",
	    "class", qga_server_class_name(qga_server_class(c)),
	    "ids", qga_uses_ids(c), "greeting", qga_greeting(c),
	    "enabled", qga_enabled_capabilities(c));
}

static json_t *
result(struct qga_client *c, int r, struct qga_reply *reply)
{
	json_t *o = json_pack("{s:i}", "rc", r);

	if (r < 0)
		json_object_set_new(o, "error", json_string(qga_errstr(c)));
	else
		json_object_set(o, "reply", reply ? qga_reply_json(reply) :
		    json_null());
	if (reply) {
		json_object_set_new(o, "is_error",
		    json_boolean(qga_reply_is_error(reply)));
		if (qga_reply_is_error(reply))
			json_object_set_new(o, "class",
			    json_string(qga_reply_error_class(reply)));
	}
	qga_reply_free(reply);
	return o;
}

/* "MS:NAME[:JSON]" */
static void
split_timed(char *spec, int *ms, char **name, json_t **args)
{
	char *p = strchr(spec, ':'), *q;

	if (p == NULL) {
		fprintf(stderr, "bad operation %s\n", spec);
		exit(2);
	}
	*p = '\0';
	*ms = atoi(spec);
	*name = p + 1;
	q = strchr(*name, ':');
	if (q)
		*q++ = '\0';
	*args = parse_args(q);
}

struct async_state {
	int	done, ok;
};

static void
async_done(struct qga_client *c, int err, struct qga_reply *reply,
    void *opaque)
{
	struct async_state *st = opaque;

	(void)c;
	st->done++;
	if (err == 0 && reply && !qga_reply_is_error(reply))
		st->ok++;
	qga_reply_free(reply);
}

static json_t *
run_async(int n, const char *name)
{
	struct async_state st = { 0, 0 };
	struct qga_client *c;
	struct pollfd p;
	char errmsg[QGA_ERRSTR_SIZE];
	int r, queued_before_ready, polls = 0;
	json_t *o;

	r = qga_connect_start(&opts, timeout_ms, &c, errmsg);
	if (r < 0)
		return json_pack("{s:i,s:s}", "rc", r, "error", errmsg);
	queued_before_ready = qga_ready(c) == 0;
	for (int i = 0; i < n; i++)
		if (qga_call_async(c, name, NULL, 0, timeout_ms, async_done,
		    &st) < 0)
			break;
	while (st.done < n) {
		p.fd = qga_get_fd(c);
		p.events = qga_get_events(c);
		p.revents = 0;
		if (poll(&p, 1, qga_get_timeout(c)) < 0)
			break;
		polls++;
		if (qga_process(c, p.revents) < 0)
			break;
	}
	o = json_pack("{s:i,s:i,s:i,s:b,s:s,s:i}", "rc", qga_ready(c) < 0 ?
	    qga_ready(c) : 0, "done", st.done, "ok", st.ok,
	    "queued_before_ready", queued_before_ready, "class",
	    qga_server_class_name(qga_server_class(c)), "polls", polls);
	qga_free(c);
	return o;
}

/* A connected unix socket for QGA_TRANSPORT_FD. */
static int
connect_fd(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
main(int argc, char **argv)
{
	const char *caps[CHECK_MAX_CAPS + 1] = { NULL };
	char errmsg[QGA_ERRSTR_SIZE];
	struct qga_client *c = NULL;
	struct qga_reply *reply;
	int ncaps = 0, i = 1, r, ms, use_fd = 0, queue_events = 0;
	struct qga_limits limits;
	long long t0;
	json_t *args;
	char *name;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
			timeout_ms = atoi(argv[++i]);
		else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc &&
		    ncaps < CHECK_MAX_CAPS)
			caps[ncaps++] = argv[++i];
		else if (strcmp(argv[i], "-N") == 0)
			opts.flags |= QGA_OPT_NO_PROBE;
		else if (strcmp(argv[i], "-I") == 0)
			opts.flags |= QGA_OPT_NO_IDS;
		else if (strcmp(argv[i], "-F") == 0)
			use_fd = 1;
		else if (strcmp(argv[i], "-Q") == 0)
			queue_events = 1;
		else {
			fprintf(stderr, "unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "usage: libqga-check [opts] SOCKET OP...\n");
		return 2;
	}
	opts.path = argv[i++];
	if (use_fd) {
		opts.transport = QGA_TRANSPORT_FD;
		opts.fd = connect_fd(opts.path);
	}
	opts.capabilities = caps;
	t0 = now_ms();
	if (i < argc && strncmp(argv[i], "async:", 6) != 0) {
		r = qga_connect(&opts, timeout_ms, &c, errmsg);
		if (r < 0) {
			emit(json_pack("{s:s,s:i,s:s,s:I}", "op", "connect",
			    "rc", r, "error", errmsg, "ms",
			    (json_int_t)(now_ms() - t0)));
			return 1;
		}
		emit(json_pack("{s:s,s:i,s:I}", "op", "connect", "rc", 0, "ms",
		    (json_int_t)(now_ms() - t0)));
		if (!queue_events)
			qga_set_event_cb(c, count_event, NULL);
	}
	for (; i < argc; i++) {
		char *op = argv[i];
		json_t *o;

		t0 = now_ms();
		if (strcmp(op, "class") == 0) {
			o = describe(c);
		} else if (strncmp(op, "call:", 5) == 0) {
			name = op + 5;
			char *q = strchr(name, ':');
			if (q)
				*q++ = '\0';
			args = parse_args(q);
			r = qga_call(c, name, args, timeout_ms, &reply);
			json_decref(args);
			o = result(c, r, reply);
		} else if (strncmp(op, "tcall:", 6) == 0) {
			split_timed(op + 6, &ms, &name, &args);
			r = qga_call(c, name, args, ms, &reply);
			json_decref(args);
			o = result(c, r, reply);
		} else if (strncmp(op, "noreply:", 8) == 0) {
			split_timed(op + 8, &ms, &name, &args);
			r = qga_call_flags(c, name, args,
			    QGA_CALL_NO_SUCCESS_RESPONSE, ms, &reply);
			json_decref(args);
			o = result(c, r, reply);
		} else if (strncmp(op, "oob:", 4) == 0 ||
		    strncmp(op, "send:", 5) == 0 ||
		    strncmp(op, "sendoob:", 8) == 0) {
			int oob = op[0] == 'o' || op[4] == 'o';
			name = strchr(op, ':') + 1;
			char *q = strchr(name, ':');
			if (q)
				*q++ = '\0';
			args = parse_args(q);
			if (op[0] == 'o') {
				r = qga_call_flags(c, name, args, QGA_CALL_OOB,
				    timeout_ms, &reply);
				o = result(c, r, reply);
			} else {
				struct pending *p = calloc(1, sizeof(*p));
				if (p == NULL)
					abort();
				p->seq = ms = ++nqueued;
				r = qga_call_async(c, name, args, oob ?
				    QGA_CALL_OOB : 0, timeout_ms, pending_done,
				    p);
				if (r == 0)
					npending++;
				else
					free(p);
				o = json_pack("{s:i,s:i,s:b}", "rc", r, "seq",
				    ms, "oob", qga_oob_available(c, name));
			}
			json_decref(args);
		} else if (strncmp(op, "oobavail:", 9) == 0) {
			o = json_pack("{s:b}", "oob",
			    qga_oob_available(c, op + 9));
		} else if (strcmp(op, "drain") == 0) {
			o = drain(c);
		} else if (strncmp(op, "waitevent:", 10) == 0) {
			json_t *ev;
			r = qga_wait_event(c, atoi(op + 10), &ev);
			o = json_pack("{s:i,s:o?}", "rc", r, "event", ev);
		} else if (strncmp(op, "exec:", 5) == 0) {
			args = json_pack("{s:s}", "path", op + 5);
			r = qga_call(c, "guest-exec", args, timeout_ms, &reply);
			json_decref(args);
			if (r == 0 && !qga_reply_is_error(reply))
				exec_pid = json_integer_value(json_object_get(
				    qga_reply_return(reply), "pid"));
			o = result(c, r, reply);
		} else if (strcmp(op, "status") == 0 ||
		    strcmp(op, "statuswait") == 0) {
			args = json_pack("{s:I}", "pid", exec_pid);
			for (;;) {
				r = qga_call(c, "guest-exec-status", args,
				    timeout_ms, &reply);
				if (r < 0 || op[6] == '\0' ||
				    qga_reply_is_error(reply) ||
				    json_is_true(json_object_get(
				    qga_reply_return(reply), "exited")))
					break;
				qga_reply_free(reply);
				struct timespec ts = { 0, 10000000 };
				nanosleep(&ts, NULL);
			}
			json_decref(args);
			o = result(c, r, reply);
		} else if (strcmp(op, "limits") == 0) {
			r = qga_get_limits(c, timeout_ms, &limits);
			o = limits_json(c, r, &limits);
		} else if (strcmp(op, "events") == 0) {
			o = json_pack("{s:i}", "events", nevents);
		} else if (strcmp(op, "resync") == 0) {
			r = qga_resync(c, timeout_ms);
			o = describe(c);
			json_object_set_new(o, "rc", json_integer(r));
		} else if (strncmp(op, "async:", 6) == 0) {
			split_timed(op + 6, &ms, &name, &args);
			json_decref(args);
			o = run_async(ms, name);
		} else if (strncmp(op, "sleep:", 6) == 0) {
			struct timespec ts = { 0, 0 };
			ms = atoi(op + 6);
			ts.tv_sec = ms / 1000;
			ts.tv_nsec = (long)(ms % 1000) * 1000000;
			nanosleep(&ts, NULL);
			o = json_object();
		} else {
			fprintf(stderr, "unknown operation %s\n", op);
			return 2;
		}
		json_object_set_new(o, "op", json_string(op));
		json_object_set_new(o, "ms", json_integer(now_ms() - t0));
		emit(o);
	}
	qga_free(c);
	return 0;
}

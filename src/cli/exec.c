/* qga exec: run a program in the guest, relay its output, return its status. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "b64.h"
#include "buf.h"
#include "cli.h"

static int
relay(json_t *ret, const char *key, int fd)
{
	const char *why;
	unsigned char *data;
	json_t *v = json_object_get(ret, key);
	size_t len, off = 0;
	ssize_t w;

	if (!json_is_string(v))
		return 0;
	data = b64_decode(json_string_value(v), json_string_length(v), &len,
	    &why);
	if (data == NULL) {
		cli_warnx("guest-exec-status: bad %s: %s", key, why);
		return -1;
	}
	while (off < len) {
		w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	free(data);
	return 0;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int
read_stdin(struct buf *in)
{
	char chunk[65536];
	ssize_t n;

	for (;;) {
		n = read(0, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		if (in->len + (size_t)n > CLI_EXEC_MAX_INPUT)
			return -E2BIG;
		if (buf_append(in, chunk, (size_t)n) < 0)
			return -ENOMEM;
	}
}

/* The exit code for an exited status: the program's, 128 + its signal. */
static int
exit_code(json_t *st, int rc)
{
	if (json_object_get(st, "signal"))
		return 128 + (int)json_integer_value(json_object_get(st,
		    "signal"));
	if (rc == CLI_EXIT_OK)
		return (int)json_integer_value(json_object_get(st, "exitcode"));
	return rc;
}

static int
truncated(json_t *st)
{
	return json_is_true(json_object_get(st, "out-truncated")) ||
	    json_is_true(json_object_get(st, "err-truncated"));
}

/* The exited status: print it (--json) or warn about lost output; the
 * program's exit code. */
static int
report_exit(struct cli *cli, json_t *st, int was_truncated, int rc)
{
	if (cli->json)
		cli_print_json(st);
	else if (was_truncated)
		cli_warnx("exec: the agent truncated the output");
	return exit_code(st, rc);
}

/* Legacy agents: poll guest-exec-status until the program has exited, then
 * print what it wrote (all of it comes with the exited status). */
static int
wait_and_print(struct cli *cli, json_int_t pid)
{
	json_t *args = json_pack("{s:I}", "pid", pid), *st;
	int delay = CLI_EXEC_POLL_MIN_MS, rc = CLI_EXIT_OK;

	for (;;) {
		st = cli_call_flags(cli, "guest-exec-status", args,
		    QGA_CALL_OOB, &rc);
		if (st == NULL)
			break;
		/* Agents that stream return output before the exit. */
		if (!cli->json && (relay(st, "out-data", 1) < 0 ||
		    relay(st, "err-data", 2) < 0))
			rc = CLI_EXIT_FAIL;
		if (json_is_true(json_object_get(st, "exited"))) {
			rc = report_exit(cli, st, truncated(st), rc);
			json_decref(st);
			break;
		}
		json_decref(st);
		sleep_ms(delay);
		if (delay < CLI_EXEC_POLL_MAX_MS)
			delay *= 2;
	}
	json_decref(args);
	return rc;
}

/* Output collected for --json while streaming: one stream's bytes so far. */
struct collected {
	struct buf	 data;
	int		 seen;		/* some reply carried this stream */
	int		 truncated;
};

/* Decode key of st, append it to c, drop it from st. */
static int
collect(json_t *st, const char *key, const char *tkey, struct collected *c)
{
	const char *why;
	unsigned char *data;
	json_t *v = json_object_get(st, key);
	size_t len;
	int r = 0;

	if (json_is_true(json_object_get(st, tkey)))
		c->truncated = 1;
	if (!json_is_string(v))
		return 0;
	c->seen = 1;
	data = b64_decode(json_string_value(v), json_string_length(v), &len,
	    &why);
	if (data == NULL) {
		cli_warnx("guest-exec-status: bad %s: %s", key, why);
		return -1;
	}
	if (len > CLI_EXEC_JSON_OUTPUT_MAX - c->data.len) {
		len = CLI_EXEC_JSON_OUTPUT_MAX - c->data.len;
		c->truncated = 1;
	}
	if (len && buf_append(&c->data, data, len) < 0)
		r = -1;
	free(data);
	return r;
}

/* Put a stream's collected bytes back into the final status, as a legacy
 * agent would have reported them all at once. */
static void
restore(json_t *st, const char *key, const char *tkey, struct collected *c)
{
	char *enc;

	if (!c->seen)
		return;
	enc = malloc(b64_encoded_len(c->data.len) + 1);
	if (enc == NULL)
		abort();
	b64_encode(c->data.data ? c->data.data : "", c->data.len, enc);
	json_object_set_new(st, key, json_string(enc));
	json_object_set_new(st, tkey, json_boolean(c->truncated));
	free(enc);
}

/* Wait up to ms for the GUEST_EXEC_EXITED event of pid (when the session
 * has events) or just sleep. */
static void
wait_exit(struct cli *cli, json_int_t pid, int ms)
{
	int64_t end;
	struct timespec ts;
	json_t *ev;
	int left;

	if (!qga_has_capability(cli->c, "events")) {
		sleep_ms(ms);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	end = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + ms;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		left = (int)(end - ((int64_t)ts.tv_sec * 1000 +
		    ts.tv_nsec / 1000000));
		if (left <= 0 || qga_wait_event(cli->c, left, &ev) < 0)
			return;
		if (json_is_string(json_object_get(ev, "event")) &&
		    strcmp(json_string_value(json_object_get(ev, "event")),
		    "GUEST_EXEC_EXITED") == 0 &&
		    json_integer_value(json_object_get(json_object_get(ev,
		    "data"), "pid")) == pid) {
			json_decref(ev);
			return;
		}
		json_decref(ev);
	}
}

/* Negotiating agents: incremental guest-exec-status relays output as the
 * program writes it; the exited status (after GUEST_EXEC_EXITED when the
 * session has events) ends it. An agent that does not know "incremental"
 * gets the legacy loop. */
static int
stream(struct cli *cli, json_int_t pid)
{
	struct collected out = { { 0 }, 0, 0 }, err = { { 0 }, 0, 0 };
	struct qga_reply *reply;
	json_t *args, *st;
	int delay = CLI_EXEC_POLL_MIN_MS, rc = CLI_EXIT_OK, first = 1, got, r;

	args = json_pack("{s:I,s:b}", "pid", pid, "incremental", 1);
	for (;;) {
		r = qga_call_flags(cli->c, "guest-exec-status", args,
		    QGA_CALL_OOB, cli->timeout_ms, &reply);
		if (r == 0 && first && qga_reply_is_error(reply) &&
		    qga_reply_error_class(reply) &&
		    strcmp(qga_reply_error_class(reply), "GenericError") == 0) {
			/* An agent without incremental status. */
			qga_reply_free(reply);
			json_decref(args);
			return wait_and_print(cli, pid);
		}
		first = 0;
		st = cli_reply_value(cli, "guest-exec-status", r, reply, &rc);
		if (st == NULL)
			break;
		got = json_is_string(json_object_get(st, "out-data")) ||
		    json_is_string(json_object_get(st, "err-data"));
		if (cli->json) {
			if (collect(st, "out-data", "out-truncated", &out) < 0 ||
			    collect(st, "err-data", "err-truncated", &err) < 0)
				rc = CLI_EXIT_FAIL;
		} else {
			if (relay(st, "out-data", 1) < 0 ||
			    relay(st, "err-data", 2) < 0)
				rc = CLI_EXIT_FAIL;
			out.truncated |= json_is_true(json_object_get(st,
			    "out-truncated"));
			err.truncated |= json_is_true(json_object_get(st,
			    "err-truncated"));
		}
		if (json_is_true(json_object_get(st, "exited"))) {
			if (cli->json) {
				restore(st, "out-data", "out-truncated", &out);
				restore(st, "err-data", "err-truncated", &err);
			}
			rc = report_exit(cli, st, out.truncated || err.truncated, rc);
			json_decref(st);
			break;
		}
		json_decref(st);
		wait_exit(cli, pid, delay);
		/* Poll fast while the program writes, slower while it is
		 * quiet; its exit event cuts any wait short. */
		if (got)
			delay = CLI_EXEC_POLL_MIN_MS;
		else if (delay < CLI_EXEC_STREAM_MAX_MS)
			delay = delay * 2 > CLI_EXEC_STREAM_MAX_MS ?
			    CLI_EXEC_STREAM_MAX_MS : delay * 2;
	}
	buf_free(&out.data);
	buf_free(&err.data);
	json_decref(args);
	return rc;
}

int
verb_exec(struct cli *cli, int argc, char **argv)
{
	json_t *args, *argl, *env, *ret;
	struct buf in = { 0 };
	int i = 1, want_input = 0, rc = CLI_EXIT_OK, r;
	json_int_t pid;

	env = json_array();
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (strcmp(argv[i], "-i") == 0)
			want_input = 1;
		else if (strcmp(argv[i], "-e") == 0 && i + 1 < argc)
			json_array_append_new(env, json_string(argv[++i]));
		else {
			cli_warnx("usage: exec [-i] [-e VAR=VAL ...] PROGRAM "
			    "[ARG ...]");
			json_decref(env);
			return CLI_EXIT_USAGE;
		}
	}
	if (i >= argc) {
		cli_warnx("exec: no program");
		json_decref(env);
		return CLI_EXIT_USAGE;
	}
	argl = json_array();
	for (int j = i + 1; j < argc; j++)
		json_array_append_new(argl, json_string(argv[j]));
	args = json_pack("{s:s,s:o,s:b}", "path", argv[i], "arg", argl,
	    "capture-output", 1);
	if (json_array_size(env))
		json_object_set(args, "env", env);
	json_decref(env);
	if (want_input) {
		r = read_stdin(&in);
		if (r < 0) {
			cli_warnx("exec: stdin: %s", r == -E2BIG ?
			    "more than the input limit" : strerror(-r));
			json_decref(args);
			buf_free(&in);
			return CLI_EXIT_FAIL;
		}
		char *enc = malloc(b64_encoded_len(in.len) + 1);
		if (enc == NULL)
			abort();
		b64_encode(in.data ? in.data : "", in.len, enc);
		json_object_set_new(args, "input-data", json_string(enc));
		free(enc);
		buf_free(&in);
	}
	ret = cli_call(cli, "guest-exec", args, &rc);
	json_decref(args);
	if (ret == NULL)
		return rc;
	pid = json_integer_value(json_object_get(ret, "pid"));
	json_decref(ret);

	if (qga_server_class(cli->c) == QGA_SERVER_NEGOTIATING)
		rc = stream(cli, pid);
	else
		rc = wait_and_print(cli, pid);
	return rc;
}


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

int
verb_exec(struct cli *cli, int argc, char **argv)
{
	json_t *args, *argl, *env, *ret, *st;
	struct buf in = { 0 };
	int i = 1, want_input = 0, rc = CLI_EXIT_OK, delay, r;
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

	args = json_pack("{s:I}", "pid", pid);
	delay = CLI_EXEC_POLL_MIN_MS;
	for (;;) {
		st = cli_call(cli, "guest-exec-status", args, &rc);
		if (st == NULL)
			break;
		/* Agents that stream return output before the exit. */
		if (!cli->json && (relay(st, "out-data", 1) < 0 ||
		    relay(st, "err-data", 2) < 0))
			rc = CLI_EXIT_FAIL;
		if (json_is_true(json_object_get(st, "exited"))) {
			if (cli->json)
				cli_print_json(st);
			else if (json_is_true(json_object_get(st,
			    "out-truncated")) || json_is_true(
			    json_object_get(st, "err-truncated")))
				cli_warnx("exec: the agent truncated the "
				    "output");
			if (json_object_get(st, "signal"))
				rc = 128 + (int)json_integer_value(
				    json_object_get(st, "signal"));
			else if (rc == CLI_EXIT_OK)
				rc = (int)json_integer_value(
				    json_object_get(st, "exitcode"));
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

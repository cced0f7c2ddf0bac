/* qga: the command-line client. Options, connecting, verb dispatch, output. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *progname = "qga";

void
cli_warnx(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void
cli_print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);

	if (s) {
		puts(s);
		free(s);
	}
}

static int
report_failure(struct cli *cli, const char *name, int r)
{
	cli_warnx("%s: %s", name, qga_errstr(cli->c)[0] ?
	    qga_errstr(cli->c) : strerror(-r));
	return CLI_EXIT_CONN;
}

json_t *
cli_call(struct cli *cli, const char *name, json_t *args, int *rc)
{
	return cli_call_flags(cli, name, args, 0, rc);
}

json_t *
cli_call_flags(struct cli *cli, const char *name, json_t *args,
    unsigned flags, int *rc)
{
	struct qga_reply *reply;
	int r;

	r = qga_call_flags(cli->c, name, args, flags, cli->timeout_ms, &reply);
	return cli_reply_value(cli, name, r, reply, rc);
}

json_t *
cli_reply_value(struct cli *cli, const char *name, int r,
    struct qga_reply *reply, int *rc)
{
	json_t *ret;

	if (r < 0) {
		*rc = report_failure(cli, name, r);
		return NULL;
	}
	if (qga_reply_is_error(reply)) {
		cli_warnx("%s: %s: %s", name,
		    qga_reply_error_class(reply) ? qga_reply_error_class(reply)
		    : "?", qga_reply_error_desc(reply) ?
		    qga_reply_error_desc(reply) : "?");
		qga_reply_free(reply);
		*rc = CLI_EXIT_FAIL;
		return NULL;
	}
	ret = json_incref(qga_reply_return(reply));
	qga_reply_free(reply);
	return ret;
}

int
cli_call_noreply(struct cli *cli, const char *name, json_t *args)
{
	struct qga_reply *reply;
	int wait = CLI_NOREPLY_WAIT_MS, r, rc = CLI_EXIT_OK;

	if (cli->timeout_ms >= 0 && cli->timeout_ms < wait)
		wait = cli->timeout_ms;
	r = qga_call_flags(cli->c, name, args, QGA_CALL_NO_SUCCESS_RESPONSE,
	    wait, &reply);
	if (r < 0)
		return report_failure(cli, name, r);
	if (reply && qga_reply_is_error(reply)) {
		cli_warnx("%s: %s: %s", name, qga_reply_error_class(reply),
		    qga_reply_error_desc(reply));
		rc = CLI_EXIT_FAIL;
	} else if (cli->json)
		cli_print_json(reply ? qga_reply_return(reply) : json_null());
	qga_reply_free(reply);
	return rc;
}

static const struct verb *
find_verb(const char *name)
{
	const struct verb *v, *match = NULL;
	size_t n = strlen(name);
	int count = 0;

	for (v = cli_verbs; v->name; v++) {
		if (strcmp(v->name, name) == 0)
			return v;
		if (strncmp(v->name, name, n) == 0) {
			match = v;
			count++;
		}
	}
	if (count > 1) {
		cli_warnx("ambiguous verb: %s", name);
		return NULL;
	}
	if (match == NULL)
		cli_warnx("unknown verb: %s (try 'qga help')", name);
	return match;
}

int
cli_run_verb(struct cli *cli, int argc, char **argv)
{
	const struct verb *v = find_verb(argv[0]);

	if (v == NULL)
		return CLI_EXIT_USAGE;
	if (argc - 1 < v->min_args ||
	    (v->max_args >= 0 && argc - 1 > v->max_args)) {
		cli_warnx("usage: %s %s", v->name, v->usage);
		return CLI_EXIT_USAGE;
	}
	return v->fn(cli, argc, argv);
}

static void
usage(FILE *f)
{
	const struct verb *v;

	fprintf(f, "usage: %s [-s socket | --vsock cid:port] [--timeout s] "
	    "[--json] [--no-probe] verb [arg ...]\nverbs:\n", progname);
	for (v = cli_verbs; v->name; v++)
		fprintf(f, "  %-10s %s\n", v->name, v->usage);
}

static int
parse_vsock(const char *s, struct qga_connect_opts *o)
{
	char *end;
	unsigned long cid, port;

	errno = 0;
	cid = strtoul(s, &end, 10);
	if (errno || end == s || *end != ':')
		return -EINVAL;
	s = end + 1;
	port = strtoul(s, &end, 10);
	if (errno || end == s || *end || cid > UINT32_MAX || port > UINT32_MAX)
		return -EINVAL;
	o->transport = QGA_TRANSPORT_VSOCK;
	o->cid = (uint32_t)cid;
	o->port = (uint32_t)port;
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "vsock", required_argument, NULL, 'V' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "no-probe", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const caps[] = CLI_CAPABILITIES;
	struct qga_connect_opts o = {
		.transport = QGA_TRANSPORT_UNIX, .capabilities = caps
	};
	struct cli cli = { .timeout_ms = (int)(CLI_DEFAULT_TIMEOUT_S * 1000) };
	char errmsg[QGA_ERRSTR_SIZE];
	double secs;
	char *end;
	int ch, r;

	cli.prog = progname;
	o.path = getenv("QGA_SOCKET");
	while ((ch = getopt_long(argc, argv, "+s:t:jNh", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			o.transport = QGA_TRANSPORT_UNIX;
			o.path = optarg;
			break;
		case 'V':
			if (parse_vsock(optarg, &o) < 0) {
				cli_warnx("bad --vsock %s: expected CID:PORT",
				    optarg);
				return CLI_EXIT_USAGE;
			}
			break;
		case 't':
			secs = strtod(optarg, &end);
			if (end == optarg || *end || secs > 86400) {
				cli_warnx("bad --timeout %s", optarg);
				return CLI_EXIT_USAGE;
			}
			cli.timeout_ms = secs < 0 ? -1 : (int)(secs * 1000);
			break;
		case 'j':
			cli.json = 1;
			break;
		case 'N':
			o.flags |= QGA_OPT_NO_PROBE;
			break;
		case 'h':
			usage(stdout);
			return CLI_EXIT_OK;
		default:
			usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[0], "help") == 0) {
		usage(stdout);
		return CLI_EXIT_OK;
	}
	if (o.transport == QGA_TRANSPORT_UNIX && o.path == NULL) {
		cli_warnx("no agent socket: use -s SOCKET, --vsock CID:PORT or "
		    "QGA_SOCKET");
		return CLI_EXIT_USAGE;
	}
	if (find_verb(argv[0]) == NULL)
		return CLI_EXIT_USAGE;
	r = qga_connect(&o, cli.timeout_ms, &cli.c, errmsg);
	if (r < 0) {
		cli_warnx("%s", errmsg);
		return CLI_EXIT_CONN;
	}
	r = cli_run_verb(&cli, argc, argv);
	qga_free(cli.c);
	return r;
}

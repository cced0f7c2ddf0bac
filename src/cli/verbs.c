/* qga verbs that run one or two commands and print the result. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* Width at which probe wraps the command list. */
#define PROBE_LINE_WIDTH	78

static const char *
str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* A member as text: strings as is, other scalars in JSON; NULL if absent. */
static const char *
text(json_t *o, const char *key, char *b, size_t n)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return NULL;
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_true(v))
		return "yes";
	if (json_is_false(v))
		return "no";
	if (json_is_integer(v))
		snprintf(b, n, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else if (json_is_real(v))
		snprintf(b, n, "%g", json_real_value(v));
	else
		return "...";
	return b;
}

static int
is_noreply(const char *name)
{
	return strcmp(name, "guest-shutdown") == 0 ||
	    strncmp(name, "guest-suspend-", 14) == 0;
}

/* Run name; print the return as JSON under --json, else hand it to fn. */
static int
simple_flags(struct cli *cli, const char *name, json_t *args,
    unsigned flags, void (*fn)(json_t *ret))
{
	int rc = CLI_EXIT_OK;
	json_t *ret = cli_call_flags(cli, name, args, flags, &rc);

	json_decref(args);
	if (ret == NULL)
		return rc;
	if (cli->json || fn == NULL)
		cli_print_json(ret);
	else
		fn(ret);
	json_decref(ret);
	return rc;
}

static int
simple(struct cli *cli, const char *name, json_t *args,
    void (*fn)(json_t *ret))
{
	return simple_flags(cli, name, args, 0, fn);
}

/* Liveness and status queries go out of band where the agent allows it,
 * so they are answered while a long command runs. */
static int
status_query(struct cli *cli, const char *name, void (*fn)(json_t *ret))
{
	return simple_flags(cli, name, NULL, QGA_CALL_OOB, fn);
}

static void
print_wrapped(const char *label, json_t *names)
{
	size_t i, col;
	json_t *v;

	printf("%s", label);
	col = strlen(label);
	json_array_foreach(names, i, v) {
		const char *s = json_string_value(v);
		size_t len = strlen(s) + 1;

		if (col + len > PROBE_LINE_WIDTH && col > strlen(label)) {
			printf("\n%*s", (int)strlen(label), "");
			col = strlen(label);
		}
		printf(" %s", s);
		col += len;
	}
	printf("\n");
}

static int
verb_probe(struct cli *cli, int argc, char **argv)
{
	enum qga_server cls = qga_server_class(cli->c);
	json_t *greeting = qga_greeting(cli->c), *out, *names, *ret, *v;
	json_t *gv = json_object_get(greeting, "version");
	struct qga_limits limits;
	int rc = CLI_EXIT_OK;
	size_t i;

	(void)argc;
	(void)argv;
	out = json_pack("{s:s,s:b,s:O?,s:O}", "class",
	    qga_server_class_name(cls), "ids", qga_uses_ids(cli->c),
	    "greeting", greeting, "enabled",
	    qga_enabled_capabilities(cli->c));
	names = json_array();
	if (cls == QGA_SERVER_QMP) {
		ret = cli_call(cli, "query-version", NULL, &rc);
		if (ret)
			json_object_set_new(out, "version", ret);
		ret = cli_call(cli, "query-commands", NULL, &rc);
		json_array_foreach(ret, i, v)
			json_array_append(names, json_object_get(v, "name"));
	} else {
		ret = cli_call_flags(cli, "guest-info", NULL, QGA_CALL_OOB,
		    &rc);
		if (ret)
			json_object_set(out, "version",
			    json_object_get(ret, "version"));
		json_array_foreach(json_object_get(ret, "supported_commands"),
		    i, v)
			if (json_is_true(json_object_get(v, "enabled")))
				json_array_append(names,
				    json_object_get(v, "name"));
	}
	json_decref(ret);
	json_object_set_new(out, "commands", names);
	if (cls != QGA_SERVER_QMP &&
	    qga_get_limits(cli->c, cli->timeout_ms, &limits) == 0)
		json_object_set_new(out, "limits", json_pack(
		    "{s:I,s:I,s:I,s:i,s:i,s:b}",
		    "max-message-bytes", (json_int_t)limits.max_message_bytes,
		    "max-file-read-count",
		    (json_int_t)limits.max_file_read_count,
		    "max-exec-output-bytes",
		    (json_int_t)limits.max_exec_output_bytes,
		    "max-in-band-queue", (int)limits.max_in_band_queue,
		    "max-clients", (int)limits.max_clients,
		    "from-agent", limits.from_agent));
	if (cli->json) {
		cli_print_json(out);
	} else {
		printf("class:        %s\n", qga_server_class_name(cls));
		printf("ids:          %s\n", qga_uses_ids(cli->c) ? "yes" :
		    "no (one request at a time)");
		if (greeting) {
			json_t *q = json_object_get(gv, "qemu");

			printf("greeting:     qemu %" JSON_INTEGER_FORMAT ".%"
			    JSON_INTEGER_FORMAT ".%" JSON_INTEGER_FORMAT
			    "%s%s%s\n",
			    json_integer_value(json_object_get(q, "major")),
			    json_integer_value(json_object_get(q, "minor")),
			    json_integer_value(json_object_get(q, "micro")),
			    str(gv, "package") ? " (" : "",
			    str(gv, "package") ? str(gv, "package") : "",
			    str(gv, "package") ? ")" : "");
			print_wrapped("offered:     ",
			    json_object_get(greeting, "capabilities"));
			print_wrapped("enabled:     ",
			    qga_enabled_capabilities(cli->c));
		}
		v = json_object_get(out, "version");
		if (json_is_string(v))
			printf("version:      %s\n", json_string_value(v));
		else if (v) {
			json_t *q = json_object_get(v, "qemu");
			printf("version:      %" JSON_INTEGER_FORMAT ".%"
			    JSON_INTEGER_FORMAT ".%" JSON_INTEGER_FORMAT " %s\n",
			    json_integer_value(json_object_get(q, "major")),
			    json_integer_value(json_object_get(q, "minor")),
			    json_integer_value(json_object_get(q, "micro")),
			    str(v, "package") ? str(v, "package") : "");
		}
		if (cls != QGA_SERVER_QMP &&
		    json_object_get(out, "limits") != NULL)
			printf("limits:       read %.0f MiB, exec output %.0f MiB,"
			    " message %.0f MiB (%s)\n",
			    limits.max_file_read_count / 1048576.0,
			    limits.max_exec_output_bytes / 1048576.0,
			    limits.max_message_bytes / 1048576.0,
			    limits.from_agent ? "reported by the agent" :
			    "qemu-ga's");
		printf("commands:     %zu\n", json_array_size(names));
		print_wrapped("             ", names);
	}
	json_decref(out);
	return rc;
}

static int
verb_call(struct cli *cli, int argc, char **argv)
{
	json_error_t jerr;
	json_t *args = NULL;
	int rc;

	if (argc > 2) {
		args = json_loads(argv[2], 0, &jerr);
		if (!json_is_object(args)) {
			cli_warnx("arguments must be a JSON object%s%s",
			    args ? "" : ": ", args ? "" : jerr.text);
			json_decref(args);
			return CLI_EXIT_USAGE;
		}
	}
	if (is_noreply(argv[1])) {
		rc = cli_call_noreply(cli, argv[1], args);
		json_decref(args);
		return rc;
	}
	return simple(cli, argv[1], args, NULL);
}

static void
print_ok(json_t *ret)
{
	(void)ret;
	printf("ok\n");
}

static int
verb_ping(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return status_query(cli, "guest-ping", print_ok);
}

static void
print_info(json_t *ret)
{
	struct table *t = table_new(3, "COMMAND", "ENABLED", "SUCCESS-RESPONSE");
	char b1[32], b2[32];
	size_t i;
	json_t *v;

	printf("version: %s\n", str(ret, "version"));
	json_array_foreach(json_object_get(ret, "supported_commands"), i, v)
		table_add(t, str(v, "name"), text(v, "enabled", b1, sizeof(b1)),
		    text(v, "success-response", b2, sizeof(b2)));
	table_print(t, stdout);
	table_free(t);
}

static int
verb_info(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return status_query(cli, "guest-info", print_info);
}

/* Every scalar member as "key: value". */
static void
print_members(json_t *ret)
{
	struct table *t = table_new(2, "FIELD", "VALUE");
	const char *key;
	char b[64];
	json_t *v;

	json_object_foreach(ret, key, v)
		table_add(t, key, text(ret, key, b, sizeof(b)));
	table_print(t, stdout);
	table_free(t);
}

static int
verb_osinfo(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return simple(cli, "guest-get-osinfo", NULL, print_members);
}

static void
print_hostname(json_t *ret)
{
	printf("%s\n", str(ret, "host-name"));
}

static int
verb_hostname(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return simple(cli, "guest-get-host-name", NULL, print_hostname);
}

static void
format_ns(json_int_t ns, char *b, size_t n)
{
	time_t secs = (time_t)(ns / 1000000000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(b, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
print_time(json_t *ret)
{
	char b[64];

	format_ns(json_integer_value(ret), b, sizeof(b));
	printf("%" JSON_INTEGER_FORMAT " (%s)\n", json_integer_value(ret), b);
}

static int
verb_time(struct cli *cli, int argc, char **argv)
{
	struct timespec ts;
	json_t *args = NULL;
	char *end;
	long long ns;

	if (argc == 1 || strcmp(argv[1], "get") == 0) {
		if (argc > 2)
			goto usage;
		return simple(cli, "guest-get-time", NULL, print_time);
	}
	if (strcmp(argv[1], "set") != 0)
		goto usage;
	if (argc == 3 && strcmp(argv[2], "now") == 0) {
		clock_gettime(CLOCK_REALTIME, &ts);
		args = json_pack("{s:I}", "time",
		    (json_int_t)ts.tv_sec * 1000000000 + ts.tv_nsec);
	} else if (argc == 3) {
		ns = strtoll(argv[2], &end, 10);
		if (*end || end == argv[2])
			goto usage;
		args = json_pack("{s:I}", "time", (json_int_t)ns);
	} else if (argc > 3)
		goto usage;
	/* Without a time the guest sets its clock from its RTC. */
	return simple(cli, "guest-set-time", args, print_ok);
usage:
	cli_warnx("usage: time [get | set [NS | now]]");
	return CLI_EXIT_USAGE;
}

static void
print_timezone(json_t *ret)
{
	printf("%s (UTC%+" JSON_INTEGER_FORMAT " s)\n",
	    str(ret, "zone") ? str(ret, "zone") : "-",
	    json_integer_value(json_object_get(ret, "offset")));
}

static int
verb_timezone(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return simple(cli, "guest-get-timezone", NULL, print_timezone);
}

static void
print_users(json_t *ret)
{
	struct table *t = table_new(3, "USER", "DOMAIN", "LOGIN-TIME");
	char b[64];
	size_t i;
	json_t *v;

	json_array_foreach(ret, i, v) {
		time_t secs = (time_t)json_number_value(
		    json_object_get(v, "login-time"));
		struct tm tm;

		gmtime_r(&secs, &tm);
		strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%SZ", &tm);
		table_add(t, str(v, "user"), str(v, "domain"), b);
	}
	table_print(t, stdout);
	table_free(t);
}

static int
verb_users(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return simple(cli, "guest-get-users", NULL, print_users);
}

static void
print_ifaces(json_t *ret)
{
	struct table *t = table_new(3, "NAME", "HARDWARE-ADDRESS", "ADDRESSES");
	char addrs[1024];
	size_t i, j, off;
	json_t *v, *a;

	json_array_foreach(ret, i, v) {
		off = 0;
		addrs[0] = '\0';
		json_array_foreach(json_object_get(v, "ip-addresses"), j, a) {
			int n = snprintf(addrs + off, sizeof(addrs) - off,
			    "%s%s/%" JSON_INTEGER_FORMAT, off ? " " : "",
			    str(a, "ip-address"),
			    json_integer_value(json_object_get(a, "prefix")));
			if (n < 0 || (size_t)n >= sizeof(addrs) - off)
				break;
			off += (size_t)n;
		}
		table_add(t, str(v, "name"), str(v, "hardware-address"),
		    off ? addrs : NULL);
	}
	table_print(t, stdout);
	table_free(t);
}

static int
verb_ifaces(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return simple(cli, "guest-network-get-interfaces", NULL, print_ifaces);
}

static void
print_fsinfo(json_t *ret)
{
	struct table *t = table_new(6, "MOUNTPOINT", "NAME", "TYPE", "USED",
	    "TOTAL", "DISKS");
	char b1[32], b2[32], disks[512];
	size_t i, j, off;
	json_t *v, *d;

	json_array_foreach(ret, i, v) {
		off = 0;
		disks[0] = '\0';
		json_array_foreach(json_object_get(v, "disk"), j, d) {
			const char *dev = str(d, "dev") ? str(d, "dev") :
			    str(d, "serial") ? str(d, "serial") : "?";
			int n = snprintf(disks + off, sizeof(disks) - off,
			    "%s%s", off ? "," : "", dev);
			if (n < 0 || (size_t)n >= sizeof(disks) - off)
				break;
			off += (size_t)n;
		}
		table_add(t, str(v, "mountpoint"), str(v, "name"),
		    str(v, "type"), text(v, "used-bytes", b1, sizeof(b1)),
		    text(v, "total-bytes", b2, sizeof(b2)), off ? disks : NULL);
	}
	table_print(t, stdout);
	table_free(t);
}

static int
verb_fsinfo(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return simple(cli, "guest-get-fsinfo", NULL, print_fsinfo);
}

static void
print_disks(json_t *ret)
{
	struct table *t = table_new(4, "NAME", "PARTITION", "DEPENDENCIES",
	    "ALIAS");
	char b[32], deps[512];
	size_t i, j, off;
	json_t *v, *d;

	json_array_foreach(ret, i, v) {
		off = 0;
		deps[0] = '\0';
		json_array_foreach(json_object_get(v, "dependencies"), j, d) {
			int n = snprintf(deps + off, sizeof(deps) - off, "%s%s",
			    off ? "," : "", json_string_value(d));
			if (n < 0 || (size_t)n >= sizeof(deps) - off)
				break;
			off += (size_t)n;
		}
		table_add(t, str(v, "name"), text(v, "partition", b, sizeof(b)),
		    off ? deps : NULL, str(v, "alias"));
	}
	table_print(t, stdout);
	table_free(t);
}

static int
verb_disks(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return simple(cli, "guest-get-disks", NULL, print_disks);
}

static void
print_vcpus(json_t *ret)
{
	struct table *t = table_new(3, "LOGICAL-ID", "ONLINE", "CAN-OFFLINE");
	char b1[32], b2[8], b3[8];
	size_t i;
	json_t *v;

	json_array_foreach(ret, i, v)
		table_add(t, text(v, "logical-id", b1, sizeof(b1)),
		    text(v, "online", b2, sizeof(b2)),
		    text(v, "can-offline", b3, sizeof(b3)));
	table_print(t, stdout);
	table_free(t);
}

static int
verb_vcpus(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return simple(cli, "guest-get-vcpus", NULL, print_vcpus);
}

static void
print_string(json_t *ret)
{
	printf("%s\n", json_string_value(ret));
}

static void
print_count(json_t *ret)
{
	printf("%" JSON_INTEGER_FORMAT " filesystems\n",
	    json_integer_value(ret));
}

static int
verb_fsfreeze(struct cli *cli, int argc, char **argv)
{
	static const char usage[] = "usage: fsfreeze status | freeze "
	    "[--thaw-after SECONDS] [MOUNTPOINT ...] | thaw";
	json_t *args, *list;
	long secs = 0;
	char *end;
	int i = 2;

	if (strcmp(argv[1], "status") == 0 && argc == 2)
		return status_query(cli, "guest-fsfreeze-status",
		    print_string);
	if (strcmp(argv[1], "thaw") == 0 && argc == 2)
		return simple(cli, "guest-fsfreeze-thaw", NULL, print_count);
	if (strcmp(argv[1], "freeze") != 0) {
		cli_warnx("%s", usage);
		return CLI_EXIT_USAGE;
	}
	if (argc > 2 && strcmp(argv[2], "--thaw-after") == 0) {
		if (argc < 4 || (secs = strtol(argv[3], &end, 10)) <= 0 ||
		    *end) {
			cli_warnx("%s", usage);
			return CLI_EXIT_USAGE;
		}
		/* The watchdog exists only in negotiated sessions: never
		 * freeze without the safety net that was asked for. */
		if (qga_server_class(cli->c) != QGA_SERVER_NEGOTIATING) {
			cli_warnx("fsfreeze: --thaw-after needs an agent with "
			    "the freeze watchdog (this one is %s)",
			    qga_server_class_name(qga_server_class(cli->c)));
			return CLI_EXIT_FAIL;
		}
		i = 4;
	}
	args = secs > 0 ? json_pack("{s:I}", "timeout", (json_int_t)secs) :
	    NULL;
	if (i == argc)
		return simple(cli, "guest-fsfreeze-freeze", args, print_count);
	if (args == NULL)
		args = json_object();
	list = json_array();
	for (; i < argc; i++)
		json_array_append_new(list, json_string(argv[i]));
	json_object_set_new(args, "mountpoints", list);
	return simple(cli, "guest-fsfreeze-freeze-list", args, print_count);
}

static void
print_fstrim(json_t *ret)
{
	struct table *t = table_new(4, "PATH", "TRIMMED", "MINIMUM", "ERROR");
	char b1[32], b2[32];
	size_t i;
	json_t *v;

	json_array_foreach(json_object_get(ret, "paths"), i, v)
		table_add(t, str(v, "path"), text(v, "trimmed", b1, sizeof(b1)),
		    text(v, "minimum", b2, sizeof(b2)), str(v, "error"));
	table_print(t, stdout);
	table_free(t);
}

static int
verb_fstrim(struct cli *cli, int argc, char **argv)
{
	json_t *args = NULL;
	char *end;
	long long min;

	if (argc == 2) {
		min = strtoll(argv[1], &end, 10);
		if (*end || end == argv[1] || min < 0) {
			cli_warnx("usage: fstrim [MINIMUM]");
			return CLI_EXIT_USAGE;
		}
		args = json_pack("{s:I}", "minimum", (json_int_t)min);
	}
	return simple(cli, "guest-fstrim", args, print_fstrim);
}

static int
shutdown_mode(struct cli *cli, const char *mode)
{
	json_t *args = json_pack("{s:s}", "mode", mode);
	int rc = cli_call_noreply(cli, "guest-shutdown", args);

	json_decref(args);
	return rc;
}

static int
verb_shutdown(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return shutdown_mode(cli, "powerdown");
}

static int
verb_reboot(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return shutdown_mode(cli, "reboot");
}

static int
verb_halt(struct cli *cli, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return shutdown_mode(cli, "halt");
}

static int
verb_suspend(struct cli *cli, int argc, char **argv)
{
	char name[32];

	(void)argc;
	if (strcmp(argv[1], "ram") && strcmp(argv[1], "disk") &&
	    strcmp(argv[1], "hybrid")) {
		cli_warnx("usage: suspend ram | disk | hybrid");
		return CLI_EXIT_USAGE;
	}
	snprintf(name, sizeof(name), "guest-suspend-%s", argv[1]);
	return cli_call_noreply(cli, name, NULL);
}

/* Print the agent's events, one JSON line each, as they arrive. */
static int
verb_events(struct cli *cli, int argc, char **argv)
{
	long count = -1, seen = 0;
	char *end, *line;
	json_t *ev;
	int r;

	if (argc == 2) {
		count = strtol(argv[1], &end, 10);
		if (*end || end == argv[1] || count <= 0) {
			cli_warnx("usage: events [COUNT]");
			return CLI_EXIT_USAGE;
		}
	}
	if (!qga_has_capability(cli->c, "events")) {
		cli_warnx("events: the agent does not offer events (it is %s)",
		    qga_server_class_name(qga_server_class(cli->c)));
		return CLI_EXIT_FAIL;
	}
	while (count < 0 || seen < count) {
		r = qga_wait_event(cli->c, -1, &ev);
		if (r < 0) {
			cli_warnx("events: %s", qga_errstr(cli->c));
			return CLI_EXIT_CONN;
		}
		line = json_dumps(ev, JSON_COMPACT);
		json_decref(ev);
		if (line == NULL)
			return CLI_EXIT_FAIL;
		puts(line);
		fflush(stdout);
		free(line);
		seen++;
	}
	return CLI_EXIT_OK;
}

const struct verb cli_verbs[] = {
	{ "probe", 0, 0, "", verb_probe },
	{ "call", 1, 2, "NAME [JSON-ARGS]", verb_call },
	{ "ping", 0, 0, "", verb_ping },
	{ "info", 0, 0, "", verb_info },
	{ "osinfo", 0, 0, "", verb_osinfo },
	{ "hostname", 0, 0, "", verb_hostname },
	{ "time", 0, 2, "[get | set [NS | now]]", verb_time },
	{ "timezone", 0, 0, "", verb_timezone },
	{ "users", 0, 0, "", verb_users },
	{ "ifaces", 0, 0, "", verb_ifaces },
	{ "fsinfo", 0, 0, "", verb_fsinfo },
	{ "disks", 0, 0, "", verb_disks },
	{ "vcpus", 0, 0, "", verb_vcpus },
	{ "exec", 1, -1, "[-i] [-e VAR=VAL ...] PROGRAM [ARG ...]", verb_exec },
	{ "cat", 1, 1, "GUEST-FILE", verb_cat },
	{ "get", 1, 2, "GUEST-FILE [LOCAL-FILE]", verb_get },
	{ "put", 2, 2, "LOCAL-FILE GUEST-FILE", verb_put },
	{ "fsfreeze", 1, -1, "status | freeze [--thaw-after SECONDS] "
	    "[MOUNTPOINT ...] | thaw",
	    verb_fsfreeze },
	{ "fstrim", 0, 1, "[MINIMUM]", verb_fstrim },
	{ "shutdown", 0, 0, "", verb_shutdown },
	{ "reboot", 0, 0, "", verb_reboot },
	{ "halt", 0, 0, "", verb_halt },
	{ "suspend", 1, 1, "ram | disk | hybrid", verb_suspend },
	{ "events", 0, 1, "[COUNT]", verb_events },
	{ "shell", 0, 0, "", cli_shell },
	{ NULL, 0, 0, NULL, NULL }
};

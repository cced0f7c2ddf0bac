/*
 * Options and qemu-ga.conf. The config file is read first, then the command
 * line overrides scalars and extends the lists, as qemu-ga does.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "keyfile.h"
#include "version.h"

static const char short_opts[] = "hVvdc:m:p:l:f:F::b:a:s:t:Dr";

enum { OPT_NEGOTIATION = 256, OPT_MAX_CLIENTS };

static const struct option long_opts[] = {
	{ "help",		no_argument,		NULL, 'h' },
	{ "version",		no_argument,		NULL, 'V' },
	{ "verbose",		no_argument,		NULL, 'v' },
	{ "daemonize",		no_argument,		NULL, 'd' },
	{ "config",		required_argument,	NULL, 'c' },
	{ "method",		required_argument,	NULL, 'm' },
	{ "path",		required_argument,	NULL, 'p' },
	{ "logfile",		required_argument,	NULL, 'l' },
	{ "pidfile",		required_argument,	NULL, 'f' },
	{ "fsfreeze-hook",	optional_argument,	NULL, 'F' },
	{ "block-rpcs",		required_argument,	NULL, 'b' },
	{ "allow-rpcs",		required_argument,	NULL, 'a' },
	{ "service",		required_argument,	NULL, 's' },
	{ "statedir",		required_argument,	NULL, 't' },
	{ "dump-conf",		no_argument,		NULL, 'D' },
	{ "retry-path",		no_argument,		NULL, 'r' },
	{ "negotiation",	required_argument,	NULL, OPT_NEGOTIATION },
	{ "max-clients",	required_argument,	NULL, OPT_MAX_CLIENTS },
	{ NULL, 0, NULL, 0 }
};

static void
usage(const char *argv0)
{
	printf(
"Usage: %s [-m <method> -p <path>] [<options>]\n"
"QEMU Guest Agent %s (qgad %s)\n"
"\n"
"  -c, --config      configuration file, default is %s\n"
"                    (or $QGA_CONF)\n"
"  -m, --method      transport method: one of unix-listen, virtio-serial,\n"
"                    isa-serial, or vsock-listen (virtio-serial is the default)\n"
"  -p, --path        device/socket path (the default for virtio-serial is:\n"
"                    %s,\n"
"                    the default for isa-serial is:\n"
"                    %s).\n"
"                    Socket addresses for vsock-listen are written as\n"
"                    <cid>:<port>.\n"
"  -l, --logfile     set logfile path, logs to stderr by default\n"
"  -f, --pidfile     specify pidfile (default is %s)\n"
"  -F, --fsfreeze-hook\n"
"                    enable fsfreeze hook. Accepts an optional argument that\n"
"                    specifies script to run on freeze/thaw. Script will be\n"
"                    called with 'freeze'/'thaw' arguments accordingly.\n"
"                    (default is %s)\n"
"                    If using -F with an argument, do not follow -F with a\n"
"                    space.\n"
"                    (for example: -F/var/run/fsfreezehook.sh)\n"
"  -t, --statedir    specify dir to store state information (absolute paths\n"
"                    only, default is %s)\n"
"  -v, --verbose     log extra debugging information\n"
"  -V, --version     print version information and exit\n"
"  -d, --daemonize   become a daemon\n"
"  -b, --block-rpcs  comma-separated list of RPCs to disable (no spaces,\n"
"                    use \"help\" to list available RPCs)\n"
"  -a, --allow-rpcs  comma-separated list of RPCs to enable (no spaces,\n"
"                    use \"help\" to list available RPCs)\n"
"  -D, --dump-conf   dump a qemu-ga config file based on current config\n"
"                    options / command-line parameters to stdout\n"
"  -r, --retry-path  attempt re-opening path if it's unavailable or closed\n"
"                    due to an error which may be recoverable in the future\n"
"      --max-clients=N\n"
"                    serve up to N clients at once on unix-listen and\n"
"                    vsock-listen, each with its own session (default 1)\n"
"      --negotiation=optional|required|off\n"
"                    request-negotiation policy (default optional): optional\n"
"                    serves clients that do not negotiate, required refuses\n"
"                    them, off behaves exactly like an old qemu-ga\n"
"  -h, --help        display this help and exit\n"
"\n"
"Report bugs to the qga project's issue tracker.\n",
	    argv0, QGA_COMPAT_VERSION, QGAD_VERSION, QGA_DEFAULT_CONFIG,
	    QGA_DEFAULT_VIRTIO_PATH, QGA_DEFAULT_SERIAL_PATH,
	    QGA_DEFAULT_PIDFILE, QGA_DEFAULT_HOOK, QGA_DEFAULT_STATEDIR);
}

const char *
qga_negotiation_name(enum qga_negotiation n)
{
	switch (n) {
	case QGA_NEGOTIATION_REQUIRED: return "required";
	case QGA_NEGOTIATION_OFF: return "off";
	default: return "optional";
	}
}

static int
parse_max_clients(const char *s, int *out)
{
	char *end;
	long n = strtol(s, &end, 10);

	if (*s == '\0' || *end || n < 1 || n > QGA_MAX_CLIENTS)
		return -1;
	*out = (int)n;
	return 0;
}

static int
parse_negotiation(const char *s, enum qga_negotiation *out)
{
	if (strcmp(s, "optional") == 0)
		*out = QGA_NEGOTIATION_OPTIONAL;
	else if (strcmp(s, "required") == 0)
		*out = QGA_NEGOTIATION_REQUIRED;
	else if (strcmp(s, "off") == 0)
		*out = QGA_NEGOTIATION_OFF;
	else
		return -1;
	return 0;
}

static void
set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = v ? strdup(v) : NULL;
}

static void
strlist_add(struct strlist *l, const char *s)
{
	char **v = realloc(l->v, (l->n + 1) * sizeof(*v));

	if (v == NULL)
		return;
	l->v = v;
	l->v[l->n++] = strdup(s);
}

/* Split on ',' only. Within one argument qemu-ga prepends, so the items of
 * one -b value come out reversed; keep that for --dump-conf. */
static void
split_list(struct strlist *l, const char *arg)
{
	char *copy = strdup(arg), *tok, *save = NULL;
	struct strlist tmp = { 0 };

	if (copy == NULL)
		return;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		strlist_add(&tmp, tok);
	for (size_t i = tmp.n; i > 0; i--) {
		strlist_add(l, tmp.v[i - 1]);
		free(tmp.v[i - 1]);
	}
	free(tmp.v);
	free(copy);
}

bool
strlist_has(const struct strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return true;
	return false;
}

static void
strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static int
load_file(struct qga_config *cfg, const char *path, bool required)
{
	static const char *const str_keys[] = {
		"method", "path", "logfile", "pidfile", "fsfreeze-hook", "statedir"
	};
	char **str_dst[] = {
		&cfg->method, &cfg->path, &cfg->logfile, &cfg->pidfile,
		&cfg->fsfreeze_hook, &cfg->statedir
	};
	static const char *const bool_keys[] = { "daemon", "verbose", "retry-path" };
	bool *bool_dst[] = { &cfg->daemonize, &cfg->verbose, &cfg->retry_path };
	struct keyfile *kf;
	const char *v;
	char *err = NULL;
	size_t i;

	kf = keyfile_load(path, &err);
	if (kf == NULL) {
		if (errno == ENOENT && !required) {
			free(err);
			return 0;
		}
		fprintf(stderr, "error loading configuration from path: %s, %s\n",
		    path, err ? err : "error");
		free(err);
		return -1;
	}
	for (i = 0; i < sizeof(str_keys) / sizeof(str_keys[0]); i++)
		if ((v = keyfile_get(kf, "general", str_keys[i])))
			set_str(str_dst[i], v);
	for (i = 0; i < sizeof(bool_keys) / sizeof(bool_keys[0]); i++) {
		if ((v = keyfile_get(kf, "general", bool_keys[i])) == NULL)
			continue;
		int b = keyfile_bool(v);
		if (b < 0) {
			fprintf(stderr, "error loading configuration from path: %s, "
			    "Key file contains key “%s” which has a value that "
			    "cannot be interpreted.\n", path, bool_keys[i]);
			keyfile_free(kf);
			return -1;
		}
		*bool_dst[i] = b;
	}
	if ((v = keyfile_get(kf, "general", "block-rpcs")))
		split_list(&cfg->block_rpcs, v);
	if ((v = keyfile_get(kf, "general", "allow-rpcs")))
		split_list(&cfg->allow_rpcs, v);
	if ((v = keyfile_get(kf, "general", "negotiation")) &&
	    parse_negotiation(v, &cfg->negotiation) < 0) {
		fprintf(stderr, "error loading configuration from path: %s, "
		    "invalid negotiation policy '%s' (optional, required or off)\n",
		    path, v);
		keyfile_free(kf);
		return -1;
	}
	if ((v = keyfile_get(kf, "general", "max-clients")) &&
	    parse_max_clients(v, &cfg->max_clients) < 0) {
		fprintf(stderr, "error loading configuration from path: %s, "
		    "invalid max-clients '%s' (1 to %d)\n", path, v, QGA_MAX_CLIENTS);
		keyfile_free(kf);
		return -1;
	}
	keyfile_free(kf);
	return 0;
}

static void
list_commands(const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%s\n", names[i]);
}

/* systemd socket activation: LISTEN_FDS names fd 3. */
static int
socket_activation(struct qga_config *cfg)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (pid == NULL || fds == NULL || atol(pid) != (long)getpid())
		return 0;
	if (atoi(fds) != 1) {
		fprintf(stderr, "qgad only supports listening on one socket\n");
		return -1;
	}
	if (getsockname(3, (struct sockaddr *)&ss, &len) < 0) {
		fprintf(stderr, "unsupported listen fd type\n");
		return -1;
	}
	if (ss.ss_family == AF_UNIX)
		set_str(&cfg->method, "unix-listen");
	else if (ss.ss_family == AF_VSOCK)
		set_str(&cfg->method, "vsock-listen");
	else {
		fprintf(stderr, "unsupported listen fd type\n");
		return -1;
	}
	cfg->listen_fd = 3;
	if (cfg->path == NULL)
		set_str(&cfg->path, "(socket activation)");
	return 0;
}

int
qga_config_load(struct qga_config *cfg, int argc, char **argv,
    const char *const *command_names, size_t ncommands)
{
	const char *conf = getenv("QGA_CONF");
	bool conf_required = false;
	int c;

	memset(cfg, 0, sizeof(*cfg));
	cfg->listen_fd = -1;
	cfg->max_clients = 1;
	/* First pass: only the config file location. */
	opterr = 0;
	optind = 0;
	while ((c = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1)
		if (c == 'c') {
			conf = optarg;
			conf_required = true;
		}
	if (conf == NULL)
		conf = QGA_DEFAULT_CONFIG;
	if (load_file(cfg, conf, conf_required) < 0)
		return -1;

	opterr = 1;
	optind = 0;
	while ((c = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			break;
		case 'm': set_str(&cfg->method, optarg); break;
		case 'p': set_str(&cfg->path, optarg); break;
		case 'l': set_str(&cfg->logfile, optarg); break;
		case 'f': set_str(&cfg->pidfile, optarg); break;
		case 'F': set_str(&cfg->fsfreeze_hook, optarg ? optarg : QGA_DEFAULT_HOOK); break;
		case 't': set_str(&cfg->statedir, optarg); break;
		case 'v': cfg->verbose = true; break;
		case 'd': cfg->daemonize = true; break;
		case 'D': cfg->dump_conf = true; break;
		case 'r': cfg->retry_path = true; break;
		case 'b':
		case 'a':
			if (strcmp(optarg, "help") == 0 || strcmp(optarg, "?") == 0) {
				list_commands(command_names, ncommands);
				return 1;
			}
			split_list(c == 'b' ? &cfg->block_rpcs : &cfg->allow_rpcs, optarg);
			break;
		case 's':
			fprintf(stderr, "-s/--service is only supported on Windows\n");
			return -1;
		case 'V':
			printf("QEMU Guest Agent %s (qgad %s)\n", QGA_COMPAT_VERSION,
			    QGAD_VERSION);
			return 1;
		case 'h':
			usage(argv[0]);
			return 1;
		case OPT_MAX_CLIENTS:
			if (parse_max_clients(optarg, &cfg->max_clients) < 0) {
				fprintf(stderr, "invalid --max-clients '%s': "
				    "use a number from 1 to %d\n", optarg, QGA_MAX_CLIENTS);
				return -1;
			}
			break;
		case OPT_NEGOTIATION:
			if (parse_negotiation(optarg, &cfg->negotiation) < 0) {
				fprintf(stderr, "invalid --negotiation '%s': "
				    "use optional, required or off\n", optarg);
				return -1;
			}
			break;
		default:
			printf("Unknown option, try '%s --help' for more information.\n",
			    argv[0]);
			return -1;
		}
	}
	if (cfg->pidfile == NULL)
		set_str(&cfg->pidfile, QGA_DEFAULT_PIDFILE);
	if (cfg->statedir == NULL)
		set_str(&cfg->statedir, QGA_DEFAULT_STATEDIR);
	if (cfg->method == NULL)
		set_str(&cfg->method, "virtio-serial");
	if (socket_activation(cfg) < 0)
		return -1;
	if (cfg->path == NULL) {
		if (strcmp(cfg->method, "virtio-serial") == 0)
			set_str(&cfg->path, QGA_DEFAULT_VIRTIO_PATH);
		else if (strcmp(cfg->method, "isa-serial") == 0)
			set_str(&cfg->path, QGA_DEFAULT_SERIAL_PATH);
		else {
			fprintf(stderr, "must specify a path for this channel\n");
			return -1;
		}
	}
	return 0;
}

static void
write_list(FILE *out, const char *key, const struct strlist *l)
{
	size_t len = 1;
	char *joined;

	for (size_t i = 0; i < l->n; i++)
		len += strlen(l->v[i]) + 1;
	joined = calloc(1, len);
	if (joined == NULL)
		return;
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			strcat(joined, ",");
		strcat(joined, l->v[i]);
	}
	keyfile_write_pair(out, key, joined);
	free(joined);
}

void
qga_config_dump(const struct qga_config *cfg, FILE *out)
{
	fputs("[general]\n", out);
	keyfile_write_pair(out, "daemon", cfg->daemonize ? "true" : "false");
	keyfile_write_pair(out, "method", cfg->method);
	if (cfg->path)
		keyfile_write_pair(out, "path", cfg->path);
	if (cfg->logfile)
		keyfile_write_pair(out, "logfile", cfg->logfile);
	keyfile_write_pair(out, "pidfile", cfg->pidfile);
	if (cfg->fsfreeze_hook)
		keyfile_write_pair(out, "fsfreeze-hook", cfg->fsfreeze_hook);
	keyfile_write_pair(out, "statedir", cfg->statedir);
	keyfile_write_pair(out, "verbose", cfg->verbose ? "true" : "false");
	keyfile_write_pair(out, "retry-path", cfg->retry_path ? "true" : "false");
	write_list(out, "block-rpcs", &cfg->block_rpcs);
	write_list(out, "allow-rpcs", &cfg->allow_rpcs);
	keyfile_write_pair(out, "negotiation", qga_negotiation_name(cfg->negotiation));
	if (cfg->max_clients != 1) {
		char n[16];

		snprintf(n, sizeof(n), "%d", cfg->max_clients);
		keyfile_write_pair(out, "max-clients", n);
	}
}

void
qga_config_free(struct qga_config *cfg)
{
	free(cfg->method);
	free(cfg->path);
	free(cfg->logfile);
	free(cfg->pidfile);
	free(cfg->fsfreeze_hook);
	free(cfg->statedir);
	strlist_free(&cfg->block_rpcs);
	strlist_free(&cfg->allow_rpcs);
}

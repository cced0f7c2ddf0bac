/*
 * qga-bench: the load driver behind bench/run. It talks to an agent over a
 * raw unix socket (no client library in the measured path), starts the
 * agent itself to time start-up, reads the agent's CPU and memory from
 * /proc, and prints one "metric<TAB>value" line per measurement.
 *
 *   qga-bench round [options] -- AGENT [ARGS...]   one round against AGENT
 *   qga-bench echo -m unix-listen -p SOCK [-t DIR]  the echo limit server
 *   qga-bench b64 [MIB]                             base64 limit
 *   qga-bench pings SOCK N                          N pings (for callgrind)
 *   qga-bench caps [options] -- AGENT [ARGS...]    issue 10's metrics
 *   qga-bench exitstamp MS                          sleep, print the time, exit
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MIB		(1024 * 1024)
/* The file transfers move this much per chunk size and direction, and
 * one chunk for 16 MiB (the CPU and fault figures are scaled to 64 MiB):
 * more did not fit the 5-minute budget on the benchmark VM, where fresh
 * pages are slow. */
#define XFER_TOTAL	(8 * MIB)
/* From this total on, the 16 MiB size moves one whole 16 MiB chunk. */
#define XFER_MIN_FOR_16M	(8 * MIB)
/* How long to wait for an agent to answer anything before giving up. */
#define REPLY_TIMEOUT_MS	30000
#define STARTUP_TIMEOUT_MS	10000

static const char PING[] = "{\"execute\":\"guest-ping\"}\n";

static void usage(void);

/* ---- small helpers ---- */

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("qga-bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		die("out of memory");
	return p;
}

/*
 * Buffers reused across transfers. Fresh pages are expensive on some VMs
 * (78 µs per 4 KiB page on the benchmark machine), and the driver shares
 * the agent's CPU: it must not spend its time faulting pages in.
 */
enum { SCRATCH_GOT, SCRATCH_REQ, SCRATCH_BACK, NSCRATCH };

static void *
scratch(int slot, size_t n)
{
	static void *buf[NSCRATCH];
	static size_t cap[NSCRATCH];

	if (cap[slot] < n) {
		free(buf[slot]);
		buf[slot] = xmalloc(n);
		cap[slot] = n;
	}
	return buf[slot];
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Percentile of n samples (sorted in place), nearest rank. */
static uint64_t
percentile(uint64_t *v, size_t n, double pct)
{
	size_t k;

	qsort(v, n, sizeof(*v), cmp_u64);
	k = (size_t)(pct / 100.0 * (double)n + 0.5);
	if (k == 0)
		k = 1;
	if (k > n)
		k = n;
	return v[k - 1];
}

static void
metric(const char *name, const char *fmt, ...)
{
	static uint64_t t0;
	va_list ap;

	/* QGA_BENCH_TRACE=1: when each figure was done, for the time budget. */
	if (getenv("QGA_BENCH_TRACE")) {
		if (t0 == 0)
			t0 = now_ns();
		fprintf(stderr, "%8.3f s  %s\n", (now_ns() - t0) / 1e9, name);
	}
	printf("%s\t", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static void
na(const char *name)
{
	metric(name, "n/a");
}

/* ---- base64 (the driver's own, also the limit) ---- */

static const char b64_alpha[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static signed char b64_val[256];

static void
b64_init(void)
{
	memset(b64_val, -1, sizeof(b64_val));
	for (int i = 0; i < 64; i++)
		b64_val[(unsigned char)b64_alpha[i]] = (signed char)i;
}

static size_t
b64_enc(const unsigned char *in, size_t n, char *out)
{
	char *o = out;
	size_t i;
	uint32_t v;

	for (i = 0; i + 3 <= n; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		o[0] = b64_alpha[v >> 18];
		o[1] = b64_alpha[(v >> 12) & 63];
		o[2] = b64_alpha[(v >> 6) & 63];
		o[3] = b64_alpha[v & 63];
		o += 4;
	}
	if (n - i) {
		v = (uint32_t)in[i] << 16 | (n - i == 2 ? (uint32_t)in[i + 1] << 8 : 0);
		o[0] = b64_alpha[v >> 18];
		o[1] = b64_alpha[(v >> 12) & 63];
		o[2] = n - i == 2 ? b64_alpha[(v >> 6) & 63] : '=';
		o[3] = '=';
		o += 4;
	}
	return (size_t)(o - out);
}

/* Strict decode of canonical padded base64; -1 on anything else. */
static ssize_t
b64_dec(const char *in, size_t n, unsigned char *out)
{
	const unsigned char *p = (const unsigned char *)in;
	unsigned char *o = out;
	size_t i, pad = 0;

	if (n % 4)
		return -1;
	if (n && p[n - 1] == '=')
		pad = p[n - 2] == '=' ? 2 : 1;
	for (i = 0; i + 4 <= n; i += 4) {
		int a = b64_val[p[i]], b = b64_val[p[i + 1]];
		int c = b64_val[p[i + 2]], d = b64_val[p[i + 3]];
		uint32_t v;

		if (i + 4 == n && pad) {
			if (pad == 2)
				c = 0;
			d = 0;
		}
		if ((a | b | c | d) < 0)
			return -1;
		v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
		o[0] = (unsigned char)(v >> 16);
		o[1] = (unsigned char)(v >> 8);
		o[2] = (unsigned char)v;
		o += 3;
	}
	return (ssize_t)((size_t)(o - out) - pad);
}

static void
fill_pattern(unsigned char *p, size_t n, uint64_t seed)
{
	uint64_t x = seed | 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)(x >> 24);
	}
}

/* ---- agent process: CPU and memory from /proc ---- */

static pid_t agent_pid;

/* Nanoseconds on CPU over all the agent's live threads (schedstat);
 * qemu-ga has a second, GLib thread. */
static uint64_t
agent_cpu_ns(void)
{
	char path[96];
	unsigned long long ns = 0, run;
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)agent_pid);
	d = opendir(path);
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.20s/schedstat",
		    (int)agent_pid, de->d_name);
		f = fopen(path, "re");
		if (f == NULL)
			continue;
		if (fscanf(f, "%llu", &run) == 1)
			ns += run;
		fclose(f);
	}
	closedir(d);
	return ns;
}

/* Minor page faults of the agent so far (field 10 of /proc/PID/stat):
 * fresh memory touched, independent of what a fault costs here. */
static unsigned long
agent_minflt(void)
{
	char path[64], line[1024], *p;
	unsigned long flt = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)agent_pid);
	f = fopen(path, "re");
	if (f == NULL)
		return 0;
	if (fgets(line, sizeof(line), f) && (p = strrchr(line, ')')) != NULL)
		sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %lu", &flt);
	fclose(f);
	return flt;
}

static int
agent_threads(void)
{
	char path[64], line[256];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)agent_pid);
	f = fopen(path, "re");
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* A "Field: N kB" line of /proc/PID/<file> (status or smaps_rollup). */
static long
agent_proc_kib(const char *file, const char *field)
{
	char path[64], line[256];
	size_t flen = strlen(field);
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)agent_pid, file);
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
			kib = strtol(line + flen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return kib;
}

static long
agent_mem_kib(const char *field)
{
	return agent_proc_kib("status", field);
}

/* Reset the peak-RSS mark to the current RSS ("5" in clear_refs). */
static int
agent_reset_peak(void)
{
	char path[64];
	int fd, ok;

	snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)agent_pid);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ok = write(fd, "5", 1) == 1;
	close(fd);
	return ok ? 0 : -1;
}

static pid_t
spawn(char **argv, int cpu, const char *logpath)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
		if (cpu >= 0) {
			cpu_set_t set;
			CPU_ZERO(&set);
			CPU_SET(cpu, &set);
			sched_setaffinity(0, sizeof(set), &set);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static void
stop(pid_t pid)
{
	int st;

	kill(pid, SIGTERM);
	for (int i = 0; i < 2000; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return;
		usleep(1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
}

/* ---- connection ---- */

struct conn {
	int	 fd;
	char	*buf;		/* received, not yet consumed */
	size_t	 len, cap, off;
};

static int
try_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path))
		die("socket path too long: %s", path);
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void
conn_open(struct conn *c, const char *path)
{
	c->fd = try_connect(path);
	if (c->fd < 0)
		die("connect %s: %s", path, strerror(errno));
	c->len = c->off = 0;
}

static void
conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->len = c->off = 0;
}

static void
send_all(int fd, const void *p, size_t n)
{
	const char *s = p;

	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			die("send: %s", strerror(errno));
		}
		s += w;
		n -= (size_t)w;
	}
}

static void
conn_reserve(struct conn *c, size_t want)
{
	if (c->off && c->off == c->len)
		c->off = c->len = 0;
	if (c->cap - c->len >= want)
		return;
	if (c->off) {
		memmove(c->buf, c->buf + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
		if (c->cap - c->len >= want)
			return;
	}
	while (c->cap - c->len < want)
		c->cap = c->cap ? c->cap * 2 : 1 << 16;
	c->buf = realloc(c->buf, c->cap);
	if (c->buf == NULL)
		die("out of memory");
}

/* The next reply line (without its '\n'); valid until the next call. */
static char *
conn_line(struct conn *c, size_t *lenp)
{
	size_t scan = c->off;

	for (;;) {
		char *nl = memchr(c->buf + scan, '\n', c->len - scan);
		if (nl) {
			char *line = c->buf + c->off;
			*lenp = (size_t)(nl - line);
			*nl = '\0';
			c->off = (size_t)(nl - c->buf) + 1;
			return line;
		}
		scan = c->len;
		/* Keep scanning where we stopped across the memmove. */
		scan -= c->off;
		conn_reserve(c, 1 << 16);
		scan += c->off;
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		if (poll(&p, 1, REPLY_TIMEOUT_MS) <= 0)
			die("no reply within %d ms", REPLY_TIMEOUT_MS);
		ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
		if (r == 0)
			die("agent closed the connection");
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die("recv: %s", strerror(errno));
		}
		c->len += (size_t)r;
	}
}

/* One request, its reply parsed; dies on a transport problem only. */
static json_t *
call(struct conn *c, const char *req)
{
	size_t n;
	char *line;
	json_t *v;

	send_all(c->fd, req, strlen(req));
	line = conn_line(c, &n);
	if (n && (unsigned char)line[0] == 0xFF)
		line++, n--;
	v = json_loadb(line, n, 0, NULL);
	if (v == NULL)
		die("unparsable reply to %s", req);
	return v;
}

static json_t *
call_ok(struct conn *c, const char *req)
{
	json_t *v = call(c, req), *r = json_object_get(v, "return");

	if (r == NULL) {
		char *s = json_dumps(v, 0);
		die("request %s failed: %s", req, s ? s : "?");
	}
	json_incref(r);
	json_decref(v);
	return r;
}

/* ---- the round ---- */

struct opts {
	const char	*dir;
	int		 cpu;
	bool		 limit;		/* the echo server: round trips only */
	int		 startups;
	int		 pings;
	int		 pipelined;
	int		 infos;
	int		 churn_ms;
	int		 handshakes;
	int		 execs;
	size_t		 xfer_total;
	char		**argv;		/* the agent, without its transport args */
	int		 argc;
};

struct agent {
	char		 sock[512];
	char		 state[512];
	char		 log[512];
	pid_t		 pid;
	json_t		*commands;	/* names from guest-info, or NULL */
};

static pid_t
start_agent(const struct opts *o, struct agent *ag, const char *tag,
    uint64_t *startup_ns, uint64_t *startup_cpu_ns)
{
	char *argv[64];
	int k = 0;
	uint64_t t0;
	int fd, ino;

	snprintf(ag->state, sizeof(ag->state), "%s/%s", o->dir, tag);
	snprintf(ag->sock, sizeof(ag->sock), "%s/%s/qga.sock", o->dir, tag);
	snprintf(ag->log, sizeof(ag->log), "%s/%s.log", o->dir, tag);
	if (mkdir(ag->state, 0700) < 0 && errno != EEXIST)
		die("mkdir %s: %s", ag->state, strerror(errno));
	if (o->argc > 56)
		die("too many agent arguments");
	for (int i = 0; i < o->argc; i++)
		argv[k++] = o->argv[i];
	argv[k++] = (char *)"-m";
	argv[k++] = (char *)"unix-listen";
	argv[k++] = (char *)"-p";
	argv[k++] = ag->sock;
	argv[k++] = (char *)"-t";
	argv[k++] = ag->state;
	argv[k] = NULL;

	/* From fork to the first reply: exec, loader, init, listen, accept,
	 * read, dispatch, reply. The driver sleeps on inotify until the
	 * socket appears rather than polling: it shares the agent's CPU. */
	ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (ino < 0 || inotify_add_watch(ino, ag->state, IN_CREATE) < 0)
		die("inotify: %s", strerror(errno));
	t0 = now_ns();
	ag->pid = spawn(argv, o->cpu, ag->log);
	for (;;) {
		struct pollfd p = { .fd = ino, .events = POLLIN };
		char evbuf[4096];
		int st;

		fd = try_connect(ag->sock);
		if (fd >= 0)
			break;
		if (waitpid(ag->pid, &st, WNOHANG) == ag->pid)
			die("agent %s exited at start-up with status 0x%x (see %s)",
			    argv[0], st, ag->log);
		if (now_ns() - t0 > (uint64_t)STARTUP_TIMEOUT_MS * 1000000)
			die("agent %s did not listen within %d ms", argv[0],
			    STARTUP_TIMEOUT_MS);
		if (errno == ENOENT) {
			/* Not bound yet: wait for a file to appear. */
			if (poll(&p, 1, 10) > 0)
				while (read(ino, evbuf, sizeof(evbuf)) > 0)
					;
		} else
			usleep(20);	/* bound, not listening yet */
	}
	{
		struct conn c = { .fd = fd };
		size_t n;

		send_all(fd, PING, sizeof(PING) - 1);
		conn_line(&c, &n);
		*startup_ns = now_ns() - t0;
		/* Its own CPU time: what start-up costs on a busy machine. */
		agent_pid = ag->pid;
		*startup_cpu_ns = agent_cpu_ns();
		free(c.buf);
	}
	/* Not before: closing an inotify instance waits for an RCU grace
	 * period, 4-12 ms here, which the start-up figures of both agents
	 * and of the echo limit carried until run 11. */
	close(ino);
	close(fd);
	return ag->pid;
}

static bool
has_command(const struct agent *ag, const char *name)
{
	size_t i;
	json_t *v;

	json_array_foreach(ag->commands, i, v)
		if (strcmp(json_string_value(v), name) == 0)
			return true;
	return false;
}

static void
learn_commands(struct conn *c, struct agent *ag)
{
	json_t *r = call_ok(c, "{\"execute\":\"guest-info\"}\n"), *list, *v;
	size_t i;

	ag->commands = json_array();
	list = json_object_get(r, "supported_commands");
	json_array_foreach(list, i, v)
		if (json_is_true(json_object_get(v, "enabled")))
			json_array_append(ag->commands, json_object_get(v, "name"));
	json_decref(r);
}

static void
ping_latency(const struct opts *o, struct conn *c)
{
	uint64_t *lat = xmalloc((size_t)o->pings * sizeof(*lat)), cpu0, cpu;
	size_t n;

	for (int i = 0; i < o->pings / 10 + 1; i++) {		/* warm-up */
		send_all(c->fd, PING, sizeof(PING) - 1);
		conn_line(c, &n);
	}
	cpu0 = agent_cpu_ns();
	for (int i = 0; i < o->pings; i++) {
		uint64_t t = now_ns();
		send_all(c->fd, PING, sizeof(PING) - 1);
		conn_line(c, &n);
		lat[i] = now_ns() - t;
	}
	cpu = agent_cpu_ns() - cpu0;
	metric("ping_p50_us", "%.2f", percentile(lat, (size_t)o->pings, 50) / 1e3);
	metric("ping_p99_us", "%.2f", percentile(lat, (size_t)o->pings, 99) / 1e3);
	metric("cpu_per_ping_seq_us", "%.3f", cpu / 1e3 / o->pings);
	free(lat);
}

/* N pings written as fast as the agent takes them; replies read as they
 * come (the agent stops reading while its replies are not read). */
static void
ping_pipelined(const struct opts *o, struct conn *c)
{
	enum { BATCH = 512 };
	static char batch[BATCH * (sizeof(PING) - 1)];
	size_t blen = sizeof(batch), boff = 0;
	uint64_t sent = 0, want = (uint64_t)o->pipelined * (sizeof(PING) - 1);
	uint64_t got = 0, t0, t, cpu0, cpu;

	for (int i = 0; i < BATCH; i++)
		memcpy(batch + i * (sizeof(PING) - 1), PING, sizeof(PING) - 1);
	cpu0 = agent_cpu_ns();
	t0 = now_ns();
	while (got < (uint64_t)o->pipelined) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		if (sent < want)
			p.events |= POLLOUT;
		if (poll(&p, 1, REPLY_TIMEOUT_MS) <= 0)
			die("pipelined pings stalled");
		if ((p.revents & POLLOUT) && sent < want) {
			size_t chunk = blen - boff;
			if (chunk > want - sent)
				chunk = (size_t)(want - sent);
			ssize_t w = send(c->fd, batch + boff, chunk,
			    MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w > 0) {
				sent += (uint64_t)w;
				boff = (boff + (size_t)w) % blen;
			}
		}
		if (p.revents & (POLLIN | POLLHUP)) {
			conn_reserve(c, 1 << 16);
			ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len,
			    MSG_DONTWAIT);
			if (r == 0)
				die("agent closed the connection");
			for (ssize_t i = 0; i < r; i++)
				got += c->buf[c->len + (size_t)i] == '\n';
			/* Replies are counted, not kept. */
		}
	}
	t = now_ns() - t0;
	cpu = agent_cpu_ns() - cpu0;
	c->len = c->off = 0;
	metric("pipelined_pings_per_s", "%.0f", o->pipelined / (t / 1e9));
	metric("cpu_per_ping_pipelined_us", "%.3f", cpu / 1e3 / o->pipelined);
}

static void
info_latency(const struct opts *o, struct conn *c)
{
	static const char req[] = "{\"execute\":\"guest-info\"}\n";
	uint64_t *lat = xmalloc((size_t)o->infos * sizeof(*lat));
	size_t n;

	for (int i = 0; i < o->infos; i++) {
		uint64_t t = now_ns();
		send_all(c->fd, req, sizeof(req) - 1);
		conn_line(c, &n);
		lat[i] = now_ns() - t;
	}
	metric("info_p50_us", "%.2f", percentile(lat, (size_t)o->infos, 50) / 1e3);
	free(lat);
}

static void
churn(const struct opts *o, const struct agent *ag)
{
	uint64_t t0 = now_ns(), limit = (uint64_t)o->churn_ms * 1000000, t;
	struct conn c = { .fd = -1 };
	long n = 0;
	size_t len;

	do {
		conn_open(&c, ag->sock);
		send_all(c.fd, PING, sizeof(PING) - 1);
		conn_line(&c, &len);
		conn_close(&c);
		n++;
		t = now_ns() - t0;
	} while (t < limit);
	free(c.buf);
	metric("churn_per_s", "%.0f", n / (t / 1e9));
}

static void
handshake(const struct opts *o, const struct agent *ag)
{
	static const char neg[] = "{\"execute\":\"request-negotiation\"}\n";
	static const char caps[] = "{\"execute\":\"qmp_capabilities\"}\n";
	uint64_t *lat;
	struct conn c = { .fd = -1 };
	size_t n;

	if (!o->limit && !has_command(ag, "request-negotiation")) {
		na("handshake_us");
		return;
	}
	lat = xmalloc((size_t)o->handshakes * sizeof(*lat));
	for (int i = 0; i < o->handshakes; i++) {
		conn_open(&c, ag->sock);
		uint64_t t = now_ns();
		send_all(c.fd, neg, sizeof(neg) - 1);
		conn_line(&c, &n);
		send_all(c.fd, caps, sizeof(caps) - 1);
		char *line = conn_line(&c, &n);
		lat[i] = now_ns() - t;
		if (!o->limit && strstr(line, "\"return\"") == NULL)
			die("qmp_capabilities failed: %s", line);
		conn_close(&c);
	}
	free(c.buf);
	metric("handshake_us", "%.2f", percentile(lat, (size_t)o->handshakes, 50) / 1e3);
	free(lat);
}

static void
exec_true(const struct opts *o, struct conn *c, const struct agent *ag)
{
	uint64_t *lat;
	char req[128];

	if (!has_command(ag, "guest-exec") || !has_command(ag, "guest-exec-status")) {
		na("exec_true_ms");
		return;
	}
	lat = xmalloc((size_t)o->execs * sizeof(*lat));
	for (int i = 0; i < o->execs; i++) {
		uint64_t t = now_ns();
		json_t *r = call_ok(c, "{\"execute\":\"guest-exec\",\"arguments\":"
		    "{\"path\":\"/bin/true\"}}\n");
		json_int_t pid = json_integer_value(json_object_get(r, "pid"));
		json_decref(r);
		snprintf(req, sizeof(req), "{\"execute\":\"guest-exec-status\","
		    "\"arguments\":{\"pid\":%lld}}\n", (long long)pid);
		for (;;) {
			r = call_ok(c, req);
			bool done = json_is_true(json_object_get(r, "exited"));
			if (done && json_integer_value(json_object_get(r, "exitcode")) != 0)
				die("/bin/true exited with %lld", (long long)
				    json_integer_value(json_object_get(r, "exitcode")));
			json_decref(r);
			if (done)
				break;
			/* The child runs on the agent's CPU, which the driver
			 * shares: give it the CPU between polls. */
			usleep(200);
		}
		lat[i] = now_ns() - t;
	}
	metric("exec_true_ms", "%.3f", percentile(lat, (size_t)o->execs, 50) / 1e6);
	free(lat);
}

static int64_t
file_open(struct conn *c, const char *path, const char *mode)
{
	json_t *s = json_string(path), *r;
	char *q = json_dumps(s, JSON_ENCODE_ANY), req[1200];
	int64_t h;

	snprintf(req, sizeof(req), "{\"execute\":\"guest-file-open\",\"arguments\":"
	    "{\"path\":%s,\"mode\":\"%s\"}}\n", q, mode);
	free(q);
	json_decref(s);
	r = call_ok(c, req);
	h = json_integer_value(r);
	json_decref(r);
	return h;
}

static void
file_close(struct conn *c, int64_t h)
{
	char req[128];

	snprintf(req, sizeof(req), "{\"execute\":\"guest-file-close\","
	    "\"arguments\":{\"handle\":%lld}}\n", (long long)h);
	json_decref(call_ok(c, req));
}

/* Read `total` bytes of `path` in `chunk`-byte requests; the time counted
 * is request sent to reply received, the driver's decoding and checking
 * is done outside it. Returns ns, and the agent CPU in *cpu. */
static uint64_t
xfer_read(struct conn *c, const char *path, const unsigned char *want,
    size_t total, size_t chunk, uint64_t *cpu)
{
	unsigned char *got = scratch(SCRATCH_GOT, chunk + 3);
	uint64_t t = 0, cpu0 = agent_cpu_ns();
	int64_t h = file_open(c, path, "r");
	char req[160];
	size_t done = 0, n;

	snprintf(req, sizeof(req), "{\"execute\":\"guest-file-read\",\"arguments\":"
	    "{\"handle\":%lld,\"count\":%zu}}\n", (long long)h, chunk);
	/* The driver's receive buffer is sized and touched before the clock
	 * runs: growing it (realloc copies, fresh pages at 30-300 us each
	 * here) is the driver's cost, not the agent's. */
	conn_reserve(c, chunk / 3 * 4 + 4096);
	memset(c->buf + c->len, 0, c->cap - c->len);
	while (done < total) {
		uint64_t t0 = now_ns();
		send_all(c->fd, req, strlen(req));
		char *line = conn_line(c, &n);
		t += now_ns() - t0;

		char *b = memmem(line, n, "\"buf-b64\"", 9), *e;
		if (b == NULL || (b = memchr(b + 9, '"', n - (size_t)(b + 9 - line))) == NULL)
			die("guest-file-read: no buf-b64 in reply: %.200s", line);
		b++;
		e = memchr(b, '"', n - (size_t)(b - line));
		if (e == NULL)
			die("guest-file-read: unterminated buf-b64");
		ssize_t m = b64_dec(b, (size_t)(e - b), got);
		if (m != (ssize_t)chunk || memcmp(got, want + done, chunk) != 0)
			die("guest-file-read: wrong bytes at offset %zu (%zd bytes)",
			    done, m);
		done += chunk;
	}
	file_close(c, h);
	*cpu = agent_cpu_ns() - cpu0;
	return t;
}

static uint64_t
xfer_write(struct conn *c, const char *path, const unsigned char *data,
    size_t total, size_t chunk, uint64_t *cpu)
{
	size_t cap = chunk / 3 * 4 + 256, n, len;
	char *req = scratch(SCRATCH_REQ, cap), head[128];
	uint64_t t = 0, cpu0 = agent_cpu_ns();
	int64_t h = file_open(c, path, "w");
	size_t done = 0;
	int hl;

	hl = snprintf(head, sizeof(head), "{\"execute\":\"guest-file-write\","
	    "\"arguments\":{\"handle\":%lld,\"buf-b64\":\"", (long long)h);
	while (done < total) {
		/* The request is built before the clock starts. */
		memcpy(req, head, (size_t)hl);
		len = (size_t)hl + b64_enc(data + done, chunk, req + hl);
		memcpy(req + len, "\"}}\n", 4);
		len += 4;

		uint64_t t0 = now_ns();
		send_all(c->fd, req, len);
		char *line = conn_line(c, &n);
		t += now_ns() - t0;
		if (memmem(line, n, "\"return\"", 8) == NULL)
			die("guest-file-write failed: %.200s", line);
		done += chunk;
	}
	file_close(c, h);
	*cpu = agent_cpu_ns() - cpu0;

	/* Check what landed on disk. */
	{
		unsigned char *back = scratch(SCRATCH_BACK, total);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		size_t got = 0;
		ssize_t r;

		if (fd < 0)
			die("open %s: %s", path, strerror(errno));
		while (got < total && (r = read(fd, back + got, total - got)) > 0)
			got += (size_t)r;
		close(fd);
		if (got != total || memcmp(back, data, total) != 0)
			die("guest-file-write: %s holds the wrong bytes", path);
		unlink(path);
	}
	return t;
}

static void
file_transfer(const struct opts *o, struct conn *c, const struct agent *ag)
{
	static const size_t chunks[] = { 1, 4, 16 };
	static const char *const need[] = { "guest-file-open", "guest-file-read",
	    "guest-file-write", "guest-file-close" };
	char name[64], src[600], dst[600];
	size_t total = o->xfer_total;
	unsigned char *data;
	bool ok = true;
	int fd;

	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++)
		ok = ok && has_command(ag, need[i]);
	if (!ok) {
		for (size_t i = 0; i < 3; i++) {
			snprintf(name, sizeof(name), "read_%zuM_MBps", chunks[i]);
			na(name);
			snprintf(name, sizeof(name), "write_%zuM_MBps", chunks[i]);
			na(name);
		}
		na("read_cpu_ms_per_64M");
		na("write_cpu_ms_per_64M");
		na("read_faults_per_64M");
		na("write_faults_per_64M");
		na("peak_rss_read_16M_mib");
		na("peak_rss_write_16M_mib");
		return;
	}
	if (total >= XFER_MIN_FOR_16M && total < 16 * MIB)
		total = 16 * MIB;	/* the source file holds the largest total */
	data = xmalloc(total);
	fill_pattern(data, total, 0x9e3779b97f4a7c15ull);
	snprintf(src, sizeof(src), "%s/src.bin", o->dir);
	snprintf(dst, sizeof(dst), "%s/dst.bin", o->dir);
	fd = open(src, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, data, total) != (ssize_t)total || close(fd) < 0)
		die("cannot write %s", src);

	for (size_t i = 0; i < 3; i++) {
		size_t chunk = chunks[i] * MIB;
		uint64_t t, cpu;
		bool big = chunks[i] == 16;

		/* Each size moves at least one chunk; with a tiny total (the
		 * smoke test) the chunk shrinks instead. */
		total = o->xfer_total;
		if (chunk > total && total >= XFER_MIN_FOR_16M)
			total = chunk;
		if (chunk > total)
			chunk = total;
		unsigned long flt = agent_minflt();

		if (big)
			agent_reset_peak();
		t = xfer_read(c, src, data, total, chunk, &cpu);
		snprintf(name, sizeof(name), "read_%zuM_MBps", chunks[i]);
		metric(name, "%.1f", total / (t / 1e3));
		if (big) {
			metric("peak_rss_read_16M_mib", "%.1f",
			    agent_mem_kib("VmHWM") / 1024.0);
			metric("read_cpu_ms_per_64M", "%.1f",
			    cpu / 1e6 * (64.0 * MIB / total));
			metric("read_faults_per_64M", "%.0f",
			    (agent_minflt() - flt) * (64.0 * MIB / total));
			agent_reset_peak();
		}
		flt = agent_minflt();
		t = xfer_write(c, dst, data, total, chunk, &cpu);
		snprintf(name, sizeof(name), "write_%zuM_MBps", chunks[i]);
		metric(name, "%.1f", total / (t / 1e3));
		if (big) {
			metric("peak_rss_write_16M_mib", "%.1f",
			    agent_mem_kib("VmHWM") / 1024.0);
			metric("write_cpu_ms_per_64M", "%.1f",
			    cpu / 1e6 * (64.0 * MIB / total));
			metric("write_faults_per_64M", "%.0f",
			    (agent_minflt() - flt) * (64.0 * MIB / total));
		}
	}
	unlink(src);
	free(data);
}

static int
cmd_round(const struct opts *o)
{
	struct agent ag = { 0 };
	struct conn c = { .fd = -1 };
	uint64_t *st = xmalloc((size_t)o->startups * sizeof(*st));
	uint64_t *sc = xmalloc((size_t)o->startups * sizeof(*sc));
	char tag[32];
	size_t n;

	signal(SIGPIPE, SIG_IGN);
	/* Start-up: fresh agents, each in its own state dir; the last one
	 * serves the rest of the round. */
	for (int i = 0; i < o->startups; i++) {
		snprintf(tag, sizeof(tag), "s%d", i);
		start_agent(o, &ag, tag, &st[i], &sc[i]);
		if (i + 1 < o->startups)
			stop(ag.pid);
	}
	agent_pid = ag.pid;
	metric("startup_ms", "%.3f", percentile(st, (size_t)o->startups, 50) / 1e6);
	metric("startup_cpu_ms", "%.3f", percentile(sc, (size_t)o->startups, 50) / 1e6);
	free(st);
	free(sc);

	conn_open(&c, ag.sock);
	if (!o->limit)
		learn_commands(&c, &ag);
	/* One ping settles the idle footprint of a served client. */
	send_all(c.fd, PING, sizeof(PING) - 1);
	conn_line(&c, &n);
	usleep(20000);
	metric("idle_rss_mib", "%.2f", agent_mem_kib("VmRSS") / 1024.0);
	/* RSS counts every shared library page the agent maps; PSS splits
	 * them among their users and shows what the agent itself costs. */
	metric("idle_pss_mib", "%.2f", agent_proc_kib("smaps_rollup", "Pss") / 1024.0);

	ping_latency(o, &c);
	ping_pipelined(o, &c);
	if (o->limit)
		na("info_p50_us");
	else
		info_latency(o, &c);
	metric("agent_threads", "%d", agent_threads());

	conn_close(&c);		/* one client at a time */
	churn(o, &ag);
	handshake(o, &ag);
	conn_open(&c, ag.sock);

	if (o->limit) {
		na("exec_true_ms");
	} else {
		exec_true(o, &c, &ag);
		file_transfer(o, &c, &ag);
	}
	conn_close(&c);
	free(c.buf);
	stop(ag.pid);
	json_decref(ag.commands);
	return 0;
}

/* ---- the echo limit server ---- */

static int
cmd_echo(int argc, char **argv)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	const char *path = NULL;
	static char buf[1 << 16];
	int opt, lfd;

	while ((opt = getopt(argc, argv, "m:p:t:")) != -1)
		if (opt == 'p')
			path = optarg;
	if (path == NULL || strlen(path) >= sizeof(sun.sun_path))
		die("echo: -p SOCKET required");
	strcpy(sun.sun_path, path);
	unlink(path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(lfd, 1) < 0)
		die("echo: cannot listen on %s: %s", path, strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	/* Like the agents: one client at a time, every byte sent back. */
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		ssize_t r;

		if (fd < 0)
			continue;
		while ((r = read(fd, buf, sizeof(buf))) > 0) {
			char *p = buf;
			while (r > 0) {
				ssize_t w = write(fd, p, (size_t)r);
				if (w <= 0)
					break;
				p += w;
				r -= w;
			}
		}
		close(fd);
	}
	return 0;
}

/* ---- base64 limit ---- */

static int
cmd_b64(int argc, char **argv)
{
	size_t n = (size_t)(argc > 1 ? atoi(argv[1]) : 64) * MIB, elen;
	unsigned char *data = xmalloc(n), *back = xmalloc(n + 3);
	char *enc = xmalloc(n / 3 * 4 + 8);
	uint64_t te = UINT64_MAX, td = UINT64_MAX;

	fill_pattern(data, n, 42);
	elen = b64_enc(data, n, enc);		/* warm the pages */
	/* Best of three: the limit is what the machine can do. */
	for (int i = 0; i < 3; i++) {
		uint64_t t = now_ns();
		elen = b64_enc(data, n, enc);
		t = now_ns() - t;
		te = t < te ? t : te;
		t = now_ns();
		ssize_t m = b64_dec(enc, elen, back);
		t = now_ns() - t;
		td = t < td ? t : td;
		if (m != (ssize_t)n || memcmp(back, data, n))
			die("base64 round trip failed");
	}
	{
		/* What touching a fresh page costs on this machine: it decides
		 * the file-transfer figures of any agent that churns memory. */
		size_t m = 16 * MIB;
		char *fresh = mmap(NULL, m, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		uint64_t t;

		if (fresh == MAP_FAILED)
			die("mmap: %s", strerror(errno));
		t = now_ns();
		for (size_t i = 0; i < m; i += 4096)
			fresh[i] = 1;
		t = now_ns() - t;
		munmap(fresh, m);
		metric("fresh_page_us", "%.2f", t / 1e3 / (m / 4096));
	}
	metric("b64_encode_MBps", "%.1f", n / (te / 1e3));
	metric("b64_decode_MBps", "%.1f", n / (td / 1e3));
	free(data);
	free(back);
	free(enc);
	return 0;
}

static int
cmd_pings(int argc, char **argv)
{
	struct conn c = { .fd = -1 };
	size_t n;
	int count;

	if (argc != 3)
		die("usage: qga-bench pings SOCKET N");
	count = atoi(argv[2]);
	for (int i = 0; i < 200; i++) {
		c.fd = try_connect(argv[1]);
		if (c.fd >= 0)
			break;
		usleep(50000);
	}
	if (c.fd < 0)
		die("cannot connect to %s", argv[1]);
	for (int i = 0; i < count; i++) {
		send_all(c.fd, PING, sizeof(PING) - 1);
		conn_line(&c, &n);
	}
	conn_close(&c);
	free(c.buf);
	return 0;
}

/* ---- issue 10: what negotiated capabilities change ----
 *
 * exec completion latency: guest-exec of "qga-bench exitstamp MS", which
 * sleeps, prints CLOCK_MONOTONIC (system-wide, so comparable with ours) and
 * exits; the latency is from that stamp to the moment the client knows the
 * program exited: the GUEST_EXEC_EXITED event (events session), or the
 * first guest-exec-status saying exited when polling every
 * CAPS_POLL_MS (the interval libvirt and Proxmox use).
 *
 * ping during a long in-band command: an in-band guest-file-read of a
 * --long-mib file (48 MiB, the most one read may return), and meanwhile
 * guest-pings one after another (CAPS_PING_GAP_MS apart) until the read's
 * reply is in: exec-oob in an oob session, plain execute otherwise (then
 * the first ping queues behind the read).
 */

/* Poll interval of the polling client, ms. */
#define CAPS_POLL_MS		100
/* Pause between pings during the long command, ms. */
#define CAPS_PING_GAP_MS	10

struct caps_opts {
	const char	*dir;
	int		 cpu;
	int		 execs;
	size_t		 long_bytes;
	char		**argv;
	int		 argc;
};

/* The next message, replies and events alike. */
static json_t *
next_msg(struct conn *c, uint64_t *when)
{
	size_t n;
	char *line = conn_line(c, &n);
	json_t *v;

	if (when)
		*when = now_ns();
	v = json_loadb(line, n, 0, NULL);
	if (v == NULL)
		die("unparsable message from the agent");
	return v;
}

/* The reply with string id `id`, skipping events. */
static json_t *
reply_to(struct conn *c, const char *id)
{
	for (;;) {
		json_t *v = next_msg(c, NULL);
		const char *got = json_string_value(json_object_get(v, "id"));

		if (got && strcmp(got, id) == 0) {
			json_t *r = json_object_get(v, "return");
			if (r == NULL)
				die("request %s failed", id);
			json_incref(r);
			json_decref(v);
			return r;
		}
		json_decref(v);
	}
}

/* A connection; with caps, negotiated with those capabilities. */
static void
caps_connect(struct conn *c, const char *sock, const char *caps)
{
	char req[256];

	conn_open(c, sock);
	if (caps == NULL)
		return;
	snprintf(req, sizeof(req),
	    "{\"execute\":\"request-negotiation\",\"id\":\"n\"}\n");
	send_all(c->fd, req, strlen(req));
	json_decref(reply_to(c, "n"));
	snprintf(req, sizeof(req), "{\"execute\":\"qmp_capabilities\","
	    "\"arguments\":{\"enable\":[%s]},\"id\":\"c\"}\n", caps);
	send_all(c->fd, req, strlen(req));
	json_decref(reply_to(c, "c"));
}

static json_int_t
caps_exec(struct conn *c, int ms)
{
	char exe[PATH_MAX], req[PATH_MAX + 256];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	json_t *r, *path;
	char *q;
	json_int_t pid;

	if (n <= 0)
		die("readlink /proc/self/exe: %s", strerror(errno));
	exe[n] = '\0';
	path = json_string(exe);
	q = json_dumps(path, JSON_ENCODE_ANY);
	snprintf(req, sizeof(req), "{\"execute\":\"guest-exec\",\"arguments\":"
	    "{\"path\":%s,\"arg\":[\"exitstamp\",\"%d\"],"
	    "\"capture-output\":true},\"id\":\"x\"}\n", q, ms);
	free(q);
	json_decref(path);
	send_all(c->fd, req, strlen(req));
	r = reply_to(c, "x");
	pid = json_integer_value(json_object_get(r, "pid"));
	json_decref(r);
	return pid;
}

/* The exit stamp from an exited status's out-data. */
static uint64_t
exit_stamp(json_t *st)
{
	const char *b = json_string_value(json_object_get(st, "out-data"));
	unsigned char out[64];
	ssize_t n;

	if (b == NULL || strlen(b) > 80)
		die("exitstamp printed nothing usable");
	n = b64_dec(b, strlen(b), out);
	if (n <= 0 || n >= (ssize_t)sizeof(out))
		die("exitstamp printed nothing usable");
	out[n] = '\0';
	return strtoull((char *)out, NULL, 10);
}

static json_t *
exec_status(struct conn *c, json_int_t pid, uint64_t *when)
{
	char req[160];

	snprintf(req, sizeof(req), "{\"execute\":\"guest-exec-status\","
	    "\"arguments\":{\"pid\":%lld},\"id\":\"s\"}\n", (long long)pid);
	send_all(c->fd, req, strlen(req));
	json_t *r = reply_to(c, "s");
	if (when)
		*when = now_ns();
	return r;
}

/* A program delay that does not stay in phase with the poll interval. */
static int
caps_delay(int i)
{
	return 150 + (i * 37) % 100;
}

static void
exec_latency_events(const struct caps_opts *o, const char *sock)
{
	uint64_t *lat = xmalloc((size_t)o->execs * sizeof(*lat)), known = 0;
	struct conn c = { .fd = -1 };

	caps_connect(&c, sock, "\"events\"");
	for (int i = 0; i < o->execs; i++) {
		json_int_t pid = caps_exec(&c, caps_delay(i));
		json_t *st;

		for (;;) {
			json_t *v = next_msg(&c, &known);
			json_t *d = json_object_get(v, "data");
			bool ours = json_is_string(json_object_get(v, "event")) &&
			    strcmp(json_string_value(json_object_get(v, "event")),
			    "GUEST_EXEC_EXITED") == 0 &&
			    json_integer_value(json_object_get(d, "pid")) == pid;
			json_decref(v);
			if (ours)
				break;
		}
		st = exec_status(&c, pid, NULL);
		if (!json_is_true(json_object_get(st, "exited")))
			die("GUEST_EXEC_EXITED came before the status said exited");
		lat[i] = known - exit_stamp(st);
		json_decref(st);
	}
	conn_close(&c);
	free(c.buf);
	metric("exec_exit_events_ms", "%.3f",
	    percentile(lat, (size_t)o->execs, 50) / 1e6);
	free(lat);
}

static void
exec_latency_polling(const struct caps_opts *o, const char *sock)
{
	uint64_t *lat = xmalloc((size_t)o->execs * sizeof(*lat)), known;
	struct conn c = { .fd = -1 };

	caps_connect(&c, sock, NULL);
	for (int i = 0; i < o->execs; i++) {
		json_int_t pid = caps_exec(&c, caps_delay(i));
		json_t *st;

		for (;;) {
			usleep(CAPS_POLL_MS * 1000);
			st = exec_status(&c, pid, &known);
			if (json_is_true(json_object_get(st, "exited")))
				break;
			json_decref(st);
		}
		lat[i] = known - exit_stamp(st);
		json_decref(st);
	}
	conn_close(&c);
	free(c.buf);
	metric("exec_exit_polling_ms", "%.3f",
	    percentile(lat, (size_t)o->execs, 50) / 1e6);
	free(lat);
}

/* Pings while a long in-band read runs; the median latency, and how long
 * the read took. */
static void
ping_during_read(const struct caps_opts *o, const char *sock,
    const char *path, bool oob, const char *key)
{
	struct conn c = { .fd = -1 };
	char req[1400], ping[96];
	uint64_t t0, sent, got, read_ns = 0, *lat;
	size_t nlat = 0, cap = 1024;
	json_t *s, *r;
	char *q;
	int64_t h;
	int seq = 0;
	bool read_done = false;

	caps_connect(&c, sock, oob ? "\"oob\"" : NULL);
	s = json_string(path);
	q = json_dumps(s, JSON_ENCODE_ANY);
	snprintf(req, sizeof(req), "{\"execute\":\"guest-file-open\","
	    "\"arguments\":{\"path\":%s,\"mode\":\"r\"},\"id\":\"o\"}\n", q);
	free(q);
	json_decref(s);
	send_all(c.fd, req, strlen(req));
	r = reply_to(&c, "o");
	h = json_integer_value(r);
	json_decref(r);

	lat = xmalloc(cap * sizeof(*lat));
	snprintf(req, sizeof(req), "{\"execute\":\"guest-file-read\","
	    "\"arguments\":{\"handle\":%lld,\"count\":%zu},\"id\":\"r\"}\n",
	    (long long)h, o->long_bytes);
	t0 = now_ns();
	send_all(c.fd, req, strlen(req));
	while (!read_done) {
		snprintf(ping, sizeof(ping), "{\"%s\":\"guest-ping\","
		    "\"id\":\"p%d\"}\n", oob ? "exec-oob" : "execute", ++seq);
		char want[16];
		snprintf(want, sizeof(want), "p%d", seq);
		sent = now_ns();
		send_all(c.fd, ping, strlen(ping));
		for (;;) {
			size_t n;
			char *line = conn_line(&c, &n);

			got = now_ns();
			if (n > 65536) {
				/* The read's reply: checked without parsing
				 * 64 MB of JSON, which would delay the next
				 * ping's reply by seconds here. */
				char *k = memmem(line, n, "\"count\": ", 9);
				if (k == NULL || strtoull(k + 9, NULL, 10) !=
				    o->long_bytes)
					die("the long read failed or was short");
				read_ns = got - t0;
				read_done = true;
				continue;
			}
			json_t *v = json_loadb(line, n, 0, NULL);
			const char *id = json_string_value(json_object_get(v,
			    "id"));

			if (id && strcmp(id, "r") == 0)
				die("the long read failed");
			bool mine = id && strcmp(id, want) == 0;
			json_decref(v);
			if (mine)
				break;
		}
		if (nlat == cap) {
			cap *= 2;
			lat = realloc(lat, cap * sizeof(*lat));
			if (lat == NULL)
				die("out of memory");
		}
		lat[nlat++] = got - sent;
		if (getenv("QGA_BENCH_TRACE"))
			fprintf(stderr, "ping %d: sent +%.3f ms, answered +%.3f "
			    "ms, read %s\n", seq, (sent - t0) / 1e6,
			    (got - t0) / 1e6, read_done ? "done" : "running");
		if (!read_done)
			usleep(CAPS_PING_GAP_MS * 1000);
	}
	snprintf(req, sizeof(req), "{\"execute\":\"guest-file-close\","
	    "\"arguments\":{\"handle\":%lld},\"id\":\"z\"}\n", (long long)h);
	send_all(c.fd, req, strlen(req));
	json_decref(reply_to(&c, "z"));
	conn_close(&c);
	free(c.buf);
	metric(key, "%.3f", percentile(lat, nlat, 50) / 1e6);
	if (!oob)
		metric("long_read_ms", "%.1f", read_ns / 1e6);
	free(lat);
}

static int
cmd_caps(const struct caps_opts *co)
{
	struct opts o = { .dir = co->dir, .cpu = co->cpu, .argv = co->argv,
	    .argc = co->argc };
	struct agent ag = { 0 };
	struct conn c = { .fd = -1 };
	uint64_t st, sc;
	char path[600];
	bool neg, has_exec;
	unsigned char *data;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	start_agent(&o, &ag, "caps", &st, &sc);
	agent_pid = ag.pid;
	conn_open(&c, ag.sock);
	learn_commands(&c, &ag);
	conn_close(&c);
	neg = has_command(&ag, "request-negotiation");
	has_exec = has_command(&ag, "guest-exec") &&
	    has_command(&ag, "guest-exec-status");

	if (has_exec && neg)
		exec_latency_events(co, ag.sock);
	else
		na("exec_exit_events_ms");
	if (has_exec)
		exec_latency_polling(co, ag.sock);
	else
		na("exec_exit_polling_ms");

	if (has_command(&ag, "guest-file-read")) {
		snprintf(path, sizeof(path), "%s/long.bin", ag.state);
		data = xmalloc(co->long_bytes);
		fill_pattern(data, co->long_bytes, 7);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || write(fd, data, co->long_bytes) !=
		    (ssize_t)co->long_bytes)
			die("cannot write %s", path);
		close(fd);
		free(data);
		ping_during_read(co, ag.sock, path, false, "ping_inband_ms");
		if (neg)
			ping_during_read(co, ag.sock, path, true,
			    "ping_oob_ms");
		else
			na("ping_oob_ms");
		unlink(path);
	} else {
		na("ping_inband_ms");
		na("ping_oob_ms");
		na("long_read_ms");
	}
	stop(ag.pid);
	json_decref(ag.commands);
	return 0;
}

static int
cmd_exitstamp(int argc, char **argv)
{
	int ms = argc > 1 ? atoi(argv[1]) : 0;
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	printf("%llu\n", (unsigned long long)now_ns());
	return 0;
}

static int
caps_main(int argc, char **argv)
{
	struct caps_opts o = { .cpu = -1, .execs = 10,
	    .long_bytes = 48 * MIB };
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			o.dir = argv[++i];
		else if (strcmp(argv[i], "--cpu") == 0 && i + 1 < argc)
			o.cpu = atoi(argv[++i]);
		else if (strcmp(argv[i], "--execs") == 0 && i + 1 < argc)
			o.execs = atoi(argv[++i]);
		else if (strcmp(argv[i], "--long-mib") == 0 && i + 1 < argc)
			o.long_bytes = (size_t)atoi(argv[++i]) * MIB;
		else if (strcmp(argv[i], "--small") == 0) {
			o.execs = 2;
			o.long_bytes = MIB;
		} else
			usage();
	}
	if (o.dir == NULL || i + 1 >= argc || o.execs <= 0 ||
	    o.long_bytes == 0)
		usage();
	o.argv = argv + i + 1;
	o.argc = argc - i - 1;
	return cmd_caps(&o);
}

static void
usage(void)
{
	fputs("usage: qga-bench round --dir DIR [--cpu N] [--limit] [--small]\n"
	    "                        [--xfer-mib N] -- AGENT [ARGS...]\n"
	    "       qga-bench echo -m unix-listen -p SOCKET [-t DIR]\n"
	    "       qga-bench b64 [MIB]\n"
	    "       qga-bench pings SOCKET N\n"
	    "       qga-bench caps --dir DIR [--cpu N] [--small] [--execs N]\n"
	    "                      [--long-mib N] -- AGENT [ARGS...]\n"
	    "       qga-bench exitstamp MS\n", stderr);
	exit(2);
}

int
main(int argc, char **argv)
{
	struct opts o = {
		.cpu = -1, .startups = 7, .pings = 10000, .pipelined = 30000,
		.infos = 2000, .churn_ms = 1000, .handshakes = 2000, .execs = 30,
		.xfer_total = XFER_TOTAL,
	};
	int i;

	b64_init();
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "echo") == 0)
		return cmd_echo(argc - 1, argv + 1);
	if (strcmp(argv[1], "b64") == 0)
		return cmd_b64(argc - 1, argv + 1);
	if (strcmp(argv[1], "pings") == 0)
		return cmd_pings(argc - 1, argv + 1);
	if (strcmp(argv[1], "caps") == 0)
		return caps_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "exitstamp") == 0)
		return cmd_exitstamp(argc - 1, argv + 1);
	if (strcmp(argv[1], "round") != 0)
		usage();
	for (i = 2; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			o.dir = argv[++i];
		else if (strcmp(argv[i], "--cpu") == 0 && i + 1 < argc)
			o.cpu = atoi(argv[++i]);
		else if (strcmp(argv[i], "--limit") == 0)
			o.limit = true;
		else if (strcmp(argv[i], "--xfer-mib") == 0 && i + 1 < argc)
			o.xfer_total = (size_t)atoi(argv[++i]) * MIB;
		else if (strcmp(argv[i], "--small") == 0) {
			/* The CI smoke run: every path once, no statistics. */
			o.startups = 2;
			o.pings = 200;
			o.pipelined = 2000;
			o.infos = 20;
			o.churn_ms = 50;
			o.handshakes = 20;
			o.execs = 2;
			o.xfer_total = MIB;
		} else
			usage();
	}
	if (o.dir == NULL || i + 1 >= argc || o.xfer_total == 0)
		usage();
	o.argv = argv + i + 1;
	o.argc = argc - i - 1;
	return cmd_round(&o);
}

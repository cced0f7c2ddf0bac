/* guest-exec and guest-exec-status: children run and are read from in the
 * event loop, so the agent keeps answering while they run. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "b64.h"
#include "ctx.h"
#include "log.h"
#include "qga-schema-gen.h"

/* Captured bytes kept per stream (qemu-ga's GUEST_EXEC_MAX_OUTPUT); the
 * rest is read and dropped, and the stream is marked truncated. Once a
 * negotiated client reads a pid incrementally, the cap bounds the bytes
 * held unread instead, and a full stream is simply not read until the
 * client collects it (docs/protocol.md §14.2.1). */
#define EXEC_MAX_OUTPUT		QGA_EXEC_OUTPUT_MAX	/* ctx.h: qga-get-limits reports it */
/* First allocation of a capture buffer; it doubles up to the cap. */
#define EXEC_OUTPUT_MIN_ALLOC	(64 * 1024)
/* Bytes read or written per system call. */
#define EXEC_IO_CHUNK		(64 * 1024)
/* Reads per wake-up: a child that writes without pause must not keep the
 * agent from serving anything else (the loop calls back while data waits). */
#define EXEC_READS_PER_WAKE	16
/* PATH when neither env nor the agent has one (GLib's, less "."). */
#define EXEC_DEFAULT_PATH	"/bin:/usr/bin"

extern char **environ;

struct stream {
	int		 fd;		/* -1 once EOF was seen */
	bool		 paused;	/* fd out of the loop: full, streamed */
	unsigned char	*data;
	size_t		 len, cap;
	bool		 truncated;
};

struct proc {
	pid_t		 pid;
	bool		 reaped;
	bool		 streamed;	/* read incrementally at least once */
	bool		 announced;	/* GUEST_EXEC_EXITED sent */
	int		 status;
	struct stream	 out, err;
	int		 in_fd;		/* -1 when all input is written */
	unsigned char	*in;
	size_t		 in_len, in_off;
	struct qga_loop	*loop;
	struct qga_ctx	*ctx;
	struct proc	*next;
};

static struct proc *procs;
static bool cleanup_registered;

/* ---- the running child ---- */

static void
stream_close(struct qga_loop *loop, struct stream *s)
{
	if (s->fd < 0)
		return;
	if (!s->paused)
		qga_loop_del_fd(loop, s->fd);
	close(s->fd);
	s->fd = -1;
	s->paused = false;
}

/* Exited, as guest-exec-status means it: reaped and every pipe drained. */
static bool
proc_done(const struct proc *p)
{
	return p->reaped && p->out.fd < 0 && p->err.fd < 0;
}

static json_t *
exit_status(json_t *obj, int status)
{
	if (WIFEXITED(status))
		json_object_set_new(obj, "exitcode", json_integer(WEXITSTATUS(status)));
	else if (WIFSIGNALED(status))
		json_object_set_new(obj, "signal", json_integer(WTERMSIG(status)));
	return obj;
}

/* Tell the sessions with events, once, the moment status would say so. */
static void
proc_announce(struct proc *p)
{
	if (p->announced || !proc_done(p))
		return;
	p->announced = true;
	qga_ctx_emit_event(p->ctx, "GUEST_EXEC_EXITED",
	    exit_status(json_pack("{s:I}", "pid", (json_int_t)p->pid), p->status));
}

static void
input_close(struct proc *p)
{
	if (p->in_fd >= 0) {
		qga_loop_del_fd(p->loop, p->in_fd);
		close(p->in_fd);
		p->in_fd = -1;
	}
	free(p->in);
	p->in = NULL;
}

static void
proc_free(struct proc *p)
{
	stream_close(p->loop, &p->out);
	stream_close(p->loop, &p->err);
	input_close(p);
	free(p->out.data);
	free(p->err.data);
	free(p);
}

static void
procs_free_all(struct qga_ctx *ctx)
{
	struct proc *p;

	(void)ctx;
	while ((p = procs)) {
		procs = p->next;
		proc_free(p);
	}
}

/* Room for the next read, or NULL once the stream holds EXEC_MAX_OUTPUT. */
static unsigned char *
stream_room(struct stream *s, size_t *room)
{
	if (s->len == s->cap && s->cap < EXEC_MAX_OUTPUT) {
		size_t cap = s->cap ? s->cap * 2 : EXEC_OUTPUT_MIN_ALLOC;
		unsigned char *p;

		if (cap > EXEC_MAX_OUTPUT)
			cap = EXEC_MAX_OUTPUT;
		p = realloc(s->data, cap);
		if (p == NULL)
			return NULL;
		s->data = p;
		s->cap = cap;
	}
	*room = s->cap - s->len;
	return *room ? s->data + s->len : NULL;
}

static void
output_ready(int fd, unsigned events, void *data)
{
	struct proc *p = data;
	struct stream *s = fd == p->out.fd ? &p->out : &p->err;
	unsigned char scratch[EXEC_IO_CHUNK];

	(void)events;
	for (int reads = 0; reads < EXEC_READS_PER_WAKE; reads++) {
		size_t room;
		unsigned char *dst = stream_room(s, &room);
		ssize_t n;

		if (dst == NULL && p->streamed) {
			/* Let the child wait on a full pipe until the client
			 * collects what it has. */
			qga_loop_del_fd(p->loop, fd);
			s->paused = true;
			return;
		}
		if (dst == NULL) {
			dst = scratch;
			room = sizeof(scratch);
		} else if (room > EXEC_IO_CHUNK) {
			room = EXEC_IO_CHUNK;
		}
		n = read(fd, dst, room);
		if (n > 0) {
			if (dst == scratch)
				s->truncated = true;
			else
				s->len += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		/* EOF or a read error: the child's end is closed. */
		stream_close(p->loop, s);
		proc_announce(p);
		return;
	}
}

static void
input_ready(int fd, unsigned events, void *data)
{
	struct proc *p = data;

	(void)fd;
	(void)events;
	while (p->in_off < p->in_len) {
		size_t n = p->in_len - p->in_off;
		ssize_t w = write(p->in_fd, p->in + p->in_off,
		    n > EXEC_IO_CHUNK ? EXEC_IO_CHUNK : n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return;
		if (w < 0) {
			/* The child closed its stdin (EPIPE): it wants no more. */
			qga_log(QGA_LOG_DEBUG, "guest-exec: i/o error writing to "
			    "input_data channel: %s", strerror(errno));
			break;
		}
		p->in_off += (size_t)w;
	}
	input_close(p);
}

static void
child_exited(pid_t pid, int status, void *data)
{
	struct proc *p = data;

	qga_log(QGA_LOG_DEBUG, "guest-exec: child %d exited, status %d",
	    (int)pid, status);
	p->reaped = true;
	p->status = status;
	proc_announce(p);
}

/* ---- starting it ---- */

enum capture { CAP_NONE, CAP_STDOUT, CAP_STDERR, CAP_SEPARATED, CAP_MERGED };

static enum capture
capture_mode(const struct qga_args_guest_exec *args)
{
	static const char *const names[] = {
		[CAP_NONE] = "none", [CAP_STDOUT] = "stdout",
		[CAP_STDERR] = "stderr", [CAP_SEPARATED] = "separated",
		[CAP_MERGED] = "merged",
	};
	const json_t *v = args->capture_output;

	if (!args->has_capture_output)
		return CAP_NONE;
	/* The 7.2 form: a bool, true meaning separate stdout and stderr. */
	if (json_is_boolean(v))
		return json_is_true(v) ? CAP_SEPARATED : CAP_NONE;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(names[i], json_string_value(v)) == 0)
			return (enum capture)i;
	return CAP_NONE;
}

/* A NULL-terminated vector over a validated JSON string list, after
 * `first` when that is not NULL. The strings stay in the request. */
static char **
str_vector(const char *first, const json_t *list)
{
	size_t n = list ? json_array_size(list) : 0, k = 0;
	char **v = calloc(n + 2, sizeof(*v));

	if (v == NULL)
		return NULL;
	if (first)
		v[k++] = (char *)first;
	for (size_t i = 0; i < n; i++)
		v[k++] = (char *)json_string_value(json_array_get(list, i));
	return v;
}

static void
free_paths(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/*
 * The files to try, in order, like execvp but with PATH taken from the
 * child's environment first (GLib's SEARCH_PATH_FROM_ENVP, as qemu-ga
 * asks). Built before fork: the child may only call async-signal-safe
 * functions.
 */
static char **
candidates(const char *file, char **envp)
{
	const char *path = NULL;
	size_t n = 1, k = 0;
	char **v;

	/* A path, or nothing at all (execve then says ENOENT, as GLib does). */
	if (strchr(file, '/') || *file == '\0') {
		v = calloc(2, sizeof(*v));
		if (v && (v[0] = strdup(file)) == NULL) {
			free(v);
			return NULL;
		}
		return v;
	}
	for (size_t i = 0; envp[i]; i++)
		if (strncmp(envp[i], "PATH=", 5) == 0) {
			path = envp[i] + 5;
			break;
		}
	if (path == NULL)
		path = getenv("PATH");
	if (path == NULL)
		path = EXEC_DEFAULT_PATH;
	for (const char *c = path; *c; c++)
		n += *c == ':';
	v = calloc(n + 1, sizeof(*v));
	if (v == NULL)
		return NULL;
	for (const char *dir = path;; ) {
		const char *end = strchrnul(dir, ':');
		int len = (int)(end - dir);

		/* An empty element means the current directory. */
		if (asprintf(&v[k], "%.*s%s%s", len, dir, len ? "/" : "",
		    file) < 0) {
			v[k] = NULL;
			free_paths(v);
			return NULL;
		}
		k++;
		if (*end == '\0')
			break;
		dir = end + 1;
	}
	return v;
}

/* In the child: make src[i] its fd i (a source may itself be 0-2). */
static int
child_fds(const int src[3])
{
	int tmp[3];

	/* Move everything above 2 first so no dup2 clobbers a source. */
	for (int i = 0; i < 3; i++)
		if ((tmp[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 3)) < 0)
			return -1;
	for (int i = 0; i < 3; i++)
		if (dup2(tmp[i], i) < 0)
			return -1;
	return 0;
}

static void __attribute__((noreturn))
child(char **argv, char **envp, char **paths, char **sh_argv, const int fds[3],
    int report_fd)
{
	bool eacces = false;
	int e = 0;

	qga_loop_child_reset();
	if (child_fds(fds) < 0) {
		e = errno;
		goto fail;
	}
	for (size_t i = 0; paths[i]; i++) {
		execve(paths[i], argv, envp);
		e = errno;
		if (e == ENOEXEC) {
			/* A script without #!: the shell runs it, like execvp. */
			sh_argv[1] = paths[i];
			execve("/bin/sh", sh_argv, envp);
			e = errno;
		}
		if (e == EACCES) {
			eacces = true;
			continue;
		}
		if (e != ENOENT && e != ENOTDIR && e != ESTALE && e != ENODEV &&
		    e != ETIMEDOUT)
			break;
	}
	if (eacces && (e == ENOENT || e == ENOTDIR || e == ESTALE ||
	    e == ENODEV || e == ETIMEDOUT))
		e = EACCES;
fail:
	while (write(report_fd, &e, sizeof(e)) < 0 && errno == EINTR)
		;
	_exit(127);
}

static int
nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* The pipes of one child: [0] read end, [1] write end; -1 when unused. */
struct pipes {
	int	in[2], out[2], err[2], report[2], null;
};

static void
pipes_close(struct pipes *pp)
{
	int *all[] = { &pp->in[0], &pp->in[1], &pp->out[0], &pp->out[1],
		&pp->err[0], &pp->err[1], &pp->report[0], &pp->report[1], &pp->null };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		close_fd(all[i]);
}

static int
pipes_open(struct pipes *pp, bool in, bool out, bool err)
{
	if (pipe2(pp->report, O_CLOEXEC) < 0 ||
	    (in && pipe2(pp->in, O_CLOEXEC) < 0) ||
	    (out && pipe2(pp->out, O_CLOEXEC) < 0) ||
	    (err && pipe2(pp->err, O_CLOEXEC) < 0))
		return -1;
	pp->null = open("/dev/null", O_RDWR | O_CLOEXEC);
	return pp->null < 0 ? -1 : 0;
}

/* Fork and exec; 0 with *pid, or -1 with err set as GLib words it. */
static int
spawn(const char *path, char **argv, char **envp, struct pipes *pp,
    enum capture cap, pid_t *pid, struct qga_error *err)
{
	char **paths = candidates(path, envp), **sh_argv = NULL;
	int fds[3], e = 0, rc = -1;
	size_t argc = 0;
	ssize_t n;

	while (argv[argc])
		argc++;
	sh_argv = calloc(argc + 2, sizeof(*sh_argv));
	if (paths == NULL || sh_argv == NULL) {
		qga_error_set(err, "out of memory");
		goto out;
	}
	sh_argv[0] = (char *)"/bin/sh";
	for (size_t i = 1; i < argc; i++)
		sh_argv[i + 1] = argv[i];

	fds[0] = pp->in[0] >= 0 ? pp->in[0] : pp->null;
	fds[1] = pp->out[1] >= 0 ? pp->out[1] : pp->null;
	fds[2] = cap == CAP_MERGED ? fds[1] : pp->err[1] >= 0 ? pp->err[1] : pp->null;
	*pid = fork();
	if (*pid < 0) {
		qga_error_set(err, "Failed to fork (%s)", strerror(errno));
		goto out;
	}
	if (*pid == 0)
		child(argv, envp, paths, sh_argv, fds, pp->report[1]);
	close_fd(&pp->report[1]);
	while ((n = read(pp->report[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	if (n == (ssize_t)sizeof(e)) {
		/* exec failed; the child is exiting, reap it now. */
		while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
			;
		qga_error_set(err, "Failed to execute child process \u201c%s\u201d (%s)",
		    argv[0], strerror(e));
		goto out;
	}
	rc = 0;
out:
	free_paths(paths);
	free(sh_argv);
	return rc;
}

json_t *
qmp_guest_exec(const struct qga_args_guest_exec *args, struct qga_ctx *ctx,
    struct qga_error *err)
{
	struct pipes pp = { { -1, -1 }, { -1, -1 }, { -1, -1 }, { -1, -1 }, -1 };
	enum capture cap = capture_mode(args);
	bool want_out = cap == CAP_STDOUT || cap == CAP_SEPARATED || cap == CAP_MERGED;
	bool want_err = cap == CAP_STDERR || cap == CAP_SEPARATED;
	char **argv = NULL, **envp = NULL;
	unsigned char *input = NULL;
	struct qga_loop *loop = qga_ctx_loop(ctx);
	struct proc *p = NULL;
	size_t inlen = 0;
	json_t *ret = NULL;
	pid_t pid;

	if (args->has_input_data) {
		const char *why;

		input = b64_decode(args->input_data, strlen(args->input_data),
		    &inlen, &why);
		if (input == NULL) {
			qga_error_set(err, "%s", why);
			return NULL;
		}
	}
	argv = str_vector(args->path, args->has_arg ? args->arg : NULL);
	envp = args->has_env ? str_vector(NULL, args->env) : environ;
	p = calloc(1, sizeof(*p));
	if (argv == NULL || envp == NULL || p == NULL) {
		qga_error_set(err, "out of memory");
		goto out;
	}
	if (pipes_open(&pp, args->has_input_data, want_out, want_err) < 0) {
		qga_error_set(err, "Failed to create pipe for communicating with "
		    "child process (%s)", strerror(errno));
		goto out;
	}
	qga_log(QGA_LOG_DEBUG, "guest-exec called: \"%s\"", args->path);
	if (spawn(args->path, argv, envp, &pp, cap, &pid, err) < 0)
		goto out;

	p->pid = pid;
	p->loop = loop;
	p->ctx = ctx;
	p->in_fd = p->out.fd = p->err.fd = -1;
	p->in = input;
	p->in_len = inlen;
	input = NULL;
	if (pp.in[1] >= 0) {
		p->in_fd = pp.in[1];
		pp.in[1] = -1;
		if (nonblock(p->in_fd) < 0 ||
		    qga_loop_add_fd(loop, p->in_fd, QGA_EV_OUT, input_ready, p) < 0)
			input_close(p);
	}
	if (pp.out[0] >= 0) {
		p->out.fd = pp.out[0];
		pp.out[0] = -1;
		nonblock(p->out.fd);
		if (qga_loop_add_fd(loop, p->out.fd, QGA_EV_IN, output_ready, p) < 0)
			stream_close(loop, &p->out);
	}
	if (pp.err[0] >= 0) {
		p->err.fd = pp.err[0];
		pp.err[0] = -1;
		nonblock(p->err.fd);
		if (qga_loop_add_fd(loop, p->err.fd, QGA_EV_IN, output_ready, p) < 0)
			stream_close(loop, &p->err);
	}
	if (!cleanup_registered) {
		qga_ctx_at_exit(ctx, procs_free_all);
		cleanup_registered = true;
	}
	p->next = procs;
	procs = p;
	if (qga_loop_watch_child(loop, pid, child_exited, p) < 0)
		qga_log(QGA_LOG_ERROR, "guest-exec: cannot watch child %d", (int)pid);
	ret = json_pack("{s:I}", "pid", (json_int_t)pid);
	p = NULL;
out:
	pipes_close(&pp);
	free(p);
	free(input);
	free(argv);
	if (envp != environ)
		free(envp);
	return ret;
}

/* ---- reporting ---- */

static int
add_stream(json_t *ret, const char *data_key, const char *trunc_key,
    const struct stream *s)
{
	size_t enclen;
	char *enc;
	int rc;

	/* qemu-ga: the data and its truncated flag only when there is data. */
	if (s->len == 0)
		return 0;
	enclen = b64_encoded_len(s->len);
	enc = malloc(enclen + 1);
	if (enc == NULL)
		return -1;
	b64_encode(s->data, s->len, enc);
	rc = json_object_set_new(ret, data_key, json_stringn_nocheck(enc, enclen));
	free(enc);
	if (rc == 0)
		rc = json_object_set_new(ret, trunc_key, json_boolean(s->truncated));
	return rc;
}

/* Forget what an incremental status handed out, and read on if the
 * stream was waiting for room. */
static void
stream_collected(struct proc *p, struct stream *s)
{
	free(s->data);
	s->data = NULL;
	s->len = s->cap = 0;
	s->truncated = false;
	if (s->paused) {
		s->paused = false;
		if (qga_loop_add_fd(p->loop, s->fd, QGA_EV_IN, output_ready, p) < 0) {
			qga_log(QGA_LOG_ERROR, "guest-exec: cannot watch the "
			    "output of %d", (int)p->pid);
			stream_close(p->loop, s);
			proc_announce(p);
		}
	}
}

json_t *
qmp_guest_exec_status(const struct qga_args_guest_exec_status *args,
    struct qga_ctx *ctx, struct qga_error *err)
{
	bool incremental = args->has_incremental && args->incremental;
	struct proc **pp, *p;
	json_t *ret;
	bool done;

	(void)ctx;
	for (pp = &procs; (p = *pp); pp = &p->next)
		if (p->pid == args->pid)
			break;
	if (p == NULL) {
		/* qemu-ga 8.2+ means this text; its format bug prints
		 * "PID ld does not exist" (qga-spec.md §2.3). */
		qga_error_set(err, "PID %" PRId64 " does not exist", args->pid);
		return NULL;
	}
	done = proc_done(p);
	if (!done && !incremental)
		return json_pack("{s:b}", "exited", false);
	p->streamed |= incremental;
	ret = json_pack("{s:b}", "exited", done);
	if (ret && done)
		exit_status(ret, p->status);
	if (ret == NULL ||
	    add_stream(ret, "out-data", "out-truncated", &p->out) < 0 ||
	    add_stream(ret, "err-data", "err-truncated", &p->err) < 0) {
		json_decref(ret);
		qga_error_set(err, "out of memory");
		return NULL;
	}
	if (!done) {
		stream_collected(p, &p->out);
		stream_collected(p, &p->err);
		return ret;
	}
	/* Reported once: the record goes with its first exited answer. */
	*pp = p->next;
	proc_free(p);
	return ret;
}

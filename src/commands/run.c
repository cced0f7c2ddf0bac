/* Synchronous helper-program runner with qemu-ga's (9.1+) error texts. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "loop.h"
#include "run.h"

static void
child(const char *const argv[], int in_fd, int out_fd)
{
	char msg[512];
	int n;

	qga_loop_child_reset();
	setsid();
	dup2(in_fd, STDIN_FILENO);
	dup2(out_fd, STDOUT_FILENO);
	dup2(out_fd, STDERR_FILENO);
	execvp(argv[0], (char *const *)argv);
	n = snprintf(msg, sizeof(msg), "failed to exec '%s': %s", argv[0],
	    strerror(errno));
	if (n > 0 && write(STDOUT_FILENO, msg, (size_t)n) < 0)
		_exit(127);
	_exit(127);
}

/* Feed input and drain output together, so neither side can block the other. */
static int
exchange(int in_w, int out_r, const char *input, size_t inlen, struct buf *out,
    int *write_errno)
{
	size_t off = 0;

	if (in_w >= 0 && inlen == 0) {
		close(in_w);
		in_w = -1;
	}
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = out_r, .events = POLLIN },
			{ .fd = in_w, .events = POLLOUT },
		};
		if (poll(p, in_w >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (in_w >= 0 && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t n = write(in_w, input + off, inlen - off);
			if (n < 0 && errno != EINTR && errno != EAGAIN) {
				*write_errno = errno;
				close(in_w);
				in_w = -1;
			} else if (n > 0 && (off += (size_t)n) == inlen) {
				close(in_w);
				in_w = -1;
			}
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			char chunk[4096];
			ssize_t n = read(out_r, chunk, sizeof(chunk));
			if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
				break;
			if (n > 0 && out->len < QGA_RUN_OUTPUT_MAX)
				buf_append(out, chunk, (size_t)n);
		}
	}
	if (in_w >= 0)
		close(in_w);
	return 0;
}

int
qga_run_command(const char *const argv[], const void *input, size_t inlen,
    const char *action, struct qga_error *err)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, status, write_errno = 0;
	struct buf output = { 0 };
	void (*old_pipe)(int);
	pid_t pid;

	if (pipe2(out, O_CLOEXEC) < 0 ||
	    (input ? pipe2(in, O_CLOEXEC) : (in[0] = open("/dev/null", O_RDONLY | O_CLOEXEC))) < 0) {
		qga_error_set(err, "cannot create pipe FDs");
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		qga_error_set_errno(err, errno, "failed to create child process");
		goto fail;
	}
	if (pid == 0)
		child(argv, in[0], out[1]);
	close(in[0]);
	close(out[1]);
	in[0] = out[1] = -1;
	old_pipe = signal(SIGPIPE, SIG_IGN);
	exchange(in[1], out[0], input, inlen, &output, &write_errno);
	signal(SIGPIPE, old_pipe);
	in[1] = -1;
	close(out[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (write_errno) {
		qga_error_set(err, "%s: cannot write to stdin pipe: %s", action,
		    strerror(write_errno));
		buf_free(&output);
		return -1;
	}
	if (!WIFEXITED(status)) {
		if (output.len)
			qga_error_set(err, "child process has terminated abnormally: %s",
			    output.data);
		else
			qga_error_set(err, "child process has terminated abnormally");
	} else if (WEXITSTATUS(status) != 0) {
		if (output.len)
			qga_error_set(err, "child process has failed to %s: %s",
			    action, output.data);
		else
			qga_error_set(err, "child process has failed to %s: exit status %d",
			    action, WEXITSTATUS(status));
	}
	buf_free(&output);
	return qga_error_isset(err) ? -1 : 0;
fail:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	return -1;
}

/* libqga transports: unix stream sockets, AF_VSOCK, and adopted fds. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "client-int.h"

static int
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static int
open_unix(struct qga_client *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int r;

	if (path == NULL || strlen(path) >= sizeof(sa.sun_path)) {
		client_set_error(c, "unix socket path %s", path ? "too long" :
		    "missing");
		return path ? -ENAMETOOLONG : -EINVAL;
	}
	strcpy(sa.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	c->is_socket = 1;
	/* A unix connect completes or fails at once; do it blocking so that
	 * a full backlog is not mistaken for a failure. */
	while ((r = connect(c->fd, (struct sockaddr *)&sa, sizeof(sa))) < 0 &&
	    errno == EINTR)
		;
	if (r < 0) {
		r = -errno;
		client_set_error(c, "connect %s: %s", path, strerror(errno));
		return r;
	}
	return set_nonblock(c->fd);
}

static int
open_vsock(struct qga_client *c, uint32_t cid, uint32_t port)
{
	struct sockaddr_vm sa = {
		.svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port
	};

	c->fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0) {
		client_set_error(c, "vsock socket: %s", strerror(errno));
		return -errno;
	}
	c->is_socket = 1;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return 0;
	if (errno == EINPROGRESS)
		return 1;
	client_set_error(c, "connect vsock %u:%u: %s", cid, port,
	    strerror(errno));
	return -errno;
}

static int
adopt_fd(struct qga_client *c, int fd)
{
	struct stat st;

	if (fd < 0 || fstat(fd, &st) < 0) {
		client_set_error(c, "fd %d is not open", fd);
		return -EBADF;
	}
	c->fd = fd;
	c->is_socket = S_ISSOCK(st.st_mode);
	return set_nonblock(fd);
}

int
client_open(struct qga_client *c, const struct qga_connect_opts *o)
{
	switch (o->transport) {
	case QGA_TRANSPORT_UNIX:
		return open_unix(c, o->path);
	case QGA_TRANSPORT_VSOCK:
		return open_vsock(c, o->cid, o->port);
	case QGA_TRANSPORT_FD:
		return adopt_fd(c, o->fd);
	}
	client_set_error(c, "unknown transport %d", (int)o->transport);
	return -EINVAL;
}

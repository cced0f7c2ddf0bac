/* Opening the transports. Reading and writing are plain non-blocking fd I/O
 * done by the agent; what differs per transport is how a client comes and
 * goes, which agent.c handles. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "channel.h"

int
channel_kind_parse(const char *method, enum channel_kind *kind)
{
	static const struct { const char *name; enum channel_kind kind; } map[] = {
		{ "virtio-serial", CHANNEL_VIRTIO_SERIAL },
		{ "isa-serial", CHANNEL_ISA_SERIAL },
		{ "unix-listen", CHANNEL_UNIX_LISTEN },
		{ "vsock-listen", CHANNEL_VSOCK_LISTEN },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].name, method) == 0) {
			*kind = map[i].kind;
			return 0;
		}
	return -1;
}

static int
unix_listen(const char *path, const char **why)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		*why = "socket path too long";
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*why = "cannot create socket";
		return -1;
	}
	/* Like qemu-ga: take the path over from whoever had it. */
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(fd, 1) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		*why = "cannot listen on socket";
		return -1;
	}
	return fd;
}

static int
vsock_listen(const char *path, const char **why)
{
	struct sockaddr_vm svm = { .svm_family = AF_VSOCK };
	unsigned long cid, port;
	char *end;
	int fd;

	if (strncmp(path, "vsock:", 6) == 0)
		path += 6;
	errno = 0;
	cid = strtoul(path, &end, 10);
	if (errno || *end != ':') {
		*why = "vsock address must be <cid>:<port>";
		errno = EINVAL;
		return -1;
	}
	port = strtoul(end + 1, &end, 10);
	if (errno || *end || port > 0xffffffffUL) {
		*why = "vsock address must be <cid>:<port>";
		errno = EINVAL;
		return -1;
	}
	svm.svm_cid = (unsigned)cid;
	svm.svm_port = (unsigned)port;
	fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*why = "cannot create vsock socket";
		return -1;
	}
	if (bind(fd, (struct sockaddr *)&svm, sizeof(svm)) < 0 ||
	    listen(fd, 1) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		*why = "cannot listen on vsock socket";
		return -1;
	}
	return fd;
}

static int
serial_open(const char *path, bool raw, const char **why)
{
	struct termios t;
	int fd;

	fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		*why = "error opening channel";
		return -1;
	}
	if (raw) {
		/* isa-serial: no echo, no line discipline, no flow control. */
		if (tcgetattr(fd, &t) == 0) {
			cfmakeraw(&t);
			t.c_cflag &= ~(tcflag_t)CRTSCTS;
			t.c_iflag &= ~(tcflag_t)(IXON | IXOFF);
			t.c_cc[VMIN] = 1;
			t.c_cc[VTIME] = 0;
			cfsetispeed(&t, B38400);
			cfsetospeed(&t, B38400);
			tcsetattr(fd, TCSANOW, &t);
			tcflush(fd, TCIFLUSH);
		}
	}
	return fd;
}

int
channel_open(struct channel *ch, enum channel_kind kind, const char *path,
    int listen_fd, const char **why)
{
	ch->kind = kind;
	ch->fd = -1;
	ch->listen_fd = -1;
	switch (kind) {
	case CHANNEL_VIRTIO_SERIAL:
		ch->fd = serial_open(path, false, why);
		return ch->fd < 0 ? -1 : 0;
	case CHANNEL_ISA_SERIAL:
		ch->fd = serial_open(path, true, why);
		return ch->fd < 0 ? -1 : 0;
	case CHANNEL_UNIX_LISTEN:
	case CHANNEL_VSOCK_LISTEN:
		if (listen_fd >= 0) {
			fcntl(listen_fd, F_SETFD, FD_CLOEXEC);
			fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
			ch->listen_fd = listen_fd;
		} else if (kind == CHANNEL_UNIX_LISTEN)
			ch->listen_fd = unix_listen(path, why);
		else
			ch->listen_fd = vsock_listen(path, why);
		return ch->listen_fd < 0 ? -1 : 0;
	}
	return -1;
}

int
channel_accept(struct channel *ch)
{
	int fd = accept4(ch->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	return fd;
}

void
channel_close_client(struct channel *ch)
{
	if (ch->fd >= 0)
		close(ch->fd);
	ch->fd = -1;
}

void
channel_close(struct channel *ch)
{
	channel_close_client(ch);
	if (ch->listen_fd >= 0)
		close(ch->listen_fd);
	ch->listen_fd = -1;
}

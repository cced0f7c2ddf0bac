/* Transports: virtio-serial, isa-serial, unix-listen, vsock-listen. */
#ifndef QGA_CHANNEL_H
#define QGA_CHANNEL_H

#include <stdbool.h>

enum channel_kind {
	CHANNEL_VIRTIO_SERIAL,
	CHANNEL_ISA_SERIAL,
	CHANNEL_UNIX_LISTEN,
	CHANNEL_VSOCK_LISTEN,
};

struct channel {
	enum channel_kind	 kind;
	int			 listen_fd;	/* socket transports */
	int			 fd;		/* the client, or the port; -1 if none */
};

/* Whether the transport has listening sockets with one connection per client. */
static inline bool
channel_is_listener(const struct channel *ch)
{
	return ch->kind == CHANNEL_UNIX_LISTEN || ch->kind == CHANNEL_VSOCK_LISTEN;
}

/* Parse the method name; -1 if it is unknown. */
int	channel_kind_parse(const char *method, enum channel_kind *kind);
/* Open the port or the listening socket (listen_fd >= 0: systemd's).
 * -1 with *why set to a static message and errno. */
int	channel_open(struct channel *ch, enum channel_kind kind, const char *path,
	    int listen_fd, const char **why);
/* Accept one client on a listening channel; its fd, or -1. */
int	channel_accept(struct channel *ch);
void	channel_close_client(struct channel *ch);
void	channel_close(struct channel *ch);

#endif

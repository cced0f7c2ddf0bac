/* Options and the configuration file, exactly as qemu-ga reads them. */
#ifndef QGA_CONFIG_H
#define QGA_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#define QGA_DEFAULT_CONFIG	"/etc/qemu/qemu-ga.conf"
#define QGA_DEFAULT_VIRTIO_PATH	"/dev/virtio-ports/org.qemu.guest_agent.0"
#define QGA_DEFAULT_SERIAL_PATH	"/dev/ttyS0"
#define QGA_DEFAULT_PIDFILE	"/var/run/qemu-ga.pid"
#define QGA_DEFAULT_STATEDIR	"/var/run"
#define QGA_DEFAULT_HOOK	"/etc/qemu/fsfreeze-hook"
/* --max-clients: how many socket clients may be served at once. */
#define QGA_MAX_CLIENTS		64

enum qga_negotiation {
	QGA_NEGOTIATION_OPTIONAL,	/* legacy clients served, one warning each */
	QGA_NEGOTIATION_REQUIRED,	/* commands need a negotiated session */
	QGA_NEGOTIATION_OFF,		/* byte-exact old server */
};

struct strlist {
	char	**v;
	size_t	  n;
};

struct qga_config {
	char			*method;
	char			*path;
	char			*logfile;
	char			*pidfile;
	char			*fsfreeze_hook;	/* NULL: hook disabled */
	char			*statedir;
	bool			 daemonize;
	bool			 verbose;
	bool			 retry_path;
	bool			 dump_conf;
	struct strlist		 block_rpcs;
	struct strlist		 allow_rpcs;
	enum qga_negotiation	 negotiation;
	int			 listen_fd;	/* from systemd socket activation, or -1 */
	int			 max_clients;	/* socket clients served at once */
};

/*
 * Parse the config file and the command line into cfg. Returns 0 to run,
 * 1 when the program should exit 0 (help, version, -b help), -1 to exit 1
 * (a message has been printed). command_names lists every registered
 * command for "-b help".
 */
int	qga_config_load(struct qga_config *cfg, int argc, char **argv,
	    const char *const *command_names, size_t ncommands);
/* Print the effective configuration as qemu-ga's --dump-conf does. */
void	qga_config_dump(const struct qga_config *cfg, FILE *out);
void	qga_config_free(struct qga_config *cfg);
bool	strlist_has(const struct strlist *l, const char *s);
const char *qga_negotiation_name(enum qga_negotiation n);

#endif

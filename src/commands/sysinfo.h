/*
 * Shared by the guest-information commands: where /sys and /proc are (a
 * seam for tests), small-file reads, and lists bounded to fit one reply.
 */
#ifndef QGA_SYSINFO_H
#define QGA_SYSINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

/*
 * QGA_SYSFS_ROOT and QGA_PROCFS_ROOT, when set, name directories that
 * stand in for /sys and /proc (a fake tree in tests: guest-set-vcpus and
 * guest-set-memory-blocks must not touch the real ones there). Only the
 * files read and written by cpu.c, memory.c, disks.c's diskstats and
 * network.c's /proc/net readers go through them; getifaddrs, utmpx and
 * libudev always see the real system.
 */
#define SYSINFO_SYSFS_ENV	"QGA_SYSFS_ROOT"
#define SYSINFO_PROCFS_ENV	"QGA_PROCFS_ROOT"

/*
 * Every list reply is bounded: elements are appended while the reply's
 * serialised size stays under this budget, the rest are dropped with a
 * warning in the log. libvirt drops an agent whose reply exceeds 10 MiB;
 * the margin leaves room for {"return": ...} and a client's id.
 */
#define SYSINFO_REPLY_BUDGET	(9u * 1024 * 1024)

/* "/sys<rest>" or "/proc<rest>" under the configured roots, in buf;
 * -1 with errno ENAMETOOLONG when it does not fit. */
int	 sysinfo_sys_path(char *buf, size_t size, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
int	 sysinfo_proc_path(char *buf, size_t size, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* A list that refuses elements past SYSINFO_REPLY_BUDGET. */
struct sysinfo_list {
	json_t		*array;
	size_t		 bytes;
	const char	*what;		/* for the truncation warning */
	bool		 truncated;
};

void	 sysinfo_list_init(struct sysinfo_list *l, const char *what);
/* Takes elem; false (elem freed, list marked truncated) when it would
 * push the reply past the budget. */
bool	 sysinfo_list_add(struct sysinfo_list *l, json_t *elem);
/* Reverse in place (qemu-ga prepends in some commands). */
void	 sysinfo_array_reverse(json_t *array);

/* Parse a non-negative decimal, as found in sysfs and proc; -1 when s
 * holds no digits. */
long long	 sysinfo_parse_ll(const char *s);

#endif

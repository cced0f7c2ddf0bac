/*
 * The list of local filesystems that freeze, thaw, fstrim and fsinfo walk,
 * built from /proc/self/mountinfo like qemu-ga's, and the system calls on
 * them behind a seam so unit tests can run the logic without freezing.
 */
#ifndef QGA_MOUNTS_H
#define QGA_MOUNTS_H

#include <stddef.h>

#include "error.h"

#define QGA_MOUNTINFO_PATH	"/proc/self/mountinfo"
#define QGA_MTAB_PATH		"/proc/self/mounts"
/* Distinct local filesystems kept; more are ignored (and logged). */
#define QGA_MOUNTS_MAX		1024

struct qga_mount {
	char		*dir;	/* decoded mount point */
	char		*type;	/* filesystem type, e.g. ext4 */
	unsigned	 major;
	unsigned	 minor;
};

struct qga_mounts {
	struct qga_mount	*v;	/* in mount-table order */
	size_t			 n;
};

/*
 * Build the list from a mountinfo file (NULL: QGA_MOUNTINFO_PATH; when it
 * cannot be opened, QGA_MTAB_PATH is read instead). Kept: mounts of a real
 * block device (major != 0, or btrfs whose source is stat'ed), first
 * mount of each major:minor only, so bind mounts and pseudo and network
 * filesystems are skipped. -1 with err set on failure.
 */
int	qga_mounts_build(struct qga_mounts *m, const char *mountinfo,
	    struct qga_error *err);
void	qga_mounts_free(struct qga_mounts *m);

/* The system calls the fs commands make on mount points; tests swap them. */
struct qga_fs_ops {
	int	(*open)(const char *path, int flags);
	int	(*ioctl)(int fd, unsigned long req, void *arg);
	int	(*close)(int fd);
};

extern const struct qga_fs_ops *qga_fs_ops;

#endif

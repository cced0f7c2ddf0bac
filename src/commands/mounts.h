/*
 * The list of local filesystems that freeze, thaw, fstrim and fsinfo walk,
 * built from /proc/self/mountinfo like qemu-ga's, and the system calls on
 * them behind a seam so unit tests can run the logic without freezing.
 */
#ifndef QGA_MOUNTS_H
#define QGA_MOUNTS_H

#include <stddef.h>
#include <jansson.h>

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
	size_t			 ignored;	/* past QGA_MOUNTS_MAX */
};

/* The mount table read by default (tests point it at a fixture). */
extern const char *qga_mountinfo_path;

/*
 * Build the list from a mountinfo file (NULL: qga_mountinfo_path; when it
 * cannot be opened, QGA_MTAB_PATH is read instead). Kept: mounts of a real
 * block device (major != 0, or btrfs whose source is stat'ed), first
 * mount of each major:minor only, so bind mounts and pseudo and network
 * filesystems are skipped. -1 with err set on failure.
 */
int	qga_mounts_build(struct qga_mounts *m, const char *mountinfo,
	    struct qga_error *err);
void	qga_mounts_free(struct qga_mounts *m);

/* A JSON string of bytes from the system (mount points, device names,
 * serials): invalid UTF-8 becomes U+FFFD as in qemu-ga's JSON writer. */
json_t	*qga_json_bytes(const char *s);

/* The system calls the fs commands make on mount points; tests swap them. */
struct qga_fs_ops {
	int	(*open)(const char *path, int flags);
	int	(*ioctl)(int fd, unsigned long req, void *arg);
	int	(*close)(int fd);
};

extern const struct qga_fs_ops *qga_fs_ops;

#endif

/* Disk addresses (GuestDiskAddress) from sysfs and udev, shared by
 * guest-get-fsinfo and anything else that names a guest disk. */
#ifndef QGA_DISKADDR_H
#define QGA_DISKADDR_H

#include <jansson.h>

#include "error.h"

/* ahci and ata_piix number units by the host's rank among its siblings. */
#define QGA_DISK_HOSTS_MAX	64
/* Device-mapper/md slave chains followed at most this deep. */
#define QGA_DISK_SLAVES_DEPTH	16
/* Addresses kept per filesystem. */
#define QGA_DISK_ADDRESSES_MAX	256
/* Longest sysfs attribute (serial, driver link) read. */
#define QGA_SYSFS_ATTR_MAX	256

struct udev;

/*
 * The GuestDiskAddress of a real block device, syspath being its resolved
 * sysfs path; NULL when neither the bus nor udev tell anything. udev may
 * be NULL (no devnode and serial from udev then).
 */
json_t	*qga_disk_address(struct udev *udev, const char *syspath);

/*
 * Prepend to disks the addresses under devpath (a /sys/dev/block/M:m link
 * or a slaves/ entry), following the slaves of virtual devices. When *name
 * is NULL it gets the device's name: the basename of the resolved path, or
 * of devpath itself when that does not exist (a container without the
 * device). -1 with err set when sysfs cannot be read.
 */
int	qga_disk_addresses(struct udev *udev, const char *devpath, json_t *disks,
	    char **name, struct qga_error *err);

#endif

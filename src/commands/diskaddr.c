/* GuestDiskAddress from the sysfs path of a block device (see diskaddr.h). */
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include "udevlib.h"
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diskaddr.h"
#include "log.h"
#include "mounts.h"

struct addr {
	int		 pci[4];	/* domain, bus, slot, function; -1 unknown */
	const char	*bus_type;
	int		 bus, target, unit;
	bool		 has_ccw;
	unsigned	 ccw[4];	/* cssid, ssid, subchno, devno */
};

/* The basename of the driver link of the sysfs directory path[0..len). */
static bool
driver_of(const char *path, size_t len, char *out, size_t outlen)
{
	char link[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;

	if (snprintf(link, sizeof(link), "%.*s/driver", (int)len, path) >=
	    (int)sizeof(link))
		return false;
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	return snprintf(out, outlen, "%s", base) < (int)outlen;
}

static int
cmp_uint(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? -1 : x > y;
}

/* The rank of host among the ataN (or hostN) entries of the directory
 * path[0..len), or -1. */
static int
host_rank(const char *path, size_t len, bool ata, unsigned host)
{
	unsigned hosts[QGA_DISK_HOSTS_MAX];
	char dirpath[PATH_MAX];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	if (snprintf(dirpath, sizeof(dirpath), "%.*s", (int)len, path) >=
	    (int)sizeof(dirpath) || (d = opendir(dirpath)) == NULL)
		return -1;
	while (n < QGA_DISK_HOSTS_MAX && (de = readdir(d)) != NULL)
		if (sscanf(de->d_name, ata ? "ata%u" : "host%u", &hosts[n]) == 1)
			n++;
	closedir(d);
	qsort(hosts, n, sizeof(hosts[0]), cmp_uint);
	for (size_t i = 0; i < n; i++)
		if (hosts[i] == host)
			return (int)i;
	return -1;
}

/* ".../target<h>:<c>:<t>/<h>:<c>:<t>:<l>/...": channel, target, lun. */
static bool
scsi_target(const char *syspath, unsigned tgt[3])
{
	const char *p = strstr(syspath, "/target");

	return p && sscanf(p + 7, "%*u:%*u:%*u/%*u:%u:%u:%u", &tgt[0], &tgt[1],
	    &tgt[2]) == 3;
}

static bool
pci_addr(const char *syspath, struct addr *a)
{
	static const char *const known[] = { "ata_piix", "sym53c8xx",
	    "virtio-pci", "ahci", "nvme", "xhci_hcd", "ehci-pci" };
	char driver[QGA_SYSFS_ATTR_MAX] = "";
	unsigned pci[4], tgt[3], host = 0;
	const char *p = strstr(syspath, "/devices/pci"), *h;
	bool has_tgt, has_host = false, ata, found = false;
	int len, rank = -1;

	/* "/devices/pci0000:00/0000:00:1f.2/...": skip the root bridge. */
	if (p == NULL || sscanf(p + 12, "%*x:%*x/%x:%x:%x.%x%n", &pci[0], &pci[1],
	    &pci[2], &pci[3], &len) < 4)
		return false;
	p += 12 + len;
	/* Walk down through PCI bridges to the disk controller. */
	for (;;) {
		if (driver_of(syspath, (size_t)(p - syspath), driver, sizeof(driver)))
			for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
				found = found || strcmp(driver, known[i]) == 0;
		if (found)
			break;
		if (sscanf(p, "/%x:%x:%x.%x%n", &pci[0], &pci[1], &pci[2], &pci[3],
		    &len) != 4)
			return false;
		p += len;
	}
	has_tgt = scsi_target(syspath, tgt);
	ata = (h = strstr(syspath, "/ata")) != NULL;
	if (!ata)
		h = strstr(syspath, "/host");
	if (h && sscanf(h + (ata ? 4 : 5), "%u", &host) == 1) {
		has_host = true;
		rank = host_rank(syspath, (size_t)(h - syspath), ata, host);
	}
	for (int i = 0; i < 4; i++)
		a->pci[i] = (int)pci[i];
	if (strcmp(driver, "ata_piix") == 0) {
		/* One host per IDE bus: target*:0:<unit>:0 */
		if (!has_host || !has_tgt || rank < 0)
			return false;
		a->bus_type = "ide";
		a->bus = rank;
		a->unit = (int)tgt[1];
	} else if (strcmp(driver, "sym53c8xx") == 0) {
		if (!has_tgt)
			return false;
		a->bus_type = "scsi";
		a->unit = (int)tgt[1];
	} else if (strcmp(driver, "virtio-pci") == 0) {
		/* virtio-scsi has targets; virtio-blk is one disk per device. */
		a->bus_type = has_tgt ? "scsi" : "virtio";
		if (has_tgt)
			a->unit = (int)tgt[2];
	} else if (strcmp(driver, "ahci") == 0) {
		/* One host per port. */
		if (!has_host || !has_tgt || rank < 0)
			return false;
		a->bus_type = "sata";
		a->unit = rank;
	} else if (strcmp(driver, "nvme") == 0) {
		a->bus_type = "nvme";
	} else {
		a->bus_type = "usb";
	}
	return true;
}

/* virtio over MMIO or CCW. */
static bool
nonpci_virtio_addr(const char *syspath, struct addr *a)
{
	unsigned tgt[3];

	if (strstr(syspath, "/virtio") == NULL || strstr(syspath, "/block") == NULL)
		return false;
	if (scsi_target(syspath, tgt)) {
		a->bus_type = "scsi";
		a->bus = (int)tgt[0];
		a->target = (int)tgt[1];
		a->unit = (int)tgt[2];
	} else {
		a->bus_type = "virtio";
	}
	return true;
}

/* s390 channel I/O: "/devices/css0/0.0.0000/0.0.0000/virtio0/..." */
static bool
ccw_addr(const char *syspath, struct addr *a)
{
	const char *p = strstr(syspath, "/devices/css");

	if (p == NULL || sscanf(p + 12, "%*x/%x.%x.%x/%*x.%*x.%x/", &a->ccw[0],
	    &a->ccw[1], &a->ccw[2], &a->ccw[3]) < 4)
		return false;
	a->has_ccw = true;
	if (strstr(p, "/virtio"))
		nonpci_virtio_addr(syspath, a);
	return true;
}

/* A sysfs attribute without its trailing whitespace; NULL if absent or empty. */
static char *
read_attr(const char *dir, const char *name)
{
	char path[PATH_MAX], buf[QGA_SYSFS_ATTR_MAX];
	size_t n;
	FILE *f;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path) ||
	    (f = fopen(path, "re")) == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	return n ? strdup(buf) : NULL;
}

json_t *
qga_disk_address(struct udev *udev, const char *syspath)
{
	struct addr a = { .pci = { -1, -1, -1, -1 }, .bus_type = "unknown" };
	struct udev_device *dev = NULL;
	char *devnode = NULL, *serial = NULL;
	bool hw;
	json_t *o;

	if (udev)
		dev = qga_udev_device_new_from_syspath(udev, syspath);
	if (dev) {
		const char *s = qga_udev_device_get_devnode(dev);

		devnode = s ? strdup(s) : NULL;
		s = qga_udev_device_get_property_value(dev, "ID_SERIAL");
		serial = s && *s ? strdup(s) : NULL;
		qga_udev_device_unref(dev);
	}
	/* Without a udev database (containers, minimal guests) ID_SERIAL is
	 * missing; virtio-blk's serial attribute is what udev would use. */
	if (serial == NULL)
		serial = read_attr(syspath, "serial");
	if (strstr(syspath, "/devices/pci"))
		hw = pci_addr(syspath, &a);
	else if (strstr(syspath, "/devices/css"))
		hw = ccw_addr(syspath, &a);
	else if (strstr(syspath, "/virtio"))
		hw = nonpci_virtio_addr(syspath, &a);
	else
		hw = false;
	if (!hw && devnode == NULL && serial == NULL)
		return NULL;
	o = json_pack("{s:{s:i,s:i,s:i,s:i},s:s,s:i,s:i,s:i}",
	    "pci-controller", "domain", a.pci[0], "bus", a.pci[1],
	    "slot", a.pci[2], "function", a.pci[3],
	    "bus-type", a.bus_type, "bus", a.bus, "target", a.target,
	    "unit", a.unit);
	if (serial)
		json_object_set_new(o, "serial", qga_json_bytes(serial));
	if (devnode)
		json_object_set_new(o, "dev", qga_json_bytes(devnode));
	if (a.has_ccw)
		json_object_set_new(o, "ccw-address", json_pack("{s:i,s:i,s:i,s:i}",
		    "cssid", a.ccw[0], "ssid", a.ccw[1], "subchno", a.ccw[2],
		    "devno", a.ccw[3]));
	free(devnode);
	free(serial);
	return o;
}

static int walk(struct udev *udev, const char *devpath, json_t *disks,
    char **name, int depth, struct qga_error *err);

static int
walk_slaves(struct udev *udev, const char *syspath, json_t *disks, char **name,
    int depth, struct qga_error *err)
{
	char dirpath[PATH_MAX], path[PATH_MAX];
	struct dirent *de;
	int rc = 0;
	DIR *d;

	snprintf(dirpath, sizeof(dirpath), "%s/slaves", syspath);
	if ((d = opendir(dirpath)) == NULL) {
		if (errno == ENOENT)
			return 0;
		qga_error_set_errno(err, errno, "opendir(\"%s\")", dirpath);
		return -1;
	}
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			if (errno) {
				qga_error_set_errno(err, errno, "readdir(\"%s\")",
				    dirpath);
				rc = -1;
			}
			break;
		}
		if (de->d_type != DT_LNK)
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dirpath, de->d_name) >=
		    (int)sizeof(path))
			continue;
		if ((rc = walk(udev, path, disks, name, depth + 1, err)) < 0)
			break;
	}
	closedir(d);
	return rc;
}

static int
walk(struct udev *udev, const char *devpath, json_t *disks, char **name,
    int depth, struct qga_error *err)
{
	char *syspath, *copy;
	json_t *addr;
	int rc = 0;

	if (depth > QGA_DISK_SLAVES_DEPTH)
		return 0;
	syspath = realpath(devpath, NULL);
	if (syspath == NULL) {
		if (errno != ENOENT) {
			qga_error_set_errno(err, errno, "realpath(\"%s\")", devpath);
			return -1;
		}
		/* Containers may lack the device: "M:m" stands in for it. */
		if (*name == NULL && (copy = strdup(devpath)) != NULL) {
			*name = strdup(basename(copy));
			free(copy);
		}
		return 0;
	}
	if (*name == NULL && (copy = strdup(syspath)) != NULL) {
		*name = strdup(basename(copy));
		free(copy);
	}
	if (strstr(syspath, "/devices/virtual/block/")) {
		/* dm, md, loop: the disks are the slaves, if any. */
		rc = walk_slaves(udev, syspath, disks, name, depth, err);
	} else if (json_array_size(disks) < QGA_DISK_ADDRESSES_MAX &&
	    (addr = qga_disk_address(udev, syspath)) != NULL) {
		/* qemu-ga prepends: the last found comes first. */
		json_array_insert_new(disks, 0, addr);
	}
	free(syspath);
	return rc;
}

int
qga_disk_addresses(struct udev *udev, const char *devpath, json_t *disks,
    char **name, struct qga_error *err)
{
	return walk(udev, devpath, disks, name, 0, err);
}

/* guest-get-disks (sysfs and libudev), guest-get-diskstats (/proc/diskstats). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "udevlib.h"
#include <linux/nvme_ioctl.h>
#include <sys/ioctl.h>

#include "ctx.h"
#include "diskaddr.h"
#include "log.h"
#include "qga-schema-gen.h"
#include "sysinfo.h"

#define SYS_BLOCK		"/sys/block"
#define SIZE_BUF		32
#define DISKSTAT_FIELDS		17	/* after major, minor and name */
/* /proc/diskstats line formats, counting major, minor and name: old
 * kernels' partition lines, then 2.6+, 4.18+ (discard), 5.5+ (flush). */
#define DISKSTAT_OLD_PART	7
#define DISKSTAT_BASIC		14
#define DISKSTAT_DISCARD	18
#define DISKSTAT_FLUSH		20
#define DISKSTAT_LEADING	3	/* major, minor, name */
#define SMART_KEY_MAX		64

/* NVMe "Get Log Page" of the SMART / Health Information log (NVMe base
 * specification): the command, the log and where its fields are. */
#define NVME_ADMIN_GET_LOG_PAGE	0x02
#define NVME_LOG_SMART		0x02
#define NVME_NSID_ALL		0xffffffffu
#define NVME_LOG_RAE		(1u << 15)	/* retain asynchronous event */
#define NVME_SMART_LOG_SIZE	512
#define NVME_SMART_U128_BASE	32	/* first 128-bit counter */

/* The 128-bit little-endian counters from byte 32 on, 16 bytes apart. */
static const char *const nvme_counters[] = {
	"data-units-read", "data-units-written", "host-read-commands",
	"host-write-commands", "controller-busy-time", "power-cycles",
	"power-on-hours", "unsafe-shutdowns", "media-errors",
	"number-of-error-log-entries",
};

/* dir + "/" + name into out[PATH_MAX]; false when it does not fit. */
static bool
join(char out[PATH_MAX], const char *dir, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s/%s", dir, name);

	return n >= 0 && n < PATH_MAX;
}

static uint64_t
le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* The smart member of an NVMe disk, or NULL when the device cannot be
 * asked (qemu-ga then leaves it out too). */
static json_t *
nvme_smart(const char *node)
{
	unsigned char log[NVME_SMART_LOG_SIZE] = { 0 };
	struct nvme_admin_cmd cmd = {
		.opcode = NVME_ADMIN_GET_LOG_PAGE,
		.nsid = NVME_NSID_ALL,
		.addr = (uintptr_t)log,
		.data_len = sizeof(log),
		.cdw10 = NVME_LOG_SMART | NVME_LOG_RAE |
		    ((sizeof(log) / 4 - 1) << 16),
	};
	json_t *o;
	int fd = open(node, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	if (ioctl(fd, NVME_IOCTL_ADMIN_CMD, &cmd) != 0) {
		qga_log(QGA_LOG_DEBUG, "Failed to get smart: %s: %s", node,
		    strerror(errno));
		close(fd);
		return NULL;
	}
	close(fd);
	o = json_pack("{s:s,s:i,s:i,s:i,s:i,s:i}", "type", "nvme",
	    "critical-warning", log[0], "temperature", log[1] | log[2] << 8,
	    "available-spare", log[3], "available-spare-threshold", log[4],
	    "percentage-used", log[5]);
	for (size_t i = 0; i < sizeof(nvme_counters) / sizeof(nvme_counters[0]);
	    i++) {
		const unsigned char *p = log + NVME_SMART_U128_BASE + 16 * i;
		char key[SMART_KEY_MAX];

		/* uint64 members above INT64_MAX cannot be carried by
		 * jansson's integers; the counters never get there. */
		snprintf(key, sizeof(key), "%s-lo", nvme_counters[i]);
		json_object_set_new(o, key, json_integer((json_int_t)le64(p)));
		snprintf(key, sizeof(key), "%s-hi", nvme_counters[i]);
		json_object_set_new(o, key, json_integer((json_int_t)le64(p + 8)));
	}
	return o;
}

/* A copy of the device node udev knows for syspath, or NULL. */
static char *
devnode(struct udev *udev, const char *syspath)
{
	struct udev_device *dev = qga_udev_device_new_from_syspath(udev, syspath);
	const char *node = dev ? qga_udev_device_get_devnode(dev) : NULL;
	char *copy = node ? strdup(node) : NULL;

	qga_udev_device_unref(dev);
	return copy;
}

static json_t *
dm_alias(struct udev *udev, const char *syspath)
{
	struct udev_device *dev = qga_udev_device_new_from_syspath(udev, syspath);
	const char *alias = dev ?
	    qga_udev_device_get_property_value(dev, "DM_NAME") : NULL;
	json_t *o = alias && *alias ? json_string(alias) : NULL;

	qga_udev_device_unref(dev);
	return o;
}

/* Device nodes of slaves/, in qemu-ga's (reversed) order; NULL when the
 * directory does not exist. */
static json_t *
dependencies(struct udev *udev, const char *dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	json_t *deps;
	DIR *d;

	if (!join(path, dir, "slaves"))
		return NULL;
	d = opendir(path);
	if (d == NULL)
		return NULL;
	deps = json_array();
	while ((de = readdir(d)) != NULL) {
		char sub[PATH_MAX], *node;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (!join(sub, path, de->d_name))
			continue;
		node = devnode(udev, sub);
		if (node != NULL)
			json_array_insert_new(deps, 0, json_string(node));
		free(node);
	}
	closedir(d);
	return deps;
}

/* "<disk><digits...>" or "<disk>p<digit...>" */
static bool
is_partition_of(const char *name, const char *disk)
{
	size_t len = strlen(disk);

	if (strncmp(name, disk, len) != 0)
		return false;
	name += len;
	return isdigit((unsigned char)name[0]) ||
	    (name[0] == 'p' && isdigit((unsigned char)name[1]));
}

static void
add_partitions(struct udev *udev, struct sysinfo_list *list, const char *dir,
    const char *disk, const char *disk_node)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char sub[PATH_MAX], *node;

		if (de->d_type != DT_DIR || !is_partition_of(de->d_name, disk))
			continue;
		if (!join(sub, dir, de->d_name))
			continue;
		node = devnode(udev, sub);
		if (node == NULL)
			continue;
		sysinfo_list_add(list, json_pack("{s:s,s:b,s:[s]}", "name", node,
		    "partition", true, "dependencies", disk_node));
		free(node);
	}
	closedir(d);
}

static bool
zero_sized(const char *dir)
{
	char path[PATH_MAX], buf[SIZE_BUF] = "";
	ssize_t n;
	int fd;

	if (!join(path, dir, "size"))
		return true;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;	/* unreadable: skipped like an empty disk */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n < 0 || strcmp(buf, "0\n") == 0;
}

json_t *
qmp_guest_get_disks(struct qga_ctx *ctx, struct qga_error *err)
{
	struct sysinfo_list list;
	struct dirent *de;
	struct udev *udev;
	DIR *d;

	(void)ctx;
	d = opendir(SYS_BLOCK);
	if (d == NULL) {
		qga_error_set_errno(err, errno, "Can't open directory \"%s\"",
		    SYS_BLOCK);
		return NULL;
	}
	udev = qga_udev_new();
	sysinfo_list_init(&list, "guest-get-disks");
	/* qemu-ga prepends every entry: the list is built forward here and
	 * reversed at the end, which keeps the truncation at the tail. */
	while (udev != NULL && (de = readdir(d)) != NULL) {
		char dir[PATH_MAX], *real, *node;
		json_t *disk, *v;

		if (de->d_type != DT_LNK)
			continue;
		if (!join(dir, SYS_BLOCK, de->d_name) || zero_sized(dir))
			continue;
		node = devnode(udev, dir);
		if (node == NULL)
			continue;
		disk = json_pack("{s:s,s:b}", "name", node, "partition", false);
		if ((v = dm_alias(udev, dir)) != NULL)
			json_object_set_new(disk, "alias", v);
		real = realpath(dir, NULL);
		if (real != NULL && !strstr(real, "/devices/virtual/block/") &&
		    (v = qga_disk_address(udev, real)) != NULL)
			json_object_set_new(disk, "address", v);
		free(real);
		if ((v = dependencies(udev, dir)) != NULL)
			json_object_set_new(disk, "dependencies", v);
		if ((v = json_object_get(disk, "address")) != NULL &&
		    strcmp(json_string_value(json_object_get(v, "bus-type")),
		    "nvme") == 0 && (v = nvme_smart(node)) != NULL)
			json_object_set_new(disk, "smart", v);
		if (sysinfo_list_add(&list, disk))
			add_partitions(udev, &list, dir, de->d_name, node);
		free(node);
	}
	closedir(d);
	qga_udev_unref(udev);
	sysinfo_array_reverse(list.array);
	return list.array;
}

json_t *
qmp_guest_get_diskstats(struct qga_ctx *ctx, struct qga_error *err)
{
	/* Members by field position (after the name) in the 14-, 18- and
	 * 20-field formats. */
	static const char *const names[DISKSTAT_FIELDS] = {
		"read-ios", "read-merges", "read-sectors", "read-ticks",
		"write-ios", "write-merges", "write-sectors", "write-ticks",
		"ios-pgr", "total-ticks", "weight-ticks",
		"discard-ios", "discard-merges", "discard-sectors", "discard-ticks",
		"flush-ios", "flush-ticks",
	};
	/* The 7-field format of old kernels' partition lines. */
	static const char *const old_names[4] = {
		"read-ios", "read-sectors", "write-ios", "write-sectors",
	};
	char path[PATH_MAX];
	struct sysinfo_list list;
	char *line = NULL;
	size_t cap = 0;
	FILE *f = NULL;

	(void)ctx;
	if (sysinfo_proc_path(path, sizeof(path), "/diskstats") == 0)
		f = fopen(path, "re");
	if (f == NULL) {
		qga_error_set_errno(err, errno, "open(\"%s\")", path);
		return NULL;
	}
	sysinfo_list_init(&list, "guest-get-diskstats");
	while (getline(&line, &cap, f) != -1) {
		unsigned long long v[DISKSTAT_FIELDS];
		unsigned major, minor;
		char name[NAME_MAX + 1], *p, *end;
		int off, n = 0, total;
		json_t *st;

		if (sscanf(line, "%u %u %255s%n", &major, &minor, name, &off) != 3)
			continue;
		for (p = line + off; n < DISKSTAT_FIELDS; n++) {
			while (*p == ' ' || *p == '\t')
				p++;
			if (!isdigit((unsigned char)*p))
				break;
			v[n] = strtoull(p, &end, 10);
			p = end;
		}
		total = n + DISKSTAT_LEADING;
		if (total < DISKSTAT_OLD_PART)
			continue;
		st = json_object();
		if (total == DISKSTAT_OLD_PART) {
			for (int k = 0; k < 4; k++)
				json_object_set_new(st, old_names[k],
				    json_integer((json_int_t)v[k]));
		} else {
			/* 14, 18 and 20 fields give progressively more; a
			 * count in between gives the previous level's. */
			int upto = total >= DISKSTAT_FLUSH ? DISKSTAT_FLUSH :
			    total >= DISKSTAT_DISCARD ? DISKSTAT_DISCARD :
			    total >= DISKSTAT_BASIC ? DISKSTAT_BASIC :
			    DISKSTAT_LEADING;

			upto -= DISKSTAT_LEADING;

			for (int k = 0; k < upto; k++)
				json_object_set_new(st, names[k],
				    json_integer((json_int_t)v[k]));
		}
		sysinfo_list_add(&list, json_pack("{s:s,s:I,s:I,s:o}", "name",
		    name, "major", (json_int_t)major, "minor", (json_int_t)minor,
		    "stats", st));
	}
	free(line);
	fclose(f);
	return list.array;
}

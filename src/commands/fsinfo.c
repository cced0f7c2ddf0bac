/* guest-get-fsinfo: each local filesystem with its usage and disks. */
#include <libudev.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/statvfs.h>

#include "ctx.h"
#include "diskaddr.h"
#include "log.h"
#include "mounts.h"
#include "qga-schema-gen.h"

/*
 * The reply is bounded by construction (QGA_MOUNTS_MAX entries, paths of
 * at most PATH_MAX, QGA_DISK_ADDRESSES_MAX disks each), but that product
 * is large; a guest with such a mount table gets an error rather than a
 * reply no client can take.
 */
#define QGA_FSINFO_REPLY_MAX	(10 * 1024 * 1024 - 4096)
#define QGA_SYS_DEV_BLOCK	"/sys/dev/block"

static json_t *
fs_entry(struct udev *udev, const struct qga_mount *mnt, struct qga_error *err)
{
	char devpath[sizeof(QGA_SYS_DEV_BLOCK) + 32], *name = NULL;
	json_t *disks = json_array(), *fs;
	struct statvfs sv;

	snprintf(devpath, sizeof(devpath), "%s/%u:%u", QGA_SYS_DEV_BLOCK,
	    mnt->major, mnt->minor);
	if (qga_disk_addresses(udev, devpath, disks, &name, err) < 0) {
		json_decref(disks);
		free(name);
		return NULL;
	}
	fs = json_pack("{s:s,s:s,s:s,s:o}", "name", name ? name : "",
	    "mountpoint", mnt->dir, "type", mnt->type, "disk", disks);
	free(name);
	if (statvfs(mnt->dir, &sv) == 0) {
		/* df's view: "total" is what unprivileged users can reach. */
		uint64_t used = (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
		uint64_t total = (uint64_t)(sv.f_blocks - sv.f_bfree + sv.f_bavail) *
		    sv.f_frsize;

		json_object_set_new(fs, "used-bytes", json_integer((json_int_t)used));
		json_object_set_new(fs, "total-bytes", json_integer((json_int_t)total));
		json_object_set_new(fs, "total-bytes-privileged",
		    json_integer((json_int_t)((uint64_t)sv.f_blocks * sv.f_frsize)));
	}
	return fs;
}

json_t *
qmp_guest_get_fsinfo(struct qga_ctx *ctx, struct qga_error *err)
{
	struct qga_mounts m;
	struct udev *udev;
	json_t *list;
	size_t size = 0;

	(void)ctx;
	if (qga_mounts_build(&m, NULL, err) < 0)
		return NULL;
	udev = udev_new();
	list = json_array();
	/* qemu-ga answers in reverse mount order. */
	for (size_t i = m.n; i > 0 && list != NULL; i--) {
		json_t *fs = fs_entry(udev, &m.v[i - 1], err);

		if (fs != NULL)
			size += json_dumpb(fs, NULL, 0, JSON_COMPACT);
		if (fs == NULL || size > QGA_FSINFO_REPLY_MAX) {
			if (fs != NULL)
				qga_error_set(err, "guest-get-fsinfo reply would "
				    "exceed %d bytes", QGA_FSINFO_REPLY_MAX);
			json_decref(fs);
			json_decref(list);
			list = NULL;
			break;
		}
		json_array_append_new(list, fs);
	}
	udev_unref(udev);
	qga_mounts_free(&m);
	return list;
}

/* guest-get-fsinfo: each local filesystem with its usage and disks. */
#include "udevlib.h"
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
#define QGA_FSINFO_REPLY_MAX	(10 * 1024 * 1024 - 4096)	/* 4 KiB: envelope */
#define QGA_SYS_DEV_BLOCK	"/sys/dev/block"
/* How the agent serialises replies (agent.c). */
#define QGA_REPLY_JSON_FLAGS	(JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER)

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
	fs = json_object();
	json_object_set_new(fs, "name", qga_json_bytes(name ? name : ""));
	json_object_set_new(fs, "mountpoint", qga_json_bytes(mnt->dir));
	json_object_set_new(fs, "type", qga_json_bytes(mnt->type));
	json_object_set_new(fs, "disk", disks);
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
	udev = qga_udev_new();
	list = json_array();
	/* qemu-ga answers in reverse mount order. */
	for (size_t i = m.n; i > 0 && list != NULL; i--) {
		json_t *fs = fs_entry(udev, &m.v[i - 1], err);

		/* Measured as the agent writes it, with the ", " between
		 * entries. */
		if (fs != NULL)
			size += json_dumpb(fs, NULL, 0, QGA_REPLY_JSON_FLAGS) + 2;
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
	qga_udev_unref(udev);
	qga_mounts_free(&m);
	return list;
}

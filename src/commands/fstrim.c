/* guest-fstrim: FITRIM on every local filesystem, one result per path. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <string.h>

#include "ctx.h"
#include "log.h"
#include "mounts.h"
#include "qga-schema-gen.h"

static json_t *
trim_one(const char *dir, uint64_t minimum)
{
	const struct qga_fs_ops *ops = qga_fs_ops;
	struct fstrim_range r = { .start = 0, .len = UINT64_MAX, .minlen = minimum };
	json_t *res = json_pack("{s:s}", "path", dir);
	int fd, rc, e;

	fd = ops->open(dir, O_RDONLY);
	if (fd < 0) {
		json_object_set_new(res, "error",
		    json_sprintf("failed to open: %s", strerror(errno)));
		return res;
	}
	rc = ops->ioctl(fd, FITRIM, &r);
	e = errno;
	ops->close(fd);
	if (rc < 0) {
		/* ENOTTY: not even the ioctl (e.g. a CD-ROM). */
		if (e == ENOTTY || e == EOPNOTSUPP)
			json_object_set_new(res, "error",
			    json_string("trim not supported"));
		else
			json_object_set_new(res, "error",
			    json_sprintf("failed to trim: %s", strerror(e)));
		return res;
	}
	/* The kernel reports back the minimum it used and the bytes trimmed. */
	json_object_set_new(res, "minimum", json_integer((json_int_t)r.minlen));
	json_object_set_new(res, "trimmed", json_integer((json_int_t)r.len));
	return res;
}

json_t *
qmp_guest_fstrim(const struct qga_args_guest_fstrim *args, struct qga_ctx *ctx,
    struct qga_error *err)
{
	struct qga_mounts m;
	json_t *paths;
	/* Like qemu-ga, a negative minimum is passed on as a huge one. */
	uint64_t minimum = args->has_minimum ? (uint64_t)args->minimum : 0;

	(void)ctx;
	qga_slog("guest-fstrim called");
	if (qga_mounts_build(&m, NULL, err) < 0)
		return NULL;
	paths = json_array();
	/* qemu-ga answers in reverse mount order. */
	for (size_t i = m.n; i > 0; i--)
		json_array_append_new(paths, trim_one(m.v[i - 1].dir, minimum));
	qga_mounts_free(&m);
	return json_pack("{s:o}", "paths", paths);
}

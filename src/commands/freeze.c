/* guest-fsfreeze-status, -freeze, -freeze-list, -thaw and the fsfreeze hook. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <string.h>

#include "ctx.h"
#include "freeze.h"
#include "log.h"
#include "qga-schema-gen.h"
#include "run.h"

static bool
listed(const json_t *mountpoints, const char *dir)
{
	size_t i;
	json_t *v;

	if (mountpoints == NULL)
		return true;
	json_array_foreach(mountpoints, i, v)
		if (strcmp(json_string_value(v), dir) == 0)
			return true;
	return false;
}

int64_t
qga_fs_freeze_mounts(const struct qga_mounts *m, const json_t *mountpoints,
    struct qga_error *err)
{
	const struct qga_fs_ops *ops = qga_fs_ops;
	int64_t frozen = 0;

	/* Last mounted first: a filesystem mounted on top of another is
	 * frozen before the one holding its mount point. */
	for (size_t i = m->n; i > 0; i--) {
		const char *dir = m->v[i - 1].dir;
		int fd, rc, e;

		if (!listed(mountpoints, dir))
			continue;
		fd = ops->open(dir, O_RDONLY);
		if (fd < 0) {
			qga_error_set_errno(err, errno, "failed to open %s", dir);
			return -1;
		}
		rc = ops->ioctl(fd, FIFREEZE, NULL);
		e = errno;
		ops->close(fd);
		if (rc == 0) {
			frozen++;
			continue;
		}
		/* Not freezable by design, or frozen already by someone else:
		 * neither is a reason to fail the whole freeze. */
		if (e == EOPNOTSUPP || e == EBUSY)
			continue;
		qga_error_set_errno(err, e, "failed to freeze %s", dir);
		return -1;
	}
	return frozen;
}

int64_t
qga_fs_thaw_mounts(const struct qga_mounts *m)
{
	const struct qga_fs_ops *ops = qga_fs_ops;
	int64_t thawed = 0;

	for (size_t i = 0; i < m->n; i++) {
		int fd = ops->open(m->v[i].dir, O_RDONLY);
		int n = 0;

		if (fd < 0)
			continue;
		while (n < QGA_THAW_REPEAT_MAX && ops->ioctl(fd, FITHAW, NULL) == 0)
			n++;
		if (n > 0)
			thawed++;
		ops->close(fd);
	}
	return thawed;
}

static int
run_hook(struct qga_ctx *ctx, const char *arg, struct qga_error *err)
{
	const char *hook = qga_ctx_config(ctx)->fsfreeze_hook;
	const char *argv[] = { hook, arg, NULL };

	if (hook == NULL)
		return 0;
	qga_slog("executing fsfreeze hook with arg '%s'", arg);
	return qga_run_command(argv, NULL, 0, "execute fsfreeze hook", err);
}

/* Thaw everything, leave the frozen state, then tell the hook. */
static int64_t
thaw(struct qga_ctx *ctx, struct qga_error *err)
{
	struct qga_mounts m;
	int64_t n;

	if (qga_mounts_build(&m, NULL, err) < 0)
		return -1;
	n = qga_fs_thaw_mounts(&m);
	qga_mounts_free(&m);
	qga_ctx_set_frozen(ctx, false, err);
	qga_slog("guest-fsthaw called");
	run_hook(ctx, "thaw", err);
	return qga_error_isset(err) ? -1 : n;
}

/* Whatever way the agent leaves, it must not leave the guest frozen. */
static void
thaw_at_exit(struct qga_ctx *ctx)
{
	struct qga_error err = { 0 };

	if (!qga_ctx_frozen(ctx))
		return;
	if (thaw(ctx, &err) < 0)
		qga_log(QGA_LOG_ERROR, "failed to clean up frozen filesystems: %s",
		    err.desc);
	qga_error_clear(&err);
}

static void
watch_exit(struct qga_ctx *ctx)
{
	static bool registered;

	if (!registered)
		qga_ctx_at_exit(ctx, thaw_at_exit);
	registered = true;
}

json_t *
qmp_guest_fsfreeze_status(struct qga_ctx *ctx, struct qga_error *err)
{
	(void)err;
	watch_exit(ctx);
	return json_string(qga_ctx_frozen(ctx) ? "frozen" : "thawed");
}

static json_t *
freeze(struct qga_ctx *ctx, const json_t *mountpoints, struct qga_error *err)
{
	struct qga_mounts m;
	int64_t n;

	watch_exit(ctx);
	qga_slog("guest-fsfreeze called");
	if (run_hook(ctx, "freeze", err) < 0)
		return NULL;
	if (qga_mounts_build(&m, NULL, err) < 0)
		return NULL;
	/* Frozen before the first FIFREEZE: from here on the agent must not
	 * write (log, state) to a filesystem that may be frozen. */
	if (qga_ctx_set_frozen(ctx, true, err) < 0) {
		qga_mounts_free(&m);
		return NULL;
	}
	n = qga_fs_freeze_mounts(&m, mountpoints, err);
	qga_mounts_free(&m);
	if (n < 0) {
		struct qga_error ignored = { 0 };

		/* The freeze error is the answer; the thaw is best effort. */
		thaw(ctx, &ignored);
		qga_error_clear(&ignored);
		return NULL;
	}
	if (n == 0) {
		/* Nothing frozen, so no thaw will come: undo the hook's
		 * freeze now rather than leave it half done. */
		qga_ctx_set_frozen(ctx, false, err);
		if (run_hook(ctx, "thaw", err) < 0)
			return NULL;
	}
	return json_integer(n);
}

json_t *
qmp_guest_fsfreeze_freeze(struct qga_ctx *ctx, struct qga_error *err)
{
	return freeze(ctx, NULL, err);
}

json_t *
qmp_guest_fsfreeze_freeze_list(const struct qga_args_guest_fsfreeze_freeze_list *args,
    struct qga_ctx *ctx, struct qga_error *err)
{
	return freeze(ctx, args->has_mountpoints ? args->mountpoints : NULL, err);
}

json_t *
qmp_guest_fsfreeze_thaw(struct qga_ctx *ctx, struct qga_error *err)
{
	int64_t n;

	watch_exit(ctx);
	n = thaw(ctx, err);
	return n < 0 ? NULL : json_integer(n);
}

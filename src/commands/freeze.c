/* guest-fsfreeze-status, -freeze, -freeze-list, -thaw and the fsfreeze hook. */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"
#include "freeze.h"
#include "log.h"
#include "qga-schema-gen.h"
#include "run.h"

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The host's mount points sorted, so that a long list costs a sort and
 * not a scan per mount. NULL (with *n = 0) when there is no list. */
static const char **
sorted_names(const json_t *mountpoints, size_t *n, struct qga_error *err)
{
	const char **names;
	size_t i;
	json_t *v;

	*n = json_array_size(mountpoints);
	names = calloc(*n ? *n : 1, sizeof(*names));
	if (names == NULL) {
		qga_error_set(err, "out of memory");
		return NULL;
	}
	json_array_foreach(mountpoints, i, v)
		names[i] = json_string_value(v);
	qsort(names, *n, sizeof(*names), cmp_str);
	return names;
}

/* FIFREEZE and FITHAW ignore their argument, but their numbers are encoded
 * as _IOWR(.., int): tools that check ioctls (valgrind) read it as a
 * pointer to an int, so point it at one. */
static int fi_unused;

int64_t
qga_fs_freeze_mounts(const struct qga_mounts *m, const json_t *mountpoints,
    struct qga_error *err)
{
	const struct qga_fs_ops *ops = qga_fs_ops;
	const char **names = NULL;
	int64_t frozen = 0;
	size_t nnames = 0;

	if (mountpoints != NULL &&
	    (names = sorted_names(mountpoints, &nnames, err)) == NULL)
		return -1;
	/* Last mounted first: a filesystem mounted on top of another is
	 * frozen before the one holding its mount point. */
	for (size_t i = m->n; i > 0; i--) {
		const char *dir = m->v[i - 1].dir;
		int fd, rc, e;

		if (names != NULL &&
		    bsearch(&dir, names, nnames, sizeof(*names), cmp_str) == NULL)
			continue;
		fd = ops->open(dir, O_RDONLY);
		if (fd < 0) {
			qga_error_set_errno(err, errno, "failed to open %s", dir);
			frozen = -1;
			break;
		}
		rc = ops->ioctl(fd, FIFREEZE, &fi_unused);
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
		frozen = -1;
		break;
	}
	free(names);
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
		while (n < QGA_THAW_REPEAT_MAX &&
		    ops->ioctl(fd, FITHAW, &fi_unused) == 0)
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

/* Registered on the first fs command of an agent: an agent that never
 * used them has nothing of theirs to undo. */
static void
watch_exit(struct qga_ctx *ctx)
{
	static struct qga_ctx *watched;

	/* Called from both threads (status on the main one, freeze and thaw
	 * on the worker): register once per agent. */
	if (__atomic_exchange_n(&watched, ctx, __ATOMIC_SEQ_CST) != ctx)
		qga_ctx_at_exit(ctx, thaw_at_exit);
}

json_t *
qmp_guest_fsfreeze_status(struct qga_ctx *ctx, struct qga_error *err)
{
	(void)err;
	watch_exit(ctx);
	return json_string(qga_ctx_frozen(ctx) ? "frozen" : "thawed");
}

/*
 * The freeze watchdog (negotiated sessions, docs/protocol.md §14): a
 * freeze that asked for a timeout is thawed by the agent itself when no
 * thaw came in time. The timer lives in the main loop; freeze and thaw run
 * on the worker thread and reach it through qga_ctx_run_on_main().
 */
static uint64_t watchdog;	/* main thread only */

static void
watchdog_fire(void *data)
{
	struct qga_ctx *ctx = data;
	struct qga_error err = { 0 };
	int64_t n;

	watchdog = 0;
	if (!qga_ctx_frozen(ctx))
		return;
	n = thaw(ctx, &err);
	qga_log(QGA_LOG_WARNING, "freeze watchdog expired: filesystems thawed");
	if (n < 0)
		qga_ctx_emit_event(ctx, "FSFREEZE_WATCHDOG_THAWED",
		    json_pack("{s:s}", "error", err.desc ? err.desc : ""));
	else
		qga_ctx_emit_event(ctx, "FSFREEZE_WATCHDOG_THAWED",
		    json_pack("{s:I}", "thawed", (json_int_t)n));
	qga_error_clear(&err);
}

static void
watchdog_disarm(struct qga_ctx *ctx, void *data)
{
	(void)data;
	if (watchdog)
		qga_loop_del_timer(qga_ctx_loop(ctx), watchdog);
	watchdog = 0;
}

static void
watchdog_arm(struct qga_ctx *ctx, void *data)
{
	unsigned seconds = (unsigned)(uintptr_t)data;

	watchdog_disarm(ctx, NULL);
	watchdog = qga_loop_add_timer(qga_ctx_loop(ctx), seconds * 1000u,
	    watchdog_fire, ctx);
}

static json_t *
freeze(struct qga_ctx *ctx, const json_t *mountpoints, bool has_timeout,
    int64_t timeout, struct qga_error *err)
{
	struct qga_mounts m;
	int64_t n;

	if (has_timeout && (timeout < 1 || timeout > QGA_FREEZE_TIMEOUT_MAX)) {
		qga_error_set(err, "value '%" PRId64 "' is invalid for argument timeout",
		    timeout);
		return NULL;
	}
	watch_exit(ctx);
	qga_slog("guest-fsfreeze called");
	if (run_hook(ctx, "freeze", err) < 0)
		return NULL;
	if (qga_mounts_build(&m, NULL, err) < 0)
		return NULL;
	/* Frozen before the first FIFREEZE: from here on the agent must not
	 * write (log, state) to a filesystem that may be frozen. */
	if (qga_ctx_set_frozen(ctx, true, err) < 0) {
		struct qga_error ignored = { 0 };

		qga_mounts_free(&m);
		run_hook(ctx, "thaw", &ignored);
		qga_error_clear(&ignored);
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
		int rc = qga_ctx_set_frozen(ctx, false, err);

		if (run_hook(ctx, "thaw", err) < 0 || rc < 0)
			return NULL;
	} else if (has_timeout)
		qga_ctx_run_on_main(ctx, watchdog_arm, (void *)(uintptr_t)timeout);
	return json_integer(n);
}

json_t *
qmp_guest_fsfreeze_freeze(const struct qga_args_guest_fsfreeze_freeze *args,
    struct qga_ctx *ctx, struct qga_error *err)
{
	return freeze(ctx, NULL, args->has_timeout, args->timeout, err);
}

json_t *
qmp_guest_fsfreeze_freeze_list(const struct qga_args_guest_fsfreeze_freeze_list *args,
    struct qga_ctx *ctx, struct qga_error *err)
{
	return freeze(ctx, args->has_mountpoints ? args->mountpoints : NULL,
	    args->has_timeout, args->timeout, err);
}

json_t *
qmp_guest_fsfreeze_thaw(struct qga_ctx *ctx, struct qga_error *err)
{
	int64_t n;

	watch_exit(ctx);
	qga_ctx_run_on_main(ctx, watchdog_disarm, NULL);
	n = thaw(ctx, err);
	return n < 0 ? NULL : json_integer(n);
}

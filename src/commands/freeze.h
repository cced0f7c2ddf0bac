/* The freeze and thaw walks over the mount list, apart from the agent
 * state and the hook so unit tests can drive them through qga_fs_ops. */
#ifndef QGA_FREEZE_H
#define QGA_FREEZE_H

#include <stdint.h>
#include <jansson.h>

#include "error.h"
#include "mounts.h"

/* FITHAW is repeated until it fails (each FIFREEZE needs one), at most
 * this often per filesystem. */
#define QGA_THAW_REPEAT_MAX	64

/*
 * FIFREEZE each mount, last mounted first; with mountpoints (an array of
 * strings, or NULL for all) only exact matches. EOPNOTSUPP and EBUSY are
 * not counted and not errors. Returns the number frozen, or -1 with err
 * set at the first other failure (the caller thaws).
 */
int64_t	qga_fs_freeze_mounts(const struct qga_mounts *m, const json_t *mountpoints,
	    struct qga_error *err);
/* FITHAW every mount until it fails; the number of filesystems thawed. */
int64_t	qga_fs_thaw_mounts(const struct qga_mounts *m);

#endif

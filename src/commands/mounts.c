/* The local-filesystem list shared by the fs commands (see mounts.h). */
#include <errno.h>
#include <fcntl.h>
#include <mntent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "log.h"
#include "mounts.h"

static int
sys_open(const char *path, int flags)
{
	return open(path, flags | O_CLOEXEC);
}

static int
sys_ioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg);
}

static const struct qga_fs_ops sys_ops = {
	.open = sys_open,
	.ioctl = sys_ioctl,
	.close = close,
};

const struct qga_fs_ops *qga_fs_ops = &sys_ops;

void
qga_mounts_free(struct qga_mounts *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i].dir);
		free(m->v[i].type);
	}
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

/* The kernel writes space, tab, newline and backslash as \ooo. */
static void
unescape(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
			    (s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

/* 0 for a block device, 1 for a directory (a bind mount), -1 otherwise. */
static int
blockdev_of(const char *path, unsigned *major_, unsigned *minor_)
{
	struct stat st;

	*major_ = *minor_ = 0;
	if (stat(path, &st) < 0)
		return -1;
	if (S_ISDIR(st.st_mode))
		return 1;
	if (!S_ISBLK(st.st_mode))
		return -1;
	*major_ = major(st.st_rdev);
	*minor_ = minor(st.st_rdev);
	return 0;
}

static bool
seen(const struct qga_mounts *m, unsigned major_, unsigned minor_)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->v[i].major == major_ && m->v[i].minor == minor_)
			return true;
	return false;
}

static int
add(struct qga_mounts *m, const char *dir, const char *type, unsigned major_,
    unsigned minor_)
{
	struct qga_mount *v;

	/* Bind mounts and repeated mounts of one filesystem: freezing the
	 * same superblock twice deadlocks or fails with EBUSY. */
	if (seen(m, major_, minor_))
		return 0;
	if (m->n == QGA_MOUNTS_MAX) {
		qga_log(QGA_LOG_WARNING, "more than %d filesystems, ignoring %s",
		    QGA_MOUNTS_MAX, dir);
		return 0;
	}
	v = realloc(m->v, (m->n + 1) * sizeof(*v));
	if (v == NULL)
		return -1;
	m->v = v;
	v[m->n].dir = strdup(dir);
	v[m->n].type = strdup(type);
	v[m->n].major = major_;
	v[m->n].minor = minor_;
	if (v[m->n].dir == NULL || v[m->n].type == NULL) {
		free(v[m->n].dir);
		free(v[m->n].type);
		return -1;
	}
	m->n++;
	return 0;
}

/* "id parent M:m root dir opts [optional...] - type source superopts" */
static int
parse_mountinfo_line(struct qga_mounts *m, char *line)
{
	char *f[5], *sep, *type, *src, *save = NULL;
	unsigned major_, minor_;
	int i;

	sep = strstr(line, " - ");
	if (sep == NULL)
		return 0;
	*sep = '\0';
	for (i = 0; i < 5; i++)
		if ((f[i] = strtok_r(i ? NULL : line, " ", &save)) == NULL)
			return 0;
	if (sscanf(f[2], "%u:%u", &major_, &minor_) != 2)
		return 0;
	save = NULL;
	type = strtok_r(sep + 3, " \n", &save);
	src = strtok_r(NULL, " \n", &save);
	if (type == NULL)
		return 0;
	unescape(f[4]);
	unescape(type);
	if (src != NULL)
		unescape(src);
	if (major_ == 0) {
		/* btrfs reports an anonymous device; its source names the
		 * real one. Every other major-0 filesystem is pseudo or
		 * network (proc, tmpfs, nfs, cifs, fuse...). */
		if (strcmp(type, "btrfs") != 0 || src == NULL ||
		    blockdev_of(src, &major_, &minor_) != 0)
			return 0;
	}
	return add(m, f[4], type, major_, minor_);
}

static int
build_from_mtab(struct qga_mounts *m, struct qga_error *err)
{
	struct mntent *e;
	FILE *fp = setmntent(QGA_MTAB_PATH, "re");
	int rc = 0;

	if (fp == NULL) {
		qga_error_set(err, "failed to open mtab file: '%s'", QGA_MTAB_PATH);
		return -1;
	}
	while (rc == 0 && (e = getmntent(fp)) != NULL) {
		unsigned major_, minor_;

		/* No device path: a pseudo or network filesystem. */
		if (e->mnt_fsname[0] != '/' || strcmp(e->mnt_type, "smbfs") == 0 ||
		    strcmp(e->mnt_type, "cifs") == 0)
			continue;
		if (blockdev_of(e->mnt_fsname, &major_, &minor_) == 1)
			continue;
		rc = add(m, e->mnt_dir, e->mnt_type, major_, minor_);
	}
	endmntent(fp);
	if (rc < 0)
		qga_error_set(err, "out of memory");
	return rc;
}

int
qga_mounts_build(struct qga_mounts *m, const char *mountinfo,
    struct qga_error *err)
{
	char *line = NULL;
	size_t cap = 0;
	FILE *fp;
	int rc = 0;

	m->v = NULL;
	m->n = 0;
	fp = fopen(mountinfo ? mountinfo : QGA_MOUNTINFO_PATH, "re");
	if (fp == NULL)
		return build_from_mtab(m, err);
	while (rc == 0 && getline(&line, &cap, fp) != -1)
		rc = parse_mountinfo_line(m, line);
	free(line);
	fclose(fp);
	if (rc < 0) {
		qga_error_set(err, "out of memory");
		qga_mounts_free(m);
	}
	return rc;
}

/* Unit tests of the fs commands' logic: the mountinfo parser, the freeze
 * and thaw walks and the freeze/thaw/fstrim handlers with the ioctls
 * behind qga_fs_ops (nothing real is frozen), and disk addresses read
 * from a fake sysfs tree. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent.h"
#include "diskaddr.h"
#include "freeze.h"
#include "log.h"
#include "mounts.h"

/* ---- fake system calls ---- */

#define FAKE_MAX	16
#define FAKE_FD_BASE	100
#define FAKE_CALLS_MAX	256

struct fake_fs {
	const char	*dir;
	int		 open_errno;	/* open fails with this */
	int		 freeze_errno;	/* FIFREEZE fails with this */
	int		 thaws;		/* FITHAW succeeds this often (-1: always) */
	int		 trim_errno;
	uint64_t	 trimmed;
};

static struct fake_fs fake[FAKE_MAX];
static size_t nfake;
static struct fake_fs fake_default = { .freeze_errno = 0, .thaws = 0 };
static const char *calls[FAKE_CALLS_MAX];	/* "F:/dir" / "T:/dir" */
static char call_buf[FAKE_CALLS_MAX][64];
static size_t ncalls;
static int opened;

static struct fake_fs *
fake_find(const char *dir)
{
	for (size_t i = 0; i < nfake; i++)
		if (strcmp(fake[i].dir, dir) == 0)
			return &fake[i];
	return NULL;
}

static const char *open_dirs[FAKE_CALLS_MAX];

static int
fake_open(const char *path, int flags)
{
	struct fake_fs *f = fake_find(path);

	(void)flags;
	if (f == NULL)
		f = &fake_default;
	if (f->open_errno) {
		errno = f->open_errno;
		return -1;
	}
	open_dirs[opened] = path;
	return FAKE_FD_BASE + opened++;
}

static void
record(char op, const char *dir)
{
	if (ncalls < FAKE_CALLS_MAX) {
		snprintf(call_buf[ncalls], sizeof(call_buf[0]), "%c:%s", op, dir);
		calls[ncalls] = call_buf[ncalls];
		ncalls++;
	}
}

static int
fake_ioctl(int fd, unsigned long req, void *arg)
{
	const char *dir = open_dirs[fd - FAKE_FD_BASE];
	struct fake_fs *f = fake_find(dir);

	if (f == NULL)
		f = &fake_default;
	if (req == FIFREEZE) {
		record('F', dir);
		if (f->freeze_errno) {
			errno = f->freeze_errno;
			return -1;
		}
		return 0;
	}
	if (req == FITHAW) {
		record('T', dir);
		if (f->thaws == 0) {
			errno = EINVAL;
			return -1;
		}
		if (f->thaws > 0)
			f->thaws--;
		return 0;
	}
	if (req == FITRIM) {
		struct fstrim_range *r = arg;

		record('R', dir);
		if (f->trim_errno) {
			errno = f->trim_errno;
			return -1;
		}
		r->len = f->trimmed;
		return 0;
	}
	errno = ENOTTY;
	return -1;
}

static int
fake_close(int fd)
{
	(void)fd;
	return 0;
}

static const struct qga_fs_ops fake_ops = { fake_open, fake_ioctl, fake_close };

static int
setup_fake(void **state)
{
	(void)state;
	memset(fake, 0, sizeof(fake));
	memset(&fake_default, 0, sizeof(fake_default));
	nfake = 0;
	ncalls = 0;
	opened = 0;
	qga_fs_ops = &fake_ops;
	return 0;
}

static struct fake_fs *
add_fake(const char *dir)
{
	fake[nfake].dir = dir;
	return &fake[nfake++];
}

static void
mounts_of(struct qga_mounts *m, const char *const *dirs, size_t n)
{
	m->v = calloc(n, sizeof(*m->v));
	m->n = n;
	for (size_t i = 0; i < n; i++) {
		m->v[i].dir = strdup(dirs[i]);
		m->v[i].type = strdup("ext4");
		m->v[i].major = 8;
		m->v[i].minor = (unsigned)i;
	}
}

/* ---- the mountinfo parser ---- */

static char *
write_tmp(const char *text)
{
	char *path = strdup("/tmp/qga-test-fs-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void
test_mountinfo(void **state)
{
	static const char text[] =
	    "21 26 0:20 / /proc rw,relatime - proc proc rw\n"
	    "26 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
	    "41 26 7:0 / /mnt/with\\040space rw - ext4 /dev/loop0 rw\n"
	    "42 26 7:0 /sub /bind rw - ext4 /dev/loop0 rw\n"
	    "43 26 8:1 / /data rw shared:5 master:2 - xfs /dev/sda1 rw\n"
	    "44 26 0:50 / /btr rw - btrfs /no/such/device rw\n"
	    "45 26 0:51 / /nfs rw - nfs4 server:/export rw\n"
	    "46 26 0:52 / /tmp rw - tmpfs tmpfs rw\n"
	    "this line is garbage\n"
	    "47 26 x:y / /bad rw - ext4 /dev/x rw\n"
	    "48 26 8:2 / /nosource rw - ext4\n"
	    "49 26 254:0 / /again rw - ext4 /dev/vda rw\n";
	char *path = write_tmp(text);
	struct qga_error err = { 0 };
	struct qga_mounts m;

	(void)state;
	assert_int_equal(qga_mounts_build(&m, path, &err), 0);
	assert_int_equal(m.n, 4);
	assert_string_equal(m.v[0].dir, "/");
	assert_string_equal(m.v[0].type, "ext4");
	assert_int_equal(m.v[0].major, 254);
	assert_string_equal(m.v[1].dir, "/mnt/with space");
	assert_int_equal(m.v[1].major, 7);
	assert_string_equal(m.v[2].dir, "/data");
	assert_string_equal(m.v[2].type, "xfs");
	assert_int_equal(m.v[2].minor, 1);
	assert_string_equal(m.v[3].dir, "/nosource");
	qga_mounts_free(&m);
	qga_mounts_free(NULL);
	unlink(path);
	free(path);
}

static void
test_mountinfo_limit(void **state)
{
	size_t n = QGA_MOUNTS_MAX + 10, len = 0;
	char *text = malloc(n * 64), *path;
	struct qga_error err = { 0 };
	struct qga_mounts m;

	(void)state;
	for (size_t i = 0; i < n; i++)
		len += (size_t)sprintf(text + len,
		    "%zu 1 9:%zu / /m%zu rw - ext4 /dev/md%zu rw\n", i, i, i, i);
	path = write_tmp(text);
	assert_int_equal(qga_mounts_build(&m, path, &err), 0);
	assert_int_equal(m.n, QGA_MOUNTS_MAX);
	assert_string_equal(m.v[QGA_MOUNTS_MAX - 1].dir, "/m1023");
	qga_mounts_free(&m);
	unlink(path);
	free(path);
	free(text);
}

static bool
same_mounts(const struct qga_mounts *a, const struct qga_mounts *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i].dir, b->v[i].dir) != 0 ||
		    strcmp(a->v[i].type, b->v[i].type) != 0 ||
		    a->v[i].major != b->v[i].major || a->v[i].minor != b->v[i].minor)
			return false;
	return true;
}

static void
test_mtab_fallback(void **state)
{
	struct qga_error err = { 0 };
	struct qga_mounts a, b;
	bool same = false;

	(void)state;
	/* No mountinfo: /proc/self/mounts gives the same filesystems. Other
	 * programs may mount meanwhile: a few tries. */
	for (int i = 0; i < 5 && !same; i++) {
		assert_int_equal(qga_mounts_build(&a, NULL, &err), 0);
		assert_int_equal(qga_mounts_build(&b, "/no/such/mountinfo", &err), 0);
		same = same_mounts(&a, &b);
		qga_mounts_free(&a);
		qga_mounts_free(&b);
	}
	assert_true(same);
}

/* ---- freeze and thaw walks ---- */

static const char *const dirs4[] = { "/", "/a", "/b", "/c" };

static void
test_freeze_reverse_order(void **state)
{
	struct qga_error err = { 0 };
	struct qga_mounts m;

	(void)state;
	mounts_of(&m, dirs4, 4);
	add_fake("/a")->freeze_errno = EOPNOTSUPP;
	add_fake("/b")->freeze_errno = EBUSY;
	assert_int_equal(qga_fs_freeze_mounts(&m, NULL, &err), 2);
	assert_false(qga_error_isset(&err));
	assert_int_equal(ncalls, 4);
	assert_string_equal(calls[0], "F:/c");
	assert_string_equal(calls[1], "F:/b");
	assert_string_equal(calls[2], "F:/a");
	assert_string_equal(calls[3], "F:/");
	qga_mounts_free(&m);
}

static void
test_freeze_list_filter(void **state)
{
	struct qga_error err = { 0 };
	json_t *list = json_pack("[s,s,s]", "/b", "/no/such", "/");
	json_t *empty = json_array();
	struct qga_mounts m;

	(void)state;
	mounts_of(&m, dirs4, 4);
	assert_int_equal(qga_fs_freeze_mounts(&m, list, &err), 2);
	assert_int_equal(ncalls, 2);
	assert_string_equal(calls[0], "F:/b");
	assert_string_equal(calls[1], "F:/");
	assert_int_equal(qga_fs_freeze_mounts(&m, empty, &err), 0);
	assert_int_equal(ncalls, 2);
	json_decref(list);
	json_decref(empty);

	/* A long list with repeats costs a sort, and each mount is frozen
	 * once however often it is named. */
	list = json_array();
	for (int i = 0; i < 200000; i++)
		json_array_append_new(list, json_sprintf("/x%d", i));
	json_array_append_new(list, json_string("/c"));
	json_array_append_new(list, json_string("/c"));
	ncalls = 0;
	assert_int_equal(qga_fs_freeze_mounts(&m, list, &err), 1);
	assert_int_equal(ncalls, 1);
	assert_string_equal(calls[0], "F:/c");
	json_decref(list);
	qga_mounts_free(&m);
}

static void
test_freeze_error_stops(void **state)
{
	struct qga_error err = { 0 };
	struct qga_mounts m;

	(void)state;
	mounts_of(&m, dirs4, 4);
	add_fake("/b")->freeze_errno = EIO;
	assert_int_equal(qga_fs_freeze_mounts(&m, NULL, &err), -1);
	assert_string_equal(err.desc, "failed to freeze /b: Input/output error");
	assert_int_equal(ncalls, 2);
	qga_error_clear(&err);

	add_fake("/c")->open_errno = EACCES;
	ncalls = 0;
	assert_int_equal(qga_fs_freeze_mounts(&m, NULL, &err), -1);
	assert_string_equal(err.desc, "failed to open /c: Permission denied");
	assert_int_equal(ncalls, 0);
	qga_error_clear(&err);
	qga_mounts_free(&m);
}

static void
test_thaw_counts(void **state)
{
	struct qga_mounts m;

	(void)state;
	mounts_of(&m, dirs4, 4);
	add_fake("/a")->thaws = 2;
	add_fake("/c")->thaws = 1;
	add_fake("/b")->open_errno = ENOENT;
	assert_int_equal(qga_fs_thaw_mounts(&m), 2);
	/* "/": 1 failing call; /a: 2 + 1 failing; /c: 1 + 1 failing. */
	assert_int_equal(ncalls, 6);
	assert_string_equal(calls[0], "T:/");
	assert_string_equal(calls[1], "T:/a");
	assert_string_equal(calls[3], "T:/a");
	assert_string_equal(calls[5], "T:/c");
	/* A thaw that never fails stops at the limit. */
	ncalls = 0;
	fake_default.thaws = -1;
	assert_int_equal(qga_fs_thaw_mounts(&m), 1);
	assert_int_equal(ncalls, QGA_THAW_REPEAT_MAX + 2);
	qga_mounts_free(&m);
}

/* ---- handlers with an agent context ---- */

struct env {
	struct qga_config	cfg;
	struct qga_ctx		a;
	char			dir[64];
	char			hook[128];
	char			hooklog[128];
	char			mountinfo[128];
	struct qga_mounts	real;	/* this machine's list, for expectations */
};

#define RETIRED_MAX	16
static struct env *retired[RETIRED_MAX];
static size_t nretired;

static int
setup_ctx(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct qga_error err = { 0 };
	FILE *f;

	setup_fake(NULL);
	snprintf(e->dir, sizeof(e->dir), "/tmp/qga-test-fsctx-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->hook, sizeof(e->hook), "%s/hook", e->dir);
	snprintf(e->hooklog, sizeof(e->hooklog), "%s/calls", e->dir);
	f = fopen(e->hook, "w");
	fprintf(f, "#!/bin/sh\necho $1 >> %s\n[ ! -e %s/fail.$1 ]\n", e->hooklog,
	    e->dir);
	fclose(f);
	chmod(e->hook, 0755);
	e->a.cfg = &e->cfg;
	assert_int_equal(qga_state_init(&e->a.state, e->dir), 0);
	assert_int_equal(qga_state_load(&e->a.state, true), 0);
	/* A fixed mount table, whatever this machine mounts meanwhile. */
	snprintf(e->mountinfo, sizeof(e->mountinfo), "%s/mountinfo", e->dir);
	f = fopen(e->mountinfo, "w");
	fputs("1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
	    "2 1 0:5 / /proc rw - proc proc rw\n"
	    "3 1 8:2 / /home rw - xfs /dev/sda2 rw\n"
	    "4 1 8:2 /x /bound rw - xfs /dev/sda2 rw\n"
	    "5 1 7:0 / /mnt/img rw - ext4 /dev/loop0 rw\n", f);
	fclose(f);
	qga_mountinfo_path = e->mountinfo;
	assert_int_equal(qga_mounts_build(&e->real, NULL, &err), 0);
	assert_int_equal(e->real.n, 3);
	*state = e;
	return 0;
}

static int
teardown_ctx(void **state)
{
	struct env *e = *state;
	char cmd[128];

	qga_mountinfo_path = QGA_MOUNTINFO_PATH;
	qga_mounts_free(&e->real);
	qga_state_free(&e->a.state);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", e->dir);
	assert_int_equal(system(cmd), 0);
	/* Kept until the end: every test gets a context at a new address,
	 * as freeze.c registers its exit hook once per context. */
	assert_true(nretired < RETIRED_MAX);
	retired[nretired++] = e;
	return 0;
}

static bool
marker(struct env *e)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/qga.state.isfrozen", e->dir);
	return access(path, F_OK) == 0;
}

static char *
hook_calls(struct env *e)
{
	static char buf[256];
	FILE *f = fopen(e->hooklog, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

/* Every mount of the table is frozen once: one FITHAW succeeds. */
static void
thaw_each_once(struct env *e)
{
	for (size_t i = 0; i < e->real.n; i++)
		add_fake(e->real.v[i].dir)->thaws = 1;
}

/* guest-fsfreeze-freeze without the negotiated-only timeout. */
static const struct qga_args_guest_fsfreeze_freeze no_timeout;

static void
test_freeze_all_and_thaw(void **state)
{
	struct env *e = *state;
	struct qga_error err = { 0 };
	json_t *r;

	/* Every mount of this machine, last first, each once. */
	r = qmp_guest_fsfreeze_freeze(&no_timeout, &e->a, &err);
	assert_non_null(r);
	assert_int_equal(json_integer_value(r), (json_int_t)e->real.n);
	json_decref(r);
	assert_true(qga_ctx_frozen(&e->a));
	assert_true(marker(e));
	assert_int_equal(ncalls, e->real.n);
	for (size_t i = 0; i < e->real.n; i++) {
		char want[64];

		snprintf(want, sizeof(want), "F:%s", e->real.v[e->real.n - 1 - i].dir);
		assert_string_equal(calls[i], want);
	}
	r = qmp_guest_fsfreeze_status(&e->a, &err);
	assert_string_equal(json_string_value(r), "frozen");
	json_decref(r);

	ncalls = 0;
	thaw_each_once(e);
	r = qmp_guest_fsfreeze_thaw(&e->a, &err);
	assert_non_null(r);
	assert_int_equal(json_integer_value(r), (json_int_t)e->real.n);
	json_decref(r);
	assert_false(qga_ctx_frozen(&e->a));
	assert_false(marker(e));
	r = qmp_guest_fsfreeze_status(&e->a, &err);
	assert_string_equal(json_string_value(r), "thawed");
	json_decref(r);
}

static void
test_freeze_failure_thaws(void **state)
{
	struct env *e = *state;
	struct qga_error err = { 0 };
	const char *first = e->real.v[0].dir;
	char want[80];

	/* The last one to freeze (the first mounted) fails: all thawed. */
	add_fake(first)->freeze_errno = EIO;
	e->cfg.fsfreeze_hook = e->hook;
	assert_null(qmp_guest_fsfreeze_freeze(&no_timeout, &e->a, &err));
	snprintf(want, sizeof(want), "failed to freeze %s: Input/output error", first);
	assert_string_equal(err.desc, want);
	qga_error_clear(&err);
	assert_false(qga_ctx_frozen(&e->a));
	assert_false(marker(e));
	assert_int_equal(ncalls, e->real.n * 2);
	for (size_t i = 0; i < e->real.n; i++)
		assert_int_equal(calls[e->real.n + i][0], 'T');
	assert_string_equal(hook_calls(e), "freeze\nthaw\n");
}

static void
test_freeze_hook_failure(void **state)
{
	struct env *e = *state;
	struct qga_error err = { 0 };
	char flag[128];

	e->cfg.fsfreeze_hook = e->hook;
	snprintf(flag, sizeof(flag), "%s/fail.freeze", e->dir);
	fclose(fopen(flag, "w"));
	assert_null(qmp_guest_fsfreeze_freeze(&no_timeout, &e->a, &err));
	assert_string_equal(err.desc, "child process has failed to execute "
	    "fsfreeze hook: exit status 1");
	qga_error_clear(&err);
	assert_int_equal(ncalls, 0);
	assert_false(qga_ctx_frozen(&e->a));
	assert_string_equal(hook_calls(e), "freeze\n");
}

static void
test_freeze_marker_failure(void **state)
{
	struct env *e = *state;
	struct qga_error err = { 0 };
	char path[128];

	/* The marker cannot be created (a directory is in its way): nothing
	 * is frozen and the hook's freeze is undone. */
	snprintf(path, sizeof(path), "%s/qga.state.isfrozen", e->dir);
	assert_int_equal(mkdir(path, 0700), 0);
	e->cfg.fsfreeze_hook = e->hook;
	assert_null(qmp_guest_fsfreeze_freeze(&no_timeout, &e->a, &err));
	assert_string_equal(err.desc,
	    "failed to create frozen marker: Is a directory");
	qga_error_clear(&err);
	assert_int_equal(ncalls, 0);
	assert_false(qga_ctx_frozen(&e->a));
	assert_string_equal(hook_calls(e), "freeze\nthaw\n");
	rmdir(path);
}

static void
test_freeze_nothing_frozen(void **state)
{
	struct env *e = *state;
	struct qga_error err = { 0 };
	json_t *r;

	e->cfg.fsfreeze_hook = e->hook;
	fake_default.freeze_errno = EOPNOTSUPP;
	r = qmp_guest_fsfreeze_freeze(&no_timeout, &e->a, &err);
	assert_int_equal(json_integer_value(r), 0);
	json_decref(r);
	assert_false(qga_ctx_frozen(&e->a));
	assert_false(marker(e));
	assert_string_equal(hook_calls(e), "freeze\nthaw\n");
}

static void
test_thaw_at_exit(void **state)
{
	struct env *e = *state;
	struct qga_error err = { 0 };
	json_t *r;

	r = qmp_guest_fsfreeze_freeze(&no_timeout, &e->a, &err);
	json_decref(r);
	assert_true(qga_ctx_frozen(&e->a));
	assert_true(e->a.nexit_hooks >= 1);
	ncalls = 0;
	thaw_each_once(e);
	/* What agent_run does on the way out. */
	for (size_t i = e->a.nexit_hooks; i > 0; i--)
		e->a.exit_hooks[i - 1](&e->a);
	assert_false(qga_ctx_frozen(&e->a));
	assert_false(marker(e));
	assert_int_equal(ncalls, e->real.n * 2);
	/* Not frozen: the exit hook does nothing. */
	ncalls = 0;
	for (size_t i = e->a.nexit_hooks; i > 0; i--)
		e->a.exit_hooks[i - 1](&e->a);
	assert_int_equal(ncalls, 0);
}

static void
test_fstrim_results(void **state)
{
	struct env *e = *state;
	struct qga_args_guest_fstrim args = { .has_minimum = true, .minimum = 4096 };
	struct qga_error err = { 0 };
	struct fake_fs *f;
	json_t *r, *paths, *p;

	f = add_fake(e->real.v[0].dir);
	f->trimmed = 12345;
	fake_default.trim_errno = ENOTTY;
	r = qmp_guest_fstrim(&args, &e->a, &err);
	assert_non_null(r);
	paths = json_object_get(r, "paths");
	assert_int_equal(json_array_size(paths), e->real.n);
	/* Reverse mount order: the first mounted is last. */
	p = json_array_get(paths, e->real.n - 1);
	assert_string_equal(json_string_value(json_object_get(p, "path")),
	    e->real.v[0].dir);
	assert_int_equal(json_integer_value(json_object_get(p, "trimmed")), 12345);
	assert_int_equal(json_integer_value(json_object_get(p, "minimum")), 4096);
	assert_null(json_object_get(p, "error"));
	if (e->real.n > 1) {
		p = json_array_get(paths, 0);
		assert_string_equal(json_string_value(json_object_get(p, "error")),
		    "trim not supported");
		assert_int_equal(json_object_size(p), 2);
	}
	json_decref(r);

	f->trim_errno = EIO;
	r = qmp_guest_fstrim(&args, &e->a, &err);
	p = json_array_get(json_object_get(r, "paths"), e->real.n - 1);
	assert_string_equal(json_string_value(json_object_get(p, "error")),
	    "failed to trim: Input/output error");
	json_decref(r);

	f->open_errno = EACCES;
	r = qmp_guest_fstrim(&args, &e->a, &err);
	p = json_array_get(json_object_get(r, "paths"), e->real.n - 1);
	assert_string_equal(json_string_value(json_object_get(p, "error")),
	    "failed to open: Permission denied");
	json_decref(r);
}

/* ---- guest-get-fsinfo's reply bound and odd names ---- */

#define ODD_NAME_LEN	4000

/* n mounts of devices sysfs does not know, each at a mount point of
 * ODD_NAME_LEN bytes that are not UTF-8 (6 bytes each in the reply). */
static char *
odd_mountinfo(size_t n)
{
	size_t cap = n * (ODD_NAME_LEN + 64), len = 0;
	char *text = malloc(cap), *path;

	for (size_t i = 0; i < n; i++) {
		len += (size_t)sprintf(text + len, "%zu 1 4095:%zu / /%zu", i, i, i);
		memset(text + len, 0xff, ODD_NAME_LEN);
		len += ODD_NAME_LEN;
		len += (size_t)sprintf(text + len, " rw - ext4 /dev/x rw\n");
	}
	text[len] = '\0';
	path = write_tmp(text);
	free(text);
	return path;
}

static void
test_fsinfo_bound(void **state)
{
	struct qga_error err = { 0 };
	const char *mp;
	char *path;
	json_t *r, *e;

	(void)state;
	/* Under the bound: every entry, names "M:m", no sizes, U+FFFD. */
	path = odd_mountinfo(300);
	qga_mountinfo_path = path;
	r = qmp_guest_get_fsinfo(NULL, &err);
	assert_false(qga_error_isset(&err));
	assert_int_equal(json_array_size(r), 300);
	e = json_array_get(r, 299);
	assert_string_equal(json_string_value(json_object_get(e, "name")), "4095:0");
	assert_string_equal(json_string_value(json_object_get(e, "type")), "ext4");
	assert_int_equal(json_array_size(json_object_get(e, "disk")), 0);
	assert_null(json_object_get(e, "used-bytes"));
	mp = json_string_value(json_object_get(e, "mountpoint"));
	assert_int_equal(strlen(mp), 2 + 3 * ODD_NAME_LEN);
	assert_memory_equal(mp, "/0\xef\xbf\xbd", 5);
	json_decref(r);
	unlink(path);
	free(path);

	/* Past it: an error, not a reply no client could take. */
	path = odd_mountinfo(QGA_MOUNTS_MAX);
	qga_mountinfo_path = path;
	assert_null(qmp_guest_get_fsinfo(NULL, &err));
	assert_string_equal(err.desc, "guest-get-fsinfo reply would exceed "
	    "10481664 bytes");
	qga_error_clear(&err);
	qga_mountinfo_path = QGA_MOUNTINFO_PATH;
	unlink(path);
	free(path);
}

/* ---- disk addresses from a fake sysfs ---- */

static char sysroot[64];

static void
mkpath(const char *rel)
{
	char cmd[PATH_MAX + 64];

	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/%s'", sysroot, rel);
	assert_int_equal(system(cmd), 0);
}

static void
mklink(const char *rel, const char *target)
{
	char path[PATH_MAX + 128];

	snprintf(path, sizeof(path), "%s/%s", sysroot, rel);
	assert_int_equal(symlink(target, path), 0);
}

static void
mkfile(const char *rel, const char *text)
{
	char path[PATH_MAX + 128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", sysroot, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
driver(const char *dev, const char *name)
{
	char rel[512], target[128];

	snprintf(rel, sizeof(rel), "%s/driver", dev);
	snprintf(target, sizeof(target), "/sys/bus/pci/drivers/%s", name);
	mklink(rel, target);
}

#define PCI	"devices/pci0000:00"

static int
setup_sysfs(void **state)
{
	(void)state;
	snprintf(sysroot, sizeof(sysroot), "/tmp/qga-test-sysfs-XXXXXX");
	assert_non_null(mkdtemp(sysroot));
	/* virtio-blk */
	mkpath(PCI "/0000:00:02.0/virtio1/block/vda");
	driver(PCI "/0000:00:02.0", "virtio-pci");
	mkfile(PCI "/0000:00:02.0/virtio1/block/vda/serial", "SER-1\n");
	/* NVMe behind a bridge */
	mkpath(PCI "/0000:00:1c.0/0000:03:00.0/nvme/nvme0/nvme0n1");
	driver(PCI "/0000:00:1c.0", "pcieport");
	driver(PCI "/0000:00:1c.0/0000:03:00.0", "nvme");
	/* AHCI: the unit is the rank of the port among the controller's */
	mkpath(PCI "/0000:00:1f.2/ata1");
	mkpath(PCI "/0000:00:1f.2/ata10");
	mkpath(PCI "/0000:00:1f.2/ata3/host2/target2:0:0/2:0:0:0/block/sda");
	driver(PCI "/0000:00:1f.2", "ahci");
	/* virtio-scsi */
	mkpath(PCI "/0000:00:05.0/virtio2/host0/target0:0:1/0:0:1:3/block/sdb");
	driver(PCI "/0000:00:05.0", "virtio-pci");
	/* IDE: bus is the host's rank, unit the target */
	mkpath(PCI "/0000:00:01.1/ata5/host4/target4:0:1/4:0:1:0/block/sdc");
	mkpath(PCI "/0000:00:01.1/ata4");
	driver(PCI "/0000:00:01.1", "ata_piix");
	/* an unknown controller */
	mkpath(PCI "/0000:00:07.0/host9/target9:0:0/9:0:0:0/block/sdx");
	driver(PCI "/0000:00:07.0", "megaraid_sas");
	/* virtio-mmio, s390 CCW */
	mkpath("devices/platform/10001000.virtio_mmio/virtio0/block/vdb");
	mkpath("devices/css0/0.0.0002/0.0.0003/virtio1/block/vdc");
	/* device mapper on top of the virtio disk; a slave loop */
	mkpath("devices/virtual/block/dm-0/slaves");
	mklink("devices/virtual/block/dm-0/slaves/vda",
	    "../../../../pci0000:00/0000:00:02.0/virtio1/block/vda");
	mkpath("devices/virtual/block/dm-1/slaves");
	mkpath("devices/virtual/block/dm-2/slaves");
	mklink("devices/virtual/block/dm-1/slaves/dm-2", "../../dm-2");
	mklink("devices/virtual/block/dm-2/slaves/dm-1", "../../dm-1");
	mkpath("dev/block");
	mklink("dev/block/253:0", "../../devices/virtual/block/dm-0");
	mklink("dev/block/253:1", "../../devices/virtual/block/dm-1");
	return 0;
}

static int
teardown_sysfs(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", sysroot);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static json_t *
addr_of(const char *rel)
{
	char path[PATH_MAX + 128];

	snprintf(path, sizeof(path), "%s/%s", sysroot, rel);
	return qga_disk_address(NULL, path);
}

static void
assert_addr(json_t *a, int dom, int bus, int slot, int fn, const char *type,
    int b, int t, int u)
{
	json_t *pci = json_object_get(a, "pci-controller");

	assert_non_null(a);
	assert_int_equal(json_integer_value(json_object_get(pci, "domain")), dom);
	assert_int_equal(json_integer_value(json_object_get(pci, "bus")), bus);
	assert_int_equal(json_integer_value(json_object_get(pci, "slot")), slot);
	assert_int_equal(json_integer_value(json_object_get(pci, "function")), fn);
	assert_string_equal(json_string_value(json_object_get(a, "bus-type")), type);
	assert_int_equal(json_integer_value(json_object_get(a, "bus")), b);
	assert_int_equal(json_integer_value(json_object_get(a, "target")), t);
	assert_int_equal(json_integer_value(json_object_get(a, "unit")), u);
}

static void
test_disk_addresses(void **state)
{
	json_t *a;

	(void)state;
	a = addr_of(PCI "/0000:00:02.0/virtio1/block/vda");
	assert_addr(a, 0, 0, 2, 0, "virtio", 0, 0, 0);
	assert_string_equal(json_string_value(json_object_get(a, "serial")), "SER-1");
	assert_null(json_object_get(a, "dev"));
	assert_null(json_object_get(a, "ccw-address"));
	json_decref(a);

	a = addr_of(PCI "/0000:00:1c.0/0000:03:00.0/nvme/nvme0/nvme0n1");
	assert_addr(a, 0, 3, 0, 0, "nvme", 0, 0, 0);
	assert_null(json_object_get(a, "serial"));
	json_decref(a);

	a = addr_of(PCI "/0000:00:1f.2/ata3/host2/target2:0:0/2:0:0:0/block/sda");
	assert_addr(a, 0, 0, 0x1f, 2, "sata", 0, 0, 1);
	json_decref(a);

	a = addr_of(PCI "/0000:00:05.0/virtio2/host0/target0:0:1/0:0:1:3/block/sdb");
	assert_addr(a, 0, 0, 5, 0, "scsi", 0, 0, 3);
	json_decref(a);

	a = addr_of(PCI "/0000:00:01.1/ata5/host4/target4:0:1/4:0:1:0/block/sdc");
	assert_addr(a, 0, 0, 1, 1, "ide", 1, 0, 1);
	json_decref(a);

	/* Nothing known, no udev: no address at all. */
	assert_null(addr_of(PCI "/0000:00:07.0/host9/target9:0:0/9:0:0:0/block/sdx"));
	assert_null(addr_of("devices/platform/foo/block/sdz"));

	a = addr_of("devices/platform/10001000.virtio_mmio/virtio0/block/vdb");
	assert_addr(a, -1, -1, -1, -1, "virtio", 0, 0, 0);
	json_decref(a);

	a = addr_of("devices/css0/0.0.0002/0.0.0003/virtio1/block/vdc");
	assert_addr(a, -1, -1, -1, -1, "virtio", 0, 0, 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(a,
	    "ccw-address"), "subchno")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(a,
	    "ccw-address"), "devno")), 3);
	json_decref(a);
}

static void
test_disk_slaves_and_names(void **state)
{
	struct qga_error err = { 0 };
	char path[PATH_MAX], *name = NULL;
	json_t *disks = json_array();

	(void)state;
	snprintf(path, sizeof(path), "%s/dev/block/253:0", sysroot);
	assert_int_equal(qga_disk_addresses(NULL, path, disks, &name, &err), 0);
	assert_string_equal(name, "dm-0");
	assert_int_equal(json_array_size(disks), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(disks, 0),
	    "bus-type")), "virtio");
	free(name);
	json_array_clear(disks);

	/* A slave cycle ends at the depth limit. */
	name = NULL;
	snprintf(path, sizeof(path), "%s/dev/block/253:1", sysroot);
	assert_int_equal(qga_disk_addresses(NULL, path, disks, &name, &err), 0);
	assert_string_equal(name, "dm-1");
	assert_int_equal(json_array_size(disks), 0);
	free(name);

	/* No such device (a container): the name is M:m, no disks. */
	name = NULL;
	snprintf(path, sizeof(path), "%s/dev/block/9:9", sysroot);
	assert_int_equal(qga_disk_addresses(NULL, path, disks, &name, &err), 0);
	assert_string_equal(name, "9:9");
	assert_int_equal(json_array_size(disks), 0);
	free(name);
	json_decref(disks);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mountinfo),
		cmocka_unit_test(test_mountinfo_limit),
		cmocka_unit_test(test_mtab_fallback),
		cmocka_unit_test_setup(test_freeze_reverse_order, setup_fake),
		cmocka_unit_test_setup(test_freeze_list_filter, setup_fake),
		cmocka_unit_test_setup(test_freeze_error_stops, setup_fake),
		cmocka_unit_test_setup(test_thaw_counts, setup_fake),
		cmocka_unit_test_setup_teardown(test_freeze_all_and_thaw, setup_ctx,
		    teardown_ctx),
		cmocka_unit_test_setup_teardown(test_freeze_failure_thaws, setup_ctx,
		    teardown_ctx),
		cmocka_unit_test_setup_teardown(test_freeze_hook_failure, setup_ctx,
		    teardown_ctx),
		cmocka_unit_test_setup_teardown(test_freeze_marker_failure, setup_ctx,
		    teardown_ctx),
		cmocka_unit_test_setup_teardown(test_freeze_nothing_frozen, setup_ctx,
		    teardown_ctx),
		cmocka_unit_test_setup_teardown(test_thaw_at_exit, setup_ctx,
		    teardown_ctx),
		cmocka_unit_test_setup_teardown(test_fstrim_results, setup_ctx,
		    teardown_ctx),
		cmocka_unit_test(test_fsinfo_bound),
		cmocka_unit_test_setup_teardown(test_disk_addresses, setup_sysfs,
		    teardown_sysfs),
		cmocka_unit_test_setup_teardown(test_disk_slaves_and_names,
		    setup_sysfs, teardown_sysfs),
	};

	int rc;

	qga_log_open(stderr, false, QGA_LOG_DEFAULT);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	for (size_t i = 0; i < nretired; i++)
		free(retired[i]);
	return rc;
}

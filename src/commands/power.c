/* guest-shutdown and guest-suspend-disk/ram/hybrid. On success neither
 * answers (success-response false): the handler returns NULL, no error. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctx.h"
#include "log.h"
#include "qga-schema-gen.h"
#include "run.h"

#define SHUTDOWN_PATH	"/sbin/shutdown"
#define SHUTDOWN_MSG	"hypervisor initiated shutdown"

/* systemctl status answers with LSB codes: 1-3 mean the unit exists (not
 * running), 4 that it is unknown. */
#define LSB_STATUS_MIN_KNOWN	1
#define LSB_STATUS_MAX_KNOWN	3

/* Where the kernel takes "disk" or "mem"; a variable so tests can point
 * it at a file of their own. */
static const char *sys_power_state = "/sys/power/state";

/* ---- shutdown ---- */

static const struct {
	const char	*mode;
	const char	*program;	/* preferred when executable (qemu-ga 10.2) */
	const char	*flag;		/* for /sbin/shutdown otherwise */
} shutdown_modes[] = {
	{ "powerdown",	"/sbin/poweroff",	"-P" },
	{ "halt",	"/sbin/halt",		"-H" },
	{ "reboot",	"/sbin/reboot",		"-r" },
};

json_t *
qmp_guest_shutdown(const struct qga_args_guest_shutdown *args,
    struct qga_ctx *ctx, struct qga_error *err)
{
	const char *mode = args->has_mode ? args->mode : "powerdown";
	const char *argv[] = { SHUTDOWN_PATH, "-h", NULL, "+0", SHUTDOWN_MSG, NULL };
	size_t i, n = sizeof(shutdown_modes) / sizeof(shutdown_modes[0]);

	qga_slog("guest-shutdown called, mode: %s", args->has_mode ? args->mode : "(null)");
	for (i = 0; i < n && strcmp(shutdown_modes[i].mode, mode) != 0; i++)
		;
	if (i == n) {
		/* The missing ')' is qemu-ga's. */
		qga_error_set(err, "mode is invalid (valid values are: halt|powerdown|reboot");
		return NULL;
	}
	/* /sbin/shutdown as qemu-ga 7.2 runs it; without one (BusyBox
	 * systems), poweroff/halt/reboot with no arguments, as 10.2 prefers.
	 * 10.2 tries those first, which does nothing where /sbin/poweroff
	 * only signals an init that is not there to listen. */
	/* Sessions with events hear it before the guest goes down. */
	qga_ctx_emit_event(ctx, "GUEST_SHUTDOWN", json_pack("{s:s}", "mode", mode));
	argv[2] = shutdown_modes[i].flag;
	if (access(SHUTDOWN_PATH, X_OK) < 0 &&
	    access(shutdown_modes[i].program, X_OK) == 0) {
		argv[0] = shutdown_modes[i].program;
		argv[1] = NULL;
	}
	qga_run_command(argv, NULL, 0, "shutdown", err);
	return NULL;
}

/* ---- suspend ---- */

enum suspend_mode { SUSPEND_DISK, SUSPEND_RAM, SUSPEND_HYBRID };

static const struct {
	const char	*unit;		/* systemctl status <unit> */
	const char	*verb;		/* systemctl <verb> */
	const char	*pm_flag;	/* pm-is-supported <flag> */
	const char	*pm_program;
	const char	*sysfs;		/* written to sys_power_state; NULL: none */
} suspend_modes[] = {
	[SUSPEND_DISK] = { "systemd-hibernate", "hibernate", "--hibernate",
		"pm-hibernate", "disk" },
	[SUSPEND_RAM] = { "systemd-suspend", "suspend", "--suspend",
		"pm-suspend", "mem" },
	[SUSPEND_HYBRID] = { "systemd-hybrid-sleep", "hybrid-sleep",
		"--suspend-hybrid", "pm-suspend-hybrid", NULL },
};

/*
 * Run argv (PATH searched) with all stdio on /dev/null and wait for it.
 * Returns the exit status, or -1: not found (err untouched), could not
 * run (err set, qemu-ga's text), or killed by a signal.
 */
static int
run_status(const char *const argv[], struct qga_error *err)
{
	int report[2], null, status, e = 0;
	ssize_t n;
	pid_t pid;

	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0 || pipe2(report, O_CLOEXEC) < 0) {
		qga_error_set(err, "failed to create child process, error '%s'",
		    strerror(errno));
		if (null >= 0)
			close(null);
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		qga_loop_child_reset();
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		execvp(argv[0], (char *const *)argv);
		e = errno;
		while (write(report[1], &e, sizeof(e)) < 0 && errno == EINTR)
			;
		_exit(127);
	}
	e = errno;
	close(null);
	close(report[1]);
	if (pid < 0) {
		close(report[0]);
		qga_error_set(err, "failed to create child process, error "
		    "'Failed to fork (%s)'", strerror(e));
		return -1;
	}
	while ((n = read(report[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(report[0]);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			qga_error_set(err, "failed to create child process, error "
			    "'%s'", strerror(errno));
			return -1;
		}
	}
	if (n == (ssize_t)sizeof(e)) {
		if (e == ENOENT)
			return -1;
		qga_error_set(err, "failed to create child process, error "
		    "'Failed to execute child process \u201c%s\u201d (%s)'",
		    argv[0], strerror(e));
		return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool
systemd_supports(enum suspend_mode m)
{
	const char *argv[] = { "systemctl", "status", suspend_modes[m].unit, NULL };
	struct qga_error ignored = { 0 };
	int status = run_status(argv, &ignored);

	qga_error_clear(&ignored);
	return status >= LSB_STATUS_MIN_KNOWN && status <= LSB_STATUS_MAX_KNOWN;
}

/* Run a suspend program; 0 when it exits 0, else -1 with err set. */
static int
run_suspend(const char *const argv[], const char *name, struct qga_error *err)
{
	int status = run_status(argv, err);

	if (status == 0)
		return 0;
	if (qga_error_isset(err))
		return -1;
	if (status == -1)
		qga_error_set(err, "the helper program '%s' was not found", name);
	else
		qga_error_set(err, "the helper program '%s' returned an unexpected "
		    "exit status code (%d)", name, status);
	return -1;
}

static bool
pmutils_supports(enum suspend_mode m, struct qga_error *err)
{
	const char *argv[] = { "pm-is-supported", suspend_modes[m].pm_flag, NULL };
	int status = run_status(argv, err);

	if (status == 0)
		return true;
	if (status > 0 && !qga_error_isset(err))
		qga_error_set(err, "the helper program '%s' returned an unexpected "
		    "exit status code (%d)", argv[0], status);
	return false;
}

static bool
sysfs_supports(enum suspend_mode m)
{
	char state[64];
	ssize_t n;
	int fd;

	if (suspend_modes[m].sysfs == NULL)
		return false;
	fd = open(sys_power_state, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, state, sizeof(state) - 1);
	close(fd);
	if (n <= 0)
		return false;
	state[n] = '\0';
	return strstr(state, suspend_modes[m].sysfs) != NULL;
}

static int
sysfs_suspend(enum suspend_mode m, struct qga_error *err)
{
	const char *word = suspend_modes[m].sysfs;
	size_t len = strlen(word);
	int fd, rc = 0;

	fd = open(sys_power_state, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, word, len) != (ssize_t)len) {
		qga_error_set(err, "suspend: cannot write to '%s': %s",
		    sys_power_state, strerror(errno));
		rc = -1;
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

/*
 * systemd first, then pm-utils, then the kernel's sysfs file, each tried
 * only when it says it supports the mode; when one that does fails, the
 * next is tried. When all fail, the last failure is the answer (qemu-ga
 * answers nothing at all if systemd or pm-utils failed last).
 */
static const char *const suspend_names[] = {
	[SUSPEND_DISK] = "disk", [SUSPEND_RAM] = "ram", [SUSPEND_HYBRID] = "hybrid",
};

/* Sessions with events hear it once, before the first way is tried. */
static void
announce_suspend(struct qga_ctx *ctx, enum suspend_mode m, bool *supported)
{
	if (!*supported)
		qga_ctx_emit_event(ctx, "GUEST_SUSPEND",
		    json_pack("{s:s}", "mode", suspend_names[m]));
	*supported = true;
}

static void
suspend(struct qga_ctx *ctx, enum suspend_mode m, struct qga_error *err)
{
	struct qga_error last = { 0 }, probe = { 0 };
	bool supported = false;

	if (systemd_supports(m)) {
		const char *argv[] = { "systemctl", suspend_modes[m].verb, NULL };
		char name[64];

		announce_suspend(ctx, m, &supported);
		snprintf(name, sizeof(name), "systemctl %s", suspend_modes[m].verb);
		if (run_suspend(argv, name, &last) == 0)
			return;
	}
	if (pmutils_supports(m, &probe)) {
		const char *argv[] = { suspend_modes[m].pm_program, NULL };

		announce_suspend(ctx, m, &supported);
		qga_error_clear(&last);
		if (run_suspend(argv, argv[0], &last) == 0)
			return;
	}
	qga_error_clear(&probe);
	if (sysfs_supports(m)) {
		announce_suspend(ctx, m, &supported);
		qga_error_clear(&last);
		if (sysfs_suspend(m, &last) == 0)
			return;
	}
	if (!supported)
		qga_error_set(err, "the requested suspend mode is not supported by the guest");
	else
		qga_error_set(err, "%s", last.desc ? last.desc : "suspend failed");
	qga_error_clear(&last);
}

json_t *
qmp_guest_suspend_disk(struct qga_ctx *ctx, struct qga_error *err)
{
	suspend(ctx, SUSPEND_DISK, err);
	return NULL;
}

json_t *
qmp_guest_suspend_ram(struct qga_ctx *ctx, struct qga_error *err)
{
	suspend(ctx, SUSPEND_RAM, err);
	return NULL;
}

json_t *
qmp_guest_suspend_hybrid(struct qga_ctx *ctx, struct qga_error *err)
{
	suspend(ctx, SUSPEND_HYBRID, err);
	return NULL;
}

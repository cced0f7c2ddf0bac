/* guest-shutdown and guest-suspend-* with the machine faked: /sbin checks
 * and the shutdown run are recorded, systemctl and pm-utils are scripts in
 * a PATH of the test's own, and /sys/power/state is a temporary file. */
#include "../../src/commands/power.c"

#include <stdlib.h>
#include <sys/stat.h>

#include "fake_run.h"

int __real_access(const char *path, int mode);
int __wrap_access(const char *path, int mode);

/* The /sbin programs that "exist" in the current test. */
static const char *sbin_present[4];

int
__wrap_access(const char *path, int mode)
{
	if (strncmp(path, "/sbin/", 6) != 0)
		return __real_access(path, mode);
	assert_int_equal(mode, X_OK);
	for (size_t i = 0; i < 4 && sbin_present[i]; i++)
		if (strcmp(sbin_present[i], path) == 0)
			return 0;
	errno = ENOENT;
	return -1;
}

static char dir[64], bindir[128], logpath[128], statepath[128];

void __wrap_qga_ctx_emit_event(struct qga_ctx *ctx, const char *name, json_t *data);

/* Events go into the programs' log, so each test sees whether an event
 * came before the action and only once. */
void
__wrap_qga_ctx_emit_event(struct qga_ctx *ctx, const char *name, json_t *data)
{
	FILE *f = fopen(logpath, "a");

	(void)ctx;
	assert_non_null(f);
	fprintf(f, "event %s %s (runs so far: %d)\n", name,
	    json_string_value(json_object_get(data, "mode")), fake_run.calls);
	fclose(f);
	json_decref(data);
}

static void
install(const char *name, const char *body)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", bindir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\necho \"%s $*\" >>'%s'\n%s\n", name, logpath, body);
	fclose(f);
	assert_int_equal(chmod(path, 0755), 0);
}

static void
set_state(const char *text)
{
	FILE *f = fopen(statepath, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *
slurp(const char *path)
{
	static char text[4096];
	size_t n = 0;
	FILE *f = fopen(path, "r");

	if (f) {
		n = fread(text, 1, sizeof(text) - 1, f);
		fclose(f);
	}
	text[n] = '\0';
	return text;
}

static int
setup(void **state)
{
	(void)state;
	fake_run_reset();
	memset(sbin_present, 0, sizeof(sbin_present));
	snprintf(dir, sizeof(dir), "/tmp/qga-power-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(bindir, sizeof(bindir), "%s/bin", dir);
	snprintf(logpath, sizeof(logpath), "%s/log", dir);
	snprintf(statepath, sizeof(statepath), "%s/state", dir);
	assert_int_equal(mkdir(bindir, 0755), 0);
	setenv("PATH", bindir, 1);
	sys_power_state = statepath;
	return 0;
}

static int
teardown(void **state)
{
	char cmd[256];

	(void)state;
	snprintf(cmd, sizeof(cmd), "/bin/rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static json_t *
shutdown(const char *mode, struct qga_error *err)
{
	struct qga_args_guest_shutdown a = { .has_mode = mode != NULL, .mode = mode };

	return qmp_guest_shutdown(&a, NULL, err);
}

static void
test_shutdown_programs(void **state)
{
	static const struct {
		const char *mode, *present[2], *argv;
	} cases[] = {
		{ NULL, { "/sbin/poweroff" }, "/sbin/poweroff" },
		{ "powerdown", { "/sbin/poweroff" }, "/sbin/poweroff" },
		{ "halt", { "/sbin/halt" }, "/sbin/halt" },
		{ "reboot", { "/sbin/reboot" }, "/sbin/reboot" },
		{ NULL, { NULL }, "/sbin/shutdown|-h|-P|+0|hypervisor initiated shutdown" },
		{ "powerdown", { "/sbin/halt" }, "/sbin/shutdown|-h|-P|+0|hypervisor initiated shutdown" },
		{ "halt", { "/sbin/poweroff" }, "/sbin/shutdown|-h|-H|+0|hypervisor initiated shutdown" },
		{ "reboot", { NULL }, "/sbin/shutdown|-h|-r|+0|hypervisor initiated shutdown" },
		/* /sbin/shutdown wins when it is there. */
		{ NULL, { "/sbin/shutdown", "/sbin/poweroff" },
		  "/sbin/shutdown|-h|-P|+0|hypervisor initiated shutdown" },
		{ "reboot", { "/sbin/reboot", "/sbin/shutdown" },
		  "/sbin/shutdown|-h|-r|+0|hypervisor initiated shutdown" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct qga_error err = { 0 };
		char want[128];

		fake_run_reset();
		sbin_present[0] = cases[i].present[0];
		sbin_present[1] = cases[i].present[1];
		/* Success: no value and no error, so no reply is sent. */
		assert_null(shutdown(cases[i].mode, &err));
		assert_false(qga_error_isset(&err));
		assert_int_equal(fake_run.calls, 1);
		assert_string_equal(fake_run_argv(), cases[i].argv);
		assert_false(fake_run.has_input);
		assert_string_equal(fake_run.action, "shutdown");
		snprintf(want, sizeof(want), "event GUEST_SHUTDOWN %s (runs so far: 0)\n",
		    cases[i].mode ? cases[i].mode : "powerdown");
		assert_string_equal(slurp(logpath), want);
		unlink(logpath);
	}
}

static void
test_shutdown_errors(void **state)
{
	struct qga_error err = { 0 };
	const char *bad[] = { "", "Halt", "poweroff", "reboot ", "suspend" };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_null(shutdown(bad[i], &err));
		expect_error(&err, "mode is invalid (valid values are: halt|powerdown|reboot");
	}
	assert_int_equal(fake_run.calls, 0);
	assert_string_equal(slurp(logpath), "");
	fake_run.fail = "child process has failed to shutdown: exit status 1";
	assert_null(shutdown("reboot", &err));
	expect_error(&err, "child process has failed to shutdown: exit status 1");
	/* The event went out before the failure. */
	assert_string_equal(slurp(logpath), "event GUEST_SHUTDOWN reboot (runs so far: 0)\n");
}

typedef json_t *(*suspend_fn)(struct qga_ctx *, struct qga_error *);

static void
expect_suspended(suspend_fn fn, const char *log)
{
	struct qga_error err = { 0 };

	assert_null(fn(NULL, &err));
	if (qga_error_isset(&err))
		fail_msg("unexpected error: %s", err.desc);
	assert_string_equal(slurp(logpath), log);
	unlink(logpath);
}

static void
expect_suspend_error(suspend_fn fn, const char *desc, const char *log)
{
	struct qga_error err = { 0 };

	assert_null(fn(NULL, &err));
	expect_error(&err, desc);
	assert_string_equal(slurp(logpath), log);
	unlink(logpath);
}

static void
test_suspend_systemd(void **state)
{
	(void)state;
	/* LSB status 3: the unit exists and is not running. */
	install("systemctl", "[ \"$1\" = status ] && exit 3; exit 0");
	install("pm-is-supported", "exit 0");
	expect_suspended(qmp_guest_suspend_ram,
	    "systemctl status systemd-suspend\nevent GUEST_SUSPEND ram (runs so far: 0)\nsystemctl suspend\n");
	expect_suspended(qmp_guest_suspend_disk,
	    "systemctl status systemd-hibernate\nevent GUEST_SUSPEND disk (runs so far: 0)\nsystemctl hibernate\n");
	expect_suspended(qmp_guest_suspend_hybrid,
	    "systemctl status systemd-hybrid-sleep\nevent GUEST_SUSPEND hybrid (runs so far: 0)\nsystemctl hybrid-sleep\n");
}

static void
test_suspend_systemd_status_codes(void **state)
{
	(void)state;
	/* 1 and 2 also mean the unit is known; 0 and 4 do not. */
	install("systemctl", "[ \"$1\" = status ] && exit 1; exit 0");
	expect_suspended(qmp_guest_suspend_ram,
	    "systemctl status systemd-suspend\nevent GUEST_SUSPEND ram (runs so far: 0)\nsystemctl suspend\n");
	install("systemctl", "[ \"$1\" = status ] && exit 4; exit 0");
	expect_suspend_error(qmp_guest_suspend_ram,
	    "the requested suspend mode is not supported by the guest",
	    "systemctl status systemd-suspend\n");
	install("systemctl", "[ \"$1\" = status ] && exit 0; exit 0");
	expect_suspend_error(qmp_guest_suspend_ram,
	    "the requested suspend mode is not supported by the guest",
	    "systemctl status systemd-suspend\n");
}

static void
test_suspend_pmutils(void **state)
{
	(void)state;
	/* No systemctl at all. */
	install("pm-is-supported", "exit 0");
	install("pm-suspend", "exit 0");
	install("pm-hibernate", "exit 0");
	install("pm-suspend-hybrid", "exit 0");
	expect_suspended(qmp_guest_suspend_ram,
	    "pm-is-supported --suspend\nevent GUEST_SUSPEND ram (runs so far: 0)\npm-suspend \n");
	expect_suspended(qmp_guest_suspend_disk,
	    "pm-is-supported --hibernate\nevent GUEST_SUSPEND disk (runs so far: 0)\npm-hibernate \n");
	expect_suspended(qmp_guest_suspend_hybrid,
	    "pm-is-supported --suspend-hybrid\nevent GUEST_SUSPEND hybrid (runs so far: 0)\npm-suspend-hybrid \n");
}

static void
test_suspend_sysfs(void **state)
{
	(void)state;
	install("pm-is-supported", "exit 1");
	set_state("freeze mem disk\n");
	expect_suspended(qmp_guest_suspend_ram, "pm-is-supported --suspend\n"
	    "event GUEST_SUSPEND ram (runs so far: 0)\n");
	assert_int_equal(strncmp(slurp(statepath), "mem", 3), 0);
	set_state("freeze mem disk\n");
	expect_suspended(qmp_guest_suspend_disk, "pm-is-supported --hibernate\n"
	    "event GUEST_SUSPEND disk (runs so far: 0)\n");
	assert_int_equal(strncmp(slurp(statepath), "disk", 4), 0);
	/* Hybrid has no sysfs form. */
	set_state("freeze mem disk\n");
	expect_suspend_error(qmp_guest_suspend_hybrid,
	    "the requested suspend mode is not supported by the guest",
	    "pm-is-supported --suspend-hybrid\n");
	assert_string_equal(slurp(statepath), "freeze mem disk\n");
	/* A mode the kernel does not list. */
	set_state("freeze mem\n");
	expect_suspend_error(qmp_guest_suspend_disk,
	    "the requested suspend mode is not supported by the guest",
	    "pm-is-supported --hibernate\n");
}

static void
test_suspend_nothing(void **state)
{
	(void)state;
	unlink(statepath);
	expect_suspend_error(qmp_guest_suspend_disk,
	    "the requested suspend mode is not supported by the guest", "");
	expect_suspend_error(qmp_guest_suspend_ram,
	    "the requested suspend mode is not supported by the guest", "");
	expect_suspend_error(qmp_guest_suspend_hybrid,
	    "the requested suspend mode is not supported by the guest", "");
}

static void
test_suspend_fallbacks_after_failure(void **state)
{
	(void)state;
	install("systemctl", "[ \"$1\" = status ] && exit 3; exit 1");
	install("pm-is-supported", "exit 0");
	install("pm-suspend", "exit 0");
	expect_suspended(qmp_guest_suspend_ram,
	    "systemctl status systemd-suspend\nevent GUEST_SUSPEND ram (runs so far: 0)\nsystemctl suspend\n"
	    "pm-is-supported --suspend\npm-suspend \n");
	/* Everything fails: the last failure is the answer. */
	install("pm-suspend", "exit 5");
	expect_suspend_error(qmp_guest_suspend_ram,
	    "the helper program 'pm-suspend' returned an unexpected exit status code (5)",
	    "systemctl status systemd-suspend\nevent GUEST_SUSPEND ram (runs so far: 0)\nsystemctl suspend\n"
	    "pm-is-supported --suspend\npm-suspend \n");
	install("pm-is-supported", "exit 1");
	expect_suspend_error(qmp_guest_suspend_ram,
	    "the helper program 'systemctl suspend' returned an unexpected exit status code (1)",
	    "systemctl status systemd-suspend\nevent GUEST_SUSPEND ram (runs so far: 0)\nsystemctl suspend\n"
	    "pm-is-supported --suspend\n");
	/* The sysfs file cannot be written. */
	set_state("mem\n");
	chmod(statepath, 0444);
	if (geteuid() != 0) {
		char want[256];

		snprintf(want, sizeof(want), "suspend: cannot write to '%s': "
		    "Permission denied", statepath);
		expect_suspend_error(qmp_guest_suspend_ram, want,
		    "systemctl status systemd-suspend\nevent GUEST_SUSPEND ram (runs so far: 0)\nsystemctl suspend\n"
		    "pm-is-supported --suspend\n");
	}
}

static void
test_suspend_program_missing(void **state)
{
	(void)state;
	/* pm-is-supported says yes, but pm-suspend is not installed. */
	install("pm-is-supported", "exit 0");
	expect_suspend_error(qmp_guest_suspend_ram,
	    "the helper program 'pm-suspend' was not found",
	    "pm-is-supported --suspend\nevent GUEST_SUSPEND ram (runs so far: 0)\n");
	/* pm-is-supported with an odd answer counts as unsupported. */
	install("pm-is-supported", "exit 7");
	expect_suspend_error(qmp_guest_suspend_ram,
	    "the requested suspend mode is not supported by the guest",
	    "pm-is-supported --suspend\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_shutdown_programs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_suspend_systemd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_suspend_systemd_status_codes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_suspend_pmutils, setup, teardown),
		cmocka_unit_test_setup_teardown(test_suspend_sysfs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_suspend_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_suspend_fallbacks_after_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_suspend_program_missing, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* guest-get-time, guest-set-time, guest-get-timezone with settimeofday and
 * hwclock faked: the host clock is never touched. */
#include "../../src/commands/time.c"

#include <stdlib.h>

#include "fake_run.h"

static int settime_calls;
static struct timeval settime_tv;
static int settime_errno;

int __wrap_settimeofday(const struct timeval *tv, const void *tz);

int
__wrap_settimeofday(const struct timeval *tv, const void *tz)
{
	assert_null(tz);
	settime_calls++;
	settime_tv = *tv;
	if (settime_errno) {
		errno = settime_errno;
		return -1;
	}
	return 0;
}

static int
setup(void **state)
{
	(void)state;
	fake_run_reset();
	settime_calls = 0;
	settime_errno = 0;
	setenv("TZ", "UTC", 1);
	tzset();
	return 0;
}

static json_t *
set_time(bool has, int64_t ns, struct qga_error *err)
{
	struct qga_args_guest_set_time a = { .has_time = has, .time = ns };

	return qmp_guest_set_time(&a, NULL, err);
}

static void
test_get_time(void **state)
{
	struct qga_error err = { 0 };
	struct timespec before, after;
	json_t *r;
	int64_t ns;

	(void)state;
	clock_gettime(CLOCK_REALTIME, &before);
	r = qmp_guest_get_time(NULL, &err);
	clock_gettime(CLOCK_REALTIME, &after);
	assert_false(qga_error_isset(&err));
	assert_true(json_is_integer(r));
	ns = json_integer_value(r);
	/* Microsecond resolution, like qemu-ga. */
	assert_int_equal(ns % 1000, 0);
	assert_true(ns >= (int64_t)before.tv_sec * NSEC_PER_SEC + before.tv_nsec - 1000);
	assert_true(ns <= (int64_t)after.tv_sec * NSEC_PER_SEC + after.tv_nsec);
	json_decref(r);
}

static void
test_set_from_rtc(void **state)
{
	struct qga_error err = { 0 };
	json_t *r;

	(void)state;
	r = set_time(false, 0, &err);
	assert_false(qga_error_isset(&err));
	assert_true(json_is_object(r) && json_object_size(r) == 0);
	json_decref(r);
	assert_int_equal(settime_calls, 0);
	assert_int_equal(fake_run.calls, 1);
	assert_string_equal(fake_run_argv(), "/sbin/hwclock|-s");
	assert_false(fake_run.has_input);
	assert_string_equal(fake_run.action, "set hardware clock to system time");
}

static void
test_set_time(void **state)
{
	struct qga_error err = { 0 };
	json_t *r;

	(void)state;
	r = set_time(true, 1700000000123456789LL, &err);
	assert_false(qga_error_isset(&err));
	json_decref(r);
	assert_int_equal(settime_calls, 1);
	assert_int_equal(settime_tv.tv_sec, 1700000000);
	assert_int_equal(settime_tv.tv_usec, 123456);
	assert_int_equal(fake_run.calls, 1);
	assert_string_equal(fake_run_argv(), "/sbin/hwclock|-w");
}

static void
test_year_limits(void **state)
{
	/* 2070-01-01T00:00:00Z */
	const int64_t end = 3155760000LL * NSEC_PER_SEC;
	struct qga_error err = { 0 };
	const int64_t bad[] = { -NSEC_PER_SEC, end, end + 1, INT64_MAX, INT64_MIN };
	const int64_t good[] = { -1, 0, 1, end - 1 };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_null(set_time(true, bad[i], &err));
		expect_error(&err, "Invalid time");
	}
	assert_int_equal(settime_calls, 0);
	assert_int_equal(fake_run.calls, 0);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		json_decref(set_time(true, good[i], &err));
		assert_false(qga_error_isset(&err));
	}
	assert_int_equal(settime_calls, 4);
	assert_int_equal(settime_tv.tv_sec, 3155759999LL);
	assert_int_equal(settime_tv.tv_usec, 999999);
}

static void
test_year_is_local(void **state)
{
	struct qga_error err = { 0 };

	(void)state;
	/* 1970-01-01T00:00:00Z is still 1969 eight hours west of UTC. */
	setenv("TZ", "XXX8", 1);
	assert_null(set_time(true, 0, &err));
	expect_error(&err, "Invalid time");
}

static void
test_settimeofday_fails(void **state)
{
	struct qga_error err = { 0 };

	(void)state;
	settime_errno = EPERM;
	assert_null(set_time(true, 1700000000LL * NSEC_PER_SEC, &err));
	expect_error(&err, "Failed to set time to guest: Operation not permitted");
	assert_int_equal(fake_run.calls, 0);
}

static void
test_hwclock_fails(void **state)
{
	struct qga_error err = { 0 };

	(void)state;
	fake_run.fail = "child process has failed to set hardware clock to "
	    "system time: hwclock: Cannot access the Hardware Clock";
	assert_null(set_time(false, 0, &err));
	expect_error(&err, "child process has failed to set hardware clock to "
	    "system time: hwclock: Cannot access the Hardware Clock");
}

static void
check_zone(const char *tz, const char *zone, json_int_t offset)
{
	struct qga_error err = { 0 };
	json_t *r;

	setenv("TZ", tz, 1);
	r = qmp_guest_get_timezone(NULL, &err);
	assert_false(qga_error_isset(&err));
	assert_string_equal(json_string_value(json_object_get(r, "zone")), zone);
	assert_int_equal(json_integer_value(json_object_get(r, "offset")), offset);
	assert_int_equal(json_object_size(r), 2);
	json_decref(r);
}

static void
test_timezone(void **state)
{
	(void)state;
	check_zone("UTC", "UTC", 0);
	/* POSIX TZ strings count hours west; the offset is seconds east. */
	check_zone("ABC-3", "ABC", 3 * 3600);
	check_zone("XYZ+5:30", "XYZ", -(5 * 3600 + 30 * 60));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_get_time, setup),
		cmocka_unit_test_setup(test_set_from_rtc, setup),
		cmocka_unit_test_setup(test_set_time, setup),
		cmocka_unit_test_setup(test_year_limits, setup),
		cmocka_unit_test_setup(test_year_is_local, setup),
		cmocka_unit_test_setup(test_settimeofday_fails, setup),
		cmocka_unit_test_setup(test_hwclock_fails, setup),
		cmocka_unit_test_setup(test_timezone, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

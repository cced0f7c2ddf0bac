/* guest-get-time, guest-set-time, guest-get-timezone. */
#include <errno.h>
#include <inttypes.h>
#include <sys/time.h>
#include <time.h>

#include "ctx.h"
#include "qga-schema-gen.h"
#include "run.h"

#define NSEC_PER_SEC	1000000000LL
#define NSEC_PER_USEC	1000LL
/* qemu-ga refuses times outside these years (local time). */
#define SET_TIME_YEAR_MIN	1970
#define SET_TIME_YEAR_END	2070
#define HWCLOCK_PATH		"/sbin/hwclock"

json_t *
qmp_guest_get_time(struct qga_ctx *ctx, struct qga_error *err)
{
	struct timespec ts;

	(void)ctx;
	if (clock_gettime(CLOCK_REALTIME, &ts) < 0) {
		qga_error_set_errno(err, errno, "Failed to get time");
		return NULL;
	}
	/* qemu-ga's clock has microsecond resolution; so has this answer. */
	return json_integer((json_int_t)ts.tv_sec * NSEC_PER_SEC +
	    (json_int_t)(ts.tv_nsec / NSEC_PER_USEC) * NSEC_PER_USEC);
}

json_t *
qmp_guest_set_time(const struct qga_args_guest_set_time *args,
    struct qga_ctx *ctx, struct qga_error *err)
{
	const char *argv[] = { HWCLOCK_PATH, args->has_time ? "-w" : "-s", NULL };

	(void)ctx;
	if (args->has_time) {
		int64_t sec = args->time / NSEC_PER_SEC;
		struct timeval tv;
		struct tm tm;
		time_t t;

		if (sec != (int64_t)(time_t)sec) {
			qga_error_set(err, "Time %" PRId64 " is too large", args->time);
			return NULL;
		}
		t = (time_t)sec;
		tv.tv_sec = t;
		tv.tv_usec = (suseconds_t)(args->time % NSEC_PER_SEC / NSEC_PER_USEC);
		tzset();
		if (localtime_r(&t, &tm) == NULL ||
		    tm.tm_year + 1900 < SET_TIME_YEAR_MIN ||
		    tm.tm_year + 1900 >= SET_TIME_YEAR_END) {
			qga_error_set(err, "Invalid time");
			return NULL;
		}
		if (settimeofday(&tv, NULL) < 0) {
			qga_error_set_errno(err, errno, "Failed to set time to guest");
			return NULL;
		}
	}
	/* With a time, the RTC follows the system clock (-w); without one,
	 * the system clock is set from the RTC (-s). */
	if (qga_run_command(argv, NULL, 0, "set hardware clock to system time",
	    err) < 0)
		return NULL;
	return json_object();
}

json_t *
qmp_guest_get_timezone(struct qga_ctx *ctx, struct qga_error *err)
{
	time_t now = time(NULL);
	struct tm tm;
	json_t *ret;

	(void)ctx;
	/* Re-read TZ and /etc/localtime: they may change while we run. */
	tzset();
	if (localtime_r(&now, &tm) == NULL) {
		qga_error_set(err, "Couldn't retrieve local timezone");
		return NULL;
	}
	ret = json_pack("{s:I}", "offset", (json_int_t)tm.tm_gmtoff);
	if (tm.tm_zone)
		json_object_set_new(ret, "zone", json_string(tm.tm_zone));
	return ret;
}

/* Logging: "<seconds>.<microseconds>: <level>: <message>" lines, or syslog. */
#include <paths.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static FILE *log_stream;
static bool log_syslog;
static bool log_paused;
static unsigned log_levels = QGA_LOG_DEFAULT;

void
qga_log_open(FILE *stream, bool use_syslog, unsigned levels)
{
	log_stream = stream;
	log_syslog = use_syslog;
	log_levels = levels;
	if (use_syslog)
		openlog("qgad", LOG_PID, LOG_DAEMON);
}

void
qga_log_pause(bool paused)
{
	log_paused = paused;
}

static const char *
level_name(enum qga_log_level level)
{
	switch (level) {
	case QGA_LOG_ERROR: return "error";
	case QGA_LOG_CRITICAL: return "critical";
	case QGA_LOG_WARNING: return "warning";
	case QGA_LOG_MESSAGE: return "message";
	case QGA_LOG_INFO: return "info";
	default: return "debug";
	}
}

static int
syslog_priority(enum qga_log_level level)
{
	switch (level) {
	case QGA_LOG_ERROR: return LOG_ERR;
	case QGA_LOG_CRITICAL: return LOG_CRIT;
	case QGA_LOG_WARNING: return LOG_WARNING;
	case QGA_LOG_MESSAGE: return LOG_NOTICE;
	case QGA_LOG_INFO: return LOG_INFO;
	default: return LOG_DEBUG;
	}
}

/*
 * With no syslog socket, every vsyslog() costs glibc a socket(), connect()
 * and close() only to drop the message (guest-ping logs on every call).
 * Look for the socket at most once a second instead; with one, vsyslog()
 * runs as before and glibc keeps its connection.
 */
static bool
syslog_present(void)
{
	static time_t next_check;
	static bool present;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	if (now.tv_sec >= next_check) {
		present = access(_PATH_LOG, F_OK) == 0;
		next_check = now.tv_sec + 1;
	}
	return present;
}

void
qga_log(enum qga_log_level level, const char *fmt, ...)
{
	struct timeval tv;
	va_list ap;

	if (log_paused || !(level & log_levels))
		return;
	va_start(ap, fmt);
	if (log_syslog)
		vsyslog(syslog_priority(level), fmt, ap);
	else if (log_stream) {
		gettimeofday(&tv, NULL);
		fprintf(log_stream, "%ld.%06ld: %s: ", (long)tv.tv_sec,
		    (long)tv.tv_usec, level_name(level));
		vfprintf(log_stream, fmt, ap);
		fputc('\n', log_stream);
		fflush(log_stream);
	}
	va_end(ap);
}

void
qga_slog(const char *fmt, ...)
{
	va_list ap;

	if (log_paused || !syslog_present())
		return;
	va_start(ap, fmt);
	vsyslog(LOG_INFO, fmt, ap);
	va_end(ap);
}

void
qga_log_close(void)
{
	if (log_stream && log_stream != stderr)
		fclose(log_stream);
	log_stream = NULL;
	if (log_syslog)
		closelog();
}

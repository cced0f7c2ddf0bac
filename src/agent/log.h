/* Agent logging in qemu-ga's format and levels. */
#ifndef QGA_LOG_H
#define QGA_LOG_H

#include <stdbool.h>
#include <stdio.h>

enum qga_log_level {
	QGA_LOG_ERROR	 = 1 << 0,
	QGA_LOG_CRITICAL = 1 << 1,
	QGA_LOG_WARNING	 = 1 << 2,
	QGA_LOG_MESSAGE	 = 1 << 3,
	QGA_LOG_INFO	 = 1 << 4,
	QGA_LOG_DEBUG	 = 1 << 5,
};

/* qemu-ga logs only errors by default; qgad adds warnings, so that the
 * once-per-session warning about clients that do not negotiate is seen. */
#define QGA_LOG_DEFAULT	(QGA_LOG_ERROR | QGA_LOG_CRITICAL | QGA_LOG_WARNING)
#define QGA_LOG_ALL	0x3f

/* Where log lines go: a stream (stderr or the log file), or syslog. */
void	qga_log_open(FILE *stream, bool use_syslog, unsigned levels);
/* While filesystems are frozen nothing may be written: logging pauses. */
void	qga_log_pause(bool paused);
void	qga_log(enum qga_log_level level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* A command's audit line, sent to syslog like qemu-ga's slog(). */
void	qga_slog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	qga_log_close(void);

#endif

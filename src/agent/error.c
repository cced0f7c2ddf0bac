/* Command errors. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

static void
verror(struct qga_error *e, const char *cls, int errnum, const char *fmt,
    va_list ap)
{
	char *msg = NULL, *full = NULL;

	if (e == NULL || e->cls != NULL)
		return;
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	if (msg && errnum && asprintf(&full, "%s: %s", msg, strerror(errnum)) >= 0) {
		free(msg);
		msg = full;
	}
	e->cls = cls;
	e->desc = msg;
}

void
qga_error_set(struct qga_error *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror(e, QGA_ERR_GENERIC, 0, fmt, ap);
	va_end(ap);
}

void
qga_error_set_class(struct qga_error *e, const char *cls, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror(e, cls, 0, fmt, ap);
	va_end(ap);
}

void
qga_error_set_errno(struct qga_error *e, int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror(e, QGA_ERR_GENERIC, errnum, fmt, ap);
	va_end(ap);
}

bool
qga_error_isset(const struct qga_error *e)
{
	return e->cls != NULL;
}

void
qga_error_clear(struct qga_error *e)
{
	free(e->desc);
	e->desc = NULL;
	e->cls = NULL;
}

/* Paths under /sys and /proc, bounded reply lists: see sysinfo.h. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sysinfo.h"

static int
vpath(char *buf, size_t size, const char *env, const char *dflt,
    const char *fmt, va_list ap)
{
	const char *root = getenv(env);
	int n, m;

	if (root == NULL || *root == '\0')
		root = dflt;
	n = snprintf(buf, size, "%s", root);
	if (n < 0 || (size_t)n >= size)
		goto toolong;
	m = vsnprintf(buf + n, size - (size_t)n, fmt, ap);
	if (m < 0 || (size_t)m >= size - (size_t)n)
		goto toolong;
	return 0;
toolong:
	errno = ENAMETOOLONG;
	return -1;
}

int
sysinfo_sys_path(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vpath(buf, size, SYSINFO_SYSFS_ENV, "/sys", fmt, ap);
	va_end(ap);
	return r;
}

int
sysinfo_proc_path(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vpath(buf, size, SYSINFO_PROCFS_ENV, "/proc", fmt, ap);
	va_end(ap);
	return r;
}

void
sysinfo_list_init(struct sysinfo_list *l, const char *what)
{
	l->array = json_array();
	l->bytes = 2;	/* "[]" */
	l->what = what;
	l->truncated = false;
}

bool
sysinfo_list_add(struct sysinfo_list *l, json_t *elem)
{
	/* The agent writes replies with ENSURE_ASCII and ", " separators. */
	size_t n = json_dumpb(elem, NULL, 0, JSON_ENSURE_ASCII | JSON_ENCODE_ANY);

	if (l->array == NULL || elem == NULL)
		goto drop;
	n += 2;	/* ", " */
	if (l->truncated || n > SYSINFO_REPLY_BUDGET - l->bytes) {
		if (!l->truncated)
			qga_log(QGA_LOG_WARNING, "%s: reply truncated to %zu "
			    "entries to stay under %u bytes", l->what,
			    json_array_size(l->array), SYSINFO_REPLY_BUDGET);
		l->truncated = true;
		goto drop;
	}
	if (json_array_append_new(l->array, elem) < 0)
		return false;
	l->bytes += n;
	return true;
drop:
	json_decref(elem);
	return false;
}

void
sysinfo_array_reverse(json_t *array)
{
	size_t n = json_array_size(array);

	for (size_t i = 0; i < n / 2; i++) {
		json_t *a = json_incref(json_array_get(array, i));
		json_t *b = json_incref(json_array_get(array, n - 1 - i));

		json_array_set_new(array, i, b);
		json_array_set_new(array, n - 1 - i, a);
	}
}

long long
sysinfo_parse_ll(const char *s)
{
	char *end;
	long long v;

	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0)
		return -1;
	return v;
}

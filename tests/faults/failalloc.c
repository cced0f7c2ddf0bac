/*
 * LD_PRELOAD shim that makes exactly one allocation fail: the Nth one
 * after the agent accepts a client. N is read from the file named by
 * QGA_FAILALLOC_CTL at every accept (0 or a missing file: no failure), so
 * one agent can be driven through N = 1, 2, 3... one connection each.
 * A program with no accept (a client) arms it itself: failalloc_arm(),
 * found with dlsym(3).
 * When the failure is injected, "N\n" is appended to QGA_FAILALLOC_LOG,
 * and with QGA_FAILALLOC_BACKTRACE set the stack goes to stderr.
 *
 * Covered: malloc, calloc, realloc, reallocarray, strdup, strndup,
 * asprintf, vasprintf, posix_memalign, aligned_alloc (libc's own internal
 * allocations do not go through these symbols, so the string and stdio
 * functions are wrapped by name). Linux/glibc only; test code.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static long fail_at;		/* 0: disarmed */
static long count;

static long
read_ctl(void)
{
	const char *path = getenv("QGA_FAILALLOC_CTL");
	char buf[32];
	long n = 0;
	ssize_t len;
	int fd;

	if (path == NULL || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return 0;
	buf[len] = '\0';
	for (char *p = buf; *p >= '0' && *p <= '9'; p++)
		n = n * 10 + (*p - '0');
	return n;
}

static void
note_failure(long n)
{
	const char *path = getenv("QGA_FAILALLOC_LOG");
	char buf[32], *p = buf + sizeof(buf);
	int fd;

	if (path == NULL || (fd = open(path, O_WRONLY | O_APPEND | O_CREAT |
	    O_CLOEXEC, 0600)) < 0)
		return;
	*--p = '\n';
	do
		*--p = (char)('0' + n % 10);
	while ((n /= 10) > 0);
	if (write(fd, p, (size_t)(buf + sizeof(buf) - p)) < 0)
		(void)0;
	close(fd);
}

/* True when this allocation is the one to fail. */
static int
should_fail(void)
{
	if (fail_at == 0)
		return 0;
	if (++count != fail_at)
		return 0;
	fail_at = 0;
	note_failure(count);
	if (getenv("QGA_FAILALLOC_BACKTRACE")) {
		void *frames[32];
		backtrace_symbols_fd(frames, backtrace(frames, 32), 2);
	}
	errno = ENOMEM;
	return 1;
}

/*
 * Fail the nth allocation from now (0: disarm). Returns the previous
 * arming, nonzero when it never fired.
 */
long
failalloc_arm(long n)
{
	long prev = fail_at;

	count = 0;
	fail_at = n;
	return prev;
}

int
accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	int rc = (int)syscall(SYS_accept4, fd, addr, len, flags);

	if (rc >= 0) {
		count = 0;
		fail_at = read_ctl();
	}
	return rc;
}

int
accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return accept4(fd, addr, len, 0);
}

void *
malloc(size_t n)
{
	return should_fail() ? NULL : __libc_malloc(n);
}

void *
calloc(size_t a, size_t b)
{
	return should_fail() ? NULL : __libc_calloc(a, b);
}

void *
realloc(void *p, size_t n)
{
	/* realloc(p, 0) frees; failing it would be a different contract. */
	if (n && should_fail())
		return NULL;
	return __libc_realloc(p, n);
}

void *
reallocarray(void *p, size_t a, size_t b)
{
	if (b && a > (size_t)-1 / b) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, a * b);
}

int
posix_memalign(void **out, size_t align, size_t n)
{
	void *p;

	if (should_fail())
		return ENOMEM;
	p = __libc_memalign(align, n);
	if (p == NULL)
		return ENOMEM;
	*out = p;
	return 0;
}

void *
aligned_alloc(size_t align, size_t n)
{
	return should_fail() ? NULL : __libc_memalign(align, n);
}

char *
strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = malloc(n);

	return p ? memcpy(p, s, n) : NULL;
}

char *
strndup(const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	char *p = malloc(n + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

int
vasprintf(char **out, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || (*out = malloc((size_t)n + 1)) == NULL)
		return -1;
	return vsnprintf(*out, (size_t)n + 1, fmt, ap);
}

int
asprintf(char **out, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(out, fmt, ap);
	va_end(ap);
	return n;
}

/* backtrace() loads libgcc on first use; do that before anything fails. */
__attribute__((constructor)) static void
preload_backtrace(void)
{
	void *frame;

	if (getenv("QGA_FAILALLOC_BACKTRACE"))
		backtrace(&frame, 1);
}

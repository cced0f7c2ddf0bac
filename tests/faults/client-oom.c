/*
 * client-oom: libqga with one allocation failing (failalloc.c preloaded).
 * For each call kind and N = 1, 2, 3...: connect, queue the call with
 * qga_call_async(), and fail the Nth allocation made from then until the
 * call has completed; stop when a run completes without reaching N.
 *
 * Each run must keep libqga's promises: the callback never runs inside
 * qga_call_async(), it runs exactly once (a failed qga_call_async() runs
 * none), a call that succeeds carries the right answer, and none is left
 * waiting for its timeout.
 *
 *	client-oom SOCKET [KIND N]	(KIND N: that one run only)
 */
#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libqga.h"

/* One failed allocation must end the call at once, with an answer or an
 * error: a call left to its timeout means a reply or request was lost. */
#define CALL_TIMEOUT_MS	2000
#define MAX_RUNS	100000

struct outcome {
	int	 calls;		/* callbacks run */
	int	 err;
	json_t	*ret;		/* the reply's return member, when any */
};

static long (*arm)(long);
static int inside_call_async;
static int failures;

static void
fail(const char *kind, long n, const char *what)
{
	fprintf(stderr, "%s, allocation %ld failing: %s\n", kind, n, what);
	failures++;
}

static void
on_reply(struct qga_client *c, int err, struct qga_reply *r, void *opaque)
{
	struct outcome *o = opaque;

	(void)c;
	if (inside_call_async) {
		fprintf(stderr, "callback ran inside qga_call_async()\n");
		failures++;
	}
	o->calls++;
	o->err = err;
	if (err == 0 && r && !qga_reply_is_error(r))
		o->ret = json_incref(qga_reply_return(r));
	qga_reply_free(r);
}

static int64_t
now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Drive the client until the call completes; 0 when it did in time. */
static int
drive(struct qga_client *c, const struct outcome *o)
{
	int64_t end = now_ms() + CALL_TIMEOUT_MS + 2000;
	struct pollfd p;
	int t;

	while (o->calls == 0 && now_ms() < end) {
		p.fd = qga_get_fd(c);
		p.events = qga_get_events(c);
		p.revents = 0;
		t = qga_get_timeout(c);
		if (t < 0 || t > 100)
			t = 100;
		if (poll(&p, 1, t) < 0 && errno != EINTR)
			return -1;
		if (qga_process(c, p.revents) < 0 && o->calls == 0)
			return -1;	/* broken, yet the call never completed */
	}
	return o->calls ? 0 : -1;
}

/* One run; returns 1 when the failure was never reached. */
static int
run(const char *sock, const char *kind, long n)
{
	struct outcome o = { 0 };
	char err[QGA_ERRSTR_SIZE];
	struct qga_client *c;
	json_t *args = NULL, *want = NULL;
	long unreached;
	int r;

	if (qga_connect_unix(sock, 5000, &c, err) < 0) {
		fprintf(stderr, "connect: %s\n", err);
		failures++;
		return 1;
	}
	if (strcmp(kind, "guest-sync") == 0) {
		args = json_pack("{s:I}", "id", (json_int_t)n);
		want = json_integer(n);
	}
	inside_call_async = 1;
	arm(n);
	r = qga_call_async(c, kind, args, 0, CALL_TIMEOUT_MS, on_reply, &o);
	inside_call_async = 0;
	if (r < 0 && o.calls)
		fail(kind, n, "qga_call_async() failed and ran the callback");
	else if (r == 0 && drive(c, &o) < 0)
		fail(kind, n, "the call never completed");
	unreached = arm(0);
	qga_free(c);
	if (r == 0 && o.calls != 1)
		fail(kind, n, "the callback did not run exactly once");
	if (o.err == -ETIMEDOUT)
		fail(kind, n, "the call was left to time out");
	if (o.err == 0 && r == 0 && (o.ret == NULL ||
	    (want && !json_equal(o.ret, want)) ||
	    (!want && !json_is_object(o.ret))))
		fail(kind, n, "success with a wrong answer");
	json_decref(o.ret);
	json_decref(args);
	json_decref(want);
	return unreached != 0;
}

int
main(int argc, char **argv)
{
	static const char *const kinds[] = { "guest-sync", "guest-info" };
	long n;
	size_t i;

	if (argc != 2 && argc != 4) {
		fprintf(stderr, "usage: client-oom SOCKET [KIND N]\n");
		return 2;
	}
	*(void **)&arm = dlsym(RTLD_DEFAULT, "failalloc_arm");
	if (arm == NULL) {
		fprintf(stderr, "failalloc.so is not preloaded\n");
		return 2;
	}
	if (argc == 4) {
		run(argv[1], argv[2], strtol(argv[3], NULL, 10));
		return failures ? 1 : 0;
	}
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		for (n = 1; n < MAX_RUNS; n++)
			if (run(argv[1], kinds[i], n))
				break;
		printf("%s: %ld runs, allocation 1..%ld failed in turn\n",
		    kinds[i], n, n - 1);
		if (n == 1 || n == MAX_RUNS)
			failures++;
	}
	printf("%d failures\n", failures);
	return failures ? 1 : 0;
}

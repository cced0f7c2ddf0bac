/* Running a helper program (shutdown, hwclock, chpasswd, the fsfreeze hook)
 * and turning its failure into qemu-ga's error texts. */
#ifndef QGA_RUN_H
#define QGA_RUN_H

#include <stddef.h>

#include "error.h"

/* At most this much of a helper's output is kept for an error message. */
#define QGA_RUN_OUTPUT_MAX	(64 * 1024)

/*
 * Run argv[0] (searched in PATH) with argv, feeding input (may be NULL) on
 * stdin and collecting stdout and stderr together. Returns 0 when it exits
 * with status 0; otherwise -1 with err set, e.g. "child process has failed
 * to <action>: <output>". Synchronous: for short-lived helpers only.
 */
int	qga_run_command(const char *const argv[], const void *input, size_t inlen,
	    const char *action, struct qga_error *err);

#endif

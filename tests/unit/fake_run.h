/* A stand-in for qga_run_command (linked with -Wl,--wrap=qga_run_command):
 * it records what would have run and answers as the test says. */
#ifndef FAKE_RUN_H
#define FAKE_RUN_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "error.h"

#define FAKE_MAX_ARGS	8
#define FAKE_MAX_TEXT	512

struct fake_run {
	int	 calls;
	int	 argc;
	char	 argv[FAKE_MAX_ARGS][FAKE_MAX_TEXT];
	char	 input[FAKE_MAX_TEXT];
	size_t	 inlen;
	bool	 has_input;
	char	 action[FAKE_MAX_TEXT];
	/* When set, the run fails with this text. */
	const char *fail;
};

static struct fake_run fake_run;

int __wrap_qga_run_command(const char *const argv[], const void *input,
    size_t inlen, const char *action, struct qga_error *err);

int
__wrap_qga_run_command(const char *const argv[], const void *input,
    size_t inlen, const char *action, struct qga_error *err)
{
	fake_run.calls++;
	fake_run.argc = 0;
	for (int i = 0; argv[i]; i++) {
		assert_true(i < FAKE_MAX_ARGS);
		snprintf(fake_run.argv[i], FAKE_MAX_TEXT, "%s", argv[i]);
		fake_run.argc++;
	}
	fake_run.has_input = input != NULL;
	assert_true(inlen < FAKE_MAX_TEXT);
	if (input)
		memcpy(fake_run.input, input, inlen);
	fake_run.input[inlen] = '\0';
	fake_run.inlen = inlen;
	snprintf(fake_run.action, FAKE_MAX_TEXT, "%s", action);
	if (fake_run.fail) {
		qga_error_set(err, "%s", fake_run.fail);
		return -1;
	}
	return 0;
}

static void
fake_run_reset(void)
{
	memset(&fake_run, 0, sizeof(fake_run));
}

/* The recorded argv, space-joined, for one-line comparisons. */
static const char *
fake_run_argv(void)
{
	static char line[FAKE_MAX_ARGS * FAKE_MAX_TEXT];

	line[0] = '\0';
	for (int i = 0; i < fake_run.argc; i++) {
		if (i)
			strcat(line, "|");
		strcat(line, fake_run.argv[i]);
	}
	return line;
}

/* Check a handler's error and free it. */
static void
expect_error(struct qga_error *err, const char *desc)
{
	assert_non_null(err->cls);
	assert_string_equal(err->cls, QGA_ERR_GENERIC);
	assert_string_equal(err->desc, desc);
	qga_error_clear(err);
}

#endif

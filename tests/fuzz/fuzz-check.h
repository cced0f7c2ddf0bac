/* The harnesses' invariant check: a failed one traps, so libFuzzer (and
 * the corpus replay) reports it as a crash with its input. */
#ifndef FUZZ_CHECK_H
#define FUZZ_CHECK_H

#include <stdio.h>

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #cond);					\
		__builtin_trap();					\
	}								\
} while (0)

#endif

/* The qga CLI: shared state and helpers for the verb files. */
#ifndef QGA_CLI_H
#define QGA_CLI_H

#include <stdio.h>

#include "libqga.h"

/* Default per-call and connect timeout, seconds. */
#define CLI_DEFAULT_TIMEOUT_S	10.0
/* How long shutdown/suspend wait for an error before counting silence as
 * success, milliseconds (capped by --timeout). */
#define CLI_NOREPLY_WAIT_MS	2000
/* Bytes per guest-file-read / guest-file-write with agents that do not
 * report their limits: qemu-ga 7.2 moves 64 KiB chunks about four times
 * faster than 1 MiB ones (measured on a unix socket). */
#define CLI_FILE_CHUNK		(64u << 10)
/* With an agent that reports its limits (qga-get-limits): the largest chunk
 * it allows, but at most this much, which bounds the CLI's memory (a chunk,
 * its base64 and jansson's copy) and keeps progress moving. */
#define CLI_FILE_CHUNK_MAX	(1u << 20)
/* Room left in a guest-file-write request for everything but the base64. */
#define CLI_WRITE_OVERHEAD	1024
/* Files at least this large get a progress bar on a terminal. */
#define CLI_PROGRESS_MIN	(4u << 20)
/* Bytes of stdin that exec forwards as input-data. */
#define CLI_EXEC_MAX_INPUT	(16u << 20)
/* exec status polling: first and longest interval, milliseconds. */
#define CLI_EXEC_POLL_MIN_MS	10
#define CLI_EXEC_POLL_MAX_MS	500
/* Streaming exec (incremental guest-exec-status) polls at most this far
 * apart for output; the GUEST_EXEC_EXITED event ends the wait at once. */
#define CLI_EXEC_STREAM_MAX_MS	200
/* exec --json while streaming keeps at most this much of each stream for the
 * final status (the per-stream cap of a legacy agent's single status);
 * the rest is dropped and the stream is flagged truncated. */
#define CLI_EXEC_JSON_OUTPUT_MAX	(16u << 20)
/* Longest line in qga shell. */
#define CLI_SHELL_MAX_WORDS	64

/* Exit codes (sysexits-like where it matters). */
#define CLI_EXIT_OK		0
#define CLI_EXIT_FAIL		1	/* the agent returned an error */
#define CLI_EXIT_USAGE		2
#define CLI_EXIT_CONN		3	/* connect, I/O or timeout */

/* What qga asks a negotiating agent for (see qga(1)). */
#define CLI_CAPABILITIES	{ "oob", "events", NULL }

struct cli {
	struct qga_client	*c;
	int			 json;
	int			 timeout_ms;
	const char		*prog;
};

struct verb {
	const char	*name;
	int		 min_args, max_args;	/* max -1: unlimited */
	const char	*usage;
	int		(*fn)(struct cli *, int argc, char **argv);
};

extern const struct verb cli_verbs[];

/* Run a verb line (argv[0] is the verb); returns an exit code. */
int	 cli_run_verb(struct cli *cli, int argc, char **argv);

/* Call name and return its "return" value (a new reference), or NULL after
 * printing the error. *rc gets the exit code for a failure. */
json_t	*cli_call(struct cli *cli, const char *name, json_t *args, int *rc);
/* cli_call() with QGA_CALL_* flags (QGA_CALL_OOB for status queries). */
json_t	*cli_call_flags(struct cli *cli, const char *name, json_t *args,
	    unsigned flags, int *rc);
/* The second half of cli_call(): the result r of a qga call and its reply
 * (consumed) to a return value, or NULL after printing the error. */
json_t	*cli_reply_value(struct cli *cli, const char *name, int r,
	    struct qga_reply *reply, int *rc);
/* The same for a command the agent answers only on failure. */
int	 cli_call_noreply(struct cli *cli, const char *name, json_t *args);
/* Print a value as JSON (--json output). */
void	 cli_print_json(json_t *v);
void	 cli_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A simple aligned table: cells are copied. */
struct table;
struct table *table_new(int ncols, ...);
void	 table_add(struct table *t, ...);
void	 table_print(struct table *t, FILE *f);
void	 table_free(struct table *t);

int	 cli_shell(struct cli *cli, int argc, char **argv);
int	 verb_exec(struct cli *cli, int argc, char **argv);
int	 verb_cat(struct cli *cli, int argc, char **argv);
int	 verb_get(struct cli *cli, int argc, char **argv);
int	 verb_put(struct cli *cli, int argc, char **argv);

#endif

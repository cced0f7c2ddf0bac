/*
 * libFuzzer harness for the dispatcher: bytes through the JSON reader, every
 * message through agent_dispatch() with every command of the schema
 * registered (side-effect-free stubs from gen-stubs.py stand in for the
 * handlers that are not safe to run here), under each negotiation policy,
 * frozen or not, with a block list or not. The first input byte picks the
 * setup. Checked on every reply: the shape, the two error classes, the id
 * echo, and that under the optional policy a legacy request is never
 * refused for want of negotiation.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "fuzz-check.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define NPOLICIES	3

static struct qga_config cfgs[NPOLICIES][2];
static struct qga_ctx ctxs[NPOLICIES][2];
static struct client *clients[NPOLICIES][2];
static char blocked_ping[] = "guest-ping", blocked_open[] = "guest-file-open";
static char *blocked[] = { blocked_ping, blocked_open };


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char tmpl[] = "/tmp/qga-fuzz-XXXXXX";
	const char *dir;

	(void)argc;
	(void)argv;
	dir = mkdtemp(tmpl);
	if (dir == NULL)
		abort();
	/* No syslog traffic from guest-ping at a million execs a second. */
	qga_log_pause(true);
	for (int p = 0; p < NPOLICIES; p++)
		for (int b = 0; b < 2; b++) {
			struct qga_config *cfg = &cfgs[p][b];
			struct qga_ctx *a = &ctxs[p][b];

			cfg->negotiation = (enum qga_negotiation)p;
			cfg->statedir = strdup(dir);
			cfg->listen_fd = -1;
			if (b) {
				cfg->block_rpcs.v = blocked;
				cfg->block_rpcs.n = 2;
			}
			a->cfg = cfg;
			cfg->max_clients = 1;
			a->ch.fd = -1;
			a->ch.listen_fd = -1;
			if (qga_state_init(&a->state, dir) < 0)
				abort();
			/* A client without a connection: replies are only
			 * checked, never written. */
			clients[p][b] = client_new(a, -1, false);
			if (clients[p][b] == NULL)
				abort();
			agent_commands_init(a);
			/* The stubs must have registered the whole schema. */
			if (a->ncmds != QGA_SCHEMA_MAX_COMMANDS -
			    (p == QGA_NEGOTIATION_OFF ? 2 : 0))
				abort();
		}
	return 0;
}

static const struct qga_command *
find(struct qga_ctx *a, const char *name)
{
	const struct qga_command *cmds;
	size_t n = qga_ctx_commands(a, &cmds);

	for (size_t i = 0; i < n; i++)
		if (strcmp(cmds[i].name, name) == 0)
			return &cmds[i];
	return NULL;
}

static void
check_reply(struct qga_ctx *a, json_t *req, json_t *reply)
{
	const struct qga_command *cmd = NULL;
	json_t *exec = json_is_object(req) ? json_object_get(req, "execute") : NULL;
	json_t *id = json_is_object(req) ? json_object_get(req, "id") : NULL;
	json_t *e, *cls;
	char *text;

	if (json_is_string(exec))
		cmd = find(a, json_string_value(exec));
	if (reply == NULL) {
		/* Only a successful guest-shutdown or guest-suspend-* is silent. */
		CHECK(cmd && !cmd->success_response);
		return;
	}
	CHECK(json_is_object(reply));
	CHECK((json_object_get(reply, "return") != NULL) !=
	    (json_object_get(reply, "error") != NULL));
	CHECK(json_object_size(reply) == (id ? 2u : 1u));
	if (id)
		CHECK(json_equal(json_object_get(reply, "id"), id));
	text = json_dumps(reply, JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
	CHECK(text != NULL);
	free(text);
	e = json_object_get(reply, "error");
	if (e == NULL)
		return;
	cls = json_object_get(e, "class");
	CHECK(json_is_string(json_object_get(e, "desc")));
	CHECK(json_is_string(cls));
	CHECK(strcmp(json_string_value(cls), QGA_ERR_GENERIC) == 0 ||
	    strcmp(json_string_value(cls), QGA_ERR_NOT_FOUND) == 0);
	/* The optional policy never denies a legacy client service. */
	if (a->cfg->negotiation == QGA_NEGOTIATION_OPTIONAL && cmd &&
	    !cmd->handshake && !cmd->negotiated_only &&
	    qga_ctx_command_enabled(a, cmd))
		CHECK(strcmp(json_string_value(cls), QGA_ERR_NOT_FOUND) != 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qga_ctx *a;
	struct client *c;
	json_t *msg, *reply;
	char *err;

	if (size < 1)
		return 0;
	a = &ctxs[data[0] % NPOLICIES][(data[0] >> 2) & 1];
	c = clients[data[0] % NPOLICIES][(data[0] >> 2) & 1];
	a->frozen = (data[0] >> 3) & 1;
	client_reset(c);
	json_stream_feed(c->stream, data + 1, size - 1);
	while (json_stream_next(c->stream, &msg, &err)) {
		if (msg) {
			reply = agent_dispatch(a, c, msg);
			check_reply(a, msg, reply);
			json_decref(msg);
		} else {
			reply = agent_error_reply(NULL, QGA_ERR_GENERIC, err);
			free(err);
			check_reply(a, NULL, reply);
		}
		json_decref(reply);
	}
	return 0;
}

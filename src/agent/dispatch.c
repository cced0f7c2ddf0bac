/*
 * From a parsed request to a reply: the request-shape checks, command
 * lookup, allow/block/freeze filters, the negotiation gate, argument
 * validation and the handler call, in qemu-ga's order and with its texts.
 */
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "log.h"
#include "utf8.h"

void
agent_commands_init(struct qga_ctx *a)
{
	const struct qga_config *cfg = a->cfg;
	size_t n = qga_schema_commands(a->cmds, QGA_SCHEMA_MAX_COMMANDS), k = 0;

	for (size_t i = 0; i < n; i++) {
		const struct qga_command *c = &a->cmds[i];
		bool allowed = true;

		/* With negotiation off the handshake does not exist at all. */
		if (c->handshake && cfg->negotiation == QGA_NEGOTIATION_OFF)
			continue;
		if (cfg->allow_rpcs.n)
			allowed = strlist_has(&cfg->allow_rpcs, c->name);
		if (strlist_has(&cfg->block_rpcs, c->name))
			allowed = false;
		a->cmds[k] = *c;
		a->allowed[k++] = allowed;
		if (!allowed)
			qga_log(QGA_LOG_DEBUG, "disabling command: %s", c->name);
	}
	a->ncmds = k;
}

bool
qga_ctx_command_enabled(struct qga_ctx *a, const struct qga_command *cmd)
{
	size_t i = (size_t)(cmd - a->cmds);

	if (i >= a->ncmds)
		return false;
	/* While frozen exactly the freeze-safe commands run, whatever the
	 * lists say (qemu-ga 9.1+). */
	if (a->frozen)
		return cmd->freeze_safe;
	return a->allowed[i];
}

size_t
qga_ctx_commands(struct qga_ctx *a, const struct qga_command **cmds)
{
	*cmds = a->cmds;
	return a->ncmds;
}

static const struct qga_command *
lookup(struct qga_ctx *a, const char *name)
{
	for (size_t i = 0; i < a->ncmds; i++)
		if (strcmp(a->cmds[i].name, name) == 0)
			return &a->cmds[i];
	return NULL;
}

json_t *
agent_error_reply(const json_t *id, const char *cls, const char *desc)
{
	json_t *r = json_object();
	/* jansson refuses invalid UTF-8 (a guest file name in an error text,
	 * a quoted input byte): repair it rather than send an empty object. */
	char *clean = desc ? utf8_sanitize(desc, strlen(desc)) : NULL;

	if (id)
		json_object_set(r, "id", (json_t *)id);
	json_object_set_new(r, "error", json_pack("{s:s,s:s}", "class", cls,
	    "desc", clean ? clean : desc ? desc : ""));
	free(clean);
	return r;
}

static json_t *
fail(const json_t *id, struct qga_error *err)
{
	json_t *r = agent_error_reply(id, err->cls, err->desc);

	qga_error_clear(err);
	return r;
}

/* A name for an error text: a C string cannot hold its NULs, so they
 * show as U+FFFD (qemu's text has the NUL itself). */
static const char *
nul_visible(const char *s, size_t len, char **shown)
{
	*shown = utf8_sanitize(s, len);
	return *shown ? *shown : s;
}

static bool
is_sync(const struct qga_command *cmd)
{
	return strcmp(cmd->name, "guest-sync") == 0 ||
	    strcmp(cmd->name, "guest-sync-delimited") == 0;
}

json_t *
agent_dispatch(struct qga_ctx *a, json_t *req)
{
	struct qga_error err = { 0 };
	const struct qga_command *cmd;
	json_t *id, *args = NULL, *v, *ret, *reply;
	const char *key, *name = NULL;
	size_t keylen, namelen = 0;
	char *shown;
	bool warn;
	void *argbuf;

	if (!json_is_object(req)) {
		qga_error_set(&err, "QMP input must be a JSON object");
		return fail(NULL, &err);
	}
	id = json_object_get(req, "id");
	/* A name with a NUL in it is never the name its C prefix spells. */
	json_object_keylen_foreach(req, key, keylen, v) {
		if (keylen != strlen(key)) {
			qga_error_set(&err, "QMP input member '%s' is unexpected",
			    nul_visible(key, keylen, &shown));
			free(shown);
			return fail(id, &err);
		}
		if (strcmp(key, "execute") == 0) {
			if (!json_is_string(v)) {
				qga_error_set(&err, "QMP input member 'execute' must be a string");
				return fail(id, &err);
			}
			name = json_string_value(v);
			namelen = json_string_length(v);
		} else if (strcmp(key, "arguments") == 0) {
			if (!json_is_object(v)) {
				qga_error_set(&err, "QMP input member 'arguments' must be an object");
				return fail(id, &err);
			}
			args = v;
		} else if (strcmp(key, "id") != 0) {
			qga_error_set(&err, "QMP input member '%s' is unexpected", key);
			return fail(id, &err);
		}
	}
	if (name == NULL) {
		qga_error_set(&err, "QMP input lacks member 'execute'");
		return fail(id, &err);
	}
	cmd = namelen == strlen(name) ? lookup(a, name) : NULL;
	if (cmd == NULL) {
		qga_error_set_class(&err, QGA_ERR_NOT_FOUND,
		    "The command %s has not been found",
		    nul_visible(name, namelen, &shown));
		free(shown);
		return fail(id, &err);
	}
	if (!qga_ctx_command_enabled(a, cmd)) {
		qga_error_set_class(&err, QGA_ERR_NOT_FOUND,
		    "Command %s has been disabled: the command is not allowed", name);
		return fail(id, &err);
	}
	if (session_gate(&a->session, cmd, &warn, &err) < 0)
		return fail(id, &err);
	if (warn)
		qga_log(QGA_LOG_WARNING, "client did not negotiate: serving it as "
		    "a legacy qemu-ga client (policy %s); new clients should "
		    "send 'request-negotiation'",
		    qga_negotiation_name(a->cfg->negotiation));
	argbuf = cmd->args_size ? calloc(1, cmd->args_size) : NULL;
	if (cmd->args_size && argbuf == NULL) {
		qga_error_set(&err, "out of memory");
		return fail(id, &err);
	}
	if (qga_args_check(cmd, args, argbuf, &err) < 0) {
		free(argbuf);
		return fail(id, &err);
	}
	if (is_sync(cmd))
		session_sync(&a->session);
	qga_log(QGA_LOG_DEBUG, "running command: %s", cmd->name);
	ret = cmd->call(argbuf, a, &err);
	free(argbuf);
	if (qga_error_isset(&err)) {
		json_decref(ret);
		/* The sentinel belongs to a successful sync reply only. */
		a->delimit = false;
		return fail(id, &err);
	}
	if (!cmd->success_response) {
		json_decref(ret);
		return NULL;
	}
	if (ret == NULL)
		ret = json_object();
	reply = json_object();
	json_object_set_new(reply, "return", ret);
	if (id)
		json_object_set(reply, "id", id);
	return reply;
}

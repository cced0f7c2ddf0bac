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

/* Made at start-up, so that running out of memory still gets a reply. */
static json_t *oom_reply;

void
agent_commands_init(struct qga_ctx *a)
{
	const struct qga_config *cfg = a->cfg;
	size_t n = qga_schema_commands(a->cmds, QGA_SCHEMA_MAX_COMMANDS), k = 0;

	if (oom_reply == NULL)
		oom_reply = json_pack("{s:{s:s,s:s}}", "error", "class",
		    QGA_ERR_GENERIC, "desc", "out of memory");

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

bool
qga_ctx_command_visible(struct qga_ctx *a, const struct qga_command *cmd)
{
	struct job *j = agent_current_job();

	(void)a;
	if (!cmd->negotiated_only)
		return true;
	return j && j->client && j->client->session.state == SESSION_NEGOTIATED;
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
	 * a quoted input byte): repair it rather than send an empty object.
	 * No desc at all is what a failed allocation leaves. */
	char *clean = desc ? utf8_sanitize(desc, strlen(desc)) : NULL;

	if (r == NULL ||
	    (id && json_object_set(r, "id", (json_t *)id) < 0) ||
	    json_object_set_new(r, "error", json_pack("{s:s,s:s}", "class", cls,
	    "desc", clean ? clean : desc ? desc : "out of memory")) < 0) {
		json_decref(r);
		r = json_incref(oom_reply);
	}
	free(clean);
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

/* The job whose command runs on this thread: guest-sync-delimited marks
 * it, the handshake commands find their session through it. */
static _Thread_local struct job *current_job;

struct job *
agent_current_job(void)
{
	return current_job;
}

static struct job *
job_new(struct client *c, json_t *req)
{
	struct job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->client = c;
	j->gen = c ? c->gen : 0;
	j->req = json_incref(req);
	if (json_is_object(req))
		j->id = json_object_get(req, "id");
	j->done = true;		/* until a command is attached */
	return j;
}

void
job_free(struct job *j)
{
	if (j == NULL)
		return;
	json_decref(j->reply);
	deferred_free(j->def);
	json_decref(j->req);
	json_big_free(j->big);
	free(j->args);
	free(j);
}

static struct job *
job_fail(struct job *j, const json_t *id, struct qga_error *err)
{
	j->reply = agent_error_reply(id, err->cls, err->desc);
	qga_error_clear(err);
	return j;
}

struct job *
agent_prepare(struct qga_ctx *a, struct client *c, json_t *req,
    struct json_big *big)
{
	struct qga_error err = { 0 };
	const struct qga_command *cmd;
	struct session *sess = &c->session;
	json_t *id, *args = NULL, *v;
	const char *key, *name = NULL, *exec_key = NULL;
	size_t keylen, namelen = 0;
	char *shown;
	bool warn, oob_ok = (sess->enabled & QGA_CAP_OOB) != 0;
	struct job *j = job_new(c, req);

	if (j == NULL) {
		json_big_free(big);
		return NULL;
	}
	j->big = big;
	if (!json_is_object(req)) {
		qga_error_set(&err, "QMP input must be a JSON object");
		return job_fail(j, NULL, &err);
	}
	id = j->id;
	/* A name with a NUL in it is never the name its C prefix spells. */
	json_object_keylen_foreach(req, key, keylen, v) {
		if (keylen != strlen(key)) {
			qga_error_set(&err, "QMP input member '%s' is unexpected",
			    nul_visible(key, keylen, &shown));
			free(shown);
			return job_fail(j, id, &err);
		}
		if (strcmp(key, "execute") == 0 ||
		    (oob_ok && strcmp(key, "exec-oob") == 0)) {
			if (!json_is_string(v)) {
				qga_error_set(&err, "QMP input member '%s' must be a string", key);
				return job_fail(j, id, &err);
			}
			if (exec_key) {
				qga_error_set(&err, "QMP input member '%s' clashes with '%s'",
				    key, exec_key);
				return job_fail(j, id, &err);
			}
			exec_key = key;
			name = json_string_value(v);
			namelen = json_string_length(v);
		} else if (strcmp(key, "arguments") == 0) {
			if (!json_is_object(v)) {
				qga_error_set(&err, "QMP input member 'arguments' must be an object");
				return job_fail(j, id, &err);
			}
			args = v;
		} else if (strcmp(key, "id") != 0) {
			qga_error_set(&err, "QMP input member '%s' is unexpected", key);
			return job_fail(j, id, &err);
		}
	}
	if (name == NULL) {
		qga_error_set(&err, "QMP input lacks member 'execute'");
		return job_fail(j, id, &err);
	}
	j->oob = strcmp(exec_key, "exec-oob") == 0;
	cmd = namelen == strlen(name) ? lookup(a, name) : NULL;
	/* Our own extensions exist only for negotiated sessions: a legacy
	 * client sees exactly qemu-ga's command set. */
	if (cmd && cmd->negotiated_only && sess->state != SESSION_NEGOTIATED)
		cmd = NULL;	/* see qga_ctx_command_visible */
	if (cmd == NULL) {
		qga_error_set_class(&err, QGA_ERR_NOT_FOUND,
		    "The command %s has not been found",
		    nul_visible(name, namelen, &shown));
		free(shown);
		return job_fail(j, id, &err);
	}
	if (j->oob && !cmd->allow_oob) {
		qga_error_set(&err, "The command %s does not support OOB", name);
		return job_fail(j, id, &err);
	}
	/* Out-of-band replies come out of order: only an id pairs them up. */
	if (j->oob && id == NULL) {
		qga_error_set(&err, "An out-of-band command requires an 'id'");
		return job_fail(j, id, &err);
	}
	if (!qga_ctx_command_enabled(a, cmd)) {
		qga_error_set_class(&err, QGA_ERR_NOT_FOUND,
		    "Command %s has been disabled: the command is not allowed", name);
		return job_fail(j, id, &err);
	}
	if (session_gate(sess, cmd, &warn, &err) < 0)
		return job_fail(j, id, &err);
	if (warn)
		qga_log(QGA_LOG_WARNING, "client did not negotiate: serving it as "
		    "a legacy qemu-ga client (policy %s); new clients should "
		    "send 'request-negotiation'",
		    qga_negotiation_name(a->cfg->negotiation));
	j->args = cmd->args_size ? calloc(1, cmd->args_size) : NULL;
	if (cmd->args_size && j->args == NULL) {
		qga_error_set(&err, "out of memory");
		return job_fail(j, id, &err);
	}
	if (qga_args_check(cmd, args, &j->big, j->args,
	    sess->state == SESSION_NEGOTIATED, &err) < 0)
		return job_fail(j, id, &err);
	if (session_is_sync(cmd))
		session_sync(sess);
	j->cmd = cmd;
	j->done = false;
	return j;
}

void
agent_execute(struct qga_ctx *a, struct job *j)
{
	struct qga_error err = { 0 };
	struct job *outer = current_job;
	json_t *ret;

	if (j->done)
		return;
	qga_log(QGA_LOG_DEBUG, "running command: %s", j->cmd->name);
	current_job = j;
	ret = j->cmd->call(j->args, a, &err);
	current_job = outer;
	j->done = true;
	if (qga_error_isset(&err)) {
		json_decref(ret);
		/* The sentinel belongs to a successful sync reply only. */
		j->delimit = false;
		job_fail(j, j->id, &err);
		return;
	}
	if (!j->cmd->success_response) {
		json_decref(ret);
		return;
	}
	/* No value is '{}' for a command returning that; for any other it
	 * means the handler could not build its value. */
	if (ret == NULL && j->cmd->returns && j->cmd->returns->kind != QGA_T_EMPTY)
		goto oom;
	if (ret == NULL && (ret = json_object()) == NULL)
		goto oom;
	j->reply = json_object();
	if (j->reply == NULL) {
		json_decref(ret);
		goto oom;
	}
	if (json_object_set_new(j->reply, "return", ret) < 0 ||
	    (j->id && json_object_set(j->reply, "id", j->id) < 0)) {
		json_decref(j->reply);
		j->reply = NULL;
		goto oom;
	}
	return;
oom:
	qga_error_set(&err, "out of memory");
	job_fail(j, j->id, &err);
}

json_t *
agent_dispatch(struct qga_ctx *a, struct client *c, json_t *req)
{
	struct job *j = agent_prepare(a, c, req, NULL);
	json_t *reply;

	if (j == NULL)
		return agent_error_reply(NULL, QGA_ERR_GENERIC, "out of memory");
	agent_execute(a, j);
	/* No client writes this reply: the deferred member becomes a string. */
	if (j->def && deferred_materialize(j->def) < 0) {
		json_decref(j->reply);
		j->reply = agent_error_reply(j->id, QGA_ERR_GENERIC, "out of memory");
	}
	reply = json_incref(j->reply);
	job_free(j);
	return reply;
}

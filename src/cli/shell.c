/* qga shell: an interactive prompt with history and completion (libedit). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <histedit.h>

#include "cli.h"

/* Entries kept in the shell's history. */
#define SHELL_HISTORY_SIZE	500

static json_t *completions;	/* verbs and command names, for the prompt */

static const char *
prompt(EditLine *el)
{
	(void)el;
	return "qga> ";
}

static unsigned char
complete(EditLine *el, int ch)
{
	const LineInfo *li = el_line(el);
	const char *start = li->cursor, *match = NULL, *s;
	size_t len, i, n = 0, common = 0;
	json_t *v;

	(void)ch;
	while (start > li->buffer && !isspace((unsigned char)start[-1]))
		start--;
	len = (size_t)(li->cursor - start);
	json_array_foreach(completions, i, v) {
		s = json_string_value(v);
		if (strncmp(s, start, len) != 0)
			continue;
		if (match == NULL) {
			match = s;
			common = strlen(s);
		} else {
			size_t k = 0;
			while (k < common && match[k] == s[k])
				k++;
			common = k;
		}
		n++;
	}
	if (n == 0)
		return CC_ERROR;
	if (common > len) {
		char *add = strndup(match + len, common - len);
		if (add == NULL)
			return CC_ERROR;
		el_insertstr(el, add);
		free(add);
	}
	if (n == 1) {
		el_insertstr(el, " ");
		return CC_REFRESH;
	}
	if (common == len) {
		fputc('\n', stdout);
		json_array_foreach(completions, i, v)
			if (strncmp(json_string_value(v), start, len) == 0)
				printf("%s  ", json_string_value(v));
		fputc('\n', stdout);
		return CC_REDISPLAY;
	}
	return CC_REFRESH;
}

static void
load_completions(struct cli *cli)
{
	const struct verb *vb;
	struct qga_reply *reply;
	size_t i;
	json_t *v;
	int rc;

	completions = json_array();
	for (vb = cli_verbs; vb->name; vb++)
		json_array_append_new(completions, json_string(vb->name));
	json_array_append_new(completions, json_string("quit"));
	if (qga_server_class(cli->c) == QGA_SERVER_QMP) {
		json_t *ret = cli_call(cli, "query-commands", NULL, &rc);
		json_array_foreach(ret, i, v)
			json_array_append(completions, json_object_get(v,
			    "name"));
		json_decref(ret);
		return;
	}
	if (qga_call(cli->c, "guest-info", NULL, cli->timeout_ms, &reply) < 0)
		return;
	json_array_foreach(json_object_get(qga_reply_return(reply),
	    "supported_commands"), i, v)
		json_array_append(completions, json_object_get(v, "name"));
	qga_reply_free(reply);
}

/* $QGA_HISTORY, else ~/.qga_history; NULL when there is no home. */
static char *
history_path(void)
{
	const char *env = getenv("QGA_HISTORY"), *home = getenv("HOME");
	char *p;

	if (env && *env)
		return strdup(env);
	if (home == NULL || *home == '\0')
		return NULL;
	if (asprintf(&p, "%s/.qga_history", home) < 0)
		return NULL;
	return p;
}

int
cli_shell(struct cli *cli, int argc, char **argv)
{
	char *words[CLI_SHELL_MAX_WORDS + 1];
	const char *line;
	EditLine *el;
	HistEvent ev;
	History *hist;
	int count, rc = CLI_EXIT_OK, n;
	char *copy, *p, *hpath;

	(void)argc;
	load_completions(cli);
	el = el_init(argv[0], stdin, stdout, stderr);
	hist = history_init();
	history(hist, &ev, H_SETSIZE, SHELL_HISTORY_SIZE);
	hpath = history_path();
	if (hpath)
		history(hist, &ev, H_LOAD, hpath);	/* none yet is fine */
	el_set(el, EL_HIST, history, hist);
	el_set(el, EL_PROMPT, prompt);
	el_set(el, EL_EDITOR, "emacs");
	/*
	 * The wide call: libedit's narrow EL_ADDFN wcsdup()s the name and
	 * help and never frees them (a leak its source admits); the wide
	 * one keeps our static strings.
	 */
	el_wset(el, EL_ADDFN, L"qga-complete", L"complete a verb or command",
	    complete);
	el_set(el, EL_BIND, "^I", "qga-complete", NULL);
	while ((line = el_gets(el, &count)) != NULL) {
		copy = strdup(line);
		if (copy == NULL)
			break;
		n = 0;
		/* A "call" keeps its JSON argument as one word. */
		for (p = strtok(copy, " \t\n"); p && n < CLI_SHELL_MAX_WORDS;
		    p = strtok(NULL, n == 2 && strcmp(words[0], "call") == 0 ?
		    "\n" : " \t\n"))
			words[n++] = p;
		words[n] = NULL;
		if (n > 0) {
			history(hist, &ev, H_ENTER, line);
			if (strcmp(words[0], "quit") == 0 ||
			    strcmp(words[0], "exit") == 0) {
				free(copy);
				break;
			}
			if (strcmp(words[0], "shell") == 0)
				cli_warnx("already in the shell");
			else
				rc = cli_run_verb(cli, n, words);
			if (qga_ready(cli->c) < 0) {
				free(copy);
				break;
			}
		}
		free(copy);
	}
	if (hpath && history(hist, &ev, H_SAVE, hpath) < 0)
		cli_warnx("cannot save the history in %s", hpath);
	free(hpath);
	history_end(hist);
	el_end(el);
	json_decref(completions);
	completions = NULL;
	return rc;
}

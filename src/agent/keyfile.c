/* GLib key-file subset: enough for qemu-ga.conf and qga.state. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "keyfile.h"

struct entry {
	char	*group;
	char	*key;
	char	*value;
};

struct keyfile {
	struct entry	*e;
	size_t		 n;
};

static char *
trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

static char *
unescape(const char *v)
{
	struct buf b = { 0 };
	int r = 0;

	for (; *v && r == 0; v++) {
		char c = *v;
		if (c == '\\' && v[1]) {
			v++;
			switch (*v) {
			case 's': c = ' '; break;
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case '\\': c = '\\'; break;
			default: r = buf_putc(&b, '\\'); c = *v; break;
			}
		}
		if (r == 0)
			r = buf_putc(&b, c);
	}
	/* A value with a character missing would be a different setting. */
	if (r < 0) {
		buf_free(&b);
		return NULL;
	}
	return buf_steal(&b);
}

static char *
errf(const char *fmt, int line)
{
	char *p = NULL;

	if (asprintf(&p, fmt, line) < 0)
		return NULL;
	return p;
}

struct keyfile *
keyfile_parse(const char *text, char **err)
{
	struct keyfile *kf = calloc(1, sizeof(*kf));
	char *copy = strdup(text), *line, *save = NULL, *group = NULL;
	int lineno = 0;

	*err = NULL;
	if (kf == NULL || copy == NULL)
		goto fail;
	for (line = strtok_r(copy, "\n", &save); line;
	    line = strtok_r(NULL, "\n", &save)) {
		char *l = trim(line), *eq;
		struct entry *e;

		lineno++;
		if (*l == '\0' || *l == '#')
			continue;
		if (*l == '[') {
			char *end = strchr(l, ']');
			if (end == NULL || end[1] != '\0') {
				*err = errf("Key file contains line “%d” which is not a key-value pair, group, or comment", lineno);
				goto fail;
			}
			*end = '\0';
			free(group);
			group = strdup(l + 1);
			continue;
		}
		eq = strchr(l, '=');
		if (eq == NULL || group == NULL) {
			*err = errf(group ? "Key file contains line “%d” which is not a key-value pair, group, or comment" :
			    "Key file does not start with a group", lineno);
			goto fail;
		}
		*eq = '\0';
		e = realloc(kf->e, (kf->n + 1) * sizeof(*e));
		if (e == NULL)
			goto fail;
		kf->e = e;
		e = &kf->e[kf->n++];
		e->group = strdup(group);
		e->key = strdup(trim(l));
		e->value = unescape(trim(eq + 1));
		if (!e->group || !e->key || !e->value)
			goto fail;
	}
	free(group);
	free(copy);
	return kf;
fail:
	free(group);
	free(copy);
	keyfile_free(kf);
	if (*err == NULL)
		*err = strdup("out of memory");
	return NULL;
}

struct keyfile *
keyfile_load(const char *path, char **err)
{
	FILE *f = fopen(path, "re");
	struct buf b = { 0 };
	char chunk[4096];
	size_t n;
	struct keyfile *kf;

	*err = NULL;
	if (f == NULL) {
		int e = errno;
		if (asprintf(err, "%s", strerror(e)) < 0)
			*err = NULL;
		errno = e;
		return NULL;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_append(&b, chunk, n) < 0) {
			fclose(f);
			buf_free(&b);
			*err = strdup("out of memory");
			errno = ENOMEM;
			return NULL;
		}
	fclose(f);
	kf = keyfile_parse(b.data ? b.data : "", err);
	buf_free(&b);
	errno = kf ? 0 : EINVAL;
	return kf;
}

void
keyfile_free(struct keyfile *kf)
{
	if (kf == NULL)
		return;
	for (size_t i = 0; i < kf->n; i++) {
		free(kf->e[i].group);
		free(kf->e[i].key);
		free(kf->e[i].value);
	}
	free(kf->e);
	free(kf);
}

const char *
keyfile_get(const struct keyfile *kf, const char *group, const char *key)
{
	const char *v = NULL;

	/* The last of repeated keys wins, as in GLib. */
	for (size_t i = 0; i < kf->n; i++)
		if (strcmp(kf->e[i].group, group) == 0 &&
		    strcmp(kf->e[i].key, key) == 0)
			v = kf->e[i].value;
	return v;
}

int
keyfile_bool(const char *value)
{
	if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
		return 1;
	if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0)
		return 0;
	return -1;
}

void
keyfile_write_pair(FILE *out, const char *key, const char *value)
{
	const char *v;

	fprintf(out, "%s=", key);
	for (v = value; *v; v++) {
		switch (*v) {
		case '\n': fputs("\\n", out); break;
		case '\t': fputs("\\t", out); break;
		case '\r': fputs("\\r", out); break;
		case '\\': fputs("\\\\", out); break;
		case ' ':
			fputs(v == value ? "\\s" : " ", out);
			break;
		default: fputc(*v, out); break;
		}
	}
	fputc('\n', out);
}

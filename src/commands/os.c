/* guest-get-osinfo, guest-get-host-name, guest-get-users, guest-get-load. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <utmpx.h>

#include "ctx.h"
#include "log.h"
#include "qga-schema-gen.h"
#include "sysinfo.h"
#include "utf8.h"

/* os-release files are a few hundred bytes; anything bigger is not one. */
#define OS_RELEASE_MAX		(64 * 1024)
#define UTMP_ENV		"QGA_UTMP_FILE"
#define HOST_NAME_BUF		256	/* HOST_NAME_MAX (64) on Linux, with room */

static const char *const os_release_keys[][2] = {
	{ "ID", "id" },
	{ "NAME", "name" },
	{ "PRETTY_NAME", "pretty-name" },
	{ "VERSION", "version" },
	{ "VERSION_ID", "version-id" },
	{ "VARIANT", "variant" },
	{ "VARIANT_ID", "variant-id" },
};

static bool
utf8_valid(const char *s, size_t len)
{
	uint32_t cp;

	while (len > 0) {
		size_t n = utf8_decode((const unsigned char *)s, len, &cp);

		if (n == 0)
			return false;
		s += n;
		len -= n;
	}
	return true;
}

/* The whole file, NUL-terminated, or NULL (logged, like qemu-ga). */
static char *
read_small_file(const char *path, size_t max)
{
	FILE *f = fopen(path, "re");
	char *data = NULL;
	size_t len;

	if (f == NULL) {
		qga_slog("failed to read '%s', error: %s", path, strerror(errno));
		return NULL;
	}
	data = malloc(max + 1);
	if (data == NULL)
		goto out;
	len = fread(data, 1, max + 1, f);
	if (ferror(f) || len > max) {
		qga_slog("failed to read '%s', error: %s", path,
		    ferror(f) ? strerror(errno) : "file too large");
		free(data);
		data = NULL;
		goto out;
	}
	data[len] = '\0';
	/* Like GLib, the text ends at an embedded NUL. */
	if (!utf8_valid(data, strlen(data))) {
		qga_slog("file is not utf-8 encoded: %s", path);
		free(data);
		data = NULL;
	}
out:
	fclose(f);
	return data;
}

/*
 * os-release values as qemu-ga reads them: a double-quoted value is
 * unescaped (\$ \' \" \\ \` only; other backslashes stay) up to the closing
 * quote; any other value, single-quoted ones included, ends at the first
 * space or ';'. Done in place.
 */
static void
os_release_unquote(char *v)
{
	char *w = v, *r = v + 1;

	if (v[0] != '"') {
		v[strcspn(v, " ;")] = '\0';
		return;
	}
	while (*r != '\0' && *r != '"') {
		if (r[0] == '\\' && r[1] != '\0' && strchr("$'\"\\`", r[1]))
			r++;
		*w++ = *r++;
	}
	*w = '\0';
}

/*
 * qemu-ga parses the file as a GLib key file under a made-up
 * [os-release] group: blank lines and '#' comments are skipped, "[...]"
 * starts another group (whose keys are then ignored), spaces around the
 * key and before the value are dropped, and any other line without '='
 * makes the whole file invalid. A later key overrides an earlier one.
 */
static json_t *
os_release_parse(char *text)
{
	json_t *raw = json_object();
	bool in_group = true;
	char *line, *next;

	for (line = text; line != NULL; line = next) {
		char *eq, *key_end, *val;
		size_t len;

		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		len = strlen(line);
		if (len > 0 && line[len - 1] == '\r')
			line[len - 1] = '\0';
		while (*line == ' ' || *line == '\t')
			line++;
		if (*line == '\0' || *line == '#')
			continue;
		if (*line == '[') {
			in_group = false;
			continue;
		}
		eq = strchr(line, '=');
		if (eq == NULL || eq == line) {
			qga_slog("failed to parse os-release: line is not a key-value pair");
			json_decref(raw);
			return NULL;
		}
		key_end = eq;
		while (key_end > line && (key_end[-1] == ' ' || key_end[-1] == '\t'))
			key_end--;
		*key_end = '\0';
		val = eq + 1;
		while (*val == ' ' || *val == '\t')
			val++;
		if (in_group)
			json_object_set_new(raw, line, json_string(val));
	}
	return raw;
}

static json_t *
os_release_load(void)
{
	const char *env = getenv("QGA_OS_RELEASE");
	char *text = NULL;
	json_t *raw = NULL;

	if (env != NULL) {
		text = read_small_file(env, OS_RELEASE_MAX);
	} else {
		text = read_small_file("/etc/os-release", OS_RELEASE_MAX);
		if (text == NULL)
			text = read_small_file("/usr/lib/os-release", OS_RELEASE_MAX);
	}
	if (text != NULL)
		raw = os_release_parse(text);
	free(text);
	return raw;
}

json_t *
qmp_guest_get_osinfo(struct qga_ctx *ctx, struct qga_error *err)
{
	struct utsname u;
	json_t *info = json_object(), *raw;

	(void)ctx;
	if (uname(&u) != 0) {
		qga_error_set_errno(err, errno, "uname failed");
		json_decref(info);
		return NULL;
	}
	json_object_set_new(info, "kernel-release", json_string(u.release));
	json_object_set_new(info, "kernel-version", json_string(u.version));
	json_object_set_new(info, "machine", json_string(u.machine));

	raw = os_release_load();
	for (size_t i = 0; raw != NULL && i < sizeof(os_release_keys) /
	    sizeof(os_release_keys[0]); i++) {
		json_t *v = json_object_get(raw, os_release_keys[i][0]);
		char *s;

		if (v == NULL)
			continue;
		s = strdup(json_string_value(v));
		if (s == NULL)
			continue;
		os_release_unquote(s);
		json_object_set_new(info, os_release_keys[i][1], json_string(s));
		free(s);
	}
	json_decref(raw);
	return info;
}

json_t *
qmp_guest_get_host_name(struct qga_ctx *ctx, struct qga_error *err)
{
	char name[HOST_NAME_BUF + 1] = "";

	(void)ctx;
	if (gethostname(name, HOST_NAME_BUF) < 0) {
		qga_error_set_errno(err, errno, "cannot get hostname");
		return NULL;
	}
	return json_pack("{s:s}", "host-name", name);
}

json_t *
qmp_guest_get_users(struct qga_ctx *ctx, struct qga_error *err)
{
	struct sysinfo_list users;
	json_t *index = json_object();	/* user name -> its entry */
	struct utmpx *ut;

	(void)ctx;
	(void)err;
	sysinfo_list_init(&users, "guest-get-users");
	/* A test seam like QGA_SYSFS_ROOT: another utmp file. */
	if (getenv(UTMP_ENV) != NULL)
		utmpxname(getenv(UTMP_ENV));
	setutxent();
	while ((ut = getutxent()) != NULL) {
		char name[sizeof(ut->ut_user) + 1];
		char *clean;
		double t;
		json_t *u;

		if (ut->ut_type != USER_PROCESS)
			continue;
		memcpy(name, ut->ut_user, sizeof(ut->ut_user));
		name[sizeof(ut->ut_user)] = '\0';
		t = (double)ut->ut_tv.tv_sec + (double)ut->ut_tv.tv_usec / 1e6;
		u = json_object_get(index, name);
		if (u != NULL) {
			/* The earliest login of the user is reported. */
			if (t < json_real_value(json_object_get(u, "login-time")))
				json_object_set_new(u, "login-time", json_real(t));
			continue;
		}
		/* A non-UTF-8 name still names a user: sanitised, not dropped. */
		clean = utf8_sanitize(name, strlen(name));
		u = json_pack("{s:s,s:f}", "user", clean ? clean : "", "login-time", t);
		free(clean);
		if (u == NULL)
			continue;
		json_object_set(index, name, u);
		sysinfo_list_add(&users, u);
	}
	endutxent();
	json_decref(index);
	return users.array;
}

json_t *
qmp_guest_get_load(struct qga_ctx *ctx, struct qga_error *err)
{
	double avg[3];

	(void)ctx;
	if (getloadavg(avg, 3) < 0) {
		qga_error_set_errno(err, errno, "cannot query load average");
		return NULL;
	}
	return json_pack("{s:f,s:f,s:f}", "load1m", avg[0], "load5m", avg[1],
	    "load15m", avg[2]);
}

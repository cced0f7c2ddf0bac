/* guest-ssh-get/add/remove-authorized-keys: ~user/.ssh/authorized_keys. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "ctx.h"
#include "qga-schema-gen.h"
#include "utf8.h"

/* getpwnam_r's string buffer when sysconf has no opinion. */
#define SSH_PWBUF_DEFAULT	16384
/* The file is read whole; one larger than this is refused, not loaded. */
#define SSH_AUTHKEYS_MAX	(16 * 1024 * 1024)

struct user {
	struct passwd	 pw;
	char		*strings;
	char		*ssh_dir;
	char		*authkeys;
};

/* The lines of a file split on '\n', as GLib's g_strsplit does: a final
 * newline leaves an empty last line, and an empty file has no lines. */
struct lines {
	char	*text;
	char	**v;
	size_t	 n;
};

static void
user_free(struct user *u)
{
	free(u->strings);
	free(u->ssh_dir);
	free(u->authkeys);
}

static int
user_lookup(const char *name, struct user *u, struct qga_error *err)
{
	long size = sysconf(_SC_GETPW_R_SIZE_MAX);
	struct passwd *res = NULL;
	const char *sep;
	int rc;

	memset(u, 0, sizeof(*u));
	if (size <= 0)
		size = SSH_PWBUF_DEFAULT;
	for (;;) {
		u->strings = malloc((size_t)size);
		if (u->strings == NULL) {
			rc = ENOMEM;
			break;
		}
		rc = getpwnam_r(name, &u->pw, u->strings, (size_t)size, &res);
		if (rc != ERANGE)
			break;
		free(u->strings);
		size *= 2;
	}
	if (res == NULL) {
		/* GLib reports strerror of getpwnam_r's result, which is 0 for
		 * an unknown user: qemu-ga says "...: Success". */
		qga_error_set(err, "failed to lookup user '%s': %s", name, strerror(rc));
		user_free(u);
		return -1;
	}
	sep = u->pw.pw_dir[0] && u->pw.pw_dir[strlen(u->pw.pw_dir) - 1] == '/' ? "" : "/";
	if (asprintf(&u->ssh_dir, "%s%s.ssh", u->pw.pw_dir, sep) < 0 ||
	    asprintf(&u->authkeys, "%s/authorized_keys", u->ssh_dir) < 0) {
		u->ssh_dir = u->authkeys = NULL;
		user_free(u);
		qga_error_set(err, "out of memory");
		return -1;
	}
	return 0;
}

static int
check_keys(const json_t *keys, struct qga_error *err)
{
	size_t i;
	json_t *k;

	json_array_foreach(keys, i, k) {
		const char *s = json_string_value(k);

		if (s[0] == '#' || strchr(s, '\n')) {
			qga_error_set(err, "invalid OpenSSH public key: '%s'", s);
			return -1;
		}
	}
	return 0;
}

static void
lines_free(struct lines *l)
{
	free(l->text);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Read path into lines; -1 with errno, and a GLib-like reason in *why. */
static int
read_lines(const char *path, struct lines *l, char *why, size_t whylen)
{
	struct buf b = { 0 };
	char chunk[65536];
	ssize_t n;
	int fd, e = 0;

	memset(l, 0, sizeof(*l));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		e = errno;
		snprintf(why, whylen, "Failed to open file \u201c%s\u201d: %s", path,
		    strerror(e));
		errno = e;
		return -1;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || b.len + (size_t)n > SSH_AUTHKEYS_MAX ||
		    buf_append(&b, chunk, (size_t)n) < 0) {
			e = n < 0 ? errno : EFBIG;
			break;
		}
	}
	close(fd);
	if (e) {
		snprintf(why, whylen, "Failed to read from file \u201c%s\u201d: %s",
		    path, strerror(e));
		buf_free(&b);
		errno = e;
		return -1;
	}
	l->text = buf_steal(&b);
	if (l->text == NULL) {
		snprintf(why, whylen, "%s", strerror(ENOMEM));
		errno = ENOMEM;
		return -1;
	}
	if (*l->text) {
		size_t cap = 1;

		for (char *c = l->text; *c; c++)
			cap += *c == '\n';
		l->v = calloc(cap + 1, sizeof(*l->v));
		if (l->v == NULL) {
			lines_free(l);
			snprintf(why, whylen, "%s", strerror(ENOMEM));
			errno = ENOMEM;
			return -1;
		}
		for (char *s = l->text;; ) {
			char *nl = strchr(s, '\n');

			l->v[l->n++] = s;
			if (nl == NULL)
				break;
			*nl = '\0';
			s = nl + 1;
		}
	}
	return 0;
}

/*
 * Replace the file with lines joined by '\n' (no final newline, as
 * qemu-ga writes it), owned by the user and 0600. The new file is set up
 * before the rename, so no other owner or mode is ever visible.
 */
static int
write_lines(const struct user *u, char *const *v, size_t n,
    struct qga_error *err)
{
	const char *path = u->authkeys;
	char *tmp = NULL;
	int fd = -1, rc = -1;

	if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
		qga_error_set(err, "out of memory");
		return -1;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		qga_error_set(err, "failed to write to '%s': Failed to create file "
		    "\u201c%s\u201d: %s", path, tmp, strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(v[i]);

		if ((i && write(fd, "\n", 1) != 1) ||
		    (len && write(fd, v[i], len) != (ssize_t)len)) {
			qga_error_set(err, "failed to write to '%s': Failed to write "
			    "file \u201c%s\u201d: %s", path, tmp, strerror(errno));
			goto out;
		}
	}
	if (fchown(fd, u->pw.pw_uid, u->pw.pw_gid) < 0) {
		qga_error_set(err, "failed to set ownership of directory '%s': %s",
		    path, strerror(errno));
		goto out;
	}
	if (fchmod(fd, 0600) < 0) {
		qga_error_set(err, "failed to set permissions of '%s': %s", path,
		    strerror(errno));
		goto out;
	}
	if (fsync(fd) < 0 || rename(tmp, path) < 0) {
		qga_error_set(err, "failed to write to '%s': Failed to rename file "
		    "\u201c%s\u201d to \u201c%s\u201d: %s", path, tmp, path,
		    strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0 && fd >= 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

static int
mkdir_for_user(const struct user *u, struct qga_error *err)
{
	const char *path = u->ssh_dir;

	if (mkdir(path, 0700) < 0) {
		qga_error_set(err, "failed to create directory '%s': %s", path,
		    strerror(errno));
		return -1;
	}
	if (chown(path, u->pw.pw_uid, u->pw.pw_gid) < 0) {
		qga_error_set(err, "failed to set ownership of directory '%s': %s",
		    path, strerror(errno));
		return -1;
	}
	if (chmod(path, 0700) < 0) {
		qga_error_set(err, "failed to set permissions of directory '%s': %s",
		    path, strerror(errno));
		return -1;
	}
	return 0;
}

static bool
contains(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

json_t *
qmp_guest_ssh_add_authorized_keys(
    const struct qga_args_guest_ssh_add_authorized_keys *args,
    struct qga_ctx *ctx, struct qga_error *err)
{
	bool reset = args->has_reset && args->reset;
	struct lines old = { 0 };
	struct user u;
	struct stat st;
	char why[PATH_MAX + 128], **v = NULL;
	size_t n, i;
	json_t *k, *ret = NULL;

	(void)ctx;
	if (check_keys(args->keys, err) < 0 ||
	    user_lookup(args->username, &u, err) < 0)
		return NULL;
	/* Unreadable existing keys count as none, as in qemu-ga. */
	if (reset || read_lines(u.authkeys, &old, why, sizeof(why)) < 0) {
		lines_free(&old);
		if ((stat(u.ssh_dir, &st) < 0 || !S_ISDIR(st.st_mode)) &&
		    mkdir_for_user(&u, err) < 0)
			goto out;
	}
	v = calloc(old.n + json_array_size(args->keys) + 1, sizeof(*v));
	if (v == NULL) {
		qga_error_set(err, "out of memory");
		goto out;
	}
	/* No keys yet: old.v is NULL, which memcpy() may not be given. */
	if (old.n)
		memcpy(v, old.v, old.n * sizeof(*v));
	n = old.n;
	json_array_foreach(args->keys, i, k)
		if (!contains(v, n, json_string_value(k)))
			v[n++] = (char *)json_string_value(k);
	if (write_lines(&u, v, n, err) == 0)
		ret = json_object();
out:
	free(v);
	lines_free(&old);
	user_free(&u);
	return ret;
}

json_t *
qmp_guest_ssh_remove_authorized_keys(
    const struct qga_args_guest_ssh_remove_authorized_keys *args,
    struct qga_ctx *ctx, struct qga_error *err)
{
	struct lines old;
	struct user u;
	char why[PATH_MAX + 128];
	json_t *ret = NULL;
	size_t n = 0;

	(void)ctx;
	if (check_keys(args->keys, err) < 0 ||
	    user_lookup(args->username, &u, err) < 0)
		return NULL;
	if (access(u.authkeys, F_OK) < 0) {
		user_free(&u);
		return json_object();
	}
	if (read_lines(u.authkeys, &old, why, sizeof(why)) < 0) {
		qga_error_set(err, "failed to read '%s': %s", u.authkeys, why);
		user_free(&u);
		return NULL;
	}
	for (size_t i = 0; i < old.n; i++) {
		bool drop = false;
		size_t j;
		json_t *k;

		json_array_foreach(args->keys, j, k)
			if (strcmp(json_string_value(k), old.v[i]) == 0)
				drop = true;
		if (!drop)
			old.v[n++] = old.v[i];
	}
	if (write_lines(&u, old.v, n, err) == 0)
		ret = json_object();
	lines_free(&old);
	user_free(&u);
	return ret;
}

static char *
strip(char *s)
{
	char *end;

	while (*s == ' ' || (*s >= '\t' && *s <= '\r'))
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || (end[-1] >= '\t' && end[-1] <= '\r')))
		end--;
	*end = '\0';
	return s;
}

json_t *
qmp_guest_ssh_get_authorized_keys(
    const struct qga_args_guest_ssh_get_authorized_keys *args,
    struct qga_ctx *ctx, struct qga_error *err)
{
	struct lines l;
	struct user u;
	char why[PATH_MAX + 128];
	json_t *keys;

	(void)ctx;
	if (user_lookup(args->username, &u, err) < 0)
		return NULL;
	if (read_lines(u.authkeys, &l, why, sizeof(why)) < 0) {
		qga_error_set(err, "failed to read '%s': %s", u.authkeys, why);
		user_free(&u);
		return NULL;
	}
	keys = json_array();
	/* qemu-ga prepends each key, so the list comes out last line first. */
	for (size_t i = l.n; i > 0; i--) {
		char *s = strip(l.v[i - 1]);

		/* Bytes that are not UTF-8 become U+FFFD, as on qemu-ga's wire. */
		if (*s && *s != '#') {
			char *clean = utf8_sanitize(s, strlen(s));

			if (clean)
				json_array_append_new(keys, json_string_nocheck(clean));
			free(clean);
		}
	}
	lines_free(&l);
	user_free(&u);
	return json_pack("{s:o}", "keys", keys);
}

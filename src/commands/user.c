/* guest-set-user-password: chpasswd, fed "user:password\n" on stdin. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "ctx.h"
#include "qga-schema-gen.h"
#include "run.h"

json_t *
qmp_guest_set_user_password(const struct qga_args_guest_set_user_password *args,
    struct qga_ctx *ctx, struct qga_error *err)
{
	const char *argv[] = { "chpasswd", args->crypted ? "-e" : NULL, NULL };
	unsigned char *raw;
	const char *why;
	char *line = NULL;
	json_t *ret = NULL;
	size_t len;
	int n;

	(void)ctx;
	raw = b64_decode(args->password, strlen(args->password), &len, &why);
	if (raw == NULL) {
		qga_error_set(err, "%s", why);
		return NULL;
	}
	/* chpasswd reads lines of user:password: a newline would start
	 * another line, a NUL would end this one early. */
	if (memchr(raw, '\n', len) || memchr(raw, '\0', len)) {
		qga_error_set(err, "forbidden characters in raw password");
		goto out;
	}
	if (strpbrk(args->username, "\n:")) {
		qga_error_set(err, "forbidden characters in username");
		goto out;
	}
	n = asprintf(&line, "%s:%.*s\n", args->username, (int)len, (const char *)raw);
	if (n < 0) {
		line = NULL;
		qga_error_set(err, "out of memory");
		goto out;
	}
	if (qga_run_command(argv, line, (size_t)n, "set user password", err) == 0)
		ret = json_object();
	explicit_bzero(line, (size_t)n);
out:
	explicit_bzero(raw, len);
	free(raw);
	free(line);
	return ret;
}

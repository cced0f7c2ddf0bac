/* qga cat, get and put: file transfer in chunks through guest-file-*. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "b64.h"
#include "cli.h"

/* Width of the progress bar in characters. */
#define PROGRESS_WIDTH	30

struct progress {
	int		 on;
	long long	 total;
	int		 last_pct;
};

static void
progress_start(struct progress *p, struct cli *cli, long long total)
{
	p->on = !cli->json && total >= CLI_PROGRESS_MIN && isatty(2);
	p->total = total;
	p->last_pct = -1;
}

static void
progress_update(struct progress *p, long long done)
{
	int pct, fill;

	if (!p->on || p->total <= 0)
		return;
	pct = (int)(done * 100 / p->total);
	if (pct == p->last_pct)
		return;
	p->last_pct = pct;
	fill = pct * PROGRESS_WIDTH / 100;
	fprintf(stderr, "\r[%.*s%*s] %3d%% %.1f/%.1f MiB",
	    fill, "##############################", PROGRESS_WIDTH - fill, "",
	    pct, done / 1048576.0, p->total / 1048576.0);
}

static void
progress_end(struct progress *p)
{
	if (p->on)
		fputc('\n', stderr);
}

/*
 * Chunk sizes. An agent that reports its limits gets the largest chunk it
 * allows, bounded by CLI_FILE_CHUNK_MAX; others get CLI_FILE_CHUNK, which is
 * what qemu-ga moves fastest. A write's base64 and JSON must fit in one
 * request.
 */
static size_t
read_chunk(struct cli *cli)
{
	struct qga_limits l;
	size_t n = CLI_FILE_CHUNK_MAX;

	if (qga_get_limits(cli->c, cli->timeout_ms, &l) < 0 || !l.from_agent)
		return CLI_FILE_CHUNK;
	if (l.max_file_read_count < n)
		n = (size_t)l.max_file_read_count;
	return n;
}

static size_t
write_chunk(struct cli *cli)
{
	struct qga_limits l;
	size_t n = CLI_FILE_CHUNK_MAX;

	if (qga_get_limits(cli->c, cli->timeout_ms, &l) < 0 || !l.from_agent)
		return CLI_FILE_CHUNK;
	if (l.max_message_bytes <= CLI_WRITE_OVERHEAD + 4)
		return 3;
	if ((l.max_message_bytes - CLI_WRITE_OVERHEAD) / 4 * 3 < n)
		n = (size_t)((l.max_message_bytes - CLI_WRITE_OVERHEAD) / 4 * 3);
	return n;
}

static int
file_open(struct cli *cli, const char *path, const char *mode,
    json_int_t *handle)
{
	json_t *args = json_pack("{s:s,s:s}", "path", path, "mode", mode);
	int rc = CLI_EXIT_OK;
	json_t *ret = cli_call(cli, "guest-file-open", args, &rc);

	json_decref(args);
	if (ret == NULL)
		return rc;
	*handle = json_integer_value(ret);
	json_decref(ret);
	return CLI_EXIT_OK;
}

static void
file_close(struct cli *cli, json_int_t handle)
{
	json_t *args = json_pack("{s:I}", "handle", handle);
	int rc;
	json_t *ret = cli_call(cli, "guest-file-close", args, &rc);

	json_decref(args);
	json_decref(ret);
}

/* Seek; the new position, or -1 after printing the error. */
static long long
file_seek(struct cli *cli, json_int_t handle, long long off,
    const char *whence)
{
	json_t *args = json_pack("{s:I,s:I,s:s}", "handle", handle, "offset",
	    (json_int_t)off, "whence", whence);
	int rc;
	json_t *ret = cli_call(cli, "guest-file-seek", args, &rc);
	long long pos;

	json_decref(args);
	if (ret == NULL)
		return -1;
	pos = json_integer_value(json_object_get(ret, "position"));
	json_decref(ret);
	return pos;
}

static int
write_all(int fd, const unsigned char *p, size_t n)
{
	ssize_t w;

	while (n) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Copy the guest file to fd; size < 0 means unknown (no verification). */
static int
download(struct cli *cli, json_int_t handle, int fd, long long size,
    long long *total)
{
	struct progress p;
	const char *why;
	unsigned char *data;
	size_t len;
	json_t *args, *ret;
	int rc = CLI_EXIT_OK, eof = 0;

	*total = 0;
	progress_start(&p, cli, size);
	args = json_pack("{s:I,s:I}", "handle", handle, "count",
	    (json_int_t)read_chunk(cli));
	while (!eof) {
		ret = cli_call(cli, "guest-file-read", args, &rc);
		if (ret == NULL)
			break;
		eof = json_is_true(json_object_get(ret, "eof"));
		data = b64_decode(json_string_value(json_object_get(ret,
		    "buf-b64")) ? json_string_value(json_object_get(ret,
		    "buf-b64")) : "", json_string_length(json_object_get(ret,
		    "buf-b64")), &len, &why);
		json_decref(ret);
		if (data == NULL) {
			cli_warnx("guest-file-read: bad base64: %s", why);
			rc = CLI_EXIT_FAIL;
			break;
		}
		if (len != 0 && write_all(fd, data, len) < 0) {
			cli_warnx("write: %s", strerror(errno));
			free(data);
			rc = CLI_EXIT_FAIL;
			break;
		}
		free(data);
		if (len == 0)
			eof = 1;	/* some agents never set eof on pipes */
		*total += (long long)len;
		progress_update(&p, *total);
	}
	progress_end(&p);
	json_decref(args);
	return rc;
}

int
verb_cat(struct cli *cli, int argc, char **argv)
{
	json_int_t handle;
	long long total;
	int rc;

	(void)argc;
	rc = file_open(cli, argv[1], "r", &handle);
	if (rc != CLI_EXIT_OK)
		return rc;
	rc = download(cli, handle, 1, -1, &total);
	file_close(cli, handle);
	return rc;
}

int
verb_get(struct cli *cli, int argc, char **argv)
{
	const char *local, *slash;
	json_int_t handle;
	long long size, total;
	int fd, rc;

	slash = strrchr(argv[1], '/');
	local = argc > 2 ? argv[2] : slash ? slash + 1 : argv[1];
	if (*local == '\0') {
		cli_warnx("get: name the local file");
		return CLI_EXIT_USAGE;
	}
	rc = file_open(cli, argv[1], "r", &handle);
	if (rc != CLI_EXIT_OK)
		return rc;
	size = file_seek(cli, handle, 0, "end");
	if (size < 0 || file_seek(cli, handle, 0, "set") != 0) {
		file_close(cli, handle);
		return CLI_EXIT_FAIL;
	}
	if (strcmp(local, "-") == 0)
		fd = 1;
	else
		fd = open(local, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0644);
	if (fd < 0) {
		cli_warnx("%s: %s", local, strerror(errno));
		file_close(cli, handle);
		return CLI_EXIT_FAIL;
	}
	rc = download(cli, handle, fd, size, &total);
	file_close(cli, handle);
	if (fd != 1 && close(fd) < 0 && rc == CLI_EXIT_OK) {
		cli_warnx("%s: %s", local, strerror(errno));
		rc = CLI_EXIT_FAIL;
	}
	/* Files with no size (procfs, sysfs) cannot be verified. */
	if (rc == CLI_EXIT_OK && size > 0 && total != size) {
		cli_warnx("get: %s: size mismatch: read %lld of %lld bytes",
		    argv[1], total, size);
		rc = CLI_EXIT_FAIL;
	}
	if (rc == CLI_EXIT_OK && cli->json) {
		json_t *o = json_pack("{s:I}", "bytes", (json_int_t)total);
		cli_print_json(o);
		json_decref(o);
	}
	return rc;
}

static ssize_t
read_full(int fd, unsigned char *p, size_t n)
{
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		r = read(fd, p + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

int
verb_put(struct cli *cli, int argc, char **argv)
{
	unsigned char *data = NULL;
	char *enc = NULL;
	json_int_t handle;
	struct progress p;
	struct stat st;
	long long total = 0, pos;
	json_t *args, *ret;
	size_t chunk;
	ssize_t n;
	int fd, rc;

	(void)argc;
	fd = strcmp(argv[1], "-") == 0 ? 0 :
	    open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		cli_warnx("%s: %s", argv[1], strerror(errno));
		return CLI_EXIT_FAIL;
	}
	rc = file_open(cli, argv[2], "w", &handle);
	if (rc != CLI_EXIT_OK)
		goto out;
	chunk = write_chunk(cli);
	data = malloc(chunk);
	enc = malloc(b64_encoded_len(chunk) + 1);
	if (data == NULL || enc == NULL)
		abort();
	progress_start(&p, cli, S_ISREG(st.st_mode) ? st.st_size : -1);
	while ((n = read_full(fd, data, chunk)) > 0) {
		b64_encode(data, (size_t)n, enc);
		args = json_pack("{s:I,s:s}", "handle", handle, "buf-b64", enc);
		ret = cli_call(cli, "guest-file-write", args, &rc);
		json_decref(args);
		if (ret == NULL)
			break;
		if (json_integer_value(json_object_get(ret, "count")) != n) {
			cli_warnx("put: short write: %" JSON_INTEGER_FORMAT
			    " of %zd bytes", json_integer_value(
			    json_object_get(ret, "count")), n);
			json_decref(ret);
			rc = CLI_EXIT_FAIL;
			break;
		}
		json_decref(ret);
		total += n;
		progress_update(&p, total);
	}
	progress_end(&p);
	if (n < 0) {
		cli_warnx("%s: %s", argv[1], strerror(errno));
		rc = CLI_EXIT_FAIL;
	}
	if (rc == CLI_EXIT_OK) {
		pos = file_seek(cli, handle, 0, "end");
		if (pos < 0)
			rc = CLI_EXIT_FAIL;
		else if (pos != total) {
			cli_warnx("put: %s: size mismatch: wrote %lld bytes, "
			    "the guest file has %lld", argv[2], total, pos);
			rc = CLI_EXIT_FAIL;
		}
	}
	file_close(cli, handle);
	if (rc == CLI_EXIT_OK && cli->json) {
		json_t *o = json_pack("{s:I}", "bytes", (json_int_t)total);
		cli_print_json(o);
		json_decref(o);
	}
out:
	free(data);
	free(enc);
	if (fd > 0)
		close(fd);
	return rc;
}

/* guest-file-open/close/read/write/seek/flush: stdio streams behind handles. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "b64.h"
#include "ctx.h"
#include "log.h"
#include "qga-schema-gen.h"

/* Bytes read when the host gives no count (qemu-ga's QGA_READ_COUNT_DEFAULT). */
#define FILE_READ_COUNT_DEFAULT	4096
/* Largest read: 48 MiB, whose base64 still fits qemu's 64 MiB JSON limit. */
#define FILE_READ_COUNT_MAX	QGA_FILE_READ_MAX	/* ctx.h: qga-get-limits reports it */
/* New files get these bits whatever the umask (qemu-ga does the same). */
#define FILE_NEW_MODE		0666

/* stdio needs a flush or seek between a write and a read on one stream;
 * the agent inserts it, as qemu-ga does, so hosts need not. */
enum rw_state { RW_NEW, RW_READING, RW_WRITING };

struct handle {
	int64_t		 id;
	FILE		*fh;
	enum rw_state	 state;
	struct handle	*next;
};

/* Touched only by the file commands (one thread at a time: main runs them
 * all on its one worker thread) and by the exit handler. */
static struct handle *handles;
static bool cleanup_registered;

static const struct {
	const char	*mode;
	int		 flags;
} open_modes[] = {
	{ "r",   O_RDONLY },
	{ "rb",  O_RDONLY },
	{ "w",   O_WRONLY | O_CREAT | O_TRUNC },
	{ "wb",  O_WRONLY | O_CREAT | O_TRUNC },
	{ "a",   O_WRONLY | O_CREAT | O_APPEND },
	{ "ab",  O_WRONLY | O_CREAT | O_APPEND },
	{ "r+",  O_RDWR },
	{ "rb+", O_RDWR },
	{ "r+b", O_RDWR },
	{ "w+",  O_RDWR | O_CREAT | O_TRUNC },
	{ "wb+", O_RDWR | O_CREAT | O_TRUNC },
	{ "w+b", O_RDWR | O_CREAT | O_TRUNC },
	{ "a+",  O_RDWR | O_CREAT | O_APPEND },
	{ "ab+", O_RDWR | O_CREAT | O_APPEND },
	{ "a+b", O_RDWR | O_CREAT | O_APPEND },
};

static void
files_close_all(void)
{
	struct handle *h;

	while ((h = handles)) {
		handles = h->next;
		fclose(h->fh);
		free(h);
	}
}

static struct handle *
find(int64_t id, struct qga_error *err)
{
	for (struct handle *h = handles; h; h = h->next)
		if (h->id == id)
			return h;
	qga_error_set(err, "handle '%" PRId64 "' has not been found", id);
	return NULL;
}

static int
mode_flags(const char *mode)
{
	for (size_t i = 0; i < sizeof(open_modes) / sizeof(open_modes[0]); i++)
		if (strcmp(open_modes[i].mode, mode) == 0)
			return open_modes[i].flags;
	return -1;
}

/* Create exclusively first so that only a file we made gets FILE_NEW_MODE;
 * an existing file is opened as it is. */
static FILE *
open_stream(const char *path, const char *mode, struct qga_error *err)
{
	int flags = mode_flags(mode), fd;
	bool created = false;
	FILE *fh;

	if (flags < 0) {
		qga_error_set(err, "invalid file open mode '%s'", mode);
		return NULL;
	}
	flags |= O_NOCTTY | O_NONBLOCK | O_CLOEXEC;
	if (flags & O_CREAT) {
		fd = open(path, flags | O_EXCL, FILE_NEW_MODE);
		if (fd >= 0)
			created = true;
		else if (errno == EEXIST)
			fd = open(path, flags & ~O_CREAT);
	} else {
		fd = open(path, flags);
	}
	if (fd < 0) {
		qga_error_set_errno(err, errno, "failed to open file '%s' (mode: '%s')",
		    path, mode);
		return NULL;
	}
	if (created && fchmod(fd, FILE_NEW_MODE) < 0) {
		qga_error_set_errno(err, errno, "failed to set permission 0%03o on "
		    "new file '%s' (mode: '%s')", FILE_NEW_MODE, path, mode);
		goto fail;
	}
	fh = fdopen(fd, mode);
	if (fh == NULL) {
		qga_error_set_errno(err, errno, "failed to associate stdio stream "
		    "with file descriptor %d, file '%s' (mode: '%s')", fd, path, mode);
		goto fail;
	}
	return fh;
fail:
	close(fd);
	if (created)
		unlink(path);
	return NULL;
}

json_t *
qmp_guest_file_open(const struct qga_args_guest_file_open *args,
    struct qga_ctx *ctx, struct qga_error *err)
{
	const char *mode = args->has_mode ? args->mode : "r";
	struct handle *h;
	int64_t id;
	FILE *fh;

	qga_slog("guest-file-open called, filepath: %s, mode: %s", args->path, mode);
	fh = open_stream(args->path, mode, err);
	if (fh == NULL)
		return NULL;
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		qga_error_set(err, "out of memory");
		fclose(fh);
		return NULL;
	}
	id = qga_ctx_new_handle(ctx, err);
	if (id < 0) {
		free(h);
		fclose(fh);
		return NULL;
	}
	/* atexit, not qga_ctx_at_exit: main runs the file commands on a
	 * worker thread, which may not register agent exit hooks; atexit is
	 * thread-safe and runs after that thread has been stopped. */
	if (!cleanup_registered) {
		atexit(files_close_all);
		cleanup_registered = true;
	}
	h->id = id;
	h->fh = fh;
	h->next = handles;
	handles = h;
	qga_slog("guest-file-open, handle: %" PRId64, id);
	return json_integer(id);
}

json_t *
qmp_guest_file_close(const struct qga_args_guest_file_close *args,
    struct qga_ctx *ctx, struct qga_error *err)
{
	struct handle **pp, *h;
	int rc;

	(void)ctx;
	qga_slog("guest-file-close called, handle: %" PRId64, args->handle);
	if (find(args->handle, err) == NULL)
		return NULL;
	for (pp = &handles; (*pp)->id != args->handle; pp = &(*pp)->next)
		;
	h = *pp;
	/* The stream is gone whatever fclose says; so is the handle. */
	*pp = h->next;
	rc = fclose(h->fh);
	free(h);
	if (rc == EOF) {
		qga_error_set_errno(err, errno, "failed to close handle");
		return NULL;
	}
	return json_object();
}

/*
 * The data is read into a buffer of its own size and handed to the agent
 * as a deferred reply member: it is base64-encoded as the reply is
 * written, so a read holds one copy of the data, never its encoding.
 */
json_t *
qmp_guest_file_read(const struct qga_args_guest_file_read *args,
    struct qga_ctx *ctx, struct qga_error *err)
{
	int64_t count = args->has_count ? args->count : FILE_READ_COUNT_DEFAULT;
	struct handle *h = find(args->handle, err);
	json_t *ret = NULL;
	unsigned char *buf;
	size_t got;
	int read_errno;

	if (h == NULL)
		return NULL;
	if (count < 0 || count > FILE_READ_COUNT_MAX) {
		qga_error_set(err, "value '%" PRId64 "' is invalid for argument count",
		    count);
		return NULL;
	}
	if (h->state == RW_WRITING) {
		if (fflush(h->fh) == EOF) {
			qga_error_set_errno(err, errno, "failed to flush file");
			return NULL;
		}
		h->state = RW_NEW;
	}
	buf = malloc((size_t)count + 1);
	if (buf == NULL) {
		qga_error_set(err, "failed to allocate %zu bytes", (size_t)count + 1);
		return NULL;
	}
	got = fread(buf, 1, (size_t)count, h->fh);
	read_errno = errno;
	if (ferror(h->fh)) {
		qga_error_set_errno(err, read_errno, "failed to read file");
		qga_slog("guest-file-read failed, handle: %" PRId64, args->handle);
		free(buf);
	} else {
		bool eof = feof(h->fh);

		/* Takes buf, whatever happens. */
		ret = json_pack("{s:I,s:o,s:b}", "count", (json_int_t)got,
		    "buf-b64", qga_ctx_reply_base64(ctx, buf, got), "eof", eof);
		if (ret == NULL)
			qga_error_set(err, "out of memory");
		h->state = RW_READING;
	}
	clearerr(h->fh);
	return ret;
}

json_t *
qmp_guest_file_write(const struct qga_args_guest_file_write *args,
    struct qga_ctx *ctx, struct qga_error *err)
{
	struct handle *h = find(args->handle, err);
	unsigned char *data;
	const char *why;
	json_t *ret = NULL;
	size_t len, wrote;
	int64_t count;
	int write_errno;

	(void)ctx;
	if (h == NULL)
		return NULL;
	if (h->state == RW_READING) {
		if (fseek(h->fh, 0, SEEK_CUR) < 0) {
			qga_error_set_errno(err, errno, "failed to seek file");
			return NULL;
		}
		h->state = RW_NEW;
	}
	/* In place: the argument is ours to overwrite (ctx.h). */
	data = (unsigned char *)(uintptr_t)args->buf_b64;
	len = b64_decode_into(args->buf_b64, strlen(args->buf_b64), data, &why);
	if (len == (size_t)-1) {
		qga_error_set(err, "%s", why);
		return NULL;
	}
	count = args->has_count ? args->count : (int64_t)len;
	if (count < 0 || (uint64_t)count > len) {
		qga_error_set(err, "value '%" PRId64 "' is invalid for argument count",
		    count);
		return NULL;
	}
	wrote = fwrite(data, 1, (size_t)count, h->fh);
	write_errno = errno;
	if (ferror(h->fh)) {
		qga_error_set_errno(err, write_errno, "failed to write to file");
		qga_slog("guest-file-write failed, handle: %" PRId64, args->handle);
	} else {
		ret = json_pack("{s:I,s:b}", "count", (json_int_t)wrote,
		    "eof", feof(h->fh) != 0);
		h->state = RW_WRITING;
	}
	clearerr(h->fh);
	return ret;
}

/* A QGASeek name (already validated against the schema) as its number. */
static int64_t
seek_name(const char *name)
{
	static const char *const names[] = {
		[QGASEEK_SET] = "set", [QGASEEK_CUR] = "cur", [QGASEEK_END] = "end",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(names[i], name) == 0)
			return (int64_t)i;
	return -1;
}

json_t *
qmp_guest_file_seek(const struct qga_args_guest_file_seek *args,
    struct qga_ctx *ctx, struct qga_error *err)
{
	struct handle *h = find(args->handle, err);
	json_t *ret = NULL;
	int64_t code;
	int whence;

	(void)ctx;
	if (h == NULL)
		return NULL;
	/* The alternate: QGASeek's names, or qemu-ga's raw numbers. Both
	 * number schemes are 0 = set, 1 = cur, 2 = end. */
	if (json_is_string(args->whence))
		code = seek_name(json_string_value(args->whence));
	else
		code = json_integer_value(args->whence);
	switch (code) {
	case QGASEEK_SET:
		whence = SEEK_SET;
		break;
	case QGASEEK_CUR:
		whence = SEEK_CUR;
		break;
	case QGASEEK_END:
		whence = SEEK_END;
		break;
	default:
		qga_error_set(err, "invalid whence code %" PRId64, code);
		return NULL;
	}
	if (fseeko(h->fh, (off_t)args->offset, whence) < 0) {
		int e = errno;

		qga_error_set_errno(err, e, "failed to seek file");
		/* A pipe cannot seek, and stdio does not buffer it either. */
		if (e == ESPIPE)
			h->state = RW_NEW;
	} else {
		ret = json_pack("{s:I,s:b}", "position", (json_int_t)ftello(h->fh),
		    "eof", feof(h->fh) != 0);
		h->state = RW_NEW;
	}
	clearerr(h->fh);
	return ret;
}

json_t *
qmp_guest_file_flush(const struct qga_args_guest_file_flush *args,
    struct qga_ctx *ctx, struct qga_error *err)
{
	struct handle *h = find(args->handle, err);

	(void)ctx;
	if (h == NULL)
		return NULL;
	if (fflush(h->fh) == EOF) {
		qga_error_set_errno(err, errno, "failed to flush file");
		return NULL;
	}
	h->state = RW_NEW;
	return json_object();
}

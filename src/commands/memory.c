/* guest-get-memory-blocks, guest-set-memory-blocks, guest-get-memory-block-info. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctx.h"
#include "qga-schema-gen.h"
#include "sysinfo.h"

#define MEMORY_DIR		"/devices/system/memory/"
#define STATE_BUF		10	/* "online", "offline", "going-offline" cut */
#define BLOCK_SIZE_BUF		20	/* hex u64 and a newline */

enum {
	RESP_SUCCESS,
	RESP_NOT_FOUND,
	RESP_NOT_SUPPORTED,
	RESP_FAILED,
};

static const char *const resp_names[] = {
	[RESP_SUCCESS] = "success",
	[RESP_NOT_FOUND] = "not-found",
	[RESP_NOT_SUPPORTED] = "operation-not-supported",
	[RESP_FAILED] = "operation-failed",
};

/* Read at most size bytes of dfd/name into buf (zero-filled first); 0, or
 * -1 with errno set (0 for an empty file) and err filled. */
static int
read_sysfs(int dfd, const char *name, char *buf, size_t size,
    struct qga_error *err)
{
	ssize_t n;
	int fd, saved;

	memset(buf, 0, size);
	errno = 0;
	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		qga_error_set_errno(err, errno, "open sysfs file \"%s\"", name);
		return -1;
	}
	n = pread(fd, buf, size, 0);
	saved = errno;
	if (n < 0)
		qga_error_set_errno(err, saved, "pread sysfs file \"%s\"", name);
	else if (n == 0)
		qga_error_set(err, "pread sysfs file \"%s\": unexpected EOF", name);
	close(fd);
	errno = n > 0 ? 0 : saved;
	return n > 0 ? 0 : -1;
}

static int
write_sysfs(int dfd, const char *name, const char *text)
{
	int fd, rc = 0, saved;

	fd = openat(dfd, name, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (pwrite(fd, text, strlen(text), 0) < 0)
		rc = -1;
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/* One block's state as guest-get-memory-blocks reports it. */
static json_t *
read_block(uint64_t index, struct qga_error *err)
{
	char dir[PATH_MAX], state[STATE_BUF + 1], removable;
	struct qga_error local = { 0 };
	bool online = true, can_offline = false;
	int dfd;

	if (sysinfo_sys_path(dir, sizeof(dir), MEMORY_DIR "memory%" PRIu64 "/",
	    index) < 0 ||
	    (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		qga_error_set_errno(err, errno, "open(\"%s\")", dir);
		return NULL;
	}
	if (read_sysfs(dfd, "state", state, STATE_BUF, &local) < 0) {
		/* Old kernels have no "state": online, not offlinable. */
		if (errno != ENOENT) {
			qga_error_set(err, "%s", local.desc ? local.desc : "");
			goto fail;
		}
	} else {
		online = strncmp(state, "online", 6) == 0;
		qga_error_clear(&local);
		if (read_sysfs(dfd, "removable", &removable, 1, &local) == 0)
			can_offline = removable != '0';
		else if (errno != ENOENT) {
			qga_error_set(err, "%s", local.desc ? local.desc : "");
			goto fail;
		}
	}
	qga_error_clear(&local);
	close(dfd);
	return json_pack("{s:I,s:b,s:b}", "phys-index", (json_int_t)index,
	    "online", online, "can-offline", can_offline);
fail:
	qga_error_clear(&local);
	close(dfd);
	return NULL;
}

/* "memory<N>" directories; *index gets N. */
static bool
block_entry(const struct dirent *de, uint64_t *index)
{
	if (strncmp(de->d_name, "memory", 6) != 0 || de->d_type != DT_DIR)
		return false;
	*index = strtoull(de->d_name + 6, NULL, 10);
	return true;
}

json_t *
qmp_guest_get_memory_blocks(struct qga_ctx *ctx, struct qga_error *err)
{
	char path[PATH_MAX];
	struct sysinfo_list list;
	struct dirent *de;
	DIR *d = NULL;

	(void)ctx;
	if (sysinfo_sys_path(path, sizeof(path), MEMORY_DIR) == 0)
		d = opendir(path);
	if (d == NULL) {
		/* A system without memory hotplug has no such directory. */
		if (errno == ENOENT)
			return json_array();
		qga_error_set_errno(err, errno, "Can't open directory\"%s\"", path);
		return NULL;
	}
	sysinfo_list_init(&list, "guest-get-memory-blocks");
	while ((de = readdir(d)) != NULL) {
		uint64_t index;
		json_t *blk;

		if (!block_entry(de, &index))
			continue;
		blk = read_block(index, err);
		if (blk == NULL)
			break;
		sysinfo_list_add(&list, blk);
	}
	closedir(d);
	if (!qga_error_isset(err) && json_array_size(list.array) == 0)
		qga_error_set(err, "guest reported zero memory blocks!");
	if (qga_error_isset(err)) {
		json_decref(list.array);
		return NULL;
	}
	return list.array;
}

/*
 * Apply one requested state. The response and its error-code follow
 * qemu-ga, quirks included: a block without a "state" file asked to be
 * online answers success with error-code ENOENT.
 */
static json_t *
write_block(uint64_t index, bool online)
{
	char dir[PATH_MAX], state[STATE_BUF + 1];
	struct qga_error ignored = { 0 };
	int resp = RESP_SUCCESS, code = 0;
	bool has_code = true;
	DIR *d = NULL;
	int dfd;

	errno = 0;
	if (sysinfo_sys_path(dir, sizeof(dir), MEMORY_DIR) == 0)
		d = opendir(dir);
	if (d == NULL) {
		code = errno;
		if (code == ENOENT)
			resp = RESP_NOT_SUPPORTED;
		goto out;
	}
	closedir(d);
	if (sysinfo_sys_path(dir, sizeof(dir), MEMORY_DIR "memory%" PRIu64 "/",
	    index) < 0 ||
	    (dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		code = errno;
		resp = code == ENOENT ? RESP_NOT_FOUND : RESP_FAILED;
		goto out;
	}
	if (read_sysfs(dfd, "state", state, STATE_BUF, &ignored) < 0) {
		code = errno;
		if (code != ENOENT)
			resp = RESP_FAILED;
		else if (!online)
			resp = RESP_NOT_SUPPORTED;
	} else if (online != (strncmp(state, "online", 6) == 0)) {
		if (write_sysfs(dfd, "state", online ? "online" : "offline") < 0) {
			code = errno;
			resp = RESP_FAILED;
		} else {
			has_code = false;
		}
	} else {
		has_code = false;	/* already in that state */
	}
	qga_error_clear(&ignored);
	close(dfd);
out:
	if (has_code)
		return json_pack("{s:I,s:s,s:i}", "phys-index", (json_int_t)index,
		    "response", resp_names[resp], "error-code", code);
	return json_pack("{s:I,s:s}", "phys-index", (json_int_t)index,
	    "response", resp_names[resp]);
}

json_t *
qmp_guest_set_memory_blocks(const struct qga_args_guest_set_memory_blocks *args,
    struct qga_ctx *ctx, struct qga_error *err)
{
	struct sysinfo_list list;
	size_t i;
	json_t *b;

	(void)ctx;
	(void)err;
	sysinfo_list_init(&list, "guest-set-memory-blocks");
	json_array_foreach(args->mem_blks, i, b) {
		json_t *idx = json_object_get(b, "phys-index");
		/* uint64 above INT64_MAX arrives as a real: no such block. */
		uint64_t index = json_is_integer(idx) ?
		    (uint64_t)json_integer_value(idx) :
		    (uint64_t)json_number_value(idx);

		sysinfo_list_add(&list, write_block(index,
		    json_is_true(json_object_get(b, "online"))));
	}
	return list.array;
}

json_t *
qmp_guest_get_memory_block_info(struct qga_ctx *ctx, struct qga_error *err)
{
	char dir[PATH_MAX], buf[BLOCK_SIZE_BUF + 1];
	int dfd = -1;

	(void)ctx;
	if (sysinfo_sys_path(dir, sizeof(dir), MEMORY_DIR) == 0)
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		qga_error_set_errno(err, errno, "open(\"%s\")", dir);
		return NULL;
	}
	if (read_sysfs(dfd, "block_size_bytes", buf, BLOCK_SIZE_BUF, err) < 0) {
		close(dfd);
		return NULL;
	}
	close(dfd);
	return json_pack("{s:I}", "size",
	    (json_int_t)strtoll(buf, NULL, 16));	/* hex, in bytes */
}

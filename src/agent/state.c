/* Persistent state in the state directory. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keyfile.h"
#include "state.h"

int
qga_state_init(struct qga_state *st, const char *statedir)
{
	memset(st, 0, sizeof(*st));
	st->fd_counter = QGA_FIRST_HANDLE;
	if (asprintf(&st->path, "%s/%s", statedir, QGA_STATE_FILE) < 0)
		return -1;
	if (asprintf(&st->frozen_path, "%s%s", st->path, QGA_FROZEN_SUFFIX) < 0)
		return -1;
	return 0;
}

static int
write_state(const struct qga_state *st)
{
	char *tmp = NULL;
	FILE *f;
	int ok;
	/*
	 * Like qemu-ga (GLib's g_file_set_contents), fsync only when replacing
	 * a state file: a first one has no older counter to lose, and a crash
	 * leaves it at worst empty, which reads as the default. Saves an
	 * fsync at a first start-up.
	 */
	bool replacing = access(st->path, F_OK) == 0;

	/* Write and rename, so a crash never leaves a torn counter. */
	if (asprintf(&tmp, "%s.tmp", st->path) < 0)
		return -1;
	f = fopen(tmp, "we");
	if (f == NULL) {
		free(tmp);
		return -1;
	}
	fprintf(f, "[global]\nfd_counter=%" PRId64 "\n", st->fd_counter);
	ok = fflush(f) == 0 && (!replacing || fsync(fileno(f)) == 0);
	ok = (fclose(f) == 0) && ok;
	if (!ok || rename(tmp, st->path) < 0) {
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	return 0;
}

int
qga_state_load(struct qga_state *st, bool create)
{
	struct keyfile *kf;
	const char *v;
	char *err = NULL, *end;

	kf = keyfile_load(st->path, &err);
	if (kf == NULL) {
		if (errno == ENOENT) {
			free(err);
			st->fd_counter = QGA_FIRST_HANDLE;
			return create ? write_state(st) : 0;
		}
		fprintf(stderr, "error loading persistent state from path: %s, %s\n",
		    st->path, err ? err : "error");
		fprintf(stderr, "failed to load persistent state\n");
		free(err);
		return -1;
	}
	v = keyfile_get(kf, "global", "fd_counter");
	if (v) {
		errno = 0;
		long long n = strtoll(v, &end, 10);
		if (errno || *end || end == v) {
			fprintf(stderr, "failed to load persistent state\n");
			keyfile_free(kf);
			return -1;
		}
		st->fd_counter = n;
	}
	keyfile_free(kf);
	return 0;
}

int64_t
qga_state_next_handle(struct qga_state *st)
{
	int64_t h = st->fd_counter;

	st->fd_counter++;
	if (write_state(st) < 0) {
		st->fd_counter--;
		return -1;
	}
	return h;
}

bool
qga_state_frozen_marker(const struct qga_state *st)
{
	return access(st->frozen_path, F_OK) == 0;
}

int
qga_state_set_frozen_marker(const struct qga_state *st, bool frozen)
{
	int fd;

	if (!frozen)
		return unlink(st->frozen_path) == 0 || errno == ENOENT ? 0 : -1;
	fd = open(st->frozen_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

void
qga_state_free(struct qga_state *st)
{
	free(st->path);
	free(st->frozen_path);
}

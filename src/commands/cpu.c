/* guest-get-vcpus, guest-set-vcpus, guest-get-cpustats. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctx.h"
#include "log.h"
#include "qga-schema-gen.h"
#include "sysinfo.h"

#define CPU_DIR		"/devices/system/cpu"
#define CPUSTAT_FIELDS	10	/* user .. guest_nice in /proc/stat */
#define MS_PER_S	1000

/*
 * Move a CPU's online state between the system and a vcpu object, with
 * qemu-ga's texts. Reading: fills online and can-offline (no "online"
 * file, as for cpu0 on x86, means online and not offlinable). Writing:
 * writes "online" only when the state differs.
 */
static int
transfer_vcpu(json_t *vcpu, int64_t id, bool to_vcpu, struct qga_error *err)
{
	char dir[PATH_MAX];
	bool want = json_is_true(json_object_get(vcpu, "online"));
	unsigned char status;
	ssize_t n;
	int dfd, fd, rc = -1;

	if (sysinfo_sys_path(dir, sizeof(dir), CPU_DIR "/cpu%" PRId64 "/", id) < 0) {
		qga_error_set_errno(err, errno, "open(\"%s\")", dir);
		return -1;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		qga_error_set_errno(err, errno, "open(\"%s\")", dir);
		return -1;
	}
	fd = openat(dfd, "online", (to_vcpu ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT) {
			qga_error_set_errno(err, errno, "open(\"%s/online\")", dir);
		} else if (to_vcpu) {
			json_object_set_new(vcpu, "online", json_true());
			json_object_set_new(vcpu, "can-offline", json_false());
			rc = 0;
		} else if (!want) {
			qga_error_set(err, "logical processor #%" PRId64
			    " can't be offlined", id);
		} else {
			rc = 0;	/* it cannot be offline: already online */
		}
		close(dfd);
		return rc;
	}
	n = pread(fd, &status, 1, 0);
	if (n < 0) {
		qga_error_set_errno(err, errno, "pread(\"%s/online\")", dir);
	} else if (n == 0) {
		qga_error_set(err, "pread(\"%s/online\"): unexpected EOF", dir);
	} else if (to_vcpu) {
		json_object_set_new(vcpu, "online", json_boolean(status != '0'));
		json_object_set_new(vcpu, "can-offline", json_true());
		rc = 0;
	} else if (want != (status != '0')) {
		status = want ? '1' : '0';
		if (pwrite(fd, &status, 1, 0) < 0)
			qga_error_set_errno(err, errno, "pwrite(\"%s/online\")", dir);
		else
			rc = 0;
	} else {
		rc = 0;
	}
	close(fd);
	close(dfd);
	return rc;
}

/* "cpu<digits>..." as qemu-ga's sscanf("cpu%ld") accepts it. */
static bool
cpu_entry_id(const char *name, int64_t *id)
{
	char *end;

	if (strncmp(name, "cpu", 3) != 0 || !isdigit((unsigned char)name[3]))
		return false;
	errno = 0;
	*id = strtoll(name + 3, &end, 10);
	return errno == 0;
}

json_t *
qmp_guest_get_vcpus(struct qga_ctx *ctx, struct qga_error *err)
{
	char path[PATH_MAX];
	struct sysinfo_list list;
	struct dirent *de;
	DIR *d = NULL;

	(void)ctx;
	if (sysinfo_sys_path(path, sizeof(path), CPU_DIR) == 0)
		d = opendir(path);
	if (d == NULL) {
		qga_error_set_errno(err, errno, "failed to list entries: %s", path);
		return NULL;
	}
	sysinfo_list_init(&list, "guest-get-vcpus");
	while ((de = readdir(d)) != NULL) {
		int64_t id;
		json_t *vcpu;

		if (!cpu_entry_id(de->d_name, &id))
			continue;
		vcpu = json_pack("{s:I}", "logical-id", (json_int_t)id);
		if (transfer_vcpu(vcpu, id, true, err) < 0) {
			json_decref(vcpu);
			break;
		}
		sysinfo_list_add(&list, vcpu);
	}
	closedir(d);
	if (qga_error_isset(err)) {
		json_decref(list.array);
		return NULL;
	}
	return list.array;
}

json_t *
qmp_guest_set_vcpus(const struct qga_args_guest_set_vcpus *args,
    struct qga_ctx *ctx, struct qga_error *err)
{
	struct qga_error one = { 0 };
	json_int_t processed = 0;
	size_t i;
	json_t *v;

	(void)ctx;
	/* Stop at the first failure; it is an error only when nothing was
	 * done, otherwise the caller learns how far we got. */
	json_array_foreach(args->vcpus, i, v) {
		json_t *copy = json_deep_copy(v);
		int64_t id = json_integer_value(json_object_get(v, "logical-id"));
		int rc = transfer_vcpu(copy, id, false, &one);

		json_decref(copy);
		if (rc < 0)
			break;
		processed++;
	}
	if (qga_error_isset(&one)) {
		if (processed == 0)
			qga_error_set(err, "%s", one.desc ? one.desc : "");
		qga_error_clear(&one);
		if (processed == 0)
			return NULL;
	}
	return json_integer(processed);
}

json_t *
qmp_guest_get_cpustats(struct qga_ctx *ctx, struct qga_error *err)
{
	static const char *const names[CPUSTAT_FIELDS] = {
		"user", "nice", "system", "idle", "iowait", "irq", "softirq",
		"steal", "guest", "guestnice",
	};
	char path[PATH_MAX];
	struct sysinfo_list list;
	long tck = sysconf(_SC_CLK_TCK);
	char *line = NULL;
	size_t cap = 0;
	FILE *f = NULL;

	(void)ctx;
	if (sysinfo_proc_path(path, sizeof(path), "/stat") == 0)
		f = fopen(path, "re");
	if (f == NULL) {
		qga_error_set_errno(err, errno, "open(\"%s\")", path);
		return NULL;
	}
	if (tck <= 0)
		tck = 100;
	sysinfo_list_init(&list, "guest-get-cpustats");
	while (getline(&line, &cap, f) != -1) {
		unsigned long long v[CPUSTAT_FIELDS];
		char *p = line, *end;
		int nv = 0;
		json_t *st;

		/* "cpuN ..." lines only; the aggregate "cpu" line is skipped. */
		if (strncmp(p, "cpu", 3) != 0 || isspace((unsigned char)p[3]) ||
		    p[3] == '\0')
			continue;
		p += strcspn(p, " \t\n");
		while (nv < CPUSTAT_FIELDS) {
			while (*p == ' ' || *p == '\t')
				p++;
			if (!isdigit((unsigned char)*p))
				break;
			v[nv++] = strtoull(p, &end, 10);
			p = end;
		}
		if (nv < 4) {
			qga_slog("Parsing cpu stat from %s failed, see \"man proc\"",
			    path);
			break;
		}
		st = json_pack("{s:s,s:i}", "type", "linux", "cpu",
		    atoi(line + 3));
		/* Fields the kernel does not supply are omitted; ticks -> ms. */
		for (int k = 0; k < nv; k++)
			json_object_set_new(st, names[k],
			    json_integer((json_int_t)(v[k] * MS_PER_S /
			    (unsigned long long)tck)));
		sysinfo_list_add(&list, st);
	}
	free(line);
	fclose(f);
	return list.array;
}

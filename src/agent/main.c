/*
 * qgad: a QEMU guest agent. Start-up in qemu-ga's order: options and
 * config, --dump-conf, frozen state, logging, persistent state, commands,
 * channel, then daemonise and serve.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"

static int
daemonize(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		return -1;
	if (pid > 0)
		exit(EXIT_SUCCESS);
	umask(S_IRWXG | S_IRWXO);
	if (setsid() < 0)
		return -1;
	if (chdir("/") < 0)
		return -1;
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct qga_command all[QGA_SCHEMA_MAX_COMMANDS];
	const char *names[QGA_SCHEMA_MAX_COMMANDS];
	struct qga_config cfg;
	struct qga_ctx a;
	size_t n;
	int rc;

	/*
	 * Keep freed memory in the heap instead of unmapping it: a file
	 * transfer's buffers are then reused chunk after chunk instead of
	 * being faulted in anew (bench/README.md: a fresh page can cost
	 * 80 us in a VM). agent.c gives the memory back when traffic stops.
	 */
	mallopt(M_MMAP_MAX, 0);
	mallopt(M_TRIM_THRESHOLD, QGA_HEAP_KEEP);
	/* One heap for both threads: a read's buffer (the worker's) and a
	 * write's request (parsed on the main thread) reuse the same pages,
	 * and the worker adds no arena of its own. */
	mallopt(M_ARENA_MAX, 1);
	n = qga_schema_commands(all, QGA_SCHEMA_MAX_COMMANDS);
	for (size_t i = 0; i < n; i++)
		names[i] = all[i].name;
	rc = qga_config_load(&cfg, argc, argv, names, n);
	if (rc != 0) {
		qga_config_free(&cfg);
		return rc > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
	}
	if (cfg.dump_conf) {
		qga_config_dump(&cfg, stdout);
		qga_config_free(&cfg);
		return EXIT_SUCCESS;
	}

	memset(&a, 0, sizeof(a));
	a.cfg = &cfg;
	/* Every failure below leaves through "out", channel open or not. */
	a.ch.fd = a.ch.listen_fd = -1;
	rc = EXIT_FAILURE;
	qga_log_open(stderr, false, cfg.verbose ? QGA_LOG_ALL : QGA_LOG_DEFAULT);
	a.loop = qga_loop_new();
	if (a.loop == NULL ||
	    qga_state_init(&a.state, cfg.statedir) < 0) {
		fprintf(stderr, "out of memory\n");
		goto out;
	}
	if (qga_state_frozen_marker(&a.state)) {
		a.frozen = true;
		qga_log(QGA_LOG_WARNING, "previous instance appears to have exited "
		    "with frozen filesystems. deferring logging/pidfile creation "
		    "and disabling non-fsfreeze-safe commands until "
		    "guest-fsfreeze-thaw is issued, or filesystems are manually "
		    "unfrozen and the file %s is removed", a.state.frozen_path);
		qga_log_pause(true);
	}
	if (cfg.logfile && agent_open_logfile(&a) < 0)
		goto out;
	if (qga_state_load(&a.state, !a.frozen) < 0)
		goto out;
	agent_commands_init(&a);
	if (agent_start_channel(&a) < 0) {
		qga_log(QGA_LOG_CRITICAL, "failed to initialize guest agent channel");
		goto out;
	}
	if (cfg.daemonize) {
		if (daemonize() < 0 || qga_loop_after_fork(a.loop) < 0) {
			qga_log(QGA_LOG_CRITICAL, "failed to daemonize: %s", strerror(errno));
			goto out;
		}
		if (cfg.logfile == NULL)
			qga_log_open(NULL, true, cfg.verbose ? QGA_LOG_ALL : QGA_LOG_DEFAULT);
		if (agent_write_pidfile(&a) < 0)
			goto out;
	}
	agent_run(&a);
	rc = EXIT_SUCCESS;
out:
	/* agent_run() closes all this itself; a failed start-up has not. */
	while (a.clients)
		client_close(a.clients);
	channel_close(&a.ch);
	if (a.pidfile_written)
		unlink(cfg.pidfile);
	qga_loop_free(a.loop);
	qga_state_free(&a.state);
	qga_log_close();
	qga_config_free(&cfg);
	return rc;
}

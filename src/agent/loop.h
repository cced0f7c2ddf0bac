/*
 * The agent's event loop: file descriptors (epoll), one-shot timers,
 * signals (signalfd) and child processes. Single-threaded; callbacks run
 * from qga_loop_run.
 */
#ifndef QGA_LOOP_H
#define QGA_LOOP_H

#include <stdint.h>
#include <sys/types.h>

#define QGA_EV_IN	0x1u
#define QGA_EV_OUT	0x2u
#define QGA_EV_HUP	0x4u	/* reported, never asked for */
#define QGA_EV_ERR	0x8u	/* reported, never asked for */

struct qga_loop;

typedef void (*qga_fd_cb)(int fd, unsigned events, void *data);
typedef void (*qga_timer_cb)(void *data);
typedef void (*qga_signal_cb)(int signo, void *data);
typedef void (*qga_child_cb)(pid_t pid, int status, void *data);

struct qga_loop *qga_loop_new(void);
void	 qga_loop_free(struct qga_loop *l);

/* Watch fd for events (QGA_EV_IN | QGA_EV_OUT; 0 watches HUP/ERR only). */
int	 qga_loop_add_fd(struct qga_loop *l, int fd, unsigned events,
	    qga_fd_cb cb, void *data);
int	 qga_loop_mod_fd(struct qga_loop *l, int fd, unsigned events);
void	 qga_loop_del_fd(struct qga_loop *l, int fd);

/* Call cb once after ms milliseconds; returns an id for qga_loop_del_timer. */
uint64_t qga_loop_add_timer(struct qga_loop *l, unsigned ms, qga_timer_cb cb,
	    void *data);
void	 qga_loop_del_timer(struct qga_loop *l, uint64_t id);

/* Deliver signo through the loop instead of asynchronously. */
int	 qga_loop_add_signal(struct qga_loop *l, int signo, qga_signal_cb cb,
	    void *data);

/* Reap pid when it exits and call cb with its wait status. Only watched
 * pids are reaped, so code that waits for its own children synchronously
 * keeps working. */
int	 qga_loop_watch_child(struct qga_loop *l, pid_t pid, qga_child_cb cb,
	    void *data);

/* After fork() in a process that keeps using the loop (daemonising): a
 * signalfd wakes epoll only in the process that created it, so the child
 * needs its own. */
int	 qga_loop_after_fork(struct qga_loop *l);

/* In a forked child before exec: undo the loop's signal blocking. */
void	 qga_loop_child_reset(void);

int	 qga_loop_run(struct qga_loop *l);
void	 qga_loop_quit(struct qga_loop *l);

#endif

/* Event loop on epoll, with timers, signalfd signals and child reaping. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

struct fd_watch {
	int		 fd;
	qga_fd_cb	 cb;
	void		*data;
	bool		 live;
	unsigned	 events;	/* as last given to epoll */
};

struct timer {
	uint64_t	 id;
	uint64_t	 due_ms;
	qga_timer_cb	 cb;
	void		*data;
	struct timer	*next;
};

struct sig_watch {
	int		 signo;
	qga_signal_cb	 cb;
	void		*data;
};

struct child_watch {
	pid_t		 pid;
	qga_child_cb	 cb;
	void		*data;
};

#define MAX_SIGNALS	8

struct qga_loop {
	int			 epfd;
	struct fd_watch		*fds;		/* indexed by fd */
	size_t			 nfds;
	struct timer		*timers;	/* sorted by due time */
	uint64_t		 next_timer_id;
	int			 sigfd;
	sigset_t		 sigmask;
	struct sig_watch	 sigs[MAX_SIGNALS];
	size_t			 nsigs;
	struct child_watch	*children;
	size_t			 nchildren, capchildren;
	bool			 quit;
};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint32_t
to_epoll(unsigned ev)
{
	return ((ev & QGA_EV_IN) ? EPOLLIN : 0) | ((ev & QGA_EV_OUT) ? EPOLLOUT : 0);
}

struct qga_loop *
qga_loop_new(void)
{
	struct qga_loop *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->sigfd = -1;
	sigemptyset(&l->sigmask);
	if (l->epfd < 0) {
		free(l);
		return NULL;
	}
	return l;
}

void
qga_loop_free(struct qga_loop *l)
{
	struct timer *t;

	if (l == NULL)
		return;
	while ((t = l->timers)) {
		l->timers = t->next;
		free(t);
	}
	if (l->sigfd >= 0)
		close(l->sigfd);
	close(l->epfd);
	free(l->fds);
	free(l->children);
	free(l);
}

int
qga_loop_add_fd(struct qga_loop *l, int fd, unsigned events, qga_fd_cb cb,
    void *data)
{
	struct epoll_event ev = { .events = to_epoll(events), .data.fd = fd };

	if (fd < 0)
		return -EBADF;
	if ((size_t)fd >= l->nfds) {
		size_t n = (size_t)fd + 16;
		struct fd_watch *p = realloc(l->fds, n * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		memset(p + l->nfds, 0, (n - l->nfds) * sizeof(*p));
		l->fds = p;
		l->nfds = n;
	}
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	l->fds[fd] = (struct fd_watch){ fd, cb, data, true, events };
	return 0;
}

int
qga_loop_mod_fd(struct qga_loop *l, int fd, unsigned events)
{
	struct epoll_event ev = { .events = to_epoll(events), .data.fd = fd };

	/* The agent re-arms its channel after every request: skip the
	 * syscall when nothing changes. */
	if (fd >= 0 && (size_t)fd < l->nfds && l->fds[fd].live &&
	    l->fds[fd].events == events)
		return 0;
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	if (fd >= 0 && (size_t)fd < l->nfds)
		l->fds[fd].events = events;
	return 0;
}

void
qga_loop_del_fd(struct qga_loop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->nfds || !l->fds[fd].live)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	l->fds[fd].live = false;
}

uint64_t
qga_loop_add_timer(struct qga_loop *l, unsigned ms, qga_timer_cb cb, void *data)
{
	struct timer *t = calloc(1, sizeof(*t)), **pp;

	if (t == NULL)
		return 0;
	t->id = ++l->next_timer_id;
	t->due_ms = now_ms() + ms;
	t->cb = cb;
	t->data = data;
	for (pp = &l->timers; *pp && (*pp)->due_ms <= t->due_ms; pp = &(*pp)->next)
		;
	t->next = *pp;
	*pp = t;
	return t->id;
}

void
qga_loop_del_timer(struct qga_loop *l, uint64_t id)
{
	struct timer **pp, *t;

	for (pp = &l->timers; (t = *pp); pp = &t->next)
		if (t->id == id) {
			*pp = t->next;
			free(t);
			return;
		}
}

static void reap_children(struct qga_loop *l);

static void
signal_ready(int fd, unsigned events, void *data)
{
	struct qga_loop *l = data;
	struct signalfd_siginfo si;

	(void)events;
	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		if ((int)si.ssi_signo == SIGCHLD) {
			reap_children(l);
			continue;
		}
		for (size_t i = 0; i < l->nsigs; i++)
			if (l->sigs[i].signo == (int)si.ssi_signo)
				l->sigs[i].cb((int)si.ssi_signo, l->sigs[i].data);
	}
}

static int
block_signal(struct qga_loop *l, int signo)
{
	int fd;

	sigaddset(&l->sigmask, signo);
	if (sigprocmask(SIG_BLOCK, &l->sigmask, NULL) < 0)
		return -errno;
	fd = signalfd(l->sigfd, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (l->sigfd < 0) {
		l->sigfd = fd;
		return qga_loop_add_fd(l, fd, QGA_EV_IN, signal_ready, l);
	}
	return 0;
}

int
qga_loop_add_signal(struct qga_loop *l, int signo, qga_signal_cb cb, void *data)
{
	if (l->nsigs == MAX_SIGNALS)
		return -ENOSPC;
	l->sigs[l->nsigs++] = (struct sig_watch){ signo, cb, data };
	return block_signal(l, signo);
}

int
qga_loop_watch_child(struct qga_loop *l, pid_t pid, qga_child_cb cb, void *data)
{
	int rc;

	if (!sigismember(&l->sigmask, SIGCHLD) && (rc = block_signal(l, SIGCHLD)) < 0)
		return rc;
	if (l->nchildren == l->capchildren) {
		size_t n = l->capchildren ? l->capchildren * 2 : 8;
		struct child_watch *p = realloc(l->children, n * sizeof(*p));
		if (p == NULL)
			return -ENOMEM;
		l->children = p;
		l->capchildren = n;
	}
	l->children[l->nchildren++] = (struct child_watch){ pid, cb, data };
	/* It may have exited before we started watching. */
	reap_children(l);
	return 0;
}

static void
reap_children(struct qga_loop *l)
{
	size_t i = 0;
	int status;

	while (i < l->nchildren) {
		struct child_watch c = l->children[i];
		pid_t r = waitpid(c.pid, &status, WNOHANG);

		if (r == c.pid || (r < 0 && errno == ECHILD)) {
			l->children[i] = l->children[--l->nchildren];
			c.cb(c.pid, r == c.pid ? status : 0, c.data);
			continue;
		}
		i++;
	}
}

int
qga_loop_after_fork(struct qga_loop *l)
{
	int fd;

	if (l->sigfd < 0)
		return 0;
	fd = signalfd(-1, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	qga_loop_del_fd(l, l->sigfd);
	close(l->sigfd);
	l->sigfd = fd;
	return qga_loop_add_fd(l, fd, QGA_EV_IN, signal_ready, l);
}

void
qga_loop_child_reset(void)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
}

void
qga_loop_quit(struct qga_loop *l)
{
	l->quit = true;
}

int
qga_loop_run(struct qga_loop *l)
{
	struct epoll_event evs[16];

	l->quit = false;
	while (!l->quit) {
		int timeout = -1, n;
		uint64_t now = now_ms();

		if (l->timers) {
			struct timer *t = l->timers;
			if (t->due_ms <= now) {
				l->timers = t->next;
				t->cb(t->data);
				free(t);
				continue;
			}
			timeout = (int)(t->due_ms - now);
		}
		n = epoll_wait(l->epfd, evs, 16, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n && !l->quit; i++) {
			int fd = evs[i].data.fd;
			unsigned ev = 0;

			if ((size_t)fd >= l->nfds || !l->fds[fd].live)
				continue;
			if (evs[i].events & EPOLLIN)
				ev |= QGA_EV_IN;
			if (evs[i].events & EPOLLOUT)
				ev |= QGA_EV_OUT;
			if (evs[i].events & EPOLLHUP)
				ev |= QGA_EV_HUP;
			if (evs[i].events & EPOLLERR)
				ev |= QGA_EV_ERR;
			l->fds[fd].cb(fd, ev, l->fds[fd].data);
		}
	}
	return 0;
}

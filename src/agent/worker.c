/*
 * The worker thread: commands that may block (file I/O, freeze hooks,
 * statvfs on a hung mount, helper programs) run here, one at a time, so
 * that the main thread keeps answering out-of-band requests, other
 * clients, signals and children meanwhile. Finished jobs go back to the
 * main thread through an eventfd.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"

struct call {
	void		(*fn)(struct qga_ctx *, void *);
	void		*data;
	struct call	*next;
	/* A caller waits for it (and frees it), unless it gave up waiting. */
	bool		 waited, ran, abandoned;
};

struct worker {
	struct qga_ctx	*agent;
	pthread_t	 thread;
	pthread_t	 main_thread;
	struct call	*calls, **calls_tail;
	pthread_mutex_t	 lock;
	pthread_cond_t	 wake;
	pthread_cond_t	 ran;		/* a waited-for call has run */
	struct job	*todo, **todo_tail;
	struct job	*done, **done_tail;
	int		 efd;
	bool		 quit;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	sigset_t all;

	/* Signals are the main thread's (signalfd): none may land here. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct job *j;
		uint64_t one = 1;

		while (w->todo == NULL && !w->quit)
			pthread_cond_wait(&w->wake, &w->lock);
		if (w->todo == NULL)
			break;
		j = w->todo;
		w->todo = j->wnext;
		if (w->todo == NULL)
			w->todo_tail = &w->todo;
		pthread_mutex_unlock(&w->lock);

		agent_execute(w->agent, j);

		pthread_mutex_lock(&w->lock);
		j->wnext = NULL;
		*w->done_tail = j;
		w->done_tail = &j->wnext;
		if (write(w->efd, &one, sizeof(one)) < 0)
			qga_log(QGA_LOG_ERROR, "worker: cannot wake the main loop");
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void
finished(int fd, unsigned events, void *data)
{
	struct worker *w = data;
	struct job *list, *j;
	struct call *calls, *c;
	uint64_t n;

	(void)events;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&w->lock);
	list = w->done;
	w->done = NULL;
	w->done_tail = &w->done;
	calls = w->calls;
	w->calls = NULL;
	w->calls_tail = &w->calls;
	pthread_mutex_unlock(&w->lock);
	/* Calls a job posted come before its reply. */
	while ((c = calls)) {
		calls = c->next;
		c->fn(w->agent, c->data);
		pthread_mutex_lock(&w->lock);
		if (c->waited && !c->abandoned) {
			c->ran = true;
			pthread_cond_broadcast(&w->ran);
			c = NULL;
		}
		pthread_mutex_unlock(&w->lock);
		free(c);
	}
	while ((j = list)) {
		list = j->wnext;
		j->wnext = NULL;
		client_job_done(j);
	}
}

struct worker *
worker_start(struct qga_ctx *a)
{
	struct worker *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->agent = a;
	w->main_thread = pthread_self();
	w->calls_tail = &w->calls;
	w->todo_tail = &w->todo;
	w->done_tail = &w->done;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	pthread_cond_init(&w->ran, NULL);
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->efd < 0 || qga_loop_add_fd(a->loop, w->efd, QGA_EV_IN, finished, w) < 0 ||
	    pthread_create(&w->thread, NULL, worker_main, w) != 0) {
		if (w->efd >= 0)
			close(w->efd);
		free(w);
		return NULL;
	}
	return w;
}

void
worker_submit(struct worker *w, struct job *j)
{
	pthread_mutex_lock(&w->lock);
	j->wnext = NULL;
	*w->todo_tail = j;
	w->todo_tail = &j->wnext;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
}

static struct call *
post(struct worker *w, void (*fn)(struct qga_ctx *, void *), void *data,
    bool waited)
{
	struct call *c = calloc(1, sizeof(*c));
	uint64_t one = 1;

	if (c == NULL) {
		qga_log(QGA_LOG_ERROR, "worker: out of memory posting to the main loop");
		return NULL;
	}
	c->fn = fn;
	c->data = data;
	c->waited = waited;
	pthread_mutex_lock(&w->lock);
	*w->calls_tail = c;
	w->calls_tail = &c->next;
	if (write(w->efd, &one, sizeof(one)) < 0)
		qga_log(QGA_LOG_ERROR, "worker: cannot wake the main loop");
	return c;	/* locked */
}

void
worker_call_on_main(struct worker *w, void (*fn)(struct qga_ctx *, void *),
    void *data)
{
	if (w == NULL || pthread_equal(pthread_self(), w->main_thread)) {
		fn(w ? w->agent : NULL, data);
		return;
	}
	if (post(w, fn, data, false))
		pthread_mutex_unlock(&w->lock);
}

int
worker_call_on_main_wait(struct worker *w, void (*fn)(struct qga_ctx *, void *),
    void *data, int timeout_ms)
{
	struct timespec until;
	struct call *c;
	bool ran;

	if (w == NULL || pthread_equal(pthread_self(), w->main_thread)) {
		fn(w ? w->agent : NULL, data);
		return 1;
	}
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	if ((c = post(w, fn, data, true)) == NULL)
		return -1;
	/* worker_stop() joins this thread: stopping ends the wait. */
	while (!c->ran && !w->quit &&
	    pthread_cond_timedwait(&w->ran, &w->lock, &until) != ETIMEDOUT)
		;
	ran = c->ran;
	if (!ran)
		c->abandoned = true;	/* the main thread frees it */
	pthread_mutex_unlock(&w->lock);
	if (ran)
		free(c);
	return ran ? 1 : 0;
}

void
worker_stop(struct worker *w)
{
	struct job *j;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->quit = true;
	pthread_cond_broadcast(&w->ran);
	/* Jobs not started yet are not started any more. */
	while ((j = w->todo)) {
		w->todo = j->wnext;
		j->done = true;
		*w->done_tail = j;
		w->done_tail = &j->wnext;
	}
	w->todo_tail = &w->todo;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	qga_loop_del_fd(w->agent->loop, w->efd);
	finished(w->efd, 0, w);
	close(w->efd);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->wake);
	pthread_cond_destroy(&w->ran);
	free(w);
}

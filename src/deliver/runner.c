/*
 * runner.c: the delivery queue.  In: queued messages (a scan of queue/
 * at start, then the spool's commit notices through queue_watch), the
 * settings delivery, delivery_map and delivery_*, SIGUSR1 (mxd -Q).
 * Out: each recipient's copy in its mailbox (maildir.c, lmtp.c), one
 * durable state line per transition in state/<QID> (delivered, deferred
 * <next-try> <reason>, failed <reason>; `sent`/`bounced <mailbox>` for
 * one mailbox of an alias whose other mailboxes are not done), one log
 * line per delivery, failed messages in dead/, and queue_unlink() once
 * every recipient is final.  The loop plans (plan.c: reads the envelope
 * and the state, expands aliases, picks targets) and never waits for a
 * store or a disk flush: delivery_concurrency worker threads (worker.c)
 * deliver, write the state lines and answer through a pipe, as the
 * spool's I/O thread does.  This file: the known messages (due now, in
 * arrival order; due later, looked at when the earliest is due; a
 * worker's), the threads, the pipe, the retry timer, mxd -Q, and
 * yielding to SMTP intake.  Every step is O(1) per message, so a large
 * queue costs the loop nothing per commit.  Recipients whose target is
 * `keep` are left in the spool for POP3.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <search.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "deliver.h"

static struct dl_entries	 runner_all = TAILQ_HEAD_INITIALIZER(runner_all);
static struct dl_entries	 runner_ready = TAILQ_HEAD_INITIALIZER(runner_ready);
static struct dl_entries	 runner_later = TAILQ_HEAD_INITIALIZER(runner_later);
static void			*runner_tree;	/* every entry, by queue ID */
static time_t			 runner_later_first;	/* 0: none later */
static struct dl_jobs		 runner_todo = TAILQ_HEAD_INITIALIZER(runner_todo);
static struct dl_jobs		 runner_done = TAILQ_HEAD_INITIALIZER(runner_done);
static pthread_mutex_t		 runner_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t		 runner_cond = PTHREAD_COND_INITIALIZER;
static pthread_t		*runner_threads;
static size_t			 runner_nthreads;
static int			 runner_stopping;
static int			 runner_pipe[2] = { -1, -1 };
static struct event		*runner_pipe_ev, *runner_timer, *runner_yield_ev;
static unsigned			 runner_busy;
static long long		 runner_last_hand;	/* intake_defer() */

static void	runner_kick(void);

/*
 * The workers' nice: intake first.  On a small machine the workers and
 * the store they feed (Dovecot) share the CPUs with SMTP; at nice 0 a
 * busy delivery took a quarter of intake.  Delivery only waits for
 * CPU, never for the loop, and catches up once intake eases; a worker
 * holds runner_lock only to move a job between lists.
 */
#define RUNNER_NICE	10

/*
 * Intake first, on the loop too: while SMTP intake is busy (intake.c),
 * hand out one message per RUNNER_YIELD_MS and look again every
 * RUNNER_YIELD_POLL_MS.  The nice above is not enough where the store
 * is another program (Dovecot's LMTP took a whole CPU from intake on a
 * two-CPU machine); a burst is taken at full speed and delivered after
 * it, and endless intake still sees its mail delivered.
 */
#define RUNNER_YIELD_MS		1000
#define RUNNER_YIELD_POLL_MS	20

/* A worker thread: take jobs, do them, hand them back to the loop. */
static void *
runner_thread(void *arg)
{
	struct lmtp_session	 ls = { .fd = -1 };
	struct dl_job		*j;
	char			 c = 0;
	int			 wake;

#ifdef __linux__
	(void)pthread_setname_np(pthread_self(), "mxd-deliver");
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), RUNNER_NICE) == -1)
		log_warn("deliver: setpriority");
#endif
	for (;;) {
		pthread_mutex_lock(&runner_lock);
		while (TAILQ_EMPTY(&runner_todo) && !runner_stopping)
			pthread_cond_wait(&runner_cond, &runner_lock);
		if (runner_stopping) {
			pthread_mutex_unlock(&runner_lock);
			break;
		}
		j = TAILQ_FIRST(&runner_todo);
		TAILQ_REMOVE(&runner_todo, j, entry);
		pthread_mutex_unlock(&runner_lock);

		worker_run(j, &ls);

		pthread_mutex_lock(&runner_lock);
		wake = TAILQ_EMPTY(&runner_done);
		TAILQ_INSERT_TAIL(&runner_done, j, entry);
		pthread_mutex_unlock(&runner_lock);
		if (wake)
			while (write(runner_pipe[1], &c, 1) == -1 && errno == EINTR)
				;
	}
	lmtp_session_close(&ls);
	return (NULL);
}

/* Order entries by queue ID (tsearch). */
static int
runner_entry_cmp(const void *a, const void *b)
{
	return (strcmp(((const struct dl_entry *)a)->qid,
	    ((const struct dl_entry *)b)->qid));
}

/* Put e on the list its due time says: now, or later. */
static void
runner_place(struct dl_entry *e, time_t now)
{
	if (e->due <= now) {
		e->where = DL_READY;
		TAILQ_INSERT_TAIL(&runner_ready, e, entry);
		return;
	}
	e->where = DL_LATER;
	TAILQ_INSERT_TAIL(&runner_later, e, entry);
	if (runner_later_first == 0 || e->due < runner_later_first)
		runner_later_first = e->due;
}

/* Take e off its list: a worker has it now, or it goes. */
static void
runner_unplace(struct dl_entry *e)
{
	if (e->where == DL_READY)
		TAILQ_REMOVE(&runner_ready, e, entry);
	else if (e->where == DL_LATER)
		TAILQ_REMOVE(&runner_later, e, entry);
	e->where = DL_BUSY;
}

/* Forget an entry. */
static void
runner_entry_free(struct dl_entry *e)
{
	runner_unplace(e);
	tdelete(e, &runner_tree, runner_entry_cmp);
	TAILQ_REMOVE(&runner_all, e, all);
	free(e);
}

/* Move what is due by now from the later list to the ready one. */
static void
runner_wake(time_t now)
{
	struct dl_entries	 all = TAILQ_HEAD_INITIALIZER(all);
	struct dl_entry		*e;

	if (runner_later_first == 0 || runner_later_first > now)
		return;
	runner_later_first = 0;
	TAILQ_CONCAT(&all, &runner_later, entry);
	while ((e = TAILQ_FIRST(&all)) != NULL) {
		TAILQ_REMOVE(&all, e, entry);
		runner_place(e, now);
	}
}

/* Finished jobs: log their lines, schedule their next try (loop). */
static void
runner_pipe_cb(evutil_socket_t fd, short events, void *arg)
{
	struct dl_jobs	 got = TAILQ_HEAD_INITIALIZER(got);
	struct dl_job	*j;
	char		 buf[64];
	size_t		 i;

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&runner_lock);
	TAILQ_CONCAT(&got, &runner_done, entry);
	pthread_mutex_unlock(&runner_lock);
	while ((j = TAILQ_FIRST(&got)) != NULL) {
		TAILQ_REMOVE(&got, j, entry);
		for (i = 0; i < j->log.n; i++)
			log_info("%s", j->log.v[i]);
		if (j->removed)
			queue_removed(j->e->qid);
		runner_busy--;
		if (j->next == 0 && !j->e->force)
			runner_entry_free(j->e);
		else {
			j->e->due = j->next;
			runner_place(j->e, time(NULL));
		}
		plan_job_free(j);
	}
	runner_kick();
}

/* The timer for the next retry is up. */
static void
runner_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	runner_kick();
}

/*
 * Hand due messages to the workers (at most two per worker waiting, and
 * while intake is busy one per RUNNER_YIELD_MS), then set the timer for
 * the first one due later.
 */
static void
runner_kick(void)
{
	struct dl_entry	*e;
	struct dl_job	*j;
	struct timeval	 tv;
	time_t		 now = time(NULL);
	int		 added = 0;

	plan_routes_refresh(0);
	runner_wake(now);
	while (runner_busy < runner_nthreads * 2 &&
	    (e = TAILQ_FIRST(&runner_ready)) != NULL) {
		if (intake_defer(intake_busy, &runner_last_hand,
		    RUNNER_YIELD_MS)) {
			tv.tv_sec = 0;
			tv.tv_usec = RUNNER_YIELD_POLL_MS * 1000;
			if (!evtimer_pending(runner_yield_ev, NULL))
				evtimer_add(runner_yield_ev, &tv);
			break;
		}
		runner_unplace(e);
		if ((j = plan_message(e, now)) == NULL) {
			if (e->due == 0)
				runner_entry_free(e);
			else {
				if (e->due <= now)	/* never spin here */
					e->due = now + 1;
				runner_place(e, now);
			}
			continue;
		}
		runner_busy++;
		pthread_mutex_lock(&runner_lock);
		TAILQ_INSERT_TAIL(&runner_todo, j, entry);
		pthread_mutex_unlock(&runner_lock);
		added = 1;
	}
	if (added)
		pthread_cond_broadcast(&runner_cond);
	if (runner_later_first != 0) {
		tv.tv_sec = runner_later_first > now ?
		    runner_later_first - now : 0;
		tv.tv_usec = 0;
		evtimer_add(runner_timer, &tv);
	}
}

/* Know of qid (due now), once. */
static void
runner_add(const char *qid)
{
	struct dl_entry	 key, *e, **found;

	memcpy(key.qid, qid, QID_LEN + 1);
	if ((found = tfind(&key, &runner_tree, runner_entry_cmp)) != NULL) {
		e = *found;
		e->due = 0;
		if (e->where == DL_LATER) {
			runner_unplace(e);
			runner_place(e, time(NULL));
		}
		return;
	}
	e = xcalloc(1, sizeof(*e));
	memcpy(e->qid, qid, QID_LEN + 1);
	if (tsearch(e, &runner_tree, runner_entry_cmp) == NULL)
		fatal("deliver: tsearch");
	TAILQ_INSERT_TAIL(&runner_all, e, all);
	runner_place(e, time(NULL));
}

/* The spool committed qid (queue_watch). */
static void
runner_committed_cb(const char *qid, void *arg)
{
	runner_add(qid);
	runner_kick();
}

/* At start: every message in queue/ may have recipients to deliver. */
static void
runner_scan_queue(void)
{
	struct dirent	*de;
	char		 qid[QID_LEN + 1];
	DIR		*d;
	int		 fd;

	if ((fd = spool_openat(cfg->spool_dir, "queue", O_RDONLY |
	    O_DIRECTORY, 0)) == -1 || (d = fdopendir(fd)) == NULL) {
		log_warn("deliver: cannot read %s/queue", cfg->spool_dir);
		if (fd != -1)
			close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strlen(de->d_name) != QID_LEN + 4 ||
		    strcmp(de->d_name + QID_LEN, ".eml") != 0)
			continue;
		memcpy(qid, de->d_name, QID_LEN);
		qid[QID_LEN] = '\0';
		if (queue_id_valid(qid))
			runner_add(qid);
	}
	closedir(d);
}

/*
 * The event loop exists (or the configuration was reloaded): start the
 * workers and look at the queue; when running, reread delivery_map.
 */
static void
runner_start(struct event_base *base)
{
	size_t	i;

	if (runner_threads != NULL) {
		plan_routes_refresh(1);
		runner_kick();
		return;
	}
	if (!plan_active(cfg))
		return;
	if (pipe2(runner_pipe, O_CLOEXEC | O_NONBLOCK) == -1)
		fatal("deliver: pipe");
	runner_pipe_ev = event_new(base, runner_pipe[0], EV_READ | EV_PERSIST,
	    runner_pipe_cb, NULL);
	runner_timer = evtimer_new(base, runner_timer_cb, NULL);
	runner_yield_ev = evtimer_new(base, runner_timer_cb, NULL);
	if (runner_pipe_ev == NULL || runner_timer == NULL ||
	    runner_yield_ev == NULL)
		fatalx("deliver: event_new failed");
	event_add(runner_pipe_ev, NULL);
	runner_nthreads = (size_t)cfg->delivery_concurrency;
	runner_threads = xcalloc(runner_nthreads, sizeof(*runner_threads));
	for (i = 0; i < runner_nthreads; i++)
		if ((errno = pthread_create(&runner_threads[i], NULL, runner_thread,
		    NULL)) != 0)
			fatal("deliver: pthread_create");
	runner_scan_queue();
	queue_watch(runner_committed_cb, NULL);
	log_info("deliver: %zu workers, delivery=%s%s%s", runner_nthreads,
	    cfg->delivery, cfg->delivery_map[0] ? " delivery_map=" : "",
	    cfg->delivery_map);
	runner_kick();
}

/* SIGUSR1 (mxd -Q): try every message again now, deferred or not. */
static void
runner_retry_now(void)
{
	struct dl_entry	*e;

	if (runner_threads == NULL)
		return;
	runner_scan_queue();
	TAILQ_FOREACH(e, &runner_all, all) {
		e->due = 0;
		e->force = 1;
		if (e->where == DL_LATER) {
			runner_unplace(e);
			runner_place(e, 0);
		}
	}
	log_info("deliver: retrying %s now (mxd -Q)", "every message");
	runner_kick();
}

/* At exit: let the workers finish what they hold, then free it all. */
static void
runner_stop(void)
{
	struct dl_entry	*e;
	struct dl_job	*j;
	size_t		 i;

	if (runner_threads == NULL)
		return;
	queue_unwatch(runner_committed_cb, NULL);
	pthread_mutex_lock(&runner_lock);
	runner_stopping = 1;
	pthread_cond_broadcast(&runner_cond);
	pthread_mutex_unlock(&runner_lock);
	for (i = 0; i < runner_nthreads; i++)
		pthread_join(runner_threads[i], NULL);
	free(runner_threads);
	runner_threads = NULL;
	TAILQ_CONCAT(&runner_done, &runner_todo, entry);
	while ((j = TAILQ_FIRST(&runner_done)) != NULL) {
		TAILQ_REMOVE(&runner_done, j, entry);
		for (i = 0; i < j->log.n; i++)
			log_info("%s", j->log.v[i]);
		plan_job_free(j);
	}
	while ((e = TAILQ_FIRST(&runner_all)) != NULL)
		runner_entry_free(e);
	runner_later_first = 0;
	event_free(runner_pipe_ev);
	event_free(runner_timer);
	event_free(runner_yield_ev);
	close(runner_pipe[0]);
	close(runner_pipe[1]);
	plan_routes_clear();
}

const struct deliverer deliver_runner = {
	.name = "deliver",
	.check = plan_check,
	.start = runner_start,
	.retry_now = runner_retry_now,
	.stop = runner_stop,
	.explain = plan_explain,
};

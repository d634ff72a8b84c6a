/*
 * bulk.c: the API's requests that change many messages (delete all, by
 * search or by a list of IDs; mark read or unread likewise; set the tags
 * of a list of IDs) done in steps on the event loop, so that SMTP, POP3
 * and other HTTP clients are served between them.  In: a request, an
 * operation and the queue IDs it applies to (the caller's list, taken
 * over; for tags, the tags too).  Out: each message deleted
 * (queue_delete: the spool file first, then its row), marked
 * (index_set_read) or tagged (tags_set), a step of at most
 * bulk_rules[op].step messages in
 * one index transaction per turn of the loop, and the request answered
 * once the last step is done (a client that waits for its DELETE sees
 * every message gone).  A client that goes away meanwhile does not stop
 * the work; a shutdown does (bulk_cancel_all: 503, the rest untouched).
 *
 * Why steps: one message's deletion costs about 0.2 ms (an unlink, the
 * index's row and FTS entry, the watchers); deleting 20 000 in one go
 * held every SMTP session for 4 s.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "http/http.h"

/* How many messages one turn of the loop handles, per operation. */
static const struct bulk_rule {
	enum bulk_op	 op;
	size_t		 step;
	const char	*done;		/* for the log */
} bulk_rules[] = {
	[BULK_DELETE] = { BULK_DELETE,	64,	"deleted" },
	[BULK_READ] = { BULK_READ,	256,	"marked read" },
	[BULK_UNREAD] = { BULK_UNREAD,	256,	"marked unread" },
	[BULK_TAG] = { BULK_TAG,	256,	"tagged" },
};

struct bulk_job {
	struct evhttp_request	*req;
	struct timespec		 start;
	enum bulk_op		 op;
	enum bulk_reply		 reply;
	char			**ids;
	size_t			 n, done;
	char			**tags;		/* BULK_TAG */
	size_t			 ntags;
	struct event		*ev;
	LIST_ENTRY(bulk_job)	 entry;
};

static LIST_HEAD(, bulk_job)	bulk_jobs = LIST_HEAD_INITIALIZER(bulk_jobs);
static long long		bulk_deleted;

static struct bulk_job	*bulk_new(struct http_req *, enum bulk_op, char **,
			    size_t, enum bulk_reply);

/* Messages deleted through the API since start (info's MessagesDeleted). */
long long
bulk_deleted_count(void)
{
	return (bulk_deleted);
}

/* Delete one message through the API; 0, or -1 with errno. */
int
bulk_delete_one(const char *qid)
{
	if (queue_delete(http_spool(), qid) != 0)
		return (-1);
	bulk_deleted++;
	return (0);
}

/* Answer j's request with code and forget j. */
static void
bulk_finish(struct bulk_job *j, int code)
{
	struct http_req	r;
	struct timespec	now;
	size_t		i;

	clock_gettime(CLOCK_MONOTONIC, &now);
	log_info("http: %zu of %zu messages %s in %lld ms%s", j->done, j->n,
	    bulk_rules[j->op].done, (long long)(now.tv_sec -
	    j->start.tv_sec) * 1000 + (now.tv_nsec - j->start.tv_nsec) /
	    1000000, code != 200 ? " (shutting down)" : "");
	memset(&r, 0, sizeof(r));
	r.req = j->req;
	TAILQ_INIT(&r.query);
	if (code != 200) {
		http_track_answer(j->req);
		http_reply_error(&r, code, "shutting down: the request was "
		    "not finished");
	}
	else if (j->reply == BULK_REPLY_OK)
		http_reply_data(&r, 200, "text/plain; charset=utf-8", "ok", 2);
	else
		http_reply_empty(&r, 200);
	LIST_REMOVE(j, entry);
	event_free(j->ev);
	for (i = 0; i < j->n; i++)
		free(j->ids[i]);
	free(j->ids);
	for (i = 0; i < j->ntags; i++)
		free(j->tags[i]);
	free(j->tags);
	free(j);
}

/* One step of j: the next messages, in one index transaction. */
static void
bulk_step_cb(evutil_socket_t fd, short events, void *arg)
{
	struct bulk_job	*j = arg;
	struct timeval	 now = { 0, 0 };
	size_t		 end;
	int		 batch;

	(void)fd;
	(void)events;
	end = j->done + bulk_rules[j->op].step;
	if (end > j->n)
		end = j->n;
	batch = end - j->done > 1 && index_batch_begin() == 0;
	for (; j->done < end; j->done++) {
		if (j->op == BULK_TAG)
			(void)tags_set(j->ids[j->done], j->tags, j->ntags);
		else if (j->op != BULK_DELETE)
			(void)index_set_read(j->ids[j->done],
			    j->op == BULK_READ);
		else if (bulk_delete_one(j->ids[j->done]) != 0 &&
		    errno != ENOENT)
			log_warn("http: delete qid=%s", j->ids[j->done]);
	}
	if (batch)
		index_batch_end();
	if (j->done == j->n)
		bulk_finish(j, 200);
	else
		evtimer_add(j->ev, &now);	/* after the loop's I/O */
}

/*
 * Apply op to the n queue IDs of ids (taken over: freed here) for the
 * request r, answering it when done with reply's body.
 */
void
bulk_start(struct http_req *r, enum bulk_op op, char **ids, size_t n,
    enum bulk_reply reply)
{
	bulk_new(r, op, ids, n, reply);
}

/*
 * Set the tags (ntags of them; both lists taken over) of the n messages
 * of ids for r (PUT /api/v1/tags), answering "ok" when done.
 */
void
bulk_tags(struct http_req *r, char **ids, size_t n, char **tags,
    size_t ntags)
{
	struct bulk_job	*j;

	j = bulk_new(r, BULK_TAG, ids, n, BULK_REPLY_OK);
	j->tags = tags;
	j->ntags = ntags;
}

/* A job of op on ids for r, its first step due at once. */
static struct bulk_job *
bulk_new(struct http_req *r, enum bulk_op op, char **ids, size_t n,
    enum bulk_reply reply)
{
	struct evhttp_connection	*evcon;
	struct bulk_job			*j;
	struct timeval			 now = { 0, 0 };

	j = xcalloc(1, sizeof(*j));
	j->req = r->req;
	j->op = op;
	j->reply = reply;
	j->ids = ids;
	j->n = ids != NULL ? n : 0;
	clock_gettime(CLOCK_MONOTONIC, &j->start);
	evcon = evhttp_request_get_connection(r->req);
	j->ev = evtimer_new(evhttp_connection_get_base(evcon), bulk_step_cb,
	    j);
	if (j->ev == NULL)
		fatalx("bulk: evtimer_new failed");
	LIST_INSERT_HEAD(&bulk_jobs, j, entry);
	evtimer_add(j->ev, &now);
	return (j);
}

/* Shutting down: answer every unfinished bulk request 503. */
void
bulk_cancel_all(void)
{
	struct bulk_job	*j;

	while ((j = LIST_FIRST(&bulk_jobs)) != NULL)
		bulk_finish(j, 503);
}

/*
 * wait.c: wait-for-message, mxd's own endpoint (neither Mailpit nor
 * MailHog has it).  GET /api/v1/wait?query=<search>&timeout=<s>
 * [&after=<ID>] answers 200 with the MessageSummary of the newest
 * message matching the search (newer than `after`, if given) as soon
 * as there is one, or 408 with a JSON error when timeout seconds
 * (default 30, at most 300) pass first.  In: the request; the index's
 * notices that messages became visible.  Out: one answer per waiter.
 * A waiter is a pending evhttp request in a list and a timer on the
 * event loop: no thread, no polling.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "http/http.h"

#define WAIT_DEFAULT	30
#define WAIT_MAX	300

struct waiter {
	struct evhttp_request	*req;
	struct search		 s;
	char			 after[QID_LEN + 1];	/* "" for none */
	struct event		*timer;
	LIST_ENTRY(waiter)	 entry;
};

static LIST_HEAD(, waiter)	waiters = LIST_HEAD_INITIALIZER(waiters);

/* Answer a waiter's request through the reply helpers. */
static void
wait_answer(struct waiter *w, int code, json_t *body)
{
	struct http_req	r;

	memset(&r, 0, sizeof(r));
	r.req = w->req;
	TAILQ_INIT(&r.query);
	http_reply_json(&r, code, body);
}

/* Forget a waiter (answered already). */
static void
wait_free(struct waiter *w)
{
	LIST_REMOVE(w, entry);
	index_awaited(-1);
	event_free(w->timer);
	search_free(&w->s);
	free(w);
}

/*
 * The newest message matching s (newer than after if not ""), as a
 * MessageSummary; NULL if none.
 */
static json_t *
wait_match(const struct search *s, const char *after)
{
	struct index_row	*rows;
	size_t			 n;
	json_t			*v = NULL;

	if (index_query(s, after[0] != '\0' ? after : NULL, 0, 1, &rows, &n,
	    NULL, NULL) != 0)
		return (NULL);
	if (n > 0)
		v = json_summary(&rows[0]);
	index_rows_free(rows, n);
	return (v);
}

/* A waiter's time is up: 408. */
static void
wait_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct waiter	*w = arg;

	wait_answer(w, 408, json_pack("{s:s}", "Error",
	    "no matching message within the timeout"));
	wait_free(w);
}

/* Index watcher: qid is visible now; answer every waiter it matches. */
static void
wait_seen_cb(const char *qid, void *arg)
{
	struct waiter	*w, *next;
	json_t		*v;

	for (w = LIST_FIRST(&waiters); w != NULL; w = next) {
		next = LIST_NEXT(w, entry);
		if ((v = wait_match(&w->s, w->after)) == NULL)
			continue;
		wait_answer(w, 200, v);
		wait_free(w);
	}
}

/* Listen to the index's visibility notices. */
void
wait_init(void)
{
	index_watch(wait_seen_cb, NULL);
}

/*
 * The timeout parameter: whole seconds, a trailing "s" allowed (people
 * write 3s), at most WAIT_MAX; absent: WAIT_DEFAULT.  -1 if malformed.
 */
static long long
wait_timeout_param(struct http_req *r)
{
	const char	*v = http_param(r, "timeout");
	long long	 n = 0;
	size_t		 i, len;

	if (v == NULL || *v == '\0')
		return (WAIT_DEFAULT);
	len = strlen(v);
	if (len > 1 && v[len - 1] == 's')
		len--;
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9' || (n = n * 10 + (v[i] - '0')) >
		    WAIT_MAX)
			return (-1);
	}
	return (len > 0 ? n : -1);
}

/* GET /api/v1/wait: answer now, or park the request. */
void
wait_request(struct http_req *r)
{
	struct evhttp_connection	*evcon;
	struct waiter			*w;
	struct timeval			 tv = { 0, 0 };
	const char			*q = http_param(r, "query");
	const char			*after = http_param(r, "after");
	json_t				*v;
	char				 why[64];

	if (after != NULL && *after != '\0' && !queue_id_valid(after)) {
		http_reply_error(r, 400, "after: not a message ID");
		return;
	}
	if ((tv.tv_sec = wait_timeout_param(r)) < 0) {
		snprintf(why, sizeof(why), "timeout: whole seconds from 0 to "
		    "%d, e.g. timeout=30", WAIT_MAX);
		http_reply_error(r, 400, why);
		return;
	}
	w = xcalloc(1, sizeof(*w));
	search_parse(q != NULL ? q : "", &w->s);
	snprintf(w->after, sizeof(w->after), "%s", after != NULL ? after :
	    "");
	if ((v = wait_match(&w->s, w->after)) != NULL) {
		http_reply_json(r, 200, v);
		search_free(&w->s);
		free(w);
		return;
	}
	w->req = r->req;
	evcon = evhttp_request_get_connection(r->req);
	/* The connection's own timeout must outlast the wait. */
	evhttp_connection_set_timeout(evcon, (int)tv.tv_sec + 10);
	w->timer = evtimer_new(evhttp_connection_get_base(evcon),
	    wait_timeout_cb, w);
	evtimer_add(w->timer, &tv);
	LIST_INSERT_HEAD(&waiters, w, entry);
	index_awaited(1);
}

/* Shutting down: answer every waiter 503. */
void
wait_cancel_all(void)
{
	struct waiter	*w;

	while ((w = LIST_FIRST(&waiters)) != NULL) {
		http_track_answer(w->req);
		wait_answer(w, 503, json_pack("{s:s}", "Error",
		    "shutting down"));
		wait_free(w);
	}
}

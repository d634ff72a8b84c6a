/*
 * events.c: live updates as Server-Sent Events (the HTML5 EventSource
 * format), GET /api/v1/events, the path of MailHog's event stream.  In:
 * the index's notices that a message is visible, the queue's removal
 * notices.  Out: on every open stream, `event: new` with the message's
 * MessageSummary as data, `event: delete` with {"ID": ...}, and a
 * comment line every EVENTS_KEEPALIVE seconds so that a dead client is
 * noticed.  A stream is a chunked evhttp reply that never ends until
 * the client goes or mxd stops; no thread, no polling.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "http/http.h"

#define EVENTS_KEEPALIVE	15	/* seconds */
#define EVENTS_TIMEOUT		3600	/* the stream's own I/O timeout */

struct events_client {
	struct evhttp_request		*req;
	LIST_ENTRY(events_client)	 entry;
};

static LIST_HEAD(, events_client) events_clients =
    LIST_HEAD_INITIALIZER(events_clients);
static struct event		*events_timer;

/* Send one SSE record (or a comment, for name NULL) to every client. */
static void
events_send(const char *name, const char *data)
{
	struct events_client	*c, *next;
	struct evbuffer		*b;

	/* A failing client may leave the list (events_close_cb). */
	for (c = LIST_FIRST(&events_clients); c != NULL; c = next) {
		next = LIST_NEXT(c, entry);
		b = evbuffer_new();
		if (name != NULL)
			evbuffer_add_printf(b, "event: %s\ndata: %s\n\n", name,
			    data);
		else
			evbuffer_add_printf(b, ": %s\n\n", data);
		evhttp_send_reply_chunk(c->req, b);
		evbuffer_free(b);
	}
}

/* Send an event whose data is v (its reference taken), on one line. */
static void
events_send_json(const char *name, json_t *v)
{
	char	*s = json_dumps(v, JSON_COMPACT);

	json_decref(v);
	if (s != NULL)
		events_send(name, s);
	free(s);
}

/* Index watcher: a message is visible; `new` with its summary. */
static void
events_seen_cb(const char *qid, void *arg)
{
	struct index_row	r;

	if (LIST_EMPTY(&events_clients) || index_get(qid, &r) != 0)
		return;
	events_send_json("new", json_summary(&r));
	index_row_free(&r);
}

/* Removal watcher: a message was deleted; `delete` with its ID. */
static void
events_removed_cb(const char *qid, void *arg)
{
	if (!LIST_EMPTY(&events_clients))
		events_send_json("delete", json_pack("{s:s}", "ID", qid));
}

/* Every EVENTS_KEEPALIVE seconds: a comment, which finds dead clients. */
static void
events_keepalive_cb(evutil_socket_t fd, short ev, void *arg)
{
	events_send(NULL, "keepalive");
}

/*
 * The client's connection is going: forget the stream.  A request that
 * evhttp detached from its connection is ours to free.
 */
static void
events_close_cb(struct evhttp_connection *evcon, void *arg)
{
	struct events_client	*c = arg;

	LIST_REMOVE(c, entry);
	index_awaited(-1);
	if (evhttp_request_get_connection(c->req) == NULL)
		evhttp_request_free(c->req);
	free(c);
}

/* Start the event machinery on base. */
void
events_init(struct event_base *base)
{
	struct timeval	tv = { EVENTS_KEEPALIVE, 0 };

	index_watch(events_seen_cb, NULL);
	queue_watch_removals(events_removed_cb, NULL);
	events_timer = event_new(base, -1, EV_PERSIST, events_keepalive_cb,
	    NULL);
	evtimer_add(events_timer, &tv);
}

/* GET /api/v1/events: open a stream. */
void
events_request(struct http_req *r)
{
	struct evhttp_connection	*evcon;
	struct evkeyvalq		*h;
	struct events_client		*c;

	h = evhttp_request_get_output_headers(r->req);
	evhttp_add_header(h, "Content-Type", "text/event-stream");
	evhttp_add_header(h, "Cache-Control", "no-cache");
	evhttp_add_header(h, "X-Accel-Buffering", "no");
	evhttp_send_reply_start(r->req, 200, "OK");
	c = xcalloc(1, sizeof(*c));
	c->req = r->req;
	LIST_INSERT_HEAD(&events_clients, c, entry);
	index_awaited(1);
	evcon = evhttp_request_get_connection(r->req);
	evhttp_connection_set_timeout(evcon, EVENTS_TIMEOUT);
	evhttp_connection_set_closecb(evcon, events_close_cb, c);
	events_send(NULL, "mxd events");
}

/* Shutting down: end every stream. */
void
events_stop(void)
{
	struct events_client	*c;

	while ((c = LIST_FIRST(&events_clients)) != NULL) {
		LIST_REMOVE(c, entry);
		index_awaited(-1);
		evhttp_connection_set_closecb(evhttp_request_get_connection(
		    c->req), NULL, NULL);
		evhttp_send_reply_end(c->req);
		free(c);
	}
	if (events_timer != NULL)
		event_free(events_timer);
	events_timer = NULL;
	index_unwatch(events_seen_cb, NULL);
	queue_unwatch_removals(events_removed_cb, NULL);
}

/*
 * http.h: the HTTP API's own types: one request as the handlers see it
 * (decoded path segments, query parameters), the reply helpers of
 * server.c, the JSON shapes of json.c, the handlers of api-mailpit.c,
 * api-mailhog.c and wait.c, and basic authentication (htpasswd.c).
 * Only http/ calls evhttp_*.
 */
#ifndef HTTP_H
#define HTTP_H

#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "mxd.h"
#include "store/index.h"

#define HTTP_MAX_SEGMENTS	8

/* One request, as a handler gets it. */
struct http_req {
	struct evhttp_request	*req;
	char			*seg[HTTP_MAX_SEGMENTS];	/* decoded */
	size_t			 nseg;
	struct evkeyvalq	 query;
};

/* server.c */
void		 http_reply_json(struct http_req *, int, json_t *);
void		 http_reply_error(struct http_req *, int, const char *);
void		 http_reply_data(struct http_req *, int, const char *,
		    const void *, size_t);
void		 http_reply_empty(struct http_req *, int);
const char	*http_param(struct http_req *, const char *);
long long	 http_param_int(struct http_req *, const char *, long long);
json_t		*http_body_json(struct http_req *, int *);
const char	*http_spool(void);
void		 http_track_answer(struct evhttp_request *);
time_t		 http_started(void);

/* json.c: the shapes of Mailpit's and MailHog's answers. */
char		*json_created(const char *);
json_t		*json_summary(const struct index_row *);
json_t		*json_summaries(struct index_row *, size_t, long long,
		    long long, long long, long long, long long);
json_t		*json_message(const char *, const struct mime_msg *,
		    long long, const char *);
json_t		*json_headers(const struct mime_msg *);

/* api-mailpit.c */
int		 mailpit_resolve(struct http_req *, const char *, char *);
void		 mailpit_messages(struct http_req *);
void		 mailpit_search(struct http_req *);
void		 mailpit_search_delete(struct http_req *);
void		 mailpit_set_read(struct http_req *);
void		 mailpit_delete(struct http_req *);
void		 mailpit_message(struct http_req *);
void		 mailpit_headers(struct http_req *);
void		 mailpit_raw(struct http_req *);
void		 mailpit_part(struct http_req *);
void		 mailpit_view(struct http_req *);
void		 mailpit_info(struct http_req *);
void		 mailpit_probe(struct http_req *);
void		 mailpit_count_init(void);

/* bulk.c: requests that change many messages, in steps on the loop. */
enum bulk_op {
	BULK_DELETE,
	BULK_READ,
	BULK_UNREAD,
	BULK_TAG,		/* set the tags of bulk_tags() */
};
enum bulk_reply {
	BULK_REPLY_EMPTY,	/* an empty 200 (DELETE /api/v1/messages) */
	BULK_REPLY_OK,		/* 200 "ok", text/plain */
};
void		 bulk_start(struct http_req *, enum bulk_op, char **, size_t,
		    enum bulk_reply);
void		 bulk_tags(struct http_req *, char **, size_t, char **, size_t);
void		 bulk_cancel_all(void);
int		 bulk_delete_one(const char *);
long long	 bulk_deleted_count(void);

/* api-tags.c */
void		 tags_get(struct http_req *);
void		 tags_put(struct http_req *);
void		 tags_rename_one(struct http_req *);
void		 tags_delete_one(struct http_req *);

/* api-chaos.c */
void		 chaos_get_request(struct http_req *);
void		 chaos_put_request(struct http_req *);

/* api-mailhog.c */
void		 mailhog_messages(struct http_req *);
void		 mailhog_search(struct http_req *);
void		 mailhog_delete_one(struct http_req *);

/* wait.c */
void		 wait_init(void);
void		 wait_request(struct http_req *);
void		 wait_cancel_all(void);

/* events.c */
void		 events_init(struct event_base *);
void		 events_request(struct http_req *);
void		 events_stop(void);

/* htpasswd.c */
int		 htpasswd_load(const char *, char **);
int		 htpasswd_test(const char *, char **);
int		 htpasswd_check(const char *);
void		 htpasswd_free(void);

#endif

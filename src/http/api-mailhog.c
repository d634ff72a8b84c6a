/*
 * api-mailhog.c: MailHog's API (mailhog/MailHog-Server api/v2.go and
 * v1.go): GET /api/v2/messages, GET /api/v2/search?kind=&query=, and
 * DELETE /api/v1/messages/{id}.  In: a routed request.  Out: MailHog's
 * {"total","count","start","items"} with each item's envelope (From,
 * To, Raw with the HELO name) read from the spool file's envelope block
 * (queue_open), headers as sent and MIME parts (mime_mailhog).  IDs are
 * the same queue IDs as Mailpit's.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

#define MAILHOG_LIMIT_MAX	250

/* MailHog's Path of an address: {Relays, Mailbox, Domain, Params}. */
static json_t *
mailhog_path(const char *addr)
{
	const char	*at = strrchr(addr, '@');
	char		*box;
	json_t		*v;

	box = xstrdup(addr);
	if (at != NULL)
		box[at - addr] = '\0';
	v = json_pack("{s:n, s:s, s:s, s:s}", "Relays", "Mailbox", box,
	    "Domain", at != NULL ? at + 1 : "", "Params", "");
	free(box);
	return (v);
}

/* One MailHog Message for queue ID qid; NULL if it is gone. */
static json_t *
mailhog_item(const char *qid)
{
	struct envelope	 e;
	struct stat	 sb;
	json_t		*to, *rawto, *headers, *mime, *content;
	char		*data, *body, *created, *utf;
	const char	*b;
	long long	 size;
	off_t		 at;
	size_t		 i;
	FILE		*f;

	if ((f = queue_open(http_spool(), qid, &e)) == NULL)
		return (NULL);
	at = ftello(f);
	size = fstat(fileno(f), &sb) == 0 ? sb.st_size - at : 0;
	data = xmalloc((size_t)size + 1);
	if (fread(data, 1, (size_t)size, f) != (size_t)size)
		size = 0;
	data[size] = '\0';
	fseeko(f, at, SEEK_SET);
	headers = mime_mailhog(f, &mime);
	fclose(f);
	if (headers == NULL)
		headers = json_object();
	if (json_object_get(headers, "Return-Path") == NULL)
		json_object_set_new(headers, "Return-Path", json_pack("[s+++]",
		    "<", e.sender, ">", ""));
	/* Body: everything after the first blank line. */
	if ((b = strstr(data, "\r\n\r\n")) != NULL)
		b += 4;
	else
		b = "";
	body = mime_utf8(b, strlen(b));
	content = json_pack("{s:o, s:s, s:I, s:n}", "Headers", headers,
	    "Body", body, "Size", (json_int_t)size, "MIME");
	to = json_array();
	rawto = json_array();
	for (i = 0; i < e.nrcpt; i++) {
		json_array_append_new(to, mailhog_path(e.rcpt[i]));
		json_array_append_new(rawto, json_string(e.rcpt[i]));
	}
	created = json_created(qid);
	utf = mime_utf8(data, (size_t)size);
	free(data);
	free(body);
	content = json_pack("{s:s, s:o, s:o, s:o, s:s, s:o, "
	    "s:{s:s, s:o, s:s, s:s}}",
	    "ID", qid,
	    "From", mailhog_path(e.sender),
	    "To", to,
	    "Content", content,
	    "Created", created,
	    "MIME", mime,
	    "Raw", "From", e.sender, "To", rawto, "Data", utf, "Helo", e.helo);
	free(utf);
	free(created);
	envelope_free(&e);
	return (content);
}

/* Answer a page of queue IDs as MailHog's list shape. */
static void
mailhog_reply(struct http_req *r, struct index_row *rows, size_t n,
    long long total, long long start)
{
	json_t	*items = json_array(), *v;
	size_t	 i;

	for (i = 0; i < n; i++)
		if ((v = mailhog_item(rows[i].qid)) != NULL)
			json_array_append_new(items, v);
	http_reply_json(r, 200, json_pack("{s:I, s:I, s:I, s:o}",
	    "total", (json_int_t)total, "count", (json_int_t)json_array_size(
	    items), "start", (json_int_t)start, "items", items));
}

/* MailHog's limit: default 50, at most 250. */
static long long
mailhog_limit(struct http_req *r)
{
	long long	limit = http_param_int(r, "limit", 50);

	if (limit <= 0)
		limit = 50;
	return (limit > MAILHOG_LIMIT_MAX ? MAILHOG_LIMIT_MAX : limit);
}

/* GET /api/v2/messages?start=&limit=: newest first. */
void
mailhog_messages(struct http_req *r)
{
	struct search		 s = { NULL, 0 };
	struct index_row	*rows;
	size_t			 n;
	long long		 total, unread, start;

	start = http_param_int(r, "start", 0);
	if (index_counts(&total, &unread) != 0 || index_query(&s, NULL,
	    start, mailhog_limit(r), &rows, &n, NULL, NULL) != 0) {
		http_reply_error(r, 500, "index unavailable");
		return;
	}
	mailhog_reply(r, rows, n, total, start);
	index_rows_free(rows, n);
}

/*
 * GET /api/v2/search?kind=from|to|containing&query=: from is the
 * envelope sender or the From header, to an envelope recipient or the
 * To header, containing the search text.
 */
void
mailhog_search(struct http_req *r)
{
	struct search		 s = { NULL, 0 };
	struct index_row	*rows;
	const char		*kind = http_param(r, "kind");
	const char		*q = http_param(r, "query");
	size_t			 n;
	long long		 hits = 0, start;
	enum search_field	 f;

	if (kind != NULL && strcmp(kind, "from") == 0)
		f = SF_ENV_FROM;
	else if (kind != NULL && strcmp(kind, "to") == 0)
		f = SF_ENV_TO;
	else if (kind != NULL && strcmp(kind, "containing") == 0)
		f = SF_TEXT;
	else {
		http_reply_error(r, 400, "kind must be from, to or containing");
		return;
	}
	if (q == NULL || *q == '\0') {
		http_reply_error(r, 400, "no search query");
		return;
	}
	start = http_param_int(r, "start", 0);
	(void)search_add(&s, f, q);
	if (index_query(&s, NULL, start, mailhog_limit(r), &rows, &n, &hits,
	    NULL) != 0) {
		search_free(&s);
		http_reply_error(r, 500, "index unavailable");
		return;
	}
	search_free(&s);
	mailhog_reply(r, rows, n, hits, start);
	index_rows_free(rows, n);
}

/*
 * DELETE /api/v1/messages/{id}: remove one message; an empty 200, or
 * 404 (MailHog says 500) for an ID that names no message.
 */
void
mailhog_delete_one(struct http_req *r)
{
	if (!queue_id_valid(r->seg[3]) ||
	    bulk_delete_one(r->seg[3]) != 0) {
		http_reply_error(r, 404, "Message not found");
		return;
	}
	http_reply_empty(r, 200);
}

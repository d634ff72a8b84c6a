/*
 * json.c: the JSON shapes of Mailpit's API (MessagesSummary,
 * MessageSummary, Message, Attachment, the headers map) built with
 * jansson from index rows and parsed messages.  In: struct index_row,
 * struct mime_msg.  Out: json_t values for server.c to send.  Field
 * names and types follow shared/research/sink-api-notes.md exactly.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http/http.h"

/*
 * Mailpit's Created: when the message arrived, from the queue ID's 13
 * hex digits of microseconds, as RFC 3339 UTC with milliseconds
 * (2026-11-29T09:41:42.778Z); a new string.
 */
char *
json_created(const char *qid)
{
	char			 hex[14], buf[64], *out;
	unsigned long long	 us;
	struct tm		 tm;
	time_t			 t;

	memcpy(hex, qid, 13);
	hex[13] = '\0';
	us = strtoull(hex, NULL, 16);
	t = (time_t)(us / 1000000);
	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	xasprintf(&out, "%s.%03lluZ", buf, (us / 1000) % 1000);
	return (out);
}

/* Stored JSON text (an address list) as a value; def when unreadable. */
static json_t *
json_stored(const char *text, int array)
{
	json_t	*v = json_loads(text, JSON_DECODE_ANY, NULL);

	if (v == NULL || (array && !json_is_array(v)))  {
		json_decref(v);
		return (array ? json_array() : json_null());
	}
	return (v);
}

/* One MessageSummary (a list item) from an index row. */
json_t *
json_summary(const struct index_row *r)
{
	char	*created = json_created(r->qid);
	json_t	*v;

	v = json_pack("{s:s, s:s, s:b, s:o, s:o, s:o, s:o, s:o, s:s, s:s, "
	    "s:s, s:o, s:I, s:I, s:s}",
	    "ID", r->qid,
	    "MessageID", r->message_id,
	    "Read", r->read,
	    "From", json_stored(r->from, 0),
	    "To", json_stored(r->to, 1),
	    "Cc", json_stored(r->cc, 1),
	    "Bcc", json_stored(r->bcc, 1),
	    "ReplyTo", json_stored(r->reply_to, 1),
	    "Subject", r->subject,
	    "Created", created,
	    "Username", r->username,
	    "Tags", json_stored(r->tags, 1),
	    "Size", (json_int_t)r->size,
	    "Attachments", (json_int_t)r->attachments,
	    "Snippet", r->snippet);
	free(created);
	return (v);
}

/*
 * A MessagesSummary: the mailbox's total and unread, the hits and their
 * unread (equal to the mailbox for a plain listing), start, every tag
 * in use, and the page of rows.
 */
json_t *
json_summaries(struct index_row *rows, size_t n, long long total,
    long long unread, long long hits, long long hits_unread,
    long long start)
{
	json_t	*list = json_array();
	size_t	 i;

	for (i = 0; i < n; i++)
		json_array_append_new(list, json_summary(&rows[i]));
	return (json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o}",
	    "total", (json_int_t)total,
	    "unread", (json_int_t)unread,
	    "count", (json_int_t)n,
	    "messages_count", (json_int_t)hits,
	    "messages_unread", (json_int_t)hits_unread,
	    "start", (json_int_t)start,
	    "tags", tags_list(0),
	    "messages", list));
}

/* Attachment objects for a list of files. */
static json_t *
json_files(const struct mime_file *f, size_t n)
{
	json_t	*a = json_array();
	size_t	 i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:I, "
		    "s:{s:s, s:s, s:s}}",
		    "PartID", f[i].part_id,
		    "FileName", f[i].filename,
		    "ContentType", f[i].content_type,
		    "ContentID", f[i].content_id,
		    "Size", (json_int_t)f[i].size,
		    "Checksums", "MD5", f[i].md5, "SHA1", f[i].sha1,
		    "SHA256", f[i].sha256));
	return (a);
}

/* Links of a List-Unsubscribe header: the <...> parts. */
static json_t *
json_unsub_links(const char *h)
{
	json_t		*a = json_array();
	const char	*p = h, *e;
	char		*link;

	while ((p = strchr(p, '<')) != NULL &&
	    (e = strchr(p, '>')) != NULL) {
		link = xmalloc((size_t)(e - p));
		memcpy(link, p + 1, (size_t)(e - p - 1));
		link[e - p - 1] = '\0';
		json_array_append_new(a, json_string(link));
		free(link);
		p = e + 1;
	}
	return (a);
}

/*
 * Mailpit's Message for queue ID qid, parsed as m, of size octets, with
 * its tags (JSON text from the index, or NULL).
 */
json_t *
json_message(const char *qid, const struct mime_msg *m, long long size,
    const char *tags)
{
	char	*created = json_created(qid);
	json_t	*from, *v;
	const char *rp;

	from = json_deep_copy(m->from);
	rp = m->return_path != NULL ? m->return_path :
	    json_is_object(m->from) ? json_string_value(json_object_get(
	    m->from, "Address")) : "";
	v = json_pack("{s:s, s:s, s:o, s:O, s:O, s:O, s:O, s:s, s:s, "
	    "s:{s:s, s:o, s:s, s:s}, s:s, s:o, s:s, s:s, s:s, s:I, s:o, "
	    "s:o}",
	    "ID", qid,
	    "MessageID", m->message_id,
	    "From", from,
	    "To", m->to,
	    "Cc", m->cc,
	    "Bcc", m->bcc,
	    "ReplyTo", m->reply_to,
	    "ReturnPath", rp != NULL ? rp : "",
	    "Subject", m->subject,
	    "ListUnsubscribe", "Header", m->list_unsubscribe,
	    "Links", json_unsub_links(m->list_unsubscribe),
	    "Errors", "", "HeaderPost", m->list_unsubscribe_post,
	    "Date", m->date != NULL ? m->date : created,
	    "Tags", tags != NULL ? json_stored(tags, 1) : json_array(),
	    "Username", m->username != NULL ? m->username : "",
	    "Text", m->text,
	    "HTML", m->html,
	    "Size", (json_int_t)size,
	    "Inline", json_files(m->inlines, m->ninline),
	    "Attachments", json_files(m->attach, m->nattach));
	free(created);
	return (v);
}

/* Mailpit's /headers: {Canonical-Name: [values]} (a new reference). */
json_t *
json_headers(const struct mime_msg *m)
{
	return (json_incref(m->headers));
}

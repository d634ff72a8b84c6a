/*
 * api-mailpit.c: Mailpit's API v1 (axllent/mailpit server/apiv1): list,
 * search, get (marks read), headers, raw, parts, the /view pages, info,
 * mark read/unread, delete.  In: a routed request (server.c).  Out: the
 * shapes of json.c, read from the index and, for one message, from its
 * spool file.  IDs are queue IDs (queue_id_valid) or `latest`; anything
 * else is a 404, so no path segment ever names a file.  Deleting
 * removes the spool file first (queue_delete), which drops the row.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http/http.h"

static long long	mailpit_accepted;

/* Queue watcher: count accepted messages for /api/v1/info. */
static void
mailpit_count_cb(const char *qid, void *arg)
{
	mailpit_accepted++;
}

/* Start counting for /api/v1/info. */
void
mailpit_count_init(void)
{
	queue_watch(mailpit_count_cb, NULL);
}

/*
 * The queue ID an {ID} path segment names into qid: a queue ID as it
 * is, or `latest`: the newest message (matching ?query= if given).
 * 0, or -1 after answering 404.
 */
int
mailpit_resolve(struct http_req *r, const char *id, char *qid)
{
	struct search		 s;
	struct index_row	*rows;
	size_t			 n;
	const char		*q;

	if (queue_id_valid(id)) {
		snprintf(qid, QID_LEN + 1, "%s", id);
		return (0);
	}
	if (strcmp(id, "latest") != 0) {
		http_reply_error(r, 404, "not found");
		return (-1);
	}
	q = http_param(r, "query");
	search_parse(q != NULL ? q : "", &s);
	if (index_query(&s, NULL, 0, 1, &rows, &n, NULL, NULL) != 0 ||
	    n == 0) {
		search_free(&s);
		http_reply_error(r, 404, "Message not found");
		return (-1);
	}
	snprintf(qid, QID_LEN + 1, "%s", rows[0].qid);
	index_rows_free(rows, n);
	search_free(&s);
	return (0);
}

/*
 * Open the spool file of qid at its message, with its envelope (free
 * it) and the message's size.  NULL after answering 404.
 */
static FILE *
mailpit_open(struct http_req *r, const char *qid, struct envelope *e,
    long long *size)
{
	struct stat	 sb;
	FILE		*f;

	if ((f = queue_open(http_spool(), qid, e)) == NULL) {
		http_reply_error(r, 404, "Message not found");
		return (NULL);
	}
	*size = fstat(fileno(f), &sb) == 0 ? sb.st_size - ftello(f) : 0;
	return (f);
}

/*
 * Parse the message seg[i] names into m (mime_free it), with its queue
 * ID and size.  0, or -1 after answering.
 */
static int
mailpit_load(struct http_req *r, const char *id, char *qid,
    struct mime_msg *m, long long *size)
{
	struct envelope	 e;
	FILE		*f;
	int		 rc;

	if (mailpit_resolve(r, id, qid) != 0 ||
	    (f = mailpit_open(r, qid, &e, size)) == NULL)
		return (-1);
	rc = mime_read(f, m);
	fclose(f);
	if (rc != 0) {
		envelope_free(&e);
		http_reply_error(r, 500, "cannot parse the message");
		return (-1);
	}
	mime_add_blind(m, &e);
	envelope_free(&e);
	return (0);
}

/* GET /api/v1/messages?start=&limit=: the newest first. */
void
mailpit_messages(struct http_req *r)
{
	struct search		 s = { NULL, 0 };
	struct index_row	*rows;
	size_t			 n;
	long long		 total, unread, start, limit;

	start = http_param_int(r, "start", 0);
	limit = http_param_int(r, "limit", 50);
	if (index_counts(&total, &unread) != 0 ||
	    index_query(&s, NULL, start, limit, &rows, &n, NULL, NULL) != 0) {
		http_reply_error(r, 500, "index unavailable");
		return;
	}
	http_reply_json(r, 200, json_summaries(rows, n, total, unread, total,
	    unread, start));
	index_rows_free(rows, n);
}

/* GET /api/v1/search?query=&start=&limit=. */
void
mailpit_search(struct http_req *r)
{
	struct search		 s;
	struct index_row	*rows;
	size_t			 n;
	const char		*q = http_param(r, "query");
	long long		 total, unread, hits = 0, hunread = 0;
	long long		 start, limit;

	if (q == NULL || *q == '\0') {
		http_reply_error(r, 400, "no search query");
		return;
	}
	start = http_param_int(r, "start", 0);
	limit = http_param_int(r, "limit", 50);
	search_parse(q, &s);
	if (index_counts(&total, &unread) != 0 || index_query(&s, NULL,
	    start, limit, &rows, &n, &hits, &hunread) != 0) {
		search_free(&s);
		http_reply_error(r, 500, "index unavailable");
		return;
	}
	search_free(&s);
	http_reply_json(r, 200, json_summaries(rows, n, total, unread, hits,
	    hunread, start));
	index_rows_free(rows, n);
}

/* DELETE /api/v1/search?query=. */
void
mailpit_search_delete(struct http_req *r)
{
	struct search	 s;
	const char	*q = http_param(r, "query");
	char		**ids;
	size_t		 n;

	if (q == NULL || *q == '\0') {
		http_reply_error(r, 400, "no search query");
		return;
	}
	search_parse(q, &s);
	if (index_ids(&s, &ids, &n) != 0) {
		search_free(&s);
		http_reply_error(r, 500, "index unavailable");
		return;
	}
	search_free(&s);
	bulk_start(r, BULK_DELETE, ids, n, BULK_REPLY_OK);
}

/*
 * The IDs array of a request body as queue IDs (free them); *n their
 * count.  -1 if an element is not a string.  Unknown or malformed IDs
 * are kept out: they name no message.
 */
static int
mailpit_body_ids(json_t *a, char ***ids, size_t *n)
{
	json_t	*v;
	size_t	 i;

	*ids = NULL;
	*n = 0;
	json_array_foreach(a, i, v) {
		if (!json_is_string(v))
			return (-1);
		if (!queue_id_valid(json_string_value(v)))
			continue;
		*ids = xreallocarray(*ids, *n + 1, sizeof(**ids));
		(*ids)[(*n)++] = xstrdup(json_string_value(v));
	}
	return (0);
}

/*
 * PUT /api/v1/messages {"IDs":[...], "Read":bool, "Search":s}: mark
 * those (IDs or Search, not both; neither: all) read or unread.
 */
void
mailpit_set_read(struct http_req *r)
{
	struct search	 s;
	json_t		*b, *a, *q;
	char		**ids = NULL;
	size_t		 n = 0;
	int		 read, bad, rc;

	b = http_body_json(r, &bad);
	if (bad || (b != NULL && !json_is_object(b))) {
		json_decref(b);
		http_reply_error(r, 400, "the body is not a JSON object");
		return;
	}
	read = b != NULL && json_is_true(json_object_get(b, "Read"));
	a = b != NULL ? json_object_get(b, "IDs") : NULL;
	q = b != NULL ? json_object_get(b, "Search") : NULL;
	if (json_array_size(a) > 0 && json_string_length(q) > 0) {
		json_decref(b);
		http_reply_error(r, 400, "You may specify either IDs or a "
		    "search query, not both");
		return;
	}
	if (json_array_size(a) > 0) {
		if (mailpit_body_ids(a, &ids, &n) != 0) {
			json_decref(b);
			http_reply_error(r, 400, "IDs must be strings");
			return;
		}
	} else {
		/* Neither: every message not so already. */
		search_parse(json_string_length(q) > 0 ? json_string_value(q) :
		    read ? "is:unread" : "is:read", &s);
		rc = index_ids(&s, &ids, &n);
		search_free(&s);
		if (rc != 0) {
			json_decref(b);
			http_reply_error(r, 500, "index unavailable");
			return;
		}
	}
	json_decref(b);
	bulk_start(r, read ? BULK_READ : BULK_UNREAD, ids, n, BULK_REPLY_OK);
}

/*
 * DELETE /api/v1/messages {"IDs":[...]}: those, or every message when
 * there is no body, no IDs or no JSON (MailHog's delete-all too).  The
 * answer is an empty 200, which both products' clients accept.
 */
void
mailpit_delete(struct http_req *r)
{
	json_t	*b = http_body_json(r, NULL), *a;
	char	**ids;
	size_t	 n;

	a = json_is_object(b) ? json_object_get(b, "IDs") : NULL;
	if (json_array_size(a) > 0) {
		if (mailpit_body_ids(a, &ids, &n) != 0) {
			json_decref(b);
			http_reply_error(r, 400, "IDs must be strings");
			return;
		}
	} else if ((ids = queue_ids(http_spool(), &n)) == NULL) {
		json_decref(b);
		http_reply_error(r, 500, "the spool cannot be read");
		return;
	}
	json_decref(b);
	bulk_start(r, BULK_DELETE, ids, n, BULK_REPLY_EMPTY);
}

/* GET /api/v1/message/{ID}: the Message; marks it read. */
void
mailpit_message(struct http_req *r)
{
	struct mime_msg		 m;
	struct index_row	 row;
	char			 qid[QID_LEN + 1];
	long long		 size;
	int			 have;

	if (mailpit_load(r, r->seg[3], qid, &m, &size) != 0)
		return;
	(void)index_set_read(qid, 1);
	have = index_get(qid, &row) == 0;
	http_reply_json(r, 200, json_message(qid, &m, size, have ? row.tags :
	    NULL));
	if (have)
		index_row_free(&row);
	mime_free(&m);
}

/* GET /api/v1/message/{ID}/headers. */
void
mailpit_headers(struct http_req *r)
{
	struct mime_msg	 m;
	char		 qid[QID_LEN + 1];
	long long	 size;

	if (mailpit_load(r, r->seg[3], qid, &m, &size) != 0)
		return;
	http_reply_json(r, 200, json_headers(&m));
	mime_free(&m);
}

/* The rest of f (to at most size octets) as a new buffer; NULL if short. */
static char *
mailpit_slurp(FILE *f, long long size)
{
	char	*buf = xmalloc((size_t)size + 1);

	if (size > 0 && fread(buf, 1, (size_t)size, f) != (size_t)size) {
		free(buf);
		return (NULL);
	}
	return (buf);
}

/* GET /api/v1/message/{ID}/raw[?dl=1]: the message as stored. */
void
mailpit_raw(struct http_req *r)
{
	struct envelope	 e;
	char		 qid[QID_LEN + 1], *buf, disp[64];
	const char	*dl = http_param(r, "dl");
	long long	 size;
	FILE		*f;

	if (mailpit_resolve(r, r->seg[3], qid) != 0 ||
	    (f = mailpit_open(r, qid, &e, &size)) == NULL)
		return;
	envelope_free(&e);
	buf = mailpit_slurp(f, size);
	fclose(f);
	if (buf == NULL) {
		http_reply_error(r, 500, "cannot read the message");
		return;
	}
	if (dl != NULL && strcmp(dl, "1") == 0) {
		snprintf(disp, sizeof(disp), "attachment; filename=\"%s.eml\"",
		    qid);
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
		    "Content-Disposition", disp);
	}
	http_reply_data(r, 200, "text/plain; charset=utf-8", buf,
	    (size_t)size);
	free(buf);
}

/* A file name safe inside a quoted header parameter: a new string. */
static char *
mailpit_safe_name(const char *name)
{
	char	*s = xstrdup(name), *p;

	for (p = s; *p != '\0'; p++)
		if (*p == '"' || *p == '\\' || iscntrl((unsigned char)*p))
			*p = '_';
	return (s);
}

/* GET /api/v1/message/{ID}/part/{PartID}: the decoded part. */
void
mailpit_part(struct http_req *r)
{
	struct envelope	 e;
	unsigned char	*data;
	char		 qid[QID_LEN + 1], *type, *name, *safe, *disp;
	const char	*pid = r->seg[5];
	long long	 size;
	size_t		 len;
	FILE		*f;
	int		 rc;

	if (*pid == '\0' || strlen(pid) > 32 ||
	    strspn(pid, "0123456789.") != strlen(pid)) {
		http_reply_error(r, 404, "not found");
		return;
	}
	if (mailpit_resolve(r, r->seg[3], qid) != 0 ||
	    (f = mailpit_open(r, qid, &e, &size)) == NULL)
		return;
	envelope_free(&e);
	rc = mime_part(f, pid, &data, &len, &type, &name);
	fclose(f);
	if (rc != 0) {
		http_reply_error(r, 404, "part not found");
		return;
	}
	safe = mailpit_safe_name(name);
	xasprintf(&disp, "inline; filename=\"%s\"", safe);
	evhttp_add_header(evhttp_request_get_output_headers(r->req),
	    "Content-Disposition", disp);
	http_reply_data(r, 200, type, data, len);
	free(disp);
	free(safe);
	free(data);
	free(type);
	free(name);
}

/*
 * The HTML with each cid:<Content-ID> link to an inline part rewritten
 * to /api/v1/message/<qid>/part/<PartID>, as Mailpit does; a new string.
 */
static char *
mailpit_cid_links(const char *html, const char *qid, const struct mime_msg *m)
{
	char		*out = xstrdup(html), *next, *cid, *url, *at;
	size_t		 i, n;

	for (i = 0; i < m->ninline; i++) {
		if (m->inlines[i].content_id[0] == '\0')
			continue;
		xasprintf(&cid, "cid:%s", m->inlines[i].content_id);
		xasprintf(&url, "/api/v1/message/%s/part/%s", qid,
		    m->inlines[i].part_id);
		n = strlen(cid);
		while ((at = strstr(out, cid)) != NULL) {
			xasprintf(&next, "%.*s%s%s", (int)(at - out), out, url,
			    at + n);
			free(out);
			out = next;
		}
		free(cid);
		free(url);
	}
	return (out);
}

/*
 * GET /view/{ID}.html and /view/{ID}.txt: the HTML part (404 if none)
 * or the Text, for a browser; marks the message read.  The HTML is
 * served under a Content-Security-Policy that runs no script and loads
 * nothing remote.
 */
void
mailpit_view(struct http_req *r)
{
	struct mime_msg	 m;
	char		 qid[QID_LEN + 1], id[32], *dot, *html;
	long long	 size;
	int		 want_html;

	if (strlen(r->seg[1]) >= sizeof(id) ||
	    (dot = strrchr(r->seg[1], '.')) == NULL ||
	    (strcmp(dot, ".html") != 0 && strcmp(dot, ".txt") != 0)) {
		http_reply_error(r, 404, "not found");
		return;
	}
	want_html = strcmp(dot, ".html") == 0;
	snprintf(id, sizeof(id), "%.*s", (int)(dot - r->seg[1]), r->seg[1]);
	if (mailpit_load(r, id, qid, &m, &size) != 0)
		return;
	(void)index_set_read(qid, 1);
	if (want_html && m.html[0] == '\0')
		http_reply_error(r, 404, "This message does not contain a "
		    "HTML part");
	else if (want_html) {
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
		    "Content-Security-Policy", "default-src 'none'; "
		    "style-src 'unsafe-inline'; img-src 'self' data:; "
		    "sandbox");
		html = mailpit_cid_links(m.html, qid, &m);
		http_reply_data(r, 200, "text/html; charset=utf-8", html,
		    strlen(html));
		free(html);
	} else
		http_reply_data(r, 200, "text/plain; charset=utf-8", m.text,
		    strlen(m.text));
	mime_free(&m);
}

/* This process's resident memory in octets, from /proc; 0 if unknown. */
static long long
mailpit_rss(void)
{
	long long	 pages = 0, rss = 0;
	FILE		*f;

	if ((f = fopen("/proc/self/statm", "re")) == NULL)
		return (0);
	if (fscanf(f, "%lld %lld", &pages, &rss) != 2)
		rss = 0;
	fclose(f);
	return (rss * sysconf(_SC_PAGESIZE));
}

/* GET /api/v1/info. */
void
mailpit_info(struct http_req *r)
{
	long long		 total = 0, unread = 0, dbsize = 0;
	unsigned long long	 octets, refused;
	char			*db;

	(void)index_counts(&total, &unread);
	stats_get(&octets, &refused);
	(void)index_size(&dbsize);
	xasprintf(&db, "%s/index.sqlite", cfg->spool_dir);
	http_reply_json(r, 200, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, "
	    "s:o, s:{s:I, s:I, s:I, s:I, s:I, s:I, s:I}}",
	    "Version", "mxd " PACKAGE_VERSION,
	    "LatestVersion", "",
	    "Database", db,
	    "DatabaseSize", (json_int_t)dbsize,
	    "Messages", (json_int_t)total,
	    "Unread", (json_int_t)unread,
	    "Tags", tags_list(1),
	    "RuntimeStats",
	    "Uptime", (json_int_t)(time(NULL) - http_started()),
	    "Memory", (json_int_t)mailpit_rss(),
	    "MessagesDeleted", (json_int_t)bulk_deleted_count(),
	    "SMTPAccepted", (json_int_t)mailpit_accepted,
	    "SMTPAcceptedSize", (json_int_t)octets,
	    "SMTPRejected", (json_int_t)refused,
	    "SMTPIgnored", (json_int_t)0));
	free(db);
}

/* GET /livez and /readyz, Mailpit's probes: 200 ok while mxd serves. */
void
mailpit_probe(struct http_req *r)
{
	http_reply_data(r, 200, "text/plain; charset=utf-8", "ok", 2);
}

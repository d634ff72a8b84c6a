/*
 * mime.c: a queued message read with GMime 3 into what the index and
 * the HTTP API show: addresses, the decoded Subject, the text and HTML
 * bodies in UTF-8, attachments and inline parts with their part IDs and
 * checksums, the headers unfolded, a snippet and a search text.  In: a
 * stream standing at the message (after the envelope block).  Out:
 * struct mime_msg, or one part's decoded bytes.  GMime does all MIME
 * work (RFC 2045 transfer encodings, RFC 2047 words, RFC 2231
 * parameters, charsets); nothing here parses MIME by hand.
 *
 * Part IDs and the body rules are enmime's, as Mailpit uses them: the
 * children of the top multipart are 1, 2, ...; the children of part 1
 * are 1.1, 1.2; a multipart container is its ID plus ".0"; a message
 * that is not multipart is part 0.  Attachments: Content-Disposition
 * attachment, or application/octet-stream.  Inline: other parts with a
 * file name or Content-ID that are inline or not text.  Text: the first
 * text/plain of a multipart/alternative, the text/plain parts of other
 * multiparts joined by "\n--\n"; HTML: the first text/html.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <gmime/gmime.h>

#include "store/index.h"

#define SNIPPET_MAX	200
/* The body text kept for free-text search (doc/http-api.md). */
#define SEARCH_TEXT_MAX	(64 * 1024)

/* What a walk over the parts collects. */
struct mime_walk {
	struct mime_msg	*m;
	GString		*text;
	int		 want_html;
	int		 light;		/* the index's: no file contents */
};

/* Set up GMime once, before any thread parses; 0. */
int
mime_init(void)
{
	static int	done;

	if (!done) {
		g_mime_init();
		done = 1;
	}
	return (0);
}

/*
 * A GMime string (g_free) as a malloc'd one in valid UTF-8 (what JSON
 * needs; a message may hold any bytes); "" for NULL.
 */
static char *
mime_gstr(char *g)
{
	char	*v, *s;

	v = g_utf8_make_valid(g != NULL ? g : "", -1);
	s = xstrdup(v);
	g_free(v);
	g_free(g);
	return (s);
}

/* A string GMime keeps (or NULL) as a new valid UTF-8 string. */
static char *
mime_str(const char *v)
{
	return (mime_gstr(g_strdup(v)));
}

/* len octets as valid UTF-8 (bad sequences become U+FFFD); a new string. */
char *
mime_utf8(const char *p, size_t len)
{
	if (len == 0)
		return (xstrdup(""));
	return (mime_gstr(g_utf8_make_valid(p, (gssize)len)));
}

/*
 * One address list as Mailpit's [{"Name","Address"}], groups flattened;
 * and, if search is not NULL, appended to it as " Name <addr>" (a
 * group's name too).
 */
static void
mime_addrs(InternetAddressList *l, json_t *out, GString *search)
{
	InternetAddress	*ia;
	char		*name, *addr;
	int		 i, n = l != NULL ? internet_address_list_length(l) : 0;

	for (i = 0; i < n; i++) {
		ia = internet_address_list_get_address(l, i);
		name = mime_str(internet_address_get_name(ia));
		if (search != NULL && name[0] != '\0')
			g_string_append_printf(search, " %s", name);
		if (INTERNET_ADDRESS_IS_GROUP(ia)) {
			free(name);
			mime_addrs(internet_address_group_get_members(
			    INTERNET_ADDRESS_GROUP(ia)), out, search);
			continue;
		}
		addr = mime_str(internet_address_mailbox_get_addr(
		    INTERNET_ADDRESS_MAILBOX(ia)));
		if (search != NULL)
			g_string_append_printf(search, name[0] != '\0' ?
			    " <%s>" : " %s", addr);
		json_array_append_new(out, json_pack("{s:s, s:s}",
		    "Name", name, "Address", addr));
		free(name);
		free(addr);
	}
}

/*
 * The content of a leaf into a byte array (g_byte_array_unref it): a
 * part decoded (RFC 2045 transfer encoding undone), an attached message
 * (message/rfc822) as its octets; empty for anything else.
 */
static GByteArray *
mime_decoded(GMimeObject *obj)
{
	GMimeDataWrapper	*w = NULL;
	GMimeMessage		*inner = NULL;
	GMimeStream		*mem;
	GByteArray		*ba;

	ba = g_byte_array_new();
	if (GMIME_IS_PART(obj))
		w = g_mime_part_get_content(GMIME_PART(obj));
	else if (GMIME_IS_MESSAGE_PART(obj))
		inner = g_mime_message_part_get_message(
		    GMIME_MESSAGE_PART(obj));
	if (w == NULL && inner == NULL)
		return (ba);
	mem = g_mime_stream_mem_new_with_byte_array(ba);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(mem), FALSE);
	if (w != NULL)
		g_mime_data_wrapper_write_to_stream(w, mem);
	else
		g_mime_object_write_to_stream(GMIME_OBJECT(inner), NULL, mem);
	g_object_unref(mem);
	return (ba);
}

/* A leaf's file name (Content-Disposition or Content-Type name), or NULL. */
static const char *
mime_filename(GMimeObject *obj)
{
	const char	*fn;

	if (GMIME_IS_PART(obj))
		return (g_mime_part_get_filename(GMIME_PART(obj)));
	if ((fn = g_mime_object_get_content_disposition_parameter(obj,
	    "filename")) != NULL)
		return (fn);
	return (g_mime_object_get_content_type_parameter(obj, "name"));
}

/*
 * Fill one attachment row from a leaf part; light: its names only (no
 * content decoded, no size, no checksums).
 */
static void
mime_file_fill(struct mime_file *f, GMimeObject *obj, const char *part_id,
    int light)
{
	GByteArray	*ba;
	const char	*fn = mime_filename(obj);
	const char	*cid = g_mime_object_get_content_id(obj);
	char		*g;

	memset(f, 0, sizeof(*f));
	f->part_id = xstrdup(part_id);	/* digits and dots */
	f->filename = mime_str(fn);
	f->content_id = mime_str(cid);
	f->content_type = mime_gstr(g_mime_content_type_get_mime_type(
	    g_mime_object_get_content_type(obj)));
	if (light)
		return;
	ba = mime_decoded(obj);
	f->size = ba->len;
	g = g_compute_checksum_for_data(G_CHECKSUM_MD5, ba->data, ba->len);
	snprintf(f->md5, sizeof(f->md5), "%s", g);
	g_free(g);
	g = g_compute_checksum_for_data(G_CHECKSUM_SHA1, ba->data, ba->len);
	snprintf(f->sha1, sizeof(f->sha1), "%s", g);
	g_free(g);
	g = g_compute_checksum_for_data(G_CHECKSUM_SHA256, ba->data, ba->len);
	snprintf(f->sha256, sizeof(f->sha256), "%s", g);
	g_free(g);
	g_byte_array_unref(ba);
}

/* Append a part to a list of attachments or inline parts. */
static void
mime_file_add(struct mime_file **v, size_t *n, GMimeObject *obj,
    const char *part_id, int light)
{
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	mime_file_fill(&(*v)[(*n)++], obj, part_id, light);
}

/* Is this leaf an attachment, by enmime's rule? */
static int
mime_is_attachment(GMimeObject *obj)
{
	GMimeContentDisposition	*d = g_mime_object_get_content_disposition(obj);
	GMimeContentType	*ct = g_mime_object_get_content_type(obj);

	if (d != NULL && g_mime_content_disposition_is_attachment(d))
		return (1);
	return (g_mime_content_type_is_type(ct, "application",
	    "octet-stream") || GMIME_IS_MESSAGE_PART(obj));
}

/* Is this leaf an inline part (not a body), by enmime's rule? */
static int
mime_is_inline(GMimeObject *obj)
{
	GMimeContentDisposition	*d = g_mime_object_get_content_disposition(obj);
	GMimeContentType	*ct = g_mime_object_get_content_type(obj);
	const char		*fn = NULL, *cid;

	if (GMIME_IS_PART(obj))
		fn = g_mime_part_get_filename(GMIME_PART(obj));
	cid = g_mime_object_get_content_id(obj);
	if ((fn == NULL || *fn == '\0') && (cid == NULL || *cid == '\0'))
		return (!g_mime_content_type_is_type(ct, "text", "*"));
	if (d != NULL)
		return (!g_mime_content_disposition_is_attachment(d));
	return (1);
}

/* A text leaf as UTF-8 (GMime converts from its charset). */
static char *
mime_text(GMimeObject *obj)
{
	if (!GMIME_IS_TEXT_PART(obj))
		return (xstrdup(""));
	return (mime_gstr(g_mime_text_part_get_text(GMIME_TEXT_PART(obj))));
}

/*
 * Walk a MIME tree, collecting bodies and files; id is obj's part ID,
 * alt_taken non-NULL when obj is a child of a multipart/alternative
 * (then only its first text/plain counts).
 */
static void
mime_walk(struct mime_walk *w, GMimeObject *obj, const char *id,
    int *alt_taken)
{
	GMimeContentType	*ct = g_mime_object_get_content_type(obj);
	GMimeMultipart		*mp;
	char			 sub[256], *t;
	int			 i, n, taken = 0, is_alt;

	if (GMIME_IS_MULTIPART(obj)) {
		mp = GMIME_MULTIPART(obj);
		is_alt = g_mime_content_type_is_type(ct, "multipart",
		    "alternative");
		n = g_mime_multipart_get_count(mp);
		for (i = 0; i < n; i++) {
			if (id[0] == '\0')
				snprintf(sub, sizeof(sub), "%d", i + 1);
			else
				snprintf(sub, sizeof(sub), "%s.%d", id, i + 1);
			mime_walk(w, g_mime_multipart_get_part(mp, i), sub,
			    is_alt ? &taken : NULL);
		}
		return;
	}
	if (mime_is_attachment(obj)) {
		if (GMIME_IS_PART(obj) || GMIME_IS_MESSAGE_PART(obj))
			mime_file_add(&w->m->attach, &w->m->nattach, obj, id,
			    w->light);
		return;
	}
	if (mime_is_inline(obj)) {
		if (GMIME_IS_PART(obj))
			mime_file_add(&w->m->inlines, &w->m->ninline, obj, id,
			    w->light);
		return;
	}
	if (g_mime_content_type_is_type(ct, "text", "html")) {
		if (w->want_html) {
			free(w->m->html);
			w->m->html = mime_text(obj);
			w->want_html = 0;
		}
	} else if (g_mime_content_type_is_type(ct, "text", "plain") &&
	    (alt_taken == NULL || !*alt_taken)) {
		if (alt_taken != NULL)
			*alt_taken = 1;
		t = mime_text(obj);
		if (w->text->len > 0)
			g_string_append(w->text, "\n--\n");
		g_string_append(w->text, t);
		free(t);
	}
}

/*
 * HTML as plain text for snippets and search: tags and the contents of
 * <style> and <script> dropped, a few entities decoded; a new string.
 */
char *
mime_html_text(const char *h)
{
	static const struct {
		const char	*ent;
		char		 c;
	} ents[] = {
		{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
		{ "&nbsp;", ' ' }, { "&quot;", '"' }, { "&#39;", '\'' },
	};
	GString		*g = g_string_new("");
	const char	*p, *e;
	size_t		 i;

	for (p = h; *p != '\0'; p++) {
		if (*p == '<') {
			e = NULL;
			if (g_ascii_strncasecmp(p, "<style", 6) == 0)
				e = strcasestr(p, "</style");
			else if (g_ascii_strncasecmp(p, "<script", 7) == 0)
				e = strcasestr(p, "</script");
			if (e != NULL)
				p = e;
			if ((e = strchr(p, '>')) == NULL)
				break;
			p = e;
			g_string_append_c(g, ' ');
			continue;
		}
		for (i = 0; *p == '&' && i < sizeof(ents) / sizeof(ents[0]);
		    i++)
			if (strncmp(p, ents[i].ent, strlen(ents[i].ent)) == 0)
				break;
		if (*p == '&' && i < sizeof(ents) / sizeof(ents[0])) {
			g_string_append_c(g, ents[i].c);
			p += strlen(ents[i].ent) - 1;
		} else
			g_string_append_c(g, *p);
	}
	return (mime_gstr(g_string_free(g, FALSE)));
}

/*
 * Text with white space runs collapsed to one space, at most max octets
 * (cut on a UTF-8 boundary) plus "..." if cut; a new string.
 */
static char *
mime_snippet(const char *t, size_t max)
{
	GString	*g = g_string_new("");
	int	 space = 0;

	/* Past max + 4 the rest cannot matter: it is cut. */
	for (; *t != '\0' && g->len <= max + 4; t++) {
		if (isspace((unsigned char)*t)) {
			space = g->len > 0;
			continue;
		}
		if (space)
			g_string_append_c(g, ' ');
		space = 0;
		g_string_append_c(g, *t);
	}
	if (g->len > max) {
		while (max > 0 && ((unsigned char)g->str[max] & 0xC0) == 0x80)
			max--;
		g_string_truncate(g, max);
		g_string_append(g, "...");
	}
	return (mime_gstr(g_string_free(g, FALSE)));
}

/* Go's textproto canonical header key: Message-Id, Content-Type. */
static char *
mime_canonical(const char *name)
{
	char	*s = xstrdup(name), *p;
	int	 up = 1;

	for (p = s; *p != '\0'; p++) {
		*p = up ? toupper((unsigned char)*p) :
		    tolower((unsigned char)*p);
		up = *p == '-';
	}
	return (s);
}

/* A raw header value unfolded: lines trimmed, joined by one space. */
static char *
mime_unfold(const char *v)
{
	GString		*g = g_string_new("");
	const char	*p = v, *e;
	char		*t;
	size_t		 n;

	while (*p != '\0') {
		e = p + strcspn(p, "\r\n");
		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		n = (size_t)(e - p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n > 0) {
			if (g->len > 0)
				g_string_append_c(g, ' ');
			g_string_append_len(g, p, (gssize)n);
		}
		p = e + strspn(e, "\r\n");
	}
	t = mime_utf8(g->str, g->len);
	g_string_free(g, TRUE);
	return (t);
}

/*
 * The headers of hl into o as {Canonical-Name: [unfolded value, ...]}.
 */
static void
mime_headers_add(GMimeHeaderList *hl, json_t *o)
{
	GMimeHeader	*h;
	json_t		*a;
	char		*k, *v;
	int		 i, n = g_mime_header_list_get_count(hl);

	for (i = 0; i < n; i++) {
		h = g_mime_header_list_get_header_at(hl, i);
		v = mime_str(g_mime_header_get_name(h));
		k = mime_canonical(v);
		free(v);
		v = mime_unfold(g_mime_header_get_raw_value(h) ?
		    g_mime_header_get_raw_value(h) : "");
		if ((a = json_object_get(o, k)) == NULL) {
			a = json_array();
			json_object_set_new(o, k, a);
		}
		json_array_append_new(a, json_string(v));
		free(k);
		free(v);
	}
}

/*
 * The message's headers as {Canonical-Name: [value, ...]}: its own and
 * those GMime keeps on the top MIME part (Content-Type and the like).
 */
static json_t *
mime_headers(GMimeMessage *msg)
{
	GMimeObject	*root = g_mime_message_get_mime_part(msg);
	json_t		*o = json_object();

	mime_headers_add(g_mime_object_get_header_list(GMIME_OBJECT(msg)), o);
	if (root != NULL)
		mime_headers_add(g_mime_object_get_header_list(root), o);
	return (o);
}

/* An address header's list as JSON, appended to the search text too. */
static json_t *
mime_list(GMimeMessage *msg, GMimeAddressType type, GString *search)
{
	json_t	*a = json_array();

	mime_addrs(g_mime_message_get_addresses(msg, type), a, search);
	return (a);
}

/* Mailpit's X-Tags: comma-separated names, cleaned, into m->tags. */
static void
mime_tags(struct mime_msg *m, const char *header)
{
	char	*copy = mime_str(header), *p = copy, *name, clean[72];

	while ((name = strsep(&p, ",")) != NULL) {
		if (tag_clean(name, clean, sizeof(clean)) != 0)
			continue;
		m->tags = xreallocarray(m->tags, m->ntags + 1,
		    sizeof(*m->tags));
		m->tags[m->ntags++] = xstrdup(clean);
	}
	free(copy);
}

/*
 * Fill the header facts of m from msg; light: only what the index keeps
 * (no Date, no List-Unsubscribe).
 */
static void
mime_envelope(GMimeMessage *msg, struct mime_msg *m, GString *search,
    int light)
{
	GDateTime	*d;
	const char	*v;
	json_t		*from;

	from = mime_list(msg, GMIME_ADDRESS_TYPE_FROM, search);
	m->from = json_array_size(from) > 0 ?
	    json_incref(json_array_get(from, 0)) : json_null();
	json_decref(from);
	m->to = mime_list(msg, GMIME_ADDRESS_TYPE_TO, search);
	m->cc = mime_list(msg, GMIME_ADDRESS_TYPE_CC, search);
	m->bcc = mime_list(msg, GMIME_ADDRESS_TYPE_BCC, search);
	m->reply_to = mime_list(msg, GMIME_ADDRESS_TYPE_REPLY_TO, search);
	v = g_mime_message_get_subject(msg);
	m->subject = mime_str(v);
	g_string_append_printf(search, " %s", m->subject);
	v = g_mime_message_get_message_id(msg);
	m->message_id = mime_str(v);
	if (!light && (d = g_mime_message_get_date(msg)) != NULL)
		m->date = mime_gstr(g_date_time_format(d,
		    "%Y-%m-%dT%H:%M:%S%:z"));
	if ((v = g_mime_object_get_header(GMIME_OBJECT(msg),
	    "Return-Path")) != NULL) {
		m->return_path = mime_str(v + strspn(v, " <"));
		m->return_path[strcspn(m->return_path, ">")] = '\0';
		g_string_append_printf(search, " %s", m->return_path);
	}
	if ((v = g_mime_object_get_header(GMIME_OBJECT(msg), "X-Tags")) !=
	    NULL)
		mime_tags(m, v);
	if (light)
		return;
	v = g_mime_object_get_header(GMIME_OBJECT(msg), "List-Unsubscribe");
	m->list_unsubscribe = mime_str(v);
	v = g_mime_object_get_header(GMIME_OBJECT(msg),
	    "List-Unsubscribe-Post");
	m->list_unsubscribe_post = mime_str(v);
}

/* Parse the message f stands at (to its end) with GMime; NULL if none. */
static GMimeMessage *
mime_parse(FILE *f)
{
	GMimeStream	*st;
	GMimeParser	*p;
	GMimeMessage	*msg;

	st = g_mime_stream_file_new_with_bounds(f, ftello(f), -1);
	g_mime_stream_file_set_owner(GMIME_STREAM_FILE(st), FALSE);
	p = g_mime_parser_new_with_stream(st);
	msg = g_mime_parser_construct_message(p, NULL);
	g_object_unref(p);
	g_object_unref(st);
	return (msg);
}

/*
 * Append " " and text t to the search text, at most SEARCH_TEXT_MAX
 * octets of it (cut on a UTF-8 boundary): every octet of it costs a
 * trigram in the index.
 */
static void
mime_search_text(GString *search, const char *t)
{
	size_t	n = strlen(t);

	if (n > SEARCH_TEXT_MAX) {
		n = SEARCH_TEXT_MAX;
		while (n > 0 && ((unsigned char)t[n] & 0xC0) == 0x80)
			n--;
	}
	g_string_append_c(search, ' ');
	g_string_append_len(search, t, (gssize)n);
}

/*
 * Read the message f stands at into m; light: only what the index keeps
 * (mime_read_index).  0, or -1 if GMime finds no message there.
 */
static int
mime_read_as(FILE *f, struct mime_msg *m, int light)
{
	struct mime_walk	 w;
	GMimeMessage		*msg;
	GMimeObject		*root;
	GString			*search = g_string_new("");
	char			*t;
	size_t			 i;

	memset(m, 0, sizeof(*m));
	if ((msg = mime_parse(f)) == NULL) {
		g_string_free(search, TRUE);
		return (-1);
	}
	mime_envelope(msg, m, search, light);
	if (!light)
		m->headers = mime_headers(msg);
	m->html = xstrdup("");
	memset(&w, 0, sizeof(w));
	w.m = m;
	w.text = g_string_new("");
	w.want_html = 1;
	w.light = light;
	if ((root = g_mime_message_get_mime_part(msg)) != NULL)
		mime_walk(&w, root, GMIME_IS_MULTIPART(root) ? "" : "0", NULL);
	m->text = mime_gstr(g_string_free(w.text, FALSE));
	if (m->text[0] == '\0' && m->html[0] != '\0') {
		free(m->text);
		m->text = mime_html_text(m->html);
	}
	t = m->html[0] != '\0' ? mime_html_text(m->html) : xstrdup(m->text);
	m->snippet = mime_snippet(t, SNIPPET_MAX);
	mime_search_text(search, t);
	free(t);
	for (i = 0; i < m->nattach; i++)
		g_string_append_printf(search, " %s", m->attach[i].filename);
	for (i = 0; i < m->ninline; i++)
		g_string_append_printf(search, " %s", m->inlines[i].filename);
	m->search = mime_gstr(g_string_free(search, FALSE));
	if (light) {
		/* Not kept by the index: free them now, not with the batch. */
		free(m->text);
		free(m->html);
		m->text = m->html = NULL;
	}
	g_object_unref(msg);
	return (0);
}

/*
 * Read the message f stands at into m (mime_free it): 0, or -1 if
 * GMime finds no message there.
 */
int
mime_read(FILE *f, struct mime_msg *m)
{
	return (mime_read_as(f, m, 0));
}

/*
 * What the index keeps of the message f stands at, into m (mime_free
 * it): addresses, Subject, Message-ID, snippet, search text, tags, and
 * the attachments and inline parts by name only (no size, no checksums);
 * no headers, Date, List-Unsubscribe, text or HTML.  0, or -1 if GMime
 * finds no message there.
 */
int
mime_read_index(FILE *f, struct mime_msg *m)
{
	return (mime_read_as(f, m, 1));
}

/* Is addr (case-insensitive) in the address array a? */
static int
mime_listed(json_t *a, const char *addr)
{
	size_t	 i;
	json_t	*v;

	json_array_foreach(a, i, v)
		if (g_ascii_strcasecmp(json_string_value(json_object_get(v,
		    "Address")), addr) == 0)
			return (1);
	return (0);
}

/*
 * Mailpit's Bcc: the envelope recipients that no To, Cc or Bcc header
 * names are added to m->bcc, as Mailpit writes them into a Bcc header;
 * and the user name of SMTP AUTH.
 */
void
mime_add_blind(struct mime_msg *m, const struct envelope *e)
{
	size_t	i;

	free(m->username);
	m->username = mime_str(e->auth_user);
	for (i = 0; i < e->nrcpt; i++)
		if (!mime_listed(m->to, e->rcpt[i]) &&
		    !mime_listed(m->cc, e->rcpt[i]) &&
		    !mime_listed(m->bcc, e->rcpt[i]))
			json_array_append_new(m->bcc, json_pack("{s:s, s:s}",
			    "Name", "", "Address", e->rcpt[i]));
}

/* Free a file list. */
static void
mime_files_free(struct mime_file *v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		free(v[i].part_id);
		free(v[i].filename);
		free(v[i].content_type);
		free(v[i].content_id);
	}
	free(v);
}

/* Free what mime_read filled in. */
void
mime_free(struct mime_msg *m)
{
	json_decref(m->from);
	json_decref(m->to);
	json_decref(m->cc);
	json_decref(m->bcc);
	json_decref(m->reply_to);
	json_decref(m->headers);
	free(m->subject);
	free(m->message_id);
	free(m->date);
	free(m->return_path);
	free(m->list_unsubscribe);
	free(m->list_unsubscribe_post);
	free(m->text);
	free(m->html);
	free(m->snippet);
	free(m->search);
	free(m->username);
	while (m->ntags > 0)
		free(m->tags[--m->ntags]);
	free(m->tags);
	mime_files_free(m->attach, m->nattach);
	mime_files_free(m->inlines, m->ninline);
	memset(m, 0, sizeof(*m));
}

/*
 * MailHog's headers of obj: names as sent, raw values with the line
 * breaks of folding removed (the continuation's white space kept); a
 * repeated header keeps its last value.
 */
static json_t *
mime_mh_headers(GMimeObject *obj)
{
	GMimeHeaderList	*hl = g_mime_object_get_header_list(obj);
	GMimeHeader	*h;
	GString		*g;
	const char	*v;
	char		*k;
	json_t		*o = json_object();
	int		 i, n = g_mime_header_list_get_count(hl);

	for (i = 0; i < n; i++) {
		h = g_mime_header_list_get_header_at(hl, i);
		v = g_mime_header_get_raw_value(h);
		g = g_string_new("");
		for (v = v != NULL ? v + strspn(v, " \t") : ""; *v != '\0';
		    v++)
			if (*v != '\r' && *v != '\n')
				g_string_append_c(g, *v);
		v = mime_utf8(g->str, g->len);
		k = mime_str(g_mime_header_get_name(h));
		json_object_set_new(o, k, json_pack("[s]", v));
		free((char *)v);
		free(k);
		g_string_free(g, TRUE);
	}
	return (o);
}

/* MailHog's Content of a MIME object: Headers, Body, Size, MIME. */
static json_t *
mime_mh_content(GMimeObject *obj)
{
	GMimeStream		*mem = g_mime_stream_mem_new();
	GMimeFormatOptions	*opts;
	GByteArray		*ba;
	json_t			*parts = json_null(), *v;
	char		*body;
	int		 i, n;

	opts = g_mime_format_options_new();
	g_mime_format_options_set_newline_format(opts,
	    GMIME_NEWLINE_FORMAT_DOS);
	g_mime_object_write_content_to_stream(obj, opts, mem);
	g_mime_format_options_free(opts);
	ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	if (GMIME_IS_MULTIPART(obj)) {
		parts = json_array();
		n = g_mime_multipart_get_count(GMIME_MULTIPART(obj));
		for (i = 0; i < n; i++)
			json_array_append_new(parts, mime_mh_content(
			    g_mime_multipart_get_part(GMIME_MULTIPART(obj),
			    i)));
		parts = json_pack("{s:o}", "Parts", parts);
	}
	body = mime_utf8((const char *)ba->data, ba->len);
	v = json_pack("{s:o, s:s, s:I, s:o}", "Headers", mime_mh_headers(obj),
	    "Body", body, "Size", (json_int_t)ba->len, "MIME", parts);
	free(body);
	g_object_unref(mem);
	return (v);
}

/*
 * MailHog's view of the message f stands at: its headers as sent
 * (returned) and, for a multipart message, *mime = {"Parts": [Content]}
 * (else JSON null).  NULL if GMime finds no message.
 */
json_t *
mime_mailhog(FILE *f, json_t **mime)
{
	GMimeMessage	*msg;
	GMimeObject	*root;
	json_t		*h, *c;

	*mime = json_null();
	if ((msg = mime_parse(f)) == NULL)
		return (NULL);
	h = mime_mh_headers(GMIME_OBJECT(msg));
	root = g_mime_message_get_mime_part(msg);
	if (root != NULL)
		json_object_update_missing_new(h, mime_mh_headers(root));
	if (root != NULL && GMIME_IS_MULTIPART(root)) {
		json_decref(*mime);
		c = mime_mh_content(root);
		*mime = json_incref(json_object_get(c, "MIME"));
		json_decref(c);
	}
	g_object_unref(msg);
	return (h);
}

/* Find the leaf with part ID id under obj (whose ID is at). */
static GMimeObject *
mime_find(GMimeObject *obj, const char *at, const char *id)
{
	GMimeObject	*r;
	char		 sub[256];
	int		 i, n;

	if (!GMIME_IS_MULTIPART(obj))
		return (strcmp(at, id) == 0 ? obj : NULL);
	n = g_mime_multipart_get_count(GMIME_MULTIPART(obj));
	for (i = 0; i < n; i++) {
		if (at[0] == '\0')
			snprintf(sub, sizeof(sub), "%d", i + 1);
		else
			snprintf(sub, sizeof(sub), "%s.%d", at, i + 1);
		if ((r = mime_find(g_mime_multipart_get_part(
		    GMIME_MULTIPART(obj), i), sub, id)) != NULL)
			return (r);
	}
	return (NULL);
}

/*
 * The decoded bytes of part id of the message f stands at, with its
 * media type and file name (all to free): 0, or -1 if there is no such
 * leaf part.
 */
int
mime_part(FILE *f, const char *id, unsigned char **data, size_t *len,
    char **type, char **filename)
{
	GMimeMessage	*msg;
	GMimeObject	*root, *obj;
	GByteArray	*ba;
	const char	*fn;

	if ((msg = mime_parse(f)) == NULL)
		return (-1);
	root = g_mime_message_get_mime_part(msg);
	obj = root == NULL ? NULL : mime_find(root,
	    GMIME_IS_MULTIPART(root) ? "" : "0", id);
	if (obj == NULL || !(GMIME_IS_PART(obj) ||
	    GMIME_IS_MESSAGE_PART(obj))) {
		g_object_unref(msg);
		return (-1);
	}
	ba = mime_decoded(obj);
	*len = ba->len;
	*data = xmalloc(ba->len + 1);
	if (ba->len > 0)
		memcpy(*data, ba->data, ba->len);
	g_byte_array_unref(ba);
	*type = mime_gstr(g_mime_content_type_get_mime_type(
	    g_mime_object_get_content_type(obj)));
	fn = mime_filename(obj);
	*filename = mime_str(fn);
	g_object_unref(msg);
	return (0);
}

/*
 * web.c: serves the page's embedded files (web-files.c) at "/", "/app.js"
 * and "/style.css", with headers that confine the page (WEB_PAGE_CSP) and
 * tell the browser to ask again after a rebuild.  GET and HEAD only; the
 * page itself talks to the API like any client (web/app.js).
 */
#include <stdio.h>
#include <string.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "http/http.h"
#include "http/web.h"

/* The embedded file for a URL path, or NULL. */
const struct web_file *
web_file_find(const char *path)
{
	size_t	i;

	for (i = 0; i < web_files_count; i++)
		if (strcmp(web_files[i].path, path) == 0)
			return &web_files[i];
	return NULL;
}

/*
 * GET (or HEAD) of "/", "/app.js" or "/style.css": the embedded file, with
 * headers that confine the page (WEB_PAGE_CSP) and make the browser ask
 * again after mxd is rebuilt.  Any other path: 404 with a JSON error.
 */
void
web_page(struct http_req *r)
{
	const struct web_file	*f;
	struct evkeyvalq	*out;
	char			 path[256];

	snprintf(path, sizeof(path), "/%s", r->nseg > 0 ? r->seg[0] : "");
	if (r->nseg > 1 || (f = web_file_find(path)) == NULL) {
		http_reply_error(r, 404, "not found");
		return;
	}
	out = evhttp_request_get_output_headers(r->req);
	evhttp_add_header(out, "Content-Security-Policy", WEB_PAGE_CSP);
	evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(out, "Referrer-Policy", "no-referrer");
	evhttp_add_header(out, "Cache-Control", "no-cache");
	http_reply_data(r, 200, f->type, f->data, f->len);
}

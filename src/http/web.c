/*
 * web.c: serves the page's embedded files (web-files.c) at "/", "/app.js"
 * and "/style.css", with headers that confine the page (WEB_PAGE_CSP) and
 * tell the browser to ask again after a rebuild.  GET and HEAD only.
 */
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

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
 * Answer a request for path (the URI's path, decoded) if it names an
 * embedded file: 200 with the file, and return 1.  Return 0, having sent
 * nothing, when it does not, so that the caller can answer 404 its way.
 */
int
web_serve(struct evhttp_request *req, const char *path)
{
	const struct web_file	*f;
	struct evkeyvalq	*out;
	struct evbuffer		*body;

	if ((f = web_file_find(path)) == NULL)
		return 0;
	out = evhttp_request_get_output_headers(req);
	evhttp_add_header(out, "Content-Type", f->type);
	evhttp_add_header(out, "Content-Security-Policy", WEB_PAGE_CSP);
	evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(out, "Referrer-Policy", "no-referrer");
	evhttp_add_header(out, "Cache-Control", "no-cache");
	body = evhttp_request_get_output_buffer(req);
	evbuffer_add_reference(body, f->data, f->len, NULL, NULL);
	evhttp_send_reply(req, HTTP_OK, "OK", NULL);
	return 1;
}

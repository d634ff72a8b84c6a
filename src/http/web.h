/*
 * web.h: the page's files, embedded into mxd at build time (web/embed.sh
 * writes web-files.c from web/), and the HTTP headers that keep the page
 * and the messages it shows apart.
 */
#ifndef MXD_HTTP_WEB_H
#define MXD_HTTP_WEB_H

#include <stddef.h>

struct evhttp_request;

/* One embedded file: its URL path ("/" for index.html), media type, bytes. */
struct web_file {
	const char		*path;
	const char		*type;
	const unsigned char	*data;
	size_t			 len;
};

extern const struct web_file	web_files[];
extern const size_t		web_files_count;

/*
 * The page itself: scripts, styles, frames and API calls from mxd only;
 * nothing inline, no plug-ins, and no other site may frame it.
 */
#define WEB_PAGE_CSP \
	"default-src 'none'; script-src 'self'; style-src 'self'; " \
	"img-src 'self' data:; connect-src 'self'; frame-src 'self'; " \
	"base-uri 'none'; form-action 'none'; frame-ancestors 'self'"

/*
 * A message's HTML body (/view/ID.html): no script of any kind, no remote
 * load (a tracking pixel must not call home from a test sink), inline
 * styles and images that are data: or the message's own parts only.
 */
#define WEB_VIEW_CSP \
	"default-src 'none'; style-src 'unsafe-inline'; " \
	"img-src data: 'self'; font-src data:; base-uri 'none'; " \
	"form-action 'none'; frame-ancestors 'self'; sandbox"

/* web.c */
const struct web_file	*web_file_find(const char *);
int			 web_serve(struct evhttp_request *, const char *);

#endif

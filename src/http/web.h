/*
 * web.h: the page's files, embedded into mxd at build time (web/embed.sh
 * writes web-files.c from web/), and the policy the page is served with.
 * A message's own HTML (/view/ID.html) has a stricter one, in
 * api-mailpit.c.
 */
#ifndef MXD_HTTP_WEB_H
#define MXD_HTTP_WEB_H

#include <stddef.h>

struct http_req;

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

/* web.c */
const struct web_file	*web_file_find(const char *);
void			 web_page(struct http_req *);

#endif

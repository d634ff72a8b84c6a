/*
 * line.c: the command line reader.  A line ends at LF; a real line ends
 * in CRLF, and a bare LF is remembered so the session can teach the
 * person at `nc` how to end DATA.  Lines are bounded: nothing beyond
 * SMTP_CMD_MAX octets is ever buffered for a command (SMTP_AUTH_LINE_MAX
 * for an AUTH line, in a buffer of its own).
 */
#include <string.h>

#include <event2/buffer.h>

#include "mxd.h"

/*
 * Take one line from in into buf (without its line end, NUL-terminated).
 * On LINE_TOO_LONG, up to max octets were consumed and the caller must
 * discard the rest of the line.  *bare is set when the line ended in a
 * bare LF.
 */
enum line_status
line_get(struct evbuffer *in, char *buf, size_t max, size_t *len, int *bare)
{
	struct evbuffer_ptr	 lf, end;
	size_t			 avail, n;

	avail = evbuffer_get_length(in);
	if (avail == 0)
		return (LINE_PARTIAL);
	n = avail < max ? avail : max;
	if (evbuffer_ptr_set(in, &end, n, EVBUFFER_PTR_SET) != 0)
		return (LINE_PARTIAL);
	lf = evbuffer_search_range(in, "\n", 1, NULL, &end);
	if (lf.pos < 0) {
		if (avail < max)
			return (LINE_PARTIAL);
		evbuffer_drain(in, max);
		return (LINE_TOO_LONG);
	}
	n = (size_t)lf.pos;
	evbuffer_remove(in, buf, n + 1);
	*bare = !(n > 0 && buf[n - 1] == '\r');
	if (!*bare)
		n--;
	buf[n] = '\0';
	*len = n;
	return (LINE_OK);
}

/*
 * Is this command line free of control characters?  TAB is allowed as
 * white space; NUL, CR and the rest would truncate or confuse a parse.
 */
int
line_valid(const char *p, size_t len)
{
	size_t		i;
	unsigned char	c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)p[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return (0);
	}
	return (1);
}

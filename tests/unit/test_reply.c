/*
 * test_reply.c: every row of the reply table (reply.c).  Each id has a
 * row; the code is a real SMTP reply code and its enhanced code (RFC
 * 3463) has the same class; only the replies that RFC 2034 exempts go
 * without one; a reply that ends the session has a disconnect reason
 * and a closing code, and every 421 ends it; and the text, formatted
 * with long arguments, fits a reply line (RFC 5321 4.5.3.1.5).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "smtp/smtp.h"
#include "tap.h"

/* Long but ordinary arguments: 100-octet names, the largest numbers. */
#define ARG_TEXT	100
#define ARG_NUM		20

/* Length of text formatted with every conversion at ARG_*; -1 if odd. */
static int
formatted_len(const char *fmt)
{
	int	n = 0;

	for (; *fmt != '\0'; fmt++) {
		if (*fmt != '%') {
			n++;
			continue;
		}
		fmt++;
		if (*fmt == '%')
			n++;
		else if (*fmt == 's')
			n += ARG_TEXT;
		else if (*fmt == 'd' || *fmt == 'u')
			n += ARG_NUM;
		else if (*fmt == 'z' && fmt[1] == 'u') {
			fmt++;
			n += ARG_NUM;
		} else
			return (-1);
	}
	return (n);
}

/* Is esc an enhanced status code d.ddd.ddd of the class of code? */
static int
esc_matches(const char *esc, int code)
{
	int	 a, b, c, len;

	if (sscanf(esc, "%1d.%3d.%3d%n", &a, &b, &c, &len) != 3 ||
	    (size_t)len != strlen(esc))
		return (0);
	return (a == code / 100);
}

int
main(void)
{
	const struct reply_row	*r;
	int			 id, n, line;

	for (id = 0; id < R_MAX; id++) {
		r = reply_row(id);
		ok(r != NULL, "reply %d has a row", id);
		if (r == NULL)
			continue;
		ok(r->code >= 200 && r->code <= 559 && r->code % 100 <= 55,
		    "reply %d: code %d is an SMTP code", id, r->code);
		if (r->esc != NULL)
			ok(esc_matches(r->esc, r->code), "reply %d: %s has the "
			    "class of %d", id, r->esc, r->code);
		else
			/* RFC 2034 3: not on the greeting, EHLO, 354, 334. */
			ok(r->code == 220 || r->code == 250 ||
			    r->code == 354 || r->code == 334,
			    "reply %d: %d may go without an enhanced code", id,
			    r->code);
		if (r->code == 421)
			ok(r->closes != NULL, "reply %d: a 421 closes", id);
		if (r->closes != NULL)
			ok((r->code == 221 || r->code == 421 ||
			    r->code == 554) && r->closes[0] != '\0',
			    "reply %d closes (%s) with a closing code", id,
			    r->closes);
		n = formatted_len(r->text);
		line = 4 + (r->esc != NULL ? (int)strlen(r->esc) + 1 : 0) + n;
		ok(n >= 0 && line <= SMTP_CMD_MAX - 2, "reply %d: %d octets "
		    "with long arguments fit 510", id, line);
	}
	ok(reply_row(R_MAX) == NULL, "no row past R_MAX");
	return (tap_done());
}

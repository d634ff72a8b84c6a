/*
 * test_line.c: the command line reader.  A line is taken only once its
 * LF is in, whatever the chunks it arrived in; CRLF and bare LF are told
 * apart; a line of more than SMTP_CMD_MAX octets is refused without
 * buffering it; control characters are found wherever they are.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "smtp/smtp.h"
#include "tap.h"

/* Append s to out (4096 octets); abort rather than truncate. */
static void
append(char *out, const char *s, size_t size)
{
	size_t	n = strlen(out), k = strlen(s);

	if (n + k >= size)
		abort();
	memcpy(out + n, s, k + 1);
}

/*
 * Add in to a buffer step octets at a time (0: whole), taking lines as
 * they complete; return them joined with "|", and bare-LF lines marked
 * "~".  "TOO_LONG" marks a refused line.
 */
static const char *
lines(const char *in, size_t step, size_t *left)
{
	static char		 out[4096];
	struct evbuffer		*b = evbuffer_new();
	struct evbuffer_ptr	 lf;
	char			 line[SMTP_CMD_MAX + 1];
	size_t			 len, n = strlen(in), i = 0, k, nlines = 0;
	int			 bare, discard = 0;
	enum line_status	 st;

	out[0] = '\0';
	while (i < n) {
		k = step == 0 || n - i < step ? n - i : step;
		evbuffer_add(b, in + i, k);
		i += k;
		for (;;) {
			if (discard) {
				/* As the session: skip to the end of the line. */
				lf = evbuffer_search(b, "\n", 1, NULL);
				if (lf.pos < 0) {
					evbuffer_drain(b, evbuffer_get_length(b));
					break;
				}
				evbuffer_drain(b, (size_t)lf.pos + 1);
				discard = 0;
			}
			st = line_get(b, line, SMTP_CMD_MAX, &len, &bare);
			if (st == LINE_PARTIAL)
				break;
			if (nlines++ > 0)
				append(out, "|", sizeof(out));
			if (st == LINE_TOO_LONG) {
				append(out, "TOO_LONG", sizeof(out));
				discard = 1;
				continue;
			}
			if (strlen(line) != len)
				abort();
			append(out, line, sizeof(out));
			if (bare)
				append(out, "~", sizeof(out));
		}
	}
	*left = evbuffer_get_length(b);
	evbuffer_free(b);
	return (out);
}

static void
test_chunks(void)
{
	static const struct {
		const char	*in;
		const char	*want;
		size_t		 left;
	} cases[] = {
		{ "EHLO x\r\nMAIL FROM:<a@b>\r\n", "EHLO x|MAIL FROM:<a@b>", 0 },
		{ "ehlo x\nnoop\n", "ehlo x~|noop~", 0 },
		{ "QUIT\r\nDAT", "QUIT", 3 },
		{ "\r\n\n", "|~", 0 },
		{ "a\rb\r\n", "a\rb", 0 },
		{ "x\r\r\n", "x\r", 0 },
	};
	size_t		i, step, left;
	const char	*got;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (step = 0; step <= 4; step++) {
			got = lines(cases[i].in, step, &left);
			ok(strcmp(got, cases[i].want) == 0 &&
			    left == cases[i].left,
			    "case %zu in pieces of %zu: \"%s\"", i, step, got);
		}
}

static void
test_too_long(void)
{
	char		in[2 * SMTP_CMD_MAX + 16];
	size_t		left;
	const char	*got;

	/* 512 octets with the CRLF is the longest command (RFC 5321). */
	memset(in, 'x', SMTP_CMD_MAX - 2);
	strcpy(in + SMTP_CMD_MAX - 2, "\r\nNOOP\r\n");
	got = lines(in, 0, &left);
	ok(strlen(got) == SMTP_CMD_MAX - 2 + strlen("|NOOP") &&
	    strcmp(got + SMTP_CMD_MAX - 2, "|NOOP") == 0,
	    "a 512-octet line with its CRLF is taken");
	memset(in, 'x', SMTP_CMD_MAX + 100);
	strcpy(in + SMTP_CMD_MAX + 100, "\r\nNOOP\r\n");
	is_str(lines(in, 0, &left), "TOO_LONG|NOOP",
	    "a longer line is refused, the next one read");
	is_str(lines(in, 7, &left), "TOO_LONG|NOOP",
	    "the same in pieces of 7");
}

static void
test_valid(void)
{
	ok(line_valid("MAIL FROM:<a@b>\tX", 17), "TAB is white space");
	ok(!line_valid("MAIL\0FROM", 9), "NUL in the middle");
	ok(!line_valid("RCPT TO:<a\r@b>", 14), "CR in the middle");
	ok(!line_valid("NOOP\x7f", 5), "DEL");
	ok(!line_valid("\x16\x03\x01", 3), "a TLS record header");
	ok(line_valid("EHLO \xc3\xa9", 7), "8-bit octets are not control");
}

int
main(void)
{
	test_chunks();
	test_too_long();
	test_valid();
	return (tap_done());
}

/*
 * test_data.c: the DATA decoder.  Each case is fed whole, byte by byte,
 * and split in two at every offset; all must agree on the decoded bytes,
 * on where the end of data is, and on the bare-CR/LF flag.
 */
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp.h"
#include "tap.h"

struct out {
	char	buf[4096];
	size_t	len;
};

/* Decoder sink: append to an out buffer. */
static void
collect(void *arg, const char *p, size_t n)
{
	struct out	*o = arg;

	if (o->len + n > sizeof(o->buf))
		abort();
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

/*
 * Feed in[0..len) in pieces of at most step octets (0: whole), with the
 * first piece cut at split (0: none).  Returns the offset just past the
 * end of data, or -1 if none.
 */
static long
feed(const char *in, size_t len, int lax, size_t split, size_t step,
    struct out *o, int *bare)
{
	struct data_dec	d;
	size_t		off = 0, n, used;

	memset(o, 0, sizeof(*o));
	data_dec_init(&d, lax, collect, o);
	while (off < len) {
		n = len - off;
		if (split && off < split)
			n = split - off;
		else if (step && n > step)
			n = step;
		if (data_dec_feed(&d, in + off, n, &used)) {
			*bare = d.bare;
			return ((long)(off + used));
		}
		off += n;
	}
	*bare = d.bare;
	return (-1);
}

struct dcase {
	const char	*name;
	const char	*in;
	const char	*out;
	long		 end;	/* offset after end of data, -1 none */
	int		 lax;
	int		 bare;
};

static const struct dcase cases[] = {
	{ "empty message", ".\r\n", "", 3, 0, 0 },
	{ "one line", "a\r\n.\r\n", "a\r\n", 6, 0, 0 },
	{ "headers and body", "S: x\r\n\r\nbody\r\n.\r\nQUIT\r\n",
	  "S: x\r\n\r\nbody\r\n", 17, 0, 0 },
	{ "dot-stuffed line", "..x\r\n.\r\n", ".x\r\n", 8, 0, 0 },
	{ "stuffed lone dot", "a\r\n..\r\n.\r\n", "a\r\n.\r\n", 10, 0, 0 },
	{ "dot inside a line", "a.b\r\n.\r\n", "a.b\r\n", 8, 0, 0 },
	{ "dot not at BOL then end", "x.\r\n.\r\n", "x.\r\n", 7, 0, 0 },
	{ "no end yet", "abc\r\n", "abc\r\n", -1, 0, 0 },
	{ "8-bit octets", "\xc3\xa9\xff\r\n.\r\n", "\xc3\xa9\xff\r\n", 8,
	  0, 0 },
	/* RFC 5321 4.1.1.4: none of these end the data. */
	{ "LF.LF", "a\n.\nb\r\n.\r\n", "a\n.\nb\r\n", 10, 0, 1 },
	{ "LF.CRLF", "a\n.\r\nb\r\n.\r\n", "a\n.\r\nb\r\n", 11, 0, 1 },
	{ "CRLF.LF", "a\r\n.\nb\r\n.\r\n", "a\r\n.\nb\r\n", 11, 0, 1 },
	{ "CR.CR", "a\r.\rb\r\n.\r\n", "a\r.\rb\r\n", 10, 0, 1 },
	{ "CR.CRLF", "a\r.\r\nb\r\n.\r\n", "a\r.\r\nb\r\n", 11, 0, 1 },
	{ "CRLF.CR", "a\r\n.\rb\r\n.\r\n", "a\r\n.\rb\r\n", 11, 0, 1 },
	{ "CRCRLF.CRCRLF", "a\r\r\n.\r\r\nb\r\n.\r\n",
	  "a\r\r\n.\r\r\nb\r\n", 14, 0, 1 },
	{ "bare LF first line", ".\n.\r\n", ".\n.\r\n", -1, 0, 1 },
	{ "smuggled transaction stays content",
	  "x\n.\nMAIL FROM:<e@x>\r\nsmuggled\r\n.\r\n",
	  "x\n.\nMAIL FROM:<e@x>\r\nsmuggled\r\n", 34, 0, 1 },
	/* bare_lf_end: the lab-only relaxation. */
	{ "lax: LF.LF ends", "a\n.\nrest", "a\n", 4, 1, 1 },
	{ "lax: LF..x unstuffed", "a\n..x\n.\n", "a\n.x\n", 8, 1, 1 },
	{ "lax: CRLF.CRLF still ends", "a\r\n.\r\n", "a\r\n", 6, 1, 0 },
};

static void
test_case(const struct dcase *c, size_t len)
{
	struct out	whole, piece;
	long		end, e2;
	size_t		split, bad = 0, step;
	int		bare, b2;

	end = feed(c->in, len, c->lax, 0, 0, &whole, &bare);
	ok(end == c->end, "%s: end at %ld (want %ld)", c->name, end, c->end);
	ok(whole.len == strlen(c->out) &&
	    memcmp(whole.buf, c->out, whole.len) == 0,
	    "%s: decoded bytes", c->name);
	ok(bare == c->bare, "%s: bare flag %d", c->name, bare);
	for (step = 1; step <= 3; step++) {
		e2 = feed(c->in, len, c->lax, 0, step, &piece, &b2);
		if (e2 != end || piece.len != whole.len || b2 != bare ||
		    memcmp(piece.buf, whole.buf, whole.len) != 0)
			bad++;
	}
	for (split = 1; split < len; split++) {
		e2 = feed(c->in, len, c->lax, split, 0, &piece, &b2);
		if (e2 != end || piece.len != whole.len || b2 != bare ||
		    memcmp(piece.buf, whole.buf, whole.len) != 0)
			bad++;
	}
	ok(bad == 0, "%s: same result for every split (%zu differ)", c->name,
	    bad);
}

/* NUL octets are content like any other. */
static void
test_nul(void)
{
	struct out	o;
	int		bare;

	ok(feed("a\0b\r\n.\r\n", 8, 0, 0, 0, &o, &bare) == 8 &&
	    o.len == 5 && memcmp(o.buf, "a\0b\r\n", 5) == 0, "NUL kept");
}

int
main(void)
{
	size_t	i, len;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = strlen(cases[i].in);
		test_case(&cases[i], len);
	}
	test_nul();
	return (tap_done());
}

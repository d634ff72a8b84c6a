/*
 * fuzz_data.c: libFuzzer target for the DATA decoder.  The first two
 * octets choose a split point and the lab mode; the rest is fed whole
 * and then in two pieces, and both runs must agree on the decoded bytes
 * and on where the data ended (a differential check of chunk handling).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct out {
	unsigned char	*buf;
	size_t		 len;
};

/* Decoder sink. */
static void
collect(void *arg, const char *p, size_t n)
{
	struct out	*o = arg;

	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

/* Decode in at most two pieces; return the end offset or -1. */
static long
run(const uint8_t *in, size_t len, size_t split, int lax, struct out *o)
{
	struct data_dec	d;
	size_t		used;

	data_dec_init(&d, lax, collect, o);
	if (split > 0 && split < len) {
		if (data_dec_feed(&d, (const char *)in, split, &used))
			return ((long)used);
		in += split;
		len -= split;
		if (data_dec_feed(&d, (const char *)in, len, &used))
			return ((long)(split + used));
		return (-1);
	}
	if (data_dec_feed(&d, (const char *)in, len, &used))
		return ((long)used);
	return (-1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct out	a, b;
	long		ea, eb;
	size_t		split;
	int		lax;

	if (size < 2)
		return (0);
	split = data[0];
	lax = data[1] & 1;
	data += 2;
	size -= 2;
	a.buf = malloc(size + 2);
	b.buf = malloc(size + 2);
	a.len = b.len = 0;
	ea = run(data, size, 0, lax, &a);
	eb = run(data, size, split, lax, &b);
	if (ea != eb || a.len != b.len || memcmp(a.buf, b.buf, a.len) != 0)
		abort();
	/* Decoding never adds octets (at most the held "." or ".\r"). */
	if (a.len > size)
		abort();
	/* Strict mode ends only right after CRLF "." CRLF. */
	if (!lax && ea >= 0 && !(ea >= 3 && memcmp(data + ea - 3, ".\r\n", 3)
	    == 0 && (ea == 3 || (ea >= 5 && data[ea - 5] == '\r' &&
	    data[ea - 4] == '\n'))))
		abort();
	free(a.buf);
	free(b.buf);
	return (0);
}

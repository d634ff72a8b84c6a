/*
 * fuzz_line.c: libFuzzer target for the command line reader and the
 * command-line checks, over input split at a fuzzer-chosen point.  The
 * reader must never return a line longer than the limit, never one that
 * holds a LF, and must consume every octet exactly once.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "smtp/smtp.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evbuffer	*in;
	char		 line[SMTP_CMD_MAX + 1];
	size_t		 len, split, fed, seen = 0, i;
	int		 bare, rounds;

	if (size < 1)
		return (0);
	split = data[0] % (size);
	data++;
	size--;
	if ((in = evbuffer_new()) == NULL)
		abort();
	fed = split < size ? split : size;
	evbuffer_add(in, data, fed);
	for (rounds = 0; rounds < 2; rounds++) {
		for (;;) {
			size_t before = evbuffer_get_length(in);
			enum line_status st = line_get(in, line, SMTP_CMD_MAX,
			    &len, &bare);

			if (st == LINE_PARTIAL)
				break;
			seen += before - evbuffer_get_length(in);
			if (st == LINE_TOO_LONG)
				continue;
			if (len > SMTP_CMD_MAX - 1 || memchr(line, '\n', len))
				abort();
			if (strlen(line) > len)
				abort();
			(void)line_valid(line, len);
			for (i = 0; i < len; i++)
				if (line[i] == '\0' && line_valid(line, len))
					abort();	/* NUL must be refused */
		}
		evbuffer_add(in, data + fed, size - fed);
		fed = size;
	}
	if (seen + evbuffer_get_length(in) != size)
		abort();
	evbuffer_free(in);
	return (0);
}

/*
 * fuzz_lmtp.c: libFuzzer target for the LMTP reply reader (what a mail
 * store sends, deliver/lmtp.c) over input split at a fuzzer-chosen
 * point, and for the target parser.  A finished reply has a code from
 * 200 to 599; the reader never keeps more than LMTP_LINE_MAX octets
 * waiting for a line end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "deliver/deliver.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evbuffer		*in;
	struct lmtp_reply	 r;
	struct lmtp_target	 t;
	enum lmtp_read		 rd = LMTP_READ_MORE;
	char			 s[256], *cause = NULL;
	size_t			 split, fed;

	if (size < 1)
		return (0);
	split = data[0] % size;
	data++;
	size--;
	/* The target parser, on the input as text. */
	memcpy(s, data, size < sizeof(s) - 1 ? size : sizeof(s) - 1);
	s[size < sizeof(s) - 1 ? size : sizeof(s) - 1] = '\0';
	if (lmtp_target_parse(s, &t, &cause) != 0)
		free(cause);
	if ((in = evbuffer_new()) == NULL)
		abort();
	memset(&r, 0, sizeof(r));
	fed = split < size ? split : size;
	evbuffer_add(in, data, fed);
	for (;;) {
		rd = lmtp_reply_read(in, &r);
		if (rd == LMTP_READ_DONE) {
			if (r.code < 200 || r.code > 599 || r.nlines < 1 ||
			    strlen(r.text) >= sizeof(r.text))
				abort();
			memset(&r, 0, sizeof(r));
			continue;
		}
		if (rd == LMTP_READ_BAD)
			break;
		if (evbuffer_get_length(in) > LMTP_LINE_MAX + 2 &&
		    evbuffer_search_eol(in, NULL, NULL,
		    EVBUFFER_EOL_CRLF).pos == -1)
			abort();
		if (fed == size)
			break;
		evbuffer_add(in, data + fed, size - fed);
		fed = size;
	}
	evbuffer_free(in);
	return (0);
}

/*
 * fuzz_envelope.c: libFuzzer target for the envelope reader, which the
 * HTTP API, POP3 and delivery run on spool files on request.  Any bytes
 * must be read or refused without a crash; what reads must write back
 * into a block that reads to the same envelope (a round trip).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "mxd.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Do two envelopes hold the same fields? */
static int
same(const struct envelope *a, const struct envelope *b)
{
	size_t	i;

	if (strcmp(a->qid, b->qid) || strcmp(a->arrival, b->arrival) ||
	    strcmp(a->client_addr, b->client_addr) ||
	    a->client_port != b->client_port || strcmp(a->helo, b->helo) ||
	    strcmp(a->sender, b->sender) || a->nrcpt != b->nrcpt ||
	    strcmp(a->auth_mech, b->auth_mech) ||
	    strcmp(a->auth_user, b->auth_user) || strcmp(a->tls, b->tls))
		return (0);
	for (i = 0; i < a->nrcpt; i++)
		if (strcmp(a->rcpt[i], b->rcpt[i]) != 0)
			return (0);
	return (1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct envelope	 e, again;
	struct evbuffer	*b;
	char		*mem;
	size_t		 n;
	FILE		*f;

	if (size == 0 || (f = fmemopen((void *)data, size, "r")) == NULL)
		return (0);
	if (envelope_read(f, &e) != 0) {
		fclose(f);
		return (0);
	}
	fclose(f);
	if ((b = evbuffer_new()) == NULL)
		abort();
	envelope_write(b, &e);
	n = evbuffer_get_length(b);
	mem = malloc(n);
	evbuffer_remove(b, mem, n);
	evbuffer_free(b);
	if ((f = fmemopen(mem, n, "r")) == NULL)
		abort();
	if (envelope_read(f, &again) != 0 || !same(&e, &again))
		abort();	/* what was read must survive a round trip */
	fclose(f);
	free(mem);
	envelope_free(&e);
	envelope_free(&again);
	return (0);
}

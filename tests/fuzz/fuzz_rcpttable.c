/*
 * fuzz_rcpttable.c: libFuzzer target for the recipient table parser
 * (rcpttable.c).  The first octet picks the delimiter, the rest is the
 * file.  A table that loads must find each of its keys, expand every
 * address of its own within RCPTTABLE_MAX_MAILBOXES without error, and
 * give mailboxes that are themselves in the table or caught.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxd.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const delims[] = { "", "+", "+-", "-" };
	struct rcpttable	*t;
	struct rcpt_match	 m;
	struct strlist		 out;
	FILE			*f;
	char			*cause = NULL, *why;
	size_t			 i, k;

	if (size < 1)
		return (0);
	if ((f = fmemopen((void *)(data + 1), size - 1, "r")) == NULL)
		return (0);
	if (rcpttable_load_fp(f, "fuzz", delims[data[0] % 4], NULL, &t,
	    &cause) != 0) {
		if (cause == NULL || strncmp(cause, "fuzz", 4) != 0)
			abort();	/* every error names the file */
		free(cause);
		fclose(f);
		return (0);
	}
	fclose(f);
	for (i = 0; i < t->cap; i++) {
		const struct rcpt_entry *e = &t->slots[i];

		if (e->key == NULL)
			continue;
		if (e->key[0] != '@' && (rcpttable_lookup(t, e->key, &m) !=
		    e || m.how != RCPT_HOW_EXACT))
			abort();	/* a key finds itself */
		if (e->key[0] == '@')
			continue;
		memset(&out, 0, sizeof(out));
		why = NULL;
		if (rcpttable_expand(t, e->key, &out, NULL, &why) != 0 ||
		    out.n == 0)
			abort();	/* load checked every expansion */
		for (k = 0; k < out.n; k++) {
			if (rcpttable_lookup(t, out.v[k], &m) == NULL)
				abort();
			free(out.v[k]);
		}
		free(out.v);
	}
	rcpttable_free(t);
	return (0);
}

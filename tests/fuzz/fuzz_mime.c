/*
 * fuzz_mime.c: libFuzzer target for the path the HTTP API runs on every
 * spool file it shows: message bytes -> GMime (store/mime.c) -> the
 * index's summary and Mailpit's Message JSON (http/json.c), MailHog's
 * view, every attachment's decoded part; and the same bytes as a
 * search string -> SQL (store/search.c).  Any bytes must give valid
 * JSON or a refusal, never a crash; the SQL must hold no user text.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* The search parser and its SQL on s. */
static void
fuzz_search(const char *s)
{
	struct search	 q;
	char		*sql, **p;
	size_t		 n;

	search_parse(s, &q);
	sql = search_sql(&q, &p, &n);
	if (strchr(sql, '\'') != NULL || strchr(sql, ';') != NULL)
		abort();
	free(sql);
	search_params_free(p, n);
	search_free(&q);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_msg	 m;
	unsigned char	*part;
	char		*s, *type, *name;
	size_t		 len, i;
	json_t		*v, *mime;
	FILE		*f;

	mime_init();
	s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	fuzz_search(s);
	free(s);
	if (size == 0 || (f = fmemopen((void *)data, size, "r")) == NULL)
		return (0);
	if (mime_read(f, &m) == 0) {
		v = json_message("0123456789ABCDEF", &m, (long long)size,
		    "[\"t\"]");
		if (v == NULL || (s = json_dumps(v, 0)) == NULL)
			abort();	/* invalid UTF-8 or a bad shape */
		free(s);
		json_decref(v);
		for (i = 0; i < m.nattach; i++) {
			rewind(f);
			if (mime_part(f, m.attach[i].part_id, &part, &len,
			    &type, &name) != 0 || len != m.attach[i].size)
				abort();
			free(part);
			free(type);
			free(name);
		}
		mime_free(&m);
	}
	/* The index's reading: the same search text must be valid UTF-8. */
	rewind(f);
	if (mime_read_index(f, &m) == 0) {
		if (m.search == NULL || (v = json_string(m.search)) == NULL)
			abort();	/* jansson refuses invalid UTF-8 */
		json_decref(v);
		mime_free(&m);
	}
	rewind(f);
	if ((v = mime_mailhog(f, &mime)) != NULL) {
		if ((s = json_dumps(v, 0)) == NULL)
			abort();
		free(s);
		json_decref(v);
	}
	json_decref(mime);
	fclose(f);
	return (0);
}

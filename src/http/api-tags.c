/*
 * api-tags.c: Mailpit's tag calls: GET /api/v1/tags, PUT /api/v1/tags
 * {"IDs": [...], "Tags": [...]} (each message gets exactly those tags),
 * PUT /api/v1/tags/{tag} {"Name": new} (rename), DELETE
 * /api/v1/tags/{tag}.  In: a routed request.  Out: the tag list, or
 * `ok`; 400 for a body that is not what the call needs.  The tags
 * themselves live in the index (store/tags.c).
 */
#include <stdlib.h>
#include <string.h>

#include "http/http.h"

/* GET /api/v1/tags: every tag in use, sorted. */
void
tags_get(struct http_req *r)
{
	http_reply_json(r, 200, tags_list(0));
}

/* The strings of a JSON array (free them); -1 if one is not a string. */
static int
tags_strings(json_t *a, char ***v, size_t *n)
{
	json_t	*e;
	size_t	 i;

	*v = xcalloc(json_array_size(a) + 1, sizeof(**v));
	*n = 0;
	json_array_foreach(a, i, e) {
		if (!json_is_string(e))
			return (-1);
		(*v)[(*n)++] = xstrdup(json_string_value(e));
	}
	return (0);
}

/* Free a string list. */
static void
tags_strings_free(char **v, size_t n)
{
	while (n > 0)
		free(v[--n]);
	free(v);
}

/* PUT /api/v1/tags: set the tags of the messages named. */
void
tags_put(struct http_req *r)
{
	json_t	*b = http_body_json(r, NULL);
	char	**ids = NULL, **tags = NULL;
	size_t	 nids = 0, ntags = 0;
	int	 bad;

	bad = !json_is_object(b) ||
	    !json_is_array(json_object_get(b, "IDs")) ||
	    tags_strings(json_object_get(b, "IDs"), &ids, &nids) != 0 ||
	    (json_object_get(b, "Tags") != NULL &&
	    tags_strings(json_object_get(b, "Tags"), &tags, &ntags) != 0);
	json_decref(b);
	if (bad) {
		tags_strings_free(ids, nids);
		tags_strings_free(tags, ntags);
		http_reply_error(r, 400, "want {\"IDs\": [...], \"Tags\": "
		    "[...]}");
		return;
	}
	/* Many IDs take many index writes: in steps (bulk.c). */
	bulk_tags(r, ids, nids, tags, ntags);
}

/* PUT /api/v1/tags/{tag} {"Name": new}: rename a tag. */
void
tags_rename_one(struct http_req *r)
{
	json_t		*b = http_body_json(r, NULL);
	const char	*to = json_string_value(json_object_get(b, "Name"));

	if (to == NULL || tags_rename(r->seg[3], to) != 0)
		http_reply_error(r, 400, "want {\"Name\": \"new name\"}");
	else
		http_reply_data(r, 200, "text/plain; charset=utf-8", "ok", 2);
	json_decref(b);
}

/* DELETE /api/v1/tags/{tag}: untag every message. */
void
tags_delete_one(struct http_req *r)
{
	if (tags_delete(r->seg[3]) != 0)
		http_reply_error(r, 500, "index unavailable");
	else
		http_reply_data(r, 200, "text/plain; charset=utf-8", "ok", 2);
}

/*
 * tags.c: Mailpit's tags on messages, kept in the index (table tag):
 * from a message's X-Tags header when it is indexed, or set, renamed
 * and removed through the API.  In: names and queue IDs.  Out: the
 * tag list, with counts for /api/v1/info.  Tags live only in the
 * index: a rebuild keeps those of X-Tags headers and loses the others.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/index.h"

#define TAG_MAX		64

/*
 * A tag name cleaned as Mailpit does: letters, digits, -, _, . and
 * single spaces, trimmed, at most TAG_MAX octets, into out.  0, or -1
 * if nothing is left.
 */
int
tag_clean(const char *in, char *out, size_t len)
{
	size_t	n = 0;
	int	space = 0;

	for (; *in != '\0' && n + 2 < len && n < TAG_MAX; in++) {
		if (isspace((unsigned char)*in)) {
			space = n > 0;
			continue;
		}
		if (!isalnum((unsigned char)*in) && !strchr("-_.", *in) &&
		    (unsigned char)*in < 0x80)
			continue;
		if (space)
			out[n++] = ' ';
		space = 0;
		out[n++] = *in;
	}
	out[n] = '\0';
	return (n > 0 ? 0 : -1);
}

/* Run one statement with text parameters (NULL ends them); 0 or -1. */
static int
tags_run(const char *sql, ...)
{
	sqlite3		*db = index_handle();
	sqlite3_stmt	*st;
	const char	*v;
	va_list		 ap;
	int		 i = 1, rc;

	if (db == NULL || sqlite3_prepare_v2(db, sql, -1, &st, NULL) !=
	    SQLITE_OK)
		return (-1);
	va_start(ap, sql);
	while ((v = va_arg(ap, const char *)) != NULL)
		sqlite3_bind_text(st, i++, v, -1, SQLITE_TRANSIENT);
	va_end(ap);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return (rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1);
}

/*
 * Every tag in use, sorted: ["name", ...], or with counts {"name": n}
 * (a new reference; empty on failure).
 */
json_t *
tags_list(int counts)
{
	sqlite3		*db = index_handle();
	sqlite3_stmt	*st;
	json_t		*v = counts ? json_object() : json_array();
	const char	*name;

	if (db == NULL || sqlite3_prepare_v2(db, "SELECT name, count(*) FROM "
	    "tag GROUP BY name ORDER BY name", -1, &st, NULL) != SQLITE_OK)
		return (v);
	while (sqlite3_step(st) == SQLITE_ROW) {
		name = (const char *)sqlite3_column_text(st, 0);
		if (counts)
			json_object_set_new(v, name, json_integer(
			    sqlite3_column_int64(st, 1)));
		else
			json_array_append_new(v, json_string(name));
	}
	sqlite3_finalize(st);
	return (v);
}

/*
 * Give the message qid exactly these tags (cleaned; none: untag it).
 * 0, or -1 if there is no such message or the index fails.
 */
int
tags_set(const char *qid, char **names, size_t n)
{
	char	clean[TAG_MAX + 2];
	size_t	i;

	if (!queue_id_valid(qid) || tags_run("SELECT 1 FROM msg WHERE qid = ?",
	    qid, NULL) != 0)
		return (-1);
	if (tags_run("DELETE FROM tag WHERE msg = (SELECT rowid FROM msg "
	    "WHERE qid = ?)", qid, NULL) != 0)
		return (-1);
	for (i = 0; i < n; i++)
		if (tag_clean(names[i], clean, sizeof(clean)) == 0 &&
		    tags_run("INSERT OR IGNORE INTO tag (msg, name) SELECT "
		    "rowid, ? FROM msg WHERE qid = ?", clean, qid, NULL) != 0)
			return (-1);
	return (0);
}

/* Rename a tag on every message (merging with the new name); 0 or -1. */
int
tags_rename(const char *from, const char *to)
{
	char	clean[TAG_MAX + 2];

	if (tag_clean(to, clean, sizeof(clean)) != 0)
		return (-1);
	if (tags_run("UPDATE OR IGNORE tag SET name = ? WHERE name = ?",
	    clean, from, NULL) != 0)
		return (-1);
	return (tags_run("DELETE FROM tag WHERE name = ?", from, NULL));
}

/* Remove a tag from every message; 0 or -1. */
int
tags_delete(const char *name)
{
	return (tags_run("DELETE FROM tag WHERE name = ?", name, NULL));
}

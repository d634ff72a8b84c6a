/*
 * query.c: the loop's reads of the message index (index.c keeps it):
 * counts, a page of rows for a search, one row, the IDs a search
 * matches, and the read flag.  In: a search (search.c), a queue ID.
 * Out: struct index_row values (MessageSummary's facts), counts, IDs.
 * Everything here runs on the event loop, on the loop's connection
 * (index_handle()); WAL lets the index's thread write meanwhile.
 */
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/index.h"

/* The columns of struct index_row, in its order. */
#define INDEX_COLS	"m.qid, m.msgid, m.subject, m.from_j, m.to_j, " \
	"m.cc_j, m.bcc_j, m.replyto_j, m.snippet, m.username, m.size, " \
	"m.attachments, m.read, (SELECT json_group_array(name) FROM " \
	"(SELECT name FROM tag WHERE msg = m.rowid ORDER BY name))"

/* Prepare sql on the loop's connection; NULL (logged) on failure. */
static sqlite3_stmt *
query_prepare(const char *sql)
{
	sqlite3		*db = index_handle();
	sqlite3_stmt	*st;

	if (db == NULL)
		return (NULL);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		log_warnx("index: %s: %s", sqlite3_errmsg(db), sql);
		return (NULL);
	}
	return (st);
}

/* Bind text to parameter i of st, a copy SQLite frees. */
static void
query_bind(sqlite3_stmt *st, int i, const char *v)
{
	sqlite3_bind_text(st, i, v != NULL ? v : "", -1, SQLITE_TRANSIENT);
}

/* A text column as a new string ("" for NULL). */
static char *
index_col(sqlite3_stmt *st, int i)
{
	const unsigned char	*v = sqlite3_column_text(st, i);

	return (xstrdup(v != NULL ? (const char *)v : ""));
}

/* Fill r from a row of INDEX_COLS. */
static void
index_row_read(sqlite3_stmt *st, struct index_row *r)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->qid, sizeof(r->qid), "%s",
	    (const char *)sqlite3_column_text(st, 0));
	r->message_id = index_col(st, 1);
	r->subject = index_col(st, 2);
	r->from = index_col(st, 3);
	r->to = index_col(st, 4);
	r->cc = index_col(st, 5);
	r->bcc = index_col(st, 6);
	r->reply_to = index_col(st, 7);
	r->snippet = index_col(st, 8);
	r->username = index_col(st, 9);
	r->size = sqlite3_column_int64(st, 10);
	r->attachments = sqlite3_column_int64(st, 11);
	r->read = sqlite3_column_int(st, 12);
	r->tags = index_col(st, 13);
}

/* Free one row's strings. */
void
index_row_free(struct index_row *r)
{
	free(r->message_id);
	free(r->subject);
	free(r->from);
	free(r->to);
	free(r->cc);
	free(r->bcc);
	free(r->reply_to);
	free(r->snippet);
	free(r->username);
	free(r->tags);
	memset(r, 0, sizeof(*r));
}

/* Free n rows and the array. */
void
index_rows_free(struct index_row *r, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		index_row_free(&r[i]);
	free(r);
}

/*
 * Messages in the index, and unread ones, from the one row the schema's
 * triggers keep (index.c); 0 or -1.
 */
int
index_counts(long long *total, long long *unread)
{
	sqlite3_stmt	*st;
	int		 rc = -1;

	if ((st = query_prepare("SELECT total, unread FROM stat")) == NULL)
		return (-1);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*total = sqlite3_column_int64(st, 0);
		*unread = sqlite3_column_int64(st, 1);
		rc = 0;
	}
	sqlite3_finalize(st);
	return (rc);
}

/* What index_select is for. */
#define SEL_PAGE	0	/* newest first, LIMIT ? OFFSET ? */
#define SEL_ALL		1	/* newest first, every match */
#define SEL_COUNT	2	/* one row: the hits, the unread hits */
#define SEL_HITS	3	/* free text alone: what (each hit's rowid,
				   ascending; or count(*)) over f alone */

/*
 * The SQL of index_select for the condition where, the full-text table
 * and expression fts (fts->match NULL: none) and a bound on the queue ID
 * (after: 0 none, 1 a rowid, 2 a text).  A search with free text that a
 * full-text index answers walks that index (f) newest first, joined to
 * msg (m): a page of a search every message matches stops after the
 * page, and a count of free text alone reads no msg row.  Others walk
 * msg newest first.  Both go by rowid, which sorts as the queue ID does
 * (index_qid_row).
 */
static char *
index_select_sql(const char *what, char *where, const struct search_fts *fts,
    int after, int how)
{
	const char	*key = fts->match != NULL ? "f.rowid" : "m.rowid";
	char		*sql, *tail, *from, *match, *p;

	/*
	 * CROSS JOIN keeps f first: else the planner may walk msg_read
	 * and ask f about each row (seconds at 100 000 messages).
	 */
	if (fts->match == NULL)
		from = xstrdup("msg m");
	else
		xasprintf(&from, "%s f CROSS JOIN msg m ON m.rowid = f.rowid",
		    fts->table);
	if (how == SEL_COUNT)
		what = "count(*), coalesce(sum(m.read = 0), 0)";
	if (how == SEL_HITS) {
		free(from);
		xasprintf(&from, "%s f", fts->table);
	}
	/*
	 * search.c writes "+m.rowid IN (hits)" so that a page walks msg
	 * newest first; a count without the full-text table is faster
	 * driven by the hits themselves: drop the + (our SQL only: user
	 * text is never in it).
	 */
	if (how == SEL_COUNT && fts->match == NULL)
		for (p = where; (p = strstr(p, "+m.rowid")) != NULL; p++)
			*p = ' ';
	if (how == SEL_COUNT)
		tail = xstrdup("");
	else if (how == SEL_HITS)
		tail = xstrdup(" ORDER BY f.rowid");
	else
		xasprintf(&tail, " ORDER BY %s DESC%s", key, how == SEL_PAGE ?
		    " LIMIT ? OFFSET ?" : "");
	if (fts->match != NULL)
		xasprintf(&match, "f.%s MATCH ? AND ", fts->table);
	else
		match = xstrdup("");
	xasprintf(&sql, "SELECT %s FROM %s WHERE %s%s%s%s%s%s", what, from,
	    match, where, after ? " AND " : "", after == 1 ? key : after ?
	    "m.qid" : "", after ? " > ?" : "", tail);
	free(match);
	free(from);
	free(tail);
	return (sql);
}

/*
 * For each term of s, the expression over the word index that answers
 * it if it is free text of one word (words_match), else NULL; an array
 * of s->n to free with search_params_free.
 */
static char **
index_words(const struct search *s)
{
	char	**words = xcalloc(s->n + 1, sizeof(*words));
	size_t	  i;

	for (i = 0; i < s->n; i++)
		if (s->t[i].field == SF_TEXT)
			words[i] = words_match(index_handle(), s->t[i].value);
	return (words);
}

/*
 * Prepare "SELECT what" over the messages matching s (newer than after,
 * if not NULL) for *how (SEL_*; SEL_COUNT chooses what itself, and
 * becomes SEL_HITS for free text alone), with the search's values bound
 * from 1; *next gets the next parameter number.  NULL on failure.
 */
static sqlite3_stmt *
index_select(const char *what, const struct search *s, const char *after,
    int *how, int *next)
{
	struct search_fts	 fts;
	sqlite3_stmt		*st;
	char			*where, *sql, **params, **words;
	size_t			 np, i;
	int			 k = 1, byrow;

	if (index_handle() == NULL)
		return (NULL);
	words = index_words(s);
	where = search_sql_fts(s, words, &fts, &params, &np);
	if (*how == SEL_COUNT && fts.match != NULL && strcmp(where, "1") == 0 &&
	    after == NULL)
		*how = SEL_HITS;
	/* A queue ID is a rowid bound; other text (none today) compares. */
	byrow = after != NULL && queue_id_valid(after);
	sql = index_select_sql(what, where, &fts, after == NULL ? 0 :
	    byrow ? 1 : 2, *how);
	st = query_prepare(sql);
	if (st != NULL && fts.match != NULL)
		query_bind(st, k++, fts.match);
	for (i = 0; st != NULL && i < np; i++)
		query_bind(st, k++, params[i]);
	if (st != NULL && after != NULL) {
		if (byrow)
			sqlite3_bind_int64(st, k, index_qid_row(after));
		else
			query_bind(st, k, after);
		k++;
	}
	*next = k;
	free(sql);
	free(where);
	free(fts.match);
	search_params_free(params, np);
	search_params_free(words, s->n);
	return (st);
}

/* Order rowids (qsort). */
static int
index_row_cmp(const void *a, const void *b)
{
	long long	x = *(const long long *)a, y = *(const long long *)b;

	return (x < y ? -1 : x > y);
}

/*
 * The rowids of the messages read (read 1) or unread (0), ascending, in
 * a new array of *n.  msg_read gives them in queue ID order, which is
 * rowid order (index_qid_row); sorted anyway if not.
 */
static long long *
index_read_set(int read, size_t *n)
{
	sqlite3_stmt	*st;
	long long	*set = NULL;
	size_t		 cap = 0;
	int		 sorted = 1;

	*n = 0;
	if ((st = query_prepare("SELECT rowid FROM msg WHERE read = ? "
	    "ORDER BY qid")) == NULL)
		return (NULL);
	sqlite3_bind_int(st, 1, read);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 256;
			set = xreallocarray(set, cap, sizeof(*set));
		}
		set[*n] = sqlite3_column_int64(st, 0);
		if (*n > 0 && set[*n - 1] > set[*n])
			sorted = 0;
		(*n)++;
	}
	sqlite3_finalize(st);
	if (!sorted)
		qsort(set, *n, sizeof(*set), index_row_cmp);
	return (set);
}

/*
 * The hits of a search of free text alone and the unread ones (of which
 * there are nunread in total), from st (SEL_HITS: each hit's rowid,
 * ascending) merged with the smaller of the read and unread sets, also
 * ascending: O(hits + set).  Testing each hit against the set in SQL
 * instead (an IN per row) costs ~170 ns a hit: 17 ms at 100 000 hits
 * with 300 messages read.  0 or -1.
 */
static int
index_count_merge(sqlite3_stmt *st, long long total, long long nunread,
    long long *hits, long long *unread)
{
	long long	*set, row;
	size_t		 nset, j = 0, in = 0;
	int		 read, rc;

	read = total - nunread <= nunread;	/* the smaller set */
	set = index_read_set(read, &nset);
	*hits = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		row = sqlite3_column_int64(st, 0);
		(*hits)++;
		while (j < nset && set[j] < row)
			j++;
		in += j < nset && set[j] == row;
	}
	free(set);
	*unread = read ? *hits - (long long)in : (long long)in;
	return (rc == SQLITE_DONE ? 0 : -1);
}

/*
 * The hits of s (newer than after, if not NULL) and the unread ones
 * (if unread is not NULL); 0 or -1.  For free text alone, the full-text
 * table alone answers: a count when every message is unread (a sink's
 * usual state) or every one read, else a merge (index_count_merge).
 */
static int
index_count(const struct search *s, const char *after, long long *hits,
    long long *unread)
{
	sqlite3_stmt	*st;
	long long	 total = 0, nunread = 0, u = 0;
	int		 k, how = SEL_COUNT, rc = -1, same;

	if (index_counts(&total, &nunread) != 0)
		return (-1);
	same = nunread == total || nunread == 0;
	if ((st = index_select(same ? "count(*)" : "f.rowid", s, after, &how,
	    &k)) == NULL)
		return (-1);
	if (how == SEL_HITS && !same)
		rc = index_count_merge(st, total, nunread, hits, &u);
	else if (sqlite3_step(st) == SQLITE_ROW) {
		*hits = sqlite3_column_int64(st, 0);
		if (how == SEL_HITS)
			u = nunread == 0 ? 0 : *hits;
		else
			u = sqlite3_column_int64(st, 1);
		rc = 0;
	}
	sqlite3_finalize(st);
	if (unread != NULL)
		*unread = u;
	return (rc);
}

/*
 * The messages matching s (newer than after, if not NULL), newest
 * first, from start, at most limit (0: all): *rows (index_rows_free
 * them) and *n; *hits and *unread (if not NULL) count every match.
 * The page and the counts are read in one transaction, so they agree
 * whatever the index's writer commits meanwhile.  0 or -1.
 */
int
index_query(const struct search *s, const char *after, long long start,
    long long limit, struct index_row **rows, size_t *n, long long *hits,
    long long *unread)
{
	sqlite3		*db = index_handle();
	sqlite3_stmt	*st;
	size_t		 i;
	int		 k, how = SEL_PAGE, rc = 0, own;

	*rows = NULL;
	*n = 0;
	/* Not inside a bulk change's transaction (index_batch_begin). */
	own = db != NULL && sqlite3_get_autocommit(db) &&
	    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
	if ((st = index_select(INDEX_COLS, s, after, &how, &k)) == NULL)
		rc = -1;
	else {
		sqlite3_bind_int64(st, k, limit > 0 ? limit : -1);
		sqlite3_bind_int64(st, k + 1, start > 0 ? start : 0);
		while (sqlite3_step(st) == SQLITE_ROW) {
			*rows = xreallocarray(*rows, *n + 1, sizeof(**rows));
			index_row_read(st, &(*rows)[(*n)++]);
		}
		sqlite3_finalize(st);
	}
	if (rc == 0 && hits != NULL) {
		/* A first page that is not full holds every hit. */
		if (start <= 0 && (limit <= 0 || (long long)*n < limit)) {
			*hits = (long long)*n;
			if (unread != NULL)
				for (*unread = 0, i = 0; i < *n; i++)
					*unread += !(*rows)[i].read;
		} else
			rc = index_count(s, after, hits, unread);
	}
	if (own)
		(void)sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	return (rc);
}

/* The row of qid into r (index_row_free it); 0, or -1 if none. */
int
index_get(const char *qid, struct index_row *r)
{
	sqlite3_stmt	*st;
	int		 rc = -1;

	if ((st = query_prepare("SELECT " INDEX_COLS " FROM msg m "
	    "WHERE m.qid = ?")) == NULL)
		return (-1);
	query_bind(st, 1, qid);
	if (sqlite3_step(st) == SQLITE_ROW) {
		index_row_read(st, r);
		rc = 0;
	}
	sqlite3_finalize(st);
	return (rc);
}

/* The queue IDs matching s, newest first (free each and *ids); 0 or -1. */
int
index_ids(const struct search *s, char ***ids, size_t *n)
{
	sqlite3_stmt	*st;
	int		 k, how = SEL_ALL;

	*ids = NULL;
	*n = 0;
	if ((st = index_select("m.qid", s, NULL, &how, &k)) == NULL)
		return (-1);
	while (sqlite3_step(st) == SQLITE_ROW) {
		*ids = xreallocarray(*ids, *n + 1, sizeof(**ids));
		(*ids)[(*n)++] = index_col(st, 0);
	}
	sqlite3_finalize(st);
	return (0);
}

/*
 * Journal in spool_dir/seen (seen.c), so that a rebuild keeps it, the
 * change of every message that mark-all (read) changes.
 */
static void
index_note_all(int read)
{
	sqlite3_stmt	*st;

	if ((st = query_prepare("SELECT qid FROM msg WHERE read = ?")) ==
	    NULL)
		return;
	sqlite3_bind_int(st, 1, !read);
	seen_hold();
	while (sqlite3_step(st) == SQLITE_ROW)
		seen_note((const char *)sqlite3_column_text(st, 0), read);
	seen_release();
	sqlite3_finalize(st);
}

/*
 * Mark qid (NULL: every message) read or unread, in the index and in
 * the spool's journal; rows already so are not written.  0 or -1.
 */
int
index_set_read(const char *qid, int read)
{
	sqlite3_stmt	*st;
	int		 rc;

	read = read != 0;
	if (qid == NULL)
		index_note_all(read);
	if ((st = query_prepare(qid != NULL ?
	    "UPDATE msg SET read = ?1 WHERE qid = ?2 AND read != ?1" :
	    "UPDATE msg SET read = ?1 WHERE read != ?1")) == NULL)
		return (-1);
	sqlite3_bind_int(st, 1, read);
	if (qid != NULL)
		query_bind(st, 2, qid);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE && qid != NULL &&
	    sqlite3_changes(index_handle()) > 0)
		seen_note(qid, read);
	return (rc == SQLITE_DONE ? 0 : -1);
}

/*
 * words.c: the word index beside the trigram one, and its vocabulary.
 * index.c's schema has, over the same search text as the trigram table
 * fts, a second FTS5 table `words` (FTS5's unicode61 tokenizer: one
 * token per word, folded as the trigram tokenizer folds; detail=none: a
 * list of messages per word, no positions) and `vocab`, every word once,
 * with a trigram index of its own (`vocab_tri`).
 *
 * Why: a free-text term is a substring search (Mailpit: LIKE '%term%').
 * Over the trigram index, a term that every message holds costs three
 * position lists per message to prove the trigrams adjacent (80 ms for a
 * count at 100 000 messages).  A term made of word characters alone can
 * only occur inside one word of the text, so its hits are exactly the
 * messages holding a word that contains it: the vocabulary's trigram
 * index names those words, and the union of their position-free lists
 * is the answer (a few ms).  Terms with other characters (a space, @, a
 * dot), or contained in more than WORDS_MAX words, stay on the trigram
 * index.  Both tokenizers fold case one code point to one code point
 * with the same function (sqlite3Fts5UnicodeFold, diacritics kept), so
 * the two paths answer alike; tests/integration/t_http_words.py holds
 * them to that.
 *
 * In: the writer's connection, the text of each new row (words_add), in
 * its transaction; search terms on the loop's connection.  Out: rows of
 * `words` and `vocab`; an FTS5 expression for `words MATCH ?`.
 */
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/index.h"

#define WORDS_MAX	256	/* words one term may expand to (~25 us each) */
#define WORDS_TOKENIZER	"unicode61"	/* as `words` in index.c's schema */

/* The writer's tokenizer, statements and the words its batch noted. */
struct words {
	fts5_tokenizer	 api;
	Fts5Tokenizer	*tok;
	sqlite3		*db;
	sqlite3_stmt	*text;		/* INSERT INTO words */
	sqlite3_stmt	*vocab;		/* INSERT OR IGNORE INTO vocab */
	sqlite3_stmt	*tri;		/* INSERT INTO vocab_tri */
	void		*noted;		/* tsearch(3) tree of strings */
	char		**list;		/* the same, for words_commit */
	size_t		 nlist;
};

/* FTS5's API of db (sqlite.org/fts5.html "Extending FTS5"); NULL if none. */
static fts5_api *
words_fts5(sqlite3 *db)
{
	fts5_api	*api = NULL;
	sqlite3_stmt	*st;

	if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) !=
	    SQLITE_OK)
		return (NULL);
	sqlite3_bind_pointer(st, 1, &api, "fts5_api_ptr", NULL);
	(void)sqlite3_step(st);
	sqlite3_finalize(st);
	return (api);
}

/*
 * The tokenizer of `words` into *api and *tok (xDelete it), with the
 * options index.c's schema gives it; 0 or -1.
 */
static int
words_tokenizer(sqlite3 *db, fts5_tokenizer *api, Fts5Tokenizer **tok)
{
	static const char	*args[] = { "remove_diacritics", "0" };
	fts5_api		*fts5;
	void			*ctx;

	if ((fts5 = words_fts5(db)) == NULL ||
	    fts5->xFindTokenizer(fts5, WORDS_TOKENIZER, &ctx, api) !=
	    SQLITE_OK)
		return (-1);
	return (api->xCreate(ctx, args, 2, tok) == SQLITE_OK ? 0 : -1);
}

/* Prepare sql on db into *st; 0 or -1. */
static int
words_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	return (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    st, NULL) == SQLITE_OK ? 0 : -1);
}

/* The writer's word index on db, or NULL (the caller logs it). */
struct words *
words_open(sqlite3 *db)
{
	struct words	*w = xcalloc(1, sizeof(*w));

	w->db = db;
	if (words_tokenizer(db, &w->api, &w->tok) != 0 ||
	    words_prepare(db, "INSERT INTO words (rowid, body) VALUES (?, ?)",
	    &w->text) != 0 ||
	    words_prepare(db, "INSERT OR IGNORE INTO vocab (term) VALUES (?)",
	    &w->vocab) != 0 ||
	    words_prepare(db, "INSERT INTO vocab_tri (rowid, term) VALUES "
	    "(?, ?)", &w->tri) != 0) {
		words_close(w);
		return (NULL);
	}
	return (w);
}

/* Forget the words noted since the last words_commit (a rollback). */
void
words_forget(struct words *w)
{
	size_t	i;

	for (i = 0; i < w->nlist; i++) {
		(void)tdelete(w->list[i], &w->noted,
		    (int (*)(const void *, const void *))strcmp);
		free(w->list[i]);
	}
	free(w->list);
	w->list = NULL;
	w->nlist = 0;
	w->noted = NULL;
}

/* Close what words_open opened (NULL is fine). */
void
words_close(struct words *w)
{
	if (w == NULL)
		return;
	words_forget(w);
	if (w->tok != NULL)
		w->api.xDelete(w->tok);
	sqlite3_finalize(w->text);
	sqlite3_finalize(w->vocab);
	sqlite3_finalize(w->tri);
	free(w);
}

/* xTokenize's callback for words_add: note each word once per batch. */
static int
words_note_cb(void *arg, int flags, const char *token, int len, int start,
    int end)
{
	struct words	*w = arg;
	char		*word, **found;

	(void)flags;
	(void)start;
	(void)end;
	word = xmalloc((size_t)len + 1);
	memcpy(word, token, (size_t)len);
	word[len] = '\0';
	found = tsearch(word, &w->noted,
	    (int (*)(const void *, const void *))strcmp);
	if (found == NULL)
		fatalx("words: out of memory");
	if (*found != word) {
		free(word);		/* noted already */
		return (SQLITE_OK);
	}
	w->list = xreallocarray(w->list, w->nlist + 1, sizeof(*w->list));
	w->list[w->nlist++] = word;
	return (SQLITE_OK);
}

/* Step st and reset it; SQLite's result code. */
static int
words_step(sqlite3_stmt *st)
{
	int	rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return (rc);
}

/*
 * Writer: index text as the words of row (in the open transaction) and
 * note its words for words_commit; 0 or -1.
 */
int
words_add(struct words *w, long long row, const char *text)
{
	int	len = (int)strnlen(text, INT32_MAX);

	sqlite3_bind_int64(w->text, 1, row);
	sqlite3_bind_text(w->text, 2, text, len, SQLITE_STATIC);
	if (words_step(w->text) != SQLITE_DONE)
		return (-1);
	return (w->api.xTokenize(w->tok, w, FTS5_TOKENIZE_DOCUMENT, text, len,
	    words_note_cb) == SQLITE_OK ? 0 : -1);
}

/*
 * Writer: put the noted words that are new into the vocabulary and its
 * trigram index (in the open transaction, before its COMMIT); 0 or -1.
 * The notes are forgotten either way.
 */
int
words_commit(struct words *w)
{
	size_t	i;
	int	rc = 0;

	for (i = 0; rc == 0 && i < w->nlist; i++) {
		sqlite3_bind_text(w->vocab, 1, w->list[i], -1, SQLITE_STATIC);
		if (words_step(w->vocab) != SQLITE_DONE)
			rc = -1;
		else if (sqlite3_changes(w->db) > 0) {
			sqlite3_bind_int64(w->tri, 1,
			    sqlite3_last_insert_rowid(w->db));
			sqlite3_bind_text(w->tri, 2, w->list[i], -1,
			    SQLITE_STATIC);
			if (words_step(w->tri) != SQLITE_DONE)
				rc = -1;
		}
	}
	words_forget(w);
	return (rc);
}

/*
 * Writer: drop the vocabulary's words that no message holds any more
 * (what deleted and pruned messages left), when the deletions since the
 * last sweep reach the messages there are (stat.gone >= stat.total, at
 * least WORDS_SWEEP_MIN): a sweep reads the whole vocabulary once, so
 * it costs O(1) per deletion.  In its own transaction; 0, or -1 with
 * *cause set (static).
 */
#define WORDS_SWEEP_MIN	10000

int
words_sweep(sqlite3 *db, const char **cause)
{
	static char	 why[256];	/* the writer's thread only */
	sqlite3_stmt	*st;
	long long	 gone = 0, total = 0;

	if (sqlite3_prepare_v2(db, "SELECT gone, total FROM stat", -1, &st,
	    NULL) != SQLITE_OK) {
		*cause = "no stat table";
		return (-1);
	}
	if (sqlite3_step(st) == SQLITE_ROW) {
		gone = sqlite3_column_int64(st, 0);
		total = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	if (gone < WORDS_SWEEP_MIN || gone < total)
		return (0);
	if (sqlite3_exec(db, "BEGIN IMMEDIATE;"
	    "CREATE TEMP TABLE IF NOT EXISTS words_gone(id INTEGER PRIMARY KEY);"
	    "DELETE FROM words_gone;"
	    "INSERT INTO words_gone SELECT id FROM vocab WHERE term NOT IN "
	    " (SELECT term FROM words_v);"
	    "DELETE FROM vocab_tri WHERE rowid IN (SELECT id FROM words_gone);"
	    "DELETE FROM vocab WHERE id IN (SELECT id FROM words_gone);"
	    "DELETE FROM words_gone;"
	    "UPDATE stat SET gone = 0;"
	    "COMMIT", NULL, NULL, NULL) == SQLITE_OK)
		return (0);
	snprintf(why, sizeof(why), "%s", sqlite3_errmsg(db));
	*cause = why;
	if (!sqlite3_get_autocommit(db))
		(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return (-1);
}

/* What words_one_cb learns of a term. */
struct words_one {
	int	n;		/* tokens */
	int	start, end;	/* the first one's octets */
};

/* xTokenize's callback for words_match: count the term's tokens. */
static int
words_one_cb(void *arg, int flags, const char *token, int len, int start,
    int end)
{
	struct words_one	*one = arg;

	(void)flags;
	(void)token;
	(void)len;
	if (one->n++ == 0) {
		one->start = start;
		one->end = end;
	}
	return (SQLITE_OK);
}

/* Whether term is one word, whole, as the tokenizer of `words` sees it. */
static int
words_is_one(sqlite3 *db, const char *term)
{
	fts5_tokenizer		 api;
	Fts5Tokenizer		*tok;
	struct words_one	 one = { 0, 0, 0 };
	int			 len = (int)strnlen(term, 4096), rc;

	if (len == 0 || len == 4096 || words_tokenizer(db, &api, &tok) != 0)
		return (0);
	rc = api.xTokenize(tok, &one, FTS5_TOKENIZE_QUERY, term, len,
	    words_one_cb);
	api.xDelete(tok);
	return (rc == SQLITE_OK && one.n == 1 && one.start == 0 &&
	    one.end == len);
}

/* Append word to the FTS5 expression *expr as `OR "word"`. */
static void
words_expr_add(char **expr, const char *word)
{
	char	*next, *quoted;

	quoted = search_fts5_string(word);
	if (*expr == NULL)
		next = quoted;
	else {
		xasprintf(&next, "%s OR %s", *expr, quoted);
		free(quoted);
	}
	free(*expr);
	*expr = next;
}

/*
 * The FTS5 expression over `words` that finds the messages whose text
 * holds term as a substring ("w1" OR "w2": the vocabulary's words that
 * contain it), on the connection db; a new string.  NULL if term is not
 * one word, or is in more than WORDS_MAX words, or the index cannot
 * say: the caller searches the trigram index instead.  A word that no
 * vocabulary word contains gives "term" itself, which matches nothing.
 */
char *
words_match(sqlite3 *db, const char *term)
{
	sqlite3_stmt	*st;
	char		*expr = NULL, *phrase;
	int		 n = 0, rc;

	if (!words_is_one(db, term) || search_chars(term) < 3)
		return (NULL);		/* a trigram needs 3 characters */
	if (sqlite3_prepare_v2(db, "SELECT term FROM vocab_tri WHERE vocab_tri "
	    "MATCH ? LIMIT ?", -1, &st, NULL) != SQLITE_OK)
		return (NULL);
	phrase = search_fts5_string(term);
	sqlite3_bind_text(st, 1, phrase, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, WORDS_MAX + 1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n++ < WORDS_MAX)
		words_expr_add(&expr, (const char *)sqlite3_column_text(st,
		    0));
	sqlite3_finalize(st);
	free(phrase);
	if (rc == SQLITE_ROW || (rc != SQLITE_DONE)) {
		free(expr);
		return (NULL);		/* too many words, or an error */
	}
	return (expr != NULL ? expr : search_fts5_string(term));
}

/*
 * search.c: Mailpit's search syntax (internal/storage/search.go) parsed
 * into terms, and the terms turned into an SQL condition over the index
 * with `?` placeholders and a list of bound values.  In: the query
 * string.  Out: struct search, then SQL text plus parameters.  User text
 * only ever reaches SQLite as a bound parameter, never in the SQL text.
 *
 * Words are split on white space; "quoted phrases" stay whole (quotes
 * removed); every word must match (AND); a leading - or ! negates it.
 * Matching is SQLite LIKE '%word%': ASCII case-insensitive, _ and %
 * are wildcards, as in Mailpit.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "store/index.h"

/* Prefixes that take a value: subject:hello, to:bob@example.org. */
static const struct {
	const char		*prefix;
	enum search_field	 field;
} search_prefixes[] = {
	{ "subject:", SF_SUBJECT },
	{ "from:", SF_FROM },
	{ "to:", SF_TO },
	{ "cc:", SF_CC },
	{ "bcc:", SF_BCC },
	{ "reply-to:", SF_REPLY_TO },
	{ "addressed:", SF_ADDRESSED },
	{ "message-id:", SF_MESSAGE_ID },
	{ "larger:", SF_LARGER },
	{ "smaller:", SF_SMALLER },
	{ "after:", SF_AFTER },
	{ "tag:", SF_TAG },
	{ "before:", SF_BEFORE },
};

/* Whole words that are flags: is:read, has:attachment. */
static const struct {
	const char		*word;
	enum search_field	 field;
} search_flags[] = {
	{ "is:read", SF_IS_READ },
	{ "is:unread", SF_IS_UNREAD },
	{ "has:attachment", SF_HAS_ATTACHMENT },
	{ "has:attachments", SF_HAS_ATTACHMENT },
	{ "has:inline", SF_HAS_INLINE },
	{ "has:inlines", SF_HAS_INLINE },
	{ "is:tagged", SF_IS_TAGGED },
};

/* How a term's value is bound. */
#define SQ_AS_IS	0	/* as it is: octets, queue IDs */
#define SQ_LIKE		1	/* %value% */
#define SQ_PHRASE	2	/* an FTS5 phrase: "value" */

/*
 * The SQL of each field over `msg m`: each ? takes the term's value
 * (see SQ_*); nparams of them.  Free text that is one word goes to the
 * word index (words.c: the union of the words that contain it); other
 * free text of 3 characters or more without wildcards is an FTS5 phrase
 * over the trigram index (a substring match that reads no message
 * text); shorter text or text with Mailpit's LIKE wildcards (% and _)
 * is a LIKE over it.  Full-text terms not negated are taken out of the
 * condition by search_sql_fts, for query.c to walk one FTS5 table newest
 * first.  The unary + keeps
 * SQLite walking msg newest first and testing each row against the set
 * of hits, so a page that walks msg stops after the page instead of
 * sorting every hit.
 */
static const struct {
	enum search_field	 field;
	const char		*sql;
	int			 nparams;
	int			 like;		/* SQ_* */
} search_sql_table[] = {
	{ SF_TEXT, "+m.rowid IN (SELECT rowid FROM fts WHERE fts.body "
	    "LIKE ?)", 1, SQ_LIKE },
	{ SF_TEXT_PHRASE, "+m.rowid IN (SELECT rowid FROM fts WHERE fts "
	    "MATCH ?)", 1, SQ_PHRASE },
	{ SF_TEXT_WORD, "+m.rowid IN (SELECT rowid FROM words WHERE words "
	    "MATCH ?)", 1, SQ_AS_IS },
	{ SF_SUBJECT, "m.subject LIKE ?", 1, 1 },
	{ SF_FROM, "m.from_j LIKE ?", 1, 1 },
	{ SF_TO, "m.to_j LIKE ?", 1, 1 },
	{ SF_CC, "m.cc_j LIKE ?", 1, 1 },
	{ SF_BCC, "m.bcc_j LIKE ?", 1, 1 },
	{ SF_REPLY_TO, "m.replyto_j LIKE ?", 1, 1 },
	{ SF_ADDRESSED, "(m.to_j LIKE ? OR m.cc_j LIKE ? OR m.bcc_j LIKE ? "
	    "OR m.replyto_j LIKE ?)", 4, 1 },
	{ SF_MESSAGE_ID, "m.msgid LIKE ?", 1, 1 },
	{ SF_IS_READ, "m.read = 1", 0, 0 },
	{ SF_IS_UNREAD, "m.read = 0", 0, 0 },
	{ SF_HAS_ATTACHMENT, "m.attachments > 0", 0, 0 },
	{ SF_HAS_INLINE, "m.inlines > 0", 0, 0 },
	{ SF_LARGER, "m.size > CAST(? AS INTEGER)", 1, 0 },
	{ SF_SMALLER, "m.size < CAST(? AS INTEGER)", 1, 0 },
	/* Queue IDs sort by arrival: a time is a queue ID bound. */
	{ SF_AFTER, "m.qid >= ?", 1, 0 },
	{ SF_TAG, "+m.rowid IN (SELECT msg FROM tag WHERE name = ? "
	    "COLLATE NOCASE)", 1, SQ_AS_IS },
	{ SF_IS_TAGGED, "+m.rowid IN (SELECT msg FROM tag)", 0, SQ_AS_IS },
	{ SF_BEFORE, "m.qid < ?", 1, 0 },
	{ SF_ENV_FROM, "(m.sender LIKE ? OR m.from_j LIKE ?)", 2, 1 },
	{ SF_ENV_TO, "(+m.rowid IN (SELECT msg FROM rcpt WHERE addr LIKE ?) "
	    "OR m.to_j LIKE ?)", 2, 1 },
};

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * A size as Mailpit writes it (100, 2kb, 1.5m, 3G) in octets, as
 * decimal text in a new string; NULL if it is not one.
 */
static char *
search_size(const char *v)
{
	char	*end, *out;
	double	 n;
	double	 mult = 1;

	n = strtod(v, &end);
	if (end == v || n < 0)
		return (NULL);
	if (strcasecmp(end, "k") == 0 || strcasecmp(end, "kb") == 0)
		mult = 1024;
	else if (strcasecmp(end, "m") == 0 || strcasecmp(end, "mb") == 0)
		mult = 1024 * 1024;
	else if (strcasecmp(end, "g") == 0 || strcasecmp(end, "gb") == 0)
		mult = 1024 * 1024 * 1024;
	else if (*end != '\0' && strcasecmp(end, "b") != 0)
		return (NULL);
	xasprintf(&out, "%.0f", n * mult);
	return (out);
}

/*
 * A date (2026-11-29, or 2026-11-29T10:00:00, UTC) as the smallest queue
 * ID of that moment (13 hex digits of microseconds, then 000), in a new
 * string; NULL if it is not one.
 */
static char *
search_date(const char *v)
{
	struct tm	 tm;
	const char	*end;
	char		*out;
	time_t		 t;

	memset(&tm, 0, sizeof(tm));
	if ((end = strptime(v, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(v, "%Y-%m-%d", &tm);
	}
	if (end == NULL || (*end != '\0' && strcmp(end, "Z") != 0))
		return (NULL);
	if ((t = timegm(&tm)) < 0)
		return (NULL);
	xasprintf(&out, "%013llX000", (unsigned long long)t * 1000000ULL);
	return (out);
}

/* Append a term; sizes are checked here.  0, or -1 if value is bad. */
static int
search_push(struct search *s, enum search_field f, int negate,
    const char *value)
{
	struct search_term	*t;
	char			*v;

	if (f == SF_LARGER || f == SF_SMALLER) {
		if ((v = search_size(value)) == NULL)
			return (-1);
	} else if (f == SF_AFTER || f == SF_BEFORE) {
		if ((v = search_date(value)) == NULL)
			return (-1);
	} else
		v = xstrdup(value);
	s->t = xreallocarray(s->t, s->n + 1, sizeof(*s->t));
	t = &s->t[s->n++];
	t->field = f;
	t->negate = negate;
	t->value = v;
	return (0);
}

/* Add one term (not negated) to s, as the MailHog kinds do; 0 or -1. */
int
search_add(struct search *s, enum search_field f, const char *value)
{
	return (search_push(s, f, 0, value));
}

/* Classify one word (quotes already removed) and add it to s. */
static void
search_word(struct search *s, const char *w)
{
	size_t	i, n;
	int	negate = 0;

	if ((w[0] == '-' || w[0] == '!') && w[1] != '\0') {
		negate = 1;
		w++;
	}
	for (i = 0; i < NITEMS(search_flags); i++)
		if (strcasecmp(w, search_flags[i].word) == 0) {
			(void)search_push(s, search_flags[i].field, negate, "");
			return;
		}
	for (i = 0; i < NITEMS(search_prefixes); i++) {
		n = strlen(search_prefixes[i].prefix);
		if (strncasecmp(w, search_prefixes[i].prefix, n) != 0)
			continue;
		if (w[n] != '\0')	/* Mailpit skips an empty value */
			(void)search_push(s, search_prefixes[i].field, negate,
			    w + n);
		return;
	}
	(void)search_push(s, SF_TEXT, negate, w);
}

/*
 * Parse q into s (search_free it): words split at white space outside
 * double quotes, the quotes removed.  Always 0: every string is a
 * search (a bad size is skipped, as Mailpit does).
 */
int
search_parse(const char *q, struct search *s)
{
	char	*w = xmalloc(strlen(q) + 1);
	size_t	 n;
	int	 quoted;

	memset(s, 0, sizeof(*s));
	while (*q != '\0') {
		while (isspace((unsigned char)*q))
			q++;
		if (*q == '\0')
			break;
		n = 0;
		quoted = 0;
		for (; *q != '\0' && (quoted || !isspace((unsigned char)*q));
		    q++) {
			if (*q == '"')
				quoted = !quoted;
			else
				w[n++] = *q;
		}
		w[n] = '\0';
		if (n > 0)
			search_word(s, w);
	}
	free(w);
	return (0);
}

/* The characters (UTF-8 code points) of text. */
size_t
search_chars(const char *text)
{
	size_t		 chars = 0;
	const char	*p;

	for (p = text; *p != '\0'; p++)
		if (((unsigned char)*p & 0xC0) != 0x80)
			chars++;
	return (chars);
}

/*
 * Can the trigram index answer text as a phrase: 3 characters or more
 * (trigrams), no % or _ (LIKE wildcards in Mailpit's search)?
 */
static int
search_phrase_ok(const char *text)
{
	return (strpbrk(text, "%_") == NULL && search_chars(text) >= 3);
}

/* text as an FTS5 string: in double quotes, each " doubled; a new string. */
char *
search_fts5_string(const char *text)
{
	char		*out = xmalloc(2 * strlen(text) + 3), *o = out;
	const char	*p;

	*o++ = '"';
	for (p = text; *p != '\0'; p++) {
		if (*p == '"')
			*o++ = '"';
		*o++ = *p;
	}
	*o++ = '"';
	*o = '\0';
	return (out);
}

/* Free what search_parse made. */
void
search_free(struct search *s)
{
	size_t	i;

	for (i = 0; i < s->n; i++)
		free(s->t[i].value);
	free(s->t);
	memset(s, 0, sizeof(*s));
}

/* Free a parameter list from search_sql. */
void
search_params_free(char **p, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(p[i]);
	free(p);
}

/* Append expr, an FTS5 expression, to *match with AND. */
static void
search_match_add(char **match, const char *expr, int group)
{
	char	*next;

	if (*match == NULL)
		xasprintf(&next, group ? "(%s)" : "%s", expr);
	else
		xasprintf(&next, group ? "%s AND (%s)" : "%s AND %s", *match,
		    expr);
	free(*match);
	*match = next;
}

/* The value to bind to a ? of row j of search_sql_table for value v. */
static char *
search_value(size_t j, const char *v)
{
	char	*out;

	if (search_sql_table[j].like == SQ_LIKE)
		xasprintf(&out, "%%%s%%", v);
	else if (search_sql_table[j].like == SQ_PHRASE)
		out = search_fts5_string(v);
	else
		out = xstrdup(v);
	return (out);
}

/*
 * How term i of s is searched: free text as a word (words[i], an FTS5
 * expression over the word index, words.c), as a trigram phrase, or
 * with LIKE; other fields as they are.
 */
static enum search_field
search_field_of(const struct search *s, char *const *words, size_t i)
{
	if (s->t[i].field != SF_TEXT)
		return (s->t[i].field);
	if (words != NULL && words[i] != NULL)
		return (SF_TEXT_WORD);
	if (search_phrase_ok(s->t[i].value))
		return (SF_TEXT_PHRASE);
	return (SF_TEXT);
}

/*
 * Which full-text table a page of s walks (query.c): the word index if a
 * term not negated is a word, else the trigram one if one is a phrase,
 * else none (SF_TEXT).
 */
static enum search_field
search_drive(const struct search *s, char *const *words)
{
	enum search_field	drive = SF_TEXT, f;
	size_t			i;

	for (i = 0; i < s->n; i++) {
		if (s->t[i].negate)
			continue;
		f = search_field_of(s, words, i);
		if (f == SF_TEXT_WORD)
			return (f);
		if (f == SF_TEXT_PHRASE)
			drive = f;
	}
	return (drive);
}

/*
 * The condition for s over `msg m` (all terms ANDed; "1" for none), a
 * new string; *params gets the values to bind to its ? in order
 * (search_params_free them) and *nparams their count.  words (NULL, or
 * one entry per term) holds, for free-text terms that are one word, the
 * expression over the word index that words_match gave.  With fts not
 * NULL, the full-text terms not negated of the table a page should walk
 * (search_drive: the word index, else the trigram one) are left out of
 * the condition and go into fts->match instead, as one FTS5 expression
 * ("a" AND "b", a new string, NULL if none) for the caller to bind to
 * `fts->table MATCH ?` and walk that table newest first (query.c).
 */
char *
search_sql_fts(const struct search *s, char *const *words,
    struct search_fts *fts, char ***params, size_t *nparams)
{
	enum search_field	 f, drive;
	const char		*v;
	char			*sql = xstrdup("1"), *next;
	size_t			 i, j, k;

	*params = NULL;
	*nparams = 0;
	drive = search_drive(s, words);
	if (fts != NULL) {
		fts->match = NULL;
		fts->table = drive == SF_TEXT_WORD ? "words" : "fts";
	}
	for (i = 0; i < s->n; i++) {
		f = search_field_of(s, words, i);
		v = f == SF_TEXT_WORD ? words[i] : s->t[i].value;
		for (j = 0; j < NITEMS(search_sql_table); j++)
			if (search_sql_table[j].field == f)
				break;
		if (j == NITEMS(search_sql_table))
			fatalx("search_sql: no SQL for field %d",
			    s->t[i].field);
		if (fts != NULL && f == drive && drive != SF_TEXT &&
		    !s->t[i].negate) {
			next = search_value(j, v);
			search_match_add(&fts->match, next, f == SF_TEXT_WORD);
			free(next);
			continue;
		}
		xasprintf(&next, "%s AND %s(%s)", sql,
		    s->t[i].negate ? "NOT " : "", search_sql_table[j].sql);
		free(sql);
		sql = next;
		for (k = 0; k < (size_t)search_sql_table[j].nparams; k++) {
			*params = xreallocarray(*params, *nparams + 1,
			    sizeof(**params));
			(*params)[(*nparams)++] = search_value(j, v);
		}
	}
	return (sql);
}

/* The condition for s with every term in it (search_sql_fts). */
char *
search_sql(const struct search *s, char ***params, size_t *nparams)
{
	return (search_sql_fts(s, NULL, NULL, params, nparams));
}

/*
 * test_search.c: Mailpit's search syntax (store/search.c), table-driven:
 * each query becomes the expected terms (field, negation, value) and
 * the SQL keeps every user word out of its text, in bound parameters.
 */
#include <stdlib.h>
#include <string.h>

#include "store/index.h"
#include "tap.h"

/* A query and its terms, written "field:neg:value|...". */
static const struct {
	const char	*query;
	const char	*terms;
} cases[] = {
	{ "", "" },
	{ "hello", "0:0:hello" },
	{ "Hello World", "0:0:Hello|0:0:World" },
	{ "\"hello world\"", "0:0:hello world" },
	{ "subject:\"big news\" -from:spam", "1:0:big news|2:1:spam" },
	{ "to:bob@example.org", "3:0:bob@example.org" },
	{ "cc:x bcc:y reply-to:z", "4:0:x|5:0:y|6:0:z" },
	{ "addressed:a message-id:m", "7:0:a|8:0:m" },
	{ "is:read !is:unread", "9:0:|10:1:" },
	{ "has:attachment has:Attachments -has:inline",
	  "11:0:|11:0:|12:1:" },
	{ "larger:2kb smaller:1.5m", "13:0:2048|14:0:1572864" },
	{ "larger:lots", "" },
	{ "subject:", "" },
	{ "  spaced   out  ", "0:0:spaced|0:0:out" },
	{ "-", "0:0:-" },
	{ "foo:bar", "0:0:foo:bar" },
	{ "after:2026-11-29 -before:2026-11-30T12:00:00Z",
	  "15:0:6615EF970C000000|16:1:6617D2633D000000" },
	{ "after:yesterday", "" },
	{ "tag:Invoice -is:tagged", "17:0:Invoice|18:1:" },
};

/* The terms of s in the table's notation. */
static void
terms(const struct search *s, char *buf, size_t len)
{
	size_t	i, o = 0;

	buf[0] = '\0';
	for (i = 0; i < s->n && o < len; i++)
		o += snprintf(buf + o, len - o, "%s%d:%d:%s", i ? "|" : "",
		    (int)s->t[i].field, s->t[i].negate, s->t[i].value);
}

int
main(void)
{
	struct search	 s;
	struct search_fts f;
	char		 buf[512], *sql, **p, *words[5] = { NULL };
	size_t		 i, n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		search_parse(cases[i].query, &s);
		terms(&s, buf, sizeof(buf));
		is_str(buf, cases[i].terms, "parse '%s'", cases[i].query);
		search_free(&s);
	}

	search_parse("subject:x'; DROP TABLE msg; -- -is:read", &s);
	sql = search_sql(&s, &p, &n);
	ok(strstr(sql, "DROP") == NULL && strchr(sql, '\'') == NULL,
	    "user text stays out of the SQL: %s", sql);
	ok(n == 5 && strcmp(p[0], "%x';%") == 0, "values are bound "
	    "parameters, LIKE patterns (%zu)", n);
	ok(strstr(sql, "NOT (m.read = 1)") != NULL, "negation wraps NOT");
	free(sql);
	search_params_free(p, n);
	search_free(&s);

	search_parse("ab hello_ 50% \"say \"\"hi\"\"\"", &s);
	sql = search_sql(&s, &p, &n);
	ok(n == 4 && strcmp(p[0], "%ab%") == 0 && strcmp(p[1],
	    "%hello_%") == 0 && strcmp(p[2], "%50%%") == 0,
	    "short text and LIKE wildcards stay LIKE");
	free(sql);
	search_params_free(p, n);
	search_free(&s);
	search_parse("say_\"hi\"", &s);
	search_free(&s);
	search_parse("grüße", &s);
	sql = search_sql(&s, &p, &n);
	ok(n == 1 && strcmp(p[0], "\"grüße\"") == 0 &&
	    strstr(sql, "MATCH ?") != NULL, "3+ characters: an FTS5 phrase");
	free(sql);
	search_params_free(p, n);
	search_free(&s);

	search_parse("", &s);
	sql = search_sql(&s, &p, &n);
	is_str(sql, "1", "an empty search matches everything");
	ok(n == 0, "and binds nothing");
	free(sql);
	search_free(&s);

	/* The phrases the FTS5 table answers, apart for query.c. */
	search_parse("bench \"two words\" -spam ab is:read", &s);
	sql = search_sql_fts(&s, NULL, &f, &p, &n);
	is_str(f.match, "\"bench\" AND \"two words\"", "phrases not "
	    "negated go into one MATCH expression");
	is_str(f.table, "fts", "over the trigram table");
	ok(strstr(sql, "NOT (+m.rowid IN (SELECT rowid FROM fts WHERE fts "
	    "MATCH ?))") != NULL && n == 2 && strcmp(p[0], "\"spam\"") == 0 &&
	    strcmp(p[1], "%ab%") == 0, "a negated phrase and short text "
	    "stay in the condition: %s", sql);
	ok(strstr(sql, "m.read = 1") != NULL, "and so do flags");
	free(sql);
	free(f.match);
	search_params_free(p, n);

	/*
	 * With words.c's expressions for the terms that are one word: the
	 * page walks the word index; phrases become conditions.
	 */
	words[0] = "\"bench\" OR \"benchmark\"";
	words[2] = "\"spam\"";
	sql = search_sql_fts(&s, words, &f, &p, &n);
	is_str(f.match, "(\"bench\" OR \"benchmark\")", "a word term "
	    "walks the word index");
	is_str(f.table, "words", "the word table");
	ok(strstr(sql, "AND (+m.rowid IN (SELECT rowid FROM fts WHERE fts "
	    "MATCH ?)) AND NOT (+m.rowid IN (SELECT rowid FROM words WHERE "
	    "words MATCH ?))") != NULL && n == 3 &&
	    strcmp(p[0], "\"two words\"") == 0 &&
	    strcmp(p[1], "\"spam\"") == 0, "the phrase and the negated word "
	    "are conditions: %s", sql);
	free(sql);
	free(f.match);
	search_params_free(p, n);
	search_free(&s);

	search_parse("-spam subject:x", &s);
	sql = search_sql_fts(&s, NULL, &f, &p, &n);
	ok(f.match == NULL && n == 2, "no phrase to walk: no MATCH "
	    "expression");
	free(sql);
	search_params_free(p, n);
	search_free(&s);
	return (tap_done());
}

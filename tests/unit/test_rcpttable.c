/*
 * test_rcpttable.c: the recipient table (rcpttable.c): parsing, with the
 * file and line of each mistake; the lookup order (exact, without the
 * +tag, catch-all); canonical keys (case, IDNA); alias expansion with
 * duplicates removed, loops and depth refused; a 100 000-entry table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mxd.h"
#include "tap.h"

static char	path[64];

/* Write text to the test's table file. */
static void
put(const char *text)
{
	FILE	*f = fopen(path, "w");

	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* Load text as a table; NULL with *cause on failure. */
static struct rcpttable *
load(const char *text, const char *delim, char **cause)
{
	struct rcpttable	*t;

	put(text);
	*cause = NULL;
	if (rcpttable_load(path, delim, NULL, &t, cause) != 0)
		return (NULL);
	return (t);
}

/* Does loading text fail with a message that starts "path:line: "? */
static void
bad(const char *text, unsigned line, const char *what)
{
	struct rcpttable	*t;
	char			*cause, want[128];

	snprintf(want, sizeof(want), "%s:%u: ", path, line);
	t = load(text, "+", &cause);
	ok(t == NULL && cause != NULL && strncmp(cause, want,
	    strlen(want)) == 0, "refused with file:line %u: %s", line, what);
	if (cause != NULL)
		printf("# %s\n", cause);
	rcpttable_free(t);
	free(cause);
}

/* The expansion of addr as one comma-separated string (or the error). */
static char *
expand(const struct rcpttable *t, const char *addr)
{
	struct strlist	 out = { NULL, 0 };
	char		*s = xstrdup(""), *old, *why = NULL;
	size_t		 i;

	if (rcpttable_expand(t, addr, &out, NULL, &why) != 0) {
		free(s);
		xasprintf(&s, "error: %s", why);
		free(why);
	}
	for (i = 0; i < out.n; i++) {
		old = s;
		xasprintf(&s, "%s%s%s", old, i ? "," : "", out.v[i]);
		free(old);
		free(out.v[i]);
	}
	free(out.v);
	return (s);
}

/* Check how addr matches: the entry's key and the way, or no match. */
static void
match(const struct rcpttable *t, const char *addr, const char *key,
    enum rcpt_how how)
{
	struct rcpt_match	 m;
	const struct rcpt_entry	*e = rcpttable_lookup(t, addr, &m);

	if (key == NULL) {
		ok(e == NULL, "%s: no match", addr);
		return;
	}
	ok(e != NULL && strcmp(e->key, key) == 0 && m.how == how,
	    "%s matches %s (how %d)", addr, key, how);
	if (e != NULL)
		printf("# got %s how %d\n", e->key, m.how);
}

/* Parsing: good lines and every kind of bad one, with its line. */
static void
test_parse(void)
{
	struct rcpttable	*t;
	char			*cause;

	t = load("# users\n\nbob@example.test\n  carol@example.test  \n"
	    "sales@example.test bob@example.test, carol\n"
	    "team@example.test\tbob@example.test,carol@example.test "
	    "sales@example.test\n@other.test bob@example.test\n", "+", &cause);
	ok(t != NULL, "a good table loads (%s)", cause ? cause : "");
	if (t != NULL) {
		ok(t->nusers == 2 && t->naliases == 2 && t->ncatchall == 1,
		    "2 users, 2 aliases, 1 catch-all");
		ok(rcpttable_lookup(t, "carol@example.test",
		    &(struct rcpt_match){ 0 }) != NULL,
		    "white space around a key is ignored");
	}
	rcpttable_free(t);
	free(cause);

	bad("bob@example.test\nbob\n", 2, "a key without @");
	bad("\n\n\nx@bad..test\n", 4, "a bad domain");
	bad("bob@example.test\nBOB@EXAMPLE.TEST\n", 2, "a key listed twice "
	    "(in another case)");
	bad("a@example.test b@example.test\nb@example.test a@example.test\n",
	    1, "an alias loop");
	bad("bob@example.test\nx@example.test nobody@example.test\n", 2,
	    "an alias target that is not in the table");
	bad("bob@example.test\nx@example.test bob@\n", 2, "a bad target");
	bad("bob@example.test\nx@example.test @example.test\n", 2,
	    "a catch-all as a target");
	bad("@example.test bob@example.test\n", 1,
	    "a catch-all to an unknown user (falls into itself)");
	bad("bob@example.test\n"
	    "a1@example.test a2\na2@example.test a3\na3@example.test a4\n"
	    "a4@example.test a5\na5@example.test a6\na6@example.test a7\n"
	    "a7@example.test a8\na8@example.test a9\na9@example.test a10\n"
	    "a10@example.test a11\na11@example.test a12\n"
	    "a12@example.test a13\na13@example.test a14\n"
	    "a14@example.test a15\na15@example.test a16\n"
	    "a16@example.test a17\na17@example.test a18\n"
	    "a18@example.test a19\na19@example.test a20\n"
	    "a20@example.test a21\na21@example.test bob\n", 2,
	    "aliases nested more than 20 deep");
	bad("x@example.test\n\x80\x81@@\n", 2, "a line of junk");
	bad("toolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolong"
	    "xx@example.test\n", 1, "a local part over 64 octets");

	put("bob@example.test\n");
	ok(rcpttable_load(path, "@", NULL, &t, &cause) != 0 && t == NULL,
	    "@ is refused as recipient_delimiter");
	free(cause);
	ok(rcpttable_load("/nonexistent/table", "", NULL, &t, &cause) != 0 &&
	    strstr(cause, "/nonexistent/table") != NULL,
	    "a missing file is named");
	free(cause);
}

/* Lookup: the order, the delimiter, case and IDNA. */
static void
test_lookup(void)
{
	struct rcpttable	*t;
	struct rcpt_match	 m;
	char			*cause;

	t = load("bob@example.test\nbob+list@example.test\n"
	    "@example.test bob\nann@b\xc3\xbc" "cher.example\n"
	    "carol@other.test\n", "+-", &cause);
	ok(t != NULL, "table loads (%s)", cause ? cause : "");
	if (t == NULL)
		return;
	match(t, "bob@example.test", "bob@example.test", RCPT_HOW_EXACT);
	match(t, "Bob@EXAMPLE.test", "bob@example.test", RCPT_HOW_EXACT);
	match(t, "bob+list@example.test", "bob+list@example.test",
	    RCPT_HOW_EXACT);
	match(t, "bob+news@example.test", "bob@example.test",
	    RCPT_HOW_UNTAGGED);
	match(t, "bob-news@example.test", "bob@example.test",
	    RCPT_HOW_UNTAGGED);
	match(t, "bob+a+b@example.test", "bob@example.test",
	    RCPT_HOW_UNTAGGED);
	match(t, "zed@example.test", "@example.test", RCPT_HOW_CATCHALL);
	match(t, "+bob@example.test", "@example.test", RCPT_HOW_CATCHALL);
	match(t, "carol@other.test", "carol@other.test", RCPT_HOW_EXACT);
	match(t, "carol+x@other.test", "carol@other.test", RCPT_HOW_UNTAGGED);
	match(t, "dave@other.test", NULL, 0);
	match(t, "ann@xn--bcher-kva.example", "ann@xn--bcher-kva.example",
	    RCPT_HOW_EXACT);
	match(t, "ann@B\xc3\xbc" "cher.example", "ann@xn--bcher-kva.example",
	    RCPT_HOW_EXACT);
	match(t, "not an address", NULL, 0);
	(void)rcpttable_lookup(t, "zed+tag@example.test", &m);
	is_str(m.mailbox, "zed@example.test", "catch-all: the mailbox has no "
	    "tag");
	is_str(m.tag, "tag", "and the tag is kept apart");
	rcpttable_free(t);

	t = load("bob@example.test\n", "", &cause);
	match(t, "bob+news@example.test", NULL, 0);
	rcpttable_free(t);
}

/* Expansion: order, duplicates, self-aliases, catch-alls, tags. */
static void
test_expand(void)
{
	struct rcpttable	*t;
	char			*cause, *s;

	t = load("bob@example.test\ncarol@example.test\n"
	    "dave@example.test dave, bob\n"
	    "sales@example.test bob carol\n"
	    "all@example.test sales, dave, bob, sales\n"
	    "@other.test carol@example.test\n", "+", &cause);
	ok(t != NULL, "table loads (%s)", cause ? cause : "");
	if (t == NULL)
		return;
	is_str(s = expand(t, "bob@example.test"), "bob@example.test",
	    "a mailbox is itself");
	free(s);
	is_str(s = expand(t, "bob+x@example.test"), "bob@example.test",
	    "a +tag is dropped");
	free(s);
	is_str(s = expand(t, "all@example.test"),
	    "bob@example.test,carol@example.test,dave@example.test",
	    "aliases of aliases, each mailbox once, in first-reached order");
	free(s);
	is_str(s = expand(t, "dave@example.test"),
	    "dave@example.test,bob@example.test",
	    "an alias that names itself keeps its own mailbox");
	free(s);
	is_str(s = expand(t, "who@other.test"), "carol@example.test",
	    "a catch-all alias");
	free(s);
	ok(strncmp(s = expand(t, "who@example.test"), "error: ", 7) == 0,
	    "an unknown address does not expand");
	free(s);
	rcpttable_free(t);

	t = load("@example.test\n", "+", &cause);
	is_str(s = expand(t, "who+x@example.test"), "who@example.test",
	    "a catch-all mailbox is the address, without its tag");
	free(s);
	rcpttable_free(t);
}

/* A table of 100 000 users: every one is found, others are not. */
static void
test_large(void)
{
	struct rcpttable	*t;
	struct rcpt_match	 m;
	FILE			*f = fopen(path, "w");
	char			 a[64], *cause = NULL;
	int			 i, found = 0, wrong = 0;

	for (i = 0; i < 100000; i++)
		fprintf(f, "user%d@example.test\n", i);
	fclose(f);
	ok(rcpttable_load(path, "+", NULL, &t, &cause) == 0 &&
	    t->n == 100000, "100 000 users load");
	if (t == NULL)
		return;
	for (i = 0; i < 100000; i++) {
		snprintf(a, sizeof(a), "user%d+t@example.test", i);
		found += rcpttable_lookup(t, a, &m) != NULL;
		snprintf(a, sizeof(a), "user%dx@example.test", i);
		wrong += rcpttable_lookup(t, a, &m) != NULL;
	}
	ok(found == 100000 && wrong == 0, "each is found, no other is "
	    "(%d, %d)", found, wrong);
	ok(t->cap >= t->n * 2, "the table is at most half full");
	rcpttable_free(t);
}

int
main(void)
{
	snprintf(path, sizeof(path), "test_rcpttable.%ld.tmp", (long)getpid());
	test_parse();
	test_lookup();
	test_expand();
	test_large();
	unlink(path);
	return (tap_done());
}

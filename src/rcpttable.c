/*
 * rcpttable.c: the recipient table (recipient_table = FILE), whose mail
 * mxd takes and where it goes.  In: a plain text file of `key [value...]`
 * lines (doc/recipients.md): a user `bob@example.org`, an alias
 * `sales@example.org bob@example.org, carol`, a catch-all `@example.org
 * bob`.  Out: a hash table of canonical keys (local part with ASCII in
 * lower case, domain in its IDNA2008 form from domain.c), a lookup that
 * says how an address matched (exact, without its +tag, catch-all), and
 * the expansion of an address into its final mailboxes (aliases
 * followed to a bounded depth, loops refused, duplicates removed).
 * Every error names the file and the line.  Pure code over a file.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxd.h"

/* Separators of alias targets: commas and white space. */
#define RT_SEP		", \t\r\n"

static void	rcpttable_entry_free(struct rcpt_entry *);
static int	rcpttable_expand_entry(const struct rcpttable *,
		    const struct rcpt_entry *, struct strlist *, const char **,
		    size_t, FILE *, char **);
static int	rcpttable_loop(const char **, size_t, const char *, char **);

/* FNV-1a over a canonical key. */
static uint64_t
rcpttable_hash(const char *s)
{
	uint64_t	h = 14695981039346656037ULL;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return (h);
}

/* The slot that holds key, or the empty slot where it would go. */
static struct rcpt_entry *
rcpttable_slot(const struct rcpttable *t, const char *key)
{
	size_t	i = (size_t)rcpttable_hash(key) & (t->cap - 1);

	while (t->slots[i].key != NULL && strcmp(t->slots[i].key, key) != 0)
		i = (i + 1) & (t->cap - 1);
	return (&t->slots[i]);
}

/* Double the table (open addressing, linear probing, load <= 1/2). */
static void
rcpttable_grow(struct rcpttable *t)
{
	struct rcpt_entry	*old = t->slots, *e;
	size_t			 i, oldcap = t->cap;

	t->cap = oldcap == 0 ? 64 : oldcap * 2;
	t->slots = xcalloc(t->cap, sizeof(*t->slots));
	for (i = 0; i < oldcap; i++) {
		if (old[i].key == NULL)
			continue;
		e = rcpttable_slot(t, old[i].key);
		*e = old[i];
	}
	free(old);
}

/*
 * The canonical form of an address, local@domain or @domain: ASCII
 * letters of the local part in lower case (mailbox names are not case
 * sensitive here, as in Postfix and Dovecot), the domain as domain.c
 * compares it.  0, or -1 if it is not an address of that shape.
 */
int
rcpttable_canon(const char *addr, char *out, size_t len)
{
	const char	*at = strrchr(addr, '@');
	size_t		 i, ll;
	char		 d[SMTP_DOMAIN_MAX + 1];

	if (at == NULL || at[1] == '\0' || (ll = (size_t)(at - addr)) >
	    SMTP_LOCAL_MAX)
		return (-1);
	for (i = 0; i < ll; i++)
		if ((unsigned char)addr[i] <= ' ' || addr[i] == ',' ||
		    addr[i] == 0x7f)
			return (-1);
	if (domain_check(at + 1, strlen(at + 1)) != DOMAIN_OK ||
	    domain_canon(at + 1, d, sizeof(d)) != 0 ||
	    ll + 1 + strlen(d) >= len)
		return (-1);
	for (i = 0; i < ll; i++)
		out[i] = (char)tolower((unsigned char)addr[i]);
	out[ll] = '@';
	memcpy(out + ll + 1, d, strlen(d) + 1);
	return (0);
}

/* Add one canonical target to an entry. */
static void
rcpttable_add_target(struct rcpt_entry *e, const char *to)
{
	e->to = xreallocarray(e->to, e->nto + 1, sizeof(*e->to));
	e->to[e->nto++] = xstrdup(to);
}

/*
 * Parse the targets of an alias line: full addresses, or a bare local
 * part taken in the key's domain.  0, or -1 with *cause.
 */
static int
rcpttable_targets(struct rcpt_entry *e, char *p, const char *domain,
    char **cause)
{
	char	 canon[SMTP_PATH_MAX + 1], full[SMTP_PATH_MAX + 1], *tok;

	while ((tok = strsep(&p, RT_SEP)) != NULL) {
		if (*tok == '\0')
			continue;
		if (strchr(tok, '@') == NULL)
			snprintf(full, sizeof(full), "%s@%s", tok, domain);
		else
			snprintf(full, sizeof(full), "%s", tok);
		if (full[0] == '@' || rcpttable_canon(full, canon,
		    sizeof(canon)) != 0) {
			xasprintf(cause, "bad alias target '%s': want "
			    "user@domain, or a user of the key's domain", tok);
			return (-1);
		}
		rcpttable_add_target(e, canon);
	}
	return (0);
}

/*
 * The canonical key of a table line: an address, or @domain for a
 * catch-all.  0, or -1 if it is neither.
 */
static int
rcpttable_key(const char *key, char *out, size_t len)
{
	if (key[0] != '@')
		return (rcpttable_canon(key, out, len));
	if (domain_check(key + 1, strlen(key + 1)) != DOMAIN_OK)
		return (-1);
	out[0] = '@';
	return (domain_canon(key + 1, out + 1, len - 1));
}

/*
 * Parse one line (comments and blank lines already skipped) into the
 * table.  0, or -1 with *cause (without the file and line).
 */
static int
rcpttable_line(struct rcpttable *t, const struct config *c, char *line,
    unsigned lineno, char **cause)
{
	struct rcpt_entry	 e, *slot;
	char			 key[SMTP_PATH_MAX + 1], *word;

	memset(&e, 0, sizeof(e));
	word = strsep(&line, RT_SEP);
	if (rcpttable_key(word, key, sizeof(key)) != 0) {
		xasprintf(cause, "'%s' is not an address: want user@domain, "
		    "or @domain for a catch-all", word);
		return (-1);
	}
	if (c != NULL && !recipient_domain_ours(c, strchr(key, '@') + 1)) {
		xasprintf(cause, "%s: its domain is not in domains, so RCPT "
		    "would refuse it as relaying", word);
		return (-1);
	}
	slot = t->cap == 0 ? NULL : rcpttable_slot(t, key);
	if (slot != NULL && slot->key != NULL) {
		xasprintf(cause, "%s is already listed on line %u", word,
		    slot->line);
		return (-1);
	}
	e.line = lineno;
	if (line != NULL && rcpttable_targets(&e, line, strchr(key, '@') + 1,
	    cause) != 0) {
		rcpttable_entry_free(&e);
		return (-1);
	}
	if (key[0] == '@')
		t->ncatchall++;
	else if (e.nto > 0)
		t->naliases++;
	else
		t->nusers++;
	if ((t->n + 1) * 2 > t->cap)
		rcpttable_grow(t);
	e.key = xstrdup(key);
	*rcpttable_slot(t, key) = e;
	t->n++;
	return (0);
}

/* Free what one entry holds. */
static void
rcpttable_entry_free(struct rcpt_entry *e)
{
	size_t	i;

	for (i = 0; i < e->nto; i++)
		free(e->to[i]);
	free(e->to);
	free(e->key);
}

/* Free a table (NULL is fine). */
void
rcpttable_free(struct rcpttable *t)
{
	size_t	i;

	if (t == NULL)
		return;
	for (i = 0; i < t->cap; i++)
		if (t->slots[i].key != NULL)
			rcpttable_entry_free(&t->slots[i]);
	free(t->slots);
	free(t->file);
	free(t->delim);
	free(t);
}

/* Read the file's lines into t; 0, or -1 with *cause naming file:line. */
static int
rcpttable_read(struct rcpttable *t, const struct config *c, FILE *f,
    char **cause)
{
	char		*line = NULL, *p, *why = NULL;
	size_t		 cap = 0;
	unsigned	 lineno = 0;
	int		 rc = 0;

	while (rc == 0 && getline(&line, &cap, f) != -1) {
		lineno++;
		p = line + strspn(line, " \t\r\n");
		/* As in Postfix maps: # starts a comment at a line's start. */
		if (*p == '\0' || *p == '#')
			continue;
		if (rcpttable_line(t, c, p, lineno, &why) != 0) {
			xasprintf(cause, "%s:%u: %s", t->file, lineno, why);
			free(why);
			rc = -1;
		}
	}
	if (rc == 0 && ferror(f)) {
		xasprintf(cause, "%s: %s", t->file, strerror(errno));
		rc = -1;
	}
	free(line);
	return (rc);
}

/*
 * Check every alias and catch-all now, so that RCPT never accepts an
 * address whose expansion would fail: targets in the table, no loops,
 * not too deep.  0, or -1 with *cause naming file:line.
 */
static int
rcpttable_check_aliases(const struct rcpttable *t, char **cause)
{
	struct strlist	 out = { NULL, 0 };
	char		*why = NULL;
	size_t		 i, k;
	int		 rc = 0;

	for (i = 0; rc == 0 && i < t->cap; i++) {
		if (t->slots[i].key == NULL || t->slots[i].nto == 0)
			continue;
		if (rcpttable_expand_entry(t, &t->slots[i], &out, NULL, 0,
		    NULL, &why) != 0) {
			xasprintf(cause, "%s:%u: %s: %s", t->file,
			    t->slots[i].line, t->slots[i].key, why);
			free(why);
			rc = -1;
		}
		for (k = 0; k < out.n; k++)
			free(out.v[k]);
		free(out.v);
		out.v = NULL;
		out.n = 0;
	}
	return (rc);
}

/*
 * Load a recipient table from f, named file in messages; otherwise as
 * rcpttable_load().  The fuzzer's entry.
 */
int
rcpttable_load_fp(FILE *f, const char *file, const char *delim,
    const struct config *c, struct rcpttable **out, char **cause)
{
	struct rcpttable	*t;
	int			 rc;

	*out = NULL;
	if (strchr(delim, '@') != NULL || delim[strcspn(delim, RT_SEP)] !=
	    '\0') {
		xasprintf(cause, "recipient_delimiter '%s': no @, comma or "
		    "white space", delim);
		return (-1);
	}
	t = xcalloc(1, sizeof(*t));
	t->file = xstrdup(file);
	t->delim = xstrdup(delim);
	rcpttable_grow(t);
	rc = rcpttable_read(t, c, f, cause);
	if (rc == 0)
		rc = rcpttable_check_aliases(t, cause);
	if (rc != 0) {
		rcpttable_free(t);
		return (-1);
	}
	*out = t;
	return (0);
}

/*
 * Load a recipient table: file, the recipient_delimiter characters
 * (may be ""), and the configuration whose domains the keys must be in
 * (NULL: any).  *out is the new table, or NULL and -1 with *cause.
 */
int
rcpttable_load(const char *file, const char *delim, const struct config *c,
    struct rcpttable **out, char **cause)
{
	FILE	*f;
	int	 rc;

	*out = NULL;
	if ((f = fopen(file, "r")) == NULL) {
		xasprintf(cause, "recipient_table %s: %s", file,
		    strerror(errno));
		return (-1);
	}
	rc = rcpttable_load_fp(f, file, delim, c, out, cause);
	fclose(f);
	return (rc);
}

/* The entry for a canonical key, or NULL. */
static const struct rcpt_entry *
rcpttable_get(const struct rcpttable *t, const char *key)
{
	const struct rcpt_entry	*e = rcpttable_slot(t, key);

	return (e->key != NULL ? e : NULL);
}

/*
 * Split a canonical address at the first recipient_delimiter character
 * of its local part (not the first character: "+x@" has no user):
 * m->mailbox without the tag, m->tag the tag.
 */
static void
rcpttable_untag(const struct rcpttable *t, struct rcpt_match *m)
{
	const char	*at = strrchr(m->addr, '@');
	size_t		 n = strcspn(m->addr, t->delim);

	snprintf(m->mailbox, sizeof(m->mailbox), "%s", m->addr);
	m->tag[0] = '\0';
	if (t->delim[0] == '\0' || n == 0 || m->addr + n >= at)
		return;
	snprintf(m->tag, sizeof(m->tag), "%.*s", (int)(at - m->addr - n - 1),
	    m->addr + n + 1);
	snprintf(m->mailbox, sizeof(m->mailbox), "%.*s%s", (int)n, m->addr,
	    at);
}

/*
 * Look an address up, in this order (doc/recipients.md): the address
 * as it is, the address without its +tag, the domain's catch-all.  The
 * entry, with m saying how it matched; NULL if none does (or addr is
 * not an address).
 */
const struct rcpt_entry *
rcpttable_lookup(const struct rcpttable *t, const char *addr,
    struct rcpt_match *m)
{
	char	key[SMTP_PATH_MAX + 1];

	memset(m, 0, sizeof(*m));
	if (rcpttable_canon(addr, m->addr, sizeof(m->addr)) != 0)
		return (NULL);
	rcpttable_untag(t, m);
	m->how = RCPT_HOW_EXACT;
	if ((m->e = rcpttable_get(t, m->addr)) != NULL)
		return (m->e);
	m->how = RCPT_HOW_UNTAGGED;
	if (m->tag[0] != '\0' && (m->e = rcpttable_get(t, m->mailbox)) != NULL)
		return (m->e);
	m->how = RCPT_HOW_CATCHALL;
	snprintf(key, sizeof(key), "%s", strrchr(m->addr, '@'));
	return (m->e = rcpttable_get(t, key));
}

/* Add a final mailbox unless it is already there; 0, or -1 if full. */
static int
rcpttable_add_final(struct strlist *out, const char *addr, char **cause)
{
	size_t	i;

	for (i = 0; i < out->n; i++)
		if (strcmp(out->v[i], addr) == 0)
			return (0);
	if (out->n >= RCPTTABLE_MAX_MAILBOXES) {
		xasprintf(cause, "expands to more than %d mailboxes",
		    RCPTTABLE_MAX_MAILBOXES);
		return (-1);
	}
	out->v = xreallocarray(out->v, out->n + 1, sizeof(*out->v));
	out->v[out->n++] = xstrdup(addr);
	return (0);
}

/* Expand one address (canonical) at depth; see rcpttable_expand(). */
static int
rcpttable_expand_addr(const struct rcpttable *t, const char *addr,
    struct strlist *out, const char **path, size_t depth, FILE *trace,
    char **cause)
{
	struct rcpt_match	 m;
	const char		*final;

	if (rcpttable_lookup(t, addr, &m) == NULL) {
		xasprintf(cause, "%s is not in the table (mail goes only to "
		    "the table's mailboxes)", addr);
		return (-1);
	}
	if (m.e->nto > 0)
		return (rcpttable_expand_entry(t, m.e, out, path, depth, trace,
		    cause));
	final = m.how == RCPT_HOW_CATCHALL ? m.mailbox : m.e->key;
	if (trace != NULL)
		fprintf(trace, "%*s%s: mailbox (%s:%u)\n", (int)depth * 2 + 2,
		    "", final, t->file, m.e->line);
	return (rcpttable_add_final(out, final, cause));
}

/* Expand an alias or catch-all entry at depth. */
static int
rcpttable_expand_entry(const struct rcpttable *t, const struct rcpt_entry *e,
    struct strlist *out, const char **path, size_t depth, FILE *trace,
    char **cause)
{
	const char	*stack[RCPTTABLE_DEPTH];
	size_t		 i;

	if (path == NULL)
		path = stack;
	if (depth >= RCPTTABLE_DEPTH) {
		xasprintf(cause, "aliases nested more than %d deep",
		    RCPTTABLE_DEPTH);
		return (-1);
	}
	for (i = 0; i < depth; i++)
		if (strcmp(path[i], e->key) == 0)
			return (rcpttable_loop(path, depth, e->key, cause));
	path[depth] = e->key;
	if (trace != NULL) {
		fprintf(trace, "%*s%s: alias (%s:%u) ->", (int)depth * 2 + 2,
		    "", e->key, t->file, e->line);
		for (i = 0; i < e->nto; i++)
			fprintf(trace, "%s %s", i ? "," : "", e->to[i]);
		fprintf(trace, "\n");
	}
	for (i = 0; i < e->nto; i++) {
		/* An alias that names itself keeps a mailbox of its own. */
		if (strcmp(e->to[i], e->key) == 0) {
			if (trace != NULL)
				fprintf(trace, "%*s%s: mailbox (itself)\n",
				    (int)depth * 2 + 4, "", e->key);
			if (rcpttable_add_final(out, e->key, cause) != 0)
				return (-1);
		} else if (rcpttable_expand_addr(t, e->to[i], out, path,
		    depth + 1, trace, cause) != 0)
			return (-1);
	}
	return (0);
}

/* Describe an alias loop: "alias loop: a -> b -> a". */
static int
rcpttable_loop(const char **path, size_t depth, const char *key,
    char **cause)
{
	char	*s = xstrdup("alias loop:"), *old;
	size_t	 i;

	for (i = 0; i < depth; i++) {
		old = s;
		xasprintf(&s, "%s%s %s", old, i ? " ->" : "", path[i]);
		free(old);
	}
	xasprintf(cause, "%s -> %s%s", s, key, key[0] == '@' ? " (a target "
	    "that is not in the table falls into the catch-all again)" : "");
	free(s);
	return (-1);
}

/*
 * Expand addr into the mailboxes mail for it goes to: aliases followed
 * (at most RCPTTABLE_DEPTH deep, loops refused), each mailbox once, in
 * the order first reached, without +tags.  Appends to out; with trace,
 * says each step there (mxd -t rcpt).  0, or -1 with *cause.
 */
int
rcpttable_expand(const struct rcpttable *t, const char *addr,
    struct strlist *out, FILE *trace, char **cause)
{
	return (rcpttable_expand_addr(t, addr, out, NULL, 0, trace, cause));
}

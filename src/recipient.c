/*
 * recipient.c: whose mail mxd takes, in one place, for RCPT today and
 * for delivery routes later: the configured domains (compared in their
 * IDNA2008 canonical form, domain.c), the postmaster (RFC 5321 4.5.1:
 * always accepted, for each domain and the bare <Postmaster>), and an
 * authenticated client's relay, and the recipient table (rcpttable.c);
 * recipient_explain() says why, for mxd -t rcpt.  Pure code over the
 * configuration.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "mxd.h"

/*
 * Is this the postmaster?  With domain NULL only the bare <Postmaster> of
 * RFC 5321 4.1.1.3 matches; otherwise postmaster@domain does too, in any
 * case and in A-label or U-label form.
 */
int
recipient_is_postmaster(const char *addr, const char *domain)
{
	char	a[SMTP_DOMAIN_MAX + 1], b[SMTP_DOMAIN_MAX + 1];

	if (strncasecmp(addr, "postmaster", 10) != 0)
		return (0);
	if (addr[10] == '\0')
		return (1);
	if (domain == NULL || addr[10] != '@')
		return (0);
	if (strcasecmp(addr + 11, domain) == 0)
		return (1);
	return (domain_canon(addr + 11, a, sizeof(a)) == 0 &&
	    domain_canon(domain, b, sizeof(b)) == 0 &&
	    strcmp(a, b) == 0);
}

/*
 * Is mail for this domain accepted?  Both sides are compared in their
 * canonical form (lower case, IDNA2008 A-labels), so a U-label and its
 * A-label match whichever the configuration or the client wrote; * is
 * any domain.
 */
int
recipient_domain_ours(const struct config *c, const char *domain)
{
	char	 d[SMTP_DOMAIN_MAX + 1];
	size_t	 i, dl, el;

	if (domain_canon(domain, d, sizeof(d)) != 0)
		return (0);
	dl = strlen(d);
	for (i = 0; i < c->domains_idna.n; i++) {
		const char *e = c->domains_idna.v[i];

		if (strcmp(e, "*") == 0)
			return (1);
		el = strlen(e);
		if (e[0] == '.') {
			/* .example.org: any subdomain of example.org. */
			if (dl > el && strcmp(d + dl - el, e) == 0)
				return (1);
		} else if (strcmp(d, e) == 0)
			return (1);
	}
	return (0);
}

/*
 * Does mxd take mail for addr (a parsed path, no brackets), from a
 * client that has (authenticated) or has not logged in?  The postmaster
 * of the host and of every domain first (RFC 5321 4.5.1); then a listed
 * domain: an address in recipient_table; with recipient_check = lmtp
 * any other must be asked (RCPT_ASK, recipient_ask()); with a table the
 * others are unknown; without one (or with recipient_check = none)
 * every local part is ours; then an authenticated client's relay.
 */
enum rcpt_verdict
recipient_check(const struct config *c, const char *addr, int authenticated)
{
	const char		*at = strrchr(addr, '@');
	struct rcpt_match	 m;

	if (recipient_is_postmaster(addr, c->hostname))
		return (RCPT_POSTMASTER);
	if (at != NULL && recipient_domain_ours(c, at + 1)) {
		if (recipient_is_postmaster(addr, at + 1))
			return (RCPT_POSTMASTER);
		if (c->rcpt_table != NULL &&
		    rcpttable_lookup(c->rcpt_table, addr, &m) != NULL)
			return (RCPT_OURS);
		if (strcmp(c->recipient_check, "lmtp") == 0)
			return (RCPT_ASK);
		if (c->rcpt_table == NULL ||
		    strcmp(c->recipient_check, "none") == 0)
			return (RCPT_OURS);
		return (RCPT_UNKNOWN);
	}
	if (authenticated)
		return (RCPT_RELAY);
	return (RCPT_NOT_OURS);
}

/* Say how the table matched an address (mxd -t rcpt). */
static void
recipient_explain_match(const struct rcpttable *t, const struct rcpt_match *m,
    FILE *f)
{
	const char	*kind = m->e->nto > 0 ? "an alias" : "a mailbox";

	if (m->how != RCPT_HOW_EXACT)
		fprintf(f, "  %s: not in the table\n", m->addr);
	if (m->how == RCPT_HOW_UNTAGGED)
		fprintf(f, "  %s (without the tag \"%s\", recipient_delimiter "
		    "\"%s\"): %s, %s:%u\n", m->mailbox, m->tag, t->delim, kind,
		    t->file, m->e->line);
	else if (m->how == RCPT_HOW_CATCHALL) {
		if (m->tag[0] != '\0')
			fprintf(f, "  %s (without the tag \"%s\"): not in the "
			    "table\n", m->mailbox, m->tag);
		fprintf(f, "  %s: the catch-all of its domain, %s, %s:%u\n",
		    m->e->key, m->e->nto > 0 ? "an alias" : "every local part "
		    "a mailbox", t->file, m->e->line);
	} else
		fprintf(f, "  %s: %s, %s:%u\n", m->addr, kind, t->file,
		    m->e->line);
}

/* Print where mail for addr goes, aliases expanded (mxd -t rcpt). */
static void
recipient_explain_expand(const struct rcpttable *t, const char *addr, FILE *f)
{
	struct strlist	 out = { NULL, 0 };
	char		*why = NULL;
	size_t		 i;

	fprintf(f, "  expansion:\n");
	if (rcpttable_expand(t, addr, &out, f, &why) != 0) {
		/* Not reached: rcpttable_load() checked every alias. */
		fprintf(f, "  expansion failed: %s\n", why);
		free(why);
	}
	fprintf(f, "  delivered to:");
	for (i = 0; i < out.n; i++) {
		fprintf(f, "%s %s", i ? "," : "", out.v[i]);
		free(out.v[i]);
	}
	fprintf(f, "\n");
	free(out.v);
}

/*
 * Explain recipient_check() for an unauthenticated client, for a person
 * (mxd -t rcpt ADDRESS): which rule, which table line, which alias,
 * catch-all or +tag, and the reply RCPT would get.  Returns the verdict.
 */
enum rcpt_verdict
recipient_explain(const struct config *c, const char *addr, FILE *f)
{
	const struct rcpttable	*t = c->rcpt_table;
	const char		*at = strrchr(addr, '@');
	struct rcpt_match	 m;
	enum rcpt_verdict	 v = recipient_check(c, addr, 0);

	fprintf(f, "rcpt <%s>\n", addr);
	if (at != NULL && v != RCPT_NOT_OURS)
		fprintf(f, "  domain %s: one of ours (domains)\n", at + 1);
	switch (v) {
	case RCPT_POSTMASTER:
		fprintf(f, "accepted: 250 2.1.5: the postmaster is always "
		    "accepted (RFC 5321 4.5.1)\n");
		break;
	case RCPT_NOT_OURS:
		fprintf(f, "refused: 550 5.7.1: relay access denied: %s is "
		    "not in domains, and only an authenticated client may "
		    "relay\n", at != NULL ? at + 1 : "the address has no domain"
		    " and");
		break;
	case RCPT_UNKNOWN:
		fprintf(f, "  recipient_table %s: %zu entries\n", t->file, t->n);
		(void)rcpttable_lookup(t, addr, &m);
		fprintf(f, "  %s: not in the table\n", m.addr[0] ? m.addr : addr);
		if (m.tag[0] != '\0')
			fprintf(f, "  %s (without the tag \"%s\"): not in the "
			    "table\n", m.mailbox, m.tag);
		fprintf(f, "  @%s: no catch-all\n", at + 1);
		fprintf(f, "refused: 550 5.1.1: no such user\n");
		break;
	case RCPT_ASK:
		fprintf(f, "  %s: not in recipient_table\n", addr);
		fprintf(f, "  recipient_check = lmtp: asking the mail store at "
		    "%s\n", c->recipient_lmtp);
		break;
	case RCPT_TEMPFAIL:
		break;
	case RCPT_OURS:
	case RCPT_RELAY:
		if (t == NULL || rcpttable_lookup(t, addr, &m) == NULL) {
			fprintf(f, "accepted: 250 2.1.5: %s, so every local "
			    "part of a listed domain is accepted\n",
			    strcmp(c->recipient_check, "none") == 0 ?
			    "recipient_check = none" : "no recipient_table");
			break;
		}
		fprintf(f, "  recipient_table %s: %zu entries\n", t->file, t->n);
		recipient_explain_match(t, &m, f);
		recipient_explain_expand(t, addr, f);
		fprintf(f, "accepted: 250 2.1.5\n");
		break;
	}
	return (v);
}

/* Say what the store answered (mxd -t rcpt, after RCPT_ASK). */
enum rcpt_verdict
recipient_explain_store(const struct rcpt_answer *a, FILE *f)
{
	if (a->code != 0)
		fprintf(f, "  the store answered: %d %s\n", a->code, a->text);
	else
		fprintf(f, "  the store could not be asked: %s\n", a->text);
	if (a->v == RCPT_OURS)
		fprintf(f, "accepted: 250 2.1.5\n");
	else if (a->v == RCPT_UNKNOWN)
		fprintf(f, "refused: 550 5.1.1: no such user (the store "
		    "says so)\n");
	else
		fprintf(f, "refused for now: 451 4.4.3: the sender will try "
		    "again later\n");
	return (a->v);
}

/*
 * Asking the mail store (recipient_check = lmtp): the prober (the LMTP
 * client, deliver/lmtp.c, given by main()) asks, and the answers are
 * cached here, positive for recipient_cache_ttl and negative for
 * recipient_cache_negative_ttl.  The cache is a chained hash of at most
 * RCPT_CACHE_MAX addresses, emptied when full and on reload.
 */
#define RCPT_CACHE_BUCKETS	4096
#define RCPT_CACHE_MAX		100000

struct rcpt_cached {
	char			*key;
	struct rcpt_answer	 a;
	time_t			 expires;	/* monotonic seconds */
	struct rcpt_cached	*next;
};

/* One question to the store, until its answer. */
struct rcpt_question {
	char			  key[SMTP_PATH_MAX + 1];
	void			(*cb)(void *, const struct rcpt_answer *);
	void			 *arg;
	LIST_ENTRY(rcpt_question) entry;
};

static const struct rcpt_prober	*rcpt_prober;
static struct rcpt_cached	*rcpt_cache[RCPT_CACHE_BUCKETS];
static size_t			 rcpt_ncached;
static LIST_HEAD(, rcpt_question) rcpt_questions =
    LIST_HEAD_INITIALIZER(rcpt_questions);

/* Monotonic seconds, for the cache. */
static time_t
recipient_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec);
}

/* The bucket of a key (FNV-1a). */
static struct rcpt_cached **
recipient_bucket(const char *key)
{
	uint32_t	h = 2166136261u;

	for (; *key != '\0'; key++)
		h = (h ^ (unsigned char)*key) * 16777619u;
	return (&rcpt_cache[h % RCPT_CACHE_BUCKETS]);
}

/* Forget every cached answer (a reload, or the cache is full). */
void
recipient_cache_flush(void)
{
	struct rcpt_cached	*e, *next;
	size_t			 i;

	for (i = 0; i < RCPT_CACHE_BUCKETS; i++) {
		for (e = rcpt_cache[i]; e != NULL; e = next) {
			next = e->next;
			free(e->key);
			free(e);
		}
		rcpt_cache[i] = NULL;
	}
	rcpt_ncached = 0;
}

/* A live cached answer for key, or NULL; expired ones are dropped. */
static const struct rcpt_answer *
recipient_cache_get(const char *key)
{
	struct rcpt_cached	**pp, *e;

	for (pp = recipient_bucket(key); (e = *pp) != NULL; pp = &e->next) {
		if (strcmp(e->key, key) != 0)
			continue;
		if (e->expires > recipient_now())
			return (&e->a);
		*pp = e->next;
		free(e->key);
		free(e);
		rcpt_ncached--;
		return (NULL);
	}
	return (NULL);
}

/* Remember an answer for ttl seconds (0: not at all). */
static void
recipient_cache_put(const char *key, const struct rcpt_answer *a,
    long long ttl)
{
	struct rcpt_cached	**pp = recipient_bucket(key), *e;

	if (ttl <= 0)
		return;
	if (recipient_cache_get(key) != NULL)
		return;
	if (rcpt_ncached >= RCPT_CACHE_MAX)
		recipient_cache_flush();
	e = xcalloc(1, sizeof(*e));
	e->key = xstrdup(key);
	e->a = *a;
	e->a.cached = 1;
	e->expires = recipient_now() + ttl;
	e->next = *pp;
	*pp = e;
	rcpt_ncached++;
}

/* Use this prober for RCPT_ASK (main(), once the event loop exists). */
void
recipient_set_prober(const struct rcpt_prober *p)
{
	rcpt_prober = p;
}

/*
 * The store answered (code 0: it could not be asked; text says why):
 * 2xx is a mailbox, 5xx no such user, anything else try again later.
 */
static void
recipient_asked_cb(void *arg, int code, const char *text)
{
	struct rcpt_question	*q = arg;
	struct rcpt_answer	 a;

	memset(&a, 0, sizeof(a));
	a.code = code;
	snprintf(a.text, sizeof(a.text), "%s", text);
	if (code >= 200 && code < 300) {
		a.v = RCPT_OURS;
		recipient_cache_put(q->key, &a, cfg->recipient_cache_ttl);
	} else if (code >= 500 && code < 600) {
		a.v = RCPT_UNKNOWN;
		recipient_cache_put(q->key, &a,
		    cfg->recipient_cache_negative_ttl);
	} else
		a.v = RCPT_TEMPFAIL;
	LIST_REMOVE(q, entry);
	q->cb(q->arg, &a);
	free(q);
}

/*
 * At exit, after the prober dropped its questions unanswered (their
 * sessions are gone): forget them, and the cache.
 */
void
recipient_free_all(void)
{
	struct rcpt_question	*q;

	while ((q = LIST_FIRST(&rcpt_questions)) != NULL) {
		LIST_REMOVE(q, entry);
		free(q);
	}
	recipient_cache_flush();
}

/*
 * Ask the store whether addr is a mailbox (after recipient_check() said
 * RCPT_ASK).  0 with the answer in *now if the cache has it; else 1,
 * and cb(arg, answer) is called later, from the event loop.
 */
int
recipient_ask(const struct config *c, const char *addr,
    void (*cb)(void *, const struct rcpt_answer *), void *arg,
    struct rcpt_answer *now)
{
	struct rcpt_question	*q;
	const struct rcpt_answer *a;
	char			 key[SMTP_PATH_MAX + 1];

	if (rcpttable_canon(addr, key, sizeof(key)) != 0)
		snprintf(key, sizeof(key), "%s", addr);
	if ((a = recipient_cache_get(key)) != NULL) {
		*now = *a;
		return (0);
	}
	if (rcpt_prober == NULL) {
		memset(now, 0, sizeof(*now));
		now->v = RCPT_TEMPFAIL;
		snprintf(now->text, sizeof(now->text), "no mail store client");
		return (0);
	}
	q = xcalloc(1, sizeof(*q));
	snprintf(q->key, sizeof(q->key), "%s", key);
	q->cb = cb;
	q->arg = arg;
	LIST_INSERT_HEAD(&rcpt_questions, q, entry);
	rcpt_prober->ask(c, addr, recipient_asked_cb, q);
	return (1);
}

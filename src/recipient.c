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
 * domain: with a recipient_table only the addresses it knows, without
 * one every local part; then an authenticated client's relay.
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
		if (c->rcpt_table == NULL ||
		    rcpttable_lookup(c->rcpt_table, addr, &m) != NULL)
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
	case RCPT_OURS:
	case RCPT_RELAY:
		if (t == NULL) {
			fprintf(f, "accepted: 250 2.1.5: no recipient_table, "
			    "so every local part of a listed domain is "
			    "accepted\n");
			break;
		}
		fprintf(f, "  recipient_table %s: %zu entries\n", t->file, t->n);
		(void)rcpttable_lookup(t, addr, &m);
		recipient_explain_match(t, &m, f);
		recipient_explain_expand(t, addr, f);
		fprintf(f, "accepted: 250 2.1.5\n");
		break;
	}
	return (v);
}

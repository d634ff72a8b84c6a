/*
 * recipient.c: whose mail mxd takes, in one place, for RCPT today and
 * for delivery routes later: the configured domains (compared in their
 * IDNA2008 canonical form, domain.c), the postmaster (RFC 5321 4.5.1:
 * always accepted, for each domain and the bare <Postmaster>), and an
 * authenticated client's relay.  Pure code over the configuration.
 */
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
 * client that has (authenticated) or has not logged in?  Returns the
 * reason it does, or RCPT_NOT_OURS.
 */
enum rcpt_verdict
recipient_check(const struct config *c, const char *addr, int authenticated)
{
	const char	*at = strrchr(addr, '@');

	if (authenticated)
		return (RCPT_RELAY);
	if (recipient_is_postmaster(addr, c->hostname))
		return (RCPT_POSTMASTER);
	if (at != NULL && recipient_domain_ours(c, at + 1))
		return (RCPT_OURS);
	return (RCPT_NOT_OURS);
}

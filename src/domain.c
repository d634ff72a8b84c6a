/*
 * domain.c: domain names, for the SMTP paths, the configuration and
 * (later) delivery routes: the RFC 5321 4.1.2 Domain grammar, with
 * U-labels checked as IDNA2008 (RFC 5891, RFC 6531 3.3), and the one
 * canonical form domains are compared in (lower case, A-labels), from
 * libidn2.  Pure code: unit-tested and fuzzed through addr.c.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <idn2.h>

#include "mxd.h"

/*
 * Is s (len octets of ASCII) a domain of letters, digits and inner
 * hyphens (RFC 5321 4.1.2), each label 1 to 63 octets (RFC 1035 2.3.4),
 * at most SMTP_DOMAIN_MAX in all?
 */
static int
domain_ldh(const char *s, size_t len)
{
	size_t	i, label = 0;

	if (len == 0 || len > SMTP_DOMAIN_MAX)
		return (0);
	for (i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (label == 0 || s[i - 1] == '-')
				return (0);
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return (0);
		if ((label == 0 && s[i] == '-') || ++label > 63)
			return (0);
	}
	return (label > 0 && s[len - 1] != '-');
}

/*
 * Put a domain in its canonical form for comparing: lower case, and
 * U-labels as IDNA2008 A-labels (UTS #46 non-transitional mapping, as
 * libidn2 does by default), a trailing dot dropped.  0, or -1 if it is
 * not a valid internationalised domain or does not fit.  The A-labels
 * are checked as any ASCII domain is: normalisation can turn a U-label
 * into ASCII that is no domain (U+037E GREEK QUESTION MARK is NFC ";"),
 * which libidn2 passes through, and a canonical form must be one that
 * domain_check accepts.
 */
int
domain_canon(const char *d, char *out, size_t outsz)
{
	char	*ace = NULL, *copy;
	size_t	 i, len = strlen(d);
	int	 ascii = 1;

	if (len > 1 && d[len - 1] == '.')
		len--;
	for (i = 0; i < len; i++)
		if ((unsigned char)d[i] >= 0x80)
			ascii = 0;
	if (ascii) {
		if (len >= outsz)
			return (-1);
		for (i = 0; i < len; i++)
			out[i] = (char)tolower((unsigned char)d[i]);
		out[len] = '\0';
		return (0);
	}
	copy = xmalloc(len + 1);
	memcpy(copy, d, len);
	copy[len] = '\0';
	if (idn2_lookup_u8((const uint8_t *)copy, (uint8_t **)&ace,
	    IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL) != IDN2_OK) {
		free(copy);
		return (-1);
	}
	free(copy);
	if (strlen(ace) >= outsz || !domain_ldh(ace, strlen(ace))) {
		idn2_free(ace);
		return (-1);
	}
	memcpy(out, ace, strlen(ace) + 1);
	idn2_free(ace);
	return (0);
}

/*
 * Check a Domain (RFC 5321 4.1.2): sub-domains of letters, digits and
 * inner hyphens; with UTF-8, U-labels that are valid IDNA2008 (RFC 6531
 * 3.3).  DOMAIN_OK or why not.
 */
enum domain_status
domain_check(const char *s, size_t len)
{
	char		buf[SMTP_DOMAIN_MAX + 1], canon[SMTP_DOMAIN_MAX + 1];
	size_t		i, label = 0;
	unsigned char	c;
	int		utf8 = 0;

	if (len == 0 || len > SMTP_DOMAIN_MAX)
		return (DOMAIN_BAD);
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return (DOMAIN_BAD);
			label = 0;
			continue;
		}
		if (c >= 0x80)
			utf8 = 1;
		else if (!isalnum(c) && c != '-')
			return (DOMAIN_BAD);
		if (label == 0 && c == '-')
			return (DOMAIN_BAD);
		label++;
	}
	if (label == 0 || s[len - 1] == '-')
		return (DOMAIN_BAD);
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (utf8)
		return (domain_canon(buf, canon, sizeof(canon)) == 0 ?
		    DOMAIN_OK : DOMAIN_BAD_IDN);
	return (domain_ldh(s, len) ? DOMAIN_OK : DOMAIN_BAD);
}


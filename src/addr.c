/*
 * addr.c: the RFC 5321 path parser for MAIL FROM and RCPT TO.  It reads
 * the argument in one forward pass, accepts what people type by hand
 * (any case, no angle brackets, spaces after the colon) and accepts only
 * syntactically valid mailboxes.  Pure code: unit-tested and fuzzed.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "mxd.h"

/* RFC 5322 3.2.3 atext, plus UTF-8 octets (RFC 6531 3.3). */
static int
addr_atext(unsigned char c)
{
	return (isalnum(c) || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL ||
	    c >= 0x80) && c != '\0';
}

/* Parse a Dot-string or Quoted-string local part; return its length. */
static size_t
addr_local_part(const char *s, size_t len)
{
	size_t	i = 0;
	int	atom = 0;

	if (len > 0 && s[0] == '"') {
		/* RFC 5321 4.1.2: Quoted-string, qtextSMTP or quoted-pair. */
		for (i = 1; i < len; i++) {
			unsigned char c = (unsigned char)s[i];

			if (c == '"')
				return (i + 1);
			if (c == '\\') {
				if (++i >= len || (unsigned char)s[i] < 0x20)
					return (0);
				continue;
			}
			if (c < 0x20 || c == 0x7f)
				return (0);
		}
		return (0);
	}
	for (i = 0; i < len && s[i] != '@'; i++) {
		if (s[i] == '.') {
			if (!atom)
				return (0);	/* empty atom */
			atom = 0;
		} else if (addr_atext((unsigned char)s[i]))
			atom = 1;
		else
			return (0);
	}
	return (atom ? i : 0);
}

/* Check an address literal: [IPv4], [IPv6:...] or [tag:text]. */
static int
addr_literal(const char *s, size_t len)
{
	char			buf[SMTP_DOMAIN_MAX + 1];
	struct in6_addr		a6;
	struct in_addr		a4;
	size_t			i;

	if (len < 3 || len > SMTP_DOMAIN_MAX || s[0] != '[' ||
	    s[len - 1] != ']')
		return (0);
	memcpy(buf, s + 1, len - 2);
	buf[len - 2] = '\0';
	if (strncasecmp(buf, "IPv6:", 5) == 0)
		return (inet_pton(AF_INET6, buf + 5, &a6) == 1);
	if (inet_pton(AF_INET, buf, &a4) == 1)
		return (1);
	/* RFC 5321 4.1.3 General-address-literal: tag ":" dcontent. */
	for (i = 0; buf[i] != '\0' && buf[i] != ':'; i++)
		if (!isalnum((unsigned char)buf[i]) && buf[i] != '-')
			return (0);
	if (i == 0 || buf[i] != ':' || buf[i + 1] == '\0')
		return (0);
	for (i++; buf[i] != '\0'; i++)
		if (buf[i] < 33 || buf[i] > 126 || buf[i] == '[' ||
		    buf[i] == '\\')
			return (0);
	return (1);
}

/* Check a domain: dot-separated labels of letters, digits and hyphens. */
static int
addr_domain_valid(const char *s, size_t len)
{
	size_t		i, label = 0;
	unsigned char	c;

	if (len == 0 || len > SMTP_DOMAIN_MAX)
		return (0);
	if (s[0] == '[')
		return (addr_literal(s, len));
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return (0);
			label = 0;
			continue;
		}
		if (!isalnum(c) && c != '-' && c != '_' && c < 0x80)
			return (0);
		if (label == 0 && c == '-')
			return (0);
		if (++label > 63)
			return (0);
	}
	return (label > 0 && s[len - 1] != '-');
}

/* Does the string use octets outside ASCII? */
static int
addr_has_utf8(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] >= 0x80)
			return (1);
	return (0);
}

/*
 * Parse the inside of a path (no brackets): empty for the null path,
 * an optional source route (RFC 5321 4.1.1.3: accepted and ignored),
 * then local@domain, or a bare postmaster.  Returns 0 or -1.
 */
int
addr_parse_path(const char *s, size_t len, struct smtp_path *p)
{
	const char	*colon;
	size_t		 local;

	memset(p->addr, 0, sizeof(p->addr));
	p->null = 0;
	p->utf8 = 0;
	if (len == 0) {
		p->null = 1;
		return (0);
	}
	if (s[0] == '@') {
		if ((colon = memchr(s, ':', len)) == NULL)
			return (-1);
		len -= (size_t)(colon + 1 - s);
		s = colon + 1;
	}
	if (len > SMTP_PATH_MAX - 2)
		return (-1);
	if ((local = addr_local_part(s, len)) == 0 || local > SMTP_LOCAL_MAX)
		return (-1);
	if (local == len) {
		/* RFC 5321 4.1.1.3: <Postmaster> needs no domain. */
		if (len != 10 || strncasecmp(s, "postmaster", 10) != 0)
			return (-1);
	} else if (s[local] != '@' ||
	    !addr_domain_valid(s + local + 1, len - local - 1))
		return (-1);
	memcpy(p->addr, s, len);
	p->addr[len] = '\0';
	p->utf8 = addr_has_utf8(s, len);
	return (0);
}

/* Would this path parse but for a local part over 64 octets? */
static int
addr_local_too_long(const char *s, size_t len)
{
	const char	*at;

	if (len > 0 && s[0] == '@' && (at = memchr(s, ':', len)) != NULL) {
		len -= (size_t)(at + 1 - s);
		s = at + 1;
	}
	if ((at = memchr(s, '@', len)) == NULL || at - s <= SMTP_LOCAL_MAX)
		return (0);
	return (addr_local_part(s, (size_t)(at - s)) == (size_t)(at - s) &&
	    addr_domain_valid(at + 1, len - (size_t)(at - s) - 1));
}

/* Find the end of a bracketed path, skipping quoted strings. */
static const char *
addr_close_bracket(const char *s)
{
	int	quoted = 0;

	for (; *s != '\0'; s++) {
		if (quoted && *s == '\\' && s[1] != '\0')
			s++;
		else if (*s == '"')
			quoted = !quoted;
		else if (!quoted && *s == '>')
			return (s);
	}
	return (NULL);
}

/*
 * Parse `FROM:<path> params` or `TO:<path> params` as people type it:
 * any case, optional spaces around the colon, brackets optional.
 */
enum addr_status
addr_parse_cmd(char *args, const char *keyword, struct smtp_path *p)
{
	size_t		 klen = strlen(keyword), plen;
	const char	*path, *end;

	while (*args == ' ' || *args == '\t')
		args++;
	if (strncasecmp(args, keyword, klen) != 0)
		return (ADDR_SYNTAX);
	args += klen;
	while (*args == ' ' || *args == '\t')
		args++;
	if (*args++ != ':')
		return (ADDR_SYNTAX);
	while (*args == ' ' || *args == '\t')
		args++;
	if (*args == '<') {
		path = args + 1;
		if ((end = addr_close_bracket(path)) == NULL)
			return (ADDR_BAD_PATH);
		args = (char *)end + 1;
		if (*args != '\0' && *args != ' ' && *args != '\t')
			return (ADDR_BAD_PATH);
	} else {
		if (*args == '\0')
			return (ADDR_SYNTAX);
		path = args;
		end = args + strcspn(args, " \t");
		args = (char *)end;
	}
	plen = (size_t)(end - path);
	if (plen > SMTP_PATH_MAX - 2)
		return (ADDR_TOO_LONG);
	if (addr_parse_path(path, plen, p) != 0)
		return (addr_local_too_long(path, plen) ? ADDR_TOO_LONG :
		    ADDR_BAD_PATH);
	while (*args == ' ' || *args == '\t')
		args++;
	p->params = args;
	return (ADDR_OK);
}

/* The domain part of a parsed address, or "" for bare postmaster. */
const char *
addr_domain(const char *addr)
{
	const char	*at = strrchr(addr, '@');

	return (at == NULL ? "" : at + 1);
}

/*
 * Is this the postmaster?  With domain NULL only the bare <Postmaster> of
 * RFC 5321 4.1.1.3 matches; otherwise postmaster@domain does too.
 */
int
addr_is_postmaster(const char *addr, const char *domain)
{
	if (strncasecmp(addr, "postmaster", 10) != 0)
		return (0);
	if (addr[10] == '\0')
		return (1);
	return (domain != NULL && addr[10] == '@' &&
	    strcasecmp(addr + 11, domain) == 0);
}

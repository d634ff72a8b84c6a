/*
 * addr.c: the RFC 5321 path parser for MAIL FROM and RCPT TO.  It reads
 * the argument in one forward pass, accepts what people type by hand
 * (any case, no angle brackets, spaces after the colon) and accepts only
 * syntactically valid mailboxes.  Pure code: unit-tested and fuzzed.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp.h"

/*
 * What each parse failure means, for the 501 reply: the RFC 5321 4.1.2
 * production that did not match.
 */
static const struct {
	enum addr_status	 st;
	const char		*why;
} addr_whys[] = {
	{ ADDR_SYNTAX, "is missing: want FROM:<address> or TO:<address>" },
	{ ADDR_BAD_PATH, "is not closed: want <user@domain> and a space "
	  "before any parameter" },
	{ ADDR_TOO_LONG, "is too long (limit is 256 octets, 64 before "
	  "the @)" },
	{ ADDR_BAD_ROUTE, "has a bad source route: want "
	  "<@host,@host:user@domain> (RFC 5321 4.1.2)" },
	{ ADDR_BAD_LOCAL, "has a bad local part: want dot-separated words "
	  "or a quoted string before the @ (RFC 5321 4.1.2)" },
	{ ADDR_BAD_QUOTED, "has a bad quoted local part: want printable "
	  "characters, \\ only before one of them (RFC 5321 4.1.2)" },
	{ ADDR_NO_DOMAIN, "needs a domain: want user@domain "
	  "(RFC 5321 4.1.2)" },
	{ ADDR_SENDER_POSTMASTER, "needs a domain: <postmaster> is only "
	  "valid as a recipient (RFC 5321 4.1.1.3)" },
	{ ADDR_BAD_DOMAIN, "has a bad domain: want dot-separated labels of "
	  "letters, digits and inner hyphens (RFC 5321 4.1.2)" },
	{ ADDR_BAD_LITERAL, "has a bad address literal: want [IPv4], "
	  "[IPv6:...] or [tag:text] (RFC 5321 4.1.3)" },
	{ ADDR_BAD_IDN, "has a domain that is not valid IDNA2008 "
	  "(RFC 5891, RFC 6531 3.3)" },
	{ ADDR_BAD_UTF8, "is not valid UTF-8 (RFC 6531 3.3)" },
	{ ADDR_DISPLAY_NAME, "has a display name: give only the address, "
	  "<user@domain>; the name belongs in the message's header" },
};

/* Why a path was refused, as text for the reply. */
const char *
addr_why(enum addr_status st)
{
	size_t	i;

	for (i = 0; i < sizeof(addr_whys) / sizeof(addr_whys[0]); i++)
		if (addr_whys[i].st == st)
			return (addr_whys[i].why);
	return ("bad address syntax");
}

/* RFC 5322 3.2.3 atext, plus UTF-8 octets (RFC 6531 3.3). */
static int
addr_atext(unsigned char c)
{
	return (isalnum(c) || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL ||
	    c >= 0x80) && c != '\0';
}

/*
 * Is s[0..len) well-formed UTF-8 (RFC 3629 4: no overlong forms, no
 * surrogates, nothing past U+10FFFF)?  RFC 6531 3.3 allows only that.
 */
static int
addr_utf8_valid(const unsigned char *s, size_t len)
{
	size_t		i, n, k;
	unsigned	cp;

	for (i = 0; i < len; i += n) {
		if (s[i] < 0x80) {
			n = 1;
			continue;
		}
		if (s[i] >= 0xc2 && s[i] <= 0xdf)
			n = 2, cp = s[i] & 0x1f;
		else if (s[i] >= 0xe0 && s[i] <= 0xef)
			n = 3, cp = s[i] & 0x0f;
		else if (s[i] >= 0xf0 && s[i] <= 0xf4)
			n = 4, cp = s[i] & 0x07;
		else
			return (0);
		if (i + n > len)
			return (0);
		for (k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return (0);
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return (0);
	}
	return (1);
}

/*
 * Parse a Dot-string or Quoted-string local part (RFC 5321 4.1.2);
 * return its length, or 0 with *st set.
 */
static size_t
addr_local_part(const char *s, size_t len, enum addr_status *st)
{
	size_t		i = 0;
	int		atom = 0;
	unsigned char	c;

	*st = ADDR_BAD_LOCAL;
	if (len > 0 && s[0] == '"') {
		/* Quoted-string: qtextSMTP or quoted-pairSMTP. */
		*st = ADDR_BAD_QUOTED;
		for (i = 1; i < len; i++) {
			c = (unsigned char)s[i];
			if (c == '"')
				return (i + 1);
			if (c == '\\') {
				/* quoted-pairSMTP = %d92 %d32-126 */
				if (++i >= len || (unsigned char)s[i] < 32 ||
				    (unsigned char)s[i] > 126)
					return (0);
				continue;
			}
			/* qtextSMTP: 32-126 but " and \, or UTF-8. */
			if (c < 32 || c == 127)
				return (0);
		}
		return (0);
	}
	/* Dot-string = Atom *("." Atom) */
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

/*
 * Check an address literal (RFC 5321 4.1.3): [IPv4], [IPv6:...] or a
 * General-address-literal [tag:dcontent].
 */
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
	/* Standardized-tag = Ldh-str: ends with a letter or digit. */
	for (i = 0; buf[i] != '\0' && buf[i] != ':'; i++)
		if (!isalnum((unsigned char)buf[i]) && buf[i] != '-')
			return (0);
	if (i == 0 || buf[i] != ':' || buf[i + 1] == '\0' ||
	    buf[i - 1] == '-')
		return (0);
	/* dcontent = %d33-90 / %d94-126: no [ \ ] */
	for (i++; buf[i] != '\0'; i++)
		if (buf[i] < 33 || buf[i] > 126 || buf[i] == '[' ||
		    buf[i] == '\\' || buf[i] == ']')
			return (0);
	return (1);
}

/* A Domain's check as an address status. */
static enum addr_status
addr_domain_status(const char *s, size_t len)
{
	switch (domain_check(s, len)) {
	case DOMAIN_OK:
		return (ADDR_OK);
	case DOMAIN_BAD_IDN:
		return (ADDR_BAD_IDN);
	default:
		return (ADDR_BAD_DOMAIN);
	}
}

/* Check what follows the @ of a Mailbox: Domain or address-literal. */
static enum addr_status
addr_domain_valid(const char *s, size_t len)
{
	if (len > 0 && s[0] == '[')
		return (addr_literal(s, len) ? ADDR_OK : ADDR_BAD_LITERAL);
	return (addr_domain_status(s, len));
}

/*
 * Skip an A-d-l source route, `@host,@host:` (RFC 5321 4.1.2: accepted,
 * and ignored as 3.3 and appendix C say); the octets it takes, or 0 if
 * it is malformed.
 */
static size_t
addr_route(const char *s, size_t len)
{
	size_t	i = 0, n;

	for (;;) {
		if (i >= len || s[i] != '@')
			return (0);
		i++;
		for (n = 0; i + n < len && s[i + n] != ',' &&
		    s[i + n] != ':'; n++)
			;
		if (i + n >= len || domain_check(s + i, n) != DOMAIN_OK)
			return (0);
		i += n;
		if (s[i++] == ':')
			return (i);
	}
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
 * an optional source route, then Local-part "@" Domain or address-literal
 * (RFC 5321 4.1.2), or a bare postmaster (4.1.1.3; the caller decides
 * where that is allowed).  ADDR_OK or why not.
 */
enum addr_status
addr_parse_path(const char *s, size_t len, struct smtp_path *p)
{
	enum addr_status	 st;
	size_t			 local, route = 0;

	memset(p->addr, 0, sizeof(p->addr));
	p->null = 0;
	p->utf8 = 0;
	if (len == 0) {
		p->null = 1;
		return (ADDR_OK);
	}
	if (!addr_utf8_valid((const unsigned char *)s, len))
		return (ADDR_BAD_UTF8);
	if (s[0] == '@') {
		if ((route = addr_route(s, len)) == 0)
			return (ADDR_BAD_ROUTE);
		len -= route;
		s += route;
	}
	if (len > SMTP_PATH_MAX - 2)
		return (ADDR_TOO_LONG);
	if ((local = addr_local_part(s, len, &st)) == 0)
		return (st);
	if (local > SMTP_LOCAL_MAX)
		return (ADDR_TOO_LONG);
	if (local == len) {
		/* RFC 5321 4.1.1.3: only "<Postmaster>" needs no domain. */
		if (route || len != 10 || strncasecmp(s, "postmaster", 10) != 0)
			return (ADDR_NO_DOMAIN);
	} else if (s[local] != '@')
		return (s[0] == '"' ? ADDR_BAD_QUOTED : ADDR_BAD_LOCAL);
	else if ((st = addr_domain_valid(s + local + 1,
	    len - local - 1)) != ADDR_OK)
		return (st);
	memcpy(p->addr, s, len);
	p->addr[len] = '\0';
	p->utf8 = addr_has_utf8(s, len);
	return (ADDR_OK);
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
	enum addr_status st;

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
		/* "Dave <dave@example.org>": copied from a To: header. */
		if (strchr(args, '<') != NULL && strchr(args, '>') != NULL)
			return (ADDR_DISPLAY_NAME);
	}
	plen = (size_t)(end - path);
	if (plen > SMTP_PATH_MAX - 2)
		return (ADDR_TOO_LONG);
	if ((st = addr_parse_path(path, plen, p)) != ADDR_OK)
		return (st);
	/*
	 * RFC 5321 4.1.1.3 allows the bare Postmaster only in RCPT; a
	 * Reverse-path is a Path, whose Mailbox has a domain (4.1.2).
	 */
	if (strcasecmp(keyword, "FROM") == 0 && !p->null &&
	    strchr(p->addr, '@') == NULL)
		return (ADDR_SENDER_POSTMASTER);
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

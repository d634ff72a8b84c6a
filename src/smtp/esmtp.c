/*
 * esmtp.c: MAIL and RCPT parameters (RFC 5321 4.1.2 esmtp-param).  Each
 * parameter is `keyword[=value]`, separated by spaces; keywords are
 * case-insensitive.  Pure code, fuzzed.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp.h"

/* Split off the next parameter; return NULL at the end. */
static char *
esmtp_next(char **p, char **value)
{
	char	*kw, *eq;

	while (**p == ' ' || **p == '\t')
		(*p)++;
	if (**p == '\0')
		return (NULL);
	kw = strsep(p, " \t");
	if (*p == NULL)
		*p = kw + strlen(kw);
	*value = NULL;
	if ((eq = strchr(kw, '=')) != NULL) {
		*eq = '\0';
		*value = eq + 1;
	}
	return (kw);
}

/*
 * Parse SIZE=: RFC 1870 says 1 to 20 digits.  Values beyond what fits
 * are clamped: they are over any limit anyway.
 */
static int
esmtp_size(const char *v, long long *out)
{
	size_t	i, n;

	if (v == NULL || (n = strlen(v)) == 0 || n > 20)
		return (-1);
	*out = 0;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)v[i]))
			return (-1);
		if (*out > (LLONG_MAX - 9) / 10)
			*out = LLONG_MAX;
		else
			*out = *out * 10 + (v[i] - '0');
	}
	return (0);
}

/*
 * Parse MAIL parameters: SIZE (RFC 1870), BODY (RFC 6152), SMTPUTF8
 * (RFC 6531) and AUTH (RFC 4954, accepted and ignored here).  On error
 * *bad names the keyword.
 */
enum param_status
esmtp_mail_params(char *p, struct mail_params *mp, const char **bad)
{
	char	*kw, *v;

	mp->size = -1;
	mp->body = BODY_NONE;
	mp->smtputf8 = 0;
	while ((kw = esmtp_next(&p, &v)) != NULL) {
		*bad = kw;
		if (strcasecmp(kw, "SIZE") == 0) {
			if (mp->size != -1)
				return (PARAM_DUPLICATE);
			if (esmtp_size(v, &mp->size) != 0)
				return (PARAM_BAD_VALUE);
		} else if (strcasecmp(kw, "BODY") == 0) {
			if (mp->body != BODY_NONE)
				return (PARAM_DUPLICATE);
			if (v != NULL && strcasecmp(v, "7BIT") == 0)
				mp->body = BODY_7BIT;
			else if (v != NULL && strcasecmp(v, "8BITMIME") == 0)
				mp->body = BODY_8BITMIME;
			else
				return (PARAM_BAD_VALUE);
		} else if (strcasecmp(kw, "SMTPUTF8") == 0) {
			if (mp->smtputf8)
				return (PARAM_DUPLICATE);
			if (v != NULL)
				return (PARAM_BAD_VALUE);
			mp->smtputf8 = 1;
		} else if (strcasecmp(kw, "AUTH") == 0) {
			if (v == NULL || *v == '\0')
				return (PARAM_BAD_VALUE);
		} else
			return (PARAM_UNKNOWN);
	}
	return (PARAM_OK);
}

/* RCPT takes no parameters yet (no DSN is advertised). */
enum param_status
esmtp_rcpt_params(char *p, const char **bad)
{
	char	*kw, *v;

	if ((kw = esmtp_next(&p, &v)) != NULL) {
		*bad = kw;
		return (PARAM_UNKNOWN);
	}
	return (PARAM_OK);
}

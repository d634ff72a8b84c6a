/*
 * envelope.c: the envelope block, the one record format of the store.
 * Every spool file begins with it: one `X-Mxd-<Name>: <value>` line per
 * field, CRLF-terminated, before mxd's Received: field and the message
 * (doc/spool.md).  It is written and read back here only: the SMTP side
 * writes it at DATA, `mxd -q`, the HTTP API, POP3 and delivery read it.
 * Client-chosen values (HELO name, paths, the AUTH user) are xtext (RFC
 * 3461 4), so no octet of theirs can end a line or look like a field.
 * Pure code: round-trip unit test, and a fuzz target for the reader.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "mxd.h"

/* The longest line the reader takes: a recipient as xtext, and more. */
#define ENVELOPE_LINE_MAX	(SMTP_PATH_MAX * 3 + 64)

static void	envelope_add(struct evbuffer *, ...)
		    __attribute__((__sentinel__));

/*
 * Encode as xtext: '+', '=' and octets outside 33..126 become +HH.
 * Returns the length needed; dst is always NUL-terminated.
 */
size_t
xtext_encode(const char *src, char *dst, size_t dstsz)
{
	static const char	 hex[] = "0123456789ABCDEF";
	size_t			 o = 0, w = 0, n;
	unsigned char		 c;

	for (; *src != '\0'; src++) {
		c = (unsigned char)*src;
		n = (c < 33 || c > 126 || c == '+' || c == '=') ? 3 : 1;
		/* Stop at the first octet that does not fit: no holes. */
		if (w == o && w + n < dstsz) {
			if (n == 3) {
				dst[w] = '+';
				dst[w + 1] = hex[c >> 4];
				dst[w + 2] = hex[c & 15];
			} else
				dst[w] = (char)c;
			w += n;
		}
		o += n;
	}
	if (dstsz > 0)
		dst[w] = '\0';
	return (o);
}

/* Value of one hex digit, or -1. */
static int
xtext_hex(char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	return (-1);
}

/* Decode xtext; a malformed +HH is copied as is.  Returns the length. */
size_t
xtext_decode(const char *src, char *dst, size_t dstsz)
{
	size_t	o = 0;
	int	hi, lo;

	if (dstsz == 0)
		return (0);
	for (; *src != '\0' && o + 1 < dstsz; src++) {
		if (*src == '+' && (hi = xtext_hex(src[1])) >= 0 &&
		    (lo = xtext_hex(src[2])) >= 0 && (hi | lo) != 0) {
			dst[o++] = (char)(hi << 4 | lo);
			src += 2;
		} else
			dst[o++] = *src;
	}
	dst[o] = '\0';
	return (o);
}

/* Decode an xtext value into dst of size len; -1 if it does not fit. */
static int
envelope_xtext(const char *v, char *dst, size_t len)
{
	char	buf[ENVELOPE_LINE_MAX];
	size_t	n;

	n = xtext_decode(v, buf, sizeof(buf));
	if (n >= len)
		return (-1);
	memcpy(dst, buf, n + 1);
	return (0);
}

/* X-Mxd-Queue-Id: the queue ID, 16 upper-case hex digits. */
static int
envelope_read_qid(struct envelope *e, const char *v)
{
	if (!queue_id_valid(v))
		return (-1);
	memcpy(e->qid, v, QID_LEN + 1);
	return (0);
}

/* X-Mxd-Arrival: RFC 3339 UTC. */
static int
envelope_read_arrival(struct envelope *e, const char *v)
{
	if (strlen(v) >= sizeof(e->arrival))
		return (-1);
	snprintf(e->arrival, sizeof(e->arrival), "%s", v);
	return (0);
}

/* X-Mxd-Client: [address]:port. */
static int
envelope_read_client(struct envelope *e, const char *v)
{
	const char	*end;
	char		*p;
	long		 port;

	if (v[0] != '[' || (end = strstr(v, "]:")) == NULL ||
	    (size_t)(end - v - 1) >= sizeof(e->client_addr))
		return (-1);
	port = strtol(end + 2, &p, 10);
	if (*p != '\0' || port < 0 || port > 65535 || p == end + 2)
		return (-1);
	memcpy(e->client_addr, v + 1, (size_t)(end - v - 1));
	e->client_addr[end - v - 1] = '\0';
	e->client_port = (int)port;
	return (0);
}

/* X-Mxd-Helo: xtext. */
static int
envelope_read_helo(struct envelope *e, const char *v)
{
	return (envelope_xtext(v, e->helo, sizeof(e->helo)));
}

/* Strip the brackets of <xtext>; NULL if there are none. */
static char *
envelope_path(const char *v, char *buf, size_t len)
{
	size_t	n = strlen(v);

	if (n < 2 || v[0] != '<' || v[n - 1] != '>' || n - 1 > len)
		return (NULL);
	memcpy(buf, v + 1, n - 2);
	buf[n - 2] = '\0';
	return (buf);
}

/* X-Mxd-Sender: <xtext>, <> for the null sender. */
static int
envelope_read_sender(struct envelope *e, const char *v)
{
	char	buf[ENVELOPE_LINE_MAX];

	if (envelope_path(v, buf, sizeof(buf)) == NULL)
		return (-1);
	return (envelope_xtext(buf, e->sender, sizeof(e->sender)));
}

/* X-Mxd-Recipient: <xtext>, one line each, in RCPT order. */
static int
envelope_read_rcpt(struct envelope *e, const char *v)
{
	char	buf[ENVELOPE_LINE_MAX], dec[SMTP_PATH_MAX + 1];

	if (envelope_path(v, buf, sizeof(buf)) == NULL ||
	    envelope_xtext(buf, dec, sizeof(dec)) != 0)
		return (-1);
	e->rcpt = xreallocarray(e->rcpt, e->nrcpt + 1, sizeof(*e->rcpt));
	e->rcpt[e->nrcpt++] = xstrdup(dec);
	return (0);
}

/* X-Mxd-Auth: mechanism, a space, the user as xtext. */
static int
envelope_read_auth(struct envelope *e, const char *v)
{
	size_t	n = strcspn(v, " ");

	if (v[n] != ' ' || n == 0 || n >= sizeof(e->auth_mech))
		return (-1);
	memcpy(e->auth_mech, v, n);
	e->auth_mech[n] = '\0';
	return (envelope_xtext(v + n + 1, e->auth_user,
	    sizeof(e->auth_user)));
}

/* X-Mxd-Tls: version and cipher, as mxd wrote them. */
static int
envelope_read_tls(struct envelope *e, const char *v)
{
	if (strlen(v) >= sizeof(e->tls))
		return (-1);
	snprintf(e->tls, sizeof(e->tls), "%s", v);
	return (0);
}

/* The fields, in the order they are written. */
static const struct {
	const char	*name;
	int		(*read)(struct envelope *, const char *);
} envelope_fields[] = {
	{ "X-Mxd-Queue-Id", envelope_read_qid },
	{ "X-Mxd-Arrival", envelope_read_arrival },
	{ "X-Mxd-Client", envelope_read_client },
	{ "X-Mxd-Helo", envelope_read_helo },
	{ "X-Mxd-Sender", envelope_read_sender },
	{ "X-Mxd-Recipient", envelope_read_rcpt },
	{ "X-Mxd-Auth", envelope_read_auth },
	{ "X-Mxd-Tls", envelope_read_tls },
};
#define NFIELDS	(sizeof(envelope_fields) / sizeof(envelope_fields[0]))

/* Append the strings up to a NULL to out: a line without printf. */
static void
envelope_add(struct evbuffer *out, ...)
{
	const char	*p;
	va_list		 ap;

	va_start(ap, out);
	while ((p = va_arg(ap, const char *)) != NULL)
		evbuffer_add(out, p, strlen(p));
	va_end(ap);
}

/*
 * Write e as an envelope block.  e->rcpt are the recipients; empty
 * auth_mech and tls leave their lines out.
 */
void
envelope_write(struct evbuffer *out, const struct envelope *e)
{
	char	x[SMTP_PATH_MAX * 3 + 1];
	size_t	i;

	envelope_add(out, "X-Mxd-Queue-Id: ", e->qid, "\r\nX-Mxd-Arrival: ",
	    e->arrival, "\r\n", NULL);
	evbuffer_add_printf(out, "X-Mxd-Client: [%s]:%d\r\n", e->client_addr,
	    e->client_port);
	xtext_encode(e->helo, x, sizeof(x));
	envelope_add(out, "X-Mxd-Helo: ", x, "\r\n", NULL);
	xtext_encode(e->sender, x, sizeof(x));
	envelope_add(out, "X-Mxd-Sender: <", x, ">\r\n", NULL);
	for (i = 0; i < e->nrcpt; i++) {
		xtext_encode(e->rcpt[i], x, sizeof(x));
		envelope_add(out, "X-Mxd-Recipient: <", x, ">\r\n", NULL);
	}
	if (e->auth_mech[0] != '\0') {
		xtext_encode(e->auth_user, x, sizeof(x));
		envelope_add(out, "X-Mxd-Auth: ", e->auth_mech, " ", x, "\r\n",
		    NULL);
	}
	if (e->tls[0] != '\0')
		envelope_add(out, "X-Mxd-Tls: ", e->tls, "\r\n", NULL);
}

/* Run one line of the block; 1 if it is a field, 0 if not, -1 if bad. */
static int
envelope_line(struct envelope *e, char *line)
{
	size_t	i, n;

	if (strncmp(line, "X-Mxd-", 6) != 0)
		return (0);
	for (i = 0; i < NFIELDS; i++) {
		n = strlen(envelope_fields[i].name);
		if (strncmp(line, envelope_fields[i].name, n) == 0 &&
		    line[n] == ':' && line[n + 1] == ' ')
			return (envelope_fields[i].read(e, line + n + 2) == 0 ?
			    1 : -1);
	}
	return (1);	/* a field of a later version: skipped */
}

/*
 * Read the envelope block at the start of f into e (envelope_free it);
 * f is left after the block, e->len is its length in octets.  0, or -1
 * if the block is malformed or has no queue ID or sender.
 */
int
envelope_read(FILE *f, struct envelope *e)
{
	char	line[ENVELOPE_LINE_MAX];
	size_t	n;
	long	at;
	int	rc, sender = 0;

	memset(e, 0, sizeof(*e));
	for (;;) {
		at = ftell(f);
		if (fgets(line, sizeof(line), f) == NULL)
			break;
		n = strlen(line);
		if (n < 2 || line[n - 1] != '\n' || line[n - 2] != '\r') {
			if (strncmp(line, "X-Mxd-", 6) == 0)
				goto bad;
			break;
		}
		line[n - 2] = '\0';
		if ((rc = envelope_line(e, line)) == -1)
			goto bad;
		if (rc == 0)
			break;
		sender |= strncmp(line, "X-Mxd-Sender:", 13) == 0;
		e->len += n;
	}
	if (at >= 0)
		(void)fseek(f, at, SEEK_SET);
	if (e->qid[0] == '\0' || !sender)
		goto bad;
	return (0);
bad:
	envelope_free(e);
	return (-1);
}

/* Free what envelope_read allocated. */
void
envelope_free(struct envelope *e)
{
	size_t	i;

	for (i = 0; i < e->nrcpt; i++)
		free(e->rcpt[i]);
	free(e->rcpt);
	e->rcpt = NULL;
	e->nrcpt = 0;
}

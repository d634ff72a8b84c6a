/*
 * data.c: the message body.  A byte-level decoder undoes dot-stuffing and
 * finds the end of data (RFC 5321 4.1.1.4, 4.5.2) across any split of the
 * input; the session glue streams what it emits to the spool, counts the
 * size, and prepends the envelope and the Received: trace header.
 *
 * End of data is only <CRLF>.<CRLF> (or `.` CRLF as the first line).  A
 * bare LF or bare CR is message content, never a line end, so <LF>.<LF>,
 * <CR>.<CR> and their mixtures cannot end DATA (the SMTP smuggling
 * defence); such dot lines are stored intact, dot included.  The lab-only
 * bare_lf_end setting makes a bare LF end lines too, outside the RFC.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "mxd.h"

enum {
	D_BOL,		/* at the start of a line */
	D_MID,		/* inside a line */
	D_CR,		/* after a CR inside a line */
	D_DOT,		/* after a `.` at the start of a line (held) */
	D_DOTCR,	/* after `.` CR at the start of a line (held) */
	D_END,		/* saw the end of data */
};

/* Write at most this much decoded data before handing it to the spool. */
#define DATA_FLUSH	(64 * 1024)

/* Start decoding; emit receives every octet of the message. */
void
data_dec_init(struct data_dec *d, int lax,
    void (*emit)(void *, const char *, size_t), void *arg)
{
	d->state = D_BOL;
	d->lax = lax;
	d->bare = 0;
	d->emit = emit;
	d->arg = arg;
}

/* Emit the octets p[from..to) if there are any. */
static void
data_span(struct data_dec *d, const char *p, size_t from, size_t to)
{
	if (to > from)
		d->emit(d->arg, p + from, to - from);
}

/* The index of the first CR or LF in p[from..len), or len. */
static size_t
data_line_end(const char *p, size_t from, size_t len)
{
	const char	*cr, *lf;

	cr = memchr(p + from, '\r', len - from);
	lf = memchr(p + from, '\n', (cr != NULL ? (size_t)(cr - p) : len) -
	    from);
	if (lf != NULL)
		return ((size_t)(lf - p));
	return (cr != NULL ? (size_t)(cr - p) : len);
}

/*
 * Decode len octets.  Returns 1 when the end of data was found, with
 * *used the octets consumed up to and including it; otherwise 0 with
 * *used = len.  Octets are emitted in order, in as few spans as possible.
 */
int
data_dec_feed(struct data_dec *d, const char *p, size_t len, size_t *used)
{
	size_t	i, start = 0;
	char	c;

	for (i = 0; i < len; i++) {
		c = p[i];
		switch (d->state) {
		case D_MID:
			/* Most octets are here: let memchr find the line end. */
			if ((i = data_line_end(p, i, len)) == len)
				break;
			c = p[i];
			if (c == '\r')
				d->state = D_CR;
			else {
				d->bare = 1;
				d->state = d->lax ? D_BOL : D_MID;
			}
			break;
		case D_CR:
			if (c == '\n')
				d->state = D_BOL;
			else {
				d->bare = 1;	/* the CR before c was bare */
				d->state = c == '\r' ? D_CR : D_MID;
			}
			break;
		case D_BOL:
			if (c == '.') {
				/* Hold the dot until we know what it is. */
				data_span(d, p, start, i);
				start = i + 1;
				d->state = D_DOT;
			} else if (c == '\r')
				d->state = D_CR;
			else if (c == '\n') {
				d->bare = 1;
				d->state = d->lax ? D_BOL : D_MID;
			} else
				d->state = D_MID;
			break;
		case D_DOT:
			if (c == '\r') {
				start = i + 1;
				d->state = D_DOTCR;
			} else if (c == '\n' && d->lax)
				goto end;
			else if (c == '\n') {
				/* `.` then bare LF: content, stored intact. */
				d->emit(d->arg, ".", 1);
				d->bare = 1;
				d->state = D_MID;
			} else {
				/* RFC 5321 4.5.2: remove one leading dot. */
				d->state = D_MID;
				i--;
			}
			break;
		case D_DOTCR:
			if (c == '\n')
				goto end;
			/* `.` then bare CR: content, stored intact. */
			d->emit(d->arg, ".\r", 2);
			d->bare = 1;
			start = i;
			d->state = c == '\r' ? D_CR : D_MID;
			break;
		default:
			fatalx("data_dec_feed: fed after the end");
		}
	}
	data_span(d, p, start, len);
	*used = len;
	return (0);
end:
	d->state = D_END;
	*used = i + 1;
	return (1);
}

/* Decoder output: count it, keep it unless the message is refused. */
static void
data_emit(void *arg, const char *p, size_t n)
{
	struct tx	*tx = arg;

	if (tx->toobig || tx->ioerr)
		return;
	/*
	 * A message whose first line begins with white space would continue
	 * our Received: field (RFC 5322 2.2.3 unfolding) and put client bytes
	 * into it.  Such a line cannot start a header, so, as Postfix's smtpd
	 * and qmqpd do, end our header block with an empty line: the client's
	 * octets follow unchanged, as a message with no header of its own.
	 */
	if (tx->size == 0 && n > 0 && (p[0] == ' ' || p[0] == '\t'))
		evbuffer_add(tx->body, "\r\n", 2);
	tx->size += n;
	if (tx->size > cfg->max_message_size) {
		/* RFC 1870: keep reading to the end, keep nothing. */
		tx->toobig = 1;
		evbuffer_drain(tx->body, evbuffer_get_length(tx->body));
		return;
	}
	evbuffer_add(tx->body, p, n);
}

/*
 * Can this recipient go into the Received: `for` clause as it is?  Only
 * printable ASCII without the octets that could end the angle-addr, open
 * a comment, quote, or end the clause (`;`); otherwise the optional
 * clause (RFC 5321 4.4) is left out rather than altered.
 */
static int
data_header_plain(const char *addr)
{
	for (; *addr != '\0'; addr++)
		if ((unsigned char)*addr <= 32 || (unsigned char)*addr >= 127 ||
		    strchr("()\\;<>\",", *addr) != NULL)
			return (0);
	return (1);
}

/* Copy a client-chosen name into a header, replacing unsafe octets. */
static void
data_header_safe(const char *src, char *dst, size_t dstsz)
{
	size_t	i;

	for (i = 0; src[i] != '\0' && i + 1 < dstsz; i++)
		dst[i] = (src[i] > 32 && src[i] < 127 &&
		    strchr("()\\;<>\"", src[i]) == NULL) ? src[i] : '_';
	dst[i] = '\0';
}

/*
 * The `with` protocol: SMTP, or ESMTP with S for TLS and A for AUTH
 * (RFC 3848), or UTF8SMTP with the same for SMTPUTF8 mail (RFC 6531).
 */
static const char *
data_protocol(const struct session *s)
{
	static const char *const names[2][4] = {
		{ "ESMTP", "ESMTPS", "ESMTPA", "ESMTPSA" },
		{ "UTF8SMTP", "UTF8SMTPS", "UTF8SMTPA", "UTF8SMTPSA" },
	};

	if (!(s->flags & SESSION_F_ESMTP))
		return ("SMTP");
	return (names[s->tx != NULL && s->tx->params.smtputf8]
	    [((s->flags & SESSION_F_TLS) ? 1 : 0) +
	    ((s->flags & SESSION_F_AUTH) ? 2 : 0)]);
}

/* Write the envelope block and the RFC 5321 4.4 Received: header. */
static void
data_header(struct session *s)
{
	struct tx	*tx = s->tx;
	char		 date[64], iso[32], helo[256], x[SMTP_PATH_MAX * 3 + 1];
	time_t		 now = time(NULL);
	struct tm	 tm;
	size_t		 i;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	gmtime_r(&now, &tm);
	strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* The envelope: one field per line, values xtext-encoded. */
	evbuffer_add_printf(tx->body, "X-Mxd-Queue-Id: %s\r\n"
	    "X-Mxd-Arrival: %s\r\n", tx->qid, iso);
	evbuffer_add_printf(tx->body, "X-Mxd-Client: [%s]:%d\r\n",
	    s->addr, s->port);
	xtext_encode(s->helo, x, sizeof(x));
	evbuffer_add_printf(tx->body, "X-Mxd-Helo: %s\r\n", x);
	xtext_encode(tx->sender, x, sizeof(x));
	evbuffer_add_printf(tx->body, "X-Mxd-Sender: <%s>\r\n", x);
	for (i = 0; i < tx->nrcpt; i++) {
		xtext_encode(tx->rcpt[i], x, sizeof(x));
		evbuffer_add_printf(tx->body, "X-Mxd-Recipient: <%s>\r\n", x);
	}
	if (s->auth_user != NULL) {
		xtext_encode(s->auth_user, x, sizeof(x));
		evbuffer_add_printf(tx->body, "X-Mxd-Auth: %s %s\r\n",
		    s->auth_mech, x);
	}
	if (s->tls_info[0] != '\0')
		evbuffer_add_printf(tx->body, "X-Mxd-Tls: %s\r\n", s->tls_info);
	data_header_safe(s->helo, helo, sizeof(helo));
	/* RFC 5321 4.1.3: an IPv6 address literal is tagged "IPv6:". */
	evbuffer_add_printf(tx->body, "Received: from %s ([%s%s])\r\n",
	    helo, strchr(s->addr, ':') != NULL ? "IPv6:" : "", s->addr);
	if (s->tls_info[0] != '\0')
		evbuffer_add_printf(tx->body, "\t(using %s)\r\n", s->tls_info);
	if (s->auth_user != NULL) {
		data_header_safe(s->auth_user, x, sizeof(x));
		evbuffer_add_printf(tx->body, "\t(authenticated as %s "
		    "with %s)\r\n", x, s->auth_mech);
	}
	evbuffer_add_printf(tx->body, "\tby %s (mxd) with %s id %s",
	    cfg->hostname, data_protocol(s), tx->qid);
	if (tx->nrcpt == 1 && !tx->params.smtputf8 &&
	    data_header_plain(tx->rcpt[0]))
		evbuffer_add_printf(tx->body, "\r\n\tfor <%s>", tx->rcpt[0]);
	evbuffer_add_printf(tx->body, ";\r\n\t%s\r\n", date);
}

/* Begin DATA: open the spool file and write the headers; 0 or -1. */
int
data_start(struct session *s)
{
	struct tx	*tx = s->tx;

	if ((tx->sf = spool_create(tx->qid)) == NULL) {
		reply(s, errno == ENOSPC || errno == EDQUOT ?
		    R_SPOOL_FULL : R_SPOOL_ERROR);
		return (-1);
	}
	tx->body = evbuffer_new();
	if (tx->body == NULL)
		fatal("evbuffer_new");
	tx->size = 0;
	tx->toobig = tx->ioerr = 0;
	tx->deadline = time(NULL) + cfg->data_timeout;
	tx->credit = 0;
	data_header(s);
	data_dec_init(&tx->dec, cfg->bare_lf_end &&
	    (s->flags & SESSION_F_BARE_LF), data_emit, tx);
	return (0);
}

/* Hand what is buffered to the spool; remember a write error. */
static void
data_flush(struct tx *tx)
{
	if (tx->toobig || tx->ioerr || evbuffer_get_length(tx->body) == 0)
		return;
	if (spool_write(tx->sf, tx->body) != 0)
		tx->ioerr = errno ? errno : EIO;
}

/* The spool answered: the message is durable (err 0) or not. */
static void
data_committed_cb(void *arg, int err)
{
	struct session	*s = arg;
	struct tx	*tx = s->tx;
	size_t		 i;

	tx->sf = NULL;		/* spool_commit() consumed it */
	if (err == 0) {
		log_info("s=%08llx qid=%s from=<%s> size=%zu nrcpt=%zu "
		    "proto=%s%s%s%s%s%s%s%s queued",
		    (unsigned long long)s->id,
		    tx->qid, log_str(tx->sender), tx->size, tx->nrcpt,
		    data_protocol(s), s->tls_info[0] ? " tls=\"" : "",
		    s->tls_info, s->tls_info[0] ? "\"" : "",
		    s->auth_user ? " sasl_method=" : "",
		    s->auth_user ? s->auth_mech : "",
		    s->auth_user ? " sasl_username=" : "",
		    s->auth_user ? log_str(s->auth_user) : "");
		for (i = 0; i < tx->nrcpt; i++)
			log_info("s=%08llx qid=%s to=<%s>",
			    (unsigned long long)s->id, tx->qid,
			    log_str(tx->rcpt[i]));
		session_queued(s, tx->qid);
	} else {
		errno = err;
		log_warn("s=%08llx qid=%s commit failed",
		    (unsigned long long)s->id, tx->qid);
	}
	session_data_done(s, err == 0 ? R_QUEUED : err == ENOSPC ||
	    err == EDQUOT ? R_SPOOL_FULL : R_SPOOL_ERROR);
}

/* The end of data arrived: refuse, or commit and wait for the disk. */
static void
data_end(struct session *s)
{
	struct tx	*tx = s->tx;

	if (tx->toobig || tx->ioerr) {
		spool_abort(tx->sf);
		tx->sf = NULL;
		log_info("s=%08llx qid=%s rejected size=%zu reason=%s",
		    (unsigned long long)s->id, tx->qid, tx->size,
		    tx->toobig ? "too-big" : strerror(tx->ioerr));
		session_data_done(s, tx->toobig ? R_MSG_TOO_BIG :
		    (tx->ioerr == ENOSPC || tx->ioerr == EDQUOT) ?
		    R_SPOOL_FULL : R_SPOOL_ERROR);
		return;
	}
	session_park(s);
	/*
	 * The spool writes what is left of the body.  With no other
	 * client connected, nobody could use the loop while the spool's
	 * thread works: the loop may commit the message itself.
	 */
	spool_commit(tx->sf, tx->body, session_count() <= 1 ?
	    SPOOL_F_INLINE_OK : 0, data_committed_cb, s);
}

/*
 * Is the message arriving too slowly?  data_timeout restarts with every
 * read, so a client dripping an octet a minute would hold its connection
 * for ever (slowloris).  As Postfix's smtpd_min_data_rate: the message
 * has a deadline, data_timeout after DATA, pushed back a second for every
 * data_min_rate octets received, but never more than data_timeout ahead.
 */
static int
data_too_slow(struct tx *tx, size_t n)
{
	time_t	now;

	if (cfg->data_min_rate == 0)
		return (0);
	now = time(NULL);
	tx->credit += n;
	tx->deadline += (time_t)(tx->credit / (size_t)cfg->data_min_rate);
	tx->credit %= (size_t)cfg->data_min_rate;
	if (tx->deadline > now + cfg->data_timeout)
		tx->deadline = now + cfg->data_timeout;
	return (now > tx->deadline);
}

/* Feed what the client sent to the decoder; stop at the end of data. */
void
data_input(struct session *s, struct evbuffer *in)
{
	struct tx		*tx = s->tx;
	struct evbuffer_iovec	 v[8];
	size_t			 used, total = 0;
	int			 n, i, done = 0;

	if (data_too_slow(tx, evbuffer_get_length(in))) {
		log_info("s=%08llx qid=%s slow data client=[%s]:%d size=%zu",
		    (unsigned long long)s->id, tx->qid, s->addr, s->port,
		    tx->size);
		session_timeout(s);
		return;
	}
	n = evbuffer_peek(in, -1, NULL, v, 8);
	for (i = 0; i < n && i < 8 && !done; i++) {
		done = data_dec_feed(&tx->dec, v[i].iov_base, v[i].iov_len,
		    &used);
		total += used;
	}
	evbuffer_drain(in, total);
	if (evbuffer_get_length(tx->body) >= DATA_FLUSH)
		data_flush(tx);
	if (done)
		data_end(s);
}

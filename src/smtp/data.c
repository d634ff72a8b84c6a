/*
 * data.c: DATA's framing.  A byte-level decoder undoes dot-stuffing and
 * finds the end of data (RFC 5321 4.1.1.4, 4.5.2) across any split of the
 * input, and hands what it emits to the message (message.c); a deadline
 * cuts off a message that drips in (data_min_rate).
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

#include "smtp.h"

enum {
	D_BOL,		/* at the start of a line */
	D_MID,		/* inside a line */
	D_CR,		/* after a CR inside a line */
	D_DOT,		/* after a `.` at the start of a line (held) */
	D_DOTCR,	/* after `.` CR at the start of a line (held) */
	D_END,		/* saw the end of data */
};


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

/* Decoder output goes to the message. */
static void
data_emit(void *arg, const char *p, size_t n)
{
	message_append(arg, p, n);
}

/* Begin DATA: the message, the decoder, the slow-data deadline. */
int
data_start(struct session *s)
{
	struct tx	*tx = s->tx;

	if (message_begin(s) != 0)
		return (-1);
	tx->deadline = time(NULL) + cfg->data_timeout;
	tx->credit = 0;
	data_dec_init(&tx->dec, cfg->bare_lf_end &&
	    (s->flags & SESSION_F_BARE_LF), data_emit, tx);
	return (0);
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
	if (done)
		message_end(s);
}

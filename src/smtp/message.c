/*
 * message.c: a transaction's message, whatever frames it (DATA's dot
 * decoder today, BDAT chunks later).  message_begin() opens a spool file
 * and writes what goes before the client's octets: the envelope block
 * (store/envelope.c) and the RFC 5321 4.4 Received: field.
 * message_append() counts and buffers octets against max_message_size
 * and streams them to the spool; message_end() refuses the message or
 * commits it, parks the session, and answers once the disk has (the 250
 * comes only after the message is durable).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "smtp.h"

/* Write at most this much of the message before handing it to the spool. */
#define MESSAGE_FLUSH	(64 * 1024)

static void	message_flush(struct tx *);
static void	message_add(struct evbuffer *, ...)
		    __attribute__((__sentinel__));

/*
 * Can this recipient go into the Received: `for` clause as it is?  Only
 * printable ASCII without the octets that could end the angle-addr, open
 * a comment, quote, or end the clause (`;`); otherwise the optional
 * clause (RFC 5321 4.4) is left out rather than altered.
 */
static int
message_header_plain(const char *addr)
{
	for (; *addr != '\0'; addr++)
		if ((unsigned char)*addr <= 32 || (unsigned char)*addr >= 127 ||
		    strchr("()\\;<>\",", *addr) != NULL)
			return (0);
	return (1);
}

/* Append the strings up to a NULL to buf: header text without printf. */
static void
message_add(struct evbuffer *buf, ...)
{
	const char	*p;
	va_list		 ap;

	va_start(ap, buf);
	while ((p = va_arg(ap, const char *)) != NULL)
		evbuffer_add(buf, p, strlen(p));
	va_end(ap);
}

/* Copy src into dst (size len > 0), cut to fit and NUL-terminated. */
static void
message_copy(char *dst, size_t len, const char *src)
{
	size_t	n = strnlen(src, len - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Write the transaction's envelope block (store/envelope.c). */
static void
message_envelope(struct session *s, const char *arrival)
{
	struct tx	*tx = s->tx;
	struct envelope	 e;

	memset(&e, 0, sizeof(e));
	memcpy(e.qid, tx->qid, sizeof(e.qid));
	message_copy(e.arrival, sizeof(e.arrival), arrival);
	memcpy(e.client_addr, s->addr, sizeof(e.client_addr));
	e.client_port = s->port;
	message_copy(e.helo, sizeof(e.helo), s->helo);
	message_copy(e.sender, sizeof(e.sender), tx->sender);
	e.rcpt = tx->rcpt;
	e.nrcpt = tx->nrcpt;
	if (s->auth_user != NULL) {
		message_copy(e.auth_mech, sizeof(e.auth_mech), s->auth_mech);
		message_copy(e.auth_user, sizeof(e.auth_user), s->auth_user);
	}
	memcpy(e.tls, s->tls_info, sizeof(e.tls));
	envelope_write(tx->body, &e);
}

/* Copy a client-chosen name into a header, replacing unsafe octets. */
static void
message_header_safe(const char *src, char *dst, size_t dstsz)
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
message_protocol(const struct session *s)
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

/*
 * The arrival time, now: the RFC 5322 date of the Received: field (local
 * time) and the RFC 3339 UTC time of the envelope.  Formatted once a
 * second, not once a message.
 */
static void
message_dates(const char **date, const char **iso)
{
	static time_t	 last = -1;
	static char	 d[64], i[32];
	time_t		 now = time(NULL);
	struct tm	 tm;

	if (now != last) {
		localtime_r(&now, &tm);
		strftime(d, sizeof(d), "%a, %d %b %Y %H:%M:%S %z", &tm);
		gmtime_r(&now, &tm);
		strftime(i, sizeof(i), "%Y-%m-%dT%H:%M:%SZ", &tm);
		last = now;
	}
	*date = d;
	*iso = i;
}

/* Write the envelope block and the RFC 5321 4.4 Received: header. */
static void
message_header(struct session *s)
{
	struct tx	*tx = s->tx;
	char		 helo[256], x[SMTP_PATH_MAX * 3 + 1];
	const char	*date, *iso;

	message_dates(&date, &iso);
	message_envelope(s, iso);
	message_header_safe(s->helo, helo, sizeof(helo));
	/* RFC 5321 4.1.3: an IPv6 address literal is tagged "IPv6:". */
	message_add(tx->body, "Received: from ", helo, " ([",
	    strchr(s->addr, ':') != NULL ? "IPv6:" : "", s->addr, "])\r\n",
	    NULL);
	if (s->tls_info[0] != '\0')
		message_add(tx->body, "\t(using ", s->tls_info, ")\r\n", NULL);
	if (s->auth_user != NULL) {
		message_header_safe(s->auth_user, x, sizeof(x));
		message_add(tx->body, "\t(authenticated as ", x, " with ",
		    s->auth_mech, ")\r\n", NULL);
	}
	message_add(tx->body, "\tby ", cfg->hostname, " (mxd) with ",
	    message_protocol(s), " id ", tx->qid, NULL);
	if (tx->nrcpt == 1 && !tx->params.smtputf8 &&
	    message_header_plain(tx->rcpt[0]))
		message_add(tx->body, "\r\n\tfor <", tx->rcpt[0], ">", NULL);
	message_add(tx->body, ";\r\n\t", date, "\r\n", NULL);
}

/*
 * Begin a message: a spool file, and the envelope block and Received:
 * field written ahead of the client's octets; 0, or -1 after the reply
 * (452 or 451) when the spool cannot take it.
 */
int
message_begin(struct session *s)
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
	message_header(s);
	return (0);
}

/* Hand what is buffered to the spool; remember a write error. */
static void
message_flush(struct tx *tx)
{
	if (tx->toobig || tx->ioerr || evbuffer_get_length(tx->body) == 0)
		return;
	if (spool_write(tx->sf, tx->body) != 0)
		tx->ioerr = errno ? errno : EIO;
}

/* The spool answered: the message is durable (err 0) or not. */
static void
message_committed_cb(void *arg, int err)
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
		    message_protocol(s), s->tls_info[0] ? " tls=\"" : "",
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
	if (err == 0)
		stats_accepted(tx->size);
	/* Stopping (SIGTERM came before this commit ended): no delay. */
	if (err == 0 && tx->fault.kind == FAULT_DELAY &&
	    !(s->flags & (SESSION_F_GONE | SESSION_F_SHUTDOWN))) {
		log_info("s=%08llx qid=%s fault delay=%us",
		    (unsigned long long)s->id, tx->qid, tx->fault.delay);
		session_fault_delay(s, tx->fault.delay);
		return;
	}
	session_data_done(s, err == 0 ? R_QUEUED : err == ENOSPC ||
	    err == EDQUOT ? R_SPOOL_FULL : R_SPOOL_ERROR);
}

/*
 * sink_faults: a recipient asked for this message to fail after its
 * data.  Nothing is stored; the client hears the reply asked for, or,
 * for +drop, nothing: the connection closes.
 */
static void
message_fault(struct session *s)
{
	struct tx	*tx = s->tx;

	spool_abort(tx->sf);
	tx->sf = NULL;
	if (tx->fault.kind == FAULT_DROP) {
		log_info("s=%08llx qid=%s fault drop size=%zu; nothing kept",
		    (unsigned long long)s->id, tx->qid, tx->size);
		session_tx_free(s);
		s->quit_reason = "fault-drop";
		session_enter_state(s, STATE_QUIT);
		return;
	}
	log_info("s=%08llx qid=%s fault data reply=%d size=%zu; nothing kept",
	    (unsigned long long)s->id, tx->qid, reply_row(tx->fault.reply)->code,
	    tx->size);
	session_data_done(s, tx->fault.reply);
}

/*
 * The whole message is here: refuse it (too big, a write error), or
 * commit it and park the session until the disk answers.
 */
void
message_end(struct session *s)
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
	if (tx->fault.kind == FAULT_DATA || tx->fault.kind == FAULT_DROP) {
		message_fault(s);
		return;
	}
	session_park(s);
	/*
	 * The spool writes what is left of the body.  With no other
	 * client connected, nobody could use the loop while the spool's
	 * thread works: the loop may commit the message itself.
	 */
	spool_commit(tx->sf, tx->body, session_count() <= 1 ?
	    SPOOL_F_INLINE_OK : 0, message_committed_cb, s);
}

/*
 * Append n octets of the message: count them against max_message_size
 * (RFC 1870: past it, keep reading to the end but keep nothing), and
 * hand the buffer to the spool every MESSAGE_FLUSH octets.
 */
void
message_append(struct tx *tx, const char *p, size_t n)
{
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
	if (evbuffer_get_length(tx->body) >= MESSAGE_FLUSH)
		message_flush(tx);
}

/*
 * session.c: one SMTP session per connection on a libevent bufferevent.
 * It owns the connection's lifecycle: greeting, timeouts, the input loop
 * that hands complete command lines to command.c or message octets to
 * data.c, parking while the spool makes a message durable, flow control
 * when a client will not read its replies, and the disconnect summary.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "mxd.h"

#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>

/* Read no more than this before the session consumes it. */
#define SESSION_READ_HIWAT	(256 * 1024)
/* Stop reading commands while this much output is unsent. */
#define SESSION_OUT_MAX		(64 * 1024)
/* Seconds to wait for the client's close after our last reply. */
#define SESSION_LINGER		2
/* Queue IDs remembered for the disconnect line. */
#define SESSION_QIDS		8

static struct session	*sessions;
static unsigned		 session_n;
static uint64_t		 session_next_id;
/* Plain sessions with replies to write at the end of this loop pass. */
static struct session	*session_flushq;
static struct event	*session_flush_ev;

static const char *const state_names[] = {
	"CONNECTED", "READY", "MAIL", "RCPT", "DATA", "QUIT"
};

static void	session_process(struct session *);
static void	session_free(struct session *);
static void	session_set_bev(struct session *, struct bufferevent *);
static void	session_starttls_switch(struct session *);
static void	session_write_cb(struct bufferevent *, void *);
static void	session_linger(struct session *);
static void	session_end(struct session *, const char *);
static void	session_linger_read(struct session *);

/* Move to a new state; the only place the state changes. */
void
session_enter_state(struct session *s, enum session_state st)
{
	struct timeval	tv = { 0, 0 };

	if (s->state == st)
		return;
	log_debug("s=%08llx state %s -> %s", (unsigned long long)s->id,
	    state_names[s->state], state_names[st]);
	s->state = st;
	tv.tv_sec = st == STATE_DATA ? cfg->data_timeout :
	    cfg->command_timeout;
	if (s->bev != NULL)
		bufferevent_set_timeouts(s->bev, &tv, &tv);
}

/*
 * Queue bytes for the client.  On a plain connection whose bufferevent
 * has nothing unsent, they wait in s->pend, and session_flush_cb writes
 * them straight to the socket at the end of the loop pass: one write
 * for every reply of the pass, and none of the epoll_ctl calls and
 * wake-ups the bufferevent's write event costs per reply.  s is on the
 * flush queue exactly while s->pend holds something.
 */
void
session_write(struct session *s, const char *buf, size_t len)
{
	if (s->bev == NULL)
		return;
	if (s->pend == NULL || (evbuffer_get_length(s->pend) == 0 &&
	    evbuffer_get_length(bufferevent_get_output(s->bev)) > 0)) {
		bufferevent_write(s->bev, buf, len);
		return;
	}
	if (evbuffer_get_length(s->pend) == 0) {
		s->flush_next = session_flushq;
		session_flushq = s;
		event_active(session_flush_ev, EV_TIMEOUT, 0);
	}
	evbuffer_add(s->pend, buf, len);
}

/* Unsent octets, in s->pend and in the bufferevent. */
static size_t
session_unsent(struct session *s)
{
	return (evbuffer_get_length(bufferevent_get_output(s->bev)) +
	    (s->pend != NULL ? evbuffer_get_length(s->pend) : 0));
}

/*
 * Write s->pend to the socket.  What the socket does not take goes to
 * the bufferevent, which writes it as the client reads and then calls
 * session_write_cb; when everything left, call it here.
 */
static void
session_flush(struct session *s)
{
	evutil_socket_t	fd = bufferevent_getfd(s->bev);

	while (evbuffer_get_length(s->pend) > 0)
		if (evbuffer_write(s->pend, fd) <= 0)
			break;	/* EAGAIN or an error: the bufferevent sees it */
	if (evbuffer_get_length(s->pend) > 0) {
		bufferevent_write_buffer(s->bev, s->pend);
		return;
	}
	session_write_cb(s->bev, s);
}

/* End of the loop pass: write every session's replies. */
static void
session_flush_cb(evutil_socket_t fd, short events, void *arg)
{
	struct session	*s;

	while ((s = session_flushq) != NULL) {
		session_flushq = s->flush_next;
		s->flush_next = NULL;
		session_flush(s);
	}
}

/* The connection is going: drop unsent replies, leave the flush queue. */
static void
session_unflush(struct session *s)
{
	struct session	**pp;

	if (s->pend == NULL)
		return;
	if (evbuffer_get_length(s->pend) > 0)
		for (pp = &session_flushq; *pp != NULL;
		    pp = &(*pp)->flush_next)
			if (*pp == s) {
				*pp = s->flush_next;
				break;
			}
	evbuffer_free(s->pend);
	s->pend = NULL;
}

/* Free the transaction; an unfinished message leaves nothing behind. */
void
session_tx_free(struct session *s)
{
	struct tx	*tx = s->tx;
	size_t		 i;

	if (tx == NULL)
		return;
	spool_abort(tx->sf);
	for (i = 0; i < tx->nrcpt; i++)
		free(tx->rcpt[i]);
	free(tx->rcpt);
	if (tx->body != NULL)
		evbuffer_free(tx->body);
	free(tx);
	s->tx = NULL;
}

/* Remember a queued message for the disconnect line. */
void
session_queued(struct session *s, const char *qid)
{
	size_t	len = strlen(s->qids);

	s->nqueued++;
	if (s->nqueued > SESSION_QIDS)
		return;
	snprintf(s->qids + len, sizeof(s->qids) - len, "%s%s",
	    len ? "," : "", qid);
}

/* Stop reading until the spool answers (data_committed_cb). */
void
session_park(struct session *s)
{
	s->flags |= SESSION_F_WAIT;
	bufferevent_disable(s->bev, EV_READ);
}

/*
 * The end of a message: reply with its fate, return to READY, and go on
 * with whatever the client pipelined after it.
 */
void
session_data_done(struct session *s, enum reply_id id)
{
	int	parked = s->flags & SESSION_F_WAIT;

	s->flags &= ~SESSION_F_WAIT;
	if (s->flags & SESSION_F_GONE) {
		session_free(s);
		return;
	}
	if (id == R_QUEUED)
		reply(s, id, s->tx->qid);
	else if (id == R_MSG_TOO_BIG)
		reply(s, id, cfg->max_message_size);
	else
		reply(s, id);
	session_tx_free(s);
	if (s->state == STATE_DATA)
		session_enter_state(s, STATE_READY);
	if (s->flags & SESSION_F_SHUTDOWN) {
		s->line[0] = '\0';
		reply(s, R_SHUTDOWN, cfg->hostname);
		return;
	}
	if (parked) {
		/* Called from the spool, not from session_process(). */
		bufferevent_enable(s->bev, EV_READ);
		session_process(s);
	}
}

/* Skip the rest of an overlong line; return 1 when its end was seen. */
static int
session_discard(struct session *s, struct evbuffer *in)
{
	struct evbuffer_ptr	lf;

	lf = evbuffer_search(in, "\n", 1, NULL);
	if (lf.pos < 0) {
		s->discarded += evbuffer_get_length(in);
		evbuffer_drain(in, evbuffer_get_length(in));
		if (s->discarded > SMTP_LINE_FLOOD) {
			s->line[0] = '\0';
			reply(s, R_LINE_FLOOD, cfg->hostname, s->discarded);
		}
		return (0);
	}
	evbuffer_drain(in, (size_t)lf.pos + 1);
	s->flags &= ~SESSION_F_DISCARD;
	s->discarded = 0;
	return (1);
}

/*
 * Part of a command line is here.  A line must be complete within
 * command_timeout of its first octet, however slowly it drips in (the
 * read timeout alone restarts with every octet: slowloris).  Returns 0.
 */
static int
session_slow_line(struct session *s)
{
	time_t	now = time(NULL);

	if (s->partial_since == 0)
		s->partial_since = now;
	else if (now - s->partial_since > cfg->command_timeout) {
		log_info("s=%08llx slow command line client=[%s]:%d",
		    (unsigned long long)s->id, s->addr, s->port);
		session_timeout(s);
	}
	return (0);
}

/* The client took too long: stop reading, say 421, close. */
void
session_timeout(struct session *s)
{
	bufferevent_disable(s->bev, EV_READ);
	s->line[0] = '\0';	/* no command caused this */
	reply(s, R_TIMEOUT, cfg->hostname);
}

/*
 * Does a TLS record (a ClientHello: content type 22, version 3.x) start
 * where a command should, on a plaintext session?  Someone pointed a TLS
 * client at the wrong port; its bytes are not commands.
 */
static int
session_tls_hello(const struct session *s, struct evbuffer *in)
{
	unsigned char	h[2];

	if (s->flags & SESSION_F_TLS || s->kind == LISTEN_SMTPS ||
	    evbuffer_copyout(in, h, 2) != 2)
		return (0);
	return (h[0] == 0x16 && h[1] == 0x03);
}

/*
 * Is the next line an AUTH line: a response in an exchange, or an AUTH
 * command (with perhaps an initial response)?  Those may be longer than
 * a command line (RFC 4954 4).  A line too short to tell is not: it
 * fits in a command line anyway.
 */
static int
session_auth_line(const struct session *s, struct evbuffer *in)
{
	char	h[5];

	if (s->flags & SESSION_F_AUTH_CONT)
		return (1);
	if (evbuffer_copyout(in, h, sizeof(h)) != (ev_ssize_t)sizeof(h))
		return (0);
	return (strncasecmp(h, "AUTH", 4) == 0 && (h[4] == ' ' ||
	    h[4] == '\t'));
}

/*
 * Forget the AUTH line buffer unless an exchange goes on: sessions that
 * are not in AUTH do not carry 12 KiB each.
 */
static void
session_auth_line_free(struct session *s)
{
	if (s->auth_line == NULL || (s->flags & SESSION_F_AUTH_CONT))
		return;
	explicit_bzero(s->auth_line, SMTP_AUTH_LINE_MAX + 3);
	free(s->auth_line);
	s->auth_line = NULL;
}

/* Read one command line and dispatch it; 0 when more input is needed. */
static int
session_command(struct session *s, struct evbuffer *in)
{
	enum line_status	 st;
	size_t			 len;
	char			*buf = s->line;
	int			 bare, authline;

	if ((s->flags & SESSION_F_DISCARD) && !session_discard(s, in))
		return (0);
	if (session_tls_hello(s, in)) {
		s->line[0] = '\0';
		/* Point only to the TLS this server has. */
		reply(s, R_NOT_SMTP, cfg->hostname, !tls_enabled() ?
		    "a TLS handshake, and this server has no TLS" :
		    cfg->smtps_listen.n == 0 ? "a TLS handshake: use STARTTLS" :
		    "a TLS handshake: use STARTTLS, or implicit TLS on the "
		    "smtps port");
		return (1);
	}
	if ((authline = session_auth_line(s, in))) {
		if (s->auth_line == NULL)
			s->auth_line = xmalloc(SMTP_AUTH_LINE_MAX + 3);
		buf = s->auth_line;
	}
	st = line_get(in, buf, authline ? SMTP_AUTH_LINE_MAX + 2 :
	    SMTP_CMD_MAX, &len, &bare);
	if (st != LINE_OK)
		session_auth_line_free(s);
	switch (st) {
	case LINE_PARTIAL:
		return (session_slow_line(s));
	case LINE_TOO_LONG:
		s->line[0] = '\0';
		s->flags |= SESSION_F_DISCARD;
		if (authline)
			auth_abort(s);
		else
			reply(s, R_LINE_TOO_LONG);
		session_auth_line_free(s);
		return (1);
	case LINE_OK:
		s->partial_since = 0;
		break;
	}
	if (bare)
		s->flags |= SESSION_F_BARE_LF;
	if (s->flags & SESSION_F_AUTH_CONT) {
		/* An AUTH response: never let it reach a log line. */
		snprintf(s->line, sizeof(s->line), "(AUTH response)");
		auth_continue(s, buf);
	} else if (authline) {
		/* For the log: command_dispatch() masks the secret. */
		memcpy(s->line, buf, len < SMTP_CMD_MAX ? len : SMTP_CMD_MAX);
		s->line[len < SMTP_CMD_MAX ? len : SMTP_CMD_MAX] = '\0';
		command_dispatch(s, buf, len);
	} else
		command_dispatch(s, s->line, len);
	session_auth_line_free(s);
	return (1);
}

/* Consume input until it runs out or the session must wait. */
static void
session_process(struct session *s)
{
	struct evbuffer	*in = bufferevent_get_input(s->bev);

	while (!(s->flags & (SESSION_F_WAIT | SESSION_F_GONE |
	    SESSION_F_TARPIT | SESSION_F_STARTTLS)) &&
	    s->state != STATE_QUIT && evbuffer_get_length(in) > 0) {
		if (session_unsent(s) > SESSION_OUT_MAX) {
			/* The client is not reading; resume on drain. */
			s->flags |= SESSION_F_FLOW;
			bufferevent_disable(s->bev, EV_READ);
			return;
		}
		if (s->state == STATE_DATA)
			data_input(s, in);
		else if (!session_command(s, in))
			break;
	}
}

/* A client talked before the greeting: log it, maybe refuse it. */
static void
session_pregreet(struct session *s)
{
	struct evbuffer	*in = bufferevent_get_input(s->bev);
	size_t		 n = evbuffer_get_length(in);

	log_info("s=%08llx pregreet client=[%s]:%d octets=%zu%s",
	    (unsigned long long)s->id, s->addr, s->port, n,
	    cfg->pregreet_reject ? " rejected" : "");
	if (!cfg->pregreet_reject) {
		/* Keep the bytes for after the greeting; read no more. */
		bufferevent_disable(s->bev, EV_READ);
		return;
	}
	evtimer_del(s->tarpit);
	s->flags &= ~(SESSION_F_TARPIT | SESSION_F_PREGREET);
	evbuffer_drain(in, n);
	bufferevent_disable(s->bev, EV_READ);
	reply(s, R_PREGREET, cfg->hostname);
}

/* Input arrived. */
static void
session_read_cb(struct bufferevent *bev, void *arg)
{
	struct session	*s = arg;

	if (s->flags & SESSION_F_LINGER) {
		session_linger_read(s);
		return;
	}
	if (s->flags & SESSION_F_PREGREET) {
		session_pregreet(s);
		return;
	}
	session_process(s);
}

/*
 * The last reply is out of mxd's buffers: end the connection so that
 * the client gets every byte of it.  Under TLS send close_notify (RFC
 * 8446 6.1), then half-close (FIN after the data), and read and discard
 * until the client closes too, for at most SESSION_LINGER seconds.
 * Closing at once with client bytes still unread would make the kernel
 * send a reset, which can destroy replies the client has not read yet
 * (RFC 1122 4.2.2.13): a client that pipelined past its 421, or whose
 * own close_notify crosses ours.
 */
static void
session_linger(struct session *s)
{
	struct timeval	 tv = { SESSION_LINGER, 0 };
	SSL		*ssl = bufferevent_openssl_get_ssl(s->bev);

	session_end(s, s->quit_reason);
	s->flags |= SESSION_F_LINGER;
	s->linger_since = time(NULL);
	if (ssl != NULL)
		(void)SSL_shutdown(ssl);
	if (shutdown(bufferevent_getfd(s->bev), SHUT_WR) == -1) {
		session_close(s, s->quit_reason);
		return;
	}
	evbuffer_drain(bufferevent_get_input(s->bev),
	    evbuffer_get_length(bufferevent_get_input(s->bev)));
	bufferevent_set_timeouts(s->bev, &tv, NULL);
	bufferevent_enable(s->bev, EV_READ);
	bufferevent_disable(s->bev, EV_WRITE);
}

/* Input after our last word: throw it away, up to the linger bound. */
static void
session_linger_read(struct session *s)
{
	struct evbuffer	*in = bufferevent_get_input(s->bev);

	evbuffer_drain(in, evbuffer_get_length(in));
	if (time(NULL) - s->linger_since >= SESSION_LINGER)
		session_close(s, s->quit_reason);
}

/* Output drained: close after QUIT or 421, or resume a stalled reader. */
static void
session_write_cb(struct bufferevent *bev, void *arg)
{
	struct session	*s = arg;

	/*
	 * Act only on what is true now: replies may wait in s->pend, and a
	 * TLS bufferevent runs this callback deferred, after later replies
	 * (a 250, then the 221 of a pipelined QUIT) were queued behind the
	 * drained ones.  Closing then would lose them.
	 */
	if (s->bev == NULL || session_unsent(s) > 0)
		return;
	if (s->flags & SESSION_F_LINGER)
		return;
	if (s->state == STATE_QUIT) {
		session_linger(s);
		return;
	}
	if (s->flags & SESSION_F_STARTTLS) {
		session_starttls_switch(s);
		return;
	}
	if (s->flags & SESSION_F_FLOW) {
		s->flags &= ~SESSION_F_FLOW;
		bufferevent_enable(s->bev, EV_READ);
		session_process(s);
	}
}

/* EOF, error or timeout on the connection. */
static void
session_event_cb(struct bufferevent *bev, short events, void *arg)
{
	struct session	*s = arg;

	if (s->flags & SESSION_F_LINGER) {
		/* The client closed, went away, or took too long: done. */
		session_close(s, s->quit_reason);
		return;
	}
	if (events & BEV_EVENT_CONNECTED) {
		/* The TLS handshake finished. */
		tls_describe(bev, s->tls_info, sizeof(s->tls_info),
		    &s->tls_bits);
		s->flags |= SESSION_F_TLS;
		log_info("s=%08llx tls client=[%s]:%d %s",
		    (unsigned long long)s->id, s->addr, s->port, s->tls_info);
		return;
	}
	if (events & BEV_EVENT_TIMEOUT) {
		if (s->state == STATE_QUIT || (events & BEV_EVENT_WRITING)) {
			/* It does not even read its replies: just go. */
			session_close(s, "timeout");
			return;
		}
		session_timeout(s);
		bufferevent_enable(bev, EV_WRITE);
		return;
	}
	if ((events & BEV_EVENT_ERROR) && !(s->flags & SESSION_F_TLS) &&
	    bufferevent_openssl_get_ssl(bev) != NULL) {
		log_info("s=%08llx tls failed client=[%s]:%d reason=\"%s\"",
		    (unsigned long long)s->id, s->addr, s->port,
		    tls_last_error(bev));
		session_close(s, "tls-failed");
		return;
	}
	session_close(s, events & BEV_EVENT_EOF ? "eof" : "error");
}

/* Install a (new) bufferevent: callbacks, limits, timeouts. */
static void
session_set_bev(struct session *s, struct bufferevent *bev)
{
	struct timeval	tv = { 0, 0 };

	s->bev = bev;
	session_unflush(s);
	if (bufferevent_openssl_get_ssl(bev) == NULL &&
	    (s->pend = evbuffer_new()) == NULL)
		fatal("evbuffer_new");
	if (session_flush_ev == NULL && (session_flush_ev = event_new(
	    bufferevent_get_base(bev), -1, 0, session_flush_cb, NULL)) == NULL)
		fatal("event_new");
	bufferevent_setcb(bev, session_read_cb, session_write_cb,
	    session_event_cb, s);
	bufferevent_setwatermark(bev, EV_READ, 0, SESSION_READ_HIWAT);
	tv.tv_sec = s->state == STATE_DATA ? cfg->data_timeout :
	    cfg->command_timeout;
	bufferevent_set_timeouts(bev, &tv, &tv);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/*
 * STARTTLS was answered with 220: read nothing more in plaintext; the
 * switch to TLS happens once the 220 has left (session_write_cb).
 */
void
session_starttls(struct session *s)
{
	s->flags |= SESSION_F_STARTTLS;
	bufferevent_disable(s->bev, EV_READ);
}

/*
 * Put the connection under TLS and forget everything learned in
 * plaintext (RFC 3207 4.2): the client must EHLO again.
 */
static void
session_starttls_switch(struct session *s)
{
	struct bufferevent	*bev;

	s->flags &= ~SESSION_F_STARTTLS;
	if ((bev = tls_starttls(s)) == NULL) {
		log_warnx("s=%08llx starttls: cannot start TLS",
		    (unsigned long long)s->id);
		session_close(s, "tls-failed");
		return;
	}
	session_tx_free(s);
	auth_session_free(s);
	free(s->helo);
	s->helo = xstrdup("");
	/* RFC 3207 4.2: that includes an AUTH done in plaintext. */
	free(s->auth_user);
	free(s->auth_mech);
	s->auth_user = s->auth_mech = NULL;
	s->flags &= ~(SESSION_F_ESMTP | SESSION_F_BARE_LF | SESSION_F_AUTH |
	    SESSION_F_AUTH_CONT);
	session_enter_state(s, STATE_CONNECTED);
	session_set_bev(s, bev);
}

/* The tarpit delay is over: send the reply and read again. */
static void
session_tarpit_cb(evutil_socket_t fd, short events, void *arg)
{
	struct session	*s = arg;

	s->flags &= ~(SESSION_F_TARPIT | SESSION_F_PREGREET);
	if (s->tarpit_reply == R_GREETING)
		reply(s, R_GREETING, cfg->hostname);
	else
		reply(s, s->tarpit_reply);
	if (s->state == STATE_QUIT)
		return;
	bufferevent_enable(s->bev, EV_READ);
	session_process(s);
}

/* Answer id after secs seconds, reading nothing meanwhile. */
void
session_tarpit(struct session *s, unsigned secs, enum reply_id id)
{
	struct timeval	tv = { secs, 0 };

	if (s->tarpit == NULL)
		s->tarpit = evtimer_new(bufferevent_get_base(s->bev),
		    session_tarpit_cb, s);
	s->tarpit_reply = id;
	s->flags |= SESSION_F_TARPIT;
	bufferevent_disable(s->bev, EV_READ);
	evtimer_add(s->tarpit, &tv);
}

/*
 * The SMTP session is over: log its summary line, and stop counting it
 * against the connection caps (a lingering close is not a session).
 */
static void
session_end(struct session *s, const char *why)
{
	char	counts[512], more[32] = "";

	if (s->tx != NULL && s->state == STATE_DATA &&
	    !(s->flags & SESSION_F_WAIT))
		log_info("s=%08llx qid=%s lost connection in DATA after %zu "
		    "octets; nothing kept", (unsigned long long)s->id,
		    s->tx->qid, s->tx->size);
	command_counts(s, counts, sizeof(counts));
	if (s->nqueued > SESSION_QIDS)
		snprintf(more, sizeof(more), ",+%u", s->nqueued - SESSION_QIDS);
	log_info("s=%08llx disconnect client=[%s]:%d reason=%s %s%s%s%s",
	    (unsigned long long)s->id, s->addr, s->port, why, counts,
	    s->qids[0] ? " qids=" : "", s->qids, more);
	if (s->flags & SESSION_F_COUNTED)
		limit_disconnect(s->addr);
	s->flags &= ~SESSION_F_COUNTED;
}

/* Release the connection (after its summary, unless it lingered). */
void
session_close(struct session *s, const char *why)
{
	if (!(s->flags & SESSION_F_LINGER))
		session_end(s, why);
	session_unflush(s);
	if (s->bev != NULL) {
		bufferevent_free(s->bev);
		s->bev = NULL;
	}
	if (s->flags & SESSION_F_WAIT) {
		/* The spool still holds this session; it frees it. */
		s->flags |= SESSION_F_GONE;
		return;
	}
	session_free(s);
}

/* Free a session that has no connection and no pending commit. */
static void
session_free(struct session *s)
{
	if (s->prev != NULL)
		s->prev->next = s->next;
	else
		sessions = s->next;
	if (s->next != NULL)
		s->next->prev = s->prev;
	session_n--;
	if (s->flags & SESSION_F_COUNTED)
		limit_disconnect(s->addr);
	session_unflush(s);
	session_tx_free(s);
	auth_session_free(s);
	if (s->tarpit != NULL)
		event_free(s->tarpit);
	free(s->auth_user);
	free(s->auth_mech);
	if (s->auth_line != NULL) {
		explicit_bzero(s->auth_line, SMTP_AUTH_LINE_MAX + 3);
		free(s->auth_line);
	}
	free(s->helo);
	free(s);
}

/* Start a session on an accepted connection and greet the client. */
void
session_accept(struct event_base *base, int fd, struct sockaddr *sa, int len,
    enum listen_kind kind)
{
	struct bufferevent	*bev;
	struct session		*s;

	if (kind == LISTEN_SMTPS)
		bev = tls_socket_new(base, fd);
	else
		bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		log_warnx("cannot start a session for fd %d", fd);
		close(fd);
		return;
	}
	s = xcalloc(1, sizeof(*s));
	if (session_next_id == 0)
		session_next_id = ((uint64_t)getpid() << 16) ^
		    (uint64_t)time(NULL);
	s->id = ++session_next_id & 0xffffffffULL;
	s->kind = kind;
	if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)sa;

		evutil_inet_ntop(AF_INET6, &sin6->sin6_addr, s->addr,
		    sizeof(s->addr));
		s->port = ntohs(sin6->sin6_port);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)sa;

		evutil_inet_ntop(AF_INET, &sin->sin_addr, s->addr,
		    sizeof(s->addr));
		s->port = ntohs(sin->sin_port);
	}
	s->helo = xstrdup("");
	session_n++;
	s->next = sessions;
	if (sessions != NULL)
		sessions->prev = s;
	sessions = s;
	session_set_bev(s, bev);
	log_info("s=%08llx connect client=[%s]:%d%s", (unsigned long long)s->id,
	    s->addr, s->port, kind == LISTEN_SMTPS ? " smtps" :
	    kind == LISTEN_SUBMISSION ? " submission" : "");
	if (network_list_match(&cfg->trusted_networks, s->addr))
		s->flags |= SESSION_F_TRUSTED;
	if (limit_connect(s->addr, s->flags & SESSION_F_TRUSTED) != 0) {
		log_info("s=%08llx refused client=[%s] reason=too-many-"
		    "connections", (unsigned long long)s->id, s->addr);
		reply(s, R_TOO_MANY_CONNS, cfg->hostname);
		return;
	}
	s->flags |= SESSION_F_COUNTED;
	if (cfg->greet_delay > 0) {
		/* Hold the banner; a client that talks now is a robot. */
		s->flags |= SESSION_F_PREGREET;
		session_tarpit(s, (unsigned)cfg->greet_delay, R_GREETING);
		bufferevent_enable(s->bev, EV_READ);
		return;
	}
	reply(s, R_GREETING, cfg->hostname);
}

/* Octets the client sent that the session has not consumed yet. */
size_t
session_input_pending(struct session *s)
{
	return (s->bev != NULL ?
	    evbuffer_get_length(bufferevent_get_input(s->bev)) : 0);
}

/* How many sessions exist (connected, or waiting for the spool)? */
unsigned
session_count(void)
{
	return (session_n);
}

/*
 * The server is stopping: say 421 to every session, except that one in
 * the middle of a message may finish it first (it gets its 250, then
 * the 421).
 */
void
session_shutdown_all(void)
{
	struct session	*s;

	for (s = sessions; s != NULL; s = s->next) {
		if (s->bev == NULL || s->state == STATE_QUIT ||
		    (s->flags & SESSION_F_SHUTDOWN))
			continue;
		s->flags |= SESSION_F_SHUTDOWN;
		if (s->state == STATE_DATA)
			continue;
		bufferevent_disable(s->bev, EV_READ);
		s->line[0] = '\0';	/* no command caused this */
		reply(s, R_SHUTDOWN, cfg->hostname);
	}
}

/* Free every session at exit. */
void
session_free_all(void)
{
	while (sessions != NULL) {
		sessions->flags &= ~SESSION_F_WAIT;
		if (sessions->bev != NULL)
			session_close(sessions, "shutdown");
		else
			session_free(sessions);
	}
	if (session_flush_ev != NULL) {
		event_free(session_flush_ev);
		session_flush_ev = NULL;
	}
}

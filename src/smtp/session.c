/*
 * session.c: one SMTP session per connection, on a struct conn (conn.c).
 * It owns the session's lifecycle: greeting, timeouts, the input loop
 * that hands complete command lines to command.c or message octets to
 * data.c, parking while the spool makes a message durable, and the
 * disconnect summary.  Every byte goes through conn.c.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "smtp.h"

/* Stop reading commands while this much output is unsent. */
#define SESSION_OUT_MAX		(64 * 1024)
/* Queue IDs remembered for the disconnect line. */
#define SESSION_QIDS		8

static LIST_HEAD(, session) sessions = LIST_HEAD_INITIALIZER(sessions);
static unsigned		 session_n;
static uint64_t		 session_next_id;

static const char *const state_names[] = {
	"CONNECTED", "READY", "MAIL", "RCPT", "DATA", "QUIT"
};

static void	session_process(struct session *);
static void	session_free(struct session *);
static void	session_end(struct session *, const char *);

/*
 * Move to a new state; the only place the state changes.  QUIT hands
 * the connection over to be closed once the last reply has left.
 */
void
session_enter_state(struct session *s, enum session_state st)
{
	if (s->state == st)
		return;
	log_debug("s=%08llx state %s -> %s", (unsigned long long)s->id,
	    state_names[s->state], state_names[st]);
	s->state = st;
	if (s->conn == NULL)
		return;
	if (st == STATE_QUIT) {
		conn_close_after_drain(s->conn);
		return;
	}
	conn_set_timeout(s->conn, st == STATE_DATA ? cfg->data_timeout :
	    cfg->command_timeout);
}

/* Queue bytes for the client. */
void
session_write(struct session *s, const char *buf, size_t len)
{
	if (s->conn != NULL)
		conn_write(s->conn, buf, len);
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
	free(tx->asking);
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

/*
 * Consume no input until the spool answers (message_committed_cb); the
 * connection holds it (conn_hold) rather than stop reading.
 */
void
session_park(struct session *s)
{
	s->flags |= SESSION_F_WAIT;
	conn_hold(s->conn);
}

/*
 * A parked session's answer came (from the store, not the spool): 0 to
 * go on, or -1 if the client left meanwhile and the session is freed.
 */
int
session_unpark(struct session *s)
{
	s->flags &= ~SESSION_F_WAIT;
	if (s->flags & SESSION_F_GONE) {
		session_free(s);
		return (-1);
	}
	return (0);
}

/* After session_unpark(): end the hold, and run what was pipelined. */
void
session_resume(struct session *s)
{
	if (s->state == STATE_QUIT)
		return;
	conn_release(s->conn);
	session_process(s);
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
	if (parked)
		conn_release(s->conn);
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
	if (parked)	/* called from the spool, not session_process() */
		session_process(s);
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
	conn_pause_read(s->conn);
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
	struct evbuffer	*in = conn_input(s->conn);

	while (!(s->flags & (SESSION_F_WAIT | SESSION_F_GONE |
	    SESSION_F_TARPIT | SESSION_F_STARTTLS)) &&
	    s->state != STATE_QUIT && evbuffer_get_length(in) > 0) {
		if (conn_unsent(s->conn) > SESSION_OUT_MAX) {
			/* The client is not reading; resume on drain. */
			conn_wait_drain(s->conn);
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
	struct evbuffer	*in = conn_input(s->conn);
	size_t		 n = evbuffer_get_length(in);

	log_info("s=%08llx pregreet client=[%s]:%d octets=%zu%s",
	    (unsigned long long)s->id, s->addr, s->port, n,
	    cfg->pregreet_reject ? " rejected" : "");
	if (!cfg->pregreet_reject) {
		/* Keep the bytes for after the greeting; read no more. */
		conn_pause_read(s->conn);
		return;
	}
	conn_delay_cancel(s->conn);
	s->flags &= ~(SESSION_F_TARPIT | SESSION_F_PREGREET);
	evbuffer_drain(in, n);
	conn_pause_read(s->conn);
	reply(s, R_PREGREET, cfg->hostname);
}

/*
 * STARTTLS was answered with 220: read nothing more in plaintext; the
 * switch to TLS happens once the 220 has left (CONN_TLS_SWITCHED).
 */
void
session_starttls(struct session *s)
{
	s->flags |= SESSION_F_STARTTLS;
	conn_starttls_after_drain(s->conn);
}

/*
 * The connection is under TLS now: forget everything learned in
 * plaintext (RFC 3207 4.2); the client must EHLO again.
 */
static void
session_starttls_done(struct session *s)
{
	s->flags &= ~SESSION_F_STARTTLS;
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
	conn_set_timeout(s->conn, cfg->command_timeout);
}

/* The tarpit delay is over: send the reply and read again. */
static void
session_tarpit_done(struct session *s)
{
	s->flags &= ~(SESSION_F_TARPIT | SESSION_F_PREGREET);
	if (s->tarpit_reply == R_GREETING)
		reply(s, R_GREETING, cfg->hostname);
	else
		reply(s, s->tarpit_reply);
	if (s->state == STATE_QUIT)
		return;
	conn_resume_read(s->conn);
	session_process(s);
}

/*
 * sink_faults: the message is queued, but its 250 waits secs seconds
 * (CONN_DELAY ends the wait).  The session stays parked, so it acts on
 * no input, but it reads, so that a client who leaves is seen leaving.
 */
void
session_fault_delay(struct session *s, unsigned secs)
{
	s->flags |= SESSION_F_FAULT_DELAY;
	conn_delay(s->conn, secs);
	conn_release(s->conn);
}

/* The held-back 250 goes now (its time is up, or mxd is stopping). */
static void
session_fault_delay_done(struct session *s)
{
	s->flags &= ~SESSION_F_FAULT_DELAY;
	conn_delay_cancel(s->conn);
	session_data_done(s, R_QUEUED);
}

/* Answer id after secs seconds, reading nothing meanwhile. */
void
session_tarpit(struct session *s, unsigned secs, enum reply_id id)
{
	s->tarpit_reply = id;
	s->flags |= SESSION_F_TARPIT;
	conn_pause_read(s->conn);
	conn_delay(s->conn, secs);
}

/* What the connection says: the one entry from conn.c. */
static void
session_conn_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct session	*s = arg;

	switch (ev) {
	case CONN_INPUT:
		if (s->flags & SESSION_F_PREGREET)
			session_pregreet(s);
		else
			session_process(s);
		break;
	case CONN_TLS_READY:
		memcpy(s->tls_info, c->tls_info, sizeof(s->tls_info));
		s->tls_bits = c->tls_bits;
		s->flags |= SESSION_F_TLS;
		log_info("s=%08llx tls client=[%s]:%d %s",
		    (unsigned long long)s->id, s->addr, s->port, s->tls_info);
		break;
	case CONN_TLS_SWITCHED:
		session_starttls_done(s);
		break;
	case CONN_TIMEOUT:
		session_timeout(s);
		break;
	case CONN_DELAY:
		if (s->flags & SESSION_F_FAULT_DELAY)
			session_fault_delay_done(s);
		else
			session_tarpit_done(s);
		break;
	case CONN_GONE:
		/* conn.c frees c when this returns. */
		s->conn = NULL;
		session_close(s, c->why);
		break;
	case CONN_DONE:
		/* The last reply is out; c lingers on its own. */
		s->conn = NULL;
		session_close(s, s->quit_reason);
		break;
	case CONN_CONNECTED:
		/* Only outbound connections say this. */
		break;
	}
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

/* Log the session's end and release its connection. */
void
session_close(struct session *s, const char *why)
{
	struct conn	*c = s->conn;

	session_end(s, why);
	s->conn = NULL;
	if (c != NULL)
		conn_close(c);
	if (s->flags & SESSION_F_FAULT_DELAY)
		/* Queued already; only the held-back 250 is lost. */
		s->flags &= ~(SESSION_F_FAULT_DELAY | SESSION_F_WAIT);
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
	LIST_REMOVE(s, entry);
	session_n--;
	if (s->flags & SESSION_F_COUNTED)
		limit_disconnect(s->addr);
	session_tx_free(s);
	auth_session_free(s);
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
    int kind)
{
	struct session		*s;
	struct conn		*c;
	uint64_t		 id;

	if (session_next_id == 0)
		session_next_id = ((uint64_t)getpid() << 16) ^
		    (uint64_t)time(NULL);
	id = ++session_next_id & 0xffffffffULL;
	s = xcalloc(1, sizeof(*s));
	if ((c = conn_new(base, fd, sa, kind == LISTEN_SMTPS, id,
	    session_conn_cb, s)) == NULL) {
		free(s);
		return;
	}
	s->conn = c;
	s->id = id;
	s->kind = (enum listen_kind)kind;
	memcpy(s->addr, c->addr, sizeof(s->addr));
	s->port = c->port;
	s->helo = xstrdup("");
	session_n++;
	LIST_INSERT_HEAD(&sessions, s, entry);
	conn_set_timeout(c, cfg->command_timeout);
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
		conn_resume_read(s->conn);
		return;
	}
	reply(s, R_GREETING, cfg->hostname);
}

/* The 421 for a client the listener cannot serve (no descriptors). */
static size_t
session_busy_line(char *buf, size_t len)
{
	if (len < SMTP_CMD_MAX + 2)
		return (0);
	return (reply_line(buf, R_NO_DESCRIPTORS, cfg->hostname));
}

/* The SMTP receiver, as the core sees it (mxd.h, struct protocol). */
const struct protocol smtp_protocol = {
	.name = "smtp",
	.init = auth_init,
	.accept = session_accept,
	.busy_line = session_busy_line,
	.shutdown = session_shutdown_all,
	.count = session_count,
	.free_all = session_free_all,
	.listeners = {
		{ "listen", LISTEN_SMTP, "smtp" },
		{ "smtps_listen", LISTEN_SMTPS, "smtps" },
		{ "submission_listen", LISTEN_SUBMISSION, "submission" },
	},
};

/* Octets the client sent that the session has not consumed yet. */
size_t
session_input_pending(struct session *s)
{
	return (s->conn != NULL ?
	    evbuffer_get_length(conn_input(s->conn)) : 0);
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

	LIST_FOREACH(s, &sessions, entry) {
		if (s->conn == NULL || s->state == STATE_QUIT ||
		    (s->flags & SESSION_F_SHUTDOWN))
			continue;
		s->flags |= SESSION_F_SHUTDOWN;
		if (s->flags & SESSION_F_FAULT_DELAY)
			session_fault_delay_done(s);
		if (s->state == STATE_DATA)
			continue;
		conn_pause_read(s->conn);
		s->line[0] = '\0';	/* no command caused this */
		reply(s, R_SHUTDOWN, cfg->hostname);
	}
}

/* Free every session at exit. */
void
session_free_all(void)
{
	struct session	*s;

	while ((s = LIST_FIRST(&sessions)) != NULL) {
		s->flags &= ~SESSION_F_WAIT;
		if (s->conn != NULL)
			session_close(s, "shutdown");
		else
			session_free(s);
	}
}

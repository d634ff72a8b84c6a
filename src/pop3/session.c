/*
 * session.c: one POP3 session per connection, on a struct conn (conn.c).
 * It owns the session's lifecycle: the greeting, the idle timeout (RFC
 * 1939 3: at least 10 minutes, pop3_timeout), the input loop that hands
 * command lines to command.c and AUTH responses to auth.c, the login
 * with its maildrop lock (RFC 1939 8: one session per maildrop; another
 * gets -ERR [IN-USE]), RETR and TOP streamed from the spool file with
 * flow control, the UPDATE state at QUIT, and the disconnect line.
 * Every byte goes through conn.c; the mail comes from store/maildrop.c,
 * whose thread reads the maildrop at login and commits it at QUIT: the
 * session waits for it (POP3_F_BUSY, reading nothing) and the loop goes
 * on serving everyone else.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "pop3.h"

static LIST_HEAD(, pop3_session) pop3_sessions =
    LIST_HEAD_INITIALIZER(pop3_sessions);
static unsigned		 pop3_session_n;
static struct event_base	*pop3_session_base;	/* for maildrop jobs */
static uint64_t		 pop3_session_next_id;

static const char *const pop3_state_names[] = {
	"AUTHORIZATION", "TRANSACTION", "UPDATE", "CLOSING"
};

static void	pop3_session_process(struct pop3_session *);
static void	pop3_session_close(struct pop3_session *, const char *);

/*
 * Move to a new state; the only place the state changes.  CLOSING hands
 * the connection over to be closed once the last reply has left.
 */
void
pop3_session_enter_state(struct pop3_session *s, enum pop3_state st)
{
	if (s->state == st)
		return;
	log_debug("s=%08llx pop3 state %s -> %s", (unsigned long long)s->id,
	    pop3_state_names[s->state], pop3_state_names[st]);
	s->state = st;
	if (st == POP3_CLOSING && s->conn != NULL)
		conn_close_after_drain(s->conn);
}

/* Queue bytes for the client. */
void
pop3_session_write(struct pop3_session *s, const char *buf, size_t len)
{
	if (s->conn != NULL)
		conn_write(s->conn, buf, len);
}

/* Answer id after secs seconds, reading nothing meanwhile. */
void
pop3_session_tarpit(struct pop3_session *s, unsigned secs,
    enum pop3_reply_id id)
{
	s->tarpit_reply = id;
	s->flags |= POP3_F_TARPIT;
	conn_pause_read(s->conn);
	conn_delay(s->conn, secs);
}

/* The tarpit delay is over: send the reply and read again. */
static void
pop3_session_tarpit_done(struct pop3_session *s)
{
	s->flags &= ~POP3_F_TARPIT;
	pop3_reply(s, s->tarpit_reply);
	if (s->state == POP3_CLOSING)
		return;
	conn_resume_read(s->conn);
	pop3_session_process(s);
}

/* Is another session in TRANSACTION on the maildrop of user? */
static int
pop3_session_locked(const char *user)
{
	struct pop3_session	*o;

	LIST_FOREACH(o, &pop3_sessions, entry)
		if ((o->flags & POP3_F_LOCKED) &&
		    strcasecmp(o->auth_user, user) == 0)
			return (1);
	return (0);
}

/* Wait for a maildrop job: read nothing until it answers. */
static void
pop3_session_park(struct pop3_session *s, struct maildrop_job *job)
{
	s->job = job;
	s->flags |= POP3_F_BUSY;
	conn_pause_read(s->conn);
}

/*
 * The job answered: read again, and run what the client pipelined.  0,
 * or -1 if the session is closing anyway (the answer is dropped).
 */
static int
pop3_session_unpark(struct pop3_session *s)
{
	s->job = NULL;
	s->flags &= ~POP3_F_BUSY;
	if (s->conn == NULL || s->state == POP3_CLOSING)
		return (-1);
	return (0);
}

/* Go on reading after a job's reply, unless that reply closes. */
static void
pop3_session_resume(struct pop3_session *s)
{
	if (s->state == POP3_CLOSING || s->conn == NULL)
		return;
	conn_resume_read(s->conn);
	pop3_session_process(s);
}

/* A login failed after the lock was taken: give it back, say why. */
static void
pop3_session_login_failed(struct pop3_session *s, int err)
{
	log_warnx("s=%08llx pop3 maildrop of %s: %s", (unsigned long long)
	    s->id, log_str(s->auth_user), strerror(err));
	s->flags &= ~POP3_F_LOCKED;
	free(s->auth_user);
	s->auth_user = NULL;
	pop3_reply(s, P_MAILDROP_ERROR, strerror(err));
	pop3_auth_free(s);
}

/* The maildrop is read (maildrop_job_open): enter TRANSACTION. */
static void
pop3_session_login_done(struct maildrop *md, int rc, size_t unused,
    void *arg)
{
	struct pop3_session	*s = arg;
	int			 err = errno;

	(void)unused;
	if (pop3_session_unpark(s) != 0)
		return;
	if (rc != 0) {
		pop3_session_login_failed(s, err);
		pop3_session_resume(s);
		return;
	}
	s->md = *md;
	memset(md, 0, sizeof(*md));
	log_info("s=%08llx pop3 login client=[%s]:%d user=%s method=%s "
	    "messages=%zu octets=%lld", (unsigned long long)s->id, s->addr,
	    s->port, log_str(s->auth_user), s->auth_mech != NULL ?
	    s->auth_mech : "", s->md.n, (long long)s->md.total);
	pop3_session_enter_state(s, POP3_TRANSACTION);
	pop3_reply(s, P_LOGGED_IN, s->auth_user, s->md.n,
	    s->md.n == 1 ? "" : "s", (long long)s->md.total);
	pop3_session_resume(s);
}

/*
 * Authenticated as user with mech: lock the maildrop (RFC 1939 8), have
 * the maildrop thread read it, and enter TRANSACTION when it is read
 * (pop3_session_login_done).  A maildrop in use, or one that cannot be
 * read, leaves the session in AUTHORIZATION with an -ERR.
 */
void
pop3_session_login(struct pop3_session *s, const char *user,
    const char *mech)
{
	struct maildrop_job	*job;
	int			 all;

	all = pop3_auth_any() && strcmp(user, MAILDROP_ALL) == 0;
	if (pop3_session_locked(user)) {
		log_info("s=%08llx pop3 in-use client=[%s]:%d user=%s",
		    (unsigned long long)s->id, s->addr, s->port, log_str(user));
		pop3_reply(s, P_IN_USE, user);
		pop3_auth_free(s);
		return;
	}
	free(s->auth_user);
	s->auth_user = xstrdup(user);
	s->flags |= POP3_F_LOCKED;
	if (mech != s->auth_mech) {
		free(s->auth_mech);
		s->auth_mech = xstrdup(mech);
	}
	if ((job = maildrop_job_open(pop3_session_base, cfg->spool_dir, user,
	    all, pop3_session_login_done, s)) == NULL) {
		pop3_session_login_failed(s, errno);
		return;
	}
	pop3_session_park(s, job);
}

/* The removals are on disk (maildrop_job_commit): answer QUIT. */
static void
pop3_session_update_done(struct maildrop *md, int rc, size_t removed,
    void *arg)
{
	struct pop3_session	*s = arg;
	size_t			 i, marked = 0;

	s->md = *md;
	memset(md, 0, sizeof(*md));
	s->ndeleted = removed;
	if (pop3_session_unpark(s) != 0)
		return;
	for (i = 0; i < s->md.n; i++)
		marked += s->md.msg[i].deleted != 0;
	if (rc != 0)
		pop3_reply(s, P_UPDATE_FAILED, marked - removed);
	else
		pop3_reply(s, P_QUIT_UPDATE, cfg->hostname, removed,
		    s->md.n - removed);
	pop3_session_resume(s);
}

/*
 * QUIT in TRANSACTION (RFC 1939 6): UPDATE removes the messages marked
 * deleted, on the maildrop thread (each state line is fdatasync'ed),
 * and the +OK goes once they are on disk; then the session ends.  If
 * some could not be removed, -ERR.
 */
void
pop3_session_update(struct pop3_session *s)
{
	struct maildrop_job	*job;
	size_t			 i, marked = 0;

	pop3_session_enter_state(s, POP3_UPDATE);
	for (i = 0; i < s->md.n; i++)
		marked += s->md.msg[i].deleted != 0;
	if (marked == 0) {
		pop3_reply(s, P_QUIT_UPDATE, cfg->hostname, (size_t)0, s->md.n);
		return;
	}
	if ((job = maildrop_job_commit(pop3_session_base, &s->md,
	    pop3_session_update_done, s)) == NULL) {
		log_warn("s=%08llx pop3 update", (unsigned long long)s->id);
		pop3_reply(s, P_UPDATE_FAILED, marked);
		return;
	}
	pop3_session_park(s, job);
}

/*
 * RETR (all of it) and TOP: a message from the spool file, byte-stuffed
 * (RFC 1939 3), without the whole file in memory: a chunk at a time,
 * waiting for the client while POP3_OUT_MAX is unsent.
 */
void
pop3_session_retr(struct pop3_session *s, size_t i, int top, long long lines)
{
	struct pop3_stream	*st = &s->st;
	FILE			*f;

	if ((f = maildrop_msg_open(&s->md, i)) == NULL) {
		pop3_reply(s, P_MSG_GONE, i + 1);
		return;
	}
	memset(st, 0, sizeof(*st));
	st->f = f;
	st->top = top;
	st->lines = lines;
	st->bol = 1;
	st->msg = i;
	if (top)
		pop3_reply(s, P_TOP, i + 1);
	else
		pop3_reply(s, P_RETR, (long long)s->md.msg[i].size);
	s->flags |= POP3_F_STREAM;
}

/*
 * RETR's chunk: write it, doubling a '.' at the start of each line; the
 * lines go out in runs between such dots.
 */
static void
pop3_stream_retr(struct pop3_session *s, const char *p, size_t len)
{
	struct pop3_stream	*st = &s->st;
	const char		*end = p + len, *start = p, *nl;

	if (st->bol && *p == '.')
		pop3_session_write(s, ".", 1);
	while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		p = nl + 1;
		if (p < end && *p == '.') {
			pop3_session_write(s, start, (size_t)(p - start));
			pop3_session_write(s, ".", 1);
			start = p;
		}
	}
	pop3_session_write(s, start, (size_t)(end - start));
	st->bol = end[-1] == '\n';
}

/*
 * TOP's chunk, line by line: the header, its empty line, then at most
 * st->lines body lines.  Returns 1 when TOP has sent all it should.
 */
static int
pop3_stream_top(struct pop3_session *s, const char *p, size_t len)
{
	struct pop3_stream	*st = &s->st;
	const char		*end = p + len, *nl, *seg;
	size_t			 n;
	int			 empty;

	if (st->in_body && st->body_lines >= st->lines)
		return (1);
	while (p < end) {
		if (st->bol && *p == '.')
			pop3_session_write(s, ".", 1);
		st->bol = 0;
		nl = memchr(p, '\n', (size_t)(end - p));
		seg = nl != NULL ? nl + 1 : end;
		pop3_session_write(s, p, (size_t)(seg - p));
		if (nl == NULL) {
			st->linelen += (size_t)(seg - p);
			st->prev_cr = seg[-1] == '\r';
			return (0);
		}
		n = st->linelen + (size_t)(nl - p);
		empty = n == 0 || (n == 1 && (nl > p ? nl[-1] == '\r' :
		    st->prev_cr));
		st->bol = 1;
		st->linelen = 0;
		st->prev_cr = 0;
		if (st->in_body)
			st->body_lines++;
		else if (empty)
			st->in_body = 1;
		if (st->in_body && st->body_lines >= st->lines)
			return (1);
		p = seg;
	}
	return (0);
}

/* The message is out (or TOP has enough): end the multi-line reply. */
static void
pop3_stream_end(struct pop3_session *s)
{
	struct pop3_stream	*st = &s->st;

	if (!st->bol)
		pop3_session_write(s, "\r\n", 2);
	pop3_reply_end(s);
	fclose(st->f);
	st->f = NULL;
	s->flags &= ~POP3_F_STREAM;
}

/*
 * Send the message until it is out, or until POP3_OUT_MAX is unsent:
 * then wait (conn_wait_drain); CONN_INPUT brings us back.  Returns 1
 * when the message is out.
 */
static int
pop3_stream_run(struct pop3_session *s)
{
	struct pop3_stream	*st = &s->st;
	char			 buf[POP3_CHUNK];
	size_t			 n;

	while (conn_unsent(s->conn) < POP3_OUT_MAX) {
		n = fread(buf, 1, sizeof(buf), st->f);
		if (n == 0) {
			if (ferror(st->f))
				log_warn("s=%08llx pop3 qid=%s read error",
				    (unsigned long long)s->id,
				    s->md.msg[st->msg].qid);
			pop3_stream_end(s);
			return (1);
		}
		s->sent += n;
		if (!st->top)
			pop3_stream_retr(s, buf, n);
		else if (pop3_stream_top(s, buf, n)) {
			pop3_stream_end(s);
			return (1);
		}
	}
	conn_wait_drain(s->conn);
	return (0);
}

/* Skip the rest of an overlong line; return 1 when its end was seen. */
static int
pop3_session_discard(struct pop3_session *s, struct evbuffer *in)
{
	struct evbuffer_ptr	lf;

	lf = evbuffer_search(in, "\n", 1, NULL);
	if (lf.pos < 0) {
		s->discarded += evbuffer_get_length(in);
		evbuffer_drain(in, evbuffer_get_length(in));
		if (s->discarded > POP3_LINE_FLOOD) {
			s->line[0] = '\0';
			pop3_reply(s, P_LINE_FLOOD, s->discarded);
		}
		return (0);
	}
	evbuffer_drain(in, (size_t)lf.pos + 1);
	s->flags &= ~POP3_F_DISCARD;
	s->discarded = 0;
	return (1);
}

/* The client took too long: say so and close; nothing is deleted. */
static void
pop3_session_timeout(struct pop3_session *s)
{
	if (s->flags & POP3_F_STREAM) {
		/* No -ERR in the middle of a message: just go. */
		pop3_session_close(s, "timeout");
		return;
	}
	conn_pause_read(s->conn);
	s->line[0] = '\0';
	pop3_reply(s, P_TIMEOUT);
}

/*
 * Part of a line is here: it must be complete within pop3_timeout of
 * its first octet, however slowly it drips in.  Returns 0.
 */
static int
pop3_session_slow_line(struct pop3_session *s)
{
	time_t	now = time(NULL);

	if (s->partial_since == 0)
		s->partial_since = now;
	else if (now - s->partial_since > cfg->pop3_timeout)
		pop3_session_timeout(s);
	return (0);
}

/* Does a TLS ClientHello start where a command should (wrong port)? */
static int
pop3_session_tls_hello(const struct pop3_session *s, struct evbuffer *in)
{
	unsigned char	h[2];

	if (s->flags & POP3_F_TLS || s->kind == LISTEN_POP3S ||
	    evbuffer_copyout(in, h, 2) != 2)
		return (0);
	return (h[0] == 0x16 && h[1] == 0x03);
}

/* Is the next line an AUTH line (RFC 5034 4: it may be long)? */
static int
pop3_session_auth_line(const struct pop3_session *s, struct evbuffer *in)
{
	char	h[5];

	if (s->flags & POP3_F_AUTH_CONT)
		return (1);
	if (evbuffer_copyout(in, h, sizeof(h)) != (ev_ssize_t)sizeof(h))
		return (0);
	return (strncasecmp(h, "AUTH ", 5) == 0);
}

/* Forget the AUTH line buffer unless an exchange goes on. */
static void
pop3_session_auth_line_free(struct pop3_session *s)
{
	if (s->auth_line == NULL || (s->flags & POP3_F_AUTH_CONT))
		return;
	explicit_bzero(s->auth_line, POP3_AUTH_LINE_MAX + 3);
	free(s->auth_line);
	s->auth_line = NULL;
}

/* Hand a complete line to auth.c or command.c. */
static void
pop3_session_line(struct pop3_session *s, char *buf, size_t len,
    int authline)
{
	if (s->flags & POP3_F_AUTH_CONT) {
		snprintf(s->line, sizeof(s->line), "(AUTH response)");
		pop3_auth_continue(s, buf);
	} else if (authline) {
		snprintf(s->line, sizeof(s->line), "%.*s", (int)(len <
		    POP3_CMD_MAX ? len : POP3_CMD_MAX), buf);
		pop3_command_dispatch(s, buf, len);
	} else
		pop3_command_dispatch(s, s->line, len);
}

/* Read one command line and run it; 0 when more input is needed. */
static int
pop3_session_command(struct pop3_session *s, struct evbuffer *in)
{
	enum line_status	 st;
	size_t			 len;
	char			*buf = s->line;
	int			 bare, authline;

	if ((s->flags & POP3_F_DISCARD) && !pop3_session_discard(s, in))
		return (0);
	if (pop3_session_tls_hello(s, in)) {
		s->line[0] = '\0';
		pop3_reply(s, P_NOT_POP3, !tls_enabled() ?
		    "a TLS handshake, and this server has no TLS" :
		    "a TLS handshake: use STLS, or the pop3s port");
		return (1);
	}
	if ((authline = pop3_session_auth_line(s, in))) {
		if (s->auth_line == NULL)
			s->auth_line = xmalloc(POP3_AUTH_LINE_MAX + 3);
		buf = s->auth_line;
	}
	st = line_get(in, buf, authline ? POP3_AUTH_LINE_MAX + 2 :
	    POP3_CMD_MAX, &len, &bare);
	if (st == LINE_PARTIAL)
		return (pop3_session_slow_line(s));
	s->partial_since = 0;
	if (st == LINE_TOO_LONG) {
		s->line[0] = '\0';
		s->flags |= POP3_F_DISCARD;
		if (authline)
			pop3_auth_abort(s);
		else
			pop3_reply(s, P_LINE_TOO_LONG);
		pop3_session_auth_line_free(s);
		return (1);
	}
	pop3_session_line(s, buf, len, authline);
	pop3_session_auth_line_free(s);
	return (1);
}

/* Consume input until it runs out or the session must wait. */
static void
pop3_session_process(struct pop3_session *s)
{
	struct evbuffer	*in;

	if (s->conn == NULL)
		return;
	in = conn_input(s->conn);
	for (;;) {
		if ((s->flags & POP3_F_STREAM) && !pop3_stream_run(s))
			return;
		if ((s->flags & (POP3_F_TARPIT | POP3_F_STLS | POP3_F_BUSY)) ||
		    s->state == POP3_CLOSING || s->conn == NULL ||
		    evbuffer_get_length(in) == 0)
			return;
		if (conn_unsent(s->conn) > POP3_OUT_MAX) {
			/* The client is not reading; resume on drain. */
			conn_wait_drain(s->conn);
			return;
		}
		if (!pop3_session_command(s, in))
			return;
	}
}

/*
 * STLS was answered +OK: read nothing more in plaintext; the switch
 * happens once the +OK has left, and what the client pipelined behind
 * STLS is thrown away (conn.c; RFC 2595 4, CVE-2011-0411).
 */
void
pop3_session_stls(struct pop3_session *s)
{
	s->flags |= POP3_F_STLS;
	conn_starttls_after_drain(s->conn);
}

/* Under TLS now: forget what was said in plaintext (a USER name). */
static void
pop3_session_stls_done(struct pop3_session *s)
{
	s->flags &= ~POP3_F_STLS;
	pop3_auth_free(s);
	conn_set_timeout(s->conn, cfg->pop3_timeout);
}

/* What the connection says: the one entry from conn.c. */
static void
pop3_session_conn_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct pop3_session	*s = arg;

	switch (ev) {
	case CONN_INPUT:
		pop3_session_process(s);
		break;
	case CONN_TLS_READY:
		s->flags |= POP3_F_TLS;
		s->tls_bits = c->tls_bits > 0 ? c->tls_bits : 1;
		log_info("s=%08llx pop3 tls client=[%s]:%d %s",
		    (unsigned long long)s->id, s->addr, s->port, c->tls_info);
		break;
	case CONN_TLS_SWITCHED:
		pop3_session_stls_done(s);
		break;
	case CONN_TIMEOUT:
		pop3_session_timeout(s);
		break;
	case CONN_DELAY:
		pop3_session_tarpit_done(s);
		break;
	case CONN_GONE:
		/* conn.c frees c when this returns. */
		s->conn = NULL;
		pop3_session_close(s, c->why);
		break;
	case CONN_CONNECTED:
		/* Only outbound connections say this; POP3 has none. */
		break;
	case CONN_DONE:
		s->conn = NULL;
		pop3_session_close(s, s->quit_reason);
		break;
	}
}

/*
 * The session is over: its summary line, the connection caps, the
 * lock.  A session that did not reach UPDATE deleted nothing (RFC 1939
 * 6: a dropped connection commits nothing).
 */
static void
pop3_session_close(struct pop3_session *s, const char *why)
{
	char	counts[256];

	pop3_command_counts(s, counts, sizeof(counts));
	log_info("s=%08llx pop3 disconnect client=[%s]:%d reason=%s user=%s "
	    "deleted=%zu sent=%llu %s", (unsigned long long)s->id, s->addr,
	    s->port, why != NULL ? why : "close",
	    log_str(s->auth_user != NULL ? s->auth_user : ""), s->ndeleted,
	    s->sent, counts);
	if (s->flags & POP3_F_COUNTED)
		limit_disconnect(s->addr);
	if (s->conn != NULL)
		conn_close(s->conn);
	if (s->job != NULL)
		maildrop_job_cancel(s->job);
	if (s->st.f != NULL)
		fclose(s->st.f);
	LIST_REMOVE(s, entry);
	pop3_session_n--;
	pop3_auth_free(s);
	maildrop_free(&s->md);
	free(s->auth_user);
	free(s->auth_mech);
	if (s->auth_line != NULL) {
		explicit_bzero(s->auth_line, POP3_AUTH_LINE_MAX + 3);
		free(s->auth_line);
	}
	free(s);
}

/* Start a session on an accepted connection and greet the client. */
void
pop3_session_accept(struct event_base *base, int fd, struct sockaddr *sa,
    int len, int kind)
{
	struct pop3_session	*s;
	struct conn		*c;
	uint64_t		 id;

	if (pop3_session_next_id == 0)
		pop3_session_next_id = ((uint64_t)getpid() << 20) ^
		    ((uint64_t)time(NULL) << 4);
	id = ++pop3_session_next_id & 0xffffffffULL;
	pop3_session_base = base;
	s = xcalloc(1, sizeof(*s));
	if ((c = conn_new(base, fd, sa, kind == LISTEN_POP3S, id,
	    pop3_session_conn_cb, s)) == NULL) {
		free(s);
		return;
	}
	s->conn = c;
	s->id = id;
	s->kind = (enum pop3_listen_kind)kind;
	memcpy(s->addr, c->addr, sizeof(s->addr));
	s->port = c->port;
	pop3_session_n++;
	LIST_INSERT_HEAD(&pop3_sessions, s, entry);
	conn_set_timeout(c, cfg->pop3_timeout);
	log_info("s=%08llx pop3 connect client=[%s]:%d%s",
	    (unsigned long long)s->id, s->addr, s->port,
	    kind == LISTEN_POP3S ? " pop3s" : "");
	if (network_list_match(&cfg->trusted_networks, s->addr))
		s->flags |= POP3_F_TRUSTED;
	if (limit_connect(s->addr, s->flags & POP3_F_TRUSTED) != 0) {
		log_info("s=%08llx pop3 refused client=[%s] reason=too-many-"
		    "connections", (unsigned long long)s->id, s->addr);
		pop3_reply(s, P_TOO_MANY_CONNS);
		return;
	}
	s->flags |= POP3_F_COUNTED;
	pop3_reply(s, P_GREETING, cfg->hostname);
}

/* The -ERR for a client the listener cannot serve (no descriptors). */
static size_t
pop3_session_busy_line(char *buf, size_t len)
{
	return (pop3_reply_format(buf, len, P_NO_DESCRIPTORS));
}

/* How many POP3 sessions exist? */
unsigned
pop3_session_count(void)
{
	return (pop3_session_n);
}

/*
 * The server is stopping: say so to every session and close; nothing
 * is deleted.  One in the middle of a message is cut off (its client
 * sees no final '.', so it keeps nothing half-read).
 */
void
pop3_session_shutdown_all(void)
{
	struct pop3_session	*s, *next;

	for (s = LIST_FIRST(&pop3_sessions); s != NULL; s = next) {
		next = LIST_NEXT(s, entry);
		if (s->conn == NULL || s->state == POP3_CLOSING)
			continue;
		if (s->flags & POP3_F_STREAM) {
			pop3_session_close(s, "shutdown");
			continue;
		}
		conn_pause_read(s->conn);
		conn_delay_cancel(s->conn);	/* no late -ERR [AUTH] */
		s->flags &= ~POP3_F_TARPIT;
		s->line[0] = '\0';
		pop3_reply(s, P_SHUTDOWN);
	}
}

/* Free every session at exit. */
void
pop3_session_free_all(void)
{
	struct pop3_session	*s;

	while ((s = LIST_FIRST(&pop3_sessions)) != NULL)
		pop3_session_close(s, "shutdown");
	maildrop_stop();
}

/* The POP3 server, as the core sees it (mxd.h, struct protocol). */
const struct protocol pop3_protocol = {
	.name = "pop3",
	.init = pop3_auth_init,
	.accept = pop3_session_accept,
	.busy_line = pop3_session_busy_line,
	.shutdown = pop3_session_shutdown_all,
	.count = pop3_session_count,
	.free_all = pop3_session_free_all,
	.listeners = {
		{ "pop3_listen", LISTEN_POP3, "pop3" },
		{ "pop3s_listen", LISTEN_POP3S, "pop3s" },
	},
};

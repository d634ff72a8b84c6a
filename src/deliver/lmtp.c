/*
 * lmtp.c: the LMTP client (RFC 2033), for now for one job: asking the
 * mail store whether a recipient exists (recipient_check = lmtp), as
 * maddy and Postfix's reject_unverified_recipient do.  In: questions
 * from recipient.c (lmtp_prober.ask); out: the store's reply code and
 * text to each, or code 0 and why it could not be asked.  Per question,
 * on a pooled connection: MAIL FROM:<>, RCPT TO:<address>, RSET.  At
 * most LMTP_POOL_MAX connections, each opened with LHLO (RFC 2033 4.1)
 * and reused; idle ones say QUIT after recipient_lmtp_timeout.  All of
 * it is non-blocking on the event loop, through conn.c.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdarg.h>
#include <strings.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/util.h>

#include "deliver.h"

enum lmtp_state {
	LS_CONNECT,		/* connect() under way */
	LS_GREETING,		/* waiting for 220 */
	LS_LHLO,		/* LHLO sent */
	LS_IDLE,		/* ready for a question */
	LS_MAIL,		/* MAIL FROM:<> sent */
	LS_RCPT,		/* RCPT TO sent */
	LS_RSET,		/* RSET sent */
	LS_QUIT,		/* QUIT sent, closing */
};

/* One question, until it is answered. */
struct lmtp_probe {
	char			  addr[SMTP_PATH_MAX + 1];
	void			(*cb)(void *, int, const char *);
	void			 *arg;
	char			  why[128];	/* code 0: why */
	int			  retried;	/* once, after a stale connection */
	TAILQ_ENTRY(lmtp_probe)	  entry;
};
TAILQ_HEAD(lmtp_probes, lmtp_probe);

/* One connection to the store. */
struct lmtp_conn {
	struct conn		*c;
	enum lmtp_state		 state;
	struct lmtp_probe	*probe;		/* the question it is asking */
	struct lmtp_reply	 r;
	char			*target;	/* recipient_lmtp it was for */
	int			 reused;	/* has answered a question before */
	TAILQ_ENTRY(lmtp_conn)	 entry;
};

static TAILQ_HEAD(, lmtp_conn)	lmtp_conns = TAILQ_HEAD_INITIALIZER(lmtp_conns);
static struct lmtp_probes	lmtp_queue = TAILQ_HEAD_INITIALIZER(lmtp_queue);
static struct lmtp_probes	lmtp_failed = TAILQ_HEAD_INITIALIZER(lmtp_failed);
static struct event_base	*lmtp_base;
static struct event		*lmtp_fail_ev;
static unsigned			 lmtp_nconns;
static uint64_t			 lmtp_nextid;

static void	lmtp_kick(void);
static void	lmtp_quit(struct lmtp_conn *);

/*
 * Parse a target: lmtp:unix:/absolute/path, or lmtp:inet:host:port
 * with a numeric address ([v6] in brackets) or localhost.  0, or -1 with
 * *cause.
 */
int
lmtp_target_parse(const char *s, struct lmtp_target *t, char **cause)
{
	struct sockaddr_un	*sun = (struct sockaddr_un *)&t->ss;
	char			 buf[300];
	int			 len = sizeof(t->ss);

	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", s);
	if (strncmp(s, "lmtp:unix:", 10) == 0) {
		if (s[10] != '/' || strlen(s + 10) >= sizeof(sun->sun_path))
			goto bad;
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, s + 10, strlen(s + 10) + 1);
		t->len = sizeof(*sun);
		return (0);
	}
	if (strncmp(s, "lmtp:inet:", 10) != 0)
		goto bad;
	s += 10;
	if (strncmp(s, "localhost:", 10) == 0)
		snprintf(buf, sizeof(buf), "127.0.0.1%s", s + 9);
	else
		snprintf(buf, sizeof(buf), "%s", s);
	if (strchr(buf, ':') == NULL || evutil_parse_sockaddr_port(buf,
	    (struct sockaddr *)&t->ss, &len) != 0 ||
	    (t->ss.ss_family == AF_INET &&
	    ((struct sockaddr_in *)&t->ss)->sin_port == 0) ||
	    (t->ss.ss_family == AF_INET6 &&
	    ((struct sockaddr_in6 *)&t->ss)->sin6_port == 0))
		goto bad;
	t->len = (socklen_t)len;
	return (0);
bad:
	xasprintf(cause, "bad LMTP target '%s': want lmtp:unix:/path or "
	    "lmtp:inet:address:port (a numeric address or localhost)",
	    t->name);
	return (-1);
}

/*
 * Read one line of a reply into r (RFC 5321 4.2: code, then '-' on all
 * lines but the last, then text).
 */
static enum lmtp_read
lmtp_reply_line(struct evbuffer *in, struct lmtp_reply *r)
{
	char	*line;
	size_t	 n;
	int	 code;

	if ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF)) == NULL)
		return (evbuffer_get_length(in) > LMTP_LINE_MAX ?
		    LMTP_READ_BAD : LMTP_READ_MORE);
	if (n < 3 || n > LMTP_LINE_MAX || line[0] < '2' || line[0] > '5' ||
	    line[1] < '0' || line[1] > '9' || line[2] < '0' ||
	    line[2] > '9' || (n > 3 && line[3] != ' ' && line[3] != '-') ||
	    ++r->nlines > LMTP_LINES_MAX) {
		free(line);
		return (LMTP_READ_BAD);
	}
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + line[2] - '0';
	if (r->nlines > 1 && code != r->code) {
		free(line);
		return (LMTP_READ_BAD);
	}
	r->code = code;
	snprintf(r->text, sizeof(r->text), "%s", n > 4 ? line + 4 : "");
	if (n > 3 && line[3] == '-') {
		free(line);
		return (LMTP_READ_MORE);
	}
	free(line);
	return (LMTP_READ_DONE);
}

/*
 * Read the lines of a reply that have arrived into r: LMTP_READ_DONE
 * once the last line is in (r->code and r->text are then the reply's),
 * LMTP_READ_MORE if it is not complete yet.
 */
enum lmtp_read
lmtp_reply_read(struct evbuffer *in, struct lmtp_reply *r)
{
	enum lmtp_read	rd;
	int		before;

	do {
		before = r->nlines;
		rd = lmtp_reply_line(in, r);
	} while (rd == LMTP_READ_MORE && r->nlines > before);
	return (rd);
}

/* Answer a question and forget it. */
static void
lmtp_answer(struct lmtp_probe *p, int code, const char *text)
{
	p->cb(p->arg, code, text);
	free(p);
}

/* Answer the questions that failed before any connection took them. */
static void
lmtp_fail_cb(evutil_socket_t fd, short events, void *arg)
{
	struct lmtp_probe	*p;

	while ((p = TAILQ_FIRST(&lmtp_failed)) != NULL) {
		TAILQ_REMOVE(&lmtp_failed, p, entry);
		lmtp_answer(p, 0, p->why);
	}
}

/*
 * The store cannot be reached: every waiting question gets code 0 (the
 * sender is told 451 4.4.3), on the next loop pass, never from inside
 * ask().
 */
static void
lmtp_fail_queue(const char *why)
{
	struct lmtp_probe	*p;

	while ((p = TAILQ_FIRST(&lmtp_queue)) != NULL) {
		TAILQ_REMOVE(&lmtp_queue, p, entry);
		snprintf(p->why, sizeof(p->why), "%s", why);
		TAILQ_INSERT_TAIL(&lmtp_failed, p, entry);
	}
	event_active(lmtp_fail_ev, EV_TIMEOUT, 0);
}

/* Send one command line to the store. */
static void
lmtp_send(struct lmtp_conn *lc, enum lmtp_state next, const char *fmt,
    const char *arg)
{
	char	line[SMTP_PATH_MAX + 64];
	int	n;

	n = snprintf(line, sizeof(line), fmt, arg);
	conn_write(lc->c, line, (size_t)n);
	memset(&lc->r, 0, sizeof(lc->r));
	lc->state = next;
}

/* Forget a connection (conn.c frees or already freed its conn). */
static void
lmtp_conn_free(struct lmtp_conn *lc)
{
	TAILQ_REMOVE(&lmtp_conns, lc, entry);
	lmtp_nconns--;
	free(lc->target);
	free(lc);
}

/*
 * A connection failed (why): answer its question with code 0, close
 * it.  If it never got as far as LHLO, the store is unreachable, and
 * the waiting questions fail too.  Returns -1: lc is gone.
 */
static int
lmtp_conn_fail(struct lmtp_conn *lc, const char *why, int close)
{
	struct lmtp_probe	*p = lc->probe;
	int			 unreachable = lc->state <= LS_LHLO;
	char			 msg[160];

	/*
	 * A reused connection the store closed while it sat idle (its own
	 * idle timeout) dies at our MAIL: ask again, once, on a new one.
	 */
	if (p != NULL && lc->reused && lc->state == LS_MAIL && !p->retried) {
		p->retried = 1;
		lc->probe = NULL;
		TAILQ_INSERT_HEAD(&lmtp_queue, p, entry);
		p = NULL;
	}
	snprintf(msg, sizeof(msg), "%s: %s", cfg->recipient_lmtp, why);
	if (lc->state != LS_IDLE && lc->state != LS_QUIT)
		log_warnx("lmtp %s", msg);
	if (close)
		conn_close(lc->c);
	lmtp_conn_free(lc);
	if (unreachable)
		lmtp_fail_queue(msg);
	if (p != NULL)
		lmtp_answer(p, 0, msg);
	else
		lmtp_kick();
	return (-1);
}

/*
 * The store's reply to what lc sent last is in lc->r: go on.  0, or -1
 * if lc is gone.
 */
static int
lmtp_step(struct lmtp_conn *lc)
{
	struct lmtp_probe	*p = lc->probe;
	char			 why[LMTP_LINE_MAX + 32];
	int			 code;

	switch (lc->state) {
	case LS_GREETING:
		if (lc->r.code != 220)
			break;
		lmtp_send(lc, LS_LHLO, "LHLO %s\r\n", cfg->hostname);
		return (0);
	case LS_LHLO:
	case LS_RSET:
		if (lc->r.code != 250)
			break;
		lc->state = LS_IDLE;
		lmtp_kick();
		return (0);
	case LS_MAIL:
		if (lc->r.code != 250)
			break;
		lmtp_send(lc, LS_RCPT, "RCPT TO:<%s>\r\n", p->addr);
		return (0);
	case LS_RCPT:
		/* Free the connection for the next question first. */
		snprintf(why, sizeof(why), "%s", lc->r.text);
		code = lc->r.code;
		lc->probe = NULL;
		lc->reused = 1;
		lmtp_send(lc, LS_RSET, "RSET\r\n", NULL);
		lmtp_answer(p, code, why);
		return (0);
	case LS_QUIT:
		return (0);
	default:
		break;
	}
	snprintf(why, sizeof(why), "unexpected reply %d %s", lc->r.code,
	    lc->r.text);
	return (lmtp_conn_fail(lc, why, 1));
}

/* Events of one connection to the store. */
static void
lmtp_conn_cb(struct conn *c, enum conn_event ev, void *arg)
{
	struct lmtp_conn	*lc = arg;
	enum lmtp_read		 rd;

	switch (ev) {
	case CONN_CONNECTED:
		lc->state = LS_GREETING;
		break;
	case CONN_INPUT:
		while ((rd = lmtp_reply_read(conn_input(c), &lc->r)) ==
		    LMTP_READ_DONE)
			if (lmtp_step(lc) != 0)
				return;
		if (rd == LMTP_READ_BAD)
			(void)lmtp_conn_fail(lc, "a reply that is not LMTP", 1);
		break;
	case CONN_TIMEOUT:
		if (lc->state == LS_IDLE)
			lmtp_quit(lc);
		else
			(void)lmtp_conn_fail(lc, "no answer in time "
			    "(recipient_lmtp_timeout)", 1);
		break;
	case CONN_GONE:
		/* conn.c frees c when this returns. */
		(void)lmtp_conn_fail(lc, c->why, 0);
		break;
	case CONN_DONE:
		/* QUIT is out; c lingers on its own. */
		lmtp_conn_free(lc);
		break;
	default:
		break;
	}
}

/* Open one more connection to the store; -1 if it fails at once. */
static int
lmtp_open(void)
{
	struct lmtp_target	 t;
	struct lmtp_conn	*lc;
	const char		*why;
	char			*cause = NULL, msg[160];

	if (lmtp_target_parse(cfg->recipient_lmtp, &t, &cause) != 0) {
		/* mxd_check() parsed it; only a missing setting gets here. */
		lmtp_fail_queue(cause);
		free(cause);
		return (-1);
	}
	lc = xcalloc(1, sizeof(*lc));
	lc->state = LS_CONNECT;
	if ((lc->c = conn_connect(lmtp_base, (struct sockaddr *)&t.ss, t.len,
	    "lmtp", ++lmtp_nextid, lmtp_conn_cb, lc, &why)) == NULL) {
		free(lc);
		snprintf(msg, sizeof(msg), "%s: %s", cfg->recipient_lmtp, why);
		log_warnx("lmtp %s", msg);
		lmtp_fail_queue(msg);
		return (-1);
	}
	conn_set_timeout(lc->c, cfg->recipient_lmtp_timeout);
	lc->target = xstrdup(cfg->recipient_lmtp);
	TAILQ_INSERT_TAIL(&lmtp_conns, lc, entry);
	lmtp_nconns++;
	return (0);
}

/* Say QUIT on an idle connection and let it go. */
static void
lmtp_quit(struct lmtp_conn *lc)
{
	lmtp_send(lc, LS_QUIT, "QUIT\r\n", NULL);
	conn_close_after_drain(lc->c);
}

/*
 * Give waiting questions to idle connections, and open a connection
 * when none is idle or on its way (at most LMTP_POOL_MAX).  An idle
 * connection to a store that is no longer recipient_lmtp (a reload
 * changed it) is closed instead.
 */
static void
lmtp_kick(void)
{
	struct lmtp_probe	*p;
	struct lmtp_conn	*lc, *next;
	int			 opening;

	for (lc = TAILQ_FIRST(&lmtp_conns); lc != NULL; lc = next) {
		next = TAILQ_NEXT(lc, entry);
		if (lc->state == LS_IDLE &&
		    strcmp(lc->target, cfg->recipient_lmtp) != 0)
			lmtp_quit(lc);
	}
	while ((p = TAILQ_FIRST(&lmtp_queue)) != NULL) {
		opening = 0;
		TAILQ_FOREACH(lc, &lmtp_conns, entry) {
			if (lc->state == LS_IDLE)
				break;
			if (lc->state <= LS_LHLO)
				opening = 1;
		}
		if (lc == NULL) {
			if (!opening && lmtp_nconns < LMTP_POOL_MAX)
				(void)lmtp_open();
			return;
		}
		TAILQ_REMOVE(&lmtp_queue, p, entry);
		lc->probe = p;
		lmtp_send(lc, LS_MAIL, "MAIL FROM:<>\r\n", NULL);
	}
}

/* Ask whether addr is a mailbox; cb(arg, code, text) answers later. */
static void
lmtp_ask(const struct config *c, const char *addr,
    void (*cb)(void *, int, const char *), void *arg)
{
	struct lmtp_probe	*p = xcalloc(1, sizeof(*p));

	snprintf(p->addr, sizeof(p->addr), "%s", addr);
	p->cb = cb;
	p->arg = arg;
	TAILQ_INSERT_TAIL(&lmtp_queue, p, entry);
	lmtp_kick();
}

/* Check recipient_lmtp for mxd_check(); 0, or -1 with *cause. */
static int
lmtp_check(const struct config *c, char **cause)
{
	struct lmtp_target	t;
	char			*why = NULL;

	if (c->recipient_lmtp[0] == '\0') {
		if (strcmp(c->recipient_check, "lmtp") != 0)
			return (0);
		xasprintf(cause, "recipient_check = lmtp needs recipient_lmtp");
		return (-1);
	}
	if (lmtp_target_parse(c->recipient_lmtp, &t, &why) != 0) {
		xasprintf(cause, "recipient_lmtp: %s", why);
		free(why);
		return (-1);
	}
	return (0);
}

/* The event loop exists: questions may be asked. */
static void
lmtp_start(struct event_base *base)
{
	lmtp_base = base;
	if ((lmtp_fail_ev = event_new(base, -1, 0, lmtp_fail_cb, NULL)) ==
	    NULL)
		fatal("event_new");
}

/* At exit: close every connection, drop questions without answers. */
static void
lmtp_free_all(void)
{
	struct lmtp_probe	*p;
	struct lmtp_conn	*lc;

	while ((lc = TAILQ_FIRST(&lmtp_conns)) != NULL) {
		free(lc->probe);
		conn_close(lc->c);
		lmtp_conn_free(lc);
	}
	while ((p = TAILQ_FIRST(&lmtp_queue)) != NULL) {
		TAILQ_REMOVE(&lmtp_queue, p, entry);
		free(p);
	}
	while ((p = TAILQ_FIRST(&lmtp_failed)) != NULL) {
		TAILQ_REMOVE(&lmtp_failed, p, entry);
		free(p);
	}
	if (lmtp_fail_ev != NULL)
		event_free(lmtp_fail_ev);
	lmtp_fail_ev = NULL;
}

const struct rcpt_prober lmtp_prober = {
	.name = "lmtp",
	.check = lmtp_check,
	.start = lmtp_start,
	.ask = lmtp_ask,
	.free_all = lmtp_free_all,
};

/*
 * Delivery (runner.c's worker threads): the same protocol, on a blocking
 * socket with SO_RCVTIMEO/SO_SNDTIMEO timeouts, off the event loop.  A
 * worker keeps one lmtp_session open and reuses it for its next message
 * to the same target, with RSET first.
 */

/* Write all of buf; 0, or -1. */
static int
lmtp_sync_write(int fd, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		p += n;
		len -= (size_t)n;
	}
	return (0);
}

/* Send one command line; 0, or -1. */
static int
lmtp_sync_cmd(struct lmtp_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int
lmtp_sync_cmd(struct lmtp_session *s, const char *fmt, ...)
{
	char	line[SMTP_PATH_MAX * 2 + 128];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return (-1);
	return (lmtp_sync_write(s->fd, line, (size_t)n));
}

/* Read one whole reply into r; 0, or -1 (timeout, EOF, not LMTP). */
static int
lmtp_sync_reply(struct lmtp_session *s, struct lmtp_reply *r)
{
	enum lmtp_read	rd;

	memset(r, 0, sizeof(*r));
	for (;;) {
		if ((rd = lmtp_reply_read(s->in, r)) == LMTP_READ_DONE)
			return (0);
		if (rd == LMTP_READ_BAD)
			return (-1);
		if (evbuffer_read(s->in, s->fd, 4096) <= 0)
			return (-1);
	}
}

/* Read the LHLO reply and note the extensions we use (RFC 2033 4.1). */
static int
lmtp_sync_lhlo(struct lmtp_session *s)
{
	char	*line;
	size_t	 n;
	int	 last = 0, ok = 1;

	while (!last) {
		if ((line = evbuffer_readln(s->in, &n, EVBUFFER_EOL_CRLF)) ==
		    NULL) {
			if (evbuffer_get_length(s->in) > LMTP_LINE_MAX ||
			    evbuffer_read(s->in, s->fd, 4096) <= 0)
				return (-1);
			continue;
		}
		if (n < 3 || strncmp(line, "250", 3) != 0)
			ok = 0;
		last = n == 3 || line[3] != '-';
		if (n > 4 && strcasecmp(line + 4, "8BITMIME") == 0)
			s->eightbit = 1;
		if (n > 4 && strcasecmp(line + 4, "SMTPUTF8") == 0)
			s->smtputf8 = 1;
		if (n > 7 && strncasecmp(line + 4, "SIZE", 4) == 0 &&
		    (line[8] == '\0' || line[8] == ' '))
			s->size = 1;
		free(line);
	}
	return (ok ? 0 : -1);
}

/* Close a session (it may be reopened). */
void
lmtp_session_close(struct lmtp_session *s)
{
	if (s->fd != -1)
		close(s->fd);
	s->fd = -1;
	if (s->in != NULL)
		evbuffer_free(s->in);
	s->in = NULL;
	s->eightbit = s->smtputf8 = s->size = 0;
}

/* Connect to target and say LHLO; 0, or -1 with why. */
static int
lmtp_sync_open(struct lmtp_session *s, const char *target, long timeout,
    const char *host, char *why, size_t whylen)
{
	struct lmtp_target	 t;
	struct lmtp_reply	 r;
	struct timeval		 tv = { timeout, 0 };
	char			*cause = NULL;

	if (lmtp_target_parse(target, &t, &cause) != 0) {
		snprintf(why, whylen, "%s", cause);
		free(cause);
		return (-1);
	}
	snprintf(s->target, sizeof(s->target), "%s", target);
	if ((s->fd = socket(t.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC,
	    0)) == -1)
		goto fail;
	s->in = evbuffer_new();
	if (setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ==
	    -1 || setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &tv,
	    sizeof(tv)) == -1 ||
	    connect(s->fd, (struct sockaddr *)&t.ss, t.len) == -1)
		goto fail;
	if (lmtp_sync_reply(s, &r) != 0 || r.code != 220) {
		snprintf(why, whylen, "no 220 greeting from the store");
		goto out;
	}
	if (lmtp_sync_cmd(s, "LHLO %s\r\n", host) != 0 ||
	    lmtp_sync_lhlo(s) != 0) {
		snprintf(why, whylen, "LHLO refused");
		goto out;
	}
	return (0);
fail:
	snprintf(why, whylen, "cannot connect: %s", strerror(errno));
out:
	lmtp_session_close(s);
	return (-1);
}

/* The enhanced code of a reply's text (RFC 3463), or one made up. */
static void
lmtp_dsn(int code, const char *text, char *dsn, size_t len)
{
	size_t	n = strspn(text, "0123456789.");

	if (n >= 5 && n < len && text[0] == '0' + code / 100 &&
	    text[1] == '.' && (text[n] == ' ' || text[n] == '\0')) {
		memcpy(dsn, text, n);
		dsn[n] = '\0';
	} else
		snprintf(dsn, len, "%d.0.0", code >= 200 && code < 600 ?
		    code / 100 : 4);
}

/* Give box the store's reply r (or code 0 and why). */
static void
lmtp_box_set(struct dl_box *b, const struct lmtp_reply *r, const char *why)
{
	if (r == NULL) {
		b->code = 0;
		snprintf(b->dsn, sizeof(b->dsn), "4.4.2");
		snprintf(b->reason, sizeof(b->reason), "%.250s", why);
		return;
	}
	b->code = r->code;
	lmtp_dsn(r->code, r->text, b->dsn, sizeof(b->dsn));
	snprintf(b->reason, sizeof(b->reason), "%d %.240s", r->code, r->text);
}

/*
 * Stream the message to the store: hdr, then the spool file from m->off,
 * dot-stuffed (RFC 5321 4.5.2; a '.' after any LF, bare ones included,
 * so a store that ends lines at LF is never fooled), then CRLF.CRLF.
 */
static int
lmtp_sync_data(struct lmtp_session *s, const struct dl_msg *m,
    const char *hdr)
{
	char	 in[16384], out[sizeof(in) * 2 + 8];
	off_t	 off = m->off;
	ssize_t	 n, i;
	size_t	 o;
	int	 bol = 1, last = '\n';

	if (lmtp_sync_write(s->fd, hdr, strlen(hdr)) != 0)
		return (-1);
	while ((n = pread(m->fd, in, sizeof(in), off)) > 0) {
		off += n;
		for (i = 0, o = 0; i < n; i++) {
			if (bol && in[i] == '.')
				out[o++] = '.';
			out[o++] = in[i];
			bol = in[i] == '\n';
		}
		last = in[n - 1];
		if (lmtp_sync_write(s->fd, out, o) != 0)
			return (-1);
	}
	if (n == -1)
		return (-1);
	if (last != '\n' && lmtp_sync_write(s->fd, "\r\n", 2) != 0)
		return (-1);
	return (lmtp_sync_write(s->fd, ".\r\n", 3));
}

/* Is s plain ASCII? */
static int
lmtp_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return (0);
	return (1);
}

/*
 * Deliver m to the n boxes (one target) in one transaction on s: MAIL,
 * RCPT for each, DATA, and after the final dot one reply per accepted
 * recipient, in order (RFC 2033 4.2).  Each box gets its code, or
 * LMTP_NEXT_TX when the store's recipient limit (452 4.5.3) left it for
 * another transaction.
 */
void
lmtp_deliver(struct lmtp_session *s, const struct dl_msg *m,
    const char *hdr, struct dl_box **box, size_t n, long timeout)
{
	struct lmtp_reply	 r;
	char			 why[300], params[128];
	size_t			 i, accepted = 0;
	int			 utf8 = !lmtp_ascii(m->sender);

	long long		 t0;
	int			 failed;

	errno = 0;
	s->setup_us = 0;
	if (s->fd != -1 && strcmp(s->target, box[0]->target) != 0)
		lmtp_session_close(s);
	if (s->fd != -1 && (lmtp_sync_cmd(s, "RSET\r\n") != 0 ||
	    lmtp_sync_reply(s, &r) != 0 || r.code != 250))
		lmtp_session_close(s);
	if (s->fd == -1) {
		t0 = clock_us(CLOCK_MONOTONIC);
		failed = lmtp_sync_open(s, box[0]->target, timeout,
		    m->hostname, why, sizeof(why)) != 0;
		s->setup_us = clock_us(CLOCK_MONOTONIC) - t0;
		if (failed) {
			for (i = 0; i < n; i++)
				lmtp_box_set(box[i], NULL, why);
			return;
		}
	}
	for (i = 0; i < n; i++)
		utf8 |= !lmtp_ascii(box[i]->addr);
	snprintf(params, sizeof(params), "%s%s", s->eightbit ?
	    " BODY=8BITMIME" : "", utf8 && s->smtputf8 ? " SMTPUTF8" : "");
	if (s->size)
		snprintf(params + strlen(params), sizeof(params) -
		    strlen(params), " SIZE=%lld", (long long)(m->size +
		    (off_t)strlen(hdr)));
	if (lmtp_sync_cmd(s, "MAIL FROM:<%s>%s\r\n", m->sender, params) != 0 ||
	    lmtp_sync_reply(s, &r) != 0)
		goto lost;
	if (r.code != 250) {
		for (i = 0; i < n; i++)
			lmtp_box_set(box[i], &r, NULL);
		return;
	}
	for (i = 0; i < n; i++) {
		if (lmtp_sync_cmd(s, "RCPT TO:<%s>\r\n", box[i]->addr) != 0 ||
		    lmtp_sync_reply(s, &r) != 0)
			goto lost;
		lmtp_box_set(box[i], &r, NULL);
		/*
		 * RFC 5321 4.5.3.1.10, RFC 3463 4.5.3: the store takes no more
		 * recipients in this transaction; the rest go in the next.
		 */
		if (r.code == 452 && accepted > 0 &&
		    strcmp(box[i]->dsn, "4.5.3") == 0) {
			for (; i < n; i++)
				box[i]->code = LMTP_NEXT_TX;
			break;
		}
		if (r.code / 100 == 2) {
			box[i]->code = -1;	/* accepted: its reply is due */
			accepted++;
		}
	}
	if (accepted == 0)
		return;
	if (lmtp_sync_cmd(s, "DATA\r\n") != 0 || lmtp_sync_reply(s, &r) != 0)
		goto lost;
	if (r.code != 354) {
		for (i = 0; i < n; i++)
			if (box[i]->code == -1)
				lmtp_box_set(box[i], &r, NULL);
		return;
	}
	if (lmtp_sync_data(s, m, hdr) != 0)
		goto lost;
	for (i = 0; i < n; i++) {
		if (box[i]->code != -1)
			continue;
		if (lmtp_sync_reply(s, &r) != 0)
			goto lost;
		lmtp_box_set(box[i], &r, NULL);
	}
	return;
lost:
	snprintf(why, sizeof(why), "lost the store: %s", errno == EAGAIN ?
	    "timeout (delivery_timeout)" : errno != 0 ? strerror(errno) :
	    "closed");
	lmtp_session_close(s);
	for (i = 0; i < n; i++)
		if (box[i]->code <= 0)
			lmtp_box_set(box[i], NULL, why);
}

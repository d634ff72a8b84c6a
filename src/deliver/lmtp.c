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

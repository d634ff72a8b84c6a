/*
 * conn.c: the connection layer under every protocol.  A struct conn is
 * one client socket, plain or TLS, on a libevent bufferevent; this file
 * and tls.c are the only users of bufferevent_*.  It gives a protocol:
 *
 *   - coalesced writes: on a plain socket, everything a protocol writes
 *     in one loop pass leaves in one write(2) at the end of the pass;
 *   - flow control: conn_wait_drain() stops reading until a client that
 *     does not read its replies has taken them;
 *   - timeouts, and a delay timer (tarpits, greeting delays);
 *   - the STARTTLS switch once the go-ahead has left, with the plaintext
 *     the client pipelined behind it thrown away (CVE-2011-0411);
 *   - drain-then-close: the last reply leaves, TLS says close_notify,
 *     the socket half-closes, and the connection lingers reading and
 *     discarding until the client closes, so that no reset destroys a
 *     reply the client has not read yet (RFC 1122 4.2.2.13);
 *   - one callback with events (enum conn_event) instead of libevent's
 *     three;
 *   - outbound connections too (conn_connect: the LMTP client), which
 *     say CONN_CONNECTED, or CONN_GONE if the connect fails.
 *
 * After CONN_GONE or CONN_DONE the conn is no longer the protocol's: it
 * is freed, or lingers on its own, once the callback returns.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include <openssl/ssl.h>

#include "mxd.h"

/* Read no more than this before the protocol consumes it. */
#define CONN_READ_HIWAT		(256 * 1024)
/* Seconds to wait for the client's close after our last byte. */
#define CONN_LINGER		2
/* At most this many lingering connections; past it, close at once. */
#define CONN_LINGER_MAX		4096

#define CONN_F_TLS		0x01	/* TLS handshake done */
#define CONN_F_FLOW		0x02	/* reading paused until output drains */
#define CONN_F_STARTTLS		0x04	/* switch to TLS once output drains */
#define CONN_F_CLOSING		0x08	/* end once output drains */
#define CONN_F_LINGER		0x10	/* conn.c's own: discarding to EOF */
#define CONN_F_QUEUED		0x20	/* on the flush queue */
#define CONN_F_CONNECTING	0x40	/* outbound, connect() under way */
#define CONN_F_OUTBOUND		0x80	/* made by conn_connect() */
#define CONN_F_HELD		0x100	/* conn_hold(): input waits unread */

/* Connections with output to write at the end of this loop pass. */
static struct conn	*conn_flushq;
static struct event	*conn_flush_ev;
/* Connections lingering after their protocol let go of them. */
static LIST_HEAD(, conn)	 conn_lingering = LIST_HEAD_INITIALIZER(conn_lingering);
static unsigned		 conn_nlinger;

static void	conn_write_cb(struct bufferevent *, void *);
static void	conn_set_bev(struct conn *, struct bufferevent *);
static void	conn_free(struct conn *);
static void	conn_gone(struct conn *, const char *);

/* Tell the protocol. */
static void
conn_emit(struct conn *c, enum conn_event ev)
{
	c->cb(c, ev, c->arg);
}

/* Put c on the flush queue (once) and make sure the pass ends in it. */
static void
conn_enqueue(struct conn *c)
{
	if (c->flags & CONN_F_QUEUED)
		return;
	c->flags |= CONN_F_QUEUED;
	c->flush_next = conn_flushq;
	conn_flushq = c;
	event_active(conn_flush_ev, EV_TIMEOUT, 0);
}

/* Take c off the flush queue. */
static void
conn_dequeue(struct conn *c)
{
	struct conn	**pp;

	if (!(c->flags & CONN_F_QUEUED))
		return;
	for (pp = &conn_flushq; *pp != NULL; pp = &(*pp)->flush_next)
		if (*pp == c) {
			*pp = c->flush_next;
			break;
		}
	c->flags &= ~CONN_F_QUEUED;
}

/*
 * Queue bytes for the client.  On a plain connection whose bufferevent
 * has nothing unsent, they wait in c->pend, and conn_flush_cb writes
 * them straight to the socket at the end of the loop pass: one write
 * for every reply of the pass, and none of the epoll_ctl calls and
 * wake-ups the bufferevent's write event costs per reply.
 */
void
conn_write(struct conn *c, const void *buf, size_t len)
{
	if (c->pend == NULL || (evbuffer_get_length(c->pend) == 0 &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)) {
		bufferevent_write(c->bev, buf, len);
		return;
	}
	evbuffer_add(c->pend, buf, len);
	conn_enqueue(c);
}

/* Octets not yet handed to the kernel (or to SSL). */
size_t
conn_unsent(struct conn *c)
{
	return (evbuffer_get_length(bufferevent_get_output(c->bev)) +
	    (c->pend != NULL ? evbuffer_get_length(c->pend) : 0));
}

/* What the client sent that the protocol has not consumed. */
struct evbuffer *
conn_input(struct conn *c)
{
	return (bufferevent_get_input(c->bev));
}

/*
 * Write c->pend to the socket.  What the socket does not take goes to
 * the bufferevent, which writes it as the client reads and then calls
 * conn_write_cb; when everything left, call it here.
 */
static void
conn_flush(struct conn *c)
{
	evutil_socket_t	fd = bufferevent_getfd(c->bev);

	while (c->pend != NULL && evbuffer_get_length(c->pend) > 0)
		if (evbuffer_write(c->pend, fd) <= 0)
			break;	/* EAGAIN or an error: the bufferevent sees it */
	if (c->pend != NULL && evbuffer_get_length(c->pend) > 0) {
		bufferevent_write_buffer(c->bev, c->pend);
		return;
	}
	conn_write_cb(c->bev, c);
}

/* End of the loop pass: write every connection's output. */
static void
conn_flush_cb(evutil_socket_t fd, short events, void *arg)
{
	struct conn	*c;

	while ((c = conn_flushq) != NULL) {
		conn_flushq = c->flush_next;
		c->flush_next = NULL;
		c->flags &= ~CONN_F_QUEUED;
		conn_flush(c);
	}
}

/* Stop reading. */
void
conn_pause_read(struct conn *c)
{
	bufferevent_disable(c->bev, EV_READ);
}

/* Read again. */
void
conn_resume_read(struct conn *c)
{
	bufferevent_enable(c->bev, EV_READ);
}

/*
 * Stop handing input to the protocol for a short while (a message being
 * committed), without taking the socket out of epoll and putting it back
 * (two epoll_ctl calls per message): what arrives meanwhile stays in the
 * input buffer (at most CONN_READ_HIWAT), and an end of input, a read
 * error or a read timeout is only noted (conn_held_event).  The
 * protocol sees the connection as if reading had been paused.
 */
void
conn_hold(struct conn *c)
{
	c->flags |= CONN_F_HELD;
	c->held_events = 0;
}

/*
 * The hold is over: the protocol consumes what is buffered itself.  If
 * reading stopped meanwhile, start it again: an end of input or an
 * error shows up again (conn_event_cb), a timeout starts from now, as
 * after conn_resume_read().
 */
void
conn_release(struct conn *c)
{
	c->flags &= ~CONN_F_HELD;
	if (c->held_events != 0)
		bufferevent_enable(c->bev, EV_READ);
}

/*
 * A read event during a hold.  libevent has stopped reading; remember
 * an error, so that the end of input it leaves behind is reported as
 * one after the hold (conn_event_cb).
 */
static void
conn_held_event(struct conn *c, short events)
{
	c->held_events |= events;
}

/*
 * The client is not reading its replies: stop reading until it has
 * taken them, then read again and say CONN_INPUT.
 */
void
conn_wait_drain(struct conn *c)
{
	c->flags |= CONN_F_FLOW;
	bufferevent_disable(c->bev, EV_READ);
}

/* Read and write timeouts, in seconds (0: none). */
void
conn_set_timeout(struct conn *c, long secs)
{
	struct timeval	tv = { secs, 0 };

	bufferevent_set_timeouts(c->bev, secs ? &tv : NULL, secs ? &tv : NULL);
}

/* The delay is over. */
static void
conn_delay_cb(evutil_socket_t fd, short events, void *arg)
{
	conn_emit(arg, CONN_DELAY);
}

/* Say CONN_DELAY after secs seconds (again: restart the timer). */
void
conn_delay(struct conn *c, unsigned secs)
{
	struct timeval	tv = { secs, 0 };

	if (c->delay == NULL && (c->delay = evtimer_new(
	    bufferevent_get_base(c->bev), conn_delay_cb, c)) == NULL)
		fatal("evtimer_new");
	evtimer_add(c->delay, &tv);
}

/* Forget a pending delay. */
void
conn_delay_cancel(struct conn *c)
{
	if (c->delay != NULL)
		evtimer_del(c->delay);
}

/*
 * Read no more; once the output has left, conn_write_cb does what flag
 * says.  With nothing unsent, the end of this loop pass is that moment.
 */
static void
conn_after_drain(struct conn *c, int flag)
{
	c->flags |= flag;
	bufferevent_disable(c->bev, EV_READ);
	if (conn_unsent(c) == 0)
		conn_enqueue(c);
}

/*
 * STARTTLS was answered: read nothing more in plaintext, and switch to
 * TLS once the go-ahead has left (conn_starttls_switch).
 */
void
conn_starttls_after_drain(struct conn *c)
{
	conn_after_drain(c, CONN_F_STARTTLS);
}

/*
 * The go-ahead is out.  Throw away whatever the client sent after it in
 * plaintext (RFC 3207 6, CVE-2011-0411: never run it), then move the
 * socket to a TLS bufferevent: CONN_TLS_SWITCHED, or CONN_GONE.
 */
static void
conn_starttls_switch(struct conn *c)
{
	struct evbuffer		*in = bufferevent_get_input(c->bev);
	struct event_base	*base = bufferevent_get_base(c->bev);
	struct bufferevent	*bev;
	evutil_socket_t		 fd = bufferevent_getfd(c->bev);
	size_t			 junk = evbuffer_get_length(in);

	c->flags &= ~CONN_F_STARTTLS;
	if (junk > 0) {
		log_info("s=%08llx starttls: discarded %zu octets pipelined "
		    "in plaintext", (unsigned long long)c->id, junk);
		evbuffer_drain(in, junk);
	}
	/* Detach the socket so freeing the plain bufferevent keeps it. */
	bufferevent_setfd(c->bev, -1);
	bufferevent_free(c->bev);
	c->bev = NULL;
	if ((bev = tls_socket_new(base, fd)) == NULL) {
		log_warnx("s=%08llx starttls: cannot start TLS",
		    (unsigned long long)c->id);
		close(fd);
		conn_gone(c, "tls-failed");
		return;
	}
	conn_set_bev(c, bev);
	conn_emit(c, CONN_TLS_SWITCHED);
}

/*
 * The protocol has said its last word: once it has left, end the
 * connection (CONN_DONE, then conn_linger).
 */
void
conn_close_after_drain(struct conn *c)
{
	conn_after_drain(c, CONN_F_CLOSING);
}

/*
 * The last byte is out of mxd's buffers.  Under TLS send close_notify
 * (RFC 8446 6.1), then half-close (FIN after the data), and read and
 * discard until the client closes too, for at most CONN_LINGER seconds.
 * Closing at once with client bytes still unread would make the kernel
 * send a reset, which can destroy replies the client has not read yet:
 * a client that pipelined past its 421, or whose own close_notify
 * crosses ours.
 */
static void
conn_linger(struct conn *c)
{
	struct timeval	 tv = { CONN_LINGER, 0 };
	SSL		*ssl = bufferevent_openssl_get_ssl(c->bev);

	if (ssl != NULL)
		(void)SSL_shutdown(ssl);
	if (conn_nlinger >= CONN_LINGER_MAX ||
	    shutdown(bufferevent_getfd(c->bev), SHUT_WR) == -1) {
		conn_free(c);
		return;
	}
	c->flags |= CONN_F_LINGER;
	c->linger_since = time(NULL);
	LIST_INSERT_HEAD(&conn_lingering, c, entry);
	conn_nlinger++;
	evbuffer_drain(bufferevent_get_input(c->bev),
	    evbuffer_get_length(bufferevent_get_input(c->bev)));
	bufferevent_set_timeouts(c->bev, &tv, NULL);
	bufferevent_enable(c->bev, EV_READ);
	bufferevent_disable(c->bev, EV_WRITE);
}

/* Input after our last word: throw it away, up to the linger bound. */
static void
conn_linger_read(struct conn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);

	evbuffer_drain(in, evbuffer_get_length(in));
	if (time(NULL) - c->linger_since >= CONN_LINGER)
		conn_free(c);
}

/* Input arrived. */
static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	if (c->flags & CONN_F_LINGER) {
		conn_linger_read(c);
		return;
	}
	/*
	 * Outbound: the peer's first bytes (a greeting) can be read before
	 * libevent has seen the connect complete; they prove it did.
	 */
	if (c->flags & CONN_F_CONNECTING) {
		c->flags &= ~CONN_F_CONNECTING;
		conn_emit(c, CONN_CONNECTED);
	}
	if (!(c->flags & CONN_F_HELD))
		conn_emit(c, CONN_INPUT);
}

/*
 * Output drained: close, switch to TLS, or resume a stalled reader.
 * Act only on what is true now: output may wait in c->pend, and a TLS
 * bufferevent runs this callback deferred, after later replies (a 250,
 * then the 221 of a pipelined QUIT) were queued behind the drained
 * ones.  Closing then would lose them.
 */
static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	if (c->bev == NULL || conn_unsent(c) > 0 ||
	    (c->flags & CONN_F_LINGER))
		return;
	if (c->flags & CONN_F_CLOSING) {
		c->flags &= ~CONN_F_CLOSING;
		conn_emit(c, CONN_DONE);
		conn_linger(c);
		return;
	}
	if (c->flags & CONN_F_STARTTLS) {
		conn_starttls_switch(c);
		return;
	}
	if (c->flags & CONN_F_FLOW) {
		c->flags &= ~CONN_F_FLOW;
		bufferevent_enable(c->bev, EV_READ);
		conn_emit(c, CONN_INPUT);
	}
}

/* The connection died: tell the protocol why, then free it. */
static void
conn_gone(struct conn *c, const char *why)
{
	c->why = why;
	conn_emit(c, CONN_GONE);
	conn_free(c);
}

/* EOF, error, timeout, or the end of the TLS handshake. */
static void
conn_event_cb(struct bufferevent *bev, short events, void *arg)
{
	struct conn	*c = arg;

	if (c->flags & CONN_F_LINGER) {
		/* The client closed, went away, or took too long: done. */
		conn_free(c);
		return;
	}
	if ((c->flags & CONN_F_OUTBOUND) && (events & BEV_EVENT_CONNECTED)) {
		/* Unless conn_read_cb saw the peer's first bytes already. */
		if (c->flags & CONN_F_CONNECTING) {
			c->flags &= ~CONN_F_CONNECTING;
			conn_emit(c, CONN_CONNECTED);
		}
		return;
	}
	if (c->flags & CONN_F_CONNECTING) {
		c->flags &= ~CONN_F_CONNECTING;
		conn_gone(c, events & BEV_EVENT_TIMEOUT ? "connect-timeout" :
		    "connect-failed");
		return;
	}
	if ((c->flags & CONN_F_HELD) && (events & BEV_EVENT_READING)) {
		conn_held_event(c, events);
		return;
	}
	if (c->held_events & BEV_EVENT_ERROR)
		events = (events & ~BEV_EVENT_EOF) | BEV_EVENT_ERROR;
	if (events & BEV_EVENT_CONNECTED) {
		tls_describe(bev, c->tls_info, sizeof(c->tls_info),
		    &c->tls_bits);
		c->flags |= CONN_F_TLS;
		conn_emit(c, CONN_TLS_READY);
		return;
	}
	if (events & BEV_EVENT_TIMEOUT) {
		if ((c->flags & CONN_F_CLOSING) ||
		    (events & BEV_EVENT_WRITING)) {
			/* It does not even read its replies: just go. */
			conn_gone(c, "timeout");
			return;
		}
		/* libevent stopped both directions; the 421 must leave. */
		bufferevent_enable(bev, EV_WRITE);
		conn_emit(c, CONN_TIMEOUT);
		return;
	}
	if ((events & BEV_EVENT_ERROR) && !(c->flags & CONN_F_TLS) &&
	    bufferevent_openssl_get_ssl(bev) != NULL) {
		log_info("s=%08llx tls failed client=[%s]:%d reason=\"%s\"",
		    (unsigned long long)c->id, c->addr, c->port,
		    tls_last_error(bev));
		conn_gone(c, "tls-failed");
		return;
	}
	conn_gone(c, events & BEV_EVENT_EOF ? "eof" : "error");
}

/* Install a (new) bufferevent: callbacks, limits, the coalescing. */
static void
conn_set_bev(struct conn *c, struct bufferevent *bev)
{
	c->bev = bev;
	if (bufferevent_openssl_get_ssl(bev) == NULL) {
		if (c->pend == NULL && (c->pend = evbuffer_new()) == NULL)
			fatal("evbuffer_new");
	} else if (c->pend != NULL) {
		evbuffer_free(c->pend);
		c->pend = NULL;
	}
	if (conn_flush_ev == NULL && (conn_flush_ev = event_new(
	    bufferevent_get_base(bev), -1, 0, conn_flush_cb, NULL)) == NULL)
		fatal("event_new");
	bufferevent_setcb(bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	bufferevent_setwatermark(bev, EV_READ, 0, CONN_READ_HIWAT);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/*
 * A connection on an accepted socket fd from sa; tls: implicit TLS (the
 * handshake runs first, then CONN_TLS_READY).  Events go to cb with arg;
 * id prefixes conn.c's own log lines (s=%08llx).  NULL if it cannot be
 * made (fd is closed then).
 */
struct conn *
conn_new(struct event_base *base, int fd, const struct sockaddr *sa,
    int tls, uint64_t id, void (*cb)(struct conn *, enum conn_event, void *),
    void *arg)
{
	struct bufferevent	*bev;
	struct conn		*c;

	if (tls)
		bev = tls_socket_new(base, fd);
	else
		bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		log_warnx("cannot start a connection for fd %d", fd);
		close(fd);
		return (NULL);
	}
	c = xcalloc(1, sizeof(*c));
	c->id = id;
	c->cb = cb;
	c->arg = arg;
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		evutil_inet_ntop(AF_INET6, &sin6->sin6_addr, c->addr,
		    sizeof(c->addr));
		c->port = ntohs(sin6->sin6_port);
	} else {
		const struct sockaddr_in *sin = (const void *)sa;

		evutil_inet_ntop(AF_INET, &sin->sin_addr, c->addr,
		    sizeof(c->addr));
		c->port = ntohs(sin->sin_port);
	}
	conn_set_bev(c, bev);
	return (c);
}

/*
 * An outbound connection to sa (a unix or an inet socket): CONN_CONNECTED
 * once it is up, CONN_GONE if it cannot be; no event comes before this
 * returns.  NULL, with *cause, if the connect fails at once (no such
 * socket file, connection refused on a unix socket).
 */
struct conn *
conn_connect(struct event_base *base, const struct sockaddr *sa,
    socklen_t len, const char *name, uint64_t id,
    void (*cb)(struct conn *, enum conn_event, void *), void *arg,
    const char **cause)
{
	struct bufferevent	*bev;
	struct conn		*c;
	int			 fd;

	if ((fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1) {
		*cause = strerror(errno);
		return (NULL);
	}
	if (connect(fd, sa, len) == -1 && errno != EINPROGRESS) {
		*cause = strerror(errno);
		close(fd);
		return (NULL);
	}
	if ((bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE)) ==
	    NULL) {
		close(fd);
		*cause = "cannot make a bufferevent";
		return (NULL);
	}
	c = xcalloc(1, sizeof(*c));
	c->id = id;
	c->cb = cb;
	c->arg = arg;
	snprintf(c->addr, sizeof(c->addr), "%s", name);
	conn_set_bev(c, bev);
	/* fd is connecting: libevent reports the outcome as an event. */
	c->flags |= CONN_F_CONNECTING | CONN_F_OUTBOUND;
	if (bufferevent_socket_connect(bev, NULL, 0) != 0) {
		conn_free(c);
		*cause = "connect failed";
		return (NULL);
	}
	return (c);
}

/* Close the connection now, without a word to the protocol. */
static void
conn_free(struct conn *c)
{
	conn_dequeue(c);
	if (c->flags & CONN_F_LINGER) {
		LIST_REMOVE(c, entry);
		conn_nlinger--;
	}
	if (c->delay != NULL)
		event_free(c->delay);
	if (c->pend != NULL)
		evbuffer_free(c->pend);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	free(c);
}

/* The protocol closes the connection now (an error, or the exit). */
void
conn_close(struct conn *c)
{
	conn_free(c);
}

/* How many connections linger, waiting for their client's close? */
unsigned
conn_linger_count(void)
{
	return (conn_nlinger);
}

/* At exit: close the lingering connections and the flush event. */
void
conn_free_all(void)
{
	while (!LIST_EMPTY(&conn_lingering))
		conn_free(LIST_FIRST(&conn_lingering));
	if (conn_flush_ev != NULL) {
		event_free(conn_flush_ev);
		conn_flush_ev = NULL;
	}
}

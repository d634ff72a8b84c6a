/*
 * listener.c: the listening sockets.  One evconnlistener per `listen`
 * address; each accepted connection becomes a session.  When the process
 * runs out of descriptors, accepting pauses for a second instead of
 * spinning on the error.
 */
#include <netinet/tcp.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "mxd.h"

struct listener {
	struct evconnlistener	*lev;
	struct event		*resume;
	char			*name;
	enum listen_kind	 kind;
	struct listener		*next;
};

static struct listener	*listeners;

/* A new connection. */
static void
listener_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int len, void *arg)
{
	struct listener	*l = arg;
	int		 one = 1;

	evutil_make_socket_closeonexec(fd);
	/*
	 * Replies are small and already gathered per loop pass; Nagle would
	 * hold the next one until the client's delayed ACK (up to 40 ms)
	 * whenever a reply is split over two passes, as the 250 after DATA
	 * and the pipelined replies after it are.
	 */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	session_accept(evconnlistener_get_base(lev), fd, sa, len, l->kind);
}

/* The pause after a descriptor shortage is over. */
static void
listener_resume_cb(evutil_socket_t fd, short events, void *arg)
{
	struct listener	*l = arg;

	evconnlistener_enable(l->lev);
}

/* accept() failed: pause on EMFILE/ENFILE, ignore the transient rest. */
static void
listener_error_cb(struct evconnlistener *lev, void *arg)
{
	struct listener	*l = arg;
	struct timeval	 tv = { 1, 0 };
	int		 err = EVUTIL_SOCKET_ERROR();

	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM)
		return;
	log_warnx("listener %s: accept: %s; pausing for 1s", l->name,
	    strerror(err));
	evconnlistener_disable(lev);
	evtimer_add(l->resume, &tv);
}

/* Listen on one address:port; 0 or -1 with *cause. */
int
listener_open(struct event_base *base, const char *where,
    enum listen_kind kind, const char **cause)
{
	static const char *const kinds[] = { "smtp", "smtps", "submission" };
	struct sockaddr_storage	 ss;
	struct listener		*l;
	int			 len = sizeof(ss);

	if (evutil_parse_sockaddr_port(where, (struct sockaddr *)&ss,
	    &len) != 0) {
		*cause = "bad address";
		return (-1);
	}
	l = xcalloc(1, sizeof(*l));
	l->lev = evconnlistener_new_bind(base, listener_accept_cb, l,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC |
	    (ss.ss_family == AF_INET6 ? LEV_OPT_BIND_IPV6ONLY : 0), 511,
	    (struct sockaddr *)&ss, len);
	if (l->lev == NULL) {
		*cause = strerror(errno);
		free(l);
		return (-1);
	}
	l->name = xstrdup(where);
	l->kind = kind;
	l->resume = evtimer_new(base, listener_resume_cb, l);
	evconnlistener_set_error_cb(l->lev, listener_error_cb);
	l->next = listeners;
	listeners = l;
	log_info("listening on %s (%s)", where, kinds[kind]);
	return (0);
}

/* Stop accepting on every listener. */
void
listener_close_all(void)
{
	struct listener	*l;

	while ((l = listeners) != NULL) {
		listeners = l->next;
		evconnlistener_free(l->lev);
		event_free(l->resume);
		free(l->name);
		free(l);
	}
}

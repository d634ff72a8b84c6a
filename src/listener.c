/*
 * listener.c: the listening sockets.  One evconnlistener per `listen`
 * address; each accepted connection becomes a session.  When the process
 * runs out of descriptors, a descriptor kept in reserve lets it accept
 * the waiting client anyway, tell it 421 and close, instead of leaving it
 * unanswered; if even that fails, accepting pauses for a second instead
 * of spinning on the error.
 */
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "mxd.h"

struct listener {
	struct evconnlistener		*lev;
	struct event			*resume;
	char				*name;
	const struct protocol		*proto;
	int				 kind;
	const char			*kind_name;
	struct listener			*next;
};

static struct listener	*listeners;
static int		 listener_reserve = -1;	/* for the 421 at EMFILE */
static int		 listener_null = -1;	/* /dev/null: reserves dup it */

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
	l->proto->accept(evconnlistener_get_base(lev), fd, sa, len, l->kind);
}

/* The pause after a descriptor shortage is over. */
static void
listener_resume_cb(evutil_socket_t fd, short events, void *arg)
{
	struct listener	*l = arg;

	evconnlistener_enable(l->lev);
}

/*
 * Out of descriptors: free the reserve, accept one waiting client, send
 * it 421, and make its descriptor the reserve again.  0 if that worked.
 * The swap is dup3() of listener_null onto the client's number: it
 * closes the client and takes the slot in one step, so that another
 * thread opening a file (the spool's, the index's) cannot take the slot
 * between a close and an open, and leave the next clients unanswered
 * (t_limits test_out_of_descriptors found that window under load).  A
 * reserve lost anyway (taken between the close and the accept) is taken
 * again at the next EMFILE if a descriptor is free by then.
 */
static int
listener_refuse(struct listener *l)
{
	static time_t	 warned;
	static unsigned	 refused;
	char		 line[1024];
	size_t		 n;
	int		 fd, lfd = evconnlistener_get_fd(l->lev);

	if (listener_reserve == -1 && (listener_null == -1 ||
	    (listener_reserve = fcntl(listener_null, F_DUPFD_CLOEXEC, 0)) ==
	    -1))
		return (-1);
	close(listener_reserve);
	listener_reserve = -1;
	if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
		/* Nobody was waiting after all: the slot is still free. */
		listener_reserve = fcntl(listener_null, F_DUPFD_CLOEXEC, 0);
		return (-1);
	}
	n = l->proto->busy_line(line, sizeof(line));
	(void)!write(fd, line, n);	/* best effort, non-blocking */
	if (dup3(listener_null, fd, O_CLOEXEC) == -1)
		close(fd);
	else
		listener_reserve = fd;
	/* One log line a second at most: this happens under a flood. */
	refused++;
	if (time(NULL) != warned) {
		log_warnx("listener %s: out of file descriptors; refused %u "
		    "client(s) with 421", l->name, refused);
		warned = time(NULL);
		refused = 0;
	}
	return (0);
}

/* accept() failed: refuse or pause on EMFILE/ENFILE, ignore the rest. */
static void
listener_error_cb(struct evconnlistener *lev, void *arg)
{
	struct listener	*l = arg;
	struct timeval	 tv = { 1, 0 };
	int		 err = EVUTIL_SOCKET_ERROR();

	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM)
		return;
	if (err == EMFILE && listener_refuse(l) == 0)
		return;
	log_warnx("listener %s: accept: %s; pausing for 1s", l->name,
	    strerror(err));
	evconnlistener_disable(lev);
	evtimer_add(l->resume, &tv);
}

/* Listen on one address:port; 0 or -1 with *cause. */
int
listener_open(struct event_base *base, const char *where,
    const struct protocol *proto, int i, const char **cause)
{
	struct sockaddr_storage	 ss;
	struct listener		*l;
	int			 len = sizeof(ss), err;

	if (evutil_parse_sockaddr_port(where, (struct sockaddr *)&ss,
	    &len) != 0) {
		errno = EINVAL;
		*cause = "bad address";
		return (-1);
	}
	if (listener_null == -1)
		listener_null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (listener_reserve == -1 && listener_null != -1)
		listener_reserve = fcntl(listener_null, F_DUPFD_CLOEXEC, 0);
	l = xcalloc(1, sizeof(*l));
	l->lev = evconnlistener_new_bind(base, listener_accept_cb, l,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC |
	    (ss.ss_family == AF_INET6 ? LEV_OPT_BIND_IPV6ONLY : 0), 511,
	    (struct sockaddr *)&ss, len);
	if (l->lev == NULL) {
		err = errno;
		*cause = strerror(err);
		free(l);
		errno = err;
		return (-1);
	}
	l->name = xstrdup(where);
	l->proto = proto;
	l->kind = proto->listeners[i].kind;
	l->kind_name = proto->listeners[i].name;
	l->resume = evtimer_new(base, listener_resume_cb, l);
	evconnlistener_set_error_cb(l->lev, listener_error_cb);
	l->next = listeners;
	listeners = l;
	log_info("listening on %s (%s)", where, l->kind_name);
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
	if (listener_reserve != -1)
		close(listener_reserve);
	if (listener_null != -1)
		close(listener_null);
	listener_reserve = listener_null = -1;
}

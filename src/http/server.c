/*
 * server.c: the HTTP listener and its routing table.  In: the
 * http_listen addresses and the auth settings; requests from libevent's
 * evhttp on the main event loop (no thread per request).  Out: each
 * request handed to one handler by (method, path pattern), with its path
 * segments percent-decoded and its query parsed, or a JSON error: 401
 * without valid basic authentication, 404 for an unknown path, 405 for a
 * known path with another method.  Path segments are IDs checked by the
 * handlers, never file names.  Requests are bounded in header size, body
 * size and time.  Started after the spool (it opens the index).
 * https_listen addresses serve the same over TLS (RFC 2818) with SMTP's
 * certificate (tls_cert, tls_key; tls.c makes each connection's TLS
 * bufferevent, so a reload's new certificate serves new connections).
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "http/http.h"
#include "http/web.h"

#define HTTP_MAX_HEADERS	(16 * 1024)
#define HTTP_MAX_BODY		(1024 * 1024)
#define HTTP_TIMEOUT		30		/* seconds, per read or write */

/* A route: method, path pattern (* is one segment), handler. */
struct http_route {
	int		  method;
	const char	 *pattern;
	void		(*fn)(struct http_req *);
};

static const struct http_route http_routes[] = {
	/* Mailpit API v1 */
	{ EVHTTP_REQ_GET, "/api/v1/messages", mailpit_messages },
	{ EVHTTP_REQ_PUT, "/api/v1/messages", mailpit_set_read },
	{ EVHTTP_REQ_DELETE, "/api/v1/messages", mailpit_delete },
	{ EVHTTP_REQ_GET, "/api/v1/search", mailpit_search },
	{ EVHTTP_REQ_DELETE, "/api/v1/search", mailpit_search_delete },
	{ EVHTTP_REQ_GET, "/api/v1/message/*", mailpit_message },
	{ EVHTTP_REQ_GET, "/api/v1/message/*/headers", mailpit_headers },
	{ EVHTTP_REQ_GET, "/api/v1/message/*/raw", mailpit_raw },
	{ EVHTTP_REQ_GET, "/api/v1/message/*/part/*", mailpit_part },
	{ EVHTTP_REQ_GET, "/view/*", mailpit_view },
	{ EVHTTP_REQ_GET, "/api/v1/info", mailpit_info },
	{ EVHTTP_REQ_GET, "/api/v1/tags", tags_get },
	{ EVHTTP_REQ_PUT, "/api/v1/tags", tags_put },
	{ EVHTTP_REQ_PUT, "/api/v1/tags/*", tags_rename_one },
	{ EVHTTP_REQ_DELETE, "/api/v1/tags/*", tags_delete_one },
	{ EVHTTP_REQ_GET, "/api/v1/chaos", chaos_get_request },
	{ EVHTTP_REQ_PUT, "/api/v1/chaos", chaos_put_request },
	{ EVHTTP_REQ_GET, "/livez", mailpit_probe },
	{ EVHTTP_REQ_GET, "/readyz", mailpit_probe },
	/* mxd's own: wait for a message; live events (MailHog's path) */
	{ EVHTTP_REQ_GET, "/api/v1/wait", wait_request },
	{ EVHTTP_REQ_GET, "/api/v1/events", events_request },
	/* MailHog API v1 (DELETE) and v2 */
	{ EVHTTP_REQ_DELETE, "/api/v1/messages/*", mailhog_delete_one },
	{ EVHTTP_REQ_GET, "/api/v2/messages", mailhog_messages },
	{ EVHTTP_REQ_GET, "/api/v2/search", mailhog_search },
	/* the page (web/, embedded) */
	{ EVHTTP_REQ_GET, "/", web_page },
	{ EVHTTP_REQ_GET, "/app.js", web_page },
	{ EVHTTP_REQ_GET, "/style.css", web_page },
};
#define NROUTES	(sizeof(http_routes) / sizeof(http_routes[0]))

/* A bound listening socket and the server (plain or TLS) it feeds. */
struct http_bound {
	struct evhttp			*server;
	struct evhttp_bound_socket	*bs;
	struct http_bound		*next;
};

static struct evhttp		*http_server;
static struct evhttp		*https_server;
static struct http_bound	*http_bounds;
static char			*http_spool_dir;
static int			 http_auth_on;
static time_t			 http_start_time;

/* The spool directory the API reads. */
const char *
http_spool(void)
{
	return (http_spool_dir);
}

/* When the listener started. */
time_t
http_started(void)
{
	return (http_start_time);
}

/* Is where (address:port) a loopback address?  Unparsable: no. */
static int
http_loopback(const char *where)
{
	struct sockaddr_storage	 ss;
	int			 len = sizeof(ss);

	if (evutil_parse_sockaddr_port(where, (struct sockaddr *)&ss,
	    &len) != 0)
		return (0);
	if (ss.ss_family == AF_INET)
		return ((ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >>
		    24) == 127);
	return (ss.ss_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(
	    &((struct sockaddr_in6 *)&ss)->sin6_addr));
}

/*
 * name's addresses: one that is not loopback needs basic authentication
 * (http_auth_file) or an explicit http_auth = none.  0, or -1 with
 * *cause.
 */
static int
http_check_open(const char *name, const struct strlist *l,
    const struct config *c, int warn, char **cause)
{
	size_t	i;
	int	none = strcmp(c->http_auth, "none") == 0;

	for (i = 0; i < l->n; i++) {
		if (http_loopback(l->v[i]))
			continue;
		if (none) {
			if (warn)
				log_warnx("%s %s is not a loopback address "
				    "and http_auth = none: anyone who can "
				    "reach it reads and deletes the mail", name,
				    l->v[i]);
		} else if (c->http_auth_file[0] == '\0') {
			xasprintf(cause, "%s %s is not a loopback "
			    "address: set http_auth_file (an htpasswd file) "
			    "or, to expose the mail to anyone, http_auth = "
			    "none", name, l->v[i]);
			return (-1);
		}
	}
	return (0);
}

/*
 * The settings' rules, for start and mxd -t: the rule above for both
 * listen settings (warn: log the http_auth = none warning);
 * https_listen needs the certificate.  0, or -1 with *cause.
 */
static int
http_rules(const struct config *c, int warn, char **cause)
{
	if (http_check_open("http_listen", &c->http_listen, c, warn,
	    cause) != 0 || http_check_open("https_listen", &c->https_listen,
	    c, warn, cause) != 0)
		return (-1);
	if (c->https_listen.n > 0 && c->tls_cert[0] == '\0') {
		xasprintf(cause, "https_listen needs a certificate: set "
		    "tls_cert and tls_key");
		return (-1);
	}
	return (0);
}

/* Does the password file apply (a listener, auth not none, a file)? */
static int
http_auth_applies(const struct config *c)
{
	return (c->http_listen.n + c->https_listen.n > 0 &&
	    strcmp(c->http_auth, "none") != 0 && c->http_auth_file[0] != '\0');
}

/*
 * mxd -t, start and reload (the core's check): the rules, and the
 * password file well-formed, without loading it.  0, or -1 with *cause.
 */
static int
http_check(const struct config *c, char **cause)
{
	if (http_rules(c, 0, cause) != 0)
		return (-1);
	if (http_auth_applies(c) && htpasswd_test(c->http_auth_file,
	    cause) != 0)
		return (-1);
	return (0);
}

/*
 * Check the settings before anything is bound (warning about http_auth
 * = none) and load the password file.  0, or -1 with *cause.
 */
static int
http_init(const struct config *c, char **cause)
{
	if (http_rules(c, 1, cause) != 0)
		return (-1);
	if (!http_auth_applies(c))
		return (0);
	if (htpasswd_load(c->http_auth_file, cause) != 0)
		return (-1);
	http_auth_on = 1;
	return (0);
}

/* The reason phrase of the status codes mxd sends. */
static const char *
http_phrase(int code)
{
	switch (code) {
	case 200: return ("OK");
	case 400: return ("Bad Request");
	case 401: return ("Unauthorized");
	case 404: return ("Not Found");
	case 405: return ("Method Not Allowed");
	case 408: return ("Request Timeout");
	case 500: return ("Internal Server Error");
	case 503: return ("Service Unavailable");
	default: return ("Error");
	}
}

/* Send data of type ctype with status code; the request is done. */
void
http_reply_data(struct http_req *r, int code, const char *ctype,
    const void *data, size_t len)
{
	struct evbuffer	*b = evbuffer_new();

	if (ctype != NULL)
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
		    "Content-Type", ctype);
	evbuffer_add(b, data, len);
	evhttp_send_reply(r->req, code, http_phrase(code), b);
	evbuffer_free(b);
}

/* Send v (its reference taken) as JSON with a newline, as Go does. */
void
http_reply_json(struct http_req *r, int code, json_t *v)
{
	char	*s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	size_t	 n;

	json_decref(v);
	if (s == NULL) {
		http_reply_data(r, 500, "application/json",
		    "{\"Error\":\"cannot encode\"}\n", 25);
		return;
	}
	n = strlen(s);
	s = realloc(s, n + 2);
	if (s == NULL)
		fatal("realloc");
	s[n] = '\n';
	http_reply_data(r, code, "application/json", s, n + 1);
	free(s);
}

/* Send {"Error": why} with status code. */
void
http_reply_error(struct http_req *r, int code, const char *why)
{
	http_reply_json(r, code, json_pack("{s:s}", "Error", why));
}

/* Send status code with an empty body (both APIs' DELETE). */
void
http_reply_empty(struct http_req *r, int code)
{
	http_reply_data(r, code, NULL, "", 0);
}

/* A query parameter, or NULL. */
const char *
http_param(struct http_req *r, const char *name)
{
	return (evhttp_find_header(&r->query, name));
}

/* A query parameter as a number >= 0, or def when absent or bad. */
long long
http_param_int(struct http_req *r, const char *name, long long def)
{
	const char	*v = http_param(r, name);
	char		*end;
	long long	 n;

	if (v == NULL || *v == '\0')
		return (def);
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || *end != '\0' || n < 0)
		return (def);
	return (n);
}

/*
 * The request body as JSON, or NULL if it is empty or not JSON; *bad
 * (if not NULL) says which: 1 for a body that is not JSON.
 */
json_t *
http_body_json(struct http_req *r, int *bad)
{
	struct evbuffer	*b = evhttp_request_get_input_buffer(r->req);
	size_t		 n = evbuffer_get_length(b);
	json_t		*v = NULL;

	if (n > 0)
		v = json_loadb((const char *)evbuffer_pullup(b, -1), n, 0,
		    NULL);
	if (bad != NULL)
		*bad = n > 0 && v == NULL;
	return (v);
}

/*
 * Split path at '/' into r->seg, each percent-decoded; a trailing '/'
 * is ignored.  0, or -1 for too many segments or a decoded NUL.
 */
static int
http_split(struct http_req *r, const char *path)
{
	const char	*p = path, *e;
	char		*raw;
	size_t		 len;

	if (*p == '/')
		p++;
	while (*p != '\0') {
		if (r->nseg == HTTP_MAX_SEGMENTS)
			return (-1);
		e = p + strcspn(p, "/");
		raw = xmalloc((size_t)(e - p) + 1);
		memcpy(raw, p, (size_t)(e - p));
		raw[e - p] = '\0';
		r->seg[r->nseg] = evhttp_uridecode(raw, 0, &len);
		free(raw);
		if (r->seg[r->nseg] == NULL)
			return (-1);
		if (strlen(r->seg[r->nseg++]) != len)
			return (-1);
		p = *e == '/' ? e + 1 : e;
	}
	return (0);
}

/* Does the pattern match r's segments? */
static int
http_match(const char *pattern, const struct http_req *r)
{
	const char	*p = pattern + 1, *e;
	size_t		 i = 0, n;

	while (*p != '\0') {
		if (i == r->nseg)
			return (0);
		e = p + strcspn(p, "/");
		n = (size_t)(e - p);
		if (!(n == 1 && *p == '*') && (strlen(r->seg[i]) != n ||
		    strncmp(r->seg[i], p, n) != 0))
			return (0);
		i++;
		p = *e == '/' ? e + 1 : e;
	}
	return (i == r->nseg);
}

/* Basic authentication, when configured: 1 if r may go on. */
static int
http_authorized(struct http_req *r)
{
	const char	*h;

	if (!http_auth_on)
		return (1);
	h = evhttp_find_header(evhttp_request_get_input_headers(r->req),
	    "Authorization");
	if (h != NULL && strncasecmp(h, "Basic ", 6) == 0 &&
	    htpasswd_check(h + 6) == 0)
		return (1);
	evhttp_add_header(evhttp_request_get_output_headers(r->req),
	    "WWW-Authenticate", "Basic realm=\"mxd\", charset=\"UTF-8\"");
	http_reply_error(r, 401, "authentication required");
	return (0);
}

/* Free what a request context holds (not the evhttp request). */
static void
http_req_free(struct http_req *r)
{
	size_t	i;

	for (i = 0; i < r->nseg; i++)
		free(r->seg[i]);
	evhttp_clear_headers(&r->query);
	free(r);
}

/* Every request: authenticate, route, run the handler. */
static void
http_request_cb(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	struct http_req		*r = xcalloc(1, sizeof(*r));
	const char		*path, *q;
	int			 method, known = 0;
	size_t			 i;

	r->req = req;
	TAILQ_INIT(&r->query);
	if (!http_authorized(r)) {
		http_req_free(r);
		return;
	}
	method = evhttp_request_get_command(req);
	if (method == EVHTTP_REQ_HEAD)
		method = EVHTTP_REQ_GET;
	path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	q = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
	if (path == NULL || (q != NULL && evhttp_parse_query_str(q,
	    &r->query) != 0)) {
		http_reply_error(r, 400, "bad request");
		http_req_free(r);
		return;
	}
	if (http_split(r, path) != 0) {
		http_reply_error(r, 404, "not found");
		http_req_free(r);
		return;
	}
	for (i = 0; i < NROUTES; i++) {
		if (!http_match(http_routes[i].pattern, r))
			continue;
		known = 1;
		if (http_routes[i].method == method) {
			http_routes[i].fn(r);
			http_req_free(r);
			return;
		}
	}
	if (known)
		http_reply_error(r, 405, "method not allowed");
	else
		http_reply_error(r, 404, "not found");
	http_req_free(r);
}

/*
 * Bind where (address:port) and hand the socket to evhttp.  0, or -1
 * with errno.
 */
static int
http_bind(struct evhttp *server, const char *where)
{
	struct sockaddr_storage	 ss;
	struct http_bound	*b;
	int			 len = sizeof(ss), fd, one = 1, err;

	if (evutil_parse_sockaddr_port(where, (struct sockaddr *)&ss,
	    &len) != 0) {
		errno = EINVAL;
		return (-1);
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1)
		return (-1);
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
		    sizeof(one));
	/*
	 * evhttp writes a reply's headers and body separately: with Nagle
	 * the body waits for the ACK of the headers, which a keep-alive
	 * client delays up to 40 ms.  Accepted sockets inherit this (Linux).
	 */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, (socklen_t)len) == -1 ||
	    listen(fd, 128) == -1) {
		err = errno;
		close(fd);
		errno = err;
		return (-1);
	}
	b = xcalloc(1, sizeof(*b));
	b->server = server;
	if ((b->bs = evhttp_accept_socket_with_handle(server, fd)) == NULL) {
		close(fd);
		free(b);
		errno = EIO;
		return (-1);
	}
	b->next = http_bounds;
	http_bounds = b;
	log_info("listening on %s (%s)", where, server == https_server ?
	    "https" : "http");
	return (0);
}

/*
 * Started as root: the index's files go to the run-as user, as the
 * spool does (mxd.c checks the user when it drops privileges).
 */
static void
http_give_index(const struct config *c)
{
	struct passwd	*pw;
	struct group	*gr;
	gid_t		 gid;

	if (geteuid() != 0 || (pw = getpwnam(c->user)) == NULL ||
	    pw->pw_uid == 0)
		return;
	gid = pw->pw_gid;
	if (c->group[0] != '\0' && (gr = getgrnam(c->group)) != NULL)
		gid = gr->gr_gid;
	index_chown(pw->pw_uid, gid);
}

/* A new evhttp on base with mxd's bounds and the request callback. */
static struct evhttp *
http_new(struct event_base *base)
{
	struct evhttp	*h;

	if ((h = evhttp_new(base)) == NULL)
		return (NULL);
	evhttp_set_max_headers_size(h, HTTP_MAX_HEADERS);
	evhttp_set_max_body_size(h, HTTP_MAX_BODY);
	evhttp_set_timeout(h, HTTP_TIMEOUT);
	evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_POST |
	    EVHTTP_REQ_OPTIONS);
	evhttp_set_gencb(h, http_request_cb, NULL);
	return (h);
}

/*
 * Bind every address of setting name (l) for server.  A loopback IPv6
 * address on a machine without IPv6 is skipped with a warning, as for
 * SMTP.  The number opened, or -1 with *cause.
 */
static int
http_bind_all(struct evhttp *server, const char *name,
    const struct strlist *l, char **cause)
{
	size_t	i;
	int	opened = 0;

	for (i = 0; i < l->n; i++) {
		if (http_bind(server, l->v[i]) == 0) {
			opened++;
			continue;
		}
		if (strncmp(l->v[i], "[::1]:", 6) == 0 &&
		    (errno == EADDRNOTAVAIL || errno == EAFNOSUPPORT)) {
			log_warnx("%s %s: %s; skipped (no IPv6 here)", name,
			    l->v[i], strerror(errno));
			continue;
		}
		if (errno != EADDRINUSE)
			xasprintf(cause, "%s %s: %s", name, l->v[i],
			    strerror(errno));
		else
			xasprintf(cause, "%s %s: %s (is Mailpit, MailHog or "
			    "another mxd using that port?  Choose another with "
			    "-o %s=127.0.0.1:PORT, or none with -o %s=)", name,
			    l->v[i], strerror(errno), name, name);
		return (-1);
	}
	return (opened);
}

/*
 * Start the API, before privileges are dropped: the index of the spool,
 * then the listeners on base, plain and TLS.  0, or -1 with *cause.
 */
static int
http_start(struct event_base *base, char **cause)
{
	const struct config	*c = cfg;
	int			 n, m = 0;

	if (c->http_listen.n + c->https_listen.n == 0)
		return (0);
	http_start_time = time(NULL);
	http_spool_dir = xstrdup(c->spool_dir);
	if (index_start(base, c->spool_dir, c->sink_max_messages,
	    (long long)c->sink_max_size, cause) != 0)
		return (-1);
	http_give_index(c);
	wait_init();
	events_init(base);
	mailpit_count_init();
	if ((http_server = http_new(base)) == NULL ||
	    (https_server = http_new(base)) == NULL) {
		xasprintf(cause, "evhttp_new failed");
		return (-1);
	}
	evhttp_set_bevcb(https_server, tls_http_bev, NULL);
	if ((n = http_bind_all(http_server, "http_listen", &c->http_listen,
	    cause)) < 0 || (m = http_bind_all(https_server, "https_listen",
	    &c->https_listen, cause)) < 0)
		return (-1);
	if (n + m == 0) {
		xasprintf(cause, "http_listen: no address could be opened");
		return (-1);
	}
	return (0);
}

/* Answers given at shutdown still being written (http_track_answer). */
static unsigned		http_answering;
static struct timespec	http_answer_deadline;
#define HTTP_ANSWER_WAIT	2	/* seconds, at most */

/* Shutting down: stop accepting, answer the waiting long polls. */
static void
http_shutdown(void)
{
	struct http_bound	*b;

	clock_gettime(CLOCK_MONOTONIC, &http_answer_deadline);
	http_answer_deadline.tv_sec += HTTP_ANSWER_WAIT;
	wait_cancel_all();
	bulk_cancel_all();
	events_stop();
	while ((b = http_bounds) != NULL) {
		http_bounds = b->next;
		evhttp_del_accept_socket(b->server, b->bs);
		free(b);
	}
}

/*
 * Answers given at shutdown (503s to long polls and bulk requests) that
 * are still being written, and how long the drain waits for them: the
 * loop must run until they are sent, or the client sees a closed
 * connection instead of a reason.
 */

/* evhttp: a tracked answer is sent. */
static void
http_answer_sent_cb(struct evhttp_request *req, void *arg)
{
	if (http_answering > 0)
		http_answering--;
}

/*
 * Have the shutdown's drain wait (a little) until req's answer, about to
 * be sent, is written.  A request whose client is gone is not waited for.
 */
void
http_track_answer(struct evhttp_request *req)
{
	if (evhttp_request_get_connection(req) == NULL)
		return;
	http_answering++;
	evhttp_request_set_on_complete_cb(req, http_answer_sent_cb, NULL);
}

/* What the drain waits for: answers still being written, for a while. */
static unsigned
http_count(void)
{
	struct timespec	now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec > http_answer_deadline.tv_sec)
		return (0);
	return (http_answering);
}

/* Free everything at exit. */
static void
http_free_all(void)
{
	http_shutdown();
	if (http_server != NULL)
		evhttp_free(http_server);
	if (https_server != NULL)
		evhttp_free(https_server);
	http_server = https_server = NULL;
	index_stop();
	htpasswd_free();
	free(http_spool_dir);
	http_spool_dir = NULL;
}

/* Never called: HTTP has no listener rows (evhttp accepts itself). */
static size_t
http_busy_line(char *buf, size_t len)
{
	return (0);
}

const struct protocol http_protocol = {
	.name = "http",
	.init = http_init,
	.accept = NULL,
	.busy_line = http_busy_line,
	.shutdown = http_shutdown,
	.count = http_count,
	.free_all = http_free_all,
	.listeners = { { NULL, 0, NULL } },
	.start = http_start,
	.check = http_check,
};

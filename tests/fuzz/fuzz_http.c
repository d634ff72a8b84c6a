/*
 * fuzz_http.c: libFuzzer target over the HTTP API's request handling:
 * basic routing (path splitting, percent-decoding, the route table,
 * 404/405), query parsing, the handlers' parameters, JSON bodies for
 * PUT and DELETE (read state, tags, chaos, deletes), search queries and
 * the MIME paths of message, part and view.  The input is the raw bytes
 * of one or more requests, written over loopback TCP to a real mxd
 * HTTP listener (http_protocol's init and start, unchanged) on a real
 * event loop, over a real spool and its index holding two messages.
 * The client half-closes and reads until mxd closes; a request mxd
 * parks (a wait, an event stream) is left after a short bound.
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "fuzzlib.h"

#define PARK_MS		50	/* how long a parked request may hold on */

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct event_base	*base;
static struct config		 conf;
static char			 spool[64];
static struct sockaddr_in	 where;

/* Message i (of two) into queue/: a plain one and a multipart one. */
static void
put(int i)
{
	static const char *const bodies[] = {
		"From: A <a@example.com>\r\nTo: u@x.example\r\n"
		"Subject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n"
		"Message-ID: <one@x>\r\n\r\nplain body\r\n",
		"From: b@example.com\r\nTo: v@y.example\r\nSubject: two\r\n"
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; "
		"boundary=B\r\n\r\n--B\r\nContent-Type: text/html\r\n\r\n"
		"<p>hi <img src=\"cid:c1\"></p>\r\n--B\r\nContent-Type: "
		"image/png\r\nContent-ID: <c1>\r\nContent-Transfer-Encoding: "
		"base64\r\n\r\niVBORw0KGgo=\r\n--B--\r\n",
	};
	char	 qid[QID_LEN + 1], arrival[32];
	char	*rcpt[] = { "u@x.example", "v@y.example" };

	snprintf(qid, sizeof(qid), "0000000000000%03X", i + 1);
	snprintf(arrival, sizeof(arrival), "2026-11-29T00:00:0%dZ", i);
	fuzz_spool_put(spool, qid, arrival, rcpt, 2, bodies[i]);
}

/* A loopback port that was free a moment ago. */
static int
free_port(void)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	int			fd, port;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		abort();
	port = ntohs(sin.sin_port);
	close(fd);
	return (port);
}

/* One-time set-up: configuration, spool, the HTTP listener and index. */
static void
setup(void)
{
	char	*why = NULL, listen[64], *over[] = { "spool_sync=no",
	    "hostname=fuzz.test", "sink_faults=yes", listen };
	int	 i, port = free_port();

	snprintf(listen, sizeof(listen), "http_listen=127.0.0.1:%d", port);
	fuzz_spool_setup(&conf, over, 4, "http", spool, sizeof(spool));
	for (i = 0; i < 2; i++)
		put(i);
	if ((base = event_base_new()) == NULL)
		abort();
	if (http_protocol.init(cfg, &why) != 0 ||
	    http_protocol.start(base, &why) != 0) {
		fprintf(stderr, "fuzz_http: %s\n", why);
		abort();
	}
	memset(&where, 0, sizeof(where));
	where.sin_family = AF_INET;
	where.sin_port = htons(port);
	where.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/* Milliseconds on the monotonic clock. */
static long long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		 junk[65536];
	size_t		 off = 0;
	ssize_t		 n;
	long long	 until;
	int		 fd, done = 0, shut = 0;

	if (base == NULL)
		setup();
	if (size > 256 * 1024)
		return (0);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		abort();
	if (connect(fd, (struct sockaddr *)&where, sizeof(where)) == -1)
		abort();
	fcntl(fd, F_SETFL, O_NONBLOCK);
	/* Feed the input, read the replies until mxd closes; bounded. */
	until = now_ms() + PARK_MS;
	while (!done) {
		if (off < size && (n = write(fd, data + off, size - off)) > 0)
			off += (size_t)n;
		if (off == size && !shut) {
			shutdown(fd, SHUT_WR);
			shut = 1;
			until = now_ms() + PARK_MS;
		}
		while ((n = read(fd, junk, sizeof(junk))) > 0)
			;
		if (n == 0 || (n == -1 && errno != EAGAIN))
			done = 1;
		event_base_loop(base, EVLOOP_NONBLOCK);
		if (shut && now_ms() > until)
			break;		/* parked: a wait or an event stream */
	}
	close(fd);
	event_base_loop(base, EVLOOP_NONBLOCK);
	return (0);
}

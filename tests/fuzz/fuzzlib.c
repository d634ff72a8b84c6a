/*
 * fuzzlib.c: the set-up the libFuzzer harnesses over a real spool share
 * (fuzz_session, fuzz_pop3, fuzz_http, fuzz_deliver).  In: the
 * harness's settings, messages and input bytes.  Out: the global
 * configuration (cfg) and a fresh spool under /tmp, queue files in it,
 * and a session run to its end on the harness's event loop.  Every
 * failure of the set-up aborts: it is the harness, not mxd, that broke.
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "fuzzlib.h"

/*
 * Load the configuration c from the n settings over (no file), make a
 * private spool /tmp/mxd-fuzz-<name>.XXXXXX (its path into spool, len
 * octets), make c the global cfg and start the store on the spool.
 */
void
fuzz_spool_setup(struct config *c, char **over, int n, const char *name,
    char *spool, size_t len)
{
	char	*why = NULL;

	if (config_load(c, NULL, over, n, &why) != 0)
		abort();
	snprintf(spool, len, "/tmp/mxd-fuzz-%s.XXXXXX", name);
	if (mkdtemp(spool) == NULL)
		abort();
	if (config_set(c, "spool_dir", spool, &why) != 0)
		abort();
	cfg = c;
	if (spool_init(spool, 0, (const char **)&why) != 0)
		abort();
	log_init(-1, "mxd", "mail");
}

/*
 * Write queue/<qid>.eml: an envelope from a@example.com to the n
 * recipients, arrived at arrival (RFC 3339), then mxd's Received: line
 * and body.
 */
void
fuzz_spool_put(const char *spool, const char *qid, const char *arrival,
    char **rcpt, size_t n, const char *body)
{
	struct evbuffer	*b;
	struct envelope	 e;
	char		 path[128];
	FILE		*f;

	if ((b = evbuffer_new()) == NULL)
		abort();
	memset(&e, 0, sizeof(e));
	snprintf(e.qid, sizeof(e.qid), "%s", qid);
	snprintf(e.arrival, sizeof(e.arrival), "%s", arrival);
	snprintf(e.client_addr, sizeof(e.client_addr), "127.0.0.1");
	snprintf(e.sender, sizeof(e.sender), "a@example.com");
	e.rcpt = rcpt;
	e.nrcpt = n;
	envelope_write(b, &e);
	evbuffer_add_printf(b, "Received: from x\r\n%s", body);
	snprintf(path, sizeof(path), "%s/queue/%s.eml", spool, qid);
	if ((f = fopen(path, "w")) == NULL)
		abort();
	evbuffer_write(b, fileno(f));
	fclose(f);
	evbuffer_free(b);
}

/* Empty the subdirectory sub of the spool (queue, state). */
void
fuzz_spool_clean(const char *spool, const char *sub)
{
	char		 path[128];
	DIR		*d;
	struct dirent	*e;

	snprintf(path, sizeof(path), "%s/%s", spool, sub);
	if ((d = opendir(path)) == NULL)
		return;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
}

/*
 * Start a session with accept(base, fd, 127.0.0.1:1234, kind) on one
 * end of a socketpair, write data to the other end, read the replies,
 * half-close, and run the loop until count() sessions and no lingering
 * connections are left; abort if that never happens (a hang).
 */
void
fuzz_feed_pair(struct event_base *base, const uint8_t *data, size_t size,
    void (*accept)(struct event_base *, int, struct sockaddr *, int, int),
    int kind, unsigned (*count)(void))
{
	struct sockaddr_in	 sin;
	char			 junk[65536];
	size_t			 off = 0;
	ssize_t			 n;
	int			 sv[2], i;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		abort();
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(1234);
	sin.sin_addr.s_addr = htonl(0x7f000001);
	accept(base, sv[1], (struct sockaddr *)&sin, sizeof(sin), kind);
	/* Feed the input, read the replies, then hang up; all bounded. */
	for (i = 0; i < 100000 && (count() > 0 || conn_linger_count() > 0);
	    i++) {
		if (off < size) {
			n = write(sv[0], data + off, size - off);
			if (n > 0)
				off += (size_t)n;
			if (off == size)
				shutdown(sv[0], SHUT_WR);
		} else if (size == 0 && i == 0)
			shutdown(sv[0], SHUT_WR);
		while (read(sv[0], junk, sizeof(junk)) > 0)
			;
		event_base_loop(base, EVLOOP_NONBLOCK);
		if (i > 1000)
			usleep(100);
	}
	if (count() > 0 || conn_linger_count() > 0)
		abort();	/* a session that never ends: a hang */
	close(sv[0]);
}

/*
 * fuzz_pop3.c: libFuzzer target that drives a whole POP3 session from
 * bytes: the command reader, the dispatcher, logins (pop3_auth = any),
 * the maildrop, RETR/TOP streaming and the UPDATE at QUIT.  The input
 * is written to one end of a socketpair whose other end is a real mxd
 * POP3 session on a real event loop over a real spool holding three
 * messages for user `u`, put back before every run; the client then
 * closes, and the loop runs until the session is gone.
 */
#include <sys/socket.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "pop3/pop3.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct event_base	*base;
static struct config		 conf;
static char			 spool[64];

/* One-time set-up: configuration, spool, event loop. */
static void
setup(void)
{
	char	*why = NULL, *over[] = { "spool_sync=no", "hostname=fuzz.test",
	    "auth_delay_max=0", "max_errors=1000" };

	if (config_load(&conf, NULL, over, 4, &why) != 0)
		abort();
	snprintf(spool, sizeof(spool), "/tmp/mxd-fuzz-pop3.XXXXXX");
	if (mkdtemp(spool) == NULL)
		abort();
	if (config_set(&conf, "spool_dir", spool, &why) != 0)
		abort();
	cfg = &conf;
	if (spool_init(spool, 0, (const char **)&why) != 0)
		abort();
	log_init(-1, "mxd", "mail");
	if ((base = event_base_new()) == NULL)
		abort();
}

/* Empty a subdirectory of the spool. */
static void
clean(const char *sub)
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

/* Put message number i (to u and one other) into queue/. */
static void
put(int i)
{
	static const char *const bodies[] = {
		"Subject: one\r\n\r\n.dot\r\nbody\r\n",
		"Subject: two\r\nX: y\r\n\r\na\r\nb\r\nc\r\n.\r\n",
		" no header\r\n\n.\r\nbare\rcr",
	};
	struct evbuffer	*b = evbuffer_new();
	struct envelope	 e;
	char		 path[128], *rcpt[] = { "u@x.example", "v@y.example" };
	FILE		*f;

	memset(&e, 0, sizeof(e));
	snprintf(e.qid, sizeof(e.qid), "0000000000000%03X", i);
	snprintf(e.arrival, sizeof(e.arrival), "2026-11-29T00:00:00Z");
	snprintf(e.client_addr, sizeof(e.client_addr), "127.0.0.1");
	snprintf(e.sender, sizeof(e.sender), "a@example.com");
	e.rcpt = rcpt;
	e.nrcpt = 2;
	envelope_write(b, &e);
	evbuffer_add_printf(b, "Received: from x\r\n%s", bodies[i]);
	snprintf(path, sizeof(path), "%s/queue/%s.eml", spool, e.qid);
	if ((f = fopen(path, "w")) == NULL)
		abort();
	evbuffer_write(b, fileno(f));
	fclose(f);
	evbuffer_free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in	 sin;
	char			 junk[65536];
	size_t			 off = 0;
	ssize_t			 n;
	int			 sv[2], i;

	if (base == NULL)
		setup();
	if (size > 256 * 1024)
		return (0);
	clean("queue");
	clean("state");
	for (i = 0; i < 3; i++)
		put(i);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		abort();
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(1234);
	sin.sin_addr.s_addr = htonl(0x7f000001);
	pop3_session_accept(base, sv[1], (struct sockaddr *)&sin,
	    sizeof(sin), LISTEN_POP3);
	/* Feed the input, read the replies, then hang up; all bounded. */
	for (i = 0; i < 100000 && (pop3_session_count() > 0 ||
	    conn_linger_count() > 0); i++) {
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
	if (pop3_session_count() > 0 || conn_linger_count() > 0)
		abort();	/* a session that never ends: a hang */
	close(sv[0]);
	return (0);
}

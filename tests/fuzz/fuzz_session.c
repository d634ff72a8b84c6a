/*
 * fuzz_session.c: libFuzzer target that drives a whole SMTP session from
 * bytes.  The input is written to one end of a socketpair whose other
 * end is a real mxd session on a real event loop with a real spool; the
 * client then closes, and the loop runs until the session is gone.
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

#include <event2/event.h>

#include "smtp/smtp.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct event_base	*base;
static struct config		 conf;
static char			 spool[64];

/* One-time set-up: configuration, spool, event loop, I/O thread. */
static void
setup(void)
{
	char	*why = NULL, *over[] = { "spool_sync=no",
	    "max_message_size=4k", "max_recipients=5", "hostname=fuzz.test",
	    "domains=example.org" };

	if (config_load(&conf, NULL, over, 5, &why) != 0)
		abort();
	cfg = &conf;
	snprintf(spool, sizeof(spool), "/tmp/mxd-fuzz.XXXXXX");
	if (mkdtemp(spool) == NULL)
		abort();
	if (spool_init(spool, 0, (const char **)&why) != 0)
		abort();
	log_init(-1, "mxd", "mail");
	if ((base = event_base_new()) == NULL)
		abort();
	spool_start(base);
}

/* Remove what the last run queued, so the spool does not grow. */
static void
clean(void)
{
	char		 path[128];
	DIR		*d;
	struct dirent	*e;

	snprintf(path, sizeof(path), "%s/queue", spool);
	if ((d = opendir(path)) == NULL)
		return;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
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
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		abort();
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(1234);
	sin.sin_addr.s_addr = htonl(0x7f000001);
	session_accept(base, sv[1], (struct sockaddr *)&sin, sizeof(sin),
	    LISTEN_SMTP);
	/* Feed the input, read the replies, then hang up; all bounded. */
	for (i = 0; i < 100000 && (session_count() > 0 ||
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
	if (session_count() > 0 || conn_linger_count() > 0)
		abort();	/* a session that never ends: a hang */
	close(sv[0]);
	clean();
	return (0);
}

/*
 * fuzz_pop3.c: libFuzzer target that drives a whole POP3 session from
 * bytes: the command reader, the dispatcher, logins (pop3_auth = any),
 * the maildrop, RETR/TOP streaming and the UPDATE at QUIT.  The input
 * is written to one end of a socketpair whose other end is a real mxd
 * POP3 session on a real event loop over a real spool holding three
 * messages for user `u`, put back before every run; the client then
 * closes, and the loop runs until the session is gone.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "pop3/pop3.h"
#include "fuzzlib.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct event_base	*base;
static struct config		 conf;
static char			 spool[64];

/* One-time set-up: configuration, spool, event loop. */
static void
setup(void)
{
	char	*over[] = { "spool_sync=no", "hostname=fuzz.test",
	    "auth_delay_max=0", "max_errors=1000" };

	fuzz_spool_setup(&conf, over, 4, "pop3", spool, sizeof(spool));
	if ((base = event_base_new()) == NULL)
		abort();
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
	char	 qid[QID_LEN + 1], *rcpt[] = { "u@x.example", "v@y.example" };

	snprintf(qid, sizeof(qid), "0000000000000%03X", i);
	fuzz_spool_put(spool, qid, "2026-11-29T00:00:00Z", rcpt, 2,
	    bodies[i]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int	i;

	if (base == NULL)
		setup();
	if (size > 256 * 1024)
		return (0);
	fuzz_spool_clean(spool, "queue");
	fuzz_spool_clean(spool, "state");
	for (i = 0; i < 3; i++)
		put(i);
	fuzz_feed_pair(base, data, size, pop3_session_accept, LISTEN_POP3,
	    pop3_session_count);
	return (0);
}

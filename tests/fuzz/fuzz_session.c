/*
 * fuzz_session.c: libFuzzer target that drives a whole SMTP session from
 * bytes.  The input is written to one end of a socketpair whose other
 * end is a real mxd session on a real event loop with a real spool; the
 * client then closes, and the loop runs until the session is gone.
 */
#include <stdint.h>
#include <stdlib.h>

#include <event2/event.h>

#include "smtp/smtp.h"
#include "fuzzlib.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct event_base	*base;
static struct config		 conf;
static char			 spool[64];

/* One-time set-up: configuration, spool, event loop, I/O thread. */
static void
setup(void)
{
	char	*over[] = { "spool_sync=no", "max_message_size=4k",
	    "max_recipients=5", "hostname=fuzz.test", "domains=example.org" };

	fuzz_spool_setup(&conf, over, 5, "session", spool, sizeof(spool));
	if ((base = event_base_new()) == NULL)
		abort();
	spool_start(base);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (base == NULL)
		setup();
	if (size > 256 * 1024)
		return (0);
	fuzz_feed_pair(base, data, size, session_accept, LISTEN_SMTP,
	    session_count);
	/* Remove what the run queued, so the spool does not grow. */
	fuzz_spool_clean(spool, "queue");
	return (0);
}

/*
 * test_lmtp.c: the LMTP client's pure parts (deliver/lmtp.c): targets
 * (lmtp:unix:/path, lmtp:inet:address:port, localhost) and the reply
 * reader (one-line and multi-line replies, arriving in pieces, and what
 * is not a reply).
 */
#include <sys/un.h>

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "deliver/deliver.h"
#include "tap.h"

/* Feed text to a fresh reader; the result, with r filled in. */
static enum lmtp_read
feed(const char *text, struct lmtp_reply *r)
{
	struct evbuffer	*b = evbuffer_new();
	enum lmtp_read	 rd;

	memset(r, 0, sizeof(*r));
	evbuffer_add(b, text, strlen(text));
	rd = lmtp_reply_read(b, r);
	evbuffer_free(b);
	return (rd);
}

static void
test_targets(void)
{
	static const char *const bad[] = { "unix:/x", "lmtp:unix:rel",
	    "lmtp:unix:", "lmtp:inet:", "lmtp:inet:host", "lmtp:inet:1.2.3.4",
	    "lmtp:inet:mail.example:24", "lmtp:inet:127.0.0.1:0",
	    "lmtp:inet:127.0.0.1:99999", "lmtp:tcp:127.0.0.1:24" };
	struct lmtp_target	 t;
	char			*cause;
	size_t			 i;

	ok(lmtp_target_parse("lmtp:unix:/run/dovecot/lmtp", &t, &cause) == 0 &&
	    t.ss.ss_family == AF_UNIX && strcmp(((struct sockaddr_un *)
	    &t.ss)->sun_path, "/run/dovecot/lmtp") == 0, "a unix socket");
	ok(lmtp_target_parse("lmtp:inet:127.0.0.1:24", &t, &cause) == 0 &&
	    t.ss.ss_family == AF_INET, "an IPv4 address and port");
	ok(lmtp_target_parse("lmtp:inet:[::1]:24", &t, &cause) == 0 &&
	    t.ss.ss_family == AF_INET6, "an IPv6 address in brackets");
	ok(lmtp_target_parse("lmtp:inet:localhost:24", &t, &cause) == 0 &&
	    t.ss.ss_family == AF_INET, "localhost");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cause = NULL;
		ok(lmtp_target_parse(bad[i], &t, &cause) == -1 &&
		    cause != NULL && strstr(cause, bad[i]) != NULL,
		    "refused: %s", bad[i]);
		free(cause);
	}
}

static void
test_replies(void)
{
	struct lmtp_reply	 r;
	struct evbuffer		*b;

	ok(feed("220 vm Dovecot ready.\r\n", &r) == LMTP_READ_DONE &&
	    r.code == 220 && strcmp(r.text, "vm Dovecot ready.") == 0,
	    "a one-line reply");
	ok(feed("250-vm\r\n250-8BITMIME\r\n250 PIPELINING\r\n", &r) ==
	    LMTP_READ_DONE && r.code == 250 && r.nlines == 3 &&
	    strcmp(r.text, "PIPELINING") == 0, "a multi-line reply at once");
	ok(feed("550 5.1.1 <x@example.test> User doesn't exist\r\n", &r) ==
	    LMTP_READ_DONE && r.code == 550 && strncmp(r.text, "5.1.1 <x@",
	    9) == 0, "a 550 with its text");
	ok(feed("250\r\n", &r) == LMTP_READ_DONE && r.code == 250 &&
	    r.text[0] == '\0', "a bare code");
	ok(feed("250-vm\r\n250-8BIT", &r) == LMTP_READ_MORE, "half a reply");
	ok(feed("250-vm\r\n251 x\r\n", &r) == LMTP_READ_BAD,
	    "a code that changes inside a reply");
	ok(feed("hello\r\n", &r) == LMTP_READ_BAD, "not a reply");
	ok(feed("25\r\n", &r) == LMTP_READ_BAD, "too short");
	ok(feed("250x\r\n", &r) == LMTP_READ_BAD, "no separator");
	ok(feed("650 x\r\n", &r) == LMTP_READ_BAD, "not a reply class");

	/* In pieces, as the socket delivers it. */
	b = evbuffer_new();
	memset(&r, 0, sizeof(r));
	evbuffer_add(b, "250-vm\r", 7);
	ok(lmtp_reply_read(b, &r) == LMTP_READ_MORE, "a split line: more");
	evbuffer_add(b, "\n250 OK\r\n221 next", 17);
	ok(lmtp_reply_read(b, &r) == LMTP_READ_DONE && r.code == 250 &&
	    strcmp(r.text, "OK") == 0, "then done");
	ok(evbuffer_get_length(b) == 8, "the next reply stays buffered");
	evbuffer_free(b);

	b = evbuffer_new();
	memset(&r, 0, sizeof(r));
	while (evbuffer_get_length(b) <= LMTP_LINE_MAX)
		evbuffer_add(b, "xxxxxxxxxxxxxxxx", 16);
	ok(lmtp_reply_read(b, &r) == LMTP_READ_BAD, "no line end for "
	    "LMTP_LINE_MAX octets");
	evbuffer_free(b);
}

int
main(void)
{
	test_targets();
	test_replies();
	return (tap_done());
}

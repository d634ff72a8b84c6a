/*
 * test_lmtp.c: the LMTP client's pure parts (deliver/lmtp.c): targets
 * (lmtp:unix:/path, lmtp:inet:address:port, localhost) and the reply
 * reader (one-line and multi-line replies, arriving in pieces, and what
 * is not a reply); and lmtp_deliver() with several recipients against a
 * scripted store in a child process (RFC 2033 4.2: one reply per
 * accepted recipient after the data, in order; a store that hangs up
 * half-way).
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* What the scripted store does. */
struct script {
	const char	*refuse;	/* RCPT of an address with this: 550 */
	const char	*after[8];	/* replies after the dot, in order */
	int		 drop;		/* hang up after this many (-1: never) */
};

/* The scripted store: one session on listening socket lfd (child). */
static void
store_serve(int lfd, const struct script *sc)
{
	char	 line[1024];
	FILE	*f;
	int	 fd, i;

	if ((fd = accept(lfd, NULL, NULL)) == -1 ||
	    (f = fdopen(fd, "r")) == NULL)
		_exit(1);
	dprintf(fd, "220 script\r\n");
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "LHLO", 4) == 0)
			dprintf(fd, "250-script\r\n250 8BITMIME\r\n");
		else if (strncmp(line, "RCPT", 4) == 0)
			dprintf(fd, "%s\r\n", strstr(line, sc->refuse) != NULL ?
			    "550 5.1.1 no such user" : "250 2.1.5 ok");
		else if (strncmp(line, "DATA", 4) == 0) {
			dprintf(fd, "354 go\r\n");
			while (fgets(line, sizeof(line), f) != NULL &&
			    strcmp(line, ".\r\n") != 0)
				;
			for (i = 0; sc->after[i] != NULL; i++) {
				if (i == sc->drop)
					_exit(0);
				dprintf(fd, "%s\r\n", sc->after[i]);
			}
		} else
			dprintf(fd, "250 2.0.0 ok\r\n");
	}
	_exit(0);
}

/*
 * Deliver a small message to the n addresses in one transaction with a
 * store playing sc; the boxes hold the results.
 */
static void
deliver_scripted(const struct script *sc, const char *const *addr,
    struct dl_box *box, size_t n)
{
	struct sockaddr_un	 sun;
	struct lmtp_session	 ls = { .fd = -1 };
	struct dl_msg		 m;
	struct dl_box		*bp[8];
	char			 dir[] = "/tmp/test_lmtp.XXXXXX", msg[64];
	const char		*text = "Received: by mx.test\r\n\r\nhi\r\n";
	pid_t			 pid;
	size_t			 i;
	int			 lfd;

	if (mkdtemp(dir) == NULL)
		abort();
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/s", dir);
	if ((lfd = socket(AF_UNIX, SOCK_STREAM, 0)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(lfd, 1) == -1)
		abort();
	if ((pid = fork()) == 0)
		store_serve(lfd, sc);
	close(lfd);
	snprintf(msg, sizeof(msg), "%s/m", dir);
	memset(&m, 0, sizeof(m));
	m.qid = "0123456789ABCDEF";
	m.sender = "a@sender.test";
	m.hostname = "mx.test";
	if ((m.fd = open(msg, O_RDWR | O_CREAT, 0600)) == -1 ||
	    write(m.fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	m.size = (off_t)strlen(text);
	memset(box, 0, n * sizeof(*box));
	for (i = 0; i < n; i++) {
		snprintf(box[i].addr, sizeof(box[i].addr), "%s", addr[i]);
		snprintf(box[i].target, sizeof(box[i].target),
		    "lmtp:unix:%s", sun.sun_path);
		bp[i] = &box[i];
	}
	signal(SIGPIPE, SIG_IGN);
	lmtp_deliver(&ls, &m, "", bp, n, 10);
	lmtp_session_close(&ls);
	close(m.fd);
	waitpid(pid, NULL, 0);
	unlink(msg);
	unlink(sun.sun_path);
	rmdir(dir);
}

static void
test_deliver_several(void)
{
	static const char *const addr[] = { "ok@x.test", "busy@x.test",
	    "full@x.test" };
	struct script	 mixed = { "nobody", { "250 2.0.0 saved",
	    "452 4.2.2 over quota", "550 5.2.2 mailbox full", NULL }, -1 };
	struct script	 drop = { "nobody", { "250 2.0.0 saved",
	    "250 2.0.0 saved", "250 2.0.0 saved", NULL }, 1 };
	struct script	 refuse = { "busy@", { "250 2.0.0 first",
	    "250 2.0.0 third", NULL }, -1 };
	struct dl_box	 b[3];

	deliver_scripted(&mixed, addr, b, 3);
	ok(b[0].code == 250 && strcmp(b[0].dsn, "2.0.0") == 0 &&
	    b[1].code == 452 && strcmp(b[1].dsn, "4.2.2") == 0 &&
	    b[2].code == 550 && strcmp(b[2].dsn, "5.2.2") == 0 &&
	    strcmp(b[2].reason, "550 5.2.2 mailbox full") == 0,
	    "after the dot: 250, 452, 550 go to the recipients in order");

	deliver_scripted(&drop, addr, b, 3);
	ok(b[0].code == 250 && b[1].code == 0 && b[2].code == 0 &&
	    strcmp(b[1].dsn, "4.4.2") == 0 &&
	    strncmp(b[2].reason, "lost the store", 14) == 0,
	    "hung up after the first reply: it is delivered, the rest "
	    "temporary (%d %d %d %s)", b[0].code, b[1].code, b[2].code,
	    b[2].reason);

	deliver_scripted(&refuse, addr, b, 3);
	ok(b[0].code == 250 && strcmp(b[0].reason, "250 2.0.0 first") == 0 &&
	    b[1].code == 550 && strcmp(b[1].dsn, "5.1.1") == 0 &&
	    b[2].code == 250 && strcmp(b[2].reason, "250 2.0.0 third") == 0,
	    "a recipient refused at RCPT gets no reply after the dot");
}

int
main(void)
{
	test_targets();
	test_replies();
	test_deliver_several();
	return (tap_done());
}

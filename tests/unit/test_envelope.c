/*
 * test_envelope.c: the envelope block (store/envelope.c) written and
 * read back: every field survives, hostile values included (spaces, +,
 * =, CR, LF, UTF-8, quotes, the null sender, an IPv6 client); the
 * reader stops at the first line that is not a field, leaves the file
 * there and says how long the block was; malformed blocks are refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "mxd.h"
#include "tap.h"

/* Write e, append tail, and read it back into out; 0 or -1. */
static int
round_trip(const struct envelope *e, const char *tail, struct envelope *out,
    char *rest, size_t restlen, size_t *blocklen)
{
	struct evbuffer	*b = evbuffer_new();
	size_t		 n;
	char		*mem;
	FILE		*f;
	int		 rc;

	envelope_write(b, e);
	*blocklen = evbuffer_get_length(b);
	evbuffer_add(b, tail, strlen(tail));
	n = evbuffer_get_length(b);
	mem = malloc(n);
	evbuffer_remove(b, mem, n);
	evbuffer_free(b);
	f = fmemopen(mem, n, "r");
	rc = envelope_read(f, out);
	rest[0] = '\0';
	if (fgets(rest, (int)restlen, f) == NULL)
		rest[0] = '\0';
	fclose(f);
	free(mem);
	return (rc);
}

/* Read a block given as text; the return of envelope_read. */
static int
read_text(const char *text, struct envelope *e)
{
	FILE	*f = fmemopen((void *)text, strlen(text), "r");
	int	 rc = envelope_read(f, e);

	fclose(f);
	return (rc);
}

int
main(void)
{
	char		*rcpt[] = { "b@example.org",
	    "\"a b+c=d\"@example.org", ("j\xc3\xb6rg@b\xc3\xbc" "cher.example"),
	    "x\r\ny@example.org" };
	struct envelope	 e, r;
	char		 rest[128];
	size_t		 i, len;

	memset(&e, 0, sizeof(e));
	snprintf(e.qid, sizeof(e.qid), "660EA91A6BE039EA");
	snprintf(e.arrival, sizeof(e.arrival), "2026-11-23T05:07:24Z");
	snprintf(e.client_addr, sizeof(e.client_addr), "2001:db8::7");
	e.client_port = 41234;
	snprintf(e.helo, sizeof(e.helo), "evil\r\nX-Mxd-Sender: <x@y>");
	e.sender[0] = '\0';			/* the null sender */
	e.rcpt = rcpt;
	e.nrcpt = 4;
	snprintf(e.auth_mech, sizeof(e.auth_mech), "PLAIN");
	snprintf(e.auth_user, sizeof(e.auth_user), "alice smith+=");
	snprintf(e.tls, sizeof(e.tls), "TLSv1.3 with cipher "
	    "TLS_AES_256_GCM_SHA384 (256/256 bits)");
	ok(round_trip(&e, "Received: from x\r\n\r\nbody\r\n", &r, rest,
	    sizeof(rest), &len) == 0, "a full envelope reads back");
	is_str(r.qid, e.qid, "queue ID");
	is_str(r.arrival, e.arrival, "arrival");
	is_str(r.client_addr, e.client_addr, "client address");
	ok(r.client_port == 41234, "client port");
	is_str(r.helo, e.helo, "HELO with CR LF and a fake field stays one value");
	is_str(r.sender, "", "null sender");
	ok(r.nrcpt == 4, "four recipients (%zu)", r.nrcpt);
	for (i = 0; i < r.nrcpt && i < 4; i++)
		is_str(r.rcpt[i], rcpt[i], "recipient %zu", i);
	is_str(r.auth_mech, "PLAIN", "AUTH mechanism");
	is_str(r.auth_user, "alice smith+=", "AUTH user");
	is_str(r.tls, e.tls, "TLS");
	ok(r.len == len, "block length %zu (wrote %zu)", r.len, len);
	is_str(rest, "Received: from x\r\n", "the file is left after the block");
	envelope_free(&r);

	/* Without AUTH and TLS, those lines are left out and read empty. */
	e.auth_mech[0] = e.tls[0] = '\0';
	snprintf(e.sender, sizeof(e.sender), "s@example.com");
	e.nrcpt = 1;
	ok(round_trip(&e, "Subject: x\r\n", &r, rest, sizeof(rest), &len) ==
	    0 && r.auth_mech[0] == '\0' && r.tls[0] == '\0' &&
	    strcmp(r.sender, "s@example.com") == 0 && r.nrcpt == 1,
	    "a plain envelope reads back");
	envelope_free(&r);

	/* Malformed blocks. */
	ok(read_text("Subject: no envelope\r\n", &r) == -1,
	    "no envelope: refused");
	ok(read_text("X-Mxd-Queue-Id: 660EA91A6BE039EA\r\n", &r) == -1,
	    "no sender: refused");
	ok(read_text("X-Mxd-Queue-Id: 660ea91a6be039ea\r\nX-Mxd-Sender: <>"
	    "\r\n", &r) == -1, "a lower-case queue ID: refused");
	ok(read_text("X-Mxd-Queue-Id: 660EA91A6BE039EA\r\nX-Mxd-Sender: a@b"
	    "\r\n", &r) == -1, "a sender without brackets: refused");
	ok(read_text("X-Mxd-Queue-Id: 660EA91A6BE039EA\r\nX-Mxd-Sender: <>"
	    "\nX-Mxd-Recipient: <a@b>\r\n", &r) == -1,
	    "a bare LF in the block: refused");
	ok(read_text("X-Mxd-Queue-Id: 660EA91A6BE039EA\r\nX-Mxd-Client: "
	    "[1.2.3.4]:99999\r\nX-Mxd-Sender: <>\r\n", &r) == -1,
	    "a bad port: refused");
	ok(read_text("X-Mxd-Queue-Id: 660EA91A6BE039EA\r\nX-Mxd-Future: 1\r\n"
	    "X-Mxd-Sender: <>\r\n\r\n", &r) == 0 && r.nrcpt == 0,
	    "an unknown X-Mxd- field of a later version is skipped");
	envelope_free(&r);
	return (tap_done());
}

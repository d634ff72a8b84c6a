/*
 * test_rcptstate.c: per-recipient state (store/rcptstate.c): lines
 * appended read back as statuses; the last line for a recipient wins; a
 * torn last line, an unknown status and a number out of range are
 * ignored; "done" needs every recipient final; queue_delete() takes the
 * state file with the message; an orphan goes at start.  And whose
 * mail a POP3 user sees (store/maildrop.c, maildrop_match).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mxd.h"
#include "tap.h"

#define QID	"0123456789ABCDEF"
#define QID2	"0123456789ABCDE0"

static char	spool[64];

/* Append raw text to state/<qid>. */
static void
raw(const char *qid, const char *text)
{
	char	 path[128];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/state/%s", spool, qid);
	f = fopen(path, "a");
	fputs(text, f);
	fclose(f);
}

/* rcptstate_scan callback: count the lines written at time 5 or -5. */
static void
count_cb(void *arg, time_t t, size_t rcpt, const char *word,
    const char *detail)
{
	(void)rcpt;
	(void)word;
	(void)detail;
	if (t == 5 || t == -5)
		(*(int *)arg)++;
}

/* Does spool/<rel> exist? */
static int
exists(const char *rel)
{
	char	path[128];

	snprintf(path, sizeof(path), "%s/%s", spool, rel);
	return (access(path, F_OK) == 0);
}

int
main(void)
{
	enum rcpt_status	 st[3];
	char			 path[128];
	int			 dfd, fd, nodd;

	log_init(-1, "test", "mail");
	snprintf(spool, sizeof(spool), "/tmp/mxd-rcptstate.XXXXXX");
	if (mkdtemp(spool) == NULL)
		return (1);
	snprintf(path, sizeof(path), "%s/queue", spool);
	mkdir(path, 0700);
	dfd = open(spool, O_RDONLY | O_DIRECTORY);
	ok((fd = rcptstate_init(dfd, 0)) != -1, "init creates state/");
	close(fd);

	ok(rcptstate_read(spool, QID, st, 3) == 0 && st[0] == RCPT_S_NONE &&
	    st[1] == RCPT_S_NONE && st[2] == RCPT_S_NONE,
	    "no file: every recipient none");
	ok(!rcptstate_done(st, 3), "none is not done");

	ok(rcptstate_append(spool, QID, 1, RCPT_S_REMOVED, NULL) == 0,
	    "append removed for recipient 1");
	ok(rcptstate_append(spool, QID, 2, RCPT_S_DEFERRED,
	    "451 try\nlater") == 0, "append deferred with a detail");
	rcptstate_read(spool, QID, st, 3);
	ok(st[0] == RCPT_S_NONE && st[1] == RCPT_S_REMOVED &&
	    st[2] == RCPT_S_DEFERRED, "round trip: none, removed, deferred");
	ok(!rcptstate_done(st, 3), "deferred is not done");

	ok(rcptstate_append(spool, QID, 2, RCPT_S_DELIVERED, NULL) == 0 &&
	    rcptstate_append(spool, QID, 0, RCPT_S_FAILED, "550 no") == 0,
	    "append delivered, failed");
	rcptstate_read(spool, QID, st, 3);
	ok(st[2] == RCPT_S_DELIVERED, "the last line for a recipient wins");
	ok(rcptstate_done(st, 3), "removed, delivered and failed: done");

	raw(QID, "1700000000 0 removed\n1700000000 7 removed\n"
	    "1700000000 1 bogus\n1700000000 1 deferred");
	rcptstate_read(spool, QID, st, 3);
	ok(st[0] == RCPT_S_REMOVED, "a complete line applies");
	ok(st[1] == RCPT_S_REMOVED, "torn last line and unknown status "
	    "ignored");
	raw(QID, "\n");
	rcptstate_read(spool, QID, st, 3);
	ok(st[1] == RCPT_S_DEFERRED, "once its LF arrives, the line counts");

	raw(QID, "1700000000 2 sent bob@x.test\n-5 1 removed\n 5 1 removed\n"
	    "5 +1 removed\n5 1\n");
	rcptstate_read(spool, QID, st, 3);
	ok(st[2] == RCPT_S_DELIVERED, "sent names one mailbox: the "
	    "recipient's status stays");
	ok(st[1] == RCPT_S_DEFERRED, "a sign or a blank before a number, or "
	    "no status: not a state line");
	nodd = 0;
	ok(rcptstate_scan(spool, QID, count_cb, &nodd) == 0 && nodd == 0,
	    "rcptstate_scan parses lines as rcptstate_read does");

	ok(rcptstate_append(spool, QID, 0, RCPT_S_NONE, NULL) == -1 &&
	    errno == EINVAL, "none is not a transition");
	ok(rcptstate_append(spool, "../../etc/passw", 0, RCPT_S_REMOVED,
	    NULL) == -1 && errno == EINVAL, "a bad queue ID names no file");

	/* queue_delete takes the state file after the message. */
	snprintf(path, sizeof(path), "%s/queue/%s.eml", spool, QID);
	close(open(path, O_WRONLY | O_CREAT, 0600));
	ok(queue_delete(spool, QID) == 0 && !exists("queue/" QID ".eml") &&
	    !exists("state/" QID), "queue_delete removes .eml and state");

	/* An orphan: state without its message, removed at start. */
	rcptstate_append(spool, QID2, 0, RCPT_S_REMOVED, NULL);
	snprintf(path, sizeof(path), "%s/queue/%s.eml", spool, QID);
	close(open(path, O_WRONLY | O_CREAT, 0600));
	rcptstate_append(spool, QID, 0, RCPT_S_REMOVED, NULL);
	fd = rcptstate_init(dfd, 0);
	close(fd);
	ok(!exists("state/" QID2) && exists("state/" QID),
	    "init removes the orphan, keeps the state of a queued message");

	ok(strcmp(rcptstate_name(RCPT_S_REMOVED), "removed") == 0,
	    "status names");
	ok(maildrop_match("user2@domain.com", "user2@domain.com"),
	    "match: the address");
	ok(maildrop_match("User2@DOMAIN.com", "user2@domain.COM"),
	    "match: case does not matter");
	ok(maildrop_match("user2", "user2@domain.com") &&
	    maildrop_match("postmaster", "Postmaster"),
	    "match: a name without @ is the local part");
	ok(!maildrop_match("user2@domain.com", "user2@other.com") &&
	    !maildrop_match("user2@domain.com", "user22@domain.com") &&
	    !maildrop_match("user", "user2@domain.com") &&
	    !maildrop_match("user2@domain.com", "user2"),
	    "no match: other domain, other local part, no domain");
	ok(maildrop_match("j\xc3\xb6rg@b\xc3\xbc" "cher.example",
	    "j\xc3\xb6rg@xn--bcher-kva.example"),
	    "match: a U-label domain equals its A-label");
	queue_delete(spool, QID);
	close(dfd);
	snprintf(path, sizeof(path), "rm -rf %s", spool);
	(void)!system(path);
	return (tap_done());
}

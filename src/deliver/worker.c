/*
 * worker.c: one message's delivery, on a worker thread of runner.c,
 * never on the event loop (it waits for stores and for fsync).  In: a
 * dl_job from plan.c (the mailboxes, their targets, the settings it
 * needs: a worker never reads the configuration, which SIGHUP may
 * replace).  Out: each mailbox's copy through maildir.c or lmtp.c (the
 * mailboxes of one LMTP target in transactions of up to
 * lmtp_recipient_limit recipients); after each delivery, one
 * durable state line per transition (rcptstate_append with
 * fdatasync): delivered, deferred <next-try> <reason>, failed <reason>,
 * sent/bounced <mailbox> for one mailbox of an alias; dead/<QID>.eml
 * before any failed line, and the postmaster's notice; queue_unlink()
 * when every recipient is final (the loop then calls queue_removed());
 * log lines, which the loop writes.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "deliver.h"

/* Append a log line to j (worker side; the loop logs it). */
static void
worker_log(struct dl_job *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
worker_log(struct dl_job *j, const char *fmt, ...)
{
	va_list	 ap;
	char	*s, *p;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		s = NULL;
	va_end(ap);
	if (s == NULL)
		return;
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	j->log.v = xreallocarray(j->log.v, j->log.n + 1, sizeof(char *));
	j->log.v[j->log.n++] = s;
}

/* The status word of a box's result. */
static const char *
worker_status(const struct dl_box *b)
{
	if (b->code >= 200 && b->code < 300)
		return ("sent");
	if (b->code >= 500)
		return ("bounced");
	return ("deferred");
}

/*
 * Keep a failed message: link queue/<QID>.eml as dead/<QID>.eml (made
 * before any recipient is written failed, so nothing is lost).
 */
static void
worker_dead(struct dl_job *j)
{
	char	from[QID_LEN + 16], to[QID_LEN + 16];
	int	fd;

	snprintf(from, sizeof(from), "queue/%s.eml", j->m.qid);
	snprintf(to, sizeof(to), "dead/%s.eml", j->m.qid);
	/* By the spool's descriptor: mxd may no longer reach it by path. */
	if ((fd = spool_openat(j->spool_dir, ".", O_RDONLY | O_DIRECTORY,
	    0)) == -1 || (mkdirat(fd, "dead", 0700) == -1 &&
	    errno != EEXIST) || (linkat(fd, from, fd, to, 0) == -1 &&
	    errno != EEXIST))
		worker_log(j, "deliver: qid=%s: cannot link into dead/: %s",
		    j->m.qid, strerror(errno));
	if (fd != -1)
		close(fd);
}

/* Write one state line; a failure is logged (the copy may be sent again). */
static void
worker_state(struct dl_job *j, size_t i, enum rcpt_status st,
    const char *detail)
{
	if (rcptstate_append(j->spool_dir, j->m.qid, i, st, detail) != 0)
		worker_log(j, "deliver: qid=%s: cannot write state: %s",
		    j->m.qid, strerror(errno));
}

/* Is i among the n numbers in idx? */
static int
worker_has_idx(const size_t *idx, size_t n, size_t i)
{
	size_t	k;

	for (k = 0; k < n; k++)
		if (idx[k] == i)
			return (1);
	return (0);
}

/* Note a failed recipient for the postmaster's notice. */
static void
worker_failed(struct dl_job *j, const char *addr, const char *reason)
{
	char	*s;

	xasprintf(&s, "<%s>: %s", addr, reason);
	j->failed.v = xreallocarray(j->failed.v, j->failed.n + 1,
	    sizeof(char *));
	j->failed.v[j->failed.n++] = s;
}

/*
 * Write the postmaster's notice to fd: a multipart/mixed message (RFC
 * 2046 5.1) with the reasons, then the original as message/rfc822 (from
 * mxd's Received: on, without the envelope); fsync.  0, or -1.
 */
static int
worker_notice_write(struct dl_job *j, int fd)
{
	char		 date[64], head[2048], buf[65536];
	struct tm	 tm;
	time_t		 now = time(NULL);
	off_t		 off = j->m.off;
	ssize_t		 n;
	size_t		 i;
	int		 len;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	len = snprintf(head, sizeof(head),
	    "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n"
	    "To: <%s>\r\n"
	    "Subject: Undelivered mail %s\r\n"
	    "Date: %s\r\n"
	    "Message-ID: <%s.%lld.notice@%s>\r\n"
	    "Auto-Submitted: auto-generated\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/mixed; boundary=\"=_mxd-%s-%lld\"\r\n"
	    "\r\n--=_mxd-%s-%lld\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n\r\n"
	    "mxd accepted message %s from <%s> and then could not deliver "
	    "it to:\r\n\r\n", j->hostname, j->pm_addr, j->m.qid, date,
	    j->m.qid, (long long)now, j->hostname, j->m.qid, (long long)now,
	    j->m.qid, (long long)now, j->m.qid, j->m.sender);
	if (len < 0 || (size_t)len >= sizeof(head) ||
	    dl_write_all(fd, head, (size_t)len) != 0)
		return (-1);
	for (i = 0; i < j->failed.n; i++)
		if (dl_write_all(fd, "  ", 2) != 0 ||
		    dl_write_all(fd, j->failed.v[i], strlen(j->failed.v[i])) !=
		    0 || dl_write_all(fd, "\r\n", 2) != 0)
			return (-1);
	len = snprintf(head, sizeof(head), "\r\nThe message is kept in "
	    "spool_dir/dead/%s.eml and follows.\r\n\r\n--=_mxd-%s-%lld\r\n"
	    "Content-Type: message/rfc822\r\n"
	    "Content-Disposition: attachment\r\n\r\n", j->m.qid, j->m.qid,
	    (long long)now);
	if (dl_write_all(fd, head, (size_t)len) != 0)
		return (-1);
	while ((n = pread(j->m.fd, buf, sizeof(buf), off)) > 0) {
		off += n;
		if (dl_write_all(fd, buf, (size_t)n) != 0)
			return (-1);
	}
	len = snprintf(head, sizeof(head), "\r\n--=_mxd-%s-%lld--\r\n",
	    j->m.qid, (long long)now);
	if (n == -1 || dl_write_all(fd, head, (size_t)len) != 0)
		return (-1);
	return (fsync(fd));
}

static void	worker_deliver_box(struct dl_job *, struct dl_box *,
		    struct lmtp_session *);

/*
 * Tell the postmaster: dead/<QID>.notice is written, then delivered to
 * the postmaster's mailbox like any message (never sent out); once
 * delivered it goes, and dead/<QID>.eml stays.  A notice that cannot be
 * delivered stays in dead/ and is logged.
 */
static void
worker_notice(struct dl_job *j, struct lmtp_session *ls)
{
	struct dl_msg	 nm = j->m, keep = j->m;
	struct dl_box	 b;
	struct stat	 st;
	char		 path[QID_LEN + 16];
	int		 dfd, fd;

	snprintf(path, sizeof(path), "dead/%s.notice", j->m.qid);
	if ((dfd = spool_openat(j->spool_dir, ".", O_RDONLY | O_DIRECTORY,
	    0)) == -1)
		return;
	if ((fd = openat(dfd, path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1 || worker_notice_write(j, fd) != 0 ||
	    fstat(fd, &st) == -1) {
		worker_log(j, "deliver: qid=%s: cannot write %s: %s", j->m.qid,
		    path, strerror(errno));
		goto out;
	}
	memset(&b, 0, sizeof(b));
	snprintf(b.addr, sizeof(b.addr), "%s", j->pm_addr);
	snprintf(b.target, sizeof(b.target), "%s", j->pm_target);
	if (strcmp(b.target, "keep") == 0) {
		worker_log(j, "qid=%s notice to <%s> kept in %s (the postmaster's "
		    "delivery is keep)", j->m.qid, b.addr, path);
		goto out;
	}
	nm.sender = "";
	nm.fd = fd;
	nm.off = 0;
	nm.size = st.st_size;
	j->m = nm;
	worker_deliver_box(j, &b, ls);
	j->m = keep;
	worker_log(j, "qid=%s notice to=<%s> relay=%s dsn=%s status=%s (%s)",
	    j->m.qid, b.addr, b.target, b.dsn, worker_status(&b), b.reason);
	if (b.code >= 200 && b.code < 300)
		(void)unlinkat(dfd, path, 0);
out:
	if (fd != -1)
		close(fd);
	close(dfd);
}

/* Is box b done for good (the store took it, or refused it: 5xx)? */
static int
worker_box_done(const struct dl_box *b)
{
	return (b->code >= 500 || (b->code >= 200 && b->code < 300));
}

/*
 * Write what became of recipient i once box last, its last box of this
 * job, was tried (the boxes before it wrote their `sent`/`bounced`
 * lines as they finished).
 */
static void
worker_settle(struct dl_job *j, size_t i, const struct dl_box *last,
    time_t now)
{
	struct dl_box	*b, *temp = NULL, *perm = NULL;
	char		 detail[400];
	long long	 delay;
	size_t		 k, n;
	unsigned	 tries;

	for (k = 0; k < j->nbox; k++) {
		b = &j->box[k];
		for (n = 0; n < b->nidx && b->idx[n] != i; n++)
			;
		if (n == b->nidx)
			continue;
		if (b->code >= 500)
			perm = b;
		else if (b->code < 200 || b->code >= 300)
			temp = b;
	}
	if (temp == NULL && !j->keep[i]) {
		if (perm != NULL || j->rs[i].bounced) {
			/* worker_run() linked it into dead/ already. */
			worker_state(j, i, RCPT_S_FAILED, perm != NULL ?
			    perm->reason : "a mailbox of an alias failed");
		} else
			worker_state(j, i, RCPT_S_DELIVERED, NULL);
		return;
	}
	/* Not final: remember that the last mailbox is done. */
	if (worker_box_done(last))
		worker_state(j, i, last->code < 300 ? RCPT_S_SENT :
		    RCPT_S_BOUNCED, last->addr);
	if (temp == NULL)
		return;		/* keep mailboxes wait for POP3 */
	if (now >= j->arrival + j->lifetime) {
		worker_dead(j);
		snprintf(detail, sizeof(detail), "delivery_lifetime over: %s",
		    temp->reason);
		worker_failed(j, j->env.rcpt[i], detail);
		worker_state(j, i, RCPT_S_FAILED, detail);
		worker_log(j, "qid=%s to=<%s> status=expired (%s)", j->m.qid,
		    j->env.rcpt[i], detail);
		return;
	}
	tries = j->rs[i].ndeferred;
	delay = j->retry_min;
	while (tries-- > 0 && delay < j->retry_max)
		delay *= 2;
	if (delay > j->retry_max)
		delay = j->retry_max;
	if (j->next == 0 || now + delay < j->next)
		j->next = now + delay;
	snprintf(detail, sizeof(detail), "%lld %s", (long long)(now + delay),
	    temp->reason);
	worker_state(j, i, RCPT_S_DEFERRED, detail);
}

/* Has every box of j with recipient i had its try? */
static int
worker_all_tried(const struct dl_job *j, size_t i)
{
	size_t	k;

	for (k = 0; k < j->nbox; k++)
		if (!j->box[k].tried &&
		    worker_has_idx(j->box[k].idx, j->box[k].nidx, i))
			return (0);
	return (1);
}

/* Deliver one mailbox (worker). */
static void
worker_deliver_box(struct dl_job *j, struct dl_box *b,
    struct lmtp_session *ls)
{
	char	hdr[SMTP_PATH_MAX * 2 + 64], dir[PATH_MAX];

	if (strncmp(b->target, "maildir:", 8) == 0) {
		snprintf(hdr, sizeof(hdr), "Return-Path: <%s>\r\n"
		    "Delivered-To: %s\r\n", j->m.sender, b->addr);
		if (maildir_path(b->target + 8, b->addr, j->delim,
		    dir, sizeof(dir)) != 0) {
			b->code = 451;
			snprintf(b->dsn, sizeof(b->dsn), "4.3.5");
			snprintf(b->reason, sizeof(b->reason), "maildir path "
			    "too long");
			return;
		}
		maildir_deliver(dir, &j->m, hdr, b);
		return;
	}
	/* RFC 5321 4.4: the store (final delivery) adds Return-Path. */
	snprintf(hdr, sizeof(hdr), "Delivered-To: %s\r\n", b->addr);
	lmtp_deliver(ls, &j->m, hdr, &b, 1, (long)j->timeout);
}

/*
 * Gather into tx the boxes of one delivery that starts at box k: box k
 * alone for Maildir; for LMTP, box k and the boxes after it not tried
 * yet for the same target, at most rcpt_limit (lmtp_recipient_limit).
 * Their number.
 */
static size_t
worker_gather(struct dl_job *j, size_t k, struct dl_box **tx)
{
	const char	*t = j->box[k].target;
	size_t		 n = 0;

	tx[n++] = &j->box[k];
	if (strncmp(t, "lmtp:", 5) != 0)
		return (n);
	for (k++; k < j->nbox && (long long)n < j->rcpt_limit; k++)
		if (!j->box[k].tried && strcmp(j->box[k].target, t) == 0)
			tx[n++] = &j->box[k];
	return (n);
}

/*
 * Deliver the n boxes of tx.  One LMTP mailbox, or a Maildir one, gets
 * its own Delivered-To (worker_deliver_box).  Several LMTP mailboxes go
 * in one transaction (RFC 2033 4.2: one reply each after the data) with
 * nothing prepended: every recipient gets the same octets, so a header
 * naming one would show it to all (a Bcc leak).  Dovecot 2.3 adds no
 * Delivered-To then either (lmtp_hdr_delivery_address is none for a mail
 * with several recipients): hence lmtp_recipient_limit's default of 1.
 */
static void
worker_deliver_tx(struct dl_job *j, struct dl_box **tx, size_t n,
    struct lmtp_session *ls)
{
	long long	t0 = clock_us(CLOCK_MONOTONIC), all;
	size_t		i;

	ls->setup_us = 0;
	if (n == 1)
		worker_deliver_box(j, tx[0], ls);
	else
		lmtp_deliver(ls, &j->m, "", tx, n, (long)j->timeout);
	all = clock_us(CLOCK_MONOTONIC) - t0;
	for (i = 0; i < n; i++) {
		tx[i]->setup_us = ls->setup_us;
		tx[i]->xfer_us = all - ls->setup_us;
	}
}

/*
 * Format microseconds as Postfix's delay fields do: seconds with two
 * decimals (a negative span, from a clock step, is 0).
 */
static const char *
worker_secs(long long us, char *buf, size_t len)
{
	if (us < 0)
		us = 0;
	snprintf(buf, len, "%lld.%02lld", us / 1000000, us % 1000000 / 10000);
	return (buf);
}

/*
 * Record what became of box b, tried just now: its log line, dead/ for
 * a 5xx, and at once the state of its recipients, before the next
 * delivery (a crash can then repeat only the one under way).  A
 * recipient whose boxes have all been tried is settled; one with boxes
 * still to try gets a `sent`/`bounced` line for this one.
 */
static void
worker_record(struct dl_job *j, struct dl_box *b)
{
	time_t		now = time(NULL);
	long long	end = clock_us(CLOCK_REALTIME);
	size_t		i, n;
	char		d[4][32], all[32];

	b->tried = 1;
	/*
	 * Postfix's delays=a/b/c/d: a receipt (the queue ID's time to the
	 * commit), b in the queue (to a worker taking it: retries and
	 * yielding to intake), c connection set-up, d transmission.
	 */
	worker_log(j, "qid=%s to=<%s>%s%s%s relay=%s delay=%s "
	    "delays=%s/%s/%s/%s dsn=%s status=%s (%s)", j->m.qid, b->addr,
	    b->orig[0] ? " orig_to=<" : "", b->orig, b->orig[0] ? ">" : "",
	    b->target, worker_secs(end - j->arrival_us, all, sizeof(all)),
	    worker_secs(j->committed_us - j->arrival_us, d[0], sizeof(d[0])),
	    worker_secs(j->started_us - j->committed_us, d[1], sizeof(d[1])),
	    worker_secs(b->setup_us, d[2], sizeof(d[2])),
	    worker_secs(b->xfer_us, d[3], sizeof(d[3])), b->dsn,
	    worker_status(b), b->reason);
	if (b->code >= 500) {
		/* Into dead/ before any state says failed. */
		worker_dead(j);
		worker_failed(j, b->addr, b->reason);
	}
	for (n = 0; n < b->nidx; n++) {
		i = b->idx[n];
		if (worker_all_tried(j, i))
			worker_settle(j, i, b, now);
		else if (worker_box_done(b))
			worker_state(j, i, b->code < 300 ? RCPT_S_SENT :
			    RCPT_S_BOUNCED, b->addr);
	}
}

/* Do one job on a worker thread. */
void
worker_run(struct dl_job *j, struct lmtp_session *ls)
{
	struct dl_box		**tx;
	enum rcpt_status	*st;
	size_t			 k, t, n;

	j->started_us = clock_us(CLOCK_REALTIME);
	tx = xcalloc(j->nbox + 1, sizeof(*tx));
	for (k = 0; k < j->nbox; k++) {
		if (j->box[k].tried)
			continue;
		n = worker_gather(j, k, tx);
		worker_deliver_tx(j, tx, n, ls);
		for (t = 0; t < n; t++) {
			/* Box k is always tried: the loop ends. */
			if (tx[t]->code == LMTP_NEXT_TX)
				tx[t]->code = 0;
			else
				worker_record(j, tx[t]);
		}
	}
	free(tx);
	if (j->failed.n > 0)
		worker_notice(j, ls);
	st = xcalloc(j->env.nrcpt + 1, sizeof(*st));
	if (rcptstate_read(j->spool_dir, j->m.qid, st, j->env.nrcpt) == 0 &&
	    rcptstate_done(st, j->env.nrcpt)) {
		/* The loop tells the removal watchers (runner.c). */
		if (queue_unlink(j->spool_dir, j->m.qid) == 0) {
			worker_log(j, "qid=%s removed", j->m.qid);
			j->removed = 1;
		}
		j->next = 0;
	}
	free(st);
}

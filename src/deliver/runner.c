/*
 * runner.c: the delivery queue.  In: queued messages (a scan of queue/
 * at start, then the spool's commit notices through queue_watch), the
 * settings delivery, delivery_map and delivery_*, SIGUSR1 (mxd -Q).
 * Out: each recipient's copy in its mailbox (maildir.c, lmtp.c), one
 * durable state line per transition in state/<QID> (delivered, deferred
 * <next-try> <reason>, failed <reason>; `sent`/`bounced <mailbox>` for
 * one mailbox of an alias whose other mailboxes are not done), one log
 * line per delivery, failed messages in dead/, and queue_delete() once
 * every recipient is final.  The loop plans (reads the envelope and the
 * state, expands aliases, picks targets) and never waits for a store or
 * a disk flush: delivery_concurrency worker threads deliver, write the
 * state lines and answer through a pipe, as the spool's I/O thread does.
 * Recipients whose target is `keep` are left in the spool for POP3.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "deliver.h"

/* One queued message the runner knows of (on the loop). */
struct dl_entry {
	char			 qid[QID_LEN + 1];
	time_t			 due;		/* next look */
	int			 busy;		/* a worker has it */
	int			 force;		/* mxd -Q: ignore next-try */
	TAILQ_ENTRY(dl_entry)	 entry;
};
TAILQ_HEAD(dl_entries, dl_entry);

/* What the state file says of one recipient. */
struct dl_rstate {
	enum rcpt_status	 st;
	time_t			 next;		/* deferred: next try */
	unsigned		 ndeferred;
	int			 bounced;	/* a mailbox of it failed */
	struct strlist		 done;		/* sent/bounced mailboxes */
};

/* A message handed to a worker, and what became of it. */
struct dl_job {
	struct dl_entry		*e;
	struct envelope		 env;
	FILE			*f;
	struct dl_msg		 m;
	struct dl_box		*box;
	size_t			 nbox;
	struct dl_rstate	*rs;		/* env.nrcpt */
	int			*keep;		/* env.nrcpt: has keep boxes */
	time_t			 arrival;
	char			*spool_dir, *hostname, *delim;
	long long		 retry_min, retry_max, lifetime, timeout;
	struct strlist		 log;		/* lines for the loop */
	struct strlist		 failed;	/* `<addr>: reason`, notice */
	char			 pm_addr[SMTP_PATH_MAX + 1];
	char			 pm_target[1024];
	time_t			 next;		/* out: 0 nothing pending */
	TAILQ_ENTRY(dl_job)	 entry;
};
TAILQ_HEAD(dl_jobs, dl_job);

/* One line of delivery_map. */
struct dl_route {
	char	*key;		/* local@domain or @domain, lower case */
	char	*target;
};

static struct dl_entries	 dl_list = TAILQ_HEAD_INITIALIZER(dl_list);
static struct dl_jobs		 dl_todo = TAILQ_HEAD_INITIALIZER(dl_todo);
static struct dl_jobs		 dl_done = TAILQ_HEAD_INITIALIZER(dl_done);
static pthread_mutex_t		 dl_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t		 dl_cond = PTHREAD_COND_INITIALIZER;
static pthread_t		*dl_threads;
static size_t			 dl_nthreads;
static int			 dl_stopping;
static int			 dl_pipe[2] = { -1, -1 };
static struct event		*dl_pipe_ev, *dl_timer;
static struct dl_route		*dl_routes;
static size_t			 dl_nroutes;
static char			*dl_routes_file;
static unsigned			 dl_busy;

static void	dl_kick(void);

/* Free a loaded delivery_map. */
static void
dl_routes_free(struct dl_route *r, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		free(r[i].key);
		free(r[i].target);
	}
	free(r);
}

/* Is t a target: keep, lmtp:..., maildir:/...?  0, or -1 with *cause. */
static int
dl_target_check(const char *t, char **cause)
{
	struct lmtp_target	 lt;
	char			 buf[8];

	if (strcmp(t, "keep") == 0)
		return (0);
	if (strncmp(t, "lmtp:", 5) == 0)
		return (lmtp_target_parse(t, &lt, cause));
	if (strncmp(t, "maildir:", 8) == 0 &&
	    maildir_path(t + 8, "a@b", NULL, buf, 1) == -1 && t[8] == '/')
		return (0);
	xasprintf(cause, "bad delivery target '%s': want keep, "
	    "lmtp:unix:/path, lmtp:inet:host:port or maildir:/path/%%d/%%u",
	    t);
	return (-1);
}

/* Read delivery_map file into *out; 0, or -1 with *cause (file:line). */
static int
dl_routes_load(const char *file, struct dl_route **out, size_t *nout,
    char **cause)
{
	struct dl_route	*r = NULL;
	size_t		 n = 0, i;
	unsigned	 lineno = 0;
	char		 line[2048], key[SMTP_PATH_MAX + 1], t[1100], *why;
	FILE		*f;

	if ((f = fopen(file, "r")) == NULL) {
		xasprintf(cause, "delivery_map %s: %s", file, strerror(errno));
		return (-1);
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[strspn(line, " \t")] == '#' ||
		    line[strspn(line, " \t")] == '\0')
			continue;
		why = NULL;
		if (sscanf(line, "%256s %1099s", key, t) != 2 ||
		    strchr(key, '@') == NULL)
			xasprintf(&why, "want `@domain target` or "
			    "`address target`");
		else
			(void)dl_target_check(t, &why);
		if (why != NULL) {
			xasprintf(cause, "%s:%u: %s", file, lineno, why);
			free(why);
			fclose(f);
			dl_routes_free(r, n);
			return (-1);
		}
		for (i = 0; key[i] != '\0'; i++)
			if (key[i] >= 'A' && key[i] <= 'Z')
				key[i] += 'a' - 'A';
		r = xreallocarray(r, n + 1, sizeof(*r));
		r[n].key = xstrdup(key);
		r[n++].target = xstrdup(t);
	}
	fclose(f);
	*out = r;
	*nout = n;
	return (0);
}

/* Check delivery and delivery_map for mxd_check(); 0, or -1. */
static int
dl_check(const struct config *c, char **cause)
{
	struct dl_route	*r;
	size_t		 n;
	char		*why = NULL;

	if (dl_target_check(c->delivery, &why) != 0) {
		xasprintf(cause, "delivery: %s", why);
		free(why);
		return (-1);
	}
	if (c->delivery_map[0] == '\0')
		return (0);
	if (dl_routes_load(c->delivery_map, &r, &n, cause) != 0)
		return (-1);
	dl_routes_free(r, n);
	return (0);
}

/* Does any mail leave the spool?  Not when everything is keep. */
static int
dl_active(const struct config *c)
{
	return (strcmp(c->delivery, "keep") != 0 ||
	    c->delivery_map[0] != '\0');
}

/* Load delivery_map again if the setting names another file. */
static void
dl_routes_refresh(void)
{
	char	*why = NULL;

	if (dl_routes_file != NULL &&
	    strcmp(dl_routes_file, cfg->delivery_map) == 0)
		return;
	dl_routes_free(dl_routes, dl_nroutes);
	dl_routes = NULL;
	dl_nroutes = 0;
	free(dl_routes_file);
	dl_routes_file = xstrdup(cfg->delivery_map);
	if (cfg->delivery_map[0] != '\0' && dl_routes_load(cfg->delivery_map,
	    &dl_routes, &dl_nroutes, &why) != 0) {
		log_warnx("deliver: %s", why);
		free(why);
	}
}

/*
 * The target for a mailbox: delivery_map's address, then its @domain;
 * else delivery for the domains mxd takes mail for (and the postmaster
 * of hostname); else keep: mail an authenticated client relays through
 * mxd is not a local mailbox's, and stays for an outbound consumer.
 */
static const char *
dl_route(const char *addr)
{
	const char	*at = strrchr(addr, '@');
	size_t		 i;

	for (i = 0; i < dl_nroutes; i++)
		if (strcasecmp(dl_routes[i].key, addr) == 0)
			return (dl_routes[i].target);
	for (i = 0; at != NULL && i < dl_nroutes; i++)
		if (strcasecmp(dl_routes[i].key, at) == 0)
			return (dl_routes[i].target);
	if (at == NULL || (!recipient_domain_ours(cfg, at + 1) &&
	    strcasecmp(at + 1, cfg->hostname) != 0))
		return ("keep");
	return (cfg->delivery);
}

/* rcptstate_scan's callback: fold one line into the dl_rstate array. */
static void
dl_scan_cb(void *arg, time_t t, size_t n, const char *word,
    const char *detail)
{
	struct dl_rstate	*rs = ((struct dl_rstate **)arg)[0];
	size_t			 nrcpt = (size_t)((struct dl_rstate **)arg)[1];
	struct dl_rstate	*r;

	if (n >= nrcpt)
		return;
	r = &rs[n];
	if (strcmp(word, "sent") == 0 || strcmp(word, "bounced") == 0) {
		r->done.v = xreallocarray(r->done.v, r->done.n + 1,
		    sizeof(char *));
		r->done.v[r->done.n++] = xstrdup(detail);
		if (word[0] == 'b')
			r->bounced = 1;
		return;
	}
	if (strcmp(word, "deferred") == 0) {
		r->st = RCPT_S_DEFERRED;
		r->next = (time_t)strtoll(detail, NULL, 10);
		r->ndeferred++;
	} else if (strcmp(word, "delivered") == 0)
		r->st = RCPT_S_DELIVERED;
	else if (strcmp(word, "failed") == 0)
		r->st = RCPT_S_FAILED;
	else if (strcmp(word, "removed") == 0)
		r->st = RCPT_S_REMOVED;
}

/* Read what state/<qid> says of its nrcpt recipients (calloc'd). */
static struct dl_rstate *
dl_scan(const char *spool_dir, const char *qid, size_t nrcpt)
{
	struct dl_rstate	*rs = xcalloc(nrcpt + 1, sizeof(*rs));
	void			*arg[2] = { rs, (void *)nrcpt };

	(void)rcptstate_scan(spool_dir, qid, dl_scan_cb, arg);
	return (rs);
}

/* Free a dl_scan() result. */
static void
dl_scan_free(struct dl_rstate *rs, size_t nrcpt)
{
	size_t	i, k;

	for (i = 0; rs != NULL && i < nrcpt; i++) {
		for (k = 0; k < rs[i].done.n; k++)
			free(rs[i].done.v[k]);
		free(rs[i].done.v);
	}
	free(rs);
}

/* Is a status final? */
static int
dl_final(enum rcpt_status st)
{
	return (st == RCPT_S_DELIVERED || st == RCPT_S_FAILED ||
	    st == RCPT_S_REMOVED);
}

/* The arrival time a queue ID holds (its first 13 hex digits, usec). */
static time_t
dl_arrival(const char *qid)
{
	char	hex[14];

	memcpy(hex, qid, 13);
	hex[13] = '\0';
	return ((time_t)(strtoull(hex, NULL, 16) / 1000000));
}

/* Add mailbox addr of recipient i to the job's boxes, once. */
static void
dl_add_box(struct dl_job *j, const char *addr, size_t i, const char *target)
{
	struct dl_box	*b;
	size_t		 k;

	for (k = 0; k < j->nbox; k++)
		if (strcasecmp(j->box[k].addr, addr) == 0)
			break;
	if (k == j->nbox) {
		j->box = xreallocarray(j->box, j->nbox + 1, sizeof(*j->box));
		b = &j->box[j->nbox++];
		memset(b, 0, sizeof(*b));
		snprintf(b->addr, sizeof(b->addr), "%s", addr);
		if (strcasecmp(addr, j->env.rcpt[i]) != 0)
			snprintf(b->orig, sizeof(b->orig), "%s",
			    j->env.rcpt[i]);
		snprintf(b->target, sizeof(b->target), "%s", target);
	}
	b = &j->box[k];
	b->idx = xreallocarray(b->idx, b->nidx + 1, sizeof(*b->idx));
	b->idx[b->nidx++] = i;
}

/* Has recipient i's mailbox addr been delivered (or bounced) before? */
static int
dl_was_done(const struct dl_rstate *r, const char *addr)
{
	size_t	k;

	for (k = 0; k < r->done.n; k++)
		if (strcasecmp(r->done.v[k], addr) == 0)
			return (1);
	return (0);
}

/*
 * addr without its +tag (recipient_delimiter), as the recipient table
 * would name the mailbox: bob+news@ is bob@ (doc/recipients.md).
 */
static void
dl_untag(const char *addr, char *out, size_t len)
{
	const char	*at = strrchr(addr, '@'), *p;
	const char	*delim = cfg->recipient_delimiter;

	snprintf(out, len, "%s", addr);
	if (at == NULL || delim[0] == '\0' || addr[0] == '"')
		return;
	for (p = addr + 1; p < at; p++)
		if (strchr(delim, *p) != NULL) {
			snprintf(out, len, "%.*s%s", (int)(p - addr), addr, at);
			return;
		}
}

/* Plan recipient i of j: its mailboxes (aliases expanded) and targets. */
static void
dl_plan_rcpt(struct dl_job *j, size_t i)
{
	struct strlist	 out = { NULL, 0 };
	char		*why = NULL, pm[SMTP_PATH_MAX + 1];
	const char	*addr = j->env.rcpt[i], *t;
	size_t		 k;

	if (strchr(addr, '@') == NULL) {
		/* <postmaster> alone: the postmaster of hostname. */
		snprintf(pm, sizeof(pm), "%s@%s", addr, cfg->hostname);
		addr = pm;
	}
	if (cfg->rcpt_table == NULL || rcpttable_expand(cfg->rcpt_table,
	    addr, &out, NULL, &why) != 0 || out.n == 0) {
		free(why);
		for (k = 0; k < out.n; k++)
			free(out.v[k]);
		free(out.v);
		dl_untag(addr, pm, sizeof(pm));
		out.v = xcalloc(1, sizeof(char *));
		out.v[0] = xstrdup(pm);
		out.n = 1;
	}
	for (k = 0; k < out.n; k++) {
		t = dl_route(out.v[k]);
		if (strcmp(t, "keep") == 0)
			j->keep[i] = 1;
		else if (!dl_was_done(&j->rs[i], out.v[k]))
			dl_add_box(j, out.v[k], i, t);
		free(out.v[k]);
	}
	free(out.v);
}

/*
 * Where notices of failed deliveries go: postmaster@hostname, through
 * the recipient table and the targets like any recipient.
 */
static void
dl_plan_postmaster(struct dl_job *j)
{
	struct strlist	 out = { NULL, 0 };
	char		*why = NULL;
	size_t		 k;

	snprintf(j->pm_addr, sizeof(j->pm_addr), "postmaster@%s",
	    cfg->hostname);
	if (cfg->rcpt_table != NULL && rcpttable_expand(cfg->rcpt_table,
	    j->pm_addr, &out, NULL, &why) == 0 && out.n > 0)
		snprintf(j->pm_addr, sizeof(j->pm_addr), "%s", out.v[0]);
	free(why);
	for (k = 0; k < out.n; k++)
		free(out.v[k]);
	free(out.v);
	snprintf(j->pm_target, sizeof(j->pm_target), "%s",
	    dl_route(j->pm_addr));
}

/* Free a job (on the loop). */
static void
dl_job_free(struct dl_job *j)
{
	size_t	i;

	for (i = 0; i < j->nbox; i++)
		free(j->box[i].idx);
	free(j->box);
	dl_scan_free(j->rs, j->env.nrcpt);
	free(j->keep);
	for (i = 0; i < j->log.n; i++)
		free(j->log.v[i]);
	free(j->log.v);
	for (i = 0; i < j->failed.n; i++)
		free(j->failed.v[i]);
	free(j->failed.v);
	if (j->f != NULL)
		fclose(j->f);
	envelope_free(&j->env);
	free(j->spool_dir);
	free(j->hostname);
	free(j->delim);
	free(j);
}

/*
 * Plan e's delivery: the recipients that are due (all not final with
 * e->force), their mailboxes and targets.  A job for a worker, or NULL
 * with e->due set (0: forget e).
 */
static struct dl_job *
dl_plan(struct dl_entry *e, time_t now)
{
	struct dl_job	*j = xcalloc(1, sizeof(*j));
	struct stat	 st;
	time_t		 due = 0;
	size_t		 i, open = 0;

	if ((j->f = queue_open(cfg->spool_dir, e->qid, &j->env)) == NULL) {
		if (errno != ENOENT)
			log_warn("deliver: qid=%s: cannot read", e->qid);
		free(j);
		e->due = 0;
		return (NULL);
	}
	j->e = e;
	j->rs = dl_scan(cfg->spool_dir, e->qid, j->env.nrcpt);
	j->keep = xcalloc(j->env.nrcpt + 1, sizeof(*j->keep));
	for (i = 0; i < j->env.nrcpt; i++) {
		if (dl_final(j->rs[i].st))
			continue;
		open++;
		if (j->rs[i].st == RCPT_S_DEFERRED && j->rs[i].next > now &&
		    !e->force) {
			if (due == 0 || j->rs[i].next < due)
				due = j->rs[i].next;
			continue;
		}
		dl_plan_rcpt(j, i);
	}
	e->force = 0;
	if (j->nbox == 0 && (open > 0 || due != 0)) {
		/* Waiting for a retry, or for POP3 (keep). */
		e->due = due;
		dl_job_free(j);
		return (NULL);
	}
	j->m.qid = e->qid;
	j->m.sender = j->env.sender;
	j->m.fd = fileno(j->f);
	j->m.off = ftello(j->f);
	j->m.size = fstat(j->m.fd, &st) == 0 ? st.st_size - j->m.off : 0;
	j->hostname = xstrdup(cfg->hostname);
	j->m.hostname = j->hostname;
	j->spool_dir = xstrdup(cfg->spool_dir);
	j->delim = xstrdup(cfg->recipient_delimiter);
	j->retry_min = cfg->delivery_retry_min;
	j->retry_max = cfg->delivery_retry_max;
	j->lifetime = cfg->delivery_lifetime;
	j->timeout = cfg->delivery_timeout;
	j->arrival = dl_arrival(e->qid);
	dl_plan_postmaster(j);
	return (j);
}

/* Append a log line to j (worker side; the loop logs it). */
static void
dl_log(struct dl_job *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
dl_log(struct dl_job *j, const char *fmt, ...)
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
dl_status(const struct dl_box *b)
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
dl_dead(struct dl_job *j)
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
		dl_log(j, "deliver: qid=%s: cannot link into dead/: %s",
		    j->m.qid, strerror(errno));
	if (fd != -1)
		close(fd);
}

/* Write one state line; a failure is logged (the copy may be sent again). */
static void
dl_state(struct dl_job *j, size_t i, enum rcpt_status st, const char *detail)
{
	if (rcptstate_append(j->spool_dir, j->m.qid, i, st, detail) != 0)
		dl_log(j, "deliver: qid=%s: cannot write state: %s",
		    j->m.qid, strerror(errno));
}

/* Is i among the n numbers in idx? */
static int
dl_has_idx(const size_t *idx, size_t n, size_t i)
{
	size_t	k;

	for (k = 0; k < n; k++)
		if (idx[k] == i)
			return (1);
	return (0);
}

/* Note a failed recipient for the postmaster's notice. */
static void
dl_failed(struct dl_job *j, const char *addr, const char *reason)
{
	char	*s;

	xasprintf(&s, "<%s>: %s", addr, reason);
	j->failed.v = xreallocarray(j->failed.v, j->failed.n + 1,
	    sizeof(char *));
	j->failed.v[j->failed.n++] = s;
}

/* Write all of buf to fd; 0, or -1. */
static int
dl_write(int fd, const char *buf, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			return (-1);
		}
		buf += n;
		len -= (size_t)n;
	}
	return (0);
}

/*
 * Write the postmaster's notice to fd: a multipart/mixed message (RFC
 * 2046 5.1) with the reasons, then the original as message/rfc822 (from
 * mxd's Received: on, without the envelope); fsync.  0, or -1.
 */
static int
dl_notice_write(struct dl_job *j, int fd)
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
	    dl_write(fd, head, (size_t)len) != 0)
		return (-1);
	for (i = 0; i < j->failed.n; i++)
		if (dl_write(fd, "  ", 2) != 0 || dl_write(fd, j->failed.v[i],
		    strlen(j->failed.v[i])) != 0 || dl_write(fd, "\r\n", 2) != 0)
			return (-1);
	len = snprintf(head, sizeof(head), "\r\nThe message is kept in "
	    "spool_dir/dead/%s.eml and follows.\r\n\r\n--=_mxd-%s-%lld\r\n"
	    "Content-Type: message/rfc822\r\n"
	    "Content-Disposition: attachment\r\n\r\n", j->m.qid, j->m.qid,
	    (long long)now);
	if (dl_write(fd, head, (size_t)len) != 0)
		return (-1);
	while ((n = pread(j->m.fd, buf, sizeof(buf), off)) > 0) {
		off += n;
		if (dl_write(fd, buf, (size_t)n) != 0)
			return (-1);
	}
	len = snprintf(head, sizeof(head), "\r\n--=_mxd-%s-%lld--\r\n",
	    j->m.qid, (long long)now);
	if (n == -1 || dl_write(fd, head, (size_t)len) != 0)
		return (-1);
	return (fsync(fd));
}

static void	dl_deliver_box(struct dl_job *, struct dl_box *,
		    struct lmtp_session *);

/*
 * Tell the postmaster: dead/<QID>.notice is written, then delivered to
 * the postmaster's mailbox like any message (never sent out); once
 * delivered it goes, and dead/<QID>.eml stays.  A notice that cannot be
 * delivered stays in dead/ and is logged.
 */
static void
dl_notice(struct dl_job *j, struct lmtp_session *ls)
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
	    0600)) == -1 || dl_notice_write(j, fd) != 0 ||
	    fstat(fd, &st) == -1) {
		dl_log(j, "deliver: qid=%s: cannot write %s: %s", j->m.qid,
		    path, strerror(errno));
		goto out;
	}
	memset(&b, 0, sizeof(b));
	snprintf(b.addr, sizeof(b.addr), "%s", j->pm_addr);
	snprintf(b.target, sizeof(b.target), "%s", j->pm_target);
	if (strcmp(b.target, "keep") == 0) {
		dl_log(j, "qid=%s notice to <%s> kept in %s (the postmaster's "
		    "delivery is keep)", j->m.qid, b.addr, path);
		goto out;
	}
	nm.sender = "";
	nm.fd = fd;
	nm.off = 0;
	nm.size = st.st_size;
	j->m = nm;
	dl_deliver_box(j, &b, ls);
	j->m = keep;
	dl_log(j, "qid=%s notice to=<%s> relay=%s dsn=%s status=%s (%s)",
	    j->m.qid, b.addr, b.target, b.dsn, dl_status(&b), b.reason);
	if (b.code >= 200 && b.code < 300)
		(void)unlinkat(dfd, path, 0);
out:
	if (fd != -1)
		close(fd);
	close(dfd);
}

/* Write what became of recipient i after this job's tries. */
static void
dl_settle(struct dl_job *j, size_t i, time_t now)
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
			/* dl_work() linked it into dead/ already. */
			dl_state(j, i, RCPT_S_FAILED, perm != NULL ?
			    perm->reason : "a mailbox of an alias failed");
		} else
			dl_state(j, i, RCPT_S_DELIVERED, NULL);
		return;
	}
	/* Not final: remember the mailboxes that are done. */
	for (k = 0; k < j->nbox; k++) {
		b = &j->box[k];
		for (n = 0; n < b->nidx && b->idx[n] != i; n++)
			;
		if (n < b->nidx && b->code >= 200 && b->code != -1 &&
		    (b->code < 300 || b->code >= 500))
			dl_state(j, i, b->code < 300 ? RCPT_S_SENT :
			    RCPT_S_BOUNCED, b->addr);
	}
	if (temp == NULL)
		return;		/* keep mailboxes wait for POP3 */
	if (now >= j->arrival + j->lifetime) {
		dl_dead(j);
		snprintf(detail, sizeof(detail), "delivery_lifetime over: %s",
		    temp->reason);
		dl_failed(j, j->env.rcpt[i], detail);
		dl_state(j, i, RCPT_S_FAILED, detail);
		dl_log(j, "qid=%s to=<%s> status=expired (%s)", j->m.qid,
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
	dl_state(j, i, RCPT_S_DEFERRED, detail);
}

/* Deliver one mailbox (worker). */
static void
dl_deliver_box(struct dl_job *j, struct dl_box *b,
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

/* Do one job on a worker thread. */
static void
dl_work(struct dl_job *j, struct lmtp_session *ls)
{
	struct dl_box		*b;
	enum rcpt_status	*st;
	size_t			 i, k;
	time_t			 now;

	for (k = 0; k < j->nbox; k++) {
		b = &j->box[k];
		dl_deliver_box(j, b, ls);
		now = time(NULL);
		dl_log(j, "qid=%s to=<%s>%s%s%s relay=%s delay=%lld dsn=%s "
		    "status=%s (%s)", j->m.qid, b->addr, b->orig[0] ?
		    " orig_to=<" : "", b->orig, b->orig[0] ? ">" : "",
		    b->target, (long long)(now - j->arrival), b->dsn,
		    dl_status(b), b->reason);
		if (b->code >= 500) {
			/* Into dead/ before any state says failed. */
			dl_dead(j);
			dl_failed(j, b->addr, b->reason);
		}
	}
	now = time(NULL);
	for (i = 0; i < j->env.nrcpt; i++) {
		for (k = 0; k < j->nbox; k++) {
			b = &j->box[k];
			if (dl_has_idx(b->idx, b->nidx, i))
				break;
		}
		if (k < j->nbox)
			dl_settle(j, i, now);
	}
	if (j->failed.n > 0)
		dl_notice(j, ls);
	st = xcalloc(j->env.nrcpt + 1, sizeof(*st));
	if (rcptstate_read(j->spool_dir, j->m.qid, st, j->env.nrcpt) == 0 &&
	    rcptstate_done(st, j->env.nrcpt)) {
		if (queue_delete(j->spool_dir, j->m.qid) == 0)
			dl_log(j, "qid=%s removed", j->m.qid);
		j->next = 0;
	}
	free(st);
}

/* A worker thread: take jobs, do them, hand them back to the loop. */
static void *
dl_thread(void *arg)
{
	struct lmtp_session	 ls = { .fd = -1 };
	struct dl_job		*j;
	char			 c = 0;
	int			 wake;

	for (;;) {
		pthread_mutex_lock(&dl_lock);
		while (TAILQ_EMPTY(&dl_todo) && !dl_stopping)
			pthread_cond_wait(&dl_cond, &dl_lock);
		if (dl_stopping) {
			pthread_mutex_unlock(&dl_lock);
			break;
		}
		j = TAILQ_FIRST(&dl_todo);
		TAILQ_REMOVE(&dl_todo, j, entry);
		pthread_mutex_unlock(&dl_lock);

		dl_work(j, &ls);

		pthread_mutex_lock(&dl_lock);
		wake = TAILQ_EMPTY(&dl_done);
		TAILQ_INSERT_TAIL(&dl_done, j, entry);
		pthread_mutex_unlock(&dl_lock);
		if (wake)
			while (write(dl_pipe[1], &c, 1) == -1 && errno == EINTR)
				;
	}
	lmtp_session_close(&ls);
	return (NULL);
}

/* Forget an entry. */
static void
dl_entry_free(struct dl_entry *e)
{
	TAILQ_REMOVE(&dl_list, e, entry);
	free(e);
}

/* Finished jobs: log their lines, schedule their next try (loop). */
static void
dl_pipe_cb(evutil_socket_t fd, short events, void *arg)
{
	struct dl_jobs	 got = TAILQ_HEAD_INITIALIZER(got);
	struct dl_job	*j;
	char		 buf[64];
	size_t		 i;

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&dl_lock);
	TAILQ_CONCAT(&got, &dl_done, entry);
	pthread_mutex_unlock(&dl_lock);
	while ((j = TAILQ_FIRST(&got)) != NULL) {
		TAILQ_REMOVE(&got, j, entry);
		for (i = 0; i < j->log.n; i++)
			log_info("%s", j->log.v[i]);
		dl_busy--;
		j->e->busy = 0;
		if (j->next == 0 && !j->e->force)
			dl_entry_free(j->e);
		else
			j->e->due = j->next;
		dl_job_free(j);
	}
	dl_kick();
}

/* The timer for the next retry is up. */
static void
dl_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	dl_kick();
}

/*
 * Hand due messages to the workers (at most two per worker waiting),
 * then set the timer for the next one due.
 */
static void
dl_kick(void)
{
	struct dl_entry	*e, *next;
	struct dl_job	*j;
	struct timeval	 tv;
	time_t		 now = time(NULL), first = 0;
	int		 added = 0;

	dl_routes_refresh();
	for (e = TAILQ_FIRST(&dl_list); e != NULL; e = next) {
		next = TAILQ_NEXT(e, entry);
		if (e->busy)
			continue;
		if (e->due > now) {
			if (first == 0 || e->due < first)
				first = e->due;
			continue;
		}
		if (dl_busy >= dl_nthreads * 2) {
			first = now;
			continue;
		}
		if ((j = dl_plan(e, now)) == NULL) {
			if (e->due == 0)
				dl_entry_free(e);
			else if (first == 0 || e->due < first)
				first = e->due;
			continue;
		}
		e->busy = 1;
		dl_busy++;
		pthread_mutex_lock(&dl_lock);
		TAILQ_INSERT_TAIL(&dl_todo, j, entry);
		pthread_mutex_unlock(&dl_lock);
		added = 1;
	}
	if (added)
		pthread_cond_broadcast(&dl_cond);
	if (first != 0 && (dl_busy < dl_nthreads * 2 || first > now)) {
		tv.tv_sec = first > now ? first - now : 0;
		tv.tv_usec = 0;
		evtimer_add(dl_timer, &tv);
	}
}

/* Know of qid (due now), once. */
static void
dl_add(const char *qid)
{
	struct dl_entry	*e;

	TAILQ_FOREACH(e, &dl_list, entry)
		if (strcmp(e->qid, qid) == 0) {
			e->due = 0;
			return;
		}
	e = xcalloc(1, sizeof(*e));
	memcpy(e->qid, qid, QID_LEN + 1);
	TAILQ_INSERT_TAIL(&dl_list, e, entry);
}

/* The spool committed qid (queue_watch). */
static void
dl_committed_cb(const char *qid, void *arg)
{
	dl_add(qid);
	dl_kick();
}

/* At start: every message in queue/ may have recipients to deliver. */
static void
dl_scan_queue(void)
{
	struct dirent	*de;
	char		 qid[QID_LEN + 1];
	DIR		*d;
	int		 fd;

	if ((fd = spool_openat(cfg->spool_dir, "queue", O_RDONLY |
	    O_DIRECTORY, 0)) == -1 || (d = fdopendir(fd)) == NULL) {
		log_warn("deliver: cannot read %s/queue", cfg->spool_dir);
		if (fd != -1)
			close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strlen(de->d_name) != QID_LEN + 4 ||
		    strcmp(de->d_name + QID_LEN, ".eml") != 0)
			continue;
		memcpy(qid, de->d_name, QID_LEN);
		qid[QID_LEN] = '\0';
		if (queue_id_valid(qid))
			dl_add(qid);
	}
	closedir(d);
}

/*
 * The event loop exists (or the configuration was reloaded): start the
 * workers and look at the queue; when running, reread delivery_map.
 */
static void
dl_start(struct event_base *base)
{
	size_t	i;

	if (dl_threads != NULL) {
		free(dl_routes_file);
		dl_routes_file = NULL;
		dl_kick();
		return;
	}
	if (!dl_active(cfg))
		return;
	if (pipe2(dl_pipe, O_CLOEXEC | O_NONBLOCK) == -1)
		fatal("deliver: pipe");
	dl_pipe_ev = event_new(base, dl_pipe[0], EV_READ | EV_PERSIST,
	    dl_pipe_cb, NULL);
	dl_timer = evtimer_new(base, dl_timer_cb, NULL);
	if (dl_pipe_ev == NULL || dl_timer == NULL)
		fatalx("deliver: event_new failed");
	event_add(dl_pipe_ev, NULL);
	dl_nthreads = (size_t)cfg->delivery_concurrency;
	dl_threads = xcalloc(dl_nthreads, sizeof(*dl_threads));
	for (i = 0; i < dl_nthreads; i++)
		if ((errno = pthread_create(&dl_threads[i], NULL, dl_thread,
		    NULL)) != 0)
			fatal("deliver: pthread_create");
	dl_scan_queue();
	queue_watch(dl_committed_cb, NULL);
	log_info("deliver: %zu workers, delivery=%s%s%s", dl_nthreads,
	    cfg->delivery, cfg->delivery_map[0] ? " delivery_map=" : "",
	    cfg->delivery_map);
	dl_kick();
}

/* SIGUSR1 (mxd -Q): try every message again now, deferred or not. */
static void
dl_retry_now(void)
{
	struct dl_entry	*e;

	if (dl_threads == NULL)
		return;
	dl_scan_queue();
	TAILQ_FOREACH(e, &dl_list, entry) {
		e->due = 0;
		e->force = 1;
	}
	log_info("deliver: retrying %s now (mxd -Q)", "every message");
	dl_kick();
}

/* At exit: let the workers finish what they hold, then free it all. */
static void
dl_stop(void)
{
	struct dl_entry	*e;
	struct dl_job	*j;
	size_t		 i;

	if (dl_threads == NULL)
		return;
	queue_unwatch(dl_committed_cb, NULL);
	pthread_mutex_lock(&dl_lock);
	dl_stopping = 1;
	pthread_cond_broadcast(&dl_cond);
	pthread_mutex_unlock(&dl_lock);
	for (i = 0; i < dl_nthreads; i++)
		pthread_join(dl_threads[i], NULL);
	free(dl_threads);
	dl_threads = NULL;
	TAILQ_CONCAT(&dl_done, &dl_todo, entry);
	while ((j = TAILQ_FIRST(&dl_done)) != NULL) {
		TAILQ_REMOVE(&dl_done, j, entry);
		for (i = 0; i < j->log.n; i++)
			log_info("%s", j->log.v[i]);
		dl_job_free(j);
	}
	while ((e = TAILQ_FIRST(&dl_list)) != NULL)
		dl_entry_free(e);
	event_free(dl_pipe_ev);
	event_free(dl_timer);
	close(dl_pipe[0]);
	close(dl_pipe[1]);
	dl_routes_free(dl_routes, dl_nroutes);
	dl_routes = NULL;
	dl_nroutes = 0;
	free(dl_routes_file);
	dl_routes_file = NULL;
}

/* mxd -t: where mail goes after the spool. */
static void
dl_explain(const struct config *c, FILE *f)
{
	struct dl_route	*r;
	size_t		 n, i;
	char		*why = NULL;

	fprintf(f, "  delivery: %s%s\n", c->delivery,
	    strcmp(c->delivery, "keep") == 0 ? " (the spool is the mailbox: "
	    "POP3, mxd -q)" : "");
	if (c->delivery_map[0] != '\0' &&
	    dl_routes_load(c->delivery_map, &r, &n, &why) == 0) {
		for (i = 0; i < n; i++)
			fprintf(f, "    %s -> %s (%s)\n", r[i].key,
			    r[i].target, c->delivery_map);
		dl_routes_free(r, n);
	}
	free(why);
	if (dl_active(c))
		fprintf(f, "  retries: %llds doubling to %llds, for %llds; "
		    "%lld at once\n", c->delivery_retry_min,
		    c->delivery_retry_max, c->delivery_lifetime,
		    c->delivery_concurrency);
}

const struct deliverer deliver_runner = {
	.name = "deliver",
	.check = dl_check,
	.start = dl_start,
	.retry_now = dl_retry_now,
	.stop = dl_stop,
	.explain = dl_explain,
};

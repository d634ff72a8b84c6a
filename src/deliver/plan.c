/*
 * plan.c: the delivery runner's planning, on the event loop, where the
 * configuration lives (a SIGHUP replaces it between two loop passes).
 * In: a queued message (its envelope, its state/<QID> lines), the
 * recipient table, delivery and delivery_map.  Out: a dl_job for a
 * worker (worker.c): each not yet final recipient that is due, expanded
 * into its mailboxes (each mailbox once, mailboxes already sent skipped),
 * each with its target; recipients whose target is keep are left alone.
 * Also the delivery_map file (`key target` lines) and its checks.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "deliver.h"

/* One line of delivery_map. */
struct plan_route {
	char	*key;		/* local@domain or @domain, lower case */
	char	*target;
};

static struct plan_route	*plan_routes;
static size_t			 plan_nroutes;
static char			*plan_routes_file;

/* Free a loaded delivery_map. */
static void
plan_routes_free(struct plan_route *r, size_t n)
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
plan_target_check(const char *t, char **cause)
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
plan_routes_load(const char *file, struct plan_route **out, size_t *nout,
    char **cause)
{
	struct plan_route	*r = NULL;
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
			(void)plan_target_check(t, &why);
		if (why != NULL) {
			xasprintf(cause, "%s:%u: %s", file, lineno, why);
			free(why);
			fclose(f);
			plan_routes_free(r, n);
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
int
plan_check(const struct config *c, char **cause)
{
	struct plan_route	*r;
	size_t		 n;
	char		*why = NULL;

	if (plan_target_check(c->delivery, &why) != 0) {
		xasprintf(cause, "delivery: %s", why);
		free(why);
		return (-1);
	}
	if (c->delivery_map[0] == '\0')
		return (0);
	if (plan_routes_load(c->delivery_map, &r, &n, cause) != 0)
		return (-1);
	plan_routes_free(r, n);
	return (0);
}

/* Does any mail leave the spool?  Not when everything is keep. */
int
plan_active(const struct config *c)
{
	return (strcmp(c->delivery, "keep") != 0 ||
	    c->delivery_map[0] != '\0');
}

/* Load delivery_map again if the setting names another file, or force. */
void
plan_routes_refresh(int force)
{
	char	*why = NULL;

	if (!force && plan_routes_file != NULL &&
	    strcmp(plan_routes_file, cfg->delivery_map) == 0)
		return;
	plan_routes_free(plan_routes, plan_nroutes);
	plan_routes = NULL;
	plan_nroutes = 0;
	free(plan_routes_file);
	plan_routes_file = xstrdup(cfg->delivery_map);
	if (cfg->delivery_map[0] != '\0' && plan_routes_load(cfg->delivery_map,
	    &plan_routes, &plan_nroutes, &why) != 0) {
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
plan_route(const char *addr)
{
	const char	*at = strrchr(addr, '@');
	size_t		 i;

	for (i = 0; i < plan_nroutes; i++)
		if (strcasecmp(plan_routes[i].key, addr) == 0)
			return (plan_routes[i].target);
	for (i = 0; at != NULL && i < plan_nroutes; i++)
		if (strcasecmp(plan_routes[i].key, at) == 0)
			return (plan_routes[i].target);
	if (at == NULL || (!recipient_domain_ours(cfg, at + 1) &&
	    strcasecmp(at + 1, cfg->hostname) != 0))
		return ("keep");
	return (cfg->delivery);
}

/* rcptstate_scan's callback: fold one line into the dl_rstate array. */
static void
plan_scan_cb(void *arg, time_t t, size_t n, const char *word,
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
plan_scan(const char *spool_dir, const char *qid, size_t nrcpt)
{
	struct dl_rstate	*rs = xcalloc(nrcpt + 1, sizeof(*rs));
	void			*arg[2] = { rs, (void *)nrcpt };

	(void)rcptstate_scan(spool_dir, qid, plan_scan_cb, arg);
	return (rs);
}

/* Free a plan_scan() result. */
static void
plan_scan_free(struct dl_rstate *rs, size_t nrcpt)
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
plan_final(enum rcpt_status st)
{
	return (st == RCPT_S_DELIVERED || st == RCPT_S_FAILED ||
	    st == RCPT_S_REMOVED);
}

/* The arrival time a queue ID holds (its first 13 hex digits), usec. */
static long long
plan_arrival(const char *qid)
{
	char	hex[14];

	memcpy(hex, qid, 13);
	hex[13] = '\0';
	return ((long long)strtoull(hex, NULL, 16));
}

/* Add mailbox addr of recipient i to the job's boxes, once. */
static void
plan_add_box(struct dl_job *j, const char *addr, size_t i, const char *target)
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
plan_was_done(const struct dl_rstate *r, const char *addr)
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
plan_untag(const char *addr, char *out, size_t len)
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
plan_plan_rcpt(struct dl_job *j, size_t i)
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
		plan_untag(addr, pm, sizeof(pm));
		out.v = xcalloc(1, sizeof(char *));
		out.v[0] = xstrdup(pm);
		out.n = 1;
	}
	for (k = 0; k < out.n; k++) {
		t = plan_route(out.v[k]);
		if (strcmp(t, "keep") == 0)
			j->keep[i] = 1;
		else if (!plan_was_done(&j->rs[i], out.v[k]))
			plan_add_box(j, out.v[k], i, t);
		free(out.v[k]);
	}
	free(out.v);
}

/*
 * Where notices of failed deliveries go: postmaster@hostname, through
 * the recipient table and the targets like any recipient.
 */
static void
plan_plan_postmaster(struct dl_job *j)
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
	    plan_route(j->pm_addr));
}

/* Free a job (on the loop). */
void
plan_job_free(struct dl_job *j)
{
	size_t	i;

	for (i = 0; i < j->nbox; i++)
		free(j->box[i].idx);
	free(j->box);
	plan_scan_free(j->rs, j->env.nrcpt);
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
struct dl_job *
plan_message(struct dl_entry *e, time_t now)
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
	j->rs = plan_scan(cfg->spool_dir, e->qid, j->env.nrcpt);
	j->keep = xcalloc(j->env.nrcpt + 1, sizeof(*j->keep));
	for (i = 0; i < j->env.nrcpt; i++) {
		if (plan_final(j->rs[i].st))
			continue;
		open++;
		if (j->rs[i].st == RCPT_S_DEFERRED && j->rs[i].next > now &&
		    !e->force) {
			if (due == 0 || j->rs[i].next < due)
				due = j->rs[i].next;
			continue;
		}
		plan_plan_rcpt(j, i);
	}
	e->force = 0;
	if (j->nbox == 0 && (open > 0 || due != 0)) {
		/* Waiting for a retry, or for POP3 (keep). */
		e->due = due;
		plan_job_free(j);
		return (NULL);
	}
	j->m.qid = e->qid;
	j->m.sender = j->env.sender;
	j->m.fd = fileno(j->f);
	j->m.off = ftello(j->f);
	if (fstat(j->m.fd, &st) == 0) {
		j->m.size = st.st_size - j->m.off;
		/* The commit's last write: the end of receipt (delays=a/). */
		j->committed_us = (long long)st.st_mtim.tv_sec * 1000000 +
		    st.st_mtim.tv_nsec / 1000;
	}
	j->hostname = xstrdup(cfg->hostname);
	j->m.hostname = j->hostname;
	j->spool_dir = xstrdup(cfg->spool_dir);
	j->delim = xstrdup(cfg->recipient_delimiter);
	j->retry_min = cfg->delivery_retry_min;
	j->retry_max = cfg->delivery_retry_max;
	j->lifetime = cfg->delivery_lifetime;
	j->timeout = cfg->delivery_timeout;
	j->rcpt_limit = cfg->lmtp_recipient_limit;
	j->arrival_us = plan_arrival(e->qid);
	j->arrival = (time_t)(j->arrival_us / 1000000);
	plan_plan_postmaster(j);
	return (j);
}

/* Forget the loaded delivery_map (at exit). */
void
plan_routes_clear(void)
{
	plan_routes_free(plan_routes, plan_nroutes);
	plan_routes = NULL;
	plan_nroutes = 0;
	free(plan_routes_file);
	plan_routes_file = NULL;
}

/* mxd -t: where mail goes after the spool. */
void
plan_explain(const struct config *c, FILE *f)
{
	struct plan_route	*r;
	size_t			 n, i;
	char			*why = NULL;

	fprintf(f, "  delivery: %s%s\n", c->delivery,
	    strcmp(c->delivery, "keep") == 0 ? " (the spool is the mailbox: "
	    "POP3, mxd -q)" : "");
	if (c->delivery_map[0] != '\0' &&
	    plan_routes_load(c->delivery_map, &r, &n, &why) == 0) {
		for (i = 0; i < n; i++)
			fprintf(f, "    %s -> %s (%s)\n", r[i].key,
			    r[i].target, c->delivery_map);
		plan_routes_free(r, n);
	}
	free(why);
	if (plan_active(c))
		fprintf(f, "  retries: %llds doubling to %llds, for %llds; "
		    "%lld at once\n", c->delivery_retry_min,
		    c->delivery_retry_max, c->delivery_lifetime,
		    c->delivery_concurrency);
	if (plan_active(c) && c->lmtp_recipient_limit > 1)
		fprintf(f, "  lmtp: up to %lld mailboxes a transaction (no "
		    "Delivered-To: when several)\n", c->lmtp_recipient_limit);
}

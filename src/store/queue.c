/*
 * queue.c: the accepted messages, queue/<QID>.eml, as readers see them:
 * read one (its envelope, then its message), delete one, be told when
 * one is committed (the long poll and live page of the HTTP API), and
 * `mxd -q`, the mailq of mxd, which prints one entry per message, oldest
 * first: queue ID, size, arrival time, sender, then the recipients.
 * A queue ID is checked before it names a file, so a caller's ID can
 * never reach outside queue/.  Readers never take the spool's lock.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mxd.h"

/* Who wants to hear of committed messages (queue_watch). */
struct queue_watcher {
	void			(*cb)(const char *, void *);
	void			*arg;
	struct queue_watcher	*next;
};
static struct queue_watcher	*queue_watchers;
/* Who wants to hear of removed messages (queue_watch_removals). */
static struct queue_watcher	*queue_removal_watchers;

/* Is id a queue ID: QID_LEN upper-case hex digits, nothing else? */
int
queue_id_valid(const char *id)
{
	return (strlen(id) == QID_LEN &&
	    strspn(id, "0123456789ABCDEF") == QID_LEN);
}

/*
 * The name of queue/<qid>.eml in the spool into buf; 0, or -1 with errno
 * EINVAL for a malformed ID.
 */
static int
queue_path(const char *qid, char *buf, size_t len)
{
	if (!queue_id_valid(qid)) {
		errno = EINVAL;
		return (-1);
	}
	snprintf(buf, len, "queue/%s.eml", qid);
	return (0);
}

/*
 * Open queue/<qid>.eml under spool_dir and read its envelope into e
 * (envelope_free it); the returned stream stands at the first octet
 * after the envelope block (mxd's Received: field), for the caller to
 * fclose.  NULL with errno: EINVAL for a malformed ID, ENOENT for no
 * such message, EBADMSG for a file without a valid envelope.
 */
FILE *
queue_open(const char *spool_dir, const char *qid, struct envelope *e)
{
	char	 path[QID_LEN + 16];
	FILE	*f;
	int	 fd;

	if (queue_path(qid, path, sizeof(path)) != 0 ||
	    (fd = spool_openat(spool_dir, path, O_RDONLY, 0)) == -1)
		return (NULL);
	if ((f = fdopen(fd, "r")) == NULL) {
		close(fd);
		return (NULL);
	}
	if (envelope_read(f, e) != 0) {
		fclose(f);
		errno = EBADMSG;
		return (NULL);
	}
	return (f);
}

/*
 * Remove queue/<qid>.eml, then its per-recipient state (state/<qid>):
 * a state file left without its message by a crash between the two is
 * an orphan, removed at start (rcptstate_init); then tell the removal
 * watchers (on the loop).  0, or -1 with errno as for queue_open.
 */
int
queue_delete(const char *spool_dir, const char *qid)
{
	char	path[QID_LEN + 16];

	if (queue_path(qid, path, sizeof(path)) != 0 ||
	    spool_unlinkat(spool_dir, path) != 0)
		return (-1);
	if (rcptstate_remove(spool_dir, qid) != 0)
		log_warn("spool: cannot remove state/%s", qid);
	queue_removed(qid);
	return (0);
}

/*
 * Remove queue/<qid>.eml and its state without telling the watchers,
 * from any thread (retention); the caller has queue_removed() called on
 * the loop.  0, or -1 with errno as for queue_open.
 */
int
queue_unlink(const char *spool_dir, const char *qid)
{
	char	path[QID_LEN + 16];

	if (queue_path(qid, path, sizeof(path)) != 0 ||
	    spool_unlinkat(spool_dir, path) != 0)
		return (-1);
	(void)rcptstate_remove(spool_dir, qid);
	return (0);
}

/* Call cb(qid, arg) on the loop for every message committed from now. */
void
queue_watch(void (*cb)(const char *, void *), void *arg)
{
	struct queue_watcher	*w = xcalloc(1, sizeof(*w));

	w->cb = cb;
	w->arg = arg;
	w->next = queue_watchers;
	queue_watchers = w;
}

/* Stop calling cb with arg. */
void
queue_unwatch(void (*cb)(const char *, void *), void *arg)
{
	struct queue_watcher	**pp, *w;

	for (pp = &queue_watchers; (w = *pp) != NULL; pp = &w->next)
		if (w->cb == cb && w->arg == arg) {
			*pp = w->next;
			free(w);
			return;
		}
}

/* The spool committed qid to queue/: tell the watchers. */
void
queue_committed(const char *qid)
{
	struct queue_watcher	*w, *next;

	for (w = queue_watchers; w != NULL; w = next) {
		next = w->next;		/* a callback may unwatch itself */
		w->cb(qid, w->arg);
	}
}

/*
 * Call cb(qid, arg) on the loop for every message queue_delete() removes
 * from now (the index, the live page).
 */
void
queue_watch_removals(void (*cb)(const char *, void *), void *arg)
{
	struct queue_watcher	*w = xcalloc(1, sizeof(*w));

	w->cb = cb;
	w->arg = arg;
	w->next = queue_removal_watchers;
	queue_removal_watchers = w;
}

/* Stop calling cb with arg for removals. */
void
queue_unwatch_removals(void (*cb)(const char *, void *), void *arg)
{
	struct queue_watcher	**pp, *w;

	for (pp = &queue_removal_watchers; (w = *pp) != NULL; pp = &w->next)
		if (w->cb == cb && w->arg == arg) {
			*pp = w->next;
			free(w);
			return;
		}
}

/* queue_delete() removed qid: tell the removal watchers. */
void
queue_removed(const char *qid)
{
	struct queue_watcher	*w, *next;

	for (w = queue_removal_watchers; w != NULL; w = next) {
		next = w->next;
		w->cb(qid, w->arg);
	}
}

/*
 * Read the envelope of queue/<qid>.eml into e (envelope_free it) and the
 * message's size in octets as every reader gets it (the API's Size,
 * POP3's LIST): from mxd's Received: on, the envelope block not counted.
 * 0, or -1 with errno.
 */
static int
queue_read(const char *spool_dir, const char *qid, struct envelope *e,
    off_t *size)
{
	struct stat	 st;
	FILE		*f;
	off_t		 at;

	if ((f = queue_open(spool_dir, qid, e)) == NULL)
		return (-1);
	if (fstat(fileno(f), &st) == -1 || (at = ftello(f)) == -1) {
		envelope_free(e);
		fclose(f);
		return (-1);
	}
	*size = st.st_size - at;
	fclose(f);
	return (0);
}

/* What the state file says of each recipient, for mxd -q. */
struct queue_state {
	char	**line;		/* the last line's status and detail */
	size_t	  n;
};

/* rcptstate_scan's callback: keep the last line of each recipient. */
static void
queue_state_cb(void *arg, time_t t, size_t rcpt, const char *word,
    const char *detail)
{
	struct queue_state	*qs = arg;
	char			 when[32], *s;
	long long		 next;
	struct tm		 tm;
	time_t			 tn;

	if (rcpt >= qs->n)
		return;
	if (strcmp(word, "sent") == 0 || strcmp(word, "bounced") == 0) {
		if (qs->line[rcpt] == NULL)
			xasprintf(&qs->line[rcpt], "%s to %s", word, detail);
		return;
	}
	if (strcmp(word, "deferred") == 0 &&
	    (next = strtoll(detail, &s, 10)) > 0 && *s == ' ') {
		tn = (time_t)next;
		gmtime_r(&tn, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		free(qs->line[rcpt]);
		xasprintf(&qs->line[rcpt], "deferred, next try %s: %s", when,
		    s + 1);
		return;
	}
	free(qs->line[rcpt]);
	xasprintf(&qs->line[rcpt], "%s%s%s", word, detail[0] ? ": " : "",
	    detail);
}

/* Print e's recipients, each with its state (none: nothing). */
static void
queue_print_rcpts(const char *spool_dir, const struct envelope *e, FILE *f)
{
	struct queue_state	qs;
	size_t			j;

	qs.n = e->nrcpt;
	qs.line = xcalloc(e->nrcpt + 1, sizeof(*qs.line));
	(void)rcptstate_scan(spool_dir, e->qid, queue_state_cb, &qs);
	for (j = 0; j < e->nrcpt; j++) {
		fprintf(f, "%51s<%s>%s%s\n", "", e->rcpt[j],
		    qs.line[j] != NULL ? "  " : "",
		    qs.line[j] != NULL ? qs.line[j] : "");
		free(qs.line[j]);
	}
	free(qs.line);
}

/* Sort queue file names: queue IDs sort by arrival. */
static int
queue_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/*
 * The queue IDs of the messages in queue/ under spool_dir, oldest first,
 * in a new array of new strings (free them); *n their count (an empty
 * array when there are none).  NULL with errno, *n 0, if queue/ cannot
 * be read.
 */
char **
queue_ids(const char *spool_dir, size_t *n)
{
	struct dirent	*de;
	char		**v = NULL;
	DIR		*d;
	int		 fd;

	*n = 0;
	if ((fd = spool_openat(spool_dir, "queue", O_RDONLY | O_DIRECTORY,
	    0)) == -1)
		return (NULL);
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return (NULL);
	}
	while ((de = readdir(d)) != NULL) {
		if (strlen(de->d_name) != QID_LEN + 4 ||
		    strcmp(de->d_name + QID_LEN, ".eml") != 0)
			continue;
		v = xreallocarray(v, *n + 1, sizeof(*v));
		v[*n] = xstrdup(de->d_name);
		v[(*n)++][QID_LEN] = '\0';
	}
	closedir(d);
	if (*n > 0)
		qsort(v, *n, sizeof(*v), queue_cmp);
	else
		v = xcalloc(1, sizeof(*v));
	return (v);
}

/* Print the queue under spool_dir to f; returns the exit status. */
int
queue_list(const char *spool_dir, FILE *f)
{
	struct envelope		 e;
	char			 path[4096], **ids;
	size_t			 n, i, shown = 0;
	off_t			 size;
	long long		 total = 0;

	if ((ids = queue_ids(spool_dir, &n)) == NULL) {
		snprintf(path, sizeof(path), "%s/queue", spool_dir);
		fprintf(stderr, "mxd: no spool at %s (%s: %s).\n"
		    "mxd -q reads the spool_dir of the configuration: run it "
		    "from the directory mxd was started in, or name the spool "
		    "with -c FILE or -o spool_dir=DIR.\n", spool_dir, path,
		    strerror(errno));
		return (1);
	}
	if (n == 0)
		fprintf(f, "Mail queue is empty\n");
	else
		fprintf(f, "%-16s %10s  %-20s  %s\n", "Queue ID", "Size",
		    "Arrival (UTC)", "Sender / Recipients");
	for (i = 0; i < n; i++) {
		/* A message removed meanwhile is skipped. */
		if (queue_read(spool_dir, ids[i], &e, &size) == 0) {
			shown++;
			total += size;
			fprintf(f, "%-16s %10lld  %-20s  <%s>\n", e.qid,
			    (long long)size, e.arrival, e.sender);
			queue_print_rcpts(spool_dir, &e, f);
			envelope_free(&e);
		}
		free(ids[i]);
	}
	if (n > 0)
		fprintf(f, "-- %lld KiB in %zu message%s.\n",
		    (total + 1023) / 1024, shown, shown == 1 ? "" : "s");
	free(ids);
	return (0);
}

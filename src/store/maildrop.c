/*
 * maildrop.c: one user's mail, as POP3 (and later the HTTP API) sees it.
 * In: a user name.  Out: the queued messages, oldest first, that have an
 * envelope recipient matching the user whose copy is not done yet
 * (rcptstate.c), each with its queue ID (the UIDL: unique, and stable
 * across restarts) and its size as a reader gets it: the file from mxd's
 * Received: field on, CRLF line ends as stored.  Then the commit: for
 * each message the reader removed, a `removed` line for each of the
 * user's recipients, and the file itself once no recipient still has it.
 *
 * Built from queue/ and each file's envelope block (queue_open); an
 * index may later answer the same questions faster behind the same
 * functions.  The special user MAILDROP_ALL, where the caller allows it,
 * matches every recipient.
 *
 * Reading 20 000 envelopes, or writing state lines with fdatasync, takes
 * far longer than an event loop may stop, so the loop does neither: it
 * hands the work (maildrop_job_open, maildrop_job_commit) to a thread of
 * this file, started at the first job, and gets the result back through
 * a pipe, in a callback on the loop.  The thread runs one job at a time,
 * in order.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>

#include "mxd.h"

/* A job for the thread, and its answer. */
struct maildrop_job {
	int			 commit;	/* else open */
	struct maildrop		 md;		/* the job's own */
	char			*spool_dir;
	char			*user;
	int			 all;
	int			 rc;		/* 0, or -1 and err */
	int			 err;
	size_t			 removed;
	maildrop_job_cb		 cb;		/* NULL: cancelled */
	void			*arg;
	struct maildrop_job	*next;
};

/* The thread's queues (under maildrop_lock) and the loop's end of it. */
static pthread_mutex_t		 maildrop_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t		 maildrop_cond = PTHREAD_COND_INITIALIZER;
static struct maildrop_job	*maildrop_todo, *maildrop_done;
static struct maildrop_job	**maildrop_todo_tail = &maildrop_todo;
static int			 maildrop_stopping, maildrop_running;
static pthread_t		 maildrop_thread;
static int			 maildrop_pipe[2] = { -1, -1 };
static struct event		*maildrop_ev;

/* The local part and domain of addr: lengths up to the last '@'. */
static const char *
maildrop_split(const char *addr, size_t *locallen)
{
	const char	*at = strrchr(addr, '@');

	if (at == NULL) {
		*locallen = strlen(addr);
		return (NULL);
	}
	*locallen = (size_t)(at - addr);
	return (at + 1);
}

/* Are two domains the same: canonical (IDNA, case) or, failing that, text? */
static int
maildrop_same_domain(const char *a, const char *b)
{
	char	ca[SMTP_DOMAIN_MAX + 1], cb[SMTP_DOMAIN_MAX + 1];

	if (domain_canon(a, ca, sizeof(ca)) == 0 &&
	    domain_canon(b, cb, sizeof(cb)) == 0)
		return (strcmp(ca, cb) == 0);
	return (strcasecmp(a, b) == 0);
}

/*
 * Is rcpt (an envelope recipient, no brackets) the user's?  A user with
 * an '@' is that address; without, any address with that local part.
 * Case does not matter (a person types the name in lower case).
 */
int
maildrop_match(const char *user, const char *rcpt)
{
	const char	*ud, *rd;
	size_t		 ul, rl;

	ud = maildrop_split(user, &ul);
	rd = maildrop_split(rcpt, &rl);
	if (ul != rl || strncasecmp(user, rcpt, ul) != 0)
		return (0);
	if (ud == NULL)
		return (1);
	return (rd != NULL && maildrop_same_domain(ud, rd));
}

/*
 * Add queue/<qid> to md if it holds a copy for user: a recipient that
 * matches and is not done.  A message that went meanwhile is skipped.
 */
static void
maildrop_add(struct maildrop *md, const char *qid, const char *user, int all)
{
	struct maildrop_msg	*m;
	struct envelope		 e;
	struct stat		 st;
	enum rcpt_status	*rs;
	off_t			 off;
	size_t			 j;
	FILE			*f;

	if ((f = queue_open(md->spool_dir, qid, &e)) == NULL)
		return;
	if ((off = ftello(f)) == -1 || fstat(fileno(f), &st) == -1 ||
	    e.nrcpt == 0) {
		fclose(f);
		envelope_free(&e);
		return;
	}
	fclose(f);
	rs = xreallocarray(NULL, e.nrcpt, sizeof(*rs));
	if (rcptstate_read(md->spool_dir, qid, rs, e.nrcpt) != 0)
		goto out;
	md->msg = xreallocarray(md->msg, md->n + 1, sizeof(*md->msg));
	m = &md->msg[md->n];
	memset(m, 0, sizeof(*m));
	for (j = 0; j < e.nrcpt; j++) {
		if (rcptstate_done(&rs[j], 1) ||
		    (!all && !maildrop_match(user, e.rcpt[j])))
			continue;
		m->rcpt = xreallocarray(m->rcpt, m->nrcpt + 1,
		    sizeof(*m->rcpt));
		m->rcpt[m->nrcpt++] = j;
	}
	if (m->nrcpt == 0)
		goto out;
	memcpy(m->qid, qid, QID_LEN + 1);
	m->size = st.st_size - off;
	md->total += m->size;
	md->n++;
out:
	free(rs);
	envelope_free(&e);
}

/*
 * The maildrop of user under spool_dir into md (maildrop_free it): the
 * messages addressed to user, oldest first.  all: user is MAILDROP_ALL,
 * every message.  0, or -1 with errno if queue/ cannot be read.
 */
int
maildrop_open(struct maildrop *md, const char *spool_dir, const char *user,
    int all)
{
	char	**names;
	size_t	  n, i;

	memset(md, 0, sizeof(*md));
	if ((names = queue_ids(spool_dir, &n)) == NULL)
		return (-1);
	md->spool_dir = xstrdup(spool_dir);
	for (i = 0; i < n; i++) {
		maildrop_add(md, names[i], user, all);
		free(names[i]);
	}
	free(names);
	return (0);
}

/*
 * Open message i of md, the stream at its first octet (mxd's Received:
 * field); NULL with errno (ENOENT: it was removed meanwhile).
 */
FILE *
maildrop_msg_open(struct maildrop *md, size_t i)
{
	struct envelope	 e;
	FILE		*f;

	if (i >= md->n) {
		errno = EINVAL;
		return (NULL);
	}
	if ((f = queue_open(md->spool_dir, md->msg[i].qid, &e)) == NULL)
		return (NULL);
	envelope_free(&e);
	return (f);
}

/*
 * Remove message m for the user's recipients, and the message itself
 * once every recipient is done.  A message another reader removed
 * meanwhile is gone already: nothing to record (no orphan state file).
 * 0, or -1.
 */
static int
maildrop_remove(struct maildrop *md, struct maildrop_msg *m)
{
	struct envelope		 e;
	enum rcpt_status	*rs;
	size_t			 j;
	FILE			*f;
	int			 rc = 0;

	if ((f = queue_open(md->spool_dir, m->qid, &e)) == NULL)
		return (errno == ENOENT ? 0 : -1);
	fclose(f);
	for (j = 0; j < m->nrcpt && rc == 0; j++)
		if (rcptstate_append(md->spool_dir, m->qid, m->rcpt[j],
		    RCPT_S_REMOVED, NULL) != 0) {
			log_warn("spool: qid=%s cannot record its removal",
			    m->qid);
			rc = -1;
		}
	rs = xreallocarray(NULL, e.nrcpt, sizeof(*rs));
	if (rc == 0 &&
	    rcptstate_read(md->spool_dir, m->qid, rs, e.nrcpt) == 0 &&
	    rcptstate_done(rs, e.nrcpt)) {
		if (queue_unlink(md->spool_dir, m->qid) == 0)
			m->unlinked = 1;
		else if (errno != ENOENT) {
			log_warn("spool: qid=%s cannot remove it", m->qid);
			rc = -1;
		}
	}
	free(rs);
	envelope_free(&e);
	return (rc);
}

/*
 * Commit the deletions marked in md (RFC 1939 6, the UPDATE state):
 * *removed counts the messages removed from the maildrop.  0, or -1 if
 * some could not be removed (they stay, for another try).  From any
 * thread: the files it removed are marked unlinked, and the loop tells
 * the queue's watchers (maildrop_job_done_cb).
 */
int
maildrop_commit(struct maildrop *md, size_t *removed)
{
	size_t	i;
	int	rc = 0;

	*removed = 0;
	for (i = 0; i < md->n; i++) {
		if (!md->msg[i].deleted)
			continue;
		if (maildrop_remove(md, &md->msg[i]) == 0)
			(*removed)++;
		else
			rc = -1;
	}
	return (rc);
}

/* Free what maildrop_open made. */
void
maildrop_free(struct maildrop *md)
{
	size_t	i;

	for (i = 0; i < md->n; i++)
		free(md->msg[i].rcpt);
	free(md->msg);
	free(md->spool_dir);
	memset(md, 0, sizeof(*md));
}

/* The thread: run each job in turn, and hand it back through the pipe. */
static void *
maildrop_main(void *unused)
{
	struct maildrop_job	*j;

	(void)unused;
	pthread_mutex_lock(&maildrop_lock);
	for (;;) {
		while (maildrop_todo == NULL && !maildrop_stopping)
			pthread_cond_wait(&maildrop_cond, &maildrop_lock);
		if (maildrop_todo == NULL)
			break;
		j = maildrop_todo;
		if ((maildrop_todo = j->next) == NULL)
			maildrop_todo_tail = &maildrop_todo;
		pthread_mutex_unlock(&maildrop_lock);
		if (j->commit)
			j->rc = maildrop_commit(&j->md, &j->removed);
		else
			j->rc = maildrop_open(&j->md, j->spool_dir, j->user,
			    j->all);
		j->err = j->rc != 0 ? errno : 0;
		pthread_mutex_lock(&maildrop_lock);
		j->next = maildrop_done;
		maildrop_done = j;
		(void)!write(maildrop_pipe[1], "", 1);
	}
	pthread_mutex_unlock(&maildrop_lock);
	return (NULL);
}

/* Free a job and what it holds. */
static void
maildrop_job_free(struct maildrop_job *j)
{
	maildrop_free(&j->md);
	free(j->spool_dir);
	free(j->user);
	free(j);
}

/* Run the answer of j on the loop: the queue's watchers, then its cb. */
static void
maildrop_job_answer(struct maildrop_job *j)
{
	size_t	i;

	for (i = 0; j->commit && i < j->md.n; i++)
		if (j->md.msg[i].unlinked)
			queue_removed(j->md.msg[i].qid);
	if (j->cb != NULL) {
		errno = j->err;
		j->cb(&j->md, j->rc, j->removed, j->arg);
	}
	maildrop_job_free(j);
}

/* The pipe says jobs are done: answer them, oldest first. */
static void
maildrop_job_done_cb(evutil_socket_t fd, short events, void *unused)
{
	struct maildrop_job	*list, *rev = NULL, *j;
	char			 buf[64];

	(void)events;
	(void)unused;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&maildrop_lock);
	list = maildrop_done;
	maildrop_done = NULL;
	pthread_mutex_unlock(&maildrop_lock);
	while ((j = list) != NULL) {
		list = j->next;
		j->next = rev;
		rev = j;
	}
	while ((j = rev) != NULL) {
		rev = j->next;
		maildrop_job_answer(j);
	}
}

/* Start the thread on base if it is not running; 0, or -1 with errno. */
static int
maildrop_start(struct event_base *base)
{
	if (maildrop_running)
		return (0);
	if (pipe2(maildrop_pipe, O_NONBLOCK | O_CLOEXEC) == -1)
		return (-1);
	maildrop_ev = event_new(base, maildrop_pipe[0], EV_READ | EV_PERSIST,
	    maildrop_job_done_cb, NULL);
	maildrop_stopping = 0;
	if (maildrop_ev == NULL || event_add(maildrop_ev, NULL) == -1 ||
	    (errno = pthread_create(&maildrop_thread, NULL, maildrop_main,
	    NULL)) != 0) {
		if (maildrop_ev != NULL)
			event_free(maildrop_ev);
		close(maildrop_pipe[0]);
		close(maildrop_pipe[1]);
		return (-1);
	}
	maildrop_running = 1;
	return (0);
}

/* Queue j for the thread; j, or NULL with errno (j is freed). */
static struct maildrop_job *
maildrop_job_post(struct event_base *base, struct maildrop_job *j)
{
	if (maildrop_start(base) != 0) {
		maildrop_job_free(j);
		return (NULL);
	}
	pthread_mutex_lock(&maildrop_lock);
	j->next = NULL;
	*maildrop_todo_tail = j;
	maildrop_todo_tail = &j->next;
	pthread_cond_signal(&maildrop_cond);
	pthread_mutex_unlock(&maildrop_lock);
	return (j);
}

/*
 * maildrop_open off the loop: cb(md, rc, 0, arg) on the loop when it is
 * read; the callback may take *md (copy it and zero it).  The job, for
 * maildrop_job_cancel, or NULL with errno.
 */
struct maildrop_job *
maildrop_job_open(struct event_base *base, const char *spool_dir,
    const char *user, int all, maildrop_job_cb cb, void *arg)
{
	struct maildrop_job	*j = xcalloc(1, sizeof(*j));

	j->spool_dir = xstrdup(spool_dir);
	j->user = xstrdup(user);
	j->all = all;
	j->cb = cb;
	j->arg = arg;
	return (maildrop_job_post(base, j));
}

/*
 * maildrop_commit of *md off the loop: the job takes *md (zeroed here)
 * and gives it back in cb(md, rc, removed, arg), after the removals are
 * on disk.  The job, or NULL with errno (*md is then freed).
 */
struct maildrop_job *
maildrop_job_commit(struct event_base *base, struct maildrop *md,
    maildrop_job_cb cb, void *arg)
{
	struct maildrop_job	*j = xcalloc(1, sizeof(*j));

	j->commit = 1;
	j->md = *md;
	memset(md, 0, sizeof(*md));
	j->cb = cb;
	j->arg = arg;
	return (maildrop_job_post(base, j));
}

/*
 * The caller is going away: no callback for j.  The job still runs (a
 * commit still removes what QUIT asked for) and is freed when done.
 */
void
maildrop_job_cancel(struct maildrop_job *j)
{
	j->cb = NULL;
}

/* At exit: let the thread finish what it has, and free everything. */
void
maildrop_stop(void)
{
	struct maildrop_job	*j;

	if (!maildrop_running)
		return;
	pthread_mutex_lock(&maildrop_lock);
	maildrop_stopping = 1;
	pthread_cond_signal(&maildrop_cond);
	pthread_mutex_unlock(&maildrop_lock);
	pthread_join(maildrop_thread, NULL);
	maildrop_job_done_cb(maildrop_pipe[0], EV_READ, NULL);
	event_free(maildrop_ev);
	close(maildrop_pipe[0]);
	close(maildrop_pipe[1]);
	while ((j = maildrop_todo) != NULL) {
		maildrop_todo = j->next;
		maildrop_job_free(j);
	}
	maildrop_todo_tail = &maildrop_todo;
	maildrop_running = 0;
}

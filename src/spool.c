/*
 * spool.c: durable message storage.  A message is written to a file in
 * tmp/ as it arrives; at the end of DATA an I/O thread makes it durable
 * and moves it to queue/<QID>.eml, and only then does the session say
 * 250.
 *
 * The I/O thread does group commit: it takes every message that finished
 * since its last pass, makes their data durable (one fdatasync, or one
 * syncfs for several), renames each into queue/, fsyncs the queue
 * directory once for all of them, and hands the batch back to the event
 * loop through a pipe.  Disk waits never run on the event loop, and under
 * load many messages share one flush.
 *
 * With spool_sync=no there is nothing to wait for, and the work that is
 * left per message is file system CPU (writing the last of the data,
 * close, rename).  The thread does it, answering each message as soon as
 * it is in queue/, so that the loop only speaks SMTP; when the caller
 * says a thread hop would only add to its client's wait
 * (SPOOL_F_INLINE_OK) and the thread is idle, the loop does it itself.
 */
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "mxd.h"

/* One message on its way to the queue. */
struct spool_file {
	int			 fd;
	int			 err;
	struct evbuffer		*tail;	/* the last of the data, unwritten */
	char			 qid[QID_LEN + 1];
	char			 tmp[32];	/* its name in tmp/ */
	int			 flags;		/* SPOOL_F_* */
	void			(*done)(void *, int);
	void			*arg;
	struct spool_file	*next;
};

static int		 spool_dirfd = -1;	/* the spool directory */
static int		 spool_tmpfd = -1;	/* tmp/ */
static int		 spool_queuefd = -1;	/* queue/ */
static int		 spool_lockfd = -1;	/* holds the flock on lock */
static int		 spool_sync = 1;
static unsigned		 spool_tag;

static pthread_t	 spool_thread;
static pthread_mutex_t	 spool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	 spool_cond = PTHREAD_COND_INITIALIZER;
static struct spool_file *spool_todo, **spool_todo_tail = &spool_todo;
static struct spool_file *spool_done;
static int		 spool_quit;
static int		 spool_busy;		/* committing a batch */
static int		 spool_running;
static int		 spool_pipe[2] = { -1, -1 };
static struct event	*spool_ev;
/* Finished on the loop, not yet handed to the thread (loop only). */
static struct spool_file *spool_pending, **spool_pending_tail = &spool_pending;
static struct event	*spool_flush_ev;

/*
 * Spare files: empty files the I/O thread creates ahead of need, so that
 * the event loop never waits for the file system to allocate an inode
 * (on a busy or fragmented ext4 that can cost more than everything else
 * a message needs).  A spare becomes queue/<QID>.eml by rename.  Each
 * holds a descriptor, so under a small descriptor limit there are fewer.
 */
#define SPOOL_SPARES	32
static struct spool_file *spool_spares[SPOOL_SPARES];
static int		 spool_maxspares = SPOOL_SPARES;
static int		 spool_nspares;
static int		 spool_spare_failed;	/* stop until the next commit */
static unsigned		 spool_spare_seq;

/* Open (creating) a subdirectory of the spool; returns an fd or -1. */
static int
spool_subdir(const char *name)
{
	if (mkdirat(spool_dirfd, name, 0700) == -1 && errno != EEXIST)
		return (-1);
	return (openat(spool_dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

/* Remove temporary files a crash left behind: they never got a 250. */
static void
spool_clean_tmp(void)
{
	DIR		*d;
	struct dirent	*e;
	int		 fd;

	if ((fd = dup(spool_tmpfd)) == -1 || (d = fdopendir(fd)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (unlinkat(spool_tmpfd, e->d_name, 0) == 0)
			log_info("spool: removed unfinished tmp/%s", e->d_name);
	}
	closedir(d);
}

/*
 * Who holds the spool's lock?  Reads the PID that the owner wrote into
 * <dir>/lock; 0 if nobody holds it, -1 if it cannot tell.  Creates and
 * changes nothing, so that a second mxd can be refused before it binds
 * or touches anything.
 */
long
spool_owner(const char *dir)
{
	char	 path[PATH_MAX], buf[32];
	ssize_t	 n;
	long	 pid = 0;
	int	 fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, SPOOL_LOCK) >=
	    sizeof(path) || (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (errno == ENOENT ? 0 : -1);
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		close(fd);
		return (0);
	}
	if (errno == EWOULDBLOCK && (n = read(fd, buf, sizeof(buf) - 1)) > 0) {
		buf[n] = '\0';
		pid = strtol(buf, NULL, 10);
	}
	close(fd);
	return (pid > 0 ? pid : -1);
}

/*
 * Take the spool for this process: an exclusive flock(2) on <dir>/lock,
 * held on an open descriptor for the process's life (a reload keeps it;
 * the kernel drops it when the process dies, even by kill -9), with our
 * PID in the file for the next one to name.  Nothing else in the spool
 * is touched before this succeeds.
 */
static int
spool_lock_take(const char **cause)
{
	char	 buf[32];
	int	 fd, n;

	if ((fd = openat(spool_dirfd, SPOOL_LOCK, O_RDWR | O_CREAT | O_CLOEXEC,
	    0600)) == -1) {
		*cause = "cannot open the spool's lock file";
		return (-1);
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		close(fd);
		*cause = errno == EWOULDBLOCK ? "another mxd is using this "
		    "spool" : "cannot lock the spool";
		return (-1);
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, buf, (size_t)n, 0) != n) {
		close(fd);
		*cause = "cannot write the spool's lock file";
		return (-1);
	}
	spool_lockfd = fd;
	return (0);
}

/*
 * Open the spool under dir, creating its layout, and lock it for this
 * process (spool_lock_take); sync=0 skips every fsync.
 */
int
spool_init(const char *dir, int sync, const char **cause)
{
	struct timeval	tv;
	struct rlimit	rl;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		*cause = "cannot create the spool directory";
		return (-1);
	}
	if ((spool_dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		*cause = "cannot open the spool directory";
		return (-1);
	}
	if (spool_lock_take(cause) != 0)
		return (-1);
	if ((spool_tmpfd = spool_subdir("tmp")) == -1 ||
	    (spool_queuefd = spool_subdir("queue")) == -1) {
		*cause = "cannot open the spool directory";
		return (-1);
	}
	spool_sync = sync;
	/* At most 1/16 of the descriptors, so sessions keep the rest. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 16 < SPOOL_SPARES)
		spool_maxspares = (int)(rl.rlim_cur / 16);
	gettimeofday(&tv, NULL);
	spool_tag = ((unsigned)getpid() ^ (unsigned)tv.tv_usec) & 0xfff;
	spool_clean_tmp();
	return (0);
}

/* Give the spool directories to the user mxd runs as. */
void
spool_chown(uid_t uid, gid_t gid)
{
	if (fchown(spool_dirfd, uid, gid) == -1 ||
	    fchown(spool_tmpfd, uid, gid) == -1 ||
	    fchown(spool_queuefd, uid, gid) == -1 ||
	    fchown(spool_lockfd, uid, gid) == -1)
		fatal("spool: chown to uid %ld", (long)uid);
}

/*
 * Make a new queue ID: 13 hex digits of the time in microseconds, kept
 * strictly increasing within the process, then 3 hex digits of a tag for
 * this process.  IDs sort by time and are the file names in queue/.
 */
void
spool_qid_new(char *buf)
{
	static unsigned long long	 last;
	struct timeval			 tv;
	unsigned long long		 us;

	gettimeofday(&tv, NULL);
	us = (unsigned long long)tv.tv_sec * 1000000 + (unsigned)tv.tv_usec;
	if (us <= last)
		us = last + 1;
	last = us;
	snprintf(buf, QID_LEN + 1, "%013llX%03X", us & 0xFFFFFFFFFFFFFULL,
	    spool_tag);
}

/* Create a new empty file in tmp/; NULL with errno on failure. */
static struct spool_file *
spool_new_file(void)
{
	struct spool_file	*sf;
	char			 name[32];
	unsigned		 seq;
	int			 fd;

	pthread_mutex_lock(&spool_lock);
	seq = ++spool_spare_seq;
	pthread_mutex_unlock(&spool_lock);
	snprintf(name, sizeof(name), "t%03X.%08X", spool_tag, seq);
	fd = openat(spool_tmpfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600);
	if (fd == -1)
		return (NULL);
	sf = xcalloc(1, sizeof(*sf));
	sf->fd = fd;
	if ((sf->tail = evbuffer_new()) == NULL)
		fatal("evbuffer_new");
	memcpy(sf->tmp, name, sizeof(name));
	return (sf);
}

/* Free a spool_file whose file is closed or handed on. */
static void
spool_file_free(struct spool_file *sf)
{
	evbuffer_free(sf->tail);
	free(sf);
}

/*
 * A file for a new message: a spare if there is one, else a file made
 * now.  NULL with errno on failure.
 */
struct spool_file *
spool_create(const char *qid)
{
	struct spool_file	*sf = NULL;

	pthread_mutex_lock(&spool_lock);
	if (spool_nspares > 0) {
		sf = spool_spares[--spool_nspares];
		/* Below half: the I/O thread makes more. */
		if (spool_nspares < spool_maxspares / 2)
			pthread_cond_signal(&spool_cond);
	}
	pthread_mutex_unlock(&spool_lock);
	if (sf == NULL && (sf = spool_new_file()) == NULL) {
		log_warn("spool: create a file in tmp/ for %s", qid);
		return (NULL);
	}
	memcpy(sf->qid, qid, QID_LEN + 1);
	return (sf);
}

/* The I/O thread, lock held: make spare files while it has nothing else. */
static void
spool_make_spares(void)
{
	struct spool_file	*sf;

	while (spool_todo == NULL && !spool_quit && !spool_spare_failed &&
	    spool_nspares < spool_maxspares) {
		pthread_mutex_unlock(&spool_lock);
		sf = spool_new_file();
		pthread_mutex_lock(&spool_lock);
		if (sf == NULL) {
			spool_spare_failed = 1;
			break;
		}
		spool_spares[spool_nspares++] = sf;
	}
}

/* At exit: remove the spare files. */
static void
spool_free_spares(void)
{
	while (spool_nspares > 0)
		spool_abort(spool_spares[--spool_nspares]);
}

/* Append buf to the file, emptying it; 0 or an errno.  Does not log. */
static int
spool_append(struct spool_file *sf, struct evbuffer *buf)
{
	int	n;

	while (evbuffer_get_length(buf) > 0) {
		n = evbuffer_write(buf, sf->fd);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return (n == 0 ? EIO : errno);
	}
	return (0);
}

/* The same for the event loop: 0, or -1 with errno, logged. */
int
spool_write(struct spool_file *sf, struct evbuffer *buf)
{
	if ((errno = spool_append(sf, buf)) == 0)
		return (0);
	log_warn("spool: write tmp/%s for %s", sf->tmp, sf->qid);
	return (-1);
}

/* Drop a message that will not be queued: nothing stays behind. */
void
spool_abort(struct spool_file *sf)
{
	if (sf == NULL)
		return;
	close(sf->fd);
	unlinkat(spool_tmpfd, sf->tmp, 0);
	spool_file_free(sf);
}

/* Move the file to queue/<qid>.eml, never replacing a queued file. */
static int
spool_rename(const struct spool_file *sf)
{
	char	name[QID_LEN + 5];

	snprintf(name, sizeof(name), "%s.eml", sf->qid);
#ifdef HAVE_RENAMEAT2
	if (renameat2(spool_tmpfd, sf->tmp, spool_queuefd, name,
	    RENAME_NOREPLACE) == 0)
		return (0);
	if (errno != EINVAL && errno != ENOSYS)
		return (-1);
#endif
	if (linkat(spool_tmpfd, sf->tmp, spool_queuefd, name, 0) == -1)
		return (-1);
	unlinkat(spool_tmpfd, sf->tmp, 0);
	return (0);
}

/*
 * Make the data of every file in the batch durable.  One file: its own
 * fdatasync.  Several: one syncfs() of the spool's file system, which
 * costs one journal commit however many files there are; that is what
 * lets many sessions share one flush.  A failure fails them all.
 */
static void
spool_sync_data(struct spool_file *batch)
{
	struct spool_file	*sf;
	int			 err = 0;

	if (!spool_sync)
		return;
#ifdef HAVE_SYNCFS
	if (batch->next != NULL) {
		if (syncfs(spool_dirfd) == -1)
			err = errno;
		for (sf = batch; sf != NULL; sf = sf->next)
			if (sf->err == 0)
				sf->err = err;
		return;
	}
#endif
	for (sf = batch; sf != NULL; sf = sf->next)
		if (sf->err == 0 && fdatasync(sf->fd) == -1)
			sf->err = errno;
}

/*
 * Write what the session left in the tail.  On the I/O thread this
 * must not log (the log belongs to the loop): the error goes back in
 * sf->err, and the session logs it.
 */
static void
spool_write_tail(struct spool_file *sf)
{
	if (sf->err == 0)
		sf->err = spool_append(sf, sf->tail);
}

/* Make one batch durable: sync the data, rename, then one directory sync. */
static void
spool_commit_batch(struct spool_file *batch)
{
	struct spool_file	*sf;
	int			 renamed = 0;

	for (sf = batch; sf != NULL; sf = sf->next)
		spool_write_tail(sf);
	spool_sync_data(batch);
	for (sf = batch; sf != NULL; sf = sf->next) {
		if (close(sf->fd) == -1 && sf->err == 0)
			sf->err = errno;
		sf->fd = -1;
		if (sf->err == 0 && spool_rename(sf) == -1)
			sf->err = errno;
		if (sf->err != 0)
			unlinkat(spool_tmpfd, sf->tmp, 0);
		else
			renamed = 1;
	}
	if (renamed && spool_sync && fsync(spool_queuefd) == -1) {
		/* Nothing in this batch is known to be durable. */
		for (sf = batch; sf != NULL; sf = sf->next)
			if (sf->err == 0)
				sf->err = errno;
	}
}

/*
 * The I/O thread, lock not held: hand committed messages back to the
 * loop.  The pipe is written only when the loop has no answers waiting
 * yet: one wake-up covers everything posted until it takes the list.
 */
static void
spool_post(struct spool_file *list)
{
	struct spool_file	*last;
	int			 wake;
	char			 c = 0;

	for (last = list; last->next != NULL; last = last->next)
		;
	pthread_mutex_lock(&spool_lock);
	wake = spool_done == NULL;
	last->next = spool_done;
	spool_done = list;
	pthread_mutex_unlock(&spool_lock);
	if (wake)
		while (write(spool_pipe[1], &c, 1) == -1 && errno == EINTR)
			;
}

/*
 * The I/O thread: wait for work, commit it, report back.  Durable: the
 * batch shares its flushes, so it is answered together.  spool_sync=no:
 * each message is answered as soon as it is renamed, so that a session
 * never waits for the others in its batch.
 */
static void *
spool_thread_main(void *arg)
{
	struct spool_file	*batch, *sf;

	pthread_mutex_lock(&spool_lock);
	for (;;) {
		spool_make_spares();
		while (spool_todo == NULL && !spool_quit &&
		    (spool_nspares >= spool_maxspares / 2 || spool_spare_failed))
			pthread_cond_wait(&spool_cond, &spool_lock);
		if (spool_todo == NULL && spool_quit)
			break;
		if (spool_todo == NULL)
			continue;
		batch = spool_todo;
		spool_todo = NULL;
		spool_todo_tail = &spool_todo;
		spool_busy = 1;
		pthread_mutex_unlock(&spool_lock);

		if (spool_sync) {
			spool_commit_batch(batch);
			spool_post(batch);
		} else
			while ((sf = batch) != NULL) {
				batch = sf->next;
				sf->next = NULL;
				spool_commit_batch(sf);
				spool_post(sf);
			}

		pthread_mutex_lock(&spool_lock);
		spool_busy = 0;
	}
	pthread_mutex_unlock(&spool_lock);
	return (NULL);
}

/* Back on the event loop: tell each session its message's fate. */
static void
spool_done_cb(evutil_socket_t fd, short events, void *arg)
{
	struct spool_file	*list, *sf, *rev = NULL;
	char			 buf[256];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&spool_lock);
	list = spool_done;
	spool_done = NULL;
	pthread_mutex_unlock(&spool_lock);
	/* Batches were pushed in front; reverse to answer in order. */
	while (list != NULL) {
		sf = list;
		list = sf->next;
		sf->next = rev;
		rev = sf;
	}
	while ((sf = rev) != NULL) {
		rev = sf->next;
		sf->done(sf->arg, sf->err);
		spool_file_free(sf);
	}
}

/*
 * Hand the messages that finished during this loop pass to the I/O
 * thread in one go: one lock and at most one wake-up per pass, however
 * many sessions finished DATA in it.
 */
static void
spool_flush_cb(evutil_socket_t fd, short events, void *arg)
{
	struct spool_file	*sf = spool_pending, **tail = spool_pending_tail;
	int			 inline_one;

	if (sf == NULL)
		return;
	spool_pending = NULL;
	spool_pending_tail = &spool_pending;
	pthread_mutex_lock(&spool_lock);
	spool_spare_failed = 0;	/* space may be back: try again */
	/*
	 * Nothing to flush, one message, the caller says no other session
	 * could use the loop meanwhile (SPOOL_F_INLINE_OK), and the thread
	 * idle: a trip through it would only add two wake-ups to this
	 * client's wait.  Rename here and answer now.
	 */
	inline_one = !spool_sync && sf->next == NULL && spool_todo == NULL &&
	    !spool_busy && (sf->flags & SPOOL_F_INLINE_OK);
	if (!inline_one) {
		*spool_todo_tail = sf;
		spool_todo_tail = tail;
		pthread_cond_signal(&spool_cond);
	}
	pthread_mutex_unlock(&spool_lock);
	if (inline_one) {
		spool_commit_batch(sf);
		sf->done(sf->arg, sf->err);
		spool_file_free(sf);
	}
}

/*
 * Commit a finished message whose last data is in tail (emptied here);
 * done runs on the loop once the message is in queue/ or has failed.
 * flags: SPOOL_F_INLINE_OK if the loop may do the work itself (with
 * spool_sync=no, when the thread is idle) because no other client is
 * waiting for it.
 * The hand-off to the thread waits for the end of this loop pass (the
 * flush event runs after the callbacks already active), so that the
 * messages of every session that was ready in this pass travel together.
 */
void
spool_commit(struct spool_file *sf, struct evbuffer *tail, int flags,
    void (*done)(void *, int), void *arg)
{
	if (evbuffer_add_buffer(sf->tail, tail) == -1)
		fatal("evbuffer_add_buffer");
	/*
	 * Durable: the thread's cycle (sync, renames, directory sync) is
	 * what every session in a batch waits for, so the loop, which has
	 * time while the disk works, writes the data itself.  Otherwise
	 * the write is the thread's: it is most of the CPU a small message
	 * costs the loop (the kernel zeroing a fresh page-cache page).
	 */
	if (spool_sync)
		spool_write_tail(sf);
	sf->flags = flags;
	sf->done = done;
	sf->arg = arg;
	sf->next = NULL;
	if (spool_pending == NULL)
		event_active(spool_flush_ev, EV_TIMEOUT, 0);
	*spool_pending_tail = sf;
	spool_pending_tail = &sf->next;
}

/* Start the I/O thread and its completion event. */
void
spool_start(struct event_base *base)
{
	if (pipe2(spool_pipe, O_NONBLOCK | O_CLOEXEC) == -1)
		fatal("pipe2");
	spool_ev = event_new(base, spool_pipe[0], EV_READ | EV_PERSIST,
	    spool_done_cb, NULL);
	if (spool_ev == NULL || event_add(spool_ev, NULL) == -1)
		fatalx("spool: cannot add the completion event");
	if ((spool_flush_ev = event_new(base, -1, 0, spool_flush_cb,
	    NULL)) == NULL)
		fatalx("spool: cannot make the hand-off event");
	if (pthread_create(&spool_thread, NULL, spool_thread_main, NULL) != 0)
		fatalx("spool: cannot start the I/O thread");
	spool_running = 1;
}

/* Finish every queued commit, answer the sessions, stop the thread. */
void
spool_stop(void)
{
	if (!spool_running)
		return;
	spool_flush_cb(-1, 0, NULL);
	pthread_mutex_lock(&spool_lock);
	spool_quit = 1;
	pthread_cond_signal(&spool_cond);
	pthread_mutex_unlock(&spool_lock);
	pthread_join(spool_thread, NULL);
	spool_done_cb(spool_pipe[0], EV_READ, NULL);
	spool_free_spares();
	event_free(spool_ev);
	event_free(spool_flush_ev);
	close(spool_pipe[0]);
	close(spool_pipe[1]);
	spool_running = 0;
}

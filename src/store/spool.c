/*
 * spool.c: durable message storage.  Every message file is an inode of
 * the spool's pool/ directory, pool/<ID>, that mxd keeps from message to
 * message.  A message is written to such a file as it arrives; at the
 * end of DATA an I/O thread makes it durable and gives it a second name,
 * queue/<QID>.eml (a hard link), and only then does the session say 250.
 * When the consumer removes queue/<QID>.eml, the pool's link keeps the
 * inode, and a later message is written over it: the file system
 * allocates no inode for it.  (On ext4 without a journal, an inode
 * allocation after mass deletions scans every recently freed inode of its
 * group: 0.5 ms of CPU per file, 20 times the rest of a message's work.)
 *
 * The I/O thread does group commit: it takes every message that finished
 * since its last pass, makes their data durable (one fdatasync, or one
 * syncfs for several), links each into queue/, fsyncs the queue
 * directory once for all of them, and hands the batch back to the event
 * loop through a pipe.  Disk waits never run on the event loop, and under
 * load many messages share one flush.
 *
 * With spool_sync=no there is nothing to wait for, and the work that is
 * left per message is file system CPU (writing the last of the data,
 * close, link).  The thread does it, answering each message as soon as
 * it is in queue/, so that the loop only speaks SMTP; when the caller
 * says a thread hop would only add to its client's wait
 * (SPOOL_F_INLINE_OK) and the thread is idle, the loop does it itself.
 *
 * Directory operations: new pool files are created by the I/O thread
 * (the loop only when it has run out of them), links are made in queue/,
 * so the two threads never wait for one directory's lock.
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
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "mxd.h"

/* One message on its way to the queue. */
struct spool_file {
	int			 fd;
	int			 err;
	unsigned		 id;	/* its name in pool/ (spool_pool_name) */
	off_t			 size;	/* octets written */
	off_t			 oldsize;	/* what a reused file held */
	int			 flags;		/* SPOOL_F_* */
	int			 reused;	/* an existing pool file */
	struct evbuffer		*tail;	/* the last of the data, unwritten */
	char			 qid[QID_LEN + 1];
	void			(*done)(void *, int);
	void			*arg;
	struct spool_file	*next;
};

static int		 spool_dirfd = -1;	/* the spool directory */
static int		 spool_poolfd = -1;	/* pool/ */
static int		 spool_queuefd = -1;	/* queue/ */
static int		 spool_statefd = -1;	/* state/ (rcptstate.c) */
static char		*spool_path;		/* spool_init's dir */
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
 * Spare files: open pool files the I/O thread makes ready ahead of need
 * (a free one reused, else a new one), so that the event loop never
 * waits for the file system to find or allocate an inode.  Each holds a
 * descriptor, so under a small descriptor limit there are fewer.  They
 * are used in the order they were made, reused files first.
 */
#define SPOOL_SPARES	32
static struct spool_file *spool_spares[SPOOL_SPARES];	/* oldest first */
static int		 spool_maxspares = SPOOL_SPARES;
static int		 spool_nspares, spool_sparehead;
static int		 spool_spare_failed;	/* stop until the next commit */

/*
 * The pool (spool_lock held): the IDs of files known to be free (one
 * link, empty or holding a removed message), and a ring of the IDs of
 * files linked into queue/, oldest first, which the I/O thread checks a
 * few at a time for files the consumer has removed.
 */
#define SPOOL_CHECKS	2	/* ring entries looked at per spare, */
#define SPOOL_BACKOFF_MAX 63	/* at most this many spares apart */
#define SPOOL_SWEEP	256	/* ring entries looked at when idle, */
#define SPOOL_SWEEP_SECS 1	/* every second */
#define SPOOL_SWEEP_SIZE 65536	/* a removed file bigger is emptied, */
#define SPOOL_SWEEP_BATCH 16	/* up to this many per pass */
static unsigned		*spool_free;
static size_t		 spool_nfree, spool_freecap;
static unsigned		*spool_ring;
static size_t		 spool_ringhead, spool_ringlen, spool_ringcap;
static unsigned		 spool_nextid;	/* for a new pool file */
static unsigned		 spool_skip, spool_backoff;	/* spool_get_file() */

/* Lock held: remember a free pool file. */
static void
spool_free_push(unsigned id)
{
	if (spool_nfree == spool_freecap) {
		spool_freecap = spool_freecap ? spool_freecap * 2 : 64;
		spool_free = xreallocarray(spool_free, spool_freecap,
		    sizeof(*spool_free));
	}
	spool_free[spool_nfree++] = id;
}

/* Lock held: remember a pool file that has a name in queue/. */
static void
spool_ring_push(unsigned id)
{
	unsigned	*n;
	size_t		 i, cap;

	if (spool_ringlen == spool_ringcap) {
		cap = spool_ringcap ? spool_ringcap * 2 : 64;
		n = xreallocarray(NULL, cap, sizeof(*n));
		for (i = 0; i < spool_ringlen; i++)
			n[i] = spool_ring[(spool_ringhead + i) % spool_ringcap];
		free(spool_ring);
		spool_ring = n;
		spool_ringcap = cap;
		spool_ringhead = 0;
	}
	spool_ring[(spool_ringhead + spool_ringlen++) % spool_ringcap] = id;
	if (spool_ringlen == 1)		/* the thread sweeps from now on */
		pthread_cond_signal(&spool_cond);
}

/* Lock held: take the oldest entry of the ring; 0 if it is empty. */
static int
spool_ring_pop(unsigned *id)
{
	if (spool_ringlen == 0)
		return (0);
	*id = spool_ring[spool_ringhead];
	spool_ringhead = (spool_ringhead + 1) % spool_ringcap;
	spool_ringlen--;
	return (1);
}

/*
 * Durable mode, before a removed message's file is written over or
 * emptied: make the removals seen in queue/ so far durable, or a crash
 * could bring a removed name back on a changed file.  0 or -1.
 */
static int
spool_sync_removals(void)
{
	return (spool_sync ? fsync(spool_queuefd) : 0);
}

/*
 * The low `digits` hex digits of v, upper case, into buf (no NUL): pool
 * names and queue IDs, made for every message, without printf.
 */
static void
spool_hex(char *buf, unsigned long long v, int digits)
{
	static const char	hex[] = "0123456789ABCDEF";

	while (digits-- > 0) {
		buf[digits] = hex[v & 15];
		v >>= 4;
	}
}

/*
 * The name of pool file id under pool/: a directory for every 256 IDs,
 * so that a new file goes into a small directory (on ext4 an insertion
 * into a big hashed directory dirties a random block of it, which a
 * durable commit then has to write) and files made one after the other
 * share its blocks.
 */
static void
spool_pool_name(unsigned id, char *buf, size_t len)
{
	if (len < 10)
		fatalx("spool_pool_name: %zu octets", len);
	spool_hex(buf, id >> 8, 6);
	buf[6] = '/';
	spool_hex(buf + 7, id & 0xff, 2);
	buf[9] = '\0';
}

/* Open (creating) a subdirectory of the spool; returns an fd or -1. */
static int
spool_subdir(const char *name)
{
	if (mkdirat(spool_dirfd, name, 0700) == -1 && errno != EEXIST)
		return (-1);
	return (openat(spool_dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

/* qsort: pool IDs in increasing order. */
static int
spool_id_cmp(const void *a, const void *b)
{
	unsigned	x = *(const unsigned *)a, y = *(const unsigned *)b;

	return (x < y ? -1 : x > y);
}

/*
 * Remove what an older mxd left in tmp/ (where it wrote messages before
 * the pool): those files never got a 250.  Then remove tmp/ itself.
 */
static void
spool_clean_tmp(void)
{
	DIR		*d;
	struct dirent	*e;
	int		 fd;

	if ((fd = openat(spool_dirfd, "tmp", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0 &&
		    e->d_name[0] != '.')
			log_info("spool: removed unfinished tmp/%s", e->d_name);
	}
	closedir(d);
	unlinkat(spool_dirfd, "tmp", AT_REMOVEDIR);
}

/*
 * Read pool/ at start.  A file with a name in queue/ too (two links)
 * joins the ring; a file with one link is free: a message a crash cut
 * short (it never got a 250) or one the consumer removed.  A free file
 * is emptied, so nothing of such a message stays on disk.
 */
static void
spool_pool_scan(void)
{
	DIR		*d, *sd;
	struct dirent	*e, *f;
	struct stat	 st;
	unsigned long	 hi, lo;
	unsigned	*ids = NULL, id;
	size_t		 n = 0, cap = 0, i, nfull;
	unsigned	 cleared = 0;
	char		*end, name[16];
	int		 fd;

	if ((fd = dup(spool_poolfd)) == -1 || (d = fdopendir(fd)) == NULL)
		fatal("spool: read pool/");
	while ((e = readdir(d)) != NULL) {
		hi = strtoul(e->d_name, &end, 16);
		if (strlen(e->d_name) != 6 || *end != '\0' ||
		    (fd = openat(spool_poolfd, e->d_name, O_RDONLY |
		    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
			continue;
		if ((sd = fdopendir(fd)) == NULL) {
			close(fd);
			continue;
		}
		while ((f = readdir(sd)) != NULL) {
			lo = strtoul(f->d_name, &end, 16);
			if (strlen(f->d_name) != 2 || *end != '\0')
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 256;
				ids = xreallocarray(ids, cap, sizeof(*ids));
			}
			id = (unsigned)(hi << 8 | lo);
			ids[n++] = id;
			if (id >= spool_nextid)
				spool_nextid = id + 1;
		}
		closedir(sd);
	}
	closedir(d);
	/* Oldest first: IDs are handed out in increasing order. */
	if (n > 0)
		qsort(ids, n, sizeof(*ids), spool_id_cmp);
	for (i = 0, nfull = 0; i < n; i++) {
		spool_pool_name(ids[i], name, sizeof(name));
		if (fstatat(spool_poolfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (st.st_nlink > 1)
			spool_ring_push(ids[i]);
		else if (st.st_size > 0)
			ids[nfull++] = ids[i];	/* to empty, below */
		else
			spool_free_push(ids[i]);
	}
	if (nfull > 0 && spool_sync_removals() == -1)
		fatal("spool: fsync queue/");
	for (i = 0; i < nfull; i++) {
		spool_pool_name(ids[i], name, sizeof(name));
		if ((fd = openat(spool_poolfd, name, O_WRONLY | O_NOFOLLOW |
		    O_CLOEXEC)) == -1 || ftruncate(fd, 0) == -1) {
			log_warn("spool: empty pool/%s", name);
			if (fd != -1)
				close(fd);
			continue;
		}
		close(fd);
		cleared++;
		spool_free_push(ids[i]);
	}
	free(ids);
	if (cleared > 0)
		log_info("spool: emptied %u unfinished or removed files in "
		    "pool/", cleared);
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
	free(spool_path);
	spool_path = xstrdup(dir);
	if ((spool_poolfd = spool_subdir("pool")) == -1 ||
	    (spool_queuefd = spool_subdir("queue")) == -1) {
		*cause = "cannot open the spool directory";
		return (-1);
	}
	spool_sync = sync;
	if ((spool_statefd = rcptstate_init(spool_dirfd, sync)) == -1) {
		*cause = "cannot open the spool's state/ directory";
		return (-1);
	}
	/* At most 1/16 of the descriptors, so sessions keep the rest. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 16 < SPOOL_SPARES)
		spool_maxspares = (int)(rl.rlim_cur / 16);
	gettimeofday(&tv, NULL);
	spool_tag = ((unsigned)getpid() ^ (unsigned)tv.tv_usec) & 0xfff;
	spool_clean_tmp();
	spool_pool_scan();
	return (0);
}

/*
 * Open rel (such as "queue/<QID>.eml") under the spool dir.  For the
 * spool this process owns, relative to the descriptor spool_init
 * opened, so that it works after mxd gave up root even where a parent
 * directory is closed to the user it runs as; for another (mxd -q, a
 * test), by path.  As openat(2).
 */
int
spool_openat(const char *dir, const char *rel, int flags, mode_t mode)
{
	char	path[PATH_MAX];

	if (spool_path != NULL && strcmp(dir, spool_path) == 0)
		return (openat(spool_dirfd, rel, flags | O_CLOEXEC, mode));
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, rel) >=
	    sizeof(path)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	return (open(path, flags | O_CLOEXEC, mode));
}

/* Remove rel under the spool dir, as spool_openat finds it; unlink(2). */
int
spool_unlinkat(const char *dir, const char *rel)
{
	char	path[PATH_MAX];

	if (spool_path != NULL && strcmp(dir, spool_path) == 0)
		return (unlinkat(spool_dirfd, rel, 0));
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, rel) >=
	    sizeof(path)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	return (unlink(path));
}

/* Give the spool directories to the user mxd runs as. */
void
spool_chown(uid_t uid, gid_t gid)
{
	if (fchown(spool_dirfd, uid, gid) == -1 ||
	    fchown(spool_poolfd, uid, gid) == -1 ||
	    fchown(spool_queuefd, uid, gid) == -1 ||
	    fchown(spool_statefd, uid, gid) == -1 ||
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
	spool_hex(buf, us & 0xFFFFFFFFFFFFFULL, 13);
	spool_hex(buf + 13, spool_tag, 3);
	buf[QID_LEN] = '\0';
}

/* A spool_file for an open pool file. */
static struct spool_file *
spool_file_new(int fd, unsigned id, off_t oldsize)
{
	struct spool_file	*sf;

	sf = xcalloc(1, sizeof(*sf));
	sf->fd = fd;
	sf->id = id;
	sf->oldsize = oldsize;
	if ((sf->tail = evbuffer_new()) == NULL)
		fatal("evbuffer_new");
	return (sf);
}

/* Create a new empty file in pool/; NULL with errno on failure. */
static struct spool_file *
spool_new_file(void)
{
	char		 name[16];
	unsigned	 id;
	int		 fd;

	do {
		pthread_mutex_lock(&spool_lock);
		id = spool_nextid++;
		pthread_mutex_unlock(&spool_lock);
		spool_pool_name(id, name, sizeof(name));
		fd = openat(spool_poolfd, name, O_WRONLY | O_CREAT | O_EXCL |
		    O_CLOEXEC, 0600);
		if (fd == -1 && errno == ENOENT) {	/* a new directory */
			name[6] = '\0';
			if (mkdirat(spool_poolfd, name, 0700) == -1 &&
			    errno != EEXIST)
				return (NULL);
			name[6] = '/';
			fd = openat(spool_poolfd, name, O_WRONLY | O_CREAT |
			    O_EXCL | O_CLOEXEC, 0600);
		}
	} while (fd == -1 && errno == EEXIST);
	if (fd == -1)
		return (NULL);
	return (spool_file_new(fd, id, 0));
}

/*
 * The I/O thread: open pool file id for a new message if it is free: one
 * link (the consumer removed its name in queue/) and open nowhere else (a
 * write lease is granted only then: a consumer still reading a removed
 * message keeps its file).  1 if it is ours now (*sfp), 0 if it is still
 * in use, -1 if it is gone or cannot be reused.
 */
static int
spool_reuse(unsigned id, struct spool_file **sfp)
{
	struct stat	 st;
	char		 name[16];
	int		 fd, busy;

	spool_pool_name(id, name, sizeof(name));
	if (fstatat(spool_poolfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return (-1);
	if (st.st_nlink > 1)
		return (0);
	if (!S_ISREG(st.st_mode) || (fd = openat(spool_poolfd, name,
	    O_WRONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return (-1);
	if (fcntl(fd, F_SETLEASE, F_WRLCK) == -1) {
		busy = errno == EAGAIN;
		close(fd);
		if (busy)
			return (0);
		/* No leases here: let the file go, as before the pool. */
		unlinkat(spool_poolfd, name, 0);
		return (-1);
	}
	fcntl(fd, F_SETLEASE, F_UNLCK);
	/* Linked again between the stat and the lease? */
	if (fstat(fd, &st) == -1 || st.st_nlink > 1) {
		close(fd);
		return (0);
	}
	*sfp = spool_file_new(fd, id, st.st_size);
	(*sfp)->reused = 1;
	return (1);
}

/*
 * Lock not held: a free pool file if there is one (known free, or found
 * among the oldest queued) and reuse is allowed, else a new one if
 * create is.  The I/O thread's, and the loop's when it has run out of
 * spares.  NULL with errno on failure, or with errno 0 when there was
 * nothing to reuse and no file was to be created.
 */
static struct spool_file *
spool_get_file(int reuse, int create)
{
	struct spool_file	*sf = NULL;
	unsigned		 id;
	int			 i, checks, checked = 0;

	pthread_mutex_lock(&spool_lock);
	checks = spool_skip > 0 ? 0 : SPOOL_CHECKS;
	if (spool_skip > 0)
		spool_skip--;
	pthread_mutex_unlock(&spool_lock);
	for (i = 0; sf == NULL && reuse; i++) {
		pthread_mutex_lock(&spool_lock);
		if (spool_nfree > 0)
			id = spool_free[--spool_nfree];
		else if (i >= checks || !spool_ring_pop(&id)) {
			pthread_mutex_unlock(&spool_lock);
			break;
		} else
			checked = 1;
		pthread_mutex_unlock(&spool_lock);
		if (spool_reuse(id, &sf) == 0) {
			pthread_mutex_lock(&spool_lock);
			spool_ring_push(id);
			pthread_mutex_unlock(&spool_lock);
		}
	}
	/*
	 * The oldest queued files are all still there (nobody empties the
	 * queue, or not from its old end): look again only after the next
	 * 1, 3, 7 ... 63 files, so that such a queue costs next to nothing.
	 */
	pthread_mutex_lock(&spool_lock);
	if (sf != NULL)
		spool_backoff = 0;
	else if (checked) {
		spool_backoff = spool_backoff * 2 + 1;
		if (spool_backoff > SPOOL_BACKOFF_MAX)
			spool_backoff = SPOOL_BACKOFF_MAX;
		spool_skip = spool_backoff;
	}
	pthread_mutex_unlock(&spool_lock);
	if (sf == NULL && create)
		sf = spool_new_file();
	else if (sf == NULL)
		errno = 0;
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
 * A file for a new message: a spare if there is one, else one found or
 * made now (a removed message's file, else a new one).  NULL with errno
 * on failure.
 */
struct spool_file *
spool_create(const char *qid)
{
	struct spool_file	*sf = NULL;
	int			 low = 0;

	pthread_mutex_lock(&spool_lock);
	if (spool_nspares > 0) {
		sf = spool_spares[spool_sparehead];
		spool_sparehead = (spool_sparehead + 1) % SPOOL_SPARES;
		spool_nspares--;
		low = spool_nspares < spool_maxspares / 2;
	}
	pthread_mutex_unlock(&spool_lock);
	/* Below half: the I/O thread makes more (unlocked: spool_flush_cb). */
	if (low)
		pthread_cond_signal(&spool_cond);
	/* Durable: reusing needs a flush first (spool_make_spares). */
	if (sf == NULL && (sf = spool_get_file(!spool_sync, 1)) == NULL) {
		log_warn("spool: create a file in pool/ for %s", qid);
		return (NULL);
	}
	memcpy(sf->qid, qid, QID_LEN + 1);
	return (sf);
}

/*
 * The I/O thread, lock not held: take up to n files for spares (no more
 * than there is room for) into got; returns how many.  Idle tells
 * whether to stop as soon as there is work to commit; create, whether
 * to make new files when there is none to reuse.
 */
static int
spool_take_files(struct spool_file **got, int n, int idle, int create)
{
	struct spool_file	*sf;
	int			 k = 0;

	for (;;) {
		pthread_mutex_lock(&spool_lock);
		if (k >= n || spool_nspares + k >= spool_maxspares ||
		    spool_quit || spool_spare_failed ||
		    (idle && spool_todo != NULL)) {
			pthread_mutex_unlock(&spool_lock);
			return (k);
		}
		pthread_mutex_unlock(&spool_lock);
		if ((sf = spool_get_file(1, create)) == NULL) {
			if (errno != 0) {
				pthread_mutex_lock(&spool_lock);
				spool_spare_failed = 1;
				pthread_mutex_unlock(&spool_lock);
			}
			return (k);
		}
		got[k++] = sf;
	}
}

/*
 * The I/O thread, lock not held: make the n files in got spares.
 * Durable mode: a reused file's removal from queue/ must be on disk
 * before anything is written over it, or a crash could bring the name
 * back on a half-written file; synced says a flush of queue/ began after
 * the files were taken, else one is made now.
 */
static void
spool_publish(struct spool_file **got, int n, int synced)
{
	int	i, reused = 0, err = 0;

	for (i = 0; i < n; i++)
		reused |= got[i]->reused;
	if (reused && !synced)
		err = spool_sync_removals() == -1;
	/*
	 * A big removed message gives its space back now, as the idle
	 * sweep would: a spare may wait long for the message that would
	 * cut it to length.
	 */
	for (i = 0; i < n && !err; i++)
		if (got[i]->reused && got[i]->oldsize > SPOOL_SWEEP_SIZE &&
		    ftruncate(got[i]->fd, 0) == 0)
			got[i]->oldsize = 0;
	pthread_mutex_lock(&spool_lock);
	for (i = 0; i < n; i++) {
		if (err && got[i]->reused) {
			spool_ring_push(got[i]->id);	/* later */
			close(got[i]->fd);
			spool_file_free(got[i]);
		} else if (spool_nspares < spool_maxspares)
			spool_spares[(spool_sparehead + spool_nspares++) %
			    SPOOL_SPARES] = got[i];
		else {
			pthread_mutex_unlock(&spool_lock);
			spool_abort(got[i]);	/* no room (after a flush) */
			pthread_mutex_lock(&spool_lock);
		}
	}
	pthread_mutex_unlock(&spool_lock);
}

/*
 * Durable mode: files the I/O thread took after a batch, waiting for the
 * next batch's flush of queue/ to become spares (I/O thread only).
 */
static struct spool_file *spool_held[SPOOL_SPARES];
static int		 spool_nheld;

/* The I/O thread, lock held: make spare files while it has nothing else. */
static void
spool_make_spares(void)
{
	struct spool_file	*got[SPOOL_SPARES];
	int			 n;

	pthread_mutex_unlock(&spool_lock);
	spool_publish(spool_held, spool_nheld, 0);
	spool_nheld = 0;
	if ((n = spool_take_files(got, SPOOL_SPARES, 1, 1)) > 0)
		spool_publish(got, n, 0);
	pthread_mutex_lock(&spool_lock);
}

/* At exit: give the spare files back to the pool. */
static void
spool_free_spares(void)
{
	for (; spool_nspares > 0; spool_nspares--) {
		spool_abort(spool_spares[spool_sparehead]);
		spool_sparehead = (spool_sparehead + 1) % SPOOL_SPARES;
	}
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
		sf->size += n;
	}
	return (0);
}

/* The same for the event loop: 0, or -1 with errno, logged. */
int
spool_write(struct spool_file *sf, struct evbuffer *buf)
{
	char	name[16];

	if ((errno = spool_append(sf, buf)) == 0)
		return (0);
	spool_pool_name(sf->id, name, sizeof(name));
	log_warn("spool: write pool/%s for %s", name, sf->qid);
	return (-1);
}

/*
 * Give a file back to the pool, emptied (truncating cannot fail for
 * lack of space), and close it.
 */
static void
spool_release(struct spool_file *sf)
{
	char	name[16];

	if (sf->fd == -1)
		return;
	if (ftruncate(sf->fd, 0) == -1) {
		spool_pool_name(sf->id, name, sizeof(name));
		unlinkat(spool_poolfd, name, 0);
		close(sf->fd);
		sf->fd = -1;
		return;
	}
	close(sf->fd);
	sf->fd = -1;
	pthread_mutex_lock(&spool_lock);
	spool_free_push(sf->id);
	pthread_mutex_unlock(&spool_lock);
}

/* Drop a message that will not be queued: nothing stays behind. */
void
spool_abort(struct spool_file *sf)
{
	if (sf == NULL)
		return;
	spool_release(sf);
	spool_file_free(sf);
}

/* Link the file as queue/<qid>.eml; never replaces a queued file. */
static int
spool_link(const struct spool_file *sf)
{
	char	name[QID_LEN + 5], pname[16];

	memcpy(name, sf->qid, QID_LEN);
	memcpy(name + QID_LEN, ".eml", 5);
	spool_pool_name(sf->id, pname, sizeof(pname));
	return (linkat(spool_poolfd, pname, spool_queuefd, name, 0));
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
 * Write what the session left in the tail, and cut off what a reused
 * file held beyond the new message.  On the I/O thread this must not
 * log (the log belongs to the loop): the error goes back in sf->err, and
 * the session logs it.
 */
static void
spool_write_tail(struct spool_file *sf)
{
	if (sf->err == 0)
		sf->err = spool_append(sf, sf->tail);
	if (sf->err == 0 && sf->oldsize > sf->size) {
		if (ftruncate(sf->fd, sf->size) == -1)
			sf->err = errno;
		else
			sf->oldsize = sf->size;
	}
}

/*
 * Make one batch durable: sync the data, link, then one directory sync.
 * Returns 1 if queue/ was flushed.
 */
static int
spool_commit_batch(struct spool_file *batch)
{
	struct spool_file	*sf;
	int			 linked = 0;

	for (sf = batch; sf != NULL; sf = sf->next)
		spool_write_tail(sf);
	spool_sync_data(batch);
	for (sf = batch; sf != NULL; sf = sf->next) {
		if (sf->err == 0 && spool_link(sf) == -1)
			sf->err = errno;
		if (sf->err != 0) {
			spool_release(sf);
			continue;
		}
		close(sf->fd);
		sf->fd = -1;
		linked = 1;
		pthread_mutex_lock(&spool_lock);
		spool_ring_push(sf->id);
		pthread_mutex_unlock(&spool_lock);
	}
	if (!linked || !spool_sync)
		return (0);
	if (fsync(spool_queuefd) == -1) {
		/* Nothing in this batch is known to be durable. */
		for (sf = batch; sf != NULL; sf = sf->next)
			if (sf->err == 0)
				sf->err = errno;
		return (0);
	}
	return (1);
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
 * The I/O thread, idle, lock not held: look at some of the oldest queued
 * files, and empty each big one the consumer has removed, so that its
 * space goes back to the file system now rather than when a message is
 * written over it.  A small one keeps its block: writing over it is
 * cheaper than freeing it and allocating another.
 */
static void
spool_sweep(void)
{
	struct stat	 st;
	char		 name[16];
	unsigned	 id, ids[SPOOL_SWEEP_BATCH];
	int		 i, n = 0, fd, fds[SPOOL_SWEEP_BATCH], err;

	for (i = 0; i < SPOOL_SWEEP && n < SPOOL_SWEEP_BATCH; i++) {
		pthread_mutex_lock(&spool_lock);
		if (spool_todo != NULL || spool_quit || !spool_ring_pop(&id)) {
			pthread_mutex_unlock(&spool_lock);
			break;
		}
		pthread_mutex_unlock(&spool_lock);
		spool_pool_name(id, name, sizeof(name));
		if (fstatat(spool_poolfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;	/* gone */
		fd = -1;
		if (st.st_nlink == 1 && st.st_size > SPOOL_SWEEP_SIZE &&
		    (fd = openat(spool_poolfd, name, O_WRONLY | O_NOFOLLOW |
		    O_CLOEXEC)) != -1 &&
		    fcntl(fd, F_SETLEASE, F_WRLCK) == 0) {
			fcntl(fd, F_SETLEASE, F_UNLCK);
			if (fstat(fd, &st) == 0 && st.st_nlink == 1) {
				ids[n] = id;
				fds[n++] = fd;
				continue;
			}
		}
		if (fd != -1)
			close(fd);
		pthread_mutex_lock(&spool_lock);
		spool_ring_push(id);
		pthread_mutex_unlock(&spool_lock);
	}
	/* Their removals durable first (durable mode), then empty them. */
	err = n > 0 && spool_sync_removals() == -1;
	for (i = 0; i < n; i++) {
		pthread_mutex_lock(&spool_lock);
		if (!err && ftruncate(fds[i], 0) == 0)
			spool_free_push(ids[i]);
		else
			spool_ring_push(ids[i]);
		pthread_mutex_unlock(&spool_lock);
		close(fds[i]);
	}
}

/*
 * The I/O thread: wait for work, commit it, report back.  Durable: the
 * batch shares its flushes, so it is answered together.  spool_sync=no:
 * each message is answered as soon as it is linked into queue/, so
 * that a session never waits for the others in its batch.
 */
static void *
spool_thread_main(void *arg)
{
	struct spool_file	*batch, *sf, *got[1];
	struct timespec		 ts;
	int			 idle, n, synced;

	pthread_mutex_lock(&spool_lock);
	for (;;) {
		spool_make_spares();
		idle = 0;
		while (spool_todo == NULL && !spool_quit && !idle &&
		    (spool_nspares >= spool_maxspares / 2 || spool_spare_failed)) {
			if (spool_ringlen == 0) {
				pthread_cond_wait(&spool_cond, &spool_lock);
				continue;
			}
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += SPOOL_SWEEP_SECS;
			idle = pthread_cond_timedwait(&spool_cond, &spool_lock,
			    &ts) == ETIMEDOUT;
		}
		if (spool_todo == NULL && spool_quit) {
			pthread_mutex_unlock(&spool_lock);
			spool_publish(spool_held, spool_nheld, 0);
			spool_nheld = 0;
			pthread_mutex_lock(&spool_lock);
			break;
		}
		if (spool_todo == NULL) {
			if (idle) {
				pthread_mutex_unlock(&spool_lock);
				spool_sweep();
				pthread_mutex_lock(&spool_lock);
			}
			continue;
		}
		batch = spool_todo;
		spool_todo = NULL;
		spool_todo_tail = &spool_todo;
		spool_busy = 1;
		pthread_mutex_unlock(&spool_lock);

		/*
		 * Under a steady load the thread is never idle: it keeps
		 * the loop supplied, one spare for each message it took.
		 */
		if (spool_sync) {
			for (n = 0, sf = batch; sf != NULL; sf = sf->next)
				n++;
			synced = spool_commit_batch(batch);
			spool_post(batch);
			/*
			 * The files taken after the last batch become spares
			 * now: this batch's flush of queue/ made the removals
			 * of the reused ones durable.  Then take as many as
			 * this batch used, for the next flush: removed ones
			 * only, since creating files here would lengthen the
			 * cycle every session waits for (the loop, which has
			 * time while the disk works, creates its own).
			 */
			spool_publish(spool_held, spool_nheld, synced);
			spool_nheld = spool_take_files(spool_held,
			    n < SPOOL_SPARES ? n : SPOOL_SPARES, 0, 0);
		} else
			while ((sf = batch) != NULL) {
				batch = sf->next;
				sf->next = NULL;
				spool_commit_batch(sf);
				spool_post(sf);
				if ((n = spool_take_files(got, 1, 0, 1)) > 0)
					spool_publish(got, n, 0);
			}

		pthread_mutex_lock(&spool_lock);
		spool_busy = 0;
	}
	pthread_mutex_unlock(&spool_lock);
	return (NULL);
}

/*
 * A commit is over: answer its session, and, once the message is in
 * queue/, tell the queue's watchers (the long poll, the live page).
 */
static void
spool_answer(struct spool_file *sf)
{
	sf->done(sf->arg, sf->err);
	intake_end();
	if (sf->err == 0)
		queue_committed(sf->qid);
	spool_file_free(sf);
}

/* Back on the event loop: tell each session its message's fate. */
static void
spool_done_cb(evutil_socket_t fd, short events, void *arg)
{
	struct spool_file	*list, *sf, *rev = NULL;
	char			 buf[256];

	/*
	 * A short read emptied the pipe: no second read to hear EAGAIN.
	 * (A byte written after this read comes with a new list, and
	 * wakes this callback again.)
	 */
	while (read(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf))
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
		spool_answer(sf);
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
	 * client's wait.  Link here and answer now.
	 */
	inline_one = !spool_sync && sf->next == NULL && spool_todo == NULL &&
	    !spool_busy && (sf->flags & SPOOL_F_INLINE_OK);
	if (!inline_one) {
		*spool_todo_tail = sf;
		spool_todo_tail = tail;
	}
	pthread_mutex_unlock(&spool_lock);
	/*
	 * Wake the thread after unlocking: woken under the lock, it would
	 * wake only to block on the mutex until the loop lets go of it (two
	 * more futex calls and a context switch per hand-off).  It checks
	 * spool_todo under the lock before it waits, so it cannot miss it.
	 */
	if (!inline_one)
		pthread_cond_signal(&spool_cond);
	if (inline_one) {
		spool_commit_batch(sf);
		spool_answer(sf);
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
	 * Durable: the thread's cycle (sync, links, directory sync) is
	 * what every session in a batch waits for, so the loop, which has
	 * time while the disk works, writes the data itself.  Otherwise
	 * the write is the thread's: it is most of the CPU a small message
	 * costs the loop (the kernel zeroing a fresh page-cache page).
	 */
	intake_begin();
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

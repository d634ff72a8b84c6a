/*
 * seen.c: the API's read flags kept in the spool as well as in the
 * index, so that a rebuilt index (missing, corrupt, of another schema)
 * still knows which messages were read.  In: each change of a read flag
 * (query.c), the file spool_dir/seen at start.  Out: that file, and for
 * the index's thread the set of messages read at start (index.c marks
 * a row it inserts read if its queue ID is in it).
 *
 * The file (doc/spool.md) is a journal, one line per change:
 * "<QID> read" or "<QID> unread"; the last line of a queue ID wins.  At
 * start it is read, then written anew holding only the messages that
 * are read and still in queue/ (a temporary file renamed over it), and
 * kept open to append to.  Appends are one write(2) each, not synced:
 * a crash may forget the last changes of read state, never mail.
 * Everything here but seen_read() runs on the loop; seen_read() reads
 * a set fixed before the index's thread starts.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/index.h"

#define SEEN_FILE	"seen"

static char		(*seen_set)[QID_LEN + 1];	/* read at start */
static size_t		  seen_n;
static int		  seen_fd = -1;
static char		 *seen_buf;	/* lines not yet written */
static size_t		  seen_len;
static size_t		  seen_cap;
static int		  seen_held;	/* seen_hold() */

/* Sort queue IDs (fixed-size entries). */
static int
seen_cmp(const void *a, const void *b)
{
	return (strcmp(a, b));
}

/* Sort queue IDs (pointers to strings). */
static int
seen_cmp_ptr(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/* One line of the journal, numbered. */
struct seen_line {
	char	qid[QID_LEN + 1];
	size_t	seq;
	int	read;
};

/* Sort lines by queue ID, then in the file's order. */
static int
seen_cmp_line(const void *a, const void *b)
{
	const struct seen_line	*x = a, *y = b;
	int			 c = strcmp(x->qid, y->qid);

	if (c != 0)
		return (c);
	return (x->seq < y->seq ? -1 : x->seq > y->seq);
}

/*
 * Read the journal f into seen_set (sorted): every queue ID whose last
 * line says read and that is among the n sorted files of queue/.
 */
static void
seen_parse(FILE *f, char **files, size_t n)
{
	struct seen_line	*v = NULL;
	char			 line[64], what[8], *q;
	size_t			 nv = 0, i;

	while (fgets(line, sizeof(line), f) != NULL) {
		v = xreallocarray(v, nv + 1, sizeof(*v));
		if (sscanf(line, "%16s %7s", v[nv].qid, what) != 2 ||
		    !queue_id_valid(v[nv].qid) || (strcmp(what, "read") != 0 &&
		    strcmp(what, "unread") != 0))
			continue;	/* not ours, or cut short by a crash */
		v[nv].read = strcmp(what, "read") == 0;
		v[nv].seq = nv;
		nv++;
	}
	if (nv > 0)
		qsort(v, nv, sizeof(*v), seen_cmp_line);
	for (i = 0; i < nv; i++) {
		if (i + 1 < nv && strcmp(v[i].qid, v[i + 1].qid) == 0)
			continue;	/* the last line of a queue ID wins */
		q = v[i].qid;
		if (!v[i].read || n == 0 || bsearch(&q, files, n,
		    sizeof(*files), seen_cmp_ptr) == NULL)
			continue;
		seen_set = xreallocarray(seen_set, seen_n + 1,
		    sizeof(*seen_set));
		memcpy(seen_set[seen_n++], v[i].qid, sizeof(*seen_set));
	}
	free(v);
}

/*
 * Write the set anew as path (through path.new, renamed over it); 0 or
 * -1 with errno.
 */
static int
seen_rewrite(const char *path)
{
	char	 tmp[PATH_MAX + 8];
	FILE	*f;
	size_t	 i;
	int	 fd, rc;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600)) == -1)
		return (-1);
	if ((f = fdopen(fd, "w")) == NULL) {
		close(fd);
		return (-1);
	}
	for (i = 0; i < seen_n; i++)
		fprintf(f, "%s read\n", seen_set[i]);
	rc = fflush(f) == 0 && fsync(fd) == 0 ? 0 : -1;
	if (fclose(f) != 0 || rc != 0 || rename(tmp, path) == -1) {
		(void)unlink(tmp);
		return (-1);
	}
	return (0);
}

/*
 * At start, on the loop, before the index's thread: read spool_dir/seen
 * (if any) into the set of read messages still in queue/, write it anew
 * with only those, and open it to append to.  0, or -1 with *cause.
 */
int
seen_start(const char *spool_dir, char **cause)
{
	char	 path[PATH_MAX], **files;
	FILE	*f;
	size_t	 n = 0, i;

	snprintf(path, sizeof(path), "%s/%s", spool_dir, SEEN_FILE);
	if ((files = queue_ids(spool_dir, &n)) == NULL)
		n = 0;
	if ((f = fopen(path, "re")) != NULL) {
		seen_parse(f, files, n);
		fclose(f);
	} else if (errno != ENOENT)
		log_warn("index: %s", path);
	for (i = 0; i < n; i++)
		free(files[i]);
	free(files);
	if (seen_rewrite(path) != 0 || (seen_fd = open(path, O_WRONLY |
	    O_APPEND | O_CLOEXEC)) == -1) {
		xasprintf(cause, "index: %s: %s", path, strerror(errno));
		return (-1);
	}
	return (0);
}

/* Started as root: give the journal to the user mxd becomes. */
void
seen_chown(uid_t uid, gid_t gid)
{
	if (seen_fd != -1 && fchown(seen_fd, uid, gid) == -1)
		log_warn("index: chown %s", SEEN_FILE);
}

/* Was qid read when mxd started?  (The index's thread asks.) */
int
seen_read(const char *qid)
{
	return (seen_n > 0 && bsearch(qid, seen_set, seen_n,
	    sizeof(*seen_set), seen_cmp) != NULL);
}

/* Write the lines seen_note() gathered, in one write(2). */
void
seen_flush(void)
{
	ssize_t	n;

	if (seen_len > 0 && seen_fd != -1) {
		n = write(seen_fd, seen_buf, seen_len);
		if (n != (ssize_t)seen_len)
			log_warn("index: %s: write", SEEN_FILE);
	}
	free(seen_buf);
	seen_buf = NULL;
	seen_len = seen_cap = 0;
}

/* Hold the lines of the next changes until seen_release() (a batch). */
void
seen_hold(void)
{
	seen_held = 1;
}

/* Write what seen_hold() held. */
void
seen_release(void)
{
	seen_held = 0;
	seen_flush();
}

/* Note that qid is now read (or unread); written now unless held. */
void
seen_note(const char *qid, int read)
{
	char	line[QID_LEN + 16];
	int	n;

	if (seen_fd == -1)
		return;
	n = snprintf(line, sizeof(line), "%s %s\n", qid, read ? "read" :
	    "unread");
	if (seen_len + (size_t)n > seen_cap) {	/* doubling: many lines */
		seen_cap = seen_cap == 0 ? 4096 : 2 * seen_cap;
		seen_buf = xreallocarray(seen_buf, seen_cap, 1);
	}
	memcpy(seen_buf + seen_len, line, (size_t)n);
	seen_len += (size_t)n;
	if (!seen_held)
		seen_flush();
}

/* Close the journal and forget the set (index_stop). */
void
seen_stop(void)
{
	seen_flush();
	if (seen_fd != -1)
		close(seen_fd);
	seen_fd = -1;
	free(seen_set);
	seen_set = NULL;
	seen_n = 0;
}

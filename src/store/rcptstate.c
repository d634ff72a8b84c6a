/*
 * rcptstate.c: what has become of each recipient of a queued message.
 * One append-only text file per message, spool_dir/state/<QID>, one line
 * per transition: `<unix-time> <rcpt-number> <status>[ <detail>]\n`,
 * where rcpt-number is the 0-based index into the envelope's recipients
 * (doc/spool.md).  In: transitions (a recipient's copy removed from its
 * maildrop; later delivered, deferred, failed).  Out: the current status
 * of every recipient (the last line for it wins; `sent` and `bounced`
 * name one mailbox of an alias and leave it as it was), every line to a
 * callback (rcptstate_scan, for plan.c and mxd -q; both go through the
 * one line parser), and whether the message is done (every recipient in
 * a final state), when queue_delete() may take it.  A line is one write(2) with O_APPEND, so writers never mix
 * their lines; a torn last line (no LF: a crash mid-write) is ignored.
 * The store's own init says whether to fdatasync each line (spool_sync).
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

/* A state line is never longer than this; longer details are cut. */
#define RCPTSTATE_LINE_MAX	512

/* The statuses: name in the file, and whether the recipient is done. */
static const struct {
	const char	*name;
	int		 final;
} rcptstate_table[] = {
	[RCPT_S_NONE] = { "none", 0 },		/* never written */
	[RCPT_S_REMOVED] = { "removed", 1 },	/* POP3 DELE, the API */
	[RCPT_S_DELIVERED] = { "delivered", 1 },	/* reserved: delivery */
	[RCPT_S_DEFERRED] = { "deferred", 0 },	/* reserved: delivery */
	[RCPT_S_FAILED] = { "failed", 1 },	/* reserved: delivery */
	[RCPT_S_SENT] = { "sent", 0 },		/* delivery: one mailbox */
	[RCPT_S_BOUNCED] = { "bounced", 0 },	/* delivery: one mailbox */
};
#define RCPT_S_COUNT	(sizeof(rcptstate_table) / sizeof(rcptstate_table[0]))

static int	rcptstate_sync = 1;

/* The name of a status, as written in the file. */
const char *
rcptstate_name(enum rcpt_status st)
{
	if ((size_t)st >= RCPT_S_COUNT)
		return ("none");
	return (rcptstate_table[st].name);
}

/* The status written as name; RCPT_S_NONE if none is. */
static enum rcpt_status
rcptstate_lookup(const char *name, size_t len)
{
	size_t	i;

	for (i = 1; i < RCPT_S_COUNT; i++)
		if (strlen(rcptstate_table[i].name) == len &&
		    memcmp(rcptstate_table[i].name, name, len) == 0)
			return ((enum rcpt_status)i);
	return (RCPT_S_NONE);
}

/* The name of state/<qid> in the spool; 0, or -1 with errno. */
static int
rcptstate_path(const char *qid, char *buf, size_t len)
{
	if (!queue_id_valid(qid)) {
		errno = EINVAL;
		return (-1);
	}
	snprintf(buf, len, "state/%s", qid);
	return (0);
}

/*
 * At start, from the spool's init: create state/ (mode 0700) in the
 * spool dirfd, remove the orphans (a state file whose message is no
 * longer in queue/: queue_delete() died between its two unlinks), and
 * remember whether lines must reach the disk (sync).  The state/ fd,
 * or -1.
 */
int
rcptstate_init(int dirfd, int sync)
{
	struct dirent	*de;
	char		 eml[NAME_MAX + 8];
	DIR		*d;
	int		 fd, qfd, n = 0;

	rcptstate_sync = sync;
	if (mkdirat(dirfd, "state", 0700) == -1 && errno != EEXIST)
		return (-1);
	if ((fd = openat(dirfd, "state", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return (-1);
	if ((qfd = openat(dirfd, "queue", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1 || (d = fdopendir(dup(fd))) == NULL) {
		if (qfd != -1)
			close(qfd);
		return (fd);
	}
	while ((de = readdir(d)) != NULL) {
		if (!queue_id_valid(de->d_name))
			continue;
		snprintf(eml, sizeof(eml), "%s.eml", de->d_name);
		if (faccessat(qfd, eml, F_OK, 0) == -1 && errno == ENOENT &&
		    unlinkat(fd, de->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	close(qfd);
	if (n > 0)
		log_info("spool: removed %d orphaned files in state/", n);
	return (fd);
}

/*
 * Record that recipient number rcpt of message qid is now st, with an
 * optional detail (NULL: none; control octets become '?').  One write
 * with O_APPEND; fdatasync when the spool syncs.  0, or -1 with errno.
 */
int
rcptstate_append(const char *spool_dir, const char *qid, size_t rcpt,
    enum rcpt_status st, const char *detail)
{
	char	 path[QID_LEN + 8], line[RCPTSTATE_LINE_MAX];
	size_t	 n, i;
	ssize_t	 w;
	int	 fd, err;

	if (st == RCPT_S_NONE || (size_t)st >= RCPT_S_COUNT) {
		errno = EINVAL;
		return (-1);
	}
	if (rcptstate_path(qid, path, sizeof(path)) != 0)
		return (-1);
	n = (size_t)snprintf(line, sizeof(line) - 1, "%lld %zu %s%s%s",
	    (long long)time(NULL), rcpt, rcptstate_table[st].name,
	    detail != NULL ? " " : "", detail != NULL ? detail : "");
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	for (i = 0; i < n; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	line[n++] = '\n';
	if ((fd = spool_openat(spool_dir, path, O_WRONLY | O_APPEND | O_CREAT,
	    0600)) == -1)
		return (-1);
	w = write(fd, line, n);
	err = errno;
	if (w == (ssize_t)n && rcptstate_sync && fdatasync(fd) == -1) {
		err = errno;
		w = -1;
	}
	close(fd);
	if (w != (ssize_t)n) {
		errno = w == -1 ? err : EIO;
		return (-1);
	}
	return (0);
}

/*
 * Parse one complete line (without its LF): `<time> <rcpt> <word>[
 * <detail>]`, time and rcpt plain decimal digits (no sign, no blanks)
 * that fit.  *word and *detail point into line, which gets a NUL after
 * the word; *detail is "" when there is none.  0, or -1 if the line is
 * not a state line.  The one parser of the file, for every reader.
 */
static int
rcptstate_parse_line(char *line, time_t *t, size_t *rcpt, char **word,
    char **detail)
{
	unsigned long long	 n;
	long long		 tv;
	char			*p = line, *end;
	size_t			 len;

	if ((len = strspn(p, "0123456789")) == 0 || p[len] != ' ')
		return (-1);
	errno = 0;
	tv = strtoll(p, &end, 10);
	if (errno != 0 || end != p + len)
		return (-1);
	p = end + 1;
	if ((len = strspn(p, "0123456789")) == 0 || p[len] != ' ')
		return (-1);
	n = strtoull(p, &end, 10);
	if (errno != 0 || end != p + len)
		return (-1);
	*word = end + 1;
	if ((len = strcspn(*word, " ")) == 0)
		return (-1);
	*detail = (*word)[len] == ' ' ? *word + len + 1 : *word + len;
	(*word)[len] = '\0';
	*t = (time_t)tv;
	*rcpt = (size_t)n;
	return (0);
}

/* What rcptstate_read() fills: a status per recipient. */
struct rcptstate_out {
	enum rcpt_status	*st;
	size_t			 n;
};

/*
 * rcptstate_scan's callback for rcptstate_read(): a known status is the
 * recipient's, except `sent` and `bounced`, which name one mailbox of an
 * alias and leave the recipient's status as it was (as plan.c and
 * mxd -q read them).
 */
static void
rcptstate_read_cb(void *arg, time_t t, size_t rcpt, const char *word,
    const char *detail)
{
	struct rcptstate_out	*o = arg;
	enum rcpt_status	 st;

	(void)t;
	(void)detail;
	st = rcptstate_lookup(word, strlen(word));
	if (rcpt < o->n && st != RCPT_S_NONE && st != RCPT_S_SENT &&
	    st != RCPT_S_BOUNCED)
		o->st[rcpt] = st;
}

/*
 * The current status of each of the nrcpt recipients of qid into out:
 * RCPT_S_NONE for one without a line; the last line for each wins.
 * Unknown statuses, numbers out of range and a torn last line are
 * ignored.  0 (also when there is no state file), or -1 with errno.
 */
int
rcptstate_read(const char *spool_dir, const char *qid, enum rcpt_status *out,
    size_t nrcpt)
{
	struct rcptstate_out	o = { out, nrcpt };
	size_t			i;

	for (i = 0; i < nrcpt; i++)
		out[i] = RCPT_S_NONE;
	return (rcptstate_scan(spool_dir, qid, rcptstate_read_cb, &o));
}

/* Is every one of the n recipients in a final state? */
int
rcptstate_done(const enum rcpt_status *st, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if ((size_t)st[i] >= RCPT_S_COUNT ||
		    !rcptstate_table[st[i]].final)
			return (0);
	return (n > 0);
}

/* Remove state/<qid> under spool_dir; 0 also if there was none. */
int
rcptstate_remove(const char *spool_dir, const char *qid)
{
	char	path[QID_LEN + 8];

	if (rcptstate_path(qid, path, sizeof(path)) != 0)
		return (-1);
	if (spool_unlinkat(spool_dir, path) == -1 && errno != ENOENT)
		return (-1);
	return (0);
}

/*
 * Call cb(arg, time, rcpt, status-word, detail) for every complete line
 * of state/<qid>, in order, including statuses rcptstate_read() does not
 * know (delivery's `sent <mailbox>`); detail is "" when there is none.
 * 0 (also when there is no state file), or -1 with errno.
 */
int
rcptstate_scan(const char *spool_dir, const char *qid,
    void (*cb)(void *, time_t, size_t, const char *, const char *),
    void *arg)
{
	char	 path[QID_LEN + 8], line[RCPTSTATE_LINE_MAX], *word, *detail;
	size_t	 len, n;
	time_t	 t;
	FILE	*f;
	int	 fd, skip = 0;

	if (rcptstate_path(qid, path, sizeof(path)) != 0)
		return (-1);
	if ((fd = spool_openat(spool_dir, path, O_RDONLY, 0)) == -1)
		return (errno == ENOENT ? 0 : -1);
	if ((f = fdopen(fd, "r")) == NULL) {
		close(fd);
		return (-1);
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		len = strlen(line);
		if (len == 0 || line[len - 1] != '\n') {
			/* Too long (skip to its end), or torn (the end). */
			skip = 1;
			continue;
		}
		line[len - 1] = '\0';
		if (!skip && rcptstate_parse_line(line, &t, &n, &word,
		    &detail) == 0)
			cb(arg, t, n, word, detail);
		skip = 0;
	}
	fclose(f);
	return (0);
}

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
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "mxd.h"

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

/* Sort queue file names: queue IDs sort by arrival. */
static int
maildrop_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/* The queue IDs in queue/, sorted; NULL with errno if it cannot be read. */
static char **
maildrop_names(const char *spool_dir, size_t *n)
{
	struct dirent	*de;
	char		**names = NULL;
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
		names = xreallocarray(names, *n + 1, sizeof(*names));
		de->d_name[QID_LEN] = '\0';
		names[(*n)++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (*n > 0)
		qsort(names, *n, sizeof(*names), maildrop_cmp);
	else
		names = xcalloc(1, sizeof(*names));
	return (names);
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
	if ((names = maildrop_names(spool_dir, &n)) == NULL)
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
	    rcptstate_done(rs, e.nrcpt) &&
	    queue_delete(md->spool_dir, m->qid) != 0 && errno != ENOENT) {
		log_warn("spool: qid=%s cannot remove it", m->qid);
		rc = -1;
	}
	free(rs);
	envelope_free(&e);
	return (rc);
}

/*
 * Commit the deletions marked in md (RFC 1939 6, the UPDATE state):
 * *removed counts the messages removed from the maildrop.  0, or -1 if
 * some could not be removed (they stay, for another try).
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

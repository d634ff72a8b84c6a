/*
 * maildir.c: delivery into a Maildir (the qmail convention, as Dovecot
 * and Courier read it).  In: a message (a header to prepend, then the
 * spool file from Received: on) and a target `maildir:/path/%d/%u`.
 * Out: the message in <dir>/new/, or a temporary failure with why.  The
 * steps: create tmp/ new/ cur/ if missing (0700); write the message,
 * with LF line ends as Maildir readers expect, to a new file in tmp/
 * (O_CREAT|O_EXCL), fsync it; link(2) it into new/
 * (which never replaces a file: EEXIST means another name); fsync new/;
 * unlink the tmp/ name.  cur/ is never touched.  A crash before the
 * link leaves only a file in tmp/, and one between the link and the
 * unlink a second name of the file in new/; Maildir readers ignore
 * tmp/, and each delivery removes tmp/ files 36 hours old (the
 * convention; Dovecot and Courier's maildrop do the same).  A pattern ending in a Maildir++ folder,
 * maildir:/var/mail/%d/%u/.Lists, delivers into that folder.  Runs on
 * runner.c's worker threads, never on the event loop (fsync).
 */
#include <sys/stat.h>
#include <sys/time.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deliver.h"

/* A tmp/ file neither read nor written for this long is stale. */
#define MAILDIR_TMP_STALE	(36 * 60 * 60)

static unsigned	maildir_seq;	/* Q<n> of the unique name */

/*
 * Put one address part into a path component: ASCII letters in lower
 * case; '/' and control octets become '_', and so does a leading '.',
 * so a local part can never make `..`, a hidden name or a new directory.
 */
static size_t
maildir_part(const char *s, size_t len, char *out, size_t outlen)
{
	size_t	i, o = 0;
	int	ch;

	for (i = 0; i < len && o + 1 < outlen; i++) {
		ch = (unsigned char)s[i];
		if (ch >= 'A' && ch <= 'Z')
			ch += 'a' - 'A';
		if (ch == '/' || ch < 0x20 || ch == 0x7f || (o == 0 &&
		    ch == '.'))
			ch = '_';
		out[o++] = (char)ch;
	}
	if (o == 0 && o + 1 < outlen)
		out[o++] = '_';
	out[o] = '\0';
	return (o);
}

/*
 * The directory for addr from a `maildir:` pattern: %d the domain, %u
 * the local part (each through maildir_part), %% a '%'.  The local part
 * loses its +tag if delim names the tag's first character.  0, or -1 if
 * the result does not fit or the pattern is not an absolute path.
 */
int
maildir_path(const char *pattern, const char *addr, const char *delim,
    char *buf, size_t len)
{
	const char	*at = strrchr(addr, '@'), *p;
	char		 part[SMTP_PATH_MAX + 1];
	size_t		 o = 0, ulen, dlen;

	ulen = at != NULL ? (size_t)(at - addr) : strlen(addr);
	dlen = at != NULL ? strlen(at + 1) : 0;
	if (delim != NULL && delim[0] != '\0' && ulen > 1) {
		for (p = addr + 1; p < addr + ulen; p++)
			if (strchr(delim, *p) != NULL) {
				ulen = (size_t)(p - addr);
				break;
			}
	}
	if (pattern[0] != '/')
		return (-1);
	for (p = pattern; *p != '\0'; p++) {
		part[0] = *p;
		part[1] = '\0';
		if (*p == '%' && p[1] == 'u') {
			maildir_part(addr, ulen, part, sizeof(part));
			p++;
		} else if (*p == '%' && p[1] == 'd') {
			maildir_part(at != NULL ? at + 1 : "", dlen, part,
			    sizeof(part));
			p++;
		} else if (*p == '%' && p[1] == '%')
			p++;
		if (o + strlen(part) + 1 > len)
			return (-1);
		memcpy(buf + o, part, strlen(part) + 1);
		o += strlen(part);
	}
	return (0);
}

/* mkdir -p dir with mode 0700; 0, or -1 with errno. */
static int
maildir_mkdirs(const char *dir)
{
	char	 tmp[PATH_MAX], *p;

	if (strlen(dir) >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	strcpy(tmp, dir);
	for (p = tmp + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) == -1 && errno != EEXIST)
			return (-1);
		*p = '/';
	}
	if (mkdir(tmp, 0700) == -1 && errno != EEXIST)
		return (-1);
	return (0);
}

/*
 * Make dir and its tmp/ new/ cur/; a Maildir++ folder (a last component
 * such as .Lists) also gets its `maildirfolder` file.  0, or -1 with
 * errno.
 */
static int
maildir_make(const char *dir)
{
	static const char *const subs[] = { "tmp", "new", "cur" };
	const char		*base = strrchr(dir, '/');
	char			 path[PATH_MAX];
	size_t			 i;
	int			 fd;

	if (maildir_mkdirs(dir) != 0)
		return (-1);
	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, subs[i]);
		if (mkdir(path, 0700) == -1 && errno != EEXIST)
			return (-1);
	}
	if (base != NULL && base[1] == '.') {
		snprintf(path, sizeof(path), "%s/maildirfolder", dir);
		if ((fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) ==
		    -1)
			return (-1);
		close(fd);
	}
	return (0);
}

/* A unique name: time.M<usec>P<pid>Q<n>.<host> (,S=<size> in new/). */
static void
maildir_name(char *buf, size_t len, const char *host)
{
	struct timeval	tv;
	char		h[256];
	size_t		i;

	gettimeofday(&tv, NULL);
	/* '/' and ':' cannot be in the host part. */
	for (i = 0; host[i] != '\0' && i < sizeof(h) - 1; i++)
		h[i] = host[i] == '/' || host[i] == ':' ? '_' : host[i];
	h[i] = '\0';
	snprintf(buf, len, "%lld.M%06ldP%ldQ%u.%s", (long long)tv.tv_sec,
	    (long)tv.tv_usec, (long)getpid(),
	    __atomic_add_fetch(&maildir_seq, 1, __ATOMIC_RELAXED), h);
}

/*
 * Copy len octets of in to out with each CRLF made LF, as Maildir
 * readers expect (Postfix and Dovecot store LF); *cr carries a CR that
 * ended the previous piece.  The length written to out.
 */
static size_t
maildir_lf(const char *in, size_t len, char *out, int *cr)
{
	size_t	i, o = 0;

	for (i = 0; i < len; i++) {
		if (*cr && in[i] != '\n')
			out[o++] = '\r';
		*cr = in[i] == '\r';
		if (!*cr)
			out[o++] = in[i];
	}
	return (o);
}

/* Write all of buf to fd; 0, or -1 with errno.  Worker threads only. */
int
dl_write_all(int fd, const char *buf, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		buf += n;
		len -= (size_t)n;
	}
	return (0);
}

/*
 * Write hdr and the message to fd with LF line ends, then fsync; 0, or
 * -1 with errno.
 */
static int
maildir_write(int fd, const struct dl_msg *m, const char *hdr)
{
	char	 buf[65536], out[65536 + 1];
	off_t	 off = m->off;
	size_t	 o;
	ssize_t	 n;
	int	 cr = 0;

	o = maildir_lf(hdr, strlen(hdr), out, &cr);
	if (dl_write_all(fd, out, o) != 0)
		return (-1);
	while ((n = pread(m->fd, buf, sizeof(buf), off)) > 0) {
		off += n;
		o = maildir_lf(buf, (size_t)n, out, &cr);
		if (dl_write_all(fd, out, o) != 0)
			return (-1);
	}
	if (n == -1 || (cr && dl_write_all(fd, "\r", 1) != 0))
		return (-1);
	return (fsync(fd));
}

/* fsync a directory; 0, or -1 with errno. */
static int
maildir_sync_dir(const char *dir)
{
	int	fd, rc;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return (-1);
	rc = fsync(fd);
	close(fd);
	return (rc);
}

/* Say that delivery to b failed for now, because of what (errno). */
static void
maildir_fail(struct dl_box *b, const char *what, const char *path)
{
	int	err = errno;

	b->code = 451;
	snprintf(b->dsn, sizeof(b->dsn), "%s", err == ENOSPC ||
	    err == EDQUOT ? "4.2.2" : "4.3.0");
	snprintf(b->reason, sizeof(b->reason), "maildir: %s %s: %s", what,
	    path, strerror(err));
}

/*
 * Remove the files in dir/tmp/ that nobody has read or written for 36
 * hours: what a crash left there, ours or another writer's (the Maildir
 * convention lets any program that uses the Maildir do it).  A file
 * being written is younger; one still linked into new/ only loses its
 * tmp/ name.
 */
static void
maildir_clean_tmp(const char *dir)
{
	struct dirent	*de;
	struct stat	 st;
	char		 path[PATH_MAX];
	time_t		 old = time(NULL) - MAILDIR_TMP_STALE;
	DIR		*d;

	snprintf(path, sizeof(path), "%s/tmp", dir);
	if ((d = opendir(path)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		if (S_ISREG(st.st_mode) && st.st_mtime < old &&
		    st.st_atime < old)
			(void)unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

/* Deliver m with hdr into the Maildir dir, for box b. */
void
maildir_deliver(const char *dir, const struct dl_msg *m, const char *hdr,
    struct dl_box *b)
{
	struct stat	st;
	char		name[512], tmp[PATH_MAX], new[PATH_MAX];
	int		fd, tries;

	if (maildir_make(dir) != 0) {
		maildir_fail(b, "cannot create", dir);
		return;
	}
	maildir_clean_tmp(dir);
	maildir_name(name, sizeof(name), m->hostname);
	snprintf(tmp, sizeof(tmp), "%s/tmp/%s", dir, name);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1) {
		maildir_fail(b, "cannot create", tmp);
		return;
	}
	if (maildir_write(fd, m, hdr) != 0 || fstat(fd, &st) != 0) {
		maildir_fail(b, "cannot write", tmp);
		close(fd);
		unlink(tmp);
		return;
	}
	close(fd);
	/* ,S=<size>: Dovecot reads the size from the name. */
	for (tries = 0; ; tries++) {
		snprintf(new, sizeof(new), "%s/new/%s,S=%lld", dir, name,
		    (long long)st.st_size);
		if (link(tmp, new) == 0)
			break;
		if (errno != EEXIST || tries == 10) {
			maildir_fail(b, "cannot link into", new);
			unlink(tmp);
			return;
		}
		maildir_name(name, sizeof(name), m->hostname);
	}
	snprintf(new, sizeof(new), "%s/new", dir);
	if (maildir_sync_dir(new) != 0) {
		maildir_fail(b, "cannot sync", new);
		unlink(tmp);
		return;
	}
	unlink(tmp);
	b->code = 250;
	snprintf(b->dsn, sizeof(b->dsn), "2.0.0");
	snprintf(b->reason, sizeof(b->reason), "delivered to maildir");
}

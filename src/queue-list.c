/*
 * queue-list.c: `mxd -q`, the mailq of mxd.  It reads the envelope block
 * at the top of each queue/<QID>.eml (see doc/spool.md) and prints one
 * entry per message, oldest first: queue ID, size, arrival time, sender,
 * then the recipients.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mxd.h"

/* One message's envelope, as read back from its file. */
struct queue_entry {
	char		 qid[QID_LEN + 1];
	off_t		 size;
	char		 arrival[32];
	char		 sender[SMTP_PATH_MAX * 3];
	char		*rcpts;		/* one per line */
};

/* Strip a header name; return its value or NULL if it is not `name`. */
static const char *
queue_field(const char *line, const char *name)
{
	size_t	n = strlen(name);

	if (strncmp(line, name, n) != 0 || line[n] != ':')
		return (NULL);
	line += n + 1;
	while (*line == ' ')
		line++;
	return (line);
}

/* Read the envelope block of one message; 0 or -1. */
static int
queue_read(int dirfd, const char *name, struct queue_entry *e)
{
	char		 line[SMTP_PATH_MAX * 3 + 64], dec[SMTP_PATH_MAX * 3];
	const char	*v;
	struct stat	 st;
	size_t		 len = 0, n;
	FILE		*f;
	int		 fd;

	memset(e, 0, sizeof(*e));
	if ((fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC)) == -1)
		return (-1);
	if (fstat(fd, &st) == -1 || (f = fdopen(fd, "r")) == NULL) {
		close(fd);
		return (-1);
	}
	e->size = st.st_size;
	snprintf(e->qid, sizeof(e->qid), "%.*s", QID_LEN, name);
	while (fgets(line, sizeof(line), f) != NULL &&
	    strncmp(line, "X-Mxd-", 6) == 0) {
		line[strcspn(line, "\r\n")] = '\0';
		if ((v = queue_field(line, "X-Mxd-Arrival")) != NULL)
			snprintf(e->arrival, sizeof(e->arrival), "%s", v);
		else if ((v = queue_field(line, "X-Mxd-Sender")) != NULL) {
			xtext_decode(v, dec, sizeof(dec));
			snprintf(e->sender, sizeof(e->sender), "%s", dec);
		} else if ((v = queue_field(line, "X-Mxd-Recipient")) != NULL) {
			n = xtext_decode(v, dec, sizeof(dec));
			e->rcpts = xreallocarray(e->rcpts, len + n + 2, 1);
			memcpy(e->rcpts + len, dec, n);
			len += n;
			e->rcpts[len++] = '\n';
			e->rcpts[len] = '\0';
		}
	}
	fclose(f);
	return (0);
}

/* Sort queue file names: queue IDs sort by arrival. */
static int
queue_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/* Print the queue under spool_dir to f; returns the exit status. */
int
spool_list(const char *spool_dir, FILE *f)
{
	struct queue_entry	 e;
	struct dirent		*de;
	char			 path[4096], **names = NULL, *r, *nl;
	size_t			 n = 0, i, shown = 0;
	long long		 total = 0;
	DIR			*d;

	snprintf(path, sizeof(path), "%s/queue", spool_dir);
	if ((d = opendir(path)) == NULL) {
		fprintf(stderr, "mxd: no spool at %s (%s: %s).\n"
		    "mxd -q reads the spool_dir of the configuration: run it "
		    "from the directory mxd was started in, or name the spool "
		    "with -c FILE or -o spool_dir=DIR.\n", spool_dir, path,
		    strerror(errno));
		return (1);
	}
	while ((de = readdir(d)) != NULL) {
		if (strlen(de->d_name) != QID_LEN + 4 ||
		    strcmp(de->d_name + QID_LEN, ".eml") != 0)
			continue;
		names = xreallocarray(names, n + 1, sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	if (n > 0)
		qsort(names, n, sizeof(*names), queue_cmp);
	if (n == 0)
		fprintf(f, "Mail queue is empty\n");
	else
		fprintf(f, "%-16s %10s  %-20s  %s\n", "Queue ID", "Size",
		    "Arrival (UTC)", "Sender / Recipients");
	for (i = 0; i < n; i++) {
		if (queue_read(dirfd(d), names[i], &e) == 0) {
			shown++;
			total += e.size;
			fprintf(f, "%-16s %10lld  %-20s  %s\n", e.qid,
			    (long long)e.size, e.arrival, e.sender);
			for (r = e.rcpts; r != NULL && *r != '\0'; r = nl + 1) {
				nl = strchr(r, '\n');
				fprintf(f, "%51s%.*s\n", "", (int)(nl - r), r);
			}
			free(e.rcpts);
		}
		free(names[i]);
	}
	if (n > 0)
		fprintf(f, "-- %lld KiB in %zu message%s.\n",
		    (total + 1023) / 1024, shown, shown == 1 ? "" : "s");
	free(names);
	closedir(d);
	return (0);
}

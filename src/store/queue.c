/*
 * queue.c: the accepted messages, queue/<QID>.eml, as readers see them.
 * Today `mxd -q`, the mailq of mxd: it reads the envelope block of each
 * message (envelope.c) and prints one entry per message, oldest first:
 * queue ID, size, arrival time, sender, then the recipients.  Readers
 * never take the spool's lock; they work beside a running mxd.
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

/*
 * Read the envelope of queue/<name> into e (envelope_free it) and its
 * size in octets; 0 or -1.
 */
static int
queue_read(int dirfd, const char *name, struct envelope *e, off_t *size)
{
	struct stat	 st;
	FILE		*f;
	int		 fd, rc;

	if ((fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC)) == -1)
		return (-1);
	if (fstat(fd, &st) == -1 || (f = fdopen(fd, "r")) == NULL) {
		close(fd);
		return (-1);
	}
	*size = st.st_size;
	rc = envelope_read(f, e);
	fclose(f);
	return (rc);
}

/* Sort queue file names: queue IDs sort by arrival. */
static int
queue_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/* Print the queue under spool_dir to f; returns the exit status. */
int
queue_list(const char *spool_dir, FILE *f)
{
	struct envelope		 e;
	struct dirent		*de;
	char			 path[4096], **names = NULL;
	size_t			 n = 0, i, j, shown = 0;
	off_t			 size;
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
		if (queue_read(dirfd(d), names[i], &e, &size) == 0) {
			shown++;
			total += size;
			fprintf(f, "%-16s %10lld  %-20s  <%s>\n", e.qid,
			    (long long)size, e.arrival, e.sender);
			for (j = 0; j < e.nrcpt; j++)
				fprintf(f, "%51s<%s>\n", "", e.rcpt[j]);
			envelope_free(&e);
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

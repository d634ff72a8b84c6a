/*
 * test_queue.c: the queue as readers see it (store/queue.c): a message
 * opens with its envelope and the stream at its Received: field; an ID
 * that is not a queue ID never names a file (traversal); delete removes
 * exactly one message; watchers hear of each commit and can leave.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "mxd.h"
#include "tap.h"

static char	spool[64];
static int	heard;
static char	last[QID_LEN + 1];

/* Put a message with this queue ID into queue/. */
static void
put(const char *qid)
{
	struct evbuffer	*b = evbuffer_new();
	struct envelope	 e;
	char		 path[128], *rcpt[] = { "b@example.org" };
	FILE		*f;

	memset(&e, 0, sizeof(e));
	snprintf(e.qid, sizeof(e.qid), "%s", qid);
	snprintf(e.arrival, sizeof(e.arrival), "2026-11-29T00:00:00Z");
	snprintf(e.client_addr, sizeof(e.client_addr), "127.0.0.1");
	snprintf(e.sender, sizeof(e.sender), "a@example.com");
	e.rcpt = rcpt;
	e.nrcpt = 1;
	envelope_write(b, &e);
	evbuffer_add_printf(b, "Received: from x\r\n\r\nhello\r\n");
	snprintf(path, sizeof(path), "%s/queue/%s.eml", spool, qid);
	f = fopen(path, "w");
	evbuffer_write(b, fileno(f));
	fclose(f);
	evbuffer_free(b);
}

/* A watcher: count and remember. */
static void
watcher(const char *qid, void *arg)
{
	heard += *(int *)arg;
	snprintf(last, sizeof(last), "%s", qid);
}

int
main(void)
{
	struct envelope	 e;
	char		 line[64], path[128];
	FILE		*f;
	int		 one = 1, ten = 10;

	snprintf(spool, sizeof(spool), "/tmp/mxd-test-queue.XXXXXX");
	if (mkdtemp(spool) == NULL)
		return (1);
	snprintf(path, sizeof(path), "%s/queue", spool);
	mkdir(path, 0700);
	put("660EA91A6BE039EA");
	put("660EA91A6BE039EB");

	f = queue_open(spool, "660EA91A6BE039EA", &e);
	ok(f != NULL, "a message opens");
	if (f != NULL) {
		is_str(e.sender, "a@example.com", "with its envelope");
		ok(fgets(line, sizeof(line), f) != NULL &&
		    strcmp(line, "Received: from x\r\n") == 0,
		    "the stream stands at the Received: field");
		fclose(f);
		envelope_free(&e);
	}
	errno = 0;
	ok(queue_open(spool, "../queue/660EA91A6BE039EA", &e) == NULL &&
	    errno == EINVAL, "a path is not a queue ID (EINVAL)");
	ok(queue_open(spool, "660ea91a6be039ea", &e) == NULL &&
	    errno == EINVAL, "lower case is not a queue ID");
	ok(queue_open(spool, "0000000000000000", &e) == NULL &&
	    errno == ENOENT, "no such message: ENOENT");
	ok(queue_delete(spool, "../lock") == -1 && errno == EINVAL,
	    "delete refuses a path");
	ok(queue_delete(spool, "660EA91A6BE039EA") == 0, "delete one");
	ok(queue_open(spool, "660EA91A6BE039EA", &e) == NULL &&
	    errno == ENOENT, "it is gone");
	f = queue_open(spool, "660EA91A6BE039EB", &e);
	ok(f != NULL, "the other one is still there");
	if (f != NULL) {
		fclose(f);
		envelope_free(&e);
	}

	queue_watch(watcher, &one);
	queue_watch(watcher, &ten);
	queue_committed("660EA91A6BE039EC");
	ok(heard == 11, "both watchers heard the commit (%d)", heard);
	is_str(last, "660EA91A6BE039EC", "with its queue ID");
	queue_unwatch(watcher, &ten);
	queue_committed("660EA91A6BE039ED");
	ok(heard == 12, "an unwatched watcher hears no more (%d)", heard);
	queue_unwatch(watcher, &one);

	queue_delete(spool, "660EA91A6BE039EB");
	rmdir(path);
	rmdir(spool);
	return (tap_done());
}

/*
 * index.c: the message index, spool_dir/index.sqlite (SQLite, WAL): one
 * row per queued message with what a listing and a search need, the
 * envelope recipients, and an FTS5 trigram table of the free text (it
 * answers LIKE '%word%' from its index).  In: commit and removal notices
 * from queue.c.  Out: the index file, kept in step with queue/ and
 * within retention, and a notice on the loop once committed messages
 * are visible.
 *
 * The spool is the truth.  Two threads do all parsing and writing.  The
 * parser, at the least CPU priority (nice 19: when intake and indexing
 * compete for the CPU, intake wins and the index catches up after), takes
 * the commit notices (the loop only hands it the queue ID), reads each
 * message with GMime, and hands batches to the writer; a batch is all
 * that waits, up to INDEX_BATCH, so batches grow when the index is
 * behind.  The writer, at normal priority (it holds the write lock the
 * loop may wait for), writes each time all the batches that wait in one
 * transaction with statements prepared once, then tells the loop through
 * a pipe.  At start it reconciles the index with queue/ (hands the
 * parser files it lacks, drops rows whose file is gone), and again after
 * notices were lost: a transaction that failed (the index locked, the
 * disk full), or more than INDEX_JOBS_MAX notices waiting (a sustained
 * overload; what waits is bounded).  A file that is corrupt, of another
 * schema or not SQLite is removed and rebuilt.  The loop reads on its own
 * connection (WAL lets the writer go on), and writes only small things:
 * read flags, and the row of a message the API removed (after its file: a
 * crash in between leaves a row the next start drops, never a file
 * without a row).
 * The loop's reads (list, get, search, counts) are in query.c.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "store/index.h"

#define INDEX_FILE	"index.sqlite"
#define INDEX_SCHEMA	"4"
#define INDEX_BATCH	1024		/* messages per batch, at most */
#define INDEX_BATCH_TEXT (4 << 20)	/* octets of search text per batch */
#define INDEX_AHEAD	2		/* batches parsed ahead of the writer */
#define INDEX_JOBS_MAX	100000		/* notices waiting; past it, reconcile */
#define INDEX_BUSY_MS	5000		/* the loop's wait for the write lock */
#define INDEX_WBUSY_MS	1000		/* the writer's */
#define INDEX_RETRY_MAX	60		/* seconds between reconciles, at most */
#define INDEX_NICE	19		/* the parser's nice value */

/* The schema; a change of it changes INDEX_SCHEMA (rebuild). */
static const char index_schema[] =
	"CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS msg("
	" qid TEXT NOT NULL UNIQUE,"
	" msgid TEXT NOT NULL, subject TEXT NOT NULL,"
	" from_j TEXT NOT NULL, to_j TEXT NOT NULL, cc_j TEXT NOT NULL,"
	" bcc_j TEXT NOT NULL, replyto_j TEXT NOT NULL,"
	" snippet TEXT NOT NULL, sender TEXT NOT NULL,"
	" username TEXT NOT NULL, size INTEGER NOT NULL,"
	" attachments INTEGER NOT NULL, inlines INTEGER NOT NULL,"
	" read INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX IF NOT EXISTS msg_read ON msg(read, qid);"
	"CREATE TABLE IF NOT EXISTS rcpt(msg INTEGER NOT NULL,"
	" addr TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS rcpt_msg ON rcpt(msg);"
	"CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(body,"
	" tokenize='trigram');"
	/*
	 * The word index over the same text, and its vocabulary (words.c).
	 * Its text is fts's (external content: stored once).
	 */
	"CREATE VIRTUAL TABLE IF NOT EXISTS words USING fts5(body,"
	" content='fts', content_rowid='rowid',"
	" tokenize='unicode61 remove_diacritics 0', detail=none);"
	"CREATE VIRTUAL TABLE IF NOT EXISTS words_v USING"
	" fts5vocab(words, 'row');"
	"CREATE TABLE IF NOT EXISTS vocab(id INTEGER PRIMARY KEY,"
	" term TEXT NOT NULL UNIQUE);"
	"CREATE VIRTUAL TABLE IF NOT EXISTS vocab_tri USING fts5(term,"
	" tokenize='trigram');"
	"CREATE TABLE IF NOT EXISTS tag(msg INTEGER NOT NULL,"
	" name TEXT NOT NULL, UNIQUE (msg, name));"
	"CREATE INDEX IF NOT EXISTS tag_name ON tag(name);"
	"CREATE TRIGGER IF NOT EXISTS msg_gone AFTER DELETE ON msg BEGIN"
	" INSERT INTO words(words, rowid, body) SELECT 'delete', rowid,"
	" body FROM fts WHERE rowid = old.rowid;"
	" DELETE FROM fts WHERE rowid = old.rowid;"
	" DELETE FROM rcpt WHERE msg = old.rowid;"
	" DELETE FROM tag WHERE msg = old.rowid;"
	" UPDATE stat SET total = total - 1, unread = unread -"
	" (old.read = 0), gone = gone + 1; END;"
	/*
	 * The counts a listing shows, kept by triggers in one row so that
	 * no request counts msg (query.c, index_counts).
	 */
	"CREATE TABLE IF NOT EXISTS stat(one INTEGER PRIMARY KEY"
	" CHECK (one = 1), total INTEGER NOT NULL, unread INTEGER NOT NULL,"
	" gone INTEGER NOT NULL);"	/* deletions since words_sweep */
	"INSERT OR IGNORE INTO stat VALUES (1, 0, 0, 0);"
	"CREATE TRIGGER IF NOT EXISTS msg_new AFTER INSERT ON msg BEGIN"
	" UPDATE stat SET total = total + 1, unread = unread +"
	" (new.read = 0); END;"
	"CREATE TRIGGER IF NOT EXISTS msg_flag AFTER UPDATE OF read ON msg"
	" BEGIN UPDATE stat SET unread = unread + (new.read = 0) -"
	" (old.read = 0); END;"
	"INSERT OR IGNORE INTO meta VALUES ('schema', '" INDEX_SCHEMA "');";

/* A job for the parser: index or drop one message. */
struct index_job {
	char	qid[QID_LEN + 1];
	int	drop;
};

/* A job done by the parser, waiting for the writer's transaction. */
struct index_parsed {
	char		 qid[QID_LEN + 1];
	int		 drop;		/* a removal: no row to insert */
	int		 ok;		/* parsed: env, mm and size are set */
	struct envelope	 env;
	struct mime_msg	 mm;
	char		*lists[5];	/* From, To, Cc, Bcc, Reply-To: JSON */
	long long	 size;
};

/* A batch of parsed jobs, handed from the parser to the writer. */
struct index_batch {
	struct index_parsed	*p;
	size_t			 n;
	struct index_batch	*next;
};

/* The writer's connection and its statements, prepared once. */
struct index_writer {
	sqlite3		*db;
	sqlite3_stmt	*msg;		/* INSERT OR IGNORE INTO msg */
	sqlite3_stmt	*fts;
	sqlite3_stmt	*rcpt;
	sqlite3_stmt	*tag;
	sqlite3_stmt	*drop;
	struct words	*words;		/* the word index (words.c) */
	int		 failed;	/* roll this transaction back */
};

struct index_watcher {
	void			(*cb)(const char *, void *);
	void			*arg;
	struct index_watcher	*next;
};

static sqlite3			*index_db;	/* the loop's */
static char			*index_spool;
static char			*index_path;
static pthread_t		 index_parser;
static pthread_t		 index_writer;
static pthread_mutex_t		 index_lock = PTHREAD_MUTEX_INITIALIZER;
/* Under index_lock: */
static pthread_cond_t		 index_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t		 index_wcond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t		 index_room = PTHREAD_COND_INITIALIZER;
static struct index_job		*index_jobs;	/* for the parser */
static size_t			 index_njobs;
static size_t			 index_jobcap;
static int			 index_parsing;	/* the parser holds jobs */
static struct index_batch	*index_batches;	/* for the writer */
static struct index_batch	**index_btail = &index_batches;
static size_t			 index_nbatches;
static int			 index_lost;	/* notices lost: reconcile */
static struct timespec		 index_retry;	/* not before then */
static char			(*index_seen)[QID_LEN + 1];	/* visible */
static size_t			 index_nseen;
static int			 index_stopping;
static unsigned			 index_nawaited;	/* index_awaited() */
/* The loop's: */
static int			 index_running;
static int			 index_pipe[2] = { -1, -1 };
static struct event		*index_ev;
static struct index_watcher	*index_watchers;
static pthread_t		 index_loop;	/* the event loop's thread */
static char			**index_msgs;	/* threads' log lines */
static size_t			 index_nmsgs;
static char			(*index_gone)[QID_LEN + 1];	/* pruned */
static size_t			 index_ngone;
static long long		 index_max;	/* sink_max_messages */
static long long		 index_max_size;	/* sink_max_size */

/*
 * Log a warning (warn 1) or an info line.  log.c is the loop's: on the
 * thread the line is queued and the loop logs it (index_seen_cb).
 */
static void __attribute__((format(printf, 2, 3)))
index_log(int warn, const char *fmt, ...)
{
	va_list	 ap;
	char	*line;

	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) == -1)
		line = NULL;
	va_end(ap);
	if (line == NULL)
		return;
	if (!index_running || pthread_equal(pthread_self(), index_loop)) {
		if (warn)
			log_warnx("%s", line);
		else
			log_info("%s", line);
		free(line);
		return;
	}
	/* A leading '!' marks a warning for the loop. */
	pthread_mutex_lock(&index_lock);
	index_msgs = xreallocarray(index_msgs, index_nmsgs + 1,
	    sizeof(*index_msgs));
	xasprintf(&index_msgs[index_nmsgs++], "%c%s", warn ? '!' : ' ', line);
	free(line);
	pthread_mutex_unlock(&index_lock);
	(void)!write(index_pipe[1], "", 1);
}

/* Run SQL without results on db; 0 or -1 (logged). */
static int
index_exec(sqlite3 *db, const char *sql)
{
	char	*err = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		index_log(1, "index: %s", err != NULL ? err :
		    sqlite3_errmsg(db));
		sqlite3_free(err);
		return (-1);
	}
	return (0);
}

/* Open path read-write with the settings every connection uses. */
static sqlite3 *
index_connect(const char *path)
{
	sqlite3	*db = NULL;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return (NULL);
	}
	sqlite3_busy_timeout(db, INDEX_BUSY_MS);
	return (db);
}

/*
 * Is the file at db sound and of our schema: quick_check says ok, and
 * meta's schema is INDEX_SCHEMA or the file is new?  NULL if so, else
 * why not (static).
 */
static const char *
index_unsound(sqlite3 *db)
{
	sqlite3_stmt	*st;
	const char	*why = NULL;
	int		 rc;

	if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st,
	    NULL) != SQLITE_OK)
		return ("not a database");
	if (sqlite3_step(st) != SQLITE_ROW || strcmp((const char *)
	    sqlite3_column_text(st, 0), "ok") != 0)
		why = "quick_check failed";
	sqlite3_finalize(st);
	if (why != NULL)
		return (why);
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master",
	    -1, &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		return ("unreadable");
	}
	rc = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (rc == 0)
		return (NULL);		/* a new file */
	if (sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k = 'schema'",
	    -1, &st, NULL) != SQLITE_OK)
		return ("no schema version");
	if (sqlite3_step(st) != SQLITE_ROW || strcmp((const char *)
	    sqlite3_column_text(st, 0), INDEX_SCHEMA) != 0)
		why = "another schema version";
	sqlite3_finalize(st);
	return (why);
}

/* Remove the index file and its WAL and shared-memory files. */
static void
index_remove_files(const char *path)
{
	char	p[PATH_MAX];

	(void)unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	(void)unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	(void)unlink(p);
}

/*
 * Open the index at path, checked, with the schema in place; a file that
 * is not sound is removed and made anew.  The connection, or NULL with
 * *cause.
 */
static sqlite3 *
index_open(const char *path, char **cause)
{
	sqlite3		*db;
	const char	*why;
	int		 tries;

	for (tries = 0; tries < 2; tries++) {
		if ((db = index_connect(path)) == NULL)
			why = access(path, F_OK) == 0 || errno == ENOENT ?
			    "cannot open or create it" : strerror(errno);
		else if ((why = index_unsound(db)) == NULL &&
		    index_exec(db, "PRAGMA journal_mode=WAL;"
		    "PRAGMA synchronous=NORMAL;") == 0 &&
		    index_exec(db, index_schema) == 0)
			return (db);
		else if (why == NULL)
			why = "cannot create the schema";
		sqlite3_close(db);
		index_log(1, "index: %s: %s; rebuilding it from the queue",
		    path, why);
		index_remove_files(path);
	}
	xasprintf(cause, "index %s: %s", path, why);
	return (NULL);
}

/* Prepare sql on db or die: the SQL is ours, a failure is a bug. */
static sqlite3_stmt *
index_prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt	*st;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		index_log(1, "index: %s: %s", sqlite3_errmsg(db), sql);
		return (NULL);
	}
	return (st);
}

/* A JSON value as compact text (free it). */
static char *
index_json(json_t *v)
{
	char	*s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	return (s != NULL ? s : xstrdup("[]"));
}

/*
 * Parser: read queue/<qid>.eml into p: its envelope, what the index
 * keeps of the message (mime_read_index) and its size; p->ok unless it
 * is gone or unreadable.
 */
static void
index_parse(const char *qid, struct index_parsed *p)
{
	struct stat	 sb;
	FILE		*f;

	memset(p, 0, sizeof(*p));
	snprintf(p->qid, sizeof(p->qid), "%s", qid);
	if ((f = queue_open(index_spool, qid, &p->env)) == NULL) {
		if (errno != ENOENT)
			index_log(1, "index: qid=%s: %s", qid, strerror(errno));
		return;
	}
	p->size = fstat(fileno(f), &sb) == 0 ? sb.st_size - ftello(f) : 0;
	if (mime_read_index(f, &p->mm) != 0) {
		index_log(1, "index: qid=%s: no message", qid);
		envelope_free(&p->env);
		fclose(f);
		return;
	}
	mime_add_blind(&p->mm, &p->env);
	fclose(f);
	/* JSON text here too: the writer's work is SQLite only. */
	p->lists[0] = index_json(p->mm.from);
	p->lists[1] = index_json(p->mm.to);
	p->lists[2] = index_json(p->mm.cc);
	p->lists[3] = index_json(p->mm.bcc);
	p->lists[4] = index_json(p->mm.reply_to);
	p->ok = 1;
}

/* Free a batch and the messages it holds. */
static void
index_batch_free(struct index_batch *b)
{
	size_t	i, j;

	for (i = 0; i < b->n; i++)
		if (b->p[i].ok) {
			mime_free(&b->p[i].mm);
			envelope_free(&b->p[i].env);
			for (j = 0; j < 5; j++)
				free(b->p[i].lists[j]);
		}
	free(b->p);
	free(b);
}

/*
 * Parser: hand a batch to the writer, first waiting while INDEX_AHEAD
 * batches wait for it (which bounds the parsed messages held); -1 if
 * mxd stops (the batch is freed).
 */
static int
index_hand(struct index_batch *b)
{
	pthread_mutex_lock(&index_lock);
	while (index_nbatches >= INDEX_AHEAD && !index_stopping)
		pthread_cond_wait(&index_room, &index_lock);
	if (index_stopping) {
		pthread_mutex_unlock(&index_lock);
		index_batch_free(b);
		return (-1);
	}
	*index_btail = b;
	index_btail = &b->next;
	index_nbatches++;
	pthread_cond_signal(&index_wcond);
	pthread_mutex_unlock(&index_lock);
	return (0);
}

/*
 * Parser: do jobs from the start of jobs (n of them) into one batch of
 * at most INDEX_BATCH messages and INDEX_BATCH_TEXT octets of search
 * text, and hand it to the writer.  The jobs done, or 0 if mxd stops.
 */
static size_t
index_parse_batch(const struct index_job *jobs, size_t n)
{
	struct index_batch	*b = xcalloc(1, sizeof(*b));
	struct index_parsed	*p;
	size_t			 text = 0;

	if (n > INDEX_BATCH)
		n = INDEX_BATCH;
	b->p = xcalloc(n, sizeof(*b->p));
	for (; b->n < n && text < INDEX_BATCH_TEXT; b->n++) {
		if (__atomic_load_n(&index_stopping, __ATOMIC_RELAXED))
			break;		/* index_hand frees what is done */
		p = &b->p[b->n];
		if (jobs[b->n].drop) {
			snprintf(p->qid, sizeof(p->qid), "%s", jobs[b->n].qid);
			p->drop = 1;
			continue;
		}
		index_parse(jobs[b->n].qid, p);
		if (p->ok)
			text += strlen(p->mm.search);
	}
	n = b->n;
	return (index_hand(b) == 0 ? n : 0);
}

/*
 * Thread: name it (top -H, /proc/PID/task/TID/comm) and, with low set,
 * give it the least CPU priority, for this thread alone (Linux nice is
 * per thread): when intake and indexing compete for the CPU, intake
 * wins, and the index catches up when intake leaves it time.
 */
static void
index_thread_setup(const char *name, int low)
{
#ifdef __linux__
	(void)pthread_setname_np(pthread_self(), name);
	if (low && setpriority(PRIO_PROCESS, (id_t)gettid(), INDEX_NICE) ==
	    -1)
		index_log(1, "index: setpriority: %s", strerror(errno));
#endif
}

/*
 * After work on n messages at once (a reconcile, a backlog): give the
 * freed memory back to the system.  glibc keeps freed small blocks in
 * each thread's arena, so a reconcile of 1 000 000 queue IDs left mxd at
 * 104 MiB of RSS for good; below INDEX_TRIM_AFTER it is not worth it.
 */
#define INDEX_TRIM_AFTER	10000
static void
index_trim(size_t n)
{
#ifdef __GLIBC__
	if (n >= INDEX_TRIM_AFTER)
		(void)malloc_trim(0);
#endif
}

/*
 * Parser: intake first.  Nice 19 is not enough: the writer, fed by the
 * parser, runs at 0, and together they cost intake 30-40 % of its rate
 * once a flood fills the CPUs.  While intake is flooded (intake.c: 500
 * messages a second or more), wait, and every INDEX_YIELD_MS do
 * INDEX_YIELD_BATCH messages anyway; how many of the n waiting to do
 * now.  Not flooded: all of them, so a message sent alone is visible
 * within milliseconds of its 250, and a flood right after it ends;
 * while a long poll or a live page waits for new messages, the index
 * keeps up whatever intake does.
 */
#define INDEX_YIELD_MS		1000
#define INDEX_YIELD_BATCH	16

/*
 * Is intake flooded and still going (a pause of INTAKE_QUIET_MS ends
 * the wait: a client sending in lock-step with the API), with nobody
 * waiting for the index (index_awaited)?
 */
static int
index_pressed(void)
{
	return (__atomic_load_n(&index_nawaited, __ATOMIC_RELAXED) == 0 &&
	    intake_flooded() && intake_busy());
}

static size_t
index_yield(size_t n, long long *last)
{
	while (intake_defer(index_pressed, last, INDEX_YIELD_MS)) {
		if (__atomic_load_n(&index_stopping, __ATOMIC_RELAXED))
			return (n);
		intake_nap();
	}
	return (n > INDEX_YIELD_BATCH && index_pressed() ?
	    INDEX_YIELD_BATCH : n);
}

/*
 * The parser thread, at the least CPU priority: takes the loop's
 * notices, reads and parses the messages (the larger share of the
 * index's work), and hands them to the writer in batches, larger when
 * it is behind, and smaller while intake is flooded (index_yield).
 */
static void *
index_parser_main(void *arg)
{
	struct index_job	*jobs;
	size_t			 n, i, k;
	long long		 last = 0;

	index_thread_setup("mxd-index", 1);
	pthread_mutex_lock(&index_lock);
	for (;;) {
		while (index_njobs == 0 && !index_stopping)
			pthread_cond_wait(&index_cond, &index_lock);
		if (index_stopping)
			break;
		jobs = index_jobs;
		n = index_njobs;
		index_jobs = NULL;
		index_njobs = index_jobcap = 0;
		index_parsing = 1;
		pthread_mutex_unlock(&index_lock);
		for (i = 0; i < n; i += k)
			if ((k = index_parse_batch(jobs + i,
			    index_yield(n - i, &last))) == 0)
				break;
		free(jobs);
		index_trim(n);
		pthread_mutex_lock(&index_lock);
		index_parsing = 0;
		/* A writer waiting for the parser to idle before a reconcile. */
		pthread_cond_signal(&index_wcond);
	}
	pthread_mutex_unlock(&index_lock);
	return (NULL);
}

/* Bind text to parameter i of st ("" for NULL), kept by the caller. */
static void
index_bind(sqlite3_stmt *st, int i, const char *v)
{
	sqlite3_bind_text(st, i, v != NULL ? v : "", -1, SQLITE_STATIC);
}

/* Run a prepared statement once, then reset it; sqlite3_step's result. */
static int
index_step(sqlite3_stmt *st)
{
	int	rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return (rc);
}

/* Writer: prepare the statements it still lacks; 0, or -1 (logged). */
static int
index_writer_ready(struct index_writer *w)
{
	if (w->msg == NULL)
		w->msg = index_prepare(w->db, "INSERT OR IGNORE INTO msg (qid, "
		    "msgid, subject, from_j, to_j, cc_j, bcc_j, replyto_j, "
		    "snippet, sender, username, size, attachments, inlines, "
		    "rowid, read) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
		    "?, ?, ?, ?)");
	if (w->fts == NULL)
		w->fts = index_prepare(w->db, "INSERT INTO fts (rowid, body) "
		    "VALUES (?, ?)");
	if (w->rcpt == NULL)
		w->rcpt = index_prepare(w->db, "INSERT INTO rcpt (msg, addr) "
		    "VALUES (?, ?)");
	if (w->tag == NULL)
		w->tag = index_prepare(w->db, "INSERT OR IGNORE INTO tag (msg, "
		    "name) VALUES (?, ?)");
	if (w->drop == NULL)
		w->drop = index_prepare(w->db, "DELETE FROM msg WHERE qid = ?");
	if (w->words == NULL && (w->words = words_open(w->db)) == NULL)
		index_log(1, "index: the word index: %s",
		    sqlite3_errmsg(w->db));
	return (w->msg != NULL && w->fts != NULL && w->rcpt != NULL &&
	    w->tag != NULL && w->drop != NULL && w->words != NULL ? 0 : -1);
}

/* Writer: finalize its statements and close its connection. */
static void
index_writer_close(struct index_writer *w)
{
	sqlite3_finalize(w->msg);
	sqlite3_finalize(w->fts);
	sqlite3_finalize(w->rcpt);
	sqlite3_finalize(w->tag);
	sqlite3_finalize(w->drop);
	words_close(w->words);
	sqlite3_close(w->db);
}

/*
 * Writer: the free text, the envelope recipients and the X-Tags of the
 * message in row (in the open transaction); 0 or -1.
 */
static int
index_insert_text(struct index_writer *w, sqlite3_int64 row,
    struct index_parsed *p)
{
	size_t	i;
	int	rc;

	sqlite3_bind_int64(w->fts, 1, row);
	index_bind(w->fts, 2, p->mm.search);
	rc = index_step(w->fts);
	/* A row without its words would break a later delete: roll back. */
	if (rc == SQLITE_DONE && words_add(w->words, row, p->mm.search !=
	    NULL ? p->mm.search : "") != 0)
		w->failed = 1;
	for (i = 0; i < p->env.nrcpt; i++) {
		sqlite3_bind_int64(w->rcpt, 1, row);
		index_bind(w->rcpt, 2, p->env.rcpt[i]);
		(void)index_step(w->rcpt);
	}
	/* Mailpit's X-Tags header. */
	for (i = 0; i < p->mm.ntags; i++) {
		sqlite3_bind_int64(w->tag, 1, row);
		index_bind(w->tag, 2, p->mm.tags[i]);
		(void)index_step(w->tag);
	}
	return (rc == SQLITE_DONE ? 0 : -1);
}

/*
 * Writer: insert one parsed message (in the open transaction): 0 if
 * it is new, 1 if it was there already, -1 on error.
 */
static int
index_insert(struct index_writer *w, struct index_parsed *p)
{
	size_t	i;
	int	rc;

	index_bind(w->msg, 1, p->qid);
	index_bind(w->msg, 2, p->mm.message_id);
	index_bind(w->msg, 3, p->mm.subject);
	for (i = 0; i < 5; i++)
		index_bind(w->msg, 4 + (int)i, p->lists[i]);
	index_bind(w->msg, 9, p->mm.snippet);
	index_bind(w->msg, 10, p->env.sender);
	index_bind(w->msg, 11, p->env.auth_user);
	sqlite3_bind_int64(w->msg, 12, p->size);
	sqlite3_bind_int64(w->msg, 13, (sqlite3_int64)p->mm.nattach);
	sqlite3_bind_int64(w->msg, 14, (sqlite3_int64)p->mm.ninline);
	sqlite3_bind_int64(w->msg, 15, index_qid_row(p->qid));
	/* Read before a rebuild: spool_dir/seen says so (seen.c). */
	sqlite3_bind_int(w->msg, 16, seen_read(p->qid));
	rc = index_step(w->msg);
	if (rc != SQLITE_DONE)
		return (-1);
	if (sqlite3_changes(w->db) == 0)
		return (1);		/* already there (qid is UNIQUE) */
	return (index_insert_text(w, sqlite3_last_insert_rowid(w->db), p));
}

/* Writer: delete the row of qid (in the open transaction); 0 or -1. */
static int
index_writer_drop(struct index_writer *w, const char *qid)
{
	index_bind(w->drop, 1, qid);
	return (index_step(w->drop) == SQLITE_DONE ? 0 : -1);
}

/*
 * The rowid of qid's row: the queue ID's 64 bits with the top one
 * flipped, so that rowids sort as queue IDs do (by arrival) and a page
 * newest first walks msg, or the full-text index, by rowid (query.c).
 */
long long
index_qid_row(const char *qid)
{
	return ((long long)(strtoull(qid, NULL, 16) ^ (1ULL << 63)));
}

/* Delete the row of qid on db (the loop's connection); 0 or -1. */
static int
index_drop(sqlite3 *db, const char *qid)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((st = index_prepare(db, "DELETE FROM msg WHERE qid = ?")) == NULL)
		return (-1);
	index_bind(st, 1, qid);
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return (rc == SQLITE_DONE ? 0 : -1);
}

/* Writer: tell the loop that these queue IDs are visible now. */
static void
index_publish(char (*qids)[QID_LEN + 1], size_t n)
{
	size_t	i;

	if (n == 0)
		return;
	pthread_mutex_lock(&index_lock);
	index_seen = xreallocarray(index_seen, index_nseen + n,
	    sizeof(*index_seen));
	for (i = 0; i < n; i++)
		memcpy(index_seen[index_nseen++], qids[i], QID_LEN + 1);
	pthread_mutex_unlock(&index_lock);
	(void)!write(index_pipe[1], "", 1);
}

/* One job of a transaction, in the order it came (for a stable sort). */
struct index_ord {
	struct index_parsed	*p;
	size_t			 seq;
};

/* Sort jobs by queue ID, then by arrival (a drop after its insert). */
static int
index_ord_cmp(const void *a, const void *b)
{
	const struct index_ord	*x = a, *y = b;
	int			 c = strcmp(x->p->qid, y->p->qid);

	if (c != 0)
		return (c);
	return (x->seq < y->seq ? -1 : x->seq > y->seq);
}

/*
 * Writer: write a list of batches in one transaction, then publish the
 * messages that became visible.  The rows go in in queue ID order, which
 * is rowid order (index_qid_row): FTS5 flushes what it holds whenever a
 * rowid is not above the last one of the transaction, and commit notices
 * come in the order of the spool's commits, not of the queue IDs.  0, or
 * -1 if the transaction failed (then none of it is written; the caller
 * arranges a reconcile).
 */
static int
index_apply(struct index_writer *w, struct index_batch *bs)
{
	struct index_batch	*b;
	struct index_ord	*o;
	struct index_parsed	*p;
	char			(*vis)[QID_LEN + 1];
	size_t			 i, n = 0, nvis = 0;

	for (b = bs; b != NULL; b = b->next)
		n += b->n;
	if (index_writer_ready(w) != 0 ||
	    index_exec(w->db, "BEGIN IMMEDIATE") != 0)
		return (-1);
	o = xcalloc(n + 1, sizeof(*o));
	for (b = bs, n = 0; b != NULL; b = b->next)
		for (i = 0; i < b->n; i++, n++) {
			o[n].p = &b->p[i];
			o[n].seq = n;
		}
	qsort(o, n, sizeof(*o), index_ord_cmp);
	vis = xcalloc(n + 1, sizeof(*vis));
	for (i = 0; i < n; i++) {
		p = o[i].p;
		if (p->drop)
			(void)index_writer_drop(w, p->qid);
		else if (p->ok && index_insert(w, p) == 0)
			memcpy(vis[nvis++], p->qid, QID_LEN + 1);
	}
	free(o);
	if (w->failed || words_commit(w->words) != 0 ||
	    index_exec(w->db, "COMMIT") != 0) {
		w->failed = 0;
		words_forget(w->words);
		(void)index_exec(w->db, "ROLLBACK");
		free(vis);
		return (-1);
	}
	index_publish(vis, nvis);
	free(vis);
	return (0);
}

/*
 * Writer: what failed (the transaction: the index locked too long, the
 * disk full; or a reconcile) is lost.  The spool is the truth: reconcile
 * with queue/ later, after *backoff seconds, doubled for the next time.
 */
static void
index_fail(int *backoff, const char *what)
{
	pthread_mutex_lock(&index_lock);
	index_lost = 1;
	clock_gettime(CLOCK_REALTIME, &index_retry);
	index_retry.tv_sec += *backoff;
	pthread_mutex_unlock(&index_lock);
	index_log(1, "index: %s; reconciling with queue/ in %d s", what,
	    *backoff);
	if ((*backoff *= 2) > INDEX_RETRY_MAX)
		*backoff = INDEX_RETRY_MAX;
}

/* Sort queue IDs. */
static int
index_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

/* Thread: is qid in the sorted list v? */
static int
index_listed(char **v, size_t n, const char *qid)
{
	return (n > 0 && bsearch(&qid, v, n, sizeof(*v), index_cmp) != NULL);
}

/*
 * Hand the parser n jobs to index qids (no limit: they come from a
 * reconcile, which has them in memory already).
 */
static void
index_push_files(char **qids, size_t n)
{
	size_t	i;

	if (n == 0)
		return;
	pthread_mutex_lock(&index_lock);
	if (index_njobs + n > index_jobcap) {
		index_jobcap = index_njobs + n;
		index_jobs = xreallocarray(index_jobs, index_jobcap,
		    sizeof(*index_jobs));
	}
	for (i = 0; i < n; i++) {
		memcpy(index_jobs[index_njobs].qid, qids[i], QID_LEN + 1);
		index_jobs[index_njobs++].drop = 0;
	}
	pthread_cond_signal(&index_cond);
	pthread_mutex_unlock(&index_lock);
}

/*
 * Writer: make the index agree with queue/: drop rows whose file is
 * gone (here, in one transaction), and hand files without a row to the
 * parser.  0, or -1 if the index could not be read or written.
 */
static int
index_reconcile(struct index_writer *w)
{
	sqlite3_stmt	*st;
	char		**files, **rows = NULL, **add;
	size_t		 nfiles, nrows = 0, nadd = 0, i, dropped = 0;
	int		 rc = 0;

	if ((files = queue_ids(index_spool, &nfiles)) == NULL) {
		index_log(1, "index: queue/: %s", strerror(errno));
		return (-1);
	}
	if ((st = index_prepare(w->db, "SELECT qid FROM msg ORDER BY qid")) ==
	    NULL)
		rc = -1;
	while (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
		rows = xreallocarray(rows, nrows + 1, sizeof(*rows));
		rows[nrows++] = xstrdup((const char *)
		    sqlite3_column_text(st, 0));
	}
	sqlite3_finalize(st);
	if (rc == 0 && index_writer_ready(w) == 0 &&
	    index_exec(w->db, "BEGIN IMMEDIATE") == 0) {
		for (i = 0; i < nrows; i++)
			if (!index_listed(files, nfiles, rows[i]) &&
			    index_writer_drop(w, rows[i]) == 0)
				dropped++;
		if (index_exec(w->db, "COMMIT") != 0) {
			(void)index_exec(w->db, "ROLLBACK");
			rc = -1;
		}
	} else
		rc = -1;
	add = xcalloc(nfiles + 1, sizeof(*add));
	for (i = 0; rc == 0 && i < nfiles; i++)
		if (!index_listed(rows, nrows, files[i]))
			add[nadd++] = files[i];
	index_push_files(add, nadd);
	if (rc == 0 && (dropped > 0 || nadd > 0))
		index_log(0, "index: reconciled with queue/: %zu to index, "
		    "%zu dropped", nadd, dropped);
	free(add);
	for (i = 0; i < nfiles; i++)
		free(files[i]);
	for (i = 0; i < nrows; i++)
		free(rows[i]);
	free(files);
	free(rows);
	index_trim(nfiles + nrows);
	return (rc);
}

/*
 * Writer: the oldest messages that must go for the index to hold at most
 * sink_max_messages messages and sink_max_size octets (each 0: no
 * limit), into *ids; their number.
 */
static size_t
index_prune_pick(sqlite3 *db, char (**ids)[QID_LEN + 1])
{
	sqlite3_stmt	*st;
	long long	 n = 0, total = 0;
	size_t		 k = 0;

	*ids = NULL;
	if ((index_max <= 0 && index_max_size <= 0) || (st = index_prepare(db,
	    "SELECT count(*), coalesce(sum(size), 0) FROM msg")) == NULL)
		return (0);
	if (sqlite3_step(st) == SQLITE_ROW) {
		n = sqlite3_column_int64(st, 0);
		total = sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	if ((index_max <= 0 || n <= index_max) && (index_max_size <= 0 ||
	    total <= index_max_size))
		return (0);
	if ((st = index_prepare(db,
	    "SELECT qid, size FROM msg ORDER BY qid")) == NULL)
		return (0);
	while (((index_max > 0 && n > index_max) || (index_max_size > 0 &&
	    total > index_max_size)) && sqlite3_step(st) == SQLITE_ROW) {
		*ids = xreallocarray(*ids, k + 1, sizeof(**ids));
		snprintf((*ids)[k++], QID_LEN + 1, "%s",
		    (const char *)sqlite3_column_text(st, 0));
		n--;
		total -= sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	return (k);
}

/*
 * Writer: retention.  With sink_max_messages or sink_max_size set and
 * more indexed, remove the oldest from queue/ (the truth first), then
 * their rows in one transaction, and let the loop tell the removal
 * watchers.
 */
static void
index_prune(struct index_writer *w)
{
	char		(*ids)[QID_LEN + 1];
	size_t		 k, i;

	if ((k = index_prune_pick(w->db, &ids)) == 0)
		return;
	for (i = 0; i < k; i++)
		if (queue_unlink(index_spool, ids[i]) != 0 && errno != ENOENT)
			index_log(1, "index: retention: qid=%s: %s", ids[i],
			    strerror(errno));
	if (index_writer_ready(w) == 0 &&
	    index_exec(w->db, "BEGIN IMMEDIATE") == 0) {
		for (i = 0; i < k; i++)
			(void)index_writer_drop(w, ids[i]);
		if (index_exec(w->db, "COMMIT") != 0)
			(void)index_exec(w->db, "ROLLBACK");
	}
	index_log(0, "index: retention: removed the %zu oldest messages "
	    "(sink_max_messages=%lld sink_max_size=%lld)", k, index_max,
	    index_max_size);
	pthread_mutex_lock(&index_lock);
	index_gone = xreallocarray(index_gone, index_ngone + k,
	    sizeof(*index_gone));
	memcpy(index_gone + index_ngone, ids, k * sizeof(*ids));
	index_ngone += k;
	pthread_mutex_unlock(&index_lock);
	(void)!write(index_pipe[1], "", 1);
	free(ids);
}

/*
 * Writer, under index_lock: is a reconcile due?  Notices were lost, the
 * retry time has come, and the parser has nothing left (what it holds
 * would be found again).
 */
static int
index_due(void)
{
	struct timespec	now;

	if (!index_lost || index_njobs > 0 || index_parsing ||
	    index_nbatches > 0)
		return (0);
	clock_gettime(CLOCK_REALTIME, &now);
	return (now.tv_sec > index_retry.tv_sec ||
	    (now.tv_sec == index_retry.tv_sec &&
	    now.tv_nsec >= index_retry.tv_nsec));
}

/*
 * Writer, under index_lock: wait until there is something to do:
 * batches to write, a reconcile due, or mxd stopping.  A reconcile
 * waits for its time, or for the parser to go idle (it says so).
 */
static void
index_writer_wait(void)
{
	while (index_batches == NULL && !index_stopping && !index_due()) {
		if (index_lost && index_njobs == 0 && !index_parsing)
			pthread_cond_timedwait(&index_wcond, &index_lock,
			    &index_retry);
		else
			pthread_cond_wait(&index_wcond, &index_lock);
	}
}

/*
 * The writer thread, at normal priority (it holds the index's write lock,
 * which the loop may wait for): reconciles the index with queue/, then
 * writes the parser's batches, each time all that wait in one
 * transaction, and reconciles again when notices were lost.
 */
static void *
index_writer_main(void *arg)
{
	struct index_writer	 w;
	struct index_batch	*bs, *b;
	const char		*cause;
	char			 what[64];
	size_t			 n;
	int			 backoff = 1, rc;

	memset(&w, 0, sizeof(w));
	w.db = arg;
	index_thread_setup("mxd-indexw", 0);
	if (index_reconcile(&w) != 0)
		index_fail(&backoff, "the reconcile with queue/ failed");
	index_prune(&w);
	pthread_mutex_lock(&index_lock);
	for (;;) {
		index_writer_wait();
		if (index_stopping)
			break;
		if ((bs = index_batches) != NULL) {
			index_batches = NULL;
			index_btail = &index_batches;
			index_nbatches = 0;
			pthread_cond_signal(&index_room);
			pthread_mutex_unlock(&index_lock);
			rc = index_apply(&w, bs);
			for (n = 0; (b = bs) != NULL; index_batch_free(b)) {
				n += b->n;
				bs = b->next;
			}
		} else {
			index_lost = 0;
			pthread_mutex_unlock(&index_lock);
			n = 0;
			rc = index_reconcile(&w);
		}
		if (rc != 0) {
			if (n > 0)
				snprintf(what, sizeof(what), "%zu messages not "
				    "written", n);
			else
				snprintf(what, sizeof(what), "the reconcile "
				    "with queue/ failed");
			index_fail(&backoff, what);
		} else
			backoff = 1;
		index_prune(&w);
		if (words_sweep(w.db, &cause) != 0)
			index_log(1, "index: sweeping the vocabulary: %s",
			    cause);
		pthread_mutex_lock(&index_lock);
	}
	pthread_mutex_unlock(&index_lock);
	index_writer_close(&w);
	return (NULL);
}

/*
 * Loop: hand a notice to the parser.  Past INDEX_JOBS_MAX waiting (a
 * sustained overload), it is not kept: the loss is noted, and once the
 * parser has caught up a reconcile with queue/ finds those messages.
 */
static void
index_push(const char *qid, int drop)
{
	int	lost = 0;

	pthread_mutex_lock(&index_lock);
	if (index_njobs >= INDEX_JOBS_MAX) {
		if (!index_lost) {
			index_lost = lost = 1;
			clock_gettime(CLOCK_REALTIME, &index_retry);
		}
	} else {
		if (index_njobs == index_jobcap) {
			index_jobcap = index_jobcap == 0 ? 64 :
			    index_jobcap * 2;
			index_jobs = xreallocarray(index_jobs, index_jobcap,
			    sizeof(*index_jobs));
		}
		snprintf(index_jobs[index_njobs].qid, QID_LEN + 1, "%s", qid);
		index_jobs[index_njobs++].drop = drop;
		pthread_cond_signal(&index_cond);
	}
	pthread_mutex_unlock(&index_lock);
	if (lost)
		index_log(1, "index: more than %d messages wait to be indexed; "
		    "the next are found by a reconcile with queue/ later",
		    INDEX_JOBS_MAX);
}

/* Loop, queue watcher: a message was committed; the threads index it. */
static void
index_committed_cb(const char *qid, void *arg)
{
	index_push(qid, 0);
}

/*
 * Loop, removal watcher: queue_delete() removed the file; drop the row
 * now, so the next request no longer sees it, and through the threads
 * too, after any pending insert of the same message.
 */
static void
index_removed_cb(const char *qid, void *arg)
{
	(void)index_drop(index_db, qid);
	index_push(qid, 1);
}

/* Loop: the thread published visible messages; tell the watchers. */
static void
index_seen_cb(evutil_socket_t fd, short events, void *arg)
{
	struct index_watcher	*w, *next;
	char			 buf[64], (*seen)[QID_LEN + 1];
	char			 (*gone)[QID_LEN + 1], **msgs;
	size_t			 n, i, ngone, nmsgs;

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&index_lock);
	seen = index_seen;
	n = index_nseen;
	index_seen = NULL;
	index_nseen = 0;
	gone = index_gone;
	ngone = index_ngone;
	index_gone = NULL;
	index_ngone = 0;
	msgs = index_msgs;
	nmsgs = index_nmsgs;
	index_msgs = NULL;
	index_nmsgs = 0;
	pthread_mutex_unlock(&index_lock);
	for (i = 0; i < nmsgs; i++) {
		if (msgs[i][0] == '!')
			log_warnx("%s", msgs[i] + 1);
		else
			log_info("%s", msgs[i] + 1);
		free(msgs[i]);
	}
	free(msgs);
	/* Pruned by retention: the removal watchers hear it on the loop. */
	for (i = 0; i < ngone; i++)
		queue_removed(gone[i]);
	free(gone);
	for (i = 0; i < n; i++)
		for (w = index_watchers; w != NULL; w = next) {
			next = w->next;
			w->cb(seen[i], w->arg);
		}
	free(seen);
}

/*
 * Open (or rebuild) the index of the spool at spool_dir and start its
 * thread, which reconciles it with queue/ (read through spool_openat,
 * which works after privileges are dropped) and follows commits,
 * keeping at most max_messages and max_size octets (each 0: no
 * limit); once per process, before privileges are dropped.  0, or -1
 * with *cause.
 */
int
index_start(struct event_base *base, const char *spool_dir,
    long long max_messages, long long max_size, char **cause)
{
	sqlite3	*tdb;

	if (index_running)
		return (0);
	index_loop = pthread_self();
	index_max = max_messages;
	index_max_size = max_size;
	mime_init();
	index_spool = xstrdup(spool_dir);
	xasprintf(&index_path, "%s/%s", spool_dir, INDEX_FILE);
	if ((index_db = index_open(index_path, cause)) == NULL ||
	    seen_start(spool_dir, cause) != 0)
		return (-1);
	/*
	 * The writer's connection is opened here too, and both have their
	 * WAL and shared memory open (a read does it), so that they keep
	 * working when privileges are dropped and the spool's parents are
	 * closed to the new user.  synchronous is per connection: NORMAL
	 * with WAL syncs at checkpoints only (the index is derived from the
	 * spool; what a crash of the system takes, the next start's
	 * reconcile puts back).
	 */
	if ((tdb = index_connect(index_path)) == NULL ||
	    index_exec(tdb, "PRAGMA synchronous=NORMAL") != 0 ||
	    index_exec(tdb, "SELECT count(*) FROM meta") != 0 ||
	    index_exec(index_db, "SELECT count(*) FROM meta") != 0) {
		sqlite3_close(tdb);
		xasprintf(cause, "index %s: cannot open it twice", index_path);
		return (-1);
	}
	if (pipe2(index_pipe, O_NONBLOCK | O_CLOEXEC) == -1) {
		xasprintf(cause, "index: pipe: %s", strerror(errno));
		return (-1);
	}
	index_ev = event_new(base, index_pipe[0], EV_READ | EV_PERSIST,
	    index_seen_cb, NULL);
	event_add(index_ev, NULL);
	sqlite3_busy_timeout(tdb, INDEX_WBUSY_MS);
	queue_watch(index_committed_cb, NULL);
	queue_watch_removals(index_removed_cb, NULL);
	index_stopping = 0;
	index_running = 1;
	if (pthread_create(&index_writer, NULL, index_writer_main, tdb) != 0 ||
	    pthread_create(&index_parser, NULL, index_parser_main, NULL) !=
	    0) {
		xasprintf(cause, "index: cannot start its threads");
		return (-1);
	}
	return (0);
}

/*
 * Started as root: give the index's files (and WAL, shared memory) to
 * the user mxd is about to become, readable by it alone, as the spool's
 * own files are.
 */
void
index_chown(uid_t uid, gid_t gid)
{
	static const char *const sfx[] = { "", "-wal", "-shm" };
	char	p[PATH_MAX];
	size_t	i;

	for (i = 0; index_path != NULL && i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", index_path, sfx[i]);
		if ((chown(p, uid, gid) == -1 || chmod(p, 0600) == -1) &&
		    errno != ENOENT)
			index_log(1, "index: %s: %s", p, strerror(errno));
	}
	seen_chown(uid, gid);
}

/*
 * Stop the threads (after their current batch) and close the index;
 * the notices not yet indexed are found by the next start's reconcile.
 */
void
index_stop(void)
{
	struct index_watcher	*w;
	struct index_batch	*b;
	size_t			 i;

	if (!index_running)
		return;
	pthread_mutex_lock(&index_lock);
	__atomic_store_n(&index_stopping, 1, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&index_cond);
	pthread_cond_broadcast(&index_wcond);
	pthread_cond_broadcast(&index_room);
	pthread_mutex_unlock(&index_lock);
	pthread_join(index_parser, NULL);
	pthread_join(index_writer, NULL);
	while ((b = index_batches) != NULL) {
		index_batches = b->next;
		index_batch_free(b);
	}
	index_btail = &index_batches;
	index_nbatches = 0;
	index_lost = index_parsing = 0;
	queue_unwatch(index_committed_cb, NULL);
	queue_unwatch_removals(index_removed_cb, NULL);
	event_free(index_ev);
	close(index_pipe[0]);
	close(index_pipe[1]);
	sqlite3_close(index_db);
	seen_stop();
	while ((w = index_watchers) != NULL) {
		index_watchers = w->next;
		free(w);
	}
	free(index_jobs);
	free(index_seen);
	free(index_gone);
	index_jobs = NULL;
	index_seen = NULL;
	index_gone = NULL;
	index_njobs = index_jobcap = index_nseen = index_ngone = 0;
	for (i = 0; i < index_nmsgs; i++) {	/* the threads' last words */
		if (index_msgs[i][0] == '!')
			log_warnx("%s", index_msgs[i] + 1);
		else
			log_info("%s", index_msgs[i] + 1);
		free(index_msgs[i]);
	}
	free(index_msgs);
	index_msgs = NULL;
	index_nmsgs = 0;
	free(index_spool);
	free(index_path);
	index_running = 0;
}

/* Call cb(qid, arg) on the loop for each message once it is visible. */
void
index_watch(void (*cb)(const char *, void *), void *arg)
{
	struct index_watcher	*w = xcalloc(1, sizeof(*w));

	w->cb = cb;
	w->arg = arg;
	w->next = index_watchers;
	index_watchers = w;
}

/*
 * Someone on the loop waits for messages to become visible (delta 1: a
 * long poll or a live page begins; -1: it ended): while anyone does,
 * the parser does not yield to a flood of intake (index_yield).
 */
void
index_awaited(int delta)
{
	if (delta > 0)
		__atomic_add_fetch(&index_nawaited, 1, __ATOMIC_RELAXED);
	else
		__atomic_sub_fetch(&index_nawaited, 1, __ATOMIC_RELAXED);
}

/* Stop calling cb with arg. */
void
index_unwatch(void (*cb)(const char *, void *), void *arg)
{
	struct index_watcher	**pp, *w;

	for (pp = &index_watchers; (w = *pp) != NULL; pp = &w->next)
		if (w->cb == cb && w->arg == arg) {
			*pp = w->next;
			free(w);
			return;
		}
}

/*
 * Group the loop's next writes (many deletions, many read flags) into
 * one transaction until index_batch_end(); 0 or -1.
 */
int
index_batch_begin(void)
{
	seen_hold();
	return (index_exec(index_db, "BEGIN IMMEDIATE"));
}

/* End what index_batch_begin() began. */
void
index_batch_end(void)
{
	if (index_exec(index_db, "COMMIT") != 0)
		(void)index_exec(index_db, "ROLLBACK");
	seen_release();
}

/* The loop's connection, for the rest of store/ (tags.c); NULL if none. */
sqlite3 *
index_handle(void)
{
	return (index_running ? index_db : NULL);
}

/* The index's size on disk in octets (file and WAL); 0 or -1. */
int
index_size(long long *size)
{
	struct stat	sb;
	int		fd;

	*size = 0;
	if (index_spool == NULL)
		return (-1);
	/* Through the spool's descriptor: its parents may be closed. */
	if ((fd = spool_openat(index_spool, INDEX_FILE, O_RDONLY, 0)) == -1)
		return (-1);
	if (fstat(fd, &sb) == 0)
		*size = sb.st_size;
	close(fd);
	if ((fd = spool_openat(index_spool, INDEX_FILE "-wal", O_RDONLY,
	    0)) != -1) {
		if (fstat(fd, &sb) == 0)
			*size += sb.st_size;
		close(fd);
	}
	return (0);
}

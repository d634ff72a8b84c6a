/*
 * deliver.h: the delivery folder's own types, inside src/deliver/ only:
 * LMTP targets (lmtp:unix:/path, lmtp:inet:host:port), the LMTP reply
 * reader and delivery session, the Maildir writer, and the delivery
 * runner's jobs (runner.c queues them, plan.c makes them on the loop,
 * worker.c does them on a thread).  The core reaches the folder only
 * through lmtp_prober (the RCPT check of recipient_check = lmtp) and
 * deliver_runner (mxd.h).
 */
#ifndef DELIVER_H
#define DELIVER_H

#include <sys/socket.h>

#include "mxd.h"

/* Connections to the store at once, for RCPT checks. */
#define LMTP_POOL_MAX		4
/* The longest reply line read from the store (RFC 5321 4.5.3.1.5: 512). */
#define LMTP_LINE_MAX		2048
/* Lines in one reply (LHLO lists its extensions). */
#define LMTP_LINES_MAX		100
/* A box's code when the store's RCPT limit left it for another try. */
#define LMTP_NEXT_TX		(-2)

/* Where the store listens. */
struct lmtp_target {
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	char			 name[128];	/* for the log */
};

/* One reply from the store, read line by line. */
struct lmtp_reply {
	int		 code;
	int		 nlines;
	char		 text[LMTP_LINE_MAX];	/* the last line's text */
};

enum lmtp_read {
	LMTP_READ_MORE,		/* need more input */
	LMTP_READ_DONE,		/* a whole reply is in the lmtp_reply */
	LMTP_READ_BAD,		/* not an SMTP/LMTP reply */
};

/*
 * One mailbox a message goes to, as runner.c plans it on the loop and
 * a worker thread delivers it: the result is code (the store's reply;
 * 0 when it could not be asked, which counts as temporary), dsn and
 * reason.
 */
struct dl_box {
	char		 addr[SMTP_PATH_MAX + 1];	/* after aliases */
	char		 orig[SMTP_PATH_MAX + 1];	/* the envelope's */
	char		 target[1024];
	size_t		*idx;		/* envelope recipient numbers */
	size_t		 nidx;
	int		 tried;	/* worker: its result is in */
	int		 code;
	char		 dsn[16];
	char		 reason[256];
	long long	 setup_us;	/* its try: connection set-up */
	long long	 xfer_us;	/* and the rest, to the reply */
};

/* What is written to a mailbox: a header, then the spool file's rest. */
struct dl_msg {
	const char	*qid;
	const char	*sender;
	int		 fd;		/* the queue file */
	off_t		 off;		/* where Received: starts */
	off_t		 size;		/* octets from there on */
	const char	*hostname;
};

/* A worker's open LMTP connection, reused for its next message. */
struct lmtp_session {
	int		 fd;
	char		 target[1024];
	int		 eightbit, smtputf8, size;
	struct evbuffer	*in;
	long long	 setup_us;	/* lmtp_deliver's connect + LHLO */
};

/* Where a dl_entry is: due now, due later, or a worker's. */
enum dl_where {
	DL_READY,
	DL_LATER,
	DL_BUSY
};

/* One queued message the runner knows of (on the loop). */
struct dl_entry {
	char			 qid[QID_LEN + 1];
	time_t			 due;		/* next look */
	enum dl_where		 where;
	int			 force;		/* mxd -Q: ignore next-try */
	TAILQ_ENTRY(dl_entry)	 entry;		/* ready or later list */
	TAILQ_ENTRY(dl_entry)	 all;		/* every entry */
};
TAILQ_HEAD(dl_entries, dl_entry);

/* What the state file says of one recipient. */
struct dl_rstate {
	enum rcpt_status	 st;
	time_t			 next;		/* deferred: next try */
	unsigned		 ndeferred;
	int			 bounced;	/* a mailbox of it failed */
	struct strlist		 done;		/* sent/bounced mailboxes */
};

/* A message handed to a worker, and what became of it. */
struct dl_job {
	struct dl_entry		*e;
	struct envelope		 env;
	FILE			*f;
	struct dl_msg		 m;
	struct dl_box		*box;
	size_t			 nbox;
	struct dl_rstate	*rs;		/* env.nrcpt */
	int			*keep;		/* env.nrcpt: has keep boxes */
	time_t			 arrival;
	long long		 arrival_us;	/* the queue ID's time */
	long long		 committed_us;	/* the queue file's mtime */
	long long		 started_us;	/* a worker took it */
	char			*spool_dir, *hostname, *delim;
	long long		 retry_min, retry_max, lifetime, timeout;
	long long		 rcpt_limit;	/* lmtp_recipient_limit */
	struct strlist		 log;		/* lines for the loop */
	struct strlist		 failed;	/* `<addr>: reason`, notice */
	char			 pm_addr[SMTP_PATH_MAX + 1];
	char			 pm_target[1024];
	time_t			 next;		/* out: 0 nothing pending */
	int			 removed;	/* out: queue_unlink()ed */
	TAILQ_ENTRY(dl_job)	 entry;
};
TAILQ_HEAD(dl_jobs, dl_job);

/* plan.c: on the loop. */
int		 plan_check(const struct config *, char **);
int		 plan_active(const struct config *);
void		 plan_routes_refresh(int);
void		 plan_routes_clear(void);
void		 plan_explain(const struct config *, FILE *);
struct dl_job	*plan_message(struct dl_entry *, time_t);
void		 plan_job_free(struct dl_job *);

/* worker.c: on a worker thread. */
void		 worker_run(struct dl_job *, struct lmtp_session *);

/* lmtp.c */
int		 lmtp_target_parse(const char *, struct lmtp_target *, char **);
enum lmtp_read	 lmtp_reply_read(struct evbuffer *, struct lmtp_reply *);
void		 lmtp_deliver(struct lmtp_session *, const struct dl_msg *,
		    const char *, struct dl_box **, size_t, long);
void		 lmtp_session_close(struct lmtp_session *);

/* maildir.c */
int		 dl_write_all(int, const char *, size_t);
int		 maildir_path(const char *, const char *, const char *,
		    char *, size_t);
void		 maildir_deliver(const char *, const struct dl_msg *,
		    const char *, struct dl_box *);

#endif

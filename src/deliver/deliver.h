/*
 * deliver.h: the delivery folder's own types, inside src/deliver/ only:
 * LMTP targets (lmtp:unix:/path, lmtp:inet:host:port) and the LMTP reply
 * reader.  The core reaches the folder only through lmtp_prober (the
 * RCPT check of recipient_check = lmtp); delivery itself comes later.
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
	int		 code;
	char		 dsn[16];
	char		 reason[256];
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
};

/* lmtp.c */
int		 lmtp_target_parse(const char *, struct lmtp_target *, char **);
enum lmtp_read	 lmtp_reply_read(struct evbuffer *, struct lmtp_reply *);
void		 lmtp_deliver(struct lmtp_session *, const struct dl_msg *,
		    const char *, struct dl_box **, size_t, long);
void		 lmtp_session_close(struct lmtp_session *);

/* maildir.c */
int		 maildir_path(const char *, const char *, const char *,
		    char *, size_t);
void		 maildir_deliver(const char *, const struct dl_msg *,
		    const char *, struct dl_box *);

#endif

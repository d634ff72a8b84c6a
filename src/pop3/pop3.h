/*
 * pop3.h: the POP3 server's own types, inside src/pop3/ only (RFC 1939,
 * with CAPA and response codes from RFC 2449, STLS from RFC 2595 and
 * AUTH from RFC 5034): limits, states, flags, the reply ids, the session,
 * and every prototype of the folder.  The core reaches POP3 only through
 * pop3_protocol (session.c); the mail comes from store/ (maildrop.c).
 */
#ifndef POP3_H
#define POP3_H

#include "mxd.h"

/* RFC 2449 4: a command line is at most 255 octets with its CRLF. */
#define POP3_CMD_MAX		255
/*
 * RFC 5034 4: an AUTH command with its initial response, and each
 * response line, may be longer; as for SMTP AUTH, 12288 octets.
 */
#define POP3_AUTH_LINE_MAX	12288
/* After -ERR for an overlong line, skip at most this much more. */
#define POP3_LINE_FLOOD		4096
/* RETR and TOP read the message in chunks of this size... */
#define POP3_CHUNK		(64 * 1024)
/* ...and wait for the client to take its data past this much unsent. */
#define POP3_OUT_MAX		(256 * 1024)

enum pop3_state {
	POP3_AUTHORIZATION,	/* RFC 1939 4: greeted, not logged in */
	POP3_TRANSACTION,	/* logged in, maildrop locked */
	POP3_UPDATE,		/* QUIT in TRANSACTION: deletions commit */
	POP3_CLOSING,		/* last reply sent; closing once it drains */
};
#define POP3_STATE_BIT(s)	(1u << (s))

/* What kind of listener accepted the connection. */
enum pop3_listen_kind {
	LISTEN_POP3,		/* port 110: STLS optional */
	LISTEN_POP3S,		/* port 995: implicit TLS (RFC 8314) */
};

#define POP3_F_TLS		0x01	/* TLS is on */
#define POP3_F_STLS		0x02	/* +OK to STLS sent; TLS once drained */
#define POP3_F_AUTH_CONT	0x04	/* reading AUTH responses */
#define POP3_F_TARPIT		0x08	/* a reply is delayed by a timer */
#define POP3_F_DISCARD		0x10	/* skipping the rest of a long line */
#define POP3_F_COUNTED		0x20	/* counted by limit.c */
#define POP3_F_TRUSTED		0x40	/* client in trusted_networks */
#define POP3_F_STREAM		0x80	/* sending a message (RETR, TOP) */
#define POP3_F_LOCKED		0x100	/* holds the maildrop of auth_user */
#define POP3_F_BUSY		0x200	/* a maildrop job runs; reading paused */

/* reply.c: every reply the POP3 server can send. */
enum pop3_reply_id {
	P_GREETING,
	P_CAPA,
	P_USER_OK,
	P_LOGGED_IN,
	P_STAT,
	P_LIST_ONE,
	P_LIST_ALL,
	P_UIDL_ONE,
	P_UIDL_ALL,
	P_RETR,
	P_TOP,
	P_DELE,
	P_NOOP,
	P_RSET,
	P_QUIT,
	P_QUIT_UPDATE,
	P_STLS,
	P_AUTH_LIST,
	P_UNKNOWN_CMD,
	P_NEED_LOGIN,
	P_LOGGED_IN_ALREADY,
	P_SYNTAX,
	P_NO_SUCH_MSG,
	P_NO_MESSAGES,
	P_DELETED,
	P_MSG_GONE,
	P_PASS_FIRST,
	P_APOP,
	P_LINE_TOO_LONG,
	P_BAD_CHAR,
	P_LINE_FLOOD,
	P_TOO_MANY_ERRORS,
	P_TIMEOUT,
	P_SHUTDOWN,
	P_TOO_MANY_CONNS,
	P_NO_DESCRIPTORS,
	P_NOT_POP3,
	P_STLS_ACTIVE,
	P_STLS_UNAVAILABLE,
	P_NEED_TLS,
	P_AUTH_FAILED,
	P_AUTH_TOO_MANY,
	P_AUTH_UNKNOWN_MECH,
	P_AUTH_CANCELLED,
	P_AUTH_BAD_BASE64,
	P_AUTH_TOO_LONG,
	P_AUTH_TEMP,
	P_AUTH_TOO_WEAK,
	P_IN_USE,
	P_MAILDROP_ERROR,
	P_UPDATE_FAILED,
	P_MAX
};

/* A message on its way out (RETR, TOP): byte-stuffed, line by line. */
struct pop3_stream {
	FILE		*f;
	int		 top;		/* TOP: stop after lines body lines */
	long long	 lines;
	long long	 body_lines;
	int		 in_body;	/* TOP: past the header's empty line */
	int		 bol;		/* the next octet begins a line */
	size_t		 linelen;	/* octets of the line so far */
	int		 prev_cr;	/* the last octet written was CR */
	size_t		 msg;		/* the message's index */
};

#define POP3_NCMD		16	/* size of the per-verb counters */

/* One POP3 connection. */
struct pop3_session {
	uint64_t		 id;
	struct conn		*conn;		/* NULL once it is gone */
	char			 addr[INET6_ADDRSTRLEN];
	int			 port;
	enum pop3_listen_kind	 kind;
	enum pop3_state		 state;
	int			 flags;
	int			 tls_bits;	/* the cipher's strength */
	char			*user;		/* USER's name, before PASS */
	char			*auth_user;	/* logged in as */
	char			*auth_mech;	/* USER, PLAIN, ... */
	struct sasl_conn	*sasl;
	unsigned		 auth_failures;
	unsigned		 nerr;
	struct maildrop		 md;
	struct maildrop_job	*job;		/* reading or committing md */
	struct pop3_stream	 st;
	char			 line[POP3_CMD_MAX + 1];
	char			*auth_line;	/* AUTH lines, while read */
	size_t			 discarded;	/* of an overlong line */
	time_t			 partial_since;	/* a command line began */
	unsigned		 ncmd[POP3_NCMD];
	unsigned		 nunknown;
	unsigned long long	 sent;		/* message octets sent */
	size_t			 ndeleted;	/* committed at QUIT */
	enum pop3_reply_id	 tarpit_reply;
	const char		*quit_reason;	/* for the disconnect line */
	LIST_ENTRY(pop3_session) entry;
};

/* reply.c */
struct pop3_reply_row {
	int		 ok;		/* +OK, or -ERR */
	const char	*code;		/* RFC 2449 8 response code, or NULL */
	const char	*text;		/* printf format */
	const char	*closes;	/* disconnect reason, or NULL */
};
const struct pop3_reply_row *pop3_reply_row(enum pop3_reply_id);
void		 pop3_reply(struct pop3_session *, enum pop3_reply_id, ...);
void		 pop3_reply_line(struct pop3_session *, const char *, size_t);
void		 pop3_reply_end(struct pop3_session *);
void		 pop3_reply_count_error(struct pop3_session *);
size_t		 pop3_reply_format(char *, size_t, enum pop3_reply_id, ...);

/* command.c */
void		 pop3_command_dispatch(struct pop3_session *, char *, size_t);
void		 pop3_command_counts(const struct pop3_session *, char *,
		    size_t);
int		 pop3_command_rule(const char *, enum pop3_state);
void		 pop3_command_list(char *, size_t);

/* auth.c */
int		 pop3_auth_init(const struct config *, char **);
int		 pop3_auth_any(void);
int		 pop3_auth_plaintext_ok(const struct pop3_session *);
void		 pop3_auth_mechs(struct pop3_session *, char *, size_t);
void		 pop3_auth_user(struct pop3_session *, char *);
void		 pop3_auth_pass(struct pop3_session *, char *);
void		 pop3_auth_start(struct pop3_session *, char *);
void		 pop3_auth_continue(struct pop3_session *, const char *);
void		 pop3_auth_abort(struct pop3_session *);
void		 pop3_auth_free(struct pop3_session *);

/* session.c */
void		 pop3_session_accept(struct event_base *, int,
		    struct sockaddr *, int, int);
void		 pop3_session_login(struct pop3_session *, const char *,
		    const char *);
void		 pop3_session_enter_state(struct pop3_session *,
		    enum pop3_state);
void		 pop3_session_write(struct pop3_session *, const char *,
		    size_t);
void		 pop3_session_tarpit(struct pop3_session *, unsigned,
		    enum pop3_reply_id);
void		 pop3_session_stls(struct pop3_session *);
void		 pop3_session_retr(struct pop3_session *, size_t, int,
		    long long);
void		 pop3_session_update(struct pop3_session *);
void		 pop3_session_shutdown_all(void);
void		 pop3_session_free_all(void);
unsigned	 pop3_session_count(void);

#endif

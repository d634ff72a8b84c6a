/*
 * smtp.h: the SMTP receiver's own types, inside src/smtp/ only: limits,
 * the parsed paths and parameters, the session and its transaction, the
 * states and flags, the reply ids, and every prototype of the folder.
 * The core reaches SMTP only through smtp_protocol (session.c).
 */
#ifndef SMTP_H
#define SMTP_H

#include "mxd.h"

/* RFC 5321 4.5.3.1.4: a command line is at most 512 octets with CRLF. */
#define SMTP_CMD_MAX		512
/*
 * RFC 4954 4: a server must take the largest response of the mechanisms
 * it offers; 12288 octets (without CRLF) is enough, GSSAPI included.
 * This is the limit of an AUTH command line with its initial response
 * and of each response line; other commands keep SMTP_CMD_MAX.
 */
#define SMTP_AUTH_LINE_MAX	12288

/*
 * Like Postfix's smtpd_junk_command_limit and recipient overshoot limit:
 * past these, each NOOP, VRFY or RSET, and each recipient beyond
 * max_recipients, counts as an error toward max_errors.
 */
#define SMTP_JUNK_MAX		100
#define SMTP_RCPT_OVERSHOOT	1000
/*
 * After the 500 for an overlong command line, mxd skips at most this
 * many more octets looking for the line's end; past it the client is
 * not typing (nobody types 5 KB on one line), and gets 421 and a close.
 */
#define SMTP_LINE_FLOOD		4096


/* Parsed parts of a MAIL or RCPT command. */
struct smtp_path {
	char		 addr[SMTP_PATH_MAX + 1];	/* without brackets */
	char		*params;			/* after the path */
	int		 null;				/* <> */
	int		 utf8;				/* has non-ASCII */
};

struct mail_params {
	long long	 size;		/* SIZE=, -1 if absent */
	int		 body;		/* BODY_* */
	int		 smtputf8;
};
#define BODY_NONE	0
#define BODY_7BIT	1
#define BODY_8BITMIME	2

enum addr_status {
	ADDR_OK,
	ADDR_SYNTAX,		/* not FROM:/TO: path */
	ADDR_BAD_PATH,		/* path does not parse */
	ADDR_TOO_LONG,
	ADDR_BAD_ROUTE,		/* A-d-l source route */
	ADDR_BAD_LOCAL,		/* Dot-string */
	ADDR_BAD_QUOTED,	/* Quoted-string */
	ADDR_NO_DOMAIN,		/* no @domain, not postmaster */
	ADDR_SENDER_POSTMASTER,	/* bare postmaster as a sender */
	ADDR_BAD_DOMAIN,	/* Domain */
	ADDR_BAD_LITERAL,	/* address-literal */
	ADDR_BAD_IDN,		/* U-label not valid IDNA2008 */
	ADDR_BAD_UTF8,		/* not UTF-8 (RFC 6531) */
	ADDR_DISPLAY_NAME,	/* Name <addr>: a header's form, not a path */
};

enum param_status {
	PARAM_OK,
	PARAM_UNKNOWN,
	PARAM_BAD_VALUE,
	PARAM_DUPLICATE,
};

/* The DATA decoder: dot-unstuffing and end-of-data, chunk by chunk. */
struct data_dec {
	int		 state;
	int		 lax;		/* bare LF ends lines (lab only) */
	int		 bare;		/* saw a bare CR or LF */
	void		(*emit)(void *, const char *, size_t);
	void		*arg;
};

enum session_state {
	STATE_CONNECTED,	/* greeted, needs HELO/EHLO */
	STATE_READY,		/* identified, no transaction */
	STATE_MAIL,		/* MAIL accepted */
	STATE_RCPT,		/* at least one RCPT accepted */
	STATE_DATA,		/* reading the message */
	STATE_QUIT,		/* closing once output drains */
};
#define STATE_BIT(s)		(1u << (s))

#define SESSION_F_ESMTP		0x01	/* EHLO, not HELO */
#define SESSION_F_BARE_LF	0x02	/* the client ends lines in bare LF */
#define SESSION_F_WAIT		0x04	/* parked until the spool answers */
#define SESSION_F_GONE		0x08	/* client gone; free when unparked */
#define SESSION_F_DISCARD	0x10	/* skipping the rest of a long line */
#define SESSION_F_TLS		0x40	/* TLS is on */
#define SESSION_F_AUTH		0x80	/* authenticated */
#define SESSION_F_AUTH_CONT	0x100	/* reading AUTH responses */
#define SESSION_F_TARPIT	0x200	/* reply delayed by a timer */
#define SESSION_F_STARTTLS	0x400	/* 220 sent; TLS once it drains */
#define SESSION_F_COUNTED	0x800	/* counted by limit.c */
#define SESSION_F_PREGREET	0x1000	/* greeting not sent yet */
#define SESSION_F_SHUTDOWN	0x2000	/* server stopping: 421 after DATA */
#define SESSION_F_BARE_LF_TOLD	0x8000	/* the bare-LF note was sent */
#define SESSION_F_TRUSTED	0x10000	/* client in trusted_networks */
#define SESSION_F_PIPELINED_LAST 0x20000 /* improper pipelining logged */
#define SESSION_F_FAULT_DELAY	0x40000	/* queued; 250 held back (fault.c) */

/* What kind of listener accepted the connection. */
enum listen_kind {
	LISTEN_SMTP,		/* port 25: STARTTLS optional */
	LISTEN_SMTPS,		/* RFC 8314 implicit TLS, port 465 */
	LISTEN_SUBMISSION,	/* port 587: AUTH before MAIL */
};

#define CMD_MAX			16	/* size of the per-verb counters */
/* command.c: the flags of a verb's row. */
#define CMD_F_ARGS	0x1	/* arguments required */
#define CMD_F_NOARGS	0x2	/* arguments refused */
#define CMD_F_JUNK	0x4	/* does nothing for the mail (SMTP_JUNK_MAX) */
#define CMD_F_LAST	0x8	/* ends a pipelining group (RFC 2920 3.1) */
#define CMD_F_NEED_AUTH	0x10	/* submission: AUTH first (RFC 6409 4.3) */

/* reply.c: every reply the server can send. */
enum reply_id {
	R_GREETING,
	R_HELO,
	R_SENDER_OK,
	R_RCPT_OK,
	R_RESET,
	R_NOOP,
	R_QUIT,
	R_VRFY,
	R_DATA_GO,
	R_DATA_GO_BARE_LF,
	R_DATA_GO_BARE_LF_LAB,
	R_QUEUED,
	R_UNKNOWN_CMD,
	R_NOT_IMPLEMENTED,
	R_NOT_AVAILABLE,
	R_LINE_TOO_LONG,
	R_BAD_CHAR,
	R_NEED_ARGS,
	R_NO_ARGS,
	R_MAIL_SYNTAX,
	R_RCPT_SYNTAX,
	R_PATH_TOO_LONG,
	R_SENDER_TOO_LONG,
	R_NEED_SMTPUTF8,
	R_NULL_RCPT,
	R_BAD_SENDER_WHY,
	R_BAD_RCPT_WHY,
	R_NEED_HELO,
	R_NEED_MAIL,
	R_NEED_RCPT,
	R_NESTED_MAIL,
	R_PARAM_UNKNOWN,
	R_PARAM_BAD,
	R_SIZE_EXCEEDED,
	R_MSG_TOO_BIG,
	R_TOO_MANY_RCPTS,
	R_RELAY_DENIED,
	R_SPOOL_FULL,
	R_SPOOL_ERROR,
	R_HELP_UNKNOWN,
	R_SHUTDOWN,
	R_TIMEOUT,
	R_STARTTLS_GO,
	R_TLS_TWICE,
	R_AUTH_REQUIRED,
	R_AUTH_OK,
	R_AUTH_CHALLENGE,
	R_AUTH_FAILED,
	R_AUTH_TOO_MANY,
	R_AUTH_CANCELLED,
	R_AUTH_BAD_BASE64,
	R_AUTH_TOO_LONG,
	R_AUTH_TWICE,
	R_AUTH_IN_TX,
	R_AUTH_UNKNOWN_MECH,
	R_AUTH_NEED_TLS,
	R_AUTH_TEMP,
	R_AUTH_TRANSITION,
	R_AUTH_TOO_WEAK,
	R_AUTH_NEED_TLS_NONE,
	R_AUTH_REQUIRED_STARTTLS,
	R_AUTH_REQUIRED_NONE,
	R_TOO_MANY_CONNS,
	R_NO_DESCRIPTORS,
	R_TOO_MANY_ERRORS,
	R_TOO_MANY_MESSAGES,
	R_PREGREET,
	R_NOT_SMTP,
	R_LINE_FLOOD,
	R_FAULT_450,		/* fault.c: refusals asked for by address */
	R_FAULT_451,
	R_FAULT_452,
	R_FAULT_550,
	R_FAULT_551,
	R_FAULT_552,
	R_FAULT_553,
	R_FAULT_554,
	R_FAULT_DATA_451,
	R_FAULT_DATA_452,
	R_FAULT_DATA_552,
	R_FAULT_DATA_554,
	R_FAULT_UNKNOWN,
	R_NO_SUCH_USER,
	R_NO_SUCH_USER_STORE,
	R_RCPT_TEMPFAIL,
	R_CHAOS_450,		/* fault.c: chaos triggers (chaos.c) */
	R_CHAOS_451,
	R_CHAOS_452,
	R_CHAOS_454,
	R_CHAOS_535,
	R_CHAOS_550,
	R_CHAOS_551,
	R_CHAOS_552,
	R_CHAOS_553,
	R_CHAOS_554,
	R_MAX
};

/* fault.c: a failure a recipient address asks for (sink_faults). */
#define FAULT_DELAY_MAX		300	/* seconds */
enum fault_kind {
	FAULT_NONE,
	FAULT_RCPT,		/* refuse this RCPT with reply */
	FAULT_DATA,		/* after the data: reply, store nothing */
	FAULT_DELAY,		/* store, then 250 after delay seconds */
	FAULT_DROP,		/* after the data: close, store nothing */
	FAULT_BAD,		/* fail-... or delay-... that is none of these */
};
struct fault {
	enum fault_kind		 kind;
	enum reply_id		 reply;
	unsigned		 delay;
};
int		 fault_parse(const char *, struct fault *);
struct session;
int		 fault_chaos(struct session *, enum chaos_stage);

/* One mail transaction: MAIL, RCPTs, the message. */
struct tx {
	char			 qid[QID_LEN + 1];
	char			 sender[SMTP_PATH_MAX + 1];
	char			**rcpt;
	size_t			 nrcpt;
	struct mail_params	 params;
	struct spool_file	*sf;
	struct data_dec		 dec;
	struct evbuffer		*body;		/* decoded, not yet written */
	size_t			 size;		/* decoded message octets */
	int			 toobig;
	int			 ioerr;
	unsigned		 nover;		/* recipients past the limit */
	time_t			 deadline;	/* for data_min_rate */
	size_t			 credit;	/* octets not yet in deadline */
	struct fault		 fault;		/* the first data-stage fault */
	char			*asking;	/* RCPT waiting for the store */
};

/* One SMTP connection. */
struct session {
	uint64_t		 id;
	struct conn		*conn;		/* NULL once it is gone */
	char			 addr[INET6_ADDRSTRLEN];
	int			 port;
	enum listen_kind	 kind;
	enum session_state	 state;
	int			 flags;
	char			*helo;
	struct tx		*tx;
	char			 line[SMTP_CMD_MAX + 1];	/* current command */
	unsigned		 ncmd[CMD_MAX];
	unsigned		 nunknown;
	unsigned		 nerr;
	unsigned		 njunk;		/* NOOP, VRFY, RSET */
	size_t			 discarded;	/* of an overlong line */
	unsigned		 nqueued;
	unsigned		 ntx;
	const char		*quit_reason;	/* for the disconnect line */
	time_t			 partial_since;	/* a command line began */
	char			 qids[8 * (QID_LEN + 1) + 1];
	int			 tls_bits;
	char			 tls_info[128];	/* version and cipher */
	void			*sasl;		/* sasl_conn_t */
	char			*auth_user;
	char			*auth_mech;
	unsigned		 auth_failures;
	char			*auth_line;	/* AUTH line, only while read */
	enum reply_id		 tarpit_reply;
	LIST_ENTRY(session)	 entry;
};

/* reply.c: one row of the reply table. */
struct reply_row {
	int		 code;
	const char	*esc;		/* RFC 3463, or NULL */
	const char	*text;		/* printf format */
	const char	*closes;	/* disconnect reason, or NULL */
};
const struct reply_row *reply_row(enum reply_id);
void		 reply(struct session *, enum reply_id, ...);
void		 reply_lines(struct session *, int, const char *,
		    const char *const *, size_t);
void		 reply_text(char *, size_t, enum reply_id, ...);
void		 reply_count_error(struct session *);
size_t		 reply_line(char *, enum reply_id, ...);

/* command.c */
void		 command_dispatch(struct session *, char *, size_t);
void		 command_counts(const struct session *, char *, size_t);
const char	*command_unavailable(const char *);
enum reply_id	 command_rule(const char *, enum session_state, int, size_t);
const char	*command_verb(size_t, int *);

/* addr.c */
enum addr_status addr_parse_cmd(char *, const char *, struct smtp_path *);
enum addr_status addr_parse_path(const char *, size_t, struct smtp_path *);
const char	*addr_domain(const char *);
const char	*addr_why(enum addr_status);

/* esmtp.c */
enum param_status esmtp_mail_params(char *, struct mail_params *,
		    const char **);
enum param_status esmtp_rcpt_params(char *, const char **);

/* message.c */
int		 message_begin(struct session *);
void		 message_append(struct tx *, const char *, size_t);
void		 message_end(struct session *);

/* data.c */
int		 data_start(struct session *);
void		 data_input(struct session *, struct evbuffer *);
void		 data_dec_init(struct data_dec *, int,
		    void (*)(void *, const char *, size_t), void *);
int		 data_dec_feed(struct data_dec *, const char *, size_t,
		    size_t *);


/* auth.c */
int		 auth_init(const struct config *, char **);
const char	*auth_unavailable(void);
void		 auth_session_free(struct session *);
void		 auth_mechs(struct session *, char *, size_t);
void		 auth_start(struct session *, char *);
void		 auth_continue(struct session *, const char *);
void		 auth_abort(struct session *);
enum reply_id	 auth_required_reply(struct session *);

/* session.c */
void		 session_accept(struct event_base *, int,
		    struct sockaddr *, int, int);
void		 session_tarpit(struct session *, unsigned, enum reply_id);
void		 session_timeout(struct session *);
void		 session_starttls(struct session *);
void		 session_shutdown_all(void);
void		 session_enter_state(struct session *, enum session_state);
void		 session_write(struct session *, const char *, size_t);
void		 session_close(struct session *, const char *);
void		 session_tx_free(struct session *);
void		 session_queued(struct session *, const char *);
void		 session_park(struct session *);
int		 session_unpark(struct session *);
void		 session_resume(struct session *);
void		 session_data_done(struct session *, enum reply_id);
void		 session_fault_delay(struct session *, unsigned);
void		 session_free_all(void);
unsigned	 session_count(void);
size_t		 session_input_pending(struct session *);

#endif

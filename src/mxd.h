/*
 * mxd.h: the one internal header.  Structures shared between files and
 * every prototype, grouped by the file that defines it.
 */
#ifndef MXD_H
#define MXD_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <netinet/in.h>
#include <arpa/inet.h>

struct bufferevent;
struct evbuffer;
struct event_base;

/* RFC 5321 4.5.3.1.4: a command line is at most 512 octets with CRLF. */
#define SMTP_CMD_MAX		512
/*
 * RFC 4954 4: a server must take the largest response of the mechanisms
 * it offers; 12288 octets (without CRLF) is enough, GSSAPI included.
 * This is the limit of an AUTH command line with its initial response
 * and of each response line; other commands keep SMTP_CMD_MAX.
 */
#define SMTP_AUTH_LINE_MAX	12288
/* RFC 5321 4.5.3.1.3: a path is at most 256 octets with the brackets. */
#define SMTP_PATH_MAX		256
/* RFC 5321 4.5.3.1.1 and 4.5.3.1.2. */
#define SMTP_LOCAL_MAX		64
#define SMTP_DOMAIN_MAX		255
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

/* The spool's lock file, held by the one mxd that owns the spool. */
#define SPOOL_LOCK		"lock"

/* A queue ID: 13 hex digits of microseconds, 3 of a per-process tag. */
#define QID_LEN			16

/* A list of strings from the configuration. */
struct strlist {
	char		**v;
	size_t		  n;
};

/* Every setting; options-table.c describes each field. */
struct config {
	struct strlist	  listen;
	char		 *hostname;
	char		 *spool_dir;
	struct strlist	  domains;
	struct strlist	  domains_idna;	/* domains, canonical (not a setting) */
	size_t		  max_message_size;
	long long	  max_recipients;
	char		 *pid_file;
	long long	  command_timeout;
	long long	  data_timeout;
	long long	  data_min_rate;
	int		  spool_sync;
	int		  bare_lf_end;
	char		 *syslog_facility;
	char		 *syslog_ident;
	struct strlist	  smtps_listen;
	struct strlist	  submission_listen;
	char		 *tls_cert;
	char		 *tls_key;
	char		 *tls_ciphers;
	struct strlist	  tls_protocols;
	int		  auth;
	char		 *sasl_app;
	char		 *sasl_config_dir;
	struct strlist	  auth_mechanisms;
	char		 *auth_plaintext;
	long long	  auth_max_failures;
	long long	  auth_delay_max;
	long long	  max_connections;
	long long	  max_connections_per_ip;
	struct strlist	  trusted_networks;
	long long	  max_errors;
	long long	  max_messages_per_session;
	long long	  greet_delay;
	int		  pregreet_reject;
	long long	  shutdown_grace;
	char		 *user;
	char		 *group;
};

enum opt_type {
	OPT_STRING,
	OPT_LIST,
	OPT_SIZE,
	OPT_COUNT,
	OPT_TIME,
	OPT_BOOL,
	OPT_LISTEN,
	OPT_DOMAIN,
	OPT_DOMAIN_LIST,
	OPT_NETWORKS,
};

/* One setting: its only spelling, type, default, limits and help. */
struct option_entry {
	const char	*name;
	enum opt_type	 type;
	size_t		 offset;
	const char	*def;
	long long	 min;
	long long	 max;
	const char	*help;
	const char	*choices;	/* OPT_STRING: allowed values, |-separated */
};

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
#define SESSION_F_FLOW		0x20	/* stopped reading: output is full */
#define SESSION_F_TLS		0x40	/* TLS is on */
#define SESSION_F_AUTH		0x80	/* authenticated */
#define SESSION_F_AUTH_CONT	0x100	/* reading AUTH responses */
#define SESSION_F_TARPIT	0x200	/* reply delayed by a timer */
#define SESSION_F_STARTTLS	0x400	/* 220 sent; TLS once it drains */
#define SESSION_F_COUNTED	0x800	/* counted by limit.c */
#define SESSION_F_PREGREET	0x1000	/* greeting not sent yet */
#define SESSION_F_SHUTDOWN	0x2000	/* server stopping: 421 after DATA */
#define SESSION_F_LINGER	0x4000	/* last reply out; waiting for EOF */
#define SESSION_F_BARE_LF_TOLD	0x8000	/* the bare-LF note was sent */
#define SESSION_F_TRUSTED	0x10000	/* client in trusted_networks */

/* What kind of listener accepted the connection. */
enum listen_kind {
	LISTEN_SMTP,		/* port 25: STARTTLS optional */
	LISTEN_SMTPS,		/* RFC 8314 implicit TLS, port 465 */
	LISTEN_SUBMISSION,	/* port 587: AUTH before MAIL */
};

#define CMD_MAX			16	/* size of the per-verb counters */

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
	R_BAD_SENDER,
	R_BAD_RCPT,
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
	R_MAX
};

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
};

/* One SMTP connection. */
struct session {
	uint64_t		 id;
	struct bufferevent	*bev;
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
	time_t			 linger_since;	/* SESSION_F_LINGER began */
	char			 qids[8 * (QID_LEN + 1) + 1];
	int			 tls_bits;
	char			 tls_info[128];	/* version and cipher */
	void			*sasl;		/* sasl_conn_t */
	char			*auth_user;
	char			*auth_mech;
	unsigned		 auth_failures;
	char			*auth_line;	/* AUTH line, only while read */
	struct event		*tarpit;
	enum reply_id		 tarpit_reply;
	struct evbuffer		*pend;		/* replies of this pass */
	struct session		*flush_next;	/* on the flush queue */
	struct session		*next;
	struct session		*prev;
};

/* reply.c */
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

/* line.c */
enum line_status {
	LINE_OK,
	LINE_PARTIAL,
	LINE_TOO_LONG,
};
enum line_status line_get(struct evbuffer *, char *, size_t, size_t *, int *);
int		 line_valid(const char *, size_t);

/* addr.c */
enum addr_status addr_parse_cmd(char *, const char *, struct smtp_path *);
enum addr_status addr_parse_path(const char *, size_t, struct smtp_path *);
const char	*addr_domain(const char *);
int		 addr_is_postmaster(const char *, const char *);
const char	*addr_why(enum addr_status);
int		 addr_domain_canon(const char *, char *, size_t);

/* esmtp.c */
enum param_status esmtp_mail_params(char *, struct mail_params *,
		    const char **);
enum param_status esmtp_rcpt_params(char *, const char **);
size_t		 xtext_encode(const char *, char *, size_t);
size_t		 xtext_decode(const char *, char *, size_t);

/* data.c */
int		 data_start(struct session *);
void		 data_input(struct session *, struct evbuffer *);
void		 data_dec_init(struct data_dec *, int,
		    void (*)(void *, const char *, size_t), void *);
int		 data_dec_feed(struct data_dec *, const char *, size_t,
		    size_t *);

/* log.c */
void		 log_init(int, const char *, const char *);
void		 log_info(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
void		 log_warn(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
void		 log_warnx(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
void		 log_debug(const char *, ...)
		    __attribute__((format(printf, 1, 2)));
void		 fatal(const char *, ...)
		    __attribute__((format(printf, 1, 2), noreturn));
void		 fatalx(const char *, ...)
		    __attribute__((format(printf, 1, 2), noreturn));
void		 log_escape(const char *, size_t, char *, size_t);
const char	*log_str(const char *);
void		 log_flush(void);
void		 log_set_base(struct event_base *);
extern int	 log_verbose;

/* xmalloc.c */
void		*xmalloc(size_t);
void		*xcalloc(size_t, size_t);
void		*xreallocarray(void *, size_t, size_t);
char		*xstrdup(const char *);
int		 xasprintf(char **, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/* options-table.c */
extern const struct option_entry options_table[];

/* config.c */
extern struct config *cfg;
int		 config_load(struct config *, const char *, char **,
		    size_t, char **);
int		 config_set(struct config *, const char *, const char *,
		    char **);
void		 config_free(struct config *);
void		 config_dump(const struct config *, FILE *);
char		*config_get(const struct config *, const char *);
int		 config_domain_match(const struct config *, const char *);

/* spool.c */
struct spool_file;
int		 spool_init(const char *, int, const char **);
long		 spool_owner(const char *);
void		 spool_start(struct event_base *);
void		 spool_stop(void);
void		 spool_qid_new(char *);
void		 spool_chown(uid_t, gid_t);
struct spool_file *spool_create(const char *);
int		 spool_write(struct spool_file *, struct evbuffer *);
#define SPOOL_F_INLINE_OK 0x1	/* no other client waits: commit on the loop */
void		 spool_commit(struct spool_file *, struct evbuffer *, int,
		    void (*)(void *, int), void *);
void		 spool_abort(struct spool_file *);
int		 spool_list(const char *, FILE *);

/* network.c */
int		 network_list_check(const struct strlist *, const char *,
		    char **);
int		 network_list_match(const struct strlist *, const char *);

/* limit.c */
int		 limit_connect(const char *, int);
void		 limit_disconnect(const char *);

/* listener.c */
int		 listener_open(struct event_base *, const char *,
		    enum listen_kind, const char **);
void		 listener_close_all(void);

/* tls.c */
int		 tls_load(const struct config *, char **);
int		 tls_enabled(void);
void		 tls_free(void);
struct bufferevent *tls_socket_new(struct event_base *, int);
struct bufferevent *tls_starttls(struct session *);
void		 tls_describe(struct bufferevent *, char *, size_t, int *);
const char	*tls_last_error(struct bufferevent *);

/* auth.c */
int		 auth_init(const struct config *, char **);
void		 auth_session_free(struct session *);
void		 auth_mechs(struct session *, char *, size_t);
void		 auth_start(struct session *, char *);
void		 auth_continue(struct session *, const char *);
void		 auth_abort(struct session *);
enum reply_id	 auth_required_reply(struct session *);

/* session.c */
void		 session_accept(struct event_base *, int,
		    struct sockaddr *, int, enum listen_kind);
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
void		 session_data_done(struct session *, enum reply_id);
void		 session_free_all(void);
unsigned	 session_count(void);

#endif

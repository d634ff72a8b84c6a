/*
 * mxd.h: the core's header: the configuration, logging, the connection
 * layer, listeners, TLS, the store, and the struct protocol through which
 * the core reaches a protocol.  A protocol keeps its own types in its
 * folder (smtp/smtp.h).
 *
 * Who may call whom:
 * 1. Core files (src/ itself) never include a protocol's header; they reach
 *    a protocol only through its struct protocol and the callbacks they
 *    are given (conn events, spool completions, queue watchers).
 * 2. store/ never names a session, a connection or a protocol.
 * 3. Protocol folders (smtp/, later pop3/, http/, deliver/) never include
 *    each other's headers; they meet in store/ and in the core.
 * 4. Only conn.c and tls.c call bufferevent_*; only http/ calls evhttp_*.
 * 5. Calls may go both ways inside one folder, never across two.
 */
#ifndef MXD_H
#define MXD_H

#include <sys/types.h>
#include <sys/queue.h>
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
struct rcpttable;
struct event_base;

/* RFC 5321 4.5.3.1.3: a path is at most 256 octets with the brackets. */
#define SMTP_PATH_MAX		256
/* RFC 5321 4.5.3.1.1 and 4.5.3.1.2. */
#define SMTP_LOCAL_MAX		64
#define SMTP_DOMAIN_MAX		255
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
	int		  sink_faults;
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
	char		 *recipient_table;
	char		 *recipient_delimiter;
	struct rcpttable *rcpt_table;	/* recipient_table, loaded (not a setting) */
	char		 *recipient_check;
	char		 *recipient_lmtp;
	long long	  recipient_cache_ttl;
	long long	  recipient_cache_negative_ttl;
	long long	  recipient_lmtp_timeout;
	struct strlist	  pop3_listen;
	struct strlist	  pop3s_listen;
	long long	  pop3_timeout;
	char		 *pop3_auth;
	struct strlist	  http_listen;
	char		 *http_auth_file;
	char		 *http_auth;
	struct strlist	  https_listen;
	long long	  sink_max_messages;
	size_t		  sink_max_size;
	char		 *delivery;
	char		 *delivery_map;
	long long	  delivery_concurrency;
	long long	  delivery_retry_min;
	long long	  delivery_retry_max;
	long long	  delivery_lifetime;
	long long	  delivery_timeout;
	long long	  lmtp_recipient_limit;
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
	int		 flags;		/* OPT_F_* */
};
#define OPT_F_RESTART	0x1	/* changes only on restart */

/*
 * A protocol, as the core sees it (nginx's ngx_mail_protocol_t): what
 * the listeners hand accepted sockets to, what main() starts, stops and
 * counts.  kind is the protocol's own listener variant.
 */
struct protocol {
	const char	*name;
	int		(*init)(const struct config *, char **);
	void		(*accept)(struct event_base *, int, struct sockaddr *,
			    int, int);
	size_t		(*busy_line)(char *, size_t);
	void		(*shutdown)(void);
	unsigned	(*count)(void);
	void		(*free_all)(void);
	struct {
		const char	*setting;	/* the list of addresses */
		int		 kind;
		const char	*name;		/* for the log */
	} listeners[4];				/* ends at setting NULL */
	/* Optional: once the spool is open, before privileges go; 0, -1. */
	int		(*start)(struct event_base *, char **);
	/* Optional: settings checks for start, reload and -t; 0, -1. */
	int		(*check)(const struct config *, char **);
};
extern const struct protocol smtp_protocol;
extern const struct protocol pop3_protocol;
extern const struct protocol http_protocol;

/* line.c */
enum line_status {
	LINE_OK,
	LINE_PARTIAL,
	LINE_TOO_LONG,
};
enum line_status line_get(struct evbuffer *, char *, size_t, size_t *, int *);
int		 line_valid(const char *, size_t);

/* recipient.c */
enum rcpt_verdict {
	RCPT_NOT_OURS,		/* not a listed domain: relay denied */
	RCPT_OURS,		/* a listed domain */
	RCPT_POSTMASTER,	/* RFC 5321 4.5.1, always taken */
	RCPT_RELAY,		/* an authenticated client may relay */
	RCPT_UNKNOWN,		/* a listed domain, not in recipient_table */
	RCPT_ASK,		/* ask the mail store: recipient_ask() */
	RCPT_TEMPFAIL,		/* the store cannot be asked now */
};
/* What the mail store said about a recipient (recipient_ask()). */
struct rcpt_answer {
	enum rcpt_verdict v;		/* RCPT_OURS, _UNKNOWN or _TEMPFAIL */
	int		  code;		/* the store's reply, 0 if none */
	char		  text[256];	/* its text, or why there is none */
	int		  cached;	/* from the cache */
};
/*
 * What asks the mail store (the LMTP client, deliver/lmtp.c): main()
 * names it as it names smtp_protocol.  ask() never calls back before
 * it returns; code 0 in the callback means the store could not be
 * asked, and the text says why.
 */
struct rcpt_prober {
	const char	*name;
	int		(*check)(const struct config *, char **);
	void		(*start)(struct event_base *);
	void		(*ask)(const struct config *, const char *,
			    void (*)(void *, int, const char *), void *);
	void		(*free_all)(void);
};
extern const struct rcpt_prober lmtp_prober;
/*
 * The delivery runner (deliver/runner.c): main() names it as it names
 * lmtp_prober.  start() scans the queue and listens for commits (again
 * after SIGHUP: it then rereads delivery_map, or starts if the new
 * configuration delivers); retry_now() is SIGUSR1 (mxd -Q); stop()
 * joins its threads.
 */
struct deliverer {
	const char	*name;
	int		(*check)(const struct config *, char **);
	void		(*start)(struct event_base *);
	void		(*retry_now)(void);
	void		(*stop)(void);
	void		(*explain)(const struct config *, FILE *);
};
extern const struct deliverer deliver_runner;
void		 recipient_set_prober(const struct rcpt_prober *);
int		 recipient_ask(const struct config *, const char *,
		    void (*)(void *, const struct rcpt_answer *), void *,
		    struct rcpt_answer *);
void		 recipient_cache_flush(void);
void		 recipient_free_all(void);
enum rcpt_verdict recipient_explain_store(const struct rcpt_answer *, FILE *);
enum rcpt_verdict recipient_check(const struct config *, const char *,
		    int);
enum rcpt_verdict recipient_explain(const struct config *, const char *,
		    FILE *);
int		 recipient_domain_ours(const struct config *, const char *);
int		 recipient_is_postmaster(const char *, const char *);

/* rcpttable.c: the recipient table (doc/recipients.md). */
#define RCPTTABLE_DEPTH		20	/* aliases of aliases */
#define RCPTTABLE_MAX_MAILBOXES	1000	/* one address's expansion */
struct rcpt_entry {
	char		 *key;		/* canonical: local@domain, @domain */
	char		**to;		/* alias targets; none: a mailbox */
	size_t		  nto;
	unsigned	  line;
};
struct rcpttable {
	char		 *file;
	char		 *delim;	/* recipient_delimiter */
	struct rcpt_entry *slots;	/* open addressing */
	size_t		  cap, n;
	size_t		  nusers, naliases, ncatchall;
};
enum rcpt_how {
	RCPT_HOW_EXACT,		/* the address itself */
	RCPT_HOW_UNTAGGED,	/* the address without its +tag */
	RCPT_HOW_CATCHALL,	/* @domain */
};
struct rcpt_match {
	const struct rcpt_entry	*e;
	enum rcpt_how		 how;
	char			 addr[SMTP_PATH_MAX + 1];	/* canonical */
	char			 mailbox[SMTP_PATH_MAX + 1];	/* no +tag */
	char			 tag[SMTP_PATH_MAX + 1];
};
int		 rcpttable_canon(const char *, char *, size_t);
int		 rcpttable_load(const char *, const char *,
		    const struct config *, struct rcpttable **, char **);
int		 rcpttable_load_fp(FILE *, const char *, const char *,
		    const struct config *, struct rcpttable **, char **);
void		 rcpttable_free(struct rcpttable *);
const struct rcpt_entry *rcpttable_lookup(const struct rcpttable *,
		    const char *, struct rcpt_match *);
int		 rcpttable_expand(const struct rcpttable *, const char *,
		    struct strlist *, FILE *, char **);

/* domain.c */
enum domain_status {
	DOMAIN_OK,
	DOMAIN_BAD,		/* not RFC 5321 Domain syntax */
	DOMAIN_BAD_IDN,		/* U-labels that are not IDNA2008 */
};
enum domain_status domain_check(const char *, size_t);
int		 domain_canon(const char *, char *, size_t);

/* store/envelope.c: the envelope block of a spool file (doc/spool.md). */
struct envelope {
	char		 qid[QID_LEN + 1];
	char		 arrival[32];			/* RFC 3339, UTC */
	char		 client_addr[INET6_ADDRSTRLEN];
	int		 client_port;
	char		 helo[SMTP_DOMAIN_MAX + 1];
	char		 sender[SMTP_PATH_MAX + 1];	/* "" for <> */
	char		**rcpt;
	size_t		 nrcpt;
	char		 auth_mech[32];			/* "" if none */
	char		 auth_user[SMTP_PATH_MAX + 1];
	char		 tls[128];			/* "" if none */
	size_t		 len;				/* read: octets */
};
void		 envelope_write(struct evbuffer *, const struct envelope *);
int		 envelope_read(FILE *, struct envelope *);
void		 envelope_free(struct envelope *);
size_t		 xtext_encode(const char *, char *, size_t);
size_t		 xtext_decode(const char *, char *, size_t);

/* log.c */
long long	 clock_us(clockid_t);
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

/* store/spool.c */
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
int		 spool_openat(const char *, const char *, int, mode_t);
int		 spool_unlinkat(const char *, const char *);

/* store/intake.c: is SMTP intake pressed (background work yields)? */
void		 intake_begin(void);
void		 intake_end(void);
int		 intake_busy(void);
int		 intake_flooded(void);
int		 intake_defer(int (*)(void), long long *, unsigned);
void		 intake_nap(void);

/* store/queue.c */
int		 queue_list(const char *, FILE *);
int		 queue_id_valid(const char *);
FILE		*queue_open(const char *, const char *, struct envelope *);
int		 queue_delete(const char *, const char *);
void		 queue_watch(void (*)(const char *, void *), void *);
void		 queue_unwatch(void (*)(const char *, void *), void *);
void		 queue_committed(const char *);
void		 queue_watch_removals(void (*)(const char *, void *), void *);
void		 queue_unwatch_removals(void (*)(const char *, void *), void *);
void		 queue_removed(const char *);
char		**queue_ids(const char *, size_t *);
int		 queue_unlink(const char *, const char *);

/* store/rcptstate.c: per-recipient state, state/<QID> (doc/spool.md). */
enum rcpt_status {
	RCPT_S_NONE,		/* no transition yet: waiting in the queue */
	RCPT_S_REMOVED,		/* taken out of its maildrop (POP3, API) */
	RCPT_S_DELIVERED,	/* reserved for delivery */
	RCPT_S_DEFERRED,	/* reserved for delivery */
	RCPT_S_FAILED,		/* reserved for delivery */
	RCPT_S_SENT,		/* one mailbox of an alias: detail names it */
	RCPT_S_BOUNCED,		/* one mailbox of an alias refused it (5xx) */
};
int		 rcptstate_init(int, int);
const char	*rcptstate_name(enum rcpt_status);
int		 rcptstate_append(const char *, const char *, size_t,
		    enum rcpt_status, const char *);
int		 rcptstate_read(const char *, const char *, enum rcpt_status *,
		    size_t);
int		 rcptstate_done(const enum rcpt_status *, size_t);
int		 rcptstate_remove(const char *, const char *);
int		 rcptstate_scan(const char *, const char *, void (*)(void *,
		    time_t, size_t, const char *, const char *), void *);

/* store/maildrop.c: one user's queued mail (doc/pop3.md). */
#define MAILDROP_ALL	"*"	/* the special user: every message */
struct maildrop_msg {
	char		 qid[QID_LEN + 1];	/* also the UIDL */
	off_t		 size;		/* octets from Received: on */
	size_t		*rcpt;		/* the user's recipient numbers */
	size_t		 nrcpt;
	int		 deleted;	/* marked; maildrop_commit removes */
	int		 unlinked;	/* maildrop_commit removed the file */
};
struct maildrop {
	char			*spool_dir;
	struct maildrop_msg	*msg;
	size_t			 n;
	off_t			 total;
};
int		 maildrop_match(const char *, const char *);
int		 maildrop_open(struct maildrop *, const char *, const char *,
		    int);
FILE		*maildrop_msg_open(struct maildrop *, size_t);
int		 maildrop_commit(struct maildrop *, size_t *);
void		 maildrop_free(struct maildrop *);
struct maildrop_job;
typedef void	(*maildrop_job_cb)(struct maildrop *, int, size_t, void *);
struct maildrop_job *maildrop_job_open(struct event_base *, const char *,
		    const char *, int, maildrop_job_cb, void *);
struct maildrop_job *maildrop_job_commit(struct event_base *,
		    struct maildrop *, maildrop_job_cb, void *);
void		 maildrop_job_cancel(struct maildrop_job *);
void		 maildrop_stop(void);

/* network.c */
int		 network_list_check(const struct strlist *, const char *,
		    char **);
int		 network_list_match(const struct strlist *, const char *);

/* conn.c: one client connection; see the top of conn.c. */
enum conn_event {
	CONN_INPUT,		/* bytes to read in conn_input() */
	CONN_TLS_READY,		/* the TLS handshake is done */
	CONN_TLS_SWITCHED,	/* STARTTLS: now TLS, handshake to come */
	CONN_TIMEOUT,		/* nothing read within the timeout */
	CONN_DELAY,		/* conn_delay()'s time is up */
	CONN_GONE,		/* EOF, error, stall, TLS failure: c->why */
	CONN_DONE,		/* conn_close_after_drain(): all is out */
	CONN_CONNECTED,		/* conn_connect(): the connection is up */
};

struct conn {
	struct bufferevent	*bev;
	struct evbuffer		*pend;		/* this pass's output */
	struct conn		*flush_next;
	struct event		*delay;
	void			(*cb)(struct conn *, enum conn_event, void *);
	void			*arg;
	uint64_t		 id;		/* s=%08llx in log lines */
	char			 addr[INET6_ADDRSTRLEN];
	int			 port;
	int			 flags;
	int			 tls_bits;
	char			 tls_info[128];	/* version and cipher */
	const char		*why;		/* CONN_GONE: eof, error, ... */
	short			 held_events;	/* read events in a hold */
	time_t			 linger_since;
	LIST_ENTRY(conn)	 entry;		/* lingering */
};

struct conn	*conn_new(struct event_base *, int, const struct sockaddr *,
		    int, uint64_t, void (*)(struct conn *, enum conn_event,
		    void *), void *);
struct conn	*conn_connect(struct event_base *, const struct sockaddr *,
		    socklen_t, const char *, uint64_t, void (*)(struct conn *,
		    enum conn_event, void *), void *, const char **);
void		 conn_write(struct conn *, const void *, size_t);
size_t		 conn_unsent(struct conn *);
struct evbuffer	*conn_input(struct conn *);
void		 conn_pause_read(struct conn *);
void		 conn_resume_read(struct conn *);
void		 conn_hold(struct conn *);
void		 conn_release(struct conn *);
void		 conn_wait_drain(struct conn *);
void		 conn_set_timeout(struct conn *, long);
void		 conn_delay(struct conn *, unsigned);
void		 conn_delay_cancel(struct conn *);
void		 conn_starttls_after_drain(struct conn *);
void		 conn_close_after_drain(struct conn *);
void		 conn_close(struct conn *);
unsigned	 conn_linger_count(void);
void		 conn_free_all(void);

/* limit.c */
int		 limit_connect(const char *, int);
void		 limit_disconnect(const char *);

/* listener.c */
int		 listener_open(struct event_base *, const char *,
		    const struct protocol *, int, const char **);
const struct strlist *config_list(const struct config *, const char *);
void		 listener_close_all(void);

/* sasl.c: cyrus-sasl glue shared by every protocol's AUTH. */
struct sasl_conn;
enum sasl_glue_result {
	SASL_G_OK,		/* authenticated */
	SASL_G_CONTINUE,	/* send the challenge, read a response */
	SASL_G_FAILED,		/* the client's failure: count, delay */
	SASL_G_TRANSITION,	/* RFC 4954 6: log in once with PLAIN */
	SASL_G_TOO_WEAK,	/* the mechanism is too weak */
	SASL_G_NEED_TLS,	/* the mechanism needs TLS */
	SASL_G_TEMP,		/* the server's trouble */
};
int		 sasl_glue_init(const struct config *, char **);
int		 sasl_glue_on(void);
int		 sasl_glue_loopback(const char *);
int		 sasl_glue_plaintext_ok(const char *, int);
struct sasl_conn *sasl_glue_new(const char *, const char *, int, int,
		    const char **);
void		 sasl_glue_free(struct sasl_conn **);
int		 sasl_glue_allowed(const char *);
void		 sasl_glue_mechs(struct sasl_conn *, char *, size_t);
int		 sasl_glue_in_list(const char *, const char *);
int		 sasl_glue_mech_exists(const char *);
enum sasl_glue_result sasl_glue_outcome(int);
const char	*sasl_glue_why(struct sasl_conn *, int);
int		 sasl_glue_step(struct sasl_conn *, const char *, const char *,
		    unsigned, const char **, unsigned *);
const char	*sasl_glue_user(struct sasl_conn *);
int		 sasl_glue_decode(const char *, char *, size_t, unsigned *);
int		 sasl_glue_encode(const char *, unsigned, char *, size_t);

/* tls.c */
int		 tls_load(const struct config *, char **);
int		 tls_enabled(void);
const char	*tls_unavailable(void);
void		 tls_free(void);
struct bufferevent *tls_socket_new(struct event_base *, int);
struct bufferevent *tls_http_bev(struct event_base *, void *);
void		 tls_describe(struct bufferevent *, char *, size_t, int *);
const char	*tls_last_error(struct bufferevent *);

/*
 * chaos.c: Mailpit's chaos triggers (set by http/, fired by smtp/).
 * CHAOS_CODES: the codes a trigger may use; each has a reply row.
 */
#define CHAOS_CODES	450, 451, 452, 454, 535, 550, 551, 552, 553, 554
enum chaos_stage { CHAOS_SENDER, CHAOS_RECIPIENT, CHAOS_AUTH, CHAOS_NSTAGES };
struct chaos_trigger {
	int		  code;
	int		  probability;	/* percent: 0 never, 100 always */
};
extern const char *const chaos_names[CHAOS_NSTAGES];
int		 chaos_code_ok(int);
int		 chaos_default(enum chaos_stage);
struct chaos_trigger chaos_get(enum chaos_stage);
void		 chaos_set(const struct chaos_trigger[CHAOS_NSTAGES]);
int		 chaos_fire(const struct config *, enum chaos_stage);

/* stats.c: counters since start (counted by smtp/, shown by http/). */
void		 stats_accepted(size_t);
void		 stats_rejected(void);
void		 stats_get(unsigned long long *, unsigned long long *);

#endif

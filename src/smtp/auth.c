/*
 * auth.c: SMTP AUTH (RFC 4954) through cyrus-sasl's server API, so any
 * mechanism and back end libsasl2 offers (sasldb, saslauthd, PAM) works.
 * libsasl2 reads <sasl_app>.conf from sasl_config_dir.  Plaintext
 * mechanisms are refused before TLS unless auth_plaintext allows them;
 * each failure delays the reply longer, and too many close the session.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sasl/sasl.h>
#include <sasl/saslutil.h>


#include "smtp.h"

/* RFC 4954 4: room for a decoded AUTH line, or a challenge to encode. */
#define AUTH_BUF	SMTP_AUTH_LINE_MAX

static int	 auth_on;
static char	 auth_confdir[1024];

/* libsasl2 asks where <app>.conf lives. */
static int
auth_getconfpath_cb(void *ctx, const char **path)
{
	*path = auth_confdir;
	return (SASL_OK);
}

/* libsasl2's own messages go to our log. */
static int
auth_log_cb(void *ctx, int level, const char *msg)
{
	if (level <= SASL_LOG_WARN)
		log_warnx("sasl: %s", msg);
	else
		log_debug("sasl: %s", msg);
	return (SASL_OK);
}

/* sasl_callback_t holds every callback as int (*)(void). */
#define AUTH_CB(f)	((int (*)(void))(void (*)(void))(f))

static sasl_callback_t auth_callbacks[] = {
	{ SASL_CB_LOG, AUTH_CB(auth_log_cb), NULL },
	{ SASL_CB_GETCONFPATH, AUTH_CB(auth_getconfpath_cb), NULL },
	{ SASL_CB_LIST_END, NULL, NULL },
};

/* Why AUTH is not offered, for HELP and the 502; NULL if it is. */
const char *
auth_unavailable(void)
{
	if (!cfg->auth)
		return ("authentication is not configured (auth = no)");
	return (NULL);
}

/* Start libsasl2 if AUTH is configured; 0 or -1 with *cause. */
int
auth_init(const struct config *c, char **cause)
{
	int	rc;

	if (!c->auth)
		return (0);
	if (c->sasl_config_dir[0] != '\0')
		snprintf(auth_confdir, sizeof(auth_confdir), "%s",
		    c->sasl_config_dir);
	else
		auth_callbacks[1].id = SASL_CB_LIST_END;
	if ((rc = sasl_server_init(auth_callbacks, c->sasl_app)) != SASL_OK) {
		xasprintf(cause, "sasl_server_init: %s",
		    sasl_errstring(rc, NULL, NULL));
		return (-1);
	}
	auth_on = 1;
	return (0);
}

/* May plaintext mechanisms be used on this session now? */
static int
auth_plaintext_ok(const struct session *s)
{
	if (s->flags & SESSION_F_TLS)
		return (1);
	if (strcmp(cfg->auth_plaintext, "always") == 0)
		return (1);
	return (strcmp(cfg->auth_plaintext, "loopback") == 0 &&
	    (strncmp(s->addr, "127.", 4) == 0 || strcmp(s->addr, "::1") == 0));
}

/* The session's SASL context, made on first use; NULL on failure. */
static sasl_conn_t *
auth_conn(struct session *s)
{
	sasl_security_properties_t	 props;
	sasl_conn_t			*conn;
	sasl_ssf_t			 ssf = s->tls_bits;
	char				 remote[INET6_ADDRSTRLEN + 8];
	int				 rc;

	if (s->sasl != NULL)
		return (s->sasl);
	snprintf(remote, sizeof(remote), "%s;%d", s->addr, s->port);
	if ((rc = sasl_server_new("smtp", cfg->hostname, NULL, NULL, remote,
	    NULL, 0, &conn)) != SASL_OK) {
		log_warnx("s=%08llx auth unavailable client=[%s] "
		    "reason=\"sasl_server_new: %s\"", (unsigned long long)s->id,
		    s->addr, sasl_errstring(rc, NULL, NULL));
		return (NULL);
	}
	memset(&props, 0, sizeof(props));
	props.max_ssf = 0;		/* no SASL security layers */
	props.maxbufsize = 0;
	props.security_flags = SASL_SEC_NOANONYMOUS;
	if (!auth_plaintext_ok(s))
		props.security_flags |= SASL_SEC_NOPLAINTEXT;
	sasl_setprop(conn, SASL_SEC_PROPS, &props);
	if (s->flags & SESSION_F_TLS)
		sasl_setprop(conn, SASL_SSF_EXTERNAL, &ssf);
	s->sasl = conn;
	return (conn);
}

/* Forget the SASL context (at the end, or after STARTTLS). */
void
auth_session_free(struct session *s)
{
	if (s->sasl != NULL)
		sasl_dispose((sasl_conn_t **)&s->sasl);
	s->sasl = NULL;
}

/*
 * Is mech in auth_mechanisms?  libsasl2 offers every plugin installed,
 * NTLM and DIGEST-MD5 among them, unless its own mech_list says
 * otherwise; mxd offers only the mechanisms it was told to.
 */
static int
auth_allowed(const char *mech)
{
	size_t	i;

	for (i = 0; i < cfg->auth_mechanisms.n; i++)
		if (strcmp(cfg->auth_mechanisms.v[i], "*") == 0 ||
		    strcasecmp(cfg->auth_mechanisms.v[i], mech) == 0)
			return (1);
	return (0);
}

/* The mechanisms to advertise, space-separated; "" when none. */
void
auth_mechs(struct session *s, char *buf, size_t len)
{
	sasl_conn_t	*conn;
	const char	*list;
	char		*all, *p, *m;
	unsigned	 n;
	int		 count;

	buf[0] = '\0';
	if (!auth_on || (s->flags & SESSION_F_AUTH) ||
	    (conn = auth_conn(s)) == NULL)
		return;
	if (sasl_listmech(conn, NULL, "", " ", "", &list, &n, &count) !=
	    SASL_OK || count == 0)
		return;
	p = all = xstrdup(list);
	while ((m = strsep(&p, " ")) != NULL)
		if (*m != '\0' && auth_allowed(m))
			snprintf(buf + strlen(buf), len - strlen(buf), "%s%s",
			    buf[0] != '\0' ? " " : "", m);
	free(all);
}

/* Is mech a whole word in the space-separated list? */
static int
auth_in_list(const char *list, const char *mech)
{
	size_t	n = strlen(mech);

	while (*list != '\0') {
		if (strncasecmp(list, mech, n) == 0 &&
		    (list[n] == ' ' || list[n] == '\0'))
			return (1);
		list += strcspn(list, " ");
		list += strspn(list, " ");
	}
	return (0);
}

/* Would mech be offered at all, with or without TLS? */
static int
auth_mech_exists(const char *mech)
{
	const char	**m;

	if (!auth_allowed(mech))
		return (0);
	for (m = sasl_global_listmech(); m != NULL && *m != NULL; m++)
		if (strcasecmp(*m, mech) == 0)
			return (1);
	return (0);
}

/*
 * What the client can do instead of a plaintext mechanism on a session
 * where STARTTLS is not possible: the mechanisms offered here, and
 * loopback if auth_plaintext allows that.
 */
static void
auth_alternatives(struct session *s, char *buf, size_t len)
{
	char	 mechs[512], *p = mechs, *m;
	int	 loop;

	auth_mechs(s, mechs, sizeof(mechs));
	loop = strcmp(cfg->auth_plaintext, "loopback") == 0;
	buf[0] = '\0';
	if (mechs[0] == '\0' && !loop) {
		snprintf(buf, len, "no mechanism is usable on this connection "
		    "(auth_mechanisms)");
		return;
	}
	while (mechs[0] != '\0' && (m = strsep(&p, " ")) != NULL)
		snprintf(buf + strlen(buf), len - strlen(buf), "%s%s",
		    m == mechs ? "use " : p == NULL ? " or " : ", ", m);
	if (loop)
		snprintf(buf + strlen(buf), len - strlen(buf), "%sconnect "
		    "over loopback (auth_plaintext)", buf[0] != '\0' ?
		    ", or " : "");
}

/*
 * Answer an AUTH that cannot go on.  A mechanism that needs TLS gets a
 * 538 that says what the client can actually do: STARTTLS only where
 * it is offered (RFC 4954 4: the server may refuse a plaintext
 * mechanism without TLS; it must not send the client to a dead end).
 */
static void
auth_reply(struct session *s, enum reply_id id, const char *mech)
{
	char	alt[512];

	if (id != R_AUTH_NEED_TLS || (tls_enabled() &&
	    !(s->flags & SESSION_F_TLS) && s->kind != LISTEN_SMTPS)) {
		reply(s, id);
		return;
	}
	auth_alternatives(s, alt, sizeof(alt));
	reply(s, R_AUTH_NEED_TLS_NONE, mech, alt);
}

/*
 * The 530 for a command that needs AUTH first (the submission port):
 * AUTH, STARTTLS then AUTH, or the news that neither is possible here.
 */
enum reply_id
auth_required_reply(struct session *s)
{
	char	mechs[512];

	auth_mechs(s, mechs, sizeof(mechs));
	if (mechs[0] != '\0')
		return (R_AUTH_REQUIRED);
	if (tls_enabled() && !(s->flags & SESSION_F_TLS) &&
	    s->kind != LISTEN_SMTPS)
		return (R_AUTH_REQUIRED_STARTTLS);
	return (R_AUTH_REQUIRED_NONE);
}

/*
 * Who is to blame when libsasl2 ends an exchange with rc, and the
 * reply.  The client's failures (RFC 4954 6: 535 5.7.8) are counted
 * toward auth_max_failures and delayed; a user that does not exist, or
 * has no secret for the mechanism, looks like a wrong password, so the
 * replies do not tell which users exist.  Anything not listed is the
 * server's trouble (a back end that cannot work: sasldb unreadable,
 * saslauthd down, a plugin missing): RFC 4954 6 454 4.7.0, not counted,
 * and a warning that says what broke.
 */
struct auth_outcome {
	int		 rc;
	enum reply_id	 reply;
	int		 client;	/* the client's fault: count it */
};

static const struct auth_outcome auth_outcomes[] = {
	{ SASL_BADAUTH, R_AUTH_FAILED, 1 },
	{ SASL_NOUSER, R_AUTH_FAILED, 1 },
	{ SASL_NOVERIFY, R_AUTH_FAILED, 1 },
	{ SASL_NOAUTHZ, R_AUTH_FAILED, 1 },
	{ SASL_BADPROT, R_AUTH_FAILED, 1 },
	{ SASL_BADVERS, R_AUTH_FAILED, 1 },
	{ SASL_EXPIRED, R_AUTH_FAILED, 1 },
	{ SASL_DISABLED, R_AUTH_FAILED, 1 },
	/* RFC 4954 6: the user must first log in once with PLAIN. */
	{ SASL_TRANS, R_AUTH_TRANSITION, 0 },
	/* RFC 4954 6: 534 5.7.9 and 538 5.7.11. */
	{ SASL_TOOWEAK, R_AUTH_TOO_WEAK, 0 },
	{ SASL_ENCRYPT, R_AUTH_NEED_TLS, 0 },
	/* The server's: listed to say so; unknown codes are the same. */
	{ SASL_FAIL, R_AUTH_TEMP, 0 },
	{ SASL_NOMEM, R_AUTH_TEMP, 0 },
	{ SASL_BUFOVER, R_AUTH_TEMP, 0 },
	{ SASL_NOMECH, R_AUTH_TEMP, 0 },
	{ SASL_BADPARAM, R_AUTH_TEMP, 0 },
	{ SASL_TRYAGAIN, R_AUTH_TEMP, 0 },
	{ SASL_UNAVAIL, R_AUTH_TEMP, 0 },
	{ SASL_NOTINIT, R_AUTH_TEMP, 0 },
};

/* The row of auth_outcomes for rc; the server's trouble if none. */
static const struct auth_outcome *
auth_outcome(int rc)
{
	static const struct auth_outcome	 other = { 0, R_AUTH_TEMP, 0 };
	size_t					 i;

	for (i = 0; i < sizeof(auth_outcomes) / sizeof(auth_outcomes[0]); i++)
		if (auth_outcomes[i].rc == rc)
			return (&auth_outcomes[i]);
	return (&other);
}

/*
 * The exchange ended without success.  The client's failure is counted
 * and answered after a growing delay; the server's is answered at once
 * and logged as a warning with libsasl2's detail.
 */
static void
auth_failed(struct session *s, int rc)
{
	const struct auth_outcome	*o = auth_outcome(rc);
	unsigned			 delay;

	s->flags &= ~SESSION_F_AUTH_CONT;
	if (!o->client) {
		if (o->reply == R_AUTH_TEMP)
			log_warnx("s=%08llx auth unavailable client=[%s] "
			    "sasl_method=%s reason=\"%s\"",
			    (unsigned long long)s->id, s->addr,
			    s->auth_mech ? s->auth_mech : "",
			    log_str(s->sasl != NULL ? sasl_errdetail(s->sasl) :
			    sasl_errstring(rc, NULL, NULL)));
		else
			log_info("s=%08llx auth refused client=[%s] "
			    "sasl_method=%s reason=\"%s\"",
			    (unsigned long long)s->id, s->addr,
			    s->auth_mech ? s->auth_mech : "",
			    sasl_errstring(rc, NULL, NULL));
		auth_session_free(s);
		auth_reply(s, o->reply, s->auth_mech);
		return;
	}
	s->auth_failures++;
	log_info("s=%08llx auth failed client=[%s] sasl_method=%s "
	    "failures=%u reason=\"%s\"", (unsigned long long)s->id, s->addr,
	    s->auth_mech ? s->auth_mech : "", s->auth_failures,
	    sasl_errstring(rc, NULL, NULL));
	auth_session_free(s);
	/* 1, 2, 4, 8 ... seconds, at most auth_delay_max. */
	delay = s->auth_failures > 8 ? 256 : 1u << (s->auth_failures - 1);
	if (delay > (unsigned)cfg->auth_delay_max)
		delay = (unsigned)cfg->auth_delay_max;
	session_tarpit(s, delay, s->auth_failures >=
	    (unsigned)cfg->auth_max_failures ? R_AUTH_TOO_MANY :
	    R_AUTH_FAILED);
}

/* Act on what libsasl2 said: challenge, success or failure. */
static void
auth_result(struct session *s, int rc, const char *out, unsigned outlen)
{
	char		 b64[AUTH_BUF];
	const void	*user = NULL;
	unsigned	 n;

	if (rc == SASL_CONTINUE) {
		if (sasl_encode64(out, outlen, b64, sizeof(b64), &n) != SASL_OK) {
			auth_failed(s, SASL_BUFOVER);
			return;
		}
		s->flags |= SESSION_F_AUTH_CONT;
		reply(s, R_AUTH_CHALLENGE, b64);
		return;
	}
	if (rc != SASL_OK) {
		auth_failed(s, rc);
		return;
	}
	s->flags &= ~SESSION_F_AUTH_CONT;
	if (sasl_getprop(s->sasl, SASL_USERNAME, &user) != SASL_OK ||
	    user == NULL)
		user = "";
	s->flags |= SESSION_F_AUTH;
	s->auth_user = xstrdup(user);
	log_info("s=%08llx auth ok client=[%s] sasl_method=%s "
	    "sasl_username=%s", (unsigned long long)s->id, s->addr,
	    s->auth_mech, log_str(s->auth_user));
	reply(s, R_AUTH_OK);
}

/* Decode base64 from the client; "=" is an empty response. */
static int
auth_decode(const char *in, char *out, unsigned *len)
{
	if (strcmp(in, "=") == 0) {
		*len = 0;
		out[0] = '\0';
		return (0);
	}
	if (sasl_decode64(in, (unsigned)strlen(in), out, AUTH_BUF, len) !=
	    SASL_OK)
		return (-1);
	return (0);
}

/* AUTH mechanism [initial-response] (RFC 4954 4). */
void
auth_start(struct session *s, char *args)
{
	char		 mechs[512], buf[AUTH_BUF], *mech, *ir, *p;
	const char	*out = NULL;
	unsigned	 outlen = 0, len = 0;
	sasl_conn_t	*conn;
	int		 rc;

	if (!auth_on) {
		/* auth = yes from a reload: libsasl2 starts only at start. */
		reply(s, R_NOT_AVAILABLE, "AUTH", cfg->auth ?
		    "restart mxd to start authentication" :
		    auth_unavailable());
		return;
	}
	if (s->flags & SESSION_F_AUTH) {
		reply(s, R_AUTH_TWICE);
		return;
	}
	if (s->tx != NULL) {
		reply(s, R_AUTH_IN_TX);
		return;
	}
	mech = strsep(&args, " \t");
	ir = args != NULL ? args + strspn(args, " \t") : NULL;
	if (ir != NULL && *ir == '\0')
		ir = NULL;
	auth_mechs(s, mechs, sizeof(mechs));
	if ((conn = auth_conn(s)) == NULL) {
		reply(s, R_AUTH_TEMP);
		return;
	}
	if (!auth_in_list(mechs, mech)) {
		if (auth_mech_exists(mech) && !auth_plaintext_ok(s)) {
			for (p = mech; *p != '\0'; p++)
				*p = (char)toupper((unsigned char)*p);
			auth_reply(s, R_AUTH_NEED_TLS, mech);
		} else
			reply(s, R_AUTH_UNKNOWN_MECH);
		return;
	}
	if (ir != NULL && auth_decode(ir, buf, &len) != 0) {
		reply(s, R_AUTH_BAD_BASE64);
		return;
	}
	free(s->auth_mech);
	s->auth_mech = xstrdup(mech);
	for (p = s->auth_mech; *p != '\0'; p++)
		*p = (char)toupper((unsigned char)*p);
	/* No initial response is NULL; "=" is an empty one. */
	rc = sasl_server_start(conn, s->auth_mech, ir != NULL ? buf : NULL,
	    len, &out, &outlen);
	auth_result(s, rc, out, outlen);
}

/*
 * An AUTH command or response longer than SMTP_AUTH_LINE_MAX: end the
 * exchange (RFC 4954 6), so that the next line is a command again, not
 * a response.
 */
void
auth_abort(struct session *s)
{
	s->flags &= ~SESSION_F_AUTH_CONT;
	auth_session_free(s);
	reply(s, R_AUTH_TOO_LONG);
}

/* A line in the middle of an AUTH exchange: a response or `*`. */
void
auth_continue(struct session *s, const char *line)
{
	char		 buf[AUTH_BUF];
	const char	*out = NULL;
	unsigned	 outlen = 0, len = 0;
	int		 rc;

	s->flags &= ~SESSION_F_AUTH_CONT;
	if (strcmp(line, "*") == 0) {
		/* RFC 4954 4: the client cancelled. */
		auth_session_free(s);
		reply(s, R_AUTH_CANCELLED);
		return;
	}
	if (auth_decode(line, buf, &len) != 0) {
		auth_session_free(s);
		reply(s, R_AUTH_BAD_BASE64);
		return;
	}
	rc = sasl_server_step(s->sasl, buf, len, &out, &outlen);
	auth_result(s, rc, out, outlen);
}

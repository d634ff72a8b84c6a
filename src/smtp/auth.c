/*
 * auth.c: SMTP AUTH (RFC 4954) through the cyrus-sasl glue every protocol
 * shares (sasl.c), so any mechanism and back end libsasl2 offers (sasldb,
 * saslauthd, PAM) works.  Here: the AUTH command and its exchange, and
 * the SMTP replies.  Plaintext mechanisms are refused before TLS unless
 * auth_plaintext allows them; each failure delays the reply longer, and
 * too many close the session.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smtp.h"

/* RFC 4954 4: room for a decoded AUTH line, or a challenge to encode. */
#define AUTH_BUF	SMTP_AUTH_LINE_MAX

/* Why AUTH is not offered, for HELP and the 502; NULL if it is. */
const char *
auth_unavailable(void)
{
	if (!cfg->auth)
		return ("authentication is not configured (auth = no)");
	return (NULL);
}

/* Start libsasl2 (sasl.c) if AUTH is configured; 0 or -1 with *cause. */
int
auth_init(const struct config *c, char **cause)
{
	if (!c->auth)
		return (0);
	return (sasl_glue_init(c, cause));
}

/* May plaintext mechanisms be used on this session now? */
static int
auth_plaintext_ok(const struct session *s)
{
	return (sasl_glue_plaintext_ok(s->addr, s->flags & SESSION_F_TLS));
}

/* The session's SASL context, made on first use; NULL on failure. */
static struct sasl_conn *
auth_conn(struct session *s)
{
	const char	*why;

	if (s->sasl != NULL)
		return (s->sasl);
	if ((s->sasl = sasl_glue_new("smtp", s->addr, s->port,
	    (s->flags & SESSION_F_TLS) ? (s->tls_bits > 0 ? s->tls_bits : 1) :
	    0, &why)) == NULL)
		log_warnx("s=%08llx auth unavailable client=[%s] "
		    "reason=\"sasl_server_new: %s\"", (unsigned long long)s->id,
		    s->addr, why);
	return (s->sasl);
}

/* Forget the SASL context (at the end, or after STARTTLS). */
void
auth_session_free(struct session *s)
{
	sasl_glue_free((struct sasl_conn **)&s->sasl);
}

/* The mechanisms to advertise, space-separated; "" when none. */
void
auth_mechs(struct session *s, char *buf, size_t len)
{
	struct sasl_conn	*conn;

	buf[0] = '\0';
	if (!sasl_glue_on() || (s->flags & SESSION_F_AUTH) ||
	    (conn = auth_conn(s)) == NULL)
		return;
	sasl_glue_mechs(conn, buf, len);
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
 * The reply for each way an exchange can end without success (sasl.c
 * says whose fault it was).  The client's failures (RFC 4954 6: 535
 * 5.7.8) are counted toward auth_max_failures and delayed; the server's
 * trouble is RFC 4954 6 454 4.7.0, not counted, with a warning.
 */
static const enum reply_id auth_replies[] = {
	[SASL_G_FAILED] = R_AUTH_FAILED,
	/* RFC 4954 6: the user must first log in once with PLAIN. */
	[SASL_G_TRANSITION] = R_AUTH_TRANSITION,
	/* RFC 4954 6: 534 5.7.9 and 538 5.7.11. */
	[SASL_G_TOO_WEAK] = R_AUTH_TOO_WEAK,
	[SASL_G_NEED_TLS] = R_AUTH_NEED_TLS,
	[SASL_G_TEMP] = R_AUTH_TEMP,
};

/*
 * The exchange ended without success.  The client's failure is counted
 * and answered after a growing delay; the server's is answered at once
 * and logged as a warning with libsasl2's detail.
 */
static void
auth_failed(struct session *s, int rc)
{
	enum sasl_glue_result	 g = sasl_glue_outcome(rc);
	unsigned		 delay;

	if (g == SASL_G_OK || g == SASL_G_CONTINUE)
		g = SASL_G_TEMP;	/* not a failure: a broken exchange */
	s->flags &= ~SESSION_F_AUTH_CONT;
	if (g != SASL_G_FAILED) {
		if (g == SASL_G_TEMP)
			log_warnx("s=%08llx auth unavailable client=[%s] "
			    "sasl_method=%s reason=\"%s\"",
			    (unsigned long long)s->id, s->addr,
			    s->auth_mech ? s->auth_mech : "",
			    log_str(sasl_glue_why(s->sasl, rc)));
		else
			log_info("s=%08llx auth refused client=[%s] "
			    "sasl_method=%s reason=\"%s\"",
			    (unsigned long long)s->id, s->addr,
			    s->auth_mech ? s->auth_mech : "",
			    sasl_glue_why(NULL, rc));
		auth_session_free(s);
		auth_reply(s, auth_replies[g], s->auth_mech);
		return;
	}
	s->auth_failures++;
	log_info("s=%08llx auth failed client=[%s] sasl_method=%s "
	    "failures=%u reason=\"%s\"", (unsigned long long)s->id, s->addr,
	    s->auth_mech ? s->auth_mech : "", s->auth_failures,
	    sasl_glue_why(NULL, rc));
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
	char	b64[AUTH_BUF];

	switch (sasl_glue_outcome(rc)) {
	case SASL_G_CONTINUE:
		if (sasl_glue_encode(out, outlen, b64, sizeof(b64)) != 0) {
			auth_failed(s, -1);	/* the server's trouble */
			return;
		}
		s->flags |= SESSION_F_AUTH_CONT;
		reply(s, R_AUTH_CHALLENGE, b64);
		return;
	case SASL_G_OK:
		break;
	default:
		auth_failed(s, rc);
		return;
	}
	s->flags &= ~SESSION_F_AUTH_CONT;
	s->flags |= SESSION_F_AUTH;
	s->auth_user = xstrdup(sasl_glue_user(s->sasl));
	log_info("s=%08llx auth ok client=[%s] sasl_method=%s "
	    "sasl_username=%s", (unsigned long long)s->id, s->addr,
	    s->auth_mech, log_str(s->auth_user));
	reply(s, R_AUTH_OK);
}

/* AUTH mechanism [initial-response] (RFC 4954 4). */
void
auth_start(struct session *s, char *args)
{
	char		 mechs[512], buf[AUTH_BUF], *mech, *ir, *p;
	const char	*out = NULL;
	unsigned	 outlen = 0, len = 0;
	struct sasl_conn *conn;
	int		 rc;

	if (!sasl_glue_on()) {
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
	if (!sasl_glue_in_list(mechs, mech)) {
		if (sasl_glue_mech_exists(mech) && !auth_plaintext_ok(s)) {
			for (p = mech; *p != '\0'; p++)
				*p = (char)toupper((unsigned char)*p);
			auth_reply(s, R_AUTH_NEED_TLS, mech);
		} else
			reply(s, R_AUTH_UNKNOWN_MECH);
		return;
	}
	if (fault_chaos(s, CHAOS_AUTH))
		return;
	if (ir != NULL && sasl_glue_decode(ir, buf, sizeof(buf), &len) != 0) {
		reply(s, R_AUTH_BAD_BASE64);
		return;
	}
	free(s->auth_mech);
	s->auth_mech = xstrdup(mech);
	for (p = s->auth_mech; *p != '\0'; p++)
		*p = (char)toupper((unsigned char)*p);
	/* No initial response is NULL; "=" is an empty one. */
	rc = sasl_glue_step(conn, s->auth_mech, ir != NULL ? buf : NULL,
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
	if (sasl_glue_decode(line, buf, sizeof(buf), &len) != 0) {
		auth_session_free(s);
		reply(s, R_AUTH_BAD_BASE64);
		return;
	}
	rc = sasl_glue_step(s->sasl, NULL, buf, len, &out, &outlen);
	auth_result(s, rc, out, outlen);
}

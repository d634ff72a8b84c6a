/*
 * auth.c: logging in to POP3: USER and PASS (RFC 1939 7) and AUTH (RFC
 * 5034), through the cyrus-sasl glue SMTP uses too (sasl.c), with the
 * same rules: plaintext passwords only under TLS unless auth_plaintext
 * allows them, the mechanisms of auth_mechanisms, a growing delay after
 * each failure and a close after auth_max_failures.  PASS goes to
 * libsasl2 as a PLAIN exchange, so it checks the same back end.
 *
 * With pop3_auth = any (the embedded sink's default) there is no back
 * end: any name and password are taken (USER/PASS, AUTH PLAIN), the
 * maildrop is the mail for that name, and plaintext is allowed on
 * loopback too.  In: a session in AUTHORIZATION.  Out: its login
 * (pop3_session_login), or an -ERR.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "pop3.h"

/* Room for a decoded AUTH line, or a challenge to encode. */
#define POP3_AUTH_BUF	POP3_AUTH_LINE_MAX

/* Is pop3_auth "any": every name and password taken (a sink)? */
int
pop3_auth_any(void)
{
	return (strcmp(cfg->pop3_auth, "any") == 0);
}

/* Start libsasl2 if a POP3 listener checks passwords; 0 or -1. */
int
pop3_auth_init(const struct config *c, char **cause)
{
	if (strcmp(c->pop3_auth, "sasl") != 0 ||
	    (c->pop3_listen.n == 0 && c->pop3s_listen.n == 0))
		return (0);
	return (sasl_glue_init(c, cause));
}

/*
 * May a password travel in plaintext on this session now?  Under TLS,
 * where auth_plaintext allows it, and for pop3_auth = any on loopback.
 */
int
pop3_auth_plaintext_ok(const struct pop3_session *s)
{
	int	tls = (s->flags & POP3_F_TLS) || s->kind == LISTEN_POP3S;

	if (pop3_auth_any() && sasl_glue_loopback(s->addr))
		return (1);
	return (sasl_glue_plaintext_ok(s->addr, tls));
}

/* The session's SASL context, made on first use; NULL on failure. */
static struct sasl_conn *
pop3_auth_conn(struct pop3_session *s)
{
	const char	*why;

	if (s->sasl != NULL || !sasl_glue_on())
		return (s->sasl);
	if ((s->sasl = sasl_glue_new("pop", s->addr, s->port,
	    (s->flags & POP3_F_TLS) ? s->tls_bits : 0, &why)) == NULL)
		log_warnx("s=%08llx pop3 auth unavailable client=[%s] "
		    "reason=\"sasl_server_new: %s\"", (unsigned long long)s->id,
		    s->addr, why);
	return (s->sasl);
}

/* Forget the SASL context and the USER name (after STLS, a failure). */
void
pop3_auth_free(struct pop3_session *s)
{
	sasl_glue_free(&s->sasl);
	free(s->user);
	s->user = NULL;
	s->flags &= ~POP3_F_AUTH_CONT;
}

/* The SASL mechanisms to offer now, space-separated; "" when none. */
void
pop3_auth_mechs(struct pop3_session *s, char *buf, size_t len)
{
	struct sasl_conn	*conn;

	buf[0] = '\0';
	if (pop3_auth_any()) {
		if (pop3_auth_plaintext_ok(s))
			snprintf(buf, len, "PLAIN");
		return;
	}
	if ((conn = pop3_auth_conn(s)) != NULL)
		sasl_glue_mechs(conn, buf, len);
}

/* What the client can do to send a password: for the -ERR [AUTH]. */
static const char *
pop3_auth_how(const struct pop3_session *s)
{
	if (tls_enabled() && s->kind != LISTEN_POP3S)
		return ("use STLS first");
	if (strcmp(cfg->auth_plaintext, "loopback") == 0 || pop3_auth_any())
		return ("connect over loopback, or to a pop3s port");
	return ("connect to a pop3s port (this one has no TLS)");
}

/*
 * A failed login: the client's failure is counted and answered after
 * 1, 2, 4 ... seconds (at most auth_delay_max); at auth_max_failures
 * the session ends.
 */
static void
pop3_auth_failed(struct pop3_session *s, const char *why)
{
	unsigned	delay;

	s->auth_failures++;
	log_info("s=%08llx pop3 auth failed client=[%s] method=%s user=%s "
	    "failures=%u reason=\"%s\"", (unsigned long long)s->id, s->addr,
	    s->auth_mech != NULL ? s->auth_mech : "",
	    log_str(s->user != NULL ? s->user : ""), s->auth_failures, why);
	pop3_auth_free(s);
	delay = s->auth_failures > 8 ? 256 : 1u << (s->auth_failures - 1);
	if (delay > (unsigned)cfg->auth_delay_max)
		delay = (unsigned)cfg->auth_delay_max;
	pop3_session_tarpit(s, delay, s->auth_failures >=
	    (unsigned)cfg->auth_max_failures ? P_AUTH_TOO_MANY :
	    P_AUTH_FAILED);
}

/* Remember the mechanism, upper case, for the log. */
static void
pop3_auth_set_mech(struct pop3_session *s, const char *mech)
{
	char	*p;

	free(s->auth_mech);
	s->auth_mech = xstrdup(mech);
	for (p = s->auth_mech; *p != '\0'; p++)
		*p = (char)toupper((unsigned char)*p);
}

/*
 * Act on what libsasl2 said about an exchange: a challenge (RFC 5034 4:
 * "+ " and base64), the login, or the failure.
 */
static void
pop3_auth_result(struct pop3_session *s, int rc, const char *out,
    unsigned outlen)
{
	char	b64[POP3_AUTH_BUF];

	switch (sasl_glue_outcome(rc)) {
	case SASL_G_CONTINUE:
		if (sasl_glue_encode(out, outlen, b64, sizeof(b64)) != 0)
			break;
		s->flags |= POP3_F_AUTH_CONT;
		pop3_session_write(s, "+ ", 2);
		pop3_session_write(s, b64, strlen(b64));
		pop3_session_write(s, "\r\n", 2);
		return;
	case SASL_G_OK:
		s->flags &= ~POP3_F_AUTH_CONT;
		pop3_session_login(s, sasl_glue_user(s->sasl), s->auth_mech);
		return;
	case SASL_G_FAILED:
		pop3_auth_failed(s, sasl_glue_why(NULL, rc));
		return;
	case SASL_G_NEED_TLS:
		pop3_auth_free(s);
		pop3_reply(s, P_NEED_TLS, pop3_auth_how(s));
		return;
	case SASL_G_TOO_WEAK:
	case SASL_G_TRANSITION:
		pop3_auth_free(s);
		pop3_reply(s, P_AUTH_TOO_WEAK);
		return;
	default:
		break;
	}
	log_warnx("s=%08llx pop3 auth unavailable client=[%s] method=%s "
	    "reason=\"%s\"", (unsigned long long)s->id, s->addr,
	    s->auth_mech != NULL ? s->auth_mech : "",
	    log_str(sasl_glue_why(s->sasl, rc)));
	pop3_auth_free(s);
	pop3_reply(s, P_AUTH_TEMP);
}

/*
 * A PLAIN response (RFC 4616: authzid NUL authcid NUL passwd) for
 * pop3_auth = any: any password; the name is authzid, else authcid.
 */
static void
pop3_auth_any_plain(struct pop3_session *s, const char *buf, unsigned len)
{
	const char	*authz = buf, *authc, *end = buf + len;
	char		 name[SMTP_PATH_MAX + 1];

	if ((authc = memchr(authz, '\0', len)) == NULL ||
	    memchr(authc + 1, '\0', (size_t)(end - authc - 1)) == NULL) {
		pop3_auth_failed(s, "malformed PLAIN response");
		return;
	}
	authc++;
	snprintf(name, sizeof(name), "%s", authz[0] != '\0' ? authz : authc);
	if (name[0] == '\0') {
		pop3_auth_failed(s, "empty user name");
		return;
	}
	pop3_session_login(s, name, "PLAIN");
}

/* USER name (RFC 1939 7): remember it for PASS. */
void
pop3_auth_user(struct pop3_session *s, char *name)
{
	size_t	n = strlen(name);

	while (n > 0 && name[n - 1] == ' ')
		name[--n] = '\0';
	if (!pop3_auth_plaintext_ok(s)) {
		pop3_reply(s, P_NEED_TLS, pop3_auth_how(s));
		return;
	}
	if (n > SMTP_PATH_MAX) {
		pop3_reply(s, P_SYNTAX, "USER <name> (at most 256 octets)");
		return;
	}
	free(s->user);
	s->user = xstrdup(name);
	pop3_reply(s, P_USER_OK, s->user);
}

/*
 * PASS password (RFC 1939 7): with pop3_auth = any, the login; else a
 * PLAIN exchange with libsasl2, so the same back end decides.
 */
void
pop3_auth_pass(struct pop3_session *s, char *pass)
{
	struct sasl_conn	*conn;
	const char		*out;
	char			 buf[2 * (SMTP_PATH_MAX + 1) + POP3_CMD_MAX];
	size_t			 ul, pl = strlen(pass);
	unsigned		 outlen;
	int			 rc;

	if (s->user == NULL) {
		pop3_reply(s, P_PASS_FIRST);
		return;
	}
	pop3_auth_set_mech(s, "USER");
	if (pop3_auth_any()) {
		pop3_session_login(s, s->user, "USER");
		return;
	}
	if ((conn = pop3_auth_conn(s)) == NULL) {
		pop3_reply(s, P_AUTH_TEMP);
		return;
	}
	ul = strlen(s->user);
	buf[0] = '\0';
	memcpy(buf + 1, s->user, ul);
	buf[1 + ul] = '\0';
	memcpy(buf + 2 + ul, pass, pl);
	rc = sasl_glue_step(conn, "PLAIN", buf, (unsigned)(2 + ul + pl), &out,
	    &outlen);
	explicit_bzero(buf, sizeof(buf));
	explicit_bzero(pass, pl);
	if (sasl_glue_outcome(rc) == SASL_G_CONTINUE)
		rc = -1;	/* PLAIN takes one step: a broken back end */
	pop3_auth_result(s, rc, out, outlen);
}

/* AUTH without a mechanism: the list (as RFC 1734 clients expect). */
static void
pop3_auth_list(struct pop3_session *s)
{
	char	 mechs[512], *p = mechs, *m;

	pop3_auth_mechs(s, mechs, sizeof(mechs));
	pop3_reply(s, P_AUTH_LIST);
	while ((m = strsep(&p, " ")) != NULL)
		if (*m != '\0')
			pop3_reply_line(s, m, strlen(m));
	pop3_reply_end(s);
}

/* AUTH mechanism [initial-response] (RFC 5034 4). */
void
pop3_auth_start(struct pop3_session *s, char *args)
{
	struct sasl_conn	*conn;
	const char		*out;
	char			 mechs[512], buf[POP3_AUTH_BUF], *mech, *ir;
	unsigned		 len = 0, outlen;
	int			 rc;

	mech = strsep(&args, " ");
	ir = args != NULL ? args + strspn(args, " ") : NULL;
	if (ir != NULL && *ir == '\0')
		ir = NULL;
	if (*mech == '\0') {
		pop3_auth_list(s);
		return;
	}
	pop3_auth_mechs(s, mechs, sizeof(mechs));
	if (!sasl_glue_in_list(mechs, mech)) {
		if (!pop3_auth_plaintext_ok(s) && (strcasecmp(mech, "PLAIN") ==
		    0 || strcasecmp(mech, "LOGIN") == 0))
			pop3_reply(s, P_NEED_TLS, pop3_auth_how(s));
		else
			pop3_reply(s, P_AUTH_UNKNOWN_MECH);
		return;
	}
	if (ir != NULL && sasl_glue_decode(ir, buf, sizeof(buf), &len) != 0) {
		pop3_reply(s, P_AUTH_BAD_BASE64);
		return;
	}
	pop3_auth_set_mech(s, mech);
	if (pop3_auth_any()) {
		if (ir != NULL)
			pop3_auth_any_plain(s, buf, len);
		else {
			s->flags |= POP3_F_AUTH_CONT;
			pop3_session_write(s, "+ \r\n", 4);
		}
		explicit_bzero(buf, sizeof(buf));
		return;
	}
	if ((conn = pop3_auth_conn(s)) == NULL) {
		pop3_reply(s, P_AUTH_TEMP);
		return;
	}
	rc = sasl_glue_step(conn, s->auth_mech, ir != NULL ? buf : NULL, len,
	    &out, &outlen);
	explicit_bzero(buf, sizeof(buf));
	pop3_auth_result(s, rc, out, outlen);
}

/* An AUTH line too long: end the exchange (RFC 5034 4). */
void
pop3_auth_abort(struct pop3_session *s)
{
	pop3_auth_free(s);
	pop3_reply(s, P_AUTH_TOO_LONG);
}

/* A line in the middle of an AUTH exchange: a response, or `*`. */
void
pop3_auth_continue(struct pop3_session *s, const char *line)
{
	const char	*out;
	char		 buf[POP3_AUTH_BUF];
	unsigned	 len = 0, outlen;
	int		 rc;

	s->flags &= ~POP3_F_AUTH_CONT;
	if (strcmp(line, "*") == 0) {
		pop3_auth_free(s);
		pop3_reply(s, P_AUTH_CANCELLED);
		return;
	}
	if (sasl_glue_decode(line, buf, sizeof(buf), &len) != 0) {
		pop3_auth_free(s);
		pop3_reply(s, P_AUTH_BAD_BASE64);
		return;
	}
	if (pop3_auth_any()) {
		pop3_auth_any_plain(s, buf, len);
		explicit_bzero(buf, sizeof(buf));
		return;
	}
	rc = sasl_glue_step(s->sasl, NULL, buf, len, &out, &outlen);
	explicit_bzero(buf, sizeof(buf));
	pop3_auth_result(s, rc, out, outlen);
}

/*
 * sasl.c: the cyrus-sasl glue every protocol's AUTH shares (SMTP AUTH,
 * RFC 4954; POP3 AUTH and USER/PASS, RFC 5034 and 1939).  In: the
 * configuration (sasl_app, sasl_config_dir, auth_mechanisms,
 * auth_plaintext) and a client's address and TLS facts.  Out: a libsasl2
 * server context with mxd's security rules, the mechanisms it may offer,
 * base64 both ways, and a verdict on how an exchange ended (the client's
 * failure, counted and delayed, or the server's trouble).  libsasl2 is
 * started once, by the first protocol that needs it.  The protocols keep
 * their own replies and flow.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sasl/sasl.h>
#include <sasl/saslutil.h>

#include "mxd.h"

static int	 sasl_glue_started;
static char	 sasl_glue_confdir[1024];

/* libsasl2 asks where <app>.conf lives. */
static int
sasl_glue_getconfpath_cb(void *ctx, const char **path)
{
	*path = sasl_glue_confdir;
	return (SASL_OK);
}

/* libsasl2's own messages go to our log. */
static int
sasl_glue_log_cb(void *ctx, int level, const char *msg)
{
	if (level <= SASL_LOG_WARN)
		log_warnx("sasl: %s", msg);
	else
		log_debug("sasl: %s", msg);
	return (SASL_OK);
}

/* sasl_callback_t holds every callback as int (*)(void). */
#define SASL_GLUE_CB(f)	((int (*)(void))(void (*)(void))(f))

static sasl_callback_t sasl_glue_callbacks[] = {
	{ SASL_CB_LOG, SASL_GLUE_CB(sasl_glue_log_cb), NULL },
	{ SASL_CB_GETCONFPATH, SASL_GLUE_CB(sasl_glue_getconfpath_cb), NULL },
	{ SASL_CB_LIST_END, NULL, NULL },
};

/* Start libsasl2 (once for the process); 0 or -1 with *cause. */
int
sasl_glue_init(const struct config *c, char **cause)
{
	int	rc;

	if (sasl_glue_started)
		return (0);
	if (c->sasl_config_dir[0] != '\0')
		snprintf(sasl_glue_confdir, sizeof(sasl_glue_confdir), "%s",
		    c->sasl_config_dir);
	else
		sasl_glue_callbacks[1].id = SASL_CB_LIST_END;
	if ((rc = sasl_server_init(sasl_glue_callbacks, c->sasl_app)) !=
	    SASL_OK) {
		xasprintf(cause, "sasl_server_init: %s",
		    sasl_errstring(rc, NULL, NULL));
		return (-1);
	}
	sasl_glue_started = 1;
	return (0);
}

/* Is libsasl2 running? */
int
sasl_glue_on(void)
{
	return (sasl_glue_started);
}

/* Is addr a loopback address? */
int
sasl_glue_loopback(const char *addr)
{
	return (strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0);
}

/*
 * May plaintext mechanisms (PLAIN, LOGIN, POP3's PASS) be used by a
 * client at addr, under TLS or not, by auth_plaintext?
 */
int
sasl_glue_plaintext_ok(const char *addr, int tls)
{
	if (tls || strcmp(cfg->auth_plaintext, "always") == 0)
		return (1);
	return (strcmp(cfg->auth_plaintext, "loopback") == 0 &&
	    sasl_glue_loopback(addr));
}

/*
 * A server context for service (RFC 4422 service name: "smtp", "pop")
 * and a client at addr:port; tls_bits > 0 under TLS.  NULL with *why.
 */
struct sasl_conn *
sasl_glue_new(const char *service, const char *addr, int port, int tls_bits,
    const char **why)
{
	sasl_security_properties_t	 props;
	sasl_conn_t			*conn;
	sasl_ssf_t			 ssf = (sasl_ssf_t)tls_bits;
	char				 remote[INET6_ADDRSTRLEN + 8];
	int				 rc;

	snprintf(remote, sizeof(remote), "%s;%d", addr, port);
	if ((rc = sasl_server_new(service, cfg->hostname, NULL, NULL, remote,
	    NULL, 0, &conn)) != SASL_OK) {
		*why = sasl_errstring(rc, NULL, NULL);
		return (NULL);
	}
	memset(&props, 0, sizeof(props));
	props.max_ssf = 0;		/* no SASL security layers */
	props.maxbufsize = 0;
	props.security_flags = SASL_SEC_NOANONYMOUS;
	if (!sasl_glue_plaintext_ok(addr, tls_bits > 0))
		props.security_flags |= SASL_SEC_NOPLAINTEXT;
	sasl_setprop(conn, SASL_SEC_PROPS, &props);
	if (tls_bits > 0)
		sasl_setprop(conn, SASL_SSF_EXTERNAL, &ssf);
	return (conn);
}

/* Forget a context (NULL is fine). */
void
sasl_glue_free(struct sasl_conn **conn)
{
	if (*conn != NULL)
		sasl_dispose(conn);
	*conn = NULL;
}

/*
 * Is mech in auth_mechanisms?  libsasl2 offers every plugin installed,
 * NTLM and DIGEST-MD5 among them, unless its own mech_list says
 * otherwise; mxd offers only the mechanisms it was told to.
 */
int
sasl_glue_allowed(const char *mech)
{
	size_t	i;

	for (i = 0; i < cfg->auth_mechanisms.n; i++)
		if (strcmp(cfg->auth_mechanisms.v[i], "*") == 0 ||
		    strcasecmp(cfg->auth_mechanisms.v[i], mech) == 0)
			return (1);
	return (0);
}

/* The mechanisms conn may offer now, space-separated; "" when none. */
void
sasl_glue_mechs(struct sasl_conn *conn, char *buf, size_t len)
{
	const char	*list;
	char		*all, *p, *m;
	unsigned	 n;
	int		 count;

	buf[0] = '\0';
	if (sasl_listmech(conn, NULL, "", " ", "", &list, &n, &count) !=
	    SASL_OK || count == 0)
		return;
	p = all = xstrdup(list);
	while ((m = strsep(&p, " ")) != NULL)
		if (*m != '\0' && sasl_glue_allowed(m))
			snprintf(buf + strlen(buf), len - strlen(buf), "%s%s",
			    buf[0] != '\0' ? " " : "", m);
	free(all);
}

/* Is mech a whole word in the space-separated list? */
int
sasl_glue_in_list(const char *list, const char *mech)
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
int
sasl_glue_mech_exists(const char *mech)
{
	const char	**m;

	if (!sasl_glue_allowed(mech))
		return (0);
	for (m = sasl_global_listmech(); m != NULL && *m != NULL; m++)
		if (strcasecmp(*m, mech) == 0)
			return (1);
	return (0);
}

/*
 * How an exchange that libsasl2 ended with rc went, and whose fault it
 * was.  The client's failures are counted and delayed; a user that
 * does not exist, or has no secret for the mechanism, looks like a
 * wrong password, so the replies do not tell which users exist.
 * Anything not listed is the server's trouble (a back end that cannot
 * work: sasldb unreadable, saslauthd down, a plugin missing).
 */
static const struct {
	int			 rc;
	enum sasl_glue_result	 result;
} sasl_glue_outcomes[] = {
	{ SASL_BADAUTH, SASL_G_FAILED },
	{ SASL_NOUSER, SASL_G_FAILED },
	{ SASL_NOVERIFY, SASL_G_FAILED },
	{ SASL_NOAUTHZ, SASL_G_FAILED },
	{ SASL_BADPROT, SASL_G_FAILED },
	{ SASL_BADVERS, SASL_G_FAILED },
	{ SASL_EXPIRED, SASL_G_FAILED },
	{ SASL_DISABLED, SASL_G_FAILED },
	/* RFC 4954 6: the user must first log in once with PLAIN. */
	{ SASL_TRANS, SASL_G_TRANSITION },
	{ SASL_TOOWEAK, SASL_G_TOO_WEAK },
	{ SASL_ENCRYPT, SASL_G_NEED_TLS },
	{ SASL_CONTINUE, SASL_G_CONTINUE },
	{ SASL_OK, SASL_G_OK },
};

/* The verdict for rc: the server's trouble if it is not listed. */
enum sasl_glue_result
sasl_glue_outcome(int rc)
{
	size_t	i;

	for (i = 0; i < sizeof(sasl_glue_outcomes) /
	    sizeof(sasl_glue_outcomes[0]); i++)
		if (sasl_glue_outcomes[i].rc == rc)
			return (sasl_glue_outcomes[i].result);
	return (SASL_G_TEMP);
}

/* libsasl2's words for rc, with conn's detail when there is one. */
const char *
sasl_glue_why(struct sasl_conn *conn, int rc)
{
	if (conn != NULL && sasl_glue_outcome(rc) == SASL_G_TEMP)
		return (sasl_errdetail(conn));
	return (sasl_errstring(rc, NULL, NULL));
}

/*
 * Start (mech != NULL) or continue an exchange with the client's data
 * in[inlen] (in NULL: no initial response); *out and *outlen are the
 * challenge.  libsasl2's result code.
 */
int
sasl_glue_step(struct sasl_conn *conn, const char *mech, const char *in,
    unsigned inlen, const char **out, unsigned *outlen)
{
	*out = NULL;
	*outlen = 0;
	if (mech != NULL)
		return (sasl_server_start(conn, mech, in, inlen, out, outlen));
	return (sasl_server_step(conn, in, inlen, out, outlen));
}

/* The authenticated user name of conn ("" if none). */
const char *
sasl_glue_user(struct sasl_conn *conn)
{
	const void	*user = NULL;

	if (sasl_getprop(conn, SASL_USERNAME, &user) != SASL_OK ||
	    user == NULL)
		return ("");
	return (user);
}

/*
 * Decode base64 from the client into out[outsz]; "=" is an empty
 * response (RFC 4954 4, RFC 5034 4).  0, or -1 if it is not base64.
 */
int
sasl_glue_decode(const char *in, char *out, size_t outsz, unsigned *len)
{
	if (strcmp(in, "=") == 0) {
		*len = 0;
		out[0] = '\0';
		return (0);
	}
	if (sasl_decode64(in, (unsigned)strlen(in), out, (unsigned)outsz,
	    len) != SASL_OK)
		return (-1);
	return (0);
}

/* Encode in[len] as base64 into out[outsz]; 0, or -1 if it does not fit. */
int
sasl_glue_encode(const char *in, unsigned len, char *out, size_t outsz)
{
	unsigned	n;

	return (sasl_encode64(in, len, out, (unsigned)outsz, &n) == SASL_OK ?
	    0 : -1);
}

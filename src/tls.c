/*
 * tls.c: OpenSSL for STARTTLS (RFC 3207) and implicit TLS (RFC 8314).
 * One server context, built from tls_cert/tls_key and rebuilt on SIGHUP;
 * sessions hold their own reference, so a reload never drops a live one.
 * The protocol/cipher facts for the Received: header and the log live
 * here too; the STARTTLS switch itself is conn.c's.
 */
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>

#include "mxd.h"

static SSL_CTX	*tls_ctx;

/* Map a tls_protocols name to an OpenSSL version. */
static int
tls_version(const char *name)
{
	if (strcasecmp(name, "TLSv1.2") == 0)
		return (TLS1_2_VERSION);
	if (strcasecmp(name, "TLSv1.3") == 0)
		return (TLS1_3_VERSION);
	return (-1);
}

/* The last OpenSSL error as text. */
static const char *
tls_error(void)
{
	static char	buf[256];
	unsigned long	e = ERR_get_error();

	if (e == 0)
		return ("unknown error");
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return (buf);
}

/*
 * Build a server context from the configuration; NULL with *cause when
 * the certificate, key or settings are unusable.
 */
static SSL_CTX *
tls_ctx_new(const struct config *c, char **cause)
{
	SSL_CTX	*ctx;
	size_t	 i;
	int	 v, lo = 0, hi = 0;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		xasprintf(cause, "SSL_CTX_new: %s", tls_error());
		return (NULL);
	}
	for (i = 0; i < c->tls_protocols.n; i++) {
		if ((v = tls_version(c->tls_protocols.v[i])) == -1) {
			xasprintf(cause, "tls_protocols: '%s' is not TLSv1.2 "
			    "or TLSv1.3", c->tls_protocols.v[i]);
			goto fail;
		}
		lo = lo == 0 || v < lo ? v : lo;
		hi = v > hi ? v : hi;
	}
	SSL_CTX_set_min_proto_version(ctx, lo);
	SSL_CTX_set_max_proto_version(ctx, hi);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_cipher_list(ctx, c->tls_ciphers) != 1) {
		xasprintf(cause, "tls_ciphers '%s': %s", c->tls_ciphers,
		    tls_error());
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, c->tls_cert) != 1) {
		xasprintf(cause, "tls_cert %s: %s", c->tls_cert, tls_error());
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, c->tls_key, SSL_FILETYPE_PEM)
	    != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		xasprintf(cause, "tls_key %s: %s", c->tls_key, tls_error());
		goto fail;
	}
	return (ctx);
fail:
	SSL_CTX_free(ctx);
	return (NULL);
}

/*
 * Load (or reload) the certificate.  On failure the old context stays
 * in use.  Without tls_cert, TLS is off: 0 and tls_enabled() is false.
 */
int
tls_load(const struct config *c, char **cause)
{
	SSL_CTX	*ctx;

	if (c->tls_cert[0] == '\0' && c->tls_key[0] == '\0') {
		SSL_CTX_free(tls_ctx);
		tls_ctx = NULL;
		return (0);
	}
	if (c->tls_cert[0] == '\0' || c->tls_key[0] == '\0') {
		xasprintf(cause, "tls_cert and tls_key go together");
		return (-1);
	}
	if ((ctx = tls_ctx_new(c, cause)) == NULL)
		return (-1);
	SSL_CTX_free(tls_ctx);
	tls_ctx = ctx;
	return (0);
}

/* Why TLS is not offered, for HELP and the 502; NULL if it is. */
const char *
tls_unavailable(void)
{
	if (tls_ctx == NULL)
		return ("no TLS certificate is configured (tls_cert)");
	return (NULL);
}

/* Is a certificate loaded? */
int
tls_enabled(void)
{
	return (tls_ctx != NULL);
}

/* Free the context at exit. */
void
tls_free(void)
{
	SSL_CTX_free(tls_ctx);
	tls_ctx = NULL;
}

/* Wrap a socket in server-side TLS: implicit TLS, or after STARTTLS. */
struct bufferevent *
tls_socket_new(struct event_base *base, int fd)
{
	SSL	*ssl;

	if (tls_ctx == NULL || (ssl = SSL_new(tls_ctx)) == NULL)
		return (NULL);
	return (bufferevent_openssl_socket_new(base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE));
}

/*
 * evhttp's bufferevent callback for https_listen: server-side TLS on a
 * socket evhttp sets afterwards (RFC 2818).  Each connection gets the
 * context loaded now.  NULL only if SSL_new fails (no memory).
 */
struct bufferevent *
tls_http_bev(struct event_base *base, void *arg)
{
	return (tls_socket_new(base, -1));
}

/* Describe the negotiated TLS for headers and logs, or "" if none. */
void
tls_describe(struct bufferevent *bev, char *buf, size_t len, int *bitsp)
{
	SSL		*ssl = bufferevent_openssl_get_ssl(bev);
	const SSL_CIPHER *c;
	int		 alg = 0, bits;

	buf[0] = '\0';
	*bitsp = 0;
	if (ssl == NULL || (c = SSL_get_current_cipher(ssl)) == NULL)
		return;
	bits = SSL_CIPHER_get_bits(c, &alg);
	*bitsp = bits;
	snprintf(buf, len, "%s with cipher %s (%d/%d bits)",
	    SSL_get_version(ssl), SSL_CIPHER_get_name(c), bits, alg);
}

/* Why a TLS connection failed, for the log. */
const char *
tls_last_error(struct bufferevent *bev)
{
	unsigned long	e;
	static char	buf[256];

	if ((e = bufferevent_get_openssl_error(bev)) == 0)
		return ("connection closed during TLS");
	ERR_error_string_n(e, buf, sizeof(buf));
	return (buf);
}

/*
 * htpasswd.c: HTTP basic authentication (RFC 7617) against a password
 * file in Apache's htpasswd format, `user:hash` per line, the hashes
 * those crypt(3) of libxcrypt knows: bcrypt ($2y$, $2b$), SHA-crypt
 * ($5$, $6$), yescrypt ($y$).  In: the file at start; the credentials
 * of each request.  Out: yes or no.  Apache's own MD5 ($apr1$) and
 * {SHA} are refused at load time, never compared by hand.
 */
#include <crypt.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "http/http.h"

struct htpasswd_user {
	char	*name;
	char	*hash;
};

static struct htpasswd_user	*htpasswd_users;
static size_t			 htpasswd_n;

/* Is hash a crypt(3) hash we accept? */
static int
htpasswd_known(const char *hash)
{
	static const char *const prefixes[] = { "$2y$", "$2b$", "$2a$",
	    "$5$", "$6$", "$y$", "$7$" };
	size_t	i;

	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(hash, prefixes[i], strlen(prefixes[i])) == 0)
			return (1);
	return (0);
}

/* Free a list of users. */
static void
htpasswd_users_free(struct htpasswd_user *u, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		free(u[i].name);
		free(u[i].hash);
	}
	free(u);
}

/*
 * Read the users of the htpasswd file at path into *users, *nusers.  0,
 * or -1 with *cause (unreadable, a line without ':', a hash crypt(3)
 * does not do, or no user at all).
 */
static int
htpasswd_read(const char *path, struct htpasswd_user **users,
    size_t *nusers, char **cause)
{
	struct htpasswd_user	*u = NULL;
	size_t			 n = 0;
	FILE	*f;
	char	*line = NULL, *colon;
	size_t	 cap = 0;
	int	 lineno = 0;

	if ((f = fopen(path, "re")) == NULL) {
		xasprintf(cause, "http_auth_file %s: %s", path,
		    strerror(errno));
		return (-1);
	}
	while (getline(&line, &cap, f) != -1) {
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if ((colon = strchr(line, ':')) == NULL ||
		    !htpasswd_known(colon + 1)) {
			xasprintf(cause, "http_auth_file %s:%d: want user:hash "
			    "with a bcrypt ($2y$) or SHA-crypt ($5$, $6$) hash "
			    "(htpasswd -B, or openssl passwd -6)", path,
			    lineno);
			free(line);
			fclose(f);
			htpasswd_users_free(u, n);
			return (-1);
		}
		*colon = '\0';
		u = xreallocarray(u, n + 1, sizeof(*u));
		u[n].name = xstrdup(line);
		u[n++].hash = xstrdup(colon + 1);
	}
	free(line);
	fclose(f);
	if (n == 0) {
		xasprintf(cause, "http_auth_file %s: no users", path);
		return (-1);
	}
	*users = u;
	*nusers = n;
	return (0);
}

/* Load the users of the htpasswd file at path; 0, or -1 with *cause. */
int
htpasswd_load(const char *path, char **cause)
{
	struct htpasswd_user	*u;
	size_t			 n;

	if (htpasswd_read(path, &u, &n, cause) != 0)
		return (-1);
	htpasswd_free();
	htpasswd_users = u;
	htpasswd_n = n;
	return (0);
}

/* Is the htpasswd file at path well-formed (mxd -t)?  0, or -1. */
int
htpasswd_test(const char *path, char **cause)
{
	struct htpasswd_user	*u;
	size_t			 n;

	if (htpasswd_read(path, &u, &n, cause) != 0)
		return (-1);
	htpasswd_users_free(u, n);
	return (0);
}

/*
 * Check the base64 credentials of an Authorization: Basic header:
 * 0 if they name a user whose hash crypt(3) reproduces, else -1.
 */
int
htpasswd_check(const char *b64)
{
	struct crypt_data	*cd;
	unsigned char		 buf[1024];
	char			*colon, *h;
	size_t			 n = strlen(b64), i, hl;
	int			 len, rc = -1;

	if (n == 0 || n > 4 * (sizeof(buf) / 3) - 4)
		return (-1);
	if ((len = EVP_DecodeBlock(buf, (const unsigned char *)b64,
	    (int)n)) < 0)
		return (-1);
	/* EVP_DecodeBlock counts the padding as octets. */
	while (n > 0 && b64[n - 1] == '=' && len > 0) {
		n--;
		len--;
	}
	buf[len] = '\0';
	if ((colon = strchr((char *)buf, ':')) == NULL)
		return (-1);
	*colon = '\0';
	cd = xcalloc(1, sizeof(*cd));
	for (i = 0; i < htpasswd_n; i++) {
		if (strcmp(htpasswd_users[i].name, (char *)buf) != 0)
			continue;
		h = crypt_r(colon + 1, htpasswd_users[i].hash, cd);
		hl = strlen(htpasswd_users[i].hash);
		if (h != NULL && strlen(h) == hl &&
		    CRYPTO_memcmp(h, htpasswd_users[i].hash, hl) == 0)
			rc = 0;
		break;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	return (rc);
}

/* Forget the users. */
void
htpasswd_free(void)
{
	htpasswd_users_free(htpasswd_users, htpasswd_n);
	htpasswd_users = NULL;
	htpasswd_n = 0;
}

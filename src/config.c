/*
 * config.c: the configuration reader.  A file holds `name = value` lines
 * with `#` comments; a value may continue on following lines that start
 * with white space.  Every name, type and limit comes from options-table.c;
 * an unknown name or a bad value is an error that names the file and line.
 */
#include <ctype.h>
#include <limits.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/util.h>

#include <idn2.h>

#include "mxd.h"

struct config	*cfg;

/* The embedded default's HTTP API: Mailpit's and MailHog's port. */
#define CONFIG_SINK_HTTP	"127.0.0.1:8025 [::1]:8025"

/* Find a setting by name. */
static const struct option_entry *
config_find(const char *name)
{
	const struct option_entry	*o;

	for (o = options_table; o->name != NULL; o++)
		if (strcmp(o->name, name) == 0)
			return (o);
	return (NULL);
}

/* Parse a number with an optional unit suffix from units[]. */
static int
config_number(const char *v, const char *units, const long long *mult,
    long long *out)
{
	char		*end;
	long long	 n;
	const char	*u;

	errno = 0;
	if (!isdigit((unsigned char)*v))
		return (-1);
	n = strtoll(v, &end, 10);
	if (errno != 0)
		return (-1);
	if (*end != '\0') {
		if (end[1] != '\0' ||
		    (u = strchr(units, tolower((unsigned char)*end))) == NULL)
			return (-1);
		if (n > LLONG_MAX / mult[u - units])
			return (-1);
		n *= mult[u - units];
	}
	*out = n;
	return (0);
}

/* Split a list value at commas and white space. */
static void
config_split(const char *v, struct strlist *l)
{
	char	*copy, *p, *tok;

	copy = xstrdup(v);
	for (p = copy; (tok = strsep(&p, ", \t")) != NULL;) {
		if (*tok == '\0')
			continue;
		l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
		l->v[l->n++] = xstrdup(tok);
	}
	free(copy);
}

/* Free a string list. */
static void
config_list_free(struct strlist *l)
{
	size_t	i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Check that every entry of a listen list is address:port. */
static int
config_check_listen(const struct strlist *l, char **cause)
{
	struct sockaddr_storage	ss;
	int			len;
	size_t			i;

	for (i = 0; i < l->n; i++) {
		len = sizeof(ss);
		if (evutil_parse_sockaddr_port(l->v[i], (struct sockaddr *)&ss,
		    &len) != 0 || strchr(l->v[i], ':') == NULL ||
		    (ss.ss_family == AF_INET &&
		    ((struct sockaddr_in *)&ss)->sin_port == 0) ||
		    (ss.ss_family == AF_INET6 &&
		    ((struct sockaddr_in6 *)&ss)->sin6_port == 0)) {
			xasprintf(cause, "bad listen address '%s' "
			    "(want address:port or [ipv6]:port)", l->v[i]);
			return (-1);
		}
	}
	return (0);
}

/*
 * Is value one of the |-separated choices, in any case?  If so, copy
 * the choice's own spelling over it (same length) and return 1.
 */
static int
config_choice(const char *choices, char *value)
{
	size_t	n = strlen(value);

	while (*choices != '\0') {
		if (strncasecmp(choices, value, n) == 0 &&
		    (choices[n] == '|' || choices[n] == '\0')) {
			memcpy(value, choices, n);
			return (1);
		}
		choices += strcspn(choices, "|");
		choices += strspn(choices, "|");
	}
	return (0);
}

/* Letters, digits, hyphens, underscores and dots, or empty. */
static int
config_domain_name(const char *v)
{
	for (; *v != '\0'; v++)
		if (!isalnum((unsigned char)*v) && strchr("-._", *v) == NULL)
			return (0);
	return (1);
}

/*
 * Check one `domains` entry: *, or a domain with an optional leading dot,
 * in ASCII or with U-labels, whose labels are valid IDNA2008 (an xn--
 * A-label must decode, RFC 5891 5.4).  Put its canonical form (lower
 * case, A-labels) in canon; 0, or -1 with the reason in *cause.
 */
static int
config_domain_entry(const char *e, char *canon, size_t len, char **cause)
{
	const char	*d = e[0] == '.' ? e + 1 : e;
	char		 buf[SMTP_DOMAIN_MAX + 3], *u = NULL;
	int		 rc;

	if (strcmp(e, "*") == 0) {
		snprintf(canon, len, "*");
		return (0);
	}
	if (strlen(d) > SMTP_DOMAIN_MAX || d[0] == '[' ||
	    domain_check(d, strlen(d)) != DOMAIN_OK ||
	    domain_canon(d, canon + (d != e), len - 1) != 0) {
		xasprintf(cause, "bad domain '%s' in domains: want a domain "
		    "name (U-labels allowed, valid IDNA2008), .domain for its "
		    "subdomains, or *", e);
		return (-1);
	}
	if (d != e)
		canon[0] = '.';
	/* Every xn-- label must be a real A-label: decode, encode again. */
	if ((rc = idn2_to_unicode_8z8z(canon + (d != e), &u, 0)) == IDN2_OK) {
		rc = domain_canon(u, buf, sizeof(buf)) == 0 &&
		    strcmp(buf, canon + (d != e)) == 0 ? IDN2_OK :
		    IDN2_ALABEL_ROUNDTRIP_FAILED;
		idn2_free(u);
	}
	if (rc != IDN2_OK) {
		xasprintf(cause, "bad domain '%s' in domains: %s (IDNA2008, "
		    "RFC 5891)", e, idn2_strerror(rc));
		return (-1);
	}
	return (0);
}

/* Set the domains list and its canonical twin; 0 or -1. */
static int
config_set_domains(struct config *c, struct strlist *l, char **cause)
{
	struct strlist	canon = { NULL, 0 };
	char		buf[SMTP_DOMAIN_MAX + 2];
	size_t		i;

	for (i = 0; i < l->n; i++) {
		if (config_domain_entry(l->v[i], buf, sizeof(buf),
		    cause) != 0) {
			config_list_free(&canon);
			return (-1);
		}
		canon.v = xreallocarray(canon.v, canon.n + 1,
		    sizeof(*canon.v));
		canon.v[canon.n++] = xstrdup(buf);
	}
	config_list_free(&c->domains);
	config_list_free(&c->domains_idna);
	c->domains = *l;
	c->domains_idna = canon;
	return (0);
}

/* Set one value, checking its type and limits. */
int
config_set(struct config *c, const char *name, const char *value,
    char **cause)
{
	static const long long	 size_mult[] = { 1024, 1024 * 1024,
	    1024LL * 1024 * 1024 };
	static const long long	 time_mult[] = { 1, 60, 3600, 86400 };
	const struct option_entry *o;
	void			*field;
	long long		 n = 0;
	struct strlist		 l = { NULL, 0 };
	size_t			 i;
	char			*copy, ace[SMTP_DOMAIN_MAX + 1];

	if ((o = config_find(name)) == NULL) {
		xasprintf(cause, "unknown setting '%s'", name);
		return (-1);
	}
	field = (char *)c + o->offset;
	switch (o->type) {
	case OPT_DOMAIN:
		if (!config_domain_name(value) && domain_canon(value,
		    ace, sizeof(ace)) == 0 && strcmp(ace, value) != 0) {
			xasprintf(cause, "bad value '%s' for %s: it must be "
			    "ASCII; write its A-label form '%s'", value, name,
			    ace);
			return (-1);
		}
		if (!config_domain_name(value))
			goto bad;
		/* FALLTHROUGH */
	case OPT_STRING:
		if (strlen(value) < (size_t)o->min ||
		    strlen(value) > (size_t)o->max)
			goto bad;
		copy = xstrdup(value);
		if (o->choices != NULL && !config_choice(o->choices, copy)) {
			free(copy);
			goto bad;
		}
		free(*(char **)field);
		*(char **)field = copy;
		return (0);
	case OPT_LIST:
	case OPT_LISTEN:
	case OPT_DOMAIN_LIST:
	case OPT_NETWORKS:
		config_split(value, &l);
		if (l.n < (size_t)o->min || l.n > (size_t)o->max) {
			config_list_free(&l);
			goto bad;
		}
		for (i = 0; o->choices != NULL && i < l.n; i++)
			if (!config_choice(o->choices, l.v[i])) {
				config_list_free(&l);
				goto bad;
			}
		if ((o->type == OPT_LISTEN && config_check_listen(&l, cause)) ||
		    (o->type == OPT_NETWORKS && network_list_check(&l, name,
		    cause))) {
			config_list_free(&l);
			return (-1);
		}
		if (o->type == OPT_DOMAIN_LIST) {
			if (config_set_domains(c, &l, cause) != 0) {
				config_list_free(&l);
				return (-1);
			}
			return (0);
		}
		config_list_free(field);
		*(struct strlist *)field = l;
		return (0);
	case OPT_BOOL:
		if (strcasecmp(value, "yes") == 0 || strcmp(value, "1") == 0)
			*(int *)field = 1;
		else if (strcasecmp(value, "no") == 0 ||
		    strcmp(value, "0") == 0)
			*(int *)field = 0;
		else
			goto bad;
		return (0);
	case OPT_SIZE:
		if (config_number(value, "kmg", size_mult, &n))
			goto bad;
		break;
	case OPT_TIME:
		if (config_number(value, "smhd", time_mult, &n))
			goto bad;
		break;
	case OPT_COUNT:
		if (config_number(value, "", NULL, &n))
			goto bad;
		break;
	}
	if (n < o->min || n > o->max)
		goto bad;
	if (o->type == OPT_SIZE)
		*(size_t *)field = (size_t)n;
	else
		*(long long *)field = n;
	return (0);
bad:
	if (o->choices != NULL)
		xasprintf(cause, "bad value '%s' for %s (one of %s)", value,
		    name, o->choices);
	else
		xasprintf(cause, "bad value '%s' for %s (%s)", value, name,
		    o->help);
	return (-1);
}

/* Strip leading and trailing white space in place. */
static char *
config_trim(char *s)
{
	char	*e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return (s);
}

/* Apply one `name = value` line; lineno is for the message. */
static int
config_line(struct config *c, const char *file, int lineno, char *line,
    char **cause)
{
	char	*eq, *name, *value, *why = NULL;

	if ((eq = strchr(line, '=')) == NULL) {
		xasprintf(cause, "%s:%d: expected 'name = value'", file, lineno);
		return (-1);
	}
	*eq = '\0';
	name = config_trim(line);
	value = config_trim(eq + 1);
	if (config_set(c, name, value, &why) != 0) {
		xasprintf(cause, "%s:%d: %s", file, lineno, why);
		free(why);
		return (-1);
	}
	return (0);
}

/* Read a config file, joining continuation lines. */
static int
config_read_file(struct config *c, const char *file, char **cause)
{
	FILE	*f;
	char	*line = NULL, *stmt = NULL, *p;
	size_t	 cap = 0;
	int	 lineno = 0, stmtline = 0, rc = 0;

	if ((f = fopen(file, "r")) == NULL) {
		xasprintf(cause, "%s: %s", file, strerror(errno));
		return (-1);
	}
	while (rc == 0 && getline(&line, &cap, f) != -1) {
		lineno++;
		if ((p = strchr(line, '#')) != NULL)
			*p = '\0';
		if (isspace((unsigned char)line[0]) && stmt != NULL &&
		    *config_trim(line) != '\0') {
			p = stmt;
			xasprintf(&stmt, "%s %s", p, config_trim(line));
			free(p);
			continue;
		}
		if (stmt != NULL)
			rc = config_line(c, file, stmtline, stmt, cause);
		free(stmt);
		stmt = NULL;
		if (*config_trim(line) != '\0') {
			stmt = xstrdup(config_trim(line));
			stmtline = lineno;
		}
	}
	if (rc == 0 && stmt != NULL)
		rc = config_line(c, file, stmtline, stmt, cause);
	free(stmt);
	free(line);
	fclose(f);
	return (rc);
}

/*
 * The embedded local sink (no configuration file) differs from the
 * table's defaults, which are those of a configuration file, here.
 */
static const struct {
	const char	*name;
	const char	*value;
} config_sink[] = {
	{ "pop3_listen", "127.0.0.1:1110 [::1]:1110" },
	{ "pop3_auth", "any" },
};

/*
 * Build a configuration: the table's defaults, the embedded sink's
 * (without a file) or the file, then each -o NAME=VALUE override in
 * order.
 */
int
config_load(struct config *c, const char *file, char **over, size_t nover,
    char **cause)
{
	const struct option_entry	*o;
	char				*name, *why = NULL;
	size_t				 i;

	memset(c, 0, sizeof(*c));
	for (o = options_table; o->name != NULL; o++)
		if (config_set(c, o->name, o->def, cause) != 0)
			fatalx("default for %s: %s", o->name, *cause);
	for (i = 0; file == NULL && i < sizeof(config_sink) /
	    sizeof(config_sink[0]); i++)
		if (config_set(c, config_sink[i].name, config_sink[i].value,
		    cause) != 0)
			fatalx("sink default for %s: %s", config_sink[i].name,
			    *cause);
	if (file != NULL && config_read_file(c, file, cause) != 0)
		return (-1);
	/* The embedded sink also serves the HTTP API on Mailpit's port. */
	if (file == NULL && config_set(c, "http_listen", CONFIG_SINK_HTTP,
	    cause) != 0)
		fatalx("default for http_listen: %s", *cause);
	for (i = 0; i < nover; i++) {
		name = xstrdup(over[i]);
		if (config_line(c, "-o", (int)i + 1, name, &why) != 0) {
			xasprintf(cause, "%s", why);
			free(why);
			free(name);
			return (-1);
		}
		free(name);
	}
	return (0);
}

/* Free everything a configuration holds. */
void
config_free(struct config *c)
{
	const struct option_entry	*o;
	void				*field;

	for (o = options_table; o->name != NULL; o++) {
		field = (char *)c + o->offset;
		if (o->type == OPT_STRING || o->type == OPT_DOMAIN)
			free(*(char **)field);
		else if (o->type == OPT_LIST || o->type == OPT_LISTEN ||
		    o->type == OPT_DOMAIN_LIST || o->type == OPT_NETWORKS)
			config_list_free(field);
	}
	config_list_free(&c->domains_idna);
	rcpttable_free(c->rcpt_table);
	memset(c, 0, sizeof(*c));
}

/* One setting's value as text, as a config file would hold it. */
char *
config_get(const struct config *c, const char *name)
{
	const struct option_entry	*o;
	const void			*field;
	const struct strlist		*l;
	char				*v = NULL, *old;
	size_t				 i;

	if ((o = config_find(name)) == NULL)
		fatalx("config_get: no setting %s", name);
	field = (const char *)c + o->offset;
	switch (o->type) {
	case OPT_STRING:
	case OPT_DOMAIN:
		return (xstrdup(*(char *const *)field));
	case OPT_LIST:
	case OPT_LISTEN:
	case OPT_DOMAIN_LIST:
	case OPT_NETWORKS:
		l = field;
		v = xstrdup("");
		for (i = 0; i < l->n; i++) {
			old = v;
			xasprintf(&v, "%s%s%s", old, i ? " " : "", l->v[i]);
			free(old);
		}
		return (v);
	case OPT_BOOL:
		return (xstrdup(*(const int *)field ? "yes" : "no"));
	case OPT_SIZE:
		xasprintf(&v, "%zu", *(const size_t *)field);
		return (v);
	case OPT_COUNT:
	case OPT_TIME:
		xasprintf(&v, "%lld", *(const long long *)field);
		return (v);
	}
	fatalx("config_get: bad type");
}

/* Print every setting with its current value, as a config file. */
void
config_dump(const struct config *c, FILE *f)
{
	const struct option_entry	*o;
	char				*v;

	for (o = options_table; o->name != NULL; o++) {
		v = config_get(c, o->name);
		fprintf(f, "# %s\n%s =%s%s\n", o->help, o->name,
		    v[0] ? " " : "", v);
		free(v);
	}
}

/* A list setting by name (the listeners a protocol names). */
const struct strlist *
config_list(const struct config *c, const char *name)
{
	const struct option_entry	*o;

	if ((o = config_find(name)) == NULL || (o->type != OPT_LIST &&
	    o->type != OPT_LISTEN && o->type != OPT_DOMAIN_LIST &&
	    o->type != OPT_NETWORKS))
		fatalx("config_list: %s is not a list setting", name);
	return ((const struct strlist *)((const char *)c + o->offset));
}


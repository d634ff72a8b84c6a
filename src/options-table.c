/*
 * options-table.c: every setting, declared once.  The config reader,
 * -o overrides, the defaults and `mxd -d` (dump) all use this table, and
 * doc/mxd.conf.5 follows it.
 */
#include <limits.h>
#include <stddef.h>

#include "mxd.h"

#define OFF(f)	offsetof(struct config, f)

const struct option_entry options_table[] = {
	{ "listen", OPT_LISTEN, OFF(listen), "127.0.0.1:2525", 1, 64,
	  "addresses to accept SMTP on: address:port, [v6]:port", NULL },
	{ "hostname", OPT_STRING, OFF(hostname), "", 0, 255,
	  "name in the greeting and Received: header (empty: system name)", NULL },
	{ "spool_dir", OPT_STRING, OFF(spool_dir), "spool", 1, 1024,
	  "spool directory; relative paths are taken from the start directory", NULL },
	{ "domains", OPT_LIST, OFF(domains), "*", 1, 4096,
	  "recipient domains accepted; * accepts any, .example.org its subdomains", NULL },
	{ "max_message_size", OPT_SIZE, OFF(max_message_size), "10M",
	  1024, LLONG_MAX / 2, "largest message accepted, advertised as SIZE",
	  NULL },
	{ "max_recipients", OPT_COUNT, OFF(max_recipients), "100", 1, 100000,
	  "recipients per message; more get 452 4.5.3", NULL },
	{ "pid_file", OPT_STRING, OFF(pid_file), "", 0, 1024,
	  "file to write the daemon's process ID to (empty: none)", NULL },
	{ "command_timeout", OPT_TIME, OFF(command_timeout), "5m", 1, 86400,
	  "RFC 5321 4.5.3.2.7: wait for the next command", NULL },
	{ "data_timeout", OPT_TIME, OFF(data_timeout), "3m", 1, 86400,
	  "RFC 5321 4.5.3.2.5: wait for the next block of message data", NULL },
	{ "spool_sync", OPT_BOOL, OFF(spool_sync), "yes", 0, 1,
	  "fsync every message before 250; 'no' is fast but not durable", NULL },
	{ "bare_lf_end", OPT_BOOL, OFF(bare_lf_end), "no", 0, 1,
	  "lab only, outside RFC 5321: <LF>.<LF> ends DATA for bare-LF clients", NULL },
	{ "syslog_facility", OPT_STRING, OFF(syslog_facility), "mail", 1, 16,
	  "syslog facility when not in the foreground", NULL },
	{ "syslog_ident", OPT_STRING, OFF(syslog_ident), "mxd", 1, 64,
	  "syslog identity when not in the foreground", NULL },
	{ "smtps_listen", OPT_LISTEN, OFF(smtps_listen), "", 0, 64,
	  "RFC 8314 implicit-TLS listeners (port 465); needs tls_cert", NULL },
	{ "submission_listen", OPT_LISTEN, OFF(submission_listen), "", 0, 64,
	  "submission listeners (port 587): AUTH required before MAIL", NULL },
	{ "tls_cert", OPT_STRING, OFF(tls_cert), "", 0, 1024,
	  "PEM certificate chain; with it, STARTTLS is offered", NULL },
	{ "tls_key", OPT_STRING, OFF(tls_key), "", 0, 1024,
	  "PEM private key for tls_cert", NULL },
	{ "tls_ciphers", OPT_STRING, OFF(tls_ciphers),
	  "HIGH:!aNULL:!MD5:!RC4:!3DES", 1, 1024,
	  "OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are OpenSSL's)", NULL },
	{ "tls_protocols", OPT_LIST, OFF(tls_protocols), "TLSv1.2 TLSv1.3",
	  1, 2, "TLS versions offered: TLSv1.2 and/or TLSv1.3", NULL },
	{ "auth", OPT_BOOL, OFF(auth), "no", 0, 1,
	  "offer SMTP AUTH through cyrus-sasl", NULL },
	{ "sasl_app", OPT_STRING, OFF(sasl_app), "mxd", 1, 64,
	  "cyrus-sasl application name: libsasl2 reads <sasl_app>.conf", NULL },
	{ "sasl_config_dir", OPT_STRING, OFF(sasl_config_dir), "", 0, 1024,
	  "directory holding <sasl_app>.conf (empty: libsasl2's default)", NULL },
	{ "auth_plaintext", OPT_STRING, OFF(auth_plaintext), "tls", 1, 16,
	  "where PLAIN and LOGIN may be used: tls, loopback (lab) or always",
	  "tls|loopback|always" },
	{ "auth_max_failures", OPT_COUNT, OFF(auth_max_failures), "3", 1, 100,
	  "failed AUTH attempts before 421 and disconnect", NULL },
	{ "auth_delay_max", OPT_TIME, OFF(auth_delay_max), "8s", 0, 60,
	  "longest delay before a 535 (1s, 2s, 4s... per failure)", NULL },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL }
};

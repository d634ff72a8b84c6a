/*
 * options-table.c: every setting, declared once.  The config reader,
 * -o overrides, the defaults and `mxd -d` (dump) all use this table, and
 * doc/mxd.conf.5 follows it.  OPT_F_RESTART marks what was applied once
 * at start (sockets, the spool, SASL, privileges, logging): a reload
 * keeps the running value and says so.
 */
#include <limits.h>
#include <stddef.h>

#include "mxd.h"

#define OFF(f)	offsetof(struct config, f)

const struct option_entry options_table[] = {
	{ "listen", OPT_LISTEN, OFF(listen), "127.0.0.1:2525 [::1]:2525", 1, 64,
	  "addresses to accept SMTP on: address:port, [v6]:port", NULL, OPT_F_RESTART },
	{ "hostname", OPT_DOMAIN, OFF(hostname), "", 0, 255,
	  "name in the greeting and Received: header (empty: system name)", NULL, 0 },
	{ "spool_dir", OPT_STRING, OFF(spool_dir), "spool", 1, 1024,
	  "spool directory; relative paths are taken from the start directory", NULL, OPT_F_RESTART },
	{ "domains", OPT_DOMAIN_LIST, OFF(domains), "*", 1, 4096,
	  "recipient domains accepted; * accepts any, .example.org its subdomains", NULL, 0 },
	{ "max_message_size", OPT_SIZE, OFF(max_message_size), "10M",
	  1024, LLONG_MAX / 2, "largest message accepted, advertised as SIZE",
	  NULL, 0 },
	{ "max_recipients", OPT_COUNT, OFF(max_recipients), "100", 1, 100000,
	  "recipients per message; more get 452 4.5.3", NULL, 0 },
	{ "pid_file", OPT_STRING, OFF(pid_file), "", 0, 1024,
	  "file to write the daemon's process ID to (empty: none)", NULL, OPT_F_RESTART },
	{ "command_timeout", OPT_TIME, OFF(command_timeout), "5m", 1, 86400,
	  "RFC 5321 4.5.3.2.7: wait for the next command", NULL, 0 },
	{ "data_timeout", OPT_TIME, OFF(data_timeout), "3m", 1, 86400,
	  "RFC 5321 4.5.3.2.5: wait for the next block of message data", NULL, 0 },
	{ "data_min_rate", OPT_COUNT, OFF(data_min_rate), "500", 0,
	  1000000000, "octets a second a message must average (0: no "
	  "minimum)", NULL, 0 },
	{ "spool_sync", OPT_BOOL, OFF(spool_sync), "yes", 0, 1,
	  "fsync every message before 250; 'no' is fast but not durable", NULL, OPT_F_RESTART },
	{ "sink_faults", OPT_BOOL, OFF(sink_faults), "yes", 0, 1,
	  "test sink: recipients x+fail-550@, x+fail-data-451@, x+delay-3s@, "
	  "x+drop@ fail on purpose", NULL, 0 },
	{ "bare_lf_end", OPT_BOOL, OFF(bare_lf_end), "no", 0, 1,
	  "lab only, outside RFC 5321: <LF>.<LF> ends DATA for bare-LF clients", NULL, 0 },
	{ "syslog_facility", OPT_STRING, OFF(syslog_facility), "mail", 1, 16,
	  "syslog facility when not in the foreground",
	  "mail|daemon|user|local0|local1|local2|local3|local4|local5|local6|"
	  "local7", OPT_F_RESTART },
	{ "syslog_ident", OPT_STRING, OFF(syslog_ident), "mxd", 1, 64,
	  "syslog identity when not in the foreground", NULL, OPT_F_RESTART },
	{ "smtps_listen", OPT_LISTEN, OFF(smtps_listen), "", 0, 64,
	  "RFC 8314 implicit-TLS listeners (port 465); needs tls_cert", NULL, OPT_F_RESTART },
	{ "submission_listen", OPT_LISTEN, OFF(submission_listen), "", 0, 64,
	  "submission listeners (port 587): AUTH required before MAIL", NULL, OPT_F_RESTART },
	{ "tls_cert", OPT_STRING, OFF(tls_cert), "", 0, 1024,
	  "PEM certificate chain; with it, STARTTLS is offered", NULL, 0 },
	{ "tls_key", OPT_STRING, OFF(tls_key), "", 0, 1024,
	  "PEM private key for tls_cert", NULL, 0 },
	{ "tls_ciphers", OPT_STRING, OFF(tls_ciphers),
	  "HIGH:!aNULL:!MD5:!RC4:!3DES", 1, 1024,
	  "OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are OpenSSL's)", NULL, 0 },
	{ "tls_protocols", OPT_LIST, OFF(tls_protocols), "TLSv1.2 TLSv1.3",
	  1, 2, "TLS versions offered: TLSv1.2 and/or TLSv1.3",
	  "TLSv1.2|TLSv1.3", 0 },
	{ "auth", OPT_BOOL, OFF(auth), "no", 0, 1,
	  "offer SMTP AUTH through cyrus-sasl", NULL, OPT_F_RESTART },
	{ "sasl_app", OPT_STRING, OFF(sasl_app), "mxd", 1, 64,
	  "cyrus-sasl application name: libsasl2 reads <sasl_app>.conf", NULL, OPT_F_RESTART },
	{ "sasl_config_dir", OPT_STRING, OFF(sasl_config_dir), "", 0, 1024,
	  "directory holding <sasl_app>.conf (empty: libsasl2's default)", NULL, OPT_F_RESTART },
	{ "auth_mechanisms", OPT_LIST, OFF(auth_mechanisms),
	  "PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-224 SCRAM-SHA-256 "
	  "SCRAM-SHA-384 SCRAM-SHA-512 GSSAPI", 1, 4096,
	  "SASL mechanisms that may be offered (* : all libsasl2 has)", NULL, 0 },
	{ "auth_plaintext", OPT_STRING, OFF(auth_plaintext), "tls", 1, 16,
	  "where PLAIN and LOGIN may be used: tls, loopback (lab) or always",
	  "tls|loopback|always", 0 },
	{ "auth_max_failures", OPT_COUNT, OFF(auth_max_failures), "3", 1, 100,
	  "failed AUTH attempts before 421 and disconnect", NULL, 0 },
	{ "auth_delay_max", OPT_TIME, OFF(auth_delay_max), "8s", 0, 60,
	  "longest delay before a 535 (1s, 2s, 4s... per failure)", NULL, 0 },
	{ "max_connections", OPT_COUNT, OFF(max_connections), "1000", 1,
	  1000000, "sessions at once; more get 421 4.7.0 at the greeting",
	  NULL, 0 },
	{ "max_connections_per_ip", OPT_COUNT, OFF(max_connections_per_ip),
	  "20", 1, 1000000, "sessions at once from one client address",
	  NULL, 0 },
	{ "trusted_networks", OPT_NETWORKS, OFF(trusted_networks),
	  "127.0.0.0/8 [::1]/128", 0, 4096,
	  "client networks exempt from max_connections_per_ip and "
	  "max_messages_per_session (Postfix's mynetworks); empty: none", NULL, 0 },
	{ "max_errors", OPT_COUNT, OFF(max_errors), "20", 1, 10000,
	  "error replies in one session before 421 4.7.0 and close", NULL, 0 },
	{ "max_messages_per_session", OPT_COUNT,
	  OFF(max_messages_per_session), "1000", 1, 1000000,
	  "transactions (MAIL) in one session before 421 4.7.0", NULL, 0 },
	{ "greet_delay", OPT_TIME, OFF(greet_delay), "0", 0, 60,
	  "wait this long before the 220 greeting, to catch early talkers",
	  NULL, 0 },
	{ "pregreet_reject", OPT_BOOL, OFF(pregreet_reject), "yes", 0, 1,
	  "refuse clients that talk before the greeting (with greet_delay)",
	  NULL, 0 },
	{ "shutdown_grace", OPT_TIME, OFF(shutdown_grace), "30s", 0, 3600,
	  "on SIGTERM, how long messages in DATA may take to finish", NULL, 0 },
	{ "user", OPT_STRING, OFF(user), "nobody", 1, 64,
	  "when started as root, the user to run as after binding", NULL, OPT_F_RESTART },
	{ "group", OPT_STRING, OFF(group), "", 0, 64,
	  "group to run as (empty: the user's primary group)", NULL, OPT_F_RESTART },
	{ "recipient_table", OPT_STRING, OFF(recipient_table), "", 0, 1024,
	  "file of users, aliases and catch-alls; others get 550 5.1.1 "
	  "(empty: every local part of domains)", NULL, 0 },
	{ "recipient_delimiter", OPT_STRING, OFF(recipient_delimiter), "", 0,
	  8, "characters that start a +tag in a local part: bob+news@ is "
	  "bob's (empty: none)", NULL, 0 },
	{ "recipient_check", OPT_STRING, OFF(recipient_check), "table", 1, 8,
	  "how RCPT knows a user: table (recipient_table, if set), lmtp "
	  "(ask recipient_lmtp), none", "table|lmtp|none", 0 },
	{ "recipient_lmtp", OPT_STRING, OFF(recipient_lmtp), "", 0, 1024,
	  "the store asked when recipient_check = lmtp: lmtp:unix:/path or "
	  "lmtp:inet:host:port", NULL, 0 },
	{ "recipient_cache_ttl", OPT_TIME, OFF(recipient_cache_ttl), "1h", 0,
	  86400 * 7, "how long the store's yes to a recipient is kept (0: "
	  "ask each time)", NULL, 0 },
	{ "recipient_cache_negative_ttl", OPT_TIME,
	  OFF(recipient_cache_negative_ttl), "10m", 0, 86400 * 7,
	  "how long the store's no (5xx) is kept (0: ask each time)", NULL, 0 },
	{ "recipient_lmtp_timeout", OPT_TIME, OFF(recipient_lmtp_timeout),
	  "10s", 1, 600, "longest wait for the store's answer; then 451 4.4.3",
	  NULL, 0 },
	{ "pop3_listen", OPT_LISTEN, OFF(pop3_listen), "", 0, 64,
	  "addresses to serve POP3 on (RFC 1939; without -c: 127.0.0.1:1110 "
	  "[::1]:1110)", NULL, OPT_F_RESTART },
	{ "pop3s_listen", OPT_LISTEN, OFF(pop3s_listen), "", 0, 64,
	  "implicit-TLS POP3 listeners (port 995); needs tls_cert", NULL,
	  OPT_F_RESTART },
	{ "pop3_timeout", OPT_TIME, OFF(pop3_timeout), "10m", 1, 86400,
	  "RFC 1939 3: idle time before a POP3 session is closed (at least "
	  "10m; less only with pop3_auth = any, the lab sink)", NULL, 0 },
	{ "pop3_auth", OPT_STRING, OFF(pop3_auth), "sasl", 1, 8,
	  "POP3 logins: sasl (checked like SMTP AUTH) or any (a lab sink: "
	  "every name and password; without -c)", "sasl|any", OPT_F_RESTART },
	{ "http_listen", OPT_LISTEN, OFF(http_listen), "", 0, 64,
	  "addresses for the HTTP API (Mailpit/MailHog compatible); "
	  "without a config file 127.0.0.1:8025 [::1]:8025", NULL, OPT_F_RESTART },
	{ "http_auth_file", OPT_STRING, OFF(http_auth_file), "", 0, 1024,
	  "htpasswd file (bcrypt, SHA-crypt): HTTP basic authentication",
	  NULL, OPT_F_RESTART },
	{ "http_auth", OPT_STRING, OFF(http_auth), "basic", 1, 16,
	  "basic: a non-loopback http_listen needs http_auth_file; none: "
	  "no authentication anywhere", "basic|none", OPT_F_RESTART },
	{ "https_listen", OPT_LISTEN, OFF(https_listen), "", 0, 64,
	  "addresses for the HTTP API over TLS (tls_cert, tls_key); the "
	  "loopback rule of http_listen applies", NULL, OPT_F_RESTART },
	{ "sink_max_messages", OPT_COUNT, OFF(sink_max_messages), "0", 0,
	  1000000000, "with the HTTP API: keep at most this many messages, "
	  "removing the oldest (0: keep all)", NULL, OPT_F_RESTART },
	{ "sink_max_size", OPT_SIZE, OFF(sink_max_size), "0", 0,
	  LLONG_MAX / 2, "with the HTTP API: keep at most this many octets of "
	  "messages, removing the oldest (0: no limit)", NULL, OPT_F_RESTART },
	{ "delivery", OPT_STRING, OFF(delivery), "keep", 1, 1024,
	  "where accepted mail goes: keep (the spool is the mailbox), "
	  "lmtp:unix:/path, lmtp:inet:host:port, maildir:/path/%d/%u",
	  NULL, 0 },
	{ "delivery_map", OPT_STRING, OFF(delivery_map), "", 0, 1024,
	  "file of `key target` lines overriding delivery per domain "
	  "(@domain) or address (empty: none)", NULL, 0 },
	{ "delivery_concurrency", OPT_COUNT, OFF(delivery_concurrency), "2",
	  1, 64, "deliveries under way at once (worker threads)", NULL,
	  OPT_F_RESTART },
	{ "delivery_retry_min", OPT_TIME, OFF(delivery_retry_min), "1m", 1,
	  86400, "first wait after a temporary failure; doubles each try",
	  NULL, 0 },
	{ "delivery_retry_max", OPT_TIME, OFF(delivery_retry_max), "1h", 1,
	  86400 * 7, "longest wait between two tries", NULL, 0 },
	{ "delivery_lifetime", OPT_TIME, OFF(delivery_lifetime), "5d", 1,
	  86400 * 60, "how long a message may wait for its store; then it "
	  "fails (dead/, a notice to the postmaster)", NULL, 0 },
	{ "delivery_timeout", OPT_TIME, OFF(delivery_timeout), "5m", 1, 3600,
	  "longest wait for an LMTP store's reply", NULL, 0 },
	{ "lmtp_recipient_limit", OPT_COUNT, OFF(lmtp_recipient_limit), "1",
	  1, 1000, "most mailboxes in one LMTP transaction (RFC 2033 4.2); "
	  "above 1, mxd prepends no Delivered-To (Dovecot adds none)", NULL, 0 },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL, 0 }
};

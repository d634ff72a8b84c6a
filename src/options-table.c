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
	  "addresses to accept SMTP on: address:port, [v6]:port" },
	{ "hostname", OPT_STRING, OFF(hostname), "", 0, 255,
	  "name in the greeting and Received: header (empty: system name)" },
	{ "spool_dir", OPT_STRING, OFF(spool_dir), "spool", 1, 1024,
	  "spool directory; relative paths are taken from the start directory" },
	{ "domains", OPT_LIST, OFF(domains), "*", 1, 4096,
	  "recipient domains accepted; * accepts any, .example.org its subdomains" },
	{ "max_message_size", OPT_SIZE, OFF(max_message_size), "10M",
	  1024, LLONG_MAX / 2, "largest message accepted, advertised as SIZE" },
	{ "max_recipients", OPT_COUNT, OFF(max_recipients), "100", 1, 100000,
	  "recipients per message; more get 452 4.5.3" },
	{ "pid_file", OPT_STRING, OFF(pid_file), "", 0, 1024,
	  "file to write the daemon's process ID to (empty: none)" },
	{ "command_timeout", OPT_TIME, OFF(command_timeout), "5m", 1, 86400,
	  "RFC 5321 4.5.3.2.7: wait for the next command" },
	{ "data_timeout", OPT_TIME, OFF(data_timeout), "3m", 1, 86400,
	  "RFC 5321 4.5.3.2.5: wait for the next block of message data" },
	{ "spool_sync", OPT_BOOL, OFF(spool_sync), "yes", 0, 1,
	  "fsync every message before 250; 'no' is fast but not durable" },
	{ "bare_lf_end", OPT_BOOL, OFF(bare_lf_end), "no", 0, 1,
	  "lab only, outside RFC 5321: <LF>.<LF> ends DATA for bare-LF clients" },
	{ "syslog_facility", OPT_STRING, OFF(syslog_facility), "mail", 1, 16,
	  "syslog facility when not in the foreground" },
	{ "syslog_ident", OPT_STRING, OFF(syslog_ident), "mxd", 1, 64,
	  "syslog identity when not in the foreground" },
	{ NULL, 0, 0, NULL, 0, 0, NULL }
};

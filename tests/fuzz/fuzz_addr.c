/*
 * fuzz_addr.c: libFuzzer target for the MAIL/RCPT argument parser, the
 * ESMTP parameter parser and xtext.  Beyond "no crash", it checks what
 * the parsers promise: a parsed address fits its limits and has no
 * control characters; xtext round-trips.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char			 buf[SMTP_CMD_MAX + 1], enc[3 * SMTP_CMD_MAX + 1];
	char			 dec[SMTP_CMD_MAX + 1];
	struct smtp_path	 p;
	struct mail_params	 mp;
	const char		*bad;
	size_t			 n = size < SMTP_CMD_MAX ? size : SMTP_CMD_MAX;
	size_t			 i;

	memcpy(buf, data, n);
	buf[n] = '\0';
	if (addr_parse_cmd(buf, n > 0 && data[0] & 1 ? "TO" : "FROM",
	    &p) == ADDR_OK) {
		if (strlen(p.addr) > SMTP_PATH_MAX - 2)
			abort();
		for (i = 0; p.addr[i] != '\0'; i++)
			if ((unsigned char)p.addr[i] < 0x20 &&
			    p.addr[i] != '\t')
				abort();
		(void)addr_domain(p.addr);
		(void)recipient_is_postmaster(p.addr, "mx.test");
		(void)esmtp_mail_params(p.params, &mp, &bad);
	}
	memcpy(buf, data, n);
	buf[n] = '\0';
	(void)esmtp_rcpt_params(buf, &bad);
	memcpy(buf, data, n);
	buf[n] = '\0';
	xtext_encode(buf, enc, sizeof(enc));
	xtext_decode(enc, dec, sizeof(dec));
	if (strcmp(dec, buf) != 0)
		abort();
	return (0);
}

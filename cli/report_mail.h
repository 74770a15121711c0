/*
 * report_mail.h - postmeter report summary --mail-to ADDR: the summary
 * as one text + HTML mail (multipart/alternative) handed to sendmail(1),
 * for cron or the package's timer (report_mail.c).
 */
#ifndef POSTMETER_CLI_REPORT_MAIL_H
#define POSTMETER_CLI_REPORT_MAIL_H

#include <stdbool.h>

#include "buf.h"
#include "config.h"
#include "report_html.h"
#include "store_summary.h"

/* The sendmail(1) program the mail goes to (Postfix's, or any compatible one). */
#define REPORT_MAIL_SENDMAIL "/usr/sbin/sendmail"
/* A sendmail that has not taken the mail and exited by then is killed (a hung
 * one must not hang cron's or the timer's run for ever); Postfix's takes ms. */
#define REPORT_MAIL_TIMEOUT_S 60

/* report_mail_addr_ok - ADDR is one plain address (local@domain, no space, quote or comma) */
bool report_mail_addr_ok(const char *addr);

/* report_mail_qp - append p[0..n) quoted-printable (RFC 2045 6.7, lines of at most 76) to out */
void report_mail_qp(const char *p, size_t n, struct buf *out);

/*
 * report_mail_summary - mail the summary s (and h) to addr: the text
 * part is what text() prints on stdout (the table report, caught in a
 * temporary file), the HTML part report_html_summary()'s page, both
 * quoted-printable. Through REPORT_MAIL_SENDMAIL -i -- ADDR (argv, no
 * shell). The exit status: CLI_OK once sendmail took it, CLI_FAIL with
 * a message if it could not run, exited non-zero or had not finished in
 * REPORT_MAIL_TIMEOUT_S (then it is killed), CLI_USAGE for an
 * address that is not one plain address.
 */
int report_mail_summary(const struct config *c, const char *addr, const struct store_summary *s,
                        const struct report_health *h,
                        void (*text)(const struct store_summary *s, const struct report_health *h));

#endif

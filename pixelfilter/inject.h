/*
 * inject.h - tracking-pixel injection into one RFC 5322 message: the MIME
 * walk and the HTML insertion, shared by the milter stage and
 * postmeter-pixelfilter.
 *
 * pixel_inject() finds every text/html part that is a rendered body (the
 * top level, or inside multipart/alternative, multipart/mixed or the root
 * of multipart/related; not an attachment) and adds exactly one 1x1 <img>
 * to it. It never reserializes the message: the input bytes are copied
 * and only the modified parts' bodies (and, when a 7bit/8bit body must
 * become quoted-printable, that part's Content-Transfer-Encoding field)
 * are replaced. Every other byte is the input's.
 *
 * It must never touch: multipart/signed, multipart/encrypted,
 * application/pkcs7-mime, inline OpenPGP (a text/plain or text/html part,
 * not an attachment, whose decoded text holds "-----BEGIN PGP SIGNED
 * MESSAGE-----" or "-----BEGIN PGP MESSAGE-----") - anywhere in the
 * message: the whole message is passed on unchanged -, the inside of
 * message/rfc822 (or any message/x) parts, text/html attachments, and mail
 * that already carries a DKIM-Signature, an ARC-Seal or an
 * ARC-Message-Signature (signatures we add later, after the pixel, are
 * not there yet). On any doubt about the MIME structure the message is
 * passed on byte for byte (MALFORMED_PASSTHROUGH).
 *
 * Thread safety: pixel_inject() may run in several threads at once.
 */
#ifndef POSTMETER_PIXEL_INJECT_H
#define POSTMETER_PIXEL_INJECT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

enum pixel_outcome {
    PIXEL_INJECTED,              /* rep->parts HTML parts got the pixel */
    PIXEL_NO_HTML,               /* no rendered HTML part: tracked without a pixel */
    PIXEL_SKIPPED_SIGNED,        /* multipart/signed, pkcs7 signed-data, inline PGP signed */
    PIXEL_SKIPPED_ENCRYPTED,     /* multipart/encrypted, pkcs7 enveloped-data, inline PGP */
    PIXEL_SKIPPED_FOREIGN_DKIM,  /* a DKIM-Signature is already there */
    PIXEL_MALFORMED_PASSTHROUGH, /* MIME structure not understood */
    PIXEL_NOT_MESSAGE,           /* empty, or the first line is not a header field */
    PIXEL_BAD_URL,               /* img_url failed pixel_url_ok() */
    PIXEL_SKIPPED_FOREIGN_ARC,   /* an ARC-Seal or ARC-Message-Signature is already there */
};

struct pixel_report {
    enum pixel_outcome outcome;
    unsigned parts;         /* HTML parts injected */
    unsigned skipped_parts; /* rendered HTML parts left alone (see reason) */
    char reason[160];       /* why skipped / malformed; "" if nothing to say */
};

/* The longest URL pixel_url_ok() accepts. */
#define PIXEL_URL_MAX 1024

/*
 * pixel_inject - inject the pixel for img_url into the message in[0..len).
 * Appends the resulting message to out (the input unchanged for every
 * outcome but PIXEL_INJECTED, nothing for NOT_MESSAGE and BAD_URL) and
 * returns the outcome, also stored in rep. Keeps the input's line ends.
 */
enum pixel_outcome pixel_inject(const char *in, size_t len, const char *img_url, struct buf *out,
                                struct pixel_report *rep);

/* pixel_url_ok - printable ASCII, no quotes, angle brackets, backquote or white space */
bool pixel_url_ok(const char *url);

/* pixel_outcome_name - "INJECTED", "NO_HTML", ... (static string) */
const char *pixel_outcome_name(enum pixel_outcome o);

/*
 * pixel_outcome_word - the word tracked_messages.outcome records: "injected",
 * "no-html", "skipped-signed", "skipped-encrypted", "skipped-foreign-dkim",
 * "skipped-foreign-arc", "malformed", "not-message", "bad-url" (static string)
 */
const char *pixel_outcome_word(enum pixel_outcome o);

/* pixel_report_format - one line for logs: "INJECTED parts=1" etc. (appended to b) */
void pixel_report_format(const struct pixel_report *rep, struct buf *b);

/* pixel_shutdown - release GMime's global state: once, at exit, optional; no pixel_inject()
 * after it */
void pixel_shutdown(void);

#endif

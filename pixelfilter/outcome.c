/*
 * outcome.c - the names of the pixel injector's outcomes: the word the
 * ledger records, the name the command prints, and the one-line report.
 *
 * Must never: give two outcomes one word; the word says why a message got
 * no pixel.
 */
#include "inject.h"

/* pixel_outcome_name - "INJECTED", "NO_HTML", ... */
const char *pixel_outcome_name(enum pixel_outcome o)
{
    switch (o) {
    case PIXEL_INJECTED:
        return "INJECTED";
    case PIXEL_NO_HTML:
        return "NO_HTML";
    case PIXEL_SKIPPED_SIGNED:
        return "SKIPPED_SIGNED";
    case PIXEL_SKIPPED_ENCRYPTED:
        return "SKIPPED_ENCRYPTED";
    case PIXEL_SKIPPED_FOREIGN_DKIM:
        return "SKIPPED_FOREIGN_DKIM";
    case PIXEL_MALFORMED_PASSTHROUGH:
        return "MALFORMED_PASSTHROUGH";
    case PIXEL_NOT_MESSAGE:
        return "NOT_MESSAGE";
    case PIXEL_BAD_URL:
        return "BAD_URL";
    case PIXEL_SKIPPED_FOREIGN_ARC:
        return "SKIPPED_FOREIGN_ARC";
    }
    return "UNKNOWN";
}

/* pixel_outcome_word - the ledger's word: "injected", "no-html", "skipped-signed", ... */
const char *pixel_outcome_word(enum pixel_outcome o)
{
    switch (o) {
    case PIXEL_INJECTED:
        return "injected";
    case PIXEL_NO_HTML:
        return "no-html";
    case PIXEL_SKIPPED_SIGNED:
        return "skipped-signed";
    case PIXEL_SKIPPED_ENCRYPTED:
        return "skipped-encrypted";
    case PIXEL_SKIPPED_FOREIGN_DKIM:
        return "skipped-foreign-dkim";
    case PIXEL_MALFORMED_PASSTHROUGH:
        return "malformed";
    case PIXEL_NOT_MESSAGE:
        return "not-message";
    case PIXEL_BAD_URL:
        return "bad-url";
    case PIXEL_SKIPPED_FOREIGN_ARC:
        return "skipped-foreign-arc";
    }
    return "error";
}

/* pixel_report_format - one line for logs */
void pixel_report_format(const struct pixel_report *rep, struct buf *b)
{
    buf_printf(b, "%s parts=%u skipped=%u", pixel_outcome_name(rep->outcome), rep->parts,
               rep->skipped_parts);
    if (rep->reason[0] != '\0')
        buf_printf(b, " reason=\"%s\"", rep->reason);
}

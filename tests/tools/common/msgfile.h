/*
 * msgfile.h - a message file as the DKIM test tools feed it to a signer
 * or verifier: header fields (LF folds, as Postfix sends them), the header
 * text and the body, both with CRLF line ends.
 */
#ifndef POSTMETER_TEST_MSGFILE_H
#define POSTMETER_TEST_MSGFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct field {
    char *name;
    char *value;
};

struct message {
    struct field *f;
    size_t nf;
    struct buf header; /* as read, CRLF line ends, with the empty line */
    struct buf body;   /* CRLF line ends */
};

/* msgfile_read - the whole file at path; exits 1 (message prefixed with prog) on error; caller
 * frees */
char *msgfile_read(const char *prog, const char *path, size_t *len);
/*
 * msgfile_parse - split data[0..len) into fields, the header text and the
 * body; with leadspc a value keeps its leading space (SMFIP_HDR_LEADSPC)
 */
void msgfile_parse(const char *data, size_t len, bool leadspc, struct message *m);
/* msgfile_free - free what msgfile_parse() filled in */
void msgfile_free(struct message *m);

#endif

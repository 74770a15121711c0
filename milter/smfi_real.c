/*
 * smfi_real.c - the smfi adapter bound to the milter sessions of our own
 * engine (msession.c), and the filter's description.
 */
#include "milter.h"
#include "msession.h"
#include "smfi.h"

static const struct smfi_ops smfi_engine = {
    .getsymval = msession_getsymval,
    .getpriv = msession_getpriv,
    .setpriv = msession_setpriv,
    .setreply = msession_setreply,
    .insheader = msession_insheader,
    .chgheader = msession_chgheader,
    .quarantine = msession_quarantine,
    .replacebody = msession_replacebody,
};

const struct smfi_ops *smfi = &smfi_engine;

/* The filter: what it may change and its callbacks, as libmilter's API names them. */
struct smfiDesc milter_desc = {
    .xxfi_name = "postmeter",
    .xxfi_version = SMFI_VERSION,
    .xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY | SMFIF_QUARANTINE,
    .xxfi_connect = milter_connect,
    .xxfi_helo = milter_helo,
    .xxfi_envfrom = milter_envfrom,
    .xxfi_envrcpt = milter_envrcpt,
    .xxfi_header = milter_header,
    .xxfi_eoh = milter_eoh,
    .xxfi_body = milter_body,
    .xxfi_eom = milter_eom,
    .xxfi_abort = milter_abort,
    .xxfi_close = milter_close,
    .xxfi_negotiate = milter_negotiate,
};

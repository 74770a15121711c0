/*
 * smfi_real.c - the smfi adapter bound to libmilter, and the filter's
 * registration. Only this file and main.c link against libmilter.
 */
#include "milter.h"
#include "smfi.h"

static const struct smfi_ops smfi_libmilter = {
    .getsymval = smfi_getsymval,
    .getpriv = smfi_getpriv,
    .setpriv = smfi_setpriv,
    .setreply = smfi_setreply,
    .insheader = smfi_insheader,
    .chgheader = smfi_chgheader,
    .quarantine = smfi_quarantine,
    .replacebody = smfi_replacebody,
};

const struct smfi_ops *smfi = &smfi_libmilter;

/* The filter as libmilter sees it. */
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

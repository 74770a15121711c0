/*
 * msession_api.c - what the stages call during a milter session: the
 * libmilter API subset (smfi_*(), bound by smfi_real.c). See msession.h.
 * Modifications go out only during end of message and only if
 * negotiated; they must never reach the output at another time.
 */
#include <string.h>

#include "mproto.h"
#include "msession.h"
#include "msession_int.h"
#include "util.h"

/* same_name - "i" matches "{i}" and the other way round */
static bool same_name(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    if (la >= 2 && a[0] == '{' && a[la - 1] == '}')
        a++, la -= 2;
    if (lb >= 2 && b[0] == '{' && b[lb - 1] == '}')
        b++, lb -= 2;
    return la == lb && memcmp(a, b, la) == 0;
}

char *msession_getsymval(SMFICTX *s, char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = NSTAGES; i-- > 0;) {
        const struct macros *m = &s->mac[i];

        for (int j = 0; j + 1 < m->n; j += 2)
            if (same_name(m->argv[j], name))
                return m->argv[j + 1];
    }
    return NULL;
}

void *msession_getpriv(SMFICTX *s)
{
    return s->priv;
}

int msession_setpriv(SMFICTX *s, void *priv)
{
    s->priv = priv;
    return MI_SUCCESS;
}

/* msession_setreply - "rcode xcode message" for the next reject or tempfail */
int msession_setreply(SMFICTX *s, char *rcode, char *xcode, char *message)
{
    if (rcode == NULL || strlen(rcode) != 3 || (rcode[0] != '4' && rcode[0] != '5') ||
        rcode[1] < '0' || rcode[1] > '9' || rcode[2] < '0' || rcode[2] > '9')
        return MI_FAILURE;
    if (xcode && (xcode[0] != rcode[0] || xcode[1] != '.' || strpbrk(xcode, " \r\n")))
        return MI_FAILURE;
    if (message && strpbrk(message, "\r\n"))
        return MI_FAILURE;
    free(s->reply);
    s->reply = xasprintf("%s %s%s%s", rcode, xcode ? xcode : "", xcode && message ? " " : "",
                         message ? message : "");
    return MI_SUCCESS;
}

/* may - a modification is allowed: during end of message and negotiated */
static bool may(const SMFICTX *s, uint32_t action)
{
    return s->in_eom && (s->actions & action);
}

int msession_insheader(SMFICTX *s, int idx, char *name, char *value)
{
    if (!may(s, SMFIF_ADDHDRS) || name == NULL || value == NULL || idx < 0)
        return MI_FAILURE;
    mproto_put_header(&s->out, SMFIR_INSHEADER, (uint32_t)idx, name, value);
    return MI_SUCCESS;
}

int msession_chgheader(SMFICTX *s, char *name, int idx, char *value)
{
    if (!may(s, SMFIF_CHGHDRS) || name == NULL || idx < 0)
        return MI_FAILURE;
    /* an empty value deletes the field */
    mproto_put_header(&s->out, SMFIR_CHGHEADER, (uint32_t)idx, name, value ? value : "");
    return MI_SUCCESS;
}

int msession_quarantine(SMFICTX *s, char *reason)
{
    if (!may(s, SMFIF_QUARANTINE) || reason == NULL || reason[0] == '\0')
        return MI_FAILURE;
    mproto_put(&s->out, SMFIR_QUARANTINE, reason, strlen(reason) + 1);
    return MI_SUCCESS;
}

/* msession_replacebody - the new body, in chunks the MTA takes (one empty one for none) */
int msession_replacebody(SMFICTX *s, unsigned char *data, int len)
{
    size_t off = 0, n = len > 0 ? (size_t)len : 0;

    if (!may(s, SMFIF_CHGBODY) || len < 0 || (data == NULL && len > 0))
        return MI_FAILURE;
    do {
        size_t chunk = n - off > MILTER_CHUNK_SIZE ? MILTER_CHUNK_SIZE : n - off;

        mproto_put(&s->out, SMFIR_REPLBODY, data ? data + off : NULL, chunk);
        off += chunk;
    } while (off < n);
    return MI_SUCCESS;
}

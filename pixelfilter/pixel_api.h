/*
 * pixel_api.h - the pixel engine as a loadable module (postmeter-pixel.so)
 *
 * The engine stands on GMime, GLib, GIO, GObject and their libraries
 * (gpgme, libmount, PCRE2, ...): linked into postmeter-milter they were
 * mapped, relocated and initialized in every milter process, about 2.5 MiB
 * of its memory, whether tracking was configured or not. The milter
 * therefore loads the engine with dlopen the first time tracking is
 * configured (milter/pixel_load.c); postmeter-pixelfilter, which always
 * needs it, links it directly.
 *
 * The module is self-contained: it carries its own copy of the few lib/
 * pieces the engine uses (buffers, allocation, base64, logging), all
 * hidden, and exports one function, PIXEL_API_SYMBOL, returning this
 * table. log_open() must be called with the host's logging before the
 * first pixel_inject(), so the module's bug()/die() lines go where the
 * host's go.
 */
#ifndef POSTMETER_PIXEL_API_H
#define POSTMETER_PIXEL_API_H

#include "inject.h"
#include "log.h"

/* The one exported symbol: const struct pixel_api *postmeter_pixel_api_v1(void) */
#define PIXEL_API_SYMBOL "postmeter_pixel_api_v1"
/* Changes with any change of struct pixel_api. */
#define PIXEL_API_ABI 1

/*
 * abi and version stay the first two fields whatever changes: the loader
 * reads them before it trusts the rest. The sizes of what crosses the
 * boundary are checked too (two builds of one version may differ).
 */
struct pixel_api {
    unsigned abi;        /* PIXEL_API_ABI */
    const char *version; /* POSTMETER_VERSION the module was built as */
    size_t buf_size;     /* sizeof(struct buf) in the module */
    size_t report_size;  /* sizeof(struct pixel_report) in the module */
    void (*log_open)(const char *ident, enum log_dest dest);
    enum pixel_outcome (*inject)(const char *in, size_t len, const char *img_url, struct buf *out,
                                 struct pixel_report *rep);
    const char *(*outcome_word)(enum pixel_outcome o);
};

typedef const struct pixel_api *pixel_api_fn(void);

#endif

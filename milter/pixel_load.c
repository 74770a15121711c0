/*
 * pixel_load.c - dlopen of the pixel engine module (see pixel_load.h).
 *
 * The module is named by its absolute path (pixel_module, default
 * LIBDIR/postmeter/postmeter-pixel.so), so no search path is involved
 * (a RUNPATH was the alternative: CMake ends a build tree's with an
 * empty entry, which ld.so reads as the current directory). RTLD_NOW
 * makes a module with an unresolved symbol fail here, not at the first
 * tracked message; the module is never unloaded (GLib's types cannot be).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "pixel_load.h"

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(const struct pixel_api *) loaded;

/* open_module - dlopen and check the module; NULL with a reason in err */
static const struct pixel_api *open_module(const char *path, char *err, size_t errlen)
{
    const struct pixel_api *a;
    pixel_api_fn *get;
    const char *why;
    void *h;

    dlerror();
    if ((h = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
        why = dlerror();
        snprintf(err, errlen, "cannot load the pixel engine: %s", why ? why : path);
        return NULL;
    }
    *(void **)&get = dlsym(h, PIXEL_API_SYMBOL);
    if (get == NULL) {
        snprintf(err, errlen, "cannot load the pixel engine: %s has no %s", path, PIXEL_API_SYMBOL);
        dlclose(h);
        return NULL;
    }
    a = get();
    if (a == NULL || a->version == NULL || strcmp(a->version, POSTMETER_VERSION) != 0) {
        snprintf(err, errlen, "cannot load the pixel engine: %s is from postmeter %s, this is %s",
                 path, a && a->version ? a->version : "(unknown)", POSTMETER_VERSION);
    } else if (a->abi != PIXEL_API_ABI) {
        snprintf(err, errlen, "cannot load the pixel engine: %s has interface %u, this needs %u",
                 path, a->abi, PIXEL_API_ABI);
    } else if (a->buf_size != sizeof(struct buf) || a->report_size != sizeof(struct pixel_report)) {
        snprintf(err, errlen, "cannot load the pixel engine: %s was built with other data layouts",
                 path);
    } else {
        return a;
    }
    dlclose(h);
    return NULL;
}

/* pixel_load - load once; later calls return what was loaded */
const struct pixel_api *pixel_load(const char *path, char *err, size_t errlen)
{
    const struct pixel_api *a;
    const char *ident;
    enum log_dest dest;

    if ((a = atomic_load(&loaded)) != NULL)
        return a;
    pthread_mutex_lock(&load_lock);
    if ((a = atomic_load(&loaded)) == NULL && (a = open_module(path, err, errlen)) != NULL) {
        log_current(&ident, &dest);
        a->log_open(ident, dest);
        atomic_store(&loaded, a);
    }
    pthread_mutex_unlock(&load_lock);
    return a;
}

/* pixel_loaded - what pixel_load() loaded, or NULL */
const struct pixel_api *pixel_loaded(void)
{
    return atomic_load(&loaded);
}

/*
 * pixel_load.h - the pixel engine module (postmeter-pixel.so, see
 * pixelfilter/pixel_api.h), loaded with dlopen the first time tracking
 * is configured, and kept until exit.
 */
#ifndef POSTMETER_PIXEL_LOAD_H
#define POSTMETER_PIXEL_LOAD_H

#include <stddef.h>

#include "pixel_api.h"

/*
 * pixel_load - load the module at path (config key pixel_module) if no
 * module is loaded yet; its functions, or NULL with the reason in err
 * (file not found, a symbol missing, built for another postmeter
 * version). Thread-safe; a failed load is tried again on the next call;
 * once one is loaded, path is not looked at again.
 */
const struct pixel_api *pixel_load(const char *path, char *err, size_t errlen);
/* pixel_loaded - the module's functions if pixel_load() succeeded, else NULL */
const struct pixel_api *pixel_loaded(void);

#endif

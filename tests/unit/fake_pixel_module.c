/*
 * fake_pixel_module.c - modules that postmeter-milter must refuse to use
 * as its pixel engine (test_pixel_load.c), one per FAKE_* definition:
 *   FAKE_OTHER_VERSION  the right symbol, built "for another postmeter"
 *   FAKE_OTHER_ABI      the right symbol and version, another table layout
 *   FAKE_OTHER_LAYOUT   the right symbol, version and table, another struct buf
 *   FAKE_NO_SYMBOL      a module without postmeter_pixel_api_v1
 *   FAKE_UNRESOLVED     needs a function nothing provides (RTLD_NOW fails)
 */
#include "pixel_api.h"

#if defined(FAKE_OTHER_VERSION) || defined(FAKE_OTHER_ABI) || defined(FAKE_OTHER_LAYOUT)
#if defined(FAKE_OTHER_VERSION)
#define FAKE_ABI     PIXEL_API_ABI
#define FAKE_VERSION "0.0.0-other"
#define FAKE_BUF     sizeof(struct buf)
#elif defined(FAKE_OTHER_ABI)
#define FAKE_ABI     (PIXEL_API_ABI + 1)
#define FAKE_VERSION POSTMETER_VERSION
#define FAKE_BUF     sizeof(struct buf)
#else
#define FAKE_ABI     PIXEL_API_ABI
#define FAKE_VERSION POSTMETER_VERSION
#define FAKE_BUF     (sizeof(struct buf) + 8)
#endif
const struct pixel_api *postmeter_pixel_api_v1(void);

static const struct pixel_api api = {.abi = FAKE_ABI,
                                     .version = FAKE_VERSION,
                                     .buf_size = FAKE_BUF,
                                     .report_size = sizeof(struct pixel_report)};

const struct pixel_api *postmeter_pixel_api_v1(void)
{
    return &api;
}
#elif defined(FAKE_NO_SYMBOL)
int fake_pixel_something(void);

int fake_pixel_something(void)
{
    return 1;
}
#elif defined(FAKE_UNRESOLVED)
const struct pixel_api *postmeter_pixel_api_v1(void);
void fake_pixel_nowhere(void);

const struct pixel_api *postmeter_pixel_api_v1(void)
{
    fake_pixel_nowhere();
    return 0;
}
#endif

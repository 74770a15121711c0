/*
 * module.c - the entry point of postmeter-pixel.so (see pixel_api.h).
 * Everything else in the module is hidden (C_VISIBILITY_PRESET hidden).
 */
#include "pixel_api.h"

__attribute__((visibility("default"))) const struct pixel_api *postmeter_pixel_api_v1(void);

static const struct pixel_api api = {
    .abi = PIXEL_API_ABI,
    .version = POSTMETER_VERSION,
    .buf_size = sizeof(struct buf),
    .report_size = sizeof(struct pixel_report),
    .log_open = log_open,
    .inject = pixel_inject,
    .outcome_word = pixel_outcome_word,
};

/* postmeter_pixel_api_v1 - the engine's functions */
const struct pixel_api *postmeter_pixel_api_v1(void)
{
    return &api;
}

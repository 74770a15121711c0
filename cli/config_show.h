/*
 * config_show.h - the listings of postmeter config show (config_show.c):
 * every key, the keys set in the file, the keys named; the nearest key
 * for a name that is not one.
 */
#ifndef POSTMETER_CLI_CONFIG_SHOW_H
#define POSTMETER_CLI_CONFIG_SHOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "config.h"

/* config_show_distance - edit distance of a and b (swaps count one, case ignored) */
size_t config_show_distance(const char *a, const char *b);
/* config_show_nearest - the known key closest to name, NULL if none is close */
const char *config_show_nearest(const char *name);
/* config_show_source - "# read from FILE" or "# no configuration file ...: built-in defaults" */
void config_show_source(const struct config *c, FILE *out);
/* config_show_all - every key, or (only_set) the keys c's file set, as "key = value" */
void config_show_all(const struct config *c, bool only_set, FILE *out);
/*
 * config_show_keys - the keys names[0..n) as "key = value" (only_set:
 * those c's file set); false if a name is no key (each said on err,
 * with the nearest key when one is close; nothing printed to out)
 */
bool config_show_keys(const struct config *c, char *const *names, size_t n, bool only_set,
                      FILE *out, FILE *err);

#endif

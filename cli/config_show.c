/*
 * config_show.c - what postmeter config show prints: every key, only the
 * keys the file set (-n, as postconf -n), or the keys named, with the
 * nearest known key suggested for a name that is not one.
 *
 * Pure functions over the config table (lib/config.h), no I/O but the
 * stream handed in, so the unit tests drive them directly. Prints only
 * configuration values and key names, never anything read from elsewhere.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config_show.h"

/* Names longer than this get no suggestion (bounds the distance table). */
#define SUGGEST_MAX_LEN 64

/* lower - c in lower case (ASCII) */
static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/*
 * config_show_distance - edit distance of a and b (each at most
 * SUGGEST_MAX_LEN long, else SIZE_MAX): insertions, deletions,
 * substitutions and swaps of two neighbours count one each, case is
 * ignored. O(len(a) * len(b)).
 */
size_t config_show_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    size_t d[SUGGEST_MAX_LEN + 1][SUGGEST_MAX_LEN + 1];

    if (n > SUGGEST_MAX_LEN || m > SUGGEST_MAX_LEN)
        return SIZE_MAX;
    for (size_t i = 0; i <= n; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= n; i++) {
        for (size_t j = 1; j <= m; j++) {
            size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
            size_t best = d[i - 1][j - 1] + cost;

            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
                lower(a[i - 2]) == lower(b[j - 1]) && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[n][m];
}

/*
 * config_show_nearest - the known key closest to name, NULL if none is
 * close: at most 1 edit for names of up to 4 characters, 2 for longer
 * ones, and fewer edits than half the name (a tie goes to the first in
 * table order)
 */
const char *config_show_nearest(const char *name)
{
    size_t len = strlen(name), limit = len <= 4 ? 1 : 2, best = SIZE_MAX;
    const char *found = NULL;

    if (limit * 2 >= len)
        limit = len > 0 ? (len - 1) / 2 : 0;
    for (size_t i = 0; i < config_key_count(); i++) {
        size_t d = config_show_distance(name, config_key_name(i));

        if (d <= limit && d < best) {
            best = d;
            found = config_key_name(i);
        }
    }
    return found;
}

/* config_show_source - the comment line saying where c came from */
void config_show_source(const struct config *c, FILE *out)
{
    if (c->path != NULL)
        fprintf(out, "# read from %s\n", c->path);
    else
        fprintf(out, "# no configuration file (%s does not exist): built-in defaults\n",
                CONFIG_DEFAULT_PATH);
}

/* config_show_all - every key, or (only_set) the keys c's file set, in table order */
void config_show_all(const struct config *c, bool only_set, FILE *out)
{
    for (size_t i = 0; i < config_key_count(); i++)
        if (!only_set || config_key_line(c, i) > 0)
            config_print_key(c, i, out);
}

/*
 * config_show_keys - the keys names[0..n) in the order given (only_set:
 * those among them c's file set); an unknown name goes to err with the
 * nearest known key, if one is close. False if any name was unknown
 * (then nothing is printed to out).
 */
bool config_show_keys(const struct config *c, char *const *names, size_t n, bool only_set,
                      FILE *out, FILE *err)
{
    bool ok = true;

    for (size_t i = 0; i < n; i++) {
        const char *near;

        if (config_key_index(names[i]) >= 0)
            continue;
        ok = false;
        if ((near = config_show_nearest(names[i])) != NULL)
            fprintf(err, "postmeter: unknown key \"%s\"; did you mean %s?\n", names[i], near);
        else
            fprintf(err, "postmeter: unknown key \"%s\" (postmeter config defaults lists them)\n",
                    names[i]);
    }
    if (!ok)
        return false;
    for (size_t i = 0; i < n; i++) {
        size_t k = (size_t)config_key_index(names[i]);

        if (!only_set || config_key_line(c, k) > 0)
            config_print_key(c, k, out);
    }
    return true;
}

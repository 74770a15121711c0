/*
 * conf.c - the tracker's settings as one replaceable whole: the
 * configuration, the path prefix taken from tracking_base_url, the
 * networks of trusted_proxies and tracker_metrics_allow, and the machine
 * networks. Built before it is used, never changed after: SIGHUP builds
 * a new one and swaps it in (serve.c).
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "tracker.h"
#include "util.h"

/* tracker_base_prefix - the path part of an http(s) URL, no trailing '/' */
char *tracker_base_prefix(const char *url, struct buf *why)
{
    const char *p = strstr(url, "://"), *path;
    size_t n;

    if (*url == '\0') {
        buf_puts(why, "tracking_base_url is empty: the tracker has no pixel to serve");
        return NULL;
    }
    if (p == NULL) {
        buf_printf(why, "tracking_base_url \"%s\" has no scheme", url);
        return NULL;
    }
    path = strchr(p + 3, '/');
    if (path == NULL)
        return xstrdup("");
    if (strpbrk(path, "?#%") != NULL) {
        buf_printf(why,
                   "tracking_base_url \"%s\": the tracker serves a plain path (no '?', '#' "
                   "or '%%')",
                   url);
        return NULL;
    }
    n = strlen(path);
    while (n > 0 && path[n - 1] == '/')
        n--;
    return xstrndup(path, n);
}

/* nets_of - the networks of a list the config table checked */
static void nets_of(char *const *list, struct netlist *out)
{
    struct cidr c;

    for (size_t i = 0; list && list[i]; i++) {
        if (!cidr_parse(list[i], &c))
            bug("tracker: \"%s\" passed the config check but is no network", list[i]);
        netlist_add(out, &c);
    }
}

/* tracker_conf_new - everything a request reads, from c */
struct tracker_conf *tracker_conf_new(struct config *c, struct buf *errors)
{
    struct tracker_conf *tc = xcalloc(1, sizeof(*tc));
    struct buf why = BUF_INIT;

    tc->cfg = c;
    if ((tc->prefix = tracker_base_prefix(c->tracking_base_url, &why)) == NULL) {
        buf_printf(errors, "%s\n", buf_cstr(&why));
        buf_free(&why);
        return tracker_conf_free(tc);
    }
    buf_free(&why);
    nets_of(c->trusted_proxies, &tc->proxies);
    nets_of(c->tracker_metrics_allow, &tc->metrics_allow);
    tc->nets = classify_nets_load(c->tracker_networks_file, c->tracker_networks_dir, errors);
    if (tc->nets == NULL)
        return tracker_conf_free(tc);
    return tc;
}

/* tracker_conf_free - everything, the config too */
struct tracker_conf *tracker_conf_free(struct tracker_conf *tc)
{
    if (tc == NULL)
        return NULL;
    config_free(tc->cfg);
    free(tc->prefix);
    netlist_free(&tc->proxies);
    netlist_free(&tc->metrics_allow);
    classify_nets_free(tc->nets);
    return xfree(tc);
}

/* tracker_conf_print - what the tracker makes of the configuration */
void tracker_conf_print(const struct tracker_conf *tc, FILE *out)
{
    fprintf(out, "tracker: pixels at %s/o/<TOKEN>.gif", tc->prefix);
    for (size_t i = 0; tc->cfg->tracker_listen[i]; i++)
        fprintf(out, "%s %s", i ? "," : " on", tc->cfg->tracker_listen[i]);
    fprintf(out, "\ntracker: %zu machine network(s) from %s and %s\n",
            classify_nets_count(tc->nets), tc->cfg->tracker_networks_file,
            tc->cfg->tracker_networks_dir);
}

/*
 * mhd_floor.c - the floor of bench/tracker.sh: libmicrohttpd answering
 * every GET with postmeter-tracker's GIF and headers, configured as the
 * tracker configures it (tracker-httpd/serve.c: internal epoll threads,
 * a pool of one per CPU, the answer queued at the request's last call),
 * and nothing else: no routing, no token check, no classification, no
 * record, no metrics. What this serves per second is what any server
 * built on this library can serve here; the tracker's distance from it
 * is its own work, nginx's distance from it the library's.
 *
 *   mhd_floor PORT [turbo]
 *
 * "turbo" adds MHD_USE_TURBO (no per-connection locking a single
 * thread per connection does not need; the tracker does not set it).
 * Runs until SIGTERM or SIGINT.
 */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const unsigned char gif[43] = {
    'G',  'I',  'F',  '8',  '9',  'a',  0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00,
    0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00,
    0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b};

/* handle - the GIF at the request's last call, as the tracker answers a pixel */
static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **req_cls)
{
    (void)url, (void)method, (void)version, (void)upload_data;
    if (*req_cls == NULL) {
        *req_cls = cls;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    return MHD_queue_response(conn, MHD_HTTP_OK, cls);
}

int main(int argc, char **argv)
{
    struct MHD_Response *r;
    struct MHD_Daemon *d;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    sigset_t sigs;
    int sig;

    if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "turbo") != 0)) {
        fprintf(stderr, "usage: mhd_floor PORT [turbo]\n");
        return 2;
    }
    if (argc == 3)
        flags |= MHD_USE_TURBO;
    r = MHD_create_response_from_buffer(sizeof(gif), (void *)gif, MHD_RESPMEM_PERSISTENT);
    if (r == NULL || MHD_add_response_header(r, "Content-Type", "image/gif") != MHD_YES ||
        MHD_add_response_header(r, "Cache-Control",
                                "no-store, no-cache, must-revalidate, private, max-age=0") !=
            MHD_YES ||
        MHD_add_response_header(r, "Pragma", "no-cache") != MHD_YES ||
        MHD_add_response_header(r, "Expires", "0") != MHD_YES) {
        fprintf(stderr, "mhd_floor: cannot make the response\n");
        return 1;
    }
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    d = MHD_start_daemon(flags, (uint16_t)atoi(argv[1]), NULL, NULL, handle, r,
                         MHD_OPTION_CONNECTION_LIMIT, 4096u, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                         (size_t)8 * 1024 /* TRACKER_HEADERS_KB */, MHD_OPTION_THREAD_POOL_SIZE,
                         (unsigned)(cpus < 1   ? 1
                                    : cpus > 8 ? 8
                                               : cpus),
                         MHD_OPTION_STRICT_FOR_CLIENT, 1, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "mhd_floor: cannot listen on port %s\n", argv[1]);
        return 1;
    }
    sigwait(&sigs, &sig);
    MHD_stop_daemon(d);
    MHD_destroy_response(r);
    return 0;
}

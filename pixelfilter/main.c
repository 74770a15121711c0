/*
 * main.c - postmeter-pixelfilter: the pixel engine as a command.
 *
 * Offline mode (--stdout): read one message on stdin, write it to stdout
 * with the pixel injected (or unchanged, whatever the outcome), and print
 * the outcome on stderr as one line. Exit 0 for every outcome; 65
 * (EX_DATAERR) when the input is empty or not a message (nothing is
 * written); 64 (EX_USAGE) for bad arguments.
 *
 * Pipe mode (a command line without --stdout, --token or --base-url): the
 * Postfix content filter of pipe.c, with per-recipient tokens and sendmail
 * re-injection; its exit status is 0 or EX_TEMPFAIL, whatever went wrong.
 *
 * Must never: write a partial message, or anything but the message to
 * stdout.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "buf.h"
#include "inject.h"
#include "pipe.h"
#include "util.h"

#define PIXEL_TOKEN_MAX 128

/* pixel_usage - print usage and exit EX_USAGE */
static void pixel_usage(const char *why)
{
    if (why != NULL)
        fprintf(stderr, "postmeter-pixelfilter: %s\n", why);
    fprintf(stderr,
            "usage: postmeter-pixelfilter --stdout --token TOKEN --base-url URL"
            " < in.eml > out.eml\n       %s",
            pipe_usage() + strlen("usage: "));
    exit(EX_USAGE);
}

/* pixel_token_ok - 1 to PIXEL_TOKEN_MAX characters of [A-Za-z0-9_-] */
static bool pixel_token_ok(const char *t)
{
    size_t n = strlen(t);

    if (n == 0 || n > PIXEL_TOKEN_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' && t[i] <= 'Z') ||
              (t[i] >= '0' && t[i] <= '9') || t[i] == '-' || t[i] == '_'))
            return false;
    return true;
}

/*
 * pixel_offline - the command line is for the offline mode: no arguments
 * at all (a person asking for the usage), or an offline option
 * (--stdout, --token, --base-url) before any "--". Everything else is
 * the pipe mode, whose usage errors must defer mail rather than bounce it.
 */
static bool pixel_offline(int argc, char **argv)
{
    static const char *const offline[] = {"--stdout", "--token", "--base-url", "-s", "-t", "-b"};

    if (argc <= 1)
        return true;
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        /* the values of the pipe mode's options (a sender may be "-s") */
        if (strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "-q") == 0 ||
            strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--sendmail") == 0) {
            i++;
            continue;
        }
        for (size_t j = 0; j < sizeof(offline) / sizeof(offline[0]); j++) {
            size_t n = strlen(offline[j]);

            if (strncmp(argv[i], offline[j], n) == 0 &&
                (argv[i][n] == '\0' || (argv[i][1] == '-' && argv[i][n] == '=')))
                return true;
        }
    }
    return false;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"stdout", no_argument, NULL, 's'},
                                         {"token", required_argument, NULL, 't'},
                                         {"base-url", required_argument, NULL, 'b'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *token = NULL, *base = NULL;
    bool to_stdout = false;
    struct buf in = BUF_INIT, out = BUF_INIT, line = BUF_INIT;
    struct pixel_report rep;
    char *url;
    size_t bl;
    int c, rc = 0;

    if (!pixel_offline(argc, argv)) {
        rc = pipe_main(argc, argv);
        pixel_shutdown();
        return rc;
    }
    while ((c = getopt_long(argc, argv, "st:b:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            to_stdout = true;
            break;
        case 't':
            token = optarg;
            break;
        case 'b':
            base = optarg;
            break;
        case 'h':
            pixel_usage(NULL);
            break;
        default:
            pixel_usage(NULL);
        }
    }
    if (optind != argc)
        pixel_usage("unexpected arguments");
    if (!to_stdout)
        pixel_usage("--stdout is the offline mode");
    if (token == NULL || !pixel_token_ok(token))
        pixel_usage("--token: 1 to 128 characters of A-Z a-z 0-9 - _");
    if (base == NULL || (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0))
        pixel_usage("--base-url: an http:// or https:// URL");
    bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    url = xasprintf("%.*s/o/%s.gif", (int)bl, base, token);
    if (!pixel_url_ok(url))
        pixel_usage("--base-url: printable ASCII without quotes, <, > or white space");

    if (!buf_read_fd(&in, 0)) {
        fprintf(stderr, "postmeter-pixelfilter: read stdin: %s\n", strerror(errno));
        exit(EX_IOERR);
    }
    pixel_inject(in.data, in.len, url, &out, &rep);
    pixel_report_format(&rep, &line);
    fprintf(stderr, "%s\n", buf_cstr(&line));
    if (rep.outcome == PIXEL_NOT_MESSAGE) {
        rc = EX_DATAERR;
    } else if (!write_all(1, out.data, out.len)) {
        fprintf(stderr, "postmeter-pixelfilter: write stdout: %s\n", strerror(errno));
        rc = EX_IOERR;
    }
    buf_free(&in);
    buf_free(&out);
    buf_free(&line);
    free(url);
    pixel_shutdown();
    return rc;
}

/*
 * pipe.c - postmeter-pixelfilter's pipe mode: the Postfix after-queue
 * content filter (see pipe.h and postmeter-pixelfilter(8)).
 *
 * One run: read the message from standard input, read postmeter.conf
 * and the tracking rules, then for each tracked recipient make a token,
 * inject the pixel into that recipient's copy, write its
 * tracked_messages row and hand the copy to "sendmail -G -i -f SENDER
 * -- RECIPIENT"; all other recipients get one sendmail run with the
 * message as it came (less any X-Postmeter-Track field).
 *
 * Exit status: 0 when every copy is back in Postfix's queue, else
 * EX_TEMPFAIL, for every kind of trouble (ours, the database's,
 * sendmail's, a bad command line): Postfix's pipe(8) bounces the mail on
 * EX_USAGE, EX_SOFTWARE, EX_CONFIG, EX_IOERR and on any status outside
 * sysexits.h, and a filter must never make mail bounce. An exit()
 * anywhere else (die() on out of memory) is turned into EX_TEMPFAIL by
 * an atexit handler, and the run gives up after PIPE_DEADLINE_S, before
 * Postfix's command_time_limit would bounce it.
 *
 * Must never: log or print the token or message content; write the
 * message anywhere but into sendmail; run a shell.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "inject.h"
#include "log.h"
#include "mailaddr.h"
#include "pipe.h"
#include "store.h"
#include "timeutil.h"
#include "util.h"

#define PIPE_IDENT    "postmeter-pixelfilter"
#define PIPE_OUTCOMES 12 /* distinct outcome words counted for the summary */

static volatile sig_atomic_t pipe_child; /* the running sendmail, 0 = none */
static bool pipe_finished;               /* pipe_main() is returning its own status */

/* A tracked recipient whose copy goes out unchanged (no pixel): its row waits. */
struct pipe_plain {
    const char *rcpt;
    char token[TRACK_TOKEN_LEN + 1];
    const char *outcome;
    char reason[160];
};

/* One message's run. */
struct pipe_run {
    const struct pipe_args *a;
    const struct config *c;
    const char *qid;
    struct store *store;
    struct pipe_msg_facts facts;
    char *subject;
    struct {
        const char *word;
        size_t n;
    } outcomes[PIPE_OUTCOMES];
    size_t untracked;
    const struct track_key *key; /* the token key, while track_all() holds the rules */
};

/* pipe_atexit - an exit() we did not choose (die() on out of memory, ...) defers the mail */
static void pipe_atexit(void)
{
    static const char m[] = PIPE_IDENT ": internal error (see the mail log): mail deferred\n";

    if (pipe_finished)
        return;
    if (write(2, m, sizeof(m) - 1) < 0)
        _exit(EX_TEMPFAIL);
    _exit(EX_TEMPFAIL);
}

/* pipe_alarm - PIPE_DEADLINE_S passed: stop sendmail, defer the mail */
static void pipe_alarm(int sig)
{
    static const char m[] = PIPE_IDENT ": no result in time: mail deferred\n";
    pid_t c = pipe_child;

    (void)sig;
    if (c > 0)
        kill(c, SIGKILL);
    if (write(2, m, sizeof(m) - 1) < 0)
        _exit(EX_TEMPFAIL);
    _exit(EX_TEMPFAIL);
}

/* pipe_fail - log why to syslog and as the one line Postfix shows; returns EX_TEMPFAIL */
static int pipe_fail(const char *qid, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int pipe_fail(const char *qid, const char *fmt, ...)
{
    struct buf b = BUF_INIT;
    va_list ap;

    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    warn("%s: %s: mail deferred", qid ? qid : "-", buf_cstr(&b));
    fprintf(stderr, PIPE_IDENT ": %s: mail deferred\n", buf_cstr(&b));
    buf_free(&b);
    return EX_TEMPFAIL;
}

/*
 * reinject - run "sendmail -G -i -f SENDER -- RCPT..." with data on its
 * standard input (no shell); false with the reason appended to why.
 */
static bool reinject(const char *sendmail, const char *sender, char *const *rcpts, size_t n,
                     const char *data, size_t len, struct buf *why)
{
    char **argv = xcalloc(n + 7, sizeof(*argv));
    int fds[2], status = 0, werr = 0;
    bool wrote;
    pid_t pid, w;

    argv[0] = (char *)sendmail;
    argv[1] = (char *)"-G";
    argv[2] = (char *)"-i";
    argv[3] = (char *)"-f";
    argv[4] = (char *)sender; /* "" is the null sender for Postfix's sendmail */
    argv[5] = (char *)"--";
    for (size_t i = 0; i < n; i++)
        argv[6 + i] = rcpts[i];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        buf_printf(why, "pipe: %s", strerror(errno));
        free(argv);
        return false;
    }
    if ((pid = fork()) < 0) {
        buf_printf(why, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        free(argv);
        return false;
    }
    if (pid == 0) {
        /* dup2 clears close-on-exec on the copy; stdout and stderr stay Postfix's */
        if (dup2(fds[0], 0) < 0)
            _exit(EX_OSERR);
        execv(sendmail, argv);
        fprintf(stderr, PIPE_IDENT ": cannot run %s: %s\n", sendmail, strerror(errno));
        _exit(127);
    }
    pipe_child = pid;
    close(fds[0]);
    wrote = write_all(fds[1], data, len);
    if (!wrote)
        werr = errno;
    close(fds[1]);
    while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
        ;
    pipe_child = 0;
    free(argv);
    if (w < 0) {
        buf_printf(why, "waitpid: %s", strerror(errno));
        return false;
    }
    if (WIFSIGNALED(status)) {
        buf_printf(why, "%s was killed by signal %d", sendmail, WTERMSIG(status));
        return false;
    }
    if (WEXITSTATUS(status) == 127) {
        buf_printf(why, "%s could not be run", sendmail);
        return false;
    }
    if (WEXITSTATUS(status) != 0) {
        buf_printf(why, "%s exited with status %d", sendmail, WEXITSTATUS(status));
        return false;
    }
    if (!wrote) {
        buf_printf(why, "writing to %s: %s", sendmail, strerror(werr));
        return false;
    }
    return true;
}

/* count_outcome - one more copy with outcome word (for the summary line) */
static void count_outcome(struct pipe_run *r, const char *word)
{
    for (size_t i = 0; i < PIPE_OUTCOMES; i++) {
        if (r->outcomes[i].word == NULL)
            r->outcomes[i].word = word;
        if (strcmp(r->outcomes[i].word, word) == 0) {
            r->outcomes[i].n++;
            return;
        }
    }
}

/* put_row - the tracked_messages row of one recipient's copy; EX_TEMPFAIL if not written */
static int put_row(struct pipe_run *r, const char *rcpt, const char *token, const char *outcome,
                   const char *reason)
{
    char *rcpts[1] = {(char *)rcpt};
    struct store_tracked t = {
        .token = token,
        .queue_id = r->a->queue_id,
        .mail_from = r->facts.sender,
        .header_from = r->facts.header_from,
        .subject = r->subject,
        .mode = "pipe",
        .outcome = outcome,
        .reason = reason && *reason ? reason : NULL,
        .created_at = (int64_t)time(NULL),
        .created_ms = time_now_us() / 1000,
        .rcpts = rcpts,
        .nrcpts = 1,
    };

    if (store_put_tracked(r->store, &t) != STORE_OK)
        return pipe_fail(r->qid, "database %s: %s", r->c->database, store_error(r->store));
    return 0;
}

/* track_one - inject, record and reinject one tracked recipient's copy, or plan it unchanged */
static int track_one(struct pipe_run *r, const struct buf *msg, bool too_large, const char *rcpt,
                     struct pipe_plain *plain, bool *sent)
{
    struct buf url = BUF_INIT, copy = BUF_INIT, why = BUF_INIT;
    struct pixel_report rep;
    enum pixel_outcome o;
    int rc = 0;

    *sent = false;
    plain->rcpt = rcpt;
    track_token_new(r->key, plain->token);
    plain->reason[0] = '\0';
    if (too_large) {
        plain->outcome = "too-large";
        strlcpy_ok(plain->reason, "larger than track_max_kb", sizeof(plain->reason));
        return 0;
    }
    track_pixel_url(r->c->tracking_base_url, plain->token, &url);
    o = pixel_inject(msg->data, msg->len, buf_cstr(&url), &copy, &rep);
    plain->outcome = pixel_outcome_word(o);
    if (!strlcpy_ok(plain->reason, rep.reason, sizeof(plain->reason)))
        debug("%s: outcome reason cut", r->qid);
    if (o == PIXEL_INJECTED && copy.len == 0) {
        plain->outcome = "error";
        strlcpy_ok(plain->reason, "the injection returned no message", sizeof(plain->reason));
    } else if (o == PIXEL_INJECTED) {
        rc = put_row(r, rcpt, plain->token, plain->outcome, plain->reason);
        if (rc == 0 && !reinject(r->a->sendmail, r->a->sender, (char *const *)&rcpt, 1, copy.data,
                                 copy.len, &why)) {
            rc = pipe_fail(r->qid, "%s", buf_cstr(&why));
            /* The retry makes a new token: this one was never sent. */
            if (store_forget_tracked(r->store, plain->token) != STORE_OK)
                warn("%s: database %s: %s", r->qid, r->c->database, store_error(r->store));
        }
        if (rc == 0) {
            count_outcome(r, plain->outcome);
            *sent = true;
        }
    }
    buf_free(&url);
    buf_free(&copy);
    buf_free(&why);
    return rc;
}

/* open_store - the database, read-write, never created; NULL after pipe_fail() */
static struct store *open_store(const struct pipe_run *r)
{
    char err[512];
    struct store *s = store_open(
        r->c->database, STORE_NOCREATE | (r->c->ledger_sync ? STORE_SYNC : 0), err, sizeof(err));
    int v;

    if (s == NULL) {
        pipe_fail(r->qid, "database %s: %s", r->c->database, err);
        return NULL;
    }
    if ((v = store_version(s)) < 0) {
        pipe_fail(r->qid, "database %s: %s", r->c->database, store_error(s));
        return store_close(s);
    }
    if (v < (int)store_migrations_count) {
        pipe_fail(r->qid,
                  "database %s has schema version %d, this binary needs %zu: run 'postmeter db "
                  "migrate'",
                  r->c->database, v, store_migrations_count);
        return store_close(s);
    }
    return s;
}

/* summary - the one line that says what happened (appended to b) */
static void summary(const struct pipe_run *r, size_t nrcpts, struct buf *b)
{
    size_t tracked = 0;

    for (size_t i = 0; i < PIPE_OUTCOMES && r->outcomes[i].word; i++)
        tracked += r->outcomes[i].n;
    buf_printf(b, "%zu recipient(s) reinjected: %zu tracked", nrcpts, tracked);
    for (size_t i = 0; i < PIPE_OUTCOMES && r->outcomes[i].word; i++)
        buf_printf(b, "%s%s=%zu", i == 0 ? " (" : ", ", r->outcomes[i].word, r->outcomes[i].n);
    buf_printf(b, "%s, %zu not tracked", tracked ? ")" : "", r->untracked);
}

/* track_all - the tracking run over msg (the opt-out field already removed) */
static int track_all(struct pipe_run *r, const struct buf *msg, size_t in_len)
{
    const struct pipe_args *a = r->a;
    struct pipe_plain *plain = xcalloc(a->nrcpts, sizeof(*plain));
    char **same = xcalloc(a->nrcpts, sizeof(*same));
    struct track_rules *rules;
    struct buf why = BUF_INIT;
    size_t nplain = 0, nsame = 0;
    bool too_large = in_len > (size_t)r->c->track_max_kb * 1024;
    char err[512] = "";
    int rc = 0;

    if ((r->store = open_store(r)) == NULL) {
        rc = EX_TEMPFAIL;
        goto out;
    }
    if ((rules = track_rules_load(r->store, err, sizeof(err))) == NULL) {
        rc = pipe_fail(r->qid, "database %s: tracking rules: %s", r->c->database, err);
        goto out;
    }
    r->key = track_rules_key(rules);
    for (size_t i = 0; i < a->nrcpts && rc == 0; i++) {
        bool sent;

        if (!pipe_rcpt_tracked(r->c, rules, &r->facts, a->rcpts[i])) {
            same[nsame++] = a->rcpts[i];
            r->untracked++;
            continue;
        }
        rc = track_one(r, msg, too_large, a->rcpts[i], &plain[nplain], &sent);
        if (rc == 0 && !sent) {
            same[nsame++] = a->rcpts[i];
            nplain++;
        }
    }
    r->key = NULL;
    track_rules_unref(rules);
    /* The copies without a pixel are all the same message: one sendmail run. */
    for (size_t i = 0; i < nplain && rc == 0; i++) {
        rc = put_row(r, plain[i].rcpt, plain[i].token, plain[i].outcome, plain[i].reason);
        if (rc == 0)
            count_outcome(r, plain[i].outcome);
    }
    if (rc == 0 && nsame > 0 &&
        !reinject(a->sendmail, a->sender, same, nsame, msg->data, msg->len, &why)) {
        rc = pipe_fail(r->qid, "%s", buf_cstr(&why));
        for (size_t i = 0; i < nplain; i++)
            if (store_forget_tracked(r->store, plain[i].token) != STORE_OK)
                warn("%s: database %s: %s", r->qid, r->c->database, store_error(r->store));
    }
out:
    r->store = r->store ? store_close(r->store) : NULL;
    explicit_bzero(plain, a->nrcpts * sizeof(*plain)); /* tokens */
    free(plain);
    free(same);
    buf_free(&why);
    return rc;
}

/* load_config - -c FILE, or the default file (built-in defaults if it does not exist) */
static struct config *load_config(const struct pipe_args *a, const char *qid)
{
    const char *path = a->config ? a->config : CONFIG_DEFAULT_PATH;
    struct buf errors = BUF_INIT;
    struct config *c;
    char *save = NULL, *first;

    if (a->config == NULL && access(path, F_OK) != 0)
        return config_defaults();
    if ((c = config_load(path, &errors)) != NULL) {
        buf_free(&errors);
        return c;
    }
    first = strtok_r(errors.data ? errors.data : (char *)"", "\n", &save);
    pipe_fail(qid, "%s", first ? first : "configuration has errors");
    for (char *line = strtok_r(NULL, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        warn("%s", line);
    buf_free(&errors);
    return NULL;
}

/* pipe_run - one message, after the command line was understood */
static int pipe_run(const struct pipe_args *a)
{
    struct pipe_run r = {.a = a, .qid = a->queue_id ? a->queue_id : "-"};
    struct buf in = BUF_INIT, msg = BUF_INIT, why = BUF_INIT, line = BUF_INIT;
    struct config *c;
    char *from = NULL;
    int rc = 0;

    if ((c = load_config(a, r.qid)) == NULL)
        return EX_TEMPFAIL;
    r.c = c;
    log_set_debug(c->debug);
    if (!buf_read_fd(&in, 0)) {
        rc = pipe_fail(r.qid, "reading the message: %s", strerror(errno));
    } else if (c->tracking_base_url[0] == '\0' || c->tracking_mode != TRACKING_PIPE) {
        /* Not ours to track: the message goes back byte for byte, opt-out field included
           (tracking_mode = milter reads it on the way through cleanup). */
        debug("%s: %s: reinjected unchanged", r.qid,
              c->tracking_base_url[0] == '\0' ? "tracking_base_url is empty"
                                              : "tracking_mode is not pipe");
        r.untracked = a->nrcpts;
        if (!reinject(a->sendmail, a->sender, a->rcpts, a->nrcpts, in.data, in.len, &why))
            rc = pipe_fail(r.qid, "%s", buf_cstr(&why));
    } else {
        pipe_strip_field(in.data, in.len, PIPE_OPT_OUT_FIELD, &msg);
        r.facts.sender = a->sender;
        r.facts.opt_out = pipe_opt_out(in.data, in.len);
        if ((from = pipe_field_value(in.data, in.len, "From")) != NULL)
            r.facts.header_from = mailaddr_first(from);
        r.subject = c->log_subject ? pipe_field_value(in.data, in.len, "Subject") : NULL;
        rc = track_all(&r, &msg, in.len);
    }
    if (rc == 0) {
        summary(&r, a->nrcpts, &line);
        info("%s: %s", r.qid, buf_cstr(&line));
        fprintf(stderr, PIPE_IDENT ": %s\n", buf_cstr(&line));
    }
    free(from);
    free((char *)r.facts.header_from);
    free(r.subject);
    buf_free(&in);
    buf_free(&msg);
    buf_free(&why);
    buf_free(&line);
    config_free(c);
    return rc;
}

/* pipe_main - the pipe mode */
int pipe_main(int argc, char **argv)
{
    struct pipe_args a;
    struct buf why = BUF_INIT;
    int rc;

    atexit(pipe_atexit);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, pipe_alarm);
    alarm(PIPE_DEADLINE_S);
    log_open(PIPE_IDENT, LOG_TO_SYSLOG);
    if (!pipe_args_parse(argc, argv, &a, &why)) {
        /* A broken master.cf entry defers mail (EX_USAGE would bounce it). */
        rc = pipe_fail(NULL, "%s", buf_cstr(&why));
        fputs(pipe_usage(), stderr);
    } else if (a.help) {
        fputs(pipe_usage(), stdout);
        rc = 0;
    } else {
        rc = pipe_run(&a);
    }
    buf_free(&why);
    pipe_finished = true;
    return rc;
}

/*
 * report_mail.c - postmeter report summary --mail-to ADDR (report_mail.h):
 * one multipart/alternative mail, the table report as text/plain and the
 * page of --format html as text/html, both quoted-printable (every line
 * of the mail stays far below 998 octets, whatever a domain name in the
 * report), piped to sendmail(1) run from its argv, never through a
 * shell.
 *
 * Headers: From postmeter@HOST (HOST: the config's hostname, else the
 * system's), To ADDR, Subject "postmeter summary HOST DATE" (DATE the
 * report's last day, local unless --utc), Date, Message-ID, MIME-Version,
 * Auto-Submitted: auto-generated (RFC 3834: no vacation replies to it).
 * Never touches the database; never reads a file but the temporary one
 * it made.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "cli.h"
#include "log.h"
#include "report_mail.h"
#include "timearg.h"
#include "timeutil.h"
#include "usage.h"
#include "util.h"

#define QP_LINE 76 /* characters of an encoded line at most, with its "=" */

/* report_mail_addr_ok - one plain address local@domain */
bool report_mail_addr_ok(const char *addr)
{
    const char *at = strrchr(addr, '@');

    if (addr[0] == '\0' || addr[0] == '-' || at == NULL || at == addr || at[1] == '\0' ||
        strlen(addr) > 254)
        return false;
    for (const unsigned char *p = (const unsigned char *)addr; *p; p++)
        if (*p <= ' ' || *p >= 0x7f || strchr("\"(),:;<>[\\]", *p))
            return false;
    return true;
}

/* report_mail_qp - quoted-printable, lines of at most QP_LINE characters */
void report_mail_qp(const char *p, size_t n, struct buf *out)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t col = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        bool eol = i + 1 == n || p[i + 1] == '\n';
        char enc[4];
        size_t len;

        if (ch == '\n') {
            buf_putc(out, '\n');
            col = 0;
            continue;
        }
        if ((ch >= 33 && ch <= 126 && ch != '=') || ((ch == ' ' || ch == '\t') && !eol)) {
            enc[0] = (char)ch;
            len = 1;
        } else {
            enc[0] = '=';
            enc[1] = hex[ch >> 4];
            enc[2] = hex[ch & 15];
            len = 3;
        }
        /* room for the characters and, unless the line ends here, a soft break's '=' */
        if (col + len + (eol ? 0 : 1) > QP_LINE) {
            buf_puts(out, "=\n");
            col = 0;
        }
        buf_add(out, enc, len);
        col += len;
    }
    if (col > 0)
        buf_putc(out, '\n');
}

/* capture_text - what text() prints on stdout, into out; false (with a message) on failure */
static bool capture_text(const struct store_summary *s, const struct report_health *h,
                         void (*text)(const struct store_summary *, const struct report_health *),
                         struct buf *out)
{
    FILE *tmp = tmpfile();
    char *columns = getenv("COLUMNS") ? xstrdup(getenv("COLUMNS")) : NULL;
    char chunk[4096];
    int saved;
    size_t n;

    if (tmp == NULL || (saved = dup(STDOUT_FILENO)) < 0) {
        fprintf(stderr, "postmeter: report summary: temporary file: %s\n", strerror(errno));
        if (tmp)
            fclose(tmp);
        free(columns);
        return false;
    }
    fflush(stdout);
    unsetenv("COLUMNS"); /* a mail gets whole lines, not the terminal's width */
    if (dup2(fileno(tmp), STDOUT_FILENO) < 0)
        die("report summary: dup2: %s", strerror(errno));
    text(s, h);
    fflush(stdout);
    if (dup2(saved, STDOUT_FILENO) < 0)
        die("report summary: dup2: %s", strerror(errno));
    close(saved);
    if (columns && setenv("COLUMNS", columns, 1) != 0)
        die("report summary: setenv: %s", strerror(errno));
    free(columns);
    rewind(tmp);
    while ((n = fread(chunk, 1, sizeof(chunk), tmp)) > 0)
        buf_add(out, chunk, n);
    fclose(tmp);
    return true;
}

/* rfc5322_date - t as "Mon, 07 Dec 2026 16:02:11 +0100" (C names whatever the locale) */
static void rfc5322_date(int64_t t, bool utc, struct buf *out)
{
    static const char days[] = "SunMonTueWedThuFriSat";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    time_t tt = (time_t)t;
    struct tm tm;
    long off;

    if ((utc ? gmtime_r(&tt, &tm) : localtime_r(&tt, &tm)) == NULL)
        die("report summary: time %lld out of range", (long long)t);
    off = utc ? 0 : tm.tm_gmtoff / 60;
    buf_printf(out, "%.3s, %02d %.3s %04d %02d:%02d:%02d %c%02ld%02ld", days + 3 * tm.tm_wday,
               tm.tm_mday, months + 3 * tm.tm_mon, tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
               tm.tm_sec, off < 0 ? '-' : '+', (off < 0 ? -off : off) / 60,
               (off < 0 ? -off : off) % 60);
}

/* random_hex - 2 * n hex digits of randomness into out */
static void random_hex(size_t n, struct buf *out)
{
    unsigned char r[16];

    if (n > sizeof(r) || RAND_bytes(r, (int)n) != 1)
        die("report summary: no random bytes");
    for (size_t i = 0; i < n; i++)
        buf_printf(out, "%02x", r[i]);
}

/* build - the whole mail into m */
static void build(const struct config *c, const char *addr, const struct store_summary *s,
                  const struct buf *text, const char *html, size_t nhtml, struct buf *m)
{
    const char *host = config_effective_hostname(c);
    int64_t now = time_now();
    struct buf boundary = BUF_INIT;
    char day[TIMEARG_LEN];

    buf_puts(&boundary, "=_postmeter_");
    random_hex(12, &boundary);
    /* the report's last day: "2026-12-07" of until (else now) */
    timearg_format(s->until ? s->until - 1 : now, timearg_utc(), false, day);
    day[10] = '\0';
    buf_printf(m, "From: postmeter <postmeter@%s>\nTo: %s\n", host, addr);
    buf_printf(m, "Subject: postmeter summary %s %s\nDate: ", host, day);
    rfc5322_date(now, timearg_utc(), m);
    buf_puts(m, "\nMessage-ID: <");
    random_hex(16, m);
    buf_printf(m, ".%lld@%s>\n", (long long)now, host);
    buf_puts(m, "MIME-Version: 1.0\nAuto-Submitted: auto-generated\n");
    buf_printf(m, "Content-Type: multipart/alternative;\n boundary=\"%s\"\n\n",
               buf_cstr(&boundary));
    buf_puts(m, "This is a MIME message: the summary as text and as a page.\n");
    buf_printf(m, "\n--%s\nContent-Type: text/plain; charset=utf-8\n", buf_cstr(&boundary));
    buf_puts(m, "Content-Transfer-Encoding: quoted-printable\n\n");
    report_mail_qp(buf_cstr(text), text->len, m);
    buf_printf(m, "\n--%s\nContent-Type: text/html; charset=utf-8\n", buf_cstr(&boundary));
    buf_puts(m, "Content-Transfer-Encoding: quoted-printable\n\n");
    report_mail_qp(html, nhtml, m);
    buf_printf(m, "\n--%s--\n", buf_cstr(&boundary));
    buf_free(&boundary);
}

static volatile sig_atomic_t mail_timed_out;
static volatile pid_t mail_pid; /* the sendmail running, 0 if none */

/* on_alarm - REPORT_MAIL_TIMEOUT_S passed: kill sendmail (the write or the wait then ends) */
static void on_alarm(int sig)
{
    (void)sig;
    mail_timed_out = 1;
    if (mail_pid > 0)
        kill(mail_pid, SIGKILL);
}

/* send_mail - m to sendmail -i -- addr, killed after REPORT_MAIL_TIMEOUT_S; the exit status */
static int send_mail(const char *addr, const struct buf *m)
{
    char *const argv[] = {"sendmail", "-i", "--", (char *)addr, NULL};
    struct sigaction ign = {.sa_handler = SIG_IGN}, old, alrm = {.sa_handler = on_alarm}, old_alrm;
    int fd[2], status;
    size_t off = 0;
    pid_t pid;

    fflush(NULL);
    if (pipe(fd) != 0 || (pid = fork()) < 0) {
        fprintf(stderr, "postmeter: report summary: cannot run %s: %s\n", REPORT_MAIL_SENDMAIL,
                strerror(errno));
        return CLI_FAIL;
    }
    if (pid == 0) {
        if (dup2(fd[0], STDIN_FILENO) < 0)
            _exit(126);
        close(fd[0]);
        close(fd[1]);
        execv(REPORT_MAIL_SENDMAIL, argv);
        fprintf(stderr, "postmeter: report summary: cannot run %s: %s\n", REPORT_MAIL_SENDMAIL,
                strerror(errno));
        _exit(127);
    }
    close(fd[0]);
    sigaction(SIGPIPE, &ign, &old); /* a sendmail that dies early is an error, not our death */
    mail_timed_out = 0;
    mail_pid = pid;
    sigaction(SIGALRM, &alrm, &old_alrm); /* no SA_RESTART: write and waitpid return EINTR */
    alarm(REPORT_MAIL_TIMEOUT_S);
    while (off < m->len && !mail_timed_out) {
        ssize_t w = write(fd[1], buf_cstr(m) + off, m->len - off);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    close(fd[1]);
    sigaction(SIGPIPE, &old, NULL);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            die("report summary: waitpid: %s", strerror(errno));
    alarm(0);
    mail_pid = 0;
    sigaction(SIGALRM, &old_alrm, NULL);
    if (mail_timed_out) {
        fprintf(stderr,
                "postmeter: report summary: %s had not finished after %d s and was killed; the "
                "mail to %s may not have been sent\n",
                REPORT_MAIL_SENDMAIL, REPORT_MAIL_TIMEOUT_S, addr);
        return CLI_FAIL;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && off == m->len)
        return CLI_OK;
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
        fprintf(stderr,
                "postmeter: report summary: %s exited with status %d; the mail to %s was "
                "not sent\n",
                REPORT_MAIL_SENDMAIL, WEXITSTATUS(status), addr);
    else if (WIFSIGNALED(status))
        fprintf(stderr,
                "postmeter: report summary: %s was killed by signal %d; the mail to %s was "
                "not sent\n",
                REPORT_MAIL_SENDMAIL, WTERMSIG(status), addr);
    else
        fprintf(stderr, "postmeter: report summary: %s did not read the whole mail to %s\n",
                REPORT_MAIL_SENDMAIL, addr);
    return CLI_FAIL;
}

/* report_mail_summary - the summary as a text + HTML mail through sendmail */
int report_mail_summary(const struct config *c, const char *addr, const struct store_summary *s,
                        const struct report_health *h,
                        void (*text)(const struct store_summary *s, const struct report_health *h))
{
    struct buf t = BUF_INIT, m = BUF_INIT;
    char *html = NULL;
    size_t nhtml = 0;
    FILE *fp;
    int rc;

    if (!report_mail_addr_ok(addr))
        return cli_usage("--mail-to: '%s' is not one plain address (local@domain)", addr);
    if (!capture_text(s, h, text, &t))
        return CLI_FAIL;
    if ((fp = open_memstream(&html, &nhtml)) == NULL)
        die("report summary: open_memstream: %s", strerror(errno));
    report_html_summary(s, h, fp);
    if (fclose(fp) != 0)
        die("report summary: the page: %s", strerror(errno));
    build(c, addr, s, &t, html, nhtml, &m);
    rc = send_mail(addr, &m);
    free(html);
    buf_free(&t);
    buf_free(&m);
    return rc;
}

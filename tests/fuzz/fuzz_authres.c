/*
 * fuzz_authres.c - libFuzzer target for Authentication-Results values
 * (auth/authres.h): the writer (authres_begin / method / prop / finish)
 * with hostile strings, and authres_authserv_id() / authres_is_ours()
 * over received values.
 *
 * Input, read front to back (strings end at a NUL byte):
 *   authserv-id string; then ops until the input ends: a byte choosing
 *   "method" (then a byte for method and result names, and a comment
 *   string, or none) or "property" (a byte for the property name, then
 *   its value string, or NULL). Method, result and property names come
 *   from tables of the names postmeter writes (auth/inbound.c): they are
 *   program constants; the authserv-id, comments and values are what a
 *   configuration or a sender controls, so they get every byte but NUL.
 *   The whole input, as a C string, is also read as a received value.
 *
 * Besides "no crash, leak, hang or sanitizer report", it checks on the
 * written value:
 *   - no CR; every LF is a "\n\t" fold; no other control byte, no DEL;
 *   - quoted-strings and comments balance, with quoted-pairs: no stray
 *     ')' or '\', nothing open at the end, no fold inside either;
 *   - "; none" exactly when no method was written, and one ';' per method
 *     outside quotes and comments;
 *   - authres_authserv_id() of the value gives back the authserv-id
 *     (control bytes shown as '?') and authres_is_ours() agrees.
 * And on a received value: the id found is non-empty and claims itself
 * (with a trailing dot too), and a comment and white space (\f, \v)
 * put in front change nothing. Writing and reading together stay within
 * a CPU budget linear in the input's size (CPU_BASE_MS, CPU_PER_KB_MS):
 * a quadratic path over a 64 KiB value fails.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authres.h"
#include "reader.h"
#include "util.h"

/* The names postmeter writes (program constants, not fuzzed). */
static const char *const methods[] = {"spf", "dkim", "dmarc", "iprev", "auth"};
static const char *const results[] = {"pass",   "fail",      "softfail",  "neutral",   "none",
                                      "policy", "temperror", "permerror", "quarantine"};
static const char *const props[] = {"smtp.helo",    "smtp.mailfrom", "header.d", "header.i",
                                    "header.s",     "header.a",      "header.b", "header.from",
                                    "policy.dmarc", "smtp.remote-ip"};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/*
 * The CPU budget of one input (STYLE habit 15): CPU_BASE_MS +
 * CPU_PER_KB_MS per KB. Writing and reading are single passes (a value
 * is read a few times over): the 64 KiB seed big-64k (comments, quoted-
 * pairs, white space, not our id) takes 0.02 s of its 0.76 s here (ASan,
 * UBSan, coverage); its lax first-word reading made quadratic takes 12 s.
 */
#define CPU_BASE_MS   250.0
#define CPU_PER_KB_MS 8.0

/* check_syntax - the field value's lexical invariants; returns the ';' count */
static size_t check_syntax(const char *v)
{
    size_t depth = 0, semis = 0;
    bool quoted = false;

    for (const char *p = v; *p; p++) {
        unsigned char c = (unsigned char)*p;

        fuzz_check(c != '\r' && c != 0x7f);
        if (c == '\n') {
            fuzz_check(p[1] == '\t' && !quoted && depth == 0);
            p++;
            continue;
        }
        fuzz_check(c >= 0x20);
        if (quoted) {
            if (c == '\\') {
                fuzz_check(p[1] != '\0');
                p++;
            } else if (c == '"') {
                quoted = false;
            }
        } else if (depth > 0) {
            if (c == '\\') {
                fuzz_check(p[1] != '\0');
                p++;
            } else if (c == '(') {
                depth++;
            } else if (c == ')') {
                depth--;
            }
        } else {
            fuzz_check(c != ')' && c != '\\');
            if (c == '"')
                quoted = true;
            else if (c == '(')
                depth++;
            else if (c == ';')
                semis++;
        }
    }
    fuzz_check(!quoted && depth == 0);
    return semis;
}

/* ends_with - does s end with tail */
static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), t = strlen(tail);

    return n >= t && strcmp(s + n - t, tail) == 0;
}

/* shown_id - the authserv-id as the value shows it: control bytes as '?'; caller frees */
static char *shown_id(const char *id)
{
    char *s = xstrdup(id);

    for (char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
            *p = '?';
    return s;
}

/* check_writer - build a value from the input and check it */
static void check_writer(struct reader *rd)
{
    struct authres ar;
    char *id = reader_str(rd), *shown = shown_id(id), *value, *back;
    unsigned nmethods = 0;

    authres_begin(&ar, id);
    while (!reader_done(rd)) {
        unsigned op = reader_byte(rd);

        if ((op & 1) == 0 || nmethods == 0) {
            unsigned names = reader_byte(rd);
            char *comment = (op & 2) ? reader_str(rd) : NULL;

            authres_method(&ar, methods[(names >> 4) % NELEM(methods)],
                           results[(names & 15) % NELEM(results)], comment);
            nmethods++;
            free(comment);
        } else {
            unsigned name = reader_byte(rd);
            char *val = (op & 2) ? reader_str(rd) : NULL;

            authres_prop(&ar, props[name % NELEM(props)], val);
            free(val);
        }
    }
    value = authres_finish(&ar);
    authres_free(&ar); /* after finish: must be harmless */

    fuzz_check(check_syntax(value) == (nmethods ? nmethods : 1));
    fuzz_check((nmethods == 0) == ends_with(value, "; none"));
    back = authres_authserv_id(value);
    if (shown[0] == '\0') {
        fuzz_check(back == NULL);
    } else {
        fuzz_check(back != NULL && strcmp(back, shown) == 0);
        fuzz_check(authres_is_ours(value, shown));
    }
    free(back);
    free(value);
    free(shown);
    free(id);
}

/* check_received - read the input as a received Authentication-Results value */
static void check_received(const uint8_t *data, size_t size)
{
    char *value = fuzz_cstr(data, size);
    char *id = authres_authserv_id(value);
    char *wrapped = xasprintf("(x)\f\v %s", value);

    if (id != NULL) {
        fuzz_check(id[0] != '\0');
        fuzz_check(authres_is_ours(value, id));
        if (id[strlen(id) - 1] != '.') {
            char *dotted = xasprintf("%s.", id);

            fuzz_check(authres_is_ours(value, dotted));
            free(dotted);
        }
    }
    fuzz_check(authres_is_ours(wrapped, "mx.example.test") ==
               authres_is_ours(value, "mx.example.test"));
    free(wrapped);
    free(id);
    free(value);
}

/* cpu_ms - this process's CPU time in milliseconds */
static double cpu_ms(void)
{
    struct timespec ts;

    fuzz_check(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == 0);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* LLVMFuzzerTestOneInput - a value to write, and a value received */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct reader rd = reader_init(data, size);
    double c0 = cpu_ms();

    check_writer(&rd);
    check_received(data, size);
    fuzz_check(cpu_ms() - c0 <= CPU_BASE_MS + CPU_PER_KB_MS * (double)size / 1024);
    return 0;
}

/*
 * fuzz_spf_macro.c - libFuzzer target for RFC 7208 macro strings
 * (auth/spf_macro.h): spf_macro_check() and spf_macro_expand() of the
 * input with fixed values of the macro letters.
 *
 * Input: one byte choosing the flags (0, CRT, SPACE, EXPLAIN) and the
 * letter values (an IPv4 or an IPv6 client), then the macro string (any
 * bytes, NULs included).
 *
 * Besides "no crash, leak, hang or sanitizer report", it checks:
 *   - expanding succeeds only when the syntax check does, and fails after
 *     it only for an expansion longer than SPF_MACRO_MAX;
 *   - a success appends at most SPF_MACRO_MAX bytes, all printable ASCII
 *     (the letter values are ASCII; no raw control byte gets through);
 *   - a failure gives a reason and leaves the output buffer as it was;
 *   - more flags never reject a string fewer flags accept;
 *   - %{p} is asked of the callback only when the string has a p macro;
 *   - spf_macro_ends_ok() is safe on every string the check accepts.
 */
#include <stdint.h>
#include <string.h>

#include "reader.h"
#include "spf_macro.h"

static unsigned p_calls; /* p_get() calls during one expansion */

/* p_get - the validated name of the client (%{p}) */
static const char *p_get(void *arg)
{
    (void)arg;
    p_calls++;
    return "mx-1.sub_domain.example.org";
}

/* The letter values: an IPv4 client, then an IPv6 one. */
static const struct spf_macro_vars vars_v4 = {
    "strong-bad+tag=x@email.example.com",
    "strong-bad+tag=x",
    "email.example.com",
    "email.example.com",
    "192.0.2.3",
    "in-addr",
    "helo.a-b_c.example.net",
    "192.0.2.3",
    "receiver.example",
    "1700000000",
    p_get,
    NULL,
};
static const struct spf_macro_vars vars_v6 = {
    "user.name@[ipv6]/x,y_z",
    "user.name",
    "[ipv6]/x,y_z",
    "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z",
    "2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1",
    "ip6",
    "",
    "2001:db8::1",
    "receiver.example",
    "0",
    p_get,
    NULL,
};

/* has_p_macro - does s[0..len) contain "%{p" or "%{P" (not after "%%") */
static bool has_p_macro(const char *s, size_t len)
{
    for (size_t i = 0; i + 2 < len; i++) {
        if (s[i] != '%')
            continue;
        if (s[i + 1] == '{' && (s[i + 2] == 'p' || s[i + 2] == 'P'))
            return true;
        i++; /* "%%", "%_", "%-", "%{x": the next byte is taken */
    }
    return false;
}

/* LLVMFuzzerTestOneInput - flags/values byte, then one macro string */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned flag_sets[] = {0, SPF_MACRO_CRT, SPF_MACRO_SPACE, SPF_MACRO_EXPLAIN};
    struct reader rd = reader_init(data, size);
    unsigned sel = reader_byte(&rd), flags = flag_sets[sel & 3];
    const struct spf_macro_vars *vars = (sel & 4) ? &vars_v6 : &vars_v4;
    const char *s = (const char *)rd.p;
    size_t len = rd.len;
    struct buf out = BUF_INIT;
    char err[128], check_err[128];
    bool ok, checked;

    buf_puts(&out, "prefix:");
    err[0] = '\0';
    p_calls = 0;
    ok = spf_macro_expand(s, len, flags, vars, &out, err, sizeof(err));
    checked = spf_macro_check(s, len, flags, check_err, sizeof(check_err));
    fuzz_check(!ok || checked);
    fuzz_check(ok || !checked || strstr(err, "longer than") != NULL);
    fuzz_check(memcmp(out.data, "prefix:", 7) == 0);
    if (ok) {
        fuzz_check(out.len - 7 <= SPF_MACRO_MAX);
        for (size_t i = 7; i < out.len; i++)
            fuzz_check(out.data[i] >= 0x20 && out.data[i] < 0x7f);
        fuzz_check(p_calls == 0 || has_p_macro(s, len));
        (void)spf_macro_ends_ok(s, len);
    } else {
        fuzz_check(out.len == 7 && err[0] != '\0');
    }

    /* More flags accept at least as much. */
    if (spf_macro_check(s, len, 0, err, sizeof(err))) {
        fuzz_check(spf_macro_check(s, len, SPF_MACRO_CRT, err, sizeof(err)));
        fuzz_check(spf_macro_check(s, len, SPF_MACRO_SPACE, err, sizeof(err)));
        fuzz_check(spf_macro_check(s, len, SPF_MACRO_EXPLAIN, err, sizeof(err)));
    }
    buf_free(&out);
    return 0;
}

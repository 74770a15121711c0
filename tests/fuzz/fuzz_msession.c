/*
 * fuzz_msession.c - libFuzzer target for the milter protocol engine's
 * conversation (milter/msession.c, milter/mproto.c): whatever an MTA (or
 * anything that reaches the milter socket) sends.
 *
 * Input: one byte for how the bytes arrive (0: all at once, else pieces
 * of that many bytes), one byte of SMFIP_NR_* steps the filter asks for,
 * then the byte stream as the socket would deliver it. A valid
 * negotiation packet is put in front when the top bit of the second
 * byte is set, so the fuzzer reaches the later commands quickly.
 *
 * Besides "no crash, leak, hang or sanitizer report", it checks:
 *   - the output is whole packets, nothing half-written;
 *   - the same bytes in one piece and in small pieces give the same
 *     callbacks (counted), the same output and the same end;
 *   - the close callback runs exactly once per session end;
 *   - modifications are accepted only during end of message;
 *   - big packets under way are charged to a budget as their bytes
 *     arrive (16 KiB here, so that a packet's first 12 KiB reach the
 *     refusal): never more than it, never more than twice what the
 *     session holds of its packet plus MSESSION_READ_MIN + 1, and
 *     nothing once the session is freed. A packet the budget refuses
 *     ends the conversation the same way in one piece and in small
 *     pieces;
 *   - both runs together stay within a CPU budget linear in the input's
 *     size (CPU_BASE_MS, CPU_PER_KB_MS), however small the pieces: a
 *     quadratic path (a packet re-read or copied whole per piece) over
 *     64 KiB fails.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "mproto.h"
#include "msession.h"
#include "reader.h"

#define BUDGET (16 * 1024)

/*
 * The CPU budget of one input (STYLE habit 15), both runs together:
 * CPU_BASE_MS + CPU_PER_KB_MS per KB. The engine is linear in the bytes
 * it reads whatever the piece size (1-byte pieces are the worst case):
 * the 64 KiB seed big-64k-macros takes 0.02 s of its 0.76 s here (ASan,
 * UBSan, coverage; a stream of 5-byte abort packets about half); going
 * over what was received once per read, as a parser that never drops
 * what it consumed does, takes 18 s on it and fails. A quadratic step
 * as cheap as a byte compare per packet pair (0.1 s there) is below
 * what such a budget can tell from noise.
 */
#define CPU_BASE_MS   250.0
#define CPU_PER_KB_MS 8.0

static unsigned long nr_flags;
static struct msession_budget budget = {.max = BUDGET};
static unsigned long calls, closes;

static sfsistat reply(unsigned long flag)
{
    return (nr_flags & flag) ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

static sfsistat f_negotiate(SMFICTX *s, unsigned long f0, unsigned long f1, unsigned long f2,
                            unsigned long f3, unsigned long *pf0, unsigned long *pf1,
                            unsigned long *pf2, unsigned long *pf3)
{
    (void)s, (void)f2, (void)f3;
    *pf0 = f0;
    *pf1 = f1 & (nr_flags | SMFIP_HDR_LEADSPC);
    *pf2 = *pf3 = 0;
    calls++;
    return SMFIS_CONTINUE;
}

static sfsistat f_connect(SMFICTX *s, char *host, _SOCK_ADDR *sa)
{
    calls += 1 + strlen(host) + (sa != NULL);
    fuzz_check(msession_insheader(s, 0, "X", "y") == MI_FAILURE);
    return reply(SMFIP_NR_CONN);
}

static sfsistat f_helo(SMFICTX *s, char *helo)
{
    (void)s;
    calls += 1 + strlen(helo);
    return reply(SMFIP_NR_HELO);
}

static sfsistat f_mail(SMFICTX *s, char **argv)
{
    char *v = msession_getsymval(s, "{auth_authen}");

    calls += 1 + (v ? strlen(v) : 0);
    for (; *argv; argv++)
        calls += strlen(*argv);
    return reply(SMFIP_NR_MAIL);
}

static sfsistat f_rcpt(SMFICTX *s, char **argv)
{
    (void)s;
    calls += 1 + strlen(argv[0]);
    return reply(SMFIP_NR_RCPT);
}

static sfsistat f_header(SMFICTX *s, char *name, char *value)
{
    calls += 1 + strlen(name) + strlen(value);
    fuzz_check(msession_chgheader(s, name, 1, NULL) == MI_FAILURE);
    return reply(SMFIP_NR_HDR);
}

static sfsistat f_eoh(SMFICTX *s)
{
    (void)s;
    calls++;
    return reply(SMFIP_NR_EOH);
}

static sfsistat f_body(SMFICTX *s, unsigned char *chunk, size_t len)
{
    (void)s, (void)chunk;
    calls += 1 + len;
    return reply(SMFIP_NR_BODY);
}

static sfsistat f_eom(SMFICTX *s)
{
    char *q = msession_getsymval(s, "i");

    calls += 1 + (q ? strlen(q) : 0);
    msession_insheader(s, 0, "X-Fuzz", q ? q : "");
    msession_chgheader(s, "Subject", 1, NULL);
    msession_replacebody(s, (unsigned char *)"x\r\n", 3);
    msession_quarantine(s, "fuzz");
    msession_setreply(s, "550", "5.7.1", q ? q : "no");
    return (calls & 3) == 0 ? SMFIS_REJECT : SMFIS_CONTINUE;
}

static sfsistat f_abort(SMFICTX *s)
{
    (void)s;
    calls++;
    return SMFIS_CONTINUE;
}

static sfsistat f_close(SMFICTX *s)
{
    (void)s;
    closes++;
    return SMFIS_CONTINUE;
}

static const struct smfiDesc desc = {
    .xxfi_name = "fuzz",
    .xxfi_version = SMFI_VERSION,
    .xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGBODY | SMFIF_QUARANTINE,
    .xxfi_connect = f_connect,
    .xxfi_helo = f_helo,
    .xxfi_envfrom = f_mail,
    .xxfi_envrcpt = f_rcpt,
    .xxfi_header = f_header,
    .xxfi_eoh = f_eoh,
    .xxfi_body = f_body,
    .xxfi_eom = f_eom,
    .xxfi_abort = f_abort,
    .xxfi_close = f_close,
    .xxfi_negotiate = f_negotiate,
};

struct result {
    struct buf out;
    unsigned long calls;
    bool go_on;
};

/* feed - one session over data in pieces of step bytes (0: whole) */
static void feed(const uint8_t *data, size_t len, size_t step, struct result *r)
{
    SMFICTX *s = msession_new(&desc);
    struct mpkt p;
    size_t off = 0, used;

    calls = closes = 0;
    memset(r, 0, sizeof(*r));
    r->go_on = true;
    msession_set_budget(s, &budget);
    for (size_t i = 0; i < len && r->go_on;) {
        size_t n = step && len - i > step ? step : len - i;

        r->go_on = msession_input(s, data + i, n);
        fuzz_check(atomic_load(&budget.used) <= BUDGET);
        fuzz_check(atomic_load(&budget.used) < 2 * (msession_pending(s) + MSESSION_READ_MIN + 1));
        buf_add(&r->out, msession_output(s)->data, msession_output(s)->len);
        buf_reset(msession_output(s));
        i += n;
    }
    msession_free(s);
    fuzz_check(atomic_load(&budget.used) == 0);
    fuzz_check(closes >= 1);
    r->calls = calls;
    while (mproto_frame((const unsigned char *)buf_cstr(&r->out) + off, r->out.len - off, &p,
                        &used) == MPROTO_PACKET)
        off += used;
    fuzz_check(off == r->out.len);
}

/* cpu_ms - this process's CPU time in milliseconds */
static double cpu_ms(void)
{
    struct timespec ts;

    fuzz_check(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == 0);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* LLVMFuzzerTestOneInput - pieces byte, no-reply byte, the stream; fed whole and in pieces */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct reader rd = reader_init(data, size);
    unsigned step = reader_byte(&rd), flags = reader_byte(&rd);
    struct buf in = BUF_INIT;
    struct result whole, split;
    double c0 = cpu_ms();

    if (flags & 0x80) {
        static const unsigned char optneg[] = {0, 0, 0, 13,   'O', 0,    0,    0,   6,
                                               0, 0, 1, 0xff, 0,   0x1f, 0xff, 0xff};

        buf_add(&in, optneg, sizeof(optneg));
    }
    buf_add(&in, rd.p, rd.len);
    nr_flags = 0;
    if (flags & 1)
        nr_flags |= SMFIP_NR_CONN | SMFIP_NR_HELO;
    if (flags & 2)
        nr_flags |= SMFIP_NR_MAIL | SMFIP_NR_RCPT;
    if (flags & 4)
        nr_flags |= SMFIP_NR_HDR | SMFIP_NR_EOH;
    if (flags & 8)
        nr_flags |= SMFIP_NR_BODY;
    feed((const uint8_t *)buf_cstr(&in), in.len, 0, &whole);
    feed((const uint8_t *)buf_cstr(&in), in.len, step ? step : 1, &split);
    fuzz_check(cpu_ms() - c0 <= CPU_BASE_MS + CPU_PER_KB_MS * (double)size / 1024);
    fuzz_check(whole.go_on == split.go_on);
    fuzz_check(whole.calls == split.calls);
    fuzz_check(whole.out.len == split.out.len &&
               memcmp(buf_cstr(&whole.out), buf_cstr(&split.out), whole.out.len) == 0);
    buf_free(&whole.out);
    buf_free(&split.out);
    buf_free(&in);
    return 0;
}

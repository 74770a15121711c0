/*
 * test_msession_input.c - how a milter session (msession.c) takes its
 * input: a body chunk of any size arrives whole however the reads split
 * it, and a connection does not keep a big input buffer once its packets
 * are handled. The conversations themselves are in test_msession.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "msession.h"
#include "msession_fixture.h"
#include "util.h"

static struct buf bodies; /* "body N;" for every body chunk the filter got */

/* t_negotiate - every step without a reply, as postmeter-milter asks */
static sfsistat t_negotiate(SMFICTX *s, unsigned long f0, unsigned long f1, unsigned long f2,
                            unsigned long f3, unsigned long *pf0, unsigned long *pf1,
                            unsigned long *pf2, unsigned long *pf3)
{
    (void)s, (void)f0, (void)f2, (void)f3;
    *pf0 = 0;
    *pf1 = f1 & NR_ALL;
    *pf2 = *pf3 = 0;
    return SMFIS_CONTINUE;
}

static sfsistat t_body(SMFICTX *s, unsigned char *chunk, size_t len)
{
    (void)s, (void)chunk;
    buf_printf(&bodies, "body %zu;", len);
    return SMFIS_NOREPLY;
}

static struct smfiDesc desc = {
    .xxfi_name = "test-input",
    .xxfi_version = SMFI_VERSION,
    .xxfi_body = t_body,
    .xxfi_negotiate = t_negotiate,
};

/*
 * test_big_chunk_released - a body chunk of any size arrives whole
 * however it is read, and once handled the connection's input buffer is
 * back to at most MSESSION_KEEP_MAX (100 connections must not each keep
 * the largest chunk they ever got)
 */
static void test_big_chunk_released(void **state)
{
    static const size_t sizes[] = {1, 4000, 8192, 20000, 65535};
    static const size_t steps[] = {0, 1000, 4096, 70000};

    (void)state;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        for (size_t j = 0; j < sizeof(steps) / sizeof(steps[0]); j++) {
            SMFICTX *s = msession_new(&desc);
            struct buf in = BUF_INIT;
            char *chunk = xcalloc(1, sizes[i]), want[32];
            size_t room;

            memset(chunk, 'x', sizes[i]);
            session_start(&in);
            macro(&in, SMFIC_MAIL, "{mail_mailer}", "smtp", NULL);
            pkts(&in, SMFIC_MAIL, "<a@example.test>", NULL);
            pkts(&in, SMFIC_RCPT, "<b@example.test>", NULL);
            pkt(&in, SMFIC_EOH, NULL, 0);
            pkt(&in, SMFIC_BODY, chunk, sizes[i]);
            buf_reset(&bodies);
            for (size_t off = 0; off < in.len;) {
                size_t n;
                void *p = msession_space(s, &room);

                n = steps[j] && steps[j] < room ? steps[j] : room;
                if (n > in.len - off)
                    n = in.len - off;
                memcpy(p, in.data + off, n);
                assert_true(msession_received(s, n));
                buf_reset(msession_output(s));
                off += n;
            }
            snprintf(want, sizeof(want), "body %zu;", sizes[i]);
            if (strcmp(buf_cstr(&bodies), want) != 0)
                fail_msg("size %zu step %zu: %s", sizes[i], steps[j], buf_cstr(&bodies));
            msession_space(s, &room);
            if (room + 1 > MSESSION_KEEP_MAX)
                fail_msg("size %zu step %zu: %zu bytes of room kept", sizes[i], steps[j], room);
            msession_free(s);
            buf_free(&in);
            free(chunk);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_big_chunk_released),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);

    buf_free(&bodies);
    return rc;
}

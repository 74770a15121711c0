/*
 * ledger_uid.c - the ledger record's unique id (ledger_uid_new,
 * ledger_msg.h): time-ordered, with 80 random bits from a generator of
 * each thread's own.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "ledger_msg.h"
#include "util.h"

/*
 * A uid's random part needs to be unique, not secret: each thread draws
 * it from its own xoshiro256** generator, seeded once from getrandom()
 * (a system call per record cost the tracker about 2% of a request under
 * a flood). A child of fork() gets a fresh seed before its first uid (the
 * generation counter), so it never repeats its parent's sequence.
 */
static _Thread_local uint64_t uid_state[4];
static _Thread_local unsigned uid_seeded; /* == uid_generation once seeded */
static unsigned uid_generation = 1;
static pthread_once_t uid_once = PTHREAD_ONCE_INIT;

/* uid_forked - in the child of fork(): every thread's generator must reseed */
static void uid_forked(void)
{
    uid_generation++;
}

/* uid_atfork - register uid_forked once */
static void uid_atfork(void)
{
    pthread_atfork(NULL, NULL, uid_forked);
}

/* rotl - rotate x left by k */
static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* uid_random - n bytes from this thread's generator (xoshiro256**) */
static void uid_random(unsigned char *out, size_t n)
{
    uint64_t *s = uid_state;

    pthread_once(&uid_once, uid_atfork);
    if (uid_seeded != uid_generation) {
        do
            random_bytes(s, sizeof(uid_state));
        while ((s[0] | s[1] | s[2] | s[3]) == 0);
        uid_seeded = uid_generation;
    }
    for (size_t i = 0; i < n; i += 8) {
        uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

        s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t, s[3] = rotl(s[3], 45);
        memcpy(out + i, &r, n - i < 8 ? n - i : 8);
    }
}

/*
 * ledger_uid_new - a fresh uid into uid. It is time-ordered:
 * 12 hex digits of milliseconds since the epoch, then 20 hex digits (80
 * bits) of randomness. Still unique (80 random bits per millisecond), but
 * new uids sort after old ones, so inserting them touches only the right
 * edge of the uid index instead of a random page per record.
 */
void ledger_uid_new(char uid[LEDGER_UID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char rnd[(LEDGER_UID_LEN - 12) / 2];
    struct timespec ts;
    uint64_t ms;

    clock_gettime(CLOCK_REALTIME, &ts);
    ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    for (int i = 11; i >= 0; i--, ms >>= 4)
        uid[i] = hex[ms & 15];
    uid_random(rnd, sizeof(rnd));
    for (size_t i = 0; i < sizeof(rnd); i++) {
        uid[12 + 2 * i] = hex[rnd[i] >> 4];
        uid[12 + 2 * i + 1] = hex[rnd[i] & 15];
    }
    uid[LEDGER_UID_LEN] = '\0';
}

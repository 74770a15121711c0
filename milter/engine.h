/*
 * engine.h - postmeter-milter's own milter server: the listening socket,
 * a pool of connection threads, and the reads and writes of each
 * connection. The protocol itself is msession.c.
 *
 * Why not libmilter: with it a connection cost a new thread, a poll()
 * and two read()s per packet and a write() per reply, and it cannot ask
 * the kernel for immediate ACKs. Postfix writes each no-reply packet on
 * its own and does not set TCP_NODELAY, so over TCP every message waited
 * for our delayed ACKs (bench/README.md, "the floor"). Here a connection
 * thread is reused, reads whatever has arrived in one read(), answers
 * with one write(), and re-arms TCP_QUICKACK after each read.
 *
 * Each connection has its own thread, so a callback may block (DNS at
 * MAIL FROM, key lookups) without holding up other connections. Idle
 * threads wait for the next connection and end after a minute when more
 * than a few are idle.
 *
 * Bounds (engine_set_limits): at most max_connections are served at
 * once; one more is accepted and closed at once, so the MTA's handshake
 * fails at once and it applies its milter_default_action (a connection
 * left unaccepted would wait for its connect timeout). A packet must
 * arrive whole within the timeout of its first byte, not of each read.
 * Big packets under way (past MSESSION_KEEP_MAX) share one budget of
 * buffered bytes, charged as their bytes arrive (msession_space), not as
 * their length announces; a connection whose buffer cannot grow within
 * it is closed (the MTA applies milter_default_action). Both
 * refusals are logged at the first, then at most once a minute.
 */
#ifndef POSTMETER_ENGINE_H
#define POSTMETER_ENGINE_H

#include <stddef.h>

#include <libmilter/mfapi.h>

struct engine;

/*
 * engine_listen - create, bind and listen on spec: unix:PATH (or
 * local:PATH), inet:PORT[@HOST], inet6:PORT[@HOST] (HOST: a literal
 * address or a name; none = every address). A unix socket file gets mode
 * `mode`; a stale one is replaced, a live one (another milter answers)
 * refused. NULL with a message in err on failure.
 */
struct engine *engine_listen(const char *spec, unsigned mode, char *err, size_t errlen);
/* Defaults of engine_set_limits (Postfix's default_process_limit is 100). */
#define ENGINE_MAX_CONNECTIONS 1000
#define ENGINE_MAX_BUFFERED    (64u * 1024 * 1024)
/*
 * engine_set_limits - connections served at once, and bytes of big
 * packets under way buffered across them (0: the default); any time,
 * from any thread: open connections keep going
 */
void engine_set_limits(struct engine *e, unsigned max_connections, size_t max_buffered);
/* engine_buffered - bytes of big packets under way, buffered now */
size_t engine_buffered(struct engine *e);
/* engine_path - the unix socket's file, NULL for inet */
const char *engine_path(const struct engine *e);
/*
 * engine_run - accept connections and serve them with desc's callbacks
 * until engine_stop(); timeout_s: how long a connection may stay silent
 * (or unable to take our reply), and how long a packet may take to
 * arrive whole from its first byte, before we drop it. Removes a unix
 * socket's file when it returns; connections still open go on.
 */
void engine_run(struct engine *e, const struct smfiDesc *desc, unsigned timeout_s);
/* engine_stop - make engine_run() return soon (any thread, not a signal handler) */
void engine_stop(struct engine *e);
/* engine_active - connections being served now */
unsigned engine_active(struct engine *e);
/*
 * engine_close - after engine_run() returned: give open connections
 * grace_s seconds to end, then cut them (their close callbacks still
 * run), wait for every connection thread, free. Callbacks never run
 * after it returns.
 */
void engine_close(struct engine *e, unsigned grace_s);

#endif

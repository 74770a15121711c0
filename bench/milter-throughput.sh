#!/usr/bin/env bash
# bench/milter-throughput.sh - Postfix msg/s with and without milters.
#
#   bench/milter-throughput.sh [--mode noop|ledger|auth|debian|sign|sign-track|opendkim-sign[,...]]
#                              [--sessions 10,50] [--messages 2000] [--rounds 3]
#                              [--rss-sessions 100] [--size N] [--reuse] [--keep] [--milter-unix]
#
# Builds postmeter (optimised, no sanitizers; see bench/common.sh), then
# runs bench/milter_throughput.py with Debian's /usr/bin/python3: two
# private Postfix instances of the integration harness (bare, and with
# each mode's milters: postmeter-milter, or Debian's opendkim, opendmarc
# and policyd-spf) delivering to smtp-sink, driven by smtp-source in
# alternating runs; prints msg/s of each, the ratios, the filters' CPU
# per message and their peak memory at 100 sessions. How to read the
# output: bench/README.md.
#
# As root (it starts Postfix). It never touches the system's Postfix,
# Dovecot, resolver or services (everything runs on 127.0.0.1 high ports
# under /tmp and is stopped and removed at the end), never installs
# packages, and times nothing for CI.
set -euo pipefail

# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [ "$(id -u)" -ne 0 ]; then
    echo "bench/milter-throughput.sh: it starts Postfix; run it as root" >&2
    exit 2
fi
need postfix smtp-source smtp-sink unbound cc unshare /usr/bin/python3
case " $* " in
*debian* | *opendkim-sign*) need opendkim opendmarc policyd-spf ;;
esac
bench_build postmeter-milter postmeter-cli noop_milter
export POSTMETER_BUILD_DIR="$build" POSTMETER_SOURCE_DIR="$src" PYTHONDONTWRITEBYTECODE=1
exec /usr/bin/python3 "$src/bench/milter_throughput.py" "$@"

#!/usr/bin/env bash
# bench/tracker.sh - postmeter-tracker's requests/s against nginx serving
# empty_gif, with wrk, every request checked to be recorded.
#
#   bench/tracker.sh [--connections 64,256] [--modes keepalive,close]
#                    [--duration 10] [--rounds 1] [--threads 2] [--set KEY=VALUE]
#                    [--keep] [--floor]
#
# Builds postmeter (optimised, no sanitizers; see bench/common.sh), then
# runs bench/tracker_bench.py with Debian's /usr/bin/python3: a harness
# Postfix and postmeter-milter make the valid tokens (tracked mail), then
# wrk (bench/tracker_wrk.lua) drives postmeter-tracker and a private nginx
# (empty_gif, access log on) back to back at each number of connections,
# keep-alive and with Connection: close; prints requests/s of each, the
# ratio, p99 latency and the tracker's peak RSS, and fails (exit 1) if a
# request the tracker answered has no row. How to read the output:
# bench/README.md.
#
# As root (it starts Postfix and nginx). It never touches the system's
# Postfix, nginx (/etc/nginx), resolver or services (everything runs on
# 127.0.0.1 high ports under /tmp and is stopped and removed at the end),
# never installs packages, and times nothing for CI.
set -euo pipefail

# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [ "$(id -u)" -ne 0 ]; then
    echo "bench/tracker.sh: it starts Postfix and nginx; run it as root" >&2
    exit 2
fi
need postfix smtp-sink unbound wrk curl /usr/bin/python3
if ! command -v nginx >/dev/null 2>&1; then
    echo "missing: nginx (the baseline; apt-get install nginx, then systemctl disable" \
        "--now nginx if its own server on port 80 is not wanted)" >&2
    exit 2
fi
bench_build postmeter-milter postmeter-cli postmeter-tracker mhd_floor
export POSTMETER_BUILD_DIR="$build" POSTMETER_SOURCE_DIR="$src" PYTHONDONTWRITEBYTECODE=1
exec /usr/bin/python3 "$src/bench/tracker_bench.py" "$@"

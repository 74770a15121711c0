#!/usr/bin/env bash
# contrib/demo.sh - see postmeter work: a private mail system on loopback.
#
#   contrib/demo.sh          install what packaging/debian-packages.txt lists,
#                            build postmeter (build-demo/, no sanitizers), start
#                            unbound + Dovecot + Postfix + postmeter-milter +
#                            postmeter-tracker in the background under
#                            .state/demo, send mail through them (inbound,
#                            outbound, SASL, sendmail, a forged From that DMARC
#                            rejects, a tracked newsletter), read it back over
#                            IMAP, open the newsletter's pixel (headless
#                            Chromium if installed, else curl) and print the
#                            ledger and the opens
#   contrib/demo.sh stop     stop that demo and everything it started
#
# As root on Debian 12. Running it again stops the old demo and starts a
# fresh one. What it never does: touch /etc/postfix, /etc/dovecot,
# /etc/resolv.conf or any system service, listen on anything but
# 127.0.0.1 high ports, or stop a process that is not the demo's own.
# The logic lives in contrib/demo.py (run with Debian's /usr/bin/python3).
#
# Environment:
#   POSTMETER_DEMO_STATE   state directory (default: <source>/.state/demo)
#   POSTMETER_BUILD_DIR    build directory (default: <source>/build-demo)
set -euo pipefail

src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="${POSTMETER_DEMO_STATE:-$src/.state/demo}"
build="${POSTMETER_BUILD_DIR:-$src/build-demo}"
py=/usr/bin/python3

say() { printf '== %s\n' "$*"; }

usage() {
    echo "usage: contrib/demo.sh [start|stop|info]" >&2
    exit 2
}

cmd="${1:-start}"
[ "$#" -le 1 ] || usage
case "$cmd" in start | stop | info) ;; *) usage ;; esac

if [ "$(id -u)" -ne 0 ]; then
    echo "contrib/demo.sh: the demo starts Postfix and Dovecot; run it as root" >&2
    exit 2
fi

if [ "$cmd" = stop ] || [ "$cmd" = info ]; then
    if [ ! -x "$py" ]; then
        say "no $py: no demo can be running"
        exit 0
    fi
    exec "$py" "$src/contrib/demo.py" "$cmd" "$state"
fi

# -- packages --------------------------------------------------------------
bash "$src/packaging/install-packages.sh"

# -- build --------------------------------------------------------------------
# A build dir configured from another checkout (a moved clone) is stale.
if [ -f "$build/CMakeCache.txt" ] &&
   ! grep -qx "CMAKE_HOME_DIRECTORY:INTERNAL=$src" "$build/CMakeCache.txt"; then
    say "removing $build (configured for another source tree)"
    rm -rf "$build"
fi
say "build $build (RelWithDebInfo, no sanitizers)"
mkdir -p "$build"
buildlog="$build/demo-build.log"
if ! { cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPOSTMETER_SANITIZE=OFF \
           -DPOSTMETER_DEVELOPER=OFF -DBUILD_TESTING=OFF &&
       cmake --build "$build" -j"$(nproc)"; } >"$buildlog" 2>&1; then
    tail -n 40 "$buildlog" >&2
    echo "contrib/demo.sh: the build failed (whole log: $buildlog)" >&2
    exit 1
fi
export POSTMETER_BUILD_DIR="$build" POSTMETER_SOURCE_DIR="$src"

# -- run ----------------------------------------------------------------------
"$py" "$src/contrib/demo.py" start "$state"

say "the ledger: $build/cli/postmeter -c $state/postmeter.conf report messages"
"$build/cli/postmeter" -c "$state/postmeter.conf" report messages

"$py" "$src/contrib/demo.py" info "$state"

#!/usr/bin/env bash
# tests/run.sh - the one test command of postmeter.
#
# As root on Debian 12: installs what packaging/debian-packages.txt lists
# (through packaging/install-packages.sh, shared with the demo)
# - apt-get update only when an install needs it -, builds one
# ASan/UBSan developer configuration in build/ and runs every test there
# (unit + integration) with ctest. The exit status is ctest's.
# Idempotent; runs from any directory. CI runs it through .ci/run.
#
# Environment:
#   POSTMETER_BUILD_DIR   build directory (default: <source>/build)
#   POSTMETER_SANITIZE    ON (default) or OFF
#   CTEST_ARGS            extra ctest arguments, e.g. "-L integration"
set -euo pipefail

src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${POSTMETER_BUILD_DIR:-$src/build}"
sanitize="${POSTMETER_SANITIZE:-ON}"

say() { printf '== %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
    echo "tests/run.sh: the integration tests start Postfix and Dovecot; run as root" >&2
    exit 2
fi

# -- packages --------------------------------------------------------------
bash "$src/packaging/install-packages.sh"

# -- build ------------------------------------------------------------------
# A build dir configured from another checkout (a moved clone) is stale.
if [ -f "$build/CMakeCache.txt" ] &&
   ! grep -qx "CMAKE_HOME_DIRECTORY:INTERNAL=$src" "$build/CMakeCache.txt"; then
    say "removing $build (configured for another source tree)"
    rm -rf "$build"
fi
say "configure $build (Debug, POSTMETER_SANITIZE=$sanitize)"
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-g -O1" \
    -DPOSTMETER_DEVELOPER=ON -DPOSTMETER_SANITIZE="$sanitize" -DBUILD_TESTING=ON
say "build"
cmake --build "$build" -j"$(nproc)"

# -- test -------------------------------------------------------------------
# Sanitizers: any report is a failure (the integration harness sends
# the daemons' reports to files in its state dir and fails on them).
export ASAN_OPTIONS="${ASAN_OPTIONS:-strict_string_checks=1:detect_stack_use_after_return=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
say "ctest"
status=0
# shellcheck disable=SC2086
ctest --test-dir "$build" --output-on-failure -j2 ${CTEST_ARGS:-} || status=$?
say "ctest exit status $status"
exit "$status"

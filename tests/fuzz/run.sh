#!/usr/bin/env bash
# tests/fuzz/run.sh - build the libFuzzer targets with clang in their own
# build tree and run each for a bounded time; ctest runs it as fuzz/smoke.
#
# Usage: tests/fuzz/run.sh [SECONDS-PER-TARGET [TARGET...]]
#   SECONDS   how long each target runs (default 20)
#   TARGET    NAME of a fuzz_NAME.c (spf_record, ...); default: all of them
#
# Each target starts from a copy of its seed corpus (corpus/NAME/) in a
# temporary directory - nothing is ever written into the source tree -
# with -timeout=10 -rss_limit_mb=2048. Exit status: 0 if every target
# ran clean; 1 if any crashed, leaked, timed out or ran out of memory (its
# reproducer is kept under BUILD/artifacts/ and its path printed); 77 if
# clang is not installed. fuzz/smoke has no SKIP_RETURN_CODE, so ctest
# reports 77 as a failure: a machine without clang never passes the
# fuzz smoke test unnoticed.
#
# Environment:
#   POSTMETER_FUZZ_BUILD_DIR   build tree (default: <source>/build-fuzz);
#                              never the main build tree
#   UBSAN_OPTIONS              default print_stacktrace=1:halt_on_error=1
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$(cd "$here/../.." && pwd)"
build="${POSTMETER_FUZZ_BUILD_DIR:-$src/build-fuzz}"
secs="${1:-20}"
shift || true

say() { printf '== fuzz: %s\n' "$*"; }

case "$secs" in
'' | *[!0-9]*) echo "usage: $0 [SECONDS-PER-TARGET [TARGET...]]" >&2; exit 2 ;;
esac
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=()
    for f in "$here"/fuzz_*.c; do
        f="$(basename "$f" .c)"
        targets+=("${f#fuzz_}")
    done
fi
for t in "${targets[@]}"; do
    if [ ! -f "$here/fuzz_$t.c" ]; then
        echo "$0: no target $t (tests/fuzz/fuzz_$t.c)" >&2
        exit 2
    fi
done

if ! command -v clang >/dev/null 2>&1; then
    echo "$0: clang is not installed (packaging/debian-packages.txt): no fuzz run" >&2
    exit 77
fi

mkdir -p "$build"
build="$(cd "$build" && pwd)"
if [ "$build" = "$src/build" ]; then
    echo "$0: $build is the main build tree; use another POSTMETER_FUZZ_BUILD_DIR" >&2
    exit 2
fi
# Never touch a build tree that is not a fuzz tree.
cache="$build/CMakeCache.txt"
if [ -f "$cache" ] && ! grep -qx 'POSTMETER_FUZZ:BOOL=ON' "$cache"; then
    echo "$0: $build is a build tree without POSTMETER_FUZZ=ON; not touching it" >&2
    exit 2
fi
# One run at a time per build tree (two ctest runs may share it).
exec 9>"$build/.fuzz-run.lock"
flock 9
# A fuzz tree configured from another checkout or with another compiler
# is stale: start it afresh.
if [ -f "$cache" ] &&
   { ! grep -qx "CMAKE_HOME_DIRECTORY:INTERNAL=$src" "$cache" ||
     ! grep -q '^CMAKE_C_COMPILER:[A-Z]*=.*clang' "$cache"; }; then
    say "removing the stale configuration in $build"
    find "$build" -mindepth 1 -maxdepth 1 ! -name .fuzz-run.lock -exec rm -rf {} +
fi

say "configure $build (clang, libFuzzer + ASan + UBSan)"
CC=clang cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-g -O1" \
    -DPOSTMETER_FUZZ=ON -DPOSTMETER_SANITIZE=OFF -DPOSTMETER_DEVELOPER=ON -DBUILD_TESTING=OFF \
    >"$build/configure.log" 2>&1 || { cat "$build/configure.log"; exit 1; }
say "build"
cmake --build "$build" --target fuzz -j"$(nproc)"

export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
work="$(mktemp -d "${TMPDIR:-/tmp}/postmeter-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$build/artifacts"

failed=()
for t in "${targets[@]}"; do
    corpus="$work/corpus-$t"
    mkdir -p "$corpus"
    if [ -d "$here/corpus/$t" ]; then
        cp -R "$here/corpus/$t/." "$corpus/"
    fi
    args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
          -artifact_prefix="$build/artifacts/$t-")
    if [ -f "$here/dict/$t.dict" ]; then
        args+=(-dict="$here/dict/$t.dict")
    fi
    log="$work/$t.log"
    status=0
    "$build/tests/fuzz/fuzz_$t" "${args[@]}" "$corpus" >"$log" 2>&1 || status=$?
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
    units="$(find "$corpus" -type f | wc -l)"
    if [ "$status" -eq 0 ]; then
        say "$t: ok, ${runs:-?} runs in ${secs}s (${rate:-?}/s), corpus $units"
        continue
    fi
    failed+=("$t")
    say "$t: FAILED (exit status $status)"
    tail -n 60 "$log"
    repro="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)"
    if [ -n "$repro" ]; then
        say "$t: reproducer $repro"
        say "$t: rerun with $build/tests/fuzz/fuzz_$t $repro"
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    say "FAILED: ${failed[*]}"
    exit 1
fi
say "all ${#targets[@]} targets ran ${secs}s each without a finding"

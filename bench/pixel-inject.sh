#!/usr/bin/env bash
# bench/pixel-inject.sh - MB/s of the tracking-pixel engine (pixel_inject())
# over the pixel corpus, against a plain copy of the same bytes measured in
# the same run, and the pixel stage's CPU per outbound message.
#
#   bench/pixel-inject.sh [--with-milter] [pixel_inject_bench options]
#                                          e.g. -n 1000 -r 5
#
# Builds bench/pixel_inject_bench.c (optimised, no sanitizers; see
# bench/common.sh) and runs it on tests/data/pixel/*.eml and on the
# sign-mode message of bench/milter_throughput.py (~16 KB
# multipart/alternative, written by that script's own code into a
# temporary file, removed at the end). Every other option goes to
# pixel_inject_bench (-h lists them). Targets: >= 100 MB/s over the
# corpus; the pixel stage adds <= 5% to the outbound pipeline's milter
# CPU per message: its us/msg for the sign-mode message divided by
# bench/milter-throughput.sh --mode sign's "CPU ms/msg".
#
# --with-milter first runs bench/milter-throughput.sh --mode sign
# --sessions 10 --messages 1000 --rounds 1 --rss-sessions 0 (as root: it
# starts private Postfix instances; see bench/README.md), takes its CPU
# ms/msg and prints the share. It never touches the system's mail setup
# or any other build directory, and times nothing for CI. How to read
# the output: bench/README.md.
set -euo pipefail

# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

with_milter=0
args=()
for a in "$@"; do
    case "$a" in
    --with-milter) with_milter=1 ;;
    *) args+=("$a") ;;
    esac
done

need /usr/bin/python3
bench_build pixel_inject_bench

tmp="$(mktemp -d "${TMPDIR:-/tmp}/pixel-inject-bench.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
# The sign mode's message, made by milter_throughput.py itself (no copy to drift).
(cd "$src/bench" && PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -c '
import sys
import milter_throughput as m
sys.stdout.write(m.SignMode.message(None, m.SignMode.default_size))
') >"$tmp/sign.eml"

if [ "$with_milter" -eq 1 ]; then
    say "bench/milter-throughput.sh --mode sign (for its CPU ms/msg)"
    export POSTMETER_BUILD_DIR="$build"
    "$src/bench/milter-throughput.sh" --mode sign --sessions 10 --messages 1000 --rounds 1 \
        --rss-sessions 0 | tee "$tmp/milter.log"
    # the "medians" table: mode sessions bare-acc/s acc/s ratio target
    # bare-dlv/s dlv/s ratio CPU-ms target
    ms="$(awk '/^medians/ { m = 1 } m && $1 == "sign" && $2 ~ /^[0-9]+$/ { print $10; exit }' \
        "$tmp/milter.log")"
    case "$ms" in
    '' | - | *[!0-9.]*)
        echo "bench/pixel-inject.sh: no CPU ms/msg in milter-throughput's output" >&2
        exit 1
        ;;
    esac
    say "sign mode: $ms CPU ms/msg"
    echo
    args+=(-m "$ms")
fi

"$build/bench/pixel_inject_bench" -d "$src/tests/data/pixel" -s "$tmp/sign.eml" \
    ${args[@]+"${args[@]}"}

#!/usr/bin/env bash
# bench/report.sh - how long every "postmeter report" takes on a big
# ledger: 1,000,000 messages (2 recipients, 3 auth rows each), 200,000
# tracked messages and 600,000 opens, against the targets of issue 20
# (every report < 1 s, report summary < 300 ms, report open < 20 ms).
#
#   bench/report.sh [--rounds N] [--messages N] [--only WORD] [--keep DIR]
#                   [--compare OTHER_POSTMETER]
#
# Builds postmeter (optimised, no sanitizers; see bench/common.sh), then
# bench/report_fill.py writes the ledger (the real schema/*.sql, one
# process, big transactions, the same rows every run, shifted to end
# now) into a fresh directory under /tmp, and bench/report_bench.py runs
# each report several times and prints the medians. --keep DIR keeps
# (or reuses) the ledger in DIR instead: building it takes about a
# minute. --compare times another postmeter binary (say, a build of the
# commit before a change) in the same rounds and checks it prints the
# same. It never touches postmeter's real database, the system's mail
# setup or any other build directory; it times nothing for CI. How to
# read the output: bench/README.md.
set -euo pipefail

# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

keep=
args=()
while [ $# -gt 0 ]; do
    case "$1" in
    --keep)
        [ $# -ge 2 ] || { echo "--keep: give a directory" >&2; exit 2; }
        keep="$2"
        shift 2
        ;;
    *)
        args+=("$1")
        shift
        ;;
    esac
done

need /usr/bin/python3
bench_build postmeter-cli
if [ -n "$keep" ]; then
    mkdir -p "$keep"
    dir="$keep"
else
    dir="$(mktemp -d /tmp/postmeter-report-bench.XXXXXX)"
    trap 'rm -rf "$dir"' EXIT
fi
/usr/bin/python3 "$src/bench/report_bench.py" "$build/cli/postmeter" "$dir" "${args[@]+"${args[@]}"}"

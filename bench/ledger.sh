#!/usr/bin/env bash
# bench/ledger.sh - rows/s through the ledger writer into SQLite, against
# a direct sqlite3 insert loop measured in the same run.
#
#   bench/ledger.sh [ledger_bench options]     e.g. -n 200000 -p 4 -r 3
#
# Builds bench/ledger_bench.c (optimised, no sanitizers; see
# bench/common.sh) and runs it; every option goes to ledger_bench (-h
# lists them). The databases live in a fresh directory under /tmp (or
# -d DIR) and are removed afterwards. It never touches postmeter's real
# database, the system's mail setup, or any other build directory; it
# times nothing for CI. How to read the output: bench/README.md.
set -euo pipefail

# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

bench_build ledger_bench
exec "$build/bench/ledger_bench" "$@"

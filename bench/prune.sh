#!/usr/bin/env bash
# bench/prune.sh - what "postmeter prune" costs the ledger's writes: a
# writer's throughput and longest commit while old rows are pruned,
# against the same writer alone, in the same run.
#
#   bench/prune.sh [prune_bench options]     e.g. -n 100000 -b 64 -t 5
#
# Builds bench/prune_bench.c (optimised, no sanitizers; see
# bench/common.sh) and runs it; every option goes to prune_bench (-h
# lists them). Targets (issue 20): no commit of the writer waits 100 ms or
# more during the prune, and it keeps 0.8 of its throughput. The database
# lives in a fresh directory under /tmp (or -d DIR) and is removed
# afterwards; it never touches postmeter's real database and times
# nothing for CI (tests/unit/test_store_prune_busy.c checks the same
# prune's results with a writer beside it, without timing it).
set -euo pipefail

# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

bench_build prune_bench
exec "$build/bench/prune_bench" "$@"

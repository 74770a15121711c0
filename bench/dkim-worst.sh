#!/usr/bin/env bash
# bench/dkim-worst.sh - CPU time of the worst DKIM messages we know how to
# build, verified and signed: the 50 ms per message target of STYLE habit
# 15 (every loop over a stranger's input bounded and near-linear).
#
#   bench/dkim-worst.sh [dkim_worst_bench options]      e.g. -r 11
#
# Builds bench/dkim_worst_bench.c (optimised, no sanitizers; see
# bench/common.sh) and runs it on the messages of
# tests/unit/dkim_worst_fixture.c with the keys of tests/data/dkim. Exit
# 1 if a result is not the expected one or a median is over 50 ms.
# tests/unit/test_dkim_cpu.c holds the same messages to a looser budget
# under ASan. How to read the output: bench/README.md.
set -euo pipefail

# shellcheck source=bench/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

bench_build dkim_worst_bench
"$build/bench/dkim_worst_bench" -d "$src/tests/data/dkim" "$@"

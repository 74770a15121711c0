# bench/common.sh - sourced by the bench/*.sh scripts: find or build an
# optimised, non-sanitized postmeter and check what a benchmark needs.
#
# Sets: src (source tree), build (build directory). Builds into
# $POSTMETER_BUILD_DIR (default <source>/build-bench) with
# RelWithDebInfo and no sanitizers, and refuses a build directory that
# was configured with POSTMETER_SANITIZE=ON or a non-optimised build type
# (its numbers would mean nothing). It never installs packages and never
# touches another build directory.
# shellcheck shell=bash

src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${POSTMETER_BUILD_DIR:-$src/build-bench}"

say() { printf '== %s\n' "$*" >&2; }

# need CMD... - every command must exist, or say what to install
need() {
    local missing=()
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || missing+=("$c")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "missing: ${missing[*]}; install packaging/debian-packages.txt" \
            "(tests/run.sh and contrib/demo.sh do)" >&2
        exit 2
    fi
}

# bench_build [TARGET...] - configure if needed, then build (incremental)
bench_build() {
    local cache="$build/CMakeCache.txt"
    if [ -f "$cache" ]; then
        if grep -q '^POSTMETER_SANITIZE:BOOL=ON$' "$cache"; then
            echo "$build is a sanitizer build; benchmarks need an optimised one" \
                "(unset POSTMETER_BUILD_DIR to use $src/build-bench)" >&2
            exit 2
        fi
        if ! grep -Eq '^CMAKE_BUILD_TYPE:STRING=(Release|RelWithDebInfo)$' "$cache"; then
            echo "$build is not an optimised build (want Release or RelWithDebInfo)" >&2
            exit 2
        fi
        # re-configure: a new source file (a new target) must be known before building it
        cmake "$build" >/dev/null
    else
        need cmake cc
        say "configure $build (RelWithDebInfo, no sanitizers)"
        cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
            -DPOSTMETER_SANITIZE=OFF -DPOSTMETER_DEVELOPER=OFF -DBUILD_TESTING=OFF >/dev/null
    fi
    local targets=()
    for t in "$@"; do
        targets+=(--target "$t")
    done
    say "build $build ${*:-}"
    cmake --build "$build" -j"$(nproc)" "${targets[@]}" >/dev/null
}

#!/usr/bin/env bash
# packaging/build-deb.sh - build postmeter's Debian package from a clean
# copy of the source tree.
#
#   packaging/build-deb.sh [OUTDIR]      (default: <source>/dist)
#
# Copies the source files (in a git checkout: those git tracks plus new
# ones it does not ignore, as they are in the working tree; else the
# tree without build*/, dist/ and .git) into a temporary directory, puts
# packaging/debian/ at its top as debian/, runs "dpkg-buildpackage -b
# -us -uc" there and moves the .deb into OUTDIR; nothing is written in
# the source tree but OUTDIR. Needs the Build-Depends of
# packaging/debian/control (dpkg-buildpackage stops if one is missing;
# tests/run.sh installs them from packaging/debian-packages.txt).
# Prints the .deb's path last. DEB_BUILD_OPTIONS is passed on (default
# parallel=<CPUs>). Runs as any user (Rules-Requires-Root: no).
set -euo pipefail

src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$src/dist}"
work="$(mktemp -d "${TMPDIR:-/tmp}/postmeter-deb.XXXXXX")"
trap 'rm -rf "$work"' EXIT
tree="$work/postmeter"

say() { printf '== %s\n' "$*"; }

# -- a clean copy --------------------------------------------------------------
mkdir -p "$tree"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    say "copying the files git lists from $src"
    # tracked (as in the working tree) and untracked-but-not-ignored; a
    # tracked file deleted in the working tree is left out
    git -C "$src" ls-files -z --cached --others --exclude-standard |
        (cd "$src" && while IFS= read -r -d '' f; do
            [ -e "$f" ] || [ -L "$f" ] && printf '%s\0' "$f"
        done) |
        tar -C "$src" --null --no-recursion --files-from=- -cf - | tar -C "$tree" -xf -
else
    say "copying $src (not a git checkout)"
    tar -C "$src" --exclude='./build*' --exclude=./dist --exclude=./.git --exclude=./.state \
        --exclude='__pycache__' -cf - . | tar -C "$tree" -xf -
fi
rm -rf "$tree/debian"
cp -a "$src/packaging/debian" "$tree/debian"

# -- build ---------------------------------------------------------------------
export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-parallel=$(nproc)}"
say "dpkg-buildpackage -b -us -uc in $tree (DEB_BUILD_OPTIONS=$DEB_BUILD_OPTIONS)"
(cd "$tree" && dpkg-buildpackage -b -us -uc)

# -- result --------------------------------------------------------------------
shopt -s nullglob
debs=("$work"/postmeter_*.deb)
if [ "${#debs[@]}" -ne 1 ]; then
    echo "build-deb.sh: expected one postmeter_*.deb, found ${#debs[@]}" >&2
    exit 1
fi
mkdir -p "$out"
rm -f "$out"/postmeter_*.deb
mv "${debs[0]}" "$out/"
say "built $out/$(basename "${debs[0]}")"
echo "$out/$(basename "${debs[0]}")"

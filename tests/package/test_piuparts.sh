#!/usr/bin/env bash
# test_piuparts.sh - piuparts on the Debian package that test_deb.sh built
# (POSTMETER_DEB_DIR): install, remove and purge it in a fresh bookworm
# chroot and fail on anything piuparts finds (a maintainer script that
# fails, a file left after purge that was not there before, a file the
# package changed that it does not own, a process left running).
#
#   1. The base tarball: mmdebstrap --variant=minbase with systemd and
#      systemd-sysv (so systemd-sysusers and systemd-tmpfiles exist, as
#      on any bookworm system: the postinst needs them), from
#      deb.debian.org. Cached at POSTMETER_PIUPARTS_BASE (under the build
#      directory): a re-run reuses it; remove the file to make it anew.
#   2. piuparts --basetgz=<it> --mirror="http://deb.debian.org/debian main"
#      -d bookworm --no-upgrade-test <the .deb>: exit status 0 and
#      "PASS: All tests." in its log.
#
# A missing piuparts or mmdebstrap is a failure, not a skip. Needs the
# network (as test_install.sh). Runs as root (piuparts chroots); writes
# its chroot and log under a temporary directory, and the tarball at
# POSTMETER_PIUPARTS_BASE. Measured on two loaded cores: 25 s with the
# tarball cached; making it anew adds about 60 s (mmdebstrap).
set -euo pipefail
# shellcheck source=tests/package/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

debdir="${POSTMETER_DEB_DIR:?}"
base="${POSTMETER_PIUPARTS_BASE:?}"
mirror="http://deb.debian.org/debian"
pm_setup piuparts
if command -v piuparts >/dev/null; then
    ok "piuparts is installed"
else
    bad "piuparts is not installed (packaging/debian-packages.txt lists its package)"
    finish
fi

debs=("$debdir"/postmeter_*.deb)
if [ "${#debs[@]}" -ne 1 ] || [ ! -f "${debs[0]}" ]; then
    bad "no single postmeter_*.deb in $debdir (test_deb.sh builds it)"
    finish
fi

# -- 1. the base tarball --------------------------------------------------------
if [ -s "$base" ] && tar -tzf "$base" ./usr/bin/systemd-sysusers >/dev/null 2>&1; then
    ok "base tarball cached: $base"
else
    start=$SECONDS
    mkdir -p "$(dirname "$base")"
    # into a temporary name first: an interrupted run leaves no half tarball
    if mmdebstrap --variant=minbase --include=systemd,systemd-sysv bookworm \
        "$tmp/base.tar.gz" "$mirror" >"$tmp/mmdebstrap.log" 2>&1 &&
        mv "$tmp/base.tar.gz" "$base"; then
        ok "mmdebstrap minbase with systemd in $((SECONDS - start)) s: $base"
    else
        tail -n 40 "$tmp/mmdebstrap.log"
        bad "mmdebstrap of the base tarball failed"
        finish
    fi
fi

# -- 2. piuparts ------------------------------------------------------------------
start=$SECONDS
rc=0
piuparts --basetgz="$base" --mirror="$mirror main" -d bookworm --no-upgrade-test \
    --tmpdir="$tmp" -l "$tmp/piuparts.log" "${debs[0]}" >/dev/null 2>&1 || rc=$?
last="$(grep -E 'INFO: PASS: ' "$tmp/piuparts.log" 2>/dev/null | sed 's/^[0-9ms.]* INFO: //' |
    tr '\n' ' ' || true)"
if [ "$rc" -eq 0 ] && grep -q 'PASS: All tests\. $' <<<"$last"; then
    ok "piuparts ${debs[0]##*/} in $((SECONDS - start)) s: $last"
else
    # what went wrong, without the whole log: errors and the lines around them
    grep -nE -A12 'ERROR: (FAIL|Command failed)' "$tmp/piuparts.log" | head -n 120 || true
    bad "piuparts exits $rc after $((SECONDS - start)) s: ${last:-no PASS in its log}"
fi

finish

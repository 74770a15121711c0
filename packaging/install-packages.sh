#!/usr/bin/env bash
# packaging/install-packages.sh - install the Debian packages that
# packaging/debian-packages.txt lists and that are not installed yet.
#
# The one place tests/run.sh, contrib/demo.sh and the benchmarks get
# their packages from. As root on Debian 12. Postfix is preseeded to "No
# configuration" so it never becomes the system's mailer; apt-get update
# runs only when an install fails without it. Never removes or upgrades
# anything, never starts a service (apt's policy-rc.d decides that).
set -euo pipefail

list="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/debian-packages.txt"
mapfile -t pkgs < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$list" | grep -v '^$')
missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -eq 0 ]; then
    printf '== packages: all %d installed\n' "${#pkgs[@]}"
    exit 0
fi
printf '== installing: %s\n' "${missing[*]}"
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y "${missing[@]}" </dev/null; then
    apt-get update </dev/null
    apt-get install -y "${missing[@]}" </dev/null
fi

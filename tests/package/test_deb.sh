#!/usr/bin/env bash
# test_deb.sh - the Debian package: build it with packaging/build-deb.sh
# into a temporary directory and check what comes out.
#
#   1. lintian --pedantic (tags shown) with --fail-on error,warning: no E:
#      or W: line; every override in packaging/debian/postmeter.lintian-overrides
#      has a comment (its reason) right above it.
#   2. dpkg-deb -c: each file the package must ship, at its path, with its
#      mode, owned by root; a man page for every program; nothing where it
#      must not be. The conffile is declared.
#   3. The binaries of the .deb (extracted, not installed) name the
#      package's paths: postmeter-milter -h, postmeter config defaults;
#      the paths they name inside the package are in it; the conffile has
#      every key "config defaults" prints (user set to _postmeter); the
#      version is the changelog's and the CMake project's.
#   4. sysusers.d and tmpfiles.d applied to an empty root (--root): user
#      and group _postmeter, /var/lib/postmeter 0750 _postmeter:_postmeter,
#      /var/spool/postfix/postmeter 2750 _postmeter:postfix.
#   5. systemd-analyze verify of the units and the timers (any
#      message fails) and systemd-analyze security --offline=true:
#      exposure <= 2.0 for each service (milter, tracker, prune) but the
#      summary mail's (postmeter-report: <= 4.8, its documented rating;
#      Postfix's setgid postdrop rules out every setting that sets
#      no_new_privs, and the unit has none of them). Each
#      file a daemon writes with the defaults (database, spool, journals,
#      status file, the tracker's spool, the socket) is under its unit's
#      StateDirectory= or ReadWritePaths=; README.Debian's Hardening says
#      which units need a drop-in when they move (ledger_spool too).
#   6. Maintainer scripts: purge removes config, database and socket
#      directory; the milter is enabled on installation, the tracker and
#      the prune and report timers not, their services never started; the
#      prune service's command and age, the timer daily; the report
#      service's command and its empty default address; the bash completion.
#
# A missing tool (dpkg-buildpackage, lintian, systemd-analyze, ...) is a
# failure, not a skip. Writes only under its temporary directory, and the
# .deb into POSTMETER_DEB_DIR if that is set (for test_install.sh);
# installs nothing, starts nothing. Takes about 1-3 minutes (the build).
set -euo pipefail

src="${POSTMETER_SOURCE_DIR:?}"
tmp="$(mktemp -d /tmp/pmtest-deb.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
THRESHOLD=2.0
# systemd 252's --threshold takes the exposure times ten, an integer
# (--threshold=2.0 does not parse): 20 is 2.0, and 12 passes a unit rated 1.2, 11 not.
THRESHOLD_X10=20
# postmeter-report.service (the summary mail through Postfix's setgid
# postdrop) is rated 4.8 (its header, README.Debian): not worse
REPORT_THRESHOLD=4.8
REPORT_THRESHOLD_X10=48

ok() {
    passed=$((passed + 1))
    echo "ok: $*"
}

bad() {
    failed=$((failed + 1))
    echo "FAIL: $*"
}

finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
    exit
}

# -- tools ---------------------------------------------------------------------
for tool in dpkg-buildpackage dpkg-deb lintian systemd-analyze systemd-sysusers \
    systemd-tmpfiles man /bin/kill; do
    if command -v "$tool" >/dev/null; then
        ok "$tool is installed"
    else
        bad "$tool is not installed (packaging/debian-packages.txt lists its package)"
    fi
done
[ "$failed" -eq 0 ] || finish

# -- build ---------------------------------------------------------------------
start=$SECONDS
if "$src/packaging/build-deb.sh" "${POSTMETER_DEB_DIR:-$tmp/dist}" >"$tmp/build.log" 2>&1; then
    ok "packaging/build-deb.sh built the package in $((SECONDS - start)) s"
else
    tail -n 60 "$tmp/build.log"
    bad "packaging/build-deb.sh failed"
    finish
fi
debs=("${POSTMETER_DEB_DIR:-$tmp/dist}"/postmeter_*.deb)
deb="${debs[0]}"
if [ "${#debs[@]}" -eq 1 ] && [ -f "$deb" ] && [ "$(tail -n 1 "$tmp/build.log")" = "$deb" ]; then
    ok "one .deb in the output directory, and build-deb.sh named it: ${deb##*/}"
else
    bad "expected exactly one postmeter_*.deb, named on build-deb.sh's last line"
    finish
fi

# -- 1. lintian ------------------------------------------------------------------
rc=0
lintian --pedantic --display-info --display-experimental --show-overrides \
    --fail-on error,warning \
    "$deb" >"$tmp/lintian.log" 2>&1 || rc=$?
sed 's/^/  lintian: /' "$tmp/lintian.log"
if [ "$rc" -eq 0 ]; then
    ok "lintian --fail-on error,warning exits 0"
else
    bad "lintian --fail-on error,warning exits $rc"
fi
if grep -qE '^[EW]: ' "$tmp/lintian.log"; then
    bad "lintian reports errors or warnings: $(grep -cE '^[EW]: ' "$tmp/lintian.log")"
else
    ok "lintian: 0 errors, 0 warnings"
fi
# a block of lines (up to a blank line) that starts with a comment: its reason
reason=no
n=0
while IFS= read -r line; do
    case "$line" in
    '') reason=no ;;
    '#'?*) reason=yes ;;
    *)
        n=$((n + 1))
        if [ "$reason" = yes ]; then
            ok "lintian override has a reason: $line"
        else
            bad "lintian override without a reason comment above it: $line"
        fi
        ;;
    esac
done <"$src/packaging/debian/postmeter.lintian-overrides"
[ "$n" -gt 0 ] || bad "no override read from postmeter.lintian-overrides"

# -- 2. contents -----------------------------------------------------------------
dpkg-deb -c "$deb" >"$tmp/contents"
# ship MODE PATH - the package has PATH (a file or directory) with MODE, owned by root
ship() {
    local line
    line="$(awk -v p="./$2" '$6 == p || $6 == p "/" {print $1, $2}' "$tmp/contents")"
    if [ "$line" = "$1 root/root" ]; then
        ok "ships $1 root/root /$2"
    else
        bad "/$2: want $1 root/root, have '${line:-nothing}'"
    fi
}
ship -rwxr-xr-x usr/bin/postmeter
ship -rwxr-xr-x usr/sbin/postmeter-milter
ship -rwxr-xr-x usr/sbin/postmeter-tracker
ship -rwxr-xr-x usr/lib/postmeter/postmeter-pixelfilter
ship -rw-r--r-- usr/lib/postmeter/postmeter-pixel.so
ship -rw-r--r-- usr/share/postmeter/machine-networks
ship -rw-r--r-- etc/postmeter/postmeter.conf
ship drwxr-xr-x etc/postmeter/machine-networks.d
ship -rw-r--r-- lib/systemd/system/postmeter-milter.service
ship -rw-r--r-- lib/systemd/system/postmeter-tracker.service
ship -rw-r--r-- lib/systemd/system/postmeter-prune.service
ship -rw-r--r-- lib/systemd/system/postmeter-prune.timer
ship -rw-r--r-- lib/systemd/system/postmeter-report.service
ship -rw-r--r-- lib/systemd/system/postmeter-report.timer
ship -rw-r--r-- etc/default/postmeter
ship -rw-r--r-- usr/share/bash-completion/completions/postmeter
ship -rw-r--r-- usr/lib/sysusers.d/postmeter.conf
ship -rw-r--r-- usr/lib/tmpfiles.d/postmeter.conf
ship -rw-r--r-- usr/share/man/man1/postmeter.1.gz
ship -rw-r--r-- usr/share/man/man5/postmeter.conf.5.gz
ship -rw-r--r-- usr/share/man/man8/postmeter-milter.8.gz
ship -rw-r--r-- usr/share/man/man8/postmeter-tracker.8.gz
ship -rw-r--r-- usr/share/man/man8/postmeter-pixelfilter.8.gz
ship -rw-r--r-- usr/share/doc/postmeter/README.Debian.gz
ship -rw-r--r-- usr/share/doc/postmeter/copyright
ship -rw-r--r-- usr/share/doc/postmeter/examples/nginx-tracker.conf
ship -rw-r--r-- usr/share/doc/postmeter/examples/postfix-main.cf.snippet
ship -rw-r--r-- usr/share/doc/postmeter/examples/postfix-master.cf.snippet
# every program has a man page (of any section)
progs=0
while read -r mode path; do
    progs=$((progs + 1))
    name="${path##*/}"
    if grep -qE "^\./usr/share/man/man[1-8]/$name\.[1-8]\.gz$" <(awk '{print $6}' "$tmp/contents"); then
        ok "$path has a man page"
    else
        bad "$path ($mode) has no man page"
    fi
done < <(awk '$1 ~ /^-..x/ {print $1, $6}' "$tmp/contents")
[ "$progs" -ge 4 ] || bad "only $progs executables in the package"
if awk '{print $2}' "$tmp/contents" | grep -vqx root/root; then
    bad "files not owned by root: $(awk '$2 != "root/root" {print $6}' "$tmp/contents" | tr '\n' ' ')"
else
    ok "every file is owned by root"
fi
for never in ./usr/local/ ./usr/sbin/postmeter-pixelfilter ./var/ ./usr/lib/x86_64-linux-gnu/; do
    if awk '{print $6}' "$tmp/contents" | grep -qF -- "$never"; then
        bad "the package ships $never"
    else
        ok "the package ships nothing at $never"
    fi
done
mkdir "$tmp/ctl"
dpkg-deb -e "$deb" "$tmp/ctl"
if [ "$(sort "$tmp/ctl/conffiles" 2>/dev/null | tr '\n' ' ')" = "/etc/default/postmeter /etc/postmeter/postmeter.conf " ]; then
    ok "the conffiles are /etc/postmeter/postmeter.conf and /etc/default/postmeter"
else
    bad "conffiles: '$(cat "$tmp/ctl/conffiles" 2>/dev/null)'"
fi

# -- 3. what the binaries of the package say ----------------------------------------
root="$tmp/root"
dpkg-deb -x "$deb" "$root"
if out="$("$root/usr/sbin/postmeter-milter" -h 2>&1)" &&
    grep -qF "(default /etc/postmeter/postmeter.conf)" <<<"$out"; then
    ok "postmeter-milter -h names /etc/postmeter/postmeter.conf"
else
    bad "postmeter-milter -h: $out"
fi
defaults="$("$root/usr/bin/postmeter" config defaults)"
for want in "#database = /var/lib/postmeter/postmeter.db" \
    "#milter_socket = unix:/var/spool/postfix/postmeter/milter.sock" \
    "#dkim_key_dir = /etc/postmeter/keys" \
    "#pixel_module = /usr/lib/postmeter/postmeter-pixel.so" \
    "#tracker_networks_file = /usr/share/postmeter/machine-networks" \
    "#tracker_networks_dir = /etc/postmeter/machine-networks.d"; do
    if grep -qxF -- "$want" <<<"$defaults"; then
        ok "postmeter config defaults: $want"
    else
        bad "postmeter config defaults lacks $want"
    fi
done
# the defaults that name a file of the package: the package has it
for key in pixel_module tracker_networks_file tracker_networks_dir; do
    path="$(sed -n "s/^#$key = //p" <<<"$defaults")"
    if [ -n "$path" ] && [ -e "$root$path" ]; then
        ok "$key's default $path is in the package"
    else
        bad "$key's default '$path' is not in the package"
    fi
done
conf="$root/etc/postmeter/postmeter.conf"
keys=0
while IFS= read -r line; do
    keys=$((keys + 1))
    if [ "$line" = "#user = postmeter" ]; then
        if grep -qx "user = _postmeter" "$conf"; then
            ok "conffile sets user = _postmeter"
        else
            bad "conffile does not set user = _postmeter"
        fi
    elif ! grep -qxF -- "$line" "$conf"; then
        bad "conffile lacks '$line' (postmeter config defaults prints it)"
    fi
done < <(grep -E '^#[a-z_]+ = ' <<<"$defaults")
if [ "$keys" -ge 40 ]; then
    ok "conffile has each of the $keys keys of postmeter config defaults"
else
    bad "postmeter config defaults printed only $keys keys"
fi
active="$(grep -vE '^(#|$)' "$conf" || true)"
if [ "$active" = "user = _postmeter" ]; then
    ok "the conffile sets only user"
else
    bad "the conffile sets more than user: $active"
fi
version="$(dpkg-deb -f "$deb" Version)"
project="$(sed -n 's/^project(postmeter VERSION \([0-9.]*\) .*/\1/p' "$src/CMakeLists.txt")"
milter_v="$("$root/usr/sbin/postmeter-milter" -V)"
if [ "$version" = "$project" ] && [ "$milter_v" = "postmeter-milter $version" ]; then
    ok "package version $version = CMake project version = postmeter-milter -V"
else
    bad "versions differ: package '$version', CMakeLists.txt '$project', -V '$milter_v'"
fi

# -- 4. sysusers.d and tmpfiles.d on an empty root ---------------------------------
r2="$tmp/sysroot"
mkdir -p "$r2/etc" "$r2/var/spool/postfix" "$r2/usr/lib"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$r2/etc/passwd"
printf 'root:x:0:\npostfix:x:4711:\n' >"$r2/etc/group"
cp -a "$root/usr/lib/sysusers.d" "$root/usr/lib/tmpfiles.d" "$r2/usr/lib/"
if systemd-sysusers --root="$r2" postmeter.conf >"$tmp/sysusers.log" 2>&1 &&
    systemd-tmpfiles --root="$r2" --create postmeter.conf >"$tmp/tmpfiles.log" 2>&1; then
    ok "systemd-sysusers and systemd-tmpfiles --create ran"
else
    cat "$tmp/sysusers.log" "$tmp/tmpfiles.log"
    bad "systemd-sysusers / systemd-tmpfiles failed"
fi
uid="$(awk -F: '$1 == "_postmeter" {print $3}' "$r2/etc/passwd")"
gid="$(awk -F: '$1 == "_postmeter" {print $3}' "$r2/etc/group")"
shell="$(awk -F: '$1 == "_postmeter" {print $7}' "$r2/etc/passwd")"
if [ -n "$uid" ] && [ -n "$gid" ] && [ "$uid" -lt 1000 ] && [ "$uid" -gt 0 ] &&
    [ "$shell" = /usr/sbin/nologin ]; then
    ok "system user _postmeter ($uid:$gid, nologin)"
else
    bad "no system user _postmeter: uid '$uid' gid '$gid' shell '$shell'"
fi
# dir PATH MODE UID GID
dir() {
    local have
    have="$(stat -c '%F %a %u %g' "$r2$1" 2>/dev/null || echo missing)"
    if [ "$have" = "directory $2 $3 $4" ]; then
        ok "$1 is a directory $2 $3:$4"
    else
        bad "$1: want directory $2 $3:$4, have $have"
    fi
}
dir /var/lib/postmeter 750 "${uid:-x}" "${gid:-x}"
dir /var/spool/postfix/postmeter 2750 "${uid:-x}" 4711

# -- 5. the units ------------------------------------------------------------------
# verify under a root of the package's files, with the targets the units
# need, /bin/kill (ExecReload) and /bin/sh (the report's ExecStart) from
# this system, and the package's man pages
vroot="$tmp/vroot"
cp -a "$root" "$vroot"
mkdir -p "$vroot/bin" "$vroot/etc/systemd/system"
cp /lib/systemd/system/*.target "$vroot/lib/systemd/system/"
cp /bin/kill "$vroot/bin/kill"
cp -L /bin/sh "$vroot/bin/sh" # postmeter-report.service's ExecStart
for unit in postmeter-milter.service postmeter-tracker.service postmeter-prune.service \
    postmeter-prune.timer postmeter-report.service postmeter-report.timer; do
    rc=0
    out="$(MANPATH="$vroot/usr/share/man" systemd-analyze verify --root="$vroot" \
        "/lib/systemd/system/$unit" 2>&1)" || rc=$?
    if [ "$rc" -eq 0 ] && [ -z "$out" ]; then
        ok "systemd-analyze verify $unit: clean"
    else
        bad "systemd-analyze verify $unit (exit $rc): $out"
    fi
    [ "${unit%.timer}" = "$unit" ] || continue # security rates services only
    # the summary mail's unit runs Postfix's setgid postdrop: its own, documented limit
    limit="$THRESHOLD" limit_x10="$THRESHOLD_X10"
    if [ "$unit" = postmeter-report.service ]; then
        limit="$REPORT_THRESHOLD" limit_x10="$REPORT_THRESHOLD_X10"
    fi
    rc=0
    out="$(systemd-analyze security --offline=true --threshold=100 "$root/lib/systemd/system/$unit" \
        2>&1)" || rc=$?
    level="$(sed -n 's/^→ Overall exposure level for [^:]*: \([0-9][0-9.]*\) .*/\1/p' <<<"$out")"
    if [ "$rc" -eq 0 ] && [ -n "$level" ] && awk -v l="$level" -v t="$limit" 'BEGIN {exit !(l <= t)}'; then
        ok "systemd-analyze security $unit: exposure $level <= $limit"
    else
        grep -F '✗' <<<"$out" || true
        bad "systemd-analyze security $unit: exposure '${level:-unparsed}' (exit $rc), want <= $limit"
    fi
    rc=0
    systemd-analyze security --offline=true --threshold="$limit_x10" \
        "$root/lib/systemd/system/$unit" >/dev/null 2>&1 || rc=$?
    if [ "$rc" -eq 0 ]; then
        ok "systemd-analyze security --threshold=$limit_x10 ($limit) $unit exits 0"
    else
        bad "systemd-analyze security --threshold=$limit_x10 ($limit) $unit exits $rc"
    fi
done
# postmeter-report.service: none of the settings that set no_new_privs
# (systemd.exec(5), NoNewPrivileges=; they would make postdrop's setgid
# void and no mail would go), nor PrivateUsers= (an unmapped group does
# the same); its documented rating is the one REPORT_THRESHOLD holds
runit="$root/lib/systemd/system/postmeter-report.service"
nnp="$(grep -oE '^(NoNewPrivileges|DynamicUser|LockPersonality|MemoryDenyWriteExecute|PrivateDevices|ProtectClock|ProtectHostname|ProtectKernelLogs|ProtectKernelModules|ProtectKernelTunables|RestrictAddressFamilies|RestrictNamespaces|RestrictRealtime|RestrictSUIDSGID|SystemCallArchitectures|SystemCallFilter|SystemCallLog|PrivateUsers)=' \
    "$runit" | tr '\n' ' ' || true)"
if [ -z "$nnp" ]; then
    ok "postmeter-report.service sets nothing that makes postdrop's setgid void"
else
    bad "postmeter-report.service sets $nnp: Postfix's setgid postdrop then cannot queue the mail"
fi
if grep -qF "rates it $REPORT_THRESHOLD" "$runit" &&
    grep -qF "rates it $REPORT_THRESHOLD" <(zcat "$root/usr/share/doc/postmeter/README.Debian.gz"); then
    ok "the report unit's header and README.Debian state its rating $REPORT_THRESHOLD"
else
    bad "the report unit's header or README.Debian do not state its rating $REPORT_THRESHOLD"
fi

# ProtectSystem=strict leaves each unit only StateDirectory= and
# ReadWritePaths= to write: every file its daemon writes with the
# defaults must be under one (database, -wal, -shm, the spool, the
# milter's journals and status file, the tracker's spool, the socket)
db="$(sed -n 's/^#database = //p' <<<"$defaults")"
spool="$(sed -n 's/^#ledger_spool = //p' <<<"$defaults")"
spool="${spool:-$db.spool}"
sock="$(sed -n 's/^#milter_socket = unix://p' <<<"$defaults")"
# writable UNIT PATH... - each PATH is under a writable directory of UNIT
writable() {
    local name="$1" unit="$root/lib/systemd/system/$1" dirs path d under
    shift
    # StateDirectory= names are under /var/lib, ReadWritePaths= are absolute
    dirs="$(sed -n 's/^StateDirectory=//p' "$unit" | tr ' ' '\n' | sed '/^$/d; s|^|/var/lib/|'
        sed -n 's/^ReadWritePaths=//p' "$unit" | tr ' ' '\n' | sed '/^$/d; s/^-//')"
    for path in "$@"; do
        under=""
        for d in $dirs; do
            case "$path" in "$d"/*) under="$d" ;; esac
        done
        if [ -n "$under" ]; then
            ok "$name may write $path (under $under)"
        else
            bad "$name cannot write $path: not under StateDirectory= or ReadWritePaths= ($dirs)"
        fi
    done
}
writable postmeter-milter.service "$db" "$db-wal" "$db-shm" "$spool" "$spool.journal.0" \
    "$spool.journal.1" "$db.milter-status" "$sock"
writable postmeter-tracker.service "$db" "$db-wal" "$db-shm" "$spool.tracker"
writable postmeter-prune.service "$db" "$db-wal" "$db-shm"
writable postmeter-report.service "$db" "$db-wal" "$db-shm" /var/spool/postfix/maildrop/QUEUEFILE
# README.Debian's Hardening section tells how to move them, for every unit that writes
# (its text up to the next underlined title, on one line)
hardening="$(awk '/^Hardening$/ {on = 1; n = 0} on && /^-+$/ && ++n > 1 {exit} on {print}' \
    <(zcat "$root/usr/share/doc/postmeter/README.Debian.gz") | tr -s '\n ' '  ')"
for unit in postmeter-milter postmeter-tracker postmeter-prune postmeter-report; do
    if grep -qF "\"systemctl edit $unit\"" <<<"$hardening"; then
        ok "README.Debian's Hardening: a moved database needs a drop-in for $unit"
    else
        bad "README.Debian's Hardening does not say $unit needs ReadWritePaths= for a moved database"
    fi
done
if grep -qF 'ledger_spool' <<<"$hardening"; then
    ok "README.Debian's Hardening names ledger_spool"
else
    bad "README.Debian's Hardening does not name ledger_spool (the spool and journals move with it)"
fi

# -- 6. maintainer scripts ---------------------------------------------------------
if grep -qx '    rm -rf /etc/postmeter /var/lib/postmeter /var/spool/postfix/postmeter' \
    "$tmp/ctl/postrm"; then
    ok "postrm purge removes /etc/postmeter, /var/lib/postmeter, /var/spool/postfix/postmeter"
else
    bad "postrm does not remove the configuration, database and socket directories on purge"
fi
if grep -q "deb-systemd-helper enable 'postmeter-milter.service'" "$tmp/ctl/postinst" &&
    grep -q "systemd-sysusers .*postmeter.conf" "$tmp/ctl/postinst" &&
    grep -q "systemd-tmpfiles .*--create postmeter.conf" "$tmp/ctl/postinst"; then
    ok "postinst makes the user, the directories, and enables postmeter-milter"
else
    bad "postinst lacks sysusers, tmpfiles or the milter's enable"
fi
if grep -q "if deb-systemd-helper debian-installed 'postmeter-tracker.service'" \
    "$tmp/ctl/postinst"; then
    ok "postinst leaves postmeter-tracker disabled on a new installation"
else
    bad "postinst enables postmeter-tracker on installation"
fi
if grep -q "if deb-systemd-helper debian-installed 'postmeter-prune.timer'" "$tmp/ctl/postinst" &&
    ! grep -q "postmeter-prune.service" "$tmp/ctl/postinst"; then
    ok "postinst leaves postmeter-prune.timer disabled and never starts postmeter-prune.service"
else
    bad "postinst enables postmeter-prune.timer or starts postmeter-prune.service"
fi
# the prune service: the package's postmeter, the age from /etc/default/postmeter (default 90d)
punit="$root/lib/systemd/system/postmeter-prune.service"
# shellcheck disable=SC2016 # the unit's own ${POSTMETER_PRUNE_AGE}
if grep -qx 'ExecStart=/usr/bin/postmeter prune --older-than ${POSTMETER_PRUNE_AGE}' "$punit" &&
    grep -qx 'Environment=POSTMETER_PRUNE_AGE=90d' "$punit" &&
    grep -qx 'EnvironmentFile=-/etc/default/postmeter' "$punit" &&
    grep -qx 'POSTMETER_PRUNE_AGE=90d' "$root/etc/default/postmeter" &&
    grep -qx 'User=_postmeter' "$punit" && grep -qx 'Type=oneshot' "$punit"; then
    ok "postmeter-prune.service: oneshot as _postmeter, prune --older-than \$POSTMETER_PRUNE_AGE (90d)"
else
    bad "postmeter-prune.service: ExecStart, Environment, EnvironmentFile or User unexpected"
fi
if grep -qx 'OnCalendar=daily' "$root/lib/systemd/system/postmeter-prune.timer"; then
    ok "postmeter-prune.timer: daily"
else
    bad "postmeter-prune.timer is not daily"
fi
# the report timer: installed, not enabled, its oneshot service never started
if grep -q "if deb-systemd-helper debian-installed 'postmeter-report.timer'" "$tmp/ctl/postinst" &&
    ! grep -q "postmeter-report.service" "$tmp/ctl/postinst"; then
    ok "postinst leaves postmeter-report.timer disabled and never starts postmeter-report.service"
else
    bad "postinst enables postmeter-report.timer or starts postmeter-report.service"
fi
# the report service: the summary of 24 h to POSTMETER_REPORT_TO, empty by default
# shellcheck disable=SC2016 # the unit's own $${POSTMETER_REPORT_TO}
if grep -qF 'exec /usr/bin/postmeter report summary --since 24h --mail-to "$${POSTMETER_REPORT_TO}"' \
    "$runit" && grep -qx 'Environment=POSTMETER_REPORT_TO=' "$runit" &&
    grep -qx 'EnvironmentFile=-/etc/default/postmeter' "$runit" &&
    grep -qx 'POSTMETER_REPORT_TO=' "$root/etc/default/postmeter" &&
    grep -qx 'User=_postmeter' "$runit" && grep -qx 'Type=oneshot' "$runit" &&
    grep -qx 'ReadWritePaths=/var/spool/postfix/maildrop' "$runit"; then
    ok "postmeter-report.service: oneshot as _postmeter, report summary --since 24h --mail-to \$POSTMETER_REPORT_TO (empty)"
else
    bad "postmeter-report.service: ExecStart, Environment, EnvironmentFile, User or ReadWritePaths unexpected"
fi
if grep -qE '^OnCalendar=' "$root/lib/systemd/system/postmeter-report.timer" &&
    grep -qx 'WantedBy=timers.target' "$root/lib/systemd/system/postmeter-report.timer"; then
    ok "postmeter-report.timer: $(sed -n 's/^OnCalendar=//p' "$root/lib/systemd/system/postmeter-report.timer")"
else
    bad "postmeter-report.timer has no OnCalendar= or is not wanted by timers.target"
fi
# the completion file is the source tree's
if cmp -s "$root/usr/share/bash-completion/completions/postmeter" \
    "$src/packaging/bash-completion/postmeter"; then
    ok "the bash completion is packaging/bash-completion/postmeter"
else
    bad "the packaged bash completion differs from packaging/bash-completion/postmeter"
fi

finish

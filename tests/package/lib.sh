# lib.sh - what the package tests that work in an mmdebstrap chroot share
# (sourced by test_install.sh and test_upgrade.sh; not run by itself).
#
#   ok / bad / finish          count and print results; finish exits 0 only
#                              if something passed and nothing failed
#   pm_setup NAME              $tmp (a new /tmp/pmtest-NAME.XXXXXX) and the
#                              chroot path $C; a trap that stops what the
#                              helpers started, unmounts /proc, removes $tmp
#   pm_mmdebstrap DEB PKGS     a bookworm chroot (variant apt, deb.debian.org)
#                              with Postfix, swaks, procps, PKGS and DEB; /proc
#   in_chroot CMD...           run CMD in the chroot
#   statis PATH WANT           stat -c '%F %a %U %G' of PATH in the chroot is WANT
#   pm_milter_start            postmeter-milter as its installed unit starts it
#                              (User=, Group=, UMask=, ExecStart=, through
#                              setpriv: systemd is not PID 1 here); waits for
#                              the socket; $milter_pid
#   pm_milter_stop             SIGTERM and wait
#   pm_postfix_start           Debian's master.cf (smtpd, cleanup chrooted), its
#                              smtp listener on a free loopback port ($port),
#                              README.Debian's three main.cf lines; started
#   pm_send SUBJECT            a message through smtpd; $qid its queue id
#                              ("" if refused), $swaks_out swaks's output
#   pm_ledger_has QID          wait up to 10 s for QID in "postmeter report
#                              messages"; $rows what it printed last
#   pm_unit_run UNITFILE [S]   a oneshot unit's ExecStart= in the chroot as
#                              systemd would run it (below), killed after S
#                              seconds (default 120); $unit_out its output,
#                              $unit_rc its exit status
# shellcheck shell=bash disable=SC2034 # the variables are for the sourcing test

passed=0
failed=0
milter_pid=""
port=""
qid=""
rows=""
swaks_out=""
unit_out=""
unit_rc=0

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

# shellcheck disable=SC2317 # called by the trap
pm_cleanup() {
    if [ -n "$milter_pid" ]; then
        kill "$milter_pid" 2>/dev/null || true
    fi
    if [ -x "$C/usr/sbin/postfix" ] && mountpoint -q "$C/proc"; then
        chroot "$C" postfix stop >/dev/null 2>&1 || true
    fi
    if mountpoint -q "$C/proc"; then
        umount "$C/proc" || umount -l "$C/proc"
    fi
    rm -rf "$tmp"
}

pm_setup() {
    tmp="$(mktemp -d "/tmp/pmtest-$1.XXXXXX")"
    C="$tmp/chroot"
    trap pm_cleanup EXIT
    for tool in mmdebstrap setpriv mountpoint dpkg-deb; do
        command -v "$tool" >/dev/null || {
            bad "$tool is not installed (packaging/debian-packages.txt lists its package)"
            finish
        }
    done
}

in_chroot() {
    chroot "$C" "$@"
}

pm_mmdebstrap() {
    local deb="$1" extra="${2:-}" start=$SECONDS
    if mmdebstrap --variant=apt --hook-dir=/usr/share/mmdebstrap/hooks/file-mirror-automount \
        --include="postfix,swaks,procps${extra:+,$extra}" --include="$deb" bookworm "$C" \
        >"$tmp/mmdebstrap.log" 2>&1; then
        ok "mmdebstrap bookworm with postfix and ${deb##*/} in $((SECONDS - start)) s"
    else
        tail -n 40 "$tmp/mmdebstrap.log"
        bad "mmdebstrap failed"
        finish
    fi
    mount -t proc proc "$C/proc"
}

statis() {
    local have
    have="$(in_chroot stat -c '%F %a %U %G' "$1" 2>&1 || true)"
    if [ "$have" = "$2" ]; then
        ok "$1: $2"
    else
        bad "$1: want $2, have $have"
    fi
}

pm_milter_start() {
    local unit="$C/lib/systemd/system/postmeter-milter.service" user group umask_ exec_start
    user="$(sed -n 's/^User=//p' "$unit")"
    group="$(sed -n 's/^Group=//p' "$unit")"
    umask_="$(sed -n 's/^UMask=//p' "$unit")"
    exec_start="$(sed -n 's/^ExecStart=//p' "$unit")"
    if [ -n "$user" ] && [ -n "$group" ] && [ -n "$umask_" ] && [ -n "$exec_start" ]; then
        ok "the unit runs '$exec_start' as $user:$group with umask $umask_"
    else
        bad "cannot read User=, Group=, UMask=, ExecStart= from the unit"
        finish
    fi
    chroot "$C" setpriv --reuid="$user" --regid="$group" --clear-groups --inh-caps=-all \
        sh -c "umask $umask_ && exec $exec_start" >>"$tmp/milter.log" 2>&1 &
    milter_pid=$!
    for _ in $(seq 100); do
        [ -S "$C/var/spool/postfix/postmeter/milter.sock" ] && break
        sleep 0.1
    done
    statis /var/spool/postfix/postmeter/milter.sock "socket 660 _postmeter postfix"
}

pm_milter_stop() {
    if [ -n "$milter_pid" ]; then
        kill "$milter_pid"
        wait "$milter_pid" || true
        milter_pid=""
    fi
}

pm_postfix_start() {
    port="$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    if grep -qE '^smtp +inet +n +- +y ' "$C/etc/postfix/master.cf" &&
        grep -qE '^cleanup +unix +n +- +y ' "$C/etc/postfix/master.cf"; then
        ok "Debian's master.cf runs smtpd and cleanup chrooted"
    else
        bad "master.cf: smtpd or cleanup not chrooted"
    fi
    sed -i -E "s/^smtp( +inet +n +- +y )/127.0.0.1:$port\1/" "$C/etc/postfix/master.cf"
    # shellcheck disable=SC2016 # main.cf's own $smtpd_milters
    in_chroot postconf -e 'inet_interfaces = 127.0.0.1' 'inet_protocols = ipv4' \
        'myhostname = pmtest.localdomain' 'mydestination = localhost' \
        'smtpd_milters = unix:postmeter/milter.sock' 'non_smtpd_milters = $smtpd_milters' \
        'milter_default_action = tempfail'
    in_chroot /usr/lib/postfix/configure-instance.sh - >/dev/null 2>&1 || true
    if in_chroot postfix start >"$tmp/postfix.log" 2>&1; then
        ok "postfix started, smtpd on 127.0.0.1:$port"
    else
        cat "$tmp/postfix.log"
        bad "postfix start"
    fi
    for _ in $(seq 50); do
        ss -ltn "sport = :$port" | grep -q LISTEN && break
        sleep 0.1
    done
}

pm_send() {
    swaks_out="$(in_chroot swaks --server "127.0.0.1:$port" --from sender@example.org \
        --to root@localhost --header "Subject: $1" --body 'hello' 2>&1 || true)"
    qid="$(sed -n 's/^<- *250 2.0.0 Ok: queued as \([0-9A-Za-z]*\)$/\1/p' <<<"$swaks_out")"
}

pm_ledger_has() {
    rows=""
    [ -n "$1" ] || return 1
    for _ in $(seq 50); do
        rows="$(in_chroot postmeter report messages --format csv 2>&1 || true)"
        grep -q "$1" <<<"$rows" && return 0
        sleep 0.2
    done
    return 1
}

# pm_unit_run UNITFILE - run a oneshot unit's ExecStart= in the chroot the
# way systemd (not PID 1 here) would, as far as it matters to what the
# command can do: Environment= then EnvironmentFile=, User=, Group=,
# UMask=, no supplementary groups, CapabilityBoundingSet= (empty: none),
# the no_new_privs flag when NoNewPrivileges=yes or any setting that sets
# it (systemd.exec(5)), and in a mount namespace of its own
# ProtectSystem=strict (the chroot read-only but StateDirectory= and
# ReadWritePaths=), PrivateTmp= and ProtectHome=. systemd's "$$" is the
# shell's "$"; "${VAR}" systemd would expand, the shell does the same
# here. In a PID namespace of its own whose first process is the
# command: when it ends, whatever it left running (a postdrop retrying
# forever) is killed, as systemd stops what is left in a oneshot unit's
# control group; after S seconds (default 120) all of it is killed.
# UNITFILE is a path on the host. Sets $unit_out and $unit_rc.
pm_unit_run() {
    local unit="$1" limit="${2:-120}" user group umask_ exec_start envs=() files=() line p privs=() mounts=""
    user="$(sed -n 's/^User=//p' "$unit")"
    group="$(sed -n 's/^Group=//p' "$unit")"
    umask_="$(sed -n 's/^UMask=//p' "$unit")"
    exec_start="$(sed -n 's/^ExecStart=//p' "$unit" | sed 's/\$\$/$/g')"
    while IFS= read -r line; do
        envs+=("$line")
    done < <(sed -n 's/^Environment=//p' "$unit")
    while IFS= read -r line; do
        files+=("$line")
    done < <(sed -n 's/^EnvironmentFile=//p' "$unit")
    if grep -qE '^(NoNewPrivileges=yes|(DynamicUser|LockPersonality|MemoryDenyWriteExecute|PrivateDevices|ProtectClock|ProtectHostname|ProtectKernelLogs|ProtectKernelModules|ProtectKernelTunables|RestrictNamespaces|RestrictRealtime|RestrictSUIDSGID)=yes|(RestrictAddressFamilies|SystemCallArchitectures|SystemCallFilter|SystemCallLog)=.)' \
        "$unit"; then
        privs+=(--no-new-privs)
    fi
    if grep -qx 'CapabilityBoundingSet=' "$unit"; then
        privs+=(--bounding-set=-all)
    fi
    # the writable paths are bound onto themselves before the chroot goes read-only
    if grep -qx 'ProtectSystem=strict' "$unit"; then
        for p in $(sed -n 's/^StateDirectory=//p' "$unit" | tr ' ' '\n' | sed '/^$/d; s|^|/var/lib/|') \
            $(sed -n 's/^ReadWritePaths=//p' "$unit" | tr ' ' '\n' | sed '/^$/d; s/^-//'); do
            mounts+="mount --bind '$C$p' '$C$p' && "
        done
        mounts+="mount -o remount,bind,ro '$C' && "
    fi
    if grep -qx 'PrivateTmp=yes' "$unit"; then
        mounts+="mount -t tmpfs tmpfs '$C/tmp' && mount -t tmpfs tmpfs '$C/var/tmp' && "
    fi
    if grep -qx 'ProtectHome=yes' "$unit"; then
        mounts+="mount -t tmpfs -o ro tmpfs '$C/root' && mount -t tmpfs -o ro tmpfs '$C/home' && "
    fi
    unit_rc=0
    # shellcheck disable=SC2016 # $1... are the inner shell's
    unit_out="$(timeout "$limit" unshare -m -p --fork --kill-child --propagation private sh -c "mount --rbind '$C' '$C' && $mounts"'
        exec chroot "$@"' sh "$C" setpriv --reuid="$user" --regid="$group" --clear-groups \
        --inh-caps=-all "${privs[@]}" \
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "${envs[@]}" \
        sh -c 'umask "$1"; cmd="$2"; shift 2; set -a; for f in "$@"; do
            case "$f" in -*) f="${f#-}"; [ -r "$f" ] || continue ;; esac; . "$f"; done
            set +a; exec sh -c "$cmd"' sh "$umask_" "$exec_start" "${files[@]}" 2>&1)" || unit_rc=$?
}

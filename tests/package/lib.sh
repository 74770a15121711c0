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
# shellcheck shell=bash disable=SC2034 # the variables are for the sourcing test

passed=0
failed=0
milter_pid=""
port=""
qid=""
rows=""
swaks_out=""

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

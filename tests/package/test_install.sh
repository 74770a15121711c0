#!/usr/bin/env bash
# test_install.sh - install the Debian package that test_deb.sh built
# (POSTMETER_DEB_DIR) in a fresh Debian 12 chroot, run mail through it,
# purge it.
#
#   1. mmdebstrap bookworm (variant apt) with postfix, swaks and the .deb
#      (from deb.debian.org: needs the network, as tests/run.sh's apt-get).
#   2. After installation: user _postmeter, /var/lib/postmeter 0750 and
#      /var/spool/postfix/postmeter 2750 _postmeter:postfix, the conffile,
#      postmeter-milter.service enabled, postmeter-tracker.service not.
#   3. postmeter-milter started as its unit says (User=, Group=, UMask=,
#      ExecStart= read from the installed unit; systemd is not PID 1
#      here, so setpriv does what systemd would): it listens on
#      /var/spool/postfix/postmeter/milter.sock, mode 0660 group postfix.
#   4. Postfix with Debian's master.cf (smtpd and cleanup chrooted; the
#      smtp listener moved to a free loopback port) and README.Debian's
#      three main.cf lines: a message goes through, and postmeter report
#      messages shows its queue id. With the milter stopped, smtpd answers
#      451 4.7.1 (milter_default_action = tempfail).
#   5. apt remove keeps config, database and socket directory; apt purge
#      removes them.
#
# Everything happens in a temporary directory; the chroot shares the
# host's network (loopback port only) and gets /proc mounted while it
# runs. The full integration mail tests (pmtest) against the installed
# paths are not here yet.
set -euo pipefail

debdir="${POSTMETER_DEB_DIR:?}"
tmp="$(mktemp -d /tmp/pmtest-install.XXXXXX)"
C="$tmp/chroot"
passed=0
failed=0
milter_pid=""

# shellcheck disable=SC2317 # called by the trap
cleanup() {
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
trap cleanup EXIT

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

# in_chroot CMD... - run CMD in the chroot
in_chroot() {
    chroot "$C" "$@"
}

# -- 1. the chroot -------------------------------------------------------------------
debs=("$debdir"/postmeter_*.deb)
if [ "${#debs[@]}" -ne 1 ] || [ ! -f "${debs[0]}" ]; then
    bad "no single postmeter_*.deb in $debdir (test_deb.sh builds it)"
    finish
fi
for tool in mmdebstrap setpriv mountpoint; do
    command -v "$tool" >/dev/null || {
        bad "$tool is not installed (packaging/debian-packages.txt lists its package)"
        finish
    }
done
cp "${debs[0]}" "$tmp/postmeter.deb"
start=$SECONDS
if mmdebstrap --variant=apt --hook-dir=/usr/share/mmdebstrap/hooks/file-mirror-automount \
    --include=postfix,swaks,procps --include="$tmp/postmeter.deb" bookworm "$C" \
    >"$tmp/mmdebstrap.log" 2>&1; then
    ok "mmdebstrap bookworm with postfix and ${debs[0]##*/} in $((SECONDS - start)) s"
else
    tail -n 40 "$tmp/mmdebstrap.log"
    bad "mmdebstrap failed"
    finish
fi
mount -t proc proc "$C/proc"

# -- 2. what the installation made -----------------------------------------------
if in_chroot getent passwd _postmeter | grep -q ':/usr/sbin/nologin$'; then
    ok "user _postmeter: $(in_chroot getent passwd _postmeter)"
else
    bad "no user _postmeter with /usr/sbin/nologin"
fi
# statis PATH WANT - stat -c '%F %a %U %G' of PATH in the chroot is WANT
statis() {
    local have
    have="$(in_chroot stat -c '%F %a %U %G' "$1" 2>&1 || true)"
    if [ "$have" = "$2" ]; then
        ok "$1: $2"
    else
        bad "$1: want $2, have $have"
    fi
}
statis /var/lib/postmeter "directory 750 _postmeter _postmeter"
statis /var/spool/postfix/postmeter "directory 2750 _postmeter postfix"
statis /etc/postmeter/postmeter.conf "regular file 644 root root"
# shellcheck disable=SC2016 # dpkg-query's ${Conffiles}
if in_chroot dpkg-query -W -f='${Conffiles}\n' postmeter | grep -q '^ /etc/postmeter/postmeter.conf '; then
    ok "/etc/postmeter/postmeter.conf is a conffile"
else
    bad "/etc/postmeter/postmeter.conf is not a conffile"
fi
wants="$C/etc/systemd/system/multi-user.target.wants"
if [ -L "$wants/postmeter-milter.service" ]; then
    ok "postmeter-milter.service is enabled"
else
    bad "postmeter-milter.service is not enabled"
fi
if [ -e "$wants/postmeter-tracker.service" ] || [ -L "$wants/postmeter-tracker.service" ]; then
    bad "postmeter-tracker.service is enabled (it needs tracking_base_url first)"
else
    ok "postmeter-tracker.service is not enabled"
fi

# -- 3. the milter, as its unit starts it -----------------------------------------
unit="$C/lib/systemd/system/postmeter-milter.service"
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
# shellcheck disable=SC2086 # ExecStart's words
chroot "$C" setpriv --reuid="$user" --regid="$group" --clear-groups --inh-caps=-all \
    sh -c "umask $umask_ && exec $exec_start" >"$tmp/milter.log" 2>&1 &
milter_pid=$!
sock=/var/spool/postfix/postmeter/milter.sock
for _ in $(seq 100); do
    [ -S "$C$sock" ] && break
    sleep 0.1
done
statis "$sock" "socket 660 _postmeter postfix"

# -- 4. mail through a chrooted smtpd ------------------------------------------------
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
out="$(in_chroot swaks --server "127.0.0.1:$port" --from sender@example.org \
    --to root@localhost --header 'Subject: pmtest install' --body 'hello' 2>&1 || true)"
qid="$(sed -n 's/^<- *250 2.0.0 Ok: queued as \([0-9A-Za-z]*\)$/\1/p' <<<"$out")"
if [ -n "$qid" ]; then
    ok "smtpd accepted the message through the milter: queue id $qid"
else
    echo "$out" | tail -n 15
    bad "smtpd did not queue the message"
fi
rows=""
for _ in $(seq 50); do
    rows="$(in_chroot postmeter report messages --format csv 2>&1 || true)"
    [ -n "$qid" ] && grep -q "$qid" <<<"$rows" && break
    sleep 0.2
done
if [ -n "$qid" ] && grep -q "$qid" <<<"$rows"; then
    ok "the ledger has $qid (postmeter report messages)"
else
    echo "$rows" | tail -n 5
    cat "$tmp/milter.log"
    bad "the ledger has no row for '$qid'"
fi
kill "$milter_pid"
wait "$milter_pid" || true
milter_pid=""
out="$(in_chroot swaks --server "127.0.0.1:$port" --from sender@example.org \
    --to root@localhost 2>&1 || true)"
if grep -qE '^<\*\* +451 4\.7\.1 ' <<<"$out"; then
    ok "milter stopped: smtpd answers 451 4.7.1 (milter_default_action = tempfail)"
else
    echo "$out" | tail -n 8
    bad "milter stopped: no 451 4.7.1"
fi
in_chroot postfix stop >/dev/null 2>&1 || true

# -- 5. remove, purge ----------------------------------------------------------------
kept=(/etc/postmeter/postmeter.conf /var/lib/postmeter/postmeter.db /var/spool/postfix/postmeter)
if in_chroot env DEBIAN_FRONTEND=noninteractive apt-get remove -y postmeter \
    >"$tmp/remove.log" 2>&1; then
    ok "apt-get remove postmeter"
else
    cat "$tmp/remove.log"
    bad "apt-get remove postmeter"
fi
for f in "${kept[@]}"; do
    if [ -e "$C$f" ]; then
        ok "remove keeps $f"
    else
        bad "remove deleted $f"
    fi
done
if in_chroot env DEBIAN_FRONTEND=noninteractive apt-get purge -y postmeter \
    >"$tmp/purge.log" 2>&1; then
    ok "apt-get purge postmeter"
else
    cat "$tmp/purge.log"
    bad "apt-get purge postmeter"
fi
for f in /etc/postmeter /var/lib/postmeter /var/spool/postfix/postmeter /usr/lib/postmeter \
    /usr/share/postmeter /usr/sbin/postmeter-milter "$wants/postmeter-milter.service"; do
    if [ -e "$C${f#"$C"}" ] || [ -L "$C${f#"$C"}" ]; then
        bad "purge left ${f#"$C"}"
    else
        ok "purge removed ${f#"$C"}"
    fi
done

finish

#!/usr/bin/env bash
# test_install.sh - install the Debian package that test_deb.sh built
# (POSTMETER_DEB_DIR) in a fresh Debian 12 chroot, run mail through it,
# purge it.
#
#   1. mmdebstrap bookworm (variant apt) with postfix, swaks and the .deb
#      (from deb.debian.org: needs the network, as tests/run.sh's apt-get).
#   2. After installation: user _postmeter, /var/lib/postmeter 0750 and
#      /var/spool/postfix/postmeter 2750 _postmeter:postfix, the conffile,
#      postmeter-milter.service enabled, postmeter-tracker.service and
#      postmeter-prune.timer not; /etc/default/postmeter a conffile; the
#      bash completion completes with the installed postmeter.
#   3. postmeter-milter started as its unit says (User=, Group=, UMask=,
#      ExecStart= read from the installed unit; systemd is not PID 1
#      here, so setpriv does what systemd would): it listens on
#      /var/spool/postfix/postmeter/milter.sock, mode 0660 group postfix.
#   4. Postfix with Debian's master.cf (smtpd and cleanup chrooted; the
#      smtp listener moved to a free loopback port) and README.Debian's
#      three main.cf lines: a message goes through, and postmeter report
#      messages shows its queue id. With the milter stopped, smtpd answers
#      451 4.7.1 (milter_default_action = tempfail). The prune service's
#      command, run as its unit runs it, keeps that young row.
#   4a. postmeter-report.service run as systemd would run it (pm_unit_run:
#      its user, no capability, no supplementary group, a read-only
#      system but its writable paths, no_new_privs if any of its settings
#      set it): with POSTMETER_REPORT_TO empty it exits 0 and says so;
#      with POSTMETER_REPORT_TO=pmadmin@localhost the summary mail goes
#      through Postfix's sendmail and setgid postdrop into
#      /var/mail/pmadmin. The same unit with NoNewPrivileges=yes added
#      sends nothing (the reason it has no such setting: the check would
#      pass for a unit that cannot mail otherwise).
#   4b. Modes a local user meets: /etc/postmeter, the database 0640, nothing
#      in /var/lib/postmeter or the socket directory open to others; a
#      DKIM key made by root (dkim keygen) 0640 root:_postmeter in a 0750
#      directory.
#   5. apt remove keeps config, database and socket directory, and warns
#      that main.cf still names the socket (all mail now defers); apt
#      purge removes them, but neither follows links the service user
#      planted in its directories nor touches a database the admin moved
#      to /srv, and the user _postmeter stays.
#
# Everything happens in a temporary directory; the chroot shares the
# host's network (loopback port only) and gets /proc mounted while it
# runs. DKIM signing, SPF/DKIM/DMARC and a DMARC reject through the
# installed package: test_install_mail.sh.
set -euo pipefail
# shellcheck source=tests/package/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

debdir="${POSTMETER_DEB_DIR:?}"
pm_setup install

# -- 1. the chroot -------------------------------------------------------------------
debs=("$debdir"/postmeter_*.deb)
if [ "${#debs[@]}" -ne 1 ] || [ ! -f "${debs[0]}" ]; then
    bad "no single postmeter_*.deb in $debdir (test_deb.sh builds it)"
    finish
fi
cp "${debs[0]}" "$tmp/postmeter.deb"
pm_mmdebstrap "$tmp/postmeter.deb"

# -- 2. what the installation made -----------------------------------------------
if in_chroot getent passwd _postmeter | grep -q ':/usr/sbin/nologin$'; then
    ok "user _postmeter: $(in_chroot getent passwd _postmeter)"
else
    bad "no user _postmeter with /usr/sbin/nologin"
fi
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
if [ -e "$C/etc/systemd/system/timers.target.wants/postmeter-report.timer" ]; then
    bad "postmeter-report.timer is enabled (the admin enables it)"
elif [ -f "$C/lib/systemd/system/postmeter-report.timer" ] &&
    [ -f "$C/lib/systemd/system/postmeter-report.service" ]; then
    ok "postmeter-report.timer and .service installed, the timer not enabled"
else
    bad "postmeter-report.timer or .service missing"
fi
if [ -e "$C/etc/systemd/system/timers.target.wants/postmeter-prune.timer" ]; then
    bad "postmeter-prune.timer is enabled (the admin enables it)"
elif [ -f "$C/lib/systemd/system/postmeter-prune.timer" ] &&
    [ -f "$C/lib/systemd/system/postmeter-prune.service" ]; then
    ok "postmeter-prune.timer and .service installed, the timer not enabled"
else
    bad "postmeter-prune.timer or .service missing"
fi
# shellcheck disable=SC2016 # dpkg-query's ${Conffiles}
if in_chroot dpkg-query -W -f='${Conffiles}\n' postmeter | grep -q '^ /etc/default/postmeter ' &&
    grep -qx 'POSTMETER_PRUNE_AGE=90d' "$C/etc/default/postmeter"; then
    ok "/etc/default/postmeter is a conffile with POSTMETER_PRUNE_AGE=90d"
else
    bad "/etc/default/postmeter: not a conffile, or no POSTMETER_PRUNE_AGE=90d"
fi
# the completion as bash runs it, with the installed postmeter
out="$(in_chroot bash -c '. /usr/share/bash-completion/completions/postmeter &&
    COMP_WORDS=(postmeter report summary --format ""); COMP_CWORD=4; _postmeter;
    echo "${COMPREPLY[*]}"' 2>&1 || true)"
if [ "$out" = "table html" ]; then
    ok "bash completion of the installed postmeter: report summary --format -> $out"
else
    bad "bash completion of the installed postmeter: '$out'"
fi

# -- 3. the milter, as its unit starts it -----------------------------------------
pm_milter_start

# -- 4. mail through a chrooted smtpd ------------------------------------------------
pm_postfix_start
pm_send "pmtest install"
if [ -n "$qid" ]; then
    ok "smtpd accepted the message through the milter: queue id $qid"
else
    echo "$swaks_out" | tail -n 15
    bad "smtpd did not queue the message"
fi
if pm_ledger_has "$qid"; then
    ok "the ledger has $qid (postmeter report messages)"
else
    echo "$rows" | tail -n 5
    cat "$tmp/milter.log"
    bad "the ledger has no row for '$qid'"
fi
# the prune service's command, as its unit runs it (user, EnvironmentFile)
# shellcheck disable=SC2016 # the unit's own ${POSTMETER_PRUNE_AGE}
unit="$C/lib/systemd/system/postmeter-prune.service"
exec_start="$(sed -n 's/^ExecStart=//p' "$unit")"
if [ "$(sed -n 's/^User=//p' "$unit")" = _postmeter ] &&
    [ "$exec_start" = '/usr/bin/postmeter prune --older-than ${POSTMETER_PRUNE_AGE}' ] &&
    grep -qx 'EnvironmentFile=-/etc/default/postmeter' "$unit" &&
    out="$(chroot "$C" setpriv --reuid=_postmeter --regid=_postmeter --clear-groups \
        --inh-caps=-all sh -c '. /etc/default/postmeter &&
        exec /usr/bin/postmeter prune --older-than "$POSTMETER_PRUNE_AGE"' 2>&1)" &&
    pm_ledger_has "$qid"; then
    ok "postmeter-prune.service's command as _postmeter: ran, kept the new row: $(tail -n 1 <<<"$out")"
else
    bad "postmeter-prune.service's command: $exec_start: ${out:-}"
fi
# -- 4a. the summary mail, as its unit runs it ---------------------------------------
runit="$C/lib/systemd/system/postmeter-report.service"
pm_unit_run "$runit"
if [ "$unit_rc" -eq 0 ] && grep -q 'POSTMETER_REPORT_TO is empty' <<<"$unit_out"; then
    ok "postmeter-report.service with no address: exit 0, '$unit_out'"
else
    bad "postmeter-report.service with no address: exit $unit_rc: $unit_out"
fi
in_chroot useradd -m pmadmin
# wait_mail N - wait up to 20 s for a summary mail number N in /var/mail/pmadmin
wait_mail() {
    for _ in $(seq 100); do
        [ "$(grep -c '^Subject: postmeter summary ' "$C/var/mail/pmadmin" 2>/dev/null)" -ge "$1" ] &&
            return 0
        sleep 0.2
    done
    return 1
}
if [ -s "$C/var/mail/pmadmin" ]; then
    bad "a mail reached /var/mail/pmadmin with no address set"
fi
sed -i 's/^POSTMETER_REPORT_TO=$/POSTMETER_REPORT_TO=pmadmin@localhost/' "$C/etc/default/postmeter"
pm_unit_run "$runit"
if [ "$unit_rc" -eq 0 ] && wait_mail 1 &&
    grep -qx 'Auto-Submitted: auto-generated' "$C/var/mail/pmadmin" &&
    grep -q '^Content-Type: multipart/alternative' "$C/var/mail/pmadmin" &&
    grep -qx 'To: pmadmin@localhost' "$C/var/mail/pmadmin"; then
    ok "postmeter-report.service as its unit runs it: the summary reached /var/mail/pmadmin ($(grep -m1 '^Subject:' "$C/var/mail/pmadmin"))"
else
    echo "$unit_out"
    tail -n 20 "$C/var/log/mail.log" 2>/dev/null || true
    bad "postmeter-report.service: exit $unit_rc, no summary in /var/mail/pmadmin"
fi
# the control: with no_new_privs postdrop's setgid is void and no mail goes
sed 's/^\[Service\]$/[Service]\nNoNewPrivileges=yes/' "$runit" >"$tmp/report-nnp.service"
# (postdrop retries for ever and the summary waits 60 s for sendmail: 15 s is enough)
pm_unit_run "$tmp/report-nnp.service" 15
if [ "$unit_rc" -ne 0 ] && ! wait_mail 2 &&
    grep -q '^postdrop: warning: mail_queue_enter: create file maildrop/.*: Permission denied' \
        <<<"$unit_out"; then
    ok "the control: with NoNewPrivileges=yes the same unit sends nothing (exit $unit_rc: $(grep -m1 '^postdrop' <<<"$unit_out"))"
else
    echo "$unit_out" | tail -n 5
    bad "the control: with NoNewPrivileges=yes the unit exits $unit_rc, a mail came or postdrop did not fail: the emulation does not apply no_new_privs"
fi
sed -i 's/^POSTMETER_REPORT_TO=.*/POSTMETER_REPORT_TO=/' "$C/etc/default/postmeter"

# -- 4b. what a local user, or the service user, can reach -----------------------------
statis /etc/postmeter "directory 755 root root"
statis /etc/postmeter/machine-networks.d "directory 755 root root"
statis /var/lib/postmeter/postmeter.db "regular file 640 _postmeter _postmeter"
# nothing of the ledger (spool, journals, -wal, -shm, status file) or the
# socket is open to others
open_="$(in_chroot find /var/lib/postmeter /var/spool/postfix/postmeter -perm /o=rwx \
    -printf '%p %m; ' 2>&1 || true)"
if [ -z "$open_" ] && [ -n "$(in_chroot find /var/lib/postmeter -name 'postmeter.db*')" ]; then
    ok "no file in /var/lib/postmeter or the socket directory is open to others"
else
    bad "open to others: ${open_:-no postmeter.db*}"
fi
# a DKIM key made by root: its directory and file root's, the milter's group may read
if in_chroot postmeter dkim keygen example.org --algorithm ed25519 >"$tmp/keygen.log" 2>&1; then
    ok "postmeter dkim keygen example.org as root"
else
    cat "$tmp/keygen.log"
    bad "postmeter dkim keygen example.org"
fi
statis /etc/postmeter/keys "directory 750 root _postmeter"
key="$(in_chroot find /etc/postmeter/keys -type f -print -quit)"
statis "${key:-/etc/postmeter/keys/(no key file)}" "regular file 640 root _postmeter"
pm_milter_stop
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
# What purge must leave alone: root's files that the (hostile) service user
# points links at from its own directories, and the database an admin
# moved out (database = /srv/postmeter/postmeter.db), which stays with its
# owner _postmeter (the user is kept).
mkdir -p "$C/srv/victim/sub"
echo keep >"$C/srv/victim/sub/file"
in_chroot install -d -o _postmeter -g _postmeter -m 0750 /srv/postmeter
if chroot "$C" setpriv --reuid=_postmeter --regid=_postmeter --clear-groups --inh-caps=-all \
    sh -c 'ln -s /srv/victim /var/lib/postmeter/link && mkdir /var/lib/postmeter/d &&
        ln -s /srv/victim/sub /var/lib/postmeter/d/sub &&
        ln -s /srv/victim /var/spool/postfix/postmeter/link &&
        cp /var/lib/postmeter/postmeter.db /srv/postmeter/postmeter.db' 2>"$tmp/plant.log" &&
    sed -i 's|^#database = .*|database = /srv/postmeter/postmeter.db|' \
        "$C/etc/postmeter/postmeter.conf"; then
    ok "as _postmeter: links to /srv/victim in its directories; the database moved to /srv/postmeter"
else
    bad "planting links as _postmeter: $(cat "$tmp/plant.log")"
fi
kept=(/etc/postmeter/postmeter.conf /var/lib/postmeter/postmeter.db /var/spool/postfix/postmeter)
if in_chroot env DEBIAN_FRONTEND=noninteractive apt-get remove -y postmeter \
    >"$tmp/remove.log" 2>&1; then
    ok "apt-get remove postmeter"
else
    cat "$tmp/remove.log"
    bad "apt-get remove postmeter"
fi
# main.cf still names the socket: with milter_default_action = tempfail
# Postfix now defers every message, so the removal says so
if grep -qF "postmeter: /etc/postfix/main.cf still names unix:postmeter/milter.sock" \
    "$tmp/remove.log"; then
    ok "apt-get remove warns that main.cf still names the milter's socket"
else
    bad "apt-get remove is silent about smtpd_milters = unix:postmeter/milter.sock (all mail now defers)"
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
    /usr/share/postmeter /usr/sbin/postmeter-milter "$wants/postmeter-milter.service" \
    /etc/default/postmeter /usr/share/bash-completion/completions/postmeter; do
    if [ -e "$C${f#"$C"}" ] || [ -L "$C${f#"$C"}" ]; then
        bad "purge left ${f#"$C"}"
    else
        ok "purge removed ${f#"$C"}"
    fi
done
if [ "$(cat "$C/srv/victim/sub/file" 2>/dev/null)" = keep ] && [ -d "$C/srv/victim" ]; then
    ok "purge removed the service user's links, not what they point at"
else
    bad "purge followed a link of the service user into /srv/victim"
fi
if [ -f "$C/srv/postmeter/postmeter.db" ] && in_chroot getent passwd _postmeter >/dev/null; then
    ok "purge left the moved database /srv/postmeter/postmeter.db and its owner _postmeter"
else
    bad "purge removed /srv/postmeter/postmeter.db or the user _postmeter"
fi

finish

#!/usr/bin/env bash
# test_upgrade.sh - upgrade an installed postmeter to the package
# test_deb.sh built (POSTMETER_DEB_DIR): rows, configuration and the
# milter survive.
#
#   1. The "old" package: the new .deb repacked with a lower version
#      (VERSION~pmtest1; same files, so the upgrade runs the real
#      maintainer scripts of both in the order dpkg runs them: old prerm,
#      new preinst, unpack, old postrm, new postinst), installed in a
#      bookworm chroot (mmdebstrap, as test_install.sh; tests/package/lib.sh).
#   2. Rows written through it: a message through a chrooted Postfix and
#      the milter (started as its unit starts it), a tracking rule by
#      "postmeter track add". The admin changes the conffile
#      (log_subject = yes) and /etc/default/postmeter
#      (POSTMETER_PRUNE_AGE=30d).
#   3. apt-get install of the new .deb over it while the old milter runs:
#      the version is the new one, both files keep the admin's changes
#      with no .dpkg-dist or .dpkg-new next to them, the message and the
#      rule are still there, "postmeter db check" says the schema is
#      current and the database is sound; the new postinst restarts the
#      milter on upgrade (systemd is not PID 1 here: the test does that
#      restart, as the unit would) and the new milter answers: a second
#      message goes through and is recorded with its subject, which only
#      the admin's kept log_subject = yes stores.
#
# Takes about a minute (mmdebstrap from deb.debian.org); everything in a
# temporary directory.
set -euo pipefail
# shellcheck source=tests/package/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

debdir="${POSTMETER_DEB_DIR:?}"
pm_setup upgrade

# -- 1. the old package, installed ------------------------------------------------------
debs=("$debdir"/postmeter_*.deb)
if [ "${#debs[@]}" -ne 1 ] || [ ! -f "${debs[0]}" ]; then
    bad "no single postmeter_*.deb in $debdir (test_deb.sh builds it)"
    finish
fi
new="$(dpkg-deb -f "${debs[0]}" Version)"
old="$new~pmtest1"
dpkg-deb -R "${debs[0]}" "$tmp/old"
sed -i "s/^Version: .*/Version: $old/" "$tmp/old/DEBIAN/control"
dpkg-deb --root-owner-group -b "$tmp/old" "$tmp/postmeter-old.deb" >/dev/null
if dpkg --compare-versions "$old" lt "$new" &&
    [ "$(dpkg-deb -f "$tmp/postmeter-old.deb" Version)" = "$old" ]; then
    ok "old package $old, lower than $new"
else
    bad "could not make a package of a lower version than $new"
    finish
fi
pm_mmdebstrap "$tmp/postmeter-old.deb"
if [ "$(in_chroot dpkg-query -W -f='${Version}' postmeter)" = "$old" ]; then
    ok "postmeter $old installed"
else
    bad "postmeter $old is not installed"
fi

# -- 2. rows and the admin's changes ------------------------------------------------------
pm_milter_start
pm_postfix_start
pm_send "pmtest before upgrade"
qid1="$qid"
if pm_ledger_has "$qid1"; then
    ok "old package: the ledger has $qid1"
else
    echo "$swaks_out" | tail -n 8
    bad "old package: no ledger row for '$qid1'"
fi
if in_chroot postmeter track add news@example.org --note pmtest-upgrade >/dev/null 2>&1; then
    ok "old package: tracking rule added"
else
    bad "old package: postmeter track add failed"
fi
printf '\n# changed by the admin\nlog_subject = yes\n' >>"$C/etc/postmeter/postmeter.conf"
sed -i 's/^POSTMETER_PRUNE_AGE=.*/POSTMETER_PRUNE_AGE=30d/' "$C/etc/default/postmeter"
conf_sum="$(md5sum <"$C/etc/postmeter/postmeter.conf")"
default_sum="$(md5sum <"$C/etc/default/postmeter")"

# -- 3. the upgrade -----------------------------------------------------------------
cp "${debs[0]}" "$C/tmp/postmeter-new.deb"
if in_chroot env DEBIAN_FRONTEND=noninteractive apt-get install -y /tmp/postmeter-new.deb \
    >"$tmp/upgrade.log" 2>&1 </dev/null; then
    ok "apt-get install of $new over $old"
else
    tail -n 30 "$tmp/upgrade.log"
    bad "apt-get install of the new package failed"
    finish
fi
if [ "$(in_chroot dpkg-query -W -f='${Version} ${Status}' postmeter)" = "$new install ok installed" ]; then
    ok "postmeter $new installed"
else
    bad "after the upgrade: $(in_chroot dpkg-query -W -f='${Version} ${Status}' postmeter)"
fi
if [ "$(md5sum <"$C/etc/postmeter/postmeter.conf")" = "$conf_sum" ] &&
    grep -qx 'log_subject = yes' "$C/etc/postmeter/postmeter.conf"; then
    ok "the conffile keeps the admin's change"
else
    bad "the upgrade changed /etc/postmeter/postmeter.conf"
fi
if [ "$(md5sum <"$C/etc/default/postmeter")" = "$default_sum" ] &&
    grep -qx 'POSTMETER_PRUNE_AGE=30d' "$C/etc/default/postmeter"; then
    ok "/etc/default/postmeter keeps the admin's POSTMETER_PRUNE_AGE=30d"
else
    bad "the upgrade changed /etc/default/postmeter"
fi
left="$(find "$C/etc/postmeter" "$C/etc/default" -name '*.dpkg-*' 2>/dev/null)"
if [ -z "$left" ]; then
    ok "no .dpkg-dist, .dpkg-new or .dpkg-old files"
else
    bad "left by dpkg: $left"
fi
if pm_ledger_has "$qid1"; then
    ok "after the upgrade the ledger still has $qid1"
else
    echo "$rows" | tail -n 5
    bad "after the upgrade the ledger lost $qid1"
fi
if in_chroot postmeter track list --format csv 2>&1 | grep -q 'news@example.org.*pmtest-upgrade'; then
    ok "after the upgrade the tracking rule is still there"
else
    bad "after the upgrade the tracking rule is gone"
fi
check="$(in_chroot postmeter db check 2>&1 || true)"
if grep -qx 'integrity: ok' <<<"$check" && grep -qE '^schema version: [0-9]+ \(current\)$' <<<"$check"; then
    ok "postmeter db check: $(tr '\n' ' ' <<<"$check")"
else
    bad "postmeter db check: $check"
fi
# shellcheck disable=SC2016 # debhelper's own variable
if grep -q "_dh_action=restart" "$C/var/lib/dpkg/info/postmeter.postinst" &&
    grep -q "deb-systemd-invoke \$_dh_action 'postmeter-milter.service'" \
        "$C/var/lib/dpkg/info/postmeter.postinst"; then
    ok "the new postinst restarts postmeter-milter.service on upgrade"
else
    bad "the new postinst does not restart postmeter-milter.service on upgrade"
fi
if kill -0 "$milter_pid" 2>/dev/null; then
    ok "the old milter ran through the upgrade"
else
    bad "the old milter died during the upgrade"
fi
pm_milter_stop
pm_milter_start
pm_send "pmtest after upgrade"
qid2="$qid"
if pm_ledger_has "$qid2" &&
    in_chroot postmeter report messages --subject "pmtest after upgrade" --format csv 2>&1 |
    grep -q "$qid2"; then
    ok "the restarted milter answers: $qid2 recorded with its subject (log_subject = yes kept)"
else
    echo "$swaks_out" | tail -n 8
    cat "$tmp/milter.log"
    bad "after the restart: no ledger row with its subject for '$qid2'"
fi

finish

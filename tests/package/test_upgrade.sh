#!/usr/bin/env bash
# test_upgrade.sh - upgrade an installed postmeter to the package
# test_deb.sh built (POSTMETER_DEB_DIR) across a schema migration: rows,
# configuration and the milter survive, the database is migrated.
#
#   0. Old code: the commit of this repository just before the newest
#      schema/NNN_*.sql was added (git log; POSTMETER_UPGRADE_FROM=COMMIT
#      picks another), its postmeter and postmeter-milter built as the
#      package builds them (prefix /usr, no developer flags, no
#      sanitizers). The two binaries are kept in POSTMETER_UPGRADE_CACHE/
#      COMMIT (ctest: this build directory's upgrade-from/), so only the
#      first run pays the build (about 30 s on two cores). A source tree
#      without that history is a failure, not a skip.
#   1. The "old" package: the new .deb repacked with a lower version
#      (VERSION~pmtest1) and those two old binaries in it (its other
#      files are the new ones; the upgrade runs the real maintainer
#      scripts of both in the order dpkg runs them: old prerm, new
#      preinst, unpack, old postrm, new postinst), installed in a
#      bookworm chroot (mmdebstrap, as test_install.sh; tests/package/lib.sh).
#   2. Rows written through it: a message through a chrooted Postfix and
#      the old milter (started as its unit starts it), which makes the
#      database with the old schema (PRAGMA user_version below the
#      newest), a tracking rule by the old "postmeter track add". The
#      admin changes the conffile (log_subject = yes) and
#      /etc/default/postmeter (POSTMETER_PRUNE_AGE=30d).
#   3. apt-get install of the new .deb over it while the old milter runs:
#      the version is the new one, both files keep the admin's changes
#      with no .dpkg-dist or .dpkg-new next to them; the new postmeter
#      refuses the old schema (db check names it, "db migrate" advice)
#      until the milter migrates. The new postinst restarts the milter on
#      upgrade (systemd is not PID 1 here: the test does that restart, as
#      the unit would); the new milter migrates at start: user_version is
#      the newest (the new binary's, as its "db check" says: the highest
#      NNN of schema/ when the package was built from this tree), every
#      table, index and added column the schema files up to it create
#      exists (for 007: the token key, one 32-byte row), "postmeter db
#      check" says current and sound, the old
#      message is in "postmeter report messages" with its queue id and
#      the rule in "postmeter track list"; a second message goes through
#      and is recorded with its subject, which only the admin's kept
#      log_subject = yes stores.
#
# Takes about a minute and a half (mmdebstrap from deb.debian.org, the
# old build the first time); everything in a temporary directory but the
# cache.
set -euo pipefail
# shellcheck source=tests/package/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

debdir="${POSTMETER_DEB_DIR:?}"
src="${POSTMETER_SOURCE_DIR:?}"
cache="${POSTMETER_UPGRADE_CACHE:-}"
pm_setup upgrade

# schema_max DIR - the highest NNN of DIR/NNN_*.sql
schema_max() {
    find "$1" -maxdepth 1 -name '[0-9][0-9][0-9]_*.sql' -printf '%f\n' | cut -c1-3 | sort -n |
        tail -n 1 | sed 's/^0*//'
}
# db_sql SQL - one value from the chroot's database, read on the host (python3's sqlite3)
db_sql() {
    /usr/bin/python3 -c 'import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
print(db.execute(sys.argv[2]).fetchone()[0])' "$C/var/lib/postmeter/postmeter.db" "$1" 2>&1
}

# alter_adds FILE - "TABLE COLUMN" for each ALTER TABLE ... ADD [COLUMN] of the SQL file
# (statements split at ';' after comments are dropped, so one may span lines; names
# may be quoted or main.-qualified); "? STATEMENT" for one it cannot read
alter_adds() {
    /usr/bin/python3 -c 'import re, sys
sql = re.sub(r"--[^\n]*", "", open(sys.argv[1]).read())
name = r"(?:main\.)?[\"`\[]?([A-Za-z_][A-Za-z0-9_]*)[\"`\]]?"
for st in (" ".join(x.split()) for x in sql.split(";")):
    if not re.match(r"ALTER\s+TABLE\b.*\bADD\b", st, re.I):
        continue
    m = re.match(r"ALTER\s+TABLE\s+" + name + r"\s+ADD\s+(?:COLUMN\s+)?" + name + r"(\s|$)", st, re.I)
    print("%s %s" % (m.group(1), m.group(2)) if m else "? " + st)' "$1"
}

# -- 0. the old code -------------------------------------------------------------------
tree_newest="$(schema_max "$src/schema")"
from="${POSTMETER_UPGRADE_FROM:-}"
if [ -z "$from" ]; then
    added="$(git -C "$src" log -1 --format=%H --diff-filter=A -- 'schema/[0-9]*.sql' 2>/dev/null || true)"
    [ -n "$added" ] && from="$(git -C "$src" rev-parse --verify -q "$added^" || true)"
fi
if [ -z "$from" ] || ! git -C "$src" cat-file -e "$from^{commit}" 2>/dev/null; then
    bad "no commit to upgrade from: $src has no git history of schema/ (POSTMETER_UPGRADE_FROM=COMMIT names one)"
    finish
fi
from="$(git -C "$src" rev-parse "$from^{commit}")"
oldsrc="$tmp/old-src"
mkdir -p "$oldsrc"
git -C "$src" archive "$from" | tar -C "$oldsrc" -xf -
oldschema="$(schema_max "$oldsrc/schema")"
if [ -n "$oldschema" ] && [ -n "$tree_newest" ] && [ "$oldschema" -lt "$tree_newest" ]; then
    ok "upgrade from ${from:0:12} (schema $oldschema) to this tree (schema $tree_newest)"
else
    bad "commit ${from:0:12} has schema '${oldschema}', this tree '${tree_newest}': no migration between them"
    finish
fi
bins="${cache:+$cache/$from}"
bins="${bins:-$tmp/old-bin}"
if [ -x "$bins/postmeter" ] && [ -x "$bins/postmeter-milter" ]; then
    ok "old binaries of ${from:0:12} from the cache $bins"
else
    start=$SECONDS
    if cmake -S "$oldsrc" -B "$tmp/old-build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DCMAKE_INSTALL_PREFIX=/usr -DPOSTMETER_DEVELOPER=OFF -DPOSTMETER_SANITIZE=OFF \
        -DBUILD_TESTING=OFF >"$tmp/old-build.log" 2>&1 &&
        cmake --build "$tmp/old-build" -j"$(nproc)" --target postmeter-cli postmeter-milter \
            >>"$tmp/old-build.log" 2>&1; then
        mkdir -p "$bins.new"
        cp "$tmp/old-build/cli/postmeter" "$tmp/old-build/milter/postmeter-milter" "$bins.new/"
        rm -rf "$bins"
        mv "$bins.new" "$bins"
        ok "built postmeter and postmeter-milter of ${from:0:12} in $((SECONDS - start)) s"
    else
        tail -n 30 "$tmp/old-build.log"
        bad "cannot build postmeter and postmeter-milter of ${from:0:12}"
        finish
    fi
fi

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
install -m 0755 "$bins/postmeter" "$tmp/old/usr/bin/postmeter"
install -m 0755 "$bins/postmeter-milter" "$tmp/old/usr/sbin/postmeter-milter"
(cd "$tmp/old" && for f in usr/bin/postmeter usr/sbin/postmeter-milter; do
    sed -i "\|  $f\$|s|^[0-9a-f]*|$(md5sum "$f" | cut -d' ' -f1)|" DEBIAN/md5sums
done)
dpkg-deb --root-owner-group -b "$tmp/old" "$tmp/postmeter-old.deb" >/dev/null
if dpkg --compare-versions "$old" lt "$new" &&
    [ "$(dpkg-deb -f "$tmp/postmeter-old.deb" Version)" = "$old" ]; then
    ok "old package $old, lower than $new, with the binaries of ${from:0:12}"
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
v="$(db_sql 'PRAGMA user_version')"
if [ "$v" = "$oldschema" ]; then
    ok "old package: the old milter made the database with schema $v"
else
    bad "old package: the database has schema '$v', want the old code's $oldschema"
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
# the new postmeter on the old database, while the old milter still runs;
# the newest schema is the new binary's (what it says here)
check="$(in_chroot postmeter db check 2>&1 || true)"
newest="$(sed -n "s/^schema version: $oldschema, this binary has \([0-9]*\): run 'postmeter db migrate'\$/\1/p" \
    <<<"$check")"
if [ -n "$newest" ] && [ "$newest" -gt "$oldschema" ]; then
    ok "before the restart the new postmeter names the old schema: $(grep '^schema' <<<"$check")"
else
    bad "before the restart, postmeter db check: $check"
    newest="$tree_newest"
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
# the new milter migrated at start (it listens once the store is open)
v="$(db_sql 'PRAGMA user_version')"
if [ "$v" = "$newest" ]; then
    ok "the new milter migrated the database: schema $oldschema -> $v"
else
    cat "$tmp/milter.log"
    bad "after the restart the database has schema '$v', want $newest"
fi
# what the newer schema files create: each table and index is there
for f in "$src"/schema/[0-9][0-9][0-9]_*.sql; do
    n="$(basename "$f" | cut -c1-3 | sed 's/^0*//')"
    if [ "$n" -le "$oldschema" ] || [ "$n" -gt "$newest" ]; then
        continue
    fi
    while read -r kind name; do
        kind="$(tr '[:upper:]' '[:lower:]' <<<"$kind")"
        # one a later schema file drops is not expected
        later_drop=""
        for g in "$src"/schema/[0-9][0-9][0-9]_*.sql; do
            m="$(basename "$g" | cut -c1-3 | sed 's/^0*//')"
            [ "$m" -gt "$n" ] && [ "$m" -le "$newest" ] &&
                grep -qiE "DROP +$kind +(IF EXISTS +)?$name\b" "$g" && later_drop="$g"
        done
        [ -z "$later_drop" ] || continue
        have="$(db_sql "SELECT count(*) FROM sqlite_master WHERE type = '$kind' AND name = '$name'")"
        if [ "$have" = 1 ]; then
            ok "$(basename "$f"): $kind $name exists"
        else
            bad "$(basename "$f"): $kind $name missing after the migration ($have)"
        fi
    done < <(sed -n -E 's/^ *CREATE +(UNIQUE +)?(TABLE|INDEX) +(IF NOT EXISTS +)?([A-Za-z_][A-Za-z0-9_]*).*/\2 \4/p' "$f")
    # and each column it adds to a table (alter_adds: "TABLE COLUMN" lines,
    # or "? STATEMENT" for an ALTER TABLE ... ADD it cannot read)
    while read -r table column; do
        if [ "$table" = "?" ]; then
            bad "$(basename "$f"): cannot read the column an ALTER TABLE adds: $column"
            continue
        fi
        have="$(db_sql "SELECT count(*) FROM pragma_table_info('$table') WHERE name = '$column'")"
        if [ "$have" = 1 ]; then
            ok "$(basename "$f"): column $table.$column exists"
        else
            bad "$(basename "$f"): column $table.$column missing after the migration ($have)"
        fi
    done < <(alter_adds "$f")
done
if [ "$oldschema" -lt 7 ] && [ "$newest" -ge 7 ]; then
    if [ "$(db_sql 'SELECT count(*) FROM token_key WHERE length(key) = 32')" = 1 ]; then
        ok "007: the token key was made (one 32-byte key)"
    else
        bad "007: no 32-byte token key after the migration"
    fi
fi
check="$(in_chroot postmeter db check 2>&1 || true)"
if grep -qx 'integrity: ok' <<<"$check" && grep -qx "schema version: $newest (current)" <<<"$check"; then
    ok "postmeter db check: $(tr '\n' ' ' <<<"$check")"
else
    bad "postmeter db check: $check"
fi
if pm_ledger_has "$qid1"; then
    ok "after the upgrade the old milter's message $qid1 is in postmeter report messages"
else
    echo "$rows" | tail -n 5
    bad "after the upgrade postmeter report messages lost $qid1"
fi
if in_chroot postmeter track list --format csv 2>&1 | grep -q 'news@example.org.*pmtest-upgrade'; then
    ok "after the upgrade the old tracking rule is still there"
else
    bad "after the upgrade the tracking rule is gone"
fi
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

#!/usr/bin/env bash
# test_install_mail.sh - the installed package does its work on real mail:
# the .deb test_deb.sh built (POSTMETER_DEB_DIR) in a fresh Debian 12
# chroot, its milter started as its unit starts it, Postfix with Debian's
# master.cf (smtpd and cleanup chrooted, reaching the socket in
# /var/spool/postfix/postmeter) delivering into local mailboxes; nothing
# of the build tree is used but the package (tests/package/lib.sh).
#
#   1. mmdebstrap bookworm with postfix, swaks, publicsuffix (a
#      Recommends), python3-dkim and python3-dnslib, and the .deb.
#   2. DNS: zone_server.py in the chroot on 127.0.0.1:PORT (a free high
#      port) serving what "postmeter dns example.org" prints after
#      "postmeter dkim keygen example.org" (so the DKIM record is the one
#      the admin would publish) and the test's sender domains:
#      sender.test (SPF ip4:127.0.0.2 -all, a DKIM key made here with
#      openssl, DMARC p=reject) and reject.test (SPF -all, DMARC
#      p=reject, no key). postmeter.conf: dns_servers = 127.0.0.1@PORT,
#      trusted_networks = 127.0.0.1/32 (mail from 127.0.0.2 is inbound),
#      authserv_id = pmtest.localdomain.
#   3. Outbound (from 127.0.0.1, trusted): the message delivered to
#      /var/mail/pmuser carries postmeter's DKIM-Signature d=example.org,
#      and python3-dkim (not postmeter) verifies it with the key from
#      that DNS server; the same message with one body line changed fails
#      (the verifier is not just saying yes).
#   4. Inbound from 127.0.0.2, signed by sender.test with python3-dkim:
#      delivered with postmeter's "Authentication-Results:
#      pmtest.localdomain; ..." saying spf=pass, dkim=pass and dmarc=pass.
#   5. Inbound from reject.test (SPF fail, no signature, p=reject): smtpd
#      answers 550 5.7.1 at the end of DATA and nothing is delivered; the
#      ledger records the rejection.
#
# Takes about a minute and a half (mmdebstrap from deb.debian.org); all
# in a temporary directory; the chroot shares the host's network
# (loopback, free high ports only).
set -euo pipefail
# shellcheck source=tests/package/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
debdir="${POSTMETER_DEB_DIR:?}"
dns_pid=""
pm_setup install-mail
# the DNS server too, before lib.sh's cleanup
# shellcheck disable=SC2317 # called by the trap
mail_cleanup() {
    if [ -n "$dns_pid" ]; then
        kill "$dns_pid" 2>/dev/null || true
    fi
    pm_cleanup
}
trap mail_cleanup EXIT
command -v openssl >/dev/null || {
    bad "openssl is not installed"
    finish
}

# -- 1. the chroot -------------------------------------------------------------------
debs=("$debdir"/postmeter_*.deb)
if [ "${#debs[@]}" -ne 1 ] || [ ! -f "${debs[0]}" ]; then
    bad "no single postmeter_*.deb in $debdir (test_deb.sh builds it)"
    finish
fi
cp "${debs[0]}" "$tmp/postmeter.deb"
pm_mmdebstrap "$tmp/postmeter.deb" publicsuffix,python3-dkim,python3-dnslib
cp "$here/zone_server.py" "$here/mailcheck.py" "$C/usr/local/bin/"
in_chroot useradd -m pmuser

# -- 2. DNS and the configuration --------------------------------------------------------
if in_chroot postmeter dkim keygen example.org >"$tmp/keygen.log" 2>&1 &&
    in_chroot postmeter dns example.org >"$C/tmp/zone" 2>"$tmp/dns.log"; then
    ok "postmeter dkim keygen example.org; postmeter dns example.org: $(grep -c ' IN ' "$C/tmp/zone") records"
else
    cat "$tmp/keygen.log" "$tmp/dns.log"
    bad "postmeter dkim keygen / dns example.org"
    finish
fi
openssl genrsa -traditional -out "$C/tmp/sender.key" 2048 2>/dev/null
pub="$(openssl rsa -in "$C/tmp/sender.key" -pubout -outform DER 2>/dev/null | base64 -w0)"
cat >>"$C/tmp/zone" <<EOF
; the test's senders
sender.test. IN TXT "v=spf1 ip4:127.0.0.2 -all"
sel1._domainkey.sender.test. IN TXT ( "v=DKIM1; k=rsa; p=${pub:0:200}" "${pub:200}" )
_dmarc.sender.test. IN TXT "v=DMARC1; p=reject"
reject.test. IN TXT "v=spf1 -all"
_dmarc.reject.test. IN TXT "v=DMARC1; p=reject"
EOF
dns_port="$(/usr/bin/python3 -c 'import socket
while True:
    t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(type=socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p)); break
    except OSError:
        pass
print(p)')"
in_chroot python3 /usr/local/bin/zone_server.py "$dns_port" /tmp/zone >"$tmp/dns-server.log" 2>&1 &
dns_pid=$!
for _ in $(seq 50); do
    grep -q '^ready' "$tmp/dns-server.log" && break
    sleep 0.1
done
if grep -q '^ready' "$tmp/dns-server.log"; then
    ok "zone_server.py on 127.0.0.1:$dns_port: $(head -n 1 "$tmp/dns-server.log")"
else
    cat "$tmp/dns-server.log"
    bad "zone_server.py did not start"
    finish
fi
cat >>"$C/etc/postmeter/postmeter.conf" <<EOF

# test_install_mail.sh
dns_servers = 127.0.0.1@$dns_port
trusted_networks = 127.0.0.1/32
authserv_id = pmtest.localdomain
EOF
if out="$(in_chroot postmeter dns example.org --check 2>&1)"; then
    ok "postmeter dns example.org --check against the zone: exit 0"
else
    bad "postmeter dns example.org --check: $out"
fi

pm_milter_start
pm_postfix_start

# mailbox_get SUBJECT FILE [S] - wait up to S seconds (default 20) for the
# message with SUBJECT in /var/mail/pmuser; its raw text into the chroot's FILE
mailbox_get() {
    for _ in $(seq $((${3:-20} * 5))); do
        in_chroot python3 /usr/local/bin/mailcheck.py get /var/mail/pmuser "$1" >"$C$2" 2>/dev/null &&
            return 0
        sleep 0.2
    done
    return 1
}
# message FROM SUBJECT - a small message into stdout
message() {
    printf 'From: %s\nTo: pmuser@localhost\nSubject: %s\nDate: %s\nMessage-ID: <%s.%s@pmtest>\n\nhello\nthis is %s\n' \
        "$1" "$2" "$(date -R)" "$RANDOM" "$$" "$2"
}

# -- 3. outbound: signed, verified by python3-dkim -----------------------------------------
message alice@example.org "pmtest outbound" >"$C/tmp/out.eml"
out="$(in_chroot swaks --server "127.0.0.1:$port" --local-interface 127.0.0.1 \
    --from alice@example.org --to pmuser@localhost --data @/tmp/out.eml 2>&1 || true)"
if mailbox_get "pmtest outbound" /tmp/out-got.eml; then
    ok "outbound: delivered to /var/mail/pmuser"
else
    tail -n 8 <<<"$out"
    bad "outbound: nothing in /var/mail/pmuser"
fi
sig="$(in_chroot python3 /usr/local/bin/mailcheck.py header /tmp/out-got.eml DKIM-Signature || true)"
if grep -q 'd=example.org;' <<<"$sig"; then
    ok "outbound: postmeter's DKIM-Signature d=example.org"
else
    bad "outbound: no DKIM-Signature d=example.org: $sig"
fi
if v="$(in_chroot python3 /usr/local/bin/mailcheck.py verify "$dns_port" /tmp/out-got.eml 2>&1)"; then
    ok "outbound: python3-dkim verifies it with the published key: $v"
else
    bad "outbound: python3-dkim: $v"
fi
if v="$(in_chroot python3 /usr/local/bin/mailcheck.py verify "$dns_port" /tmp/out-got.eml tamper 2>&1)"; then
    bad "outbound: python3-dkim passes a changed body: $v"
else
    ok "outbound: a changed body fails: $v"
fi

# -- 4. inbound: SPF, DKIM and DMARC pass ------------------------------------------------------
message bob@sender.test "pmtest inbound pass" |
    in_chroot python3 /usr/local/bin/mailcheck.py sign /tmp/sender.key sel1 sender.test \
        >"$C/tmp/in.eml"
out="$(in_chroot swaks --server "127.0.0.1:$port" --local-interface 127.0.0.2 \
    --helo mail.sender.test --from bob@sender.test --to pmuser@localhost \
    --data @/tmp/in.eml 2>&1 || true)"
if mailbox_get "pmtest inbound pass" /tmp/in-got.eml; then
    ok "inbound: delivered to /var/mail/pmuser"
else
    tail -n 8 <<<"$out"
    bad "inbound: nothing in /var/mail/pmuser"
fi
ar="$(in_chroot python3 /usr/local/bin/mailcheck.py header /tmp/in-got.eml Authentication-Results ||
    true)"
if [ "$(grep -c . <<<"$ar")" = 1 ] && grep -q '^pmtest.localdomain;' <<<"$ar" &&
    grep -q 'spf=pass' <<<"$ar" && grep -q 'dkim=pass' <<<"$ar" && grep -q 'dmarc=pass' <<<"$ar"; then
    ok "inbound: Authentication-Results: $ar"
else
    bad "inbound: Authentication-Results not spf=pass dkim=pass dmarc=pass by pmtest.localdomain: '$ar'"
fi

# -- 5. inbound: DMARC p=reject fails ---------------------------------------------------------
message carol@reject.test "pmtest inbound reject" >"$C/tmp/rej.eml"
out="$(in_chroot swaks --server "127.0.0.1:$port" --local-interface 127.0.0.2 \
    --helo mail.reject.test --from carol@reject.test --to pmuser@localhost \
    --data @/tmp/rej.eml 2>&1 || true)"
if grep -qE '^<\*\* +550 5\.7\.1 ' <<<"$out"; then
    ok "inbound from reject.test: $(grep -E '^<\*\* +550' <<<"$out")"
else
    tail -n 8 <<<"$out"
    bad "inbound from reject.test: no 550 5.7.1"
fi
# refused in the SMTP session: nothing was queued, 3 s is plenty
if mailbox_get "pmtest inbound reject" /tmp/rej-got.eml 3; then
    bad "inbound from reject.test: delivered anyway"
else
    ok "inbound from reject.test: nothing delivered"
fi
rows="$(in_chroot postmeter report messages --format csv 2>&1 || true)"
# the action column itself ("reject" alone would match the sender's domain)
if /usr/bin/python3 -c 'import csv, sys
sys.exit(not any(r.get("mail_from") == "carol@reject.test" and r.get("action") == "reject"
                 for r in csv.DictReader(sys.stdin)))' <<<"$rows"; then
    ok "the ledger records the rejection"
else
    tail -n 5 <<<"$rows"
    bad "the ledger has no rejected row from carol@reject.test"
fi
pm_milter_stop
in_chroot postfix stop >/dev/null 2>&1 || true

finish

#!/usr/bin/env bash
# test_install_paths.sh - the paths postmeter reads and writes follow the
# install prefix as README.md (Installing) and postmeter.conf(5) FILES say.
#
#   1. Configure the source with -DCMAKE_INSTALL_PREFIX=/usr (the package),
#      with another prefix and with one under /opt, compile only the three
#      objects that hold the defaults (lib/config.c, milter/main.c,
#      cli/main.c; about a second each) and look for the paths in them:
#      /usr gives /etc/postmeter/postmeter.conf and /var/lib/postmeter,
#      P gives P/etc and P/var, /opt/X gives /etc/opt/X and /var/opt/X; the
#      milter socket is /var/spool/postfix/postmeter/milter.sock for all.
#   2. Install the build under test with DESTDIR and ask the installed
#      postmeter-milter -h and postmeter config defaults: they name the
#      paths of the build's own prefix, not of DESTDIR.
#
# Never writes outside its temporary directory; runs no daemon.
set -euo pipefail

src="${POSTMETER_SOURCE_DIR:?}"
build="${POSTMETER_BUILD_DIR:?}"
tmp="$(mktemp -d /tmp/pmtest-paths.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
SOCKET="unix:/var/spool/postfix/postmeter/milter.sock"

ok() {
    passed=$((passed + 1))
    echo "ok: $*"
}

bad() {
    failed=$((failed + 1))
    echo "FAIL: $*"
}

# has OBJECT STRING - the object holds STRING as one whole string
# (strings into a variable first: grep -q ending a pipe early would make
# pipefail see strings die of SIGPIPE)
has() {
    local all
    all="$(strings -a "$1")"
    if grep -qxF -- "$2" <<<"$all"; then
        ok "${1#"$tmp"/} holds $2"
    else
        bad "${1#"$tmp"/} lacks $2 (it holds: $(grep -E '^(/|unix:)' <<<"$all" | tr '\n' ' '))"
    fi
}

# lacks OBJECT TEXT - no string of the object contains TEXT
lacks() {
    local all
    all="$(strings -a "$1")"
    if grep -qF -- "$2" <<<"$all"; then
        bad "${1#"$tmp"/} mentions $2"
    else
        ok "${1#"$tmp"/} does not mention $2"
    fi
}

# objects PREFIX DIR - configure src for PREFIX in DIR, compile the objects with defaults
objects() {
    if ! cmake -S "$src" -B "$2" -G "Unix Makefiles" -DCMAKE_INSTALL_PREFIX="$1" \
        -DBUILD_TESTING=OFF -DPOSTMETER_DEVELOPER=OFF -DPOSTMETER_SANITIZE=OFF \
        >"$2.log" 2>&1 ||
        ! make -s -C "$2/lib" config.c.o >>"$2.log" 2>&1 ||
        ! make -s -C "$2/lib" daemon.c.o >>"$2.log" 2>&1 ||
        ! make -s -C "$2/cli" main.c.o >>"$2.log" 2>&1; then
        cat "$2.log"
        bad "configure and compile for prefix $1"
        return 1
    fi
    config_o="$2/lib/CMakeFiles/postmeter.dir/config.c.o"
    daemon_o="$2/lib/CMakeFiles/postmeter.dir/daemon.c.o" # the daemons' -h
    cli_o="$2/cli/CMakeFiles/postmeter-cli.dir/main.c.o"
}

# prefix_case PREFIX ETC VAR - a build for PREFIX reads ETC/postmeter, writes VAR/lib/postmeter
prefix_case() {
    local dir="$tmp/b$((passed + failed))"

    echo "--- prefix $1"
    objects "$1" "$dir" || return 0
    has "$daemon_o" "$2/postmeter/postmeter.conf"
    has "$cli_o" "$2/postmeter/postmeter.conf"
    has "$config_o" "$3/lib/postmeter/postmeter.db"
    has "$config_o" "$2/postmeter/keys"
    has "$config_o" "$SOCKET"
    if grep -qF -- "postmeter reads $2/postmeter/postmeter.conf, writes $3/lib/postmeter" \
        "$dir.log"; then
        ok "cmake says it reads $2/postmeter/postmeter.conf"
    else
        bad "cmake's output does not say it reads $2/postmeter/postmeter.conf"
    fi
}

prefix_case /usr /etc /var
lacks "$config_o" /usr/etc
lacks "$config_o" /usr/var
lacks "$daemon_o" /usr/etc
prefix_case "$tmp/px" "$tmp/px/etc" "$tmp/px/var"
prefix_case /opt/pmtest /etc/opt/pmtest /var/opt/pmtest

# -- the build under test, installed with DESTDIR ----------------------------
echo "--- DESTDIR install of $build"
prefix="$(sed -n 's/^CMAKE_INSTALL_PREFIX:[A-Z]*=//p' "$build/CMakeCache.txt")"
case "$prefix" in
/usr) etc=/etc var=/var ;;
/opt/*) etc="/etc$prefix" var="/var$prefix" ;;
*) etc="$prefix/etc" var="$prefix/var" ;;
esac
dest="$tmp/dest"
if DESTDIR="$dest" cmake --install "$build" >"$tmp/install.log" 2>&1; then
    ok "cmake --install with DESTDIR=$dest"
else
    cat "$tmp/install.log"
    bad "cmake --install with DESTDIR=$dest"
fi
if out="$("$dest$prefix/sbin/postmeter-milter" -h 2>&1)" &&
    grep -qF -- "(default $etc/postmeter/postmeter.conf)" <<<"$out"; then
    ok "installed postmeter-milter -h names $etc/postmeter/postmeter.conf"
else
    bad "installed postmeter-milter -h: $out"
fi
if out="$("$dest$prefix/bin/postmeter" config defaults 2>&1)"; then
    for want in "#database = $var/lib/postmeter/postmeter.db" \
        "#dkim_key_dir = $etc/postmeter/keys" "#milter_socket = $SOCKET"; do
        if grep -qxF -- "$want" <<<"$out"; then
            ok "installed postmeter config defaults: $want"
        else
            bad "installed postmeter config defaults lacks $want"
        fi
    done
    if grep -qF -- "$dest" <<<"$out"; then
        bad "installed postmeter config defaults mentions DESTDIR $dest"
    else
        ok "installed postmeter config defaults does not mention DESTDIR"
    fi
else
    bad "installed postmeter config defaults: $out"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

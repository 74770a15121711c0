#!/usr/bin/env bash
# test_completion.sh - the bash completion of postmeter
# (packaging/bash-completion/postmeter) and the hidden "postmeter help
# --complete" it reads (cli/complete.c), against the postmeter of this
# build tree (POSTMETER).
#
#   1. "help --complete" names every command and subcommand "postmeter
#      help" lists, and no other.
#   2. Each command's options in "help --complete" are the option words
#      of its "postmeter help NAME [SUB]" page (usage line and options,
#      read here with grep), the global options those of its "global
#      options" part; -c and --config take a value.
#   3. The --format values "help --complete" gives a command are exactly
#      the ones that command accepts: each candidate format is run against
#      an empty database, a usage error (exit 2) naming --format means
#      refused (and a format no command has must be refused).
#   4. _postmeter itself, as bash calls it (COMP_WORDS, COMP_CWORD):
#      commands, subcommands, options, --format values (also "--format="),
#      other value lists, nothing after an option that takes free text,
#      file names after -c, "help" and its words. The expected words are
#      written out here from postmeter(1), not taken from the code.
#
# Writes only under its temporary directory.
set -euo pipefail

pm="${POSTMETER:?}"
src="${POSTMETER_SOURCE_DIR:?}"
comp="$src/packaging/bash-completion/postmeter"
tmp="$(mktemp -d /tmp/pmtest-compl.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0

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

# words - its arguments sorted, one line, for comparing sets
words() {
    printf '%s\n' "$@" | sed '/^$/d' | sort -u | tr '\n' ' ' | sed 's/ $//'
}

table="$("$pm" help --complete)"
if [ "$(wc -l <<<"$table")" -ge 20 ] && ! grep -qvP '^[a-z-]+\t[a-z-]+\t' <<<"$table"; then
    ok "help --complete prints $(wc -l <<<"$table") lines NAME<TAB>SUB<TAB>OPTIONS"
else
    bad "help --complete: $table"
    finish
fi

# -- 1. the commands -----------------------------------------------------------------
# "  postmeter NAME [SUB] ARGS" lines of "postmeter help": the lower-case words
have="$(awk -F'\t' '$1 != "-" && $1 != "help" {print $1 ($2 == "-" ? "" : "/" $2)}' <<<"$table" | sort)"
want="$("$pm" help | sed -n 's/^  postmeter \([a-z]*\)\( [a-z][a-z]*\)\?\( .*\)\?$/\1\2/p' | tr ' ' / | sort)"
if [ -n "$want" ] && [ "$have" = "$want" ]; then
    ok "help --complete has the $(wc -l <<<"$want") commands of postmeter help"
else
    bad "commands differ: help --complete '$(echo $have)', postmeter help '$(echo $want)'"
fi
if grep -qP '^help\t-\t$' <<<"$table"; then
    ok "help --complete offers 'help'"
else
    bad "help --complete has no 'help' line"
fi

# -- 2. options ------------------------------------------------------------------
# optwords TEXT - the option words of TEXT, as a reader of --help sees them
optwords() {
    grep -oE '(^|[][ |,(])--?[a-zA-Z][a-zA-Z0-9-]*' <<<"$1" | sed -E 's/^[][ |,(]//' || true
}
while IFS=$'\t' read -r n s o; do
    [ "$n" != help ] || continue
    mapfile -t listed < <(tr ' ' '\n' <<<"$o" | sed 's/=.*//')
    if [ "$n" = - ]; then
        page="$("$pm" help | sed -n '/^global options/,/^T is/p')"
        label="global options"
    else
        args=("$n")
        [ "$s" = - ] || args+=("$s")
        page="$("$pm" help "${args[@]}" | sed '/^global options/,$d')"
        label="${args[*]}"
    fi
    mapfile -t shown < <(optwords "$page")
    if [ "${#shown[@]}" -gt 0 ] && [ "$(words "${listed[@]}")" = "$(words "${shown[@]}")" ]; then
        ok "$label: options $(words "${shown[@]}")"
    elif [ "${#shown[@]}" -eq 0 ] && [ -z "$o" ]; then
        ok "$label: no options"
    else
        bad "$label: help --complete '$(words "${listed[@]}")', help page '$(words "${shown[@]}")'"
    fi
done <<<"$table"
globals="$(awk -F'\t' '$1 == "-" {print $3}' <<<"$table")"
if [[ " $globals " == *" -c= "* && " $globals " == *" --config= "* && " $globals " == *" --utc "* ]]; then
    ok "globals: -c= --config= (values), --utc (a flag)"
else
    bad "globals: $globals"
fi

# -- 3. --format values --------------------------------------------------------------
printf 'database = %s/pm.db\n' "$tmp" >"$tmp/pm.conf"
"$pm" -c "$tmp/pm.conf" db migrate >/dev/null 2>&1
nfmt=0
while IFS=$'\t' read -r n s o; do
    spec=" $o "
    [[ "$spec" == *" --format="* ]] || continue
    nfmt=$((nfmt + 1))
    spec="${spec#* --format=}"
    spec="${spec%% *}"
    args=("$n")
    [ "$s" = - ] || args+=("$s")
    accepted=()
    # refused: a usage error (exit 2) about --format; anything else got
    # past the options (a command that needs an argument says so after them)
    for f in pmtest-bogus table text csv json ndjson html xml yaml; do
        rc=0
        "$pm" -c "$tmp/pm.conf" "${args[@]}" --format "$f" >/dev/null 2>"$tmp/err" </dev/null || rc=$?
        if [ "$rc" -ne 2 ] || ! grep -q -- '--format' "$tmp/err"; then
            accepted+=("$f")
        fi
    done
    if [ "${accepted[0]:-}" = pmtest-bogus ]; then
        bad "${args[*]} --format pmtest-bogus: not refused as a usage error naming --format"
        continue
    fi
    if [ "$(words ${spec//,/ })" = "$(words "${accepted[@]}")" ]; then
        ok "${args[*]} --format: $spec, as the command accepts"
    else
        bad "${args[*]} --format: help --complete '$spec', the command accepts '${accepted[*]}'"
    fi
done <<<"$table"
[ "$nfmt" -ge 7 ] || bad "only $nfmt commands with --format values in help --complete"

# -- 4. _postmeter ---------------------------------------------------------------------
mkdir "$tmp/cwd"
touch "$tmp/cwd/postmeter.conf" "$tmp/cwd/pm-other.conf" "$tmp/cwd/zzz"
# expect 'WORDS' 'COMPREPLY' - complete the last of WORDS (a word list; '' is an empty word)
expect() {
    local line="$1" want="$2" got
    got="$(cd "$tmp/cwd" && PM="$pm" LINE="$line" bash --norc --noprofile -c '
        source "$1" || exit 9
        eval "COMP_WORDS=($LINE)"
        COMP_WORDS[0]="$PM"
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        _postmeter
        printf "%s\n" "${COMPREPLY[@]}"' _ "$comp" | sed '/^$/d' | sort | tr '\n' ' ' | sed 's/ $//')"
    want="$(tr ' ' '\n' <<<"$want" | sed '/^$/d' | sort | tr '\n' ' ' | sed 's/ $//')"
    if [ "$got" = "$want" ]; then
        ok "complete [$line] -> [$want]"
    else
        bad "complete [$line]: want [$want], got [$got]"
    fi
}
# the commands and report's subcommands as "postmeter help" lists them (1. checked
# help --complete against it; here: that _postmeter offers exactly those)
expect "postmeter ''" "help $("$pm" help | sed -n 's/^  postmeter \([a-z]*\).*/\1/p' | sort -u | tr '\n' ' ')"
expect "postmeter re" "report"
expect "postmeter report ''" "$("$pm" help report | sed -n 's/^  postmeter report \([a-z]*\).*/\1/p' | tr '\n' ' ')"
expect "postmeter --utc report s" "summary"
expect "postmeter db ''" "check migrate"
expect "postmeter report messages --for" "--format"
expect "postmeter report messages --format ''" "csv json ndjson table"
expect "postmeter report summary --format ''" "html table"
expect "postmeter report opens --format ''" "csv html json ndjson table"
expect "postmeter status --format ''" "json text"
expect "postmeter status --format = ''" "json text"
expect "postmeter status --format = j" "json"
expect "postmeter status --format =" "json text"
expect "postmeter dkim list --format c" "csv"
expect "postmeter track list --format n" "ndjson"
expect "postmeter report opens --by ''" "day message recipient sender subject"
expect "postmeter report messages --direction ''" "inbound outbound"
expect "postmeter dkim keygen example.org --algorithm ''" "ed25519 rsa"
expect "postmeter report messages --limit ''" ""
expect "postmeter prune --older-than ''" ""
expect "postmeter prune --" "--older-than --dry-run --config --utc --help --version"
expect "postmeter prune -" "--older-than --dry-run -c --config --utc -h --help -V --version"
expect "postmeter prune --older-than 90d --d" "--dry-run"
expect "postmeter config show -" "-n -c --config --utc -h --help -V --version"
expect "postmeter -c ''" "pm-other.conf postmeter.conf zzz"
expect "postmeter -c pm" "pm-other.conf"
expect "postmeter --config po" "postmeter.conf"
expect "postmeter --config = po" "postmeter.conf"
expect "postmeter -c postmeter.conf rep" "report"
expect "postmeter -c postmeter.conf track ''" "add disable enable list remove"
expect "postmeter help ''" "auth config db dkim dns prune report spf status track"
expect "postmeter help dkim ''" "keygen list remove rotate"
expect "postmeter status ''" ""

finish

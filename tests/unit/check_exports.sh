#!/usr/bin/env bash
# Every symbol the libraries define for others to link against starts with
# svc_: the shared library exports only the API, and the static one (whose
# internal functions are global so its objects can call each other) keeps
# to our prefix so that it cannot clash with what an application links.
set -euo pipefail
status=0
check() {
    local what=$1
    shift
    local bad
    # (Sanitizer builds add markers of their own, __odr_asan.<symbol>.)
    bad=$("$@" | awk '$2 ~ /^[TDRBVW]$/ {print $3}' | grep -v -e '^svc_' -e '^__odr_asan\.svc_' |
          sort -u || true)
    if [ -n "$bad" ]; then
        echo "$what defines symbols without the svc_ prefix:"
        echo "$bad" | sed 's/^/  /'
        status=1
    fi
}
check "$1" nm -D --defined-only "$1"
check "$2" nm -g --defined-only "$2"
# The API itself is exported (a hidden build would pass the check above).
# grep reads all of nm's output: with -q it would stop at the match and
# nm's SIGPIPE would fail the pipeline under pipefail.
nm -D --defined-only "$1" | grep ' T svc_server_new$' >/dev/null || { echo "$1 exports no API"; status=1; }
exit $status

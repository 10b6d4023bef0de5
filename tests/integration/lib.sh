# Helpers for the shell integration tests.
fails=0
check() { # check DESCRIPTION EXPECTED ACTUAL
    if [ "$2" == "$3" ]; then
        echo "ok   - $1"
    else
        echo "FAIL - $1: expected [$2], got [$3]"
        fails=$((fails + 1))
    fi
}
check_contains() { # check_contains DESCRIPTION NEEDLE HAYSTACK
    if [[ "$3" == *"$2"* ]]; then
        echo "ok   - $1"
    else
        echo "FAIL - $1: [$2] not in [$3]"
        fails=$((fails + 1))
    fi
}
finish() {
    [ $fails -eq 0 ] && echo "all checks passed" || echo "$fails check(s) failed"
    exit $fails
}
url_of() { # url_of SCHEME  → the fixture server's URL with that scheme
    grep "^$1://" "$SERVER_DIR/greeter.urls" | head -n 1
}

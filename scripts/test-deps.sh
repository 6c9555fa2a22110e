#!/bin/sh
# System tools the test suite needs besides Python packages, from Debian's packages when missing
# and we are root: pg_dump (stolen-copy test on PostgreSQL), Chromium (browser UI tests, driven
# by Playwright with executable_path: Playwright never downloads a browser here) and wrk (the HTTP
# read benchmark's test, tests/test_bench_api_reads.py) and age (the HPRIM export is opened with it,
# as a doctor would: tests/interop/test_hprim.py).
set -eu
MISSING=""
command -v pg_dump >/dev/null 2>&1 || MISSING="$MISSING postgresql-client"
[ -x /usr/bin/chromium ] || MISSING="$MISSING chromium"
command -v wrk >/dev/null 2>&1 || MISSING="$MISSING wrk"
command -v age >/dev/null 2>&1 || MISSING="$MISSING age"
if [ -n "$MISSING" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test-deps: installing$MISSING"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $MISSING >/dev/null
    else
        echo "test-deps: missing$MISSING; the tests needing them skip (or fail under CI=true)" >&2
    fi
fi

#!/bin/sh
# System tools the test suite needs besides Python packages: pg_dump (stolen-copy test on
# PostgreSQL). Installed from Debian's packages when missing and we are root.
set -eu
if ! command -v pg_dump >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test-deps: installing postgresql-client"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client >/dev/null
    else
        echo "test-deps: pg_dump not found; PostgreSQL dump tests will skip (or fail under CI=true)" >&2
    fi
fi

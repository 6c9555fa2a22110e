#!/bin/sh
# Creates .venv and installs labvault with its pinned dependencies. Needs only python3; on a bare
# Debian machine it installs python3-venv first (as root, through apt).
set -eu
cd "$(dirname "$0")/.."
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "bootstrap: installing python3-venv"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    else
        echo "bootstrap: python3 has no venv/ensurepip; install the python3-venv package" >&2
        exit 1
    fi
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'

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
# WeasyPrint (PDF reports and labels) loads Pango and HarfBuzz-Subset (fonts subsetting: without it,
# a DeprecationWarning at import, and another subsetter) through cffi; the reports use DejaVu Sans only.
PDF_PACKAGES="libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core"
PDF_MISSING=""
for pkg in $PDF_PACKAGES; do
    dpkg -s "$pkg" >/dev/null 2>&1 || PDF_MISSING="$PDF_MISSING $pkg"
done
if [ -n "$PDF_MISSING" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "bootstrap: installing$PDF_MISSING"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $PDF_PACKAGES >/dev/null
    else
        echo "bootstrap: missing$PDF_MISSING (Debian packages); PDF reports and labels will not render" >&2
    fi
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'

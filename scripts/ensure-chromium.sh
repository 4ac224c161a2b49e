#!/bin/sh
# Install Debian's Chromium for the dashboard's end-to-end test when /usr/bin/chromium is missing.
# Idempotent and quiet: does nothing when the browser is there. Playwright's own browser downloads are
# never used (the test launches this binary), so `playwright install` is not needed.
set -eu

CHROMIUM="${DERMA_CHROMIUM:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "ensure-chromium: $CHROMIUM is missing and installing it needs root: run 'sudo apt-get install -y chromium'" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: $CHROMIUM is missing and apt-get is not available: install Chromium and set DERMA_CHROMIUM" >&2
    exit 1
fi

echo "ensure-chromium: installing Debian's chromium (for the dashboard's browser test) ..." >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
[ -x "$CHROMIUM" ] || { echo "ensure-chromium: chromium installed but $CHROMIUM is still missing" >&2; exit 1; }

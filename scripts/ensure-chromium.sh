#!/usr/bin/env bash
# Make sure Debian's Chromium is at /usr/bin/chromium for the browser tests.
# Idempotent: does nothing when it is already there. Never downloads a browser build
# from elsewhere (no `playwright install`): the tests drive the distribution's Chromium.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "ensure-chromium: /usr/bin/chromium is missing and this user cannot run apt-get;" \
             "install it with: apt-get install chromium" >&2
        exit 1
    fi
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: /usr/bin/chromium is missing and apt-get is not available;" \
         "install Chromium with your package manager" >&2
    exit 1
fi

echo "ensure-chromium: installing Debian's chromium with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
if [ ! -x /usr/bin/chromium ]; then
    echo "ensure-chromium: apt-get finished but /usr/bin/chromium is still missing" >&2
    exit 1
fi
echo "ensure-chromium: $(/usr/bin/chromium --version 2>/dev/null || echo chromium installed)" >&2

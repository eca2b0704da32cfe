#!/usr/bin/env bash
# Make sure Debian's Chromium is at /usr/bin/chromium for the browser tests.
# Idempotent: does nothing when it is already there. Never downloads a browser build
# from elsewhere (no `playwright install`): the tests drive the distribution's Chromium.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    exit 0
fi

bash "$(dirname "$0")/apt-install.sh" ensure-chromium chromium fonts-dejavu-core
if [ ! -x /usr/bin/chromium ]; then
    echo "ensure-chromium: apt-get finished but /usr/bin/chromium is still missing" >&2
    exit 1
fi
echo "ensure-chromium: $(/usr/bin/chromium --version 2>/dev/null || echo chromium installed)" >&2

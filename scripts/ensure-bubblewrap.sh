#!/usr/bin/env bash
# Make sure bubblewrap (bwrap) is installed: `privacy-course grade` runs each learner's
# kernel in a bubblewrap sandbox (grading/isolation.py). Idempotent: does nothing when
# bwrap is already there. Installs Debian's package with apt-get; never downloads anything
# else. Without bwrap grading still works, with the weaker fallback described in
# docs/threat-model.md ("Grading isolation").
set -euo pipefail

if command -v bwrap >/dev/null 2>&1; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "ensure-bubblewrap: bwrap is missing and this user cannot run apt-get;" \
             "install it with: apt-get install bubblewrap" >&2
        exit 1
    fi
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-bubblewrap: bwrap is missing and apt-get is not available;" \
         "install bubblewrap with your package manager" >&2
    exit 1
fi

echo "ensure-bubblewrap: installing Debian's bubblewrap with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null
if ! command -v bwrap >/dev/null 2>&1; then
    echo "ensure-bubblewrap: apt-get finished but bwrap is still missing" >&2
    exit 1
fi
if ! bwrap --ro-bind / / --dev /dev --proc /proc --unshare-pid true 2>/dev/null; then
    echo "ensure-bubblewrap: bwrap is installed but cannot make a sandbox here (user" \
         "namespaces off?); grading falls back, see docs/threat-model.md" >&2
fi
echo "ensure-bubblewrap: $(bwrap --version 2>/dev/null || echo bubblewrap installed)" >&2

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

bash "$(dirname "$0")/apt-install.sh" ensure-bubblewrap bubblewrap
if ! command -v bwrap >/dev/null 2>&1; then
    echo "ensure-bubblewrap: apt-get finished but bwrap is still missing" >&2
    exit 1
fi
if ! bwrap --ro-bind / / --dev /dev --proc /proc --unshare-pid true 2>/dev/null; then
    echo "ensure-bubblewrap: bwrap is installed but cannot make a sandbox here (user" \
         "namespaces off?); grading falls back, see docs/threat-model.md" >&2
fi
echo "ensure-bubblewrap: $(bwrap --version 2>/dev/null || echo bubblewrap installed)" >&2

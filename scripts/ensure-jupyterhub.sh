#!/usr/bin/env bash
# Make sure configurable-http-proxy (JupyterHub's proxy, an npm package) is installed for the
# JupyterHub test (tests/test_jupyterhub.py) and deploy/jupyterhub_config.py, in a folder of
# this project: .venv/node/ (gitignored). Idempotent: does nothing when it is already there.
# Needs node and npm (Debian: apt-get install nodejs npm); fetches only from the npm registry.
set -euo pipefail

HERE="$(cd "$(dirname "$0")/.." && pwd)"
PREFIX="${CHP_PREFIX:-$HERE/.venv/node}"
CHP="$PREFIX/node_modules/.bin/configurable-http-proxy"

if [ -x "$CHP" ] && "$CHP" --version >/dev/null 2>&1; then
    exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
    bash "$(dirname "$0")/apt-install.sh" ensure-jupyterhub nodejs npm
fi

# 5.3.0 needs Node.js 20 or newer; Debian 12's Node.js 18 gets the 4.6 line (JupyterHub 6
# works with both).
NODE_MAJOR="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$NODE_MAJOR" -ge 20 ]; then VERSION="5.3.0"; else VERSION="4.6.3"; fi
echo "ensure-jupyterhub: installing configurable-http-proxy $VERSION into $PREFIX" >&2
mkdir -p "$PREFIX"
npm install --prefix "$PREFIX" --no-audit --no-fund --silent "configurable-http-proxy@$VERSION"
"$CHP" --version >/dev/null

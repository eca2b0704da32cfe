#!/usr/bin/env bash
# Install Debian packages with apt-get, as root or through sudo; the one place the ensure-*
# scripts install from. Usage: apt-install.sh WHO PACKAGE... (WHO names the caller in
# messages). Never downloads anything but Debian's packages.
set -euo pipefail
who="$1"
shift

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "$who: this user cannot run apt-get; install it with: apt-get install $*" >&2
        exit 1
    fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "$who: apt-get is not available; install $* with your package manager" >&2
    exit 1
fi
echo "$who: installing Debian's $* with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null

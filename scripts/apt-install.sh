#!/bin/sh
# Install Debian/Ubuntu packages for vocabfree: as root directly, otherwise through sudo. Idempotent (safe to
# rerun). Without apt-get it says what to install and exits 0, so the README's set-up line still goes on
# (the tests that need these packages then skip).
set -eu
[ "$#" -gt 0 ] || { echo "usage: $0 PACKAGE..." >&2; exit 2; }
if ! command -v apt-get >/dev/null 2>&1; then
  echo "apt-get not found: install $* with your package manager (tests that need them will skip)" >&2
  exit 0
fi
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
# shellcheck disable=SC2086
if dpkg-query -W -f='${Status}\n' "$@" 2>/dev/null | grep -qv "install ok installed" \
   || ! dpkg-query -W "$@" >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
fi

#!/usr/bin/env bash
# Install the Debian packages for the throwaway single-node Ceph cluster the
# tests start (tests/support/ceph.ts): a monitor, one BlueStore OSD and RGW
# (S3). ceph-common (the ceph CLI, monmaptool via ceph-base) comes with them.
# Does nothing, silently, when they are all installed already.
set -euo pipefail

packages=(ceph-mon ceph-osd radosgw)

# Run as root directly, otherwise through sudo when available.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "need root to run: $*" >&2; return 1
  fi
}

installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

missing=()
for package in "${packages[@]}"; do installed "$package" || missing+=("$package"); done
[ "${#missing[@]}" -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
  echo "${missing[*]} not installed and apt-get unavailable; install Ceph (mon, osd, radosgw) or set S3_ENDPOINT" >&2
  exit 1
fi
echo "installing ${missing[*]} for the S3 (Ceph RGW) tests" >&2
as_root apt-get update -qq
# The packages' service units are never started here: the tests run their own daemons.
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

#!/usr/bin/env bash
# Installs the Debian packages tt needs to build and test, when any is missing.
# Safe to run again: it does nothing when everything is present.
set -euo pipefail
pkgs=(meson ninja-build pkg-config g++ libuv1-dev rapidjson-dev catch2 libssl-dev clang-format
      python3 valgrind clang libclang-rt-14-dev libhttp-parser-dev python3-prometheus-client)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

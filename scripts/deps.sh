#!/usr/bin/env bash
# Installs the Debian packages tt needs, when any is missing.
# Usage: scripts/deps.sh [build|test|all]   (default: all)
#   build  what building tt needs (scripts/build.sh, scripts/demo.sh)
#   test   what the tests need on top (scripts/test.sh): Catch2, clang-format,
#          valgrind, clang and its sanitizer runtimes, the metrics parser,
#          BitTorrent clients (transmission-cli, aria2, python3-libtorrent) and mktorrent
#   all    both
# Safe to run again: it does nothing when everything is present.
set -euo pipefail
build_pkgs=(meson ninja-build pkg-config g++ libuv1-dev rapidjson-dev libssl-dev libhttp-parser-dev)
test_pkgs=(catch2 clang-format python3 valgrind clang libclang-rt-14-dev python3-prometheus-client
  transmission-cli aria2 python3-libtorrent mktorrent)
case "${1:-all}" in
  build) pkgs=("${build_pkgs[@]}") ;;
  test) pkgs=("${test_pkgs[@]}") ;;
  all) pkgs=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
  *) echo "deps: unknown set '$1' (build, test or all)" >&2; exit 2 ;;
esac
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

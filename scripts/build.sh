#!/usr/bin/env bash
# Installs the build dependencies that are missing, then configures (once) and builds tt in build/.
# Usage: scripts/build.sh [BUILD_DIR] [MESON_SETUP_ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh build
dir="${1:-build}"
shift || true
if [ ! -f "$dir/build.ninja" ]; then
  meson setup "$dir" --wrap-mode=nodownload "$@" >/dev/null
fi
meson compile -C "$dir" >/dev/null

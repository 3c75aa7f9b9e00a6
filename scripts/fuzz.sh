#!/usr/bin/env bash
# Runs each libFuzzer target (tests/fuzz/) for SECONDS seconds, starting from the
# seed corpus in tests/fuzz/corpus/<target>/, and prints one line per target:
#   ok - fuzz datagram: N runs, no crash
#   not ok - fuzz datagram: crash (...)
# Exits non-zero when any target crashed (or could not be built or run).
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (default 60 seconds, every target)
#
# Builds build-fuzz/ once (clang, ASan + UBSan + libFuzzer). libFuzzer writes the
# inputs it finds to a temporary copy of the corpus, never into the repository;
# crash inputs go to a temporary directory, printed on failure and kept. Set
# TT_FUZZ_KEEP=1 to keep the work directory (grown corpus) after a clean run too;
# to add a finding to the seed corpus, copy it into tests/fuzz/corpus/<target>/.
# Reproduce a crash: build-fuzz/tests/fuzz/fuzz_<target> CRASH_FILE
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
secs="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(datagram tcp_request wire bep15)
case "$secs" in '' | *[!0-9]*)
  echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2
  exit 2
  ;;
esac

fail_all() {
  for t in "${targets[@]}"; do echo "not ok - fuzz $t: $1"; done
  exit 1
}

bash scripts/deps.sh || fail_all "scripts/deps.sh failed"
dir=build-fuzz
if [ ! -f "$dir/build.ninja" ]; then
  setup_log=$(mktemp)
  CXX=clang++ meson setup "$dir" --wrap-mode=nodownload -Dfuzz=true -Dtests=false \
    -Db_sanitize=address,undefined -Db_lundef=false >"$setup_log" 2>&1 || {
    cat "$setup_log" >&2
    rm -rf "$dir" "$setup_log"
    fail_all "meson setup $dir failed"
  }
  rm -f "$setup_log"
fi
bins=()
for t in "${targets[@]}"; do bins+=("fuzz_$t"); done
# A build dir configured before a target was added regenerates first (meson
# compile looks targets up before ninja would regenerate).
if ! { ninja -C "$dir" build.ninja && meson compile -C "$dir" "${bins[@]}"; } \
    >"$dir/fuzz-build.log" 2>&1; then
  grep -E "error|Error" "$dir/fuzz-build.log" | head -40 >&2
  fail_all "build failed (see $dir/fuzz-build.log)"
fi

# The same settings as the binaries' built-in defaults (tests/fuzz/fuzz_options.cc),
# set here so that a caller's ASAN_OPTIONS/UBSAN_OPTIONS (a log_path, say) do not
# hide a report from this script.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$root/tests/fuzz/ubsan.supp"

# One target: runs in the background; its result goes to $work/result.
run_one() {
  local t=$1 work=$2
  mkdir -p "$work/corpus" "$work/crashes"
  cp -R "tests/fuzz/corpus/$t/." "$work/corpus/"
  local extra=()
  [ -f "tests/fuzz/$t.dict" ] && extra+=("-dict=tests/fuzz/$t.dict")
  # -timeout: one input taking this long is a hang, reported as a crash.
  # The outer timeout is a last resort should libFuzzer itself not stop.
  timeout --signal=KILL $((secs + 120)) "$dir/tests/fuzz/fuzz_$t" \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    "${extra[@]}" -artifact_prefix="$work/crashes/" "$work/corpus" >"$work/log" 2>&1
  echo $? >"$work/rc"
}

works=()
pids=()
for t in "${targets[@]}"; do
  if [ ! -d "tests/fuzz/corpus/$t" ] || [ ! -x "$dir/tests/fuzz/fuzz_$t" ]; then
    works+=("")
    pids+=("")
    continue
  fi
  w=$(mktemp -d "${TMPDIR:-/tmp}/tt-fuzz-$t.XXXXXX")
  works+=("$w")
  # The targets are independent: run them side by side (CI machines have 2 cores).
  run_one "$t" "$w" &
  pids+=($!)
done

status=0
for i in "${!targets[@]}"; do
  t=${targets[$i]}
  w=${works[$i]}
  if [ -z "$w" ]; then
    echo "not ok - fuzz $t: no such target (tests/fuzz/fuzz_$t.cc, tests/fuzz/corpus/$t/)"
    status=1
    continue
  fi
  wait "${pids[$i]}"
  rc=$(cat "$w/rc" 2>/dev/null || echo 1)
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$w/log" | tail -1)
  if [ "$rc" -eq 0 ] && [ -z "$(ls -A "$w/crashes")" ]; then
    echo "ok - fuzz $t: ${runs:-?} runs in ${secs}s, no crash"
    if [ "${TT_FUZZ_KEEP:-}" = 1 ]; then echo "# fuzz $t: work directory kept: $w"; else rm -rf "$w"; fi
  else
    echo "not ok - fuzz $t: crash or failure (exit $rc) after ${runs:-?} runs"
    # The report: libFuzzer's and the sanitizers' lines, without the progress noise.
    grep -avE '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse|INITED|RELOAD)|^[[:space:]]+NEW_FUNC' "$w/log" | tail -60 | sed 's/^/#   /'
    for f in "$w"/crashes/*; do
      [ -e "$f" ] || continue
      echo "# fuzz $t: input kept in $f"
      echo "#   reproduce: $dir/tests/fuzz/fuzz_$t $f"
      echo "#   bytes (base64): $(head -c 2048 "$f" | base64 -w0)"
    done
    echo "# fuzz $t: work directory (grown corpus, log): $w"
    status=1
  fi
done
exit $status

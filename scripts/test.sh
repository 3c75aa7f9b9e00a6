#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every meson test suite
# (Catch2 unit tests and the end-to-end tests on loopback), checks formatting, and
# ends with one line "N passed, N failed" counting each real test case.
#
# Then two more passes, each counted into the same line:
#   - sanitizers: the whole suite again from build-asan/, built with
#     AddressSanitizer and UndefinedBehaviorSanitizer; any sanitizer report left
#     in the log directory is one more failure (and is printed);
#   - fuzzing: scripts/fuzz.sh runs each libFuzzer target for TT_FUZZ_SECONDS
#     (default 20); each target is one case.
# TT_QUICK=1 skips both for a quick local run (ignored when CI=true).
# Arguments are passed to `meson test` (both passes), e.g. --suite unit.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
t_start=$SECONDS
bash scripts/deps.sh test || { echo "could not install the test dependencies"; echo "0 passed, 1 failed"; exit 1; }
# A build/ configured before Catch2 was there (scripts/demo.sh) has no unit tests: configure it again.
if [ -f build/build.ninja ] && ! meson introspect build --tests | grep -q '"name": "unit"'; then
  meson setup --wipe build >/dev/null
fi
bash scripts/build.sh build || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

meson test -C build --print-errorlogs "$@"
meson_rc=$?

# Formatting is a test too: clang-format must find nothing to change.
fmt_failed=0
files=$(git ls-files 'src/*.cc' 'src/*.h' 'tests/*.cc' 'tests/*.h' 2>/dev/null || ls src/*.cc src/*.h tests/unit/*.cc)
if ! clang-format --dry-run --Werror $files; then
  echo "not ok - clang-format: run 'clang-format -i' on the files above"
  fmt_failed=1
fi

# Count TAP results per case from a meson log; a test that crashed before
# reporting counts as one failure. Only checks that ran count: "# SKIP" and
# "# TODO" test points count neither way, nor do set-up steps (the e2e tests
# print those as "# setup: ..." comments; a failed one is a "not ok"). A test
# that prints no TAP at all counts as one case, passed or failed by its exit.
# Prints "passed failed" on stdout, and on stderr one line per failed case,
# labelled (LABEL/TEST: ...).
count_tap() {
  python3 - "$1" "$2" <<'PY'
import json, re, sys
passed = failed = 0
label = sys.argv[2]
try:
    tests = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
except (OSError, ValueError) as e:
    print(f"{label}: no readable meson test log ({e})", file=sys.stderr)
    print(0, 1)
    sys.exit(0)
for t in tests:
    out = t.get("stdout", t.get("stdo", ""))
    # TAP "# TODO" lines are known gaps and "# SKIP" lines checks that did not
    # run: reported, counted neither way.
    oks = len(re.findall(r"^ok\b(?!.*# (TODO|SKIP))", out, re.M))
    tap = re.search(r"^(1\.\.\d+|(not )?ok\b)", out, re.M) is not None
    bad_lines = re.findall(r"^not ok\b(?!.*# TODO).*", out, re.M)
    bad = len(bad_lines)
    ok_result = t.get("result") in ("OK", "EXPECTEDFAIL", "SKIP")
    for b in bad_lines:
        print(f"{label}/{t.get('name')}: {b}", file=sys.stderr)
    if not ok_result and bad == 0:
        bad = 1
        print(f"{label}/{t.get('name')}: {t.get('result')} before reporting", file=sys.stderr)
    if ok_result and not tap:
        oks = 1
    passed += oks
    failed += bad
print(passed, failed)
PY
}

failures_file=$(mktemp)
read -r passed failed < <(count_tap build/meson-logs/testlog.json tests 2>>"$failures_file")
passed=${passed:-0}
failed=${failed:-1}
if [ "$fmt_failed" -eq 0 ]; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  echo "clang-format: files need formatting" >>"$failures_file"
fi
[ "$meson_rc" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
timings="tests $((SECONDS - t_start))s"

extra=1
if [ "${TT_QUICK:-}" = 1 ]; then
  if [ "${CI:-}" = true ]; then
    echo "# TT_QUICK ignored: CI runs every pass"
  else
    extra=0
    echo "# TT_QUICK=1: sanitizer and fuzzing passes skipped"
  fi
fi

if [ "$extra" -eq 1 ]; then
  # ---- Sanitizer pass: the same suites from build-asan/ under ASan + UBSan.
  t0=$SECONDS
  echo "# sanitizers: building build-asan (AddressSanitizer, UndefinedBehaviorSanitizer)"
  # clang, not gcc: with gcc's separate libasan and libubsan, UBSan ignores
  # log_path and its reports would go to the stderr of whichever tt process hit
  # them, where nothing looks. (A build-asan/ made with gcc is made again.)
  if [ -f build-asan/build.ninja ] && ! grep -q '^ command = clang++ ' build-asan/build.ninja; then
    rm -rf build-asan
  fi
  if CXX=clang++ bash scripts/build.sh build-asan -Db_sanitize=address,undefined \
    -Db_lundef=false; then
    san_logs=$(mktemp -d "${TMPDIR:-/tmp}/tt-sanitizers.XXXXXX")
    rm -f build-asan/meson-logs/testlog.json  # a stale log must not count
    # Reports go to files (log_path.PID) so that no test's stderr check hides or
    # trips over them; every file left there is a failure. test_valgrind.py skips
    # itself under TT_SANITIZED (valgrind cannot run an ASan binary).
    ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:log_path=$san_logs/asan" \
      UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$san_logs/ubsan:suppressions=$root/tests/fuzz/ubsan.supp" \
      TT_SANITIZED=1 \
      meson test -C build-asan --no-rebuild --print-errorlogs "$@" 2>&1 | sed -u 's/^/[asan] /'
    asan_rc=${PIPESTATUS[0]}
    read -r p f < <(count_tap build-asan/meson-logs/testlog.json asan 2>>"$failures_file")
    passed=$((passed + ${p:-0}))
    f=${f:-1}
    [ "$asan_rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
    failed=$((failed + f))
    reports=$(find "$san_logs" -type f | sort)
    if [ -n "$reports" ]; then
      failed=$((failed + 1))
      n=$(echo "$reports" | wc -l)
      echo "not ok - asan: sanitizer reports ($n file(s) in $san_logs)"
      echo "asan: sanitizer reports ($n file(s) in $san_logs)" >>"$failures_file"
      # The first few in full (one bug usually makes many), so the CI log stays readable.
      k=0
      for r in $reports; do
        k=$((k + 1))
        [ "$k" -gt 6 ] && { echo "# ... and $((n - 6)) more like these"; break; }
        echo "# ---- $r"
        head -n 80 "$r" | sed 's/^/# /'
      done
    elif [ -f build-asan/meson-logs/testlog.json ]; then
      passed=$((passed + 1))
      echo "ok - asan: no sanitizer report"
    fi
    [ -z "$reports" ] && rm -rf "$san_logs"
  else
    meson compile -C build-asan 2>&1 | grep -E "error|Error" | head -20
    echo "not ok - asan: build-asan failed to build"
    echo "asan: build-asan failed to build" >>"$failures_file"
    failed=$((failed + 1))
  fi
  timings="$timings, sanitizers $((SECONDS - t0))s"

  # ---- Fuzzing: each libFuzzer target for a short, bounded time.
  t0=$SECONDS
  fuzz_out=$(mktemp)
  env -u ASAN_OPTIONS -u UBSAN_OPTIONS bash scripts/fuzz.sh "${TT_FUZZ_SECONDS:-20}" 2>&1 |
    tee "$fuzz_out"
  fuzz_rc=${PIPESTATUS[0]}
  fp=$(grep -c '^ok - fuzz ' "$fuzz_out")
  ff=$(grep -c '^not ok - fuzz ' "$fuzz_out")
  grep '^not ok - fuzz ' "$fuzz_out" | sed 's/^not ok - //' >>"$failures_file"
  if [ "$fuzz_rc" -ne 0 ] && [ "$ff" -eq 0 ]; then
    ff=1
    echo "fuzz: scripts/fuzz.sh failed (exit $fuzz_rc)" >>"$failures_file"
  fi
  passed=$((passed + fp))
  failed=$((failed + ff))
  rm -f "$fuzz_out"
  timings="$timings, fuzzing $((SECONDS - t0))s"
fi

if [ -s "$failures_file" ]; then
  echo "# failed:"
  sed 's/^/#   /' "$failures_file"
fi
rm -f "$failures_file"
echo "# time: $timings, total $((SECONDS - t_start))s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

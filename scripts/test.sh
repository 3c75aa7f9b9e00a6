#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every meson test suite
# (Catch2 unit tests and the end-to-end tests on loopback), checks formatting, and
# ends with one line "N passed, N failed" counting each real test case.
set -uo pipefail
cd "$(dirname "$0")/.."
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

# Count TAP results per case from meson's log; a test that crashed before
# reporting counts as one failure.
read -r passed failed < <(python3 - build/meson-logs/testlog.json <<'PY'
import json, re, sys
passed = failed = 0
for line in open(sys.argv[1]):
    t = json.loads(line)
    out = t.get("stdout", t.get("stdo", ""))
    # TAP "# TODO" lines are known gaps, reported but counted neither way.
    oks = len(re.findall(r"^ok\b(?!.*# TODO)", out, re.M))
    bad = len(re.findall(r"^not ok\b(?!.*# TODO)", out, re.M))
    ok_result = t.get("result") in ("OK", "EXPECTEDFAIL", "SKIP")
    if not ok_result and bad == 0:
        bad = 1
    if ok_result and oks == 0 and bad == 0:
        oks = 1
    passed += oks
    failed += bad
print(passed, failed)
PY
)
passed=${passed:-0}
failed=${failed:-1}
if [ "$fmt_failed" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
[ "$meson_rc" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

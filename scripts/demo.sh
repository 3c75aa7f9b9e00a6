#!/usr/bin/env bash
# The main job, on loopback: builds tt (build dependencies only), starts a tracker and three peers, and
# replays the seed's session. Peers 1 and 2 share example.txt, peer 1 also
# meow.txt, peer 3 gets example.txt from peer 2, everyone exits, then the
# tracker's three log commands. Prints what a person would see at each console;
# exits non-zero if the downloaded file differs or a step does not happen.
set -euo pipefail
cd "$(dirname "$0")/.."
# Only the build dependencies (scripts/deps.sh build); the tests' are not needed here.
echo "demo: installing build dependencies (those missing: meson, g++, libuv, ...)..."
bash scripts/deps.sh build
if [ ! -f build/build.ninja ]; then
  echo "demo: configuring build/ (meson setup)..."
  setup_log=$(mktemp)
  meson setup build --wrap-mode=nodownload > "$setup_log" 2>&1 || { cat "$setup_log" >&2; exit 1; }
  rm -f "$setup_log"
fi
echo "demo: building tt (first build takes a minute)..."
ninja -C build tt 2>&1 | sed -u 's/^/  /'
TT="$PWD/build/tt"
echo "demo: built $("$TT" --version); replaying the seed's session"

work=$(mktemp -d "${TMPDIR:-/tmp}/tt-demo.XXXXXX")
pids=()
cleanup() {
  for fd in 3 4 5 6; do eval "exec $fd>&-" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
mkdir -p peer1 peer2 peer3
printf 'Hello from the tt demo.\nThis file travels from peer 2 to peer 3.\n' > peer1/example.txt
cp peer1/example.txt peer2/example.txt
printf 'meow\n' > peer1/meow.txt

declare -A shown
# show NAME: prints the lines of NAME's console that have not been shown yet.
show() {
  local n; n=$(wc -l < "$1.out")
  local from=$(( ${shown[$1]:-0} + 1 ))
  if [ "$n" -ge "$from" ]; then sed -n "${from},${n}p" "$1.out" | sed "s/^/  [$1] /"; fi
  shown[$1]=$n
}
# wait_for NAME REGEX: waits (at most 20 s) for a console line of NAME.
wait_for() {
  for _ in $(seq 200); do
    grep -qE "$2" "$1.out" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "demo: $1 never printed /$2/" >&2
  cat "$1.out" >&2
  exit 1
}
# say FD NAME COMMAND: types COMMAND at NAME's console.
say() {
  echo "  [$2] > $3"
  echo "$3" >&"$1"
}

echo "== tt tracker"
mkfifo tracker.in peer1.in peer2.in peer3.in
"$TT" tracker --port 0 < tracker.in > tracker.out 2>&1 & pids+=($!)
exec 3> tracker.in
wait_for tracker 'Tracker running at'
port=$(sed -n 's/^Tracker running at 127.0.0.1:\([0-9]*\)$/\1/p' tracker.out)
show tracker

fd=4
for id in 1 2 3; do
  echo "== tt peer --id $id"
  "$TT" peer --id "$id" --tracker "127.0.0.1:$port" --dir "peer$id" --host 127.0.0.1 \
    < "peer$id.in" > "peer$id.out" 2>&1 & pids+=($!)
  eval "exec $fd> peer$id.in"
  wait_for "peer$id" "joined the network"
  show "peer$id"; wait_for tracker "Peer $id joined"; show tracker
  fd=$((fd + 1))
done

echo "== sharing"
say 4 peer1 "share example.txt"; wait_for peer1 'shared a new files: example.txt'; show peer1; show tracker
say 4 peer1 "share meow.txt";    wait_for peer1 'shared a new files: meow.txt';    show peer1; show tracker
say 5 peer2 "share example.txt"; wait_for peer2 'shared a new files: example.txt'; show peer2; show tracker

echo "== peer 3 gets example.txt from peer 2 (the second in the list)"
say 6 peer3 "get example.txt 2"
wait_for peer3 'Downloaded file example.txt successfully|Error downloading'
show peer3; wait_for tracker 'Peer 3 downloaded'; show tracker
say 6 peer3 "request logs"; sleep 0.3; show peer3

echo "== everyone exits"
for id in 1 2 3; do say $((id + 3)) "peer$id" exit; done
for id in 1 2 3; do wait "${pids[$id]}" || true; show "peer$id"; done
show tracker

echo "== the tracker's logs"
say 3 tracker "logs request";          sleep 0.3; show tracker
say 3 tracker "all-logs";              sleep 0.3; show tracker
say 3 tracker "file_logs example.txt"; sleep 0.3; show tracker
say 3 tracker exit
wait "${pids[0]}" || true

if cmp -s peer2/example.txt peer3/example.txt; then
  echo "demo: peer 3's example.txt is byte-identical to peer 2's"
else
  echo "demo: FAILED: peer 3's example.txt differs from peer 2's" >&2
  exit 1
fi

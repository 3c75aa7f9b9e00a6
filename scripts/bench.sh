#!/usr/bin/env bash
# Benchmarks tt on loopback (127.0.0.1 only) and prints a results table. What
# each subcommand measures, the current figures and the caveats are in
# docs/benchmarks.md; how the figures came about, in docs/perf-history.md.
#
# Usage: scripts/bench.sh [--quick] [--runs N] [--keep] [SUBCOMMAND...]
#   transfer   (default) loopback limits (iperf3, socat) and tt downloads:
#              a BIG file from one source and from four, then one SWARM file
#              downloaded alone and by eight peers at once from one seeder
#   tracker    requests/s and p50/p99/p999 latency of `tt tracker` under ttload
#              (get_peers with 10 sources per file, and a mixed load) against
#              ttload's null responder, runs alternating, W=16 and W=1 in flight
#   memory     tracker RSS empty, with 10k peers x 10 files, and with 1M
#              registrations (100k peers x 10 files); bytes per registration
#   share      W=1 get_peers latency against the tracker, and a download from
#              peer a, each with a idle and while a hashes a 1 GiB `share`
#   instr      instructions per request in the tracker's datagram handler
#              (get_peers, join), counted by callgrind: exact, so one run each
#   bep15      BitTorrent UDP tracker announces (BEP 15) under btload: `tt
#              tracker` against Debian's opentracker (installed when missing;
#              whitelist filled with btload's info hashes) and btload's null
#              responder, runs alternating, W=16 and W=1 in flight, the server
#              on CPU 0 and btload on CPU 1; rate, p50/p99, the server's CPU per
#              announce (/proc/PID/stat) and its RSS growth per (info hash, peer)
#              after BENCH_BT_PAIRS pairs; a server that does not speak BEP 15
#              shows as FAILED runs with btload's reason
#   all        every subcommand (swarm-net not included)
#   swarm-net [FLAGS]  tt's swarm on shaped links in network namespaces (root
#              only): runs scripts/swarm-net.sh with FLAGS (its own flags, see
#              `scripts/swarm-net.sh --help`); it must be the first subcommand,
#              and --runs N, --keep, --baseline PATH given before it are passed on
#   --quick    smaller and faster: BIG 256 MiB, SWARM 128 MiB, 1 run, iperf3 2 s,
#              2 s load runs, 200k registrations, a 256 MiB share
#   --runs N   runs per figure (default 3; each figure is the median, with min and max)
#   --keep     keep the work directory (consoles, logs) and print where it is
#   --baseline PATH  transfer: also run the BIG downloads with another tt binary
#              (its own tracker and seeders), in the same rounds, and print the
#              ratios of today's medians to its (e.g. a build of the last release)
# Sizes can also be set with BENCH_BIG_MIB, BENCH_SWARM_MIB, BENCH_IPERF_SECS,
# BENCH_LOAD_SECS, BENCH_MEM_PEERS, BENCH_SHARE_MIB, BENCH_SMALL_MIB,
# BENCH_BT_PAIRS, BENCH_BT_HASHES (bep15: 100000 pairs over 10000 info hashes,
# --quick 20000 over 2000); and
# BENCH_PIN=same|split|none says where the tracker runs against ttload.
#
# Rates are MB/s = 10^6 bytes per second. A tt download is timed by this script:
# from just before `get NAME` is written to the peer's stdin to the moment the
# peer prints `Downloaded file NAME successfully.` (each console line is stamped
# on arrival); tt's own `Received ...` figure is shown next to it as a check.
# The tracker figures come from build/tests/bench/ttload (see `ttload --help`),
# the bep15 figures from build/tests/bench/btload (`btload --help`).
#
# Each subcommand is one function bench_NAME, plus its name in `subcommands`
# below; they use the same helpers (ports, processes, record/median) and land
# in the same table.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
root=$(pwd)

subcommands=(transfer tracker memory share instr bep15)
quick=0
runs=""
baseline="${BENCH_BASELINE:-}"
keep=0
todo=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --runs) runs="$2"; shift ;;
    --runs=*) runs="${1#--runs=}" ;;
    --keep) keep=1 ;;
    --baseline) baseline="$2"; shift ;;
    --baseline=*) baseline="${1#--baseline=}" ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    all) todo+=("${subcommands[@]}") ;;
    swarm-net)
      # Its own script and flags; it builds tt itself (scripts/build.sh) unless --tt is given.
      [ ${#todo[@]} -eq 0 ] || { echo "bench: swarm-net must be the first subcommand" >&2; exit 2; }
      [ "$quick" = 0 ] || { echo "bench: --quick does not apply to swarm-net (see its --n, --size-mib)" >&2; exit 2; }
      shift
      fwd=()
      [ -z "$runs" ] || fwd+=(--runs "$runs")
      [ "$keep" = 0 ] || fwd+=(--keep)
      [ -z "$baseline" ] || fwd+=(--baseline "$baseline")
      TT_SWARM_NET_CMD="scripts/bench.sh swarm-net" exec bash scripts/swarm-net.sh ${fwd[@]+"${fwd[@]}"} "$@" ;;
    -*) echo "bench: unknown flag $1 (try --help)" >&2; exit 2 ;;
    *)
      if [[ " ${subcommands[*]} " == *" $1 "* ]]; then todo+=("$1")
      else echo "bench: unknown subcommand $1 (have: ${subcommands[*]} all)" >&2; exit 2; fi ;;
  esac
  shift
done
[ ${#todo[@]} -gt 0 ] || todo=(transfer)
if [ "$quick" = 1 ]; then
  : "${runs:=1}" "${BENCH_BIG_MIB:=256}" "${BENCH_SWARM_MIB:=128}" "${BENCH_IPERF_SECS:=2}"
  : "${BENCH_LOAD_SECS:=2}" "${BENCH_MEM_PEERS:=20000}" "${BENCH_SHARE_MIB:=256}" "${BENCH_SMALL_MIB:=32}"
  : "${BENCH_BT_PAIRS:=20000}" "${BENCH_BT_HASHES:=2000}"
else
  : "${runs:=3}" "${BENCH_BIG_MIB:=1024}" "${BENCH_SWARM_MIB:=256}" "${BENCH_IPERF_SECS:=5}"
  : "${BENCH_LOAD_SECS:=5}" "${BENCH_MEM_PEERS:=100000}" "${BENCH_SHARE_MIB:=1024}" "${BENCH_SMALL_MIB:=64}"
  : "${BENCH_BT_PAIRS:=100000}" "${BENCH_BT_HASHES:=10000}"
fi
: "${BENCH_PIN:=same}"
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "bench: --runs needs a positive number" >&2; exit 2; }

# ------------------------------------------------------------------ setup
# The load tools, installed like scripts/deps.sh installs the build deps.
need_pkgs() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "bench: installing ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
need_pkgs iperf3 socat iproute2 python3
bash scripts/build.sh build
TT="$root/build/tt"
TTLOAD="$root/build/tests/bench/ttload"

work=$(mktemp -d "${TMPDIR:-/tmp}/tt-bench.XXXXXX")
declare -A PEER_FD PEER_PID   # by peer id: the write end of its stdin FIFO, its pid
pids=()    # every process started here, killed on exit
fds=()     # write ends of peers' stdin FIFOs, closed on exit
cleanup() {
  local fd pid alive
  trap '' INT TERM
  for fd in "${fds[@]}"; do eval "exec ${fd}>&-" 2>/dev/null || true; done
  for _ in $(seq 30); do   # closed stdin: peers leave the tracker and exit by themselves
    alive=0
    for pid in "${PEER_PID[@]}"; do
      [[ " ${pids[*]} " == *" $pid "* ]] && kill -0 "$pid" 2>/dev/null && alive=1
    done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  sleep 0.2
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$keep" = 1 ]; then echo "bench: work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "bench: $*" >&2; }
# forget PID [FD]: PID has been reaped (and FD closed); drop them from the lists.
forget() {
  local keep=() x
  for x in "${pids[@]}"; do [ "$x" = "$1" ] || keep+=("$x"); done
  pids=("${keep[@]}")
  [ -n "${2:-}" ] || return 0
  keep=()
  for x in "${fds[@]}"; do [ "$x" = "$2" ] || keep+=("$x"); done
  fds=("${keep[@]}")
}
calc() { awk "BEGIN { printf \"%.${2:-1}f\", $1 }"; }
# free_port: a TCP port on 127.0.0.1 the kernel says is free.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# wait_listen PORT: waits (at most 10 s) until something listens on 127.0.0.1:PORT.
wait_listen() {
  for _ in $(seq 100); do
    [ -n "$(ss -Hltn "sport = :$1")" ] && return 0
    sleep 0.1
  done
  log "nothing listens on port $1"; return 1
}
# stamp, find_line, wait_line: time-stamped console lines (shared with the other bench script).
source "$root/scripts/stamped-lines.sh"
# make_random FILE MIB SEED: FILE gets MIB MiB of pseudo-random bytes.
make_random() {
  local bytes=$(($2 * 1048576))
  if command -v openssl >/dev/null; then
    (set +o pipefail
     openssl enc -aes-128-ctr -pass "pass:$3" -nosalt -pbkdf2 < /dev/zero 2>/dev/null | head -c "$bytes" > "$1")
  else
    head -c "$bytes" /dev/urandom > "$1"
  fi
  [ "$(stat -c %s "$1")" = "$bytes" ] || { log "could not make $1"; return 1; }
}

# ------------------------------------------------------------------ results
# record NAME SIZE "V1 V2 ..." FAILED [UNIT]: one row of the final table
# (UNIT defaults to MB/s).
R_NAME=(); R_SIZE=(); R_VALS=(); R_FAIL=(); R_UNIT=()
record() { R_NAME+=("$1"); R_SIZE+=("$2"); R_VALS+=("$3"); R_FAIL+=("$4"); R_UNIT+=("${5:-MB/s}"); }
# stats "V1 V2 ...": prints "median min max" (or "- - -").
stats() {
  [ -n "${1// /}" ] || { echo "- - -"; return; }
  tr ' ' '\n' <<< "$1" | grep . | sort -g | awk '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.1f %.1f %.1f\n", m, v[1], v[NR] }'
}
median_of() { local s; s=$(stats "$1"); echo "${s%% *}"; }
ratio() {
  if [ "$1" = - ] || [ "$2" = - ]; then echo "-"; else awk "BEGIN { if ($2 > 0) printf \"%.2f\", $1 / $2; else print \"-\" }"; fi
}

# ------------------------------------------------------------------ tt processes
tport=""
tpid=""
# start_tracker [TAG [ARGS...]]: a tracker (console in $work/TAG.out, log in
# $work/TAG.log, TAG defaults to "tracker"); sets tport and tpid. The console
# goes straight to the file, not through `stamp`: the tracker prints a line per
# join and share, and a shell loop reading them would throttle it.
start_tracker() {
  local tag=${1:-tracker}
  [ $# -eq 0 ] || shift
  ${srv_pin[@]+"${srv_pin[@]}"} "$TT" tracker --port 0 --log "$work/$tag.log" "$@" < /dev/null > "$work/$tag.out" 2>&1 &
  tpid=$!
  pids+=($tpid)
  tport=""
  for _ in $(seq 100); do
    tport=$(sed -n 's/^Tracker started at 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/$tag.out" 2>/dev/null || true)
    [ -n "$tport" ] && return 0
    sleep 0.1
  done
  log "the tracker did not start:"; sed 's/^/    /' "$work/$tag.out" >&2; return 1
}
# stop_pid PID: stops a process started here (SIGTERM, then SIGKILL after 5 s).
stop_pid() {
  kill "$1" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  forget "$1"
}
# start_peer ID DIR: starts a peer whose stdin is a FIFO held open here (say
# writes to it), its console stamped into $work/ID.out; `joined ID` waits for it.
start_peer() {
  local id=$1 dir=$2 fd
  mkdir -p "$dir"
  mkfifo "$work/$id.in"
  # Started with the other peers' FIFO ends closed: an inherited write end
  # would keep their stdin open after stop_peer closes ours.
  (
    for fd in "${fds[@]}"; do eval "exec ${fd}>&-"; done
    exec "$TT" peer --id "$id" --tracker "127.0.0.1:$tport" --dir "$dir" --host 127.0.0.1 \
      --log "$work/$id.log" < "$work/$id.in" > >(stamp > "$work/$id.out") 2>&1
  ) &
  PEER_PID[$id]=$!
  pids+=($!)
  exec {fd}> "$work/$id.in"
  PEER_FD[$id]=$fd
  fds+=("$fd")
}
joined() { wait_line "$work/$1.out" "^Peer $1 joined the network on TCP port" 20 > /dev/null; }
say() { printf '%s\n' "$2" >&"${PEER_FD[$1]}"; }
# stop_peer ID: closes its stdin (it leaves the tracker and exits) and waits for it.
stop_peer() {
  local id=$1 pid=${PEER_PID[$1]}
  eval "exec ${PEER_FD[$id]}>&-"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill "$pid" 2>/dev/null && log "peer $id did not exit at end of input; killed" || true
  wait "$pid" 2>/dev/null || true
  forget "$pid" "${PEER_FD[$id]}"
}
# seed ID DIR NAME: a peer that shares DIR/NAME (hashing it first) and stays up.
seed() {
  start_peer "$1" "$2"
  joined "$1"
  say "$1" "share $3"
  wait_line "$work/$1.out" "shared a new files: $3\$|^Error|^File .* does not exist" 300 > "$work/$1.share"
  grep -q 'shared a new files' "$work/$1.share" || { log "peer $1 could not share $3"; cat "$work/$1.out" >&2; return 1; }
}
# done_line ID NAME: the stamped line that ends peer ID's download of NAME, if any.
done_line() {
  find_line "$work/$1.out" "^(Downloaded file $2 successfully\.|Error downloading file $2|No peers found with file $2|Error: )"
}
# check_download ID NAME SRC T0: prints "SECONDS MB/s" of a finished download
# (timed from T0), or fails with the peer's console when it failed or differs.
check_download() {
  local id=$1 name=$2 src=$3 t0=$4 line t1 size
  line=$(done_line "$id" "$name") || { log "peer $id: no end of download"; return 1; }
  if [[ "$line" != *"Downloaded file $name successfully."* ]]; then
    log "peer $id: download of $name failed:"; sed 's/^/    /' "$work/$id.out" >&2; return 1
  fi
  if ! cmp -s "$src" "$work/$id/$name"; then
    log "peer $id: $name differs from the source"; return 1
  fi
  t1=${line%% *}
  size=$(stat -c %s "$src")
  echo "$(calc "$t1 - $t0" 3) $(calc "$size / ($t1 - $t0) / 1e6" 1)"
}
# tt_said ID: tt's own summary ("in 2.58 s (396.6 MiB/s) ...") and the sources line.
tt_said() {
  local got r s c
  got=$(find_line "$work/$1.out" '^Received ') || got=""
  r=$(sed 's/^[^ ]* Received [^)]*) //; s/ from .*//' <<< "$got"); [ -n "$r" ] || r="?"
  s=$(find_line "$work/$1.out" '^Downloading .* from [0-9]+ of [0-9]+ sources' |
      sed 's/.* from \([0-9]* of [0-9]*\) sources.*/\1 sources/') || s="? sources"
  # The peers that sent good pieces (listed after "from"): in a crowd, the
  # others found through the tracker while downloading count too.
  c=$(sed 's/.* from //' <<< "$got" | tr ',' '\n' | grep -c ':') || c=0
  echo "tt: $r, $s at start, pieces from $c"
}

# ------------------------------------------------------------------ transfer
# Each measurement appends one MB/s figure to V[KEY] or counts a failure in F[KEY].
declare -A V F
ok() { V[$1]+=" $2"; }
failed() { F[$1]=$(( ${F[$1]:-0} + 1 )); }
done_re() { echo "^(Downloaded file $1 successfully\.|Error downloading file $1|No peers found with file $1|Error: )"; }

# socat_once KEY SRC: SRC into a file over one TCP connection, 128 KiB buffers.
socat_once() {
  local key=$1 src=$2 port lpid t0 t1 mbs
  port=$(free_port)
  socat -b 131072 -u "TCP-LISTEN:$port,reuseaddr,bind=127.0.0.1" "OPEN:$work/sink,creat,trunc" &
  lpid=$!; pids+=($lpid)
  wait_listen "$port"
  t0=$EPOCHREALTIME
  socat -b 131072 -u "FILE:$src" "TCP:127.0.0.1:$port" || true
  wait "$lpid" || true
  t1=$EPOCHREALTIME
  forget "$lpid"
  if cmp -s "$src" "$work/sink"; then
    mbs=$(calc "$(stat -c %s "$src") / ($t1 - $t0) / 1e6" 1)
    log "  socat: $(calc "$t1 - $t0" 3) s, $mbs MB/s"; ok "$key" "$mbs"
  else
    log "  socat: FAILED (the copy differs)"; failed "$key"
  fi
  rm -f "$work/sink"; sync
}

# get_once KEY ID NAME SRC [GET_ARGS]: a fresh peer ID downloads NAME once.
get_once() {
  local key=$1 id=$2 name=$3 src=$4 extra=${5:-} t0 res
  start_peer "$id" "$work/$id"
  joined "$id"
  t0=$EPOCHREALTIME
  say "$id" "get $name$extra"
  if wait_line "$work/$id.out" "$(done_re "$name")" 600 > /dev/null &&
     res=$(check_download "$id" "$name" "$src" "$t0"); then
    log "  $id (get $name$extra): ${res% *} s, ${res#* } MB/s ($(tt_said "$id"))"
    ok "$key" "${res#* }"
  else
    log "  $id (get $name$extra): FAILED"; failed "$key"
  fi
  stop_peer "$id"
  rm -rf "${work:?}/$id"; sync
}

# crowd_once KEY TAG N NAME SRC: N fresh peers, all joined, are told `get NAME`
# at the same moment; the figure is N * size / (time until the last one is done).
crowd_once() {
  local key=$1 tag=$2 n=$3 name=$4 src=$5 ids=() id i t0 bad=0 secs="" res last
  for i in $(seq "$n"); do ids+=("$tag-$i"); start_peer "$tag-$i" "$work/$tag-$i"; done
  for id in "${ids[@]}"; do joined "$id"; done
  t0=$EPOCHREALTIME
  for id in "${ids[@]}"; do say "$id" "get $name"; done
  # Every download ends first; the copies are compared afterwards, so that cmp
  # does not take CPU from downloads still running.
  for id in "${ids[@]}"; do wait_line "$work/$id.out" "$(done_re "$name")" 600 > /dev/null || true; done
  for id in "${ids[@]}"; do
    if res=$(check_download "$id" "$name" "$src" "$t0"); then
      log "    $id: ${res% *} s ($(tt_said "$id"))"
      secs+=" ${res% *}"
    else
      log "    $id: FAILED"; bad=1
    fi
  done
  if [ $bad = 0 ]; then
    last=$(tr ' ' '\n' <<< "$secs" | grep . | sort -g | tail -1)
    res=$(calc "$n * $(stat -c %s "$src") / $last / 1e6" 1)
    log "  $tag: all $n done in $last s, aggregate $res MB/s"; ok "$key" "$res"
  else
    log "  $tag: FAILED"; failed "$key"
  fi
  for id in "${ids[@]}"; do stop_peer "$id"; rm -rf "${work:?}/$id"; done
  sync
}

# rotate R ITEM...: the items, started at item R (1-based, wrapping around).
rotate() {
  local r=$1; shift
  local n=$# i
  for i in $(seq 0 $((n - 1))); do
    local k=$(( (r - 1 + i) % n + 1 ))
    printf '%s\n' "${!k}"
  done
}

# The transfer figures. The machine is noisy (and writing 1 GiB of fresh page
# cache costs a varying amount: see docs/benchmarks.md, Caveats), so the
# figures that are compared run in rounds -- one socat, one tt from 1 source,
# one tt from 4 per round -- and the order rotates from round to round, so that
# neither a slow spell nor a place in the sequence lands on one figure only.
bench_transfer() {
  local big="$work/big" swarm="$work/swarm" bigmib=$BENCH_BIG_MIB swmib=$BENCH_SWARM_MIB
  local r port lpid mbs i step
  log "making a $bigmib MiB and a $swmib MiB random file"
  make_random "$big" "$bigmib" bench-big
  make_random "$swarm" "$swmib" bench-swarm
  sync

  # -- the loopback limit: one TCP stream, memory to memory
  log "iperf3 -c 127.0.0.1 -t $BENCH_IPERF_SECS, $runs runs"
  port=$(free_port)
  iperf3 -s -B 127.0.0.1 -p "$port" > "$work/iperf3-server.out" 2>&1 &
  lpid=$!; pids+=($lpid)
  wait_listen "$port"
  for r in $(seq "$runs"); do
    if iperf3 -c 127.0.0.1 -p "$port" -t "$BENCH_IPERF_SECS" -J > "$work/iperf3-$r.json" 2>&1; then
      mbs=$(python3 -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 8e6))' "$work/iperf3-$r.json")
      log "  iperf3 run $r: $mbs MB/s"; ok iperf "$mbs"
    else
      log "  iperf3 run $r: FAILED"; failed iperf
    fi
  done
  kill "$lpid" 2>/dev/null || true; wait "$lpid" 2>/dev/null || true; forget "$lpid"

  # -- BIG: socat, tt from one source, tt from four; four seeders share it
  start_tracker
  log "tracker on 127.0.0.1:$tport; seeders s1..s4 hash and share big ($bigmib MiB, hard links)"
  for i in 1 2 3 4; do
    mkdir -p "$work/s$i" && ln "$big" "$work/s$i/big"
    seed "s$i" "$work/s$i" big
  done
  local steps=(socat one four) cur_tport=$tport base_tport=""
  if [ -n "$baseline" ]; then
    # The baseline binary gets a tracker and four seeders of its own, so that
    # each binary downloads from its own kind of server.
    TT=$baseline start_tracker base-tracker
    base_tport=$tport; tport=$cur_tport
    log "baseline $baseline: tracker on 127.0.0.1:$base_tport; seeders b1..b4"
    for i in 1 2 3 4; do
      mkdir -p "$work/b$i" && ln "$big" "$work/b$i/big"
      TT=$baseline tport=$base_tport seed "b$i" "$work/b$i" big
    done
    steps+=(one_base four_base)
  fi
  for r in $(seq "$runs"); do
    log "round $r of $runs: $bigmib MiB"
    for step in $(rotate "$r" "${steps[@]}"); do
      case $step in
        socat) socat_once socat "$big" ;;
        one) get_once one "one$r" big "$big" " --sources 1" ;;
        four) get_once four "four$r" big "$big" " --sources 4" ;;
        one_base) TT=$baseline tport=$base_tport get_once one_base "bone$r" big "$big" " --sources 1" ;;
        four_base) TT=$baseline tport=$base_tport get_once four_base "bfour$r" big "$big" " --sources 4" ;;
      esac
    done
  done
  for i in 1 2 3 4; do stop_peer "s$i"; done
  if [ -n "$baseline" ]; then for i in 1 2 3 4; do stop_peer "b$i"; done; fi

  # -- SWARM: one peer alone, then eight at once, from one seeder
  log "seeder w hashes and shares swarm ($swmib MiB)"
  mkdir -p "$work/w" && ln "$swarm" "$work/w/swarm"
  seed w "$work/w" swarm
  for r in $(seq "$runs"); do
    log "round $r of $runs: $swmib MiB"
    for step in $(rotate "$r" solo crowd); do
      case $step in
        solo) get_once solo "solo$r" swarm "$swarm" ;;
        crowd) crowd_once eight "crowd$r" 8 swarm "$swarm" ;;
      esac
    done
  done
  stop_peer w

  record "iperf3, one TCP stream, ${BENCH_IPERF_SECS} s" "-" "${V[iperf]:-}" "${F[iperf]:-0}"
  record "socat -b 131072, file -> TCP -> file" "$bigmib MiB" "${V[socat]:-}" "${F[socat]:-0}"
  record "tt get --sources 1 (1 of 4 seeders)" "$bigmib MiB" "${V[one]:-}" "${F[one]:-0}"
  record "tt get --sources 4 (4 seeders)" "$bigmib MiB" "${V[four]:-}" "${F[four]:-0}"
  if [ -n "$baseline" ]; then
    record "baseline tt get --sources 1" "$bigmib MiB" "${V[one_base]:-}" "${F[one_base]:-0}"
    record "baseline tt get --sources 4" "$bigmib MiB" "${V[four_base]:-}" "${F[four_base]:-0}"
    ratios+=("tt 1 source / baseline 1 source:  $(ratio "$(median_of "${V[one]:-}")" "$(median_of "${V[one_base]:-}")")   (target: within 10%)")
    ratios+=("tt 4 sources / baseline 4 sources: $(ratio "$(median_of "${V[four]:-}")" "$(median_of "${V[four_base]:-}")")   (target: within 10%)")
  fi
  record "tt get, 1 seeder" "$swmib MiB" "${V[solo]:-}" "${F[solo]:-0}"
  record "tt 8 peers get at once, 1 seeder (sum)" "8x$swmib MiB" "${V[eight]:-}" "${F[eight]:-0}"

  local m_socat m_iperf m_one m_four m_solo m_eight
  m_iperf=$(median_of "${V[iperf]:-}"); m_socat=$(median_of "${V[socat]:-}")
  m_one=$(median_of "${V[one]:-}"); m_four=$(median_of "${V[four]:-}")
  m_solo=$(median_of "${V[solo]:-}"); m_eight=$(median_of "${V[eight]:-}")
  ratios+=("tt 1 source / socat:               $(ratio "$m_one" "$m_socat")")
  ratios+=("tt 4 sources / socat:              $(ratio "$m_four" "$m_socat")")
  ratios+=("tt 4 sources / tt 1 source:        $(ratio "$m_four" "$m_one")")
  ratios+=("socat / iperf3:                    $(ratio "$m_socat" "$m_iperf")")
  ratios+=("tt 1 source / iperf3:              $(ratio "$m_one" "$m_iperf")")
  ratios+=("tt 8 peers at once / 1 peer alone: $(ratio "$m_eight" "$m_solo")   (both $swmib MiB)")
}

# ------------------------------------------------------------------ tracker load
# Where the server (null responder or tracker) and ttload run, BENCH_PIN:
#   same  (default) both on CPU 0 (taskset -c 0): no idle-CPU wake-ups in the
#         round trip, so the figures are repeatable; ttload's own CPU time is
#         part of every request's cost, for both servers alike
#   split server on CPU 0, ttload on CPU 1
#   none  wherever the scheduler puts them (on a VM whose idle vCPUs halt, a
#         W=1 round trip across two CPUs waits for a wake-up through the host:
#         see docs/benchmarks.md, Caveats)
srv_pin=(); gen_pin=()
set_pin() {
  case "$BENCH_PIN" in
    same) srv_pin=(taskset -c 0); gen_pin=(taskset -c 0) ;;
    split) srv_pin=(taskset -c 0); gen_pin=(taskset -c 1) ;;
    none) srv_pin=(); gen_pin=() ;;
    *) echo "bench: BENCH_PIN must be same, split or none" >&2; exit 2 ;;
  esac
}
unpin() { srv_pin=(); gen_pin=(); }
# field NAME FILE: the value of NAME=VALUE in ttload's result line in FILE.
field() { sed -n "s/^ttload: .* $1=\([^ ]*\).*/\1/p" "$2" | tail -1; }
null_port=""
null_pid=""
# start_null TAG [ARGS...]: a null responder (console in $work/TAG.out); sets
# null_port and null_pid.
start_null() {
  local tag=$1; shift
  ${srv_pin[@]+"${srv_pin[@]}"} "$TTLOAD" null --port 0 "$@" > >(stamp > "$work/$tag.out") 2> "$work/$tag.err" &
  null_pid=$!
  pids+=($null_pid)
  wait_line "$work/$tag.out" '^listening on 127\.0\.0\.1:[0-9]+' 10 > /dev/null
  null_port=$(sed -n 's/^[^ ]* listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/$tag.out")
}

# The peers and files every load run sets up (and the sizing run below).
load_set=(--peers 1000 --files 1000 --sources-per-file 10)

# load_once KEY PORT W MIX NAME PID: one ttload `load` run against 127.0.0.1:PORT
# (the server's process PID); appends its rate and latencies to V[KEY.rate],
# V[KEY.p50], ..., the server's CPU per answer in ns to V[KEY.cpu_ns], and the
# busy share of a CPU of the server and of ttload (percent) to V[KEY.srv_busy]
# and V[KEY.gen_busy]. A run fails when the server answered errors, or
# (tracker) a get_peers answer listed no peers.
load_once() {
  local key=$1 port=$2 w=$3 mix=$4 name=$5 pid=$6 out="$work/load-$1.out" f
  if ${gen_pin[@]+"${gen_pin[@]}"} "$TTLOAD" load --server "127.0.0.1:$port" --window "$w" --duration "$BENCH_LOAD_SECS" \
       --warmup 1 --mix "$mix" "${load_set[@]}" --server-pid "$pid" \
       > "$out" 2> "$work/load-$key.err" &&
     [ "$(field errors "$out")" = 0 ] &&
     { [ "$name" = null ] || [ "$(field nopeers "$out")" = 0 ]; }; then
    ok "$key.rate" "$(field rate "$out")"
    for f in p50 p99 p999; do ok "$key.$f" "$(field "${f}_us" "$out")"; done
    ok "$key.cpu_ns" "$(calc "$(field server_us "$out") * 1000" 0)"
    ok "$key.srv_busy" "$(calc "$(field server_cpu "$out") * 100" 1)"
    ok "$key.gen_busy" "$(calc "$(field load_cpu "$out") * 100" 1)"
    log "  $key: $(sed 's/^ttload: //' "$out") $(grep -o 'in [0-9.]* s' "$work/load-$key.err" | sed 's/^/setup /')"
  else
    log "  $key: FAILED"; sed 's/^/    /' "$out" "$work/load-$key.err" >&2 || true
    failed "$key.rate"
  fi
}

# The tracker against the null responder, alternating, W=16 and W=1. A fresh
# tracker per tracker run (so that state left by the mixed load does not pile
# up); one null responder for the whole subcommand (it keeps no state).
bench_tracker() {
  local r w step key gp="get_peers=100" mixed="get_peers=70,heartbeat=15,share_file=10,join=5"
  local nbytes sized_port="" sized_pid=""
  set_pin
  # How long the tracker's get_peers answers are (one short run), for a second
  # null responder whose answers are as long: the ratio to it leaves out what
  # the answer's size costs the kernel and ttload, and keeps what tt's handling costs.
  start_tracker "tracker-sizing"
  ${gen_pin[@]+"${gen_pin[@]}"} "$TTLOAD" load --server "127.0.0.1:$tport" --window 16 --duration 1 \
    --warmup 0.5 --mix "$gp" "${load_set[@]}" > "$work/load-sizing.out" 2> "$work/load-sizing.err" || true
  stop_pid "$tpid"
  rm -f "$work/tracker-sizing.log"
  nbytes=$(field answer_bytes "$work/load-sizing.out")
  if [[ "$nbytes" =~ ^[0-9]+$ ]] && [ "$nbytes" -ge 24 ]; then
    start_null null-sized --answer-bytes "$nbytes"
    sized_port=$null_port; sized_pid=$null_pid
  else
    log "could not learn the tracker's answer size; the sized null runs count as failed"
    sed 's/^/    /' "$work/load-sizing.out" "$work/load-sizing.err" >&2 || true
  fi
  start_null null
  log "null responders on 127.0.0.1:$null_port (15-byte answers) and :${sized_port:-?} (${nbytes:-?} bytes, as long as tt's get_peers answers)"
  log "$runs rounds of ${BENCH_LOAD_SECS} s runs (after 1 s warm-up); BENCH_PIN=$BENCH_PIN"
  for r in $(seq "$runs"); do
    for w in 16 1; do
      log "round $r of $runs, W=$w"
      for step in $(rotate "$r" null sized tracker mixed); do
        case $step in
          null) load_once "null.w$w" "$null_port" "$w" "$gp" null "$null_pid" ;;
          sized)
            if [ -n "$sized_pid" ]; then load_once "sized.w$w" "$sized_port" "$w" "$gp" null "$sized_pid"
            else failed "sized.w$w.rate"; fi ;;
          tracker|mixed)
            # The mixed load's joins bring new peer ids from one address all
            # the time, past the per-address default (meant for a NAT'd
            # site): the cap is lifted so the runs measure handling, not refusals.
            if [ $step = tracker ]; then start_tracker "tracker-$step-w$w-$r"
            else start_tracker "tracker-$step-w$w-$r" --max-ids-per-ip 2000000; fi
            if [ $step = tracker ]; then load_once "tt.w$w" "$tport" "$w" "$gp" tt "$tpid"
            else load_once "ttmix.w$w" "$tport" "$w" "$mixed" tt "$tpid"; fi
            stop_pid "$tpid"
            rm -f "$work/tracker-$step-w$w-$r.log" ;;
        esac
      done
    done
  done
  stop_pid "$null_pid"
  [ -z "$sized_pid" ] || stop_pid "$sized_pid"
  unpin
  local label what
  for w in 16 1; do
    for key in null sized tt ttmix; do
      case $key in
        null) label="ttload null, get_peers" ;;
        sized) label="ttload null, answers as long as tt's" ;;
        tt) label="tt tracker, get_peers (10 sources)" ;;
        ttmix) label="tt tracker, mixed 70/15/10/5" ;;
      esac
      record "$label, W=$w" "pin $BENCH_PIN" "${V[$key.w$w.rate]:-}" "${F[$key.w$w.rate]:-0}" "req/s"
      for what in p50 p99 p999; do
        record "  $what latency" "-" "${V[$key.w$w.$what]:-}" "0" "us"
      done
      record "  server CPU per answer" "-" "${V[$key.w$w.cpu_ns]:-}" "0" "ns"
      record "  server busy" "-" "${V[$key.w$w.srv_busy]:-}" "0" "% CPU"
      record "  ttload busy" "-" "${V[$key.w$w.gen_busy]:-}" "0" "% CPU"
    done
  done
  local nr tr mr n99 t99
  nr=$(median_of "${V[null.w16.rate]:-}"); tr=$(median_of "${V[tt.w16.rate]:-}")
  mr=$(median_of "${V[ttmix.w16.rate]:-}")
  n99=$(median_of "${V[null.w1.p99]:-}"); t99=$(median_of "${V[tt.w1.p99]:-}")
  ratios+=("tt get_peers / null, rate W=16:     $(ratio "$tr" "$nr")   (target >= 0.8)")
  ratios+=("tt mixed / null, rate W=16:         $(ratio "$mr" "$nr")")
  ratios+=("null / tt, server CPU per answer W=16: $(ratio "$(median_of "${V[null.w16.cpu_ns]:-}")" "$(median_of "${V[tt.w16.cpu_ns]:-}")")   (the servers' own CPU; batch sizes still follow ttload's pace)")
  ratios+=("sized null / null, rate W=16:       $(ratio "$(median_of "${V[sized.w16.rate]:-}")" "$nr")   (what tt-sized answers alone cost)")
  ratios+=("tt get_peers / sized null, rate W=16: $(ratio "$tr" "$(median_of "${V[sized.w16.rate]:-}")")   (what tt's handling costs)")
  ratios+=("tt get_peers / null, p99 W=1:       $(ratio "$t99" "$n99")   (target <= 1.5)")
  ratios+=("tt get_peers / null, rate W=1:      $(ratio "$(median_of "${V[tt.w1.rate]:-}")" "$(median_of "${V[null.w1.rate]:-}")")")
}

# ------------------------------------------------------------------ tracker memory
# rss_kb PID FIELD: VmRSS or VmHWM of PID, in kB.
rss_kb() { sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status"; }

# mem_once KEY PEERS: a fresh tracker (--peer-ttl 3600: nobody expires during
# the run) is filled with PEERS peers x 10 files over PEERS names; appends
# bytes per registration to V[KEY.bpr] and the RSS (MB) to V[KEY.rss].
mem_once() {
  local key=$1 n=$2 e0 e1 h1 regs out="$work/fill-$1.out" bpr
  start_tracker "tracker-mem" --peer-ttl 3600 --max-ids-per-ip 2000000 --max-files-per-ip 4000000
  e0=$(rss_kb "$tpid" VmRSS)
  if "$TTLOAD" fill --server "127.0.0.1:$tport" --peers "$n" --files-per-peer 10 --files "$n" \
       > "$out" 2> "$work/fill-$key.err"; then
    sleep 0.2
    e1=$(rss_kb "$tpid" VmRSS); h1=$(rss_kb "$tpid" VmHWM)
    regs=$(sed -n 's/^ttload: registered [0-9]* peers, \([0-9]*\) registrations.*/\1/p' "$out")
    bpr=$(calc "($e1 - $e0) * 1024 / $regs" 1)
    log "  $key: $(sed 's/^ttload: //' "$out"); VmRSS $e0 kB empty, $e1 kB after (VmHWM $h1 kB): $bpr bytes/registration"
    ok "$key.empty" "$(calc "$e0 / 1024" 1)"
    ok "$key.rss" "$(calc "$e1 / 1024" 1)"
    ok "$key.hwm" "$(calc "$h1 / 1024" 1)"
    ok "$key.bpr" "$bpr"
  else
    log "  $key: FAILED"; sed 's/^/    /' "$out" "$work/fill-$key.err" >&2 || true
    failed "$key.bpr"
  fi
  stop_pid "$tpid"
  rm -f "$work/tracker-mem.log"
}

bench_memory() {
  local r small=10000 big=$BENCH_MEM_PEERS
  log "tracker memory: $small peers x 10 files, then $big peers x 10 files; $runs runs"
  for r in $(seq "$runs"); do
    log "round $r of $runs"
    mem_once mem10k "$small"
    mem_once membig "$big"
  done
  local k n regs
  for k in mem10k membig; do
    [ $k = mem10k ] && n=$small || n=$big
    regs="$((n * 10)) reg"
    record "tt tracker RSS, empty" "-" "${V[$k.empty]:-}" "0" "MB"
    record "tt tracker RSS, $n peers x 10 files" "$regs" "${V[$k.rss]:-}" "${F[$k.bpr]:-0}" "MB"
    record "  VmHWM" "$regs" "${V[$k.hwm]:-}" "0" "MB"
    record "  bytes per registration" "$regs" "${V[$k.bpr]:-}" "0" "B"
  done
  ratios+=("tracker bytes per registration at $((big * 10)):  $(median_of "${V[membig.bpr]:-}")   (target <= 150 at 1M)")
}

# ------------------------------------------------------------------ share
# count_lines FILE REGEX: how many stamped lines of FILE match REGEX.
count_lines() { [ -f "$1" ] && cut -d' ' -f2- "$1" | grep -cE "$2" || true; }

# share_load KEY BUSY: a W=1 get_peers run against the tracker; with BUSY=1,
# peer a hashes `big` for the whole run: it is told `share big`, and told again
# each time one ends, so one more always waits behind the one hashing.
share_load() {
  local key=$1 busy=$2 out="$work/share-$1.out" n0 n lpid told=0 ended=0
  n0=$(count_lines "$work/a.out" 'shared a new files: big$')
  ${gen_pin[@]+"${gen_pin[@]}"} "$TTLOAD" load --server "127.0.0.1:$tport" --window 1 \
    --duration "$BENCH_LOAD_SECS" --warmup 0.3 --peers 100 --files 100 --sources-per-file 10 \
    > "$out" 2> >(stamp > "$work/share-$key.err") &
  lpid=$!; pids+=($lpid)
  wait_line "$work/share-$key.err" '^ttload: setup' 30 > /dev/null
  if [ "$busy" = 1 ]; then
    say a "share big"; say a "share big"; told=2
    while kill -0 "$lpid" 2>/dev/null; do
      n=$(count_lines "$work/a.out" 'shared a new files: big$')
      while [ $((n - n0)) -gt $ended ]; do ended=$((ended + 1)); say a "share big"; told=$((told + 1)); done
      sleep 0.2
    done
  fi
  wait "$lpid" || true; forget "$lpid"
  if [ "$(field errors "$out")" = 0 ] && [ "$(field nopeers "$out")" = 0 ]; then
    ok "$key.p50" "$(field p50_us "$out")"; ok "$key.p99" "$(field p99_us "$out")"
    ok "$key.max" "$(field max_us "$out")"
    log "  $key: $(sed 's/^ttload: //' "$out")"
    [ "$busy" = 0 ] || log "    a hashed big $ended time(s) during the run (and was still hashing at its end)"
  else
    log "  $key: FAILED"; sed 's/^/    /' "$out" >&2; failed "$key.p99"
  fi
  # The shares still queued end before the next run.
  for _ in $(seq 1200); do
    [ "$(count_lines "$work/a.out" 'shared a new files: big$')" -ge $((n0 + told)) ] && break
    sleep 0.1
  done
}

# share_get KEY BUSY ROUND: a fresh peer downloads `small` from a; with BUSY=1 it
# starts just after a was told `share big` (hashing the big file meanwhile).
share_get() {
  local key=$1 busy=$2 id="$1$3" t0 res n0 hl dl
  start_peer "$id" "$work/$id"
  joined "$id"
  n0=$(count_lines "$work/a.out" 'shared a new files: big$')
  if [ "$busy" = 1 ]; then say a "share big"; sleep 0.05; fi
  t0=$EPOCHREALTIME
  say "$id" "get small"
  if wait_line "$work/$id.out" "$(done_re small)" 600 > /dev/null &&
     res=$(check_download "$id" small "$work/a/small" "$t0"); then
    log "  $id (get small): ${res% *} s, ${res#* } MB/s ($(tt_said "$id"))"
    ok "$key" "${res#* }"
    if [ "$busy" = 1 ]; then
      for _ in $(seq 600); do
        [ "$(count_lines "$work/a.out" 'shared a new files: big$')" -gt "$n0" ] && break
        sleep 0.1
      done
      hl=$(grep -E ' Peer a shared a new files: big$' "$work/a.out" | tail -1 | cut -d' ' -f1)
      dl=$(done_line "$id" small | cut -d' ' -f1)
      log "    download ended $(calc "$hl - $dl" 3) s before the hashing did" \
          "$(awk "BEGIN { exit !($dl < $hl) }" && echo '(covered)' || echo '(NOT covered: the hashing ended first)')"
    fi
  else
    log "  $id (get small): FAILED"; failed "$key"
  fi
  stop_peer "$id"
  rm -rf "${work:?}/$id"; sync
}

# A tracker and a peer a that shares `small`; then, alternating, a W=1 get_peers
# run against the tracker and a download of `small` from a, each once with a
# idle and once while a hashes `big` (a 1 GiB `share`) on its threadpool.
hash_secs=1
bench_share() {
  local r step t0 line
  log "making a $BENCH_SHARE_MIB MiB and a $BENCH_SMALL_MIB MiB random file"
  mkdir -p "$work/a"
  make_random "$work/a/big" "$BENCH_SHARE_MIB" bench-share
  make_random "$work/a/small" "$BENCH_SMALL_MIB" bench-small
  sync
  set_pin   # the tracker and ttload as in `tracker`; peer a (and the downloads) anywhere
  start_tracker "tracker-share"
  seed a "$work/a" small
  t0=$EPOCHREALTIME
  say a "share big"
  line=$(wait_line "$work/a.out" 'shared a new files: big$' 600)
  hash_secs=$(calc "${line%% *} - $t0" 3)
  log "tracker on 127.0.0.1:$tport (BENCH_PIN=$BENCH_PIN); a shares small; its first share big took $hash_secs s"
  for r in $(seq "$runs"); do
    log "round $r of $runs"
    for step in $(rotate "$r" idle busy getidle getbusy); do
      case $step in
        idle) share_load idle 0 ;;
        busy) share_load busy 1 ;;
        getidle) share_get getidle 0 "$r" ;;
        getbusy) share_get getbusy 1 "$r" ;;
      esac
    done
  done
  stop_peer a
  stop_pid "$tpid"
  unpin
  local k label what
  for k in idle busy; do
    [ $k = idle ] && label="get_peers W=1, a idle" || label="get_peers W=1, a hashing big"
    record "tt tracker, $label" "pin $BENCH_PIN" "${V[$k.p99]:-}" "${F[$k.p99]:-0}" "us p99"
    record "  p50 latency" "-" "${V[$k.p50]:-}" "0" "us"
    record "  max latency" "-" "${V[$k.max]:-}" "0" "us"
  done
  record "tt get small from a, a idle" "$BENCH_SMALL_MIB MiB" "${V[getidle]:-}" "${F[getidle]:-0}"
  record "tt get small from a, a hashing big" "$BENCH_SMALL_MIB MiB" "${V[getbusy]:-}" "${F[getbusy]:-0}"
  ratios+=("get_peers max latency while a hashes:  $(median_of "${V[busy.max]:-}") us   (target < 10000)")
  ratios+=("get small during / not during hashing: $(ratio "$(median_of "${V[getbusy]:-}")" "$(median_of "${V[getidle]:-}")")")
}

# ------------------------------------------------------------------ instructions
# Instructions per request in the tracker's datagram handler (tracker_handle_from,
# as the UDP callback calls it: decode, registry, answer, log line), counted by
# callgrind: handlerbench sets
# up 10,000 extended peers and 1,000 files of 10 holders, then handles N
# requests; per request = (count at N=20010 - count at N=10) / 20000, so the
# set-up cancels. Exact and repeatable (nothing is timed), so one run each.
HB="$root/build/tests/bench/handlerbench"
# instr_count ACTION N: instructions executed inside tracker_handle_from.
instr_count() {
  { valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect='tracker_handle*' \
      "$HB" "$1" "$2" 2>&1 || true; } | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
bench_instr() {
  need_pkgs valgrind
  local a lo hi per
  log "handlerbench under callgrind: 10,000 peers, 1,000 files x 10 holders"
  for a in get_peers join; do
    lo=$(instr_count "$a" 10); hi=$(instr_count "$a" 20010)
    if [ -n "$lo" ] && [ -n "$hi" ]; then
      per=$(( (hi - lo) / 20000 ))
      log "  $a: $lo instructions at N=10, $hi at N=20010: $per per request"
      record "tracker_handle_from, $a (callgrind)" "-" "$per" "0" "instr"
    else
      log "  $a: FAILED"; record "tracker_handle_from, $a (callgrind)" "-" "" "1" "instr"
    fi
  done
}

# ------------------------------------------------------------------ bep15
# BEP 15 (UDP tracker protocol) announces: `tt tracker` against Debian's
# opentracker and btload's null responder, on the same work. btload
# (tests/bench/btload.cc, `btload --help`) connects S sockets, announces each
# of BENCH_BT_PAIRS (info hash, peer) pairs over BENCH_BT_HASHES info hashes
# once (setup, not timed: the server's RSS before and after it gives the bytes
# per pair), then keeps W announces of random pairs in flight and checks every
# answer. A fresh tracker per run; the server on CPU 0, btload on CPU 1.
BTLOAD="$root/build/tests/bench/btload"
# free_udp_port: a UDP port on 127.0.0.1 the kernel says is free.
free_udp_port() {
  python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
ot_port=""
ot_pid=""
# start_opentracker TAG: opentracker on UDP 127.0.0.1 (and a TCP port it also
# wants), chrooted to $work/ot, its whitelist filled with btload's info hashes
# (Debian builds it with a whitelist only); sets ot_port and ot_pid.
start_opentracker() {
  local tag=$1 tcp
  ot_port=$(free_udp_port); tcp=$(free_port)
  ${srv_pin[@]+"${srv_pin[@]}"} opentracker -i 127.0.0.1 -p "$tcp" -P "$ot_port" -d "$work/ot" \
    -w /whitelist.txt > "$work/$tag.out" 2>&1 &
  ot_pid=$!
  pids+=($ot_pid)
  for _ in $(seq 100); do
    [ -n "$(ss -Hlun "sport = :$ot_port")" ] && return 0
    sleep 0.1
  done
  log "opentracker did not start:"; sed 's/^/    /' "$work/$tag.out" >&2; return 1
}
# bt_ready PORT OUT: one announce, retried for 5 s (opentracker reads its
# whitelist after it starts); fails, with btload's reason in OUT, when the
# server never answers one well.
bt_ready() {
  local i
  for i in 1 2 3 4 5; do
    ${gen_pin[@]+"${gen_pin[@]}"} "$BTLOAD" load --server "127.0.0.1:$1" --window 1 --sockets 1 \
      --pairs 1 --hashes 1 --duration 0.01 --warmup 0 > "$2" 2>&1 && return 0
    grep -q 'did not answer a BEP 15 connect' "$2" && return 1  # 5 s gone already
    sleep 1
  done
  return 1
}
# bt_once KEY PORT W PID: one btload run against 127.0.0.1:PORT (process PID);
# appends rate, p50, p99, the server's CPU per announce (ns), the busy shares
# and the bytes per pair to V[KEY.*]. A run fails when the server does not
# speak BEP 15, or any answer was an error or malformed.
bt_once() {
  local key=$1 port=$2 w=$3 pid=$4 out="$work/bt-$1.out" f
  if ! bt_ready "$port" "$work/bt-$key.ready"; then
    log "  $key: FAILED: $(sed 's/^btload: //' "$work/bt-$key.ready" | tail -1)"; failed "$key.rate"; return 0
  fi
  if ${gen_pin[@]+"${gen_pin[@]}"} "$BTLOAD" load --server "127.0.0.1:$port" --window "$w" \
       --duration "$BENCH_LOAD_SECS" --warmup 1 --hashes "$BENCH_BT_HASHES" --pairs "$BENCH_BT_PAIRS" \
       --server-pid "$pid" > "$out" 2> "$work/bt-$key.err" &&
     [ "$(bt_field errors "$out")" = 0 ] && [ "$(bt_field malformed "$out")" = 0 ]; then
    ok "$key.rate" "$(bt_field rate "$out")"
    for f in p50 p99; do ok "$key.$f" "$(bt_field "${f}_us" "$out")"; done
    ok "$key.cpu_ns" "$(calc "$(bt_field server_us "$out") * 1000" 0)"
    ok "$key.srv_busy" "$(calc "$(bt_field server_cpu "$out") * 100" 1)"
    ok "$key.gen_busy" "$(calc "$(bt_field load_cpu "$out") * 100" 1)"
    ok "$key.bpp" "$(bt_field bytes_per_pair "$out")"
    log "  $key: $(sed 's/^btload: //' "$out") $(grep -o 'in [0-9.]* s' "$work/bt-$key.err" | sed 's/^/setup /')"
  else
    log "  $key: FAILED"; sed 's/^/    /' "$out" "$work/bt-$key.err" >&2 || true
    failed "$key.rate"
  fi
}
bt_field() { sed -n "s/^btload: .* $1=\([^ ]*\).*/\1/p" "$2" | tail -1; }

bench_bep15() {
  need_pkgs opentracker
  local r w step key label what pin np=$BENCH_BT_PAIRS
  if [ "$(nproc)" -ge 2 ]; then srv_pin=(taskset -c 0); gen_pin=(taskset -c 1); pin="split"
  else srv_pin=(taskset -c 0); gen_pin=(taskset -c 0); pin="same"; fi
  mkdir -p "$work/ot"
  chmod 755 "$work/ot"   # opentracker reads its whitelist as nobody, chrooted there
  "$BTLOAD" hashes --hashes "$BENCH_BT_HASHES" > "$work/ot/whitelist.txt"
  chmod 644 "$work/ot/whitelist.txt"
  # One null responder for the whole subcommand (it keeps no state); its
  # announce answers list 9 peers, as a swarm of 10 would.
  start_null_bt
  log "btload null on 127.0.0.1:$null_port; $runs rounds of ${BENCH_LOAD_SECS} s runs (after 1 s warm-up)"
  log "each run first announces $np (info hash, peer) pairs over $BENCH_BT_HASHES info hashes; server on CPU 0, btload on CPU ${gen_pin[2]}"
  for r in $(seq "$runs"); do
    for w in 16 1; do
      log "round $r of $runs, W=$w"
      for step in $(rotate "$r" null ot tt); do
        case $step in
          null) bt_once "btnull.w$w" "$null_port" "$w" "$null_pid" ;;
          ot)
            if start_opentracker "opentracker-w$w-$r"; then
              bt_once "ot.w$w" "$ot_port" "$w" "$ot_pid"
              stop_pid "$ot_pid"
            else failed "ot.w$w.rate"; fi ;;
          tt)
            if start_tracker "bep15-tt-w$w-$r"; then
              bt_once "btt.w$w" "$tport" "$w" "$tpid"
              stop_pid "$tpid"
              rm -f "$work/bep15-tt-w$w-$r.log"
            else failed "btt.w$w.rate"; fi ;;
        esac
      done
    done
  done
  stop_pid "$null_pid"
  unpin
  for w in 16 1; do
    for key in btnull ot btt; do
      case $key in
        btnull) label="btload null, BEP 15 announce" ;;
        ot) label="opentracker, BEP 15 announce" ;;
        btt) label="tt tracker, BEP 15 announce" ;;
      esac
      record "$label, W=$w" "pin $pin" "${V[$key.w$w.rate]:-}" "${F[$key.w$w.rate]:-0}" "req/s"
      for what in p50 p99; do record "  $what latency" "-" "${V[$key.w$w.$what]:-}" "0" "us"; done
      record "  server CPU per announce" "-" "${V[$key.w$w.cpu_ns]:-}" "0" "ns"
      record "  server busy" "-" "${V[$key.w$w.srv_busy]:-}" "0" "% CPU"
      record "  btload busy" "-" "${V[$key.w$w.gen_busy]:-}" "0" "% CPU"
    done
  done
  # Bytes per pair from every run's setup (W does not matter there).
  record "opentracker RSS growth per (hash, peer)" "$np pairs" "${V[ot.w16.bpp]:-} ${V[ot.w1.bpp]:-}" "0" "B"
  record "tt tracker RSS growth per (hash, peer)" "$np pairs" "${V[btt.w16.bpp]:-} ${V[btt.w1.bpp]:-}" "0" "B"
  local tr or
  tr=$(median_of "${V[btt.w16.rate]:-}"); or=$(median_of "${V[ot.w16.rate]:-}")
  ratios+=("tt / opentracker, BEP 15 rate W=16:      $(ratio "$tr" "$or")   (target >= 1.3)")
  ratios+=("tt / opentracker, CPU per announce W=16: $(ratio "$(median_of "${V[btt.w16.cpu_ns]:-}")" "$(median_of "${V[ot.w16.cpu_ns]:-}")")   (target < 1; the steadier figure)")
  ratios+=("tt / opentracker, bytes per (hash, peer): $(ratio "$(median_of "${V[btt.w16.bpp]:-} ${V[btt.w1.bpp]:-}")" "$(median_of "${V[ot.w16.bpp]:-} ${V[ot.w1.bpp]:-}")")   (target <= 1)")
  ratios+=("tt / opentracker, BEP 15 p99 W=1:        $(ratio "$(median_of "${V[btt.w1.p99]:-}")" "$(median_of "${V[ot.w1.p99]:-}")")")
  ratios+=("opentracker / null, BEP 15 rate W=16:    $(ratio "$or" "$(median_of "${V[btnull.w16.rate]:-}")")")
  ratios+=("tt / null, BEP 15 rate W=16:             $(ratio "$tr" "$(median_of "${V[btnull.w16.rate]:-}")")")
}
# start_null_bt: btload's null responder (pinned as the servers are); sets null_port and null_pid.
start_null_bt() {
  ${srv_pin[@]+"${srv_pin[@]}"} "$BTLOAD" null --port 0 > >(stamp > "$work/btnull.out") 2> "$work/btnull.err" &
  null_pid=$!
  pids+=($null_pid)
  wait_line "$work/btnull.out" '^listening on 127\.0\.0\.1:[0-9]+' 10 > /dev/null
  null_port=$(sed -n 's/^[^ ]* listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/btnull.out")
}

# ------------------------------------------------------------------ main
ratios=()
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo "?")
git -C "$root" diff --quiet HEAD -- src meson.build 2>/dev/null || commit+=" (src modified)"
facts="$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); Linux $(uname -r)"
facts2="$("$TT" --version 2>/dev/null | head -1) at $commit; $(iperf3 --version | head -1 | cut -d' ' -f1-2); $(socat -V | sed -n 's/^socat version \([^ ]*\).*/socat \1/p')"
load0=$(cut -d' ' -f1-3 /proc/loadavg)
log "$facts"
log "$facts2"
log "runs per figure: $runs; work directory $work"
for b in "${todo[@]}"; do "bench_$b"; done

echo
echo "tt benchmarks on 127.0.0.1 -- $facts"
echo "$facts2; load average before the run: $load0"
echo "MB/s = 10^6 bytes/s; req/s = answered requests/s; us = microseconds; median of $runs run(s), with min and max"
echo
printf '%-44s %-11s %-6s %10s %10s %10s  %s\n' "benchmark" "size" "unit" "median" "min" "max" "runs"
for i in "${!R_NAME[@]}"; do
  read -r med mn mx <<< "$(stats "${R_VALS[$i]}")"
  n=$(wc -w <<< "${R_VALS[$i]}")
  okc="$n ok"; [ "${R_FAIL[$i]}" = 0 ] || okc+=", ${R_FAIL[$i]} FAILED"
  printf '%-44s %-11s %-6s %10s %10s %10s  %s\n' "${R_NAME[$i]}" "${R_SIZE[$i]}" "${R_UNIT[$i]}" "$med" "$mn" "$mx" "$okc"
done
if [ ${#ratios[@]} -gt 0 ]; then
  echo
  echo "ratios of medians:"
  for r in "${ratios[@]}"; do echo "  $r"; done
fi
nfail=0
for f in "${R_FAIL[@]}"; do nfail=$((nfail + f)); done
[ $nfail = 0 ] || { echo; echo "$nfail run(s) FAILED; see the log above"; exit 1; }

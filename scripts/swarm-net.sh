#!/usr/bin/env bash
# Benchmarks tt's swarm on shaped links: one seeder and N downloaders, each in
# its own Linux network namespace, each host's upload limited by tbf, all fetch
# one file at once; prints how long the last one took, how many copies the
# seeder sent, and who sent what to whom. Run as root (exits 2 otherwise).
#
# Usage: scripts/swarm-net.sh [FLAGS]     (also: scripts/bench.sh swarm-net [FLAGS])
#   --n "1 4 8 16"   downloader counts, one measurement each (default "1 4 8 16")
#   --size-mib M     size of the random file shared by the seeder (default 32)
#   --rate RATE      each host's upload rate, in tc's units (default 80mbit)
#   --delay D        one-way delay added to each host's uplink with netem (RTT = 2 D);
#                    ignored with a warning when the kernel has no netem (default 0ms)
#   --burst B        tbf burst (default 64kb)
#   --latency L      tbf latency: how long a packet may queue (default 50ms)
#   --runs R         runs per N; figures are medians over them (default 1)
#   --sources K      passed to each downloader's `get NAME --sources K`
#   --tt PATH        the tt binary (default build/tt, built first by scripts/build.sh;
#                    not built when --tt is given)
#   --baseline PATH  a second tt binary measured the same way, runs alternating
#   --aria2          also aria2c downloaders, an aria2c seeder and opentracker on the
#                    same links (installs aria2, mktorrent, opentracker when missing)
#   --no-check       skip the link check (a plain TCP stream over the seeder's link)
#   --no-build       do not run scripts/build.sh
#   --keep           keep the work directory (consoles, logs) and print where it is
#
# Network: namespaces ttsn-hub (a bridge, br0), ttsn-tracker (10.77.0.1, link not
# shaped), ttsn-seeder (10.77.0.10) and ttsn-d1.. (10.77.0.11..), each host joined
# to the bridge by a veth pair whose host end (up0) carries `tbf rate RATE burst B
# latency L` on egress, i.e. on its upload; downloads are limited by the senders'
# uploads. No other address is used. Everything (namespaces, links, processes,
# files) is removed on exit, Ctrl-C and SIGTERM included; namespaces named
# ttsn-* left by a killed run are removed at start. One run at a time (a lock).
#
# Per N: a fresh tracker, a seeder that shares the file (`share NAME`, waited for
# until `Peer seeder shared a new files: NAME`), N fresh downloaders (empty dirs,
# stdin a FIFO held open, so they stay up and serve); once all have joined,
# `get NAME` is written to all of them at once (t0). A downloader is done at its
# console line `Downloaded file NAME successfully.` (lines are stamped on
# arrival); `Error downloading file NAME` fails the run, and so does a timeout
# (120 s + twice the time for the seeder to send N copies). Each copy is then
# compared with the original (cmp). Printed per N: T_N (t0 to the last
# download), T_N / T_1, slowest and fastest downloader / T_1, the bytes the
# seeder's uplink sent / file size, the delivered rate N x size / T_N (MB/s =
# 10^6 B/s), and a matrix of MiB each downloader received from each source (from
# the `Source IP:PORT sent BYTES bytes (K pieces)` lines a download prints, when
# this tt prints them) with each host's uplink bytes under it. Uplink bytes are
# the veth's tx counter: headers are in it, but a GSO packet (up to 64 KiB) is
# counted once, so they add under 1%; with --burst below 64kb tbf splits GSO
# packets and they add 4.5%. The log also has the seeder's tbf packets, drops
# and overlimits per run, and a link check: one plain TCP stream (python3) from
# the seeder to d1, against the tbf rate. The binaries are copied at start, so a
# rebuild meanwhile does not change what is measured.
#
# --aria2: opentracker (its whitelist holds the torrent's info hash) at
# 10.77.0.1:6969, a torrent made by mktorrent, an aria2c seeder (started, its
# file verified, and one announce, before t0) and N aria2c downloaders started
# at t0 (so aria2's T_N includes its start and its first announce),
# which keep seeding; one is done when its --on-bt-download-complete hook runs.
# Same T_N, ratios and seeder upload; aria2c reports no per-source bytes.
set -euo pipefail
{ # one block to the end: bash reads it whole before running it, so an edit of this file cannot break a run
export LC_ALL=C
cd "$(dirname "$0")/.."
root=$(pwd)
cmdline=${TT_SWARM_NET_CMD:-scripts/swarm-net.sh}
for a in "$@"; do
  if [[ "$a" =~ ^[A-Za-z0-9_./:=+-]+$ ]]; then cmdline+=" $a"; else cmdline+=" '${a//\'/\'\\\'\'}'"; fi
done

nlist="1 4 8 16"
size_mib=32
rate=80mbit
delay=0ms
burst=64kb
latency=50ms
runs=1
sources=""
tt_path=""
baseline=""
aria2=0
check=1
build=1
keep=0
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "swarm-net: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --n|--size-mib|--rate|--delay|--burst|--latency|--runs|--sources|--tt|--baseline)
      [ $# -ge 2 ] || die "$1 needs a value (try --help)"
      case "$1" in
        --n) nlist=$2 ;; --size-mib) size_mib=$2 ;; --rate) rate=$2 ;; --delay) delay=$2 ;;
        --burst) burst=$2 ;; --latency) latency=$2 ;; --runs) runs=$2 ;; --sources) sources=$2 ;;
        --tt) tt_path=$2 ;; --baseline) baseline=$2 ;;
      esac
      shift ;;
    --aria2) aria2=1 ;;
    --no-check) check=0 ;;
    --no-build) build=0 ;;
    --keep) keep=1 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument $1 (try --help)" ;;
  esac
  shift
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "--runs needs a positive number"
[[ "$size_mib" =~ ^[1-9][0-9]*$ ]] || die "--size-mib needs a positive number of MiB"
[ -z "$sources" ] || [[ "$sources" =~ ^[1-9][0-9]*$ ]] || die "--sources needs a positive number"
read -r -a ns_wanted <<< "$nlist"
[ ${#ns_wanted[@]} -gt 0 ] || die "--n needs at least one count"
nmax=0
for n in "${ns_wanted[@]}"; do
  if ! [[ "$n" =~ ^[1-9][0-9]*$ ]] || [ "$n" -gt 100 ]; then die "--n: each count must be 1..100, not $n"; fi
  [ "$n" -le "$nmax" ] || nmax=$n
done
# rate_bits RATE: tc's rate units to bits per second.
rate_bits() {
  local v=${1,,} m
  [[ "$v" =~ ^([0-9]+(\.[0-9]+)?)([a-z]*)$ ]] || return 1
  case ${BASH_REMATCH[3]} in
    ""|bit) m=1 ;; kbit) m=1e3 ;; mbit) m=1e6 ;; gbit) m=1e9 ;;
    kibit) m=1024 ;; mibit) m=1048576 ;; gibit) m=1073741824 ;;
    bps) m=8 ;; kbps) m=8e3 ;; mbps) m=8e6 ;; gbps) m=8e9 ;;
    *) return 1 ;;
  esac
  awk "BEGIN { printf \"%.0f\", ${BASH_REMATCH[1]} * $m }"
}
rbits=$(rate_bits "$rate" || echo 0)
[ "$rbits" -gt 0 ] || die "--rate: not a tc rate: $rate (e.g. 80mbit, 1gbit, 10mbps)"
[[ "${delay,,}" =~ ^[0-9]+(\.[0-9]+)?(s|ms|us)?$ ]] || die "--delay: not a time: $delay (e.g. 20ms)"
delay_on=1
[[ "${delay,,}" =~ ^0+(\.0+)?(s|ms|us)?$ ]] && delay_on=0

[ "$(id -u)" -eq 0 ] || {
  echo "swarm-net: needs root (it creates network namespaces, veth links and tc qdiscs);" \
       "run it as root, e.g. sudo $cmdline" >&2
  exit 2
}
for c in ip tc flock cmp; do command -v "$c" >/dev/null || die "needs $c (Debian: iproute2, util-linux, diffutils)"; done

# One run at a time: a second one would take the first's namespaces for leftovers.
exec {lockfd}< "$root/scripts/swarm-net.sh"
flock -n "$lockfd" || die "another swarm-net run holds the lock (scripts/swarm-net.sh); wait for it"

P=ttsn-           # namespace prefix
NET=10.77.0       # the /24 that exists only inside these namespaces
HUB=${P}hub

log() { echo "swarm-net: $*" >&2; }
calc() { awk "BEGIN { printf \"%.${2:-1}f\", $1 }"; }

# ------------------------------------------------------------------ cleanup
pids=()   # every process started here
fds=()    # write ends of peers' stdin FIFOs
declare -A PEER_FD PEER_PID
work=""
our_netns() { ip netns list 2>/dev/null | awk '{ print $1 }' | grep "^$P" || true; }
# kill_netns_procs SIG: every process inside a ttsn-* namespace gets SIG.
kill_netns_procs() {
  local ns pid
  for ns in $(our_netns); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "-$1" "$pid" 2>/dev/null || true; done
  done
}
netns_busy() {
  local ns
  for ns in $(our_netns); do [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] || return 0; done
  return 1
}
remove_netns() {
  local ns
  kill_netns_procs TERM
  for _ in $(seq 30); do netns_busy || break; sleep 0.1; done
  kill_netns_procs KILL
  for ns in $(our_netns); do ip netns del "$ns" 2>/dev/null || log "could not delete namespace $ns"; done
}
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
  local fd pid alive
  trap '' INT TERM
  for fd in "${fds[@]}"; do eval "exec ${fd}>&-" 2>/dev/null || true; done
  for _ in $(seq 30); do   # closed stdin: peers leave and exit by themselves
    alive=0
    for pid in "${PEER_PID[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  remove_netns
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$work" ]; then
    rm -f "$work/.running"
    if [ "$keep" = 1 ]; then log "work directory kept: $work"; else rm -rf "$work"; fi
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

leftover=$(our_netns | tr '\n' ' ')
if [ -n "$leftover" ]; then
  log "removing namespaces left by an earlier run: $leftover"
  remove_netns
fi
for d in "${TMPDIR:-/tmp}"/tt-swarm-net.*; do
  [ -f "$d/.running" ] && { log "removing $d, left by an earlier run"; rm -rf "$d"; }
done

# ------------------------------------------------------------------ build, tools
if [ -z "$tt_path" ]; then
  if [ "$build" = 1 ] && ! bash scripts/build.sh build; then
    die "scripts/build.sh failed; --no-build (build/tt as it is) or --tt PATH runs an existing binary"
  fi
  tt_path="$root/build/tt"
fi
declare -A BIN
BIN[tt]=$(realpath "$tt_path")
[ -x "${BIN[tt]}" ] || die "no tt binary at $tt_path"
bins=(tt)
if [ -n "$baseline" ]; then
  BIN[baseline]=$(realpath "$baseline")
  [ -x "${BIN[baseline]}" ] || die "no tt binary at $baseline (--baseline)"
  bins+=(baseline)
fi
need_pkgs() {   # need_pkgs PKG...: installs the missing ones; fails if one cannot be
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || true
  for p in "${missing[@]}"; do
    apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 || { log "package $p: not installable here"; return 1; }
  done
}
if [ "$aria2" = 1 ]; then
  if need_pkgs aria2 mktorrent opentracker; then
    OPENTRACKER=$(command -v opentracker || command -v opentracker.debian || true)
    [ -n "$OPENTRACKER" ] || { log "no opentracker binary after installing; skipping --aria2"; aria2=0; }
  else
    log "skipping --aria2"; aria2=0
  fi
fi
[ "$aria2" = 0 ] || bins+=(aria2)

work=$(mktemp -d "${TMPDIR:-/tmp}/tt-swarm-net.XXXXXX")
touch "$work/.running"
chmod 755 "$work"
# Copies are run: a rebuild during the run cannot change what is measured.
declare -A SRC
for b in "${bins[@]}"; do
  [ "$b" != aria2 ] || continue
  SRC[$b]=${BIN[$b]}
  cp "${BIN[$b]}" "$work/$b.bin"
  BIN[$b]="$work/$b.bin"
done

# ------------------------------------------------------------------ network
host_ip() {   # host_ip NAME: tracker, seeder, d1, d2, ...
  case $1 in tracker) echo "$NET.1" ;; seeder) echo "$NET.10" ;; d*) echo "$NET.$((10 + ${1#d}))" ;; esac
}
in_ns() { local h=$1; shift; ip netns exec "$P$h" "$@"; }
tx_bytes() { in_ns "$1" cat /sys/class/net/up0/statistics/tx_bytes; }
# tbf_stats HOST: "PACKETS DROPPED OVERLIMITS" sent by the host's tbf so far.
tbf_stats() {
  in_ns "$1" tc -s qdisc show dev up0 | awk '/^qdisc tbf/ { t = 1; next }
    t && /^ *Sent / { gsub(/[(),]/, " "); print $4, $7, $9; exit }'

}
netem_ok=0
make_net() {
  local h hosts=(tracker seeder) i
  for i in $(seq "$nmax"); do hosts+=("d$i"); done
  ip netns add "$HUB"
  ip -n "$HUB" link set lo up
  ip -n "$HUB" link add br0 type bridge
  ip -n "$HUB" link set br0 up
  if [ "$delay_on" = 1 ]; then
    if ip netns exec "$HUB" tc qdisc add dev lo root netem delay 1ms 2>/dev/null; then
      netem_ok=1; ip netns exec "$HUB" tc qdisc del dev lo root
    else
      log "WARNING: netem is not available in this kernel: --delay $delay is ignored (no delay added)"
    fi
  fi
  for h in "${hosts[@]}"; do
    ip netns add "$P$h"
    in_ns "$h" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
    ip -n "$P$h" link set lo up
    # Made in the hub, one end moved to the host: nothing ever lives in the
    # root namespace, so no name there can clash.
    ip -n "$HUB" link add "h-$h" type veth peer name up0 netns "$P$h"
    ip -n "$HUB" link set "h-$h" master br0
    ip -n "$HUB" link set "h-$h" up
    ip -n "$P$h" addr add "$(host_ip "$h")/24" dev up0
    ip -n "$P$h" link set up0 up
    if [ "$netem_ok" = 1 ]; then
      if [ "$h" = tracker ]; then
        in_ns "$h" tc qdisc add dev up0 root netem delay "$delay" limit 100000
      else
        in_ns "$h" tc qdisc add dev up0 root handle 1: netem delay "$delay" limit 100000
        in_ns "$h" tc qdisc add dev up0 parent 1:1 handle 10: tbf rate "$rate" burst "$burst" latency "$latency"
      fi
    elif [ "$h" != tracker ]; then
      in_ns "$h" tc qdisc add dev up0 root tbf rate "$rate" burst "$burst" latency "$latency"
    fi
  done
}

# ------------------------------------------------------------------ processes
# stamp, find_line, wait_line: time-stamped console lines (shared with the other bench script).
source "$root/scripts/stamped-lines.sh"
# close_inherited: in a child, before exec: drops the FIFOs' write ends (an
# inherited one would keep another peer's stdin open) and the lock.
close_inherited() {
  local fd
  for fd in "${fds[@]}"; do eval "exec ${fd}>&-"; done
  eval "exec ${lockfd}<&-"
}
forget() {   # forget PID: drop PID from pids
  local k=() x
  for x in "${pids[@]}"; do [ "$x" = "$1" ] || k+=("$x"); done
  pids=(${k[@]+"${k[@]}"})
}
stop_pid() {   # stop_pid PID: SIGTERM, SIGKILL after 3 s, reaped
  kill "$1" 2>/dev/null || true
  for _ in $(seq 30); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  forget "$1"
}
tport=""; tpid=""
# start_tracker BIN DIR: `tt tracker` in ttsn-tracker, console DIR/tracker.out; sets tport, tpid.
start_tracker() {
  ( close_inherited
    exec ip netns exec "${P}tracker" "$1" tracker --host "$NET.1" --port 0 --log "$2/tracker.log" \
      < /dev/null > "$2/tracker.out" 2>&1 ) &
  tpid=$!; pids+=("$tpid"); tport=""
  for _ in $(seq 100); do
    tport=$(sed -n "s/^Tracker started at $NET\.1:\([0-9]*\).*/\1/p" "$2/tracker.out" 2>/dev/null || true)
    [ -n "$tport" ] && return 0
    sleep 0.1
  done
  log "the tracker did not start:"; sed 's/^/    /' "$2/tracker.out" >&2; return 1
}
# record_run BINARY N RUN TMAX TMIN MATRIX TBF0 TBF1: a run that ended well (tt
# or aria2): its figures (the seeder's uplink bytes from tx0/tx1 of the caller)
# into the tables, and its log line and matrix on stderr.
record_run() {
  local b=$1 n=$2 r=$3 tmax=$4 tmin=$5 m=$6 up agg
  up=$(calc "(${tx1[seeder]} - ${tx0[seeder]}) / $size" 2)
  agg=$(calc "$n * $size / $tmax / 1e6" 1)
  addv T "$b,$n" "$tmax"; addv SLOW "$b,$n" "$tmax"; addv FAST "$b,$n" "$tmin"
  addv UP "$b,$n" "$up"; addv AGG "$b,$n" "$agg"; addv NOK "$b,$n" 1
  MATRIX[$b,$n,$r]="$m"$'\n'; RUN_T[$b,$n,$r]=$tmax
  log "$b N=$n run $r: T_N $tmax s (fastest $tmin s), seeder sent $up x the file, $agg MB/s delivered;" \
      "seeder's tbf: $(tbf_delta "$7" "$8")"
  printf '%s\n' "$m" >&2
}
# start_peer BIN RUNDIR NAME: `tt peer` NAME in ttsn-NAME, dir RUNDIR/NAME, stdin a
# FIFO held open here, console stamped into RUNDIR/NAME.out.
start_peer() {
  local bin=$1 rd=$2 id=$3 fd
  mkdir -p "$rd/$id"
  mkfifo "$rd/$id.in"
  ( close_inherited
    exec ip netns exec "$P$id" "$bin" peer --id "$id" --tracker "$NET.1:$tport" --dir "$rd/$id" \
      --host "$(host_ip "$id")" --log "$rd/$id.log" < "$rd/$id.in" > >(stamp > "$rd/$id.out") 2>&1 ) &
  PEER_PID[$id]=$!
  pids+=($!)
  exec {fd}> "$rd/$id.in"
  PEER_FD[$id]=$fd
  fds+=("$fd")
}
say() { printf '%s\n' "$2" >&"${PEER_FD[$1]}"; }
# stop_peers: closes every peer's stdin (they leave and exit), kills the ones
# still up after 5 s, then stops the tracker.
stop_peers() {
  local id fd pid alive
  for fd in "${fds[@]}"; do eval "exec ${fd}>&-"; done
  fds=()
  for _ in $(seq 50); do
    alive=0
    for pid in "${PEER_PID[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for id in "${!PEER_PID[@]}"; do
    pid=${PEER_PID[$id]}
    if kill -0 "$pid" 2>/dev/null; then log "peer $id did not exit at end of input; killed"; stop_pid "$pid"; fi
    wait "$pid" 2>/dev/null || true
    forget "$pid"
  done
  PEER_PID=(); PEER_FD=()
  [ -z "$tpid" ] || stop_pid "$tpid"
  tpid=""
}

# ------------------------------------------------------------------ the link check
# A plain TCP stream from the seeder to d1 over the shaped link: what one
# connection gets (tt cannot beat it), set against the tbf rate.
link_check() {
  command -v python3 >/dev/null || { log "link check skipped: no python3"; return 0; }
  local bytes=$((size_mib < 16 ? size_mib * 1048576 : 16 * 1048576)) out="$work/linkcheck.out" spid mbit
  ( close_inherited
    exec ip netns exec "${P}d1" python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 5201)); s.listen(1); s.settimeout(30); print("listening", flush=True)
c, _ = s.accept(); n = 0; t0 = None
while True:
    b = c.recv(1 << 20)
    if not b: break
    if t0 is None: t0 = time.monotonic()
    n += len(b)
print(n, time.monotonic() - t0, flush=True)' "$NET.11" > "$out" 2>&1 ) &
  spid=$!; pids+=("$spid")
  for _ in $(seq 50); do grep -q listening "$out" 2>/dev/null && break; sleep 0.1; done
  ( close_inherited
    exec ip netns exec "${P}seeder" timeout 60 python3 -c '
import socket, sys
c = socket.create_connection((sys.argv[1], 5201)); b = bytes(1 << 20); left = int(sys.argv[2])
while left > 0:
    c.sendall(b[:min(left, len(b))]); left -= len(b)
c.close()' "$NET.11" "$bytes" ) || true
  wait "$spid" 2>/dev/null || true; forget "$spid"
  read -r nb secs <<< "$(sed -n 2p "$out")"
  if [ "${nb:-0}" = "$bytes" ]; then
    mbit=$(calc "$nb * 8 / $secs / 1e6" 1)
    linkcheck="one TCP stream seeder -> d1: $mbit Mbit/s ($(calc "$mbit * 1e8 / $rbits" 0)% of $rate)"
    log "link check: $linkcheck"
  else
    log "link check failed:"; sed 's/^/    /' "$out" >&2
    linkcheck="failed"
  fi
}

# ------------------------------------------------------------------ one tt run
NAME=swarm.bin
orig="$work/$NAME"
# Results, by "BIN,N": space-separated values over runs.
declare -A T SLOW FAST UP AGG NOK NFAIL MATRIX RUN_T
addv() { local -n arr=$1; arr[$2]="${arr[$2]:-} $3"; }
# mib BYTES
mib() { calc "$1 / 1048576" 1; }

# tbf_delta "P0 D0 O0" "P1 D1 O1": packets, drops and overlimits between two tbf_stats.
tbf_delta() {
  local s0 s1
  read -r -a s0 <<< "$1"; read -r -a s1 <<< "$2"
  if [ ${#s0[@]} != 3 ] || [ ${#s1[@]} != 3 ]; then echo "no stats"; return; fi
  echo "$((s1[0] - s0[0])) packets, $((s1[1] - s0[1])) dropped, $((s1[2] - s0[2])) overlimits"
}

# matrix_text N ANY WHY: the received-from table of a run, from the caller's
# cell[DOWNLOADER,SOURCE] (bytes) and tx0/tx1[HOST] (uplink tx counters), in MiB;
# when ANY is 0, the uplink row and "per-source bytes: WHY".
matrix_text() {
  local n=$1 any=$2 cols=(seeder) col id row tot bytes k
  for id in $(seq -f 'd%g' "$n"); do cols+=("$id"); done
  for k in "${!cell[@]}"; do [[ $k != *,other ]] || { cols+=(other); break; }; done
  row=$(printf '    %-10s' "from ->")
  for col in "${cols[@]}"; do row+=$(printf ' %6s' "$col"); done
  [ "$any" = 0 ] || row+=$(printf ' %7s' total)
  echo "$row"
  if [ "$any" = 1 ]; then
    for id in $(seq -f 'd%g' "$n"); do
      row=$(printf '    %-10s' "$id"); tot=0
      for col in "${cols[@]}"; do
        bytes=${cell[$id,$col]:-0}; tot=$((tot + bytes))
        if [ "$bytes" = 0 ]; then row+=$(printf ' %6s' .); else row+=$(printf ' %6s' "$(mib "$bytes")"); fi
      done
      echo "$row $(printf '%7s' "$(mib "$tot")")"
    done
  fi
  row=$(printf '    %-10s' "uplink tx")
  for col in "${cols[@]}"; do
    if [ "$col" = other ]; then row+=$(printf ' %6s' -)
    else row+=$(printf ' %6s' "$(mib $((tx1[$col] - tx0[$col])))"); fi
  done
  echo "$row"
  [ "$any" = 1 ] || echo "    per-source bytes: $3"
}

# tt_run BIN N R: one measurement of binary BIN (tt or baseline) with N downloaders.
tt_run() {
  local b=$1 n=$2 r=$3 bin=${BIN[$1]} rd="$work/$1-n$2-r$3" id line t0 fail=0 deadline
  local -A port done_t tx0 tx1
  mkdir -p "$rd/seeder"
  ln "$orig" "$rd/seeder/$NAME"
  if ! start_tracker "$bin" "$rd"; then
    stop_pid "$tpid"; tpid=""; addv NFAIL "$b,$n" 1; return 0
  fi
  for id in seeder $(seq -f 'd%g' "$n"); do start_peer "$bin" "$rd" "$id"; done
  for id in seeder $(seq -f 'd%g' "$n"); do
    line=$(wait_line "$rd/$id.out" "^Peer $id joined the network on TCP port [0-9]+" 20) || { fail=1; break; }
    port[$id]=${line##* }
  done
  if [ $fail = 0 ]; then
    say seeder "share $NAME"
    line=$(wait_line "$rd/seeder.out" "shared a new files: $NAME\$|^Error|^File .* does not exist" 120) || fail=1
    [[ "$line" == *"shared a new files"* ]] || { log "the seeder could not share $NAME"; fail=1; }
  fi
  if [ $fail = 1 ]; then
    log "$b N=$n run $r: setup FAILED"; stop_peers; addv NFAIL "$b,$n" 1; return 0
  fi
  for id in seeder $(seq -f 'd%g' "$n"); do tx0[$id]=$(tx_bytes "$id"); done
  local q0 q1
  q0=$(tbf_stats seeder)
  local getcmd="get $NAME${sources:+ --sources $sources}"
  t0=$EPOCHREALTIME
  for id in $(seq -f 'd%g' "$n"); do say "$id" "$getcmd"; done
  # Worst case the seeder sends all N copies itself; twice that, plus 120 s.
  deadline=$((SECONDS + 120 + 2 * n * size_mib * 8388608 / rbits))
  local left=$n ok=1
  while [ "$left" -gt 0 ]; do
    for id in $(seq -f 'd%g' "$n"); do
      [ -z "${done_t[$id]:-}" ] || continue
      if line=$(find_line "$rd/$id.out" "^(Downloaded file $NAME successfully\.|Error downloading file $NAME|No peers found with file $NAME)"); then
        if [[ "$line" == *"successfully."* ]]; then done_t[$id]=${line%% *}
        else done_t[$id]=fail; ok=0; log "$b N=$n run $r: $id: ${line#* }"; fi
        left=$((left - 1))
      elif ! kill -0 "${PEER_PID[$id]}" 2>/dev/null; then
        done_t[$id]=fail; ok=0; left=$((left - 1)); log "$b N=$n run $r: $id exited"
      fi
    done
    [ "$left" -gt 0 ] || break
    if [ $SECONDS -ge $deadline ]; then
      log "$b N=$n run $r: timed out with $left download(s) unfinished"; ok=0; break
    fi
    sleep 0.2
  done
  for id in seeder $(seq -f 'd%g' "$n"); do tx1[$id]=$(tx_bytes "$id"); done
  q1=$(tbf_stats seeder)
  # The per-source lines follow the `Received` line that follows the done line.
  for id in $(seq -f 'd%g' "$n"); do
    [ "${done_t[$id]:-fail}" = fail ] || wait_line "$rd/$id.out" "^Received " 5 > /dev/null || true
  done
  sleep 0.3
  local size tmax=0 tmin="" dt
  size=$(stat -c %s "$orig")
  for id in $(seq -f 'd%g' "$n"); do
    [ "${done_t[$id]:-fail}" != fail ] || continue
    if ! cmp -s "$orig" "$rd/$id/$NAME"; then
      log "$b N=$n run $r: $id's copy differs from the original"; ok=0; continue
    fi
    dt=$(calc "${done_t[$id]} - $t0" 3)
    awk "BEGIN { exit !($dt > $tmax) }" && tmax=$dt
    { [ -z "$tmin" ] || awk "BEGIN { exit !($dt < $tmin) }"; } && tmin=$dt
  done
  # who sent what: `Source IP:PORT sent BYTES bytes (K pieces)`
  local -A addr2 cell
  local src bytes any=0 col m
  addr2["$NET.10:${port[seeder]}"]=seeder
  for id in $(seq -f 'd%g' "$n"); do addr2["$(host_ip "$id"):${port[$id]}"]=$id; done
  for id in $(seq -f 'd%g' "$n"); do
    while read -r src bytes; do
      any=1
      col=${addr2[$src]:-other}
      cell[$id,$col]=$(( ${cell[$id,$col]:-0} + bytes ))
    done < <(sed -n 's/^[0-9.]* Source \([0-9.]*:[0-9]*\) sent \([0-9]*\) bytes.*/\1 \2/p' "$rd/$id.out")
  done
  m=$(matrix_text "$n" "$any" "not reported by this tt")
  if [ $ok = 1 ]; then
    record_run "$b" "$n" "$r" "$tmax" "$tmin" "$m" "$q0" "$q1"
  else
    addv NFAIL "$b,$n" 1
    for id in $(seq -f 'd%g' "$n"); do
      [ "${done_t[$id]:-fail}" = fail ] || continue
      log "  $id's console ends:"; tail -n 5 "$rd/$id.out" | sed 's/^/      /' >&2
    done
    log "$b N=$n run $r: FAILED (consoles in $rd; --keep keeps them)"
  fi
  stop_peers
  for id in $(seq -f 'd%g' "$n"); do rm -rf "${rd:?}/$id"; done
  rm -rf "${rd:?}/seeder"
}

# ------------------------------------------------------------------ one aria2 run
# aria2_run N R: opentracker in ttsn-tracker, an aria2c seeder, N aria2c downloaders
# (which keep seeding). t0 is just before the downloaders start, so aria2's T_N
# includes aria2c's start and first announce; a downloader is done when its
# --on-bt-download-complete hook runs (download verified, seeding about to start).
aria2_run() {
  local n=$1 r=$2 rd="$work/aria2-n$1-r$2" id line t0 ok=1 deadline tmax=0 tmin="" dt size
  local -A tx0 tx1 done_t apid
  mkdir -p "$rd/seeder"
  ln "$orig" "$rd/seeder/$NAME"
  cp "$work/swarm.torrent" "$rd/"
  # Debian's opentracker serves only whitelisted info hashes; it chroots to -d.
  aria2c -S "$rd/swarm.torrent" | sed -n 's/^Info Hash: \([0-9a-f]\{40\}\)$/\1/p' > "$rd/whitelist"
  chmod 644 "$rd/whitelist"
  ( close_inherited
    exec ip netns exec "${P}tracker" "$OPENTRACKER" -i "$NET.1" -p 6969 -P 6969 -d "$rd" -w whitelist \
      > "$rd/tracker.out" 2>&1 < /dev/null ) &
  tpid=$!; pids+=("$tpid")
  sleep 0.3
  local aopts=(--enable-dht=false --enable-dht6=false --bt-enable-lpd=false --enable-peer-exchange=true
               --disable-ipv6=true --seed-ratio=0.0 --file-allocation=none --summary-interval=0
               --console-log-level=notice --bt-tracker-interval=1 --bt-max-peers=0
               --stop-with-process=$$ --show-console-readout=false --enable-color=false
               --on-bt-download-complete="$work/aria2-done.sh")
  start_aria() {   # start_aria HOST DIR [OPTS...]: the hook appends "TIME PATH" to RUNDIR/HOST.done
    local h=$1 d=$2; shift 2
    ( close_inherited
      export ARIA_DONE="$rd/$h.done"
      exec ip netns exec "$P$h" aria2c "${aopts[@]}" "$@" --dir "$d" --bt-external-ip="$(host_ip "$h")" \
        --interface="$(host_ip "$h")" "$rd/swarm.torrent" < /dev/null > >(stamp > "$rd/$h.out") 2>&1 ) &
    apid[$h]=$!; pids+=($!)
  }
  start_aria seeder "$rd/seeder" --check-integrity=true
  wait_line "$rd/seeder.out" "listening on TCP port" 60 > /dev/null || ok=0
  sleep 1.5   # its first announce
  for id in seeder $(seq -f 'd%g' "$n"); do tx0[$id]=$(tx_bytes "$id"); done
  local q0 q1
  q0=$(tbf_stats seeder)
  t0=$EPOCHREALTIME
  for id in $(seq -f 'd%g' "$n"); do mkdir -p "$rd/$id"; start_aria "$id" "$rd/$id"; done
  deadline=$((SECONDS + 120 + 2 * n * size_mib * 8388608 / rbits))
  local left=$n
  while [ "$left" -gt 0 ] && [ $SECONDS -lt $deadline ]; do
    for id in $(seq -f 'd%g' "$n"); do
      [ -z "${done_t[$id]:-}" ] || continue
      if [ -s "$rd/$id.done" ]; then
        read -r line _ < "$rd/$id.done"; done_t[$id]=$line; left=$((left - 1))
      elif ! kill -0 "${apid[$id]}" 2>/dev/null; then
        done_t[$id]=fail; ok=0; left=$((left - 1)); log "aria2 N=$n run $r: $id exited"
      fi
    done
    sleep 0.2
  done
  [ "$left" = 0 ] || { ok=0; log "aria2 N=$n run $r: timed out with $left download(s) unfinished"; }
  for id in seeder $(seq -f 'd%g' "$n"); do tx1[$id]=$(tx_bytes "$id"); done
  q1=$(tbf_stats seeder)
  size=$(stat -c %s "$orig")
  for id in $(seq -f 'd%g' "$n"); do
    [ "${done_t[$id]:-fail}" != fail ] || continue
    sleep 0.1
    cmp -s "$orig" "$rd/$id/$NAME" || { log "aria2 N=$n run $r: $id's copy differs"; ok=0; continue; }
    dt=$(calc "${done_t[$id]} - $t0" 3)
    awk "BEGIN { exit !($dt > $tmax) }" && tmax=$dt
    { [ -z "$tmin" ] || awk "BEGIN { exit !($dt < $tmin) }"; } && tmin=$dt
  done
  local -A cell=()
  local m
  m=$(matrix_text "$n" 0 "not reported by aria2c")
  if [ $ok = 1 ]; then
    record_run aria2 "$n" "$r" "$tmax" "$tmin" "$m" "$q0" "$q1"
  else
    addv NFAIL "aria2,$n" 1; log "aria2 N=$n run $r: FAILED (consoles in $rd; --keep keeps them)"
  fi
  for id in "${!apid[@]}"; do stop_pid "${apid[$id]}"; done
  stop_pid "$tpid"; tpid=""
  for id in $(seq -f 'd%g' "$n"); do rm -rf "${rd:?}/$id"; done
  rm -rf "${rd:?}/seeder"
}

# ------------------------------------------------------------------ main
facts="$(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) cores; Linux $(uname -r)"
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo "?")
git -C "$root" diff --quiet HEAD -- src meson.build 2>/dev/null || commit+=" (src modified)"
log "$facts"
log "making a $size_mib MiB file from /dev/urandom"
head -c $((size_mib * 1048576)) /dev/urandom > "$orig"
log "namespaces ${P}hub, ${P}tracker, ${P}seeder, ${P}d1..d$nmax on $NET.0/24; uplinks tbf rate $rate burst $burst latency $latency"
make_net
linkcheck="skipped (--no-check)"
[ "$check" = 0 ] || link_check
if [ "$aria2" = 1 ]; then
  mktorrent -a "http://$NET.1:6969/announce" -o "$work/swarm.torrent" "$orig" > /dev/null
  cat > "$work/aria2-done.sh" <<'EOF'
#!/bin/bash
printf '%s %s\n' "$EPOCHREALTIME" "$3" >> "$ARIA_DONE"
EOF
  chmod 755 "$work/aria2-done.sh"
fi
for n in "${ns_wanted[@]}"; do
  for r in $(seq "$runs"); do
    order=("${bins[@]}")
    if [ $((r % 2)) = 0 ] && [ ${#bins[@]} -gt 1 ]; then   # alternate: reversed on even runs
      order=(); for ((i = ${#bins[@]} - 1; i >= 0; i--)); do order+=("${bins[$i]}"); done
    fi
    for b in "${order[@]}"; do
      log "$b: N=$n, run $r of $runs"
      if [ "$b" = aria2 ]; then
        aria2_run "$n" "$r"
      else
        tt_run "$b" "$n" "$r"
      fi
    done
  done
done

# ------------------------------------------------------------------ report
median() {   # median "V1 V2 ...": the median, or -
  [ -n "${1// /}" ] || { echo -; return; }
  tr ' ' '\n' <<< "$1" | grep . | sort -g | awk '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.3f\n", m }'
}
ratio() { if [ "$1" = - ] || [ "$2" = - ]; then echo -; else calc "$1 / $2" 2; fi; }
fmt() { if [ "$1" = - ]; then echo -; else calc "$1" "$2"; fi; }   # fmt VALUE DECIMALS
copy_secs=$(calc "$size_mib * 8388608 / $rbits" 2)
delay_note="no delay"
if [ "$delay_on" = 1 ]; then
  if [ "$netem_ok" = 1 ]; then delay_note="netem delay $delay on every uplink (RTT 2 x $delay)"
  else delay_note="--delay $delay IGNORED (no netem in this kernel)"; fi
fi
echo
echo "tt swarm on shaped links (network namespaces) -- $facts"
for b in "${bins[@]}"; do
  case $b in
    aria2) echo "aria2: $(aria2c --version | head -1) (T_N includes its start), opentracker $(dpkg-query -W -f='${Version}' opentracker), mktorrent $(dpkg-query -W -f='${Version}' mktorrent)" ;;
    *) v="$b: ${SRC[$b]} ($("${BIN[$b]}" --version 2>/dev/null | head -1 || true))"
       [ "${SRC[$b]}" != "$root/build/tt" ] || v+=", tree at $commit"
       echo "$v" ;;
  esac
done
echo "links: each host's upload $rate (tbf burst $burst latency $latency), tracker unshaped, $delay_note"
echo "file: $size_mib MiB; one copy over one uplink takes $copy_secs s at $rate; link check: $linkcheck"
echo "T_N: seconds from \`get\` to the last identical copy; /T_1: over T_1 of the same binary;"
echo "seeder up: bytes the seeder's uplink sent (headers included) / file size; agg: N x size / T_N"
echo "median of $runs run(s) per row"
echo
printf '%-9s %4s %8s %7s %12s %12s %10s %9s  %s\n' binary N "T_N s" "T_N/T_1" "slowest/T_1" "fastest/T_1" "seeder up" "agg MB/s" runs
nfail=0
for b in "${bins[@]}"; do
  t1=$(median "${T[$b,1]:-}")
  for n in "${ns_wanted[@]}"; do
    k="$b,$n"
    tn=$(median "${T[$k]:-}")
    nok=$(wc -w <<< "${NOK[$k]:-}"); nf=$(wc -w <<< "${NFAIL[$k]:-}")
    nfail=$((nfail + nf))
    okc="$nok ok"; [ "$nf" = 0 ] || okc+=", $nf FAILED"
    printf '%-9s %4s %8s %7s %12s %12s %10s %9s  %s\n' "$b" "$n" "$(fmt "$tn" 2)" \
      "$(ratio "$tn" "$t1")" "$(ratio "$(median "${SLOW[$k]:-}")" "$t1")" "$(ratio "$(median "${FAST[$k]:-}")" "$t1")" \
      "$(fmt "$(median "${UP[$k]:-}")" 2)" "$(fmt "$(median "${AGG[$k]:-}")" 1)" "$okc"
  done
done
echo
echo "MiB each downloader received from each source (rows: downloaders; the run nearest the median T_N):"
for b in "${bins[@]}"; do
  for n in "${ns_wanted[@]}"; do
    tn=$(median "${T[$b,$n]:-}")
    [ "$tn" != - ] || continue
    best=""; bd=""
    for r in $(seq "$runs"); do
      [ -n "${RUN_T[$b,$n,$r]:-}" ] || continue
      d=$(calc "${RUN_T[$b,$n,$r]} - $tn" 3); d=${d#-}
      if [ -z "$best" ] || awk "BEGIN { exit !($d < $bd) }"; then best=$r; bd=$d; fi
    done
    echo "  $b, N=$n (run $best, T_N ${RUN_T[$b,$n,$best]} s):"
    printf '%s' "${MATRIX[$b,$n,$best]}"
  done
done
echo
echo "command: $cmdline"
[ $nfail = 0 ] || { echo; echo "$nfail run(s) FAILED; see the log above"; exit 1; }
exit 0
}

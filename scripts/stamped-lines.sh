# Time-stamped console lines, for the benchmark scripts (bench.sh,
# swarm-net.sh), which source this file: a process's console is piped through
# `stamp` into a file, and `find_line` / `wait_line` look for a line in it.
# The sourcing script defines log (a message on stderr).

# stamp: copies stdin to stdout, each line prefixed with its arrival time (epoch s).
stamp() { local l; while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done; }
# find_line FILE REGEX: prints the first stamped line of FILE whose text matches REGEX.
find_line() {
  local l
  [ -f "$1" ] || return 1
  while IFS= read -r l; do
    [[ "${l#* }" =~ $2 ]] && { printf '%s\n' "$l"; return 0; }
  done < "$1"
  return 1
}
# wait_line FILE REGEX SECONDS: waits for such a line and prints it; fails on timeout.
wait_line() {
  local end=$((SECONDS + $3))
  while [ $SECONDS -lt $end ]; do
    find_line "$1" "$2" && return 0
    sleep 0.1
  done
  log "timed out after $3 s waiting for /$2/ in $1:"; sed 's/^/    /' "$1" >&2 || true
  return 1
}

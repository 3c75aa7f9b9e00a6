# bash completion for tt: subcommands, each subcommand's flags, file and
# directory names where a flag takes one, subcommands after `tt help`, and the
# console commands of the tracker and the peer after `tt help tracker|peer`.
# Installed as share/bash-completion/completions/tt; or: source scripts/tt-completion.bash
# The lists follow `tt help --dump` (tests/e2e/test_docs.py checks they do).

_tt_subcommands="tracker peer get id help"
_tt_flags_tracker="--host --port --log --peer-ttl --max-ids-per-ip --max-files-per-ip
  --max-contents-per-ip --log-max-size --http --bt-max-swarms --bt-max-peers
  --bt-max-peers-per-ip --bt-interval"
_tt_flags_peer="--id --tracker --dir --host --port --log --sources --timeout --max-upload-rate
  --max-download-rate --max-conns-per-ip --min-rate --max-unverified-size --quiet"
_tt_flags_get="--tracker --dir --host --port --log --sources --timeout --max-download-rate
  --min-rate --max-unverified-size --quiet"
# Console commands (first words; `tt help peer get` prints one's help).
_tt_console_tracker="logs all-logs file_logs peers files stats help exit quit"
_tt_console_peer="share get list status request help exit quit"
# Flags that take no value: the word after them is completed afresh.
_tt_flags_novalue="--quiet"

_tt() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=""
  [ "$COMP_CWORD" -gt 0 ] && prev=${COMP_WORDS[COMP_CWORD - 1]}
  COMPREPLY=()
  if [ "$COMP_CWORD" -le 1 ]; then
    COMPREPLY=($(compgen -W "$_tt_subcommands --help --version" -- "$cur"))
    return 0
  fi
  local sub=${COMP_WORDS[1]} flags=""
  case $sub in
    tracker) flags=$_tt_flags_tracker ;;
    peer) flags=$_tt_flags_peer ;;
    get) flags=$_tt_flags_get ;;
    help)
      if [ "$COMP_CWORD" -eq 2 ]; then
        COMPREPLY=($(compgen -W "$_tt_subcommands" -- "$cur"))
      elif [ "$COMP_CWORD" -eq 3 ]; then
        case ${COMP_WORDS[2]} in
          tracker) COMPREPLY=($(compgen -W "$_tt_console_tracker" -- "$cur")) ;;
          peer) COMPREPLY=($(compgen -W "$_tt_console_peer" -- "$cur")) ;;
        esac
      elif [ "$COMP_CWORD" -eq 4 ]; then
        case "${COMP_WORDS[2]} ${COMP_WORDS[3]}" in
          "tracker logs") COMPREPLY=($(compgen -W "request" -- "$cur")) ;;
          "peer request") COMPREPLY=($(compgen -W "logs" -- "$cur")) ;;
        esac
      fi
      return 0 ;;
    id)
      COMPREPLY=($(compgen -f -- "$cur"))
      return 0 ;;
    *) return 0 ;;
  esac
  # The value of the flag before the cursor.
  if [[ $prev == --* && " $flags " == *[[:space:]]"$prev"[[:space:]]* && " $_tt_flags_novalue " != *" $prev "* ]]; then
    case $prev in
      --dir) COMPREPLY=($(compgen -d -- "$cur")) ;;
      --log) COMPREPLY=($(compgen -f -- "$cur")) ;;
    esac
    return 0
  fi
  if [[ $cur == -* || $sub != get ]]; then
    COMPREPLY=($(compgen -W "$flags --help" -- "$cur"))
  fi
  return 0
}
complete -F _tt tt

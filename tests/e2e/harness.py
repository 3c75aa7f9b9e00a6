"""The one module the tt end-to-end tests import from: it gathers the names
they use from the modules that hold them (Python 3 stdlib only):

    checks     require, eq, wait_for, the file's time budget
    tap        the TAP reporter: checks and set-up steps
    procs      Proc, run, tempdir, cleanup of every process by PID at exit
    files      file contents, digests, temp and part files, tt's log files
    net        UDP questions to a tracker, listeners, answer shapes
    fixtures   starting tt trackers and peers, and the set-ups tests share
    seed       imitations of the seed peer, server and tracker
    content    manifests and content ids as tt computes them
    extclient  clients of the extended control plane and TCP form
    extserve   extended-form python sources (partial, lying, stalling)
    relay      the lossy UDP relay

Every test file starts real `tt` processes on 127.0.0.1 through these helpers,
drives them through stdin (a pipe, or a pty for terminal mode), and reports
TAP on stdout.
"""

from checks import (DEFAULT_TIMEOUT, FILE_BUDGET, HARD_LIMIT, HOST, CheckFailed, ExpectTimeout,
                    budget, eq, require, wait_for)
from content import (MAX_PIECE_SIZE, MAX_PIECES_WANTED, MIN_PIECE_SIZE, Content, bitfield_hex,
                     bitfield_indices, piece_size_for)
from extclient import ExtClient, ExtConn, ext_get_peers
from extserve import ExtServer, ExtSource, SeedFormSource
from files import (LOG_LINE_RE, TEMP_PREFIX, absent, check_log_format, clean_copy, log_messages,
                   nothing_left, part_files, part_name, read_log, same_file, sha256, sha256_file,
                   temp_files, write_bytes, write_random)
from fixtures import (PEER_PROMPT, all_leave_at_eof, share, start_peer, start_random_sharer,
                      start_sharer, start_tracker, start_tracker_and_watcher, start_tracker_at,
                      tt_id, tt_path)
from net import (is_error, peer_list, recv_answer, serve_in_background, tcp_listener, udp_ask,
                 udp_ask_json, udp_socket, udp_socket_on)
from procs import Proc, cleanup, on_cleanup, run, tempdir
from relay import LossyRelay
from seed import SeedPeer, SeedServer, SeedTracker, joined_seed_source, seed_download
from tap import Tap

__all__ = [
    "CheckFailed", "Content", "DEFAULT_TIMEOUT", "ExpectTimeout", "ExtClient", "ExtConn",
    "ExtServer", "ExtSource", "FILE_BUDGET", "HARD_LIMIT", "HOST", "LOG_LINE_RE", "LossyRelay",
    "MAX_PIECES_WANTED", "MAX_PIECE_SIZE", "MIN_PIECE_SIZE", "PEER_PROMPT", "Proc",
    "SeedFormSource", "SeedPeer", "SeedServer", "SeedTracker", "TEMP_PREFIX", "Tap", "absent",
    "all_leave_at_eof", "bitfield_hex", "bitfield_indices", "budget", "check_log_format",
    "clean_copy", "cleanup", "eq", "ext_get_peers", "is_error", "joined_seed_source",
    "log_messages", "nothing_left", "on_cleanup", "part_files", "part_name", "peer_list",
    "piece_size_for", "read_log", "recv_answer", "require", "run", "same_file", "seed_download",
    "serve_in_background", "sha256", "sha256_file", "share", "start_peer", "start_random_sharer",
    "start_sharer", "start_tracker", "start_tracker_and_watcher", "start_tracker_at",
    "tcp_listener", "temp_files", "tempdir", "tt_id", "tt_path", "udp_ask", "udp_ask_json",
    "udp_socket", "udp_socket_on", "wait_for", "write_bytes", "write_random",
]

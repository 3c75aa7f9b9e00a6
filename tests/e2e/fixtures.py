"""Starting tt: trackers and peers on 127.0.0.1 with ports of the kernel's
choosing (read from their first lines), `tt id`, and the set-ups many tests
share.
"""

import os
import re
import sys
import time

from checks import HOST, CheckFailed, ExpectTimeout, eq, require
from extclient import ExtClient
from files import write_bytes, write_random
from procs import Proc, run, tempdir


PEER_PROMPT = "Enter command (share/get/request logs/exit): "


def tt_path():
    if len(sys.argv) < 2:
        print("usage: python3 test_X.py /abs/path/to/tt", file=sys.stderr)
        sys.exit(2)
    return os.path.abspath(sys.argv[1])


def start_tracker(tt, cwd=None, extra=(), name="tracker"):
    """Start `tt tracker --port 0`; returns the Proc with .port and .dir set."""
    cwd = cwd or tempdir("tracker")
    p = Proc([tt, "tracker", "--host", HOST, "--port", "0", *extra], cwd, name)
    m = p.expect(r"^Tracker started at 127\.0\.0\.1:(\d+)$")
    p.port = int(m.group(1))
    p.dir = cwd
    p.log_path = os.path.join(cwd, ".tracker.log")
    p.expect_line(f"Tracker running at {HOST}:{p.port}")
    return p


def start_tracker_at(tt, port, cwd=None, extra=(), name="tracker", tries=10):
    """Start `tt tracker --port PORT` on a given port: a restarted tracker taking
    over the port its predecessor printed. Retries a few times while the port
    is still busy; returns the Proc with .port, .dir and .log_path set."""
    cwd = cwd or tempdir("tracker")
    last = None
    for _ in range(tries):
        p = Proc([tt, "tracker", "--host", HOST, "--port", str(port), *extra], cwd, name)
        try:
            p.expect_line(f"Tracker started at {HOST}:{port}", timeout=5.0)
        except ExpectTimeout as exc:
            last = exc
            p.stop()
            time.sleep(0.3)
            continue
        p.port = port
        p.dir = cwd
        p.log_path = os.path.join(cwd, ".tracker.log")
        p.expect_line(f"Tracker running at {HOST}:{port}")
        return p
    raise CheckFailed(f"cannot start a tracker on port {port}: {last}")


def start_peer(tt, peer_id, tracker_port, d=None, cwd=None, extra=(), use_pty=False,
               wait_join=True, name=None, stderr_pty=False):
    """Start `tt peer` listening on 127.0.0.1, port 0. Returns the Proc with
    .dir, .log_path and (once joined) .port set."""
    d = d or tempdir(f"peer{peer_id}")
    cwd = cwd or d
    argv = [tt, "peer", "--id", str(peer_id), "--tracker", f"{HOST}:{tracker_port}",
            "--dir", d, "--host", HOST, "--port", "0", *extra]
    p = Proc(argv, cwd, name or f"peer{peer_id}", use_pty=use_pty, stderr_pty=stderr_pty)
    p.dir = d
    p.peer_id = str(peer_id)
    p.log_path = os.path.join(cwd, f".peer_{peer_id}.log")
    p.port = None
    if wait_join:
        m = p.expect(rf"^Peer {re.escape(str(peer_id))} joined the network on TCP port (\d+)$")
        p.port = int(m.group(1))
    return p


def share(p, name, timeout=60):
    """Peer p shares NAME (a file in its --dir) and says so."""
    p.send(f"share {name}")
    p.expect_line(f"Peer {p.peer_id} shared a new files: {name}", timeout=timeout)


def start_sharer(tt, peer_id, tracker_port, name, data, extra=()):
    """A tt peer in a new temp dir with file NAME (bytes `data`), joined and
    sharing it. Returns the Proc (the caller watches it)."""
    d = tempdir(f"sharer{peer_id}")
    write_bytes(f"{d}/{name}", data)
    p = start_peer(tt, peer_id, tracker_port, d, extra=extra)
    share(p, name)
    return p


def start_random_sharer(tt, peer_id, tracker_port, name, size, extra=()):
    """start_sharer for `size` random bytes, written a block at a time (for
    large files). The Proc's .sha is their SHA-256 hex digest."""
    d = tempdir(f"sharer{peer_id}")
    sha = write_random(f"{d}/{name}", size)
    p = start_peer(tt, peer_id, tracker_port, d, extra=extra)
    p.sha = sha
    share(p, name)
    return p


def start_tracker_and_watcher(tt, extra=()):
    """A tracker and an ExtClient "watcher" that asks it (extended get_peers)
    and never joins. Returns (tracker Proc, watcher)."""
    tracker = start_tracker(tt, extra=extra)
    return tracker, ExtClient(tracker.port, "watcher")


def all_leave_at_eof(expected):
    """Ends the stdin of every peer in `expected`, a list of (Proc, exit code),
    then checks that each says it leaves the network and exits with its code."""
    for p, _ in expected:
        p.close_stdin()
    for p, code in expected:
        p.expect_line(f"Peer {p.peer_id} is leaving the network.")
        eq(p.wait(), code, f"{p.name} exit code")


def tt_id(tt, path):
    """`tt id PATH`: returns (id, size, piece_size)."""
    res = run([tt, "id", path])
    require(res.returncode == 0, f"tt id {path} failed ({res.returncode}): {res.stderr.strip()}")
    fields = res.stdout.split()
    require(len(fields) >= 4, f"tt id printed {res.stdout!r}")
    return fields[0], int(fields[1]), int(fields[2])

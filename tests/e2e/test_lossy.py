#!/usr/bin/env python3
"""A lossy control plane: tt peers A and B reach the tracker only through a
python UDP relay that drops 20% of the datagrams each way (fixed seeds), while
TCP transfers go direct. A shares 50 small files one by one and B gets all 50:
100 consecutive share/get operations, every one of which must succeed on
retransmissions alone, with no `Error` line anywhere. Afterwards a direct
seed-form client checks that retransmitted requests registered nothing twice
(every handler is idempotent)."""

import os
from types import SimpleNamespace

from harness import (HOST, LossyRelay, SeedPeer, Tap, eq, peer_list, require, same_file, sha256,
                     start_peer, start_tracker, tempdir, tt_path, wait_for, write_bytes)

tt = tt_path()
t = Tap()
c = SimpleNamespace()

N = 50
DROP = 0.2
NAMES = [f"f{i}" for i in range(1, N + 1)]
DATA = {name: os.urandom(1000 + 97 * i) for i, name in enumerate(NAMES)}


def error_lines(p):
    return ([line for line in p.lines() if "Error" in line] +
            [line for line in p.stderr_lines() if line.startswith("tt: ")])


@t.setup("tracker starts; a relay dropping 20% each way sits in front of it")
def _():
    c.tracker = start_tracker(tt)
    t.watch(c.tracker)
    c.relay = LossyRelay(c.tracker.port, drop=DROP, seed=3)


@t.test("peers A and B join through the relay", fatal=True)
def _():
    d = tempdir("peerA")
    for name, data in DATA.items():
        write_bytes(os.path.join(d, name), data)
    c.a = start_peer(tt, "A", c.relay.port, d)
    c.b = start_peer(tt, "B", c.relay.port)
    t.watch(c.a, c.b)
    c.tracker.expect_line(f"Peer A joined on TCP port {c.a.port}")
    c.tracker.expect_line(f"Peer B joined on TCP port {c.b.port}")


@t.test(f"A shares {N} files one by one: every share succeeds", fatal=True)
def _():
    for name in NAMES:
        c.a.send(f"share {name}")
    for name in NAMES:
        c.a.expect_line(f"Peer A shared a new files: {name}", timeout=30)


@t.test(f"B gets the {N} files one by one: every download succeeds, byte-identical", fatal=True)
def _():
    for name in NAMES:
        c.b.send(f"get {name}")
    for name in NAMES:
        c.b.expect_line(f"Downloaded file {name} successfully.", timeout=30)
    for name in NAMES:
        same_file(os.path.join(c.b.dir, name), sha256(DATA[name]), f"B's {name}")


@t.test("the relay really dropped datagrams both ways")
def _():
    t.diag(c.relay.stats())
    require(c.relay.dropped_up > 0, "nothing dropped from clients to the tracker")
    require(c.relay.dropped_down > 0, "nothing dropped from the tracker to clients")
    require(c.relay.clients() >= 2, f"the relay saw {c.relay.clients()} client addresses")


@t.test("the tracker heard B's got_the_file for all 50 (sent after each download)")
def _():
    def heard():
        lines = set(c.tracker.lines())
        return all(f"Peer B downloaded the file file: {n}" in lines for n in NAMES)
    wait_for(heard, timeout=20, what="'Peer B downloaded the file file: fN' for every N",
             interval=0.2)


@t.test("retransmissions registered nothing twice: each file lists exactly A then B")
def _():
    probe = SeedPeer(c.tracker.port, "probe")  # direct, no loss
    want = [(HOST, c.a.port), (HOST, c.b.port)]
    for name in NAMES:
        eq(peer_list(probe.get_peers(name)), want, f"sources of {name}")


@t.test("A and B exit cleanly through the relay (leave answered or given up)")
def _():
    for p in (c.a, c.b):
        p.close_stdin()
    for p in (c.a, c.b):
        eq(p.wait(timeout=15), 0, f"exit code of {p.name}")


@t.test("no 'Error' line on A, B or the tracker, from start to exit")
def _():
    for p in (c.a, c.b, c.tracker):
        bad = error_lines(p)
        require(not bad, f"{p.name} printed {len(bad)} error lines, first: {bad[:3]!r}")


t.done()

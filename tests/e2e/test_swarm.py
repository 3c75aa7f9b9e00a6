#!/usr/bin/env python3
"""Swarming: one file from many sources at once, every piece verified.

(a) A file spread across three partial sources: python extended-form servers
    that each hold a third of the pieces (disjoint; their union is the file),
    registered at the tt tracker with share_file complete:false, size and id.
    A tt peer assembles it byte-identical, connected to all three, and names
    all three in `Received ... from`.
(b) Five tt peers fetch one 32 MiB file from one tt seeder at once: all finish
    byte-identical, and the tracker then lists all six as complete sources.

The tracker runs with --peer-ttl 600, so the python sources (which never
heartbeat) stay listed while the file runs.
"""

import os
import re
from types import SimpleNamespace

from harness import (Content, ExtSource, HOST, Tap, all_leave_at_eof, clean_copy, eq,
                     ext_get_peers, log_messages, require, start_peer, start_random_sharer,
                     start_tracker_and_watcher, tempdir, tt_id, tt_path, wait_for, write_bytes)

tt = tt_path()
t = Tap()
c = SimpleNamespace()

RECEIVED_RE = r"^Received .* \((\d+) bytes\) in [0-9.]+ s \(.*/s\) from (.*)$"


def received(p):
    """Waits for the `Received ... from ...` line; returns (bytes, [IP:PORT, ...])."""
    m = p.expect(RECEIVED_RE)
    return int(m.group(1)), [s.strip() for s in m.group(2).split(",")]


@t.setup("tracker starts (--peer-ttl 600)")
def _():
    c.tracker, c.watcher = start_tracker_and_watcher(tt, extra=["--peer-ttl", "600"])
    t.watch(c.tracker)


# ---------------------------------------------------------------- (a)

SPREAD = "spread.bin"


@t.test("(a) the python manifest and content id agree with `tt id` (25 pieces of 256 KiB)",
        fatal=True)
def _():
    c.content = Content(os.urandom((6 << 20) + 12345))
    d = tempdir("id")
    write_bytes(f"{d}/{SPREAD}", c.content.data)
    eq(tt_id(tt, f"{d}/{SPREAD}"), (c.content.id, c.content.size, c.content.piece_size),
       "tt id (id, size, piece size)")
    eq(c.content.count, 25, "pieces")


@t.test("(a) three partial python sources, each with a third of the pieces, register "
        "(share_file complete:false, size, id)", fatal=True)
def _():
    n = c.content.count
    c.holds = {k: {i for i in range(n) if i % 3 == k} for k in range(3)}
    c.srcs = [ExtSource(c.tracker.port, f"part{k}", SPREAD, c.content, complete=False,
                        have=c.holds[k]) for k in range(3)]
    answer = ext_get_peers(c.watcher, SPREAD)
    eq(answer.get("id"), c.content.id, "id in the get_peers answer")
    eq(answer.get("size"), c.content.size, "size in the get_peers answer")
    eq(answer.get("peers"), [], "complete peers")
    eq([(s.get("peer_id"), s.get("port"), s.get("complete")) for s in answer.get("sources", [])],
       [(f"part{k}", c.srcs[k].port, False) for k in range(3)], "sources")


@t.test("(a) tt peer 31 `get spread.bin` lists the three as partial and downloads from all three",
        fatal=True)
def _():
    c.p = start_peer(tt, 31, c.tracker.port)
    t.watch(c.p)
    c.p.send(f"get {SPREAD}")
    c.p.expect_line("Available Peers: ")
    for k, src in enumerate(c.srcs):
        c.p.expect_line(f"{k + 1}: ip: {HOST}, port: {src.port} (partial)")
    c.p.expect_line(f"Downloading {SPREAD} ({c.content.size} bytes, id {c.content.id[:12]}...) "
                    "from 3 of 3 sources")
    ports = set()
    for _ in range(3):
        ports.add(int(c.p.expect(rf"^Connecting to peer at {re.escape(HOST)}:(\d+)$").group(1)))
    eq(ports, {s.port for s in c.srcs}, "ports connected to")
    c.p.expect_line(f"Downloaded file {SPREAD} successfully.", timeout=60)


@t.test("(a) `Received` counts the file's bytes (+ at most 4 pieces) and names all three sources")
def _():
    nbytes, srcs = received(c.p)
    # Disjoint sources leave no room for endgame duplicates between sources; tt
    # may still ask one source twice for a piece (see test_resume's TODO).
    require(c.content.size <= nbytes <= c.content.size + 4 * c.content.piece_size,
            f"received {nbytes} bytes for a file of {c.content.size}")
    eq(sorted(srcs), sorted(f"{HOST}:{s.port}" for s in c.srcs), "sources named")


@t.test("(a) the file is byte-identical; no part file or temp file is left")
def _():
    clean_copy(c.p.dir, SPREAD, c.content.sha, c.p.name)


@t.test("(a) each source was asked only for pieces it holds, and each sent its whole third")
def _():
    for k, src in enumerate(c.srcs):
        asked = {i for (_, a, i) in src.server.requests if a == "piece"}
        require(asked <= c.holds[k], f"part{k} was asked for pieces {sorted(asked - c.holds[k])} "
                "it does not hold")
        eq({i for (_, i) in src.server.sent}, c.holds[k], f"pieces part{k} sent")


@t.test("(a) the log names all three sources: `Downloaded file spread.bin from IP:PORT, ...`")
def _():
    msgs = wait_for(lambda: [m for m in log_messages(c.p.log_path)
                             if m.startswith(f"Downloaded file {SPREAD} from ")],
                    timeout=5, what="the download log line")
    srcs = msgs[0][len(f"Downloaded file {SPREAD} from "):].split(", ")
    eq(sorted(srcs), sorted(f"{HOST}:{s.port}" for s in c.srcs), "sources in the log line")


@t.test("(a) the tracker now lists peer 31 as a complete source of spread.bin")
def _():
    def listed():
        answer = ext_get_peers(c.watcher, SPREAD)
        return [s for s in answer.get("sources", []) if s.get("peer_id") == "31"
                and s.get("complete") is True and s.get("port") == c.p.port] and \
            [HOST, c.p.port] in answer.get("peers", [])
    wait_for(listed, timeout=10, what="peer 31 listed complete")


# ---------------------------------------------------------------- (b)

CROWD = "crowd.bin"
CROWD_SIZE = 32 << 20
NPEERS = 5


@t.test(f"(b) tt seeder 40 shares a 32 MiB file; {NPEERS} more tt peers start", fatal=True)
def _():
    c.seeder = start_random_sharer(tt, 40, c.tracker.port, CROWD, CROWD_SIZE)
    t.watch(c.seeder)
    c.crowd_sha = c.seeder.sha
    c.crowd_id = tt_id(tt, f"{c.seeder.dir}/{CROWD}")[0]
    c.crowd = [start_peer(tt, 41 + k, c.tracker.port) for k in range(NPEERS)]
    answer = ext_get_peers(c.watcher, CROWD)
    eq(answer.get("id"), c.crowd_id, "id announced by the seeder")


@t.test(f"(b) all {NPEERS} `get crowd.bin` at once and all finish")
def _():
    for p in c.crowd:
        p.send(f"get {CROWD}")
    failed = []
    c.crowd_from = {}
    for p in c.crowd:
        m = p.expect(rf"^(Downloaded file {CROWD} successfully\.|Error downloading file .*)$",
                     timeout=90)
        if not m.group(1).startswith("Downloaded"):
            failed.append(f"{p.name}: {m.group(1)}")
            continue
        nbytes, srcs = received(p)
        c.crowd_from[p.name] = srcs
        t.diag(f"{p.name}: {nbytes} bytes from {', '.join(srcs)}")
    require(not failed, "; ".join(failed))


@t.test(f"(b) all {NPEERS} copies are byte-identical; no part or temp file is left")
def _():
    for p in c.crowd:
        clean_copy(p.dir, CROWD, c.crowd_sha, p.name)


@t.test("(b) no peer in the crowd was sent a piece that failed its hash")
def _():
    bad = [f"{p.name}: {line}" for p in c.crowd for line in p.lines()
           if line.startswith("Dropped peer at") and "does not match" in line]
    require(not bad, "; ".join(bad))
    fed = sum(1 for srcs in c.crowd_from.values() if f"{HOST}:{c.seeder.port}" not in srcs
              or len(srcs) > 1)
    t.diag(f"{fed} of {NPEERS} got pieces from another downloader")


@t.test("(b) the tracker lists the seeder and all five downloaders as complete sources")
def _():
    want = {("40", c.seeder.port)} | {(p.peer_id, p.port) for p in c.crowd}

    def listed():
        answer = ext_get_peers(c.watcher, CROWD)
        got = {(s.get("peer_id"), s.get("port")) for s in answer.get("sources", [])
               if s.get("complete") is True}
        return got == want
    wait_for(listed, timeout=10, what="six complete sources")


@t.test("every tt peer leaves at end of stdin with exit code 0")
def _():
    all_leave_at_eof([(p, 0) for p in [c.p, c.seeder, *c.crowd]])


t.done()

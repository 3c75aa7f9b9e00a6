#!/usr/bin/env python3
"""The swarm's wire extensions against a real tt server, and source replacement.

(a) want sets: a tt seeder asked by one downloader alone sends the piece asked
    for; while another connection fetches the same file, it sends the piece of
    the want set it has sent least; a want set of the wrong length gets an
    error and the connection serves on. Bytes match the file.
(b) watching: a python client asks a downloading tt peer `have` with
    `"watch":true`, then hears `{"event":"have","index":I}` for pieces it did
    not have at the answer, each one then served by `piece`.
(c) replacement: a tt peer getting a file with --sources 2 from two python
    sources that have none of its pieces gives one slot to a complete source
    that registers later, and completes from it.
"""

import os
import time
from types import SimpleNamespace

from harness import (Content, ExtConn, ExtSource, HOST, Tap, eq, require, same_file, start_peer,
                     start_sharer, start_tracker, tt_path)

tt = tt_path()
t = Tap()
c = SimpleNamespace()
NAME = "wire.bin"


def bitfield(indexes, count):
    b = bytearray((count + 7) // 8)
    for i in indexes:
        b[i // 8] |= 0x80 >> (i % 8)
    return b.hex()


@t.setup("tracker, and a tt seeder sharing a 4 MiB file (16 pieces)")
def _():
    c.tracker = start_tracker(tt, extra=["--peer-ttl", "600"])
    t.watch(c.tracker)
    c.content = Content(os.urandom(4 << 20))
    c.seeder = start_sharer(tt, "seeder", c.tracker.port, NAME, c.content.data)
    t.watch(c.seeder)
    eq(c.content.count, 16, "pieces")


@t.test("(a) want sets: a downloader alone gets the piece it asks for; while others fetch the "
        "file, the piece of the set sent least")
def _():
    want = bitfield(range(8), c.content.count)
    alone = ExtConn(c.seeder.port, timeout=30)
    for _ in range(2):
        answer, data = alone.ask({"action": "piece", "file": NAME, "index": 0, "want": want})
        eq((answer.get("index"), data), (0, c.content.piece(0)), "alone: the piece asked for")
    other = ExtConn(c.seeder.port, timeout=30)
    got = []
    for conn in (other, alone, other):
        answer, data = conn.ask({"action": "piece", "file": NAME, "index": 0, "want": want})
        eq(answer.get("status"), "ok", f"answer {answer}")
        i = answer.get("index")
        require(i in range(1, 8), f"piece {i}: not another piece of the want set")
        eq(data, c.content.piece(i), f"bytes of piece {i}")
        got.append(i)
    eq(len(set(got)), 3, f"three pieces not sent before ({got})")
    answer, _ = alone.ask({"action": "piece", "file": NAME, "index": 1, "want": "ff"})
    eq(answer.get("status"), "error", f"a want set of the wrong length: {answer}")
    answer, data = alone.ask({"action": "piece", "file": NAME, "index": 9})
    eq((answer.get("index"), data), (9, c.content.piece(9)), "a plain request afterwards")
    alone.close()
    other.close()


@t.test("(b) a downloading tt peer pushes have events to a watcher, and serves those pieces")
def _():
    c.down = start_peer(tt, "down", c.tracker.port, extra=["--max-download-rate", "1M"])
    t.watch(c.down)
    c.down.send(f"get {NAME}")
    c.down.expect(r"^Downloading ")
    conn = None
    for _ in range(100):  # the peer listens at once; the file is served from its manifest on
        conn = ExtConn(c.down.port, timeout=30)
        answer, _ = conn.ask({"action": "have", "file": NAME, "watch": True})
        if answer.get("status") == "ok":
            break
        conn.close()
        time.sleep(0.05)
    eq(answer.get("status"), "ok", f"have answer {answer}")
    start = bytes.fromhex(answer["pieces"])
    had = {i for i in range(c.content.count) if start[i // 8] & (0x80 >> (i % 8))}
    events = []
    while len(had) + len(events) < c.content.count:
        line = conn._line()
        require(line.get("event") == "have", f"a line that is not a have event: {line}")
        i = line.get("index")
        require(i not in had and i not in events, f"event for piece {i} twice or already had")
        events.append(i)
    t.diag(f"{len(had)} pieces at the answer, {len(events)} events after")
    require(events, "no event")
    for i in events[:3]:
        answer, data = conn.ask({"action": "piece", "file": NAME, "index": i})
        eq((answer.get("index"), data), (i, c.content.piece(i)), f"piece {i} from the watcher's peer")
    c.down.expect_line(f"Downloaded file {NAME} successfully.", timeout=60)
    same_file(f"{c.down.dir}/{NAME}", c.content.sha)
    conn.close()


@t.test("(c) with --sources 2 taken by two sources that have nothing, a later complete source "
        "gets a slot and the download completes from it")
def _():
    other = Content(os.urandom((2 << 20) + 999))
    name = "late.bin"
    empty = [ExtSource(c.tracker.port, f"empty{k}", name, other, complete=False, have=set())
             for k in range(2)]
    p = start_peer(tt, "picky", c.tracker.port)
    t.watch(p)
    p.send(f"get {name} --sources 2")
    p.expect_line(f"Downloading {name} ({other.size} bytes, id {other.id[:12]}...) from 2 of 2 sources")
    time.sleep(0.5)
    full = ExtSource(c.tracker.port, "full", name, other, complete=True)
    p.expect_line(f"Connecting to peer at {HOST}:{full.port}", timeout=20)
    p.expect_line(f"Downloaded file {name} successfully.", timeout=30)
    same_file(f"{p.dir}/{name}", other.sha)
    require(all(not s.server.sent for s in empty), "a source with nothing sent a piece")
    p.close_stdin()
    eq(p.wait(), 0, "exit code")


@t.test("the peers leave at end of stdin with exit code 0")
def _():
    for p in (c.seeder, c.down):
        p.close_stdin()
    for p in (c.seeder, c.down):
        eq(p.wait(), 0, f"{p.name} exit code")


t.done()

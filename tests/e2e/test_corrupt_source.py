#!/usr/bin/env python3
"""Sources that lie are detected and dropped; the download completes from the
others, verified, or stops with its good pieces kept.

(a) corrupt pieces: tt seeder 71 (SIGSTOPped for a while, so it cannot answer
    first), an honest python partial source with the even pieces, and a python
    liar with every piece that flips a byte of every fourth one (i % 4 == 3).
    While the seeder is stopped the odd pieces can only come from the liar, so
    it is asked for a bad one for sure: `Dropped peer at IP:PORT: sent a piece
    that does not match its hash`; after SIGCONT the download completes
    byte-identical, and the seeder is among the sources named.
(b) a source whose manifest is another file's (the id does not match) and one
    that answers with lines that are not JSON are dropped, each with its
    reason; the honest source (held back until both are dropped) completes it.
(c) with only a lying source the download stops: `no good source left; K of N
    pieces are kept in .tt-part-... for the next try`, nothing under the name,
    only good pieces in the part file (K of them: a TODO, tt may count too few);
    once an honest source is listed, `get` again resumes from those and
    completes byte-identical.
"""

import os
import re
import signal
from types import SimpleNamespace

from harness import (Content, ExtSource, HOST, Tap, absent, all_leave_at_eof, clean_copy, eq,
                     log_messages, part_files, part_name, require, same_file, start_peer,
                     start_sharer, start_tracker, temp_files, tt_id, tt_path, wait_for)

tt = tt_path()
t = Tap()
c = SimpleNamespace()

HASH_DROP = "sent a piece that does not match its hash"
RECEIVED_RE = r"^Received .* \((\d+) bytes\) in [0-9.]+ s \(.*/s\) from (.*)$"


def received_from(p):
    m = p.expect(RECEIVED_RE)
    return int(m.group(1)), [s.strip() for s in m.group(2).split(",")]


def content_33():
    content = Content(os.urandom((8 << 20) + 777))
    eq(content.count, 33, "pieces")
    return content


@t.setup("tracker starts (--peer-ttl 600)")
def _():
    c.tracker = start_tracker(tt, extra=["--peer-ttl", "600"])
    t.watch(c.tracker)


# ---------------------------------------------------------------- (a)

A = "corrupt.bin"


@t.setup("(a) tt seeder 71 shares corrupt.bin; an honest python source with the even pieces "
        "and a python liar (bad bytes in pieces 3, 7, 11, ...) register")
def _():
    c.a = content_33()
    c.seeder = start_sharer(tt, 71, c.tracker.port, A, c.a.data)
    t.watch(c.seeder)
    eq(tt_id(tt, f"{c.seeder.dir}/{A}")[0], c.a.id, "tt id of the file")
    c.even = ExtSource(c.tracker.port, "even", A, c.a, complete=False,
                       have=range(0, c.a.count, 2))
    c.liar = ExtSource(c.tracker.port, "liar", A, c.a,
                       corrupt={i for i in range(c.a.count) if i % 4 == 3})


@t.test("(a) with the seeder stopped (SIGSTOP), peer 72 `get corrupt.bin` connects to all three "
        "and drops the liar: `Dropped peer at IP:PORT: sent a piece that does not match its hash`",
        fatal=True)
def _():
    c.seeder.signal(signal.SIGSTOP)
    c.p72 = start_peer(tt, 72, c.tracker.port)
    t.watch(c.p72)
    c.p72.send(f"get {A}")
    c.p72.expect_line(f"Downloading {A} ({c.a.size} bytes, id {c.a.id[:12]}...) from 3 of 3 sources")
    ports = {int(c.p72.expect(rf"^Connecting to peer at {re.escape(HOST)}:(\d+)$").group(1))
             for _ in range(3)}
    eq(ports, {c.seeder.port, c.even.port, c.liar.port}, "ports connected to")
    c.p72.expect_line(f"Dropped peer at {HOST}:{c.liar.port}: {HASH_DROP}", timeout=30)


@t.test("(a) after SIGCONT the download completes; the file is byte-identical, no leftovers")
def _():
    c.seeder.signal(signal.SIGCONT)
    c.p72.expect_line(f"Downloaded file {A} successfully.", timeout=60)
    clean_copy(c.p72.dir, A, c.a.sha, c.p72.name)


@t.test("(a) the seeder is among the sources named; only the liar was dropped")
def _():
    nbytes, srcs = received_from(c.p72)
    t.diag(f"{nbytes} bytes from {', '.join(srcs)}")
    require(f"{HOST}:{c.seeder.port}" in srcs, f"the seeder is not in {srcs}")
    # Every piece came at least once; the liar's bad pieces, the stopped seeder's
    # late answers and endgame duplicates may add some (not checked).
    require(nbytes >= c.a.size, f"{nbytes} bytes received, fewer than the file's {c.a.size}")
    drops = [line for line in c.p72.lines() if line.startswith("Dropped peer at")]
    eq(drops, [f"Dropped peer at {HOST}:{c.liar.port}: {HASH_DROP}"], "drop lines")
    bad_sent = [i for (_, i) in c.liar.server.sent if i % 4 == 3]
    require(bad_sent, "the liar never sent a bad piece")


@t.test("(a) the drop is logged: `Dropped peer at IP:PORT while downloading corrupt.bin: ...`")
def _():
    want = f"Dropped peer at {HOST}:{c.liar.port} while downloading {A}: {HASH_DROP}"
    wait_for(lambda: want in log_messages(c.p72.log_path), timeout=5, what=want)


# ---------------------------------------------------------------- (b)

B = "twisted.bin"


@t.setup("(b) a source with another file's manifest, one that answers garbage, and an honest one "
        "(held back) register twisted.bin")
def _():
    c.b = content_33()
    other = Content(os.urandom(3 << 20))
    c.wrong = ExtSource(c.tracker.port, "wrong-manifest", B, c.b, manifest=other.manifest(B))
    c.garbage = ExtSource(c.tracker.port, "garbage", B, c.b, garbage=True)
    c.honest = ExtSource(c.tracker.port, "honest", B, c.b, gate=0)


@t.test("(b) peer 72 `get twisted.bin` drops both with their reasons, then completes from the "
        "honest source, byte-identical")
def _():
    c.p72.send(f"get {B}")
    c.p72.expect_line(f"Downloading {B} ({c.b.size} bytes, id {c.b.id[:12]}...) from 3 of 3 sources")
    want = [f"Dropped peer at {HOST}:{c.wrong.port}: "
            "sent a manifest that does not match the content id",
            f"Dropped peer at {HOST}:{c.garbage.port}: sent an answer that is not JSON"]
    wait_for(lambda: all(w in c.p72.lines() for w in want), timeout=30,
             what=f"both drop lines (in either order): {want}")
    c.honest.server.open_gate()
    c.p72.expect_line(f"Downloaded file {B} successfully.", timeout=60)
    nbytes, srcs = received_from(c.p72)
    eq(srcs, [f"{HOST}:{c.honest.port}"], "sources named")
    require(c.b.size <= nbytes <= c.b.size + 4 * c.b.piece_size, f"{nbytes} bytes received")
    same_file(os.path.join(c.p72.dir, B), c.b.sha)
    eq(part_files(c.p72.dir), [], "part files")


@t.test("(b) no piece was asked of the two bad sources")
def _():
    for src in (c.wrong, c.garbage):
        asked = [r for r in src.server.requests if r[1] == "piece"]
        eq(asked, [], f"piece requests to {src.peer_id}")


# ---------------------------------------------------------------- (c)

C = "doomed.bin"


@t.test("(c) with only a lying source, peer 73's download stops: `no good source left; K of 33 "
        "pieces are kept in .tt-part-... for the next try`, nothing under the name", fatal=True)
def _():
    c.c = content_33()
    c.liar2 = ExtSource(c.tracker.port, "liar2", C, c.c,
                        corrupt={i for i in range(c.c.count) if i % 4 == 3})
    c.p73 = start_peer(tt, 73, c.tracker.port)
    t.watch(c.p73)
    c.p73.send(f"get {C}")
    c.p73.expect_line(f"Dropped peer at {HOST}:{c.liar2.port}: {HASH_DROP}", timeout=30)
    m = c.p73.expect(rf"^Error downloading file {re.escape(C)}: no good source left; (\d+) of 33 "
                     rf"pieces are kept in {re.escape(part_name(c.c.id))} for the next try$")
    c.kept = int(m.group(1))
    absent(c.p73.dir, C)
    eq(temp_files(c.p73.dir), [], "temp files")


@t.test("(c) the part file holds verified pieces only from the honest ones (none the liar "
        "corrupts), at least K")
def _():
    path = os.path.join(c.p73.dir, part_name(c.c.id))
    c.good = c.c.verified_in(path)
    t.diag(f"K = {c.kept}; verified pieces in the part file: {c.good}")
    require(not [i for i in c.good if i % 4 == 3],
            f"pieces the liar corrupts are in the part file: {c.good}")
    require(len(c.good) >= c.kept, f"{len(c.good)} verified pieces, fewer than K = {c.kept}")


@t.test("(c) K in the message is the number of pieces kept in the part file")
def _():
    eq(c.kept, len(c.good), "K in the message vs verified pieces in the part file")


@t.test("(c) an honest source registers; `get doomed.bin` again resumes from the kept pieces "
        "and completes")
def _():
    ExtSource(c.tracker.port, "honest2", C, c.c)
    c.p73.send(f"get {C}")
    if c.good:
        c.p73.expect_line(f"Resuming {C}: {len(c.good)} of 33 pieces already here")
    c.p73.expect_line(f"Downloaded file {C} successfully.", timeout=60)
    clean_copy(c.p73.dir, C, c.c.sha, c.p73.name)


@t.test("the peers leave at end of stdin (72 with exit code 0, 73 with 1: one get failed)")
def _():
    all_leave_at_eof([(c.p72, 0), (c.p73, 1), (c.seeder, 0)])


t.done()

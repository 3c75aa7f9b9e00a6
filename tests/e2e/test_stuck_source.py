#!/usr/bin/env python3
"""Stuck sources: a source that accepts piece requests and never answers them
(a black hole that keeps its connection open and answers `manifest` and
`have`) cannot hold the pieces it was asked for hostage until the stall limit:
once it is late (docs/protocol.md, "### Downloader"), an idle source that has
them is asked for them too, and the first good copy wins.

The setup makes the hostage certain rather than lucky:
- a gated complete python source G sends 10 pieces and holds every further
  piece answer until the test opens the gate; tt peer 71 gets those 10 (P)
  and stays partial;
- a python black hole H says it has exactly P, answers `manifest` and
  `have`, and never answers a piece request;
- tt peer 72 (--timeout 60) downloads from G, 71 and H: the pieces of P it
  asks of H are held, G holds everything else, so the endgame (every missing
  piece asked of someone) never starts while 71 sits idle. Without the late
  rule 72 gets H's pieces only after dropping H for sending nothing for
  60 s; with it, from 71 while H still holds them (no drop of H at all).
  Then the gate opens and 71 and 72 finish byte-identical.
- tt peer 73 (--timeout 60), with G gone, H and a second black hole H2 that
  says it has every piece, and the complete tt peers 71 (limited to 2 MiB/s
  upload) and 72: it completes byte-identical and drops neither black hole.
No check depends on timing tighter than the --timeout itself.
"""

import os
from types import SimpleNamespace

from harness import (Content, ExtSource, HOST, Tap, all_leave_at_eof, clean_copy, eq, part_files,
                     part_name, require, same_file, start_peer, start_tracker, tt_path, wait_for)

tt = tt_path()
t = Tap()
c = SimpleNamespace()

NAME = "stuck.bin"
GATE = 10


def dropped(p, port):
    """Lines of p's output so far that drop the source listening on port."""
    return [ln for ln in p.lines() if ln.startswith(f"Dropped peer at {HOST}:{port}:")]


@t.test("tracker; a gated complete python source G; tt peer 71 stops with 10 verified pieces",
        fatal=True)
def _():
    c.tracker = start_tracker(tt, extra=["--peer-ttl", "600"])
    t.watch(c.tracker)
    c.content = Content(os.urandom((8 << 20) + 777))
    c.g = ExtSource(c.tracker.port, "gated", NAME, c.content, gate=GATE)
    c.p71 = start_peer(tt, 71, c.tracker.port, extra=["--timeout", "60", "--max-upload-rate", "2M"])
    t.watch(c.p71)
    c.p71.send(f"get {NAME}")
    c.part71 = os.path.join(c.p71.dir, part_name(c.content.id))
    wait_for(lambda: len(c.content.verified_in(c.part71)) == GATE and c.g.server.waiting_at_gate(),
             timeout=30, what=f"{GATE} verified pieces in {c.part71}")
    c.have71 = c.content.verified_in(c.part71)


@t.setup("a black hole H that has exactly peer 71's pieces registers (complete:false)")
def _():
    # gate=0: every piece request is accepted and held for ever (the test never opens it).
    c.h = ExtSource(c.tracker.port, "hole", NAME, c.content, complete=False, have=c.have71,
                    gate=0)


@t.test("peer 72 (--timeout 60) gets all of 71's pieces, those H holds too, without dropping H",
        fatal=True)
def _():
    c.p72 = start_peer(tt, 72, c.tracker.port, extra=["--timeout", "60"])
    t.watch(c.p72)
    c.p72.send(f"get {NAME}")
    c.p72.expect_line(f"Downloading {NAME} ({c.content.size} bytes, id {c.content.id[:12]}...) "
                      "from 3 of 3 sources")
    part72 = os.path.join(c.p72.dir, part_name(c.content.id))
    # Longer than the --timeout: without the late rule the pieces come, after H is dropped.
    wait_for(lambda: c.content.verified_in(part72) == c.have71, timeout=100,
             what=f"peer 71's pieces {c.have71} in {part72}")
    asked = sorted({i for (_, a, i) in list(c.h.server.requests) if a == "piece"})
    t.diag(f"H was asked for pieces {asked} (it holds them); G let out {c.g.server.granted()}")
    require(asked and set(asked) <= set(c.have71), f"H asked for {asked}")
    eq(c.h.server.sent, [], "pieces H sent")
    eq(dropped(c.p72, c.h.port), [], "peer 72 dropping H")


@t.test("the gate opens: peers 71 and 72 both finish, byte-identical, no leftovers")
def _():
    c.g.server.open_gate()
    for p in (c.p71, c.p72):
        p.expect_line(f"Downloaded file {NAME} successfully.", timeout=60)
        clean_copy(p.dir, NAME, c.content.sha, p.name)
    eq(dropped(c.p72, c.h.port), [], "peer 72 dropping H")


@t.test("peer 73 (--timeout 60): G gone, black holes H and H2 (every piece), complete tt peers "
        "71 and 72: completes, byte-identical, dropping neither black hole")
def _():
    c.g.server.close()
    c.h2 = ExtSource(c.tracker.port, "hole2", NAME, c.content, gate=0)
    c.p73 = start_peer(tt, 73, c.tracker.port, extra=["--timeout", "60"])
    t.watch(c.p73)
    c.p73.send(f"get {NAME}")
    c.p73.expect_line(f"Downloaded file {NAME} successfully.", timeout=90)
    same_file(os.path.join(c.p73.dir, NAME), c.content.sha, "peer73's copy")
    eq(part_files(c.p73.dir), [], "peer73: part files")
    for hole in (c.h, c.h2):
        eq(dropped(c.p73, hole.port), [], f"peer 73 dropping the black hole at {hole.port}")
    asked = [i for (_, a, i) in list(c.h2.server.requests) if a == "piece"]
    t.diag(f"H2 was asked for {len(asked)} piece(s) and sent none")
    eq(c.h2.server.sent, [], "pieces H2 sent")


@t.test("the peers leave at end of stdin with exit code 0")
def _():
    all_leave_at_eof([(c.p71, 0), (c.p72, 0), (c.p73, 0)])
    c.h.server.close()
    c.h2.server.close()


t.done()

#!/usr/bin/env python3
"""Partial sources: a tt peer in the middle of a download is listed and serves
what it has verified, so a crowd feeds itself.

The only complete source is a python extended-form server with a gate: it
sends 10 pieces, then holds every further piece answer until the test opens
the gate, so tt peer 61 stays partial, at a known point, for as long as needed
(the tt peers run with --timeout 60, so the held source is not dropped).
- the tracker's extended get_peers lists peer 61 in `sources` with
  complete:false (and not in `peers`);
- peer 61 answers `manifest`, `have` (exactly its verified pieces), `piece` for
  a piece it has (the right bytes) and an error for one it lacks, on one
  connection; a seed-form request for the partial file gets no data;
- tt peer 62 lists 61 as `(partial)` and gets 61's pieces from it while the
  complete source holds; once the gate opens both finish byte-identical, and
  62's `Received ... from` names peer 61;
- afterwards get_peers lists both with complete:true.
"""

import json
import os
from types import SimpleNamespace

from harness import (Content, ExtConn, ExtSource, HOST, Tap, all_leave_at_eof, bitfield_indices,
                     clean_copy, eq, ext_get_peers, part_name, require, seed_download, sha256,
                     start_peer, start_tracker_and_watcher, tt_path, wait_for)

tt = tt_path()
t = Tap()
c = SimpleNamespace()

NAME = "part.bin"
GATE = 10


def source_entry(peer):
    """Peer's entry in the `sources` of an extended get_peers answer (or None)."""
    answer = ext_get_peers(c.watcher, NAME)
    c.last_answer = answer
    for s in answer.get("sources", []):
        if s.get("peer_id") == peer.peer_id:
            return s
    return None


@t.setup("tracker starts (--peer-ttl 600); a gated complete python source registers part.bin")
def _():
    c.tracker, c.watcher = start_tracker_and_watcher(tt, extra=["--peer-ttl", "600"])
    t.watch(c.tracker)
    c.content = Content(os.urandom((8 << 20) + 777))
    c.src = ExtSource(c.tracker.port, "gated", NAME, c.content, gate=GATE)


@t.test(f"peer 61 `get part.bin` stops with {GATE} verified pieces in its part file", fatal=True)
def _():
    c.p61 = start_peer(tt, 61, c.tracker.port, extra=["--timeout", "60"])
    t.watch(c.p61)
    c.p61.send(f"get {NAME}")
    c.p61.expect_line(f"Connecting to peer at {HOST}:{c.src.port}")
    c.part61 = os.path.join(c.p61.dir, part_name(c.content.id))
    wait_for(lambda: len(c.content.verified_in(c.part61)) == GATE and c.src.server.waiting_at_gate(),
             timeout=30, what=f"{GATE} verified pieces in {c.part61}")
    c.have61 = c.content.verified_in(c.part61)
    require(not os.path.exists(os.path.join(c.p61.dir, NAME)), f"{NAME} exists already")


@t.test("while it downloads, get_peers lists peer 61 in `sources` with complete:false, "
        "not in `peers`")
def _():
    want = {"peer_id": "61", "ip": HOST, "port": c.p61.port, "complete": False}
    wait_for(lambda: source_entry(c.p61) == want, timeout=10,
             what=f"{want} in get_peers (last: {getattr(c, 'last_answer', None)})")
    require([HOST, c.p61.port] not in c.last_answer.get("peers", []),
            f"a partial source in `peers`: {c.last_answer}")
    eq(c.last_answer.get("id"), c.content.id, "id")


@t.test("peer 61 answers `manifest` with the file's manifest (its id checks out)")
def _():
    c.conn = ExtConn(c.p61.port)
    answer, _ = c.conn.ask({"action": "manifest", "file": NAME})
    eq(answer.get("status"), "ok", f"status of {str(answer)[:200]}")
    m = answer.get("manifest", {})
    eq(m.get("name"), NAME, "name")
    eq((m.get("size"), m.get("piece_size"), m.get("pieces")),
       (c.content.size, c.content.piece_size, c.content.pieces), "size, piece_size, pieces")
    canonical = '{"piece_size":%d,"pieces":[%s],"size":%d}' % (
        m["piece_size"], ",".join(json.dumps(h) for h in m["pieces"]), m["size"])
    eq(sha256(canonical.encode()), c.content.id, "id of the manifest")


@t.test(f"peer 61 answers `have` with exactly its {GATE} verified pieces")
def _():
    answer, _ = c.conn.ask({"action": "have", "file": NAME})
    eq(answer.get("status"), "ok", f"status of {answer}")
    eq(bitfield_indices(answer.get("pieces", ""), c.content.count), c.have61, "pieces in `have`")
    eq(len(answer["pieces"]), (c.content.count + 7) // 8 * 2, "length of the hex bitfield")


@t.test("peer 61 sends a piece it has (right bytes), refuses one it lacks, and keeps the "
        "connection open")
def _():
    i = c.have61[-1]
    answer, data = c.conn.ask({"action": "piece", "file": NAME, "index": i})
    eq((answer.get("status"), answer.get("index"), answer.get("length")),
       ("ok", i, c.content.piece_len(i)), "piece header")
    require(data == c.content.piece(i), f"piece {i} differs from the original")
    lacking = next(k for k in range(c.content.count) if k not in c.have61)
    answer, data = c.conn.ask({"action": "piece", "file": NAME, "index": lacking})
    eq(answer.get("status"), "error", f"status of the answer for piece {lacking}: {answer}")
    require(isinstance(answer.get("message"), str) and answer["message"], f"no message: {answer}")
    answer, _ = c.conn.ask({"action": "have", "file": NAME})
    eq(answer.get("status"), "ok", "the next request on the same connection")
    c.conn.close()


@t.test("a seed-form request for the partial file gets no data")
def _():
    eq(seed_download(c.p61.port, NAME, timeout=10), b"", "bytes received")


@t.test("peer 62 `get part.bin` lists 61 as partial and gets 61's pieces from it while the "
        "complete source holds", fatal=True)
def _():
    c.p62 = start_peer(tt, 62, c.tracker.port, extra=["--timeout", "60"])
    t.watch(c.p62)
    c.p62.send(f"get {NAME}")
    c.p62.expect_line("Available Peers: ")
    c.p62.expect_line(f"1: ip: {HOST}, port: {c.src.port}")
    c.p62.expect_line(f"2: ip: {HOST}, port: {c.p61.port} (partial)")
    c.p62.expect_line(f"Downloading {NAME} ({c.content.size} bytes, id {c.content.id[:12]}...) "
                      "from 2 of 2 sources")
    part62 = os.path.join(c.p62.dir, part_name(c.content.id))
    wait_for(lambda: c.content.verified_in(part62) == c.have61, timeout=30,
             what=f"peer 61's pieces {c.have61} in {part62}")
    eq(c.src.server.granted(), GATE, "pieces the gated source let out")


@t.test("the gate opens: peers 61 and 62 both finish, byte-identical, no leftovers")
def _():
    c.src.server.open_gate()
    for p in (c.p61, c.p62):
        p.expect_line(f"Downloaded file {NAME} successfully.", timeout=60)
        clean_copy(p.dir, NAME, c.content.sha, p.name)


@t.test("peer 62's `Received ... from` names peer 61")
def _():
    m = c.p62.expect(r"^Received .* \((\d+) bytes\) in [0-9.]+ s \(.*/s\) from (.*)$")
    srcs = [s.strip() for s in m.group(2).split(",")]
    t.diag(f"peer 62 received {m.group(1)} bytes from {', '.join(srcs)}")
    require(f"{HOST}:{c.p61.port}" in srcs, f"peer 61 ({HOST}:{c.p61.port}) not in {srcs}")
    # At most the file plus what two sources with 4 requests in flight each may
    # send twice (the requests the gate held, endgame duplicates).
    nbytes = int(m.group(1))
    require(c.content.size <= nbytes <= c.content.size + 8 * c.content.piece_size,
            f"{nbytes} bytes for a file of {c.content.size}")


@t.test("afterwards get_peers lists peers 61 and 62 with complete:true, and in `peers`")
def _():
    for p in (c.p61, c.p62):
        want = {"peer_id": p.peer_id, "ip": HOST, "port": p.port, "complete": True}
        wait_for(lambda: source_entry(p) == want and [HOST, p.port] in c.last_answer["peers"],
                 timeout=10, what=f"{want} (last: {getattr(c, 'last_answer', None)})")


@t.test("both peers leave at end of stdin with exit code 0")
def _():
    all_leave_at_eof([(c.p61, 0), (c.p62, 0)])


t.done()

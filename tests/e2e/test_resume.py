#!/usr/bin/env python3
"""Resume: an interrupted download keeps its verified pieces in
.tt-part-<16 hex of the id>, and `get NAME` again fetches only what is missing.

Each source is a python extended-form server with a gate: it sends G pieces,
then holds every further piece answer until the test opens the gate, so the
download stops at a known point. Interruptions:
(a) SIGKILL of the downloading peer; a new peer with the same id and --dir
    resumes (`Resuming NAME: G of N pieces already here`).
(b) SIGTERM; before the restart one verified piece in the part file is
    damaged: the resume re-verifies, counts G-1, and fetches that piece again.
(c) the source stalls past --timeout 3: `no good source left; G of N pieces
    are kept in .tt-part-... for the next try`, and the same peer's next `get`
    resumes.
Every time: nothing under NAME while interrupted; the `Received` byte count is
at least the missing bytes and at most 4 pieces more (endgame slack); after the
restart the source was asked for and sent exactly the missing pieces; the
result is byte-identical and the part file gone. (With one source there should
be no duplicates at all: checked exactly, as a TODO.)
"""

import os
import signal
from types import SimpleNamespace

from harness import (Content, ExtSource, HOST, Tap, absent, all_leave_at_eof, clean_copy, eq,
                     log_messages, part_name, require, start_peer, start_tracker, tt_path,
                     wait_for)

tt = tt_path()
t = Tap()
c = SimpleNamespace()

GATE = 12
SLACK_PIECES = 4


def start_gated(tag, name):
    """A complete python source of a fresh 8 MiB + 777 byte file (33 pieces) that
    sends GATE pieces and then holds."""
    content = Content(os.urandom((8 << 20) + 777))
    eq(content.count, 33, "pieces")
    src = ExtSource(c.tracker.port, f"src-{tag}", name, content, gate=GATE)
    return content, src


def stopped_at_gate(p, name, content, src):
    """`get NAME` on p; waits until the part file holds GATE verified pieces and
    the source holds the next answer. Returns the part file's path."""
    p.send(f"get {name}")
    p.expect_line(f"Downloading {name} ({content.size} bytes, id {content.id[:12]}...) "
                  "from 1 of 1 sources")
    p.expect_line(f"Connecting to peer at {HOST}:{src.port}")
    path = os.path.join(p.dir, part_name(content.id))
    wait_for(lambda: len(content.verified_in(path)) == GATE and src.server.waiting_at_gate(),
             timeout=30, what=f"{GATE} verified pieces in {path}")
    absent(p.dir, name)
    eq(os.stat(path).st_mode & 0o777, 0o600, "mode of the part file")
    return path


def resumed_ok(p, name, content, src, kept, conn_marker):
    """After `get NAME` again: the resume line, success, the byte count, what the
    source sent on the new connections, the file and no leftovers."""
    missing = [i for i in range(content.count) if i not in kept]
    p.expect_line(f"Resuming {name}: {len(kept)} of {content.count} pieces already here")
    p.expect_line(f"Downloaded file {name} successfully.", timeout=60)
    m = p.expect(r"^Received .* \((\d+) bytes\) in [0-9.]+ s \(.*/s\) from (.*)$")
    got = int(m.group(1))
    want = sum(content.piece_len(i) for i in missing)
    t.diag(f"{name}: received {got} bytes; {want} were missing ({len(missing)} pieces)")
    require(want <= got <= want + SLACK_PIECES * content.piece_size,
            f"received {got} bytes; {want} were missing (+ {SLACK_PIECES} pieces of slack)")
    eq(m.group(2), f"{HOST}:{src.port}", "sources named")
    asked = [i for (n, a, i) in list(src.server.requests) if n > conn_marker and a == "piece"]
    sent = [i for (n, i) in list(src.server.sent) if n > conn_marker]
    eq(sorted(set(asked)), missing, "pieces asked of the source after the restart")
    eq(sorted(set(sent)), missing, "pieces the source sent after the restart")
    c.exact.append((name, got, want, sorted(asked)))
    clean_copy(p.dir, name, content.sha, p.name)


def get_again(p, name, content, src, kept):
    """Opens src's gate and sends `get NAME` on p again; then resumed_ok."""
    marker = src.server.accepted
    src.server.open_gate()
    p.send(f"get {name}")
    resumed_ok(p, name, content, src, kept, marker)


def restart(old):
    """A new run of peer `old` with the same --id and --dir (watched)."""
    p = start_peer(tt, old.peer_id, c.tracker.port, d=old.dir, name=f"{old.name}-again")
    t.watch(p)
    return p


@t.setup("tracker starts (--peer-ttl 600)")
def _():
    c.exact = []
    c.tracker = start_tracker(tt, extra=["--peer-ttl", "600"])
    t.watch(c.tracker)


# ---------------------------------------------------------------- (a) SIGKILL

A = "killed.bin"


@t.test(f"(a) peer 51 downloads {A} until the source holds after {GATE} pieces: "
        "they are in the part file (0600), nothing is under the name", fatal=True)
def _():
    c.a_content, c.a_src = start_gated("a", A)
    c.p51 = start_peer(tt, 51, c.tracker.port)
    t.watch(c.p51)
    c.a_part = stopped_at_gate(c.p51, A, c.a_content, c.a_src)


@t.test("(a) SIGKILL: nothing under the name; the part file keeps the verified pieces", fatal=True)
def _():
    c.p51.signal(signal.SIGKILL)
    eq(c.p51.wait(), -signal.SIGKILL, "exit status")
    absent(c.p51.dir, A)
    c.a_kept = c.a_content.verified_in(c.a_part)
    eq(len(c.a_kept), GATE, "verified pieces in the part file")


@t.test(f"(a) peer 51 again, same --dir: `Resuming {A}: {GATE} of 33`, fetches only the "
        "missing pieces, byte-identical")
def _():
    c.p51 = restart(c.p51)
    get_again(c.p51, A, c.a_content, c.a_src, c.a_kept)


# ---------------------------------------------------------------- (b) SIGTERM, damaged piece

B = "termed.bin"


@t.test(f"(b) peer 52 downloads {B} until the source holds after {GATE} pieces", fatal=True)
def _():
    c.b_content, c.b_src = start_gated("b", B)
    c.p52 = start_peer(tt, 52, c.tracker.port)
    t.watch(c.p52)
    c.b_part = stopped_at_gate(c.p52, B, c.b_content, c.b_src)


@t.test("(b) SIGTERM: the peer leaves; nothing under the name; the part file stays", fatal=True)
def _():
    c.p52.signal(signal.SIGTERM)
    c.p52.expect_line("Peer 52 is leaving the network.", timeout=10)
    code = c.p52.wait(10)
    require(code in (0, 1), f"exit code {code}")
    absent(c.p52.dir, B)
    kept = c.b_content.verified_in(c.b_part)
    eq(len(kept), GATE, "verified pieces in the part file")
    # Damage one verified piece: a resume must not trust it.
    c.b_damaged = kept[len(kept) // 2]
    with open(c.b_part, "r+b") as f:
        f.seek(c.b_damaged * c.b_content.piece_size + 1000)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x55]))
    c.b_kept = [i for i in kept if i != c.b_damaged]
    eq(c.b_content.verified_in(c.b_part), c.b_kept, "verified pieces after the damage")


@t.test(f"(b) peer 52 again: `Resuming {B}: {GATE - 1} of 33` (the damaged piece is fetched "
        "again), only the missing pieces, byte-identical")
def _():
    c.p52 = restart(c.p52)
    get_again(c.p52, B, c.b_content, c.b_src, c.b_kept)


# ---------------------------------------------------------------- (c) the source stalls

C = "stalled.bin"


@t.test(f"(c) peer 53 (--timeout 3): the source holds after {GATE} pieces; the download stops: "
        f"`no good source left; {GATE} of 33 pieces are kept in .tt-part-... for the next try`",
        fatal=True)
def _():
    c.c_content, c.c_src = start_gated("c", C)
    c.p53 = start_peer(tt, 53, c.tracker.port, extra=["--timeout", "3"])
    t.watch(c.p53)
    c.p53.send(f"get {C}")
    c.p53.expect_line(f"Connecting to peer at {HOST}:{c.c_src.port}")
    c.p53.expect_line(f"Dropped peer at {HOST}:{c.c_src.port}: sent nothing for too long",
                      timeout=30)
    c.p53.expect_line(f"Error downloading file {C}: no good source left; {GATE} of 33 pieces are "
                      f"kept in {part_name(c.c_content.id)} for the next try")
    absent(c.p53.dir, C)
    c.c_part = os.path.join(c.p53.dir, part_name(c.c_content.id))
    c.c_kept = c.c_content.verified_in(c.c_part)
    eq(len(c.c_kept), GATE, "verified pieces in the part file")


@t.test("(c) the drop is logged: `Dropped peer at IP:PORT while downloading stalled.bin: ...`")
def _():
    want = f"Dropped peer at {HOST}:{c.c_src.port} while downloading {C}: sent nothing for too long"
    wait_for(lambda: want in log_messages(c.p53.log_path), timeout=5, what=want)


@t.test(f"(c) the same peer's next `get {C}` resumes from {GATE} pieces and fetches only the rest")
def _():
    get_again(c.p53, C, c.c_content, c.c_src, c.c_kept)


@t.test("with one source, each missing piece was asked for once and `Received` is exactly the "
        "missing bytes")
def _():
    for name, got, want, asked in c.exact:
        eq(asked, sorted(set(asked)), f"{name}: pieces asked (duplicates)")
        eq(got, want, f"{name}: bytes received")


@t.test("the peers leave at end of stdin (peer 53, which had a failed command, with exit code 1)")
def _():
    all_leave_at_eof([(c.p51, 0), (c.p52, 0), (c.p53, 1)])


t.done()

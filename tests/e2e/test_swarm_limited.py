#!/usr/bin/env python3
"""A swarm that swarms: downloaders serve each other when the seeder's uplink is
the limit.

One tt seeder shares an 8 MiB file with --max-upload-rate 1M (its uplink is the
scarce thing, as on a real network); six tt downloaders start `get` at once.
Assertions are on bytes, never on times:
  - every copy is byte-identical, and no part or temp file is left;
  - the seeder sent at most 2.5 copies of the file (the sum, over downloaders,
    of what each says the seeder sent it: `Source IP:PORT sent N bytes (K
    pieces)`), where a seeder-only system sends six;
  - every downloader got verified pieces from at least two other downloaders;
  - the per-source lines add up to the `Received` total;
  - the seeder's limit held: what it sent took at least as long as the limit
    allows (a lower bound on time, so a slow machine cannot fail it).
"""

import re
import time
from types import SimpleNamespace

from harness import (Tap, all_leave_at_eof, clean_copy, eq, require, same_file, start_peer,
                     start_random_sharer, start_tracker, tt_path)

tt = tt_path()
t = Tap()
c = SimpleNamespace()

NAME = "limited.bin"
SIZE = 8 << 20
NDOWN = 6
RATE = 1 << 20  # the seeder's --max-upload-rate, bytes per second
RECEIVED_RE = r"^Received .* \((\d+) bytes\) in [0-9.]+ s \(.*/s\) from (.*)$"
SOURCE_RE = r"^Source ([0-9.]+):(\d+) sent (\d+) bytes \((\d+) pieces\)$"


@t.setup("tracker, a seeder limited to 1 MiB/s upload sharing 8 MiB, six downloaders")
def _():
    c.tracker = start_tracker(tt, extra=["--peer-ttl", "600"])
    t.watch(c.tracker)
    c.seeder = start_random_sharer(tt, "seeder", c.tracker.port, NAME, SIZE,
                                   extra=["--max-upload-rate", "1M"])
    t.watch(c.seeder)
    c.sha = c.seeder.sha
    c.down = [start_peer(tt, f"d{k}", c.tracker.port) for k in range(NDOWN)]
    for p in c.down:
        t.watch(p)


@t.test("all six `get` at once and all finish")
def _():
    c.start = time.monotonic()
    for p in c.down:
        p.send(f"get {NAME}")
    c.got = {}
    failed = []
    for p in c.down:
        m = p.expect(rf"^(Downloaded file {re.escape(NAME)} successfully\.|Error downloading .*)$",
                     timeout=120)
        if not m.group(1).startswith("Downloaded"):
            failed.append(f"{p.name}: {m.group(1)}")
            continue
        total = int(p.expect(RECEIVED_RE).group(1))
        sources = {}
        while sum(b for b, _ in sources.values()) < total:
            m = p.expect(SOURCE_RE, timeout=10)
            sources[int(m.group(2))] = (int(m.group(3)), int(m.group(4)))
        c.got[p.name] = (total, sources)
    c.elapsed = time.monotonic() - c.start
    require(not failed, "; ".join(failed))


@t.test("every copy is byte-identical; no part or temp file is left")
def _():
    for p in c.down:
        clean_copy(p.dir, NAME, c.sha, p.name)


@t.test("each downloader's `Source` lines add up to its `Received` total")
def _():
    for name, (total, sources) in c.got.items():
        eq(sum(b for b, _ in sources.values()), total, f"{name}: bytes by source")


@t.test("the seeder sent at most 2.5 copies of the file (six downloaders)")
def _():
    sent = sum(src.get(c.seeder.port, (0, 0))[0] for _, src in c.got.values())
    t.diag(f"seeder sent {sent} bytes = {sent / SIZE:.2f} copies; all done in {c.elapsed:.1f} s")
    require(sent <= 2.5 * SIZE, f"the seeder sent {sent / SIZE:.2f} copies")


@t.test("every downloader got verified pieces from at least two other downloaders")
def _():
    ports = {p.port: p.name for p in c.down}
    for p in c.down:
        _, sources = c.got[p.name]
        peers = [ports[port] for port, (_, pieces) in sources.items()
                 if port in ports and pieces > 0]
        t.diag(f"{p.name}: " + ", ".join(
            f"{ports.get(port, 'seeder')} {pieces}" for port, (_, pieces) in sources.items()))
        require(len(peers) >= 2, f"{p.name} got pieces from {peers or 'no other downloader'}")


@t.test("the seeder's limit held: its bytes took at least as long as 1 MiB/s allows")
def _():
    sent = sum(src.get(c.seeder.port, (0, 0))[0] for _, src in c.got.values())
    # A bucket may start full (a tenth of a second's worth, at least 64 KiB).
    floor = (sent - max(RATE // 10, 64 << 10)) / RATE
    require(c.elapsed >= floor, f"{sent} bytes in {c.elapsed:.2f} s: faster than the limit")


@t.test("a seventh downloader with --max-download-rate 2M gets the file from the seven copies, "
        "byte-identical, no faster than its limit allows")
def _():
    late = start_peer(tt, "late", c.tracker.port, extra=["--max-download-rate", "2M"])
    t.watch(late)
    c.down.append(late)
    start = time.monotonic()
    late.send(f"get {NAME}")
    late.expect_line(f"Downloaded file {NAME} successfully.", timeout=120)
    elapsed = time.monotonic() - start
    same_file(f"{late.dir}/{NAME}", c.sha, "the late copy")
    total = int(late.expect(RECEIVED_RE).group(1))
    # The bucket starts full (a tenth of a second, at least 64 KiB), and each
    # connection may read a little past the tokens (4 KiB) before it waits.
    floor = (total - max((2 << 20) // 10, 64 << 10) - 8 * 4096) / (2 << 20)
    t.diag(f"{total} bytes in {elapsed:.2f} s (at least {floor:.2f} s at 2 MiB/s)")
    require(elapsed >= floor, f"{total} bytes in {elapsed:.2f} s: faster than the limit")


@t.test("every peer leaves at end of stdin with exit code 0")
def _():
    all_leave_at_eof([(p, 0) for p in [c.seeder, *c.down]])


t.done()

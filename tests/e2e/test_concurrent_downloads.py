#!/usr/bin/env python3
"""One tt peer serves a 32 MiB file to several downloaders at once.

First two seed-form clients: one stops reading after 1 MiB while the other
must still get the whole file (a server that serves one client at a time
would stall it). Then two tt peers download the file at the same time.
"""

import socket
import time
from types import SimpleNamespace

from harness import (HOST, Tap, all_leave_at_eof, eq, require, same_file, seed_download, sha256,
                     start_peer, start_random_sharer, start_tracker, temp_files, tt_path, wait_for)

SIZE = 32 << 20

tt = tt_path()
t = Tap()
c = SimpleNamespace()


@t.setup("tracker and seeder start; peer 31 shares a 32 MiB random file")
def _():
    c.tracker = start_tracker(tt)
    t.watch(c.tracker)
    c.seeder = start_random_sharer(tt, 31, c.tracker.port, "big.bin", SIZE)
    t.watch(c.seeder)
    c.sha = c.seeder.sha


@t.test("a second seed-form client gets the whole file while the first one has stopped reading")
def _():
    slow = socket.create_connection((HOST, c.seeder.port), timeout=20)
    try:
        slow.sendall(b"big.bin")
        first = bytearray()
        while len(first) < (1 << 20):
            block = slow.recv(1 << 20)
            require(block, "first client: connection closed early")
            first += block
        start = time.monotonic()
        data = seed_download(c.seeder.port, "big.bin", timeout=40)
        t.diag(f"second client got {len(data)} bytes in {time.monotonic() - start:.2f}s")
        eq(len(data), SIZE, "second client bytes")
        require(sha256(data) == c.sha, "second client: content differs")
        while True:  # now the first client reads the rest
            block = slow.recv(1 << 20)
            if not block:
                break
            first += block
        eq(len(first), SIZE, "first client bytes")
        require(sha256(bytes(first)) == c.sha, "first client: content differs")
    finally:
        slow.close()


@t.test("two tt peers started together both download the file ('Downloaded ... successfully.')")
def _():
    c.getters = [start_peer(tt, pid, c.tracker.port) for pid in (32, 33)]
    t.watch(*c.getters)
    for g in c.getters:
        g.send("get big.bin 1")
    for g in c.getters:
        g.expect_line("Downloaded file big.bin successfully.", timeout=90)


@t.test("both downloaded copies are byte-identical; no temp files left")
def _():
    for g in c.getters:
        same_file(f"{g.dir}/big.bin", c.sha, f"{g.name}'s big.bin")
        eq(temp_files(g.dir), [], f"temp files of {g.name}")


@t.test("the tracker saw got_the_file from both downloaders")
def _():
    wanted = [f"Peer {pid} downloaded the file file: big.bin" for pid in (32, 33)]
    wait_for(lambda: all(w in c.tracker.lines() for w in wanted), what=str(wanted))


@t.test("all peers leave at end of stdin with exit code 0")
def _():
    all_leave_at_eof([(p, 0) for p in c.getters + [c.seeder]])


t.done()

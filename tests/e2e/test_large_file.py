#!/usr/bin/env python3
"""A 64 MiB random file goes from one tt peer to another byte for byte, and
the downloader then serves it in turn (to a seed-form client)."""

import time
from types import SimpleNamespace

from harness import (Tap, all_leave_at_eof, eq, require, same_file, seed_download, sha256,
                     start_peer, start_random_sharer, start_tracker, temp_files, tt_path,
                     write_bytes)

SIZE = 64 << 20

tt = tt_path()
t = Tap()
c = SimpleNamespace()


@t.setup("tracker and two peers start; peer 21 shares a 64 MiB random file")
def _():
    c.tracker = start_tracker(tt)
    t.watch(c.tracker)
    c.seeder = start_random_sharer(tt, 21, c.tracker.port, "big.bin", SIZE)
    c.sha = c.seeder.sha
    c.getter = start_peer(tt, 22, c.tracker.port)
    t.watch(c.seeder, c.getter)


@t.test("peer 22 'get big.bin 1' downloads it ('Downloaded file big.bin successfully.')", fatal=True)
def _():
    start = time.monotonic()
    write_bytes(f"{c.getter.dir}/small.txt", b"small\n")
    c.getter.send("get big.bin 1")
    c.getter.send("share small.txt")  # piped commands run strictly in order
    c.getter.expect_line(f"Connecting to peer at 127.0.0.1:{c.seeder.port}")
    c.getter.expect_line("Downloaded file big.bin successfully.", timeout=90)
    t.diag(f"64 MiB downloaded in {time.monotonic() - start:.2f}s")


@t.test("the next piped command ran only after the download had finished")
def _():
    c.getter.expect_line("Peer 22 shared a new files: small.txt")


@t.test("the downloaded file is byte-identical (SHA-256) and no temp file is left")
def _():
    same_file(f"{c.getter.dir}/big.bin", c.sha)
    eq(temp_files(c.getter.dir), [], "temp files")


@t.test("the tracker saw got_the_file from peer 22")
def _():
    c.tracker.expect_line("Peer 22 downloaded the file file: big.bin")


@t.test("peer 22 serves the downloaded file to a seed-form client, byte-identical")
def _():
    data = seed_download(c.getter.port, "big.bin", timeout=60)
    eq(len(data), SIZE, "bytes received")
    require(sha256(data) == c.sha, "content differs from the original")


@t.test("both peers leave at end of stdin with exit code 0")
def _():
    all_leave_at_eof([(c.getter, 0), (c.seeder, 0)])


t.done()

#!/usr/bin/env python3
"""Downloads that do not finish never leave a file under the final name.

Sources are python seed-form servers registered at the tt tracker by a
seed-style join: one sends half the file and stalls, one sends nothing, one
sends half and closes. The downloading tt peer is SIGKILLed, times out
(--timeout 2), or gets SIGTERM. An existing file is never overwritten.
"""

import os
import re
import signal
import socket
import time
from types import SimpleNamespace

from harness import (HOST, Tap, absent, eq, joined_seed_source, log_messages, require, sha256,
                     sha256_file, start_peer, start_sharer, start_tracker, temp_files, tt_path,
                     udp_ask_json, wait_for, write_bytes)

tt = tt_path()
t = Tap()
c = SimpleNamespace()

DATA = os.urandom(8 << 20)
DATA_SHA = sha256(DATA)


def seed_source(peer_id, name, mode):
    """A python seed peer joined at the tracker with `name`, served in `mode`."""
    return joined_seed_source(c.tracker.port, peer_id, name, DATA, mode)


def download_error(p, name):
    """Wait for `Error downloading file NAME: REASON`; return REASON."""
    return p.expect(rf"^Error downloading file {re.escape(name)}: (.*)$").group(1)


def readable(reason):
    require(reason.strip() and reason.isprintable() and "\ufffd" not in reason,
            f"unreadable reason {reason!r}")


@t.setup("tracker starts")
def _():
    c.tracker = start_tracker(tt)
    t.watch(c.tracker)


@t.test("SIGKILL of a peer in the middle of a download (data in a .tt-dl-* file) leaves nothing under the final name")
def _():
    src = seed_source("s41", "stall1.bin", "half_stall")
    c.p41 = start_peer(tt, 41, c.tracker.port, extra=["--timeout", "30"])
    c.p41.send("get stall1.bin 1")
    c.p41.expect_line(f"Connecting to peer at {HOST}:{src.port}")
    require(src.server.half_sent.wait(20), "the source never got to send half the file")
    # Meanwhile the data goes to a .tt-dl-* temp file in --dir, not to the name.
    wait_for(lambda: any(os.path.getsize(os.path.join(c.p41.dir, n)) >= len(DATA) // 2
                         for n in temp_files(c.p41.dir)), timeout=10,
             what=f"a half-size .tt-dl-* file in {c.p41.dir}")
    absent(c.p41.dir, "stall1.bin")
    c.p41.signal(signal.SIGKILL)
    eq(c.p41.wait(), -signal.SIGKILL, "exit status")
    absent(c.p41.dir, "stall1.bin")


@t.test("the killed peer's id can join again from the same dir, and a download then works")
def _():
    src = seed_source("s41b", "fresh.bin", "full")
    again = start_peer(tt, 41, c.tracker.port, d=c.p41.dir, name="peer41-again")
    t.watch(again)
    again.send("get fresh.bin 1")
    again.expect_line("Downloaded file fresh.bin successfully.")
    eq(sha256_file(f"{again.dir}/fresh.bin"), DATA_SHA, "fresh.bin checksum")
    absent(again.dir, "stall1.bin")
    c.p41 = again


@t.test("a source that stalls past --timeout 2: 'Error downloading file', no temp file, no file")
def _():
    c.stall_src = seed_source("s42", "stall2.bin", "half_stall")
    c.p42 = start_peer(tt, 42, c.tracker.port, extra=["--timeout", "2"])
    t.watch(c.p42)
    start = time.monotonic()
    c.p42.send("get stall2.bin 1")
    reason = download_error(c.p42, "stall2.bin")
    t.diag(f"gave up after {time.monotonic() - start:.1f}s")
    eq(temp_files(c.p42.dir), [], "temp files")
    absent(c.p42.dir, "stall2.bin")
    readable(reason)


@t.test("the failed download is logged as 'Error downloading file stall2.bin from IP:PORT'")
def _():
    want = f"Error downloading file stall2.bin from {HOST}:{c.stall_src.port}"
    wait_for(lambda: want in log_messages(c.p42.log_path), timeout=5, what=want)


@t.test("a source that sends 0 bytes is a failure: error line, no temp file, no file")
def _():
    seed_source("s43", "empty.bin", "empty")
    c.p42.send("get empty.bin 1")
    reason = download_error(c.p42, "empty.bin")
    eq(temp_files(c.p42.dir), [], "temp files")
    absent(c.p42.dir, "empty.bin")
    readable(reason)


@t.test("a source whose port refuses connections: readable error line, no temp file, no file")
def _():
    closed = socket.socket()
    closed.bind((HOST, 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there any more
    answer = udp_ask_json(c.tracker.port, {"action": "join", "peer_id": "s49",
                                           "files": ["gone.bin"], "tcp_port": port})
    eq(answer, {"status": "ok"}, "join answer")
    c.p42.send("get gone.bin 1")
    c.p42.expect_line(f"Connecting to peer at {HOST}:{port}")
    reason = download_error(c.p42, "gone.bin")
    eq(temp_files(c.p42.dir), [], "temp files")
    absent(c.p42.dir, "gone.bin")
    readable(reason)


@t.test("piped 'get' without N falls back to the next source when the first one fails")
def _():
    bad = seed_source("s47", "fallback.bin", "empty")
    good = seed_source("s48", "fallback.bin", "full")
    c.p42.send("get fallback.bin")
    c.p42.expect_line(f"Connecting to peer at {HOST}:{bad.port}")
    download_error(c.p42, "fallback.bin")
    c.p42.expect_line(f"Connecting to peer at {HOST}:{good.port}")
    c.p42.expect_line("Downloaded file fallback.bin successfully.")
    eq(sha256_file(f"{c.p42.dir}/fallback.bin"), DATA_SHA, "fallback.bin checksum")
    eq(temp_files(c.p42.dir), [], "temp files")


@t.setup("tt peer 44 shares trunc.bin, then a seed source that sends half and closes joins")
def _():
    c.seeder44 = start_sharer(tt, 44, c.tracker.port, "trunc.bin", DATA)
    t.watch(c.seeder44)
    c.trunc_src = seed_source("s44", "trunc.bin", "half_close")


@t.test("the tracker announces trunc.bin's size and id (from tt peer 44's share)")
def _():
    # Only a downloader that learns the size (or content id) can tell a
    # truncated seed-form transfer from a whole one.
    answer = udp_ask_json(c.tracker.port, {"action": "get_peers", "v": 1, "peer_id": "s45",
                                           "file_name": "trunc.bin"})
    eq(answer.get("size"), len(DATA), f"size in the extended get_peers answer {answer}")
    require(isinstance(answer.get("id"), str) and len(answer["id"]) == 64,
            f"no content id in the extended get_peers answer {answer}")


@t.test("a source that closes after half of a file of known size never leaves a truncated file")
def _():
    src = c.trunc_src
    c.p42.send("get trunc.bin 2")
    c.p42.expect_line(f"2: ip: {HOST}, port: {src.port}")
    m = c.p42.expect(r"^(Downloaded file trunc\.bin successfully\.|Error downloading file trunc\.bin: .*)$")
    path = f"{c.p42.dir}/trunc.bin"
    t.diag(f"outcome: {m.group(1)}")
    eq(temp_files(c.p42.dir), [], "temp files")
    if m.group(1).startswith("Error"):
        absent(c.p42.dir, "trunc.bin")
    else:
        require(os.path.exists(path) and sha256_file(path) == DATA_SHA,
                f"reported success but trunc.bin is {os.path.getsize(path)} of {len(DATA)} bytes")


@t.test("an existing file is never overwritten: one error line, file intact")
def _():
    seed_source("s45", "mine.txt", "full")
    write_bytes(f"{c.p42.dir}/mine.txt", b"my own precious content\n")
    c.p42.send("get mine.txt 1")
    c.p42.send("fence")
    lines = c.p42.read_until_line("Please enter a valid command!")
    require(any(l.startswith("Error") for l in lines), f"no error line in {lines!r}")
    require(not any(l.startswith("Downloaded file mine.txt") for l in lines), f"got {lines!r}")
    with open(f"{c.p42.dir}/mine.txt", "rb") as f:
        eq(f.read(), b"my own precious content\n", "content of mine.txt")
    eq(temp_files(c.p42.dir), [], "temp files")


@t.test("peer 42 exits with code 1 at end of stdin (some commands failed)")
def _():
    c.p42.close_stdin()
    c.p42.expect_line("Peer 42 is leaving the network.")
    eq(c.p42.wait(), 1, "exit code")


@t.test("SIGTERM during a stalled download: leaves, exits, no temp file, no file")
def _():
    src = seed_source("s46", "stall3.bin", "half_stall")
    p = start_peer(tt, 46, c.tracker.port, extra=["--timeout", "30"])
    t.watch(p)
    p.send("get stall3.bin 1")
    require(src.server.half_sent.wait(20), "the source never got to send half the file")
    time.sleep(0.3)
    p.signal(signal.SIGTERM)
    p.expect_line("Peer 46 is leaving the network.", timeout=10)
    code = p.wait(10)
    require(code in (0, 1), f"exit code {code}")
    absent(p.dir, "stall3.bin")
    eq(temp_files(p.dir), [], "temp files")
    c.tracker.expect_line("Peer 46 left the network.")


t.done()

#!/usr/bin/env python3
"""Sources that speak only the seed form (bare name -> whole file -> close)
still serve a `tt peer`, verified whenever the tracker knows a content id.

(a) a python seed peer (seed-form join: the tracker learns no id) serves
    plain.bin to tt peer 81: a plain seed-form download, byte-identical. Peer 81
    then announces the id it computed, serves the extended form, and a second
    tt peer swarms from it.
(b) tt seeder 83 announces mixed.bin's id; `get mixed.bin N` picking the python
    seed source: no manifest from it, so the seed form, checked against the id:
    completes byte-identical.
(c) the same with a python seed source whose bytes differ: `the content does
    not match the id the tracker announced`, nothing under the name, no temp
    file.
(d) tt seeder 86 announces only.bin's id and is SIGKILLed (still listed: the
    tracker runs with --peer-ttl 600); the only other source is seed-form:
    `get only.bin` falls back to the seed form and completes verified.
"""

import os
import signal
from types import SimpleNamespace

from harness import (Content, HOST, Tap, all_leave_at_eof, clean_copy, eq, ext_get_peers,
                     joined_seed_source, log_messages, nothing_left, part_files, require,
                     same_file, start_peer, start_sharer, start_tracker_and_watcher, tt_path,
                     wait_for)

tt = tt_path()
t = Tap()
c = SimpleNamespace()

RECEIVED_RE = r"^Received .* \((\d+) bytes\) in [0-9.]+ s \(.*/s\) from (.*)$"


def seed_source(peer_id, name, data):
    return joined_seed_source(c.tracker.port, peer_id, name, data)


def tt_seeder(peer_id, name, content):
    p = start_sharer(tt, peer_id, c.tracker.port, name, content.data)
    t.watch(p)
    return p


def number_of(name, port):
    """The number `get NAME N` takes for the source on `port` (the tracker's order)."""
    sources = ext_get_peers(c.watcher, name).get("sources", [])
    ports = [s.get("port") for s in sources]
    require(port in ports, f"port {port} not among the sources {sources}")
    return ports.index(port) + 1


@t.setup("tracker starts (--peer-ttl 600)")
def _():
    c.tracker, c.watcher = start_tracker_and_watcher(tt, extra=["--peer-ttl", "600"])
    t.watch(c.tracker)


# ---------------------------------------------------------------- (a)

A = "plain.bin"


@t.test("(a) a python seed peer joins with plain.bin in seed form: the tracker knows no id",
        fatal=True)
def _():
    c.a = Content(os.urandom((8 << 20) + 321))
    c.seed_a = seed_source("seed-a", A, c.a.data)
    answer = ext_get_peers(c.watcher, A)
    require(not answer.get("id"), f"an id for a seed-form file: {answer}")
    eq(answer.get("peers"), [[HOST, c.seed_a.port]], "peers")


@t.test("(a) tt peer 81 `get plain.bin`: a seed-form download, byte-identical, no leftovers")
def _():
    c.p81 = start_peer(tt, 81, c.tracker.port)
    t.watch(c.p81)
    c.p81.send(f"get {A}")
    c.p81.expect_line("Available Peers: ")
    c.p81.expect_line(f"1: ip: {HOST}, port: {c.seed_a.port}")
    c.p81.expect_line(f"Connecting to peer at {HOST}:{c.seed_a.port}")
    c.p81.expect_line(f"Downloaded file {A} successfully.", timeout=60)
    m = c.p81.expect(RECEIVED_RE)
    eq((int(m.group(1)), m.group(2)), (c.a.size, f"{HOST}:{c.seed_a.port}"), "bytes and source")
    eq(c.seed_a.server.requests, [A], "requests the seed source got")
    clean_copy(c.p81.dir, A, c.a.sha, c.p81.name)
    require(not any(line.startswith(f"Downloading {A} (") for line in c.p81.lines()),
            "a swarm was started without a content id")


@t.test("(a) peer 81 announces the id it computed; tt peer 82 then swarms from 81 and gets it "
        "byte-identical")
def _():
    wait_for(lambda: ext_get_peers(c.watcher, A).get("id") == c.a.id, timeout=10,
             what="the id of plain.bin at the tracker")
    c.p82 = start_peer(tt, 82, c.tracker.port)
    t.watch(c.p82)
    c.p82.send(f"get {A}")
    c.p82.expect_line(f"Downloading {A} ({c.a.size} bytes, id {c.a.id[:12]}...) from 2 of 2 sources")
    c.p82.expect_line(f"Downloaded file {A} successfully.", timeout=60)
    m = c.p82.expect(RECEIVED_RE)
    eq(m.group(2), f"{HOST}:{c.p81.port}", "sources named")
    same_file(os.path.join(c.p82.dir, A), c.a.sha)
    eq(part_files(c.p82.dir), [], "part files")


# ---------------------------------------------------------------- (b)

B = "mixed.bin"


@t.test("(b) tt seeder 83 announces mixed.bin's id; a python seed source with the same bytes "
        "and one with other bytes join", fatal=True)
def _():
    c.b = Content(os.urandom((8 << 20) + 4321))
    c.p83 = tt_seeder(83, B, c.b)
    eq(ext_get_peers(c.watcher, B).get("id"), c.b.id, "id at the tracker")
    c.seed_b = seed_source("seed-b", B, c.b.data)
    c.seed_bad = seed_source("seed-bad", B, os.urandom(c.b.size))


@t.test("(b) tt peer 84 `get mixed.bin N` (the good seed source): no manifest, so the seed form, "
        "checked against the id: byte-identical")
def _():
    n = number_of(B, c.seed_b.port)
    c.p84 = start_peer(tt, 84, c.tracker.port)
    t.watch(c.p84)
    c.p84.send(f"get {B} {n}")
    c.p84.expect_line(f"{n}: ip: {HOST}, port: {c.seed_b.port}")
    c.p84.expect_line(f"Downloading {B} ({c.b.size} bytes, id {c.b.id[:12]}...) from 1 of 1 sources")
    c.p84.expect_line(f"Connecting to peer at {HOST}:{c.seed_b.port}")
    c.p84.expect_line(f"Downloaded file {B} successfully.", timeout=60)
    m = c.p84.expect(RECEIVED_RE)
    eq((int(m.group(1)), m.group(2)), (c.b.size, f"{HOST}:{c.seed_b.port}"), "bytes and source")
    clean_copy(c.p84.dir, B, c.b.sha, c.p84.name)
    require(A not in c.seed_b.server.requests, "asked for the wrong file")


# ---------------------------------------------------------------- (c)


@t.test("(c) tt peer 85 `get mixed.bin N` (the seed source with other bytes): `the content does "
        "not match the id the tracker announced`, nothing under the name, no temp file")
def _():
    n = number_of(B, c.seed_bad.port)
    c.p85 = start_peer(tt, 85, c.tracker.port)
    t.watch(c.p85)
    c.p85.send(f"get {B} {n}")
    c.p85.expect_line(f"{n}: ip: {HOST}, port: {c.seed_bad.port}")
    c.p85.expect_line(f"Error downloading file {B}: the content does not match the id the "
                      f"tracker announced ({c.b.id[:12]}...)", timeout=60)
    nothing_left(c.p85.dir, B)
    require(not any(line.startswith(f"Downloaded file {B}") for line in c.p85.lines()),
            "reported a download")


@t.test("(c) the mismatch is logged as a failed download from that source")
def _():
    want = f"Error downloading file {B} from {HOST}:{c.seed_bad.port}"
    wait_for(lambda: want in log_messages(c.p85.log_path), timeout=5, what=want)


# ---------------------------------------------------------------- (d)

D = "only.bin"


@t.test("(d) tt seeder 86 announces only.bin's id, a python seed source joins, the seeder is "
        "SIGKILLed (and stays listed)", fatal=True)
def _():
    c.d = Content(os.urandom((4 << 20) + 99))
    c.p86 = tt_seeder(86, D, c.d)
    c.seed_d = seed_source("seed-d", D, c.d.data)
    c.p86.signal(signal.SIGKILL)
    eq(c.p86.wait(), -signal.SIGKILL, "exit status")
    answer = ext_get_peers(c.watcher, D)
    eq(answer.get("id"), c.d.id, "id at the tracker")
    eq([s.get("port") for s in answer.get("sources", [])], [c.p86.port, c.seed_d.port], "sources")


@t.test("(d) tt peer 87 `get only.bin`: the swarm finds no manifest, the seed form from the seed "
        "source completes, verified, byte-identical")
def _():
    c.p87 = start_peer(tt, 87, c.tracker.port)
    t.watch(c.p87)
    c.p87.send(f"get {D}")
    c.p87.expect_line(f"Downloading {D} ({c.d.size} bytes, id {c.d.id[:12]}...) from 2 of 2 sources")
    c.p87.expect_line(f"Downloaded file {D} successfully.", timeout=60)
    m = c.p87.expect(RECEIVED_RE)
    eq((int(m.group(1)), m.group(2)), (c.d.size, f"{HOST}:{c.seed_d.port}"), "bytes and source")
    clean_copy(c.p87.dir, D, c.d.sha, c.p87.name)
    eq(ext_get_peers(c.watcher, D).get("id"), c.d.id, "id at the tracker afterwards")


@t.test("the peers leave at end of stdin (85, whose get failed, with exit code 1)")
def _():
    all_leave_at_eof([(c.p81, 0), (c.p82, 0), (c.p83, 0), (c.p84, 0), (c.p85, 1), (c.p87, 0)])


t.done()

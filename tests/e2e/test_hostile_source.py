#!/usr/bin/env python3
"""Sources that lie about a file's size, flood, drip, or announce more than the
disk holds cannot make a downloader write more than the announced size (plus a
piece), link unverified bytes without saying so, or hang on a trickle.

(a) manifests: a source that announces 100 bytes for the id of a 2 MiB
    manifest is dropped (`sent a manifest for 2097157 bytes; the tracker
    announced 100`) before any piece is asked for, and so is one for an empty
    file (which would be linked at once); a manifest of 65,537 pieces
    (more than tt accepts) is dropped likewise. Nothing under the name, no part
    file.
(b) seed form, no id and no size: a source that floods 3 MiB stops at
    `--max-unverified-size 1M` with a line that says so; an honest one
    completes, and the success line is followed by `Warning: NAME is
    unverified: ...`.
(c) seed form, size and id announced: a source that sends the file and then
    4 MiB of zeros stops at the announced size (the temporary file never grows
    past it): `the source sent more than the N bytes the tracker announced`.
(d) drips (one byte every 0.1 s, which never trips the stall timer): with
    `--timeout 2` the seed-form source and the swarm source are both given up
    (`below the --min-rate of 1024 bytes/s`). A download held to 64 KiB/s by
    `--max-download-rate` with `--min-rate 1M --timeout 3` is not mistaken
    for one: it completes, seed form and swarm alike.
(e) disk space: into a 4 MiB tmpfs (mounted here, unmounted at exit; skipped
    when it cannot be mounted), a 6 MiB swarm download fails at once with
    `not enough free space in DIR: need ..., have ...` and no piece is asked
    for; a seed-form source announcing 1 TiB fails the same way before it is
    even connected to.
"""

import hashlib
import os
import subprocess
import threading
import time
from types import SimpleNamespace

import harness
from harness import (Content, ExtSource, HOST, SeedFormSource, Tap, absent, eq, joined_seed_source,
                     nothing_left, part_files, require, same_file, start_peer, start_tracker,
                     temp_files, tempdir, tt_path)

tt = tt_path()
t = Tap()
c = SimpleNamespace()

MIN_RATE_DROP = "below the --min-rate of 1024 bytes/s"


def piece_requests(server):
    return [r for r in list(server.requests) if r[1] == "piece"]


def error_line(p, name, timeout=30):
    """The text after `Error downloading file NAME: ` on p's next such line."""
    m = p.expect(rf"^Error downloading file {name}: (.*)$", timeout=timeout)
    return m.group(1)


def peer(n, extra=()):
    p = start_peer(tt, n, c.tracker.port, extra=list(extra))
    t.watch(p)
    return p


@t.setup("tracker starts (--peer-ttl 600)")
def _():
    c.tracker = start_tracker(tt, extra=["--peer-ttl", "600"])
    t.watch(c.tracker)


# ---------------------------------------------------------------- (a)


@t.test("(a) a source announcing 100 bytes for a 2 MiB manifest is dropped before any piece")
def _():
    name = "small.bin"
    content = Content(os.urandom((2 << 20) + 5))
    liar = ExtSource(c.tracker.port, "liar-a", name, content, announce={"size": 100})
    p = peer(101)
    p.send(f"get {name}")
    p.expect_line(f"Downloading {name} (100 bytes, id {content.id[:12]}...) from 1 of 1 sources")
    p.expect_line(f"Dropped peer at {HOST}:{liar.port}: sent a manifest for {content.size} bytes; "
                  f"the tracker announced 100", timeout=30)
    error_line(p, name)
    eq(piece_requests(liar.server), [], "piece requests")
    nothing_left(p.dir, name)
    c.p101 = p


@t.test("(a) an empty manifest (size 0, no pieces) for a file announced at 100 bytes is dropped; "
        "no empty file is linked")
def _():
    name = "empty.bin"
    canonical = '{"piece_size":262144,"pieces":[],"size":0}'
    cid = hashlib.sha256(canonical.encode()).hexdigest()
    content = Content(os.urandom(100))
    manifest = {"name": name, "size": 0, "piece_size": 262144, "pieces": []}
    liar = ExtSource(c.tracker.port, "liar-empty", name, content, manifest=manifest,
                     announce={"size": 100, "id": cid})
    p = peer(111)
    p.send(f"get {name}")
    p.expect_line(f"Dropped peer at {HOST}:{liar.port}: sent a manifest for 0 bytes; "
                  f"the tracker announced 100", timeout=30)
    error_line(p, name)
    absent(p.dir, name)
    eq(part_files(p.dir), [], "part files")
    c.p111 = p


@t.test("(a) a manifest of 65,537 pieces (its id announced with it) is dropped")
def _():
    name = "many.bin"
    ps = 256 * 1024
    count = 65537
    size = count * ps
    pieces = [hashlib.sha256(i.to_bytes(4, "big")).hexdigest() for i in range(count)]
    canonical = '{"piece_size":%d,"pieces":[%s],"size":%d}' % (
        ps, ",".join(f'"{h}"' for h in pieces), size)
    cid = hashlib.sha256(canonical.encode()).hexdigest()
    content = Content(os.urandom(1000))
    manifest = {"name": name, "size": size, "piece_size": ps, "pieces": pieces}
    liar = ExtSource(c.tracker.port, "liar-many", name, content, manifest=manifest,
                     announce={"size": size, "id": cid})
    p = peer(102)
    p.send(f"get {name}")
    p.expect_line(f"Dropped peer at {HOST}:{liar.port}: manifest lists more pieces than tt accepts",
                  timeout=60)
    error_line(p, name, timeout=60)
    eq(piece_requests(liar.server), [], "piece requests")
    absent(p.dir, name)
    eq(part_files(p.dir), [], "part files")
    c.p102 = p


# ---------------------------------------------------------------- (b)


@t.test("(b) no id, no size: a 3 MiB flood stops at --max-unverified-size 1M, and says so")
def _():
    name = "movie.mkv"
    joined_seed_source(c.tracker.port, "flood-b", name, bytes(3 << 20))
    p = peer(103, ["--max-unverified-size", "1M"])
    p.send(f"get {name}")
    err = error_line(p, name)
    eq(err, "the source sent more than 1048576 bytes, the --max-unverified-size limit for a file "
            "the tracker gave no size for (raise it to fetch a larger file)", "error")
    absent(p.dir, name)
    eq(temp_files(p.dir), [], "temp files")
    c.p103 = p


@t.test("(b) an unverified download that completes is linked with a warning after the seed's "
        "success line")
def _():
    name = "notes.txt"
    data = os.urandom(300000)
    joined_seed_source(c.tracker.port, "plain-b", name, data)
    p = peer(104)
    p.send(f"get {name}")
    p.expect_line(f"Downloaded file {name} successfully.", timeout=30)
    warning = (f"Warning: {name} is unverified: the tracker announced no content id to check it "
               f"against")
    p.expect_line(warning)
    lines = p.lines()
    i = lines.index(f"Downloaded file {name} successfully.")
    eq(lines[i + 1] if i + 1 < len(lines) else None, warning, "the line after the success line")
    same_file(os.path.join(p.dir, name), hashlib.sha256(data).hexdigest())
    c.p104 = p


# ---------------------------------------------------------------- (c)


@t.test("(c) size and id announced: a seed-form source that floods past the size is stopped "
        "there; the temporary file never grows past it")
def _():
    name = "sized.bin"
    content = Content(os.urandom(1 << 20))
    src = SeedFormSource(c.tracker.port, "flood-c", name, content.data, size=content.size,
                         cid=content.id, mode="flood", extra=4 << 20)
    p = peer(105)
    biggest = [0]
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            for n in temp_files(p.dir):
                try:
                    biggest[0] = max(biggest[0], os.path.getsize(os.path.join(p.dir, n)))
                except OSError:
                    pass
            time.sleep(0.005)

    th = threading.Thread(target=watch, daemon=True)
    th.start()
    try:
        p.send(f"get {name}")
        err = error_line(p, name)
    finally:
        stop.set()
        th.join(5)
    eq(err, f"the source sent more than the {content.size} bytes the tracker announced", "error")
    require(biggest[0] <= content.size, f"the temporary file grew to {biggest[0]} bytes")
    absent(p.dir, name)
    eq(temp_files(p.dir), [], "temp files")
    c.p105 = p


# ---------------------------------------------------------------- (d)


@t.test("(d) a seed-form source dripping a byte every 0.1 s is given up after --timeout 2")
def _():
    name = "drip.bin"
    joined_seed_source(c.tracker.port, "drip-d", name, os.urandom(100000), mode="drip")
    p = peer(106, ["--timeout", "2"])
    p.send(f"get {name}")
    err = error_line(p, name, timeout=20)
    require(err.startswith("the source sent ") and err.endswith(MIN_RATE_DROP), f"error: {err}")
    absent(p.dir, name)
    eq(temp_files(p.dir), [], "temp files")
    c.p106 = p


@t.test("(d) a swarm source dripping piece bytes is dropped after --timeout 2")
def _():
    name = "dripswarm.bin"
    content = Content(os.urandom(600000))
    src = ExtSource(c.tracker.port, "drip-swarm", name, content, drip=0.1)
    p = peer(107, ["--timeout", "2"])
    p.send(f"get {name}")
    m = p.expect(rf"^Dropped peer at {HOST}:{src.port}: (.*)$", timeout=20)
    require(m.group(1).startswith("sent ") and m.group(1).endswith(MIN_RATE_DROP),
            f"drop reason: {m.group(1)}")
    error_line(p, name, timeout=20)
    absent(p.dir, name)
    c.p107 = p


@t.test("(d) downloads held to 64 KiB/s by --max-download-rate are not mistaken for drips "
        "(--min-rate 1M --timeout 3): swarm and seed form complete")
def _():
    content = Content(os.urandom(300000))
    swarm_name, seed_name = "limited.bin", "limited-seed.bin"
    ExtSource(c.tracker.port, "honest-d", swarm_name, content)
    joined_seed_source(c.tracker.port, "honest-seed-d", seed_name, content.data)
    p = peer(108, ["--max-download-rate", "64K", "--min-rate", "1M", "--timeout", "3"])
    p.send(f"get {swarm_name}")
    p.expect_line(f"Downloaded file {swarm_name} successfully.", timeout=60)
    p.send(f"get {seed_name}")
    p.expect_line(f"Downloaded file {seed_name} successfully.", timeout=60)
    require(not any("--min-rate" in line for line in p.lines()), "a source was dropped")
    same_file(os.path.join(p.dir, swarm_name), content.sha)
    same_file(os.path.join(p.dir, seed_name), content.sha)
    c.p108 = p


# ---------------------------------------------------------------- (e)


def mount_small(size="4m"):
    d = tempdir("small")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tt-e2e-small", d],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        return None, r.stderr.strip()
    harness.on_cleanup(lambda: subprocess.run(["umount", "-l", d],
                                                   stdout=subprocess.DEVNULL,
                                                   stderr=subprocess.DEVNULL))
    return d, ""


@t.test("(e) into a 4 MiB tmpfs, a 6 MiB swarm download fails at once with the figures")
def _():
    d, why = mount_small()
    if d is None:
        t.skip("the 4 MiB tmpfs case", f"cannot mount a tmpfs here: {why}")
        return
    name = "roomy.bin"
    content = Content(os.urandom(6 << 20))
    src = ExtSource(c.tracker.port, "roomy-e", name, content)
    p = start_peer(tt, 109, c.tracker.port, d=d, cwd=tempdir("peer109"))
    t.watch(p)
    p.send(f"get {name}")
    err = error_line(p, name)
    require(err.startswith(f"not enough free space in {d}: need 6.0 MiB ({content.size} bytes), "
                           f"have "), f"error: {err}")
    eq(piece_requests(src.server), [], "piece requests")
    absent(d, name)
    eq(part_files(d), [], "part files")
    c.p109 = p


@t.test("(e) a seed-form source announcing 1 TiB: refused before connecting, with the figures")
def _():
    name = "huge.bin"
    size = 1 << 40
    d = tempdir("peer110")
    free = os.statvfs(d).f_bavail * os.statvfs(d).f_frsize
    if free >= size:
        t.skip("the 1 TiB case", f"{free} bytes free here")
        return
    src = SeedFormSource(c.tracker.port, "huge-e", name, b"x" * 1000, size=size,
                         cid="ab" * 32)
    p = start_peer(tt, 110, c.tracker.port, d=d)
    t.watch(p)
    p.send(f"get {name}")
    err = error_line(p, name)
    require(err.startswith(f"not enough free space in {d}: need 1.0 TiB ({size} bytes), have "),
            f"error: {err}")
    time.sleep(0.3)
    eq(src.server.requests, [], "requests the seed-form source got")
    absent(d, name)
    eq(temp_files(d), [], "temp files")
    c.p110 = p


@t.test("the peers leave at end of stdin")
def _():
    for k in ("p101", "p111", "p102", "p103", "p104", "p105", "p106", "p107", "p108", "p109", "p110"):
        p = getattr(c, k, None)
        if p is None:
            continue
        p.close_stdin()
        p.expect_line(f"Peer {p.peer_id} is leaving the network.", timeout=30)
        p.wait()


t.done()

#!/usr/bin/env python3
"""Liveness at a tracker started with --peer-ttl 3 (heartbeat interval 1 s).

(a) a tt peer that is SIGKILLed (no leave) vanishes from get_peers within
    ttl + 4 s: `Peer X timed out and was removed.`
(b) a seed-form python peer, which never heartbeats, stays listed for 3 x ttl
    while its TCP port accepts; once its listener is closed it vanishes within
    ttl + 4 s: `Peer X does not answer on TCP port P and was removed.`
(c) a dead holder's id is taken over: tt peer 7 SIGKILLed and restarted at once
    joins (the probe finds the old port dead) and serves again.
(d) a live holder keeps its id: a second tt peer with a running peer's id
    prints `held by a live peer` and exits 1; the first stays listed.
"""

import os
import signal
import time
from types import SimpleNamespace

from harness import (HOST, SeedPeer, Tap, eq, peer_list, require, seed_download, sha256, share,
                     start_peer, start_sharer, start_tracker, tt_path, wait_for)

tt = tt_path()
t = Tap()
c = SimpleNamespace()

TTL = 3
BOUND = TTL + 4
X_DATA = b"x shared by tt peer 71\n" * 100
W_DATA = os.urandom(200_000)
V_DATA = b"v shared by tt peer 8\n" * 300


def sources(name):
    """get_peers from a seed-form client that never joined."""
    return peer_list(c.watcher.get_peers(name))


@t.setup(f"tracker starts with --peer-ttl {TTL}")
def _():
    c.tracker = start_tracker(tt, extra=["--peer-ttl", str(TTL)])
    t.watch(c.tracker)
    c.watcher = SeedPeer(c.tracker.port, "watcher")  # asks only, never joins


# ---------------------------------------------------------------- (a) and (b), side by side


@t.test("(b) seed-form peer s72 joins with y.txt and then sends nothing", fatal=True)
def _():
    c.s = SeedPeer(c.tracker.port, "s72", {"y.txt": b"y\n"})
    eq(c.s.join(["y.txt"]), {"status": "ok"}, "join answer")
    c.s_joined = time.monotonic()
    eq(sources("y.txt"), [(HOST, c.s.port)], "sources of y.txt")


@t.test("(a) tt peer 71 shares x.txt and is listed", fatal=True)
def _():
    c.p71 = start_sharer(tt, 71, c.tracker.port, "x.txt", X_DATA)
    t.watch(c.p71)
    eq(sources("x.txt"), [(HOST, c.p71.port)], "sources of x.txt")


@t.test(f"(a) 71 is SIGKILLed: within ttl + 4 = {BOUND} s nobody is listed for x.txt "
        "and the tracker printed 'Peer 71 timed out and was removed.'")
def _():
    c.p71.signal(signal.SIGKILL)
    c.p71.wait()
    killed = time.monotonic()
    wait_for(lambda: sources("x.txt") == [], timeout=BOUND, what="x.txt without sources",
             interval=0.2)
    c.tracker.expect_line("Peer 71 timed out and was removed.",
                          timeout=max(0.1, BOUND - (time.monotonic() - killed)))
    t.diag(f"gone after {time.monotonic() - killed:.1f} s")


@t.test(f"(b) s72 stays listed for 3 x ttl = {3 * TTL} s after its join (checked every 0.5 s)")
def _():
    checks = 0
    while time.monotonic() - c.s_joined < 3 * TTL + 0.5:
        eq(sources("y.txt"), [(HOST, c.s.port)], f"sources of y.txt after "
           f"{time.monotonic() - c.s_joined:.1f} s")
        checks += 1
        time.sleep(0.5)
    t.diag(f"listed at all {checks} checks")
    gone = [line for line in c.tracker.lines() if "s72" in line and "removed" in line]
    require(not gone, f"the tracker removed s72: {gone!r}")


@t.test(f"(b) s72 closes its listener: gone within ttl + 4 = {BOUND} s, "
        "'Peer s72 does not answer on TCP port P and was removed.'")
def _():
    c.s.server.close()
    closed = time.monotonic()
    wait_for(lambda: sources("y.txt") == [], timeout=BOUND, what="y.txt without sources",
             interval=0.2)
    c.tracker.expect_line(f"Peer s72 does not answer on TCP port {c.s.port} and was removed.",
                          timeout=max(0.1, BOUND - (time.monotonic() - closed)))
    t.diag(f"gone after {time.monotonic() - closed:.1f} s")


# ---------------------------------------------------------------- (c)


@t.test("(c) tt peer 7 shares w.bin", fatal=True)
def _():
    c.p7 = start_sharer(tt, 7, c.tracker.port, "w.bin", W_DATA)
    t.watch(c.p7)
    c.d7 = c.p7.dir
    eq(sources("w.bin"), [(HOST, c.p7.port)], "sources of w.bin")


@t.test("(c) 7 is SIGKILLed and restarted at once with --id 7: the probe finds the old port "
        "dead and the join succeeds")
def _():
    old = c.p7
    old.signal(signal.SIGKILL)
    old.wait()
    c.tracker.skip_all()
    c.p7 = start_peer(tt, 7, c.tracker.port, c.d7, name="peer7-again")
    t.watch(c.p7)
    require(c.p7.port != old.port, f"the new peer 7 got the old port {old.port} again")
    c.tracker.expect_line(f"Peer 7 does not answer on TCP port {old.port} and was removed.")
    c.tracker.expect_line(f"Peer 7 joined on TCP port {c.p7.port}")
    eq(sources("w.bin"), [], "sources of w.bin before the new 7 shares it")


@t.test("(c) the new 7 shares w.bin again and serves it from its new port")
def _():
    share(c.p7, "w.bin")
    eq(sources("w.bin"), [(HOST, c.p7.port)], "sources of w.bin")
    data = seed_download(c.p7.port, "w.bin")
    require(sha256(data) == sha256(W_DATA), f"got {len(data)} bytes, not w.bin")


# ---------------------------------------------------------------- (d)


@t.setup("(d) tt peer 8 shares v.txt")
def _():
    c.p8 = start_sharer(tt, 8, c.tracker.port, "v.txt", V_DATA)
    t.watch(c.p8)


@t.test("(d) a second tt peer with --id 8 prints 'held by a live peer' and exits 1")
def _():
    c.tracker.skip_all()
    dup = start_peer(tt, 8, c.tracker.port, wait_join=False, name="peer8-dup")
    t.watch(dup)
    dup.expect_stderr(r"^tt: tracker refused to let peer 8 join: .*held by a live peer")
    eq(dup.wait(timeout=15), 1, "exit code of the second peer 8")
    require("joined the network" not in dup.output(), f"it joined: {dup.output()[-300:]!r}")


@t.test("(d) the tracker logs that refusal: 'Error handling request from IP:PORT: ... held by a "
        "live peer ...'")
def _():
    c.tracker.expect(rf"^Error handling request from 127\.0\.0\.1:\d+: .*held by a live peer",
                     timeout=3)


@t.test("(d) the first 8 stays listed and keeps serving; the tracker did not drop it")
def _():
    eq(sources("v.txt"), [(HOST, c.p8.port)], "sources of v.txt")
    eq(seed_download(c.p8.port, "v.txt"), V_DATA, "v.txt from the first 8")
    require(c.p8.alive(), "the first peer 8 exited")
    require("Peer 8 does not answer" not in c.tracker.output(), "the tracker dropped peer 8")
    # still there after a few heartbeat intervals
    time.sleep(TTL)
    eq(sources("v.txt"), [(HOST, c.p8.port)], f"sources of v.txt {TTL} s later")


@t.test("(c, d) the running peers printed no error")
def _():
    for p in (c.p7, c.p8):
        bad = ([line for line in p.lines() if "Error" in line] +
               [line for line in p.stderr_lines() if line.startswith("tt: ")])
        require(not bad, f"{p.name}: {bad[:3]!r}")


t.done()

#!/usr/bin/env python3
"""A tracker restart heals by itself. Tracker (--peer-ttl 3, heartbeat every
second) on port P; tt peer A shares f1; tt peer B downloads f1 from A (so B
serves it too). The tracker is SIGKILLed: A and B notice on their heartbeats
(`not answering (will keep trying)`). A new tracker starts on the same port P,
knowing nobody: A's and B's heartbeats get `Peer not found`, they join again
and re-share f1 with nobody typing anything, and a new peer C downloads f1
(byte-identical) from the restarted tracker's answer, and f2, which B shared
itself before the restart.

A peer restart: with a tracker at --peer-ttl 600, tt peer R is SIGKILLed and
started again on the same --port (the one it was given). Its first join shows
the token of its last run (kept in .peer_R.token): the tracker gives it its id
back at once. Without that file the id stays with the old registration (whose
port, now the new process's, looks alive): refused."""

import os
import re
import signal
import time
from types import SimpleNamespace

from harness import (HOST, SeedPeer, Tap, eq, peer_list, require, same_file, sha256, share,
                     start_peer, start_sharer, start_tracker, start_tracker_at, tempdir, tt_path,
                     wait_for, write_bytes)

tt = tt_path()
t = Tap()
c = SimpleNamespace()

TTL = 3
INTERVAL = max(1, TTL // 3)
F1 = os.urandom(300_000)
F2 = os.urandom(70_000)


@t.setup(f"tracker starts with --peer-ttl {TTL}")
def _():
    c.tracker = start_tracker(tt, extra=["--peer-ttl", str(TTL)])
    c.port = c.tracker.port
    c.name = f"{HOST}:{c.port}"
    t.watch(c.tracker)


@t.test("A shares f1; B shares f2 and downloads f1 from A", fatal=True)
def _():
    c.a = start_sharer(tt, "A", c.port, "f1", F1)
    t.watch(c.a)
    c.b = start_sharer(tt, "B", c.port, "f2", F2)
    t.watch(c.b)
    c.b.send("get f1")
    c.b.expect_line(f"Connecting to peer at {HOST}:{c.a.port}")
    c.b.expect_line("Downloaded file f1 successfully.")
    same_file(f"{c.b.dir}/f1", sha256(F1), "B's f1")
    c.tracker.expect_line("Peer B downloaded the file file: f1")


@t.test("the tracker is SIGKILLed: A and B write 'tt: tracker HOST:P not answering "
        "(will keep trying)' on stderr", fatal=True)
def _():
    c.tracker.signal(signal.SIGKILL)
    c.tracker.wait()
    for p in (c.a, c.b):
        # the reason may follow in brackets, e.g. "(connection refused)"
        p.expect_stderr(rf"^tt: tracker {re.escape(c.name)} not answering( \(.*\))? "
                        r"\(will keep trying\)$", timeout=15)


@t.setup("after 3 more heartbeat intervals down, a new tracker starts on the same port P")
def _():
    time.sleep(3 * INTERVAL)
    c.tracker2 = start_tracker_at(tt, c.port, extra=["--peer-ttl", str(TTL)], name="tracker2")
    t.watch(c.tracker2)


@t.test("A and B: 'answering again', 'Peer not found; joining again', "
        "'joined the tracker ... again and re-shared N files' (A: 1, B: 2)", fatal=True)
def _():
    for p, n in ((c.a, 1), (c.b, 2)):
        p.expect_line(f"Tracker {c.name} is answering again.", timeout=15)
        p.expect_line(f"Tracker {c.name} answered: Peer not found; joining again", timeout=10)
        p.expect_line(f"Peer {p.peer_id} joined the tracker {c.name} again and re-shared {n} files",
                      timeout=10)
    want = {f"Peer A joined on TCP port {c.a.port}", f"Peer B joined on TCP port {c.b.port}"}
    wait_for(lambda: want <= set(c.tracker2.lines()), timeout=10,
             what=f"the new tracker's lines {sorted(want)} (in either order)")


@t.test("'will keep trying' was said only once by each while the tracker was down")
def _():
    for p in (c.a, c.b):
        n = sum(1 for line in p.stderr_lines() if "(will keep trying)" in line)
        eq(n, 1, f"'will keep trying' lines of {p.name}")


@t.test("the restarted tracker lists A and B for f1, B for f2")
def _():
    probe = SeedPeer(c.port, "probe")
    eq(sorted(peer_list(probe.get_peers("f1"))), sorted([(HOST, c.a.port), (HOST, c.b.port)]),
       "sources of f1")
    eq(peer_list(probe.get_peers("f2")), [(HOST, c.b.port)], "sources of f2")


@t.test("a new peer C downloads f1 and f2, byte-identical; nothing was typed on A or B")
def _():
    c.c = start_peer(tt, "C", c.port)
    t.watch(c.c)
    c.c.send("get f1")
    m = c.c.expect(rf"^Connecting to peer at {re.escape(HOST)}:(\d+)$")
    require(int(m.group(1)) in (c.a.port, c.b.port), f"C connects to {m.group(0)}")
    c.c.expect_line("Downloaded file f1 successfully.")
    same_file(f"{c.c.dir}/f1", sha256(F1), "C's f1")
    c.tracker2.expect_line("Peer C downloaded the file file: f1")
    c.c.send("get f2")
    c.c.expect_line(f"Connecting to peer at {HOST}:{c.b.port}")
    c.c.expect_line("Downloaded file f2 successfully.")
    same_file(f"{c.c.dir}/f2", sha256(F2), "C's f2")


@t.test("A and B keep heartbeating at the new tracker: still listed after 2 x ttl, no timeout")
def _():
    time.sleep(2 * TTL)
    probe = SeedPeer(c.port, "probe2")
    got = peer_list(probe.get_peers("f1"))
    for p in (c.a, c.b, c.c):
        require((HOST, p.port) in got, f"{p.name} missing from {got}")
    require("timed out" not in c.tracker2.output(), "the new tracker timed a peer out")


def start_r(port):
    return start_peer(tt, "r", c.t3.port, c.rdir, extra=["--port", str(port)], wait_join=False,
                      name="peer-r")


@t.test("(peer restart) R, SIGKILLed and started again on its --port, gets its id back at once, "
        "holding only what the new run shares")
def _():
    c.t3 = start_tracker(tt, extra=["--peer-ttl", "600"], name="tracker3")
    t.watch(c.t3)
    c.rdir = tempdir("peer-r")
    r = start_peer(tt, "r", c.t3.port, c.rdir, name="peer-r")
    t.watch(r)
    c.rport = r.port
    write_bytes(os.path.join(c.rdir, "r.bin"), F2)
    share(r, "r.bin")
    token = os.path.join(c.rdir, ".peer_r.token")
    require(os.path.exists(token), "no .peer_r.token after the join")
    eq(oct(os.stat(token).st_mode & 0o777), "0o600", "mode of .peer_r.token")
    r.signal(signal.SIGKILL)
    r.wait()
    r2 = start_r(c.rport)
    t.watch(r2)
    r2.expect_line(f"Peer r joined the network on TCP port {c.rport}", timeout=10)
    # The new process shares nothing yet: the old run's file is not listed for it.
    eq(peer_list(SeedPeer(c.t3.port, "asker").get_peers("r.bin")), [], "sources of r.bin")
    r2.signal(signal.SIGKILL)
    r2.wait()


@t.test("(peer restart) without its saved token, R on the same port is refused (held by a live peer)")
def _():
    os.unlink(os.path.join(c.rdir, ".peer_r.token"))
    r3 = start_r(c.rport)
    t.watch(r3)
    r3.expect_stderr(r"^tt: tracker refused to let peer r join: peer id r is held by a live peer "
                     rf"at 127\.0\.0\.1:{c.rport}; choose another id$", timeout=15)
    eq(r3.wait(timeout=10), 1, "exit code")


@t.test("A, B and C exit 0 on end of input")
def _():
    for p in (c.a, c.b, c.c):
        p.close_stdin()
    for p in (c.a, c.b, c.c):
        eq(p.wait(timeout=15), 0, f"exit code of {p.name}")


t.done()

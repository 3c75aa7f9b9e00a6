#!/usr/bin/env python3
"""Clean exits under valgrind: a tracker and two peers run a share/get session,
then leave by `exit`, end of input and SIGTERM; each process must exit with
every handle closed and valgrind must report no error and no leak of any kind."""

import os
import shutil
import signal
from types import SimpleNamespace

from harness import (HOST, Proc, Tap, eq, require, same_file, tempdir, tt_path, write_random)

tt = tt_path()
t = Tap()
c = SimpleNamespace()
VG_RC = 99


def valgrind(argv, cwd, name):
    log = os.path.join(cwd, f"{name}.vg")
    vg = ["valgrind", "-q", "--leak-check=full", "--show-leak-kinds=all",
          "--errors-for-leak-kinds=all", f"--error-exitcode={VG_RC}", f"--log-file={log}"]
    p = Proc(vg + argv, cwd, name)
    p.vg_log = log
    return p


def clean(p, what):
    with open(p.vg_log) as f:
        report = f.read().strip()
    if report:
        t.diag(report)
    require(report == "", f"{what}: valgrind reported problems")


if os.environ.get("TT_SANITIZED"):
    t.skip("valgrind runs", "tt is built with sanitizers (TT_SANITIZED): valgrind cannot run it")
    t.done()

if shutil.which("valgrind") is None:
    t.skip("valgrind runs", "valgrind is not installed (scripts/deps.sh installs it)")
    t.done()


@t.setup("a tracker and two peers start under valgrind")
def _():
    d = tempdir("vg")
    c.d = d
    os.mkdir(f"{d}/a")
    os.mkdir(f"{d}/b")
    c.sha = write_random(f"{d}/a/f.bin", 3 << 20)
    c.tracker = valgrind([tt, "tracker", "--host", HOST, "--port", "0"], d, "tracker")
    m = c.tracker.expect(r"^Tracker running at 127\.0\.0\.1:(\d+)$", timeout=60)
    port = m.group(1)
    peer = lambda i, sub: [tt, "peer", "--id", str(i), "--tracker", f"{HOST}:{port}", "--dir",
                           f"{d}/{sub}", "--host", HOST]
    c.a = valgrind(peer(1, "a"), d, "peer1")
    c.b = valgrind(peer(2, "b"), d, "peer2")
    t.watch(c.tracker, c.a, c.b)
    c.a.expect(r"^Peer 1 joined the network", timeout=60)
    c.b.expect(r"^Peer 2 joined the network", timeout=60)


@t.test("share, get and a failed get work under valgrind", fatal=True)
def _():
    c.a.send("share f.bin")
    c.a.expect_line("Peer 1 shared a new files: f.bin", timeout=60)
    c.b.send("get f.bin")
    c.b.expect_line("Downloaded file f.bin successfully.", timeout=60)
    c.b.send("get missing.bin")
    c.b.expect_line("No peers found with file missing.bin", timeout=60)
    same_file(f"{c.d}/b/f.bin", c.sha)


@t.test("a peer leaving at end of piped input exits cleanly, no leak")
def _():
    c.b.close_stdin()
    c.b.expect_line("Peer 2 is leaving the network.", timeout=60)
    eq(c.b.wait(60), 1, "exit status (1: a piped command failed)")
    clean(c.b, "peer 2")


@t.test("a peer stopped by SIGTERM leaves and exits cleanly, no leak")
def _():
    c.a.signal(signal.SIGTERM)
    c.a.expect_line("Peer 1 is leaving the network.", timeout=60)
    eq(c.a.wait(60), 0, "exit status")
    clean(c.a, "peer 1")


@t.test("the tracker heard both leave, and `exit` stops it cleanly, no leak")
def _():
    c.tracker.expect_line("Peer 2 left the network.", timeout=30)
    c.tracker.expect_line("Peer 1 left the network.", timeout=30)
    c.tracker.send("exit")
    eq(c.tracker.wait(60), 0, "exit status")
    clean(c.tracker, "tracker")


t.done()

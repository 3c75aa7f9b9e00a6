#!/usr/bin/env python3
"""The README's first command, `scripts/demo.sh`, as a new user runs it: it
says what it does before it builds (no silent minutes), replays the seed's
session on loopback and ends with the downloaded file checked, exit 0. It uses
the repository's build/ (already built here, so its build step is quick) and
tidies up its processes and files itself."""

import os
import subprocess

from harness import Tap, eq, require

t = Tap()
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
c = {}


@t.test("scripts/demo.sh exits 0", fatal=True)
def _():
    res = subprocess.run(["bash", os.path.join(ROOT, "scripts", "demo.sh")], capture_output=True,
                         text=True, timeout=600, stdin=subprocess.DEVNULL)
    c["out"] = res.stdout.splitlines()
    eq(res.returncode, 0, f"exit code (stderr {res.stderr[-400:]!r}, stdout {res.stdout[-400:]!r})")


@t.test("it says what it does before and while it builds, then that it replays the session")
def _():
    out = c["out"]
    steps = [i for i, l in enumerate(out) if l.startswith("demo: ")]
    require(len(steps) >= 3, f"'demo:' lines: {[out[i] for i in steps]}")
    require(out[0].startswith("demo: installing build dependencies"), f"first line: {out[0]!r}")
    building = [i for i in steps if out[i].startswith("demo: building tt")]
    require(building, "a 'demo: building tt' line")
    replay = [i for i, l in enumerate(out) if l.startswith("demo: built tt")]
    require(replay and replay[0] > building[0], "'demo: built tt ...' after the build line")


@t.test("the session: a tracker, three peers, peer 3's download byte-identical")
def _():
    out = c["out"]
    for want in ("== tt tracker", "== tt peer --id 1", "== tt peer --id 3"):
        require(want in out, f"no line {want!r}")
    require(any("Downloaded file example.txt successfully." in l for l in out),
            "peer 3 downloaded example.txt")
    eq(out[-1], "demo: peer 3's example.txt is byte-identical to peer 2's", "last line")


t.done()

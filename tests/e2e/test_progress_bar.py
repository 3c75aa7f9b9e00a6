#!/usr/bin/env python3
"""The progress bar a person sees on a terminal (stdin, stdout and stderr on
one pty): the file, percent, bytes, the rate of the last few seconds, the
sources and an ETA; `stalled` instead of rate and ETA while nothing arrives
(the only source stopped with SIGSTOP), the rate again once bytes flow; and
the download ends byte-identical."""

import os
import signal
from types import SimpleNamespace

from harness import Content, Tap, eq, same_file, start_peer, start_sharer, start_tracker, tt_path

tt = tt_path()
t = Tap()
c = SimpleNamespace()

NAME = "bar.bin"
# Rate, sources and ETA as the bar prints them (src/progress.cc).
FLOWING = r"bar\.bin +\d+% +\S+ \S+ / \S+ \S+ +[\d.]+ \S+/s +1 source +ETA \d+s"
STALLED = r"bar\.bin +\d+% +\S+ \S+ / \S+ \S+ +stalled +1 source"


@t.setup("tracker; seeder 91 (piped, 512K/s upload) shares a 4 MiB file")
def _():
    c.tracker = start_tracker(tt)
    t.watch(c.tracker)
    c.content = Content(os.urandom(4 << 20))
    c.seeder = start_sharer(tt, 91, c.tracker.port, NAME, c.content.data,
                            extra=["--max-upload-rate", "512K"])
    t.watch(c.seeder)


@t.test("peer 92 on a terminal: 'get' and Enter start the download; the bar shows rate, "
        "1 source and an ETA", fatal=True)
def _():
    c.p = start_peer(tt, 92, c.tracker.port, use_pty=True, stderr_pty=True)
    t.watch(c.p)
    c.p.send(f"get {NAME}")
    c.p.expect_raw("Desired Peer: ")
    c.p.send("")
    c.p.expect_raw_re(FLOWING, timeout=30)


@t.test("the source stops (SIGSTOP): the bar says 'stalled', with no rate or ETA")
def _():
    os.kill(c.seeder.pid, signal.SIGSTOP)
    try:
        c.p.expect_raw_re(STALLED, timeout=30)
    finally:
        os.kill(c.seeder.pid, signal.SIGCONT)


@t.test("the source goes on (SIGCONT): a rate again, then the file, byte-identical")
def _():
    c.p.expect_raw_re(FLOWING, timeout=30)
    # On the terminal the line replaces the bar ("\r\x1b[K" first): not at a line start here.
    c.p.expect_raw(f"\x1b[KDownloaded file {NAME} successfully.\n", timeout=60)
    same_file(os.path.join(c.p.dir, NAME), c.content.sha, "peer 92's copy")


@t.test("the peers leave at exit with exit code 0")
def _():
    c.p.send("exit")
    eq(c.p.wait(), 0, "peer 92 exit code")
    c.seeder.close_stdin()
    eq(c.seeder.wait(), 0, "seeder exit code")


t.done()

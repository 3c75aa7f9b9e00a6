#!/usr/bin/env python3
"""Bad console input to a peer gets a one-line answer and the peer keeps
working. Each command is followed by an unknown command as a fence, so the
lines a command printed are exactly those before the fence's answer. Errors
of tt's own go to stderr as one `tt: COMMAND: reason` line."""

import os
from types import SimpleNamespace

from harness import (Tap, eq, log_messages, require, seed_download, start_peer,
                     start_tracker, tempdir, tt_path, wait_for, write_bytes)

tt = tt_path()
t = Tap()
c = SimpleNamespace()

INVALID = "Please enter a valid command!"
FENCE_HINT = "Unknown command 'fence'. Type 'help' for the list."


def printed(command):
    """Lines printed by one console command. Returns once the fence's stderr
    line (`tt: fence: ...`) is in too, so the next command's stderr lines are
    counted from after it."""
    before = len(c.p.stderr_lines())
    c.p.send(command)
    c.p.send("fence")
    lines = c.p.read_until_line(INVALID)
    c.p.expect_line(FENCE_HINT)
    wait_for(lambda: any(l.startswith("tt: fence: ") for l in c.p.stderr_lines()[before:]),
             what="the fence's stderr line")
    return lines


def one_error_line(command):
    """The command prints nothing on stdout and one `tt: COMMAND: ...` line on
    stderr (the fence adds its own `tt: fence: ...` after it)."""
    before = len(c.p.stderr_lines())
    eq(printed(command), [], f"stdout of {command!r}")
    new = c.p.stderr_lines()[before:]
    eq(len(new), 2, f"stderr lines of {command!r} and the fence: {new!r}")
    require(new[0].startswith(f"tt: {command[:60]}") and ": " in new[0][4:],
            f"{command!r} wrote {new[0]!r} on stderr, expected 'tt: {command[:60]}...: reason'")
    require(new[1].startswith("tt: fence: "), f"the fence wrote {new[1]!r} on stderr")


@t.setup("tracker and peer 71 start")
def _():
    c.tracker = start_tracker(tt)
    c.dir = tempdir("peer71")
    write_bytes(f"{c.dir}/ok.txt", b"ok\n")
    c.other = tempdir("elsewhere")
    write_bytes(f"{c.other}/other.txt", b"a file outside the peer's dir\n")
    c.p = start_peer(tt, 71, c.tracker.port, c.dir)
    t.watch(c.tracker, c.p)


@t.test("'share ../x' writes one 'tt: share ../x: ...' line on stderr, nothing on stdout")
def _():
    one_error_line("share ../x")


@t.test("'get a/b' writes one 'tt: get a/b: ...' line on stderr")
def _():
    one_error_line("get a/b")


@t.test("'share ..' and 'get ..' write one 'tt: ...' line each on stderr")
def _():
    one_error_line("share ..")
    one_error_line("get ..")


@t.test("'share' of a 300-byte name writes one 'tt: share xxx...' line on stderr")
def _():
    one_error_line("share " + "x" * 300)


@t.test("an unknown command prints 'Please enter a valid command!', then one line pointing to "
        "help")
def _():
    c.p.send("dance wildly")
    c.p.send("fence")
    eq(c.p.read_until_line(INVALID), [], "lines before the answer to 'dance wildly'")
    eq(c.p.read_until_line(INVALID), ["Unknown command 'dance'. Type 'help' for the list."],
       "lines between the two answers")
    c.p.expect_line(FENCE_HINT)


@t.test("'share missing.txt' prints 'File <dir>/missing.txt does not exist' (and logs it)")
def _():
    eq(printed("share missing.txt"), [f"File {os.path.join(c.dir, 'missing.txt')} does not exist"],
       "output")
    require(any("missing.txt does not exist" in m for m in log_messages(c.p.log_path)),
            "not in the peer log")


@t.test("'get nothere.txt' prints 'No peers found with file nothere.txt'")
def _():
    eq(printed("get nothere.txt"), ["No peers found with file nothere.txt"], "output")


@t.test("'share' and 'get' without a name write one 'tt: share: usage...' line each on stderr")
def _():
    for command in ("share", "get"):
        one_error_line(command)


@t.test("nothing with an invalid name reached the tracker")
def _():
    c.tracker.settle()
    for bad in ("../x", "a/b", "x" * 300):
        require(bad not in c.tracker.output(), f"tracker mentions {bad!r}")


@t.test("the peer keeps working: 'share ok.txt' succeeds and the tracker hears of it")
def _():
    eq(printed("share ok.txt"), ["Peer 71 shared a new files: ok.txt"], "output")
    c.tracker.expect_line("Peer 71 updated files: ok.txt")


@t.test("'share alias.txt /other/dir/other.txt' shares that file under the name alias.txt")
def _():
    eq(printed(f"share alias.txt {c.other}/other.txt"), ["Peer 71 shared a new files: alias.txt"],
       "output")
    eq(seed_download(c.p.port, "alias.txt"), b"a file outside the peer's dir\n", "served content")


@t.test("a UTF-8 name works: 'share café-ünï.txt' is served under that name")
def _():
    name = "café-ünï.txt"
    write_bytes(os.path.join(c.dir, name), b"accents\n")
    eq(printed(f"share {name}"), [f"Peer 71 shared a new files: {name}"], "output")
    c.tracker.expect_line(f"Peer 71 updated files: {name}")
    eq(seed_download(c.p.port, name), b"accents\n", "served content")


@t.test("the peer exits with code 1 at end of stdin since some commands failed")
def _():
    c.p.close_stdin()
    c.p.expect_line("Peer 71 is leaving the network.")
    eq(c.p.wait(), 1, "exit code")


t.done()

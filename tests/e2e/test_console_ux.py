#!/usr/bin/env python3
"""A console that teaches: a refused tracker is reported at once with a hint;
an unknown command is followed by the closest command's name; 'quit' is
'exit'; a name with a blank typed without quotes gets a hint; share's PATH is
relative to --dir; lines that arrive while a terminal shows the prompt are
printed above it and the prompt drawn again (piped output has no escapes);
Ctrl-C (SIGINT) in a download says what is kept and how to resume."""

import os
import re
import signal
from types import SimpleNamespace

from harness import (CheckFailed, Content, HOST, PEER_PROMPT, Tap, eq, require, seed_download,
                     start_peer, start_sharer, start_tracker, tempdir, tt_path, udp_socket,
                     wait_for, write_bytes)

tt = tt_path()
t = Tap()
c = SimpleNamespace()


def printed(p, line, fence="fence-console-ux"):
    """Send a console line, then an unknown command as a fence; return the
    lines printed before the fence's 'Please enter a valid command!'."""
    p.send(line)
    p.send(fence)
    lines = p.read_until_line("Please enter a valid command!")
    p.expect_line(f"Unknown command '{fence}'. Type 'help' for the list.")
    return lines


@t.test("a peer whose tracker port has nothing bound says at once that it was refused, with a "
        "hint, before any 'not answering', and exits 1")
def _():
    s = udp_socket()
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: the kernel answers port unreachable
    p = start_peer(tt, 61, port, wait_join=False)
    t.watch(p)
    m = p.expect_stderr(r"^.*(refused|not answering).*$", timeout=20)
    line = m.group(0)
    require("not answering" not in line, f"the slow path's line came first: {line!r}")
    eq(line, f"tt: Tracker {HOST}:{port} refused the connection (nothing listens there): start "
       f"one with 'tt tracker --port {port}', or pass --tracker HOST:PORT", "line")
    eq(p.wait(10), 1, "exit code")


@t.setup("tracker and peer 62 (piped) start")
def _():
    c.tracker = start_tracker(tt)
    c.dir = tempdir("peer62")
    c.cwd = tempdir("elsewhere")  # the peer runs from another directory than --dir
    c.p = start_peer(tt, 62, c.tracker.port, c.dir, cwd=c.cwd)
    t.watch(c.tracker, c.p)


@t.test("peer: 'shar x' keeps the seed's line and suggests 'share'; 'xyzzy' only points to help")
def _():
    c.p.send("shar x")
    c.p.expect_line("Please enter a valid command!")
    c.p.expect_line("Unknown command 'shar'. Did you mean 'share'? Type 'help' for the list.")
    c.p.send("xyzzy")
    c.p.expect_line("Please enter a valid command!")
    c.p.expect_line("Unknown command 'xyzzy'. Type 'help' for the list.")
    c.p.send("requst logs")
    c.p.expect_line("Please enter a valid command!")
    c.p.expect_line(
        "Unknown command 'requst logs'. Did you mean 'request logs'? Type 'help' for the list.")


@t.test("tracker: 'exti' suggests 'exit'; 'logs' suggests 'logs request'")
def _():
    c.tracker.send("exti")
    c.tracker.expect_line("Please enter a valid command!")
    c.tracker.expect_line("Unknown command 'exti'. Did you mean 'exit'? Type 'help' for the list.")
    c.tracker.send("logs")
    c.tracker.expect_line("Please enter a valid command!")
    c.tracker.expect_line(
        "Unknown command 'logs'. Did you mean 'logs request'? Type 'help' for the list.")


@t.test("tracker: a command's wrong arguments and an overlong line fail on stderr as 'tt: ...'")
def _():
    c.tracker.send("file_logs")
    m = c.tracker.expect_stderr(r"^tt: file_logs: .*$")
    require("file_logs NAME" in m.group(0), f"the usage is named: {m.group(0)!r}")
    c.tracker.send("x" * 9000)
    c.tracker.expect_stderr(r"^tt: console line too long$")
    c.tracker.send("peers")  # and it goes on
    c.tracker.expect(r"^id\s+address\s+tcp_port\s+files\s+last_heard_s$")


@t.test("'share notes 2024.txt' fails and says names with blanks need quotes; quoted, it works")
def _():
    write_bytes(os.path.join(c.dir, "notes 2024.txt"), b"notes\n" * 100)
    eq(printed(c.p, "share notes 2024.txt"),
       [f"File {c.dir}/2024.txt does not exist",
        'Names with blanks need quotes: share "notes 2024.txt"'], "output")
    eq(printed(c.p, "share my notes 2024.txt"),
       ['Names with blanks need quotes: share "my notes 2024.txt"'], "output")
    c.p.expect_stderr(r"^tt: share my notes 2024\.txt: usage: share NAME \[PATH\]$")
    c.p.send('share "notes 2024.txt"')
    c.p.expect_line("Peer 62 shared a new files: notes 2024.txt")


@t.test("'get notes 2024.txt' says the same for get")
def _():
    eq(printed(c.p, "get notes 2024.txt"),
       ['Names with blanks need quotes: get "notes 2024.txt"'], "output")
    c.p.expect_stderr(
        r'^tt: get notes 2024\.txt: peer number must be a positive integer, not "2024\.txt"$')


@t.test("share NAME PATH: a relative PATH is taken in --dir, not in the current directory")
def _():
    os.mkdir(os.path.join(c.dir, "sub"))
    write_bytes(os.path.join(c.dir, "sub", "in-dir.txt"), b"in the peer's dir\n")
    os.mkdir(os.path.join(c.cwd, "sub"))
    write_bytes(os.path.join(c.cwd, "sub", "in-cwd.txt"), b"in the current directory\n")
    c.p.send("share a sub/in-dir.txt")
    c.p.expect_line("Peer 62 shared a new files: a")
    eq(printed(c.p, "share b sub/in-cwd.txt"),
       [f"File {c.dir}/sub/in-cwd.txt does not exist"], "output")
    # An absolute PATH is used as it is.
    c.p.send(f"share b {c.cwd}/sub/in-cwd.txt")
    c.p.expect_line("Peer 62 shared a new files: b")
    eq(seed_download(c.p.port, "a"), b"in the peer's dir\n", "what 'a' serves")


@t.test("'quit' leaves like 'exit' (exit code 1: commands failed); piped output has no escapes")
def _():
    c.p.send("quit")
    c.p.expect_line("Peer 62 is leaving the network.")
    eq(c.p.wait(), 1, "exit code")
    require("\x1b" not in c.p.output(), "escape bytes in piped output")
    require(PEER_PROMPT not in c.p.output(), "a prompt in piped output")


@t.test("on a terminal, a line that arrives while the prompt shows is printed over the prompt's "
        "line, and the prompt is drawn again after it")
def _():
    d = tempdir("peer63")
    write_bytes(f"{d}/t.txt", b"shared on a terminal\n" * 50)
    p = start_peer(tt, 63, c.tracker.port, d, use_pty=True)
    t.watch(p)
    p.expect_raw(PEER_PROMPT)
    p.send("share t.txt")
    p.expect_line("Peer 63 shared a new files: t.txt")
    p.expect_raw(PEER_PROMPT)
    # Another file now stands at the shared path: a request for it is refused,
    # and the peer says so while it waits at the prompt.
    write_bytes(f"{d}/t.new", b"something else\n")
    os.replace(f"{d}/t.new", f"{d}/t.txt")
    try:
        seed_download(p.port, "t.txt", timeout=5)
    except (CheckFailed, OSError):
        pass
    p.expect_raw_re(r"\x1b\[KRefused to serve t\.txt: [^\n]*\n" + re.escape(PEER_PROMPT))
    # The line began by clearing the prompt's line (the harness drops the \r).
    require(PEER_PROMPT + "\x1b[KRefused to serve t.txt" in p.output(),
            "the line did not clear the prompt's line first")
    p.send("exit")
    p.expect(r"Peer 63 is leaving the network\.$")
    eq(p.wait(), 0, "exit code")


@t.test("SIGINT during a download says how many pieces are kept where, and how to resume")
def _():
    data = os.urandom(3 * 1024 * 1024)
    content = Content(data)
    src = start_sharer(tt, 64, c.tracker.port, "big.bin", data, extra=["--max-upload-rate", "256K"])
    t.watch(src)
    d = tempdir("peer65")
    p = start_peer(tt, 65, c.tracker.port, d)
    t.watch(p)
    p.send("get big.bin")
    p.expect(r"^Downloading big\.bin ")
    part = os.path.join(d, ".tt-part-" + content.id[:16])
    wait_for(lambda: content.verified_in(part), timeout=60, what="a verified piece in the part file")
    p.signal(signal.SIGINT)
    m = p.expect(r"^Interrupted: (\d+) of (\d+) pieces of big\.bin are kept in (.+); "
                 r"run 'get big\.bin' again to resume\.$")
    require(int(m.group(1)) >= 1, f"kept {m.group(1)} pieces")
    eq(int(m.group(2)), content.count, "piece count")
    eq(os.path.realpath(m.group(3)), os.path.realpath(part), "part file")
    p.expect_line("Peer 65 is leaving the network.")
    p.wait()
    # And it does resume.
    p2 = start_peer(tt, 65, c.tracker.port, d, name="peer65-again")
    t.watch(p2)
    p2.send("get big.bin")
    p2.expect(rf"^Resuming big\.bin: (\d+) of {content.count} pieces already here$", timeout=30)
    p2.send("exit")


t.done()
